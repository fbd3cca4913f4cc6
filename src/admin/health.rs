//! `/health` and `/ready`.
//!
//! - `healthy`: every upstream that should run (enabled, and started: eager, or lazy and asked
//!   for) is up. 200.
//! - `degraded`: the hub serves, but some of those upstreams are down (starting, in backoff, or
//!   failed for good); the rest of the catalog works. 200.
//! - `unhealthy`: the hub is draining, or every upstream that should run is down. 503.
//!
//! A stopped on-demand container (it starts on the next call) makes the hub `degraded` at
//! worst, never `unhealthy`: it is counted under `components.containers.stopped_on_demand`.
//! So does a pre-warmed pool with a member down (`upstreams.<t/s>.container.pool`: total, up).
//!
//! `/ready` is 200 once every eager upstream has finished its first start attempt and the
//! listener is up, and 503 while starting or draining.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::hub::Hub;
use crate::upstream::State;

/// The health document and its status code.
pub fn report(hub: &Hub, draining: bool, sessions: usize) -> (StatusCode, Value) {
    let mut upstreams = Map::new();
    let (mut wanted, mut up, mut parked) = (0usize, 0usize, 0usize);
    // A pre-warmed pool with a member down (being replaced) serves, with less room: degraded.
    let mut pool_short = false;
    for (tid, t) in hub.tenants().iter() {
        for u in t.upstreams().values() {
            let s = u.status();
            let on_demand = u
                .cfg
                .container
                .as_ref()
                .is_some_and(|k| k.strategy == crate::config::Strategy::OnDemand);
            if on_demand && s.state == State::Idle {
                parked += 1;
            }
            // Stopped: by the operator (or with the hub, which is then draining anyway).
            if !matches!(s.state, State::Disabled | State::Idle | State::Stopped) {
                wanted += 1;
                if s.state == State::Up {
                    up += 1;
                }
            }
            let since = humantime::format_rfc3339_seconds(s.since).to_string();
            let mut entry = json!({"state": s.state.as_str(), "since": since, "last_error": s.last_error, "restarts": s.restarts});
            if u.cfg.share == crate::config::Share::Session {
                // `share = "session"`: how many sessions have a connection of their own, and how many are up.
                let (own, own_up) = t.own_connections(&u.name);
                entry["session_connections"] = json!({"total": own, "up": own_up});
            }
            if let Some(k) = &u.cfg.container {
                let name = u.container();
                // The image's own HEALTHCHECK verdict, where it has one.
                let health = name
                    .as_deref()
                    .and_then(crate::upstream::container::health::of);
                entry["container"] =
                    json!({"strategy": k.strategy.as_str(), "name": name, "health": health});
                let members = t.pool_members(&u.name);
                if !members.is_empty() {
                    let members_up = members.iter().filter(|m| m.conn().is_some()).count();
                    pool_short |= s.state != State::Stopped && members_up < members.len();
                    entry["container"]["pool"] = json!({"total": members.len(), "up": members_up});
                }
            }
            upstreams.insert(format!("{tid}/{}", u.name), entry);
        }
    }
    let status = if draining || (wanted > 0 && up == 0) {
        "unhealthy"
    } else if up < wanted || parked > 0 || pool_short {
        "degraded"
    } else {
        "healthy"
    };
    let code = if status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({
        "status": status,
        "components": {
            "listener": if draining { "draining" } else { "up" },
            "upstreams": {"up": up, "wanted": wanted},
            "containers": {"running": crate::upstream::container::running(), "stopped_on_demand": parked},
            "sessions": sessions,
        },
        "upstreams": upstreams,
    });
    (code, body)
}

pub fn health(hub: &Hub, draining: bool, sessions: usize) -> Response {
    let (code, body) = report(hub, draining, sessions);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn ready(hub: &Hub, not_serving: bool) -> Response {
    let settled = hub.tenants().values().all(|t| t.is_settled());
    let ready = settled && !not_serving;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"ready": ready}).to_string(),
    )
        .into_response()
}
