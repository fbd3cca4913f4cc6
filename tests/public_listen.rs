//! Issue #14: the hub refuses to serve MCP on a non-loopback address (`docker run -p …
//! serve --listen 0.0.0.0:8080`, a Kubernetes Service) while a tenant there has no key, and
//! says how to set one; the admin API's own rule (an admin key) is reported in the same run.
//! The accepted case (keys set, 0.0.0.0 inside a container) is tests/image.rs's HTTP run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::{free_port, port_open, Config, Output, HUB_BIN};

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
