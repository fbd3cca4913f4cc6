//! A pull job as NDJSON: the job first (its id, to poll it if the stream is left), then one
//! progress object per image (`{"job", "image", "state", …}`) on every state change and at most
//! [`EVERY`] apart for bytes, then the job again as the last line once it has finished. Leaving
//! the stream does not stop the job. Knows the job's view only.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures_util::Stream;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::upstream::container::pulls::{ImageView, Job, JobState, JobView};

/// Progress of one image is told at most this often (4 a second); a state change at once.
pub const EVERY: Duration = Duration::from_millis(250);

struct Lines {
    rx: watch::Receiver<JobView>,
    /// Each image as last told, and when.
    told: Vec<(ImageView, Instant)>,
    queue: VecDeque<Bytes>,
    ended: bool,
}

fn line(v: &impl Serialize) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

fn progress(job: &str, image: &ImageView) -> Bytes {
    let mut v = json!({ "job": job });
    if let (Some(o), Ok(Value::Object(i))) = (v.as_object_mut(), serde_json::to_value(image)) {
        o.extend(i);
    }
    line(&v)
}

impl Lines {
    /// Queues a line for each image that changed state, or moved and was last told [`EVERY`] ago.
    fn tell(&mut self, now: &JobView) {
        let at = Instant::now();
        for (img, (told, when)) in now.images.iter().zip(self.told.iter_mut()) {
            let due = img.state != told.state || (img != told && when.elapsed() >= EVERY);
            if due {
                self.queue.push_back(progress(&now.job, img));
                *told = img.clone();
                *when = at;
            }
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some((Ok(b), self));
            }
            if self.ended {
                return None;
            }
            let closed = tokio::select! {
                r = self.rx.changed() => r.is_err(),
                () = tokio::time::sleep(EVERY) => false,
            };
            let now = self.rx.borrow_and_update().clone();
            self.tell(&now);
            if closed || now.state != JobState::Running {
                self.queue.push_back(line(&now));
                self.ended = true;
            }
        }
    }
}

/// The job's lines, from now until it has finished.
pub fn ndjson(job: &Job) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let mut rx = job.subscribe();
    let first = rx.borrow_and_update().clone();
    let lines = Lines {
        told: first
            .images
            .iter()
            .map(|i| (i.clone(), Instant::now()))
            .collect(),
        queue: VecDeque::from([line(&first)]),
        ended: false,
        rx,
    };
    futures_util::stream::unfold(lines, Lines::next)
}
