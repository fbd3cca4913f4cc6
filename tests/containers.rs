//! Issue #13, MCP servers as containers, against a real engine (podman's Docker-compatible
//! service, started by the harness): each strategy through a real client (list, call, progress,
//! cancellation), the secure defaults and limits read back, network `none`, and no leaks (idle
//! reaping, shutdown, a SIGKILLed hub's containers swept by the next start).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::engine::{hostroot_volumes, Engine, HOSTROOT};
use harness::StdioHub;
use serde_json::{json, Value};

/// A hub whose servers are `mcp-hub demo-server` in `localhost/hostroot` containers.
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

/// One demo server as a container with `extra` keys in its `container` table.
fn demo(tenant: &str, name: &str, extra: &str) -> String {
    format!(
        r#"
[tenants.{tenant}.servers.{name}.container]
image = "{HOSTROOT}"
args = ["/hub/mcp-hub", "demo-server"]
volumes = {volumes}
pull = "never"
{extra}
"#,
        volumes = hostroot_volumes()
    )
}

fn instance(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

fn label(instance: &str) -> String {
    format!("io.mcp-hub.instance={instance}")
}

fn running(c: &[Value]) -> usize {
    c.iter().filter(|c| c["State"] == "running").count()
}

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_on_demand_container_starts_on_a_call_stops_when_idle_and_keeps_its_tools_listed() {
    let engine = Engine::shared();
    let inst = instance("ondemand");
    let toml = config(
        &engine,
        &inst,
        &demo(
            "t",
            "demo",
            "strategy = \"on-demand\"\nidle_timeout = \"1s\"",
        ),
    );
    let mut hub = StdioHub::start(&toml);
    // The first list starts it once to learn its catalog.
    let tools = hub.tool_names();
    assert!(
        tools.contains(&"demo__echo".to_string()),
        "{tools:?}\n{}",
        hub.log()
    );
    let echo = hub.call("demo__echo", json!({"message": "from a container"}));
    assert!(text(&echo).contains("from a container"), "{echo}");
    assert_eq!(running(&engine.containers(&label(&inst))), 1);

    // Idle for 1 s: stopped and removed, the tools still listed without starting it.
    assert!(
        engine.wait(Duration::from_secs(10), |e| e
            .containers(&label(&inst))
            .is_empty()),
        "the idle container was not removed: {:?}\n{}",
        engine.containers(&label(&inst)),
        hub.log()
    );
    let tools = hub.tool_names();
    assert!(
        tools.contains(&"demo__echo".to_string()),
        "remembered catalog: {tools:?}"
    );
    assert!(
        engine.containers(&label(&inst)).is_empty(),
        "tools/list started it"
    );

    // A call starts it again and waits for it.
    let t0 = Instant::now();
    let add = hub.call("demo__add", json!({"a": 2, "b": 3}));
    assert_eq!(
        add["result"]["structuredContent"]["sum"],
        5.0,
        "{add}\n{}",
        hub.log()
    );
    eprintln!(
        "cold start through an on-demand container: {:?}",
        t0.elapsed()
    );

    // Progress from inside the container reaches the client.
    let id = hub.send_request(
        "tools/call",
        json!({"name": "demo__slow", "arguments": {"steps": 3, "delay_ms": 50}, "_meta": {"progressToken": "p1"}}),
    );
    let done = hub.wait_for(&json!(id), Duration::from_secs(20));
    assert!(done.get("result").is_some(), "{done}");
    let progress: Vec<&Value> = hub
        .notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress" && n["params"]["progressToken"] == "p1")
        .collect();
    assert_eq!(progress.len(), 3, "{:?}", hub.notes);

    // Cancellation: the cancelled call gets no answer, the next call is served.
    let id = hub.send_request(
        "tools/call",
        json!({"name": "demo__slow", "arguments": {"steps": 50, "delay_ms": 100}}),
    );
    std::thread::sleep(Duration::from_millis(300));
    hub.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId": id, "reason": "stop"}}));
    let echo = hub.call("demo__echo", json!({"message": "after cancel"}));
    assert!(text(&echo).contains("after cancel"), "{echo}");
    assert!(
        !hub.notes.iter().any(|n| n["id"] == json!(id)),
        "a cancelled call was answered: {:?}",
        hub.notes
    );

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.containers(&label(&inst)).is_empty(),
        "containers left after the hub stopped: {:?}",
        engine.containers(&label(&inst))
    );
}

