//! A stream's event log: what an SSE stream carries, kept (bounded) so that a client whose
//! connection broke can resume with `Last-Event-ID`. Event ids are `<stream>-<seq>`.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Events kept per stream for resumption.
const KEEP: usize = 1000;

pub struct EventLog {
    pub stream: u64,
    inner: Mutex<Inner>,
    notify: Notify,
}

struct Inner {
    events: VecDeque<(u64, String)>,
    next: u64,
    done: bool,
    /// Highest seq handed to a reader (for the GET stream: what a new GET starts after).
    delivered: Option<u64>,
}

/// What a reader gets next.
pub enum Next {
    Event(String, String),
    /// Nothing yet: wait for `changed`.
    Wait,
    End,
}

impl EventLog {
    pub fn new(stream: u64) -> Self {
        Self {
            stream,
            inner: Mutex::new(Inner {
                events: VecDeque::new(),
                next: 0,
                done: false,
                delivered: None,
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, frame: String) {
        {
            let mut g = self.lock();
            let seq = g.next;
            g.next += 1;
            g.events.push_back((seq, frame));
            if g.events.len() > KEEP {
                g.events.pop_front();
            }
        }
        self.notify.notify_waiters();
    }

    pub fn finish(&self) {
        self.lock().done = true;
        self.notify.notify_waiters();
    }

    /// The seq a new reader without `Last-Event-ID` starts at: after what was delivered.
    pub fn resume_point(&self) -> u64 {
        self.lock().delivered.map_or(0, |d| d + 1)
    }

    /// The event at or after `from`, and the seq to ask for next.
    pub fn next(&self, from: u64) -> (Next, u64) {
        let mut g = self.lock();
        let first = g.events.front().map_or(g.next, |e| e.0);
        let at = from.max(first);
        if at < g.next {
            let idx = (at - first) as usize;
            let (seq, frame) = g.events[idx].clone();
            g.delivered = Some(g.delivered.map_or(seq, |d| d.max(seq)));
            return (
                Next::Event(format!("{}-{seq}", self.stream), frame),
                seq + 1,
            );
        }
        if g.done {
            (Next::End, at)
        } else {
            (Next::Wait, at)
        }
    }

    /// Resolves after the next push or finish (register before checking `next` to not miss one).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

/// Waits for the event at or after `*from` (and moves `*from` past it); `None` when the log ended
/// or the hub is draining.
pub async fn next_event(
    log: &EventLog,
    from: &mut u64,
    draining: &tokio_util::sync::CancellationToken,
) -> Option<(String, String)> {
    loop {
        let notified = log.changed();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match log.next(*from) {
            (Next::Event(id, data), next) => {
                *from = next;
                return Some((id, data));
            }
            (Next::End, _) => return None,
            (Next::Wait, at) => {
                *from = at;
                tokio::select! {
                    _ = &mut notified => {}
                    _ = draining.cancelled() => return None,
                }
            }
        }
    }
}

/// Parses `Last-Event-ID: <stream>-<seq>`.
pub fn parse_event_id(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.trim().split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_resumes_after_the_last_event_it_saw() {
        let log = EventLog::new(3);
        for i in 0..5 {
            log.push(format!("m{i}"));
        }
        log.finish();
        let (n, next) = log.next(2);
        match n {
            Next::Event(id, frame) => {
                assert_eq!(id, "3-2");
                assert_eq!(frame, "m2");
            }
            _ => panic!("expected an event"),
        }
        assert_eq!(next, 3);
        assert!(matches!(log.next(5).0, Next::End));
        assert_eq!(parse_event_id("3-2"), Some((3, 2)));
        assert_eq!(parse_event_id("x"), None);
    }

    #[test]
    fn a_new_reader_starts_after_what_was_delivered() {
        let log = EventLog::new(0);
        log.push("a".into());
        let _ = log.next(0);
        log.push("b".into());
        assert_eq!(log.resume_point(), 1);
        assert!(matches!(log.next(2).0, Next::Wait));
    }
}
