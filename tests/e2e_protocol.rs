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

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{
    run_callbacks, tail, text_lines_of as text_of, wait_until, CallbackClient as Client,
    CallbackRun as Run, Config, ServeOpts, ServedHub, Target,
};

const ROOT_URI: &str = "file:///tmp/hub-test-root";

/// A tenant with server-everything (stdio) and, optionally, the fault server logging its stdin
/// to `<tmp>/up.log`.
fn config(with_fault: bool) -> Config {
    let mut toml = r#"[hub]
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "1s"

[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
"#
    .to_string();
    if with_fault {
        toml.push_str(
            "\n[tenants.default.servers.f]\ncommand = \"@FAULT@\"\nargs = [\"--log\", \"@TMP@/up.log\"]\n",
        );
    }
    Config::new(&toml)
}

/// `mcp-hub serve` on an ephemeral loopback port with a debug log (which `assert_bridged` reads).
fn serve(cfg: Config) -> ServedHub {
    ServedHub::start_opts(cfg, ServeOpts::default().env("RUST_LOG", "mcp_hub=debug"))
}

/// The client's endpoint on `hub`: `http` (Streamable HTTP) or `sse` (legacy).
fn url(hub: &ServedHub, transport: &'static str) -> Target<'static> {
    let path = if transport == "sse" { "/sse" } else { "/mcp" };
    Target::Url(hub.url(path), transport)
}

/// Runs a callback client (see [`run_callbacks`]).
fn run(client: Client, target: &Target, args: &[&str]) -> Run {
    run_callbacks(client, target, args)
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
fn relay_all(client: Client, target: &Target) -> Run {
    let calls = relay_calls();
    let args: Vec<&str> = calls.iter().map(String::as_str).collect();
    let r = run(client, target, &args);
    let o = &r.out;
    let ctx = || format!("{client:?}: {}\nclient stderr:\n{}", o, tail(&r.stderr, 40));
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
            tail(hub_log, 40)
        );
    }
}

fn assert_handshake(r: &Run) {
    assert_eq!(r.out["protocolVersion"], "2025-11-25", "{}", r.out);
}

// ---------------------------------------------------------------- stdio

#[test]
fn stdio_py2_auto_is_bridged_with_input_required() {
    let cfg = config(false);
    let r = relay_all(Client::Py2("auto"), &Target::Stdio(&cfg.path));
    assert_bridged(&r, &r.stderr);
}

#[test]
fn stdio_py2_forced_2026_is_bridged_with_input_required() {
    let cfg = config(false);
    let r = relay_all(Client::Py2("2026"), &Target::Stdio(&cfg.path));
    assert_bridged(&r, &r.stderr);
}

#[test]
fn stdio_py2_handshake_gets_relayed_requests() {
    let cfg = config(false);
    let r = relay_all(Client::Py2("legacy"), &Target::Stdio(&cfg.path));
    assert_handshake(&r);
}

#[test]
fn stdio_py1_gets_relayed_requests() {
    let cfg = config(false);
    let r = relay_all(Client::Py1, &Target::Stdio(&cfg.path));
    assert_handshake(&r);
}

#[test]
fn stdio_ts1_gets_relayed_requests() {
    let cfg = config(false);
    let r = relay_all(Client::Ts1, &Target::Stdio(&cfg.path));
    assert_handshake(&r);
}

/// A declined elicitation reaches the upstream as a decline through the bridge.
#[test]
fn stdio_py2_auto_decline_is_relayed() {
    let cfg = config(false);
    let r = run(
        Client::Py2("auto"),
        &Target::Stdio(&cfg.path),
        &[
            "--elicit-action",
            "decline",
            "--call",
            "everything__trigger-elicitation-request",
            "{}",
        ],
    );
    let t = text_of(&r.out["calls"][0]["result"]);
    assert!(t.contains("User declined"), "{}", r.out);
    assert_eq!(r.out["protocolVersion"], "2026-07-28");
}

// ---------------------------------------------------------------- HTTP (one hub per client run)

fn over_http(client: Client, transport: &'static str) {
    let hub = serve(config(false));
    let r = relay_all(client, &url(&hub, transport));
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
    let hub = serve(config(false));
    let stdio = Target::Stdio(&hub.config.path);
    let http = url(&hub, "http");
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
    let hub = serve(config(false));
    let r = run(
        Client::Py2("auto"),
        &url(&hub, "http"),
        &[
            "--progress",
            "--call",
            "everything__trigger-long-running-operation",
            r#"{"duration":1.5,"steps":3}"#,
        ],
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
    let read = || std::fs::read_to_string(dir.join("up.log")).unwrap_or_default();
    let seen = wait_until(limit, Duration::from_millis(50), || read().contains(needle));
    (seen, read())
}

fn cancel_over_http(mode: &'static str) {
    let hub = serve(config(true));
    let r = run(
        Client::Py2(mode),
        &url(&hub, "http"),
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
        hub.config.dir(),
        "notifications/cancelled",
        Duration::from_millis(1500),
    );
    assert!(
        seen,
        "the upstream never got notifications/cancelled for the abandoned call ({} client, {}); \
         upstream stdin:\n{log}\nhub log:\n{}",
        mode,
        r.out["protocolVersion"],
        tail(&hub.log(), 40)
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
    let cfg = config(false);
    let toml = std::fs::read_to_string(&cfg.path).unwrap();
    std::fs::write(
        &cfg.path,
        toml.replace(
            "[tenants.default.servers.everything]\n",
            "[tenants.default.servers.everything]\nshare = \"session\"\n",
        ),
    )
    .unwrap();
    let hub = serve(cfg);
    let session = |client: Client, who: &'static str| {
        let target = url(&hub, "http");
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
            run(client, &target, &args)
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
