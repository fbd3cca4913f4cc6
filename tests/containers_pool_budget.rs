//! Issue #13, what the operator sees of containers that stay down or that nobody owns, against a
//! real engine (podman's Docker-compatible service): a pool member of a server with
//! `restart.policy = "never"` killed → the pool serves with `2/3` members, shown by
//! `/api/docker/containers`, `mcp-hub status --url` and `/health` (`degraded`), and warned in
//! the log naming the server; `POST /api/docker/cleanup` removes a true orphan (a running
//! container with the instance's labels that no connection of the hub owns) at once and spares
//! a `share = "session"` server's container, whose session goes on working.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::engine::{hostroot_server, hub_toml, instance_label, test_instance, Engine};
use harness::{api_ok, wait_until, StdioHub, HUB_BIN};
use serde_json::{json, Value};

fn demo() -> Vec<String> {
    vec!["/hub/mcp-hub".into(), "demo-server".into()]
}

#[test]
fn a_pool_member_that_may_not_restart_leaves_the_pool_short_and_says_so() {
    let engine = Engine::shared();
    let inst = test_instance("poolnever");
    let servers = format!(
        "{}\n[tenants.t.servers.pool.restart]\npolicy = \"never\"\n",
        hostroot_server("t", "pool", &demo(), "strategy = \"pre-warmed\"\npool = 3")
    );
    let port = harness::free_port();
    let mut hub = StdioHub::start_with(
        &hub_toml(&engine, &inst, "", &servers),
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    let view = || api_ok(port, "GET", "/api/docker/containers/t/pool", None, "");
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            view()["pool_up"] == "3/3"
        }),
        "the pool did not come up: {:#}\n{}",
        view(),
        hub.log()
    );
    let victim = view()["pool"][1]["id"].as_str().unwrap().to_string();
    let out = engine.podman(&["kill", &victim]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Not replaced: 2/3, everywhere the operator looks.
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
            view()["pool_up"] == "2/3"
        }),
        "the API shows the pool short: {:#}",
        view()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(view()["pool_up"], "2/3", "and it stays short: {:#}", view());
    assert_eq!(view()["pool"][1]["state"], "failed", "{:#}", view());
    let list = api_ok(port, "GET", "/api/docker/containers", None, "");
    assert!(
        list.to_string().contains("\"pool_up\":\"2/3\""),
        "the list shows it too: {list}"
    );
    let health = harness::api(port, "GET", "/health", None, "");
    assert_eq!(health.status, 200, "{}", health.raw.body);
    let health = health.json;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        health["upstreams"]["t/pool"]["container"]["pool"],
        json!({"total": 3, "up": 2}),
        "{health}"
    );
    let status = std::process::Command::new(HUB_BIN)
        .args(["status", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("pool 2/3 up"), "mcp-hub status: {text}");
    assert_eq!(
        status.status.code(),
        Some(1),
        "a short pool is not all up: {text}"
    );
    let log = hub.log();
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("pool `pool` serves with 2/3 members")
            && l.contains("member 2")),
        "the log warns naming the server: {log}"
    );

    // The pool serves on with the members left.
    for i in 0..4 {
        let a = hub.call("pool__echo", json!({"message": format!("m{i}")}));
        assert!(a.get("result").is_some(), "{a}\n{}", hub.log());
    }
    let (st, log) = hub.finish();
    assert!(st.success(), "{log}");
    assert!(engine.containers(&instance_label(&inst)).is_empty());
}

#[test]
fn cleanup_removes_a_true_orphan_at_once_and_spares_a_sessions_own_container() {
    let engine = Engine::shared();
    let inst = test_instance("cleanup");
    let servers = hostroot_server("t", "own", &demo(), "")
        + "\n[tenants.t.servers.own]\nshare = \"session\"\n";
    let port = harness::free_port();
    let mut hub = StdioHub::start_with(
        &hub_toml(&engine, &inst, "", &servers),
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    let first = hub.call("own__echo", json!({"message": "one"}));
    assert!(first.get("result").is_some(), "{first}\n{}", hub.log());
    // The server's shared container (it lists the catalog) and the session's own.
    let names = |c: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = c
            .iter()
            .filter(|c| c["State"] == "running")
            .map(|c| c["Names"][0].as_str().unwrap_or_default().to_string())
            .collect();
        v.sort();
        v
    };
    let mine = names(&engine.containers(&instance_label(&inst)));
    assert_eq!(
        mine.len(),
        2,
        "the shared and the session's own container run: {mine:?}"
    );

    // An orphan: running, with the instance's label, owned by no connection of this hub.
    let orphan = format!("mcp-hub-{inst}-orphan");
    let out = engine.podman(&[
        "run",
        "-d",
        "--name",
        &orphan,
        "--label",
        &format!("io.mcp-hub.instance={inst}"),
        "-v",
        "/usr:/usr:ro",
        harness::engine::HOSTROOT,
        "/usr/bin/sleep",
        "300",
    ]);
    assert!(
        out.status.success(),
        "podman run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let cleaned = api_ok(port, "POST", "/api/docker/cleanup", None, "");
    let removed: Vec<&str> = cleaned["removed"]
        .as_array()
        .unwrap_or_else(|| panic!("{cleaned}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        removed,
        vec![orphan.as_str()],
        "only the orphan goes, at once: {cleaned}"
    );
    let left = names(&engine.containers(&instance_label(&inst)));
    assert_eq!(
        left, mine,
        "the hub's own containers are spared, the orphan is gone"
    );
    let again = hub.call("own__echo", json!({"message": "two"}));
    assert!(
        again["result"].to_string().contains("two"),
        "the session goes on on its container: {again}"
    );

    let (st, log) = hub.finish();
    assert!(st.success(), "{log}");
    assert!(engine.wait(Duration::from_secs(10), |e| e
        .containers(&instance_label(&inst))
        .is_empty()));
}
