//! The JSON the API shows of the hub, a tenant and a server. Never a secret: no env values, no
//! header values, no keys; remote URLs without credentials or query.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::{Limits, Share};
use crate::hub::Hub;
use crate::mux::Era;
use crate::tenant::Tenant;
use crate::upstream::Upstream;

fn since(u: &Upstream) -> String {
    humantime::format_rfc3339_seconds(u.status().since).to_string()
}

/// A server as `GET /api/servers` lists it.
pub fn server_summary(tenant: &Tenant, u: &Upstream) -> Value {
    let s = u.status();
    let offer = u.offer();
    let mut v = json!({
        "tenant": tenant.id.as_str(),
        "name": u.name.as_str(),
        "type": u.cfg.kind,
        "metadata": u.cfg.metadata,
        "enabled": u.cfg.enabled,
        "running": tenant.is_running(u.name.as_str()),
        "state": s.state.as_str(),
        "since": since(u),
        "restarts": s.restarts,
        "last_error": s.last_error,
        "counts": {
            "tools": offer.tools.len(),
            "prompts": offer.prompts.len(),
            "resources": offer.resources.len(),
            "templates": offer.templates.len(),
        },
    });
    if let Some(why) = tenant.left_out().get(&u.name) {
        v["left_out"] = json!(why);
    }
    v["prefix"] = json!(tenant.config().catalog.prefix(u.name.as_str()));
    // Names this server offers that an earlier server in the file keeps.
    v["hidden"] = json!(tenant
        .catalog()
        .collisions
        .iter()
        .filter(|c| c.hidden_from == u.name)
        .map(crate::catalog::Collision::to_json)
        .collect::<Vec<_>>());
    if let Some(k) = &u.cfg.container {
        let name = u.container();
        let health = name
            .as_deref()
            .and_then(crate::upstream::container::health::of);
        v["container"] = json!({"image": k.image, "strategy": k.strategy.as_str(), "name": name, "health": health});
        // A pre-warmed pool: how many members are up (one down for good is not replaced).
        if let Some((up, total)) = tenant.pool_up(&u.name) {
            v["container"]["pool"] = json!({"up": up, "total": total});
        }
    }
    v
}

/// One server in full: where it runs, what it speaks and offers.
pub fn server_detail(tenant: &Tenant, u: &Upstream) -> Value {
    let mut v = server_summary(tenant, u);
    let offer = u.offer();
    match &u.cfg.remote {
        _ if u.cfg.container.is_some() => v["transport"] = json!("container"),
        Some(r) => {
            v["transport"] = json!(r.transport.as_str());
            v["url"] = json!(r.public_url());
        }
        None => {
            v["transport"] = json!("stdio");
            v["command"] = json!(u.cfg.command);
            v["pid"] = json!(u.pid());
        }
    }
    v["start"] = json!(match u.cfg.start {
        crate::config::StartMode::Eager => "eager",
        crate::config::StartMode::Lazy => "lazy",
    });
    v["share"] = json!(match u.cfg.share {
        Share::Tenant => "tenant",
        Share::Session => "session",
    });
    v["protocol"] = match u.conn().as_ref().and_then(|c| c.era().cloned()) {
        Some(Era::Handshake { version }) => json!(version),
        Some(Era::Stateless { .. }) => json!(crate::protocol::STATELESS),
        None => Value::Null,
    };
    v["server_info"] = offer.server_info.clone();
    v["capabilities"] = offer.capabilities.clone();
    v["tools"] = json!(offer
        .tools
        .iter()
        .filter_map(|t| t.key("name"))
        .collect::<Vec<_>>());
    v
}

fn limits(l: &Limits) -> Value {
    json!({
        "max_servers": l.max_servers,
        "max_tools": l.max_tools,
        "max_sessions": l.max_sessions,
        "max_concurrent_calls": l.max_concurrent_calls,
        "calls_per_minute": l.calls_per_minute,
        "max_request_bytes": l.max_request_bytes,
    })
}

/// A tenant as `GET /api/tenants` lists it.
pub fn tenant_summary(t: &Tenant) -> Value {
    let ups = t.upstreams();
    let up = ups
        .values()
        .filter(|u| u.status().state == crate::upstream::State::Up)
        .count();
    let cat = t.catalog();
    json!({
        "id": t.id.as_str(),
        "description": t.config().description,
        "stopped": t.is_stopped(),
        "servers": {"total": ups.len(), "up": up},
        "sessions": t.session_count(),
        "catalog": {"tools": cat.tools.len(), "prompts": cat.prompts.len(), "resources": cat.resources.len(), "templates": cat.templates.len(),
            "mode": match cat.mode { crate::config::CatalogMode::Full => "full", crate::config::CatalogMode::Search => "search" },
            "collisions": cat.collisions.len()},
    })
}

