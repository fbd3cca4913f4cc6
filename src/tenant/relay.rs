//! Server-to-client requests (sampling, elicitation, roots) from an upstream, relayed to the
//! session whose call caused them, under an id of the hub's (`mcp-hub-N`); the client's answer
//! goes back under the upstream's id.
//!
//! The calling session is the one the transport tied the request to (Streamable HTTP, SEP-2260),
//! else the one session with calls in flight on that upstream. stdio and legacy SSE carry no
//! association, so with calls of several sessions in flight the request is refused rather than
//! risk showing one session's request to another. A client that did not declare the capability
//! is not asked. A 2026-07-28 client's call goes through the MRTR bridge ([`crate::bridge`]).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::Tenant;
use crate::jsonrpc;
use crate::mux::{Conn, InFlight};
use crate::protocol;

impl Tenant {
    /// A fresh id for a request the hub sends a client.
    pub fn next_relay_id(&self) -> String {
        format!(
            "mcp-hub-{}",
            self.next_relay.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub(super) fn on_upstream_request(
        &self,
        conn: &Arc<Conn>,
        msg: Value,
        calls: Vec<InFlight>,
        associated: bool,
        scope: Option<u64>,
    ) {
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let uid = msg.get("id").cloned().unwrap_or(Value::Null);
        let refuse = |code: i64, message: String| {
            tracing::info!(tenant = %self.id, server = %conn.server, "refused the upstream's `{method}`: {message}");
            let _ = conn.respond_raw(
                jsonrpc::error_value(&Value::Null, code, message, None),
                uid.clone(),
            );
        };
        let Some(cap) = protocol::capability_for_request(&method) else {
            return refuse(
                jsonrpc::METHOD_NOT_FOUND,
                format!("mcp-hub does not relay `{method}`"),
            );
        };
        // A parked call's client is away answering an earlier request (its 2026-07-28 request
        // has ended); it comes back with a retry.
        let calls: Vec<InFlight> = calls
            .into_iter()
            .filter(|c| c.parked || self.sessions.contains_key(&c.session))
            .collect();
        let sessions: HashSet<u64> = calls.iter().map(|c| c.session).collect();
        if !associated && sessions.len() > 1 {
            return refuse(
                jsonrpc::INTERNAL_ERROR,
                format!("`{method}` is ambiguous: calls of {} client sessions are in flight on this server and its transport does not say which one asked; mcp-hub will not guess", sessions.len()),
            );
        }
        let (peer, out) = match calls.into_iter().next() {
            // Asked on the client's retry, where its capabilities are checked.
            Some(c) if c.parked => return self.bridge(conn, msg, c),
            Some(c) => {
                let Some(peer) = self.peer(c.session) else {
                    return refuse(jsonrpc::INTERNAL_ERROR, "the client's session has ended".into());
                };
                if !peer.declares(cap) {
                    return refuse(jsonrpc::METHOD_NOT_FOUND, format!("the client did not declare the `{cap}` capability"));
                }
                if c.stateless {
                    return self.bridge(conn, msg, c);
                }
                (peer, c.out)
            }
            // A roots refresh with no call in flight goes to the session that owns the
            // connection, else to the tenant's newest handshake-era session whose client
            // declared roots.
            None if cap == "roots" => {
                let newest = self
                    .audience(&conn.server, scope)
                    .into_iter()
                    .filter(|(_, p)| p.is_handshake() && p.declares(cap))
                    .max_by_key(|(id, _)| *id)
                    .map(|(_, p)| p);
                match newest {
                    Some(p) => {
                        let out = p.out.clone();
                        (p, out)
                    }
                    None if self.sessions.is_empty() => {
                        // Before any client connected (server-everything asks at start-up):
                        // nothing is wrong, there is just nobody to ask yet.
                        tracing::debug!(tenant = %self.id, server = %conn.server, "`roots/list` before any client connected; answered with an error");
                        let _ = conn.respond_raw(
                            jsonrpc::error_value(&Value::Null, jsonrpc::INVALID_REQUEST, "no client is connected yet", None),
                            uid.clone(),
                        );
                        return;
                    }
                    None => return refuse(jsonrpc::INVALID_REQUEST, "`roots/list` arrived with no client call in flight and no session whose client declared roots".into()),
                }
            }
            None => {
                return refuse(
                    jsonrpc::INVALID_REQUEST,
                    format!("`{method}` arrived with no client call in flight on this server; mcp-hub has no client to ask"),
                )
            }
        };
        let hid = self.next_relay_id();
        peer.relayed.insert(hid.clone(), (conn.clone(), uid));
        let _ = out.send(jsonrpc::request(
            &json!(hid),
            &method,
            msg.get("params").cloned(),
        ));
    }
}
