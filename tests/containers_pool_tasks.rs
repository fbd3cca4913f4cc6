//! Issue #13, what a pre-warmed pool's members must share, against a real engine (podman's
//! Docker-compatible service) and server-everything in `localhost/hostroot` containers: a task
//! is asked of the member that ran its call (`tasks/get`, `tasks/result`), `tasks/list` merges
//! every member's, a task on a member that died answers an error naming the server; the log
//! level reaches every member, and a restarted member is told it again (the first member its
//! resource subscriptions too). Each container's stdin is copied to `<logs>/<HOSTNAME>.log`
//! (`tee`), so the test reads what the hub sent each member.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

use harness::engine::{
    hostroot_volumes, hub_toml, instance_label, test_instance, Engine, HOSTROOT,
};
use harness::{api_ok, wait_until, StdioHub};
use serde_json::{json, Value};

/// Server `pool`: server-everything in a pool of three, each container's stdin copied to
/// `<logs>/<HOSTNAME>.log` on its way to the server.
fn pool(logs: &Path) -> String {
    let deps = harness::Deps::get();
    let volumes = hostroot_volumes();
    let volumes = format!(
        "{}, \"{}:/logs\"]",
        volumes.trim_end_matches(']'),
        logs.display()
    );
    let script = format!(
        "tee -a /logs/$HOSTNAME.log | {} {} stdio",
        deps.node().display(),
        deps.everything().display()
    );
    format!(
        r#"
[tenants.t.servers.pool.container]
image = "{HOSTROOT}"
args = ["/bin/sh", "-c", {script}]
volumes = {volumes}
pull = "never"
strategy = "pre-warmed"
pool = 3
"#,
        script = json!(script),
    )
}

/// A folder the containers (any user) can write their copies of stdin to.
fn logs_dir(hub_dir: &Path) -> std::path::PathBuf {
    let logs = hub_dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
    logs
}

/// Starts the hub (stdio client, admin API on a free port) and waits for the pool of three.
fn start(engine: &Engine, inst: &str) -> (StdioHub, u16, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let logs = logs_dir(scratch.path());
    let port = harness::free_port();
    let hub = StdioHub::start_with(
        &hub_toml(engine, inst, "", &pool(&logs)),
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            all_up(&view(port))
        }),
        "the pool did not come up: {:#}\n{}",
        view(port),
        hub.log()
    );
    (hub, port, scratch)
}

fn view(port: u16) -> Value {
    api_ok(port, "GET", "/api/docker/containers/t/pool", None, "")
}

fn all_up(v: &Value) -> bool {
    v["pool"].as_array().is_some_and(|m| {
        m.len() == 3 && m.iter().all(|m| m["state"] == "up" && m["running"] == true)
    })
}

