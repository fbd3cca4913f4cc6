//! Issue #11, operate the hub: one tenant's key never reaches another tenant through the admin
//! API (404 as if it did not exist, nothing of it in any answer; 403 on hub-wide routes), and
//! an admin API on a non-loopback address without an admin key refuses to start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{
    api, api_ok, free_port, port_open, server_pid, wait_servers, Config, ServedHub, HUB_BIN,
};
use serde_json::Value;

const ADMIN: &str = "adm-5b1f0e9c7d2a4e68b3";
const ACME: &str = "k-acme-1d7f3c9e5a2b";
const OTHER: &str = "k-other-8e4a6c2f0b9d";

/// `acme` and `other`, demo servers only; `other` is the default tenant, so the default-tenant
/// call route names it too.
const TWO_TENANTS: &str = r#"
[hub]
default_tenant = "other"
request_timeout = "20s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[hub.admin]
api_keys = ["adm-5b1f0e9c7d2a4e68b3"]
watch = false

[tenants.acme]
api_keys = ["k-acme-1d7f3c9e5a2b"]

[tenants.acme.servers.demo]
command = "@DEMO@"

[tenants.other]
api_keys = ["k-other-8e4a6c2f0b9d"]

[tenants.other.servers.payroll]
command = "@DEMO@"
args = ["--name", "payroll"]

[tenants.other.servers.ledger]
command = "@DEMO@"
args = ["--name", "ledger"]
"#;

/// `other`'s names that must never reach `acme`'s key (the tenant's own name is checked apart:
/// a 404 repeats the name the caller asked for, as it does for a tenant that does not exist).
const OTHER_NAMES: [&str; 2] = ["payroll", "ledger"];

/// Every route that names `other` or one of its servers, GET and POST: at least 50 requests.
fn cross_tenant_attempts() -> Vec<(&'static str, String, &'static str)> {
    let mut v: Vec<(&str, String, &str)> = vec![
        ("GET", "/api/tenants/other".into(), ""),
        ("GET", "/api/tenants/other/tools".into(), ""),
        ("POST", "/api/tenants/other/stop".into(), ""),
        ("POST", "/api/tenants/other/start".into(), ""),
        ("GET", "/api/tenants/other/".into(), ""),
        ("GET", "/api/servers/other/nosuch".into(), ""),
        ("POST", "/api/servers/other/nosuch/stop".into(), ""),
    ];
    for server in OTHER_NAMES {
        v.push(("GET", format!("/api/servers/other/{server}"), ""));
        for action in ["start", "stop", "restart", "explode"] {
            v.push(("POST", format!("/api/servers/other/{server}/{action}"), ""));
        }
        for tool in [
            "echo",
            "add",
            "slow",
            "fail",
            "toggle_extra",
            "show_dashboard",
            "extra",
            "nothing",
        ] {
            let body = r#"{"message":"leak?","a":1,"b":2}"#;
            v.push((
                "POST",
                format!("/api/tenants/other/tools/{server}__{tool}/call"),
                body,
            ));
            // The default tenant is `other`: the route without a tenant names it too.
            v.push(("POST", format!("/api/tools/{server}__{tool}/call"), body));
        }
        v.push((
            "POST",
            format!("/api/tenants/other/tools/{server}__echo/call"),
            "not json",
        ));
    }
    v
}

