//! Streamable HTTP at `/mcp`: handshake-era sessions (`Mcp-Session-Id`, GET stream, DELETE,
//! `Last-Event-ID`) and 2026-07-28 stateless requests (per-request `_meta`, `Mcp-Method` and
//! `Mcp-Name` checked against the body). A POST is answered as JSON when its answer is the first
//! thing ready, and as an SSE stream when anything (progress, a relayed request) comes first.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::events::{next_event, parse_event_id, EventLog};
use super::guard::{self, error};
use super::{HttpSession, HttpState};
use crate::downstream::Session;
use crate::jsonrpc::{self, Kind};
use crate::protocol;

use super::headers::{check_protocol_header, check_stateless_request, error_for};

const SESSION_HEADER: &str = "mcp-session-id";

type St = State<Arc<HttpState>>;

pub async fn post_default(State(s): St, headers: HeaderMap, body: Body) -> Response {
    post(s, None, headers, body).await
}
pub async fn post_tenant(
    State(s): St,
    Path(t): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    post(s, Some(t), headers, body).await
}
pub async fn get_default(State(s): St, headers: HeaderMap) -> Response {
    get(s, None, headers).await
}
pub async fn get_tenant(State(s): St, Path(t): Path<String>, headers: HeaderMap) -> Response {
    get(s, Some(t), headers).await
}
pub async fn delete_default(State(s): St, headers: HeaderMap) -> Response {
    delete(s, None, headers).await
}
pub async fn delete_tenant(State(s): St, Path(t): Path<String>, headers: HeaderMap) -> Response {
    delete(s, Some(t), headers).await
}

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the body within the limit (`hub.http.max_body_bytes`, or the tenant's
/// `max_request_bytes` when lower): 413 naming the limit above it, 408 when it does not arrive
/// within `body_read_timeout`, 400 when the client breaks it off (both close the connection).
pub async fn read_body(
    state: &HttpState,
    tenant: &crate::tenant::Tenant,
    body: Body,
) -> Result<Value, Response> {
    let hub_limit = state.settings.max_body_bytes;
    let (limit, key) = match tenant.quota.limits().max_request_bytes {
        Some(t) if t < hub_limit => (t, "max_request_bytes of the tenant's limits"),
        _ => (hub_limit, "hub.http.max_body_bytes"),
    };
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| body_error(&e, limit, key))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            jsonrpc::PARSE_ERROR,
            format!("Parse error: {e}"),
        )
    })
}

/// The first error of type `T` in `e`'s source chain.
fn find_in_chain<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cur = c.source();
    }
    None
}

/// The answer to a body that could not be read.
fn body_error(e: &axum::Error, limit: usize, key: &str) -> Response {
    if find_in_chain::<http_body_util::LengthLimitError>(e).is_some() {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            jsonrpc::INVALID_REQUEST,
            format!(
                "Payload too large: the request body exceeds the limit of {limit} bytes ({key})"
            ),
        );
    }
    let mut r = match find_in_chain::<super::server::BodyTimeout>(e) {
        Some(t) => error(
            StatusCode::REQUEST_TIMEOUT,
            jsonrpc::INVALID_REQUEST,
            format!("Request Timeout: {t}"),
        ),
        None => error(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_REQUEST,
            format!("Bad Request: the request body could not be read: {e}"),
        ),
    };
    super::server::close_after(&mut r);
    r
}

