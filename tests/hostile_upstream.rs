//! Hostile upstreams (issue #9): a server that writes wrong-typed versions of every message kind
//! around each answer, and a hub SIGKILLed with its upstreams running.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{
    example, fill_template, group_members, pid_alive, read_pid, upstream_pids, StdioHub, HUB_BIN,
};
use serde_json::{json, Value};

fn text(r: &Value) -> String {
    r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {r}"))
        .to_string()
}

/// Calls `tool` and checks the answer came within 2 s.
fn prompt_call(hub: &mut StdioHub, tool: &str, args: Value) -> Value {
    let started = Instant::now();
    let id = hub.send_request("tools/call", json!({"name": tool, "arguments": args}));
    let r = hub.wait_for(&json!(id), Duration::from_secs(10));
    let took = started.elapsed();
    if took >= Duration::from_secs(2) {
        let log = hub.log();
        let lines: Vec<&str> = log.lines().collect();
        panic!(
            "{tool} took {took:?}: {r}\nhub log (last 60 lines):\n{}",
            lines[lines.len().saturating_sub(60)..].join("\n")
        );
    }
    r
}

/// Every call through a hostile upstream is answered correctly and promptly, its neighbour keeps
/// answering, and the hub neither panics nor loses the connection.
fn every_call_is_answered_through(args: &str) {
    let mut hub = StdioHub::start(&format!(
        r#"
[hub]
request_timeout = "10s"
[tenants.t.servers.hostile]
command = "@FAULT@"
args = [{args}]
[tenants.t.servers.demo]
command = "@DEMO@"
"#
    ));
    let tools = hub.tool_names();
    if !tools.contains(&"hostile__echo".to_string()) {
        let log = hub.log();
        let why: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("panicked") || l.contains("upstream is down"))
            .take(4)
            .collect();
        panic!(
            "no hostile__echo in {tools:?}; hub log:\n{}",
            why.join("\n")
        );
    }
    assert!(tools.contains(&"demo__echo".to_string()), "{tools:?}");
    for i in 0..5 {
        let r = prompt_call(
            &mut hub,
            "hostile__echo",
            json!({"message": format!("m{i}")}),
        );
        assert_eq!(text(&r), format!("fault echo: m{i}"), "{r}");
        let r = prompt_call(&mut hub, "demo__echo", json!({"message": format!("d{i}")}));
        assert_eq!(text(&r), format!("Echo: d{i}"), "{r}");
    }
    // A call with a progress token: the wrong-typed progress around it is not relayed.
    let id = hub.send_request(
        "tools/call",
        json!({"name": "hostile__sleep", "arguments": {"ms": 50}, "_meta": {"progressToken": "p1"}}),
    );
    let r = hub.wait_for(&json!(id), Duration::from_secs(2));
    assert_eq!(text(&r), "slept 50", "{r}");
    let r = prompt_call(&mut hub, "hostile__rich", json!({}));
    assert_eq!(r["result"]["structuredContent"]["answer"], 42, "{r}");
    let r = prompt_call(&mut hub, "hostile__nope", json!({}));
    assert!(r["error"]["code"].is_i64(), "{r}");
    for n in &hub.notes {
        if n["method"] == "notifications/progress" {
            assert!(n["params"]["progress"].is_number(), "relayed: {n}");
            assert_eq!(n["params"]["progressToken"], "p1", "relayed: {n}");
        }
        assert!(n.get("NOT_JSON_ON_STDOUT").is_none(), "{n}");
    }
    let (st, log) = hub.finish();
    assert!(st.success(), "{log}");
    assert!(!log.contains("panicked"), "the hub panicked:\n{log}");
    assert!(
        !log.contains("upstream is down"),
        "the hostile upstream lost its connection:\n{log}"
    );
}

