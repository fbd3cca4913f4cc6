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

/// The four lists a server offers. Each kind knows its method, where its items sit in a result,
/// the server capability that announces it, the notification that says it changed, and the
/// `subscriptions/listen` filter key that opts in to that notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl ListKind {
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Prompts,
        ListKind::Resources,
        ListKind::Templates,
    ];

    pub fn from_method(method: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.method() == method)
    }

    /// The kinds a list-changed notification covers (resources and templates share one).
    pub fn from_changed_notification(method: &str) -> &'static [ListKind] {
        match method {
            "notifications/tools/list_changed" => &[ListKind::Tools],
            "notifications/prompts/list_changed" => &[ListKind::Prompts],
            "notifications/resources/list_changed" => &[ListKind::Resources, ListKind::Templates],
            _ => &[],
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Prompts => "prompts/list",
            ListKind::Resources => "resources/list",
            ListKind::Templates => "resources/templates/list",
        }
    }

    /// The key of the list in a result.
    pub fn key(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources => "resources",
            ListKind::Templates => "resourceTemplates",
        }
    }

    /// The server capability that announces the list.
    pub fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Prompts => "prompts",
            ListKind::Resources | ListKind::Templates => "resources",
        }
    }

    /// The notification that tells clients this list changed.
    pub fn changed_notification(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
            ListKind::Resources | ListKind::Templates => "notifications/resources/list_changed",
        }
    }

    /// The `subscriptions/listen` filter key (2026-07-28) that opts in to the notification.
    pub fn listen_key(self) -> &'static str {
        match self {
            ListKind::Tools => "toolsListChanged",
            ListKind::Prompts => "promptsListChanged",
            ListKind::Resources | ListKind::Templates => "resourcesListChanged",
        }
    }

    /// The bit of [`ListKind::changed_notification`] in a session's set of lists it has read
    /// (resources and templates share one notification, and so one bit).
    pub fn notice_bit(self) -> u8 {
        match self {
            ListKind::Tools => 1,
            ListKind::Prompts => 2,
            ListKind::Resources | ListKind::Templates => 4,
        }
    }
}

/// The client capability a server-to-client request needs; `None` for what the hub does not relay.
pub fn capability_for_request(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::ListKind;

    #[test]
    fn each_list_kind_round_trips_through_its_method_and_notification() {
        for k in ListKind::ALL {
            assert_eq!(ListKind::from_method(k.method()), Some(k));
            assert!(ListKind::from_changed_notification(k.changed_notification()).contains(&k));
        }
        assert_eq!(ListKind::from_method("tools/call"), None);
    }
}
