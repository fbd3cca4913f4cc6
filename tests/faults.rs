//! Faults a real server can't be made to produce, driven through `mcp-hub stdio` with a raw
//! JSON-RPC client: a crash mid-call, garbage on stdout, a hang, grandchildren left behind,
//! bad client input, and fields a lossy proxy would drop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{
    example, group_members, meta26, pid_alive, read_pid, run_command, upstream_pids,
    StdioHub as Hub,
};
use serde_json::{json, Value};

#[test]
fn an_upstream_killed_mid_call_fails_the_call_fast_comes_back_and_others_keep_answering() {
    let mut hub = Hub::start(
        r#"
[hub]
request_timeout = "30s"
[hub.restart]
initial_backoff = "200ms"
[tenants.t.servers.flaky]
command = "@FAULT@"
args = ["--crash-after", "2"]
[tenants.t.servers.demo]
command = "@DEMO@"
"#,
    );
    // A client that has read the tool list is told when it changes.
    assert!(hub.tool_names().contains(&"flaky__echo".to_string()));
    assert_eq!(
        hub.call("flaky__echo", json!({"message":"one"}))["result"]["content"][0]["text"],
        "fault echo: one"
    );
    let started = Instant::now();
    let r = hub.call("flaky__sleep", json!({"ms": 5000}));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the call took {took:?} to fail"
    );
    assert_eq!(r["error"]["code"], -32000, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("`flaky`") && msg.contains("exited (code 3)"),
        "{msg}"
    );
    // The rest of the catalog keeps working while flaky restarts.
    assert_eq!(
        hub.call("demo__echo", json!({"message":"still here"}))["result"]["content"][0]["text"],
        "Echo: still here"
    );
    // flaky comes back after its backoff, and clients are told its tools left and returned.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let r = hub.call("flaky__echo", json!({"message":"back"}));
        if r["result"]["content"][0]["text"] == "fault echo: back" {
            break;
        }
        assert!(Instant::now() < until, "flaky did not come back: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        hub.notes
            .iter()
            .any(|n| n["method"] == "notifications/tools/list_changed"),
        "no list_changed among {:?}",
        hub.notes
    );
    let (st, log) = hub.finish();
    assert!(st.success());
    assert!(log.contains("restart 1/5"), "{log}");
}

#[test]
fn shutdown_leaves_no_process_of_the_upstream_tree_behind() {
    let mut hub = Hub::start(
        r#"
[hub]
shutdown_grace = "300ms"
[tenants.t.servers.stubborn]
command = "@FAULT@"
args = ["--grandchild", "@TMP@/grandchild.pid", "--ignore-stdin-eof", "--ignore-sigterm", "--log", "@TMP@/stubborn.log"]
[tenants.t.servers.polite]
command = "@FAULT@"
args = ["--grandchild", "@TMP@/polite-grandchild.pid"]
"#,
    );
    assert!(hub.tool_names().contains(&"stubborn__echo".to_string()));
    let grandchildren = [
        read_pid(&hub.dir.join("grandchild.pid")),
        read_pid(&hub.dir.join("polite-grandchild.pid")),
    ];
    assert!(grandchildren.iter().all(|p| pid_alive(*p)));
    let (st, _log) = hub.finish();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(200));
    for p in grandchildren {
        assert!(!pid_alive(p), "grandchild {p} outlived the hub");
    }
}