/// A tenant in full: its servers, sessions, catalog and quota use.
pub fn tenant_detail(t: &Tenant) -> Value {
    let mut v = tenant_summary(t);
    let cfg = t.config();
    v["servers"] = json!(t
        .upstreams()
        .values()
        .map(|u| server_summary(t, u))
        .collect::<Vec<_>>());
    v["limits"] = limits(&cfg.limits);
    v["collisions"] = json!(t
        .catalog()
        .collisions
        .iter()
        .map(crate::catalog::Collision::to_json)
        .collect::<Vec<_>>());
    let usage = t.quota.usage();
    v["quota"] = json!({
        "calls_in_flight": usage.calls_in_flight,
        "calls_refused": usage.calls_refused,
        "sessions": t.session_count(),
        "tools": t.catalog().tools.len(),
        "servers": cfg.servers.len(),
    });
    v
}

/// The hub at a glance (`GET /`), counting only the tenants the caller `sees`.
pub fn hub_info(hub: &Arc<Hub>, http_sessions: usize, sees: impl Fn(&str) -> bool) -> Value {
    let all = hub.tenants();
    let tenants: Vec<&Arc<Tenant>> = all.values().filter(|t| sees(t.id.as_str())).collect();
    let (mut servers, mut up, mut tools) = (0usize, 0usize, 0usize);
    for t in &tenants {
        for u in t.upstreams().values() {
            servers += 1;
            up += usize::from(u.status().state == crate::upstream::State::Up);
        }
        tools += t.catalog().tools.len();
    }
    let sessions: usize = tenants.iter().map(|t| t.session_count()).sum();
    json!({
        "name": "mcp-hub",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol_versions": crate::protocol::ALL_VERSIONS,
        "uptime_seconds": hub.uptime().as_secs(),
        "config": {"generation": hub.generation(), "path": hub.config().path.display().to_string()},
        "counts": {
            "tenants": tenants.len(),
            "servers": {"total": servers, "up": up},
            "sessions": sessions.max(http_sessions),
            "tools": tools,
        },
        "links": {
            "health": "/health",
            "ready": "/ready",
            "openapi": "/api/openapi.json",
            "tenants": "/api/tenants",
            "servers": "/api/servers",
            "tools": "/api/tools",
            "config": "/api/config",
            "reload": "/api/reload",
        },
    })
}

/// The effective config, secrets left out: env and header names without values, keys as counts.
pub fn config(hub: &Hub) -> Value {
    let c = hub.config();
    let tenants: serde_json::Map<String, Value> = c
        .tenants
        .iter()
        .map(|(id, t)| {
            let servers: serde_json::Map<String, Value> = t
                .servers
                .values()
                .map(|s| {
                    let mut v = json!({
                        "enabled": s.enabled,
                        "type": s.kind,
                        "metadata": s.metadata,
                        "env": s.env.keys().map(|k| (k.clone(), json!("<redacted>"))).collect::<serde_json::Map<_, _>>(),
                        "env_passthrough": s.env_passthrough,
                        "request_timeout": humantime::format_duration(s.request_timeout).to_string(),
                        "startup_timeout": humantime::format_duration(s.startup_timeout).to_string(),
                    });
                    match &s.remote {
                        Some(r) => {
                            v["url"] = json!(r.public_url());
                            v["transport"] = json!(r.transport.as_str());
                            v["headers"] = json!(r.headers.iter().map(|(k, _)| (k.clone(), json!("<redacted>"))).collect::<serde_json::Map<_, _>>());
                        }
                        None => {
                            v["command"] = json!(s.command);
                            v["args"] = json!(s.args.len());
                        }
                    }
                    (s.name.to_string(), v)
                })
                .collect();
            (
                id.to_string(),
                json!({"api_keys": t.api_key_digests.len(), "limits": limits(&t.limits), "servers": servers}),
            )
        })
        .collect();
    json!({
        "generation": hub.generation(),
        "path": c.path.display().to_string(),
        "hub": {
            "separator": c.hub.separator,
            "default_tenant": c.hub.default_tenant.as_ref().map(|t| t.to_string()),
            "request_timeout": humantime::format_duration(c.hub.request_timeout).to_string(),
            "http": {"listen": c.hub.http.listen.to_string()},
            "admin": {"api_keys": c.hub.admin.key_digests.len(), "listen": c.hub.admin.listen.map(|a| a.to_string()), "watch": c.hub.admin.watch},
            "limits": limits(&c.hub.limits),
        },
        "tenants": tenants,
    })
}
