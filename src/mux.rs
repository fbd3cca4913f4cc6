//! The JSON-RPC multiplexer of one upstream connection: many calls in flight, ids remapped,
//! progress tokens mapped both ways, timeouts reset by progress, cancellation, and every pending
//! call failed at once when the connection dies.
//!
//! A forwarded call is a continuation, not a task: the upstream's response is rewritten and put on
//! the calling session's outbox by the connection's reader, so a call costs two channel hops in
//! the hub. Messages from one upstream are handled in the order they arrive, which keeps a
//! call's last progress notification ahead of its result.
//!
//! The mux knows no transport: a transport feeds `handle_incoming` and drains `outgoing`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::ServerName;
use crate::jsonrpc::{self, Kind, Outbox};
use crate::protocol;

/// Why a call did not get a result from its upstream.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CallError {
    /// The upstream answered with a JSON-RPC error (its own fault or the caller's).
    #[error("upstream `{server}` answered with error {code}: {message}")]
    Rpc {
        server: ServerName,
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// The connection is gone (the process exited, the stream broke, the hub is stopping).
    #[error("upstream `{server}` {reason}")]
    Closed { server: ServerName, reason: String },
    #[error("upstream `{server}` did not answer `{method}` within {}", humantime::format_duration(*.after))]
    Timeout {
        server: ServerName,
        method: String,
        after: Duration,
    },
}

impl CallError {
    pub fn code(&self) -> i64 {
        match self {
            CallError::Rpc { code, .. } => *code,
            CallError::Closed { .. } => jsonrpc::UPSTREAM_FAILED,
            CallError::Timeout { .. } => jsonrpc::REQUEST_TIMEOUT,
        }
    }

    /// The JSON-RPC error object a downstream client gets for this failure.
    pub fn to_error_value(&self, id: &Value) -> Value {
        match self {
            CallError::Rpc {
                code,
                message,
                data,
                ..
            } => jsonrpc::error_value(id, *code, message.clone(), data.clone()),
            CallError::Closed { server, .. } | CallError::Timeout { server, .. } => {
                jsonrpc::error_value(
                    id,
                    self.code(),
                    self.to_string(),
                    Some(json!({"server": server.as_str()})),
                )
            }
        }
    }
}

/// A change the caller wants made to a result on its way downstream (namespacing its URIs and
/// task ids): given as a value, so the mux knows nothing of naming.
pub type Rewrite = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// What to do to a result on its way downstream.
#[derive(Clone, Default)]
pub struct Finish {
    pub rewrite: Option<Rewrite>,
    /// The call's place in its tenant's quota, given back when the answer is delivered.
    pub permit: Option<crate::quota::Permit>,
    /// The downstream speaks 2026-07-28: mark results `resultType: complete` when the upstream did not.
    pub stateless: bool,
    /// `<method> <name or uri>` of the request (2026-07-28 calls only), for the MRTR bridge.
    pub origin: Option<Arc<str>>,
    /// 2026-07-28 cache hints for a `resources/read` result (kept when the upstream gave them).
    pub cache_hint: bool,
}

impl std::fmt::Debug for Finish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish")
            .field("rewrite", &self.rewrite.is_some())
            .field("stateless", &self.stateless)
            .field("origin", &self.origin)
            .field("cache_hint", &self.cache_hint)
            .finish()
    }
}

/// A downstream request waiting for its upstream's answer.
#[derive(Debug)]
pub struct DownstreamReply {
    pub out: Outbox,
    pub session: u64,
    /// The client's own request id.
    pub id: Value,
    /// The client's own progress token, if it asked for progress.
    pub progress: Option<Value>,
    /// 2026-07-28: the log level the request's `_meta` asked for (log messages reach the request's stream).
    pub log_level: Option<u8>,
    pub finish: Finish,
    /// For a 2026-07-28 upstream and a handshake-era client: the request as sent, so the hub can
    /// retry it with the client's answers when the upstream says `input_required`.
    pub retry: Option<Box<(String, Value)>>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per call in flight; boxing the common variant would cost an allocation per call"
)]
enum Reply {
    Local(oneshot::Sender<Result<Value, CallError>>),
    Downstream(DownstreamReply),
    /// A 2026-07-28 client's call waiting for the client to retry with input (MRTR bridge).
    Parked(Box<ParkedCall>),
}

