//! The listener: an accept loop serving hyper HTTP/1 connections with the limits a hostile peer
//! meets (`[hub.http]`):
//!
//! - `header_read_timeout`: a request's headers must be complete this long after their first byte
//!   (for a new connection: after the accept); the connection is closed otherwise.
//! - `keep_alive_idle_timeout`: a connection with no request in flight and no new request started
//!   is closed after this long.
//! - `body_read_timeout`: a request body must arrive whole within this long (408, then close).
//! - `stream_write_timeout`: a write to the client that makes no progress for this long (a
//!   client that stopped reading its SSE stream) fails, and the connection is closed.
//! - `max_connections`, `max_connections_per_peer`: beyond them a connection is taken from a
//!   small reserve that serves only `/health` and `/ready` (anything else: 503 with
//!   `Retry-After`); with the reserve gone too, a new connection gets a 503 at once and is closed.
//!
//! Every connection task is owned by a [`TaskTracker`]; shutdown stops accepting, asks each
//! connection to finish its request and close, and waits up to `shutdown_deadline`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::HttpSettings;

/// Connections beyond `max_connections` kept for `/health` and `/ready`.
pub const HEALTH_RESERVE: usize = 16;
/// Reserve connections one peer may hold.
pub const HEALTH_RESERVE_PER_PEER: usize = 4;
/// Refusals (503, then close) written at once; beyond it a connection is closed unanswered.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

/// The session a response belongs to (a response extension), for log lines about its connection.
#[derive(Clone, Debug)]
pub struct SessionTag(pub String);

/// A request body that did not arrive within `hub.http.body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} (hub.http.body_read_timeout)", humantime::format_duration(*.0))]
pub struct BodyTimeout(pub Duration);

// ------------------------------------------------------------------ connection limits

#[derive(Default)]
struct Counts {
    normal: usize,
    reserve: usize,
    /// Per peer IP: (normal, reserve).
    peers: HashMap<IpAddr, (usize, usize)>,
}

/// Open connections, in total and per peer IP.
pub struct Limits {
    max: usize,
    per_peer: usize,
    counts: Mutex<Counts>,
}

/// What an accepted connection may do.
pub enum Admission {
    /// Everything.
    Full(Permit),
    /// Only `/health` and `/ready`, one request; the reason is what others are told.
    HealthOnly(Permit, String),
    /// Nothing: a 503 with this reason, then close.
    Refused(String),
}

/// A counted connection; uncounted when dropped.
pub struct Permit {
    limits: Arc<Limits>,
    peer: IpAddr,
    reserve: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.limits.lock();
        if self.reserve {
            c.reserve = c.reserve.saturating_sub(1);
        } else {
            c.normal = c.normal.saturating_sub(1);
        }
        if let Some(e) = c.peers.get_mut(&self.peer) {
            if self.reserve {
                e.1 = e.1.saturating_sub(1);
            } else {
                e.0 = e.0.saturating_sub(1);
            }
            if *e == (0, 0) {
                c.peers.remove(&self.peer);
            }
        }
    }
}

