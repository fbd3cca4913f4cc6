//! End to end over HTTP (docs/contract.md, "HTTP serving"): the official SDK clients (Python mcp
//! 2.x in auto and forced-2026-07-28 mode, mcp 1.x, TypeScript SDK 1.x and 2.x) and the MCP
//! Inspector CLI talk to `mcp-hub serve` over Streamable HTTP (`/mcp`) and legacy HTTP+SSE
//! (`/sse`); the hub fronts server-everything and examples/demo_server over stdio. Plus tenant
//! routes, the HTTP-level rejections (401/403/404/413/400), the MCP conformance suite scenario by
//! scenario against server-everything reached directly, and 200 concurrent sessions.
//!
//! Everything is installed by `scripts/setup-test-deps.sh`; the demo upstream is
//! `target/debug/examples/demo_server` (`cargo build --examples`, which scripts/test.sh runs).
//! `peers_over_http_without_the_hub` checks the clients against server-everything's own HTTP modes,
//! so a failure there is the harness or the peers, not the hub.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]
#![allow(clippy::print_stdout)] // the conformance and load tests print their scores

mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use harness::{
    assert_has, http_request, path_str, repo_root, run_bounded, run_client_url, run_inspector,
    strings, tail, text_of, Client, Config, Deps, EverythingHttp, HttpResponse, ServedHub,
    Transport, CLIENT_TIMEOUT, EVERYTHING_TOOLS, HANDSHAKE_VERSIONS, MODERN_VERSION,
};
use serde_json::{json, Value};

const KEY: &str = "k-default-3f9a2c5d7e81";
const AUTH: &str = "Authorization: Bearer k-default-3f9a2c5d7e81";
const ACME_KEY: &str = "k-acme-77c1e0a9b4f263";

/// The default tenant (bearer key [`KEY`]) with server-everything and the demo server.
const EVERYTHING_DEMO: &str = r#"
[hub]
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[tenants.default]
api_keys = ["k-default-3f9a2c5d7e81"]

[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]

[tenants.default.servers.demo]
command = "@EXAMPLES@/demo_server"
"#;

/// The demo server alone (fast to start), for list_changed.
const DEMO_ONLY: &str = r#"
[hub]
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[tenants.default]
api_keys = ["k-default-3f9a2c5d7e81"]

[tenants.default.servers.demo]
command = "@EXAMPLES@/demo_server"
"#;

/// Two tenants with their own keys and upstreams, and every HTTP limit the security test probes.
const TWO_TENANTS: &str = r#"
[hub]
default_tenant = "default"
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"
allowed_origins = ["https://app.example"]
allowed_hosts = ["mcp.example"]
max_body_bytes = 65536

[tenants.default]
api_keys = ["k-default-3f9a2c5d7e81"]

[tenants.default.servers.demo]
command = "@EXAMPLES@/demo_server"

[tenants.acme]
api_keys = ["k-acme-77c1e0a9b4f263"]

[tenants.acme.servers.acmedemo]
command = "@EXAMPLES@/demo_server"
args = ["--name", "acme"]
"#;

/// server-everything behind an open tenant (the conformance suite sends no credentials).
const EVERYTHING_OPEN: &str = r#"
[hub]
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
"#;

/// server-everything behind the hub with `prefix = ""`: transparent mode (issue #12).
const EVERYTHING_TRANSPARENT: &str = r#"
[hub]
request_timeout = "20s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
prefix = ""
"#;

/// server-everything behind the keyed default tenant, for the load test.
const EVERYTHING_KEYED: &str = r#"
[hub]
request_timeout = "30s"
startup_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[tenants.default]
api_keys = ["k-default-3f9a2c5d7e81"]

[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
"#;

const DEMO_TOOLS: [&str; 6] = [
    "echo",
    "add",
    "slow",
    "show_dashboard",
    "toggle_extra",
    "fail",
];
const FEATURES_URI: &str = "demo://everything__resource/static/document/features.md";

fn path_of(transport: Transport) -> &'static str {
    match transport {
        Transport::Http => "/mcp",
        Transport::Sse => "/sse",
    }
}

fn protocol_version(out: &Value) -> &str {
    out["protocolVersion"].as_str().unwrap_or_default()
}

/// The era each client must settle on with the hub: the 2026-capable clients in auto mode over
/// Streamable HTTP get 2026-07-28 (the hub answers `server/discover`); handshake-only clients get a
/// handshake version; over legacy SSE either is fine for auto mode.
#[track_caller]
fn assert_era(client: Client, transport: Transport, out: &Value) {
    let v = protocol_version(out);
    let modern = v == MODERN_VERSION;
    let handshake = HANDSHAKE_VERSIONS.contains(&v);
    match (client, transport) {
        (Client::Py2Modern, _) => assert!(modern, "{client:?}: forced 2026-07-28 got `{v}`"),
        (Client::Py2Auto | Client::Ts2, Transport::Http) => assert!(
            modern,
            "{client:?} over Streamable HTTP: auto mode should settle on 2026-07-28 with the hub, got `{v}`"
        ),
        (Client::Py2Auto | Client::Ts2, Transport::Sse) => assert!(
            modern || handshake,
            "{client:?} over SSE: unexpected version `{v}`"
        ),
        _ => assert!(
            handshake,
            "{client:?}: a handshake-era client must negotiate a handshake version, got `{v}`"
        ),
    }
}

