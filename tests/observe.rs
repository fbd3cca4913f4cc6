//! Issue #14 (metrics, traces): `/metrics` after a workload of known size counts it exactly and
//! parses with the Prometheus project's own OpenMetrics parser (PyPI `prometheus-client`, in
//! `.test-deps/api`); one client call yields one trace whose spans cover the hub and whose
//! `traceparent` reached the upstream, received by an OTLP/HTTP receiver in this test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use harness::*;
use serde_json::{json, Value};

/// `/metrics` parsed by `prometheus_client.openmetrics.parser`: one object per sample.
fn parse_metrics(text: &str) -> Vec<Value> {
    let py = test_dep("api/bin/python");
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "type": f.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut cmd = Command::new(py);
    cmd.args(["-c", script]);
    let out = run_command(cmd, text.as_bytes(), Duration::from_secs(30)).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the OpenMetrics parser refused /metrics: {}\n--- /metrics ---\n{text}",
        out.stderr
    );
    serde_json::from_str(&out.stdout).unwrap()
}

/// The value of the one sample named `name` whose labels include `labels`; panics when there
/// is not exactly one.
#[track_caller]
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Value> = samples
        .iter()
        .filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one sample {name} {labels:?}, found {found:?}"
    );
    found[0]["value"].as_f64().unwrap()
}

fn metrics_text(port: u16) -> String {
    let r = http_request(port, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        r.headers
    );
    r.body
}

const WORKLOAD: &str = r#"
[tenants.t.limits]
calls_per_minute = 8

[tenants.t.servers.demo]
command = "@DEMO@"
"#;

