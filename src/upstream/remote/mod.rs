//! Remote upstreams: Streamable HTTP (handshake era with `Mcp-Session-Id` and a GET stream;
//! 2026-07-28 stateless with `Mcp-Method`/`Mcp-Name`) and legacy HTTP+SSE.
//!
//! The link feeds the connection's multiplexer like the stdio transport does: every frame the
//! mux queues becomes a POST, and every message that comes back (a JSON body, SSE events on a
//! POST, the GET stream, the legacy SSE stream) goes to `Conn::handle_incoming`.
//!
//! Frames are sent in the order the mux queued them: one writer drains the queue and issues each
//! POST (its body handed to the connection) before the next, while the answers of many calls
//! stream back concurrently. So a `notifications/cancelled` never overtakes its own request.
//!
//! Faults: a server that cannot be reached kills the link at once (pending calls fail naming the
//! server; the supervisor reconnects with backoff). A 404 for a known session means the server
//! forgot it: the link runs `initialize` again and retries the request once when that is safe
//! (lists, reads, prompts, completions, ping), and fails a `tools/call` that may have run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::UpstreamError;
use crate::config::{RemoteConfig, RemoteTransport, ServerConfig, ServerName, TenantId};
use crate::mux::{CallError, CloseGuard, Conn, Era};
use crate::protocol;

mod sse;
mod stream;
use crate::sync::LockExt;

/// Requests that can be sent again after the server lost the session: they change nothing.
const SAFE_TO_RETRY: &[&str] = &[
    "ping",
    "tools/list",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "completion/complete",
    "server/discover",
];

#[derive(Clone)]
enum Mode {
    Streamable,
    Sse { endpoint: url::Url },
}

struct Shared {
    server: ServerName,
    tenant: TenantId,
    cfg: RemoteConfig,
    client: reqwest::Client,
    conn: Arc<Conn>,
    mode: Mutex<Mode>,
    session: Mutex<Option<String>>,
    init_frame: Mutex<Option<String>>,
    reinit_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    get_started: AtomicBool,
    stop: CancellationToken,
    reason: OnceLock<String>,
    done: watch::Sender<Option<String>>,
    /// Where this link's tasks run, and the span they run in.
    tasks: crate::tasks::Tasks,
    span: tracing::Span,
}

impl Shared {
    /// Runs one of this link's tasks, owned by the hub's tracker.
    fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(self.span.clone(), task);
    }
}

pub struct RemoteLink {
    shared: Arc<Shared>,
    done: watch::Receiver<Option<String>>,
}

/// Where a URL points, without credentials or query (which may hold secrets), for the log.
fn safe_url(u: &url::Url) -> String {
    format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + u.path()
}

pub fn spawn(
    cfg: &ServerConfig,
    tenant: &TenantId,
    conn: &Arc<Conn>,
    outgoing: crate::mux::Outgoing,
    tasks: &crate::tasks::Tasks,
) -> Result<RemoteLink, UpstreamError> {
    let Some(remote) = cfg.remote.clone() else {
        return Err(UpstreamError::Spawn {
            command: cfg.name.to_string(),
            reason: "not a remote server".into(),
        });
    };
    let client = reqwest::Client::builder()
        .connect_timeout(remote.connect_timeout)
        .build()
        .map_err(|e| UpstreamError::Spawn {
            command: safe_url(&remote.url),
            reason: e.to_string(),
        })?;
    tracing::info!(tenant = %tenant, server = %cfg.name, "connecting to {}", safe_url(&remote.url));
    let (done_tx, done_rx) = watch::channel(None);
    let shared = Arc::new(Shared {
        server: cfg.name.clone(),
        tenant: tenant.clone(),
        mode: Mutex::new(Mode::Streamable),
        cfg: remote,
        client,
        conn: conn.clone(),
        session: Mutex::new(None),
        init_frame: Mutex::new(None),
        reinit_lock: tokio::sync::Mutex::new(()),
        generation: AtomicU64::new(0),
        get_started: AtomicBool::new(false),
        stop: tasks.child_token(),
        reason: OnceLock::new(),
        done: done_tx,
        tasks: tasks.clone(),
        span: tracing::info_span!(parent: None, "upstream", tenant = %tenant, server = %cfg.name),
    });
    shared.spawn(shared.clone().write_loop(outgoing));
    Ok(RemoteLink {
        shared,
        done: done_rx,
    })
}

impl Drop for RemoteLink {
    fn drop(&mut self) {
        // The link's tasks (GET stream, SSE reader, POSTs) end with it.
        self.shared.stop.cancel();
    }
}

