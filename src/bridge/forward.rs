//! The MRTR bridge for a 2026-07-28 client of a handshake-era upstream: the upstream's request
//! becomes an `input_required` answer to the client's call, the upstream call is parked, and the
//! client's retry brings the answer back and takes the call up again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::jsonrpc;
use crate::mux::{Bridged, Conn, DownstreamReply, InFlight, Resumed};
use crate::protocol;
use crate::tenant::Tenant;

impl Tenant {
    /// Answers the 2026-07-28 client's call with `input_required` and parks the upstream call.
    /// A request that arrives while the client is already away answering an earlier one waits
    /// for its retry (`resume_bridged` asks it then).
    pub(crate) fn bridge(&self, conn: &Arc<Conn>, msg: Value, c: InFlight) {
        let uid = msg.get("id").cloned().unwrap_or(Value::Null);
        let refuse = |uid: Value| {
            let _ = conn.respond_raw(
                jsonrpc::error_value(
                    &Value::Null,
                    jsonrpc::INTERNAL_ERROR,
                    "the client's call can no longer take input",
                    None,
                ),
                uid,
            );
        };
        if c.origin.is_none() {
            return refuse(uid);
        }
        match conn.bridge(c.call, msg.clone()) {
            Bridged::Ask(reply) => self.ask_bridged(conn, c.call, &msg, reply),
            Bridged::Queued => {
                tracing::debug!(tenant = %self.id, server = %conn.server, "`{}` waits for the client's retry of an earlier input_required", method_of(&msg));
            }
            Bridged::Gone => refuse(uid),
        }
    }

    /// The time a client has to come back with input: the server's `request_timeout`.
    fn bridge_ttl(&self, conn: &Conn) -> Duration {
        self.upstream(conn.server.as_str())
            .map_or(self.settings.request_timeout, |u| u.cfg.request_timeout)
    }

    /// Answers a 2026-07-28 client's call (or its retry) with `input_required` for upstream
    /// request `msg`; the state it carries brings the answer back to the parked call.
    fn ask_bridged(&self, conn: &Arc<Conn>, call: u64, msg: &Value, reply: DownstreamReply) {
        let origin = reply.finish.origin.clone().unwrap_or_else(|| "".into());
        let state = self.bridges.park(
            self.id.as_str(),
            &origin,
            conn.clone(),
            call,
            msg.get("id").cloned().unwrap_or(Value::Null),
            self.bridge_ttl(conn),
        );
        let mut request = json!({"method": method_of(msg)});
        if let Some(p) = msg.get("params") {
            request["params"] = p.clone();
        }
        let result = json!({"resultType": "input_required", "inputRequests": {"input": request}, "requestState": state});
        tracing::debug!(tenant = %self.id, server = %conn.server, "bridging `{}` to a 2026-07-28 client (input_required)", method_of(msg));
        let _ = reply.out.send(jsonrpc::result(&reply.id, result));
    }

    /// A 2026-07-28 client came back with input for a bridged call: hand the answer to the
    /// waiting upstream request and attach the retry to the parked call.
    pub fn resume_bridged(
        &self,
        origin: &str,
        params: &Value,
        reply: DownstreamReply,
    ) -> Result<(), Box<(DownstreamReply, String)>> {
        let state = params
            .get("requestState")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let parked = match self.bridges.take(self.id.as_str(), origin, state) {
            Ok(p) => p,
            Err(e) => return Err(Box::new((reply, e))),
        };
        let Some(answer) = params
            .get("inputResponses")
            .and_then(|r| r.get("input"))
            .cloned()
        else {
            parked.give_up(
                jsonrpc::INVALID_PARAMS,
                "the client gave no answer",
                "the client's retry carried no input",
            );
            return Err(Box::new((
                reply,
                "`inputResponses.input` is missing".into(),
            )));
        };
        let _ = parked.conn.respond_raw(
            json!({"jsonrpc": "2.0", "result": answer}),
            parked.upstream_request,
        );
        let mut reply = reply;
        loop {
            match parked.conn.resume(parked.call, reply) {
                Ok(Resumed::Attached) => return Ok(()),
                Ok(Resumed::Ask { request, reply: r }) => {
                    // Asked while the client was away: ask it now, if it can answer.
                    let method = method_of(&request);
                    let can = protocol::capability_for_request(method)
                        .is_some_and(|cap| self.peer(r.session).is_some_and(|p| p.declares(cap)));
                    if can {
                        self.ask_bridged(&parked.conn, parked.call, &request, r);
                        return Ok(());
                    }
                    let _ = parked.conn.respond_raw(
                        jsonrpc::error_value(
                            &Value::Null,
                            jsonrpc::METHOD_NOT_FOUND,
                            format!("the client did not declare the capability for `{method}`"),
                            None,
                        ),
                        request.get("id").cloned().unwrap_or(Value::Null),
                    );
                    reply = r;
                }
                Err(r) => {
                    return Err(Box::new((
                        *r,
                        format!(
                            "the call on upstream `{}` ended while waiting for input",
                            parked.conn.server
                        ),
                    )))
                }
            }
        }
    }

    /// Cancels bridged calls whose client never came back.
    pub(crate) async fn expire_bridges(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            for p in self.bridges.expired() {
                tracing::info!(tenant = %self.id, server = %p.conn.server, "a bridged call's client did not come back within the server's request_timeout; cancelled");
                p.give_up(
                    jsonrpc::REQUEST_TIMEOUT,
                    "the client did not answer in time",
                    "the client did not come back with input in time",
                );
            }
        }
    }
}

fn method_of(msg: &Value) -> &str {
    msg.get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
}
