//! The rule for listening off loopback: the admin API there needs an admin key, and MCP there
//! needs every tenant it serves to have keys, or anyone who can reach the address may act
//! (`docker run -p`, a Kubernetes Service). Checked when the listeners open and again before
//! a reload is applied (a reload that removes the last key is refused with the same message).
//! Knows addresses and config, no transport.

use std::net::SocketAddr;

use crate::config::{HubConfig, TenantId};

/// Where the hub listens: set once its listeners pass [`check`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listening {
    /// MCP (Streamable HTTP, SSE).
    pub mcp: Option<SocketAddr>,
    /// The admin API (the MCP listener's address unless `[hub.admin] listen` is set).
    pub api: Option<SocketAddr>,
}

/// Every problem of `config` on these listeners, one message each, joined by lines; `runs`
/// says which tenants the hub serves.
pub fn check(
    config: &HubConfig,
    runs: impl Fn(&TenantId) -> bool,
    at: Listening,
) -> Result<(), String> {
    let problems: Vec<String> = [
        at.api.map_or(Ok(()), |a| check_api(config, a)),
        at.mcp
            .map_or(Ok(()), |a| check_tenant_keys(config, &runs, a)),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The admin API on a non-loopback address needs an admin key.
fn check_api(config: &HubConfig, addr: SocketAddr) -> Result<(), String> {
    if !addr.ip().is_loopback() && config.hub.admin.key_digests.is_empty() {
        return Err(format!(
            "refusing to serve the admin API on {addr} without an admin key: set `[hub.admin] api_keys = [\"${{MCP_HUB_ADMIN_KEY}}\"]` (a long random token), or set `[hub.admin] listen` to a loopback address to keep the API private"
        ));
    }
    Ok(())
}

/// MCP on a non-loopback address: every tenant served there must ask for a key.
fn check_tenant_keys(
    config: &HubConfig,
    runs: &impl Fn(&TenantId) -> bool,
    addr: SocketAddr,
) -> Result<(), String> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    let open: Vec<&TenantId> = config
        .tenants
        .iter()
        .filter(|(id, t)| runs(id) && t.api_key_digests.is_empty())
        .map(|(id, _)| id)
        .collect();
    let Some(first) = open.first() else {
        return Ok(());
    };
    let names: Vec<String> = open.iter().map(|id| format!("`{id}`")).collect();
    let (who, has) = match names.len() {
        1 => ("tenant", "has"),
        _ => ("tenants", "have"),
    };
    Err(format!(
        "refusing to serve MCP on {addr}: {who} {} {has} no key, so anyone who can reach {addr} could use its servers. \
         Set `[tenants.{first}] api_keys = [\"${{MCP_HUB_API_KEY}}\"]` (a long random token, e.g. `openssl rand -hex 32`; \
         clients send `Authorization: Bearer <key>`), or listen on a loopback address (`--listen 127.0.0.1:8080`)",
        names.join(", ")
    ))
}
