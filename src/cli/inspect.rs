//! `mcp-hub tools`, `call` and `status`: start a tenant's upstreams (or only the one a call
//! needs) in this process and report what they offer.

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::{HubConfig, TenantId};
use crate::hub::Hub;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

/// The servers of the tenant that are wanted (enabled) but not up, with why.
fn failed_servers(tenant: &crate::tenant::Tenant) -> Vec<(String, String)> {
    tenant
        .upstreams()
        .values()
        .filter(|u| u.cfg.enabled)
        .filter_map(|u| {
            let s = u.status();
            (s.state != crate::upstream::State::Up).then(|| {
                let why = s
                    .last_error
                    .unwrap_or_else(|| format!("still {}", s.state.as_str()));
                (u.name.to_string(), why)
            })
        })
        .collect()
}

pub(super) async fn tools(hub: Arc<Hub>, id: TenantId, as_json: bool, partial: bool) -> u8 {
    let Some(tenant) = hub.tenant(id.as_str()) else {
        return EXIT_FAILURE;
    };
    tenant.wait_ready().await;
    tracing::info!(tenant = %id, "upstreams: {}", tenant.summary());
    let cat = tenant.catalog();
    let mut out = std::io::stdout().lock();
    if as_json {
        let v = json!({"tools": cat.tools, "prompts": cat.prompts, "resources": cat.resources, "resourceTemplates": cat.templates});
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    } else {
        let first_line = |v: &Value| {
            v["description"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        };
        let _ = writeln!(out, "tools ({}):", cat.tools.len());
        for t in cat.tools.iter().map(|t| t.value()) {
            let _ = writeln!(
                out,
                "  {:<40} {}",
                t["name"].as_str().unwrap_or(""),
                first_line(&t)
            );
        }
        let _ = writeln!(out, "prompts ({}):", cat.prompts.len());
        for p in cat.prompts.iter().map(|p| p.value()) {
            let _ = writeln!(
                out,
                "  {:<40} {}",
                p["name"].as_str().unwrap_or(""),
                first_line(&p)
            );
        }
        let _ = writeln!(out, "resources ({}):", cat.resources.len());
        for r in &cat.resources {
            let _ = writeln!(out, "  {}", r.key("uri").unwrap_or_default());
        }
        let _ = writeln!(out, "resource templates ({}):", cat.templates.len());
        for r in &cat.templates {
            let _ = writeln!(out, "  {}", r.key("uriTemplate").unwrap_or_default());
        }
    }
    let failed = failed_servers(&tenant);
    if failed.is_empty() {
        return EXIT_OK;
    }
    let level = if partial { "warning" } else { "error" };
    eprintln!(
        "{level}: {} server(s) of tenant `{id}` are missing from this catalog:",
        failed.len()
    );
    for (name, why) in &failed {
        eprintln!("  {name}: {why}");
    }
    if partial {
        EXIT_OK
    } else {
        eprintln!("hint: `mcp-hub status` shows each server's state; `--partial` accepts a catalog without them");
        EXIT_FAILURE
    }
}

/// The JSON arguments of `call`, when they are an object.
pub(super) fn parse_arguments(text: &str) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// `call` starts only the server that owns the tool: the enabled server whose name and the
/// separator begin the tool's name (the longest such). When none does (a renamed or hashed
/// name), every server of the tenant starts, as for `tools`.
pub(super) fn only_owner(mut config: HubConfig, tenant: Option<&str>, tool: &str) -> HubConfig {
    let Ok(id) = config.tenant(tenant).map(|t| t.id.clone()) else {
        return config;
    };
    let sep = config.hub.separator.clone();
    let Some(t) = config.tenants.get_mut(&id) else {
        return config;
    };
    let owner = t
        .servers
        .values()
        .filter(|s| s.enabled && tool.starts_with(&format!("{}{sep}", s.name)))
        .map(|s| s.name.clone())
        .max_by_key(|n| n.as_str().len());
    if let Some(owner) = owner {
        t.servers.retain(|name, _| *name == owner);
    }
    config
}

/// Exposed names close to `wanted`: those whose upstream part is `wanted` (a missing prefix),
/// then those within a small edit distance, best first, at most five.
fn nearest_tools(cat: &crate::catalog::Catalog, wanted: &str, sep: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = cat
        .tools
        .iter()
        .filter_map(|t| t.exposed())
        .filter_map(|name| {
            let bare = name.split_once(sep).map_or(name, |(_, rest)| rest);
            let d = if bare == wanted {
                0
            } else {
                crate::config::edit_distance(wanted, name)
                    .min(crate::config::edit_distance(wanted, bare) + 1)
            };
            (d <= (wanted.chars().count() / 3).max(2)).then(|| (d, name.to_string()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

pub(super) async fn call(hub: Arc<Hub>, id: TenantId, tool: String, arguments: String) -> u8 {
    let Some(tenant) = hub.tenant(id.as_str()) else {
        return EXIT_FAILURE;
    };
    let Some(args) = parse_arguments(&arguments) else {
        return EXIT_USAGE;
    };
    tenant.wait_ready().await;
    let cat = tenant.catalog();
    if cat.tool(&tool).is_none() {
        eprintln!("error: no tool `{tool}` in tenant `{id}`");
        let near = nearest_tools(&cat, &tool, &tenant.settings.separator);
        if !near.is_empty() {
            eprintln!(
                "hint: did you mean {}?",
                near.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (name, why) in failed_servers(&tenant) {
            eprintln!("note: server `{name}` is not up: {why}");
        }
        if near.is_empty() {
            eprintln!("hint: `mcp-hub tools` lists the tenant's tools");
        }
        return EXIT_FAILURE;
    }
    match crate::downstream::oneshot::call_tool(&tenant, &tool, args).await {
        Ok(result) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            );
            if result.get("isError") == Some(&Value::Bool(true)) {
                EXIT_FAILURE
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}

pub(super) async fn status(hub: Arc<Hub>, id: TenantId) -> u8 {
    let Some(tenant) = hub.tenant(id.as_str()) else {
        return EXIT_FAILURE;
    };
    tenant.wait_ready().await;
    let mut all_up = true;
    let mut out = std::io::stdout().lock();
    for up in tenant.upstreams().values() {
        let s = up.status();
        // A stopped on-demand container is where it should be: it starts on the next call.
        if s.state != crate::upstream::State::Up
            && s.state != crate::upstream::State::Disabled
            && !up.remembers_offer()
        {
            all_up = false;
        }
        let container = up
            .cfg
            .container
            .as_ref()
            .map(|k| {
                let members = tenant.pool_members(&up.name);
                let pool = match members.len() {
                    0 => String::new(),
                    n => format!(
                        "pool {}/{n} up ",
                        members.iter().filter(|m| m.conn().is_some()).count()
                    ),
                };
                let health = up
                    .container()
                    .as_deref()
                    .and_then(crate::upstream::container::health::of)
                    .map(|h| format!("health={h} "))
                    .unwrap_or_default();
                format!("container {} {pool}{health}", k.strategy.as_str())
            })
            .unwrap_or_default();
        let offer = up.offer();
        let _ = writeln!(
            out,
            "{id}/{:<20} {:<9} tools={:<3} prompts={:<3} resources={:<3} {container}{}",
            up.name.as_str(),
            s.state.as_str(),
            offer.tools.len(),
            offer.prompts.len(),
            offer.resources.len(),
            s.last_error
                .map(|e| format!("last error: {e}"))
                .unwrap_or_default()
        );
        if let Some(why) = tenant.left_out().get(&up.name) {
            let _ = writeln!(out, "{id}/{:<20} {why}", up.name.as_str());
        }
        for c in tenant
            .catalog()
            .collisions
            .iter()
            .filter(|c| c.hidden_from == up.name)
        {
            let _ = writeln!(
                out,
                "{id}/{:<20} hidden: {} `{}` (kept by `{}`, earlier in the file)",
                up.name.as_str(),
                c.kind,
                c.name,
                c.kept_by
            );
        }
    }
    let (limits, usage) = (tenant.quota.limits(), tenant.quota.usage());
    let of = |v: Option<usize>| v.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
    let _ = writeln!(
        out,
        "{id} quota: calls in flight {}/{}, calls per minute {}, refused {}, tools {}/{}",
        usage.calls_in_flight,
        of(limits.max_concurrent_calls),
        of(limits.calls_per_minute.map(|v| v as usize)),
        usage.calls_refused,
        tenant.catalog().tools.len(),
        of(limits.max_tools),
    );
    if all_up {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}
