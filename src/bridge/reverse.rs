//! The reverse MRTR bridge: a 2026-07-28 upstream answers a handshake-era client's call with
//! `input_required`. Each `inputRequests` entry becomes a request to that client (on the call's
//! stream); the answers go back to the upstream in a retry of the call, whose answer reaches the
//! client, which only ever sees the final result.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::jsonrpc;
use crate::mux::{Conn, DownstreamReply};
use crate::protocol;
use crate::tenant::Tenant;

impl Tenant {
    pub(crate) fn ask_for_input(
        self: Arc<Self>,
        conn: Arc<Conn>,
        result: Value,
        reply: DownstreamReply,
    ) {
        let me = self.clone();
        self.spawn(async move { me.collect_input(conn, result, reply).await });
    }

    async fn collect_input(&self, conn: Arc<Conn>, result: Value, reply: DownstreamReply) {
        let fail = |reply: &DownstreamReply, msg: String| {
            let _ = reply.out.send(jsonrpc::error(
                &reply.id,
                jsonrpc::UPSTREAM_FAILED,
                msg,
                Some(json!({"server": conn.server.as_str()})),
            ));
        };
        let Some((method, params)) = reply.retry.clone().map(|b| *b) else {
            return;
        };
        let Some(peer) = self.peer(reply.session) else {
            return;
        };
        let timeout = self
            .upstream(conn.server.as_str())
            .map_or(self.settings.request_timeout, |u| u.cfg.request_timeout);
        let mut answers = serde_json::Map::new();
        let requests = result.get("inputRequests").and_then(Value::as_object);
        for (key, req) in requests.into_iter().flatten() {
            let m = req
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(cap) = protocol::capability_for_request(m) else {
                return fail(
                    &reply,
                    format!(
                        "upstream `{}` asked for input of an unknown kind (`{m}`)",
                        conn.server
                    ),
                );
            };
            if !peer.declares(cap) {
                return fail(
                    &reply,
                    format!(
                        "upstream `{}` needs `{cap}` input, which this client did not declare",
                        conn.server
                    ),
                );
            }
            let hid = self.next_relay_id();
            let (tx, rx) = tokio::sync::oneshot::channel();
            peer.waiting.insert(hid.clone(), tx);
            let _ = reply
                .out
                .send(jsonrpc::request(&json!(hid), m, req.get("params").cloned()));
            match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(answer)) => match answer.get("result") {
                    Some(r) => {
                        answers.insert(key.clone(), r.clone());
                    }
                    None => {
                        let why = answer
                            .get("error")
                            .and_then(|e| e.get("message"))
                            .and_then(Value::as_str)
                            .unwrap_or("error");
                        return fail(&reply, format!("the client refused `{m}`: {why}"));
                    }
                },
                _ => {
                    peer.waiting.remove(&hid);
                    return fail(&reply, format!("the client did not answer `{m}` in time"));
                }
            }
        }
        let mut retry = params;
        if let Some(o) = retry.as_object_mut() {
            o.insert("inputResponses".into(), Value::Object(answers));
            if let Some(state) = result.get("requestState") {
                o.insert("requestState".into(), state.clone());
            }
        }
        if let Err(failed) = conn.forward(&method, retry, "", reply, timeout) {
            let (reply, e) = *failed;
            let _ = reply.out.send(e.to_error_value(&reply.id).to_string());
        }
    }
}
