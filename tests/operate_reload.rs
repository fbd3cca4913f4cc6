//! Issue #11, operate the hub: hot reload while the hub serves. A file change restarts only the
//! server whose definition changed (calls of the others never fail), a handshake-era session
//! hears `notifications/tools/list_changed` when a server is added, an invalid edit changes
//! nothing (and `POST /api/reload` says where the problems are), SIGHUP reloads, and 100 reloads
//! in a row leak no process and little memory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{
    api, api_ok, children_of, fill_template, generation, pid_alive, server_pid, signal_pid,
    upstream_pids, wait_servers, wait_until, Config, ServedHub, StdioHub,
};
use serde_json::json;

const ADMIN: &str = "adm-reload-6d1c9f3a8e2b";
const KEY: Option<&str> = Some(ADMIN);

/// A hub of one tenant `t` with `n` demo servers `s00…`; `extra` is appended to server `changed`
/// (a definition change), `admin` to `[hub.admin]`.
fn fleet(n: usize, changed: Option<(&str, &str)>, admin: &str) -> String {
    let mut s = format!(
        "[hub]\nrequest_timeout = \"20s\"\nshutdown_grace = \"1s\"\n\n[hub.http]\nshutdown_deadline = \"2s\"\n\n\
         [hub.admin]\napi_keys = [\"{ADMIN}\"]\n{admin}\n"
    );
    for i in 0..n {
        let name = format!("s{i:02}");
        s.push_str(&format!(
            "\n[tenants.t.servers.{name}]\ncommand = \"@DEMO@\"\n"
        ));
        if let Some((c, extra)) = changed {
            if c == name {
                s.push_str(extra);
                s.push('\n');
            }
        }
    }
    s
}

/// Writes `template` (placeholders filled) over the hub's config file.
fn rewrite(config: &Config, template: &str) {
    std::fs::write(&config.path, fill_template(template, config.dir())).expect("rewrite hub.toml");
}

fn pids(port: u16, n: usize) -> Vec<Option<i64>> {
    (0..n)
        .map(|i| server_pid(port, KEY, "t", &format!("s{i:02}")))
        .collect()
}