async fn post(
    state: Arc<HttpState>,
    name: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let tenant = match guard::tenant(&state, name.as_deref(), &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if let Some(ct) = header(&headers, "content-type") {
        if !ct.to_ascii_lowercase().starts_with("application/json") {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                jsonrpc::INVALID_REQUEST,
                format!(
                    "Unsupported Media Type: send `Content-Type: application/json`, not `{ct}`"
                ),
            );
        }
    }
    let mut msg = match read_body(&state, &tenant, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if msg.is_array() {
        return error(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_REQUEST,
            "JSON-RPC batches are not supported (MCP removed them in 2025-06-18)",
        );
    }
    let rid = msg.get("id").cloned().unwrap_or(Value::Null);
    let body_version = msg["params"]["_meta"][protocol::META_PROTOCOL_VERSION].as_str();
    if let Some(v) = header(&headers, "mcp-protocol-version").filter(|v| !protocol::is_known(v)) {
        if body_version.is_some() {
            // A stateless request in a revision the hub does not speak.
            let data = json!({"supported": [protocol::STATELESS], "requested": v});
            let body = jsonrpc::error(
                &rid,
                jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
                "Unsupported protocol version",
                Some(data),
            );
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
        }
    }
    if let Err(r) = check_protocol_header(&headers, &rid) {
        return r;
    }
    let kind = jsonrpc::classify(&msg);
    let method = msg["method"].as_str().unwrap_or_default().to_string();
    if crate::observe::tracing_on() {
        crate::observe::adopt_traceparent(&mut msg, header(&headers, "traceparent"));
    }
    let sid = header(&headers, SESSION_HEADER).map(str::to_string);
    let meta = &msg["params"]["_meta"];
    let header_2026 = header(&headers, "mcp-protocol-version") == Some(protocol::STATELESS);
    let stateless = sid.is_none()
        && kind == Kind::Request
        && (meta.get(protocol::META_PROTOCOL_VERSION).is_some()
            || header_2026
            || (method == "server/discover"));

    if stateless {
        if let Err(r) = check_stateless_request(&headers, &msg) {
            return r;
        }
        let (tx, _rx) = jsonrpc::outbox();
        let session = Session::new(tenant, tx);
        session.set_transport("streamable_http");
        return answer(&state, session, msg, None, true).await;
    }
    if method == "initialize" && kind == Kind::Request {
        let hs = match state.open_session(&tenant, false) {
            Ok(hs) => hs,
            Err(r) => return r,
        };
        let mut r = answer(&state, hs.session.clone(), msg, Some(&hs), false).await;
        if let Ok(v) = HeaderValue::from_str(&hs.id) {
            r.headers_mut().insert(SESSION_HEADER, v);
        }
        return r;
    }
    let Some(sid) = sid else {
        return error_for(
            StatusCode::BAD_REQUEST,
            &rid,
            jsonrpc::INVALID_PARAMS,
            "Bad Request: no Mcp-Session-Id, and the request's _meta lacks io.modelcontextprotocol/protocolVersion and clientCapabilities (send `initialize` first, or 2026-07-28 `_meta` for a stateless request)",
        );
    };
    let Some(hs) = state.session(&sid, &tenant.id).filter(|h| !h.legacy) else {
        return error(
            StatusCode::NOT_FOUND,
            jsonrpc::SESSION_NOT_FOUND,
            "Session not found: it expired or was closed; initialize a new one",
        );
    };
    hs.touch();
    match kind {
        Kind::Request => answer(&state, hs.session.clone(), msg, Some(&hs), false).await,
        _ => {
            hs.session.handle_message(msg);
            StatusCode::ACCEPTED.into_response()
        }
    }
}

#[derive(Deserialize)]
struct Probe {
    id: Option<Value>,
    method: Option<serde::de::IgnoredAny>,
}

/// Whether `frame` is the answer to request `id`.
fn is_answer(frame: &str, id: &Value) -> bool {
    serde_json::from_str::<Probe>(frame)
        .is_ok_and(|p| p.method.is_none() && p.id.as_ref() == Some(id))
}

/// Runs one request on `session`; answers as JSON, or as an SSE stream when other messages
/// come first. `ephemeral` sessions (2026-07-28) end with their request.
async fn answer(
    state: &Arc<HttpState>,
    session: Arc<Session>,
    msg: Value,
    hs: Option<&Arc<HttpSession>>,
    ephemeral: bool,
) -> Response {
    let id = msg["id"].clone();
    // An ephemeral session ends with its request, also when the client goes away first (the
    // request is then cancelled upstream).
    let closer = CloseOnDrop(ephemeral.then(|| session.clone()));
    let (tx, mut rx) = jsonrpc::outbox();
    match hs {
        Some(hs) => tx.set_label(format_args!("{} (a POST stream)", hs.id)),
        None => tx.set_label(format_args!("stateless-{}", session.id)),
    }
    session.handle_message_on(msg, &tx);
    drop(tx);
    let Some(first) = rx.recv_held().await else {
        return StatusCode::ACCEPTED.into_response();
    };
    if is_answer(&first, &id) {
        rx.queue().release(first.len());
        let (status, retry_after) = answer_status(&first, ephemeral);
        let mut r = (status, [(header::CONTENT_TYPE, "application/json")], first).into_response();
        if let Some(v) =
            retry_after.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let log = Arc::new(EventLog::fed_by(state.next_stream_id(), &rx));
    log.push(first);
    if let Some(hs) = hs {
        hs.keep_stream(log.clone());
    }
    // A stateless stream lives as long as its client (subscriptions/listen never "answers").
    let gone = CancellationToken::new();
    let guard = ephemeral.then(|| gone.clone().drop_guard());
    let pump_log = log.clone();
    // A client that does not read this stream while its answer is due is disconnected (the
    // outbox's policy, README "Queues"): a session is closed, an ephemeral request ends.
    let overflow = rx.overflow_token();
    let on_overflow = hs.map(|hs| (Arc::downgrade(state), hs.id.clone()));
    state.spawn(
        tracing::info_span!(parent: None, "stream", stream = log.stream),
        async move {
            let _closer = closer;
            loop {
                tokio::select! {
                    f = rx.recv_held() => match f {
                        Some(f) => {
                            let done = is_answer(&f, &id);
                            pump_log.push(f);
                            if done { break; }
                        }
                        None => break,
                    },
                    _ = gone.cancelled(), if ephemeral => break,
                    _ = overflow.cancelled() => {
                        if let Some((state, sid)) = &on_overflow {
                            if let Some(s) = state.upgrade() {
                                s.close_session(sid);
                            }
                        }
                        break;
                    }
                }
            }
            pump_log.finish();
        },
    );
    sse(log, 0, state.draining.clone(), guard, None)
}

/// The HTTP status of a JSON answer: a quota refusal is 429 with `Retry-After` (seconds) in
/// both eras; in 2026-07-28 an unknown (or removed) method is 404 and a refused protocol
/// version 400.
fn answer_status(frame: &str, stateless: bool) -> (StatusCode, Option<u64>) {
    let error = serde_json::from_str::<Value>(frame)
        .ok()
        .and_then(|mut v| v.get_mut("error").map(Value::take));
    let code = error
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(Value::as_i64);
    match code {
        Some(jsonrpc::QUOTA_EXCEEDED) => {
            let ms = error
                .as_ref()
                .and_then(|e| e.get("data"))
                .and_then(|d| d.get("retryAfterMs"))
                .and_then(Value::as_u64)
                .unwrap_or(1000);
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some(ms.div_ceil(1000).max(1)),
            )
        }
        Some(jsonrpc::METHOD_NOT_FOUND) if stateless => (StatusCode::NOT_FOUND, None),
        Some(jsonrpc::UNSUPPORTED_PROTOCOL_VERSION) if stateless => (StatusCode::BAD_REQUEST, None),
        _ => (StatusCode::OK, None),
    }
}

/// Closes an ephemeral (2026-07-28) session when dropped.
struct CloseOnDrop(Option<Arc<Session>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.close();
        }
    }
}

