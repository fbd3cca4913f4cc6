//! A container that serves Streamable HTTP: its `port` (which needs a network) and `path`
//! checked, and the server's `headers` it is sent, whose values `Debug` hides (knows no engine).

use super::container::Network;
use super::validate::{int_in, Collector};

/// HTTP headers whose values may be secrets: `Debug` shows their names only.
#[derive(Clone, Default, PartialEq)]
pub struct HttpHeaders(pub Vec<(String, String)>);

impl std::fmt::Debug for HttpHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// `port` and `path` of the `container` table at `path`: the port, and the MCP endpoint's path
/// (`/mcp` unless set).
pub(super) fn port_and_path(
    c: &mut Collector,
    path: &str,
    port: Option<i64>,
    http_path: Option<&String>,
    network: &Network,
) -> (Option<u16>, String) {
    let port = port.map(|p| int_in(c, &format!("{path}.port"), Some(p), 0, 1, 65_535) as u16);
    let http_path = match (http_path, port) {
        (None, _) => "/mcp".to_string(),
        (Some(p), Some(_)) if p.starts_with('/') && !p.contains(char::is_whitespace) => p.clone(),
        (Some(p), Some(_)) => {
            c.push(
                format!("{path}.path"),
                format!("`{p}` is not an absolute URL path"),
                Some("the server's MCP endpoint inside the container, e.g. `/mcp`"),
            );
            String::new()
        }
        (Some(_), None) => {
            c.push(
                format!("{path}.path"),
                "only applies with `port`",
                Some("remove it, or set `port` (the container serves Streamable HTTP there)"),
            );
            String::new()
        }
    };
    if port.is_some() && *network == Network::None {
        c.push(
            format!("{path}.port"),
            "needs a network: with `network = \"none\"` the hub cannot reach the port",
            Some("set `network = \"bridge\"`"),
        );
    }
    (port, http_path)
}
