//! Image pulls as jobs: each asked pull is a job of one or more images whose state (per image:
//! layers, bytes, the last progress line, whether the image changed, the error) can be read at any
//! time or watched; the last [`KEEP`] jobs are kept. Two jobs that want the same image at once
//! share one pull: the second joins the first (its image says `joined`) and sees the same progress
//! and result, so an image is never pulled twice at once. Knows the engine and the progress fold;
//! knows no HTTP and no tenant (restarting servers is the caller's, told through [`Job::restarted`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::watch;

use super::engine::Engine;
use super::pull::{Change, Progress};

/// Jobs kept for polling (finished ones are forgotten oldest first; running ones never are).
pub const KEEP: usize = 16;

/// An image's state in a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageState {
    /// Waiting for the job's earlier images.
    Queued,
    Pulling,
    Done,
    Failed,
}

impl ImageState {
    pub fn finished(self) -> bool {
        matches!(self, ImageState::Done | ImageState::Failed)
    }
}

/// A job's state: `failed` when any of its images failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// One image of a job, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageView {
    pub image: String,
    pub state: ImageState,
    pub layers_done: usize,
    pub layers_total: usize,
    pub bytes_done: i64,
    pub bytes_total: i64,
    /// The last progress line (`bb:1: 1/1 layers, 1.1 MB/1.1 MB; …`).
    pub line: String,
    /// Whether the image's id changed (known once pulled).
    pub changed: Option<bool>,
    pub error: Option<String>,
    /// The job whose pull of this image was running when this job asked for it: this job
    /// waited for that pull and shares its result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joined: Option<String>,
}

impl ImageView {
    fn new(image: &str) -> Self {
        Self {
            image: image.to_string(),
            state: ImageState::Queued,
            layers_done: 0,
            layers_total: 0,
            bytes_done: 0,
            bytes_total: 0,
            line: String::new(),
            changed: None,
            error: None,
            joined: None,
        }
    }

    fn fail(&mut self, error: String) {
        self.state = ImageState::Failed;
        self.error = Some(error);
    }
}

/// A job as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    pub job: String,
    pub state: JobState,
    pub images: Vec<ImageView>,
    /// `tenant/server` of each server restarted on a changed image.
    pub restarted: Vec<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

fn stamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One job: its view, watched.
pub struct Job {
    id: String,
    view: watch::Sender<JobView>,
}

impl Job {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The job now.
    pub fn snapshot(&self) -> JobView {
        self.view.borrow().clone()
    }

    /// The job, told of every change.
    pub fn subscribe(&self) -> watch::Receiver<JobView> {
        self.view.subscribe()
    }

    fn running(&self) -> bool {
        self.view.borrow().state == JobState::Running
    }

    /// Records a server restarted on a changed image.
    pub fn restarted(&self, server: String) {
        self.view.send_modify(|v| v.restarted.push(server));
    }

    /// Marks every image not finished as failed with `why` (the engine is unreachable, the hub
    /// shuts down).
    pub fn fail_rest(&self, why: &str) {
        self.view.send_modify(|v| {
            for i in v.images.iter_mut().filter(|i| !i.state.finished()) {
                i.fail(why.to_string());
            }
        });
    }

    /// Ends the job: `done` when every image was pulled, else `failed`.
    pub fn finish(&self) {
        self.view.send_modify(|v| {
            v.state = if v.images.iter().all(|i| i.state == ImageState::Done) {
                JobState::Done
            } else {
                JobState::Failed
            };
            v.finished_at = Some(stamp(SystemTime::now()));
        });
    }

    fn set_image(&self, i: usize, from: &ImageView) {
        self.view.send_if_modified(|v| match v.images.get_mut(i) {
            Some(mine) => {
                let joined = mine.joined.take();
                let before = std::mem::replace(mine, from.clone());
                mine.joined = joined;
                before != *mine
            }
            None => false,
        });
    }
}

/// Every running job has at most [`KEEP`] - 1 others.
#[derive(Debug, thiserror::Error)]
#[error("{KEEP} image pulls are running already; hint: wait for one to finish (`GET /api/docker/images/pull/{{job}}`)")]
pub struct TooMany;

/// The hub's pull jobs and the pulls running now (by image, with the job that runs each).
#[derive(Default)]
pub struct Pulls {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    jobs: Mutex<VecDeque<Arc<Job>>>,
    running: Mutex<HashMap<String, (String, watch::Receiver<ImageView>)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Pulls {
    /// A new job for `images` (each `queued`), kept for polling; [`TooMany`] when [`KEEP`]
    /// jobs are running.
    pub fn create(&self, images: &[String]) -> Result<Arc<Job>, TooMany> {
        let n = self
            .inner
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let id = format!("{n}-{:06x}", fastrand::u32(..0x0100_0000));
        let view = JobView {
            job: id.clone(),
            state: JobState::Running,
            images: images.iter().map(|i| ImageView::new(i)).collect(),
            restarted: Vec::new(),
            started_at: stamp(SystemTime::now()),
            finished_at: None,
        };
        let job = Arc::new(Job {
            id,
            view: watch::Sender::new(view),
        });
        let mut jobs = self.inner.jobs.lock().map_err(|_| TooMany)?;
        if jobs.len() >= KEEP {
            let oldest_done = jobs.iter().position(|j| !j.running()).ok_or(TooMany)?;
            jobs.remove(oldest_done);
        }
        jobs.push_back(job.clone());
        Ok(job)
    }

    /// The job `id`, while it is kept.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        let jobs = self.inner.jobs.lock().ok()?;
        jobs.iter().find(|j| j.id == id).cloned()
    }