impl Limits {
    pub fn new(max: usize, per_peer: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_peer,
            counts: Mutex::new(Counts::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `peer`, or says why it cannot be served in full.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Admission {
        let mut c = self.lock();
        let (mine, my_reserve) = c.peers.get(&peer).copied().unwrap_or((0, 0));
        let why = if c.normal >= self.max {
            Some(format!(
                "the hub is at its limit of {} connections (hub.http.max_connections)",
                self.max
            ))
        } else if mine >= self.per_peer && !peer.to_canonical().is_loopback() {
            // Loopback is exempt: a local reverse proxy or sidecar carries every client.
            Some(format!(
                "this client has {mine} connections open, the limit per client (hub.http.max_connections_per_peer)"
            ))
        } else {
            None
        };
        if let Some(why) = why {
            if c.reserve >= HEALTH_RESERVE || my_reserve >= HEALTH_RESERVE_PER_PEER {
                return Admission::Refused(why);
            }
            c.reserve += 1;
            c.peers.entry(peer).or_default().1 += 1;
            return Admission::HealthOnly(
                Permit {
                    limits: self.clone(),
                    peer,
                    reserve: true,
                },
                why,
            );
        }
        c.normal += 1;
        c.peers.entry(peer).or_default().0 += 1;
        Admission::Full(Permit {
            limits: self.clone(),
            peer,
            reserve: false,
        })
    }
}

/// The 503 a refused request gets: one line saying why, `Retry-After`, and the connection closes.
fn busy(reason: &str) -> Response<Body> {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::RETRY_AFTER, "1"),
            (header::CONNECTION, "close"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        format!("Service Unavailable: {reason}; retry later\n"),
    )
        .into_response()
}

/// Answers a connection that cannot be served at all: 503 and close, each step bounded.
async fn refuse(mut stream: TcpStream, reason: String) {
    let body = format!("Service Unavailable: {reason}; retry later\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut scratch = [0u8; 4096];
    // Take what the client already sent, so that closing does not reset the connection under
    // the answer.
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut scratch)).await;
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    if tokio::time::timeout(Duration::from_secs(1), write)
        .await
        .is_ok()
    {
        let drain = async { while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    }
}

// ------------------------------------------------------------------ one connection's state

struct Phase {
    /// Requests whose responses are not finished.
    in_flight: usize,
    /// When the headers of the next request started (the accept, for the first one).
    head_since: Option<Instant>,
    /// When the connection became idle (its last response finished).
    idle_since: Instant,
}

/// What the connection's watchdog, its I/O and its service share.
struct ConnState {
    phase: Mutex<Phase>,
    changed: Notify,
    /// The session whose response the connection carries last (for log lines).
    session: Mutex<Option<String>>,
    write_stalled: AtomicBool,
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Headers,
    Idle,
}

impl ConnState {
    fn new() -> Arc<Self> {
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

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: on an idle connection they start the next request's headers.
    fn on_bytes(&self) {
        let mut p = self.phase();
        if p.in_flight == 0 && p.head_since.is_none() {
            p.head_since = Some(Instant::now());
            drop(p);
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut p = self.phase();
        p.in_flight += 1;
        p.head_since = None;
        drop(p);
        self.changed.notify_one();
    }

    fn request_finished(&self) {
        let mut p = self.phase();
        p.in_flight = p.in_flight.saturating_sub(1);
        if p.in_flight == 0 {
            p.idle_since = Instant::now();
        }
        drop(p);
        self.changed.notify_one();
    }

    fn set_session(&self, id: String) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
    }

    fn session(&self) -> Option<String> {
        self.session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resolves when headers take longer than `header` or the connection idles longer than `idle`.
    async fn watchdog(&self, header: Duration, idle: Duration) -> Expired {
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
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(conn: &Arc<ConnState>) -> Self {
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
struct Io {
    inner: TcpStream,
    conn: Arc<ConnState>,
    write_timeout: Duration,
    stall: Option<Pin<Box<Sleep>>>,
}

impl Io {
    fn progress<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
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
    inner: B,
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    expired: bool,
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
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
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

#[derive(Clone)]
struct ConnService {
    app: TowerToHyperService<Router>,
    conn: Arc<ConnState>,
    body_timeout: Duration,
    /// Set on a reserve connection: why only `/health` and `/ready` are served.
    health_only: Option<Arc<str>>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(&self.conn);
        if let Some(why) = &self.health_only {
            if !matches!(req.uri().path(), "/health" | "/ready") {
                let r = busy(why).map(|b| TrackedBody {
                    inner: b,
                    _in_flight: in_flight,
                });
                return Box::pin(std::future::ready(Ok(r)));
            }
        }
        let sid = req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let timeout = self.body_timeout;
        let req = req.map(|b| TimedBody::new(b, timeout));
        let fut = hyper::service::Service::call(&self.app, req);
        let conn = self.conn.clone();
        let one_shot = self.health_only.is_some();
        Box::pin(async move {
            let mut r = fut.await?;
            if one_shot {
                // A reserve connection serves one request.
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            let tag = r
                .extensions()
                .get::<SessionTag>()
                .map(|t| t.0.clone())
                .or_else(|| {
                    r.headers()
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
                .or(sid);
            if let Some(t) = tag {
                conn.set_session(t);
            }
            Ok(r.map(|b| TrackedBody {
                inner: b,
                _in_flight: in_flight,
            }))
        })
    }
}

/// Serves one connection until it ends, its watchdog expires it, or shutdown.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    settings: Arc<HttpSettings>,
    health_only: Option<Arc<str>>,
    graceful: CancellationToken,
    hard: CancellationToken,
) {
    let conn = ConnState::new();
    let io = TokioIo::new(Io {
        inner: stream,
        conn: conn.clone(),
        write_timeout: settings.stream_write_timeout,
        stall: None,
    });
    // A reserve connection answers one request (`Connection: close`) and may not idle.
    let idle_timeout = match health_only {
        Some(_) => settings.keep_alive_idle_timeout.min(Duration::from_secs(1)),
        None => settings.keep_alive_idle_timeout,
    };
    let service = ConnService {
        app: TowerToHyperService::new(app),
        conn: conn.clone(),
        body_timeout: settings.body_read_timeout,
        health_only,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watchdog times headers (from their first byte, so that idle keep-alive
        // connections follow keep_alive_idle_timeout instead).
        .header_read_timeout(None);
    let served = builder.serve_connection(io, service);
    tokio::pin!(served);
    let mut closing = false;
    loop {
        tokio::select! {
            r = served.as_mut() => {
                if let Err(e) = r {
                    if conn.write_stalled.load(Ordering::Relaxed) {
                        tracing::info!(
                            %peer,
                            session = conn.session().as_deref().unwrap_or("-"),
                            "closed a connection whose client took nothing for {} (hub.http.stream_write_timeout)",
                            humantime::format_duration(settings.stream_write_timeout)
                        );
                    } else {
                        tracing::debug!(%peer, "HTTP connection ended: {e}");
                    }
                }
                return;
            }
            why = conn.watchdog(settings.header_read_timeout, idle_timeout) => {
                match why {
                    Expired::Headers => tracing::debug!(
                        %peer,
                        "closed a connection whose request headers did not arrive within {} (hub.http.header_read_timeout)",
                        humantime::format_duration(settings.header_read_timeout)
                    ),
                    Expired::Idle => tracing::debug!(
                        %peer,
                        "closed a keep-alive connection idle for {} (hub.http.keep_alive_idle_timeout)",
                        humantime::format_duration(idle_timeout)
                    ),
                }
                return;
            }
            _ = graceful.cancelled(), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
            _ = hard.cancelled() => return,
        }
    }
}

/// Accepts on `listener` and serves `app` until `shutdown` fires; then stops accepting, lets
/// connections finish (`draining` ends streams) for up to `shutdown_deadline`, and closes the rest.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    settings: HttpSettings,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    draining: CancellationToken,
) {
    let settings = Arc::new(settings);
    let limits = Limits::new(settings.max_connections, settings.max_connections_per_peer);
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let graceful = CancellationToken::new();
    let hard = CancellationToken::new();
    let mut last_cap_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: do not spin.
                tracing::warn!("cannot accept an HTTP connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (permit, health_only) = match limits.admit(peer.ip()) {
            Admission::Full(p) => (p, None),
            Admission::HealthOnly(p, why) => {
                warn_at_cap(&mut last_cap_warning, &why);
                (p, Some(Arc::<str>::from(why)))
            }
            Admission::Refused(why) => {
                warn_at_cap(&mut last_cap_warning, &why);
                if let Ok(slot) = refusals.clone().try_acquire_owned() {
                    tracker.spawn(async move {
                        refuse(stream, why).await;
                        drop(slot);
                    });
                }
                continue;
            }
        };
        let (app, settings) = (app.clone(), settings.clone());
        let (graceful, hard) = (graceful.clone(), hard.clone());
        tracker.spawn(async move {
            connection(stream, peer, app, settings, health_only, graceful, hard).await;
            drop(permit);
        });
    }
    drop(listener);
    draining.cancel();
    graceful.cancel();
    tracker.close();
    let deadline = settings.shutdown_deadline;
    if tokio::time::timeout(deadline, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight HTTP requests did not finish within {}; closing",
            humantime::format_duration(deadline)
        );
        hard.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
    }
}

/// Logs reaching a connection cap, at most every 10 seconds.
fn warn_at_cap(last: &mut Option<Instant>, why: &str) {
    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
        *last = Some(Instant::now());
        tracing::warn!("refusing HTTP connections: {why}");
    }
}

/// A `Connection: close` header for answers after which the connection must not be reused.
pub fn close_after(r: &mut axum::response::Response) {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn a_peer_over_its_cap_gets_the_reserve_then_refusals() {
        let limits = Limits::new(3, 2);
        let local: IpAddr = [127, 0, 0, 1].into();
        let locals: Vec<_> = (0..3).map(|_| limits.admit(local)).collect();
        assert!(locals.iter().all(|a| matches!(a, Admission::Full(_))));
        drop(locals);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let p1 = limits.admit(a);
        let p2 = limits.admit(a);
        assert!(matches!(p1, Admission::Full(_)));
        assert!(matches!(p2, Admission::Full(_)));
        let mut reserve = Vec::new();
        for _ in 0..HEALTH_RESERVE_PER_PEER {
            match limits.admit(a) {
                Admission::HealthOnly(p, why) => {
                    assert!(why.contains("max_connections_per_peer"), "{why}");
                    reserve.push(p);
                }
                _ => panic!("expected a reserve connection"),
            }
        }
        assert!(matches!(limits.admit(a), Admission::Refused(_)));
        let pb = limits.admit(b);
        assert!(matches!(pb, Admission::Full(_)));
        match limits.admit(b) {
            Admission::HealthOnly(_, why) => {
                assert!(why.contains("hub.http.max_connections"), "{why}")
            }
            _ => panic!("expected a reserve connection at the total cap"),
        }
        drop(p1);
        assert!(matches!(limits.admit(a), Admission::Full(_)));
        drop((p2, reserve, pb));
    }

    #[tokio::test]
    async fn the_watchdog_times_headers_then_idleness() {
        let (header, idle) = (Duration::from_millis(100), Duration::from_millis(300));
        let conn = ConnState::new();
        let t0 = Instant::now();
        assert_eq!(conn.watchdog(header, idle).await, Expired::Headers);
        assert!(t0.elapsed() >= header);
        let in_flight = InFlight::new(&conn);
        // Nothing expires while a request is in flight.
        assert!(tokio::time::timeout(idle * 2, conn.watchdog(header, idle))
            .await
            .is_err());
        drop(in_flight);
        let t1 = Instant::now();
        assert_eq!(conn.watchdog(header, idle).await, Expired::Idle);
        assert!(t1.elapsed() >= idle);
        // A byte on an idle connection starts the next request's headers.
        conn.on_bytes();
        let t2 = Instant::now();
        assert_eq!(conn.watchdog(header, idle).await, Expired::Headers);
        assert!(t2.elapsed() < idle);
    }

    fn settings(extra: &str) -> HttpSettings {
        crate::config::HubConfig::from_str_at(
            &format!("[hub.http]\n{extra}\n[tenants.default.servers.x]\ncommand = \"x\"\n"),
            std::path::Path::new("/tmp/hub.toml"),
            &|_| None,
        )
        .expect("config")
        .hub
        .http
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET /flood HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let (stream, peer) = listener.accept().await.expect("accept");
        // An endless response: the client never reads it.
        let app = Router::new().route(
            "/flood",
            axum::routing::get(|| async {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let s =
                    futures_util::stream::repeat_with(move || Ok::<_, Infallible>(chunk.clone()));
                Body::from_stream(s)
            }),
        );
        let s = Arc::new(settings(r#"stream_write_timeout = "500ms""#));
        let served = connection(
            stream,
            peer,
            app,
            s,
            None,
            CancellationToken::new(),
            CancellationToken::new(),
        );
        let t0 = Instant::now();
        tokio::time::timeout(Duration::from_secs(20), served)
            .await
            .expect("the connection should be closed once writes stall");
        assert!(t0.elapsed() >= Duration::from_millis(500));
        drop(client);
    }

    /// A body whose client sends nothing.
    pub struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        use http_body_util::BodyExt;
        let timed = TimedBody::new(Stalled, Duration::from_millis(200));
        let err = timed.collect().await.expect_err("the body should time out");
        assert!(err.downcast_ref::<BodyTimeout>().is_some(), "{err}");
    }
}
