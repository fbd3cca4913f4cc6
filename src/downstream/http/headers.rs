//! The headers a Streamable HTTP request must carry, checked against its body:
//! `MCP-Protocol-Version` in the handshake era; `Mcp-Method`, `Mcp-Name` and the version in
//! 2026-07-28 (400 with JSON-RPC -32020 when they do not match).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::streamable::header as header_str;
use crate::jsonrpc;
use crate::protocol;

pub(super) fn check_protocol_header(headers: &HeaderMap, id: &Value) -> Result<(), Response> {
    match header_str(headers, "mcp-protocol-version") {
        Some(v) if !protocol::is_known(v) => Err(error_for(
            StatusCode::BAD_REQUEST,
            id,
            jsonrpc::INVALID_REQUEST,
            format!(
                "Bad Request: unsupported MCP-Protocol-Version `{v}` (supported: {})",
                protocol::ALL_VERSIONS.join(", ")
            ),
        )),
        _ => Ok(()),
    }
}

/// An HTTP error whose JSON-RPC error carries the request's id.
pub(super) fn error_for(
    status: StatusCode,
    id: &Value,
    code: i64,
    message: impl Into<String>,
) -> Response {
    let body = jsonrpc::error(id, code, message, None);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A 2026-07-28 request must carry its era in `_meta` (protocol version and client capabilities)
/// and say in `Mcp-Method` / `Mcp-Name` / `MCP-Protocol-Version` what the body says.
pub(super) fn check_stateless_request(headers: &HeaderMap, msg: &Value) -> Result<(), Response> {
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let meta = &msg["params"]["_meta"];
    let version = meta[protocol::META_PROTOCOL_VERSION].as_str();
    if version.is_none() || !meta[protocol::META_CLIENT_CAPABILITIES].is_object() {
        return Err(error_for(
            StatusCode::BAD_REQUEST,
            &id,
            jsonrpc::INVALID_PARAMS,
            "Invalid params: request _meta is missing or has malformed required fields: io.modelcontextprotocol/protocolVersion, io.modelcontextprotocol/clientCapabilities",
        ));
    }
    if let (Some(h), Some(v)) = (header_str(headers, "mcp-protocol-version"), version) {
        if h != v {
            let body = jsonrpc::error(&id, jsonrpc::HEADER_MISMATCH, format!("Header mismatch: `MCP-Protocol-Version: {h}` does not match `{v}` in the body's _meta"), None);
            return Err((
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response());
        }
    }
    check_stateless_headers(headers, msg)
}

/// 2026-07-28: `Mcp-Method` and `Mcp-Name` must say what the body says.
pub(super) fn check_stateless_headers(headers: &HeaderMap, msg: &Value) -> Result<(), Response> {
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let mismatch = |what: String| {
        let body = jsonrpc::error(
            &id,
            jsonrpc::HEADER_MISMATCH,
            format!("Header mismatch: {what}"),
            None,
        );
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    };
    let method = msg["method"].as_str().unwrap_or_default();
    match header_str(headers, "mcp-method") {
        Some(h) if h != method => {
            return Err(mismatch(format!(
                "`Mcp-Method: {h}` does not match the body's method `{method}`"
            )))
        }
        None if method != "server/discover" => {
            return Err(mismatch(format!(
                "the `Mcp-Method` header is required (the body's method is `{method}`)"
            )))
        }
        _ => {}
    }
    let named = match method {
        "tools/call" | "prompts/get" => msg["params"]["name"].as_str(),
        "resources/read" => msg["params"]["uri"].as_str(),
        _ => None,
    };
    match (header_str(headers, "mcp-name"), named) {
        (Some(h), Some(n)) if h != n => {
            return Err(mismatch(format!(
                "`Mcp-Name: {h}` does not match `{n}` in the body"
            )))
        }
        (None, Some(n)) => {
            return Err(mismatch(format!(
                "the `Mcp-Name` header is required (the body names `{n}`)"
            )))
        }
        _ => {}
    }
    Ok(())
}
