//! Several sessions of one tenant over Streamable HTTP at once: server-to-client requests reach
//! the session whose call caused them, resource updates reach exactly the sessions that
//! subscribed, and log messages name their upstream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use futures_util::StreamExt;
use harness::{pid_alive as alive, serve_hub, upstream_pids, EverythingHttp};
use serde_json::{json, Value};

struct Client {
    http: reqwest::Client,
    url: String,
    session: String,
    next: u64,
}

impl Client {
    async fn connect(port: u16, caps: Value) -> Client {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/mcp");
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":caps,"clientInfo":{"name":"sessions","version":"1"}}}).to_string())
            .send()
            .await
            .unwrap();
        let session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let c = Client {
            http,
            url,
            session,
            next: 1,
        };
        c.post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        c
    }

    async fn post(&self, msg: Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-11-25")
            .body(msg.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Sends a request; returns every message of its answer (JSON, or the SSE stream's events).
    /// `on_request` answers requests the hub relays on that stream.
    async fn request(
        &mut self,
        method: &str,
        params: Value,
        on_request: impl Fn(&Value) -> Value,
    ) -> Vec<Value> {
        self.next += 1;
        let id = self.next;
        let r = self
            .post(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}))
            .await;
        let is_sse = r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream");
        if !is_sse {
            return vec![serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()];
        }
        let mut out = Vec::new();
        let mut body = r.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("stream stalled")
        {
            buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim)
                    .collect();
                if data.is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(&data).unwrap();
                if v.get("method").is_some() && v.get("id").is_some() {
                    let answer = on_request(&v);
                    let resp = self
                        .post(json!({"jsonrpc":"2.0","id":v["id"],"result":answer}))
                        .await;
                    assert_eq!(resp.status(), 202);
                }
                let done = v["id"] == json!(id) && v.get("method").is_none();
                out.push(v);
                if done {
                    return out;
                }
            }
        }
        out
    }
}