/// An SSE response that follows `log` from `from`, until it ends or the hub drains.
pub fn sse(
    log: Arc<EventLog>,
    from: u64,
    draining: CancellationToken,
    guard: Option<DropGuard>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
) -> Response {
    struct OnDrop(Option<Box<dyn FnOnce() + Send>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    let hold = (guard, OnDrop(on_drop));
    let stream = futures_util::stream::unfold(
        (log, from, draining, hold),
        |(log, mut from, draining, hold)| async move {
            let (id, data) = next_event(&log, &mut from, &draining).await?;
            let ev = Event::default().id(id).event("message").data(data);
            Some((Ok::<_, Infallible>(ev), (log, from, draining, hold)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn accepts_sse(headers: &HeaderMap) -> bool {
    header(headers, "accept").is_none_or(|a| a.contains("text/event-stream") || a.contains("*/*"))
}

async fn get(state: Arc<HttpState>, name: Option<String>, headers: HeaderMap) -> Response {
    let tenant = match guard::tenant(&state, name.as_deref(), &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !accepts_sse(&headers) {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            jsonrpc::INVALID_REQUEST,
            "Not Acceptable: the GET stream is `text/event-stream`",
        );
    }
    let Some(sid) = header(&headers, SESSION_HEADER) else {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "GET needs an Mcp-Session-Id; stateless (2026-07-28) clients use subscriptions/listen",
        )
            .into_response();
    };
    let Some(hs) = state.session(sid, &tenant.id).filter(|h| !h.legacy) else {
        return error(
            StatusCode::NOT_FOUND,
            jsonrpc::SESSION_NOT_FOUND,
            "Session not found: it expired or was closed; initialize a new one",
        );
    };
    hs.touch();
    if let Some((stream, seq)) = header(&headers, "last-event-id").and_then(parse_event_id) {
        let Some(log) = hs.stream(stream) else {
            return error(
                StatusCode::NOT_FOUND,
                jsonrpc::INVALID_REQUEST,
                "the stream of that Last-Event-ID is gone",
            );
        };
        return sse(log, seq + 1, state.draining.clone(), None, None);
    }
    if hs.open_gets.fetch_add(1, Ordering::SeqCst) > 0 {
        hs.open_gets.fetch_sub(1, Ordering::SeqCst);
        return error(
            StatusCode::CONFLICT,
            jsonrpc::INVALID_REQUEST,
            "Conflict: this session already has a GET stream open",
        );
    }
    let from = hs.main.resume_point();
    let hs2 = hs.clone();
    let on_drop: Box<dyn FnOnce() + Send> = Box::new(move || {
        hs2.open_gets.fetch_sub(1, Ordering::SeqCst);
        hs2.touch();
    });
    sse(
        hs.main.clone(),
        from,
        state.draining.clone(),
        None,
        Some(on_drop),
    )
}

async fn delete(state: Arc<HttpState>, name: Option<String>, headers: HeaderMap) -> Response {
    let tenant = match guard::tenant(&state, name.as_deref(), &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(sid) = header(&headers, SESSION_HEADER) else {
        return error(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_REQUEST,
            "Bad Request: the Mcp-Session-Id header is required",
        );
    };
    // A legacy (HTTP+SSE) session is not a Streamable HTTP session: unknown here, like POST and GET.
    match state.session(sid, &tenant.id).filter(|h| !h.legacy) {
        Some(_) => {
            state.close_session(sid);
            StatusCode::OK.into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            jsonrpc::SESSION_NOT_FOUND,
            "Session not found",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn body_errors_are_told_apart() {
        let timed = super::super::server::TimedBody::new(
            super::super::server::tests::Stalled,
            Duration::from_millis(100),
        );
        let e = axum::body::to_bytes(Body::new(timed), 1024)
            .await
            .expect_err("a stalled body times out");
        let r = body_error(&e, 1024, "hub.http.max_body_bytes");
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            r.headers().get(header::CONNECTION).map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );

        let e = axum::body::to_bytes(Body::from(vec![b'x'; 2048]), 1024)
            .await
            .expect_err("too large");
        assert_eq!(
            body_error(&e, 1024, "hub.http.max_body_bytes").status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
