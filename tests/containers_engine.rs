//! Issue #13: the engine's service restarted under a running hub. It runs on an engine of its
//! own (a scratch folder, stopped by its PID), so restarting it disturbs no other test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::engine::{hostroot_volumes, Engine, HOSTROOT};
use harness::StdioHub;
use serde_json::json;

#[test]
fn an_engine_restarted_under_the_hub_takes_the_upstream_down_then_back_and_leaves_nothing() {
    let scratch = tempfile::Builder::new()
        .prefix("mcp-hub-engine-")
        .tempdir()
        .unwrap();
    let engine = Engine::private(scratch.path());
    let inst = format!("t{}-restart", std::process::id());
    let toml = format!(
        r#"
[hub]
shutdown_grace = "1s"
startup_timeout = "30s"

[hub.containers]
socket = "{socket}"
instance = "{inst}"

[tenants.t.servers.demo.container]
image = "{HOSTROOT}"
args = ["/hub/mcp-hub", "demo-server"]
volumes = {volumes}
pull = "never"
strategy = "always-on"

[tenants.t.servers.demo.restart]
initial_backoff = "200ms"
max_backoff = "1s"
max_retries = 30
"#,
        socket = engine.socket,
        volumes = hostroot_volumes()
    );
    let label = format!("io.mcp-hub.instance={inst}");
    let mut hub = StdioHub::start(&toml);
    let echo = hub.call("demo__echo", json!({"message": "before"}));
    assert!(echo.to_string().contains("before"), "{echo}\n{}", hub.log());

    engine.stop();
    // The upstream goes down and the hub says so.
    let down = hub.call("demo__echo", json!({"message": "while down"}));
    assert!(
        down.get("error").is_some() || down["result"]["isError"] == true,
        "a call while the engine is down: {down}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        hub.log().contains("upstream is down"),
        "the hub reports the upstream down:\n{}",
        hub.log()
    );

    engine.start();
    let mut back = false;
    for _ in 0..100 {
        let a = hub.call("demo__echo", json!({"message": "after"}));
        if a.to_string().contains("after") && a.get("error").is_none() {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(back, "the upstream did not come back:\n{}", hub.log());
    let running = engine
        .containers(&label)
        .iter()
        .filter(|c| c["State"] == "running")
        .count();
    assert_eq!(running, 1, "{:?}", engine.containers(&label));

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.containers(&label).is_empty(),
        "left behind: {:?}",
        engine.containers(&label)
    );
}