/// 20 servers, 10 threads calling 19 of them in a loop; the file changes one: the watcher
/// reloads once, no call fails, only the changed server restarts (once) and shows its new
/// definition.
#[test]
fn a_file_change_restarts_only_the_changed_server_while_calls_go_on() {
    let hub = ServedHub::from_toml(&fleet(20, None, ""));
    let p = hub.port;
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(40));
    let before = pids(p, 20);
    let gen0 = generation(p, KEY);

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let (ok, failed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let workers: Vec<_> = (0..10)
        .map(|w| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let server = format!("s{:02}", i % 19);
                    i += 1;
                    let path = format!("/api/tenants/t/tools/{server}__echo/call");
                    let a = api(p, "POST", &path, KEY, r#"{"message":"steady"}"#);
                    if a.status == 200 && harness::text_of(&a.json).contains("steady") {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.lock().unwrap().push(format!(
                            "at {:?}: {server}: {} {}",
                            t0.elapsed(),
                            a.status,
                            a.raw.body
                        ));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    let edited = Instant::now();
    let edited_at = t0.elapsed();
    rewrite(
        &hub.config,
        &fleet(20, Some(("s19", "args = [\"--name\", \"changed\"]")), ""),
    );
    let reloaded = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        generation(p, KEY) > gen0
    });
    let reload_seen = edited.elapsed();
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(reloaded, "the watcher reloaded within 10 s");
    let failed = failed.lock().unwrap();
    let ok = ok.load(Ordering::Relaxed);
    eprintln!(
        "reload seen {reload_seen:?} after the edit; {ok} calls ok, {} failed",
        failed.len()
    );
    if !failed.is_empty() {
        let full = hub.log();
        let log: Vec<&str> = full
            .lines()
            .filter(|l| !l.contains("INFO call `"))
            .map(|l| l.trim_end())
            .collect();
        panic!(
            "{} calls of unchanged servers failed (the file was edited at {edited_at:?}); first and last: {:?} {:?}\n--- the hub's log without the calls ---\n{}",
            failed.len(),
            &failed[..failed.len().min(3)],
            failed.last(),
            log.join("\n")
        );
    }
    assert!(ok > 50, "the calls went on ({ok})");
    assert_eq!(generation(p, KEY), gen0 + 1, "exactly one reload");

    let after = pids(p, 20);
    assert_eq!(
        before[..19],
        after[..19],
        "the 19 unchanged servers kept their processes"
    );
    assert_ne!(before[19], after[19], "s19 restarted");
    assert!(!pid_alive(before[19].unwrap() as i32));
    let log = hub.log();
    assert_eq!(
        upstream_pids(&log, "s19").len(),
        2,
        "s19 started twice in all"
    );
    for i in 0..19 {
        assert_eq!(
            upstream_pids(&log, &format!("s{i:02}")).len(),
            1,
            "s{i:02} started once"
        );
    }
    let s = api_ok(p, "GET", "/api/servers/t/s19", KEY, "");
    assert_eq!(s["server_info"]["name"], "changed", "{s:#}");
    let h = api_ok(p, "GET", "/api/config/history", KEY, "");
    assert_eq!(h["generations"][0]["source"], "file", "{h}");
}

/// A handshake-era session (`mcp-hub stdio`, after a `tools/list`) is told
/// `notifications/tools/list_changed` when a reload adds a server, and then lists its tools.
#[test]
fn a_session_hears_list_changed_when_a_reload_adds_a_server() {
    let one = "[hub]\nshutdown_grace = \"1s\"\n[tenants.default.servers.a]\ncommand = \"@DEMO@\"\n";
    let mut hub = StdioHub::start(one);
    let tools = hub.tool_names();
    harness::assert_has(&tools, "a__echo", "before");
    assert!(!tools.iter().any(|t| t.starts_with("b__")));
    let two = format!(
        "{one}[tenants.default.servers.b]\ncommand = \"@DEMO@\"\nargs = [\"--name\", \"b\"]\n"
    );
    std::fs::write(&hub.config.path, fill_template(&two, &hub.dir)).unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    let mut heard = false;
    while Instant::now() < until && !heard {
        if let Some(m) = hub.recv(Duration::from_millis(200)) {
            heard = m["method"] == "notifications/tools/list_changed";
        }
    }
    assert!(
        heard,
        "notifications/tools/list_changed within 15 s; log:\n{}",
        hub.log()
    );
    let mut tools = Vec::new();
    let listed = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        tools = hub.tool_names();
        tools.iter().any(|t| t == "b__echo")
    });
    assert!(listed, "b's tools listed after the notice: {tools:?}");
    harness::assert_has(&tools, "a__echo", "after");
    let r = hub.call("b__echo", json!({"message": "new server"}));
    assert!(harness::first_text(&r).contains("new server"), "{r}");
}

/// A broken file changes nothing (generation and pids stay; `POST /api/reload` is a 400 with
/// path and line of each problem); with `watch = false` a change waits for SIGHUP, which reloads.
#[test]
fn an_invalid_edit_changes_nothing_and_sighup_reloads() {
    let hub = ServedHub::from_toml(&fleet(3, None, ""));
    let p = hub.port;
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(20));
    let gen0 = generation(p, KEY);
    let before = pids(p, 3);

    // Broken TOML, seen by the watcher: refused.
    let broken = format!(
        "{}\n[tenants.t.servers.s01\ncommand = \n",
        fleet(3, None, "")
    );
    rewrite(&hub.config, &broken);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(generation(p, KEY), gen0, "an invalid file is not applied");
    assert_eq!(pids(p, 3), before, "no server restarted");
    let a = api(p, "POST", "/api/reload", KEY, "");
    assert_eq!(
        (a.status, a.code()),
        (400, "invalid_config"),
        "{}",
        a.raw.body
    );
    let problems = a.json["error"]["problems"]
        .as_array()
        .expect("problems[]")
        .clone();
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .any(|p| p["line"].as_u64().is_some_and(|l| l >= 20) && p["path"].is_string()),
        "a problem with its path and line: {problems:?}"
    );
    // A valid file with a wrong value: the problem names the key.
    rewrite(
        &hub.config,
        &fleet(3, Some(("s02", "request_timeout = \"soon\"")), ""),
    );
    let a = api(p, "POST", "/api/reload", KEY, "");
    assert_eq!(a.status, 400, "{}", a.raw.body);
    let problems = a.json["error"]["problems"].as_array().unwrap().clone();
    assert!(
        problems.iter().any(|p| p["path"]
            .as_str()
            .is_some_and(|s| s.contains("s02.request_timeout"))
            && p["line"].is_u64()),
        "{problems:?}"
    );
    let r = api_ok(
        p,
        "POST",
        "/api/tenants/t/tools/s01__echo/call",
        KEY,
        r#"{"message":"still"}"#,
    );
    assert!(harness::text_of(&r).contains("still"));
    assert_eq!((generation(p, KEY), pids(p, 3)), (gen0, before.clone()));

    // Fixed, and the watch turned off: the watcher applies this one.
    rewrite(&hub.config, &fleet(3, None, "watch = false"));
    assert!(
        wait_until(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || generation(p, KEY) == gen0 + 1
        ),
        "the fixed file is applied"
    );
    assert_eq!(
        pids(p, 3),
        before,
        "a change of hub.admin.watch restarts no server"
    );
    // Now a change waits for SIGHUP.
    rewrite(
        &hub.config,
        &fleet(
            3,
            Some(("s01", "args = [\"--name\", \"hup\"]")),
            "watch = false",
        ),
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        generation(p, KEY),
        gen0 + 1,
        "watch = false: no reload on a file change"
    );
    signal_pid(hub.pid(), nix::sys::signal::Signal::SIGHUP);
    assert!(
        wait_until(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || generation(p, KEY) == gen0 + 2
        ),
        "SIGHUP reloads"
    );
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(20));
    let after = pids(p, 3);
    assert_eq!((after[0], after[2]), (before[0], before[2]));
    assert_ne!(after[1], before[1]);
    let s = api_ok(p, "GET", "/api/servers/t/s01", KEY, "");
    assert_eq!(s["server_info"]["name"], "hup");
    let h = api_ok(p, "GET", "/api/config/history", KEY, "");
    assert_eq!(h["generations"][0]["source"], "signal", "{h}");
}

