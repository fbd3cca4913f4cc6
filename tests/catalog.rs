//! Issue #12 (naming, allow/deny/rename/overrides, search mode) end to end: the hub's stdio and
//! HTTP fronts with real SDK clients (Python 2.x, TypeScript 1.x), the admin API and
//! `mcp-hub status`, over `examples/catalog_server` (a fake upstream that serves generated tools
//! and changes its list on demand) and server-everything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::*;
use serde_json::{json, Value};

/// The made-up word `examples/catalog_server.rs` puts in the description of `gen_<i>` of server `S`.
fn word(server: &str, i: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "xe", "zo", "qui", "bre", "dra",
        "fli", "gno",
    ];
    let mut w = String::from(server);
    let mut n = i;
    for _ in 0..4 {
        w.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    w
}

fn fake() -> String {
    path_str(&example("catalog_server"))
}

/// Two unprefixed servers: `first` (written first) and `second`, whose tools are renamed so
/// that only the names they both serve collide... until `second` adds one at run time.
fn two_unprefixed() -> String {
    format!(
        r#"
[hub]
startup_timeout = "20s"
shutdown_grace = "1s"

[tenants.default.servers.first]
command = "{fake}"
args = ["--name", "first", "--tools", "2"]
prefix = ""

[tenants.default.servers.second]
command = "{fake}"
args = ["--name", "second"]
prefix = ""
tools.rename = {{ add_tool = "second_add" }}
"#,
        fake = fake()
    )
}

