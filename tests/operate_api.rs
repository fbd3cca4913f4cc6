//! Issue #11, operate the hub: the REST admin API end to end against `mcp-hub serve` with real
//! upstreams (server-everything on node, mcp-server-time from the py2 venv, the demo server),
//! every route that reads, calls and reloads, and every status it gives, with the admin key and
//! the tenants' keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{
    api, api_ok, names, pid_alive, refused, server_pid, signal_pid, text_of, wait_servers,
    wait_until, Config, ServeOpts, ServedHub,
};
use serde_json::{json, Value};

const ADMIN: &str = "adm-5b1f0e9c7d2a4e68b3";
const ACME: &str = "k-acme-1d7f3c9e5a2b";
const OTHER: &str = "k-other-8e4a6c2f0b9d";
/// Values of `env` and keys that must never appear in an answer.
const DEMO_ENV_VALUE: &str = "env-value-4f2d9a7c1e";
const INTERPOLATED_VALUE: &str = "interpolated-value-93bd51";

/// Two tenants with their own keys; the admin key comes from the environment. `acme` has every
/// kind of upstream, a disabled server and a server with a 1 s timeout; `other` has two demo
/// servers. The file is not watched: this test reloads by hand.
const TWO_TENANTS: &str = r#"
[hub]
default_tenant = "acme"
request_timeout = "20s"
startup_timeout = "30s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[hub.admin]
api_keys = ["${OP_ADMIN_KEY}"]
watch = false

[tenants.acme]
api_keys = ["k-acme-1d7f3c9e5a2b"]

[tenants.acme.servers.demo]
command = "@DEMO@"
type = "demo"
env = { DEMO_TOKEN = "env-value-4f2d9a7c1e", OTHER_TOKEN = "${OP_SECRET}" }

