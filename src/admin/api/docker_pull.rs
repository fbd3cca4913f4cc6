//! `POST /api/docker/images/pull` and `GET /api/docker/images/pull/{job}`: an image pull as a
//! job that runs in the hub's tracker whoever waits for it (202 and a `Location` to poll), or the
//! same job as an NDJSON stream of its progress ([`super::pull_stream`]). With `update: true`,
//! the servers whose image changed are restarted on it. The pulls themselves, their joining and
//! the jobs kept are `upstream::container::pulls`'; this file knows the request and the tenants.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::docker::{container_servers, engine_of};
use super::{authenticate, ApiError, ApiState, Caller};
use crate::upstream::container::pulls::Job;

type S = State<Arc<ApiState>>;

/// What the caller asked: the image (none: every configured one), `update`, and the stream form.
#[derive(Debug, PartialEq)]
struct Ask {
    image: Option<String>,
    update: bool,
    stream: bool,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message).hint(
        "send `{\"image\": \"name:tag\", \"update\": false}`, or `{}` for every configured image",
    )
}

/// The body (`{"image"?, "update"?}`), `?stream=` and `Accept: application/x-ndjson`.
fn ask(body: &[u8], query: Option<&str>, headers: &HeaderMap) -> Result<Ask, ApiError> {
    let mut ask = Ask {
        image: None,
        update: false,
        stream: false,
    };
    let req: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?
    };
    let Value::Object(req) = req else {
        return Err(bad("the body must be a JSON object"));
    };
    for (k, v) in req {
        match (k.as_str(), v) {
            ("image", Value::Null) => {}
            ("image", Value::String(i)) if !i.trim().is_empty() => ask.image = Some(i),
            ("image", _) => {
                return Err(bad("`image` must be a non-empty string such as `alpine:3`"))
            }
            ("update", Value::Null) => {}
            ("update", Value::Bool(u)) => ask.update = u,
            ("update", _) => return Err(bad("`update` must be `true` or `false`")),
            (other, _) => return Err(bad(format!("unknown key `{other}` in the body"))),
        }
    }
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("stream", "true" | "1" | "") => ask.stream = true,
            ("stream", "false" | "0") => ask.stream = false,
            ("stream", v) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("`stream` must be `true` or `false`, not `{v}`"),
                )
                .hint("`?stream=true` answers an NDJSON stream; without it, a job to poll"))
            }
            _ => {}
        }
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or_default();
    if accept.contains("application/x-ndjson") {
        ask.stream = true;
    }
    Ok(ask)
}

/// Starts a pull job; 202 with the job and its `Location`, or (stream form) 200 with NDJSON.
pub async fn start(
    State(s): S,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = authenticate(&s.hub, &headers)?;
    caller.require_admin()?;
    let ask = ask(&body, query.as_deref(), &headers)?;
    let images: Vec<String> = match &ask.image {
        Some(i) => vec![i.clone()],
        None => container_servers(&s, &caller)
            .iter()
            .filter_map(|(_, u)| u.cfg.container.as_ref().map(|k| k.image.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    if images.is_empty() {
        return Err(bad(
            "nothing to pull: no container server is configured and no `image` given",
        ));
    }
    let job = s.pulls.create(&images).map_err(|e| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_pulls",
            e.to_string(),
        )
    })?;
    tracing::info!(target: "audit", who = %caller.who(), "pull job {}: {} (update: {})", job.id(), images.join(", "), ask.update);
    spawn(&s, job.clone(), ask.update);
    let location = format!("/api/docker/images/pull/{}", job.id());
    let mut r = if ask.stream {
        (
            [(header::CONTENT_TYPE, "application/x-ndjson")],
            Body::from_stream(super::pull_stream::ndjson(&job)),
        )
            .into_response()
    } else {
        (StatusCode::ACCEPTED, Json(job.snapshot())).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /api/docker/images/pull/{job}`: the job now.
pub async fn job(
    State(s): S,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<crate::upstream::container::pulls::JobView>, ApiError> {
    authenticate(&s.hub, &headers)?.require_admin()?;
    match s.pulls.get(&id) {
        Some(job) => Ok(Json(job.snapshot())),
        None => Err(ApiError::not_found(&format!("pull job `{id}`")).hint(format!(
            "a job is kept while it runs and among the last {} after; start one with `POST /api/docker/images/pull`",
            crate::upstream::container::pulls::KEEP
        ))),
    }
}

/// Runs the job in the hub's tracker: it goes on when the caller leaves, and ends (its
/// unfinished images failed) when the hub shuts down.
fn spawn(s: &Arc<ApiState>, job: Arc<Job>, update: bool) {
    let tasks = s.hub.tasks();
    let stop = tasks.child_token();
    let s = s.clone();
    let span = tracing::info_span!("image-pull", job = %job.id());
    tasks.spawn(span, async move {
        tokio::select! {
            () = run(&s, &job, update) => {}
            () = stop.cancelled() => job.fail_rest("the hub shut down before the pull finished"),
        }
        job.finish();
    });
}

/// Pulls the job's images one after the other; with `update`, restarts the servers on each
/// image that changed.
async fn run(s: &ApiState, job: &Job, update: bool) {
    let engine = match engine_of(s) {
        Ok(e) => e,
        Err(e) => return job.fail_rest(&e.message),
    };
    let n = job.snapshot().images.len();
    for i in 0..n {
        let Some(pulled) = s.pulls.pull(&engine, job, i).await else {
            continue;
        };
        if !(update && pulled.changed == Some(true)) {
            continue;
        }
        for (t, u) in container_servers(s, &Caller::Admin { key: None }) {
            if u.cfg
                .container
                .as_ref()
                .is_none_or(|k| k.image != pulled.image)
            {
                continue;
            }
            match t.restart_server(u.name.as_str()).await {
                Ok(()) => job.restarted(format!("{}/{}", t.id, u.name)),
                Err(e) => tracing::warn!(tenant = %t.id, server = %u.name, image = %pulled.image,
                    "not restarted on the new image: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(body: &str, query: Option<&str>) -> Result<Ask, String> {
        ask(body.as_bytes(), query, &HeaderMap::new()).map_err(|e| e.message)
    }

    #[test]
    fn the_body_names_the_image_and_update() {
        assert_eq!(
            asked(r#"{"image": "bb:1", "update": true}"#, Some("stream=true")),
            Ok(Ask {
                image: Some("bb:1".into()),
                update: true,
                stream: true
            })
        );
        assert_eq!(
            asked("", None),
            Ok(Ask {
                image: None,
                update: false,
                stream: false
            })
        );
    }

    #[test]
    fn a_bad_body_names_the_key() {
        assert!(asked(r#"{"image": 3}"#, None)
            .unwrap_err()
            .contains("`image`"));
        assert!(asked(r#"{"image": " "}"#, None)
            .unwrap_err()
            .contains("`image`"));
        assert!(asked(r#"{"update": "yes"}"#, None)
            .unwrap_err()
            .contains("`update`"));
        assert!(asked(r#"{"imgae": "x"}"#, None)
            .unwrap_err()
            .contains("`imgae`"));
        assert!(asked("[]", None).unwrap_err().contains("object"));
        assert!(asked("{", None).unwrap_err().contains("not JSON"));
        assert!(asked("{}", Some("stream=maybe"))
            .unwrap_err()
            .contains("`stream`"));
    }

    #[test]
    fn accept_ndjson_asks_for_the_stream() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/x-ndjson"),
        );
        assert!(ask(b"{}", None, &h).unwrap().stream);
    }
}