impl RemoteLink {
    /// Resolves with the reason once the link is gone, or its connection was closed (a task of
    /// the link panicked): then the link's tasks are stopped too.
    pub async fn closed(&mut self) -> String {
        let conn = self.shared.conn.clone();
        tokio::select! {
            r = self.done.wait_for(Option::is_some) => match r {
                Ok(r) => r.clone().unwrap_or_default(),
                Err(_) => "closed".into(),
            },
            _ = conn.closed() => {
                let reason = conn.close_reason().unwrap_or("closed").to_string();
                self.shared.die(reason.clone());
                reason
            }
        }
    }

    /// Ends the session on the server (best effort) and closes the link.
    pub async fn stop(self, grace: Duration) {
        let s = &self.shared;
        let sid = s.session.locked().clone();
        let streamable = matches!(*s.mode.locked(), Mode::Streamable);
        if let (Some(sid), true) = (sid, streamable) {
            let req = s
                .with_headers(s.client.delete(s.cfg.url.clone()))
                .header("mcp-session-id", sid);
            let _ = tokio::time::timeout(grace.min(Duration::from_secs(2)), req.send()).await;
        }
        s.die("is stopping with the hub".into());
    }
}

impl Shared {
    /// The link is gone: every pending call fails with `reason`, the supervisor is told.
    fn die(&self, reason: String) {
        if self.reason.set(reason.clone()).is_ok() {
            self.stop.cancel();
            self.conn.close(reason.clone());
            let _ = self.done.send(Some(reason));
        }
    }

    fn with_headers(&self, mut req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        req
    }

    /// Fails one pending request (when it still is pending).
    fn fail(&self, id: Option<&Value>, reason: String) {
        if let Some(id) = id.and_then(Value::as_u64) {
            self.conn.fail_pending(
                id,
                CallError::Closed {
                    server: self.server.clone(),
                    reason,
                },
            );
        }
    }

    /// The one writer: each frame's POST is issued (its body taken by the connection) before the
    /// next frame is, so frames reach the server in queue order; answers stream back
    /// concurrently, each in its own task.
    async fn write_loop(self: Arc<Self>, mut outgoing: crate::mux::Outgoing) {
        let guard = CloseGuard::new(self.conn.clone(), "writer");
        if self.cfg.transport == RemoteTransport::Sse {
            if let Err(e) = self.open_sse().await {
                self.die(e);
                return guard.disarm();
            }
        }
        loop {
            let frame = tokio::select! {
                f = outgoing.recv() => match f { Some(f) => f, None => break },
                _ = self.stop.cancelled() => break,
            };
            let (issued_tx, issued) = oneshot::channel();
            let me = self.clone();
            self.spawn(async move {
                let _guard = CloseGuard::on_panic(me.conn.clone(), "request");
                me.send(frame, issued_tx).await;
            });
            // Resolves when the body is on its way, or the POST failed before (sender dropped).
            tokio::select! {
                _ = issued => {}
                _ = self.stop.cancelled() => break,
            }
        }
        guard.disarm();
    }

    async fn send(self: Arc<Self>, frame: String, issued: oneshot::Sender<()>) {
        let v: Value = serde_json::from_str(&frame).unwrap_or(Value::Null);
        let method = v["method"].as_str().unwrap_or_default().to_string();
        if method == "initialize" {
            *self.init_frame.locked() = Some(frame.clone());
        }
        let mode = self.mode.locked().clone();
        match mode {
            Mode::Sse { endpoint } => self.post_sse(&endpoint, frame, &v, Some(issued)).await,
            Mode::Streamable => {
                self.post_streamable(frame, &v, &method, true, Some(issued))
                    .await
            }
        }
    }

    fn streamable_request(
        &self,
        frame: String,
        v: &Value,
        method: &str,
        issued: Option<oneshot::Sender<()>>,
    ) -> reqwest::RequestBuilder {
        let mut req = self
            .with_headers(self.client.post(self.cfg.url.clone()))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        if let Some(sid) = self.session.locked().clone() {
            req = req.header("mcp-session-id", sid);
        }
        if v["params"]["_meta"][protocol::META_PROTOCOL_VERSION].as_str()
            == Some(protocol::STATELESS)
        {
            req = req
                .header("mcp-protocol-version", protocol::STATELESS)
                .header("mcp-method", method);
            let name = match method {
                "tools/call" | "prompts/get" => v["params"]["name"].as_str(),
                "resources/read" => v["params"]["uri"].as_str(),
                _ => None,
            };
            if let Some(n) = name {
                req = req.header("mcp-name", n);
            }
        } else if let Some(Era::Handshake { version }) = self.conn.era() {
            req = req.header("mcp-protocol-version", version.as_str());
        }
        with_body(req, frame, issued)
    }