#[test]
fn containers_run_with_secure_defaults_limits_and_only_loopback() {
    let engine = Engine::shared();
    let inst = instance("secure");
    let toml = config(
        &engine,
        &inst,
        &demo(
            "t",
            "demo",
            "strategy = \"always-on\"\nmemory = \"64m\"\ncpus = 0.5\npids_limit = 64\nlabels = { team = \"qa\" }",
        ),
    );
    let mut hub = StdioHub::start(&toml);
    let tools = hub.tool_names();
    assert!(
        tools.contains(&"demo__echo".to_string()),
        "{tools:?}\n{}",
        hub.log()
    );
    let list = engine.containers(&label(&inst));
    assert_eq!(running(&list), 1, "{list:?}");
    let id = list[0]["Id"].as_str().unwrap().to_string();
    let name = list[0]["Names"][0]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    assert!(
        name.starts_with(&format!("mcp-hub-{inst}-t-demo-")),
        "{name}"
    );
    assert_eq!(list[0]["Labels"]["io.mcp-hub.tenant"], "t");
    assert_eq!(list[0]["Labels"]["io.mcp-hub.server"], "demo");
    assert_eq!(list[0]["Labels"]["io.mcp-hub.strategy"], "always-on");
    assert_eq!(list[0]["Labels"]["team"], "qa");

    let i = engine.get(&format!("/containers/{id}/json"));
    let h = &i["HostConfig"];
    assert_eq!(h["Memory"], 64 * 1024 * 1024, "{h}");
    assert_eq!(h["NanoCpus"], 500_000_000, "{h}");
    assert_eq!(h["PidsLimit"], 64, "{h}");
    assert_eq!(h["ReadonlyRootfs"], true, "{h}");
    assert_eq!(h["NetworkMode"], "none", "{h}");
    assert_eq!(h["Init"], true, "{h}");
    let caps: Vec<String> = h["CapDrop"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        caps.iter().any(|c| c == "all") || caps.len() >= 10,
        "every capability dropped: {caps:?}"
    );
    let sec = h["SecurityOpt"].to_string();
    assert!(sec.contains("no-new-privileges"), "{sec}");

    // From inside: only `lo`, a read-only root, a writable /tmp, the limits in the cgroup, no caps.
    let sh = |cmd: &str| {
        let out = engine.podman(&["exec", &id, "/usr/bin/sh", "-c", cmd]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let ifaces = sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    assert_eq!(ifaces.trim(), "lo", "network none leaves only lo: {ifaces}");
    let ro = sh("touch /x 2>&1; echo; touch /tmp/x && echo tmp-ok");
    assert!(ro.contains("Read-only file system"), "{ro}");
    assert!(ro.contains("tmp-ok"), "{ro}");
    let status = sh("grep -E '^(CapEff|NoNewPrivs)' /proc/1/status /proc/self/status");
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let mem =
        sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null");
    assert!(mem.contains("67108864"), "memory limit inside: {mem}");
    let pids = sh("cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null");
    assert!(pids.contains("64"), "pids limit inside: {pids}");

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.containers(&label(&inst)).is_empty(),
        "left after shutdown"
    );
}

#[test]
fn a_sigkilled_hubs_containers_are_swept_by_its_next_start() {
    let engine = Engine::shared();
    let inst = instance("sigkill");
    let servers: String = (1..=5)
        .map(|i| demo("t", &format!("d{i}"), "strategy = \"always-on\""))
        .collect();
    let toml = config(&engine, &inst, &servers);
    let mut hub = StdioHub::start(&toml);
    assert_eq!(
        hub.tool_names()
            .iter()
            .filter(|t| t.ends_with("__echo"))
            .count(),
        5,
        "{}",
        hub.log()
    );
    assert_eq!(running(&engine.containers(&label(&inst))), 5);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hub.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Their attach connections are gone: the servers see EOF and exit; the containers stay.
    assert!(
        engine.wait(Duration::from_secs(15), |e| running(
            &e.containers(&label(&inst))
        ) == 0),
        "{:?}",
        engine.containers(&label(&inst))
    );
    let left: Vec<String> = engine
        .containers(&label(&inst))
        .iter()
        .map(|c| c["Id"].as_str().unwrap_or_default().to_string())
        .collect();
    drop(hub);

    // The next start (same instance) removes them and runs its own five.
    let mut hub = StdioHub::start(&toml);
    assert_eq!(
        hub.tool_names()
            .iter()
            .filter(|t| t.ends_with("__echo"))
            .count(),
        5,
        "{}",
        hub.log()
    );
    let now = engine.containers(&label(&inst));
    assert!(
        now.iter()
            .all(|c| !left.contains(&c["Id"].as_str().unwrap_or_default().to_string())),
        "the killed hub's containers are still there: {:?}\n{}",
        now.iter()
            .map(|c| (&c["Names"][0], &c["State"], &c["Status"]))
            .collect::<Vec<_>>(),
        hub.log()
    );
    assert_eq!(running(&now), 5);
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&label(&inst)).is_empty());
}