/// Fails with the client's error and the hub's log tail.
fn hub_err(server: &ServedHub, e: anyhow::Error) -> ! {
    panic!("{e:#}\n--- hub log (tail) ---\n{}", tail(&server.log(), 60))
}

fn features_md() -> String {
    std::fs::read_to_string(Deps::get().everything_doc("features.md"))
        .expect("read server-everything's features.md")
}

// ------------------------------------------------------------------ clients through the hub

/// One client over one transport: the prefixed catalog, everything__echo, a namespaced resource,
/// then progress from server-everything's long-running tool.
fn client_through_hub(client: Client, transport: Transport) {
    let server = ServedHub::start(Config::new(EVERYTHING_DEMO));
    let url = server.url(path_of(transport));
    let message = format!("hi over {transport:?} from {client:?}");
    let echo_args = json!({ "message": message }).to_string();
    let out = run_client_url(
        client,
        &[
            "--scenario",
            "basic",
            "--tool",
            "everything__echo",
            "--args",
            &echo_args,
            "--uri",
            FEATURES_URI,
        ],
        &url,
        transport,
        &[AUTH],
        CLIENT_TIMEOUT,
    )
    .unwrap_or_else(|e| hub_err(&server, e));
    assert_era(client, transport, &out);
    assert_eq!(out["transport"], json!(transport.flag()), "{out}");

    let tools = strings(&out, "tools");
    for name in &tools {
        assert!(
            name.starts_with("everything__") || name.starts_with("demo__"),
            "tools/list: `{name}` is not prefixed by its server"
        );
    }
    for t in EVERYTHING_TOOLS {
        assert_has(&tools, &format!("everything__{t}"), "tools/list");
    }
    for t in DEMO_TOOLS {
        assert_has(&tools, &format!("demo__{t}"), "tools/list");
    }
    assert_eq!(
        text_of(&out["call"]),
        format!("Echo: {message}"),
        "call: {}",
        out["call"]
    );
    assert_ne!(out["call"]["isError"], json!(true), "call: {}", out["call"]);
    let resources = strings(&out, "resources");
    assert_has(&resources, FEATURES_URI, "resources/list");
    assert_eq!(
        out["read"]["contents"][0]["text"].as_str(),
        Some(features_md().as_str()),
        "resources/read {FEATURES_URI}: {}",
        out["read"]
    );

    let out = run_client_url(
        client,
        &[
            "--scenario",
            "progress",
            "--tool",
            "everything__trigger-long-running-operation",
            "--args",
            r#"{"duration":0.6,"steps":3}"#,
        ],
        &url,
        transport,
        &[AUTH],
        CLIENT_TIMEOUT,
    )
    .unwrap_or_else(|e| hub_err(&server, e));
    assert_eq!(
        text_of(&out["result"]),
        "Long running operation completed. Duration: 0.6 seconds, Steps: 3.",
        "result: {}",
        out["result"]
    );
    let seen: Vec<(f64, f64)> = out["progress"]
        .as_array()
        .unwrap_or_else(|| panic!("progress: {out}"))
        .iter()
        .map(|p| {
            (
                p["progress"].as_f64().unwrap_or(-1.0),
                p["total"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    let all = vec![(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)];
    if matches!(client, Client::Ts | Client::Ts2) && seen == all[..2] {
        // The TypeScript SDKs retire a call's progress handler when its result arrives and run
        // notification handlers a microtask later: a last progress read together with the result is
        // dropped (typescript-sdk #2580; seen over SSE with server-everything directly too).
        return;
    }
    assert_eq!(seen, all, "progress notifications: {out}");
}

#[test]
fn py2_auto_over_streamable_http() {
    client_through_hub(Client::Py2Auto, Transport::Http);
}

#[test]
fn py2_forced_2026_over_streamable_http() {
    client_through_hub(Client::Py2Modern, Transport::Http);
}

#[test]
fn py1_over_streamable_http() {
    client_through_hub(Client::Py1, Transport::Http);
}

#[test]
fn ts1_over_streamable_http() {
    client_through_hub(Client::Ts, Transport::Http);
}

#[test]
fn ts2_auto_over_streamable_http() {
    client_through_hub(Client::Ts2, Transport::Http);
}

#[test]
fn py2_over_legacy_sse() {
    client_through_hub(Client::Py2Auto, Transport::Sse);
}

#[test]
fn py1_over_legacy_sse() {
    client_through_hub(Client::Py1, Transport::Sse);
}

#[test]
fn ts1_over_legacy_sse() {
    client_through_hub(Client::Ts, Transport::Sse);
}

/// `mcp-inspector --cli URL --transport http --method …`, in its default (legacy) era and in auto.
#[test]
fn inspector_cli_over_streamable_http() {
    let server = ServedHub::start(Config::new(EVERYTHING_DEMO));
    let url = server.url("/mcp");
    let base = [url.as_str(), "--transport", "http", "--header", AUTH];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        run_inspector(&args, CLIENT_TIMEOUT).unwrap_or_else(|e| hub_err(&server, e))
    };
    let list = run(&["--method", "tools/list"]);
    let names: Vec<String> = list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list: {list}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    assert_has(&names, "everything__echo", "inspector tools/list");
    assert_has(&names, "demo__toggle_extra", "inspector tools/list");
    for era in ["legacy", "auto"] {
        let call = run(&[
            "--protocol-era",
            era,
            "--method",
            "tools/call",
            "--tool-name",
            "everything__echo",
            "--tool-arg",
            "message=from the inspector",
        ]);
        assert_eq!(
            text_of(&call["result"]),
            "Echo: from the inspector",
            "inspector ({era}) tools/call: {call}"
        );
    }
    let read = run(&["--method", "resources/read", "--uri", FEATURES_URI]);
    assert_eq!(
        read["result"]["contents"][0]["text"].as_str(),
        Some(features_md().as_str()),
        "inspector resources/read: {read}"
    );
}

// ------------------------------------------------------------------ list_changed

/// A call that changes an upstream's catalog reaches the client as tools/list_changed: a plain
/// notification in the handshake era (GET stream / SSE stream), on the `subscriptions/listen`
/// stream for 2026-07-28.
fn list_changed_through_hub(client: Client, extra: &[&str], transport: Transport, via: &str) {
    let server = ServedHub::start(Config::new(DEMO_ONLY));
    let mut args = vec![
        "--scenario",
        "list-changed",
        "--tool",
        "demo__toggle_extra",
        "--wait",
        "5",
    ];
    args.extend_from_slice(extra);
    let out = run_client_url(
        client,
        &args,
        &server.url(path_of(transport)),
        transport,
        &[AUTH],
        CLIENT_TIMEOUT,
    )
    .unwrap_or_else(|e| hub_err(&server, e));
    assert_eq!(out["via"], json!(via), "{out}");
    assert_eq!(
        text_of(&out["call"]),
        "extra tool added",
        "call: {}",
        out["call"]
    );
    let before = strings(&out, "before");
    let after = strings(&out, "after");
    assert!(
        !before.contains(&"demo__extra".to_string()),
        "before: {before:?}"
    );
    assert_eq!(
        out["listChanged"],
        json!(true),
        "no tools/list_changed within 5 s ({via}): {out}\n--- hub log ---\n{}",
        tail(&server.log(), 40)
    );
    assert_has(&after, "demo__extra", "tools/list after list_changed");
}

#[test]
fn list_changed_reaches_a_handshake_client_over_streamable_http() {
    list_changed_through_hub(Client::Py2Handshake, &[], Transport::Http, "notification");
}

#[test]
fn list_changed_reaches_a_2026_client_on_its_listen_stream() {
    list_changed_through_hub(
        Client::Py2Modern,
        &[],
        Transport::Http,
        "subscriptions/listen",
    );
}

#[test]
fn list_changed_reaches_ts2_auto_on_its_listen_stream() {
    list_changed_through_hub(Client::Ts2, &[], Transport::Http, "subscriptions/listen");
}

#[test]
fn list_changed_reaches_a_handshake_client_over_legacy_sse() {
    list_changed_through_hub(Client::Ts, &[], Transport::Sse, "notification");
}

// ------------------------------------------------------------------ tenants

/// `/t/<tenant>/mcp` and `/t/<tenant>/sse` serve that tenant's catalog with that tenant's key.
#[test]
fn tenant_routes_serve_their_own_catalog() {
    let server = ServedHub::start(Config::new(TWO_TENANTS));
    let acme_auth = format!("Authorization: Bearer {ACME_KEY}");
    for (client, transport, path) in [
        (Client::Py2Auto, Transport::Http, "/t/acme/mcp"),
        (Client::Py1, Transport::Sse, "/t/acme/sse"),
    ] {
        let out = run_client_url(
            client,
            &[
                "--scenario",
                "basic",
                "--tool",
                "acmedemo__echo",
                "--args",
                r#"{"message":"acme"}"#,
            ],
            &server.url(path),
            transport,
            &[&acme_auth],
            CLIENT_TIMEOUT,
        )
        .unwrap_or_else(|e| hub_err(&server, e));
        let tools = strings(&out, "tools");
        assert!(
            !tools.is_empty() && tools.iter().all(|t| t.starts_with("acmedemo__")),
            "{path}: tenant acme must see only its own upstream: {tools:?}"
        );
        assert_eq!(
            text_of(&out["call"]),
            "Echo: acme",
            "{path}: {}",
            out["call"]
        );
    }
    // The default tenant's route, with the default tenant's key, sees the other catalog.
    let out = run_client_url(
        Client::Py2Auto,
        &["--scenario", "basic"],
        &server.url("/mcp"),
        Transport::Http,
        &[AUTH],
        CLIENT_TIMEOUT,
    )
    .unwrap_or_else(|e| hub_err(&server, e));
    let tools = strings(&out, "tools");
    assert!(
        !tools.is_empty() && tools.iter().all(|t| t.starts_with("demo__")),
        "/mcp (default tenant): {tools:?}"
    );
}

// ------------------------------------------------------------------ HTTP-level rejections

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw-http","version":"0"}}}"#;
const JSON_CT: (&str, &str) = ("Content-Type", "application/json");
const ACCEPT: (&str, &str) = ("Accept", "application/json, text/event-stream");

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A 2026-07-28 `tools/call` of `demo__echo` with the given `Mcp-Name` header.
fn modern_echo(port: u16, key: &str, mcp_name: &str) -> HttpResponse {
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {
            "name": "demo__echo",
            "arguments": {"message": "header check"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "raw-http", "version": "0"}
            }
        }
    })
    .to_string();
    let auth = bearer(key);
    http_request(
        port,
        "POST",
        "/mcp",
        &[
            JSON_CT,
            ACCEPT,
            ("Authorization", &auth),
            ("MCP-Protocol-Version", MODERN_VERSION),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", mcp_name),
        ],
        body.as_bytes(),
    )
    .expect("POST /mcp")
}

