//! Bounded queues (README, "Queues"): an upstream that floods notifications at a client that reads
//! slowly, or not at all, must not grow the hub's memory; progress and log notifications are
//! dropped (and counted), answers are not, and a client that cannot take its answers is
//! disconnected while the hub keeps serving others.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{
    http_request, kill_group, path_str, rss_kib, serve_hub, wait_until, Config, HUB_BIN,
};
use serde_json::{json, Value};

/// How long the upstream floods the slow reader.
const FLOOD_MS: u64 = 30_000;
/// Notifications per second the fake upstream is asked for.
const FLOOD_RATE: u64 = 100_000;
/// The slow reader takes one message per this.
const READ_EVERY: Duration = Duration::from_millis(1);
/// The hub's resident set must stay under this while it is flooded (measured: see the test's output).
const RSS_LIMIT_KIB: u64 = 64 * 1024;

fn flood_config() -> Config {
    Config::new(&format!(
        r#"
[hub]
request_timeout = "120s"
[tenants.t.servers.f]
command = "@FAULT@"
args = ["--flood", "{FLOOD_RATE}"]
"#
    ))
}

/// `mcp-hub stdio` with a raw client: nothing reads its stdout unless the test does.
struct RawStdio {
    child: Child,
    config: Config,
}

impl RawStdio {
    fn start(config: Config) -> RawStdio {
        let log = std::fs::File::create(config.dir().join("hub.log")).expect("create hub.log");
        let child = Command::new(HUB_BIN)
            .args(["--config", &path_str(&config.path), "stdio"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn mcp-hub stdio");
        RawStdio { child, config }
    }

    fn send(&mut self, v: Value) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{v}").expect("write to the hub");
        stdin.flush().expect("flush");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.config.dir().join("hub.log")).unwrap_or_default()
    }
}

impl Drop for RawStdio {
    fn drop(&mut self) {
        kill_group(&mut self.child);
        if std::thread::panicking() {
            eprintln!("--- hub log (tail) ---\n{}", harness::tail(&self.log(), 40));
        }
    }
}

/// The `dropped=<n>` counts the hub logged.
fn dropped_in(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| {
            l.split("dropped=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn a_flooded_slow_reader_keeps_the_hub_small_and_still_gets_its_answer() {
    let mut hub = RawStdio::start(flood_config());
    let pid = hub.child.id();
    let stdout = hub.child.stdout.take().expect("stdout");
    hub.send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"flood","version":"1"}}}));

    // The slow reader: one message per millisecond, counting what it gets.
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        let (mut progress, mut logs) = (0u64, 0u64);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|_| json!({"NOT_JSON": line}));
            match v["method"].as_str() {
                Some("notifications/progress") => progress += 1,
                Some("notifications/message") => logs += 1,
                _ => {
                    let done = v["id"] == 2;
                    if tx.send(v).is_err() || done {
                        break;
                    }
                }
            }
            std::thread::sleep(READ_EVERY);
        }
        (progress, logs)
    });
    let init = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("initialize answered");
    assert_eq!(init["id"], 1, "{init}");
    hub.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    hub.send(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"f__flood","arguments":{"ms":FLOOD_MS},"_meta":{"progressToken":"flood"}}}));

    let started = Instant::now();
    let deadline = started + Duration::from_millis(FLOOD_MS) + Duration::from_secs(12);
    let mut max_rss = 0;
    let answer = loop {
        max_rss = max_rss.max(rss_kib(pid).unwrap_or(0));
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(v) => break v,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(e) => panic!(
                "no answer to the flooded call after {:?}: {e}",
                started.elapsed()
            ),
        }
    };
    let took = started.elapsed();
    let (progress, logs) = reader.join().expect("reader");
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.starts_with("flooded "), "the call's answer: {answer}");
    let sent: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // The hub logs the drops once the burst ends (the client caught up).
    wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        hub.log().contains("dropped=")
    });
    let log = hub.log();
    let dropped = dropped_in(&log);
    eprintln!(
        "flood: upstream wrote {sent} notifications ({text}); the client read {progress} progress + {logs} log \
         notifications and the answer after {took:?}; the hub dropped {dropped}; hub RSS peaked at {} KiB",
        max_rss
    );
    assert!(
        max_rss > 0 && max_rss < RSS_LIMIT_KIB,
        "hub RSS peaked at {max_rss} KiB"
    );
    assert!(dropped > 0, "no drops logged:\n{}", harness::tail(&log, 20));
    assert!(
        log.lines()
            .any(|l| l.contains("dropped=") && l.contains("session=stdio-")),
        "the drop line names the session:\n{}",
        harness::tail(&log, 20)
    );
    // Nothing is lost silently: what the client did not read was dropped and counted.
    assert!(
        progress + logs + dropped >= sent,
        "read {progress}+{logs}, dropped {dropped}, sent {sent}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        matches!(hub.child.try_wait(), Ok(None)),
        "the hub is still up"
    );
}

