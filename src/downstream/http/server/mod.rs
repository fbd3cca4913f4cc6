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

mod conn;
use crate::sync::LockExt;
pub use conn::TimedBody;
use conn::*;

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
        self.counts.locked()
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
pub(super) mod tests;