/// A call whose client went away to answer an `input_required` (MRTR bridge).
struct ParkedCall {
    session: u64,
    out: Outbox,
    origin: Option<Arc<str>>,
    log_level: Option<u8>,
    /// The upstream's answer, if it came before the client's retry.
    answer: Option<Value>,
    /// Upstream requests that arrived while the client was away; the retry is answered with
    /// the first of them instead of being attached.
    queued: VecDeque<Value>,
}

/// What `bridge` did with an upstream request for a 2026-07-28 call.
#[allow(
    clippy::large_enum_variant,
    reason = "a return value moved once, not stored"
)]
pub enum Bridged {
    /// The call was with its client, and is now parked: answer `reply` with `input_required`.
    Ask(DownstreamReply),
    /// The call was already parked: the request waits for the client's retry.
    Queued,
    /// The call is gone.
    Gone,
}

/// What `resume` did with a client's retry of a parked call.
#[allow(
    clippy::large_enum_variant,
    reason = "a return value moved once, not stored"
)]
pub enum Resumed {
    /// Attached (or answered at once when the upstream had already answered).
    Attached,
    /// The upstream asked something else meanwhile: answer `reply` with `input_required` for
    /// `request`; the call stays parked.
    Ask {
        request: Value,
        reply: DownstreamReply,
    },
}

/// A downstream call in flight on this connection.
#[derive(Clone, Debug)]
pub struct InFlight {
    /// The hub's id for the call on this connection.
    pub call: u64,
    pub session: u64,
    pub out: Outbox,
    /// The client speaks 2026-07-28 (server-to-client requests must be bridged).
    pub stateless: bool,
    /// `<method> <name or uri>` of the client's request, for binding bridge state.
    pub origin: Option<Arc<str>>,
    pub log_level: Option<u8>,
    /// The client is away answering an `input_required` for this call (MRTR bridge).
    pub parked: bool,
}

struct Pending {
    method: String,
    deadline: Instant,
    timeout: Duration,
    reply: Reply,
}

/// What the connection cannot decide alone: notifications and server-to-client requests.
pub trait ConnHooks: Send + Sync {
    /// A notification other than progress (list_changed, logging, resources/updated, cancelled).
    fn on_notification(&self, conn: &Arc<Conn>, msg: Value);
    /// A request from the upstream (sampling, elicitation, roots). `calls` are the downstream
    /// calls in flight on this connection, most recent first; `associated`: the transport tied
    /// the request to the one call in `calls`.
    fn on_server_request(
        &self,
        conn: &Arc<Conn>,
        msg: Value,
        calls: Vec<InFlight>,
        associated: bool,
    );
    /// A 2026-07-28 upstream answered a handshake-era client's call with `input_required`: the
    /// hub asks the client (server-to-client requests) and retries with the answers.
    fn on_input_required(&self, conn: &Arc<Conn>, result: Value, reply: DownstreamReply);
}

/// Which era the connection speaks; set once by the handshake.
#[derive(Clone, Debug)]
pub enum Era {
    Handshake {
        version: String,
    },
    /// 2026-07-28: every request carries this `_meta`.
    Stateless {
        meta: serde_json::Map<String, Value>,
    },
}

/// Frames queued towards one upstream at most (README, "Queues"): a call that finds the queue
/// full fails at once naming the server, the forward path never blocks.
pub const UPSTREAM_QUEUE_FRAMES: usize = 4096;

/// The frames on their way to one upstream, drained by its transport's writer.
pub type Outgoing = mpsc::Receiver<String>;

/// One connection to an upstream, shared by every session of the tenant.
pub struct Conn {
    pub server: ServerName,
    outgoing: mpsc::Sender<String>,
    next_id: AtomicU64,
    pending: DashMap<u64, Pending>,
    closed: CancellationToken,
    close_reason: OnceLock<String>,
    era: OnceLock<Era>,
    hooks: Arc<dyn ConnHooks>,
}

impl Conn {
    /// A connection whose outgoing frames (one JSON message each, no newline) go to the returned receiver.
    pub fn new(server: ServerName, hooks: Arc<dyn ConnHooks>) -> (Arc<Self>, Outgoing) {
        let (tx, rx) = mpsc::channel(UPSTREAM_QUEUE_FRAMES);
        let conn = Arc::new(Self {
            server,
            outgoing: tx,
            next_id: AtomicU64::new(0),
            pending: DashMap::new(),
            closed: CancellationToken::new(),
            close_reason: OnceLock::new(),
            era: OnceLock::new(),
            hooks,
        });
        (conn, rx)
    }