/// Reads from `s` until `needle` shows up (or 10 s pass); what was read.
fn read_until(s: &mut TcpStream, needle: &str) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < until && !String::from_utf8_lossy(&got).contains(needle) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_client_that_never_reads_is_disconnected_and_the_hub_keeps_serving_others() {
    let hub = serve_hub(
        r#"
[hub]
request_timeout = "60s"
[tenants.t.servers.f]
command = "@FAULT@"
args = ["--flood", "100000"]
"#,
        &[("RUST_LOG", "info")],
    );
    // A legacy SSE session whose stream is read up to its endpoint, then never again.
    let mut sse = TcpStream::connect(hub.addr).expect("connect");
    write!(
        sse,
        "GET /sse HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        hub.addr
    )
    .unwrap();
    let head = read_until(&mut sse, "sessionId=");
    let endpoint = head
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no endpoint event: {head}"))
        .trim()
        .to_string();
    let sid = endpoint.split("sessionId=").nth(1).unwrap().to_string();
    let post = |body: Value| {
        http_request(
            hub.port,
            "POST",
            &endpoint,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .map(|r| r.status)
        .unwrap_or(0)
    };
    assert_eq!(
        post(
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"deaf","version":"1"}}})
        ),
        202
    );
    assert_eq!(
        post(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
        202
    );
    // The upstream floods the session; then answers it cannot drop pile up: 50 KB echoes.
    assert_eq!(
        post(
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"f__flood","arguments":{"ms":3000},"_meta":{"progressToken":"p"}}})
        ),
        202
    );
    let big = "x".repeat(50_000);
    let started = Instant::now();
    let mut id = 10;
    let disconnected = loop {
        if hub.log().contains("disconnecting the session") {
            break true;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        id += 1;
        let status = post(
            json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"f__echo","arguments":{"message":big}}}),
        );
        if status == 404 {
            // The session is gone already; the log line is on its way.
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let log = hub.log();
    assert!(
        disconnected,
        "no disconnection after {} echoes:\n{}",
        id - 10,
        harness::tail(&log, 30)
    );
    let line = log
        .lines()
        .find(|l| l.contains("disconnecting the session"))
        .unwrap();
    assert!(
        line.contains(&sid),
        "the line names the session {sid}: {line}"
    );
    eprintln!(
        "disconnected after {} echoes in {:?}: {line}",
        id - 10,
        started.elapsed()
    );
    // The session is gone: its endpoint is 404, its stream ended.
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(100),
        || { post(json!({"jsonrpc":"2.0","method":"notifications/initialized"})) == 404 }
    ));
    // Another session is served as before.
    let init = http_request(
        hub.port,
        "POST",
        "/mcp",
        &[("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")],
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"other","version":"1"}}}).to_string().as_bytes(),
    )
    .expect("initialize");
    assert_eq!(init.status, 200, "{}", init.body);
    let other = init
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let call = http_request(
        hub.port,
        "POST",
        "/mcp",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Mcp-Session-Id", &other),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"f__echo","arguments":{"message":"still here"}}}).to_string().as_bytes(),
    )
    .expect("call");
    assert!(
        call.body.contains("fault echo: still here"),
        "{}",
        call.body
    );
    assert!(!hub.log().contains("panicked"));
    drop(sse);
}
