//! `GET /api/tenants/{t}/pins` (the pins and the quarantined tools, each with a readable diff)
//! and `POST /api/tenants/{t}/pins/{tool}/approve` (admin only: it decides what a model sees).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::handlers::{audit, visible, ApiResult, S};
use super::{authenticate, ApiError};
use crate::pinning::{Difference, PinError};
use crate::tenant::Tenant;

fn at(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One held tool: why, the description before and after, and every change by JSON path.
fn held_view(t: &Tenant, server: &crate::config::ServerName, d: &Difference) -> Value {
    let desc = |v: Option<&Value>| {
        v.and_then(|v| v.get("description"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let old: Option<Value> = d
        .pinned
        .as_ref()
        .and_then(|p| serde_json::from_str(&p.definition).ok());
    let mut v = json!({
        "name": t.exposed_name(server, &d.tool),
        "server": server.as_str(),
        "tool": d.tool,
        "reason": if d.pinned.is_some() { "changed" } else { "new" },
        "digest": d.digest,
        "description": {"old": desc(old.as_ref()), "new": desc(Some(&d.offered))},
        "changes": d.changes,
    });
    if let Some(p) = &d.pinned {
        v["pinned_digest"] = json!(p.digest);
        v["pinned_at"] = json!(at(p.pinned_at));
    }
    v
}

pub async fn list(State(s): S, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &name)?;
    let Some(report) = t.pins().await else {
        return Ok(Json(json!({
            "tenant": t.id.as_str(), "mode": t.config().pinning.as_str(), "store": null,
            "writable": false, "pins": [], "quarantined": [],
        })));
    };
    let r = report.map_err(store_error)?;
    let pins: Vec<Value> = r
        .pins
        .iter()
        .map(|p| {
            let server = crate::config::ServerName::new(&p.server);
            json!({"name": t.exposed_name(&server, &p.tool), "server": p.server, "tool": p.tool,
                   "digest": p.digest, "pinned_at": at(p.pinned_at)})
        })
        .collect();
    let held: Vec<Value> = r.held.iter().map(|(s, d)| held_view(&t, s, d)).collect();
    Ok(Json(json!({
        "tenant": t.id.as_str(), "mode": r.mode.as_str(), "store": r.store, "writable": r.writable,
        "pins": pins, "quarantined": held,
    })))
}

fn store_error(e: crate::state::StateError) -> ApiError {
    tracing::error!("state store: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_store",
        "the state store cannot be read; the hub's log says why",
    )
}

pub async fn approve(
    State(s): S,
    headers: HeaderMap,
    Path((name, tool)): Path<(String, String)>,
) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &name)?;
    caller.require_admin()?;
    let what = format!("approve tool `{tool}` of tenant `{name}`");
    match t.approve_pin(&tool).await {
        Ok((server, d)) => {
            let exposed = t.exposed_name(&server, &d.tool);
            let served = t.catalog().tool(&exposed).is_some();
            audit(&caller, &what, &format!("pinned {}", d.digest));
            Ok(Json(json!({
                "tenant": name, "approved": {"name": exposed, "server": server.as_str(), "tool": d.tool, "digest": d.digest},
                "visible": served,
            })))
        }
        Err(e) => {
            audit(&caller, &what, &format!("refused: {e}"));
            Err(match e {
                PinError::NotHeld(_) => {
                    ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()).hint(format!(
                        "`GET /api/tenants/{name}/pins` lists the quarantined tools"
                    ))
                }
                PinError::Ambiguous { .. } | PinError::ReadOnly(_) => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
                }
                PinError::State(e) => store_error(e),
            })
        }
    }
}
