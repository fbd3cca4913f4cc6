//! What each route of the admin API does. Every mutating call is logged with who (a key's id,
//! never the key), what, and the outcome.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{authenticate, views, ApiError, ApiState, Caller};
use crate::downstream::oneshot::{call_tool, CallFailure};
use crate::hub::{ReloadError, ReloadSource};
use crate::jsonrpc;
use crate::tenant::{ControlError, Tenant};

pub(super) type ApiResult = Result<Json<Value>, ApiError>;
pub(super) type S = State<Arc<ApiState>>;

/// The tenant `name`, when the caller may see it (else 404, as if it did not exist).
pub(super) fn visible(
    state: &ApiState,
    caller: &Caller,
    name: &str,
) -> Result<Arc<Tenant>, ApiError> {
    state
        .hub
        .tenant(name)
        .filter(|_| caller.sees(name))
        .ok_or_else(|| ApiError::not_found(&format!("tenant `{name}`")))
}

pub(super) fn audit(caller: &Caller, what: &str, outcome: &str) {
    tracing::info!(target: "audit", who = %caller.who(), "{what}: {outcome}");
}

pub async fn root(State(s): S, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let http_sessions = match caller {
        Caller::Admin { .. } => (s.http_sessions)(),
        Caller::Tenant { .. } => 0,
    };
    Ok(Json(views::hub_info(&s.hub, http_sessions, |t| {
        caller.sees(t)
    })))
}

pub async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("such route").hint("`GET /api/openapi.json` lists every route")
}

pub async fn tenants(State(s): S, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let list: Vec<Value> = s
        .hub
        .tenants()
        .values()
        .filter(|t| caller.sees(t.id.as_str()))
        .map(|t| views::tenant_summary(t))
        .collect();
    Ok(Json(json!({ "tenants": list })))
}

pub async fn tenant(State(s): S, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &name)?;
    Ok(Json(views::tenant_detail(&t)))
}

pub async fn tenant_tools(State(s): S, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &name)?;
    let cat = t.catalog();
    Ok(Json(json!({"tenant": t.id.as_str(), "tools": cat.tools})))
}

pub async fn tenant_start(State(s): S, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &name)?;
    let started = t.start_tenant();
    audit(
        &caller,
        &format!("start tenant `{name}`"),
        if started { "started" } else { "was running" },
    );
    Ok(Json(
        json!({"tenant": name, "started": started, "stopped": t.is_stopped()}),
    ))
}

pub async fn tenant_stop(State(s): S, headers: HeaderMap, Path(name): Path<String>) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &name)?;
    let stopped = t.stop_tenant().await;
    audit(
        &caller,
        &format!("stop tenant `{name}`"),
        if stopped { "stopped" } else { "was stopped" },
    );
    Ok(Json(
        json!({"tenant": name, "stopped": true, "changed": stopped}),
    ))
}

#[derive(serde::Deserialize)]
pub struct ServerFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
    tenant: Option<String>,
    state: Option<String>,
}

pub async fn servers(State(s): S, headers: HeaderMap, Query(f): Query<ServerFilter>) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let mut list = Vec::new();
    for t in s.hub.tenants().values() {
        if !caller.sees(t.id.as_str()) || f.tenant.as_deref().is_some_and(|x| x != t.id.as_str()) {
            continue;
        }
        for u in t.upstreams().values() {
            if f.kind.is_some() && u.cfg.kind != f.kind {
                continue;
            }
            if f.state
                .as_deref()
                .is_some_and(|st| st != u.status().state.as_str())
            {
                continue;
            }
            list.push(views::server_summary(t, u));
        }
    }
    Ok(Json(json!({ "servers": list })))
}

pub async fn server(
    State(s): S,
    headers: HeaderMap,
    Path((tenant, server)): Path<(String, String)>,
) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &tenant)?;
    let u = t
        .upstream(&server)
        .ok_or_else(|| ApiError::not_found(&format!("server `{server}` in tenant `{tenant}`")))?;
    Ok(Json(views::server_detail(&t, &u)))
}

fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::UnknownServer { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        ControlError::Disabled(_) => {
            ApiError::new(StatusCode::CONFLICT, "server_disabled", e.to_string())
                .hint("set `enabled = true` for the server and reload")
        }
        ControlError::TenantStopped(_) => {
            ApiError::new(StatusCode::CONFLICT, "tenant_stopped", e.to_string())
                .hint("POST /api/tenants/{tenant}/start")
        }
    }
}

pub async fn server_action(
    State(s): S,
    headers: HeaderMap,
    Path((tenant, server, action)): Path<(String, String, String)>,
) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &tenant)?;
    let what = format!("{action} server `{tenant}/{server}`");
    let outcome = match action.as_str() {
        "start" => t.start_server(&server).map(|did| json!({"started": did})),
        "stop" => t
            .stop_server(&server)
            .await
            .map(|did| json!({"stopped": did})),
        "restart" => t
            .restart_server(&server)
            .await
            .map(|()| json!({"restarted": true})),
        _ => {
            return Err(ApiError::not_found(&format!("action `{action}`"))
                .hint("use start, stop or restart"))
        }
    };
    match outcome {
        Ok(mut v) => {
            audit(&caller, &what, &v.to_string());
            if let Some(u) = t.upstream(&server) {
                v["server"] = views::server_summary(&t, &u);
            }
            Ok(Json(v))
        }
        Err(e) => {
            audit(&caller, &what, &format!("refused: {e}"));
            Err(control_error(e))
        }
    }
}

pub async fn tools(State(s): S, headers: HeaderMap) -> ApiResult {
    let caller = authenticate(&s.hub, &headers)?;
    let mut list = Vec::new();
    for t in s
        .hub
        .tenants()
        .values()
        .filter(|t| caller.sees(t.id.as_str()))
    {
        let cat = t.catalog();
        for tool in &cat.tools {
            let name = tool.exposed().unwrap_or_default();
            let server = cat.tool(name).map(|r| r.server.to_string());
            let mut v = tool.value();
            if let Some(o) = v.as_object_mut() {
                o.insert("tenant".into(), json!(t.id.as_str()));
                o.insert("server".into(), json!(server));
            }
            list.push(v);
        }
    }
    Ok(Json(json!({ "tools": list })))
}

/// The arguments of a REST call: a JSON object (an empty body is `{}`).
fn arguments(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_arguments",
            "the body must be a JSON object of the tool's arguments",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not JSON: {e}"),
        )),
    }
}

async fn call(
    s: &ApiState,
    caller: &Caller,
    t: Arc<Tenant>,
    tool: &str,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let args = arguments(body)?;
    if t.is_stopped() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "tenant_stopped",
            format!("tenant `{}` is stopped", t.id),
        ));
    }
    let _ = s;
    let what = format!("call `{}/{tool}`", t.id);
    let out = call_tool(&t, tool, args).await;
    audit(
        caller,
        &what,
        match &out {
            Ok(r) if r.get("isError") == Some(&Value::Bool(true)) => "the tool reported an error",
            Ok(_) => "ok",
            Err(_) => "failed",
        },
    );
    match out {
        Ok(result) => Ok(Json(result).into_response()),
        Err(e) => Err(call_error(e)),
    }
}

fn call_error(e: CallFailure) -> ApiError {
    match e {
        CallFailure::UnknownTool(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_tool", e.to_string())
                .hint("`GET /api/tenants/{tenant}/tools` lists the tools")
        }
        CallFailure::Timeout(_) => {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", e.to_string())
        }
        CallFailure::Rpc { code, ref data, .. } if code == jsonrpc::QUOTA_EXCEEDED => {
            let ms = data
                .as_ref()
                .and_then(|d| d.get("retryAfterMs"))
                .and_then(Value::as_u64)
                .unwrap_or(1000);
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                e.to_string(),
            );
            err.retry_after = Some(ms.div_ceil(1000).max(1));
            err
        }
        CallFailure::Rpc { code, .. } if code == jsonrpc::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            e.to_string(),
        ),
        CallFailure::Rpc { code, .. } if code == jsonrpc::INVALID_PARAMS => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_params", e.to_string())
        }
        CallFailure::Rpc { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "upstream_failed", e.to_string())
        }
    }
}