    /// Pulls the job's image `i` through `engine` (or joins the pull of it running now), keeping
    /// the job's view of it up to date; answers its final view.
    pub async fn pull(&self, engine: &Engine, job: &Job, i: usize) -> Option<ImageView> {
        let image = job.view.borrow().images.get(i)?.image.clone();
        let (mut rx, lead) = {
            let Ok(mut running) = self.inner.running.lock() else {
                let mut failed = ImageView::new(&image);
                failed.fail("the pull registry is unusable".into());
                job.set_image(i, &failed);
                return Some(failed);
            };
            match running.get(&image) {
                Some((by, rx)) => {
                    let by = by.clone();
                    job.view.send_modify(|v| v.images[i].joined = Some(by));
                    (rx.clone(), None)
                }
                None => {
                    let mut first = ImageView::new(&image);
                    first.state = ImageState::Pulling;
                    let (tx, rx) = watch::channel(first);
                    running.insert(image.clone(), (job.id.clone(), rx.clone()));
                    (
                        rx,
                        Some(Lead {
                            tx,
                            image: image.clone(),
                            inner: self.inner.clone(),
                        }),
                    )
                }
            }
        };
        let mirror = async {
            loop {
                let now = rx.borrow_and_update().clone();
                job.set_image(i, &now);
                if now.state.finished() {
                    return now;
                }
                if rx.changed().await.is_err() {
                    // The pull ended without a result (its task was dropped at shutdown).
                    let mut last = rx.borrow().clone();
                    if !last.state.finished() {
                        last.fail(format!(
                            "pulling image `{image}` failed: the pull ended without a result"
                        ));
                    }
                    job.set_image(i, &last);
                    return last;
                }
            }
        };
        match lead {
            Some(lead) => futures_util::future::join(lead.run(engine), mirror).await.1,
            None => mirror.await,
        }
        .into()
    }
}

/// The one pull of an image running now; leaves the running set when dropped.
struct Lead {
    tx: watch::Sender<ImageView>,
    image: String,
    inner: Arc<Inner>,
}

impl Drop for Lead {
    fn drop(&mut self) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.remove(&self.image);
        }
    }
}

/// The log gets a progress line at most this often (a finished layer is always told).
const LOG_EVERY: Duration = Duration::from_secs(1);

impl Lead {
    async fn run(self, engine: &Engine) {
        let image = self.image.as_str();
        let (before, _) = inspect(engine, image).await;
        tracing::info!(image, "pulling image");
        let mut logged = Instant::now();
        let mut last = Progress::default();
        let result = engine
            .pull_with(image, |p, change| {
                if change == Change::LayerDone
                    || (change != Change::Bytes && logged.elapsed() >= LOG_EVERY)
                {
                    logged = Instant::now();
                    tracing::info!(image, progress = %p.line(image), "pulling image");
                }
                self.tx.send_modify(|v| show(v, p, image));
                last = p.clone();
            })
            .await;
        match result {
            Ok(()) => {
                let (after, size) = inspect(engine, image).await;
                last.finish(after.as_deref());
                tracing::info!(image, changed = before != after, "image pulled");
                self.tx.send_modify(|v| {
                    show(v, &last, image);
                    // podman tells no sizes for a pull shorter than its progress interval (1 s):
                    // the image's own size is then what was pulled.
                    if v.bytes_total == 0 {
                        let size = size.unwrap_or(0).max(0);
                        (v.bytes_done, v.bytes_total) = (size, size);
                    }
                    v.state = ImageState::Done;
                    v.changed = Some(before != after);
                });
            }
            Err(e) => {
                tracing::warn!(image, "{e}");
                self.tx.send_modify(|v| v.fail(e.to_string()));
            }
        }
    }
}

/// The image's id and size, when the engine has it.
async fn inspect(engine: &Engine, image: &str) -> (Option<String>, Option<i64>) {
    let i = engine.docker.inspect_image(image).await.ok();
    i.map(|i| (i.id, i.size)).unwrap_or_default()
}

fn show(v: &mut ImageView, p: &Progress, image: &str) {
    (v.layers_done, v.layers_total) = p.layers();
    (v.bytes_done, v.bytes_total) = p.bytes();
    v.line = p.line(image);
}
