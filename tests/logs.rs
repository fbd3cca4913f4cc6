//! `--log-format json`: every log line is one JSON object with its level, message and the
//! tenant and server it concerns; no configured secret reaches the log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::process::Command;
use std::time::Duration;

use harness::{api, mcp_call_2026, run_command, wait_servers, Config, ServedHub, HUB_BIN};
use serde_json::Value;

#[test]
fn json_logs_are_one_object_per_line_and_carry_no_secret() {
    let cfg = Config::new(
        "[tenants.t.servers.demo]\ncommand = \"@DEMO@\"\nenv = { DEMO_TOKEN = \"${LOG_TEST_SECRET}\" }\n[tenants.t.servers.gone]\ncommand = \"no-such-binary-xyz\"\nrestart = { policy = \"never\" }\n",
    );
    let mut cmd = Command::new(HUB_BIN);
    cmd.args(["--log-format", "json", "--config"])
        .arg(&cfg.path)
        .arg("status")
        .env("LOG_TEST_SECRET", "s3cr3t-in-the-env")
        .env_remove("RUST_LOG");
    let out = run_command(cmd, b"", Duration::from_secs(30)).unwrap();
    assert_eq!(out.status.code(), Some(1), "gone is not up");
    let lines: Vec<Value> = out
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l["level"].is_string() && l["fields"]["message"].is_string(),
            "{l}"
        );
    }
    let up = lines
        .iter()
        .find(|l| l["fields"]["message"] == "upstream is up")
        .expect("a line for the demo server coming up");
    assert_eq!(
        (
            up["fields"]["tenant"].as_str(),
            up["fields"]["server"].as_str()
        ),
        (Some("t"), Some("demo"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR" && l["fields"]["server"] == "gone"),
        "the failed server's line names it: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("s3cr3t-in-the-env"),
        "a secret reached the log"
    );
}

/// `[hub.log] level = "debug"`, `format = "json"` from the file alone (no flag, no `RUST_LOG`):
/// a full workload with every kind of configured secret (a remote server's bearer header, an
/// env value, admin and tenant keys) logs none of them; each forwarded request ends with one
/// completion event carrying tenant, server, session, method, request id, duration, outcome.
#[test]
fn a_debug_run_from_the_files_log_keys_logs_each_request_and_no_secret() {
    const ADMIN: &str = "adm1n-s3cr3t-6b1f0e";
    const TENANT: &str = "t3nant-s3cr3t-93aa1c";
    const BEARER: &str = "b3arer-s3cr3t-0d7e21";
    const ENV: &str = "env-s3cr3t-5c2a44";
    let hub = ServedHub::from_toml(&format!(
        r#"
[hub.log]
level = "debug"
format = "json"

[hub.admin]
api_keys = ["{ADMIN}"]

[tenants.t]
api_keys = ["{TENANT}"]

[tenants.t.servers.demo]
command = "@DEMO@"
env = {{ DEMO_TOKEN = "{ENV}" }}

[tenants.t.servers.remote]
url = "http://127.0.0.1:9/mcp"
headers = {{ Authorization = "Bearer {BEARER}" }}
restart = {{ policy = "never" }}
"#
    ));
    let p = hub.port;
    wait_servers(
        p,
        Some(ADMIN),
        "t",
        "up",
        &["remote"],
        Duration::from_secs(30),
    );
    for tool in ["demo__echo", "demo__fail"] {
        let r = mcp_call_2026(
            p,
            "/mcp",
            Some(TENANT),
            tool,
            serde_json::json!({"message": "x"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let status = api(p, "GET", "/api/tenants/t", Some(ADMIN), "");
    assert_eq!(status.status, 200);
    let log = hub.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "debug from hub.log.level"
    );
    let done: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request answered")
        .collect();
    assert_eq!(done.len(), 2, "one completion event per call: {log}");
    for (d, (tool, outcome)) in done
        .iter()
        .zip([("demo__echo", "ok"), ("demo__fail", "tool_error")])
    {
        let f = &d["fields"];
        assert_eq!(d["level"], "DEBUG", "{d}");
        assert_eq!(
            (
                f["tenant"].as_str(),
                f["server"].as_str(),
                f["method"].as_str(),
                f["tool"].as_str(),
                f["outcome"].as_str(),
                f["request_id"].as_str()
            ),
            (
                Some("t"),
                Some("demo"),
                Some("tools/call"),
                Some(tool),
                Some(outcome),
                Some("1")
            ),
            "{d}"
        );
        assert!(f["session"].is_u64() && f["duration_us"].is_u64(), "{d}");
    }
    for secret in [ADMIN, TENANT, BEARER, ENV] {
        assert!(
            !log.contains(secret),
            "secret `{secret}` reached the log:\n{log}"
        );
    }
}
