//! Issue #11, operate the hub: the operator's hand on servers and tenants through the REST admin
//! API, against `mcp-hub serve` with real upstreams (server-everything on node, mcp-server-time
//! from the py2 venv, the demo server): start/stop/restart of a server (its process and its tools
//! come and go; a start of a running server is an idempotent 200), stop/start of a tenant (new
//! MCP sessions get 503 with a clear error, calls 503, server actions 409; other tenants run on).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::{
    api, api_ok, names, pid_alive, refused, server_pid, text_of, wait_servers, wait_until,
    ServedHub,
};

const ADMIN: &str = "adm-control-4e9b2d7a1c5f";
const ACME: &str = "k-acme-1d7f3c9e5a2b";

const TWO_TENANTS: &str = r#"
[hub]
request_timeout = "20s"
startup_timeout = "30s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[hub.admin]
api_keys = ["adm-control-4e9b2d7a1c5f"]
watch = false

[tenants.acme]
api_keys = ["k-acme-1d7f3c9e5a2b"]

[tenants.acme.servers.demo]
command = "@DEMO@"

[tenants.acme.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]

[tenants.acme.servers.time]
command = "@TIME@"
args = ["--local-timezone", "UTC"]

[tenants.other]
api_keys = ["k-other-8e4a6c2f0b9d"]

[tenants.other.servers.payroll]
command = "@DEMO@"
"#;

/// A server stopped, started (twice) and restarted; the tenant stopped (twice) and started
/// (twice), with what clients and the API see at each step.
#[test]
fn servers_and_tenants_stop_start_and_restart() {
    let started = std::time::Instant::now();
    let hub = ServedHub::from_toml(TWO_TENANTS);
    let p = hub.port;
    let admin = Some(ADMIN);
    let acme = Some(ACME);
    wait_servers(p, admin, "acme", "up", &[], Duration::from_secs(60));
    wait_servers(p, admin, "other", "up", &[], Duration::from_secs(30));
    let call = |tool: &str, body: &str| {
        api(
            p,
            "POST",
            &format!("/api/tenants/acme/tools/{tool}/call"),
            acme,
            body,
        )
    };

    // Stop a server: its process ends, its tools leave the catalog, a call of one is 404; a
    // second stop changes nothing.
    let demo_pid = server_pid(p, admin, "acme", "demo").expect("demo's pid");
    let r = api_ok(p, "POST", "/api/servers/acme/demo/stop", acme, "");
    assert_eq!(r["stopped"], true, "{r}");
    assert_eq!(r["server"]["state"], "stopped", "{r}");
    assert_eq!(r["server"]["running"], false, "{r}");
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || !pid_alive(demo_pid as i32)
    ));
    let now = names(&api_ok(p, "GET", "/api/tenants/acme/tools", acme, "")["tools"]);
    assert!(!now.iter().any(|t| t.starts_with("demo__")), "{now:?}");
    assert!(now.iter().any(|t| t.starts_with("everything__")), "{now:?}");
    refused(
        &call("demo__echo", r#"{"message":"x"}"#),
        404,
        "unknown_tool",
    );
    assert_eq!(
        api_ok(p, "POST", "/api/servers/acme/demo/stop", acme, "")["stopped"],
        false
    );
    // Start it: its tools come back; a second start is a 200 that changes nothing.
    assert_eq!(
        api_ok(p, "POST", "/api/servers/acme/demo/start", acme, "")["started"],
        true
    );
    wait_servers(p, admin, "acme", "up", &[], Duration::from_secs(20));
    let back = names(&api_ok(p, "GET", "/api/tenants/acme/tools", acme, "")["tools"]);
    harness::assert_has(&back, "demo__echo", "after start");
    let new_pid = server_pid(p, admin, "acme", "demo").expect("a new pid");
    let again = api_ok(p, "POST", "/api/servers/acme/demo/start", acme, "");
    assert_eq!(
        (
            again["started"].as_bool(),
            again["server"]["state"].as_str()
        ),
        (Some(false), Some("up"))
    );
    assert_eq!(
        server_pid(p, admin, "acme", "demo"),
        Some(new_pid),
        "an idempotent start"
    );
    // Restart: a new process.
    assert_eq!(
        api_ok(p, "POST", "/api/servers/acme/demo/restart", admin, "")["restarted"],
        true
    );
    wait_servers(p, admin, "acme", "up", &[], Duration::from_secs(20));
    let restarted = server_pid(p, admin, "acme", "demo").expect("a pid after restart");
    assert_ne!(restarted, new_pid);
    assert!(!pid_alive(new_pid as i32));
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/acme/tools/demo__echo/call",
        acme,
        r#"{"message":"again"}"#,
    );
    assert!(text_of(&r).contains("again"), "{r}");

    // Stop the tenant: every server stops, new MCP sessions get 503 with a clear error, calls
    // get 503, server actions 409; `other` is untouched.
    let other_pid = server_pid(p, admin, "other", "payroll");
    let r = api_ok(p, "POST", "/api/tenants/acme/stop", acme, "");
    assert_eq!(
        (r["stopped"].as_bool(), r["changed"].as_bool()),
        (Some(true), Some(true)),
        "{r}"
    );
    let t = api_ok(p, "GET", "/api/tenants/acme", admin, "");
    assert_eq!(t["stopped"], true);
    for s in t["servers"].as_array().unwrap() {
        assert_eq!(s["running"], false, "{s}");
    }
    assert!(!pid_alive(restarted as i32));
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"op","version":"1"}}}"#;
    let auth = format!("Bearer {ACME}");
    let mcp = harness::http_request(
        p,
        "POST",
        "/t/acme/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Authorization", &auth),
        ],
        init.as_bytes(),
    )
    .unwrap();
    assert_eq!(mcp.status, 503, "{}", mcp.body);
    let msg = mcp
        .json()
        .map(|v| v["error"]["message"].to_string())
        .unwrap_or_default();
    assert!(msg.contains("stopped"), "a clear error: {}", mcp.body);
    refused(
        &call("everything__echo", r#"{"message":"x"}"#),
        503,
        "tenant_stopped",
    );
    refused(
        &api(p, "POST", "/api/servers/acme/demo/start", acme, ""),
        409,
        "tenant_stopped",
    );
    refused(
        &api(p, "POST", "/api/servers/acme/demo/restart", acme, ""),
        409,
        "tenant_stopped",
    );
    assert_eq!(
        api_ok(p, "POST", "/api/tenants/acme/stop", acme, "")["changed"],
        false
    );
    assert_eq!(
        server_pid(p, admin, "other", "payroll"),
        other_pid,
        "other runs on"
    );
    // Start it again: everything comes back.
    let r = api_ok(p, "POST", "/api/tenants/acme/start", acme, "");
    assert_eq!(
        (r["started"].as_bool(), r["stopped"].as_bool()),
        (Some(true), Some(false)),
        "{r}"
    );
    assert_eq!(
        api_ok(p, "POST", "/api/tenants/acme/start", acme, "")["started"],
        false
    );
    wait_servers(p, admin, "acme", "up", &[], Duration::from_secs(60));
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/acme/tools/time__get_current_time/call",
        acme,
        r#"{"timezone":"UTC"}"#,
    );
    assert!(text_of(&r).contains("UTC"), "{r}");
    let mcp = harness::http_request(
        p,
        "POST",
        "/t/acme/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Authorization", &auth),
        ],
        init.as_bytes(),
    )
    .unwrap();
    assert_eq!(mcp.status, 200, "{}", mcp.body);

    eprintln!("stop/start/restart took {:?}", started.elapsed());
}
