//! Legacy HTTP+SSE (the 2024-11-05 transport): `GET /sse` opens a session and sends an `endpoint`
//! event; the client POSTs to `/messages?sessionId=…` (202); everything the session sends arrives
//! as `message` events. A closed stream ends the session.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;

use super::events::next_event;
use super::guard::{self, error};
use super::streamable::read_body;
use super::HttpState;
use crate::jsonrpc;

type St = State<Arc<HttpState>>;

#[derive(Deserialize)]
pub struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

pub async fn get_default(State(s): St, headers: HeaderMap) -> Response {
    open(s, None, headers).await
}
pub async fn get_tenant(State(s): St, Path(t): Path<String>, headers: HeaderMap) -> Response {
    open(s, Some(t), headers).await
}
pub async fn post_default(
    State(s): St,
    q: Query<SessionQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    message(s, None, q.0, headers, body).await
}
pub async fn post_tenant(
    State(s): St,
    Path(t): Path<String>,
    q: Query<SessionQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    message(s, Some(t), q.0, headers, body).await
}

/// Ends the session when the client's stream goes away.
struct EndOnDrop(Arc<HttpState>, String);
impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.close_session(&self.1);
    }
}

async fn open(state: Arc<HttpState>, name: Option<String>, headers: HeaderMap) -> Response {
    let tenant = match guard::tenant(&state, name.as_deref(), &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let hs = match state.open_session(&tenant, true) {
        Ok(hs) => hs,
        Err(r) => return r,
    };
    let endpoint = match &name {
        Some(t) => format!("/t/{t}/messages?sessionId={}", hs.id),
        None => format!("/messages?sessionId={}", hs.id),
    };
    tracing::debug!(tenant = %tenant.id, session = %hs.id, "legacy SSE session opened");
    let first = futures_util::stream::once(async move {
        Ok::<_, Infallible>(Event::default().event("endpoint").data(endpoint))
    });
    let hold = EndOnDrop(state.clone(), hs.id.clone());
    let draining = state.draining.clone();
    let log = hs.main.clone();
    let rest = futures_util::stream::unfold(
        (log, 0u64, draining, hold),
        |(log, mut from, draining, hold)| async move {
            let (_, data) = next_event(&log, &mut from, &draining).await?;
            Some((
                Ok(Event::default().event("message").data(data)),
                (log, from, draining, hold),
            ))
        },
    );
    let mut r = Sse::new(first.chain(rest))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    r.extensions_mut()
        .insert(super::server::SessionTag(hs.id.clone()));
    r
}

async fn message(
    state: Arc<HttpState>,
    name: Option<String>,
    q: SessionQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let tenant = match guard::tenant(&state, name.as_deref(), &headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(sid) = q.session_id else {
        return error(
            StatusCode::BAD_REQUEST,
            jsonrpc::INVALID_REQUEST,
            "Bad Request: `sessionId` is required",
        );
    };
    let Some(hs) = state.session(&sid, &tenant.id).filter(|h| h.legacy) else {
        return error(
            StatusCode::NOT_FOUND,
            jsonrpc::SESSION_NOT_FOUND,
            "Session not found: open a new one with GET /sse",
        );
    };
    let msg = match read_body(&state, &tenant, body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    hs.touch();
    hs.session.handle_message(msg);
    (StatusCode::ACCEPTED, "Accepted").into_response()
}