/// Member `n`'s (1-based) container id.
fn member_id(v: &Value, n: usize) -> String {
    v["pool"][n - 1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// What the hub sent the container `id` (its copy of stdin), one message a line.
fn sent_to(logs: &Path, id: &str) -> String {
    std::fs::read_dir(logs)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let host = name.trim_end_matches(".log");
            !host.is_empty() && id.starts_with(host)
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

fn kill(engine: &Engine, id: &str) {
    let out = engine.podman(&["kill", id]);
    assert!(
        out.status.success(),
        "podman kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn task_status(hub: &mut StdioHub, task: &str) -> Value {
    hub.request("tasks/get", json!({"taskId": task}))
}

#[test]
fn a_task_is_asked_of_the_member_that_ran_it_and_one_on_a_dead_member_fails_naming_the_server() {
    let engine = Engine::shared();
    let inst = test_instance("pooltasks");
    let (mut hub, port, _logs) = start(&engine, &inst);

    // Three task-augmented calls in a row: the idle members take them in turn, one each.
    let tasks: Vec<String> = (0..3)
        .map(|i| {
            let r = hub.request("tools/call", json!({"name": "pool__simulate-research-query", "arguments": {"topic": format!("topic-{i}")}, "task": {"ttl": 60000}}));
            r["result"]["task"]["taskId"]
                .as_str()
                .unwrap_or_else(|| panic!("no task: {r}\n{}", hub.log()))
                .to_string()
        })
        .collect();
    let v = view(port);
    let per_member: Vec<u64> = (0..3)
        .map(|i| v["pool"][i]["tasks"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(per_member, vec![1, 1, 1], "one task on each member: {v:#}");

    // `tasks/list` merges every member's list.
    let list = hub.request("tasks/list", json!({}));
    let listed: Vec<&str> = list["result"]["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|t| t["taskId"].as_str())
        .collect();
    for t in &tasks {
        assert!(listed.contains(&t.as_str()), "{t} not in {list}");
    }

    // Member 2 dies while its task works.
    let victim = member_id(&v, 2);
    kill(&engine, &victim);
    let until = Instant::now() + Duration::from_secs(20);
    let mut lost = Vec::new();
    let mut done = Vec::new();
    while lost.len() + done.len() < 3 {
        assert!(
            Instant::now() < until,
            "tasks did not end: lost {lost:?}, done {done:?}\n{}",
            hub.log()
        );
        for (i, t) in tasks.iter().enumerate() {
            if lost.contains(&i) || done.contains(&i) {
                continue;
            }
            let asked = Instant::now();
            let g = task_status(&mut hub, t);
            if let Some(e) = g.get("error") {
                assert!(
                    asked.elapsed() < Duration::from_secs(2),
                    "the lost task's answer took {:?}: {g}",
                    asked.elapsed()
                );
                // Asked while the container dies, the broken connection answers; after, the pool.
                let msg = e["message"].as_str().unwrap_or_default();
                assert!(msg.contains("`pool`"), "the error names the server: {g}");
                assert_eq!(e["data"]["server"], "pool", "{g}");
                lost.push(i);
                continue;
            }
            assert_eq!(
                g["result"]["taskId"],
                json!(t),
                "asked of its own member: {g}"
            );
            if g["result"]["status"] == "completed" {
                done.push(i);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        lost.len(),
        1,
        "only the dead member's task is lost: {lost:?}"
    );
    for &i in &done {
        let res = hub.request("tasks/result", json!({"taskId": tasks[i]}));
        let text = res["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(
            text.contains(&format!("topic-{i}")),
            "task {i}'s own result, from its own member: {res}"
        );
    }

    // Replaced, the member is a new server: the lost task stays lost (not "unknown task").
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
            let v = view(port);
            all_up(&v) && member_id(&v, 2) != victim
        }),
        "member 2 was not replaced: {:#}",
        view(port)
    );
    let again = task_status(&mut hub, &tasks[lost[0]]);
    let msg = again["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("`pool`") && msg.contains("member 2") && msg.contains("lost"),
        "the lost task's error names the server and the member: {again}"
    );
    for &i in &done {
        let g = task_status(&mut hub, &tasks[i]);
        assert_eq!(
            g["result"]["status"], "completed",
            "still asked of its own member: {g}"
        );
    }

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&instance_label(&inst)).is_empty());
}

#[test]
fn a_restarted_member_is_told_the_log_level_again_and_the_first_its_subscriptions() {
    let engine = Engine::shared();
    let inst = test_instance("poolrestore");
    let (mut hub, port, scratch) = start(&engine, &inst);
    let logs = scratch.path().join("logs");
    let before = view(port);

    // The level reaches every member.
    let set = hub.request("logging/setLevel", json!({"level": "warning"}));
    assert!(set.get("result").is_some(), "{set}");
    let told = |id: &str| {
        sent_to(&logs, id)
            .lines()
            .any(|l| l.contains("logging/setLevel") && l.contains("warning"))
    };
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            (1..=3).all(|n| told(&member_id(&before, n)))
        }),
        "every member is told the level: {:?}",
        (1..=3)
            .map(|n| sent_to(&logs, &member_id(&before, n)))
            .collect::<Vec<_>>()
    );

    // A resource subscription, held on the first member.
    let resources = hub.request("resources/list", json!({}));
    let uri = resources["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("no resource: {resources}"))
        .to_string();
    let sub = hub.request("resources/subscribe", json!({"uri": uri}));
    assert!(sub.get("result").is_some(), "{sub}");
    let first = member_id(&before, 1);
    let subscribed = |id: &str| sent_to(&logs, id).contains("resources/subscribe");
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            subscribed(&first)
        }),
        "the first member holds the subscription: {}",
        sent_to(&logs, &first)
    );

    // Member 1 and member 3 die; their replacements are told again.
    kill(&engine, &first);
    kill(&engine, &member_id(&before, 3));
    let mut after = Value::Null;
    assert!(
        wait_until(Duration::from_secs(40), Duration::from_millis(200), || {
            after = view(port);
            all_up(&after)
                && member_id(&after, 1) != first
                && member_id(&after, 3) != member_id(&before, 3)
        }),
        "the members were not replaced: {after:#}\n{}",
        hub.log()
    );
    let (new_first, new_third) = (member_id(&after, 1), member_id(&after, 3));
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            told(&new_first) && told(&new_third) && subscribed(&new_first)
        }),
        "the replacements are told the level, the first its subscription too:\n1: {}\n3: {}\n{}",
        sent_to(&logs, &new_first),
        sent_to(&logs, &new_third),
        hub.log()
    );
    let original = sent_to(&logs, &new_first);
    assert!(
        original.lines().any(|l| l.contains("resources/subscribe")
            && l.contains(&format!("\"uri\":\"{}\"", uri_upstream(&uri)))),
        "re-subscribed to the server's own URI: {original}"
    );
    assert!(
        !sent_to(&logs, &new_third).contains("resources/subscribe"),
        "only the first member holds subscriptions"
    );

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(engine.containers(&instance_label(&inst)).is_empty());
}

/// The server's own URI for a URI the hub shows (`scheme://pool__rest` → `scheme://rest`).
fn uri_upstream(uri: &str) -> String {
    uri.replacen("pool__", "", 1)
}
