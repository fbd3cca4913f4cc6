//! The hub over HTTP: Streamable HTTP (handshake era with sessions, 2026-07-28 stateless), legacy
//! HTTP+SSE, per-tenant routes and keys, and the health endpoints, on one axum router.
//!
//! Routes: `/mcp`, `/sse`, `/messages` for the default tenant; `/t/<tenant>/…` for any tenant;
//! `/health`, `/ready`.

#![allow(
    clippy::result_large_err,
    reason = "axum handlers return `Result<_, Response>`; the error path is cold"
)]

mod events;
mod guard;
pub use guard::{key_matches, presented_key};
mod headers;
mod server;
mod sse;
mod streamable;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::Router;
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use crate::config::{HttpSettings, TenantId};
use crate::downstream::Session;
use crate::hub::Hub;
use crate::jsonrpc;
use crate::sync::LockExt;
use events::EventLog;

/// Shared by every HTTP handler.
pub struct HttpState {
    pub hub: Arc<Hub>,
    pub settings: HttpSettings,
    sessions: DashMap<String, Arc<HttpSession>>,
    per_tenant: DashMap<TenantId, usize>,
    /// Cancelled when the hub starts draining: streams end, readiness goes false.
    pub draining: CancellationToken,
    next_stream: AtomicU64,
    pub serving: AtomicBool,
}

/// A downstream session reached over HTTP (Streamable HTTP with `Mcp-Session-Id`, or legacy SSE).
pub struct HttpSession {
    pub id: String,
    pub tenant: TenantId,
    pub session: Arc<Session>,
    /// Messages not tied to a request (list_changed, logging): the GET stream, or the SSE stream.
    pub main: Arc<EventLog>,
    /// Response streams of POSTs, kept for `Last-Event-ID` resumption.
    pub streams: Mutex<Vec<Arc<EventLog>>>,
    last_active: Mutex<Instant>,
    pub open_gets: AtomicUsize,
    pub legacy: bool,
}

impl HttpSession {
    fn touch(&self) {
        *self.last_active.locked() = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_active.locked().elapsed()
    }

    fn stream(&self, id: u64) -> Option<Arc<EventLog>> {
        if id == 0 {
            return Some(self.main.clone());
        }
        self.streams
            .locked()
            .iter()
            .find(|l| l.stream == id)
            .cloned()
    }

    fn keep_stream(&self, log: Arc<EventLog>) {
        let mut s = self.streams.locked();
        s.push(log);
        if s.len() > 64 {
            s.remove(0);
        }
    }
}

impl HttpState {
    pub fn new(hub: Arc<Hub>) -> Arc<Self> {
        let cfg = hub.config();
        Arc::new(Self {
            settings: cfg.hub.http.clone(),
            sessions: DashMap::new(),
            per_tenant: DashMap::new(),
            draining: hub.shutdown.child_token(),
            next_stream: AtomicU64::new(1),
            serving: AtomicBool::new(false),
            hub,
        })
    }

    /// Runs one of the HTTP side's tasks in the hub's tracker; it also ends when the hub stops.
    pub fn spawn<F>(&self, span: tracing::Span, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let tasks = self.hub.tasks();
        let stop = tasks.root().clone();
        tasks.spawn(span, async move {
            tokio::select! {
                () = task => {}
                () = stop.cancelled() => {}
            }
        });
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Registers a new session whose session-level messages feed its `main` log, or refuses
    /// (429) when the tenant is at its cap.
    fn open_session(
        self: &Arc<Self>,
        tenant: &Arc<crate::tenant::Tenant>,
        legacy: bool,
    ) -> Result<Arc<HttpSession>, axum::response::Response> {
        if tenant.is_stopped() {
            return Err(guard::error(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                jsonrpc::INVALID_REQUEST,
                format!("Tenant `{}` is stopped by its operator; no new sessions until it is started again", tenant.id),
            ));
        }
        let cap = tenant
            .quota
            .limits()
            .max_sessions
            .unwrap_or(self.settings.max_sessions_per_tenant);
        let id = new_session_id().map_err(|e| {
            tracing::error!("cannot draw a session id from the OS random source: {e}");
            guard::error(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                jsonrpc::INTERNAL_ERROR,
                "Internal error: no random source for a session id",
            )
        })?;
        {
            let mut n = self.per_tenant.entry(tenant.id.clone()).or_insert(0);
            if *n >= cap {
                return Err(guard::error(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    jsonrpc::INVALID_REQUEST,
                    format!("Too many sessions: tenant `{}` has reached its limit of {cap} (hub.http.max_sessions_per_tenant)", tenant.id),
                ));
            }
            *n += 1;
        }
        let (tx, rx) = crate::jsonrpc::outbox();
        tx.set_label(&id);
        let session = Session::new(tenant.clone(), tx);
        session.set_transport(if legacy { "sse" } else { "streamable_http" });
        let hs = Arc::new(HttpSession {
            id,
            tenant: tenant.id.clone(),
            session,
            main: Arc::new(EventLog::fed_by(0, &rx)),
            streams: Mutex::new(Vec::new()),
            last_active: Mutex::new(Instant::now()),
            open_gets: AtomicUsize::new(0),
            legacy,
        });
        let (state, sid) = (Arc::downgrade(self), hs.id.clone());
        let pump = events::pump(rx, hs.main.clone(), move || {
            if let Some(s) = state.upgrade() {
                s.close_session(&sid);
            }
        });
        self.spawn(
            tracing::info_span!(parent: None, "session", session = %hs.id),
            pump,
        );
        self.sessions.insert(hs.id.clone(), hs.clone());
        Ok(hs)
    }

    fn session(&self, id: &str, tenant: &TenantId) -> Option<Arc<HttpSession>> {
        self.sessions
            .get(id)
            .filter(|s| &s.tenant == tenant)
            .map(|s| s.clone())
    }

    /// Ends a session: it is forgotten, its streams end, its relayed requests fail upstream.
    fn close_session(&self, id: &str) {
        if let Some((_, hs)) = self.sessions.remove(id) {
            if let Some(mut n) = self.per_tenant.get_mut(&hs.tenant) {
                *n = n.saturating_sub(1);
            }
            hs.session.close();
            hs.main.finish();
            for s in hs.streams.locked().iter() {
                s.finish();
            }
            tracing::debug!(session = %id, "HTTP session ended");
        }
    }

    fn next_stream_id(&self) -> u64 {
        self.next_stream.fetch_add(1, Ordering::Relaxed)
    }

    /// Expires Streamable HTTP sessions idle longer than `session_idle_timeout`.
    async fn expire_idle(self: Arc<Self>) {
        let idle = self.settings.session_idle_timeout;
        let mut tick = tokio::time::interval(
            (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30)),
        );
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.draining.cancelled() => return,
            }
            let expired: Vec<String> = self
                .sessions
                .iter()
                .filter(|s| {
                    !s.legacy && s.open_gets.load(Ordering::Relaxed) == 0 && s.idle_for() > idle
                })
                .map(|s| s.id.clone())
                .collect();
            for id in expired {
                tracing::info!(session = %id, "HTTP session expired after {} idle", humantime::format_duration(idle));
                self.close_session(&id);
            }
        }
    }
}