/// A hub on [`TWO_TENANTS`] and raw requests to it, for the HTTP-level contract.
struct Raw {
    server: ServedHub,
    ok_auth: String,
}

const LIST: &[u8] = br#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{}}"#;

impl Raw {
    fn start() -> Raw {
        Raw {
            server: ServedHub::start(Config::new(TWO_TENANTS)),
            ok_auth: bearer(KEY),
        }
    }

    /// POST with JSON content type and the MCP Accept header, plus `extra`.
    fn post(&self, path: &str, extra: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        let mut h = vec![JSON_CT, ACCEPT];
        h.extend_from_slice(extra);
        http_request(self.server.port, "POST", path, &h, body)
            .unwrap_or_else(|e| hub_err(&self.server, e))
    }

    /// POST on the session with the right key and protocol version `version`.
    fn post_in(&self, session: &str, version: &str, body: &[u8]) -> HttpResponse {
        self.post(
            "/mcp",
            &[
                ("Authorization", &self.ok_auth),
                ("Mcp-Session-Id", session),
                ("MCP-Protocol-Version", version),
            ],
            body,
        )
    }

    fn ctx(&self, what: &str, r: &HttpResponse) -> String {
        format!(
            "{what}: got {} {:?} {}\n--- hub log (tail) ---\n{}",
            r.status,
            r.headers,
            r.body,
            tail(&self.server.log(), 30)
        )
    }

