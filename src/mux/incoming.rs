//! What an upstream sends, handled in order: answers matched to their calls, notifications
//! (progress mapped back), server-to-client requests, and malformed input refused safely.

use super::*;

impl Conn {
    /// One message from the upstream.
    pub fn handle_incoming(self: &Arc<Self>, line: &str) {
        self.handle_incoming_on(line, None)
    }

    /// One message that arrived on the answer stream of call `related` (Streamable HTTP), so a
    /// request in it belongs to that call (SEP-2260 association).
    pub fn handle_incoming_on(self: &Arc<Self>, line: &str, related: Option<u64>) {
        if self.pass_through(line) {
            return;
        }
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
}
