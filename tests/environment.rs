//! Twelve-factor configuration through the real binary (issue #14 item 5): the precedence flag >
//! environment > file > default as `check` reports it and as the hub's own log obeys it, a bad
//! variable named with its key, and `check` never printing a secret. The upstream is the hub's
//! built-in demo server (`${MCP_HUB_EXE} demo-server`), so no third-party peer is involved.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{run_hub_env, Output};

const CONFIG: &str = "[hub.log]\nlevel = \"warn\"\n[hub.admin]\napi_keys = [\"${ADMIN_KEY}\"]\n[tenants.t.servers.demo]\ncommand = \"${MCP_HUB_EXE}\"\nargs = [\"demo-server\"]\n";

fn hub(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec![("ADMIN_KEY", "admin-key-that-must-not-be-printed")];
    all.extend_from_slice(env);
    run_hub_env(config, args, &all, Duration::from_secs(30))
}

fn setting<'a>(check: &'a Output, key: &str) -> &'a str {
    check
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("`check` does not show {key}:\n{}", check.stdout))
        .trim()
}

#[test]
fn flag_beats_environment_beats_file_beats_default_in_check_and_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let file = format!("{}:2", config.display());

    let plain = hub(&config, &["check"], &[]);
    assert_eq!(plain.code(), Some(0), "{}", plain.stderr);
    assert_eq!(
        setting(&plain, "hub.log.level"),
        format!("hub.log.level = warn  ({file})")
    );
    assert_eq!(
        setting(&plain, "hub.page_size"),
        "hub.page_size = 100  (default)"
    );
    assert_eq!(
        setting(&plain, "hub.admin.api_keys"),
        format!("hub.admin.api_keys = <set>  ({}:4)", config.display())
    );
    assert!(
        !plain.stdout.contains("admin-key-that-must-not-be-printed"),
        "{}",
        plain.stdout
    );

    let env = [("MCP_HUB_LOG_LEVEL", "debug"), ("MCP_HUB_PAGE_SIZE", "25")];
    let from_env = hub(&config, &["check"], &env);
    assert_eq!(
        setting(&from_env, "hub.log.level"),
        "hub.log.level = debug  (env MCP_HUB_LOG_LEVEL)"
    );
    assert_eq!(
        setting(&from_env, "hub.page_size"),
        "hub.page_size = 25  (env MCP_HUB_PAGE_SIZE)"
    );
    let flag = hub(&config, &["--log-level", "error", "check"], &env);
    assert_eq!(
        setting(&flag, "hub.log.level"),
        "hub.log.level = error  (flag --log-level)"
    );

    // The log obeys the same order: the file says warn (no INFO line), the variable debug.
    let quiet = hub(&config, &["tools"], &[]);
    assert_eq!(quiet.code(), Some(0), "{}", quiet.stderr);
    assert!(!quiet.stderr.contains(" INFO "), "{}", quiet.stderr);
    let loud = hub(&config, &["tools"], &[("MCP_HUB_LOG_LEVEL", "debug")]);
    assert!(loud.stderr.contains(" DEBUG "), "{}", loud.stderr);
    let flagged = hub(
        &config,
        &["--log-level", "warn", "tools"],
        &[("MCP_HUB_LOG_LEVEL", "debug")],
    );
    assert!(!flagged.stderr.contains(" INFO "), "{}", flagged.stderr);
}

#[test]
fn a_bad_variable_is_refused_with_its_name_its_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let out = hub(
        &config,
        &["check"],
        &[("MCP_HUB_HTTP_LISTEN", "everywhere")],
    );
    assert_eq!(out.code(), Some(64), "{}", out.stdout);
    assert!(
        out.stderr.contains("hub.http.listen: `everywhere` is not an address (from the environment variable `MCP_HUB_HTTP_LISTEN`, which overrides `hub.http.listen`)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: fix or unset `MCP_HUB_HTTP_LISTEN`"),
        "{}",
        out.stderr
    );
}