    /// Positive control: the right key initializes a session; its id.
    fn initialize(&self) -> String {
        let r = self.post("/mcp", &[("Authorization", &self.ok_auth)], INIT.as_bytes());
        assert_eq!(
            r.status,
            200,
            "{}",
            self.ctx("initialize with the right key", &r)
        );
        let session = r
            .header("mcp-session-id")
            .unwrap_or_else(|| panic!("{}", self.ctx("initialize: no Mcp-Session-Id", &r)))
            .to_string();
        assert!(
            r.json()
                .is_some_and(|m| m["result"]["protocolVersion"].is_string()),
            "{}",
            self.ctx("initialize result", &r)
        );
        session
    }
}

/// 401 + WWW-Authenticate for no key, a wrong key and another tenant's key; the right key
/// initializes a session.
#[test]
fn a_missing_or_wrong_key_is_401_with_www_authenticate() {
    let raw = Raw::start();
    raw.initialize();
    for (what, auth) in [
        ("no key", None),
        ("wrong key", Some(bearer("k-wrong"))),
        ("another tenant's key", Some(bearer(ACME_KEY))),
    ] {
        let mut h = vec![];
        if let Some(a) = &auth {
            h.push(("Authorization", a.as_str()));
        }
        let r = raw.post("/mcp", &h, INIT.as_bytes());
        assert_eq!(r.status, 401, "{}", raw.ctx(what, &r));
        let www = r
            .header("www-authenticate")
            .unwrap_or_else(|| panic!("{}", raw.ctx(&format!("{what}: no WWW-Authenticate"), &r)));
        assert!(
            www.to_ascii_lowercase().starts_with("bearer"),
            "{}",
            raw.ctx(what, &r)
        );
    }
}

/// Another tenant's key is right on its own route, and the default key is not.
#[test]
fn a_tenant_key_opens_only_its_own_route() {
    let raw = Raw::start();
    let acme_auth = bearer(ACME_KEY);
    let r = raw.post(
        "/t/acme/mcp",
        &[("Authorization", &acme_auth)],
        INIT.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", raw.ctx("acme key on /t/acme/mcp", &r));
    let r = raw.post(
        "/t/acme/mcp",
        &[("Authorization", &raw.ok_auth)],
        INIT.as_bytes(),
    );
    assert_eq!(
        r.status,
        401,
        "{}",
        raw.ctx("default key on /t/acme/mcp", &r)
    );
}

/// 403: a foreign Origin or Host; allowed ones and loopback pass.
#[test]
fn a_foreign_origin_or_host_is_403() {
    let raw = Raw::start();
    let loopback_origin = format!("http://127.0.0.1:{}", raw.server.port);
    for (what, header, value, want) in [
        ("foreign Origin", "Origin", "https://evil.example", 403),
        ("allowed Origin", "Origin", "https://app.example", 200),
        ("loopback Origin", "Origin", loopback_origin.as_str(), 200),
        ("foreign Host", "Host", "evil.example", 403),
        ("allowed Host", "Host", "mcp.example", 200),
        ("localhost Host", "Host", "localhost", 200),
    ] {
        let r = raw.post(
            "/mcp",
            &[("Authorization", &raw.ok_auth), (header, value)],
            INIT.as_bytes(),
        );
        assert_eq!(r.status, want, "{}", raw.ctx(what, &r));
    }
}

/// 413 above max_body_bytes, and the body says what the limit is.
#[test]
fn a_body_over_the_limit_is_413_naming_the_limit() {
    let raw = Raw::start();
    let session = raw.initialize();
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"demo__echo","arguments":{{"message":"{}"}}}}}}"#,
        "x".repeat(100_000)
    );
    let r = raw.post_in(&session, "2025-11-25", big.as_bytes());
    assert_eq!(
        r.status,
        413,
        "{}",
        raw.ctx("100 kB body over a 64 KiB limit", &r)
    );
    assert!(
        r.body.contains("65536"),
        "{}",
        raw.ctx("the 413 body should state the limit (65536 bytes)", &r)
    );
}

