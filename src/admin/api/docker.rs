//! `/api/docker/*`: the hub's containers as the engine and the supervisors see them, their
//! start/stop/restart, and the cleanup of what is stopped or orphaned (image pulls are
//! [`super::docker_pull`]'s).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::{authenticate, ApiError, ApiState, Caller};
use crate::tenant::Tenant;
use crate::upstream::container::engine::{self, Engine};
use crate::upstream::Upstream;

type ApiResult = Result<Json<Value>, ApiError>;
type S = State<Arc<ApiState>>;

pub(super) fn engine_of(s: &ApiState) -> Result<Engine, ApiError> {
    Engine::connect(&s.hub.config().hub.containers).map_err(unreachable)
}

fn unreachable(e: engine::EngineError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "engine_unreachable",
        e.to_string(),
    )
    .hint("start Docker or `podman system service`, or set `hub.containers.socket`")
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The engine's row of the container named `name`, and whether it runs.
pub(super) fn engine_row<'a>(
    engine_rows: &'a [bollard::models::ContainerSummary],
    name: Option<&str>,
) -> (Option<&'a bollard::models::ContainerSummary>, bool) {
    let row = engine_rows.iter().find(|c| {
        c.names
            .as_ref()
            .is_some_and(|n| n.iter().any(|x| Some(x.trim_start_matches('/')) == name))
    });
    let running = row.is_some_and(|c| {
        matches!(
            c.state,
            Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
        )
    });
    (row, running)
}

/// One container server: its config, its supervisor's state, and its container when one runs.
fn view(t: &Tenant, u: &Upstream, engine_rows: &[bollard::models::ContainerSummary]) -> Value {
    let Some(k) = &u.cfg.container else {
        return Value::Null;
    };
    let st = u.status();
    let name = u.container();
    let (row, running) = engine_row(engine_rows, name.as_deref());
    // The image's HEALTHCHECK as inspect reads it (the list's own field is newer than API 1.41).
    let health = name
        .as_deref()
        .and_then(crate::upstream::container::health::of)
        .or_else(|| {
            row.and_then(|c| c.health.as_ref())
                .and_then(|h| h.status.as_ref())
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none")
        });
    let since = |t: std::time::SystemTime| t.elapsed().map(|d| d.as_secs()).unwrap_or(0);
    let mut v = json!({
        "tenant": t.id.as_str(),
        "server": u.name.as_str(),
        "image": k.image,
        "strategy": k.strategy.as_str(),
        "state": st.state.as_str(),
        "last_error": st.last_error,
        "container": name,
        "id": row.and_then(|c| c.id.clone()),
        "running": running,
        "health": health,
        "uptime_seconds": if running { row.and_then(|c| c.created).map(|c| (now_secs() - c).max(0)) } else { None },
        "idle_timeout_seconds": (k.strategy == crate::config::Strategy::OnDemand).then_some(k.idle_timeout.as_secs()),
        "last_used_seconds_ago": u.last_used().map(since),
        "limits": {
            "memory": k.memory, "cpus": k.cpus, "pids_limit": k.pids_limit,
            "read_only": k.read_only, "network": k.network.mode(),
        },
    });
    let members = t.pool_members(&u.name);
    if !members.is_empty() {
        let tasks = t.pool_task_counts(&u.name);
        v["pool"] = super::docker_pool::members(&members, &tasks, engine_rows);
        v["pool_up"] = super::docker_pool::up(&members);
    }
    v
}

/// Every container server the caller may see, as (tenant, upstream).
pub(super) fn container_servers(
    s: &ApiState,
    caller: &Caller,
) -> Vec<(Arc<Tenant>, Arc<Upstream>)> {
    let mut out = Vec::new();
    for t in s.hub.tenants().values() {
        if !caller.sees(t.id.as_str()) {
            continue;
        }
        for u in t.upstreams().values() {
            if u.cfg.container.is_some() {
                out.push((t.clone(), u.clone()));
            }
        }
    }
    out
}

pub async fn status(State(s): S, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    caller.require_admin()?;
    let settings = s.hub.config().hub.containers.clone();
    let servers = container_servers(&s, &caller);
    let mut v = json!({
        "instance": settings.instance,
        "reachable": false,
        "servers": servers.len(),
        "running": crate::upstream::container::running(),
        "max_containers": settings.max_containers,
    });
    let engine = match Engine::connect(&settings) {
        Ok(e) => e,
        Err(e) => {
            v["error"] = json!(e.to_string());
            return Ok(Json(v));
        }
    };
    v["socket"] = json!(engine.socket);
    if let Err(e) = engine.ping().await {
        v["error"] = json!(e.to_string());
        return Ok(Json(v));
    }
    v["reachable"] = json!(true);
    if let Ok(Ok(ver)) =
        tokio::time::timeout(std::time::Duration::from_secs(5), engine.docker.version()).await
    {
        v["version"] = json!(ver.version);
        v["api_version"] = json!(ver.api_version);
        v["engine"] = json!(ver
            .components
            .and_then(|c| c.first().map(|c| c.name.clone()))
            .unwrap_or_default());
    }
    if let Ok(rows) = engine.list_own(&settings.instance).await {
        let running = rows
            .iter()
            .filter(|c| {
                matches!(
                    c.state,
                    Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                )
            })
            .count();
        v["containers"] =
            json!({"total": rows.len(), "running": running, "stopped": rows.len() - running});
    }
    Ok(Json(v))
}

