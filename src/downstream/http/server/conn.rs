//! One connection's clock and byte stream: the header and idle timers, writes that must make
//! progress, and request bodies that must arrive in time.

use super::*;
use crate::sync::LockExt;
use std::io;

pub(super) struct Phase {
    /// Requests whose responses are not finished.
    pub(super) in_flight: usize,
    /// When the headers of the next request started (the accept, for the first one).
    pub(super) head_since: Option<Instant>,
    /// When the connection became idle (its last response finished).
    pub(super) idle_since: Instant,
}

/// What the connection's watchdog, its I/O and its service share.
pub(super) struct ConnState {
    pub(super) phase: Mutex<Phase>,
    pub(super) changed: Notify,
    /// The session whose response the connection carries last (for log lines).
    pub(super) session: Mutex<Option<String>>,
    pub(super) write_stalled: AtomicBool,
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    Headers,
    Idle,
}

impl ConnState {
    pub(super) fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            phase: Mutex::new(Phase {
                in_flight: 0,
                head_since: Some(now),
                idle_since: now,
            }),
            changed: Notify::new(),
            session: Mutex::new(None),
            write_stalled: AtomicBool::new(false),
        })
    }

    pub(super) fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.locked()
    }

    /// Bytes arrived: on an idle connection they start the next request's headers.
    pub(super) fn on_bytes(&self) {
        let mut p = self.phase();
        if p.in_flight == 0 && p.head_since.is_none() {
            p.head_since = Some(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    pub(super) fn request_started(&self) {
        let mut p = self.phase();
        p.in_flight += 1;
        p.head_since = None;
        drop(p);
        self.changed.notify_one();
    }

    pub(super) fn request_finished(&self) {
        let mut p = self.phase();
        p.in_flight = p.in_flight.saturating_sub(1);
        if p.in_flight == 0 {
            p.idle_since = Instant::now();
        }
        drop(p);
        self.changed.notify_one();
    }

    pub(super) fn set_session(&self, id: String) {
        *self.session.locked() = Some(id);
    }

    pub(super) fn session(&self) -> Option<String> {
        self.session.locked().clone()
    }

    /// Resolves when headers take longer than `header` or the connection idles longer than `idle`.
    pub(super) async fn watchdog(&self, header: Duration, idle: Duration) -> Expired {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let due = {
                let p = self.phase();
                match p.head_since {
                    Some(h) => Some((h + header, Expired::Headers)),
                    None if p.in_flight == 0 => Some((p.idle_since + idle, Expired::Idle)),
                    None => None,
                }
            };
            match due {
                Some((at, why)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => return why,
                        _ = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// Counts a request as in flight until its response body is finished (or dropped).
pub(super) struct InFlight(Arc<ConnState>);

impl InFlight {
    pub(super) fn new(conn: &Arc<ConnState>) -> Self {
        conn.request_started();
        Self(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

// ------------------------------------------------------------------ I/O with a write deadline

/// The socket: reads tell the watchdog a request started; a write (or flush) that makes no
/// progress for `write_timeout` fails with `TimedOut`, which ends the connection.
pub(super) struct Io {
    pub(super) inner: TcpStream,
    pub(super) conn: Arc<ConnState>,
    pub(super) write_timeout: Duration,
    pub(super) stall: Option<Pin<Box<Sleep>>>,
}

impl Io {
    pub(super) fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.stall = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let t = self.write_timeout;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
                match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.conn.write_stalled.store(true, Ordering::Relaxed);
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client took nothing within hub.http.stream_write_timeout",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_bytes();
        }
        r
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(cx, r)
    }
}

// ------------------------------------------------------------------ bodies

/// A request body with a deadline for the whole of it.
pub struct TimedBody<B> {
    pub(super) inner: B,
    pub(super) timeout: Duration,
    pub(super) deadline: Instant,
    pub(super) sleep: Option<Pin<Box<Sleep>>>,
    pub(super) expired: bool,
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
            expired: false,
        }
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(f) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(f.map(|r| r.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its request counted as in flight until it is done.
pub(super) struct TrackedBody {
    pub(super) inner: Body,
    pub(super) _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// ------------------------------------------------------------------ the per-connection service