/// `acme`'s key against `other`: every attempt is a 404 that shows nothing of `other` (and the
/// same 404 a tenant that does not exist gets), `other`'s servers keep running, hub-wide routes
/// are 403, and the lists show `acme` alone.
#[test]
fn a_tenant_key_never_reaches_another_tenant() {
    let hub = ServedHub::start(Config::new(TWO_TENANTS));
    let p = hub.port;
    wait_servers(p, Some(ADMIN), "other", "up", &[], Duration::from_secs(30));
    wait_servers(p, Some(ADMIN), "acme", "up", &[], Duration::from_secs(30));
    let pids: Vec<_> = OTHER_NAMES
        .iter()
        .map(|s| server_pid(p, Some(ADMIN), "other", s).expect("a pid"))
        .collect();

    let attempts = cross_tenant_attempts();
    assert!(attempts.len() >= 50, "{} attempts", attempts.len());
    for (method, path, body) in &attempts {
        let a = api(p, method, path, Some(ACME), body);
        assert_eq!(
            a.status, 404,
            "{method} {path} with acme's key: {}",
            a.raw.body
        );
        for name in OTHER_NAMES {
            assert!(
                !a.raw.body.contains(name),
                "{method} {path}: the answer names `{name}`: {}",
                a.raw.body
            );
        }
        let rest = a.raw.body.replace("tenant `other`", "");
        assert!(
            !rest.contains("other"),
            "{method} {path}: the answer names `other` beyond the name asked for: {}",
            a.raw.body
        );
        // Indistinguishable from a tenant that does not exist.
        let ghost_path = path
            .replace("/other/", "/ghost/")
            .replace("/other", "/ghost");
        if ghost_path != *path {
            let g = api(p, method, &ghost_path, Some(ACME), body);
            assert_eq!(
                (g.status, g.raw.body.replace("ghost", "other")),
                (a.status, a.raw.body.clone()),
                "{method} {path} vs {ghost_path}"
            );
        }
        assert!(a.header("www-authenticate").is_none());
    }
    // Nothing happened to `other`.
    for (server, pid) in OTHER_NAMES.iter().zip(&pids) {
        assert_eq!(
            server_pid(p, Some(ADMIN), "other", server),
            Some(*pid),
            "{server} still runs, untouched"
        );
    }
    let t = api_ok(p, "GET", "/api/tenants/other", Some(ADMIN), "");
    assert_eq!(t["stopped"], false);
    assert_eq!(t["quota"]["calls_refused"], 0);

    // Hub-wide routes: 403 for a tenant key.
    for (method, path) in [
        ("POST", "/api/reload"),
        ("POST", "/api/reload/rollback"),
        ("GET", "/api/config"),
        ("GET", "/api/config/history"),
    ] {
        let a = api(p, method, path, Some(ACME), "");
        assert_eq!(
            (a.status, a.code()),
            (403, "admin_only"),
            "{method} {path}: {}",
            a.raw.body
        );
    }
    // The lists without a filter, and with a filter naming `other`: `acme` only.
    for path in [
        "/api/tenants",
        "/api/servers",
        "/api/tools",
        "/api/servers?tenant=other",
        "/api/servers?state=up",
    ] {
        let a = api(p, "GET", path, Some(ACME), "");
        assert_eq!(a.status, 200, "{path}: {}", a.raw.body);
        let list = a.json.as_object().unwrap().values().next().unwrap().clone();
        for item in list.as_array().unwrap() {
            let owner = item
                .get("tenant")
                .or(item.get("id"))
                .and_then(Value::as_str);
            assert_eq!(owner, Some("acme"), "{path}: {item}");
        }
        for name in OTHER_NAMES.iter().chain(&["other"]) {
            assert!(
                !a.raw.body.contains(name),
                "{path} names `{name}`: {}",
                a.raw.body
            );
        }
    }
    // And the other way round, a few: `other`'s key does not reach `acme`.
    for (method, path) in [
        ("GET", "/api/tenants/acme"),
        ("GET", "/api/servers/acme/demo"),
        ("POST", "/api/servers/acme/demo/stop"),
        ("POST", "/api/tenants/acme/tools/demo__echo/call"),
    ] {
        let a = api(p, method, path, Some(OTHER), "{}");
        assert_eq!(
            a.status, 404,
            "{method} {path} with other's key: {}",
            a.raw.body
        );
    }
    assert!(server_pid(p, Some(ADMIN), "acme", "demo").is_some());
}

/// `mcp-hub serve --listen 0.0.0.0:PORT` with no `[hub.admin] api_keys` exits at once with a
/// message naming the key, and leaves nothing listening; so does `[hub.admin] listen` on a
/// non-loopback address.
#[test]
fn a_public_api_listener_without_an_admin_key_refuses_to_start() {
    let port = free_port();
    let config = Config::new(&format!(
        "[hub]\nshutdown_grace = \"1s\"\n[hub.admin]\nwatch = false\n\
         [tenants.default.servers.demo]\ncommand = \"@DEMO@\"\n# port {port}\n"
    ));
    let admin_port = free_port();
    let admin_listen = Config::new(&format!(
        "[hub]\nshutdown_grace = \"1s\"\n[hub.admin]\nwatch = false\nlisten = \"0.0.0.0:{admin_port}\"\n\
         [tenants.default.servers.demo]\ncommand = \"@DEMO@\"\n"
    ));
    let listen = format!("0.0.0.0:{port}");
    let cases: [(&Config, Vec<&str>, u16); 2] = [
        (&config, vec!["serve", "--listen", &listen], port),
        (
            &admin_listen,
            vec!["serve", "--listen", "127.0.0.1:0"],
            admin_port,
        ),
    ];
    for (config, args, watched) in cases {
        let started = Instant::now();
        let mut cmd = std::process::Command::new(HUB_BIN);
        cmd.arg("--config")
            .arg(&config.path)
            .args(&args)
            .env_remove("RUST_LOG");
        // Bounded: a hub that did start is stopped (its process group) after 15 s.
        let out = harness::run_command(cmd, b"", Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("the hub did not refuse to start: {e:#}"));
        assert_eq!(
            out.code(),
            Some(64),
            "exit code (EXIT_CONFIG); stderr:\n{}",
            out.stderr
        );
        assert!(
            out.took < Duration::from_secs(10),
            "refused quickly, took {:?}",
            out.took
        );
        assert!(
            out.stderr.contains("[hub.admin] api_keys"),
            "the message names `[hub.admin] api_keys`:\n{}",
            out.stderr
        );
        assert!(!port_open(watched), "nothing listens on {watched}");
        eprintln!("{args:?} refused in {:?}", started.elapsed());
    }
}
