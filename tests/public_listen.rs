//! Issue #14: the hub refuses to serve MCP on a non-loopback address (`docker run -p …
//! serve --listen 0.0.0.0:8080`, a Kubernetes Service) while a tenant there has no key, and
//! says how to set one; the admin API's own rule (an admin key) is reported in the same run.
//! A hot reload (file watch, SIGHUP, `POST /api/reload`) that would remove such a key while the
//! hub listens off loopback is refused with the same message, and the running config stays.
//! The accepted case (keys set, 0.0.0.0 inside a container) is tests/image.rs's HTTP run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::{
    api, free_port, generation, mcp_call_2026, port_open, signal_pid, wait_until, Config, Output,
    ServeOpts, ServedHub, HUB_BIN,
};

const ADMIN: &str = "admin-key-0123456789abcdef";
const ACME: &str = "acme-key-0123456789abcdef";

/// `mcp-hub --config … <args>`, bounded: a hub that did start is stopped after 15 s (and fails).
fn refused(config: &Config, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(HUB_BIN);
    cmd.arg("--config")
        .arg(&config.path)
        .args(args)
        .env_remove("RUST_LOG");
    let out = harness::run_command(cmd, b"", Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("the hub did not refuse to start: {e:#}"));
    assert_eq!(
        out.code(),
        Some(64),
        "{args:?}: exit code (EXIT_CONFIG); stderr:\n{}",
        out.stderr
    );
    assert!(
        out.took < Duration::from_secs(10),
        "refused at once, took {:?}",
        out.took
    );
    out
}

fn demo(tenant: &str, keys: &str) -> String {
    format!("[tenants.{tenant}]\napi_keys = [{keys}]\n[tenants.{tenant}.servers.demo]\ncommand = \"@DEMO@\"\n")
}

#[test]
fn serve_on_a_public_address_with_a_keyless_tenant_refuses_and_says_how_to_set_a_key() {
    let port = free_port();
    let config = Config::new(&format!(
        "[hub]\nshutdown_grace = \"1s\"\n[hub.admin]\nwatch = false\napi_keys = [\"{ADMIN}\"]\n{}",
        demo("default", "")
    ));
    let listen = format!("0.0.0.0:{port}");
    let out = refused(&config, &["serve", "--listen", &listen]);
    for needle in [
        &format!("refusing to serve MCP on {listen}"),
        "tenant `default` has no key",
        "[tenants.default] api_keys = [\"${MCP_HUB_API_KEY}\"]",
        "Authorization: Bearer <key>",
        "--listen 127.0.0.1:8080",
    ] {
        assert!(
            out.stderr.contains(needle),
            "the message says `{needle}`:\n{}",
            out.stderr
        );
    }
    // The admin key is set: the admin API's rule has nothing to say.
    assert!(
        !out.stderr.contains("without an admin key"),
        "{}",
        out.stderr
    );
    assert!(!port_open(port), "nothing listens on {port}");
}

