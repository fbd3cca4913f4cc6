//! JSON-RPC 2.0 framing on raw `serde_json::Value`: classifying messages and building replies.
//!
//! The hub forwards messages as raw JSON and touches only what it must rewrite, so nothing an
//! upstream or a client sends is lost (rmcp's typed models drop unknown fields).

use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Serialized JSON-RPC messages on their way to one downstream stream (one per line on stdio).
pub type Outbox = mpsc::UnboundedSender<String>;

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

pub fn result(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
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
    match params {
        Some(p) => json!({"jsonrpc": "2.0", "method": method, "params": p}).to_string(),
        None => json!({"jsonrpc": "2.0", "method": method}).to_string(),
    }
}

pub fn request(id: &Value, method: &str, params: Option<Value>) -> String {
    match params {
        Some(p) => json!({"jsonrpc": "2.0", "id": id, "method": method, "params": p}).to_string(),
        None => json!({"jsonrpc": "2.0", "id": id, "method": method}).to_string(),
    }
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
