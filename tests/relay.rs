//! Server-to-client requests through the hub: relayed to the handshake-era session whose call
//! caused them, and bridged (MRTR, `input_required`) for 2026-07-28 clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::{meta26, serve_hub, StdioHub as Hub};
use serde_json::{json, Value};

const ASKER: &str = r#"
[hub]
request_timeout = "3s"
[tenants.t.servers.asker]
command = "@FAULT@"
args = ["--server-request"]
"#;

#[test]
fn a_sampling_request_reaches_the_calling_session_and_its_answer_goes_back() {
    let mut hub = Hub::start(ASKER);
    let id = hub.send_request("tools/call", json!({"name":"asker__ask","arguments":{}}));
    // The hub relays the upstream's sampling request to this client, under an id of its own.
    let req = loop {
        let v = hub
            .rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a relayed request");
        if v["method"] == "sampling/createMessage" {
            break v;
        }
        hub.notes.push(v);
    };
    assert!(req["id"].as_str().unwrap().starts_with("mcp-hub-"), "{req}");
    hub.send(json!({"jsonrpc":"2.0","id":req["id"],"result":{"role":"assistant","model":"test","content":{"type":"text","text":"Paris"}}}));
    let done = hub.wait_for(&json!(id), Duration::from_secs(5));
    assert_eq!(done["result"]["content"][0]["text"], "Paris", "{done}");
}

#[test]
fn a_client_that_did_not_declare_sampling_is_not_asked_and_the_upstream_gets_an_error() {
    let mut hub = Hub::start_uninitialized(ASKER);
    let init = hub.request("initialize", json!({"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"nocaps","version":"1"}}));
    assert!(init.get("result").is_some());
    let r = hub.call("asker__ask", json!({}));
    // fault_server turns a sampling error into an isError result quoting it.
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("did not declare the `sampling` capability"),
        "{r}"
    );
    assert!(!hub
        .notes
        .iter()
        .any(|n| n["method"] == "sampling/createMessage"));
}

fn ask26(hub: &mut Hub, extra: Value) -> Value {
    let mut params = json!({"name":"asker__ask","arguments":{},"_meta": meta26()});
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"sampling": {}});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            params[k] = v;
        }
    }
    hub.request("tools/call", params)
}

#[test]
fn a_2026_client_gets_input_required_and_its_retry_completes_the_call() {
    let mut hub = Hub::start_uninitialized(ASKER);
    let first = ask26(&mut hub, json!({}));
    let r = &first["result"];
    assert_eq!(r["resultType"], "input_required", "{first}");
    assert_eq!(
        r["inputRequests"]["input"]["method"],
        "sampling/createMessage"
    );
    let state = r["requestState"].as_str().unwrap().to_string();
    let answer = json!({"role":"assistant","model":"m","content":{"type":"text","text":"Lyon"}});
    let done = ask26(
        &mut hub,
        json!({"requestState": state, "inputResponses": {"input": answer}}),
    );
    assert_eq!(done["result"]["content"][0]["text"], "Lyon", "{done}");
    assert_eq!(done["result"]["resultType"], "complete");
    // The same state again is a replay: refused.
    let replay = ask26(
        &mut hub,
        json!({"requestState": state, "inputResponses": {"input": answer}}),
    );
    assert_eq!(replay["error"]["code"], -32602, "{replay}");
}

