//! Hostile HTTP peers (issue #9): `Host`/`Origin` checks on every route, the listener's timeouts
//! and connection caps, legacy session ids on `DELETE /mcp`, and session-id entropy.
//!
//! The header table runs against the router in-process (`tower::ServiceExt::oneshot`); what needs
//! a socket (timeouts, caps, bytes hyper must pass through as they are) runs against
//! `mcp-hub serve` on loopback with timeouts of about a second, so every test ends in seconds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use harness::{http_request, tail, ServedHub};
use http_body_util::BodyExt;
use mcp_hub::config::HubConfig;
use mcp_hub::downstream::http::{router, HttpState};
use tower::ServiceExt;

/// One open tenant whose only server is disabled: nothing to start, every route reachable.
const QUIET: &str = r#"
[hub]
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"
allowed_hosts = ["mcp.example.com"]
allowed_origins = ["https://app.example.com"]

[tenants.default.servers.off]
command = "/bin/true"
enabled = false
"#;

async fn in_process() -> (Arc<mcp_hub::hub::Hub>, axum::Router) {
    let config = HubConfig::from_str_at(QUIET, Path::new("/tmp/hub.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("config: {e:?}"));
    let hub = mcp_hub::hub::Hub::start(config, None);
    let state = HttpState::new(hub.clone());
    (hub, router(state))
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"hostile","version":"0"}}}"#;

/// Every route, as (method, path).
const ROUTES: [(&str, &str); 12] = [
    ("POST", "/mcp"),
    ("GET", "/mcp"),
    ("DELETE", "/mcp"),
    ("POST", "/t/default/mcp"),
    ("GET", "/t/default/mcp"),
    ("DELETE", "/t/default/mcp"),
    ("GET", "/sse"),
    ("GET", "/t/default/sse"),
    ("POST", "/messages?sessionId=0"),
    ("POST", "/t/default/messages?sessionId=0"),
    ("GET", "/health"),
    ("GET", "/ready"),
];

/// (what, Host values, Origin values, refused-because-of header).
type Case = (
    &'static str,
    Vec<&'static [u8]>,
    Vec<&'static [u8]>,
    Option<&'static str>,
);

