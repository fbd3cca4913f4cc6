//! One tool call made by the hub itself (`mcp-hub call`, `POST /api/…/tools/{tool}/call`):
//! a throwaway session sends `tools/call` through the same path as any client, and the answer
//! comes back typed. Progress and server-to-client requests are not offered to such a caller.

use std::time::Duration;

use serde_json::{json, Value};

use super::Session;
use crate::jsonrpc;
use crate::tenant::Tenant;

/// Why a one-shot call has no result.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The tenant has no such tool (after waiting for its upstreams to start).
    #[error("no tool `{0}`")]
    UnknownTool(String),
    /// The call was answered with a JSON-RPC error (quota, upstream down, bad arguments …).
    #[error("{message} (code {code})")]
    Rpc {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
}

/// Calls `tool` with `arguments` (a JSON object) in `tenant`; the `CallToolResult` on success
/// (which may itself say `isError`).
pub async fn call_tool(
    tenant: &std::sync::Arc<Tenant>,
    tool: &str,
    arguments: Value,
) -> Result<Value, CallFailure> {
    tenant.wait_ready().await;
    if tenant.catalog().tool(tool).is_none() {
        return Err(CallFailure::UnknownTool(tool.to_string()));
    }
    let (tx, mut rx) = jsonrpc::outbox();
    let session = Session::new(tenant.clone(), tx);
    session.handle_message(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}));
    let limit = tenant
        .upstreams()
        .values()
        .map(|u| u.cfg.request_timeout)
        .max()
        .unwrap_or(Duration::from_secs(60))
        + Duration::from_secs(5);
    let answer = tokio::time::timeout(limit, async {
        while let Some(frame) = rx.recv().await {
            let Ok(v) = serde_json::from_str::<Value>(&frame) else {
                continue;
            };
            if jsonrpc::classify(&v) == jsonrpc::Kind::Response && v.get("id") == Some(&json!(1)) {
                return Some(v);
            }
        }
        None
    })
    .await;
    session.close();
    let Ok(Some(mut v)) = answer else {
        return Err(CallFailure::Timeout(limit));
    };
    if let Some(result) = v.get_mut("result").map(Value::take) {
        return Ok(result);
    }
    let err = v.get("error").cloned().unwrap_or(Value::Null);
    Err(CallFailure::Rpc {
        code: err
            .get("code")
            .and_then(Value::as_i64)
            .unwrap_or(jsonrpc::INTERNAL_ERROR),
        message: err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_string(),
        data: err.get("data").cloned(),
    })
}
