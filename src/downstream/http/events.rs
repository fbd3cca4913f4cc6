//! A stream's event log: what an SSE stream carries, kept (bounded) so that a client whose
//! connection broke can resume with `Last-Event-ID`. Event ids are `<stream>-<seq>`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::jsonrpc::{OutboxRx, Queue};
use crate::sync::LockExt;

/// Events kept per stream for resumption.
const KEEP: usize = 1000;

/// A stream's events. When it is fed by an outbox ([`EventLog::fed_by`]), an event counts as
/// queued in that outbox until a reader first takes it, so the outbox's bounds (README,
/// "Queues") hold for a client that does not read its stream; events not yet taken are never
/// trimmed (the outbox bounds them), events taken are kept, `KEEP` of them, for resumption.
pub struct EventLog {
    pub stream: u64,
    inner: Mutex<Inner>,
    notify: Notify,
    queue: Option<Arc<Queue>>,
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
        Self::with_queue(stream, None)
    }

    /// A log whose events count as queued in `rx`'s outbox until first read.
    pub fn fed_by(stream: u64, rx: &OutboxRx) -> Self {
        Self::with_queue(stream, Some(rx.queue().clone()))
    }

    fn with_queue(stream: u64, queue: Option<Arc<Queue>>) -> Self {
        Self {
            queue,
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
        self.inner.locked()
    }

    pub fn push(&self, frame: String) {
        {
            let mut g = self.lock();
            let seq = g.next;
            g.next += 1;
            g.events.push_back((seq, frame));
            while g.events.len() > KEEP {
                let front = g.events.front().map_or(0, |e| e.0);
                let read = g.delivered.is_some_and(|d| front <= d);
                match &self.queue {
                    // Unread events leave only by being read.
                    Some(_) if !read => break,
                    _ => {
                        g.events.pop_front();
                    }
                }
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
            if let Some(q) = &self.queue {
                // Every event up to this one has now left the queue (a reader may skip some).
                let after = g.delivered.map_or(0, |d| d + 1);
                for (s, f) in g.events.iter().skip_while(|e| e.0 < after) {
                    if *s > seq {
                        break;
                    }
                    q.release(f.len());
                }
            }
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

impl Drop for EventLog {
    fn drop(&mut self) {
        if let Some(q) = &self.queue {
            let g = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
            let after = g.delivered.map_or(0, |d| d + 1);
            for (_, f) in g.events.iter().filter(|e| e.0 >= after) {
                q.release(f.len());
            }
        }
    }
}

/// Moves what `rx` receives into `log` (still counted as queued until read), until every sender
/// is gone; then the log ends. Stops at once (and calls `overflowed`) when the outbox overflows:
/// the session is to be disconnected.
pub async fn pump(mut rx: OutboxRx, log: Arc<EventLog>, overflowed: impl FnOnce()) {
    let overflow = rx.overflow_token();
    loop {
        tokio::select! {
            f = rx.recv_held() => match f {
                Some(f) => log.push(f),
                None => break,
            },
            _ = overflow.cancelled() => {
                overflowed();
                break;
            }
        }
    }
    log.finish();
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

    #[tokio::test]
    async fn unread_events_stay_queued_and_are_never_trimmed() {
        let (out, rx) = crate::jsonrpc::outbox();
        let log = EventLog::fed_by(1, &rx);
        for i in 0..KEEP + 10 {
            let f = format!("m{i}");
            out.send(f).unwrap();
        }
        let mut rx = rx;
        for _ in 0..KEEP + 10 {
            log.push(rx.recv_held().await.unwrap());
        }
        assert_eq!(rx.queue().frames(), KEEP + 10);
        // Nothing read yet: nothing trimmed.
        match log.next(0).0 {
            Next::Event(_, f) => assert_eq!(f, "m0"),
            _ => panic!("expected the first event"),
        }
        assert_eq!(rx.queue().frames(), KEEP + 9);
        // A reader that skips ahead releases what it skipped.
        let _ = log.next(20);
        assert_eq!(rx.queue().frames(), KEEP - 11);
        drop(log);
        assert_eq!(rx.queue().frames(), 0);
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