/// 404: an unknown session (Streamable HTTP and legacy SSE).
#[test]
fn an_unknown_session_is_404() {
    let raw = Raw::start();
    let r = raw.post_in("no-such-session", "2025-11-25", LIST);
    assert_eq!(r.status, 404, "{}", raw.ctx("unknown Mcp-Session-Id", &r));
    let r = raw.post(
        "/messages?sessionId=no-such-session",
        &[("Authorization", &raw.ok_auth)],
        LIST,
    );
    assert_eq!(r.status, 404, "{}", raw.ctx("unknown SSE sessionId", &r));
}

/// The live session answers; an unknown MCP-Protocol-Version is 400; DELETE ends the session and
/// it is unknown (404) afterwards.
#[test]
fn a_session_answers_refuses_an_unknown_protocol_version_and_ends_with_delete() {
    let raw = Raw::start();
    let session = raw.initialize();
    let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let r = raw.post_in(&session, "2025-11-25", initialized);
    assert!(
        r.status == 202 || r.status == 200,
        "{}",
        raw.ctx("notifications/initialized", &r)
    );
    let r = raw.post_in(&session, "2025-11-25", LIST);
    assert_eq!(
        r.status,
        200,
        "{}",
        raw.ctx("tools/list on the session", &r)
    );
    assert!(
        r.json().is_some_and(|m| m["result"]["tools"].is_array()),
        "{}",
        raw.ctx("tools/list result", &r)
    );
    let r = raw.post_in(&session, "1999-01-01", LIST);
    assert_eq!(
        r.status,
        400,
        "{}",
        raw.ctx("unknown MCP-Protocol-Version", &r)
    );

    let r = raw
        .server
        .request(
            "DELETE",
            "/mcp",
            &[
                ("Authorization", &raw.ok_auth),
                ("Mcp-Session-Id", &session),
            ],
            b"",
        )
        .unwrap_or_else(|e| hub_err(&raw.server, e));
    assert!(
        r.status == 200 || r.status == 204,
        "{}",
        raw.ctx("DELETE session", &r)
    );
    let r = raw.post_in(&session, "2025-11-25", LIST);
    assert_eq!(r.status, 404, "{}", raw.ctx("the deleted session", &r));
}

/// 2026-07-28: Mcp-Name must equal params.name (-32020 HeaderMismatch); a matching one works.
#[test]
fn a_2026_call_whose_mcp_name_header_differs_is_400_header_mismatch() {
    let raw = Raw::start();
    let port = raw.server.port;
    let r = modern_echo(port, KEY, "demo__echo");
    assert_eq!(
        r.status,
        200,
        "{}",
        raw.ctx("2026 tools/call with a matching Mcp-Name", &r)
    );
    assert_eq!(
        r.json().map(|m| text_of(&m["result"])),
        Some("Echo: header check".to_string()),
        "{}",
        raw.ctx("2026 tools/call result", &r)
    );
    let r = modern_echo(port, KEY, "demo__add");
    assert_eq!(
        r.status,
        400,
        "{}",
        raw.ctx("Mcp-Name demo__add for params.name demo__echo", &r)
    );
    assert_eq!(
        r.json().and_then(|m| m["error"]["code"].as_i64()),
        Some(-32020),
        "{}",
        raw.ctx("HeaderMismatch code", &r)
    );
}