/// Sends `n` calls of `add` spread over servers `s1`..`s10` at once (pipelined on the one
/// stdio session), then checks every answer; `base` makes each call's sum its own.
fn add_burst(hub: &mut StdioHub, n: u32, base: u32) {
    let ids: Vec<(u64, u32)> = (0..n)
        .map(|i| {
            let s = 1 + (i % 10);
            let id = hub.send_request(
                "tools/call",
                json!({"name": format!("s{s}__add"), "arguments": {"a": base + i, "b": 1}}),
            );
            (id, base + i + 1)
        })
        .collect();
    for (id, sum) in ids {
        let a = hub.wait_for(&json!(id), Duration::from_secs(60));
        assert_eq!(
            a["result"]["structuredContent"]["sum"],
            f64::from(sum),
            "{a}\n{}",
            hub.log()
        );
    }
}

/// The issue's leak test: 1,000 calls over 10 on-demand servers with a short idle timeout,
/// then past it: no container of the hub left, no zombie under the hub or under the
/// containers' `conmon`s (none of which is left either), and the hub's RSS flat.
#[test]
fn many_calls_over_on_demand_containers_leave_nothing_behind() {
    let engine = Engine::shared();
    let inst = instance("leak");
    let servers: String = (1..=10)
        .map(|i| demo("t", &format!("s{i}"), "idle_timeout = \"2s\""))
        .collect();
    let t0 = Instant::now();
    let mut hub = StdioHub::start(&config(&engine, &inst, &servers));
    assert_eq!(
        hub.tool_names()
            .iter()
            .filter(|t| t.ends_with("__echo"))
            .count(),
        10,
        "{}",
        hub.log()
    );
    // Past the idle timeout: every container is stopped and removed.
    let all_stopped = |engine: &Engine, when: &str| {
        assert!(
            engine.wait(Duration::from_secs(20), |e| e
                .containers(&label(&inst))
                .is_empty()),
            "{when}: left {:?}",
            engine.containers(&label(&inst))
        );
    };
    // Warm-up: a start, an idle stop and a start again of every server (the first burst starts
    // them in parallel), so the hub's buffers and tables are at their working size.
    add_burst(&mut hub, 100, 0);
    all_stopped(&engine, "after the warm-up");
    add_burst(&mut hub, 100, 0);
    let pid = hub.pid();
    let rss_warm = harness::rss_kib(pid).unwrap();
    let conmons = || harness::processes_named("conmon", &format!("mcp-hub-{inst}-"));
    assert_eq!(conmons().len(), 10, "one conmon per running container");
    // 1,000 calls, the ten containers stopped when idle and started again twice on the way.
    let mut peak = 0;
    for round in 0..10 {
        add_burst(&mut hub, 100, 1000 * (round + 1));
        peak = peak.max(running(&engine.containers(&label(&inst))));
        if round == 3 || round == 6 {
            all_stopped(&engine, &format!("after round {round}"));
        }
    }
    let rss_after = harness::rss_kib(pid).unwrap();
    eprintln!(
        "hub RSS: {rss_warm} KiB after the warm-up, {rss_after} KiB after 1,000 calls ({:+} KiB); {:?} so far",
        rss_after as i64 - rss_warm as i64,
        t0.elapsed()
    );
    assert!(peak <= 10, "at most one container per server: {peak}");
    all_stopped(&engine, "after the 1,000 calls");
    // The containers' monitors go with them, and nothing is left unreaped.
    assert!(
        engine.wait(Duration::from_secs(10), |_| conmons().is_empty()),
        "conmon processes left: {:?}",
        conmons()
    );
    assert_eq!(
        harness::zombies_under(pid),
        Vec::<u32>::new(),
        "zombies under the hub"
    );
    // Flat: 1,000 calls and two stop/start cycles of ten containers add at most 4 MiB to the hub
    // (a leak of one call's state, ~1 KiB each, would show as 1 MiB; of twenty containers'
    // connections, attach streams and tasks, several).
    assert!(
        rss_after <= rss_warm + 4 * 1024,
        "the hub's RSS grew from {rss_warm} KiB to {rss_after} KiB over 1,000 calls"
    );
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&label(&inst)).is_empty());
    eprintln!("leak test wall time: {:?}", t0.elapsed());
}

