//! JSON-RPC 2.0 framing on raw `serde_json::Value`: classifying messages and building replies.
//!
//! The hub forwards messages as raw JSON and touches only what it must rewrite, so nothing an
//! upstream or a client sends is lost (rmcp's typed models drop unknown fields).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames queued towards one client stream above which progress and log notifications are
/// dropped (counted, and logged once per burst).
pub const OUTBOX_SOFT_FRAMES: usize = 1_000;
/// Bytes queued towards one client stream above which progress and log notifications are dropped.
pub const OUTBOX_SOFT_BYTES: usize = 1024 * 1024;
/// Frames queued towards one client stream above which nothing more is queued: any notification
/// is dropped, and a response or a server-to-client request disconnects the session.
pub const OUTBOX_HARD_FRAMES: usize = 10_000;
/// Bytes queued towards one client stream above which nothing more is queued (see
/// [`OUTBOX_HARD_FRAMES`]).
pub const OUTBOX_HARD_BYTES: usize = 8 * 1024 * 1024;

/// Serialized JSON-RPC messages on their way to one downstream stream (one per line on stdio),
/// bounded by a documented policy (README, "Queues"):
///
/// * under the soft bound ([`OUTBOX_SOFT_FRAMES`] / [`OUTBOX_SOFT_BYTES`]) every frame is queued;
/// * over it, `notifications/progress` and `notifications/message` are dropped and counted (one
///   log line per burst names the session and the count);
/// * over the hard bound ([`OUTBOX_HARD_FRAMES`] / [`OUTBOX_HARD_BYTES`]) any notification is
///   dropped, and a response or a request that cannot be queued *overflows* the outbox: the
///   session is named in a log line, every later send fails, and the transport, which watches
///   [`OutboxRx::overflowed`], disconnects the session (its calls are cancelled upstream).
///
/// The forward path costs two relaxed atomic loads and two atomic adds; a frame is only looked
/// at (its envelope parsed) when the queue is already over its soft bound and the sender did
/// not say the frame may be dropped ([`Outbox::send_droppable`]).
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<String>,
    q: Arc<Queue>,
}

/// The receiving end of an [`Outbox`]; what it hands out no longer counts as queued (unless
/// taken with [`OutboxRx::recv_held`], for a reader that keeps frames queued elsewhere).
pub struct OutboxRx {
    rx: mpsc::UnboundedReceiver<String>,
    q: Arc<Queue>,
}

/// An outbox whose frames arrive at the returned receiver.
pub fn outbox() -> (Outbox, OutboxRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let q = Arc::new(Queue::default());
    (Outbox { tx, q: q.clone() }, OutboxRx { rx, q })
}

/// The error of a send: the stream is gone (its receiver dropped) or overflowed.
#[derive(Debug)]
pub struct SendError(pub String);

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client's stream is gone")
    }
}

