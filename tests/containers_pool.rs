//! Issue #13, pre-warmed pools and per-tenant limits, against a real engine (podman's
//! Docker-compatible service, started by the harness): a pool of 3 spreads 30 concurrent calls
//! (told apart by each container's own `HOSTNAME`), a member killed mid-call fails that call at
//! once naming the server and is replaced; each member's server-to-client request reaches the
//! calling session; `[tenants.<t>] max_containers` refuses a start beyond it, naming the key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use harness::engine::{hostroot_volumes, Engine, HOSTROOT};
use harness::{api_ok, mcp_call_2026, wait_until, Config, ServedHub, StdioHub};
use serde_json::{json, Value};

fn instance(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

fn label(instance: &str) -> String {
    format!("io.mcp-hub.instance={instance}")
}

fn running(c: &[Value]) -> usize {
    c.iter().filter(|c| c["State"] == "running").count()
}

/// `[hub]` and `[hub.containers]` for a test on `engine`, then `servers`.
fn config(engine: &Engine, instance: &str, servers: &str) -> String {
    format!(
        r#"
[hub]
shutdown_grace = "1s"
startup_timeout = "30s"
request_timeout = "20s"

[hub.containers]
socket = "{socket}"
instance = "{instance}"

{servers}
"#,
        socket = engine.socket,
    )
}

/// The `HOSTNAME` a container's server-everything reports (`get-env`): the container's id.
fn hostname_of(answer: &Value) -> Option<String> {
    let text = answer["result"]["content"][0]["text"].as_str()?;
    let env: Value = serde_json::from_str(text).ok()?;
    env["HOSTNAME"].as_str().map(str::to_string)
}

/// A 2026-07-28 `tools/call` through the hub's Streamable HTTP endpoint: the JSON-RPC answer.
fn call(port: u16, tool: &str, args: Value) -> Value {
    let r = mcp_call_2026(port, "/t/t/mcp", None, tool, args);
    r.json()
        .unwrap_or_else(|| panic!("no JSON-RPC answer ({}): {}", r.status, r.body))
}

/// Server `pool`: server-everything in a pre-warmed pool of three `localhost/hostroot` containers.
fn everything_pool() -> String {
    let deps = harness::Deps::get();
    format!(
        r#"
[tenants.t.servers.pool.container]
image = "{HOSTROOT}"
args = ["{node}", "{everything}", "stdio"]
volumes = {volumes}
pull = "never"
strategy = "pre-warmed"
pool = 3
"#,
        node = deps.node().display(),
        everything = deps.everything().display(),
        volumes = hostroot_volumes()
    )
}

/// The pool's members, as `/api/docker/containers/{t}/{s}` shows them, are three, up and running.
fn all_up(view: &Value) -> bool {
    view["pool"].as_array().is_some_and(|m| {
        m.len() == 3 && m.iter().all(|m| m["state"] == "up" && m["running"] == true)
    })
}

#[test]
fn a_pool_of_three_spreads_calls_and_replaces_a_member_killed_mid_call() {
    let engine = Engine::shared();
    let inst = instance("pool");
    let hub = ServedHub::start(Config::new(&config(&engine, &inst, &everything_pool())));
    let port = hub.port;
    let view = || api_ok(port, "GET", "/api/docker/containers/t/pool", None, "");
    // Kept ready from the hub's start, each member its own container.
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            all_up(&view())
        }),
        "the pool did not come up: {:#}\n{}",
        view(),
        hub.log()
    );
    assert_eq!(running(&engine.containers(&label(&inst))), 3);

    // 30 concurrent calls: all answered, spread over the three containers.
    let answers: Vec<Value> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..30)
            .map(|_| s.spawn(move || call(port, "pool__get-env", json!({}))))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for a in &answers {
        let host = hostname_of(a).unwrap_or_else(|| panic!("not an env answer: {a}"));
        *per_host.entry(host).or_default() += 1;
    }
    eprintln!("30 calls over the pool: {per_host:?}");
    assert_eq!(per_host.values().sum::<usize>(), 30, "{per_host:?}");
    assert_eq!(per_host.len(), 3, "every member served calls: {per_host:?}");
    assert!(
        per_host.values().all(|n| *n >= 5),
        "calls spread over the members: {per_host:?}"
    );

    // A slow call in flight on one member; that member's container is killed.
    let slow = std::thread::spawn(move || {
        let answer = call(
            port,
            "pool__trigger-long-running-operation",
            json!({"duration": 12, "steps": 12}),
        );
        (answer, Instant::now())
    });
    let mut busy = String::new();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            let v = view();
            let m = v["pool"].as_array().into_iter().flatten();
            let found = m
                .filter(|m| m["in_flight"].as_u64() == Some(1))
                .find_map(|m| m["id"].as_str().map(str::to_string));
            busy = found.unwrap_or_default();
            !busy.is_empty()
        }),
        "no member shows the slow call in flight: {:#}",
        view()
    );
    let killed_at = Instant::now();
    let out = engine.podman(&["kill", &busy]);
    assert!(
        out.status.success(),
        "podman kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (answer, at) = slow.join().unwrap();
    let waited = at.duration_since(killed_at);
    let error = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        error.contains("pool"),
        "the call on the killed member fails naming the server: {answer}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "the call failed {waited:?} after the kill, not at once: {answer}"
    );
    eprintln!("call on the killed member failed {waited:?} after the kill: {error}");

    // Later calls succeed (on the members left, then on the replacement).
    for _ in 0..6 {
        let a = call(port, "pool__get-env", json!({}));
        assert!(hostname_of(&a).is_some(), "{a}\n{}", hub.log());
    }
    // The pool is refilled: three running containers again, the killed one gone.
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            all_up(&view()) && running(&engine.containers(&label(&inst))) == 3
        }),
        "the pool was not refilled: {:#}\n{:?}\n{}",
        view(),
        engine.containers(&label(&inst)),
        hub.log()
    );
    let ids: Vec<String> = view()["pool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !ids.contains(&busy),
        "the killed container is still a member: {ids:?}"
    );
    let (code, health) = hub.health().unwrap();
    assert_eq!(code, 200, "{health}");
    assert_eq!(
        health["upstreams"]["t/pool"]["container"]["pool"],
        json!({"total": 3, "up": 3}),
        "{health}"
    );
    assert_eq!(health["status"], "healthy", "{health}");

    // The operator's stop answers once every member's container is gone; a start brings all back.
    let stopped = api_ok(port, "POST", "/api/docker/containers/t/pool/stop", None, "");
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert_eq!(
        running(&engine.containers(&label(&inst))),
        0,
        "a stop waits for every member: {:?}",
        engine.containers(&label(&inst))
    );
    let started = api_ok(
        port,
        "POST",
        "/api/docker/containers/t/pool/start",
        None,
        "",
    );
    assert_eq!(started["started"], true, "{started}");
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            all_up(&view()) && running(&engine.containers(&label(&inst))) == 3
        }),
        "the pool did not start again: {:#}\n{}",
        view(),
        hub.log()
    );

    drop(hub);
    assert!(
        engine.wait(Duration::from_secs(15), |e| e
            .containers(&label(&inst))
            .is_empty()),
        "left after the hub stopped: {:?}",
        engine.containers(&label(&inst))
    );
}