#[test]
fn garbage_from_an_upstream_and_from_the_client_gets_errors_and_the_session_goes_on() {
    let mut hub = Hub::start(
        r#"
[tenants.t.servers.noisy]
command = "@FAULT@"
args = ["--garbage"]
"#,
    );
    assert_eq!(
        hub.call("noisy__echo", json!({"message":"hi"}))["result"]["content"][0]["text"],
        "fault echo: hi"
    );
    hub.send_raw("this is not json");
    let e = hub.wait_for(&Value::Null, Duration::from_secs(5));
    assert_eq!(e["error"]["code"], -32700);
    hub.send_raw("[1,2]");
    assert_eq!(
        hub.wait_for(&Value::Null, Duration::from_secs(5))["error"]["code"],
        -32600
    );
    hub.send_raw(r#"{"jsonrpc":"2.0","id":"x","params":{}}"#);
    assert_eq!(
        hub.wait_for(&json!("x"), Duration::from_secs(5))["error"]["code"],
        -32600
    );
    assert_eq!(
        hub.request("no/such/method", json!({}))["error"]["code"],
        -32601
    );
    assert_eq!(hub.call("noisy__nope", json!({}))["error"]["code"], -32602);
    assert_eq!(
        hub.call("noisy__echo", json!({"message":"again"}))["result"]["content"][0]["text"],
        "fault echo: again"
    );
}

#[test]
fn a_hanging_call_times_out_naming_the_server_and_the_upstream_is_told_to_cancel() {
    let mut hub = Hub::start(
        r#"
[tenants.t.servers.slowpoke]
command = "@FAULT@"
args = ["--log", "@TMP@/up.log"]
request_timeout = "300ms"
"#,
    );
    let r = hub.call("slowpoke__hang", json!({}));
    assert_eq!(r["error"]["code"], -32001, "{r}");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`slowpoke`"));
    std::thread::sleep(Duration::from_millis(200));
    let up_log = std::fs::read_to_string(hub.dir.join("up.log")).unwrap();
    assert!(up_log.contains("notifications/cancelled"), "{up_log}");
}

#[test]
fn a_cancelled_call_is_cancelled_upstream_and_gets_no_answer() {
    let mut hub = Hub::start(
        r#"
[tenants.t.servers.f]
command = "@FAULT@"
args = ["--log", "@TMP@/up.log"]
"#,
    );
    let id = hub.send_request(
        "tools/call",
        json!({"name":"f__sleep","arguments":{"ms":400}}),
    );
    std::thread::sleep(Duration::from_millis(100));
    hub.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":id,"reason":"user pressed stop"}}));
    // The next call is answered, and the cancelled one never is.
    assert_eq!(
        hub.call("f__echo", json!({"message":"next"}))["result"]["content"][0]["text"],
        "fault echo: next"
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = hub.call("f__echo", json!({"message":"flush"}));
    assert!(
        !hub.notes.iter().any(|n| n["id"] == id),
        "the cancelled call was answered"
    );
    let up_log = std::fs::read_to_string(hub.dir.join("up.log")).unwrap();
    assert!(
        up_log.contains("notifications/cancelled") && up_log.contains("user pressed stop"),
        "{up_log}"
    );
}

#[test]
fn fields_a_lossy_proxy_drops_reach_the_client() {
    let mut hub = Hub::start(
        r#"
[tenants.t.servers.f]
command = "@FAULT@"
args = ["--progress"]
"#,
    );
    let r = hub.request("tools/list", json!({}));
    let tools = r["result"]["tools"].as_array().unwrap();
    let rich = tools.iter().find(|t| t["name"] == "f__rich").unwrap();
    assert_eq!(rich["execution"]["taskSupport"], "optional");
    assert_eq!(rich["x-extra"], "kept");
    assert_eq!(rich["_meta"]["x-k"], 1);
    assert!(
        rich["icons"].is_array()
            && rich["outputSchema"].is_object()
            && rich["annotations"]["readOnlyHint"] == true
    );
    assert!(tools.iter().any(|t| t["name"] == "f__weird__name"));
    let long = tools
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .find(|n| n.starts_with("f__very_long"))
        .unwrap()
        .to_string();
    assert!(
        long.len() <= 64
            && long
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        "{long}"
    );
    assert_eq!(
        hub.call(&long, json!({}))["result"]["content"][0]["text"],
        "long ok"
    );
    assert_eq!(
        hub.call("f__weird__name", json!({}))["result"]["content"][0]["text"],
        "weird ok"
    );

    let res = hub.call("f__rich", json!({}))["result"].clone();
    assert_eq!(res["x-vendor-extra"]["keep"], true);
    assert_eq!(res["_meta"]["x-trace"], "abc");
    assert_eq!(res["structuredContent"]["answer"], 42);
    let kinds: Vec<&str> = res["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["text", "image", "audio", "resource_link", "resource"]
    );
    assert_eq!(
        res["content"][3]["uri"], "fault://f__thing/1",
        "resource links are namespaced so they read back through the hub"
    );

    // The last progress notification arrives before the result.
    let id = hub.send_request(
        "tools/call",
        json!({"name":"f__sleep","arguments":{"ms":250},"_meta":{"progressToken":"tok"}}),
    );
    let done = hub.wait_for(&json!(id), Duration::from_secs(5));
    assert_eq!(done["result"]["content"][0]["text"], "slept 250");
    let progress: Vec<&Value> = hub
        .notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(progress
        .iter()
        .all(|p| p["params"]["progressToken"] == "tok"));
    assert_eq!(
        progress.last().unwrap()["params"]["progress"],
        250,
        "{progress:?}"
    );
}

#[test]
fn a_bad_config_exits_64_with_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hub.toml");
    std::fs::write(&p, "[tenants.acme.servers.git]\ncommand = \"\"\n").unwrap();
    let mut cmd = Command::new(harness::HUB_BIN);
    cmd.args(["--config", p.to_str().unwrap(), "check"]);
    let out = run_command(cmd, b"", Duration::from_secs(30)).unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty(), "errors go to stderr");
    assert!(out
        .stderr
        .contains("tenants.acme.servers.git.command: must not be empty"));
}