fn cases() -> Vec<Case> {
    let h = |v: &'static str| -> &'static [u8] { v.as_bytes() };
    vec![
        // Refused.
        (
            "foreign host",
            vec![h("evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "foreign host:port",
            vec![h("evil.example:8080")],
            vec![],
            Some("Host"),
        ),
        (
            "lookalike [::1].evil",
            vec![h("[::1].evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "lookalike userinfo host",
            vec![h("localhost:x@evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "lookalike localhost.evil",
            vec![h("localhost.evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "lookalike 127.0.0.1.evil",
            vec![h("127.0.0.1.evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "lookalike allowed.evil",
            vec![h("mcp.example.com.evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "non-UTF-8 host",
            vec![b"local\xffhost"],
            vec![],
            Some("Host"),
        ),
        (
            "duplicated host",
            vec![h("localhost"), h("evil.example")],
            vec![],
            Some("Host"),
        ),
        (
            "duplicated same host",
            vec![h("localhost"), h("localhost")],
            vec![],
            Some("Host"),
        ),
        ("missing host", vec![], vec![], Some("Host")),
        (
            "foreign origin",
            vec![h("localhost")],
            vec![h("https://evil.example")],
            Some("Origin"),
        ),
        (
            "lookalike userinfo origin",
            vec![h("localhost")],
            vec![h("http://localhost:1@evil.example")],
            Some("Origin"),
        ),
        (
            "lookalike origin localhost.evil",
            vec![h("localhost")],
            vec![h("http://localhost.evil.example")],
            Some("Origin"),
        ),
        (
            "origin with a path",
            vec![h("localhost")],
            vec![h("http://localhost/x")],
            Some("Origin"),
        ),
        (
            "null origin",
            vec![h("localhost")],
            vec![h("null")],
            Some("Origin"),
        ),
        (
            "non-UTF-8 origin",
            vec![h("localhost")],
            vec![b"http://local\xc3\x28host"],
            Some("Origin"),
        ),
        (
            "duplicated origin",
            vec![h("localhost")],
            vec![h("http://localhost"), h("https://evil.example")],
            Some("Origin"),
        ),
        // Accepted.
        ("IPv4 literal", vec![h("10.1.2.3")], vec![], None),
        ("IPv4 literal:port", vec![h("10.1.2.3:8080")], vec![], None),
        ("IPv6 literal", vec![h("[fd00::7]")], vec![], None),
        ("IPv6 literal:port", vec![h("[fd00::7]:8080")], vec![], None),
        ("localhost", vec![h("localhost")], vec![], None),
        ("localhost:port", vec![h("localhost:8080")], vec![], None),
        ("127.0.0.1", vec![h("127.0.0.1")], vec![], None),
        ("127.0.0.1:port", vec![h("127.0.0.1:8080")], vec![], None),
        ("[::1]", vec![h("[::1]")], vec![], None),
        ("[::1]:port", vec![h("[::1]:8080")], vec![], None),
        ("allowed host", vec![h("MCP.example.com:443")], vec![], None),
        (
            "loopback origin",
            vec![h("localhost:8080")],
            vec![h("http://localhost:3000")],
            None,
        ),
        (
            "allowed origin",
            vec![h("mcp.example.com")],
            vec![h("https://app.example.com")],
            None,
        ),
    ]
}

#[tokio::test]
async fn host_and_origin_are_checked_on_every_route() {
    let (hub, app) = in_process().await;
    let mut failures = Vec::new();
    for (method, path) in ROUTES {
        for (what, hosts, origins, refused) in cases() {
            let mut req = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).expect("method"))
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream");
            for v in &hosts {
                req = req.header(
                    header::HOST,
                    HeaderValue::from_bytes(v).expect("host bytes"),
                );
            }
            for v in &origins {
                req = req.header(
                    header::ORIGIN,
                    HeaderValue::from_bytes(v).expect("origin bytes"),
                );
            }
            let body = if method == "POST" {
                Body::from(INIT)
            } else {
                Body::empty()
            };
            let r = app
                .clone()
                .oneshot(req.body(body).expect("request"))
                .await
                .expect("infallible");
            let status = r.status();
            // Streams (GET /sse) never end: read the body only for 403s.
            let text = if status == StatusCode::FORBIDDEN {
                let b = r
                    .into_body()
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                String::from_utf8_lossy(&b).into_owned()
            } else {
                String::new()
            };
            match refused {
                Some(which) => {
                    if status != StatusCode::FORBIDDEN || !text.contains(which) {
                        failures.push(format!("{method} {path} with {what}: got {status} {text}"));
                    }
                }
                None => {
                    if status == StatusCode::FORBIDDEN {
                        failures.push(format!("{method} {path} with {what}: refused: {text}"));
                    }
                }
            }
        }
    }
    hub.stop().await;
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Body) {
    let r = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = r.into_parts();
    (parts.status, parts.headers, body)
}

#[tokio::test]
async fn delete_mcp_does_not_close_a_legacy_session_and_ids_have_128_bits() {
    let (hub, app) = in_process().await;
    // A legacy SSE session: its first event names the session.
    let (status, _, mut stream) = call(
        &app,
        Request::get("/sse")
            .header(header::HOST, "localhost")
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.frame())
        .await
        .expect("the endpoint event")
        .expect("a frame")
        .expect("no error");
    let first = String::from_utf8_lossy(first.data_ref().expect("data")).into_owned();
    let legacy = first
        .split("sessionId=")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no sessionId in {first:?}"));
    assert_eq!(legacy.len(), 32, "{legacy}");
    assert!(
        legacy
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{legacy}"
    );

    // DELETE /mcp with the legacy id: unknown there (404), and the legacy session lives on.
    let (status, _, _) = call(
        &app,
        Request::delete("/mcp")
            .header(header::HOST, "localhost")
            .header("mcp-session-id", &legacy)
            .body(Body::empty())
            .expect("req"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let ping = r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;
    let (status, _, _) = call(
        &app,
        Request::post(format!("/messages?sessionId={legacy}"))
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(ping))
            .expect("req"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the legacy session must survive DELETE /mcp"
    );
    drop(stream);

    // Streamable HTTP session ids: 32 lowercase hex digits (128 random bits), all different.
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let (status, headers, _) = call(
            &app,
            Request::post("/mcp")
                .header(header::HOST, "localhost")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .body(Body::from(INIT))
                .expect("req"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let id = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .expect("Mcp-Session-Id")
            .to_string();
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
        ids.insert(id);
    }
    assert_eq!(ids.len(), 8);
    hub.stop().await;
}

// ------------------------------------------------------------------ over a socket

/// Small limits, so each test ends within seconds.
const TIGHT: &str = r#"
[hub]
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"
header_read_timeout = "1s"
body_read_timeout = "1s"
keep_alive_idle_timeout = "1s"
stream_write_timeout = "1s"

[tenants.default.servers.off]
command = "/bin/true"
enabled = false
"#;

/// A connection cap of 2 (and patient headers, so idle connections hold their slots).
const CAPPED: &str = r#"
[hub]
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"
header_read_timeout = "10s"
max_connections = 2

[tenants.default.servers.off]
command = "/bin/true"
enabled = false
"#;

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_secs(5),
    )
    .expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s
}

/// Reads until the server closes (or resets) the connection; what arrived and when it closed.
/// `None` when still open after `limit`.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<(String, Duration)> {
    let t0 = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some((String::from_utf8_lossy(&got).into_owned(), t0.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some((String::from_utf8_lossy(&got).into_owned(), t0.elapsed())),
        }
    }
    None
}

fn raw(port: u16, request: &[u8]) -> String {
    let mut s = connect(port);
    s.write_all(request).expect("write");
    read_until_closed(&mut s, Duration::from_secs(10))
        .map(|(r, _)| r)
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(request)))
}

#[test]
fn slow_and_idle_clients_are_cut() {
    let server = ServedHub::from_toml(TIGHT);
    let port = server.port;
    let log = || tail(&server.log(), 30);

    // A connection that sends nothing is closed after header_read_timeout.
    let mut idle = connect(port);
    let closed = read_until_closed(&mut idle, Duration::from_secs(8));
    let (_, after) = closed.unwrap_or_else(|| panic!("an idle connection stayed open\n{}", log()));
    assert!(
        after >= Duration::from_millis(900),
        "closed too early: {after:?}"
    );

    // Headers dripped one line every 300 ms are cut once header_read_timeout passes.
    let mut drip = connect(port);
    let t0 = Instant::now();
    let _ = drip.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n");
    let mut cut = false;
    for i in 0..20 {
        std::thread::sleep(Duration::from_millis(300));
        if drip
            .write_all(format!("X-Drip-{i}: {i}\r\n").as_bytes())
            .is_err()
        {
            cut = true;
            break;
        }
        let mut b = [0u8; 256];
        match drip.read(&mut b) {
            Ok(0) => {
                cut = true;
                break;
            }
            Ok(n) => panic!(
                "answered a dripped request: {:?}",
                String::from_utf8_lossy(&b[..n])
            ),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    assert!(cut, "dripped headers for 6 s were not cut\n{}", log());
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "cut late: {:?}",
        t0.elapsed()
    );

    // A chunked body that stalls after one chunk: 408, then close.
    let mut chunked = connect(port);
    chunked
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n")
        .expect("write");
    let (answer, after) = read_until_closed(&mut chunked, Duration::from_secs(8))
        .unwrap_or_else(|| panic!("a stalled chunked body was not cut\n{}", log()));
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");
    assert!(answer.contains("body_read_timeout"), "{answer}");
    assert!(after < Duration::from_secs(5), "{after:?}");

    // A Content-Length body that stops early: the same.
    let mut short = connect(port);
    short
        .write_all(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":")
        .expect("write");
    let (answer, _) = read_until_closed(&mut short, Duration::from_secs(8))
        .unwrap_or_else(|| panic!("a short Content-Length body was not cut\n{}", log()));
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");

    // An idle keep-alive connection after a response: closed after keep_alive_idle_timeout.
    let mut ka = connect(port);
    ka.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let (answer, after) = read_until_closed(&mut ka, Duration::from_secs(8))
        .unwrap_or_else(|| panic!("an idle keep-alive connection stayed open\n{}", log()));
    assert!(answer.starts_with("HTTP/1.1 200"), "got {answer:?}");
    assert!(after >= Duration::from_millis(900), "{after:?}");

    // The hub still serves.
    let r = http_request(port, "GET", "/health", &[], b"").expect("health");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn raw_header_tricks_are_refused() {
    let server = ServedHub::from_toml(TIGHT);
    let port = server.port;
    for (what, req, want) in [
        ("non-UTF-8 Host", &b"GET /health HTTP/1.1\r\nHost: local\xffhost\r\nConnection: close\r\n\r\n"[..], "Host"),
        ("two Hosts", b"GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n", "Host"),
        ("no Host", b"GET /ready HTTP/1.1\r\nConnection: close\r\n\r\n", "Host"),
        ("non-UTF-8 Origin", b"GET /health HTTP/1.1\r\nHost: localhost\r\nOrigin: http://\xc3\x28\r\nConnection: close\r\n\r\n", "Origin"),
        ("two Origins", b"GET /health HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n", "Origin"),
        ("absolute target elsewhere", b"GET http://evil.example/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", "authority"),
    ] {
        let answer = raw(port, req);
        // hyper may refuse malformed bytes itself (400); what must not happen is a 200.
        let refused = (answer.starts_with("HTTP/1.1 403") && answer.contains(want))
            || answer.starts_with("HTTP/1.1 400");
        assert!(refused, "{what}: {answer:?}\n{}", tail(&server.log(), 20));
    }
    // HTTP/1.0 without Host (old probes) and an IP-literal Host (Kubernetes probes) pass.
    let answer = raw(port, b"GET /health HTTP/1.0\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer:?}"
    );
    let answer = raw(
        port,
        b"GET /ready HTTP/1.1\r\nHost: 10.244.1.7:8080\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

#[test]
fn at_the_connection_cap_clients_are_told_and_health_answers() {
    let server = ServedHub::from_toml(CAPPED);
    let port = server.port;
    // Two connections that send nothing fill the cap.
    let held: Vec<TcpStream> = (0..2).map(|_| connect(port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let r = http_request(
        port,
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        INIT.as_bytes(),
    )
    .expect("a refusal");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert!(r.body.contains("hub.http.max_connections"), "{}", r.body);
    assert_eq!(r.body.trim().lines().count(), 1, "{}", r.body);
    // /health and /ready still answer from the reserve.
    let r = http_request(port, "GET", "/health", &[], b"").expect("health");
    assert_eq!(r.status, 200, "{r:?}");
    let r = http_request(port, "GET", "/ready", &[], b"").expect("ready");
    assert_eq!(r.status, 200, "{r:?}");
    // With the reserve held too (4 per client), a new connection gets a 503 at once. The two
    // reserve connections just used give their places back when their tasks end (they were
    // closed after one answer): let them, so the four below take the whole reserve.
    std::thread::sleep(Duration::from_millis(500));
    let reserve: Vec<TcpStream> = (0..4).map(|_| connect(port)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let r = http_request(port, "GET", "/health", &[], b"").expect("a refusal");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    // Freed slots serve again.
    drop((held, reserve));
    let t0 = Instant::now();
    loop {
        let r = http_request(
            port,
            "POST",
            "/mcp",
            &[("Content-Type", "application/json")],
            INIT.as_bytes(),
        )
        .expect("initialize");
        if r.status == 200 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still refused after the cap freed: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_drains_with_a_stream_open() {
    let mut server = ServedHub::from_toml(TIGHT);
    let port = server.port;
    let mut sse = connect(port);
    sse.write_all(b"GET /sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let (got, _) = read_until_closed(&mut sse, Duration::from_secs(8)).unwrap_or_else(|| {
        panic!(
            "the SSE stream stayed open after SIGTERM\n{}",
            tail(&server.log(), 30)
        )
    });
    assert!(got.contains("event: endpoint"), "{got:?}");
    while server.running() {
        assert!(
            t0.elapsed() < Duration::from_secs(8),
            "the hub did not exit after SIGTERM\n{}",
            tail(&server.log(), 30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_new_http_keys_have_defaults_and_are_validated() {
    let load = |extra: &str| {
        let text = format!("[hub.http]\n{extra}\n[tenants.default.servers.off]\ncommand = \"/bin/true\"\nenabled = false\n");
        HubConfig::from_str_at(&text, Path::new("/tmp/hub.toml"), &|_| None)
    };
    let h = load("").expect("defaults").hub.http;
    assert_eq!(h.header_read_timeout, Duration::from_secs(10));
    assert_eq!(h.body_read_timeout, Duration::from_secs(30));
    assert_eq!(h.keep_alive_idle_timeout, Duration::from_secs(60));
    assert_eq!(h.stream_write_timeout, Duration::from_secs(30));
    assert_eq!(h.max_connections, 1024);
    assert_eq!(h.max_connections_per_peer, 256);

    let h = load("header_read_timeout = \"2s\"\nmax_connections = 8\nmax_connections_per_peer = 4")
        .expect("set")
        .hub
        .http;
    assert_eq!(
        (
            h.header_read_timeout,
            h.max_connections,
            h.max_connections_per_peer
        ),
        (Duration::from_secs(2), 8, 4)
    );

    let e = load("header_read_timeout = \"soon\"\nbody_read_timeout = \"0s\"\nkeep_alive_idle_timeout = 5\nmax_connections = 0\nmax_connections_per_peer = \"many\"\nstream_write_timeout = \"1x\"")
        .expect_err("every mistake is reported");
    let text = format!("{e:?}");
    for key in [
        "hub.http.header_read_timeout",
        "hub.http.body_read_timeout",
        "hub.http.keep_alive_idle_timeout",
        "hub.http.max_connections",
        "hub.http.max_connections_per_peer",
        "hub.http.stream_write_timeout",
    ] {
        assert!(text.contains(key), "{key} not reported: {text}");
    }
}