    pub fn set_era(&self, era: Era) {
        let _ = self.era.set(era);
    }

    pub fn era(&self) -> Option<&Era> {
        self.era.get()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves when the connection has closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    pub fn close_reason(&self) -> Option<&str> {
        self.close_reason.get().map(String::as_str)
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn closed_error(&self) -> CallError {
        CallError::Closed {
            server: self.server.clone(),
            reason: self
                .close_reason
                .get()
                .cloned()
                .unwrap_or_else(|| "is not connected".into()),
        }
    }

    /// Replaces the client's era keys in `_meta` by the hub's own: the hub is the upstream's
    /// client. Handshake-era upstreams get none; 2026-07-28 upstreams get the hub's.
    fn stamp(&self, params: &mut Value) {
        let stateless = match self.era.get() {
            // Before the handshake (initialize, server/discover) params go as given.
            None => return,
            Some(Era::Stateless { meta }) => Some(meta),
            Some(Era::Handshake { .. }) => None,
        };
        if stateless.is_none() && params.get("_meta").is_none() {
            return;
        }
        if let Some(m) = jsonrpc::meta_mut(params) {
            for k in [
                protocol::META_PROTOCOL_VERSION,
                protocol::META_CLIENT_CAPABILITIES,
                protocol::META_CLIENT_INFO,
            ] {
                m.remove(k);
            }
            if stateless.is_none() {
                // A handshake-era upstream logs by `logging/setLevel`; a 2026-07-28 one gets the
                // client's per-request level.
                m.remove(protocol::META_LOG_LEVEL);
            }
            if let Some(meta) = stateless {
                for (k, v) in meta {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
    }

    fn send_frame(&self, frame: String) -> Result<(), CallError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        match self.outgoing.try_send(frame) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(CallError::Closed {
                server: self.server.clone(),
                reason: format!("is not reading its input ({UPSTREAM_QUEUE_FRAMES} frames queued)"),
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.closed_error()),
        }
    }

    /// A request of the hub's own (handshake, lists, ping), answered here.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut params = params.unwrap_or_else(|| json!({}));
        self.stamp(&mut params);
        let params = if params.as_object().is_some_and(|o| o.is_empty()) && method == "ping" {
            None
        } else {
            Some(params)
        };
        self.pending.insert(
            id,
            Pending {
                method: method.to_string(),
                deadline: deadline(timeout),
                timeout,
                reply: Reply::Local(tx),
            },
        );
        if let Err(e) = self.send_frame(jsonrpc::request(&json!(id), method, params)) {
            self.pending.remove(&id);
            return Err(e);
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.closed_error()),
        }
    }

    /// Forwards a downstream request; the answer goes straight to `reply.out`.
    /// `params` is the client's params with names already rewritten.
    pub fn forward(
        &self,
        method: &str,
        mut params: Value,
        reply: DownstreamReply,
        timeout: Duration,
    ) -> Result<(), Box<(DownstreamReply, CallError)>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.stamp(&mut params);
        if reply.progress.is_some() {
            if let Some(m) = jsonrpc::meta_mut(&mut params) {
                m.insert("progressToken".into(), json!(id));
            }
        }
        let frame = jsonrpc::request(&json!(id), method, Some(params));
        if self.is_closed() {
            return Err(Box::new((reply, self.closed_error())));
        }
        self.pending.insert(
            id,
            Pending {
                method: method.to_string(),
                deadline: deadline(timeout),
                timeout,
                reply: Reply::Downstream(reply),
            },
        );
        if let Err(e) = self.send_frame(frame) {
            if let Some((_, p)) = self.pending.remove(&id) {
                if let Reply::Downstream(r) = p.reply {
                    return Err(Box::new((r, e)));
                }
            }
        }
        Ok(())
    }

    /// Sends a notification upstream (initialized, cancelled, roots/list_changed).
    pub fn notify(&self, method: &str, params: Option<Value>) -> Result<(), CallError> {
        self.send_frame(jsonrpc::notification(method, params))
    }

    /// Answers a request the upstream sent (the reply a client gave to a relayed request).
    pub fn respond_raw(&self, mut msg: Value, upstream_id: Value) -> Result<(), CallError> {
        match msg.as_object_mut() {
            Some(o) => {
                o.insert("id".into(), upstream_id);
                self.send_frame(msg.to_string())
            }
            None => self.send_frame(jsonrpc::error(
                &upstream_id,
                jsonrpc::INTERNAL_ERROR,
                "the client's answer was not a JSON-RPC object",
                None,
            )),
        }
    }

    /// The client cancelled its request `client_id`: drop it here and tell the upstream.
    pub fn cancel_downstream(&self, session: u64, client_id: &Value, reason: Option<&str>) -> bool {
        let found = self.pending.iter().find_map(|e| match &e.value().reply {
            Reply::Downstream(r) if r.session == session && &r.id == client_id => Some(*e.key()),
            _ => None,
        });
        let Some(id) = found else { return false };
        self.pending.remove(&id);
        let mut params = json!({"requestId": id});
        if let Some(r) = reason {
            params["reason"] = json!(r);
        }
        let _ = self.notify("notifications/cancelled", Some(params));
        true
    }

    /// A session went away: its calls in flight are cancelled upstream (parked MRTR calls stay).
    pub fn cancel_session(&self, session: u64, reason: &str) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|e| matches!(&e.value().reply, Reply::Downstream(r) if r.session == session))
            .map(|e| *e.key())
            .collect();
        for id in ids {
            if self.pending.remove(&id).is_some() {
                let _ = self.notify(
                    "notifications/cancelled",
                    Some(json!({"requestId": id, "reason": reason})),
                );
            }
        }
    }

    /// Downstream calls in flight here, most recent first.
    pub fn active_calls(&self) -> Vec<InFlight> {
        let mut v: Vec<InFlight> = self
            .pending
            .iter()
            .filter_map(|e| match &e.value().reply {
                Reply::Downstream(r) => Some(InFlight {
                    call: *e.key(),
                    session: r.session,
                    out: r.out.clone(),
                    stateless: r.finish.stateless,
                    origin: r.finish.origin.clone(),
                    log_level: r.log_level,
                    parked: false,
                }),
                Reply::Parked(p) => Some(InFlight {
                    call: *e.key(),
                    session: p.session,
                    out: p.out.clone(),
                    stateless: true,
                    origin: p.origin.clone(),
                    log_level: p.log_level,
                    parked: true,
                }),
                Reply::Local(_) => None,
            })
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.call));
        v
    }

    /// An upstream request (sampling, elicitation, roots) for 2026-07-28 call `call`: the
    /// client is detached so the bridge can answer it with `input_required`, or, when the client
    /// is already away answering an earlier one, the request waits for its retry. Either way the
    /// call stays pending upstream, and its answer is kept until `resume`.
    pub fn bridge(&self, call: u64, request: Value) -> Bridged {
        let Some(mut p) = self.pending.get_mut(&call) else {
            return Bridged::Gone;
        };
        let parked = match &mut p.reply {
            Reply::Parked(parked) => {
                parked.queued.push_back(request);
                return Bridged::Queued;
            }
            Reply::Local(_) => return Bridged::Gone,
            Reply::Downstream(r) => ParkedCall {
                session: r.session,
                out: r.out.clone(),
                origin: r.finish.origin.clone(),
                log_level: r.log_level,
                answer: None,
                queued: VecDeque::new(),
            },
        };
        p.deadline = deadline(Duration::from_secs(24 * 3600));
        match std::mem::replace(&mut p.reply, Reply::Parked(Box::new(parked))) {
            Reply::Downstream(r) => Bridged::Ask(r),
            other => {
                p.reply = other;
                Bridged::Gone
            }
        }
    }

    /// Attaches the client's retry to parked call `call`; delivers at once when the upstream
    /// already answered, and hands back the next queued upstream request when there is one.
    /// Gives the reply back when the call is gone.
    pub fn resume(
        &self,
        call: u64,
        reply: DownstreamReply,
    ) -> Result<Resumed, Box<DownstreamReply>> {
        let (answer, stale) = {
            let Some(mut p) = self.pending.get_mut(&call) else {
                return Err(Box::new(reply));
            };
            let Reply::Parked(parked) = &mut p.reply else {
                return Err(Box::new(reply));
            };
            if parked.answer.is_none() {
                if let Some(request) = parked.queued.pop_front() {
                    return Ok(Resumed::Ask { request, reply });
                }
                p.deadline = deadline(p.timeout);
                p.reply = Reply::Downstream(reply);
                return Ok(Resumed::Attached);
            }
            drop(p);
            match self.pending.remove(&call) {
                Some((
                    _,
                    Pending {
                        reply: Reply::Parked(parked),
                        ..
                    },
                )) => {
                    let ParkedCall { answer, queued, .. } = *parked;
                    (answer.unwrap_or_default(), queued)
                }
                _ => return Err(Box::new(reply)),
            }
        };
        self.refuse_queued(stale, "the call ended before its client could be asked");
        deliver(answer, reply);
        Ok(Resumed::Attached)
    }

    /// Answers upstream requests that will never reach a client with an error.
    fn refuse_queued(&self, queued: VecDeque<Value>, why: &str) {
        for q in queued {
            let _ = self.respond_raw(
                jsonrpc::error_value(&Value::Null, jsonrpc::INTERNAL_ERROR, why, None),
                q["id"].clone(),
            );
        }
    }

    /// Gives up on call `call` (a bridged call whose client never came back).
    pub fn abandon(&self, call: u64, reason: &str) {
        if let Some((_, p)) = self.pending.remove(&call) {
            if let Reply::Parked(parked) = p.reply {
                self.refuse_queued(parked.queued, reason);
            }
            let _ = self.notify(
                "notifications/cancelled",
                Some(json!({"requestId": call, "reason": reason})),
            );
        }
    }

    /// One message from the upstream.
    pub fn handle_incoming(self: &Arc<Self>, line: &str) {
        self.handle_incoming_on(line, None)
    }

    /// One message that arrived on the answer stream of call `related` (Streamable HTTP), so a
    /// request in it belongs to that call (SEP-2260 association).
    pub fn handle_incoming_on(self: &Arc<Self>, line: &str, related: Option<u64>) {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => {
                tracing::warn!(server = %self.server, "upstream wrote a line that is not JSON; ignored: {}", truncate(line, 200));
                return;
            }
        };
        match msg {
            // A batch (JSON-RPC 2.0; MCP 2025-03-26): each message on its own, in order. A batch
            // inside a batch is not JSON-RPC and is ignored like any other invalid message.
            Value::Array(batch) => {
                for m in batch {
                    self.handle_message(m, related, None);
                }
            }
            msg => self.handle_message(msg, related, Some(line)),
        }
    }

    /// One message; `line` is its text when it came alone (else it is printed for the log).
    fn handle_message(self: &Arc<Self>, msg: Value, related: Option<u64>, line: Option<&str>) {
        match jsonrpc::classify(&msg) {
            Kind::Response => self.on_response(msg),
            Kind::Notification => self.on_notification(msg),
            Kind::Request => self.on_request(msg, related),
            Kind::Invalid => {
                let text = line.map_or_else(|| msg.to_string(), str::to_string);
                tracing::warn!(server = %self.server, "upstream wrote JSON that is not JSON-RPC; ignored: {}", truncate(&text, 200));
            }
        }
    }

    fn on_response(self: &Arc<Self>, mut msg: Value) {
        let Some(id) = id_number(&msg["id"]) else {
            tracing::warn!(server = %self.server, "response with an id the hub never sent: {}", truncate(&msg["id"].to_string(), 100));
            return;
        };
        let Some((_, p)) = self.pending.remove(&id) else {
            tracing::debug!(server = %self.server, id, "late response (cancelled or timed out); dropped");
            return;
        };
        match p.reply {
            Reply::Local(tx) => {
                let r = match msg.get_mut("error").map(Value::take) {
                    Some(err) => Err(self.rpc_error(err)),
                    None => Ok(msg
                        .get_mut("result")
                        .map(Value::take)
                        .unwrap_or(Value::Null)),
                };
                let _ = tx.send(r);
            }
            Reply::Downstream(r)
                if r.retry.is_some() && msg["result"]["resultType"] == "input_required" =>
            {
                let result = msg.get_mut("result").map(Value::take).unwrap_or_default();
                self.hooks.on_input_required(self, result, r);
            }
            Reply::Downstream(r) => match self.well_formed(msg, &p.method) {
                Ok(msg) => deliver(msg, r),
                Err(e) => deliver_error(Reply::Downstream(r), e),
            },
            Reply::Parked(mut parked) => {
                // The client will come back for it (or the bridge gives up on it).
                parked.answer = Some(match self.well_formed(msg, &p.method) {
                    Ok(msg) => msg,
                    Err(e) => e.to_error_value(&Value::Null),
                });
                self.pending.insert(
                    id,
                    Pending {
                        reply: Reply::Parked(parked),
                        ..p
                    },
                );
            }
        }
    }

    /// An upstream's JSON-RPC error, whatever its shape: a code that is not an integer becomes
    /// -32603, a message that is not a string is shown as JSON.
    fn rpc_error(&self, err: Value) -> CallError {
        let (code, message, data) = match err {
            Value::Object(mut o) => (
                o.get("code").and_then(Value::as_i64),
                match o.remove("message") {
                    Some(Value::String(m)) => m,
                    Some(other) => truncate(&other.to_string(), 1000).to_string(),
                    None => String::new(),
                },
                o.remove("data"),
            ),
            Value::String(m) => (None, m, None),
            other => (None, truncate(&other.to_string(), 1000).to_string(), None),
        };
        CallError::Rpc {
            server: self.server.clone(),
            code: code.unwrap_or(jsonrpc::INTERNAL_ERROR),
            message,
            data,
        }
    }

    /// A response fit for a client: an `error` is a JSON-RPC error object, a `result` an object
    /// (every MCP result is one). Anything else becomes an error naming the server.
    fn well_formed(&self, mut msg: Value, method: &str) -> Result<Value, CallError> {
        if let Some(err) = msg.get_mut("error").map(Value::take) {
            return Err(self.rpc_error(err));
        }
        match msg.get("result") {
            Some(Value::Object(_)) => Ok(msg),
            other => Err(CallError::Closed {
                server: self.server.clone(),
                reason: format!(
                    "answered `{method}` with a malformed result ({})",
                    json_type(other.unwrap_or(&Value::Null))
                ),
            }),
        }
    }

    fn on_notification(self: &Arc<Self>, mut msg: Value) {
        if msg["method"] == "notifications/progress" {
            let Some(params) = msg.get_mut("params").and_then(Value::as_object_mut) else {
                return;
            };
            let Some(token) = params.get("progressToken").and_then(id_number) else {
                return;
            };
            if let Some(mut p) = self.pending.get_mut(&token) {
                p.deadline = deadline(p.timeout);
                // A progress value that is not a number would break the client's parser.
                if !params.get("progress").is_some_and(Value::is_number) {
                    return;
                }
                if let Reply::Downstream(r) = &p.reply {
                    if let Some(t) = &r.progress {
                        params.insert("progressToken".into(), t.clone());
                        let _ = r.out.send_droppable(msg.to_string());
                    }
                }
            }
            return;
        }
        self.hooks.on_notification(self, msg);
    }

    fn on_request(self: &Arc<Self>, msg: Value, related: Option<u64>) {
        if msg["method"] == "ping" {
            let _ = self.send_frame(jsonrpc::result(&msg["id"], json!({})));
            return;
        }
        let mut calls = self.active_calls();
        let associated = related.is_some_and(|r| calls.iter().any(|c| c.call == r));
        if associated {
            calls.retain(|c| Some(c.call) == related);
        }
        self.hooks.on_server_request(self, msg, calls, associated);
    }

    /// Fails calls whose deadline passed; the upstream is told to cancel them.
    pub fn sweep(&self, now: Instant) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|e| e.deadline <= now)
            .map(|e| *e.key())
            .collect();
        for id in expired {
            if let Some((_, p)) = self.pending.remove(&id) {
                let err = CallError::Timeout {
                    server: self.server.clone(),
                    method: p.method,
                    after: p.timeout,
                };
                tracing::warn!(server = %self.server, "{err}");
                let _ = self.notify(
                    "notifications/cancelled",
                    Some(json!({"requestId": id, "reason": "timeout"})),
                );
                deliver_error(p.reply, err);
            }
        }
    }

    /// Fails one pending call (when it still is pending): a transport lost its answer.
    pub fn fail_pending(&self, id: u64, err: CallError) {
        if let Some((_, p)) = self.pending.remove(&id) {
            deliver_error(p.reply, err);
        }
    }

    /// 2026-07-28 upstreams report list changes only on a `subscriptions/listen` stream: open one.
    /// Its notifications come back through `handle_incoming` like any other.
    pub fn listen_for_changes(&self) {
        let mut params = json!({"notifications": {"toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true}});
        self.stamp(&mut params);
        let _ = self.send_frame(jsonrpc::request(
            &json!("mcp-hub-listen"),
            "subscriptions/listen",
            Some(params),
        ));
    }

    /// The transport may have missed list changes (no stream was open): handled as if the
    /// upstream had sent `list_changed` for every list.
    pub fn lists_may_have_changed(self: &Arc<Self>) {
        for kind in ["tools", "prompts", "resources"] {
            self.hooks.on_notification(
                self,
                json!({"jsonrpc": "2.0", "method": format!("notifications/{kind}/list_changed")}),
            );
        }
    }

    /// Marks the connection dead and fails every pending call with `reason`.
    pub fn close(&self, reason: String) {
        let _ = self.close_reason.set(reason);
        self.closed.cancel();
        let ids: Vec<u64> = self.pending.iter().map(|e| *e.key()).collect();
        for id in ids {
            if let Some((_, p)) = self.pending.remove(&id) {
                deliver_error(p.reply, self.closed_error());
            }
        }
    }

    /// Runs `sweep` until the connection closes.
    pub async fn run_sweeper(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.closed.cancelled() => return,
                _ = tick.tick() => {
                    if !self.pending.is_empty() {
                        self.sweep(Instant::now());
                    }
                }
            }
        }
    }
}

