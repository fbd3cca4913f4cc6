//! The REST admin API: the hub's state as JSON, and the operator's actions (start, stop and
//! restart tenants and servers, call a tool, reload). It reads the hub through its public
//! methods and owns nothing.
//!
//! - this file: the routes, who may call them ([`Caller`]), and the one error shape.
//! - [`views`]: the JSON of the hub, a tenant, a server.
//! - [`handlers`]: what each route does.
//! - [`pins`]: the tenant's pinned and quarantined tools, and approval.
//! - [`docker`], [`docker_pool`]: `/api/docker/*`; [`docker_pull`] and [`pull_stream`]: image
//!   pulls as jobs to poll or NDJSON streams.
//! - [`openapi`]: the OpenAPI 3.1 document of all of it (`GET /api/openapi.json`).
//!
//! Keys: `[hub.admin] api_keys` may do everything; a tenant's key may read and act on its own
//! tenant only and gets 404 for any other (their existence is not revealed). With no admin key
//! the API is served on loopback only (checked when the listener starts).

mod docker;
mod docker_pool;
mod docker_pull;
mod handlers;
pub mod openapi;
mod pins;
mod pull_stream;
mod views;

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::config::TenantId;
use crate::hub::Hub;

/// The state every API handler gets.
pub struct ApiState {
    pub hub: Arc<Hub>,
    /// Sessions over HTTP, for `GET /` (the stdio session counts through its tenant).
    pub http_sessions: Box<dyn Fn() -> usize + Send + Sync>,
    /// Image pulls started through `/api/docker/images/pull`, kept for polling.
    pub pulls: crate::upstream::container::pulls::Pulls,
}

/// An error as the API answers it: `{"error": {"code", "message", "hint"}}` with a status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            hint: None,
            retry_after: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(h) = self.hint {
            error["hint"] = json!(h);
        }
        let mut r = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mcp-hub admin\""),
            );
        }
        r
    }
}

/// Who is calling, from their bearer key.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// An admin key (its id), or anyone on loopback when no admin key is configured.
    Admin { key: Option<String> },
    /// A tenant's key: that tenant only.
    Tenant { tenant: TenantId, key: String },
}

impl Caller {
    /// Who, for the log: a key's id (the first 8 hex digits of its SHA-256), never the key.
    pub fn who(&self) -> String {
        match self {
            Caller::Admin { key: Some(k) } => format!("admin key {k}"),
            Caller::Admin { key: None } => "admin (no key, loopback)".into(),
            Caller::Tenant { tenant, key } => format!("tenant `{tenant}` key {key}"),
        }
    }

    /// Whether the caller may see `tenant` (others are answered 404, as if they did not exist).
    pub fn sees(&self, tenant: &str) -> bool {
        match self {
            Caller::Admin { .. } => true,
            Caller::Tenant { tenant: t, .. } => t.as_str() == tenant,
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin { .. } => Ok(()),
            Caller::Tenant { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_only",
                "this route needs an admin key",
            )
            .hint("use a key from `[hub.admin] api_keys`")),
        }
    }
}

fn key_id(digest: &[u8]) -> String {
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// The caller a request's `Authorization: Bearer <key>` names.
pub fn authenticate(hub: &Hub, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let config = hub.config();
    let presented = crate::downstream::http::presented_key(headers);
    let admin = &config.hub.admin.key_digests;
    let Some(p) = presented else {
        return if admin.is_empty() {
            Ok(Caller::Admin { key: None })
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the admin API needs `Authorization: Bearer <key>`",
            )
            .hint("an admin key from `[hub.admin] api_keys`, or a tenant's key for its own tenant"))
        };
    };
    let matches = crate::downstream::http::key_matches;
    if matches(admin, &p) {
        return Ok(Caller::Admin {
            key: Some(key_id(&p)),
        });
    }
    for (id, t) in hub.tenants().iter() {
        if matches(&t.config().api_key_digests, &p) {
            return Ok(Caller::Tenant {
                tenant: id.clone(),
                key: key_id(&p),
            });
        }
    }
    Err(ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the key is not an admin key nor any tenant's key",
    ))
}

/// The API's routes (`/` and `/api/…`).
pub fn router(state: Arc<ApiState>) -> Router {
    use handlers as h;
    Router::new()
        .route("/", get(h::root))
        .route("/api/openapi.json", get(h::openapi))
        .route("/api/tenants", get(h::tenants))
        .route("/api/tenants/{tenant}", get(h::tenant))
        .route("/api/tenants/{tenant}/tools", get(h::tenant_tools))
        .route("/api/tenants/{tenant}/start", post(h::tenant_start))
        .route("/api/tenants/{tenant}/stop", post(h::tenant_stop))
        .route(
            "/api/tenants/{tenant}/tools/{tool}/call",
            post(h::tenant_call),
        )
        .route("/api/tenants/{tenant}/pins", get(pins::list))
        .route(
            "/api/tenants/{tenant}/pins/{tool}/approve",
            post(pins::approve),
        )
        .route("/api/servers", get(h::servers))
        .route("/api/servers/{tenant}/{server}", get(h::server))
        .route(
            "/api/servers/{tenant}/{server}/{action}",
            post(h::server_action),
        )
        .route("/api/tools", get(h::tools))
        .route("/api/tools/{tool}/call", post(h::default_call))
        .route("/api/reload", post(h::reload))
        .route("/api/reload/rollback", post(h::rollback))
        .route("/api/config", get(h::config))
        .route("/api/config/history", get(h::history))
        .route("/api/docker/status", get(docker::status))
        .route("/api/docker/containers", get(docker::containers))
        .route(
            "/api/docker/containers/{tenant}/{server}",
            get(docker::container),
        )
        .route(
            "/api/docker/containers/{tenant}/{server}/{action}",
            post(docker::action),
        )
        .route("/api/docker/images/pull", post(docker_pull::start))
        .route("/api/docker/images/pull/{job}", get(docker_pull::job))
        .route("/api/docker/cleanup", post(docker::cleanup))
        .fallback(h::not_found)
        .with_state(state)
}
