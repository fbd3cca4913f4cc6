//! Issue #13, every container strategy end to end with both kinds of server, against a real
//! engine (podman's Docker-compatible service, started by the harness): one hub, one tenant,
//! `on-demand`, `always-on`, `pre-warmed` (a pool of 2) and `scheduled` (open all day), each once
//! with the examples/ Rust server (`demo_server`) and once with server-everything (node), both in
//! `localhost/hostroot` containers, driven by a raw JSON-RPC client on `mcp-hub stdio`: tools
//! listed with their prefix, a call, progress, a cancellation and the call after it, the
//! strategy label in the engine, the on-demand ones reaped when idle, nothing left at shutdown.
//! It does not test what each strategy does over time (tests/containers*.rs do, one by one).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::engine::{hostroot_server, hub_toml, instance_label, test_instance, Engine};
use harness::StdioHub;
use serde_json::{json, Value};

/// The server a case runs in its container.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `target/debug/examples/demo_server`, mounted at `/hub/examples` like `mcp-hub` is at `/hub`.
    Rust,
    /// server-everything from `.test-deps`, on the machine's node.
    Node,
}

/// What the test needs to know about a server: its command, tools and the arguments that make a
/// short call with progress and a long one (to cancel).
struct Peer {
    args: Vec<String>,
    tools: [&'static str; 3],
    long_tool: &'static str,
    /// A call of about 0.3–0.6 s in 3 steps.
    short: Value,
    /// A call of about 2 s in 10 steps (or 4), cancelled after its first step.
    long: Value,
    long_for: Duration,
}

impl Kind {
    fn peer(self) -> Peer {
        match self {
            Kind::Rust => {
                let bin = harness::example("demo_server");
                assert!(bin.exists(), "{} is missing", bin.display());
                Peer {
                    args: vec!["/hub/examples/demo_server".into()],
                    tools: ["echo", "add", "slow"],
                    long_tool: "slow",
                    short: json!({"steps": 3, "delay_ms": 100}),
                    long: json!({"steps": 10, "delay_ms": 200}),
                    long_for: Duration::from_secs(2),
                }
            }
            Kind::Node => {
                let deps = harness::Deps::get();
                Peer {
                    args: vec![
                        deps.node().display().to_string(),
                        deps.everything().display().to_string(),
                        "stdio".into(),
                    ],
                    tools: ["echo", "get-sum", "trigger-long-running-operation"],
                    long_tool: "trigger-long-running-operation",
                    short: json!({"duration": 0.6, "steps": 3}),
                    long: json!({"duration": 2, "steps": 4}),
                    long_for: Duration::from_secs(2),
                }
            }
        }
    }
}

/// The strategies, with their keys and how many containers each keeps running while in use.
const STRATEGIES: [(&str, &str, usize); 4] = [
    ("on-demand", "idle_timeout = \"3s\"", 1),
    ("always-on", "", 1),
    ("pre-warmed", "pool = 2", 2),
    ("scheduled", "schedule = [\"daily 00:00-24:00\"]", 1),
];

/// One server of the matrix: `rs-on-demand`, `node-pre-warmed`, …
struct Case {
    name: String,
    strategy: &'static str,
    running: usize,
    peer: Peer,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (prefix, kind) in [("rs", Kind::Rust), ("node", Kind::Node)] {
        for (strategy, _, running) in STRATEGIES {
            out.push(Case {
                name: format!("{prefix}-{strategy}"),
                strategy,
                running,
                peer: kind.peer(),
            });
        }
    }
    out
}

fn server_toml(case: &Case) -> String {
    let keys = STRATEGIES
        .iter()
        .find(|s| s.0 == case.strategy)
        .map(|s| s.1)
        .unwrap_or_default();
    hostroot_server(
        "t",
        &case.name,
        &case.peer.args,
        &format!("strategy = \"{}\"\n{keys}", case.strategy),
    )
}

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// This instance's containers of server `name`.
fn containers_of(engine: &Engine, inst: &str, name: &str) -> Vec<Value> {
    engine
        .containers(&instance_label(inst))
        .into_iter()
        .filter(|c| c["Labels"]["io.mcp-hub.server"] == name)
        .collect()
}

fn running(list: &[Value]) -> usize {
    list.iter().filter(|c| c["State"] == "running").count()
}

/// The progress notifications seen so far for `token`.
fn progress_of<'a>(hub: &'a StdioHub, token: &str) -> Vec<&'a Value> {
    hub.notes
        .iter()
        .filter(|n| {
            n["method"] == "notifications/progress" && n["params"]["progressToken"] == token
        })
        .collect()
}

/// Reads the hub's messages into `hub.notes` until `f` holds on them, at most until `until`.
fn read_until(hub: &mut StdioHub, until: Instant, f: impl Fn(&StdioHub) -> bool) -> bool {
    while !f(hub) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if let Ok(m) = hub.rx.recv_timeout(left.min(Duration::from_millis(200))) {
            hub.notes.push(m);
        }
    }
    true
}

