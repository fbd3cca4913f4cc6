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
//!
//! - this file: the connection, its pending calls, requests and forwarding, timeouts, closing.
//! - [`incoming`]: what the upstream sends: answers, notifications, requests, malformed input.
//! - [`raw`]: answers and progress that pass with only their id or token spliced in.
//! - [`park`]: calls parked for the MRTR bridge while their client supplies input.
//! - [`reply`]: where an answer goes and what it is given on its way (id, rewrite, permit).
//! - [`error`], [`guard`]: why a call failed; closing the connection when a task dies.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use dashmap::DashMap;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::ServerName;
use crate::jsonrpc::{self, Kind, Outbox};
use crate::protocol;

mod cancel;
mod error;
mod guard;
mod incoming;
mod park;
mod raw;
mod reply;

pub use error::CallError;
pub use guard::CloseGuard;
use park::ParkedCall;
pub use park::{Bridged, Resumed};
use reply::{deliver, deliver_error};
pub use reply::{finish_result, DownstreamReply, Finish, Rewrite};

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
    /// Keyed by the hub's own ids: FxHash, not SipHash (no peer chooses these keys).
    pending: DashMap<u64, Pending, rustc_hash::FxBuildHasher>,
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
            pending: DashMap::with_hasher(rustc_hash::FxBuildHasher),
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

    /// Why the connection closed, once it has.
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
    /// `params` is the client's params with names already rewritten; `rest` more of its members
    /// as JSON text (`"k":v,…`), passed unread (empty when `params` is whole).
    pub fn forward(
        &self,
        method: &str,
        mut params: Value,
        rest: &str,
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
        let frame = jsonrpc::request_with_rest(&json!(id), method, &params, rest);
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

    pub fn lists_may_have_changed(self: &Arc<Self>) {
        for kind in [
            protocol::ListKind::Tools,
            protocol::ListKind::Prompts,
            protocol::ListKind::Resources,
        ] {
            self.hooks.on_notification(
                self,
                json!({"jsonrpc": "2.0", "method": kind.changed_notification()}),
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