#[test]
fn a_missing_image_with_pull_never_is_an_error_naming_it() {
    let engine = Engine::shared();
    let inst = instance("noimage");
    let toml = config(
        &engine,
        &inst,
        r#"
[tenants.t.servers.demo]
command = "/bin/false"
enabled = false

[tenants.t.servers.ghost.container]
image = "localhost/no-such-image:1"
strategy = "always-on"
pull = "never"

[tenants.t.servers.ghost.restart]
policy = "never"
"#,
    );
    let mut hub = StdioHub::start(&toml);
    let _ = hub.tool_names();
    let log = hub.log();
    assert!(
        log.contains("image `localhost/no-such-image:1` is not present"),
        "{log}"
    );
    let _ = hub.finish();
}

#[test]
fn a_node_server_runs_in_an_on_demand_container() {
    let engine = Engine::shared();
    let inst = instance("node");
    let deps = harness::Deps::get();
    let toml = config(
        &engine,
        &inst,
        &format!(
            r#"
[tenants.t.servers.everything.container]
image = "{HOSTROOT}"
args = ["{node}", "{everything}", "stdio"]
volumes = {volumes}
pull = "never"
"#,
            node = deps.node().display(),
            everything = deps.everything().display(),
            volumes = hostroot_volumes()
        ),
    );
    let mut hub = StdioHub::start(&toml);
    let tools = hub.tool_names();
    assert!(
        tools.iter().any(|t| t == "everything__echo"),
        "{tools:?}\n{}",
        hub.log()
    );
    let echo = hub.call("everything__echo", json!({"message": "node in a box"}));
    assert!(text(&echo).contains("node in a box"), "{echo}");
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&label(&inst)).is_empty());
}

