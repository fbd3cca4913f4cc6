//! The defects issue #8 found on the way, each against real peers: a 2026-07-28
//! `subscriptions/listen` that names resources gets their updates, and a 2026-07-28 upstream
//! that refuses to listen is re-read on a timer instead of a warning at every start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{meta26, StdioHub};
use serde_json::json;

#[test]
fn a_2026_listen_that_names_a_resource_gets_its_updates() {
    let mut hub = StdioHub::start_uninitialized(
        "[tenants.t.servers.everything]\ncommand = \"@NODE@\"\nargs = [\"@EVERYTHING@\", \"stdio\"]\n",
    );
    let m = meta26();
    let list = hub.request("resources/list", json!({"_meta": m}));
    let uri = list["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uri.starts_with("demo://everything__"), "{uri}");
    let listen = hub.send_request(
        "subscriptions/listen",
        json!({"_meta": m, "notifications": {"resourceSubscriptions": [uri]}}),
    );
    // server-everything sends updates for what it was asked to subscribe to, once enabled.
    let toggled = hub.request(
        "tools/call",
        json!({"_meta": m, "name": "everything__toggle-subscriber-updates", "arguments": {}}),
    );
    assert!(toggled.get("result").is_some(), "{toggled}");
    let until = Instant::now() + Duration::from_secs(15);
    let update = loop {
        let v = hub
            .recv(until.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|| panic!("no resources/updated within 15 s; hub log:\n{}", hub.log()));
        if v["method"] == "notifications/resources/updated" {
            break v;
        }
    };
    assert_eq!(update["params"]["uri"], json!(uri), "the namespaced URI");
    assert_eq!(
        update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        json!(listen),
        "tagged with the listen request's id"
    );
}

#[test]
fn a_2026_upstream_that_refuses_to_listen_is_reread_on_a_timer_without_a_warning() {
    let hub = StdioHub::start_uninitialized(
        "[tenants.t.servers.time]\ncommand = \"@TIME@\"\nprotocol = \"2026-07-28\"\n",
    );
    let until = Instant::now() + Duration::from_secs(20);
    while !hub.log().contains("pushes no list changes") {
        assert!(
            Instant::now() < until,
            "no word about listening; hub log:\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = hub.log();
    assert!(
        !log.contains("never sent"),
        "the listen's answer was matched:\n{log}"
    );
    assert!(!log.contains(" WARN "), "a start without warnings:\n{log}");
}