#[test]
fn secrets_from_the_environment_reach_the_upstream_but_not_the_log_and_the_hub_env_does_not_leak() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hub.toml");
    let script = dir.path().join("env.sh");
    std::fs::write(&script, "#!/bin/sh\nenv > \"$1\"\nexec \"$2\"\n").unwrap();
    std::fs::write(
        &p,
        format!(
            "[tenants.t.servers.e]\ncommand = \"/bin/sh\"\nargs = [\"{}\", \"{}\", \"{}\"]\nenv = {{ API_TOKEN = \"${{HUB_TEST_SECRET}}\" }}\n",
            script.display(),
            dir.path().join("seen.env").display(),
            example("fault_server").display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(harness::HUB_BIN);
    cmd.args([
        "--config",
        p.to_str().unwrap(),
        "--log-level",
        "debug",
        "call",
        "e__echo",
        r#"{"message":"x"}"#,
    ])
    .env("HUB_TEST_SECRET", "tok-5ecr3t")
    .env("OTHER_TENANT_KEY", "must-not-leak");
    let out = run_command(cmd, b"", Duration::from_secs(30)).unwrap();
    let stderr = &out.stderr;
    assert!(out.status.success(), "{stderr}");
    let result: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(result["content"][0]["text"], "fault echo: x");
    let seen = std::fs::read_to_string(dir.path().join("seen.env")).unwrap();
    assert!(seen.contains("API_TOKEN=tok-5ecr3t"));
    assert!(!seen.contains("must-not-leak") && !seen.contains("HUB_TEST_SECRET"));
    assert!(!stderr.contains("tok-5ecr3t"), "the secret reached the log");
}

#[test]
fn a_2026_client_is_served_statelessly_and_hears_list_changes_on_its_listen_stream() {
    let mut hub = Hub::start_uninitialized(
        r#"
[tenants.t.servers.demo]
command = "@DEMO@"
[tenants.t.servers.only26]
command = "@DEMO@"
args = ["--only-2026", "--name", "only26"]
"#,
    );
    let d = hub.request("server/discover", json!({"_meta": meta26()}));
    assert!(d["result"]["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    let l = hub.request("tools/list", json!({"_meta": meta26()}));
    assert_eq!(
        l["result"]["resultType"],
        "complete",
        "{d}\n{}",
        l.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(l["result"]["cacheScope"], "private");
    assert!(l["result"]["ttlMs"].is_u64());
    let names: Vec<&str> = l["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"demo__echo") && names.contains(&"only26__echo"),
        "{names:?}"
    );
    // A 2026-only upstream (reached with server/discover) answers through the hub.
    let r = hub.request(
        "tools/call",
        json!({"name":"only26__echo","arguments":{"message":"new era"},"_meta": meta26()}),
    );
    assert_eq!(r["result"]["content"][0]["text"], "Echo: new era");
    assert_eq!(r["result"]["resultType"], "complete");
    // An unknown revision is refused with -32022 and the supported list.
    let mut bad = meta26();
    bad["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let e = hub.request("tools/list", json!({"_meta": bad}));
    assert_eq!(e["error"]["code"], -32022);

    let listen = hub.send_request(
        "subscriptions/listen",
        json!({"notifications":{"toolsListChanged":true},"_meta": meta26()}),
    );
    let r = hub.request(
        "tools/call",
        json!({"name":"demo__toggle_extra","arguments":{},"_meta": meta26()}),
    );
    assert!(r.get("result").is_some(), "{r}");
    let until = Instant::now() + Duration::from_secs(5);
    while !hub
        .notes
        .iter()
        .any(|n| n["method"] == "notifications/tools/list_changed")
    {
        assert!(
            Instant::now() < until,
            "no list_changed on the listen stream: {:?}",
            hub.notes
        );
        if let Ok(v) = hub.rx.recv_timeout(Duration::from_millis(100)) {
            hub.notes.push(v);
        }
    }
    let ack = hub
        .notes
        .iter()
        .find(|n| n["method"] == "notifications/subscriptions/acknowledged")
        .expect("an acknowledgement");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        listen
    );
    let changed = hub
        .notes
        .iter()
        .find(|n| n["method"] == "notifications/tools/list_changed")
        .unwrap();
    assert_eq!(
        changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        listen
    );
    let l = hub.request("tools/list", json!({"_meta": meta26()}));
    assert!(l["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "demo__extra"));
}

#[test]
fn a_sigkilled_upstream_fails_its_calls_within_a_second_and_its_group_is_cleaned_up() {
    let mut hub = Hub::start(
        r#"
[hub.restart]
initial_backoff = "100ms"
[tenants.t.servers.victim]
command = "@FAULT@"
args = ["--grandchild", "@TMP@/gc.pid"]
[tenants.t.servers.bystander]
command = "@FAULT@"
"#,
    );
    assert!(hub.tool_names().contains(&"victim__sleep".to_string()));
    let pid = *upstream_pids(&hub.log(), "victim")
        .last()
        .expect("the hub logs each upstream's pid");
    let grandchild = read_pid(&hub.dir.join("gc.pid"));
    let ids: Vec<u64> = (0..3)
        .map(|_| {
            hub.send_request(
                "tools/call",
                json!({"name":"victim__sleep","arguments":{"ms":10000}}),
            )
        })
        .collect();
    let other = hub.send_request(
        "tools/call",
        json!({"name":"bystander__sleep","arguments":{"ms":300}}),
    );
    std::thread::sleep(Duration::from_millis(150));
    let killed = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    for id in ids {
        let r = hub.wait_for(&json!(id), Duration::from_secs(5));
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "pending calls failed only after {:?}",
            killed.elapsed()
        );
        assert_eq!(
            r["error"]["message"], "upstream `victim` exited (signal 9)",
            "{r}"
        );
    }
    assert_eq!(
        hub.wait_for(&json!(other), Duration::from_secs(5))["result"]["content"][0]["text"],
        "slept 300"
    );
    // The grandchild the dead upstream left in its group is ended before the restart.
    let until = Instant::now() + Duration::from_secs(3);
    while pid_alive(grandchild) {
        assert!(
            Instant::now() < until,
            "grandchild {grandchild} of the killed upstream survived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // It comes back, and after shutdown no process of any upstream's group is left.
    let until = Instant::now() + Duration::from_secs(10);
    while hub.call("victim__echo", json!({"message":"x"}))["result"].is_null() {
        assert!(Instant::now() < until, "victim did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = hub.log();
    let groups: Vec<i32> = upstream_pids(&log, "victim")
        .into_iter()
        .chain(upstream_pids(&log, "bystander"))
        .collect();
    assert!(groups.len() >= 3, "{groups:?}");
    let (st, _) = hub.finish();
    assert!(st.success());
    for g in groups {
        assert!(
            group_members(g).is_empty(),
            "process group {g} still has {:?}",
            group_members(g)
        );
    }
}

#[test]
fn a_lazy_upstream_starts_on_first_use() {
    let mut hub = Hub::start(
        r#"
[tenants.t.servers.eager]
command = "@FAULT@"
[tenants.t.servers.sleepy]
command = "@FAULT@"
args = ["--log", "@TMP@/sleepy.log"]
start = "lazy"
"#,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !hub.dir.join("sleepy.log").exists(),
        "the lazy upstream started before anyone used the tenant"
    );
    let names = hub.tool_names();
    assert!(
        names.contains(&"sleepy__echo".to_string()) && names.contains(&"eager__echo".to_string()),
        "{names:?}"
    );
    assert!(hub.dir.join("sleepy.log").exists());
}
