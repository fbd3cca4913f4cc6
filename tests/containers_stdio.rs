//! Issue #13, how a stdio container's stdin and stdout reach the hub, against a real engine:
//! with `hub.containers.stdio = "socket"` the hub's own socket, which the shim it carries puts on
//! the server's stdio (the container runs under `/.mcp-hub/shim`, the hub says
//! `stdio="socket"`, its folder goes with the container); by default (`attach`) the engine's
//! attach stream. The same calls answer either way, and a container whose stdio is
//! the socket ends when the hub closes it. It does not measure the difference (the bench does).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::engine::{hostroot_server, hub_toml, instance_label, test_instance, Engine};
use harness::StdioHub;
use serde_json::json;

fn demo(instance: &str, engine: &Engine, stdio: &str) -> String {
    hub_toml(
        engine,
        instance,
        stdio,
        &hostroot_server(
            "t",
            "demo",
            &["/hub/mcp-hub".into(), "demo-server".into()],
            "strategy = \"always-on\"",
        ),
    )
}

/// Runs one hub on `stdio` (extra `[hub.containers]` keys): a call answers, and the running
/// container's entrypoint is returned with the hub's log.
fn run(test: &str, stdio: &str) -> (Vec<String>, String, String) {
    let engine = Engine::shared();
    let inst = test_instance(test);
    let label = instance_label(&inst);
    let mut hub = StdioHub::start(&demo(&inst, &engine, stdio));
    let echo = hub.call("demo__echo", json!({"message": "through"}));
    assert!(
        echo.to_string().contains("through"),
        "{echo}\n{}",
        hub.log()
    );
    let rows = engine.containers(&label);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let inspected = engine.inspect(rows[0]["Id"].as_str().unwrap());
    let entrypoint: Vec<String> = inspected["Config"]["Entrypoint"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.wait(Duration::from_secs(10), |e| e.containers(&label).is_empty()),
        "left behind: {:?}",
        engine.containers(&label)
    );
    (entrypoint, log, inst)
}

#[test]
fn with_stdio_socket_a_stdio_container_speaks_on_the_hubs_socket_through_the_shim() {
    let (entrypoint, log, inst) = run("stdio-socket", "stdio = \"socket\"");
    assert_eq!(
        entrypoint,
        vec!["/.mcp-hub/shim", "/.mcp-hub/io.sock"],
        "the container runs under the shim:\n{log}"
    );
    assert!(log.contains("stdio=\"socket\""), "{log}");
    // The container's folder (socket and shim copy) went with it.
    let folder = std::env::temp_dir().join("mcp-hub-io").join(&inst);
    let left: Vec<_> = std::fs::read_dir(&folder)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", folder.display());
}

#[test]
fn by_default_the_engines_attach_stream_carries_the_same_calls() {
    let (entrypoint, log, _) = run("stdio-attach", "");
    assert!(
        !entrypoint.iter().any(|e| e.contains(".mcp-hub")),
        "no shim with attach: {entrypoint:?}"
    );
    assert!(log.contains("stdio=\"attach\""), "{log}");
}

#[test]
fn a_wrong_stdio_value_names_the_key_and_the_choices() {
    let engine = Engine::shared();
    let inst = test_instance("stdio-bad");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, demo(&inst, &engine, "stdio = \"pipe\"")).unwrap();
    let out = std::process::Command::new(harness::deps::HUB_BIN)
        .args(["--config", path.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("hub.containers.stdio")
            && err.contains("`socket`")
            && err.contains("`attach`"),
        "{err}"
    );
}
