//! Remote upstreams behind the hub: server-everything over Streamable HTTP and legacy SSE, a
//! 2026-07-28 server (another mcp-hub, served statelessly), bearer tokens from the environment,
//! a remote that dies mid-call and comes back, and a remote that forgets its sessions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{first_text as text, free_port, serve_hub, EverythingHttp, StdioHub as Hub};
use serde_json::{json, Value};

/// Calls `tool` until it answers (the upstream may still be reconnecting).
fn call_until_ok(hub: &mut Hub, tool: &str, args: Value, limit: Duration) -> Value {
    let until = Instant::now() + limit;
    loop {
        let r = hub.call(tool, args.clone());
        if r.get("result").is_some() {
            return r;
        }
        assert!(
            Instant::now() < until,
            "{tool} did not come back: {r}\nhub log:\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn streamable_http_and_legacy_sse_servers_join_the_catalog_with_progress() {
    let (hp, sp) = (free_port(), free_port());
    let _http = EverythingHttp::start_on("streamableHttp", hp);
    let _sse = EverythingHttp::start_on("sse", sp);
    let mut hub = Hub::start(&format!(
        r#"
[hub]
request_timeout = "20s"
[tenants.t.servers.evhttp]
url = "http://127.0.0.1:{hp}/mcp"
transport = "streamable-http"
[tenants.t.servers.evsse]
url = "http://127.0.0.1:{sp}/sse"
transport = "sse"
[tenants.t.servers.evauto]
url = "http://127.0.0.1:{sp}/sse"
"#
    ));
    let names = hub.tool_names();
    for s in ["evhttp", "evsse", "evauto"] {
        assert!(
            names.contains(&format!("{s}__echo")),
            "{s}__echo missing from {names:?}"
        );
        assert_eq!(
            text(&hub.call(&format!("{s}__echo"), json!({"message": s}))),
            format!("Echo: {s}")
        );
    }
    assert!(
        hub.log().contains("no Streamable HTTP at") && hub.log().contains("using legacy SSE"),
        "auto mode should say it fell back:\n{}",
        hub.log()
    );
    // Resources come back under namespaced URIs, read through the remote.
    let res = hub.request("resources/list", json!({}));
    let uri = res["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_string())
        .find(|u| u.starts_with("demo://evhttp__"))
        .expect("a namespaced evhttp resource");
    let read = hub.request("resources/read", json!({"uri": uri}));
    assert_eq!(read["result"]["contents"][0]["uri"], json!(uri), "{read}");
    // Progress arrives from both transports.
    for s in ["evhttp", "evsse"] {
        let id = hub.send_request("tools/call", json!({"name": format!("{s}__trigger-long-running-operation"), "arguments": {"duration": 0.4, "steps": 2}, "_meta": {"progressToken": s}}));
        let done = hub.wait_for(&json!(id), Duration::from_secs(10));
        assert!(
            text(&done).starts_with("Long running operation completed"),
            "{done}"
        );
        let progress: Vec<&Value> = hub
            .notes
            .iter()
            .filter(|n| {
                n["method"] == "notifications/progress" && n["params"]["progressToken"] == s
            })
            .collect();
        assert_eq!(progress.len(), 2, "progress from {s}: {progress:?}");
    }
}

#[test]
fn a_remote_killed_mid_call_fails_it_fast_and_returns_when_restarted() {
    let port = free_port();
    let mut server = EverythingHttp::start_on("streamableHttp", port);
    let mut hub = Hub::start(&format!(
        r#"
[hub]
request_timeout = "30s"
[hub.restart]
policy = "always"
initial_backoff = "200ms"
max_backoff = "1s"
max_retries = 50
[tenants.t.servers.remote]
url = "http://127.0.0.1:{port}/mcp"
connect_timeout = "2s"
[tenants.t.servers.demo]
command = "@DEMO@"
"#
    ));
    assert_eq!(
        text(&hub.call("remote__echo", json!({"message":"up"}))),
        "Echo: up"
    );
    let id = hub.send_request("tools/call", json!({"name":"remote__trigger-long-running-operation","arguments":{"duration":10,"steps":10}}));
    std::thread::sleep(Duration::from_millis(300));
    let killed = Instant::now();
    server.kill();
    let r = hub.wait_for(&json!(id), Duration::from_secs(5));
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "the call failed only after {:?}",
        killed.elapsed()
    );
    assert_eq!(r["error"]["code"], -32000, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("`remote`"),
        "{r}"
    );
    // The rest keeps working, and the remote's tools leave the catalog.
    assert_eq!(
        text(&hub.call("demo__echo", json!({"message":"still"}))),
        "Echo: still"
    );
    let until = Instant::now() + Duration::from_secs(5);
    while hub.tool_names().iter().any(|n| n.starts_with("remote__")) {
        assert!(
            Instant::now() < until,
            "the dead remote's tools stayed in the catalog"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    hub.notes.clear();
    // Restarted on the same port, it comes back, and the client is told.
    let _server = EverythingHttp::start_on("streamableHttp", port);
    assert_eq!(
        text(&call_until_ok(
            &mut hub,
            "remote__echo",
            json!({"message":"back"}),
            Duration::from_secs(15)
        )),
        "Echo: back"
    );
    assert!(hub.tool_names().contains(&"remote__echo".to_string()));
    assert!(
        hub.notes
            .iter()
            .any(|n| n["method"] == "notifications/tools/list_changed"),
        "no list_changed after the remote came back"
    );
}

#[test]
fn a_remote_that_forgets_its_sessions_is_renewed_without_the_client_noticing() {
    let port = free_port();
    let mut server = EverythingHttp::start_on("streamableHttp", port);
    let mut hub = Hub::start(&format!(
        r#"
[hub.restart]
policy = "always"
initial_backoff = "100ms"
max_retries = 50
[tenants.t.servers.remote]
url = "http://127.0.0.1:{port}/mcp"
"#
    ));
    let res = hub.request("resources/list", json!({}));
    let uri = res["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        hub.request("resources/read", json!({"uri": uri}))["result"]["contents"][0]["uri"],
        json!(uri)
    );
    // Past the hub's own re-read of the lists (500 ms after its GET stream opens): made while
    // the server is down, it would find the server unreachable and restart the connection,
    // which is not the path this test is about.
    std::thread::sleep(Duration::from_millis(1500));
    // A restart makes the server forget every session id.
    server.kill();
    let _server = EverythingHttp::start_on("streamableHttp", port);
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let r = hub.request("resources/read", json!({"uri": uri}));
        if r["result"]["contents"][0]["uri"] == json!(uri) {
            break;
        }
        assert!(
            Instant::now() < until,
            "reading after the restart kept failing: {r}\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        text(&hub.call("remote__echo", json!({"message":"renewed"}))),
        "Echo: renewed"
    );
    let log = hub.log();
    assert!(
        log.contains("upstream forgot the session; initializing again"),
        "the session should have been renewed in place:\n{log}"
    );
}

#[test]
fn a_bearer_token_from_the_environment_opens_a_remote_hub_and_never_reaches_the_log() {
    let token = "remote-secret-7f3a9c1e5b";
    let a = serve_hub(
        "[tenants.inner]\napi_keys = [\"${INNER_KEY}\"]\n[tenants.inner.servers.demo]\ncommand = \"@DEMO@\"\n",
        &[("INNER_KEY", token)],
    );
    let port = a.port;
    let cfg = format!(
        r#"
[tenants.t.servers.inner]
url = "http://127.0.0.1:{port}/mcp"
headers = {{ Authorization = "Bearer ${{INNER_TOKEN}}" }}
[tenants.t.servers.nokey]
url = "http://127.0.0.1:{port}/mcp"
restart = {{ policy = "never" }}
"#
    );
    std::env::set_var("INNER_TOKEN", token);
    let mut hub = Hub::start(&cfg);
    assert_eq!(
        text(&hub.call("inner__demo__echo", json!({"message":"through two hubs"}))),
        "Echo: through two hubs"
    );
    let st = hub.call("nokey__demo__echo", json!({}));
    assert!(
        st["error"]["message"].as_str().unwrap().contains("401"),
        "without the key the remote refuses: {st}"
    );
    assert!(
        !hub.log().contains(token),
        "the token reached the log:\n{}",
        hub.log()
    );
}

#[test]
fn a_2026_remote_is_served_statelessly_and_its_list_changes_arrive() {
    let a = serve_hub("[tenants.inner.servers.demo]\ncommand = \"@DEMO@\"\n", &[]);
    let port = a.port;
    let mut hub = Hub::start(&format!(
        r#"
[tenants.t.servers.inner]
url = "http://127.0.0.1:{port}/mcp"
protocol = "2026-07-28"
"#
    ));
    assert!(
        hub.log().contains("connected (stateless era)") || {
            let _ = hub.tool_names();
            hub.log().contains("connected (stateless era)")
        }
    );
    assert_eq!(
        text(&hub.call("inner__demo__echo", json!({"message":"stateless"}))),
        "Echo: stateless"
    );
    hub.notes.clear();
    assert!(hub
        .call("inner__demo__toggle_extra", json!({}))
        .get("result")
        .is_some());
    let until = Instant::now() + Duration::from_secs(5);
    while !hub.tool_names().contains(&"inner__demo__extra".to_string()) {
        assert!(
            Instant::now() < until,
            "the remote's new tool never appeared:\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(hub
        .notes
        .iter()
        .any(|n| n["method"] == "notifications/tools/list_changed"));
}
