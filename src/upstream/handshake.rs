//! Opening a session with an upstream in whichever era it speaks, and reading what it offers.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{Offer, UpstreamError};
use crate::config::{ProtocolPref, ServerConfig};
use crate::item::Item;
use crate::jsonrpc;
use crate::mux::{CallError, Conn, Era};
use crate::protocol::{self, ListKind};

/// The capabilities the hub declares to upstreams: everything it can relay. A server-to-client
/// request goes to the session whose call caused it (or through the MRTR bridge to a
/// 2026-07-28 client); when that session's client did not declare the capability, the upstream
/// gets a JSON-RPC error saying so. (An upstream connection is shared by every session of the
/// tenant, so it cannot be told each client's own capabilities; a session's own connection,
/// with `share = "session"`, is told exactly those of its client: see `session_capabilities`.)
pub fn hub_client_capabilities() -> Value {
    json!({
        "sampling": {},
        "elicitation": {"form": {}, "url": {}},
        "roots": {"listChanged": true},
    })
}

/// What of a client's capabilities the hub can honour for it: the relayable ones.
pub fn session_capabilities(client: &Value) -> Value {
    let mut caps = Map::new();
    for key in ["sampling", "elicitation", "roots"] {
        if let Some(v) = client.get(key) {
            caps.insert(key.into(), v.clone());
        }
    }
    Value::Object(caps)
}

/// Runs `initialize` (or `server/discover`) and sets the connection's era. The hub declares
/// `capabilities` (those of `hub_client_capabilities` when `None`).
pub async fn open(
    conn: &Conn,
    cfg: &ServerConfig,
    capabilities: Option<&Value>,
) -> Result<Offer, UpstreamError> {
    let timeout = cfg.startup_timeout;
    let capabilities = capabilities
        .cloned()
        .unwrap_or_else(hub_client_capabilities);
    if cfg.protocol != ProtocolPref::Stateless {
        let params = json!({
            "protocolVersion": protocol::LATEST_HANDSHAKE,
            "capabilities": capabilities.clone(),
            "clientInfo": protocol::hub_info(),
        });
        match conn.request("initialize", Some(params), timeout).await {
            Ok(res) => {
                let version = res["protocolVersion"]
                    .as_str()
                    .unwrap_or(protocol::LATEST_HANDSHAKE)
                    .to_string();
                if !protocol::HANDSHAKE_VERSIONS.contains(&version.as_str()) {
                    tracing::warn!(server = %cfg.name, "upstream answered `initialize` with protocol version `{version}`; continuing in the handshake era");
                }
                conn.set_era(Era::Handshake {
                    version: version.clone(),
                });
                conn.notify("notifications/initialized", None)
                    .map_err(|e| UpstreamError::Handshake(e.to_string()))?;
                tracing::info!(server = %cfg.name, version, "connected (handshake era)");
                return Ok(offer_from(&res, None));
            }
            Err(CallError::Rpc { code, message, .. }) if cfg.protocol == ProtocolPref::Auto => {
                tracing::info!(server = %cfg.name, "upstream refused `initialize` ({code}: {message}); trying `server/discover`");
            }
            Err(CallError::Rpc { code, message, .. }) => {
                return Err(UpstreamError::ProtocolUnsupported {
                    asked: "the handshake era (`initialize`)",
                    setting: "handshake",
                    answered: format!("it answered `initialize` with error {code}: {message}"),
                })
            }
            Err(e) => return Err(map_err(e, timeout)),
        }
    }
    let meta = stateless_meta(capabilities);
    let res = conn
        .request(
            "server/discover",
            Some(json!({"_meta": meta.clone()})),
            timeout,
        )
        .await
        .map_err(|e| match e {
            CallError::Rpc { code, message, .. } if cfg.protocol == ProtocolPref::Stateless => {
                UpstreamError::ProtocolUnsupported {
                    asked: protocol::STATELESS,
                    setting: protocol::STATELESS,
                    answered: format!("it answered `server/discover` with error {code}: {message}"),
                }
            }
            e => map_err(e, timeout),
        })?;
    let supported: Vec<&str> = res["supportedVersions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !supported.contains(&protocol::STATELESS) {
        if cfg.protocol == ProtocolPref::Stateless {
            return Err(UpstreamError::ProtocolUnsupported {
                asked: protocol::STATELESS,
                setting: protocol::STATELESS,
                answered: format!("its `server/discover` lists only {supported:?}"),
            });
        }
        return Err(UpstreamError::Handshake(format!(
            "`server/discover` lists no protocol version the hub speaks without `initialize` (it lists {supported:?})"
        )));
    }
    conn.set_era(Era::Stateless { meta });
    tracing::info!(server = %cfg.name, version = protocol::STATELESS, "connected (stateless era)");
    let info = res["_meta"][protocol::META_SERVER_INFO].clone();
    Ok(offer_from(&res, Some(info)))
}

/// The `_meta` every request to a 2026-07-28 upstream carries.
fn stateless_meta(capabilities: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        protocol::META_PROTOCOL_VERSION.into(),
        json!(protocol::STATELESS),
    );
    m.insert(protocol::META_CLIENT_CAPABILITIES.into(), capabilities);
    m.insert(protocol::META_CLIENT_INFO.into(), protocol::hub_info());
    m
}

fn offer_from(res: &Value, info: Option<Value>) -> Offer {
    Offer {
        server_info: info
            .filter(|v| !v.is_null())
            .unwrap_or_else(|| res["serverInfo"].clone()),
        capabilities: res["capabilities"].clone(),
        instructions: res["instructions"].as_str().map(str::to_string),
        ..Offer::default()
    }
}

fn map_err(e: CallError, timeout: Duration) -> UpstreamError {
    match e {
        CallError::Timeout { .. } => {
            UpstreamError::StartupTimeout(humantime::format_duration(timeout).to_string())
        }
        CallError::Closed { reason, .. } => UpstreamError::Handshake(reason),
        other => UpstreamError::Handshake(other.to_string()),
    }
}

/// Reads one whole list, following `nextCursor`.
pub async fn list_all(
    conn: &Conn,
    kind: ListKind,
    timeout: Duration,
) -> Result<Vec<Item>, CallError> {
    let (method, key) = (kind.method(), kind.key());
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let mut res = match conn.request(method, Some(params), timeout).await {
            Ok(r) => r,
            Err(CallError::Rpc { code, .. }) if code == jsonrpc::METHOD_NOT_FOUND => {
                return Ok(items)
            }
            Err(e) => return Err(e),
        };
        if let Some(Value::Array(page)) = res.get_mut(key).map(Value::take) {
            // Kept as text: the page's `Value`s are dropped here.
            items.extend(page.iter().map(Item::new));
        }
        match res["nextCursor"].as_str() {
            Some(c) if !c.is_empty() && cursor.as_deref() != Some(c) => {
                cursor = Some(c.to_string())
            }
            _ => return Ok(items),
        }
    }
    Ok(items)
}

/// Reads every list the upstream's capabilities announce into `offer`.
pub async fn read_lists(
    conn: &Conn,
    offer: &mut Offer,
    timeout: Duration,
) -> Result<(), CallError> {
    for kind in ListKind::ALL {
        if offer.capabilities.get(kind.capability()).is_none() {
            continue;
        }
        *offer.list_mut(kind) = list_all(conn, kind, timeout).await?;
    }
    Ok(())
}