fn sampling_answer(text: &str) -> Value {
    json!({"role":"assistant","model":"m","content":{"type":"text","text":text}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_relayed_request_reaches_the_session_whose_call_caused_it() {
    // server-everything over Streamable HTTP sends its sampling request on the answer stream of
    // the call that caused it, so the hub knows exactly which session to ask.
    let everything = EverythingHttp::start("streamableHttp");
    let port = everything.port;
    let hub = serve_hub(
        &format!("[tenants.t.servers.everything]\nurl = \"http://127.0.0.1:{port}/mcp\"\n"),
        &[],
    );
    let hub_port = hub.port;
    let mut a = Client::connect(hub_port, json!({"sampling": {}})).await;
    let mut b = Client::connect(hub_port, json!({"sampling": {}})).await;
    // server-everything adds its sampling tool once it knows the client (the hub) can sample,
    // and says so with tools/list_changed.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = a.request("tools/list", json!({}), |_| json!({})).await;
        if l[0]["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "everything__trigger-sampling-request")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the sampling tool never appeared: {l:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for round in 0..3 {
        let args = |who: &str| json!({"name":"everything__trigger-sampling-request","arguments":{"prompt": format!("round {round} for {who}"), "maxTokens": 10}});
        let (ra, rb) = tokio::join!(
            a.request("tools/call", args("A"), |req| {
                assert!(
                    req["params"]["messages"][0]["content"]["text"]
                        .as_str()
                        .unwrap()
                        .contains("for A"),
                    "A was asked B's question: {req}"
                );
                sampling_answer("answer of A")
            }),
            b.request("tools/call", args("B"), |req| {
                assert!(
                    req["params"]["messages"][0]["content"]["text"]
                        .as_str()
                        .unwrap()
                        .contains("for B"),
                    "B was asked A's question: {req}"
                );
                sampling_answer("answer of B")
            }),
        );
        let text = |msgs: &Vec<Value>| {
            msgs.last().unwrap()["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            text(&ra).contains("answer of A") && !text(&ra).contains("answer of B"),
            "{ra:?}"
        );
        assert!(
            text(&rb).contains("answer of B") && !text(&rb).contains("answer of A"),
            "{rb:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_stdio_a_request_that_could_belong_to_two_sessions_is_never_sent_to_the_wrong_one() {
    // stdio carries no association: with calls of two sessions in flight, the hub refuses to guess.
    let hub = serve_hub(
        "[tenants.t.servers.asker]\ncommand = \"@FAULT@\"\nargs = [\"--server-request\"]\n",
        &[],
    );
    let port = hub.port;
    let mut a = Client::connect(port, json!({"sampling": {}})).await;
    let mut b = Client::connect(port, json!({"sampling": {}})).await;
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(
            a.request(
                "tools/call",
                json!({"name":"asker__ask","arguments":{}}),
                |_| sampling_answer("from A")
            ),
            b.request(
                "tools/call",
                json!({"name":"asker__ask","arguments":{}}),
                |_| sampling_answer("from B")
            ),
        );
        let text = |msgs: &Vec<Value>| {
            msgs.last().unwrap()["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(!text(&ra).contains("from B"), "A got B's answer: {ra:?}");
        assert!(!text(&rb).contains("from A"), "B got A's answer: {rb:?}");
    }
    // Alone, a session gets its request.
    let ra = a
        .request(
            "tools/call",
            json!({"name":"asker__ask","arguments":{}}),
            |_| sampling_answer("from A"),
        )
        .await;
    assert_eq!(ra.last().unwrap()["result"]["content"][0]["text"], "from A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_updates_reach_exactly_the_subscribed_sessions_and_logs_name_the_upstream() {
    let hub = serve_hub(
        "[tenants.t.servers.everything]\ncommand = \"@NODE@\"\nargs = [\"@EVERYTHING@\", \"stdio\"]\n",
        &[],
    );
    let port = hub.port;
    let mut sub = Client::connect(port, json!({})).await;
    let mut other = Client::connect(port, json!({})).await;
    let list = sub
        .request("resources/list", json!({}), |_| json!({}))
        .await;
    let uri = list[0]["result"]["resources"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uri.starts_with("demo://everything__"), "{uri}");
    // Both sessions open their GET streams.
    let stream = |c: &Client| {
        c.http
            .get(&c.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &c.session)
            .send()
    };
    let mut sub_events = stream(&sub).await.unwrap().bytes_stream();
    let mut other_events = stream(&other).await.unwrap().bytes_stream();
    assert!(sub
        .request("logging/setLevel", json!({"level":"debug"}), |_| json!({}))
        .await[0]
        .get("result")
        .is_some());
    assert!(sub
        .request("resources/subscribe", json!({"uri": uri}), |_| json!({}))
        .await[0]
        .get("result")
        .is_some());
    let toggled = other
        .request(
            "tools/call",
            json!({"name":"everything__toggle-subscriber-updates","arguments":{}}),
            |_| json!({}),
        )
        .await;
    assert!(
        toggled.last().unwrap().get("result").is_some(),
        "{toggled:?}"
    );
    // The subscriber hears about its URI (namespaced), and a log line from the upstream.
    let mut seen = String::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(8);
    while !(seen.contains("notifications/resources/updated")
        && seen.contains("\"logger\":\"everything"))
    {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, sub_events.next()).await {
            Ok(Some(Ok(b))) => seen.push_str(&String::from_utf8_lossy(&b)),
            _ => panic!("the subscriber did not get its update and a log line; got:\n{seen}"),
        }
    }
    assert!(
        seen.contains(&uri),
        "the update carries the namespaced URI:\n{seen}"
    );
    // The other session, which did not subscribe, gets no update.
    let mut other_seen = String::new();
    while let Ok(Some(Ok(b))) =
        tokio::time::timeout(Duration::from_millis(1500), other_events.next()).await
    {
        other_seen.push_str(&String::from_utf8_lossy(&b));
    }
    assert!(
        !other_seen.contains("notifications/resources/updated"),
        "a session that did not subscribe got an update:\n{other_seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_share_session_a_restarted_own_connection_is_told_the_sessions_log_level_again() {
    let hub = serve_hub(
        "[hub.restart]\ninitial_backoff = \"100ms\"\n[tenants.t.servers.logger]\ncommand = \"@FAULT@\"\nargs = [\"--logging\", \"--log\", \"@TMP@/logger-stdin.log\"]\nshare = \"session\"\n",
        &[],
    );
    let stdin_log = hub.config.dir().join("logger-stdin.log");
    // What every process of the server (the shared one, the session's own) was told.
    let told = || {
        std::fs::read_to_string(&stdin_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("logging/setLevel") && l.contains("\"warning\""))
            .count()
    };
    let mut a = Client::connect(hub.port, json!({})).await;
    let echo = json!({"name": "logger__echo", "arguments": {"message": "hi"}});
    let r = a.request("tools/call", echo, |_| json!({})).await;
    assert!(r.last().unwrap().get("result").is_some(), "{r:?}");
    let set = a
        .request("logging/setLevel", json!({"level": "warning"}), |_| {
            json!({})
        })
        .await;
    assert!(set[0].get("result").is_some(), "{set:?}");
    // The shared process and the session's own are told.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while told() < 2 {
        assert!(tokio::time::Instant::now() < until, "told {} times", told());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pids = upstream_pids(&hub.log(), "logger");
    assert_eq!(
        pids.len(),
        2,
        "the shared process, then the session's: {pids:?}"
    );

    // The session's own process dies; its restart is told the level again, with no request
    // from the client.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[1]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    while upstream_pids(&hub.log(), "logger").len() < 3 || told() < 3 {
        assert!(
            tokio::time::Instant::now() < until,
            "after the restart: told {} times, processes {:?}\n{}",
            told(),
            upstream_pids(&hub.log(), "logger"),
            hub.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(alive(pids[0]), "the shared process lives on");
}

/// The pids of the upstream processes the hub started, from its log.
fn started_pids(log: &str) -> Vec<i32> {
    upstream_pids(log, "asker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_share_session_each_session_gets_its_own_requests_and_its_process_ends_with_it() {
    // Over stdio the shared connection could not tell two sessions' requests apart (the test
    // above); with `share = "session"` each session has its own process, so it can.
    let hub = serve_hub(
        "[tenants.t.servers.asker]\ncommand = \"@FAULT@\"\nargs = [\"--server-request\", \"--log\", \"@TMP@/asker-stdin.log\"]\nshare = \"session\"\n",
        &[],
    );
    let port = hub.port;
    let stdin_log = hub.config.dir().join("asker-stdin.log");
    let mut a = Client::connect(port, json!({"sampling": {}, "experimental": {"x": {}}})).await;
    let mut b = Client::connect(port, json!({"sampling": {}, "roots": {}})).await;
    let text = |msgs: &Vec<Value>| {
        msgs.last().unwrap()["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let ask = || json!({"name":"asker__ask","arguments":{}});
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(
            a.request("tools/call", ask(), |_| sampling_answer("from A")),
            b.request("tools/call", ask(), |_| sampling_answer("from B")),
        );
        assert_eq!(text(&ra), "from A", "{ra:?}");
        assert_eq!(text(&rb), "from B", "{rb:?}");
    }
    // The shared process (it feeds the catalog) and one per session.
    let pids = started_pids(&hub.log());
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(pids.iter().all(|p| alive(*p)));
    let health = || async move {
        let body = reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let h: Value = serde_json::from_str(&body).unwrap();
        h["upstreams"]["t/asker"]["session_connections"].clone()
    };
    assert_eq!(health().await, json!({"total": 2, "up": 2}));
    // The shared connection is told everything the hub can relay; each session's own connection
    // exactly what its client declared (of what the hub relays).
    let declared: Vec<Value> = std::fs::read_to_string(&stdin_log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["method"] == "initialize")
        .map(|m| m["params"]["capabilities"].clone())
        .collect();
    assert_eq!(declared.len(), 3, "{declared:?}");
    assert!(declared.contains(&json!({"sampling": {}})), "{declared:?}");
    assert!(
        declared.contains(&json!({"sampling": {}, "roots": {}})),
        "{declared:?}"
    );
    assert!(
        declared.contains(&json!({"sampling": {}, "elicitation": {"form": {}, "url": {}}, "roots": {"listChanged": true}})),
        "{declared:?}"
    );

    // A ends its session: its process stops; B's and the shared one keep running.
    let r = a
        .http
        .delete(&a.url)
        .header("mcp-session-id", &a.session)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while pids.iter().filter(|p| alive(**p)).count() != 2 {
        assert!(
            tokio::time::Instant::now() < until,
            "A's process did not stop: {:?}",
            pids.iter().map(|p| (p, alive(*p))).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rb = b
        .request("tools/call", ask(), |_| sampling_answer("from B"))
        .await;
    assert_eq!(text(&rb), "from B", "{rb:?}");
    assert_eq!(
        started_pids(&hub.log()).len(),
        3,
        "no process was started again"
    );
    assert_eq!(health().await, json!({"total": 1, "up": 1}));
}