#[test]
fn serve_on_a_public_address_with_no_key_at_all_names_both_keys_in_one_run() {
    let port = free_port();
    let config = Config::new(&format!(
        "[hub]\nshutdown_grace = \"1s\"\n[hub.admin]\nwatch = false\n{}{}",
        demo("default", ""),
        demo("acme", &format!("\"{ACME}\""))
    ));
    let listen = format!("0.0.0.0:{port}");
    let out = refused(&config, &["serve", "--listen", &listen]);
    assert!(
        out.stderr.contains("[hub.admin] api_keys"),
        "the admin API's rule:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("tenant `default` has no key"),
        "the keyless tenant, and only it:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("`acme`"), "{}", out.stderr);
    assert!(!port_open(port), "nothing listens on {port}");
}

#[test]
fn stdio_with_a_public_listen_refuses_too_and_names_every_keyless_tenant() {
    let port = free_port();
    // `stdio --listen` serves one tenant over HTTP; `serve` would serve both.
    let config = Config::new(&format!(
        "[hub]\nshutdown_grace = \"1s\"\n[hub.admin]\nwatch = false\napi_keys = [\"{ADMIN}\"]\n{}{}",
        demo("default", ""),
        demo("other", "")
    ));
    let listen = format!("0.0.0.0:{port}");
    let out = refused(
        &config,
        &["stdio", "--tenant", "other", "--listen", &listen],
    );
    assert!(
        out.stderr.contains("tenant `other` has no key")
            && out.stderr.contains("[tenants.other] api_keys"),
        "names the served tenant:\n{}",
        out.stderr
    );
    let out = refused(&config, &["serve", "--listen", &listen]);
    assert!(
        out.stderr
            .contains("tenants `default`, `other` have no key"),
        "names both:\n{}",
        out.stderr
    );
    assert!(!port_open(port), "nothing listens on {port}");
}

/// Loopback stays as it was: no key needed (the first-run experience).
#[test]
fn a_loopback_listener_needs_no_key() {
    let hub = harness::ServedHub::start(Config::new(&demo("default", "")));
    let started = std::time::Instant::now();
    loop {
        match hub.health() {
            Ok((200, _)) => break,
            other if started.elapsed() > Duration::from_secs(20) => {
                panic!("/health never 200: {other:?}\n{}", hub.log())
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `[hub.admin]` with `admin_keys`, and the tenant `default` with `tenant_keys`.
fn public_config(admin_keys: &str, tenant_keys: &str, extra: &str) -> String {
    format!(
        "[hub]\nshutdown_grace = \"1s\"\n{extra}\n[hub.admin]\napi_keys = [{admin_keys}]\n{}",
        demo("default", tenant_keys)
    )
}

/// How often the log says a reload was refused.
fn refusals(hub: &ServedHub) -> usize {
    hub.log().matches("reload refused").count()
}

/// The hub serves 0.0.0.0 with an admin key and a tenant key. A file edit that removes the
/// tenant's key is refused by the watcher, `POST /api/reload` and SIGHUP alike, with the start's
/// message; one that removes the admin key too; the key still guards MCP; and an edit that keeps
/// the keys is applied.
#[test]
fn a_reload_that_removes_the_last_key_while_listening_publicly_is_refused() {
    let port = free_port();
    let admin = format!("\"{ADMIN}\"");
    let acme = format!("\"{ACME}\"");
    let listen = format!("0.0.0.0:{port}");
    let hub = ServedHub::start_opts(
        Config::new(&public_config(&admin, &acme, "")),
        ServeOpts::default().listen(&listen),
    );
    let key = Some(ADMIN);
    let gen0 = generation(port, key);
    let rewrite = |text: &str| {
        std::fs::write(
            &hub.config.path,
            harness::fill_template(text, hub.config.dir()),
        )
        .unwrap()
    };
    let no_tenant_key = format!("refusing to serve MCP on {listen}: tenant `default` has no key");

    // The watcher sees the tenant's key go: refused, logged with the start's message.
    rewrite(&public_config(&admin, "", ""));
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            refusals(&hub) >= 1
        }),
        "the watcher's reload is refused:\n{}",
        hub.log()
    );
    let log = hub.log();
    for needle in [
        no_tenant_key.as_str(),
        "[tenants.default] api_keys = [\"${MCP_HUB_API_KEY}\"]",
        "--listen 127.0.0.1:8080",
    ] {
        assert!(log.contains(needle), "the log says `{needle}`:\n{log}");
    }
    assert_eq!(generation(port, key), gen0, "nothing applied");

    // The admin API says the same, as an error, and nothing changed.
    let a = api(port, "POST", "/api/reload", key, "");
    assert_eq!(
        (a.status, a.code()),
        (400, "keys_required"),
        "{}",
        a.raw.body
    );
    let message = a.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&no_tenant_key), "{}", a.raw.body);
    assert!(
        a.json["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("nothing changed")),
        "{}",
        a.raw.body
    );

    // SIGHUP: refused too.
    let before = refusals(&hub);
    signal_pid(hub.pid(), nix::sys::signal::Signal::SIGHUP);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            refusals(&hub) > before
        }),
        "SIGHUP's reload is refused:\n{}",
        hub.log()
    );
    assert_eq!(generation(port, key), gen0);

    // The running config still asks MCP clients for the tenant's key, and takes it.
    let r = mcp_call_2026(
        port,
        "/mcp",
        None,
        "demo__echo",
        serde_json::json!({"message": "x"}),
    );
    assert_eq!(r.status, 401, "no key, no call: {}", r.body);
    let r = mcp_call_2026(
        port,
        "/mcp",
        Some(ACME),
        "demo__echo",
        serde_json::json!({"message": "still guarded"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("still guarded"), "{}", r.body);

    // The admin key going (the API listens on 0.0.0.0 too): refused with the API's message.
    rewrite(&public_config("", &acme, ""));
    let a = api(port, "POST", "/api/reload", key, "");
    assert_eq!(
        (a.status, a.code()),
        (400, "keys_required"),
        "{}",
        a.raw.body
    );
    assert!(
        a.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!(
                "refusing to serve the admin API on {listen} without an admin key"
            ))),
        "{}",
        a.raw.body
    );
    assert_eq!(generation(port, key), gen0);

    // An edit that keeps both keys is applied.
    rewrite(&public_config(&admin, &acme, "request_timeout = \"9s\""));
    let a = api(port, "POST", "/api/reload", key, "");
    assert_eq!(a.status, 200, "{}", a.raw.body);
    assert_eq!(generation(port, key), gen0 + 1);
}