/// 100 reloads through `POST /api/reload`, each toggling one server's definition: every one is
/// applied, the hub's children are then exactly the configured servers, the history keeps 10,
/// and the hub's RSS grows by less than 16 MiB.
#[test]
fn a_hundred_reloads_leak_no_process_and_little_memory() {
    const N: usize = 4;
    const RELOADS: u64 = 100;
    const RSS_BOUND_KIB: u64 = 16 * 1024;
    let hub = ServedHub::from_toml(&fleet(N, None, "watch = false"));
    let p = hub.port;
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(20));
    let toggled = |i: u64| {
        fleet(
            N,
            Some(("s00", &format!("args = [\"--name\", \"v{}\"]", i % 2))),
            "watch = false",
        )
    };
    // Warm up (allocator pools, the first restarts), then measure.
    for i in 0..5 {
        rewrite(&hub.config, &toggled(i));
        api_ok(p, "POST", "/api/reload", KEY, "");
    }
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(20));
    let gen0 = generation(p, KEY);
    let rss0 = hub.rss_kib();
    let started = Instant::now();
    for i in 5..5 + RELOADS {
        rewrite(&hub.config, &toggled(i));
        let r = api_ok(p, "POST", "/api/reload", KEY, "");
        assert_eq!(r["changed"], true, "reload {i}: {r}");
        assert_eq!(
            r["tenants"]["t"]["changed"],
            json!(["s00"]),
            "reload {i}: {r}"
        );
    }
    let took = started.elapsed();
    assert_eq!(generation(p, KEY), gen0 + RELOADS);
    wait_servers(p, KEY, "t", "up", &[], Duration::from_secs(20));
    let configured: BTreeSet<u32> = pids(p, N)
        .into_iter()
        .map(|p| p.expect("a pid") as u32)
        .collect();
    let mut children = BTreeSet::new();
    let exact = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        children = children_of(hub.pid())
            .into_iter()
            .filter(|&c| pid_alive(c as i32))
            .collect();
        children == configured
    });
    assert!(
        exact,
        "the hub's children {children:?} are the configured servers {configured:?}"
    );
    let rss1 = hub.rss_kib();
    let grew = rss1.saturating_sub(rss0);
    eprintln!("{RELOADS} reloads in {took:?}; RSS {rss0} KiB -> {rss1} KiB (+{grew} KiB)");
    assert!(
        grew < RSS_BOUND_KIB,
        "RSS grew by {grew} KiB over {RELOADS} reloads"
    );
    let h = api_ok(p, "GET", "/api/config/history", KEY, "");
    assert_eq!(h["generations"].as_array().map(Vec::len), Some(10), "{h}");
    assert_eq!(
        api_ok(p, "GET", "/api/servers/t/s00", KEY, "")["server_info"]["name"],
        format!("v{}", (4 + RELOADS) % 2)
    );
}
