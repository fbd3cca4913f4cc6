//! The MRTR bridge between a 2026-07-28 client and a handshake-era upstream.
//!
//! A 2026-07-28 client takes no server-to-client requests. When an upstream sends one
//! (sampling, elicitation, roots) while serving such a client's call, the hub parks the upstream
//! call, answers the client with `resultType: "input_required"` (the upstream's request under
//! `inputRequests.input`) and a `requestState`, and waits. The client retries its request with
//! `inputResponses.input` and the same `requestState`; the hub hands the answer to the waiting
//! upstream request and attaches the retry to the parked call, whose result (or next request)
//! then goes to the client.
//!
//! `requestState` is `mcp-hub.` + an HMAC-sealed (rmcp's `RequestStateCodec`, a per-process
//! random key) handle, bound to the tenant and to the request it answers (method, server and
//! upstream name or URI). A forged or altered state fails verification; a state used once is
//! gone (no replay); a state for another request or tenant does not open. Parked calls whose
//! client does not come back within the upstream's `request_timeout` are cancelled upstream
//! and forgotten.
//!
//! - this file: the parked calls and their sealed handles.
//! - [`forward`]: a 2026-07-28 client, a handshake-era upstream (`input_required` out, retries in).
//! - [`reverse`]: a handshake-era client, a 2026-07-28 upstream (its `inputRequests` become
//!   requests to the client, the answers a retry upstream).

mod forward;
mod reverse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rmcp::model::{RequestStateCodec, SealOptions};
use serde_json::Value;

use crate::mux::Conn;

/// What every hub-issued `requestState` starts with; others belong to upstreams and pass through.
pub const PREFIX: &str = "mcp-hub.";

/// An upstream call waiting for its client to come back with input.
pub struct Parked {
    pub conn: Arc<Conn>,
    pub call: u64,
    /// The id of the upstream's request to the client.
    pub upstream_request: Value,
    /// When the client's time to come back is up (the server's `request_timeout` after parking).
    deadline: Instant,
}

impl Parked {
    /// Gives up on the call: cancelled upstream, and its request to the client answered with an error.
    pub fn give_up(self, code: i64, message: &str, reason: &str) {
        self.conn.abandon(self.call, reason);
        let _ = self.conn.respond_raw(
            crate::jsonrpc::error_value(&Value::Null, code, message, None),
            self.upstream_request,
        );
    }
}

pub struct Bridges {
    codec: RequestStateCodec,
    parked: DashMap<String, Parked>,
}

fn context(tenant: &str, origin: &str) -> Vec<u8> {
    format!("{tenant}\n{origin}").into_bytes()
}

impl Bridges {
    #[allow(
        deprecated,
        reason = "the key is 32 random bytes, above the codec's minimum, so the checked constructor could not fail"
    )]
    pub fn new() -> Self {
        let key: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        Self {
            codec: RequestStateCodec::new(key),
            parked: DashMap::new(),
        }
    }

    /// Parks a call for at most `ttl`; returns the `requestState` for the client.
    pub fn park(
        &self,
        tenant: &str,
        origin: &str,
        conn: Arc<Conn>,
        call: u64,
        upstream_request: Value,
        ttl: Duration,
    ) -> String {
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let sealed = self.codec.seal_with(
            handle.as_bytes(),
            &SealOptions::new()
                .associated_data(&context(tenant, origin))
                .ttl(ttl),
        );
        self.parked.insert(
            handle,
            Parked {
                conn,
                call,
                upstream_request,
                deadline: Instant::now() + ttl,
            },
        );
        format!("{PREFIX}{sealed}")
    }

    /// The parked call a retry's `requestState` names, taken out (single use).
    pub fn take(&self, tenant: &str, origin: &str, state: &str) -> Result<Parked, String> {
        let sealed = state
            .strip_prefix(PREFIX)
            .ok_or("not a requestState this hub issued")?;
        let handle = self
            .codec
            .open_with(sealed, &context(tenant, origin))
            .map_err(|_| "requestState failed verification (forged, altered, expired, or from another request)".to_string())?;
        let handle =
            String::from_utf8(handle).map_err(|_| "requestState is malformed".to_string())?;
        self.parked
            .remove(&handle)
            .map(|(_, p)| p)
            .ok_or_else(|| "requestState was already used, or its call is gone".to_string())
    }

    /// Removes the calls whose client did not come back in time.
    pub fn expired(&self) -> Vec<Parked> {
        let now = Instant::now();
        let old: Vec<String> = self
            .parked
            .iter()
            .filter(|e| e.deadline < now)
            .map(|e| e.key().clone())
            .collect();
        old.into_iter()
            .filter_map(|k| self.parked.remove(&k).map(|(_, p)| p))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    /// Calls parked now.
    pub fn len(&self) -> usize {
        self.parked.len()
    }
}

impl Default for Bridges {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerName;
    use crate::mux::{Conn, ConnHooks, DownstreamReply, InFlight};

    struct NoHooks;
    impl ConnHooks for NoHooks {
        fn on_notification(&self, _: &Arc<Conn>, _: Value) {}
        fn on_server_request(&self, _: &Arc<Conn>, _: Value, _: Vec<InFlight>, _: bool) {}
        fn on_input_required(&self, _: &Arc<Conn>, _: Value, _: DownstreamReply) {}
    }

    #[test]
    fn each_parked_call_keeps_its_own_servers_request_timeout() {
        let (conn, _out) = Conn::new(ServerName::new("s"), Arc::new(NoHooks));
        let b = Bridges::new();
        let quick = b.park("t", "o", conn.clone(), 1, Value::from(1), Duration::ZERO);
        let slow = b.park("t", "o", conn, 2, Value::from(2), Duration::from_secs(3600));
        std::thread::sleep(Duration::from_millis(5));
        let gone: Vec<u64> = b.expired().iter().map(|p| p.call).collect();
        assert_eq!(
            gone,
            vec![1],
            "the call of a server with a short timeout expires alone"
        );
        assert!(b.take("t", "o", &quick).is_err(), "its state is gone");
        assert!(b.take("t", "o", &slow).is_ok(), "the other one still opens");
    }
}