#[test]
fn the_docker_routes_show_and_control_the_hubs_containers() {
    use harness::{api, api_ok, wait_until, Config, ServedHub};
    let engine = Engine::shared();
    let inst = instance("api");
    let servers = format!(
        "{}{}",
        demo("t", "always", "strategy = \"always-on\"\nmemory = \"128m\""),
        demo("t", "lazy", "idle_timeout = \"1s\"")
    );
    let hub = ServedHub::start(Config::new(&config(&engine, &inst, &servers)));
    let port = hub.addr.port();
    let get = |path: &str| api_ok(port, "GET", path, None, "");
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            get("/api/docker/containers/t/always")["running"] == true
        }),
        "{}",
        get("/api/docker/containers")
    );

    let status = get("/api/docker/status");
    assert_eq!(status["reachable"], true, "{status}");
    assert_eq!(status["instance"], inst.as_str(), "{status}");
    assert_eq!(status["servers"], 2, "{status}");
    assert!(status["version"].is_string(), "{status}");

    let list = get("/api/docker/containers");
    let rows = list["containers"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{list}");
    let always = &rows.iter().find(|r| r["server"] == "always").unwrap();
    assert_eq!(always["strategy"], "always-on");
    assert_eq!(always["state"], "up");
    assert_eq!(always["limits"]["memory"], 128 * 1024 * 1024);
    assert_eq!(always["limits"]["network"], "none");
    assert!(always["container"]
        .as_str()
        .unwrap()
        .starts_with(&format!("mcp-hub-{inst}-t-always-")));

    // The on-demand server, never called: stopped after its first run; /health degraded, 200.
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            get("/api/docker/containers/t/lazy")["state"] == "idle"
        }),
        "{}",
        get("/api/docker/containers/t/lazy")
    );
    let health = api(port, "GET", "/health", None, "");
    assert_eq!(health.status, 200, "{:?}", health.json);
    assert_eq!(health.json["status"], "degraded", "{}", health.json);
    assert_eq!(
        health.json["components"]["containers"]["stopped_on_demand"],
        1
    );
    assert_eq!(
        health.json["upstreams"]["t/lazy"]["container"]["strategy"],
        "on-demand"
    );

    // Stop, then start again, through the API.
    let stopped = api_ok(
        port,
        "POST",
        "/api/docker/containers/t/always/stop",
        None,
        "",
    );
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert!(
        engine.wait(Duration::from_secs(10), |e| running(
            &e.containers(&label(&inst))
        ) == 0),
        "{:?}",
        engine.containers(&label(&inst))
    );
    let started = api_ok(
        port,
        "POST",
        "/api/docker/containers/t/always/start",
        None,
        "",
    );
    assert_eq!(started["started"], true, "{started}");
    assert!(engine.wait(Duration::from_secs(20), |e| running(
        &e.containers(&label(&inst))
    ) == 1));
    let nope = api(
        port,
        "POST",
        "/api/docker/containers/t/always/explode",
        None,
        "",
    );
    assert_eq!(nope.status, 404);
    let nope = api(port, "GET", "/api/docker/containers/t/missing", None, "");
    assert_eq!(nope.status, 404);

    // No registry here: a pull fails, and says so per image.
    let pull = harness::pull_and_wait(
        port,
        None,
        r#"{"image": "localhost/no-such:1"}"#,
        Duration::from_secs(30),
    );
    assert_eq!(pull["state"], "failed", "{pull}");
    assert_eq!(pull["images"][0]["image"], "localhost/no-such:1", "{pull}");
    let bad = api(
        port,
        "POST",
        "/api/docker/images/pull",
        None,
        r#"{"image": 3}"#,
    );
    assert_eq!(bad.status, 400);

    // Cleanup removes a stopped container of this instance, not the running one, nor others.
    let out = engine.podman(&[
        "create",
        "--label",
        &label(&inst),
        "--name",
        &format!("orphan-{inst}"),
        HOSTROOT,
        "/usr/bin/true",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = engine.podman(&[
        "create",
        "--name",
        &format!("other-{inst}"),
        HOSTROOT,
        "/usr/bin/true",
    ]);
    assert!(other.status.success());
    let cleaned = api_ok(port, "POST", "/api/docker/cleanup", None, "");
    assert_eq!(
        cleaned["removed"],
        json!([format!("orphan-{inst}")]),
        "{cleaned}"
    );
    assert_eq!(running(&engine.containers(&label(&inst))), 1);
    let _ = engine.podman(&["rm", "-f", &format!("other-{inst}")]);

    drop(hub);
    assert!(
        engine.wait(Duration::from_secs(10), |e| e
            .containers(&label(&inst))
            .is_empty()),
        "{:?}",
        engine.containers(&label(&inst))
    );
}
