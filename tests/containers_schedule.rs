//! Issue #13, a `scheduled` container server against a real engine (podman's Docker-compatible
//! service, started by the harness), through a raw JSON-RPC client on `mcp-hub stdio`: inside
//! its window (written in an IANA zone) its tools are listed and a call, progress and a
//! cancellation work; when the window closes the tools are hidden, the client hears
//! `notifications/tools/list_changed`, a call says the server is outside its schedule and the
//! container is removed, and `/health` gives that as its last error; when the next window (in the
//! container's `time_zone`) opens, the tools are back and the error is gone. The windows are
//! computed from the clock, a minute or two ahead.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::engine::{hostroot_server, hub_toml, instance_label, test_instance, Engine};
use harness::StdioHub;
use jiff::tz::TimeZone;
use serde_json::{json, Value};

/// `unix_secs` on `zone`'s wall clock, `HH:MM`.
fn hhmm(zone: &str, unix_secs: i64) -> String {
    let tz = TimeZone::get(zone).expect("the machine's time zone database (tzdata)");
    let t = jiff::Timestamp::from_second(unix_secs).unwrap();
    let d = tz.to_datetime(t);
    format!("{:02}:{:02}", d.hour(), d.minute())
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Sleeps until the wall clock reaches `unix_secs`.
fn sleep_until(unix_secs: i64) {
    let left = unix_secs - unix_now();
    if left > 0 {
        std::thread::sleep(Duration::from_secs(left as u64));
    }
}

fn demo_tools(hub: &mut StdioHub) -> Vec<String> {
    let mut tools = hub.tool_names();
    tools.retain(|t| t.starts_with("demo__"));
    tools.sort();
    tools
}

/// Reads the hub's messages until a `notifications/tools/list_changed` (kept notes first), at
/// most until `deadline` (unix seconds); true when one came.
fn list_changed_by(hub: &mut StdioHub, deadline: i64) -> bool {
    let is_change = |m: &Value| m["method"] == "notifications/tools/list_changed";
    if let Some(i) = hub.notes.iter().position(is_change) {
        hub.notes.remove(i);
        return true;
    }
    while unix_now() < deadline {
        match hub.rx.recv_timeout(Duration::from_millis(500)) {
            Ok(m) if is_change(&m) => return true,
            Ok(m) => hub.notes.push(m),
            Err(_) => {}
        }
    }
    false
}

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_scheduled_container_runs_in_its_window_hides_its_tools_outside_and_comes_back() {
    let t0 = Instant::now();
    let engine = Engine::shared();
    let inst = test_instance("sched");
    let label = instance_label(&inst);

    // The first window: from this minute to the next (or the one after, so that it stays open
    // at least 20 s), in New York's wall clock. The second opens a minute after it closes and
    // names no zone: it is in the container's `time_zone`, Kolkata (UTC+05:30).
    let now = unix_now();
    let minute = now - now.rem_euclid(60);
    let close = minute + if now - minute <= 40 { 60 } else { 120 };
    let reopen = close + 60;
    let schedule = format!(
        "time_zone = \"Asia/Kolkata\"\nschedule = [\"daily {}-{} America/New_York\", \"daily {}-{}\"]",
        hhmm("America/New_York", minute),
        hhmm("America/New_York", close),
        hhmm("Asia/Kolkata", reopen),
        hhmm("Asia/Kolkata", reopen + 60),
    );
    let server = hostroot_server(
        "t",
        "demo",
        &["/hub/mcp-hub".to_string(), "demo-server".to_string()],
        &format!("strategy = \"scheduled\"\n{schedule}"),
    );
    let toml = hub_toml(&engine, &inst, "", &server);
    let port = harness::free_port();
    let mut hub = StdioHub::start_args(&toml, &["--health-listen", &format!("127.0.0.1:{port}")]);
    // What `/health` says of the server: its state and last error.
    let health = || {
        let h = harness::api::api(port, "GET", "/health", None, "");
        h.json["upstreams"]["t/demo"].clone()
    };

    // Inside the window: listed, called, progress, cancellation.
    let listed = demo_tools(&mut hub);
    assert!(
        listed.contains(&"demo__echo".to_string()),
        "{schedule}\n{listed:?}\n{}",
        hub.log()
    );
    let echo = hub.call("demo__echo", json!({"message": "in the window"}));
    assert!(text(&echo).contains("in the window"), "{echo}");
    let running = engine.containers(&label);
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0]["State"], "running", "{running:?}");
    assert_eq!(
        running[0]["Labels"]["io.mcp-hub.strategy"], "scheduled",
        "{running:?}"
    );

    let id = hub.send_request(
        "tools/call",
        json!({"name": "demo__slow", "arguments": {"steps": 3, "delay_ms": 50}, "_meta": {"progressToken": "p1"}}),
    );
    let done = hub.wait_for(&json!(id), Duration::from_secs(20));
    assert!(done.get("result").is_some(), "{done}");
    let progress = hub
        .notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress" && n["params"]["progressToken"] == "p1")
        .count();
    assert_eq!(progress, 3, "{:?}", hub.notes);

    let id = hub.send_request(
        "tools/call",
        json!({"name": "demo__slow", "arguments": {"steps": 50, "delay_ms": 100}}),
    );
    std::thread::sleep(Duration::from_millis(300));
    hub.send(json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId": id, "reason": "stop"}}));
    let echo = hub.call("demo__echo", json!({"message": "after cancel"}));
    assert!(text(&echo).contains("after cancel"), "{echo}");
    assert!(
        unix_now() < close,
        "the first part took past the window's close; it had {} s",
        close - now
    );

    // The window closes: the client hears the list change, the tools are gone, a call says
    // why, and the container is stopped and removed.
    hub.notes.retain(|n| n["id"] != json!(id));
    sleep_until(close);
    assert!(
        list_changed_by(&mut hub, close + 20),
        "no tools/list_changed within 20 s of the close; notes {:?}\n{}",
        hub.notes,
        hub.log()
    );
    let closed_at = unix_now() - close;
    let tools = demo_tools(&mut hub);
    assert!(
        tools.is_empty(),
        "tools listed outside the window: {tools:?}"
    );
    let refused = hub.call("demo__echo", json!({"message": "outside"}));
    let msg = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("`demo`") && msg.contains("outside its schedule; next window at"),
        "{refused}"
    );
    let next = format!("{} (Asia/Kolkata)", hhmm("Asia/Kolkata", reopen));
    assert!(
        msg.contains(&next),
        "the next window is at {next}: {refused}"
    );
    let closed = health();
    assert!(
        closed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("outside its schedule")),
        "/health outside the window: {closed}"
    );
    assert!(
        engine.wait(Duration::from_secs(15), |e| e.containers(&label).is_empty()),
        "the container outlived its window: {:?}\n{}",
        engine.containers(&label),
        hub.log()
    );
    assert!(
        !hub.notes.iter().any(|n| n["id"] == json!(id)),
        "the cancelled call was answered: {:?}",
        hub.notes
    );

    // The next window opens: the tools are back and calls are served by a new container.
    sleep_until(reopen);
    assert!(
        list_changed_by(&mut hub, reopen + 30),
        "no tools/list_changed within 30 s of the next window\n{}",
        hub.log()
    );
    let reopened_at = unix_now() - reopen;
    assert_eq!(demo_tools(&mut hub), listed, "{}", hub.log());
    let add = hub.call("demo__add", json!({"a": 2, "b": 3}));
    assert_eq!(add["result"]["structuredContent"]["sum"], 5.0, "{add}");
    assert_eq!(engine.containers(&label).len(), 1);
    // Back in its window, "outside its schedule" is no longer its last error.
    let open = health();
    assert_eq!(open["state"], "up", "/health in the next window: {open}");
    assert!(
        open["last_error"].is_null(),
        "/health in the next window: {open}"
    );

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.containers(&label).is_empty(),
        "containers left after the hub stopped: {:?}",
        engine.containers(&label)
    );
    eprintln!(
        "schedule: closed {closed_at} s after the window's end, reopened {reopened_at} s after the next start; test took {:?}",
        t0.elapsed()
    );
}
