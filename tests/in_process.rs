//! The in-process tier: the hub built from a TOML string in this process, driven without a
//! socket or a pipe to a child hub. A stdio session runs over `tokio::io::duplex` through
//! `mcp_hub::downstream::stdio::serve_on`; the HTTP router answers `tower::ServiceExt::oneshot`
//! requests; restart backoff runs on a paused tokio clock. The only processes are the example
//! servers (`demo_server`, `fault_server`) where an upstream is needed. The whole file runs in a
//! few seconds; nothing here is retried (see .config/nextest.toml).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mcp_hub::config::HubConfig;
use mcp_hub::downstream::http::{router, HttpState};
use mcp_hub::hub::Hub;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use harness::{fill_template, meta26, HANDSHAKE_VERSIONS, MODERN_VERSION};

/// Bound on every answer in this file.
const ANSWER: Duration = Duration::from_secs(10);

/// A hub started in this process from a `hub.toml` template (see `harness::Config::new`;
/// `@TMP@` is a fresh temp dir, kept as long as the returned guard).
fn hub(template: &str) -> (Arc<Hub>, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let text = fill_template(template, tmp.path());
    let path = tmp.path().join("hub.toml");
    let config = HubConfig::from_str_at(&text, &path, &|_| None)
        .unwrap_or_else(|e| panic!("config does not parse: {e:?}\n{text}"));
    (Hub::start(config, None), tmp)
}

/// A tenant whose one server starts on first use (never, in the tests that use it): no process.
const NO_UPSTREAM: &str =
    "[tenants.default.servers.lazy]\ncommand = \"@DEMO@\"\nstart = \"lazy\"\n";
const DEMO: &str = "[tenants.default.servers.demo]\ncommand = \"@DEMO@\"\n";

// ------------------------------------------------------------------ stdio session over duplex

/// A client on one end of an in-memory pipe; the hub's session serves the other end.
struct Session {
    to_hub: DuplexStream,
    from_hub: Lines<BufReader<DuplexStream>>,
    stop: CancellationToken,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Session {
    fn open(hub: &Hub) -> Session {
        let tenant = hub
            .tenants()
            .values()
            .next()
            .expect("the config has a tenant")
            .clone();
        let (client_out, hub_in) = tokio::io::duplex(1 << 16);
        let (hub_out, client_in) = tokio::io::duplex(1 << 16);
        let stop = CancellationToken::new();
        let served = tokio::spawn(mcp_hub::downstream::stdio::serve_on(
            tenant,
            hub_in,
            hub_out,
            stop.clone(),
        ));
        Session {
            to_hub: client_out,
            from_hub: BufReader::new(client_in).lines(),
            stop,
            served,
        }
    }

    async fn send(&mut self, msg: Value) {
        let line = format!("{msg}\n");
        self.to_hub.write_all(line.as_bytes()).await.unwrap();
    }

    /// The answer to `id` (messages before it are skipped), within [`ANSWER`].
    async fn answer(&mut self, id: &Value) -> Value {
        let wait = async {
            loop {
                let line = self
                    .from_hub
                    .next_line()
                    .await
                    .unwrap()
                    .expect("the session ended before answering");
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if v.get("id") == Some(id) && v.get("method").is_none() {
                    return v;
                }
            }
        };
        tokio::time::timeout(ANSWER, wait)
            .await
            .unwrap_or_else(|_| panic!("no answer to {id} within {ANSWER:?}"))
    }

    async fn request(&mut self, id: Value, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await;
        self.answer(&id).await
    }

    async fn close(self) {
        drop(self.to_hub);
        self.stop.cancel();
        let _ = tokio::time::timeout(ANSWER, self.served).await;
    }
}

fn init_params(version: &str) -> Value {
    json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "in-process", "version": "1"}})
}

#[tokio::test]
async fn initialize_answers_each_handshake_version_with_itself() {
    let (hub, _tmp) = hub(NO_UPSTREAM);
    for version in HANDSHAKE_VERSIONS {
        let mut s = Session::open(&hub);
        let r = s
            .request(json!(1), "initialize", init_params(version))
            .await;
        assert_eq!(r["result"]["protocolVersion"], version, "{r}");
        assert_eq!(r["result"]["serverInfo"]["name"], "mcp-hub", "{r}");
        s.close().await;
    }
    hub.stop().await;
}