#[test]
fn a_hostile_upstream_gets_every_call_answered_and_the_hub_never_panics() {
    every_call_is_answered_through(r#""--hostile", "--no-bad-logs""#);
}

/// `notifications/message` whose params are an array, a string, a number or null. Fails until
/// src/tenant.rs stops indexing into non-object params (`msg["params"]["logger"] = …`).
#[test]
fn log_messages_of_any_shape_from_a_hostile_upstream_do_not_kill_its_reader() {
    every_call_is_answered_through(r#""--hostile""#);
}

/// The pid of `pid`'s parent, from /proc.
fn ppid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot.
fn start_time(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn wait_group_empty(pgid: i32, what: &str) {
    let until = Instant::now() + Duration::from_secs(5);
    while !group_members(pgid).is_empty() {
        assert!(
            Instant::now() < until,
            "processes {:?} of {what}'s group outlived the SIGKILLed hub by 5 s",
            group_members(pgid)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigkill(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

/// server-everything with its logging timer on, and an upstream that ignores the end of its
/// stdin (so only PR_SET_PDEATHSIG can end it): both go within 5 s of the hub's SIGKILL.
#[test]
fn a_sigkilled_hub_leaves_no_process_of_a_timer_kept_upstream() {
    let mut hub = StdioHub::start(
        r#"
[hub]
request_timeout = "20s"
[tenants.t.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
[tenants.t.servers.deaf]
command = "@FAULT@"
args = ["--ignore-stdin-eof"]
"#,
    );
    let tools = hub.tool_names();
    assert!(
        tools.contains(&"everything__toggle-simulated-logging".to_string()),
        "{tools:?}"
    );
    assert!(tools.contains(&"deaf__echo".to_string()), "{tools:?}");
    let r = hub.call("everything__toggle-simulated-logging", json!({}));
    assert!(r.get("result").is_some(), "{r}");
    let log = hub.log();
    let everything = *upstream_pids(&log, "everything").last().unwrap();
    let deaf = *upstream_pids(&log, "deaf").last().unwrap();
    assert!(!group_members(everything).is_empty());
    assert!(!group_members(deaf).is_empty());
    let hub_pid = ppid(everything);
    assert_eq!(ppid(deaf), hub_pid);
    sigkill(hub_pid);
    wait_group_empty(everything, "server-everything");
    wait_group_empty(deaf, "an upstream that ignores stdin EOF");
}

/// A `sleep 1000` in its own process group, as a dead hub's upstream would have left it.
fn orphan_group() -> std::process::Child {
    use std::os::unix::process::CommandExt;
    Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn record(dir: &Path, hub_pid: i32, hub_start: u64, pgid: i32, started: u64) {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let groups = dir.join("groups");
    std::fs::create_dir_all(&groups).unwrap();
    std::fs::write(
        groups.join(format!("{hub_pid}-{pgid}")),
        format!(
            "hub_pid={hub_pid}\nhub_start={hub_start}\nboot_id={}\npgid={pgid}\nstarted={started}\n",
            boot.trim()
        ),
    )
    .unwrap();
}

fn records(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("groups"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn groups_a_dead_hub_left_are_swept_at_the_next_start_and_nothing_else_is() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // A hub pid that is dead: a process this test started and reaped.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_hub = gone.id() as i32;
    gone.wait().unwrap();

    let mut orphan = orphan_group();
    let orphan_pid = orphan.id() as i32;
    record(&state, dead_hub, 1, orphan_pid, start_time(orphan_pid));
    // Recorded by a dead hub too, but the group's leader is not the recorded one (its start
    // time differs: the pgid was reused): never signalled.
    let mut stranger = orphan_group();
    let stranger_pid = stranger.id() as i32;
    record(
        &state,
        dead_hub,
        1,
        stranger_pid,
        start_time(stranger_pid) + 1,
    );
    // Recorded by a hub that is alive (this test process): left alone, record kept.
    let mut owned = orphan_group();
    let owned_pid = owned.id() as i32;
    let me = std::process::id() as i32;
    record(&state, me, start_time(me), owned_pid, start_time(owned_pid));
    // Garbage in the state folder is dropped and signals nothing.
    std::fs::write(state.join("groups/garbage"), "pgid=1\n").unwrap();

    let cfg = tmp.path().join("hub.toml");
    std::fs::write(
        &cfg,
        format!(
            "[tenants.t.servers.demo]\ncommand = \"{}\"\n",
            example("demo_server").display()
        ),
    )
    .unwrap();
    let log = tmp.path().join("hub.log");
    let mut hub = Command::new(HUB_BIN)
        .args(["--config", cfg.to_str().unwrap(), "stdio"])
        .env("MCP_HUB_STATE_DIR", &state)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let until = Instant::now() + Duration::from_secs(10);
    while orphan.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < until,
            "the dead hub's group {orphan_pid} was not swept:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pid_alive(orphan_pid));
    // The hub records its own upstream's group while it runs.
    let until = Instant::now() + Duration::from_secs(10);
    let hub_prefix = format!("{}-", hub.id());
    while !records(&state).iter().any(|r| r.starts_with(&hub_prefix)) {
        assert!(
            Instant::now() < until,
            "no record of the hub's upstream: {:?}\n{}",
            records(&state),
            read_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        pid_alive(stranger_pid),
        "an unattributable group was signalled"
    );
    assert!(pid_alive(owned_pid), "a live hub's group was signalled");
    let owned_record = format!("{me}-{owned_pid}");
    assert!(records(&state).contains(&owned_record));
    assert!(!records(&state).contains(&format!("{dead_hub}-{orphan_pid}")));
    assert!(!records(&state).contains(&"garbage".to_string()));

    // A hub that stops cleanly removes its records.
    drop(hub.stdin.take());
    let until = Instant::now() + Duration::from_secs(20);
    while hub.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "the hub did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(records(&state), vec![owned_record], "{}", read_log());
    for c in [&mut stranger, &mut owned] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = std::io::stderr().flush();
}

/// `mcp-hub stdio` on a config text, with its own state folder; stdin is kept open.
fn spawn_hub(dir: &Path, name: &str, toml: &str, state: &Path) -> std::process::Child {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, fill_template(toml, dir)).unwrap();
    Command::new(HUB_BIN)
        .args(["--config", cfg.to_str().unwrap(), "stdio"])
        .env("MCP_HUB_STATE_DIR", state)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap())
        .spawn()
        .unwrap()
}

/// The whole story: a SIGKILLed hub's upstream ends with it (PDEATHSIG), the grandchild it left
/// in its group is ended by the next hub that starts.
#[test]
fn a_grandchild_a_sigkilled_hub_left_is_ended_by_the_next_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let state = dir.join("state");
    let toml = r#"
[tenants.t.servers.parent]
command = "@FAULT@"
args = ["--grandchild", "@TMP@/grandchild.pid"]
"#;
    let mut first = spawn_hub(dir, "first", toml, &state);
    let grandchild = read_pid(&dir.join("grandchild.pid"));
    let until = Instant::now() + Duration::from_secs(10);
    while records(&state).is_empty() {
        assert!(Instant::now() < until, "the first hub recorded no group");
        std::thread::sleep(Duration::from_millis(20));
    }
    let leader = ppid(grandchild);
    assert_eq!(ppid(leader), first.id() as i32);
    first.kill().unwrap();
    first.wait().unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while pid_alive(leader) {
        assert!(Instant::now() < until, "the upstream outlived its hub");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pid_alive(grandchild), "the grandchild has no PDEATHSIG");
    assert_eq!(
        records(&state).len(),
        1,
        "a SIGKILLed hub leaves its record"
    );

    // The next hub (with no upstream at all) ends the group.
    let mut next = spawn_hub(
        dir,
        "next",
        "[tenants.t.servers.off]\ncommand = \"true\"\nenabled = false\n",
        &state,
    );
    let until = Instant::now() + Duration::from_secs(10);
    while pid_alive(grandchild) {
        assert!(
            Instant::now() < until,
            "the next hub did not end the grandchild:\n{}",
            std::fs::read_to_string(dir.join("next.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(records(&state).is_empty());
    drop(next.stdin.take());
    next.wait().unwrap();
}