/// 5 `demo__echo`, 3 `demo__fail` (an `isError` result), then a 9th call refused by
/// `calls_per_minute = 8`, and a call to a tool no catalog has: the counts are exactly that.
#[test]
fn metrics_count_a_known_workload_exactly() {
    let hub = ServedHub::from_toml(WORKLOAD);
    let p = hub.port;
    wait_servers(p, None, "t", "up", &[], Duration::from_secs(30));
    for i in 0..5 {
        let r = mcp_call_2026(
            p,
            "/mcp",
            None,
            "demo__echo",
            json!({"message": format!("m{i}")}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for _ in 0..3 {
        let r = mcp_call_2026(p, "/mcp", None, "demo__fail", json!({}));
        assert_eq!(r.json().unwrap()["result"]["isError"], true, "{}", r.body);
    }
    let refused = mcp_call_2026(p, "/mcp", None, "demo__echo", json!({"message": "over"}));
    assert_eq!(refused.status, 429, "{}", refused.body);
    let unknown = mcp_call_2026(p, "/mcp", None, "demo__no_such_tool", json!({}));
    assert!(unknown.body.contains("no_such_tool"), "{}", unknown.body);

    let text = metrics_text(p);
    let s = parse_metrics(&text);
    let op = "mcp_server_operation_duration_seconds";
    let echo = [
        ("tenant", "t"),
        ("server", "demo"),
        ("mcp_method_name", "tools/call"),
        ("gen_ai_tool_name", "demo__echo"),
        ("outcome", "ok"),
    ];
    let fail = [
        ("tenant", "t"),
        ("server", "demo"),
        ("mcp_method_name", "tools/call"),
        ("gen_ai_tool_name", "demo__fail"),
        ("outcome", "tool_error"),
    ];
    assert_eq!(sample(&s, &format!("{op}_count"), &echo), 5.0, "{text}");
    assert_eq!(sample(&s, &format!("{op}_count"), &fail), 3.0, "{text}");
    let inf = |l: &[(&str, &str)]| {
        let mut l = l.to_vec();
        l.push(("le", "+Inf"));
        sample(&s, &format!("{op}_bucket"), &l)
    };
    assert_eq!((inf(&echo), inf(&fail)), (5.0, 3.0));
    // Every forwarded call is in one of those two series: no other outcome, no other tool.
    let total: f64 = s
        .iter()
        .filter(|x| x["name"] == format!("{op}_count"))
        .map(|x| x["value"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 8.0, "{text}");
    assert!(
        !text.contains("no_such_tool"),
        "an unknown name got a label value: {text}"
    );
    assert_eq!(
        sample(
            &s,
            "mcp_hub_quota_refusals_total",
            &[("tenant", "t"), ("limit", "calls_per_minute")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "mcp_hub_upstream_state",
            &[("tenant", "t"), ("server", "demo"), ("state", "up")]
        ),
        1.0
    );
    assert_eq!(
        sample(&s, "mcp_hub_calls_in_flight", &[("tenant", "t")]),
        0.0
    );
    let tools = sample(
        &s,
        "mcp_hub_catalog_size",
        &[("tenant", "t"), ("kind", "tools")],
    );
    assert!(tools >= 6.0, "the demo server's tools: {tools}");
    // Each stateless request is a session of its own, ended with its answer.
    assert_eq!(
        sample(
            &s,
            "mcp_server_session_duration_seconds_count",
            &[("tenant", "t")]
        ),
        10.0,
        "{text}"
    );
}

/// `mcp-hub stdio --health-listen` serves `/metrics` too, with the stdio session open.
#[test]
fn metrics_on_the_health_listener_of_stdio() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut hub = StdioHub::start_args(
        "[tenants.t.servers.demo]\ncommand = \"@DEMO@\"\n",
        &["--health-listen", &listen],
    );
    let r = hub.call("demo__echo", json!({"message": "hi"}));
    assert_eq!(first_text(&r), "Echo: hi", "{r}");
    let s = parse_metrics(&metrics_text(port));
    assert_eq!(
        sample(
            &s,
            "mcp_server_operation_duration_seconds_count",
            &[("gen_ai_tool_name", "demo__echo"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "mcp_server_sessions_open",
            &[
                ("tenant", "t"),
                ("transport", "stdio"),
                ("protocol_revision", "2025-11-25")
            ]
        ),
        1.0
    );
}

// ------------------------------------------------------------------ traces

/// An OTLP/HTTP receiver: answers every POST with 200 and hands its path and JSON body on.
fn otlp_receiver() -> (u16, mpsc::Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let path = first
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            );
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if tx.send((path, v)).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

/// Every span the receiver got within `limit`, until `enough` says so.
fn spans_until(
    rx: &mpsc::Receiver<(String, Value)>,
    limit: Duration,
    enough: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + limit;
    let mut spans = Vec::new();
    while !enough(&spans) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok((path, body)) = rx.recv_timeout(left) else {
            break;
        };
        assert_eq!(path, "/v1/traces");
        for rs in body["resourceSpans"].as_array().unwrap() {
            assert_eq!(
                rs["resource"]["attributes"][0],
                json!({"key": "service.name", "value": {"stringValue": "mcp-hub"}})
            );
            for ss in rs["scopeSpans"].as_array().unwrap() {
                spans.extend(ss["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    spans
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
}

/// The `traceparent` each `tools/call` the fault server received carried, in order.
fn upstream_traceparents(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "tools/call")
        .map(|m| {
            m["params"]["_meta"]["traceparent"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// One call with the client's `traceparent` in `_meta`: the hub's server span is the client
/// span's child, its client span the server span's child, the upstream got the client span as
/// its parent, all in the client's trace; a call without one starts a trace the upstream joins.
#[test]
fn one_call_is_one_trace_from_client_through_hub_to_upstream() {
    let (port, rx) = otlp_receiver();
    let mut hub = StdioHub::start(&format!(
        "[hub.telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\n\n[tenants.t.servers.f]\ncommand = \"@FAULT@\"\nargs = [\"--log\", \"@TMP@/up.log\"]\n"
    ));
    let r = hub.request(
        "tools/call",
        json!({"name": "f__echo", "arguments": {"message": "hi"},
               "_meta": {"traceparent": format!("00-{TRACE}-{CLIENT_SPAN}-01")}}),
    );
    assert_eq!(first_text(&r), "fault echo: hi", "{r}");
    let spans = spans_until(&rx, Duration::from_secs(15), |s| s.len() >= 2);
    assert_eq!(spans.len(), 2, "a server and a client span: {spans:#?}");
    let server = spans
        .iter()
        .find(|s| s["kind"] == 2)
        .expect("a server span");
    let client = spans
        .iter()
        .find(|s| s["kind"] == 3)
        .expect("a client span");
    for s in [server, client] {
        assert_eq!(s["traceId"], TRACE, "{s}");
        assert_eq!(attr(s, "mcp.method.name"), Some("tools/call"));
        assert_eq!(attr(s, "gen_ai.tool.name"), Some("f__echo"));
        assert_eq!(attr(s, "mcp_hub.server"), Some("f"));
        assert_eq!(s["status"]["code"], 0);
        let (a, b): (u64, u64) = (
            s["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
            s["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
        );
        assert!(a <= b && b - a < 10_000_000_000, "{s}");
    }
    assert_eq!(server["name"], "tools/call f__echo");
    assert_eq!(server["parentSpanId"], CLIENT_SPAN);
    assert_eq!(client["parentSpanId"], server["spanId"]);
    let log = hub.dir.join("up.log");
    assert_eq!(
        upstream_traceparents(&log),
        vec![format!(
            "00-{TRACE}-{}-01",
            client["spanId"].as_str().unwrap()
        )],
        "the upstream's parent is the hub's client span"
    );

    // No traceparent: the hub starts the trace, and the upstream is in it.
    let r = hub.call("f__echo", json!({"message": "again"}));
    assert_eq!(first_text(&r), "fault echo: again", "{r}");
    let spans = spans_until(&rx, Duration::from_secs(15), |s| s.len() >= 2);
    let server = spans
        .iter()
        .find(|s| s["kind"] == 2)
        .expect("a server span");
    let client = spans
        .iter()
        .find(|s| s["kind"] == 3)
        .expect("a client span");
    assert!(
        server.get("parentSpanId").is_none(),
        "a root span: {server}"
    );
    assert_ne!(server["traceId"], TRACE);
    let sent = upstream_traceparents(&log);
    assert_eq!(
        sent.get(1),
        Some(&format!(
            "00-{}-{}-01",
            server["traceId"].as_str().unwrap(),
            client["spanId"].as_str().unwrap()
        ))
    );
}

/// Head sampling (`sample_ratio = 0`): a call without a client trace and one whose client
/// trace is not sampled (flag 00) make no spans and reach the upstream with `_meta` as sent; a
/// call whose client trace is sampled (flag 01) is traced all the same.
#[test]
fn sampling_follows_the_clients_flag_and_the_ratio() {
    let (port, rx) = otlp_receiver();
    let mut hub = StdioHub::start(&format!(
        "[hub.telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nsample_ratio = 0\n\n[tenants.t.servers.f]\ncommand = \"@FAULT@\"\nargs = [\"--log\", \"@TMP@/up.log\"]\n"
    ));
    let call = |hub: &mut StdioHub, meta: Value| {
        let r = hub.request(
            "tools/call",
            json!({"name": "f__echo", "arguments": {"message": "s"}, "_meta": meta}),
        );
        assert_eq!(first_text(&r), "fault echo: s", "{r}");
    };
    let unsampled = format!("00-{TRACE}-{CLIENT_SPAN}-00");
    call(&mut hub, json!({}));
    call(&mut hub, json!({"traceparent": unsampled}));
    call(
        &mut hub,
        json!({"traceparent": format!("00-{TRACE}-{CLIENT_SPAN}-01")}),
    );
    let spans = spans_until(&rx, Duration::from_secs(15), |s| s.len() >= 2);
    // Anything more would come in the next batch, a second later.
    let more = spans_until(&rx, Duration::from_millis(2500), |_| false);
    assert_eq!(
        spans.len() + more.len(),
        2,
        "only the sampled call: {spans:#?} {more:#?}"
    );
    assert!(spans.iter().all(|s| s["traceId"] == TRACE), "{spans:#?}");
    let client = spans
        .iter()
        .find(|s| s["kind"] == 3)
        .expect("a client span");
    assert_eq!(
        upstream_traceparents(&hub.dir.join("up.log")),
        vec![
            String::new(),
            unsampled,
            format!("00-{TRACE}-{}-01", client["spanId"].as_str().unwrap()),
        ]
    );
}

/// Off (no `otlp_endpoint`), the hub leaves `_meta` as the client sent it.
#[test]
fn without_traces_the_clients_traceparent_passes_through_untouched() {
    let mut hub = StdioHub::start(
        "[tenants.t.servers.f]\ncommand = \"@FAULT@\"\nargs = [\"--log\", \"@TMP@/up.log\"]\n",
    );
    let tp = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let r = hub.request(
        "tools/call",
        json!({"name": "f__echo", "arguments": {"message": "hi"}, "_meta": {"traceparent": tp}}),
    );
    assert_eq!(first_text(&r), "fault echo: hi", "{r}");
    assert_eq!(upstream_traceparents(&hub.dir.join("up.log")), vec![tp]);
}

/// Streamable HTTP: the `traceparent` header puts the call in the client's trace.
#[test]
fn the_http_traceparent_header_joins_the_trace() {
    let (port, rx) = otlp_receiver();
    let hub = ServedHub::from_toml(&format!(
        "[hub.telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}/\"\n\n[tenants.t.servers.f]\ncommand = \"@FAULT@\"\nargs = [\"--log\", \"@TMP@/up.log\"]\n"
    ));
    wait_servers(hub.port, None, "t", "up", &[], Duration::from_secs(30));
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "f__echo", "arguments": {"message": "hi"}, "_meta": meta26()},
    })
    .to_string();
    let tp = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let r = http_request(
        hub.port,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", MODERN_VERSION),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "f__echo"),
            ("traceparent", &tp),
        ],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let spans = spans_until(&rx, Duration::from_secs(15), |s| s.len() >= 2);
    let server = spans
        .iter()
        .find(|s| s["kind"] == 2)
        .expect("a server span");
    assert_eq!(server["traceId"], TRACE);
    assert_eq!(server["parentSpanId"], CLIENT_SPAN);
    let sent = upstream_traceparents(&hub.config.dir().join("up.log"));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with(&format!("00-{TRACE}-")), "{sent:?}");
}
