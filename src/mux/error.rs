//! Why a call did not get a result from its upstream, as JSON-RPC errors.

use super::*;

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
