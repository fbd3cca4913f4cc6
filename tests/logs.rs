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

use harness::{run_command, Config, HUB_BIN};
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