#[tokio::test]
async fn initialize_with_an_unknown_version_is_answered_with_the_latest_handshake_version() {
    let (hub, _tmp) = hub(NO_UPSTREAM);
    for unknown in ["1999-01-01", "2099-12-31", MODERN_VERSION] {
        let mut s = Session::open(&hub);
        let r = s
            .request(json!("i"), "initialize", init_params(unknown))
            .await;
        assert_eq!(
            r["result"]["protocolVersion"],
            mcp_hub::protocol::LATEST_HANDSHAKE,
            "{unknown}: {r}"
        );
        s.close().await;
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_2026_request_with_meta_is_served_without_initialize() {
    let (hub, _tmp) = hub(DEMO);
    let mut s = Session::open(&hub);
    let d = s
        .request(json!("d"), "server/discover", json!({"_meta": meta26()}))
        .await;
    let versions = d["result"]["supportedVersions"].to_string();
    assert!(versions.contains(MODERN_VERSION), "{d}");
    let c = s
        .request(
            json!("c"),
            "tools/call",
            json!({"_meta": meta26(), "name": "demo__echo", "arguments": {"message": "no handshake"}}),
        )
        .await;
    assert_eq!(
        c["result"]["content"][0]["text"], "Echo: no handshake",
        "{c}"
    );
    // `initialize` does not exist in 2026-07-28.
    let i = s
        .request(
            json!("i"),
            "initialize",
            json!({"_meta": meta26(), "protocolVersion": MODERN_VERSION}),
        )
        .await;
    assert_eq!(
        i["error"]["code"],
        mcp_hub::jsonrpc::METHOD_NOT_FOUND,
        "{i}"
    );
    s.close().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_request_before_initialize_gets_an_answer_and_an_unknown_meta_version_is_refused() {
    let (hub, _tmp) = hub(NO_UPSTREAM);
    let mut s = Session::open(&hub);
    let p = s.request(json!(1), "ping", json!({})).await;
    assert_eq!(p["result"], json!({}), "{p}");
    let r = s
        .request(
            json!(2),
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}}),
        )
        .await;
    assert_eq!(
        r["error"]["code"],
        mcp_hub::jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        "{r}"
    );
    assert_eq!(
        r["error"]["data"]["supported"],
        json!([MODERN_VERSION]),
        "{r}"
    );
    // The session goes on: initialize still works after both.
    let i = s
        .request(json!(3), "initialize", init_params("2025-06-18"))
        .await;
    assert_eq!(i["result"]["protocolVersion"], "2025-06-18", "{i}");
    s.close().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_hanging_call_times_out_with_an_error_naming_the_server() {
    let (hub, _tmp) = hub(
        "[tenants.default.servers.slowpoke]\ncommand = \"@FAULT@\"\nrequest_timeout = \"300ms\"\n",
    );
    let mut s = Session::open(&hub);
    s.request(json!(0), "initialize", init_params("2025-11-25"))
        .await;
    let started = std::time::Instant::now();
    let r = s
        .request(
            json!(1),
            "tools/call",
            json!({"name": "slowpoke__hang", "arguments": {}}),
        )
        .await;
    assert_eq!(r["error"]["code"], mcp_hub::jsonrpc::REQUEST_TIMEOUT, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`slowpoke`"),
        "{r}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    s.close().await;
    hub.stop().await;
}

// ------------------------------------------------------------------ HTTP router

const JSON: &str = "application/json";
const ACCEPT: &str = "application/json, text/event-stream";

fn post(body: &str, session: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/mcp")
        .header("host", "localhost")
        .header("content-type", JSON)
        .header("accept", ACCEPT);
    if let Some(s) = session {
        b = b
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

async fn body_text(r: axum::response::Response) -> String {
    let bytes = tokio::time::timeout(ANSWER, r.into_body().collect())
        .await
        .expect("a complete body")
        .unwrap()
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The JSON-RPC answer in a body: JSON, or the first SSE `data:` event with a result or error.
fn answer_of(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str(body) {
        return v;
    }
    harness::sse_messages(body)
        .into_iter()
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body:?}"))
}

#[tokio::test]
async fn http_initialize_opens_a_session_and_an_unknown_session_is_404() {
    let (hub, _tmp) = hub(NO_UPSTREAM);
    let app = router(HttpState::new(hub.clone()));
    let init =
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":init_params("2025-11-25")});
    let r = app
        .clone()
        .oneshot(post(&init.to_string(), None))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let session = r
        .headers()
        .get("mcp-session-id")
        .expect("initialize answers with Mcp-Session-Id")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!session.is_empty());
    let v = answer_of(&body_text(r).await);
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25", "{v}");

    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}).to_string();
    let r = app
        .clone()
        .oneshot(post(&list, Some("no-such-session")))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.oneshot(post(&list, Some(&session))).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the real session answers");
    hub.stop().await;
}

#[tokio::test]
async fn http_health_reports_the_upstreams() {
    let (hub, _tmp) = hub(NO_UPSTREAM);
    let app = router(HttpState::new(hub.clone()));
    let get = Request::get("/health")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let r = app.oneshot(get).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = serde_json::from_str(&body_text(r).await).unwrap();
    assert_eq!(v["status"], "healthy", "{v}");
    assert_eq!(v["components"]["sessions"], 0, "{v}");
    hub.stop().await;
}

// ------------------------------------------------------------------ backoff on a paused clock

#[test]
fn backoff_doubles_from_the_initial_delay_up_to_the_cap_with_jitter() {
    let cfg = HubConfig::from_str_at(
        "[hub.restart]\ninitial_backoff = \"1s\"\nmax_backoff = \"10s\"\n[tenants.default.servers.x]\ncommand = \"x\"\n",
        Path::new("hub.toml"),
        &|_| None,
    )
    .unwrap();
    let p = &cfg.hub.restart;
    let b = |attempt, jitter| mcp_hub::supervisor::backoff(p, attempt, jitter);
    assert_eq!(b(1, 0.5), Duration::from_secs(1));
    assert_eq!(b(2, 0.5), Duration::from_secs(2));
    assert_eq!(b(3, 0.5), Duration::from_secs(4));
    assert_eq!(b(4, 0.5), Duration::from_secs(8));
    assert_eq!(b(5, 0.5), Duration::from_secs(10), "capped at max_backoff");
    assert_eq!(b(60, 0.5), Duration::from_secs(10), "no overflow");
    // Jitter spreads each delay over ±20 %.
    assert_eq!(b(2, 0.0), Duration::from_millis(1600));
    assert_eq!(b(2, 1.0), Duration::from_millis(2400));
}

/// The GET /health document, through the router.
async fn health(app: &axum::Router) -> Value {
    let get = Request::get("/health")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let r = app.clone().oneshot(get).await.unwrap();
    serde_json::from_str(&body_text(r).await).unwrap()
}

/// A server that cannot start is restarted after 10, 20, 40 minutes (±20 %), then given up on:
/// on a paused clock the hours pass at once, and /health shows each step.
#[tokio::test(start_paused = true)]
async fn a_server_that_cannot_start_is_retried_with_backoff_then_given_up() {
    let (hub, _tmp) = hub(r#"
[tenants.default.servers.gone]
command = "/nonexistent/mcp-hub-test-server"
restart = { policy = "always", max_retries = 3, initial_backoff = "10m", max_backoff = "1h" }
"#);
    let app = router(HttpState::new(hub.clone()));
    let gone = |h: &Value| h["upstreams"]["default/gone"].clone();
    let minutes = |m: u64| tokio::time::sleep(Duration::from_secs(60 * m));

    minutes(1).await;
    let h = health(&app).await;
    assert_eq!(gone(&h)["restarts"], 1, "{h}");
    assert_eq!(gone(&h)["state"], "backoff", "{h}");
    minutes(6).await; // 7 min: the first delay is at least 8 min
    assert_eq!(gone(&health(&app).await)["restarts"], 1);
    minutes(6).await; // 13 min: and at most 12 min
    assert_eq!(gone(&health(&app).await)["restarts"], 2);
    minutes(80).await; // 93 min: past 12 + 24 + 48 min
    let h = health(&app).await;
    assert_eq!(gone(&h)["restarts"], 3, "{h}");
    assert_eq!(gone(&h)["state"], "failed", "{h}");
    assert!(
        gone(&h)["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("mcp-hub-test-server")),
        "{h}"
    );
    hub.stop().await;
}
