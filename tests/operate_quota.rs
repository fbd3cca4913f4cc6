//! Issue #11, operate the hub: a tenant's call quotas as its clients meet them, over REST and
//! over Streamable HTTP: `max_concurrent_calls` (429, `Retry-After`, `quota_exceeded`; JSON-RPC
//! -32050 with the limit's name) and `calls_per_minute`, counted in `GET /api/tenants/{t}`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use harness::{api, api_ok, mcp_call_2026, wait_servers, wait_until, ApiAnswer, ServedHub};
use serde_json::{json, Value};

const ADMIN: &str = "adm-quota-0c4e8a1f6b3d";
const FOUR: &str = "k-four-7a2e9d4c1b6f";
const METERED: &str = "k-metered-3f8b2d6e0a9c";

/// `four`: at most 4 calls in flight; `metered`: 3 calls a minute.
const QUOTAS: &str = r#"
[hub]
request_timeout = "30s"
shutdown_grace = "1s"

[hub.http]
shutdown_deadline = "2s"

[hub.admin]
api_keys = ["adm-quota-0c4e8a1f6b3d"]
watch = false

[tenants.four]
api_keys = ["k-four-7a2e9d4c1b6f"]

[tenants.four.limits]
max_concurrent_calls = 4

[tenants.four.servers.demo]
command = "@DEMO@"

[tenants.metered]
api_keys = ["k-metered-3f8b2d6e0a9c"]

[tenants.metered.limits]
calls_per_minute = 3

[tenants.metered.servers.demo]
command = "@DEMO@"
"#;

/// `demo__slow` for about 2 s.
const SLOW_2S: &str = r#"{"steps":20,"delay_ms":100}"#;

fn slow_call(port: u16) -> ApiAnswer {
    api(
        port,
        "POST",
        "/api/tenants/four/tools/demo__slow/call",
        Some(FOUR),
        SLOW_2S,
    )
}

#[track_caller]
fn assert_quota_refusal(a: &ApiAnswer, limit: &str) {
    assert_eq!(
        (a.status, a.code()),
        (429, "quota_exceeded"),
        "{}",
        a.raw.body
    );
    let secs: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a Retry-After in seconds: {:?}", a.raw.headers));
    assert!(secs >= 1, "Retry-After {secs}");
    let msg = a.json["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(limit), "the message names `{limit}`: {msg}");
}

fn in_flight(port: u16) -> Value {
    api_ok(port, "GET", "/api/tenants/four", Some(ADMIN), "")["quota"]["calls_in_flight"].clone()
}

/// 100 concurrent 2-second calls against `max_concurrent_calls = 4`: exactly 4 succeed, 96 are
/// refused with 429 at once; an MCP `tools/call` while 4 are in flight gets 429 and -32050;
/// `calls_per_minute = 3` refuses the 4th call of the minute; the refusals are counted.
#[test]
fn quotas_refuse_with_429_and_say_which_limit() {
    let hub = ServedHub::from_toml(QUOTAS);
    let p = hub.port;
    wait_servers(p, Some(ADMIN), "four", "up", &[], Duration::from_secs(30));
    wait_servers(
        p,
        Some(ADMIN),
        "metered",
        "up",
        &[],
        Duration::from_secs(30),
    );

    // 100 at once.
    let barrier = Arc::new(Barrier::new(100));
    let started = Instant::now();
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                let t = Instant::now();
                (slow_call(p), t.elapsed())
            })
        })
        .collect();
    let answers: Vec<(ApiAnswer, Duration)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let took = started.elapsed();
    let ok: Vec<_> = answers.iter().filter(|(a, _)| a.status == 200).collect();
    let refused: Vec<_> = answers.iter().filter(|(a, _)| a.status != 200).collect();
    assert_eq!(
        (ok.len(), refused.len()),
        (4, 96),
        "statuses: {:?}",
        answers.iter().map(|(a, _)| a.status).collect::<Vec<_>>()
    );
    for (a, _) in &ok {
        assert!(
            a.json["content"].is_array() && a.json["isError"] != true,
            "{}",
            a.raw.body
        );
    }
    for (a, t) in &refused {
        assert_quota_refusal(a, "max_concurrent_calls");
        assert!(
            *t < Duration::from_millis(1500),
            "refused at once, not after {t:?}"
        );
    }
    eprintln!("100 concurrent calls: 4 ok, 96 refused, in {took:?}");
    let t = api_ok(p, "GET", "/api/tenants/four", Some(ADMIN), "");
    assert_eq!(t["quota"]["calls_refused"], 96, "{t:#}");
    assert_eq!(t["quota"]["calls_in_flight"], 0, "{t:#}");
    assert_eq!(t["limits"]["max_concurrent_calls"], 4, "{t:#}");

    // Over MCP (Streamable HTTP, 2026-07-28) while 4 calls are in flight.
    let holders: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || slow_call(p)))
        .collect();
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            || in_flight(p) == 4
        ),
        "4 calls in flight"
    );
    let r = mcp_call_2026(
        p,
        "/t/four/mcp",
        Some(FOUR),
        "demo__echo",
        json!({"message": "one more"}),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        r.header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{:?}",
        r.headers
    );
    let v = r
        .json()
        .unwrap_or_else(|| panic!("a JSON-RPC answer: {}", r.body));
    assert_eq!(v["error"]["code"], -32050, "{v}");
    assert_eq!(v["error"]["data"]["limit"], "max_concurrent_calls", "{v}");
    assert_eq!(v["error"]["data"]["value"], 4, "{v}");
    assert!(
        v["error"]["data"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0),
        "{v}"
    );
    for h in holders {
        let a = h.join().unwrap();
        assert_eq!(a.status, 200, "{}", a.raw.body);
    }
    // Places come back: a call now succeeds, over MCP too.
    let r = mcp_call_2026(
        p,
        "/t/four/mcp",
        Some(FOUR),
        "demo__echo",
        json!({"message": "now"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api_ok(p, "GET", "/api/tenants/four", Some(ADMIN), "")["quota"]["calls_refused"],
        97
    );

    // calls_per_minute = 3: the 4th call within the minute is refused.
    for i in 0..3 {
        let a = api(
            p,
            "POST",
            "/api/tenants/metered/tools/demo__echo/call",
            Some(METERED),
            &format!(r#"{{"message":"m{i}"}}"#),
        );
        assert_eq!(a.status, 200, "call {i}: {}", a.raw.body);
    }
    let a = api(
        p,
        "POST",
        "/api/tenants/metered/tools/demo__echo/call",
        Some(METERED),
        r#"{"message":"m3"}"#,
    );
    assert_quota_refusal(&a, "calls_per_minute");
    let secs: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (10..=21).contains(&secs),
        "about 20 s until a token is back: {secs}"
    );
    let r = mcp_call_2026(
        p,
        "/t/metered/mcp",
        Some(METERED),
        "demo__echo",
        json!({"message": "m4"}),
    );
    assert_eq!(r.status, 429, "{}", r.body);
    let v = r.json().unwrap();
    assert_eq!(
        (&v["error"]["code"], &v["error"]["data"]["limit"]),
        (&json!(-32050), &json!("calls_per_minute")),
        "{v}"
    );
    let t = api_ok(p, "GET", "/api/tenants/metered", Some(ADMIN), "");
    assert_eq!(t["quota"]["calls_refused"], 2, "{t:#}");
    assert_eq!(t["limits"]["calls_per_minute"], 3, "{t:#}");
}