#[test]
fn a_forged_request_state_is_refused() {
    let mut hub = Hub::start_uninitialized(ASKER);
    let first = ask26(&mut hub, json!({}));
    let state = first["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let mut forged = state.clone();
    forged.pop();
    forged.push(if state.ends_with('A') { 'B' } else { 'A' });
    let answer = json!({"role":"assistant","model":"m","content":{"type":"text","text":"x"}});
    let r = ask26(
        &mut hub,
        json!({"requestState": forged, "inputResponses": {"input": answer}}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed verification"),
        "{r}"
    );
    let r = ask26(
        &mut hub,
        json!({"requestState": "mcp-hub.bogus", "inputResponses": {"input": answer}}),
    );
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[test]
fn a_bridged_call_whose_client_never_returns_is_cleaned_up() {
    let mut hub = Hub::start_uninitialized(ASKER);
    let first = ask26(&mut hub, json!({}));
    assert_eq!(first["result"]["resultType"], "input_required");
    // The bound is the request timeout (3 s here); the sweeper runs every second.
    std::thread::sleep(Duration::from_millis(4500));
    let log = hub.log();
    assert!(log.contains("did not come back within"), "{log}");
    let state = first["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = json!({"role":"assistant","model":"m","content":{"type":"text","text":"late"}});
    let r = ask26(
        &mut hub,
        json!({"requestState": state, "inputResponses": {"input": answer}}),
    );
    assert_eq!(
        r["error"]["code"], -32602,
        "a late retry finds nothing: {r}"
    );
}

const EVERYTHING: &str = r#"
[hub]
request_timeout = "20s"
[tenants.t.servers.everything]
command = "@NODE@"
args = ["@EVERYTHING@", "stdio"]
"#;

#[test]
fn a_task_augmented_call_gets_a_namespaced_task_id_that_routes_back() {
    let mut hub = Hub::start(EVERYTHING);
    let r = hub.request("tools/call", json!({"name":"everything__simulate-research-query","arguments":{"topic":"hubs"},"task":{"ttl":60000}}));
    let task = r["result"]["task"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no task: {r}"))
        .to_string();
    assert!(task.starts_with("everything__"), "{task}");
    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let g = hub.request("tasks/get", json!({"taskId": task}));
        assert_eq!(g["result"]["taskId"], json!(task), "{g}");
        if g["result"]["status"] == "completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "the task did not complete: {g}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let res = hub.request("tasks/result", json!({"taskId": task}));
    assert!(
        res["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("hubs"),
        "{res}"
    );
    let list = hub.request("tasks/list", json!({}));
    assert!(
        list["result"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["taskId"] == json!(task)),
        "{list}"
    );
    let unknown = hub.request("tasks/get", json!({"taskId": "nobody__1"}));
    assert_eq!(unknown["error"]["code"], -32602);
}

#[test]
fn an_mcp_app_tool_points_to_a_namespaced_ui_resource_that_reads_back_with_its_meta() {
    let mut hub = Hub::start("[tenants.t.servers.demo]\ncommand = \"@DEMO@\"\n");
    let tools = hub.request("tools/list", json!({}));
    let app = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "demo__show_dashboard")
        .cloned()
        .unwrap();
    let uri = app["_meta"]["ui"]["resourceUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        uri, "ui://demo__demo/dashboard.html",
        "the scheme stays ui://"
    );
    let read = hub.request("resources/read", json!({"uri": uri}));
    let c = &read["result"]["contents"][0];
    assert_eq!(c["uri"], json!(uri));
    assert_eq!(c["mimeType"], "text/html;profile=mcp-app");
    assert!(c["text"].as_str().unwrap().contains("<html"), "{read}");
    assert_eq!(
        c["_meta"]["ui"]["prefersBorder"], true,
        "the resource's _meta.ui survives: {read}"
    );
    // A call made by the app (through the client) routes like any other.
    assert!(hub.call("demo__show_dashboard", json!({}))["result"]["content"].is_array());
}

#[test]
fn a_2026_upstreams_input_required_becomes_requests_to_a_handshake_client() {
    // Hub A serves the asker statelessly to hub B, so A answers B with `input_required`;
    // B turns it into a sampling request to its own (handshake-era) client and retries for it.
    let a = serve_hub(
        "[tenants.inner.servers.asker]\ncommand = \"@FAULT@\"\nargs = [\"--server-request\"]\n",
        &[],
    );
    let port = a.port;
    let mut hub = Hub::start(&format!("[tenants.t.servers.inner]\nurl = \"http://127.0.0.1:{port}/mcp\"\nprotocol = \"2026-07-28\"\n"));
    let id = hub.send_request(
        "tools/call",
        json!({"name":"inner__asker__ask","arguments":{}}),
    );
    let req = loop {
        let v = hub
            .rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the hub asks its client");
        if v["method"] == "sampling/createMessage" {
            break v;
        }
        hub.notes.push(v);
    };
    hub.send(json!({"jsonrpc":"2.0","id":req["id"],"result":{"role":"assistant","model":"m","content":{"type":"text","text":"Nice"}}}));
    let done = hub.wait_for(&json!(id), Duration::from_secs(10));
    assert_eq!(done["result"]["content"][0]["text"], "Nice", "{done}");
    assert!(
        done["result"]
            .get("resultType")
            .is_none_or(|t| t == "complete"),
        "a handshake-era client never sees input_required: {done}"
    );
}