fn text(answer: &Value) -> String {
    text_of(&answer["result"])
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Waits until `f` holds for the hub's tool names (a list change is asynchronous).
fn wait_tools(hub: &mut StdioHub, f: impl Fn(&[String]) -> bool) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let names = hub.tool_names();
        if f(&names) || Instant::now() > until {
            return names;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_unprefixed_servers_the_earlier_keeps_each_name_and_a_later_added_collision_is_hidden_with_one_warning(
) {
    let mut hub = StdioHub::start(&two_unprefixed());
    let names = hub.tool_names();
    assert_eq!(
        names,
        [
            "add_tool",
            "echo",
            "gen_0",
            "gen_1",
            "progress",
            "second_add"
        ],
        "{}",
        hub.log()
    );
    // `echo` is `first`'s: it is earlier in the file.
    assert_eq!(
        text(&hub.call("echo", json!({"message": "hi"}))),
        "first echoes: hi"
    );
    let log = hub.log();
    assert!(
        log.contains("tool `echo` is offered by servers `first` and `second`: `first` (earlier in the file) keeps it"),
        "{log}"
    );

    // `second` now offers `gen_0` too: hidden (not renamed), `first` still answers it.
    assert_eq!(
        text(&hub.call("second_add", json!({"name": "gen_0"}))),
        "added gen_0"
    );
    let until = Instant::now() + Duration::from_secs(10);
    while !hub.log().contains("tool `gen_0` is offered") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(text(&hub.call("gen_0", json!({}))), "gen_0 on first");
    assert_eq!(hub.tool_names(), names, "nothing renamed, nothing added");
    // Another change of `second`'s list: the gen_0 warning is not repeated.
    hub.call("second_add", json!({"name": "fresh"}));
    let names = wait_tools(&mut hub, |n| n.iter().any(|x| x == "fresh"));
    assert!(names.contains(&"fresh".to_string()), "{names:?}");
    let log = hub.log();
    assert_eq!(
        count(
            &log,
            "tool `gen_0` is offered by servers `first` and `second`"
        ),
        1,
        "{log}"
    );
    assert_eq!(count(&log, "tool `echo` is offered by servers"), 1, "{log}");
}

#[test]
fn collisions_are_shown_by_the_admin_api_and_status() {
    let config = Config::new(&two_unprefixed());
    let server = ServedHub::start(Config::new(&two_unprefixed()));
    wait_servers(
        server.port,
        None,
        "default",
        "up",
        &[],
        Duration::from_secs(20),
    );
    let t = api_ok(server.port, "GET", "/api/tenants/default", None, "");
    let collisions = t["collisions"].as_array().unwrap();
    let echo = collisions
        .iter()
        .find(|c| c["name"] == "echo")
        .unwrap_or_else(|| panic!("{t}"));
    assert_eq!(echo["kept_by"], "first");
    assert_eq!(echo["hidden_from"], "second");
    assert_eq!(echo["kind"], "tool");
    let s = api_ok(server.port, "GET", "/api/servers/default/second", None, "");
    assert_eq!(s["prefix"], "");
    assert!(
        s["hidden"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "progress"),
        "{s}"
    );
    let first = api_ok(server.port, "GET", "/api/servers/default/first", None, "");
    assert_eq!(first["hidden"], json!([]));

    let out = run_hub(&config.path, &["status"], "", Duration::from_secs(60));
    assert!(
        out.stdout
            .contains("hidden: tool `echo` (kept by `first`, earlier in the file)"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn check_names_both_servers_of_a_collision_it_can_see_in_the_file() {
    let config = Config::new(&format!(
        r#"
[tenants.default.servers.a]
command = "{fake}"
prefix = "same"
[tenants.default.servers.b]
command = "{fake}"
prefix = "same"
"#,
        fake = fake()
    ));
    let out = run_hub(&config.path, &["check"], "", Duration::from_secs(30));
    let err = &out.stderr;
    assert!(!out.status.success());
    assert!(
        err.contains(
            "tenants.default.servers.b.prefix: servers `a` and `b` have the same prefix `same`"
        ),
        "{err}"
    );
}

/// server-everything with a prefix of its own, an allow list, a deny, a rename and overrides.
const SHAPED_EVERYTHING: &str = r#"
[hub]
startup_timeout = "20s"
shutdown_grace = "1s"

[tenants.default.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
prefix = "ev"
tools.allow = ["echo", "get-s?m", "get-env", "get-tiny-*"]
tools.deny = ["get-env"]
tools.rename = { get-sum = "add_numbers" }

[tenants.default.servers.everything.tools.overrides.echo]
description = "Repeats the message (described by the hub's config)"
title = "Echo"
annotations = { readOnlyHint = true, destructiveHint = false }
"#;

fn shaped_tools() -> Vec<String> {
    ["add_numbers", "ev__echo", "ev__get-tiny-image"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn allow_deny_rename_and_overrides_as_real_clients_see_them() {
    let config = Config::new(SHAPED_EVERYTHING);
    for client in [Client::Py2Auto, Client::Ts] {
        let out = run_stdio(
            client,
            &config,
            &[
                "--scenario",
                "basic",
                "--tool",
                "add_numbers",
                "--args",
                r#"{"a": 2, "b": 3}"#,
            ],
        )
        .unwrap_or_else(|e| panic!("{client:?}: {e:#}"));
        let mut tools = strings(&out, "tools");
        tools.sort();
        assert_eq!(tools, shaped_tools(), "{client:?}");
        assert!(
            text_of(&out["call"]).contains('5'),
            "{client:?} renamed tool answers: {}",
            out["call"]
        );
        // A denied tool is an unknown tool to the client (the rest are checked below, raw).
        let e = run_stdio(
            client,
            &config,
            &[
                "--scenario",
                "basic",
                "--tool",
                "ev__get-env",
                "--args",
                "{}",
            ],
        )
        .expect_err(&format!("{client:?}: `ev__get-env` must not be callable"));
        let msg = format!("{e:#}");
        assert!(
            msg.contains("Unknown tool `ev__get-env`"),
            "{client:?}: {msg}"
        );
    }
    let mut hub = StdioHub::start(SHAPED_EVERYTHING);
    let list = hub.request("tools/list", json!({}));
    let echo = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ev__echo")
        .unwrap()
        .clone();
    assert_eq!(
        echo["description"],
        "Repeats the message (described by the hub's config)"
    );
    assert_eq!(echo["title"], "Echo");
    assert_eq!(echo["annotations"]["readOnlyHint"], true);
    assert_eq!(echo["annotations"]["destructiveHint"], false);
    assert!(
        echo["inputSchema"]["properties"]["message"].is_object(),
        "the rest is the upstream's"
    );
    // Denied, outside the allow list, the old name of a renamed tool: the same error as a tool
    // that never existed.
    let never = hub.call("ev__no-such-tool", json!({}));
    assert_eq!(never["error"]["code"], -32602);
    for hidden in ["ev__get-env", "ev__toggle-simulated-logging", "ev__get-sum"] {
        let e = hub.call(hidden, json!({}));
        assert_eq!(e["error"]["code"], never["error"]["code"], "{hidden}: {e}");
        assert_eq!(e["error"]["message"], format!("Unknown tool `{hidden}`"));
    }
}

/// 20 upstreams of 50 generated tools each (plus 3 basics each): 1,060 tools in search mode.
fn search_config() -> String {
    let mut s = String::from(
        r#"
[hub]
startup_timeout = "30s"
shutdown_grace = "1s"

[tenants.default.catalog]
mode = "search"
pinned = ["s00__echo"]
"#,
    );
    for i in 0..20 {
        s.push_str(&format!(
            "\n[tenants.default.servers.s{i:02}]\ncommand = \"{}\"\nargs = [\"--name\", \"s{i:02}\", \"--tools\", \"50\"]\n",
            fake()
        ));
    }
    s
}

#[test]
fn search_mode_finds_a_tool_among_1000_and_calls_it_like_a_direct_call() {
    let mut hub = StdioHub::start(&search_config());
    let names = hub.tool_names();
    assert_eq!(
        names,
        ["s00__echo", "search_tools", "describe_tool", "call_tool"],
        "{}",
        hub.log()
    );
    let list = hub.request("tools/list", json!({}));
    let search = &list["result"]["tools"][1];
    let desc = search["description"].as_str().unwrap();
    assert!(desc.contains("1060 tools from 20 servers"), "{desc}");

    // A distinctive word of s13's gen_37 finds it first.
    let w = word("s13", 37);
    let found = hub.call(
        "search_tools",
        json!({"query": format!("{w} records"), "limit": 5}),
    );
    let hits = &found["result"]["structuredContent"]["tools"];
    assert_eq!(hits[0]["name"], "s13__gen_37", "{found}");
    assert!(hits.as_array().unwrap().len() <= 5);

    let described = hub.call("describe_tool", json!({"name": "s13__gen_37"}));
    assert_eq!(
        described["result"]["structuredContent"]["inputSchema"]["properties"]["record_id"]["type"],
        "string"
    );

    let direct = hub.call("s13__gen_37", json!({}));
    let meta = hub.call("call_tool", json!({"name": "s13__gen_37", "arguments": {}}));
    assert_eq!(direct["result"], meta["result"]);
    assert_eq!(text(&meta), "gen_37 on s13");
    // An unknown name through the meta-tool: the same error as a direct call.
    let e1 = hub.call("call_tool", json!({"name": "s13__nope"}));
    let e2 = hub.call("s13__nope", json!({}));
    assert_eq!(e1["error"], e2["error"]);
}

#[test]
fn search_mode_progress_of_a_meta_call_reaches_real_clients() {
    let config = Config::new(&search_config());
    for client in [Client::Py2Auto, Client::Ts] {
        let out = run_stdio(
            client,
            &config,
            &[
                "--scenario",
                "progress",
                "--tool",
                "call_tool",
                "--args",
                r#"{"name": "s05__progress", "arguments": {"steps": 3}}"#,
            ],
        )
        .unwrap_or_else(|e| panic!("{client:?}: {e:#}"));
        let seen: Vec<f64> = out["progress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["progress"].as_f64().unwrap_or(-1.0))
            .collect();
        assert_eq!(text_of(&out["result"]), "done 3", "{client:?}");
        if client == Client::Ts && !seen.is_empty() && seen[..] == [1.0, 2.0, 3.0][..seen.len()] {
            // TypeScript SDK 1.x handles notifications a microtask later than answers and drops
            // a progress notification read together with the answer (typescript-sdk #2580, as
            // in tests/e2e_clients.rs); the wire order is right (the same happens to direct
            // calls). The first steps must arrive.
            continue;
        }
        assert_eq!(seen, [1.0, 2.0, 3.0], "{client:?}: {out}");
    }
}

#[test]
fn search_follows_the_catalog_live_and_says_the_list_changed() {
    let mut hub = StdioHub::start(&search_config());
    let before = hub.request("tools/list", json!({}));
    assert!(before["result"]["tools"][1]["description"]
        .as_str()
        .unwrap()
        .contains("1060 tools"));
    hub.call(
        "call_tool",
        json!({"name": "s07__add_tool", "arguments": {"name": "quasar_telescope_aim"}}),
    );
    let until = Instant::now() + Duration::from_secs(10);
    let mut changed = false;
    while Instant::now() < until && !changed {
        changed = hub
            .notes
            .iter()
            .any(|n| n["method"] == "notifications/tools/list_changed");
        if !changed {
            if let Some(v) = hub.recv(Duration::from_millis(200)) {
                hub.notes.push(v);
            }
        }
    }
    assert!(
        changed,
        "the meta-tools' count changed: a tools list change for the client"
    );
    let after = hub.request("tools/list", json!({}));
    assert!(
        after["result"]["tools"][1]["description"]
            .as_str()
            .unwrap()
            .contains("1061 tools"),
        "{after}"
    );
    let found = hub.call("search_tools", json!({"query": "quasar telescope"}));
    assert_eq!(
        found["result"]["structuredContent"]["tools"][0]["name"],
        "s07__quasar_telescope_aim"
    );
}

#[test]
fn a_reload_that_only_reshapes_the_catalog_restarts_nothing_and_clients_see_it() {
    let base = format!(
        r#"
[hub]
startup_timeout = "20s"
shutdown_grace = "1s"

[tenants.default.servers.a]
command = "{fake}"
args = ["--name", "a", "--tools", "2"]
"#,
        fake = fake()
    );
    let server = ServedHub::start(Config::new(&base));
    wait_servers(
        server.port,
        None,
        "default",
        "up",
        &[],
        Duration::from_secs(20),
    );
    let pid = server_pid(server.port, None, "default", "a");
    let tools = |server: &ServedHub| {
        names(&api_ok(server.port, "GET", "/api/tenants/default/tools", None, "")["tools"])
    };
    assert!(tools(&server).contains(&"a__gen_1".to_string()));
    std::fs::write(
        &server.config.path,
        format!(
            "{base}prefix = \"x\"\ntools.deny = [\"gen_1\"]\ntools.rename = {{ echo = \"say\" }}\n"
        ),
    )
    .unwrap();
    let r = api_ok(server.port, "POST", "/api/reload", None, "");
    assert_eq!(r["changed"], true, "{r}");
    let mut got = tools(&server);
    got.sort();
    assert_eq!(
        got,
        ["say", "x__add_tool", "x__gen_0", "x__progress"],
        "{r}"
    );
    assert_eq!(
        server_pid(server.port, None, "default", "a"),
        pid,
        "not restarted"
    );
    let s = api_ok(server.port, "GET", "/api/servers/default/a", None, "");
    assert_eq!(s["prefix"], "x");
}
