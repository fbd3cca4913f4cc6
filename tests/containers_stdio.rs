//! Issue #13, how a stdio container's stdin and stdout reach the hub, against a real engine:
//! by default (`hub.containers.stdio = "socket"`) two pipes of the hub's, handed over the hub's
//! socket to the shim it carries, which puts them on the server's stdin and stdout (the container
//! runs under `/.mcp-hub/shim`, its process reads and writes pipes, the hub says
//! `stdio="socket"`, its folder goes with the container); with `stdio = "attach"` the engine's
//! attach stream. The same calls answer either way, and the container ends when the hub does.
//! It does not measure the difference (the bench does).

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

/// What one run saw of its container, read from the engine and from `/proc` on the host.
struct Seen {
    entrypoint: Vec<String>,
    /// The targets of the server process's `/proc/PID/fd/0` and `1`.
    stdio: [String; 2],
    /// Whether the hub's process holds both of those files too.
    shared: bool,
    log: String,
    inst: String,
}

/// A `/proc/…/fd/N` link's target (`pipe:[…]`, `socket:[…]`, a path).
fn link(path: &str) -> Option<String> {
    std::fs::read_link(path)
        .ok()
        .map(|p| p.display().to_string())
}

/// Runs one hub on `stdio` (extra `[hub.containers]` keys): a call answers; then what the
/// running container was.
fn run(test: &str, stdio: &str) -> Seen {
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
    let init = inspected["State"]["Pid"].as_i64().unwrap_or(0);
    assert!(init > 0, "no pid for the running container: {inspected}");
    // The server: the container's process running the hub's demo server (under the engine's
    // init; the shim exec'd it in its own process).
    let pid = server_pid(init).unwrap_or_else(|| panic!("no demo-server under pid {init}"));
    let fd = |n: u8| link(&format!("/proc/{pid}/fd/{n}")).unwrap_or_else(|| "unreadable".into());
    let stdio = [fd(0), fd(1)];
    let hubs: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", hub.pid()))
        .map(|d| {
            d.flatten()
                .filter_map(|e| link(&e.path().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    let shared = stdio.iter().all(|t| hubs.contains(t));
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.wait(Duration::from_secs(10), |e| e.containers(&label).is_empty()),
        "left behind: {:?}",
        engine.containers(&label)
    );
    Seen {
        entrypoint,
        stdio,
        shared,
        log,
        inst,
    }
}

/// `root` or the first of its descendants that runs `/hub/mcp-hub` (its `argv[0]`: the engine's
/// init and the shim name it too, further on their command lines).
fn server_pid(root: i64) -> Option<i64> {
    let cmdline = std::fs::read(format!("/proc/{root}/cmdline")).unwrap_or_default();
    if cmdline.split(|b| *b == 0).next() == Some(b"/hub/mcp-hub".as_slice()) {
        return Some(root);
    }
    let tasks = std::fs::read_dir(format!("/proc/{root}/task")).ok()?;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            if let Some(p) = server_pid(child) {
                return Some(p);
            }
        }
    }
    None
}

#[test]
fn by_default_a_stdio_container_reads_and_writes_the_hubs_pipes_through_the_shim() {
    let Seen {
        entrypoint,
        stdio,
        shared,
        log,
        inst,
    } = run("stdio-socket", "");
    assert_eq!(
        entrypoint,
        vec!["/.mcp-hub/shim", "/.mcp-hub/io.sock"],
        "the container runs under the shim:\n{log}"
    );
    // As for a child process of the hub: its stdin and stdout are two pipes (not the socket)
    // whose other ends the hub holds.
    assert!(
        stdio.iter().all(|t| t.starts_with("pipe:")) && stdio[0] != stdio[1] && shared,
        "the server's stdin and stdout: {stdio:?} (the hub holds them: {shared})\n{log}"
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
fn with_stdio_attach_the_engines_attach_stream_carries_the_same_calls() {
    let Seen {
        entrypoint,
        shared,
        log,
        ..
    } = run("stdio-attach", "stdio = \"attach\"");
    assert!(
        !entrypoint.iter().any(|e| e.contains(".mcp-hub")),
        "no shim with attach: {entrypoint:?}"
    );
    assert!(!shared, "with attach the engine holds the server's stdio");
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