async fn rows(s: &ApiState) -> Vec<bollard::models::ContainerSummary> {
    let instance = s.hub.config().hub.containers.instance.clone();
    match engine_of(s) {
        Ok(e) => e.list_own(&instance).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

pub async fn containers(State(s): S, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let rows = rows(&s).await;
    let list: Vec<Value> = container_servers(&s, &caller)
        .iter()
        .map(|(t, u)| view(t, u, &rows))
        .collect();
    Ok(Json(json!({ "containers": list })))
}

fn find(
    s: &ApiState,
    caller: &Caller,
    tenant: &str,
    server: &str,
) -> Result<(Arc<Tenant>, Arc<Upstream>), ApiError> {
    container_servers(s, caller)
        .into_iter()
        .find(|(t, u)| t.id.as_str() == tenant && u.name.as_str() == server)
        .ok_or_else(|| {
            ApiError::not_found(&format!("container server `{server}` in tenant `{tenant}`"))
        })
}

pub async fn container(
    State(s): S,
    headers: HeaderMap,
    Path((tenant, server)): Path<(String, String)>,
) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let (t, u) = find(&s, &caller, &tenant, &server)?;
    Ok(Json(view(&t, &u, &rows(&s).await)))
}

pub async fn action(
    State(s): S,
    headers: HeaderMap,
    Path((tenant, server, action)): Path<(String, String, String)>,
) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let (t, _) = find(&s, &caller, &tenant, &server)?;
    let done = match action.as_str() {
        "start" => t.start_server(&server).map(|d| json!({"started": d})),
        "stop" => t.stop_server(&server).await.map(|d| json!({"stopped": d})),
        "restart" => t
            .restart_server(&server)
            .await
            .map(|()| json!({"restarted": true})),
        _ => {
            return Err(ApiError::not_found(&format!("action `{action}`"))
                .hint("use start, stop or restart"))
        }
    };
    tracing::info!(target: "audit", who = %caller.who(), "{action} container `{tenant}/{server}`: {}", done.is_ok());
    let mut v = done.map_err(|e| ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()))?;
    if let Some(u) = t.upstream(&server) {
        v["container"] = view(&t, &u, &rows(&s).await);
    }
    Ok(Json(v))
}

/// Removes this hub's stopped containers, and its orphans: running containers of this instance
/// that nothing of this hub process owns. Owned are the containers of every tenant's live
/// connections (servers, pool members, sessions' own with `share = "session"`), whatever the
/// caller may see, and every container the process is still creating or starting
/// (`container::owned`); so no age is needed to spare a container being started, and an orphan
/// goes at once. Then the hub's network (`hub.containers.network`) when the hub created it and
/// no container of its runs any more (the next container creates it again).
pub async fn cleanup(State(s): S, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    caller.require_admin()?;
    let engine = match engine_of(&s) {
        Ok(e) => e,
        // No container server and no engine: nothing of this hub can be there.
        Err(_) if !crate::upstream::container::configured(&s.hub.config()) => {
            return Ok(Json(json!({ "removed": [], "networks": [] })))
        }
        Err(e) => return Err(e),
    };
    let instance = s.hub.config().hub.containers.instance.clone();
    let mut owned = crate::upstream::container::owned();
    for t in s.hub.tenants().values() {
        owned.extend(t.container_names());
    }
    let mut removed = Vec::new();
    let mut kept = 0usize;
    for c in engine.list_own(&instance).await.map_err(unreachable)? {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let running = matches!(
            c.state,
            Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
        );
        if owned.contains(&name) {
            kept += 1;
            continue;
        }
        if running {
            tracing::warn!(container = %name, "removing an orphaned container of this hub's instance (no connection of this hub owns it)");
        }
        if let Some(id) = &c.id {
            engine
                .stop_and_remove(id, std::time::Duration::from_secs(1))
                .await;
            removed.push(name);
        }
    }
    let mut networks = Vec::new();
    if let (Some(net), 0) = (&s.hub.config().hub.containers.network, kept) {
        if engine.remove_own_network(net, &instance).await {
            networks.push(net.clone());
        }
    }
    tracing::info!(target: "audit", who = %caller.who(), "container cleanup: removed {} container(s), {} network(s)", removed.len(), networks.len());
    Ok(Json(json!({ "removed": removed, "networks": networks })))
}