impl std::error::Error for SendError {}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("session", &self.q.label())
            .field("frames", &self.q.frames.load(Ordering::Relaxed))
            .field("bytes", &self.q.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

/// What is queued on one outbox, shared by its senders and its receiver.
#[derive(Default)]
pub struct Queue {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    /// Notifications dropped since the queue was last back under half its soft bound.
    burst: AtomicU64,
    dropped: AtomicU64,
    overflowed: AtomicBool,
    overflow: CancellationToken,
    label: OnceLock<String>,
}

/// What a frame is, as far as the queue's policy cares.
enum Weight {
    /// Progress or log: the first to go.
    Droppable,
    /// Another notification: dropped only over the hard bound.
    Notification,
    /// A response or a request: never dropped; over the hard bound it overflows the outbox.
    Vital,
}

impl Queue {
    fn label(&self) -> &str {
        self.label.get().map_or("-", String::as_str)
    }

    fn over_soft(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= OUTBOX_SOFT_FRAMES
            || self.bytes.load(Ordering::Relaxed) >= OUTBOX_SOFT_BYTES
    }

    fn over_hard(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= OUTBOX_HARD_FRAMES
            || self.bytes.load(Ordering::Relaxed) >= OUTBOX_HARD_BYTES
    }

    fn drop_one(&self) {
        crate::observe::OUTBOX_DROPPED.fetch_add(1, Ordering::Relaxed);
        self.burst.fetch_add(1, Ordering::Relaxed);
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// `len` bytes of one frame left the queue (written, or handed to a reader).
    pub fn release(&self, len: usize) {
        let frames = self
            .frames
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        let bytes = self
            .bytes
            .fetch_sub(len, Ordering::Relaxed)
            .saturating_sub(len);
        if self.burst.load(Ordering::Relaxed) > 0
            && frames <= OUTBOX_SOFT_FRAMES / 2
            && bytes <= OUTBOX_SOFT_BYTES / 2
        {
            self.report_burst("the client caught up");
        }
    }

    fn report_burst(&self, why: &str) {
        let n = self.burst.swap(0, Ordering::Relaxed);
        if n > 0 {
            tracing::warn!(
                session = %self.label(),
                dropped = n,
                "dropped {n} progress/log notification(s) queued for a client that reads slowly ({} in all for this stream); {why}",
                self.dropped.load(Ordering::Relaxed)
            );
        }
    }

    /// Notifications dropped so far on this stream.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Frames queued now.
    pub fn frames(&self) -> usize {
        self.frames.load(Ordering::Relaxed)
    }

    /// Whether a response or request could not be queued: the session must be disconnected.
    pub fn is_overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Relaxed)
    }

    fn overflow_now(&self, what: &str) {
        if !self.overflowed.swap(true, Ordering::Relaxed) {
            self.report_burst("the session is disconnected");
            tracing::warn!(
                session = %self.label(),
                "disconnecting the session: its client is not reading ({} frames, {} KiB queued, over the bound of {OUTBOX_HARD_FRAMES} frames or {} KiB) and a {what} cannot be dropped",
                self.frames.load(Ordering::Relaxed),
                self.bytes.load(Ordering::Relaxed) / 1024,
                OUTBOX_HARD_BYTES / 1024,
            );
            self.overflow.cancel();
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.report_burst("the stream ended");
    }
}

/// Tells a frame's weight from its envelope; only called over the soft bound.
fn weigh(frame: &str) -> Weight {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
        id: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_str::<Envelope>(frame) {
        Ok(Envelope {
            method: Some(m),
            id: None,
        }) if m == "notifications/progress" || m == "notifications/message" => Weight::Droppable,
        Ok(Envelope {
            method: Some(_),
            id: None,
        }) => Weight::Notification,
        _ => Weight::Vital,
    }
}

impl Outbox {
    /// Names the session in the queue's log lines.
    pub fn set_label(&self, label: impl std::fmt::Display) {
        let _ = self.q.label.set(label.to_string());
    }

    /// Queues a frame by the policy above. `Err` when the stream is gone or overflowed; a
    /// dropped notification is `Ok` (it is counted).
    pub fn send(&self, frame: String) -> Result<(), SendError> {
        if self.q.overflowed.load(Ordering::Relaxed) {
            return Err(SendError(frame));
        }
        if self.q.over_soft() {
            match weigh(&frame) {
                Weight::Droppable => {
                    self.q.drop_one();
                    return Ok(());
                }
                Weight::Notification if self.q.over_hard() => {
                    self.q.drop_one();
                    return Ok(());
                }
                Weight::Vital if self.q.over_hard() => {
                    self.q.overflow_now(if frame.contains("\"method\"") {
                        "request"
                    } else {
                        "response"
                    });
                    return Err(SendError(frame));
                }
                _ => {}
            }
        }
        self.enqueue(frame)
    }

    /// Queues a progress or log notification, dropped (and counted) when the queue is over its
    /// soft bound. The frame is not looked at.
    pub fn send_droppable(&self, frame: String) -> Result<(), SendError> {
        if self.q.overflowed.load(Ordering::Relaxed) {
            return Err(SendError(frame));
        }
        if self.q.over_soft() {
            self.q.drop_one();
            return Ok(());
        }
        self.enqueue(frame)
    }

    fn enqueue(&self, frame: String) -> Result<(), SendError> {
        let len = frame.len();
        self.q.frames.fetch_add(1, Ordering::Relaxed);
        self.q.bytes.fetch_add(len, Ordering::Relaxed);
        self.tx.send(frame).map_err(|e| {
            self.q.frames.fetch_sub(1, Ordering::Relaxed);
            self.q.bytes.fetch_sub(len, Ordering::Relaxed);
            SendError(e.0)
        })
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// This outbox's queue (its counters).
    pub fn queue(&self) -> &Arc<Queue> {
        &self.q
    }
}

impl OutboxRx {
    /// The next frame, which no longer counts as queued.
    pub async fn recv(&mut self) -> Option<String> {
        let f = self.rx.recv().await?;
        self.q.release(f.len());
        Some(f)
    }

    /// The next frame if one is queued, which no longer counts as queued.
    pub fn try_recv(&mut self) -> Result<String, mpsc::error::TryRecvError> {
        let f = self.rx.try_recv()?;
        self.q.release(f.len());
        Ok(f)
    }

    /// The next frame, still counted as queued: the caller keeps it queued elsewhere (an SSE
    /// event log) and calls [`Queue::release`] when it is handed on.
    pub async fn recv_held(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    pub fn queue(&self) -> &Arc<Queue> {
        &self.q
    }

    /// Resolves when a response or request could not be queued: disconnect the session.
    pub async fn overflowed(&self) {
        self.q.overflow.cancelled().await
    }

    /// A token cancelled when the outbox overflows.
    pub fn overflow_token(&self) -> CancellationToken {
        self.q.overflow.clone()
    }
}

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The upstream failed: it died, refused, or is down.
pub const UPSTREAM_FAILED: i64 = -32000;
/// The upstream did not answer in time (the code the TypeScript SDK uses for timeouts).
pub const REQUEST_TIMEOUT: i64 = -32001;
/// 2026-07-28: the request's protocol version is not supported.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
/// Streamable HTTP (2026-07-28): `Mcp-Method` / `Mcp-Name` / `MCP-Protocol-Version` do not
/// match the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// Streamable HTTP and legacy SSE: the session id names no session (HTTP 404; the client
/// initializes again). Not -32001, which is a request timeout.
pub const SESSION_NOT_FOUND: i64 = -32004;
/// A tenant's quota refused the call; `data` names the limit, its value and `retryAfterMs`.
pub const QUOTA_EXCEEDED: i64 = -32050;

/// What a parsed JSON object is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Request,
    Notification,
    Response,
    Invalid,
}

pub fn classify(v: &Value) -> Kind {
    let Some(o) = v.as_object() else {
        return Kind::Invalid;
    };
    let has_id = o
        .get("id")
        .is_some_and(|id| id.is_string() || id.is_number());
    match (o.get("method").and_then(Value::as_str), has_id) {
        (Some(_), true) => Kind::Request,
        (Some(_), false) if !o.contains_key("id") => Kind::Notification,
        (None, true) if o.contains_key("result") || o.contains_key("error") => Kind::Response,
        _ => Kind::Invalid,
    }
}

/// A message written straight to text: the envelope's keys in the order JSON-RPC writes them,
/// the parts serialized in place (no intermediate JSON tree).
fn frame(id: Option<&Value>, method: Option<&str>, body: Option<(&str, &Value)>) -> String {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(br#"{"jsonrpc":"2.0""#);
    // Writing a `Value` or a `str` into a `Vec` cannot fail.
    if let Some(id) = id {
        out.extend_from_slice(br#","id":"#);
        let _ = serde_json::to_writer(&mut out, id);
    }
    if let Some(m) = method {
        out.extend_from_slice(br#","method":"#);
        let _ = serde_json::to_writer(&mut out, m);
    }
    if let Some((key, v)) = body {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        let _ = serde_json::to_writer(&mut out, v);
    }
    out.push(b'}');
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

pub fn result(id: &Value, result: Value) -> String {
    frame(Some(id), None, Some(("result", &result)))
}

pub fn error(id: &Value, code: i64, message: impl Into<String>, data: Option<Value>) -> String {
    error_value(id, code, message, data).to_string()
}

pub fn error_value(
    id: &Value,
    code: i64,
    message: impl Into<String>,
    data: Option<Value>,
) -> Value {
    let mut err = json!({"code": code, "message": message.into()});
    if let Some(d) = data {
        err["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": err})
}

pub fn notification(method: &str, params: Option<Value>) -> String {
    frame(None, Some(method), params.as_ref().map(|p| ("params", p)))
}

/// A request whose params are `params` (an object) plus `rest`: members already in JSON text
/// (`"k":v,…`, see `downstream::split`), written after them unchanged.
pub fn request_with_rest(id: &Value, method: &str, params: &Value, rest: &str) -> String {
    let mut f = frame(Some(id), Some(method), Some(("params", params)));
    if rest.is_empty() || !params.is_object() {
        return f;
    }
    // `f` ends with the params object's `}` and the envelope's `}`.
    f.truncate(f.len() - 2);
    if !f.ends_with('{') {
        f.push(',');
    }
    f.push_str(rest);
    f.push_str("}}");
    f
}

pub fn request(id: &Value, method: &str, params: Option<Value>) -> String {
    frame(
        Some(id),
        Some(method),
        params.as_ref().map(|p| ("params", p)),
    )
}

/// The `_meta` object of a request's params, created when absent.
pub fn meta_mut(params: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let obj = params.as_object_mut()?;
    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
    meta.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_the_json_of_their_parts() {
        let p = json!({"name": "t", "arguments": {"b": 1, "a": "\u{2028}\"x"}});
        for (text, want) in [
            (
                request(&json!(7), "tools/call", Some(p.clone())),
                json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": p}),
            ),
            (
                request(&json!("a\"b"), "ping", None),
                json!({"jsonrpc": "2.0", "id": "a\"b", "method": "ping"}),
            ),
            (
                notification("n/x", None),
                json!({"jsonrpc": "2.0", "method": "n/x"}),
            ),
            (
                result(&json!(null), json!({})),
                json!({"jsonrpc": "2.0", "id": null, "result": {}}),
            ),
        ] {
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                want,
                "{text}"
            );
        }
        // Key order as given (the upstream sees the client's argument order).
        assert!(request(&json!(1), "m", Some(p)).contains(r#"{"name":"t","arguments":{"b":1,"a":"#));
    }

    #[test]
    fn a_slow_reader_loses_progress_first_and_overflows_only_on_an_answer() {
        let (out, mut rx) = outbox();
        let progress = notification(
            "notifications/progress",
            Some(json!({"progressToken": 1, "progress": 1})),
        );
        let log = notification(
            "notifications/message",
            Some(json!({"level": "info", "data": "x"})),
        );
        let changed = notification("notifications/tools/list_changed", None);
        for _ in 0..OUTBOX_SOFT_FRAMES {
            out.send(progress.clone()).unwrap();
        }
        assert_eq!(rx.queue().frames(), OUTBOX_SOFT_FRAMES);
        // Over the soft bound: progress and log go (both ways of sending), the rest stays.
        out.send(progress.clone()).unwrap();
        out.send(log.clone()).unwrap();
        out.send_droppable(log.clone()).unwrap();
        assert_eq!(rx.queue().dropped(), 3);
        out.send(changed.clone()).unwrap();
        out.send(result(&json!(1), json!({}))).unwrap();
        assert_eq!(rx.queue().frames(), OUTBOX_SOFT_FRAMES + 2);
        // Reading catches up: the count goes down and the burst is over.
        for _ in 0..OUTBOX_SOFT_FRAMES {
            rx.try_recv().unwrap();
        }
        assert_eq!(rx.queue().frames(), 2);
        assert_eq!(rx.queue().burst.load(Ordering::Relaxed), 0);
        out.send(progress.clone()).unwrap();
        assert_eq!(rx.queue().frames(), 3);
        // Over the hard bound: notifications go, an answer overflows the outbox.
        while rx.queue().frames() < OUTBOX_HARD_FRAMES {
            out.send(request(&json!(7), "sampling/createMessage", None))
                .unwrap();
        }
        out.send(changed).unwrap();
        assert!(!rx.queue().is_overflowed());
        assert!(out.send(result(&json!(2), json!({}))).is_err());
        assert!(rx.queue().is_overflowed());
        assert!(rx.overflow_token().is_cancelled());
        assert!(out.send_droppable(progress).is_err());
    }

    #[test]
    fn a_big_answer_into_a_short_queue_is_queued() {
        let (out, rx) = outbox();
        out.send("x".repeat(OUTBOX_HARD_BYTES * 2)).unwrap();
        out.send(result(&json!(1), json!({}))).unwrap_err();
        assert!(rx.queue().is_overflowed());
    }

    #[test]
    fn classify_tells_requests_notifications_and_responses_apart() {
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
            Kind::Request
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":"a","method":"x","params":{}})),
            Kind::Request
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Kind::Notification
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":1,"result":{}})),
            Kind::Response
        );
        assert_eq!(
            classify(&json!({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}})),
            Kind::Response
        );
        assert_eq!(classify(&json!({"hello":1})), Kind::Invalid);
        assert_eq!(classify(&json!({"id":null,"method":"x"})), Kind::Invalid);
        assert_eq!(classify(&json!([1])), Kind::Invalid);
    }
}