[tenants.acme.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
type = "reference"

[tenants.acme.servers.time]
command = "@TIME@"
args = ["--local-timezone", "UTC"]
type = "reference"

[tenants.acme.servers.off]
command = "@DEMO@"
enabled = false

[tenants.acme.servers.slowpoke]
command = "@DEMO@"
request_timeout = "1s"

[tenants.other]
api_keys = ["k-other-8e4a6c2f0b9d"]

[tenants.other.servers.payroll]
command = "@DEMO@"
args = ["--name", "payroll"]

[tenants.other.servers.ledger]
command = "@DEMO@"
args = ["--name", "ledger"]
"#;

fn start_two_tenants(template: &str) -> ServedHub {
    let opts = ServeOpts::default()
        .env("OP_ADMIN_KEY", ADMIN)
        .env("OP_SECRET", INTERPOLATED_VALUE);
    ServedHub::start_opts(Config::new(template), opts)
}

/// Every route that reads, calls and reloads, and every status it gives, as a user sees them:
/// counts and generation, servers with states and quota use, pid/protocol/capabilities/tools,
/// filters, calls (200/400/404/502/504), keys (401/403), the config without secrets, reload and
/// rollback (409 without history). Start/stop/restart: tests/operate_control.rs.
#[test]
fn the_api_end_to_end_with_real_upstreams() {
    let started = Instant::now();
    let hub = start_two_tenants(TWO_TENANTS);
    let p = hub.port;
    let admin = Some(ADMIN);
    let acme = Some(ACME);
    wait_servers(p, admin, "acme", "up", &["off"], Duration::from_secs(60));
    wait_servers(p, admin, "other", "up", &[], Duration::from_secs(30));

    // 401: no key, a wrong key; WWW-Authenticate names the scheme.
    for key in [None, Some("not-a-key-of-anyone-at-all")] {
        let a = api(p, "GET", "/api/tenants", key, "");
        refused(&a, 401, "unauthorized");
        assert!(
            a.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{:?}",
            a.raw.headers
        );
    }
    // The document needs no key.
    let doc = api_ok(p, "GET", "/api/openapi.json", None, "");
    assert_eq!(doc["openapi"], "3.1.0");

    // GET /: counts and the generation.
    let root = api_ok(p, "GET", "/", admin, "");
    assert_eq!(root["name"], "mcp-hub");
    assert_eq!(root["counts"]["tenants"], 2, "{root:#}");
    assert_eq!(root["counts"]["servers"]["total"], 7, "{root:#}");
    assert_eq!(root["counts"]["servers"]["up"], 6, "{root:#}");
    let gen0 = root["config"]["generation"].as_u64().expect("generation");
    let tools_acme = api_ok(p, "GET", "/api/tenants/acme/tools", admin, "");
    let tools_other = api_ok(p, "GET", "/api/tenants/other/tools", admin, "");
    let n_tools = |v: &Value| v["tools"].as_array().map_or(0, Vec::len);
    assert_eq!(
        root["counts"]["tools"].as_u64(),
        Some((n_tools(&tools_acme) + n_tools(&tools_other)) as u64),
        "{root:#}"
    );
    let acme_tools = names(&tools_acme["tools"]);
    for t in [
        "demo__echo",
        "demo__slow",
        "everything__echo",
        "everything__get-sum",
        "time__get_current_time",
        "slowpoke__slow",
    ] {
        harness::assert_has(&acme_tools, t, "acme's catalog");
    }

    // GET /api/tenants: the admin sees both, a tenant key only its own.
    let all = api_ok(p, "GET", "/api/tenants", admin, "");
    assert_eq!(names(&all["tenants"]), ["acme", "other"]);
    let own = api_ok(p, "GET", "/api/tenants", acme, "");
    assert_eq!(names(&own["tenants"]), ["acme"]);

    // GET /api/tenants/acme: servers with states, limits and quota use.
    let t = api_ok(p, "GET", "/api/tenants/acme", acme, "");
    let states: Vec<(String, String)> = t["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, state) in [
        ("demo", "up"),
        ("everything", "up"),
        ("time", "up"),
        ("off", "disabled"),
        ("slowpoke", "up"),
    ] {
        assert!(
            states.contains(&(name.into(), state.into())),
            "{name} should be {state}: {states:?}"
        );
    }
    assert_eq!(t["stopped"], false);
    assert_eq!(t["quota"]["calls_in_flight"], 0, "{t:#}");
    assert_eq!(t["quota"]["calls_refused"], 0, "{t:#}");
    assert_eq!(t["quota"]["servers"], 5, "{t:#}");
    assert!(t["limits"].is_object(), "{t:#}");

    // GET /api/servers/{t}/{s}: pid, protocol, capabilities, tools of each kind of upstream.
    for (server, tool, info) in [
        ("demo", "echo", Some("demo")),
        ("everything", "get-sum", None),
        ("time", "get_current_time", None),
    ] {
        let s = api_ok(p, "GET", &format!("/api/servers/acme/{server}"), acme, "");
        assert_eq!(s["state"], "up", "{s:#}");
        assert_eq!(s["transport"], "stdio", "{s:#}");
        let pid = s["pid"].as_i64().unwrap_or_else(|| panic!("a pid: {s:#}"));
        assert!(pid_alive(pid as i32), "{server}'s pid {pid} runs");
        assert!(
            s["protocol"].as_str().is_some_and(|v| v.starts_with("20")),
            "a protocol revision: {s:#}"
        );
        assert!(s["capabilities"]["tools"].is_object(), "{s:#}");
        harness::assert_has(&harness::strings(&s, "tools"), tool, server);
        if let Some(name) = info {
            assert_eq!(s["server_info"]["name"], name, "{s:#}");
        }
    }
    let off = api_ok(p, "GET", "/api/servers/acme/off", admin, "");
    assert_eq!(
        (off["state"].as_str(), off["pid"].as_i64()),
        (Some("disabled"), None)
    );

    // GET /api/servers?type=…, ?tenant=…, ?state=…
    let by = |q: &str| -> Vec<String> {
        let v = api_ok(p, "GET", &format!("/api/servers{q}"), admin, "");
        let mut n: Vec<String> = v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s["tenant"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                )
            })
            .collect();
        n.sort();
        n
    };
    assert_eq!(by("?type=reference"), ["acme/everything", "acme/time"]);
    assert_eq!(by("?type=demo"), ["acme/demo"]);
    assert_eq!(by("?type=nothing"), Vec::<String>::new());
    assert_eq!(by("?tenant=other"), ["other/ledger", "other/payroll"]);
    assert_eq!(by("?state=disabled"), ["acme/off"]);
    assert_eq!(by("").len(), 7);
    // /api/tools: every tool with its tenant and server.
    let tools = api_ok(p, "GET", "/api/tools", admin, "");
    let echo = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "payroll__echo")
        .expect("payroll__echo in /api/tools");
    assert_eq!(
        (&echo["tenant"], &echo["server"]),
        (&json!("other"), &json!("payroll"))
    );

    // Calls: the CallToolResult of each kind of upstream, and the default tenant's route.
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/acme/tools/demo__echo/call",
        acme,
        r#"{"message":"hello rest"}"#,
    );
    assert!(text_of(&r).contains("hello rest"), "{r}");
    assert_ne!(r["isError"], true, "{r}");
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/acme/tools/everything__get-sum/call",
        acme,
        r#"{"a":2,"b":40}"#,
    );
    assert!(text_of(&r).contains("42"), "{r}");
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/acme/tools/time__get_current_time/call",
        admin,
        r#"{"timezone":"UTC"}"#,
    );
    assert!(text_of(&r).contains("UTC"), "{r}");
    let r = api_ok(
        p,
        "POST",
        "/api/tools/demo__add/call",
        acme,
        r#"{"a":1,"b":2}"#,
    );
    assert_eq!(r["structuredContent"]["sum"], 3.0, "{r}");
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/acme/tools/demo__fail/call",
        acme,
        "",
    );
    assert_eq!(
        r["isError"], true,
        "a tool's own error is a 200 result: {r}"
    );

    // 400: a body that is no object, or no JSON; arguments the server rejects.
    let call = |tool: &str, body: &str| {
        api(
            p,
            "POST",
            &format!("/api/tenants/acme/tools/{tool}/call"),
            acme,
            body,
        )
    };
    refused(&call("demo__echo", "[1, 2]"), 400, "invalid_arguments");
    refused(&call("demo__echo", "{\"message\":"), 400, "invalid_json");
    refused(
        &call("demo__add", r#"{"a":"one","b":[]}"#),
        400,
        "invalid_params",
    );
    // 404: unknown tenant, server, action, tool, route.
    refused(
        &api(p, "GET", "/api/tenants/nobody", admin, ""),
        404,
        "not_found",
    );
    refused(
        &api(p, "GET", "/api/tenants/nobody/tools", admin, ""),
        404,
        "not_found",
    );
    refused(
        &api(p, "GET", "/api/servers/acme/nothing", admin, ""),
        404,
        "not_found",
    );
    refused(
        &api(p, "POST", "/api/servers/acme/nothing/start", admin, ""),
        404,
        "not_found",
    );
    refused(
        &api(p, "POST", "/api/servers/acme/demo/explode", admin, ""),
        404,
        "not_found",
    );
    refused(&call("demo__nothing", "{}"), 404, "unknown_tool");
    refused(&api(p, "GET", "/api/nothing", admin, ""), 404, "not_found");
    // 409: a disabled server; a rollback with no earlier generation.
    refused(
        &api(p, "POST", "/api/servers/acme/off/start", admin, ""),
        409,
        "server_disabled",
    );
    refused(
        &api(p, "POST", "/api/reload/rollback", admin, ""),
        409,
        "no_history",
    );
    // 504: the server's request_timeout (1 s) passes before its 3 s call ends.
    let a = call("slowpoke__slow", r#"{"steps":30,"delay_ms":100}"#);
    assert!(
        a.status == 504 && a.code().contains("timeout"),
        "{}",
        a.raw.body
    );

    // 502: the upstream dies during the call.
    let demo_pid = server_pid(p, admin, "acme", "demo").expect("demo's pid");
    let slow = std::thread::spawn(move || {
        api(
            p,
            "POST",
            "/api/tenants/acme/tools/demo__slow/call",
            Some(ACME),
            r#"{"steps":50,"delay_ms":100}"#,
        )
    });
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        || { api(p, "GET", "/api/tenants/acme", admin, "").json["quota"]["calls_in_flight"] == 1 }
    ));
    std::thread::sleep(Duration::from_millis(200));
    signal_pid(demo_pid as u32, nix::sys::signal::Signal::SIGKILL);
    let a = slow.join().unwrap();
    refused(&a, 502, "upstream_failed");
    wait_servers(p, admin, "acme", "up", &["off"], Duration::from_secs(30));

    // The config: 403 for a tenant key; for the admin no secret value at all.
    refused(&api(p, "GET", "/api/config", acme, ""), 403, "admin_only");
    refused(
        &api(p, "GET", "/api/config/history", acme, ""),
        403,
        "admin_only",
    );
    refused(&api(p, "POST", "/api/reload", acme, ""), 403, "admin_only");
    refused(
        &api(p, "POST", "/api/reload/rollback", acme, ""),
        403,
        "admin_only",
    );
    let cfg = api(p, "GET", "/api/config", admin, "");
    assert_eq!(cfg.status, 200);
    for secret in [ADMIN, ACME, OTHER, DEMO_ENV_VALUE, INTERPOLATED_VALUE] {
        assert!(
            !cfg.raw.body.contains(secret),
            "GET /api/config shows `{secret}`: {}",
            cfg.raw.body
        );
    }
    assert_eq!(cfg.json["hub"]["admin"]["api_keys"], 1);
    assert_eq!(
        cfg.json["tenants"]["acme"]["servers"]["demo"]["env"]["DEMO_TOKEN"],
        "<redacted>"
    );
    assert_eq!(cfg.json["generation"].as_u64(), Some(gen0));

    // Reload (a server added to `other`), then roll back to the first generation.
    let text = std::fs::read_to_string(&hub.config.path).unwrap();
    std::fs::write(
        &hub.config.path,
        format!(
            "{text}\n[tenants.other.servers.extra]\ncommand = {:?}\n",
            harness::path_str(&harness::example("demo_server"))
        ),
    )
    .unwrap();
    let r = api_ok(p, "POST", "/api/reload", admin, "");
    assert_eq!(
        (r["generation"].as_u64(), r["changed"].as_bool()),
        (Some(gen0 + 1), Some(true)),
        "{r}"
    );
    assert_eq!(r["tenants"]["other"]["added"], json!(["extra"]), "{r}");
    assert_eq!(harness::generation(p, admin), gen0 + 1);
    let same = api_ok(p, "POST", "/api/reload", admin, "");
    assert_eq!(
        (same["generation"].as_u64(), same["changed"].as_bool()),
        (Some(gen0 + 1), Some(false))
    );
    let r = api_ok(p, "POST", "/api/reload/rollback", admin, "");
    assert_eq!(r["generation"].as_u64(), Some(gen0 + 2), "{r}");
    assert_eq!(r["tenants"]["other"]["removed"], json!(["extra"]), "{r}");
    refused(
        &api(p, "GET", "/api/servers/other/extra", admin, ""),
        404,
        "not_found",
    );
    let h = api_ok(p, "GET", "/api/config/history", admin, "");
    assert_eq!(h["running"].as_u64(), Some(gen0 + 2), "{h}");
    let sources: Vec<&str> = h["generations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["source"].as_str())
        .collect();
    assert_eq!(sources.first(), Some(&"rollback"), "newest first: {h}");
    assert!(sources.contains(&"api"), "{h}");
    eprintln!("the API end to end took {:?}", started.elapsed());
}