/// A session id: 128 bits from the OS CSPRNG, as 32 lowercase hex digits.
fn new_session_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Every route of the hub's HTTP side.
pub fn router(state: Arc<HttpState>) -> Router {
    router_with(state, None)
}

/// Every route, plus `extra` (the admin API), all behind the Host and Origin checks.
pub fn router_with(state: Arc<HttpState>, extra: Option<Router>) -> Router {
    let app = Router::new()
        .route(
            "/mcp",
            post(streamable::post_default)
                .get(streamable::get_default)
                .delete(streamable::delete_default),
        )
        .route(
            "/t/{tenant}/mcp",
            post(streamable::post_tenant)
                .get(streamable::get_tenant)
                .delete(streamable::delete_tenant),
        )
        .route("/sse", get(sse::get_default))
        .route("/t/{tenant}/sse", get(sse::get_tenant))
        .route("/messages", post(sse::post_default))
        .route("/t/{tenant}/messages", post(sse::post_tenant))
        .merge(health_router())
        .with_state(state.clone());
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    app.layer(axum::middleware::from_fn_with_state(
        state,
        guard::host_and_origin,
    ))
}

/// The admin listener (`[hub.admin] listen`): health and `extra` (the admin API) only.
pub fn admin_router(state: Arc<HttpState>, extra: Router) -> Router {
    health_router()
        .with_state(state.clone())
        .merge(extra)
        .layer(axum::middleware::from_fn_with_state(
            state,
            guard::host_and_origin,
        ))
}

/// The admin API's state over this HTTP state (its session count included).
pub fn api_state(state: &Arc<HttpState>) -> Arc<crate::admin::api::ApiState> {
    let s = state.clone();
    Arc::new(crate::admin::api::ApiState {
        hub: state.hub.clone(),
        http_sessions: Box::new(move || s.session_count()),
        pulls: Default::default(),
    })
}

/// Only `/health`, `/ready` and `/metrics` (`mcp-hub stdio --health-listen`); they check `Host` and `Origin`
/// themselves, so this router is safe on its own too.
pub fn health_router() -> Router<Arc<HttpState>> {
    use axum::extract::{Request, State};
    Router::new()
        .route(
            "/metrics",
            get(|State(s): State<Arc<HttpState>>, req: Request| async move {
                if let Err(e) =
                    guard::check_request(&s.settings, req.version(), req.uri(), req.headers())
                {
                    return guard::forbidden(&e);
                }
                axum::response::IntoResponse::into_response((
                    [(
                        axum::http::header::CONTENT_TYPE,
                        crate::observe::scrape::CONTENT_TYPE,
                    )],
                    crate::observe::scrape::render(&s.hub),
                ))
            }),
        )
        .route(
            "/health",
            get(|State(s): State<Arc<HttpState>>, req: Request| async move {
                if let Err(e) =
                    guard::check_request(&s.settings, req.version(), req.uri(), req.headers())
                {
                    return guard::forbidden(&e);
                }
                crate::admin::health::health(&s.hub, s.draining.is_cancelled(), s.session_count())
            }),
        )
        .route(
            "/ready",
            get(|State(s): State<Arc<HttpState>>, req: Request| async move {
                if let Err(e) =
                    guard::check_request(&s.settings, req.version(), req.uri(), req.headers())
                {
                    return guard::forbidden(&e);
                }
                crate::admin::health::ready(
                    &s.hub,
                    s.draining.is_cancelled() || !s.serving.load(Ordering::Relaxed),
                )
            }),
        )
}

/// Binds `addr` and serves `app` until `shutdown` fires; then streams end and in-flight
/// requests get up to `shutdown_deadline` to finish. Connections meet the limits of
/// `[hub.http]` (see `server.rs`).
pub async fn serve(
    state: Arc<HttpState>,
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!("mcp-hub listening on http://{bound}");
    state.serving.store(true, Ordering::Relaxed);
    let tracker = tokio_util::task::TaskTracker::new();
    tracker.spawn(state.clone().expire_idle());
    server::run(
        listener,
        app,
        state.settings.clone(),
        tracker,
        shutdown,
        state.draining.clone(),
    )
    .await;
    Ok(())
}