/// Held by a task a connection cannot live without (a transport's reader or writer): when the
/// task ends in any way its code did not plan — an early return, a panic, an abort with the
/// runtime — the guard is dropped and closes the connection, so every call waiting on it fails at
/// once naming the server, and the supervisor restarts it.
///
/// A panicking tokio task drops its future while unwinding, so the guard tells a panic apart.
pub struct CloseGuard {
    conn: Arc<Conn>,
    task: &'static str,
    /// Only a panic closes the connection (a task of which many come and go, like one POST).
    panic_only: bool,
    armed: bool,
}

impl CloseGuard {
    /// Closes `conn` when dropped while armed: `<task> task ended: panicked` (or `: stopped`).
    pub fn new(conn: Arc<Conn>, task: &'static str) -> Self {
        Self {
            conn,
            task,
            panic_only: false,
            armed: true,
        }
    }

    /// Closes `conn` only when the task panics.
    pub fn on_panic(conn: Arc<Conn>, task: &'static str) -> Self {
        Self {
            conn,
            task,
            panic_only: true,
            armed: true,
        }
    }

    /// The task ends as planned: it closed the connection itself, or must leave it open.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        let panicked = std::thread::panicking();
        if !self.armed || (self.panic_only && !panicked) || self.conn.is_closed() {
            return;
        }
        let how = if panicked { "panicked" } else { "stopped" };
        let reason = format!("{} task ended: {how}", self.task);
        tracing::error!(server = %self.conn.server, "{reason}; the connection is closed");
        self.conn.close(reason);
    }
}

