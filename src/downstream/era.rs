//! Which protocol era a client's request belongs to, and what the hub answers the era's own
//! requests with (`initialize`, `server/discover`). Pure: no session, no transport.
//!
//! A session that began with `initialize` is in the handshake era for good; a request that names
//! 2026-07-28 in `_meta` (and came without `initialize`) is served statelessly; one that names
//! another revision in `_meta` is refused with -32022 and the supported list.

use serde_json::{json, Value};

use crate::jsonrpc;
use crate::protocol::{self, STATELESS};

/// How long a 2026-07-28 client may cache a list (see the README: the hub's upstreams can change
/// at any time, so lists are cached briefly and privately, per tenant).
pub const LIST_TTL_MS: u64 = 5_000;

/// Methods that do not exist in 2026-07-28.
const REMOVED_IN_STATELESS: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// Why a request cannot be served in the era it asked for.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum EraError {
    #[error("Unsupported protocol version")]
    UnsupportedVersion { requested: String },
    #[error("Method not found: `{0}` does not exist in protocol 2026-07-28")]
    Removed(String),
}

impl EraError {
    /// The JSON-RPC error answering request `id`.
    pub fn to_frame(&self, id: &Value) -> String {
        match self {
            EraError::UnsupportedVersion { requested } => jsonrpc::error(
                id,
                jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
                self.to_string(),
                Some(json!({"requested": requested, "supported": [STATELESS]})),
            ),
            EraError::Removed(_) => {
                jsonrpc::error(id, jsonrpc::METHOD_NOT_FOUND, self.to_string(), None)
            }
        }
    }
}

/// Whether a request is served statelessly (2026-07-28): `handshake` says the session began
/// with `initialize`, `meta_version` is the revision the request's `_meta` names.
pub fn is_stateless(
    handshake: bool,
    meta_version: Option<&str>,
    method: &str,
) -> Result<bool, EraError> {
    let stateless = match meta_version {
        _ if handshake => false,
        Some(STATELESS) => true,
        Some(v) if method != "initialize" && method != "server/discover" => {
            return Err(EraError::UnsupportedVersion {
                requested: v.to_string(),
            })
        }
        _ => false,
    };
    if stateless && REMOVED_IN_STATELESS.contains(&method) {
        return Err(EraError::Removed(method.to_string()));
    }
    Ok(stateless)
}

/// The revision `initialize` agrees on: the client's when the hub speaks it, else the newest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    protocol::HANDSHAKE_VERSIONS
        .iter()
        .find(|v| Some(**v) == requested)
        .copied()
        .unwrap_or(protocol::LATEST_HANDSHAKE)
}

/// What the hub offers every client, whatever its upstreams offer.
pub fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "completions": {},
        "logging": {},
        "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
    })
}

pub fn initialize_result(version: &str, instructions: Option<String>) -> Value {
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": capabilities(),
        "serverInfo": protocol::hub_info(),
    });
    if let Some(i) = instructions {
        result["instructions"] = json!(i);
    }
    result
}

pub fn discover_result(instructions: Option<String>) -> Value {
    let mut r = json!({
        "resultType": "complete",
        "supportedVersions": protocol::ALL_VERSIONS,
        "capabilities": capabilities(),
        "serverInfo": protocol::hub_info(),
        "ttlMs": LIST_TTL_MS,
        "cacheScope": "private",
        "_meta": { protocol::META_SERVER_INFO: protocol::hub_info() },
    });
    if let Some(i) = instructions {
        r["instructions"] = json!(i);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_agrees_on_the_clients_revision_or_the_newest() {
        for v in protocol::HANDSHAKE_VERSIONS {
            assert_eq!(negotiate(Some(v)), v);
        }
        assert_eq!(negotiate(Some("2099-01-01")), protocol::LATEST_HANDSHAKE);
        assert_eq!(negotiate(None), protocol::LATEST_HANDSHAKE);
        assert_eq!(negotiate(Some(STATELESS)), protocol::LATEST_HANDSHAKE);
    }

    #[test]
    fn the_era_comes_from_the_session_then_from_meta() {
        assert_eq!(is_stateless(false, Some(STATELESS), "tools/list"), Ok(true));
        assert_eq!(
            is_stateless(true, Some(STATELESS), "tools/list"),
            Ok(false),
            "a handshake session stays one"
        );
        assert_eq!(is_stateless(false, None, "tools/list"), Ok(false));
        assert_eq!(
            is_stateless(false, Some("2030-01-01"), "tools/list"),
            Err(EraError::UnsupportedVersion {
                requested: "2030-01-01".into()
            })
        );
        assert_eq!(
            is_stateless(false, Some("2030-01-01"), "initialize"),
            Ok(false)
        );
        assert_eq!(
            is_stateless(false, Some(STATELESS), "ping"),
            Err(EraError::Removed("ping".into()))
        );
        let frame: Value = serde_json::from_str(
            &EraError::UnsupportedVersion {
                requested: "x".into(),
            }
            .to_frame(&json!(3)),
        )
        .unwrap();
        assert_eq!(
            frame["error"]["code"],
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION
        );
        assert_eq!(frame["error"]["data"]["supported"][0], STATELESS);
    }
}
