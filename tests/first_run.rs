//! The first ten minutes of a new user, against real servers: piped stdin answered in full, the
//! shipped `hub.toml`, slow and failing starts that say why, the CLI's `tools`, `call` and
//! `health` as a user drives them, SIGHUP, and a quiet start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::{meta26, run_hub as hub, Config, ServeOpts, ServedHub, StdioHub};
use serde_json::{json, Value};

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

fn answer(msgs: &[Value], id: u64) -> &Value {
    msgs.iter()
        .find(|m| m["id"] == id && m.get("method").is_none())
        .unwrap_or_else(|| panic!("no answer to request {id} in {msgs:#?}"))
}

fn jsonl(msgs: &[Value]) -> String {
    msgs.iter().map(|m| format!("{m}\n")).collect()
}

const TWO_SERVERS: &str = r#"
[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@"]
[tenants.default.servers.time]
command = "@TIME@"
"#;

#[test]
fn piped_stdin_is_answered_in_full_before_the_hub_exits_in_both_eras() {
    let cfg = Config::new(TWO_SERVERS);
    let handshake = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"pipe","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"everything__echo","arguments":{"message":"piped"}}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"time__get_current_time","arguments":{"timezone":"UTC"}}}),
    ];
    let ran = hub(
        &cfg.path,
        &["stdio"],
        &jsonl(&handshake),
        Duration::from_secs(60),
    );
    assert_eq!(ran.code(), Some(0), "stderr:\n{}", ran.stderr);
    let msgs = lines(&ran.stdout);
    let tools: Vec<&str> = answer(&msgs, 2)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"everything__echo") && tools.contains(&"time__get_current_time"),
        "the first list holds both servers' tools: {tools:?}"
    );
    assert_eq!(
        answer(&msgs, 3)["result"]["content"][0]["text"],
        "Echo: piped"
    );
    assert!(answer(&msgs, 4)["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("UTC"));

    let m = meta26();
    let stateless = [
        json!({"jsonrpc":"2.0","id":"d","method":"server/discover","params":{"_meta":m}}),
        json!({"jsonrpc":"2.0","id":"l","method":"tools/list","params":{"_meta":m}}),
        json!({"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"_meta":m,"name":"everything__echo","arguments":{"message":"stateless"}}}),
    ];
    let ran = hub(
        &cfg.path,
        &["stdio"],
        &jsonl(&stateless),
        Duration::from_secs(60),
    );
    assert_eq!(ran.code(), Some(0), "stderr:\n{}", ran.stderr);
    let msgs = lines(&ran.stdout);
    let find = |id: &str| {
        msgs.iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id}: {msgs:#?}"))
    };
    assert!(find("d")["result"]["supportedVersions"]
        .as_array()
        .is_some());
    assert!(find("l")["result"]["tools"].as_array().unwrap().len() > 5);
    assert_eq!(find("c")["result"]["content"][0]["text"], "Echo: stateless");
}

#[test]
fn the_shipped_hub_toml_serves_the_built_in_demo_without_a_second_build() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("hub.toml");
    let ran = hub(&shipped, &["tools"], "", Duration::from_secs(30));
    assert_eq!(ran.code(), Some(0), "stderr:\n{}", ran.stderr);
    assert!(ran.stdout.contains("demo__echo"), "{}", ran.stdout);
    assert!(ran.took < Duration::from_secs(10), "took {:?}", ran.took);
    let ran = hub(
        &shipped,
        &["call", "demo__echo", r#"{"message":"hello"}"#],
        "",
        Duration::from_secs(30),
    );
    assert_eq!(ran.code(), Some(0), "stderr:\n{}", ran.stderr);
    assert!(ran.stdout.contains("Echo: hello"), "{}", ran.stdout);
}

#[test]
fn a_slow_start_is_reported_while_it_runs() {
    let cfg = Config::new(
        r#"
[tenants.default.servers.slow]
command = "sh"
args = ["-c", "sleep 6; exec @DEMO@"]
"#,
    );
    let ran = hub(&cfg.path, &["status"], "", Duration::from_secs(30));
    assert_eq!(ran.code(), Some(0), "stderr:\n{}", ran.stderr);
    assert!(
        ran.stderr.contains("waiting for slow: 5 s"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_server_that_fails_to_start_shows_its_stderr_as_the_last_error() {
    let cfg = Config::new(
        r#"
[tenants.default.servers.broken]
command = "sh"
args = ["-c", "echo 'error: invalid peer certificate: UnknownIssuer' >&2; exit 2"]
restart = { max_retries = 1, initial_backoff = "100ms" }
"#,
    );
    let ran = hub(&cfg.path, &["status"], "", Duration::from_secs(30));
    assert_eq!(ran.code(), Some(1));
    let line = ran
        .stdout
        .lines()
        .find(|l| l.contains("broken"))
        .unwrap_or_default();
    assert!(
        line.contains("exited (code 2)")
            && line.contains("invalid peer certificate: UnknownIssuer"),
        "status: {}",
        ran.stdout
    );
}

#[test]
fn a_forced_protocol_the_server_lacks_is_named_with_the_fix_and_not_retried() {
    let cfg = Config::new(
        r#"
[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@"]
protocol = "2026-07-28"
restart = { initial_backoff = "100ms" }
"#,
    );
    let ran = hub(&cfg.path, &["status"], "", Duration::from_secs(30));
    assert_eq!(ran.code(), Some(1));
    let line = ran
        .stdout
        .lines()
        .find(|l| l.contains("everything"))
        .unwrap_or_default();
    assert!(line.contains("failed"), "{line}");
    assert!(
        line.contains("does not speak 2026-07-28") && line.contains(r#"protocol = "auto""#),
        "{line}"
    );
    assert_eq!(
        ran.stderr.matches("started `").count(),
        1,
        "started once, never restarted:\n{}",
        ran.stderr
    );
}

#[test]
fn tools_names_failed_servers_and_exits_1_unless_partial() {
    let cfg = Config::new(
        r#"
[tenants.default.servers.demo]
command = "@DEMO@"
[tenants.default.servers.gone]
command = "no-such-binary-xyz"
restart = { policy = "never" }
"#,
    );
    let ran = hub(&cfg.path, &["tools"], "", Duration::from_secs(30));
    assert_eq!(ran.code(), Some(1));
    assert!(
        ran.stdout.contains("demo__echo"),
        "what came up is still listed"
    );
    assert!(
        ran.stderr
            .contains("gone: could not start `no-such-binary-xyz`"),
        "{}",
        ran.stderr
    );
    let ran = hub(
        &cfg.path,
        &["tools", "--partial"],
        "",
        Duration::from_secs(30),
    );
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("warning:") && ran.stderr.contains("gone"),
        "{}",
        ran.stderr
    );
}

#[test]
fn call_checks_its_arguments_first_starts_only_the_owner_and_suggests_names() {
    let cfg = Config::new(
        r#"
[tenants.default.servers.demo]
command = "@DEMO@"
[tenants.default.servers.time]
command = "@TIME@"
"#,
    );
    let ran = hub(
        &cfg.path,
        &["call", "time__get_current_time", "{not json"],
        "",
        Duration::from_secs(10),
    );
    assert_eq!(ran.code(), Some(2));
    assert!(
        ran.stderr.contains("must be a JSON object"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("started `"),
        "no upstream was started for a bad argument:\n{}",
        ran.stderr
    );

    let ran = hub(
        &cfg.path,
        &["call", "time__get_current_time", r#"{"timezone":"UTC"}"#],
        "",
        Duration::from_secs(30),
    );
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("UTC"));
    assert!(ran.stderr.contains("server=time"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("server=demo"),
        "only the owner starts:\n{}",
        ran.stderr
    );

    let ran = hub(
        &cfg.path,
        &["call", "get_current_time"],
        "",
        Duration::from_secs(30),
    );
    assert_eq!(ran.code(), Some(1));
    assert!(
        ran.stderr.contains("did you mean `time__get_current_time`"),
        "{}",
        ran.stderr
    );
}

#[test]
fn health_reads_the_configs_listen_address_accepts_a_base_url_and_says_why_it_failed() {
    let port = harness::free_port();
    let cfg = Config::new(&format!(
        "[hub.http]\nlisten = \"127.0.0.1:{port}\"\n[tenants.default.servers.demo]\ncommand = \"@DEMO@\"\n"
    ));
    let down = hub(&cfg.path, &["health"], "", Duration::from_secs(20));
    assert_eq!(down.code(), Some(1));
    assert!(
        down.stderr
            .contains(&format!("cannot reach http://127.0.0.1:{port}/health")),
        "{}",
        down.stderr
    );

    let listen = format!("127.0.0.1:{port}");
    let serving = ServedHub::start_opts(cfg, ServeOpts::default().listen(&listen));
    let cfg = &serving.config;
    // Right after start the demo may still be coming up (503, unhealthy): a probe retries.
    let deadline = Instant::now() + Duration::from_secs(15);
    let ran = loop {
        let ran = hub(&cfg.path, &["health"], "", Duration::from_secs(20));
        if ran.code() == Some(0) || Instant::now() > deadline {
            break ran;
        }
        assert!(
            ran.stderr.contains("HTTP 503"),
            "a starting hub says so: {}",
            ran.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr);
    let v: Value = serde_json::from_str(ran.stdout.trim()).unwrap();
    assert!(v["status"] == "healthy" || v["status"] == "degraded", "{v}");
    let base = format!("http://127.0.0.1:{}", serving.port);
    let ran = hub(
        &cfg.path,
        &["health", "--url", &base],
        "",
        Duration::from_secs(20),
    );
    assert_eq!(
        ran.code(),
        Some(0),
        "a base URL gets /health: {}",
        ran.stderr
    );
    let ran = hub(
        &cfg.path,
        &["health", "--url", &format!("{base}/nope")],
        "",
        Duration::from_secs(20),
    );
    assert_eq!(ran.code(), Some(1));
    assert!(ran.stderr.contains("HTTP 404"), "{}", ran.stderr);
}

fn is_tools_changed(m: &Value) -> bool {
    m["method"] == "notifications/tools/list_changed"
}

#[test]
fn sighup_is_ignored_and_list_changed_waits_for_a_first_list() {
    let mut hub =
        StdioHub::start_uninitialized("[tenants.default.servers.demo]\ncommand = \"@DEMO@\"\n");
    hub.send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}));
    hub.until(1);
    hub.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    // The tool list changes before this session has read it: it is not told.
    hub.send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"demo__toggle_extra","arguments":{}}}));
    let mut unlisted = hub.until(2);
    // Whatever the change brings arrives within this wait (the hub re-reads the list at once).
    while let Ok(m) = hub.rx.recv_timeout(Duration::from_millis(1500)) {
        unlisted.push(m);
    }
    assert!(
        !unlisted.iter().any(is_tools_changed),
        "no list_changed before the session's first tools/list: {unlisted:#?}"
    );
    hub.send(json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}));
    let listed = hub.until(3);
    let names = listed.last().unwrap()["result"]["tools"].to_string();
    assert!(
        names.contains("demo__extra"),
        "the list holds the change: {names}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(hub.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(hub.running(), "SIGHUP did not end the hub");

    // Once listed, a change is told.
    hub.send(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"demo__toggle_extra","arguments":{}}}));
    hub.until(4);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut told = false;
    while !told && Instant::now() < deadline {
        if let Ok(m) = hub.rx.recv_timeout(Duration::from_millis(200)) {
            told = is_tools_changed(&m);
        }
    }
    assert!(told, "list_changed after the session had listed tools");
}