    async fn post_streamable(
        self: &Arc<Self>,
        frame: String,
        v: &Value,
        method: &str,
        may_retry: bool,
        issued: Option<oneshot::Sender<()>>,
    ) {
        let id = v.get("id");
        let resp = match self
            .streamable_request(frame.clone(), v, method, issued)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let fatal = e.is_connect() || e.is_timeout();
                let reason = format!("is unreachable: {}", short(e));
                self.fail(id, reason.clone());
                if fatal {
                    self.die(reason);
                }
                return;
            }
        };
        let status = resp.status();
        if method == "initialize" && status.is_success() {
            if let Some(sid) = resp
                .headers()
                .get("mcp-session-id")
                .and_then(|h| h.to_str().ok())
            {
                *self.session.locked() = Some(sid.to_string());
            }
        }
        let had_session = self.session.locked().is_some();
        match status.as_u16() {
            202 | 204 => {
                if method == "notifications/initialized" {
                    self.start_get_stream();
                }
            }
            // The spec says 404; the TypeScript SDK's servers say 400 "No valid session ID".
            404 | 400 if had_session && method != "initialize" && may_retry => {
                let body = resp.text().await.unwrap_or_default();
                if status.as_u16() == 400 && !body.to_ascii_lowercase().contains("session") {
                    let excerpt: String = body.chars().take(200).collect();
                    return self.fail(id, format!("answered HTTP {status}: {excerpt}"));
                }
                tracing::info!(tenant = %self.tenant, server = %self.server, "upstream forgot the session; initializing again");
                if let Err(e) = self.reinit().await {
                    self.fail(id, e.clone());
                    return self.die(e);
                }
                if SAFE_TO_RETRY.contains(&method) || id.is_none() {
                    Box::pin(self.post_streamable(frame, v, method, false, None)).await;
                } else {
                    self.fail(
                        id,
                        "lost its session before answering; the call may not have run: try again"
                            .into(),
                    );
                }
            }
            400 | 404 | 405
                if method == "initialize" && self.cfg.transport == RemoteTransport::Auto =>
            {
                tracing::info!(tenant = %self.tenant, server = %self.server, "no Streamable HTTP at {} (HTTP {status}); trying legacy SSE", safe_url(&self.cfg.url));
                match self.open_sse().await {
                    Ok(endpoint) => self.post_sse(&endpoint, frame, v, None).await,
                    Err(e) => {
                        self.fail(id, e.clone());
                        self.die(e);
                    }
                }
            }
            _ if status.is_success() => self.read_body(resp, id).await,
            _ => {
                let body = resp.text().await.unwrap_or_default();
                let excerpt: String = body.chars().take(200).collect();
                self.fail(id, format!("answered HTTP {status}: {excerpt}"));
            }
        }
    }

    /// A 200 answer: one JSON message, or an SSE stream of messages.
    async fn read_body(&self, resp: reqwest::Response, id: Option<&Value>) {
        let related = id.and_then(Value::as_u64);
        let is_sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if !is_sse {
            match resp.text().await {
                Ok(t) if !t.trim().is_empty() => self.conn.handle_incoming(t.trim()),
                Ok(_) => {}
                Err(e) => self.fail(id, format!("broke off its answer: {}", short(e))),
            }
            return;
        }
        let mut events = sse_stream::SseStream::from_bytes_stream(resp.bytes_stream());
        loop {
            let ev = tokio::select! {
                e = events.next() => e,
                _ = self.stop.cancelled() => return,
            };
            match ev {
                Some(Ok(e)) => {
                    if let Some(d) = e.data.filter(|d| !d.trim().is_empty()) {
                        self.conn.handle_incoming_on(&d, related);
                    }
                }
                Some(Err(e)) => {
                    self.fail(id, format!("broke its event stream: {e}"));
                    return;
                }
                None => {
                    // The stream ended; a request it never answered fails here (no-op when answered).
                    self.fail(id, "ended its event stream without an answer".into());
                    return;
                }
            }
        }
    }
}

/// `frame` as the request's body. With `issued`, the sender fires when the connection takes the
/// body (the request line and headers are written by then): the writer waits for it before
/// issuing the next frame. Dropped unsent (the POST failed first), it wakes the writer too.
fn with_body(
    req: reqwest::RequestBuilder,
    frame: String,
    issued: Option<oneshot::Sender<()>>,
) -> reqwest::RequestBuilder {
    let Some(issued) = issued else {
        return req.body(frame);
    };
    let len = frame.len();
    let body = futures_util::stream::once(async move {
        let _ = issued.send(());
        Ok::<_, std::convert::Infallible>(frame)
    });
    req.header(reqwest::header::CONTENT_LENGTH, len)
        .body(reqwest::Body::wrap_stream(body))
}

/// An error's message without the URL (which may carry secrets in its query).
fn short(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        s = format!("{s}: {inner}");
        src = inner.source();
    }
    s
}