/// An upstream answer, rewritten for its client.
fn deliver(mut msg: Value, r: DownstreamReply) {
    msg["id"] = r.id;
    if let Some(result) = msg.get_mut("result") {
        finish_result(result, &r.finish);
    }
    let _ = r.out.send(msg.to_string());
}

fn deliver_error(reply: Reply, err: CallError) {
    match reply {
        Reply::Parked(_) => {}
        Reply::Local(tx) => {
            let _ = tx.send(Err(err));
        }
        Reply::Downstream(r) => {
            let _ = r.out.send(err.to_error_value(&r.id).to_string());
        }
    }
}

/// Rewrites a result for the downstream: the caller's rewrite (URIs, task ids), and
/// `resultType` and cache hints for 2026-07-28 clients.
pub fn finish_result(result: &mut Value, finish: &Finish) {
    if let Some(rewrite) = &finish.rewrite {
        rewrite(result);
    }
    if finish.stateless {
        if let Some(o) = result.as_object_mut() {
            o.entry("resultType").or_insert_with(|| json!("complete"));
            if finish.cache_hint {
                // A proxied resource can change with no word to the hub: do not cache unless the
                // upstream said how long.
                o.entry("ttlMs").or_insert_with(|| json!(0));
                o.entry("cacheScope").or_insert_with(|| json!("private"));
            }
            let meta = o.entry("_meta").or_insert_with(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.entry(protocol::META_SERVER_INFO)
                    .or_insert_with(protocol::hub_info);
            }
        }
    }
}

/// `now + after`, saturating (a timeout of years must not overflow `Instant`).
fn deadline(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// What kind of JSON a value is, for messages about malformed input.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Request ids and progress tokens the hub sends are numbers; some peers echo them as strings.
fn id_number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

pub fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;