#[test]
fn a_tenants_max_containers_refuses_a_start_beyond_it_naming_the_key() {
    let engine = Engine::shared();
    let inst = instance("tmax");
    let demo = |name: &str| {
        format!(
            r#"
[tenants.t.servers.{name}.container]
image = "{HOSTROOT}"
args = ["/hub/mcp-hub", "demo-server"]
volumes = {volumes}
pull = "never"
idle_timeout = "60s"

[tenants.t.servers.{name}.restart]
policy = "never"
"#,
            volumes = hostroot_volumes()
        )
    };
    let servers = format!(
        "[tenants.t]\nmax_containers = 1\n{}{}",
        demo("a"),
        demo("b")
    );
    let mut hub = StdioHub::start(&config(&engine, &inst, &servers));
    // The first list starts both once to learn their catalogs: one start is refused.
    let _ = hub.tool_names();
    let a = hub.call("a__echo", json!({"message": "one"}));
    let b = hub.call("b__echo", json!({"message": "two"}));
    let (ok, refused) = if a.get("result").is_some() {
        (a, b)
    } else {
        (b, a)
    };
    assert!(ok.get("result").is_some(), "{ok}\n{}", hub.log());
    let msg = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("`tenants.t.max_containers`") && msg.contains("already runs 1"),
        "the refusal names the key: {refused}\n{}",
        hub.log()
    );
    assert_eq!(running(&engine.containers(&label(&inst))), 1);
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&label(&inst)).is_empty());
}

#[test]
fn each_pool_members_sampling_request_reaches_the_calling_session_and_its_answer_goes_back() {
    let engine = Engine::shared();
    let inst = instance("poolrelay");
    let port = harness::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut hub = StdioHub::start_with(
        &config(&engine, &inst, &everything_pool()),
        &["--listen", &addr],
    );
    let view = || api_ok(port, "GET", "/api/docker/containers/t/pool", None, "");
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            all_up(&view())
        }),
        "the pool did not come up: {:#}\n{}",
        view(),
        hub.log()
    );
    let tools = hub.tool_names();
    assert!(
        tools.contains(&"pool__trigger-sampling-request".to_string()),
        "{tools:?}"
    );
    // Three calls at once, each waiting for its sampling answer: one on each member.
    let calls: Vec<u64> = (0..3)
        .map(|i| {
            hub.send_request(
                "tools/call",
                json!({"name": "pool__trigger-sampling-request", "arguments": {"prompt": format!("question {i}"), "maxTokens": 10}}),
            )
        })
        .collect();
    // Read from the hub's stdout itself: other messages (notifications) are kept aside.
    let mut asks = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    while asks.len() < 3 && Instant::now() < until {
        match hub.rx.recv_timeout(Duration::from_millis(200)) {
            Ok(v) if v["method"] == "sampling/createMessage" => asks.push(v),
            Ok(v) => hub.notes.push(v),
            Err(_) => {}
        }
    }
    assert_eq!(
        asks.len(),
        3,
        "relayed sampling requests: {asks:?}\n{}",
        hub.log()
    );
    let busy: Vec<u64> = view()["pool"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["in_flight"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(busy, vec![1, 1, 1], "one call on each member: {:#}", view());
    // Each answer names the prompt it answers: it must come back to the call that asked.
    for ask in &asks {
        let prompt = ask["params"]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        hub.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"role": "assistant", "model": "test", "content": {"type": "text", "text": format!("answer to <{prompt}>")}}}));
    }
    for (i, id) in calls.iter().enumerate() {
        let done = hub.wait_for(&json!(id), Duration::from_secs(20));
        let text = done["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains(&format!("context: question {i}>")),
            "call {i} got the answer to its own question: {done}"
        );
    }
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&label(&inst)).is_empty());
}