pub async fn tenant_call(
    State(s): S,
    headers: HeaderMap,
    Path((tenant, tool)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s.hub, &headers)?;
    let t = visible(&s, &caller, &tenant)?;
    call(&s, &caller, t, &tool, &body).await
}

pub async fn default_call(
    State(s): S,
    headers: HeaderMap,
    Path(tool): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s.hub, &headers)?;
    let t = s
        .hub
        .default_tenant()
        .filter(|t| caller.sees(t.id.as_str()))
        .ok_or_else(|| {
            ApiError::not_found("default tenant")
                .hint("use /api/tenants/{tenant}/tools/{tool}/call, or set hub.default_tenant")
        })?;
    call(&s, &caller, t, &tool, &body).await
}

fn reload_answer(
    caller: &Caller,
    what: &str,
    r: Result<crate::hub::ReloadReport, ReloadError>,
) -> Result<Response, ApiError> {
    match r {
        Ok(report) => {
            audit(
                caller,
                what,
                &format!(
                    "generation {} (changed: {})",
                    report.generation, report.changed
                ),
            );
            Ok(Json(json!(report)).into_response())
        }
        Err(ReloadError::Invalid(errors)) => {
            audit(caller, what, "refused: invalid config");
            let problems: Vec<Value> = errors
                .problems
                .iter()
                .map(|p| {
                    json!({
                        "path": p.path, "message": p.message, "hint": p.hint,
                        "line": p.location.as_ref().map(|l| l.line),
                        "column": p.location.as_ref().map(|l| l.column),
                    })
                })
                .collect();
            let body = json!({"error": {
                "code": "invalid_config",
                "message": format!("the config has {} problem(s); nothing changed", problems.len()),
                "hint": "fix the file and reload again; `mcp-hub check` shows the same messages",
                "problems": problems,
            }});
            Ok((StatusCode::BAD_REQUEST, Json(body)).into_response())
        }
        Err(ReloadError::Exposed(message)) => {
            audit(caller, what, "refused: a key the listeners need is gone");
            Err(
                ApiError::new(StatusCode::BAD_REQUEST, "keys_required", message)
                    .hint("nothing changed: the hub keeps running on its config; put the key back, or restart the hub on a loopback address"),
            )
        }
        Err(e @ ReloadError::NoHistory) => {
            audit(caller, what, "refused: no history");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "no_history",
                e.to_string(),
            ))
        }
    }
}

pub async fn reload(State(s): S, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = authenticate(&s.hub, &headers)?;
    caller.require_admin()?;
    reload_answer(&caller, "reload", s.hub.reload(ReloadSource::Api).await)
}

pub async fn rollback(State(s): S, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = authenticate(&s.hub, &headers)?;
    caller.require_admin()?;
    reload_answer(&caller, "rollback", s.hub.rollback().await)
}

pub async fn config(State(s): S, headers: HeaderMap) -> ApiResult {
    authenticate(&s.hub, &headers)?.require_admin()?;
    Ok(Json(views::config(&s.hub)))
}

pub async fn history(State(s): S, headers: HeaderMap) -> ApiResult {
    authenticate(&s.hub, &headers)?.require_admin()?;
    let list: Vec<Value> = s
        .hub
        .history()
        .iter()
        .rev()
        .map(|g| {
            json!({
                "generation": g.generation,
                "applied_at": humantime::format_rfc3339_seconds(g.applied_at).to_string(),
                "source": g.source,
            })
        })
        .collect();
    Ok(Json(
        json!({"running": s.hub.generation(), "generations": list}),
    ))
}