#[test]
fn every_strategy_serves_the_rust_and_the_node_server_list_call_progress_and_cancel() {
    let t0 = Instant::now();
    let engine = Engine::shared();
    let inst = test_instance("matrix");
    let cases = cases();
    let servers: String = cases.iter().map(server_toml).collect();
    let mut hub = StdioHub::start(&hub_toml(&engine, &inst, "", &servers));

    // Every server's tools, with its prefix (the hub may still be starting the containers).
    let want: Vec<String> = cases
        .iter()
        .flat_map(|c| c.peer.tools.iter().map(|t| format!("{}__{t}", c.name)))
        .collect();
    let until = Instant::now() + Duration::from_secs(45);
    let mut tools = hub.tool_names();
    while want.iter().any(|w| !tools.contains(w)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(250));
        tools = hub.tool_names();
    }
    let missing: Vec<&String> = want.iter().filter(|w| !tools.contains(w)).collect();
    assert!(
        missing.is_empty(),
        "tools missing after 45 s: {missing:?}\nlisted: {tools:?}\n{}",
        hub.log()
    );
    eprintln!("all 8 servers listed after {:?}", t0.elapsed());

    // (server, request id, progress token, progress notifications seen when cancelled)
    let mut cancelled: Vec<(String, u64, String, usize)> = Vec::new();
    let mut quiet_until = Instant::now();
    for case in &cases {
        let t = Instant::now();
        let name = &case.name;
        let tool = |t: &str| format!("{name}__{t}");

        // A call answers the right text.
        let echo = hub.call(&tool("echo"), json!({"message": format!("hello {name}")}));
        assert!(
            text(&echo).contains(&format!("hello {name}")),
            "{name}: {echo}\n{}",
            hub.log()
        );

        // The engine runs it under its strategy's label (a pool: both members).
        let list = containers_of(&engine, &inst, name);
        assert_eq!(running(&list), case.running, "{name}: {list:#?}");
        for c in &list {
            assert_eq!(
                c["Labels"]["io.mcp-hub.strategy"], case.strategy,
                "{name}: {c:#}"
            );
            assert_eq!(c["Labels"]["io.mcp-hub.tenant"], "t", "{name}: {c:#}");
        }

        // Progress from inside the container reaches the client under its token.
        let token = format!("p-{name}");
        let id = hub.send_request(
            "tools/call",
            json!({"name": tool(case.peer.long_tool), "arguments": case.peer.short, "_meta": {"progressToken": token}}),
        );
        let done = hub.wait_for(&json!(id), Duration::from_secs(20));
        assert!(done.get("result").is_some(), "{name}: {done}");
        assert_ne!(done["result"]["isError"], true, "{name}: {done}");
        let progress: Vec<f64> = progress_of(&hub, &token)
            .iter()
            .filter_map(|n| n["params"]["progress"].as_f64())
            .collect();
        assert!(
            progress.len() >= 2 && progress.windows(2).all(|w| w[0] < w[1]),
            "{name}: at least 2 increasing progress notifications for `{token}`: {progress:?}\n{:?}",
            hub.notes
        );

        // Cancellation once the long call is running (its first progress came): no answer, and
        // the next call on that server is served.
        let ctoken = format!("c-{name}");
        let id = hub.send_request(
            "tools/call",
            json!({"name": tool(case.peer.long_tool), "arguments": case.peer.long, "_meta": {"progressToken": ctoken}}),
        );
        assert!(
            read_until(&mut hub, Instant::now() + Duration::from_secs(10), |h| {
                !progress_of(h, &ctoken).is_empty()
            }),
            "{name}: the long call never reported progress\n{:?}\n{}",
            hub.notes,
            hub.log()
        );
        hub.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId": id, "reason": "matrix"}}));
        quiet_until = Instant::now() + case.peer.long_for + Duration::from_secs(1);
        cancelled.push((
            name.clone(),
            id,
            ctoken.clone(),
            progress_of(&hub, &ctoken).len(),
        ));
        let after = hub.call(&tool("echo"), json!({"message": format!("after {name}")}));
        assert!(
            text(&after).contains(&format!("after {name}")),
            "{name}: the call after a cancellation: {after}\n{}",
            hub.log()
        );
        eprintln!("{name}: list, call, progress, cancel in {:?}", t.elapsed());
    }

    // Past the time the last cancelled call would have taken: no cancelled call was answered.
    read_until(&mut hub, quiet_until, |_| false);
    // Nor did its progress go on (one step may have been on its way when it was cancelled).
    for (name, id, ctoken, at_cancel) in &cancelled {
        let seen = progress_of(&hub, ctoken).len();
        eprintln!("{name}: progress of the cancelled call: {at_cancel} before, {seen} in all");
        assert!(
            seen <= at_cancel + 1,
            "{name}: progress for `{ctoken}` went on after its cancellation: {at_cancel} before, {seen} in all"
        );
        assert!(
            !hub.notes
                .iter()
                .any(|n| n["id"] == json!(id) && n.get("method").is_none()),
            "{name}: the cancelled call {id} was answered: {:?}",
            hub.notes.iter().find(|n| n["id"] == json!(id))
        );
    }

    // Idle past 3 s: the on-demand containers go, the others stay.
    let settled = |e: &Engine| {
        cases.iter().all(|c| {
            let list = containers_of(e, &inst, &c.name);
            if c.strategy == "on-demand" {
                list.is_empty()
            } else {
                running(&list) == c.running
            }
        })
    };
    assert!(
        engine.wait(Duration::from_secs(15), settled),
        "after 15 s idle, on-demand containers gone and the others running: {:#?}\n{}",
        engine
            .containers(&instance_label(&inst))
            .iter()
            .map(|c| (&c["Labels"]["io.mcp-hub.server"], &c["State"]))
            .collect::<Vec<_>>(),
        hub.log()
    );

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.wait(Duration::from_secs(10), |e| e
            .containers(&instance_label(&inst))
            .is_empty()),
        "containers left after the hub stopped: {:?}",
        engine.containers(&instance_label(&inst))
    );
    eprintln!("strategy matrix: {:?}", t0.elapsed());
}
