//! The REST admin API and MCP over HTTP as a test drives them: one API call with an optional
//! bearer key ([`api`], [`api_ok`]), its status and JSON ([`ApiAnswer`]), a stateless 2026-07-28
//! `tools/call` over Streamable HTTP ([`mcp_call_2026`]), waiting for a tenant's servers to
//! reach a state ([`wait_servers`]), and asserting an error answer ([`refused`]). Every request is bounded by [`super::HTTP_TIMEOUT`].

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{http_request, HttpResponse};
use super::hub::MODERN_VERSION;
use super::proc::wait_until;

/// One answer of the admin API.
#[derive(Debug, Clone)]
pub struct ApiAnswer {
    pub status: u16,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    pub raw: HttpResponse,
}

impl ApiAnswer {
    /// `error.code` of an error answer (`""` when there is none).
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
    /// A header of the answer.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw.header(name)
    }
}

/// `method path` on the hub at 127.0.0.1:`port`, with `Authorization: Bearer <key>` when a key is
/// given and `body` as JSON; panics when no complete answer comes.
pub fn api(port: u16, method: &str, path: &str, key: Option<&str>, body: &str) -> ApiAnswer {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let raw = http_request(port, method, path, &headers, body.as_bytes())
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
    ApiAnswer {
        status: raw.status,
        json: serde_json::from_str(&raw.body).unwrap_or(Value::Null),
        raw,
    }
}

/// [`api`], asserting a 200; its JSON.
#[track_caller]
pub fn api_ok(port: u16, method: &str, path: &str, key: Option<&str>, body: &str) -> Value {
    let a = api(port, method, path, key, body);
    assert_eq!(a.status, 200, "{method} {path}: {}", a.raw.body);
    a.json
}

/// A stateless 2026-07-28 `tools/call` of `tool` on `path` (`/mcp` or `/t/<tenant>/mcp`), with the
/// `Mcp-Method`/`Mcp-Name` headers a 2026 client sends.
pub fn mcp_call_2026(
    port: u16,
    path: &str,
    key: Option<&str>,
    tool: &str,
    arguments: Value,
) -> HttpResponse {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": super::hub::meta26()},
    })
    .to_string();
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", MODERN_VERSION),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", tool),
    ];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    http_request(port, "POST", path, &headers, body.as_bytes())
        .unwrap_or_else(|e| panic!("POST {path} tools/call {tool}: {e:#}"))
}

/// Waits up to `limit` until every server `GET /api/tenants/{tenant}` lists is in `state`, except
/// those in `except`; panics with the last answer otherwise.
pub fn wait_servers(
    port: u16,
    key: Option<&str>,
    tenant: &str,
    state: &str,
    except: &[&str],
    limit: Duration,
) {
    let path = format!("/api/tenants/{tenant}");
    let mut last = Value::Null;
    let ok = wait_until(limit, Duration::from_millis(100), || {
        last = api(port, "GET", &path, key, "").json;
        last["servers"].as_array().is_some_and(|s| {
            s.iter()
                .all(|s| except.contains(&s["name"].as_str().unwrap_or("")) || s["state"] == state)
        })
    });
    assert!(
        ok,
        "the servers of `{tenant}` did not all reach `{state}` within {limit:?}: {last:#}"
    );
}

/// The pid `GET /api/servers/{tenant}/{server}` shows (`None` when it has none).
pub fn server_pid(port: u16, key: Option<&str>, tenant: &str, server: &str) -> Option<i64> {
    api(
        port,
        "GET",
        &format!("/api/servers/{tenant}/{server}"),
        key,
        "",
    )
    .json["pid"]
        .as_i64()
}

/// The running config generation `GET /` shows.
pub fn generation(port: u16, key: Option<&str>) -> u64 {
    let v = api_ok(port, "GET", "/", key, "");
    v["config"]["generation"]
        .as_u64()
        .unwrap_or_else(|| panic!("GET / has no config.generation: {v}"))
}

/// The `name` (or `id`) of each object of a JSON array: tools, servers, tenants.
pub fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["name"].as_str().or(v["id"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts `a` is the API's error `{"error": {"code": code, "message": …}}` with `status`.
#[track_caller]
pub fn refused(a: &ApiAnswer, status: u16, code: &str) {
    assert_eq!(
        (a.status, a.code()),
        (status, code),
        "expected {status} {code}: {}",
        a.raw.body
    );
    assert!(
        a.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an error has a message: {}",
        a.raw.body
    );
}

/// `POST /api/docker/images/pull` with `body` (asserting 202, a job and its `Location`), then
/// that job polled until it has finished, at most `limit`; the finished job.
#[track_caller]
pub fn pull_and_wait(port: u16, key: Option<&str>, body: &str, limit: Duration) -> Value {
    let started = api(port, "POST", "/api/docker/images/pull", key, body);
    assert_eq!(
        started.status, 202,
        "POST /api/docker/images/pull: {}",
        started.raw.body
    );
    let id = started.json["job"].as_str().unwrap_or_default().to_string();
    let location = format!("/api/docker/images/pull/{id}");
    assert_eq!(started.header("location"), Some(location.as_str()));
    wait_job(port, key, &id, limit)
}

/// The pull job `id` polled (every 100 ms) until it is no longer `running`, at most `limit`.
#[track_caller]
pub fn wait_job(port: u16, key: Option<&str>, id: &str, limit: Duration) -> Value {
    let path = format!("/api/docker/images/pull/{id}");
    let mut last = Value::Null;
    let done = wait_until(limit, Duration::from_millis(100), || {
        last = api_ok(port, "GET", &path, key, "");
        last["state"] != "running"
    });
    assert!(done, "pull job {id} still running after {limit:?}: {last}");
    last
}
