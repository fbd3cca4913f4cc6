//! MCP revisions and the `_meta` keys the hub reads or writes.

use serde_json::{json, Value};

/// Revisions with the `initialize` handshake, oldest first.
pub const HANDSHAKE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The newest handshake-era revision: what the hub offers upstreams and answers unknown clients with.
pub const LATEST_HANDSHAKE: &str = "2025-11-25";
/// The stateless revision: no `initialize`, per-request `_meta`.
pub const STATELESS: &str = "2026-07-28";
/// Every revision the hub speaks, oldest first.
pub const ALL_VERSIONS: [&str; 5] = [
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The hub's own identity, as `serverInfo` / `clientInfo`.
pub fn hub_info() -> Value {
    json!({"name": "mcp-hub", "title": "mcp-hub", "version": env!("CARGO_PKG_VERSION")})
}

/// Whether a stateless-era request carries a protocol version the hub speaks.
pub fn is_known(version: &str) -> bool {
    ALL_VERSIONS.contains(&version)
}