/// /health answers, healthy or degraded, once the upstreams are up (503 while they start).
#[test]
fn health_answers() {
    let raw = Raw::start();
    let deadline = Instant::now() + Duration::from_secs(15);
    let (code, health) = loop {
        let (code, health) = raw
            .server
            .health()
            .unwrap_or_else(|e| hub_err(&raw.server, e));
        if code != 503 || Instant::now() > deadline {
            break (code, health);
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, 200, "/health: {health}");
    assert!(
        matches!(health["status"].as_str(), Some("healthy" | "degraded")),
        "/health: {health}"
    );
}

// ------------------------------------------------------------------ conformance

/// One conformance run: scenario -> (pass, checks passed, checks failed), and the folder of the
/// suite's per-scenario `checks.json` files.
struct Conformance {
    scores: BTreeMap<String, (bool, u64, u64)>,
    dir: tempfile::TempDir,
}

impl Conformance {
    /// `scripts/conformance.sh URL --detail [--alpha] [ARGS] -o <tmp>`.
    fn run(url: &str, alpha: bool, extra: &[&str]) -> Conformance {
        let dir = tempfile::Builder::new()
            .prefix("mcp-hub-conformance-")
            .tempdir()
            .expect("temp dir");
        let script = repo_root().join("scripts/conformance.sh");
        let mut args = vec![path_str(&script), url.to_string(), "--detail".into()];
        if alpha {
            args.push("--alpha".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["-o".to_string(), path_str(dir.path())]);
        let out = run_bounded(Path::new("/bin/bash"), &args, Duration::from_secs(240))
            .unwrap_or_else(|e| panic!("conformance.sh: {e:#}"));
        assert!(
            out.status.success(),
            "conformance.sh {url} failed ({})\n{}",
            out.status,
            tail(&out.stderr, 40)
        );
        let mut scores = BTreeMap::new();
        for line in out.stdout.lines() {
            // "<name>: pass|fail <passed> <failed>"
            let Some((name, rest)) = line.split_once(": ") else {
                continue;
            };
            let parts: Vec<&str> = rest.split_whitespace().collect();
            if parts.len() == 3 {
                scores.insert(
                    name.to_string(),
                    (
                        parts[0] == "pass",
                        parts[1].parse().unwrap_or(0),
                        parts[2].parse().unwrap_or(0),
                    ),
                );
            }
        }
        assert!(
            !scores.is_empty(),
            "conformance.sh printed no scenario:\n{}",
            out.stdout
        );
        Conformance { scores, dir }
    }

    fn passes(&self, scenario: &str) -> bool {
        self.scores.get(scenario).is_some_and(|v| v.0)
    }

    /// The `errorMessage`s of the FAILURE checks of `scenario` (from `server-<scenario>-<time>/checks.json`).
    fn failure_messages(&self, scenario: &str) -> Vec<String> {
        let prefix = format!("server-{scenario}-");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_it = name
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
            if !is_it {
                continue;
            }
            let text =
                std::fs::read_to_string(entry.path().join("checks.json")).unwrap_or_default();
            let checks: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            for c in checks.as_array().into_iter().flatten() {
                if c["status"] == json!("FAILURE") {
                    out.push(c["errorMessage"].as_str().unwrap_or("").to_string());
                }
            }
        }
        out
    }
}

/// Scenarios that pass against server-everything only because it answers a name it does not have
/// with a result: the suite's fixture tools `test_simple_text` and `test_error_handling` (an
/// `isError` result, which these checks accept) and the fixture resource `test://watched-resource`
/// (server-everything subscribes to any URI). The hub answers unknown tools and URIs with JSON-RPC
/// -32602 (docs/contract.md), so through the hub these fail with -32602, and only that is accepted.
const FIXTURE_ARTEFACTS: [&str; 4] = [
    "tools-call-simple-text",
    "tools-call-error",
    "resources-subscribe",
    "resources-unsubscribe",
];

/// A side-by-side table of two runs; returns the scenarios that pass directly but not through the
/// hub, each with the hub's failure messages.
fn compare(title: &str, direct: &Conformance, hub: &Conformance) -> Vec<(String, Vec<String>)> {
    let score = |c: &Conformance| c.scores.values().filter(|v| v.0).count();
    println!(
        "{title}: server-everything direct {}/{} scenarios pass, through the hub {}/{}",
        score(direct),
        direct.scores.len(),
        score(hub),
        hub.scores.len()
    );
    let mark = |v: Option<&(bool, u64, u64)>| match v {
        Some((p, a, b)) => format!("{} ({a} ok, {b} failed)", if *p { "pass" } else { "fail" }),
        None => "missing".into(),
    };
    let mut worse = Vec::new();
    for (name, d) in &direct.scores {
        let regressed = d.0 && !hub.passes(name);
        if regressed {
            worse.push((name.clone(), hub.failure_messages(name)));
        }
        println!(
            "  {}{name}: direct {} | hub {}",
            if regressed { "!! " } else { "   " },
            mark(Some(d)),
            mark(hub.scores.get(name))
        );
    }
    for (name, h) in &hub.scores {
        if !direct.scores.contains_key(name) {
            println!("     {name}: direct missing | hub {}", mark(Some(h)));
        }
    }
    worse
}

/// The names of the suite's fixture server that server-everything answers although it lacks them.
const FIXTURE_NAMES: [&str; 3] = [
    "test_simple_text",
    "test_error_handling",
    "test://watched-resource",
];

/// A failed check that says the hub refused a fixture name: -32602 in 0.1.x's messages; 0.2.0-alpha
/// prints the hub's error message instead (`Unknown tool `test_simple_text``, `Resource not found:
/// `test://watched-resource` …`).
fn is_unknown_fixture_name(message: &str) -> bool {
    let names_a_fixture = FIXTURE_NAMES
        .iter()
        .any(|n| message.contains(&format!("`{n}`")));
    let refused = message.contains("Unknown tool") || message.contains("Resource not found");
    message.contains("-32602") || (names_a_fixture && refused)
}

/// Asserts that every scenario `direct` passes also passes through the hub, except the
/// [`FIXTURE_ARTEFACTS`] when the hub fails them only with -32602 (and prints the table).
fn assert_hub_matches_direct(
    title: &str,
    direct: &Conformance,
    hub: &Conformance,
    server: &ServedHub,
) {
    let worse = compare(title, direct, hub);
    let unexplained: Vec<&(String, Vec<String>)> = worse
        .iter()
        .filter(|(name, messages)| {
            let artefact = FIXTURE_ARTEFACTS.contains(&name.as_str())
                && !messages.is_empty()
                && messages.iter().all(|m| is_unknown_fixture_name(m));
            if artefact {
                println!("  (accepted: {name} fails through the hub with {messages:?}; see FIXTURE_ARTEFACTS)");
            }
            !artefact
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "{title}: scenarios server-everything passes directly but the hub fails (with the hub's failed checks): {unexplained:?}\n--- hub log (tail) ---\n{}",
        tail(&server.log(), 40)
    );
}

/// The hub's /mcp fronting server-everything scores, scenario by scenario, at least what
/// server-everything's own Streamable HTTP scores (conformance 0.1.x, active suite), and passes
/// dns-rebinding-protection (which server-everything itself fails).
#[test]
fn conformance_through_the_hub_at_least_matches_server_everything() {
    let direct_server = EverythingHttp::start("streamableHttp");
    let server = ServedHub::start(Config::new(EVERYTHING_OPEN));
    let direct = Conformance::run(&direct_server.url("/mcp"), false, &[]);
    let hub = Conformance::run(&server.url("/mcp"), false, &[]);
    assert!(
        hub.passes("dns-rebinding-protection"),
        "the hub must pass dns-rebinding-protection: {:?} {:?}\n--- hub log (tail) ---\n{}",
        hub.scores.get("dns-rebinding-protection"),
        hub.failure_messages("dns-rebinding-protection"),
        tail(&server.log(), 40)
    );
    assert_hub_matches_direct("conformance 0.1.16 (active suite)", &direct, &hub, &server);
}

/// The 0.2.0-alpha suite, every scenario (`--suite all`, including the 2026-07-28 ones): as with
/// 0.1.x, every scenario server-everything passes directly passes through the hub too (except the
/// fixture-name artefacts). Scenarios that call tools of the suite's own fixture server fail
/// either way and are not judged; where the hub passes and server-everything fails is printed.
#[test]
fn conformance_alpha_through_the_hub_at_least_matches_server_everything() {
    let direct_server = EverythingHttp::start("streamableHttp");
    let server = ServedHub::start(Config::new(EVERYTHING_OPEN));
    let direct = Conformance::run(&direct_server.url("/mcp"), true, &["--suite", "all"]);
    let hub = Conformance::run(&server.url("/mcp"), true, &["--suite", "all"]);
    let better: Vec<&String> = hub
        .scores
        .keys()
        .filter(|n| hub.passes(n) && !direct.passes(n))
        .collect();
    println!("alpha: the hub passes where server-everything fails: {better:?}");
    assert_hub_matches_direct(
        "conformance 0.2.0-alpha (--suite all)",
        &direct,
        &hub,
        &server,
    );
}

/// Transparent mode (issue #12): server-everything behind the hub with `prefix = ""` passes every
/// scenario of the conformance suite (0.1.x, active suite) that it passes reached directly,
/// scenario by scenario, with no exception (its names and URIs are its own, and names it does
/// not list reach it as they would directly).
#[test]
fn conformance_transparent_hub_passes_what_server_everything_passes() {
    let direct_server = EverythingHttp::start("streamableHttp");
    let server = ServedHub::start(Config::new(EVERYTHING_TRANSPARENT));
    let direct = Conformance::run(&direct_server.url("/mcp"), false, &[]);
    let hub = Conformance::run(&server.url("/mcp"), false, &[]);
    let worse = compare("transparent mode (prefix = \"\")", &direct, &hub);
    assert!(
        worse.is_empty(),
        "scenarios server-everything passes directly but not behind a transparent hub: {worse:?}\n--- hub log (tail) ---\n{}",
        tail(&server.log(), 40)
    );
}

// ------------------------------------------------------------------ load

/// `components.sessions` of /health (the hub's count of open HTTP sessions).
fn health_sessions(health: &Value) -> Option<u64> {
    health["components"]["sessions"]
        .as_u64()
        .or_else(|| health["sessions"].as_u64())
}

/// Polls /health until it reports no open session, up to `limit`; returns the last count.
fn wait_for_no_sessions(server: &ServedHub, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let (_, h) = server.health().unwrap_or_else(|e| hub_err(server, e));
        let n = health_sessions(&h).unwrap_or_else(|| {
            panic!("/health reports no session count (components.sessions): {h}")
        });
        if n == 0 || Instant::now() >= deadline {
            return n;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn load_round(server: &ServedHub, round: &str) -> Value {
    let deps = Deps::get();
    let script = repo_root().join("tests/clients/load.py");
    let args: Vec<String> = [
        path_str(&script),
        "--url".into(),
        server.url("/mcp"),
        "--sse-url".into(),
        server.url("/sse"),
        "--clients".into(),
        "200".into(),
        "--calls".into(),
        "10".into(),
        "--header".into(),
        AUTH.into(),
        "--peek-url".into(),
        server.url("/health"),
        "--timeout".into(),
        "55".into(),
    ]
    .into();
    let started = Instant::now();
    let out = run_bounded(&deps.py2(), &args, Duration::from_secs(60))
        .unwrap_or_else(|e| hub_err(server, e));
    assert!(
        out.status.success(),
        "load.py ({round}) failed ({}): {}\n--- hub log (tail) ---\n{}",
        out.status,
        tail(&out.stderr, 30),
        tail(&server.log(), 40)
    );
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("load.py ({round}) printed no JSON ({e}): {}", out.stdout));
    println!(
        "load {round}: {} clients {:?}, {} ok calls, {} errors, connect {} ms, total {} ms (wall {} ms), call p50 {} ms p95 {} ms, versions {}, sessions at peak {:?}",
        v["clients"],
        v["modes"],
        v["ok"],
        v["errors"],
        v["connectMs"],
        v["elapsedMs"],
        started.elapsed().as_millis(),
        v["callP50Ms"],
        v["callP95Ms"],
        v["protocolVersions"],
        health_sessions(&v["peek"]),
    );
    assert_eq!(
        v["errors"],
        json!(0),
        "load {round}: errors {}\n--- hub log (tail) ---\n{}",
        v["errorSamples"],
        tail(&server.log(), 40)
    );
    assert_eq!(v["ok"], json!(2000), "load {round}: {v}");
    v
}

/// 200 concurrent sessions (half legacy SSE, the rest Streamable HTTP, a fifth of all in
/// 2026-07-28 auto mode), 10 echo calls each, three times: no error; /health counts every open
/// handshake-era session while they are connected and none within 10 s of the clients leaving; the
/// hub's RSS after the last round within 20% of after the warm-up. The warm-up is two rounds: after
/// one, glibc's per-thread arenas are still growing (measured: +10% from round 1 to 2, then flat
/// within a few percent), which is allocator warm-up, not a leak.
#[test]
fn load_200_concurrent_sessions_mixed_transports() {
    let mut server = ServedHub::start(Config::new(EVERYTHING_KEYED));
    let mut rss = Vec::new();
    for round in ["warm-up 1", "warm-up 2", "measured"] {
        let out = load_round(&server, round);
        // 2026-07-28 sessions are stateless; every handshake-era session (SSE or Streamable
        // HTTP) is open on the hub while load.py peeks at /health.
        let handshake: u64 = out["protocolVersions"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(v, _)| v.as_str() != MODERN_VERSION)
                    .filter_map(|(_, n)| n.as_u64())
                    .sum()
            })
            .unwrap_or(0);
        let peak = health_sessions(&out["peek"]).unwrap_or(0);
        assert!(
            handshake > 0 && peak >= handshake,
            "{round}: /health counted {peak} open sessions with {handshake} handshake-era sessions connected: {}",
            out["peek"]
        );
        let left = wait_for_no_sessions(&server, Duration::from_secs(10));
        assert_eq!(
            left, 0,
            "{round}: sessions left 10 s after the clients disconnected"
        );
        assert!(server.running(), "the hub died under load ({round})");
        rss.push(server.rss_kib());
    }
    println!("hub RSS after each round (KiB): {rss:?}");
    let (warm, after) = (rss[1], rss[2]);
    assert!(
        after as f64 <= warm as f64 * 1.2,
        "hub RSS grew from {warm} KiB (after the warm-up) to {after} KiB (> 20%) over one more identical round: {rss:?}"
    );
}

// ------------------------------------------------------------------ without the hub

/// Every client and transport against server-everything's own HTTP modes (no hub), so a failure
/// in the tests above can be told apart from a harness or peer problem.
#[test]
fn peers_over_http_without_the_hub() {
    let http = EverythingHttp::start("streamableHttp");
    let sse = EverythingHttp::start("sse");
    let features = features_md();
    for (transport, url) in [
        (Transport::Http, http.url("/mcp")),
        (Transport::Sse, sse.url("/sse")),
    ] {
        for client in [Client::Py2Auto, Client::Py1, Client::Ts, Client::Ts2] {
            let out = run_client_url(
                client,
                &[
                    "--scenario",
                    "basic",
                    "--tool",
                    "echo",
                    "--args",
                    r#"{"message":"hi"}"#,
                    "--uri",
                    "demo://resource/static/document/features.md",
                ],
                &url,
                transport,
                // Ignored by server-everything; checks each client's header plumbing runs.
                &[AUTH],
                CLIENT_TIMEOUT,
            )
            .unwrap_or_else(|e| {
                panic!(
                    "{client:?} over {transport:?}: {e:#}\n--- server-everything log ---\n{}",
                    tail(
                        &if transport == Transport::Http {
                            http.log()
                        } else {
                            sse.log()
                        },
                        30
                    )
                )
            });
            // server-everything speaks only the handshake era: auto modes fall back.
            assert!(
                HANDSHAKE_VERSIONS.contains(&protocol_version(&out)),
                "{client:?} over {transport:?}: {}",
                out["protocolVersion"]
            );
            assert_has(&strings(&out, "tools"), "echo", "direct tools/list");
            assert_eq!(
                text_of(&out["call"]),
                "Echo: hi",
                "{client:?} over {transport:?}"
            );
            assert_eq!(
                out["read"]["contents"][0]["text"].as_str(),
                Some(features.as_str()),
                "{client:?} over {transport:?}"
            );
        }
        let call = run_inspector(
            &[
                &url,
                "--transport",
                transport.flag(),
                "--method",
                "tools/call",
                "--tool-name",
                "echo",
                "--tool-arg",
                "message=hi",
            ],
            CLIENT_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("inspector over {transport:?}: {e:#}"));
        assert_eq!(
            text_of(&call["result"]),
            "Echo: hi",
            "inspector over {transport:?}: {call}"
        );
    }
}

/// The raw HTTP client of tests/harness against server-everything: an initialize answers with a
/// session id, an unknown session is refused (server-everything says 400; the hub must say 404).
#[test]
fn raw_http_client_works_against_server_everything() {
    let http = EverythingHttp::start("streamableHttp");
    let r = http_request(
        http.port,
        "POST",
        "/mcp",
        &[JSON_CT, ACCEPT],
        INIT.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("mcp-session-id").is_some(), "{r:?}");
    assert!(
        r.json()
            .is_some_and(|m| m["result"]["serverInfo"]["name"].is_string()),
        "{r:?}"
    );
}
