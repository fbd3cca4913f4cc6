//! Property-based fuzzing (issue #9 item 3): `proptest` drives the real code in this process.
//! cargo-fuzz needs a nightly toolchain; these targets need only stable Rust.
//!
//! Each target is one `proptest!` block (a plain `fn fuzz_*`) run by a `#[test]` of the same
//! name without the `fuzz_` prefix, which counts the executions and prints one line per run
//! (`fuzz: <target> executions=N outcome=pass|FAIL`, read by `scripts/fuzz.sh`).
//!
//! - `downstream_stdio`: lines (JSON-RPC-shaped, mutated, non-UTF-8, deep, huge, batches) through
//!   `downstream::stdio::serve_on` over `tokio::io::duplex`, both eras, a hub fronting
//!   `demo_server`: every request with a valid id is answered exactly once, within a bound.
//! - `downstream_http`: the same messages as POST bodies through the HTTP router: no 5xx but 503.
//! - `upstream_messages`: noise into `mux::Conn::handle_incoming` while calls are pending: every
//!   call still gets its real answer, once.
//! - `cursors`: `Catalog::page` never panics; its own cursors page through every item once.
//! - `naming`: `Namer` URI round trip, exposed names' characters, length and uniqueness;
//!   `route::route` never panics.
//! - `config`: `HubConfig::from_str_at` on TOML-ish text and mutated examples: no panic, and an
//!   error has problems with messages.
//! - `request_state`: `Bridges::take` opens only what `park` issued for that tenant and origin.
//!
//! Cases per target: `MCP_HUB_FUZZ_CASES` (default: each target's small number, about a minute
//! for all of them). The regression corpus under `tests/corpus/` is replayed by the `corpus_*`
//! tests. See docs/fuzzing.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mcp_hub::bridge::Bridges;
use mcp_hub::catalog::{Catalog, ListKind};
use mcp_hub::config::{HubConfig, ServerName};
use mcp_hub::downstream::http::{router, HttpState};
use mcp_hub::hub::Hub;
use mcp_hub::item::Item;
use mcp_hub::jsonrpc::Outbox;
use mcp_hub::mux::{Conn, ConnHooks, DownstreamReply, Era, Finish, InFlight};
use mcp_hub::naming::Namer;
use mcp_hub::upstream::Offer;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

// ------------------------------------------------------------------ run settings

/// Cases per run: `MCP_HUB_FUZZ_CASES`, else the target's default.
fn cases(default: u32) -> u32 {
    std::env::var("MCP_HUB_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn settings(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        max_shrink_iters: 64,
        max_shrink_time: 30_000,
        // Failures are reported with their minimal input; the corpus holds the regressions.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Executions per target (shrinking included), printed by [`run`].
static EXECUTIONS: LazyLock<Mutex<HashMap<&'static str, u64>>> = LazyLock::new(Default::default);

fn count(target: &'static str) {
    *EXECUTIONS.lock().unwrap().entry(target).or_default() += 1;
}

/// Runs a `fuzz_*` property and prints its one summary line, whatever the outcome.
fn run(target: &'static str, property: fn()) {
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(property);
    let n = EXECUTIONS.lock().unwrap().get(target).copied().unwrap_or(0);
    eprintln!(
        "fuzz: {target} executions={n} seconds={:.1} outcome={}",
        started.elapsed().as_secs_f64(),
        if outcome.is_ok() { "pass" } else { "FAIL" }
    );
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs a pure case on a thread of its own and fails it when it takes longer than `limit`
/// (the thread is left behind: a hang is the finding).
fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the case sent nothing and did not panic"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("a case took longer than {limit:?} (hang)")
        }
    }
}

const PURE_LIMIT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ JSON strategies

fn finite_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn any_string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z_/.:-]{0,12}",
        3 => any::<String>(),
        1 => "\\PC{0,64}",
        1 => Just(String::new()),
    ]
    .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_f64().prop_map(Value::from),
        any_string().prop_map(Value::from),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(4, 24, 5, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Value::Array),
                vec((any_string(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A float whose JSON text reads back exactly (with serde_json's `float_roundtrip`, every
/// finite float; the filter keeps the property honest should that feature ever go).
fn round_trip_f64() -> impl Strategy<Value = f64> {
    finite_f64().prop_filter("reads back exactly", |f| {
        serde_json::from_str::<Value>(&Value::from(*f).to_string())
            .ok()
            .and_then(|v| v.as_f64())
            == Some(*f)
    })
}

/// A JSON-RPC id of every valid type (made unique per case later).
fn json_id() -> BoxedStrategy<Value> {
    prop_oneof![
        (0i64..100).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        round_trip_f64().prop_map(Value::from),
        any_string().prop_map(Value::from),
    ]
    .boxed()
}

const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "server/discover",
    "sampling/createMessage",
    "roots/list",
    "notifications/initialized",
];

/// Methods a session may leave open by design (a 2026-07-28 subscription stream): not generated.
fn open_ended(method: &str) -> bool {
    method.starts_with("subscriptions/")
}

fn method() -> BoxedStrategy<String> {
    prop_oneof![
        6 => proptest::sample::select(METHODS).prop_map(str::to_string),
        1 => any_string(),
    ]
    .prop_filter("not an open-ended stream", |m| !open_ended(m))
    .boxed()
}

/// Params that reach past the first checks: the names, URIs and cursors the routes read.
fn params() -> BoxedStrategy<Value> {
    let name = prop_oneof![
        proptest::sample::select(
            &[
                "demo__echo",
                "demo__add",
                "demo__fail",
                "demo__show_dashboard",
                "demo__toggle_extra",
                "demo__nope",
                "greeting",
                "demo__greeting",
            ][..]
        )
        .prop_map(str::to_string),
        any_string(),
    ];
    let uri = prop_oneof![
        Just("demo://demo__dashboard".to_string()),
        Just("ui://demo__dashboard.html".to_string()),
        any_string(),
    ];
    prop_oneof![
        3 => json_value(),
        3 => (name, json_value()).prop_map(|(n, a)| json!({"name": n, "arguments": a})),
        2 => (uri.clone(), json_value()).prop_map(|(u, x)| json!({"uri": u, "x": x})),
        1 => uri.prop_map(|u| json!({"ref": {"type": "ref/resource", "uri": u}, "argument": {"name": "n", "value": "a"}})),
        1 => any_string().prop_map(|c| json!({"cursor": c})),
        1 => json_value().prop_map(|t| json!({"taskId": t})),
        1 => json_value().prop_map(|l| json!({"level": l})),
        1 => Just(json!({"message": "x".repeat(70_000)})),
    ]
    .boxed()
}

/// A message of any kind (as a value; lines and mutations come later).
#[derive(Debug, Clone)]
enum Msg {
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    Response {
        id: Value,
        body: Value,
    },
    Raw(Value),
    Batch(Vec<Msg>),
}

fn request() -> BoxedStrategy<Msg> {
    (
        json_id(),
        method(),
        proptest::option::weighted(0.8, params()),
    )
        .prop_map(|(id, method, params)| Msg::Request { id, method, params })
        .boxed()
}

fn single_msg() -> BoxedStrategy<Msg> {
    prop_oneof![
        6 => request(),
        // Never `notifications/cancelled` for a real id: a cancelled request is rightly not answered.
        2 => (method(), proptest::option::of(json_value()))
            .prop_filter("no cancellation", |(m, _)| m != "notifications/cancelled")
            .prop_map(|(method, params)| Msg::Notification { method, params }),
        1 => Just(Msg::Notification {
            method: "notifications/cancelled".into(),
            params: Some(json!({"requestId": "never-issued", "reason": "fuzz"})),
        }),
        2 => (json_value(), prop_oneof![
                json_value().prop_map(|r| json!({"result": r})),
                json_value().prop_map(|e| json!({"error": e})),
                Just(json!({"result": {}, "error": {"code": 1, "message": "both"}})),
            ])
            .prop_map(|(id, body)| Msg::Response { id, body }),
        2 => json_value().prop_map(Msg::Raw),
    ]
    .boxed()
}

fn msg() -> BoxedStrategy<Msg> {
    prop_oneof![
        12 => single_msg(),
        1 => vec(single_msg(), 0..4).prop_map(Msg::Batch),
    ]
    .boxed()
}

/// How a message becomes bytes: as is, with its bytes mutated, nested deep, or garbage.
#[derive(Debug, Clone)]
enum Shape {
    Plain,
    Mutated(Vec<(usize, u8, u8)>),
    DeepParams(usize),
    Garbage(Vec<u8>),
    DuplicateKeyId(Value),
}

fn shape() -> BoxedStrategy<Shape> {
    prop_oneof![
        20 => Just(Shape::Plain),
        4 => vec((any::<usize>(), 0u8..4, any::<u8>()), 1..6).prop_map(Shape::Mutated),
        1 => (100usize..3000).prop_map(Shape::DeepParams),
        2 => vec(any::<u8>(), 0..200).prop_map(Shape::Garbage),
        1 => json_id().prop_map(Shape::DuplicateKeyId),
    ]
    .boxed()
}

/// Era of a session: a handshake first, 2026-07-28 `_meta` on every request, or neither.
#[derive(Debug, Clone, Copy)]
enum SessionEra {
    Handshake,
    Modern,
    Bare,
}

fn session_era() -> impl Strategy<Value = SessionEra> {
    prop_oneof![
        3 => Just(SessionEra::Handshake),
        3 => Just(SessionEra::Modern),
        1 => Just(SessionEra::Bare),
    ]
}

/// Gives every request a distinct id (a repeated one gets a fresh string) and the era's `_meta`.
fn finish_msgs(msgs: &mut [Msg], era: SessionEra, seen: &mut std::collections::HashSet<String>) {
    for m in msgs {
        match m {
            Msg::Request { id, params, .. } => {
                if !seen.insert(id_key(id)) {
                    *id = Value::from(format!("dup-{}", seen.len()));
                    seen.insert(id_key(id));
                }
                if let (SessionEra::Modern, Some(Value::Object(p))) = (era, params.as_mut()) {
                    p.insert("_meta".into(), harness::meta26());
                } else if let (SessionEra::Modern, None) = (era, &params) {
                    *params = Some(json!({"_meta": harness::meta26()}));
                }
            }
            Msg::Batch(inner) => finish_msgs(inner, era, seen),
            _ => {}
        }
    }
}

fn to_value(m: &Msg) -> Value {
    match m {
        Msg::Request { id, method, params } => {
            let mut v = json!({"jsonrpc": "2.0", "id": id, "method": method});
            if let Some(p) = params {
                v["params"] = p.clone();
            }
            v
        }
        Msg::Notification { method, params } => {
            let mut v = json!({"jsonrpc": "2.0", "method": method});
            if let Some(p) = params {
                v["params"] = p.clone();
            }
            v
        }
        Msg::Response { id, body } => {
            let mut v = json!({"jsonrpc": "2.0", "id": id});
            if let Value::Object(b) = body {
                for (k, x) in b {
                    v[k] = x.clone();
                }
            }
            v
        }
        Msg::Raw(v) => v.clone(),
        Msg::Batch(ms) => Value::Array(ms.iter().map(to_value).collect()),
    }
}

/// The bytes of one line (no newline at the end; a mutation may add some inside).
fn render(m: &Msg, shape: &Shape) -> Vec<u8> {
    let text = to_value(m).to_string();
    match shape {
        Shape::Plain => text.into_bytes(),
        Shape::Mutated(ops) => {
            let mut b = text.into_bytes();
            for &(at, op, byte) in ops {
                let i = if b.is_empty() { 0 } else { at % (b.len() + 1) };
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    2 if i < b.len() => {
                        b.remove(i);
                    }
                    _ => b.truncate(i),
                }
            }
            b
        }
        Shape::DeepParams(depth) => {
            let mut v = to_value(m);
            if v.is_object() {
                v["params"] = json!("@DEEP@");
                let deep = format!("{}{}", "[".repeat(*depth), "]".repeat(*depth));
                v.to_string().replace("\"@DEEP@\"", &deep).into_bytes()
            } else {
                format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)).into_bytes()
            }
        }
        Shape::Garbage(bytes) => bytes.clone(),
        Shape::DuplicateKeyId(other) => {
            // `{"id":<other>, ...rest}`: the later key wins in the hub's parser as in ours.
            let rest = to_value(m).to_string();
            match rest.strip_prefix('{') {
                Some(r) if r != "}" => format!("{{\"id\":{other},{r}").into_bytes(),
                _ => rest.into_bytes(),
            }
        }
    }
}

// ------------------------------------------------------------------ the shared hub

/// One hub for every case of a test binary, on its own runtime, fronting `demo_server`.
struct Shared {
    rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    _tmp: tempfile::TempDir,
}

const HUB_TOML: &str = "[hub]\nrequest_timeout = \"5s\"\n\
[tenants.default.servers.demo]\ncommand = \"@DEMO@\"\nrequest_timeout = \"5s\"\n";

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let text = harness::fill_template(HUB_TOML, tmp.path());
    let path = tmp.path().join("hub.toml");
    let config = HubConfig::from_str_at(&text, &path, &|_| None)
        .unwrap_or_else(|e| panic!("config does not parse: {e:?}\n{text}"));
    let hub = {
        let _in_rt = rt.enter();
        Hub::start(config, None)
    };
    Shared { rt, hub, _tmp: tmp }
});

/// Bound on a whole stdio session of one case: the request timeout, the upstream's start-up,
/// and room for the drain.
const SESSION_BOUND: Duration = Duration::from_secs(30);

/// What the session wrote back, and whether it ended by itself.
struct Transcript {
    answers: Vec<Value>,
    ended: bool,
}

/// One stdio session over in-memory pipes: writes `input`, closes it, collects every line out.
async fn stdio_session(hub: &Hub, input: Vec<u8>) -> Transcript {
    let tenant = hub.tenants().values().next().unwrap().clone();
    let (mut to_hub, hub_in) = tokio::io::duplex(1 << 16);
    let (hub_out, from_hub) = tokio::io::duplex(1 << 16);
    let stop = CancellationToken::new();
    let served = tokio::spawn(mcp_hub::downstream::stdio::serve_on(
        tenant,
        hub_in,
        hub_out,
        stop.clone(),
    ));
    let lines = Arc::new(Mutex::new(Vec::<Value>::new()));
    let reader = {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(from_hub);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let v: Value = serde_json::from_slice(&buf).unwrap_or_else(|e| {
                            panic!(
                                "the hub wrote a line that is not JSON ({e}): {}",
                                String::from_utf8_lossy(&buf)
                            )
                        });
                        lines.lock().unwrap().push(v);
                    }
                }
            }
        })
    };
    let writer = tokio::spawn(async move {
        // The session may end early (a line over 16 MiB): the rest of the input has nowhere to go.
        let _ = to_hub.write_all(&input).await;
        let _ = to_hub.shutdown().await;
        drop(to_hub);
    });
    let ended = match tokio::time::timeout(SESSION_BOUND, served).await {
        Ok(Ok(Ok(()))) => true,
        Ok(Ok(Err(e))) => panic!("the session failed: {e}"),
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => false,
    };
    stop.cancel();
    writer.abort();
    // The writer task flushed before the session returned; let the reader take the rest.
    let _ = tokio::time::timeout(Duration::from_millis(300), reader).await;
    let answers = lines.lock().unwrap().clone();
    Transcript { answers, ended }
}

/// The requests (by id) in a byte stream as the session reads it: a line at a time, lossy UTF-8,
/// trimmed, an object with a string `method` and a string or number `id`.
fn requests_in(input: &[u8]) -> HashMap<String, (Value, usize)> {
    let mut out: HashMap<String, (Value, usize)> = HashMap::new();
    for line in input.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let Ok(v) = serde_json::from_str::<Value>(text.trim()) else {
            continue;
        };
        let Some(o) = v.as_object() else { continue };
        let id_ok = o.get("id").is_some_and(|i| i.is_string() || i.is_number());
        if o.get("method").is_some_and(Value::is_string) && id_ok {
            out.entry(id_key(&o["id"]))
                .or_insert_with(|| (o["id"].clone(), 0))
                .1 += 1;
        }
    }
    out
}

/// How ids are matched: by their JSON text, except that a float is compared to 12 digits (the
/// hub's serde_json parses floats fast, not exactly: `1.5568633147575802e203` may come back one
/// unit in the last place off after a write and a read).
fn id_key(id: &Value) -> String {
    match id.as_f64() {
        Some(f) if id.is_f64() => format!("f{f:.12e}"),
        _ => id.to_string(),
    }
}

fn is_answer(v: &Value) -> bool {
    v.get("method").is_none() && (v.get("result").is_some() || v.get("error").is_some())
}

/// The property of a stdio session: every request answered exactly once (at most as many times
/// as it was sent, when a mutation repeated its id), and the session ended by itself.
fn check_transcript(input: &[u8], t: &Transcript) -> Result<(), String> {
    if !t.ended {
        return Err(format!(
            "the session did not end within {SESSION_BOUND:?} after its input closed"
        ));
    }
    let mut answered: HashMap<String, usize> = HashMap::new();
    for a in t.answers.iter().filter(|v| is_answer(v)) {
        *answered.entry(id_key(&a["id"])).or_default() += 1;
    }
    let answerable = answerable_in(input);
    for (key, (id, sent)) in requests_in(input) {
        let got = answered.get(&key).copied().unwrap_or(0);
        // A malformed line that carries the same id is answered too (with an error, its id
        // echoed, as JSON-RPC asks), so it may add an answer.
        let most = answerable.get(&key).copied().unwrap_or(sent).max(sent);
        if got == 0 || got > most {
            return Err(format!(
                "request id {id} sent {sent} time(s), answered {got} time(s)"
            ));
        }
    }
    Ok(())
}

/// Per id, how many lines may be answered with it: every object line with a string or number
/// `id` that is not itself a response (requests, and malformed messages whose id the hub echoes
/// in its error).
fn answerable_in(input: &[u8]) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for line in input.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text.trim()) else {
            continue;
        };
        let Some(id) = o.get("id").filter(|i| i.is_string() || i.is_number()) else {
            continue;
        };
        let response =
            o.get("method").is_none() && (o.contains_key("result") || o.contains_key("error"));
        if !response {
            *out.entry(id_key(id)).or_default() += 1;
        }
    }
    out
}

fn handshake_prefix() -> Vec<u8> {
    let init = json!({"jsonrpc":"2.0","id":"fuzz-init","method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}});
    format!(
        "{init}\n{}\n",
        json!({"jsonrpc":"2.0","method":"notifications/initialized"})
    )
    .into_bytes()
}

fn session_input(era: SessionEra, lines: &[(Msg, Shape)]) -> Vec<u8> {
    let mut input = match era {
        SessionEra::Handshake => handshake_prefix(),
        _ => Vec::new(),
    };
    for (m, s) in lines {
        input.extend(render(m, s));
        input.push(b'\n');
    }
    input
}

fn session_lines() -> impl Strategy<Value = (SessionEra, Vec<(Msg, Shape)>)> {
    (session_era(), vec((msg(), shape()), 1..12)).prop_map(|(era, mut lines)| {
        let mut seen = std::collections::HashSet::from(["\"fuzz-init\"".to_string()]);
        for (m, _) in &mut lines {
            finish_msgs(std::slice::from_mut(m), era, &mut seen);
        }
        (era, lines)
    })
}

proptest! {
    #![proptest_config(settings(32))]
    fn fuzz_downstream_stdio((era, lines) in session_lines()) {
        count("downstream_stdio");
        let input = session_input(era, &lines);
        let shared = &*SHARED;
        let t = shared.rt.block_on(stdio_session(&shared.hub, input.clone()));
        check_transcript(&input, &t).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn downstream_stdio() {
    run("downstream_stdio", fuzz_downstream_stdio);
}

// ------------------------------------------------------------------ HTTP bodies

const HTTP_BOUND: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
struct HttpCase {
    path: &'static str,
    content_type: Option<&'static str>,
    accept: Option<&'static str>,
    session: Option<String>,
    version: Option<String>,
    body: Vec<u8>,
}

fn http_case() -> impl Strategy<Value = HttpCase> {
    (
        proptest::sample::select(
            &[
                "/mcp",
                "/t/default/mcp",
                "/t/nope/mcp",
                "/messages",
                "/messages?sessionId=x",
            ][..],
        ),
        proptest::option::weighted(
            0.9,
            proptest::sample::select(
                &[
                    "application/json",
                    "text/plain",
                    "application/json; charset=utf-8",
                ][..],
            ),
        ),
        proptest::option::weighted(
            0.9,
            proptest::sample::select(
                &[
                    "application/json, text/event-stream",
                    "application/json",
                    "text/event-stream",
                    "*/*",
                ][..],
            ),
        ),
        proptest::option::weighted(0.2, any_string()),
        proptest::option::weighted(
            0.3,
            prop_oneof![
                Just("2025-11-25".to_string()),
                Just("2026-07-28".to_string()),
                any_string()
            ],
        ),
        session_era(),
        (msg(), shape()),
    )
        .prop_map(
            |(path, content_type, accept, session, version, era, (mut m, shape))| {
                finish_msgs(std::slice::from_mut(&mut m), era, &mut Default::default());
                HttpCase {
                    path,
                    content_type,
                    accept,
                    session,
                    version,
                    body: render(&m, &shape),
                }
            },
        )
}

async fn http_exchange(app: axum::Router, case: &HttpCase) -> Result<(), String> {
    let mut b = Request::post(case.path).header("host", "localhost");
    if let Some(c) = case.content_type {
        b = b.header("content-type", c);
    }
    if let Some(a) = case.accept {
        b = b.header("accept", a);
    }
    if let Some(s) = &case.session {
        if let Ok(h) = axum::http::HeaderValue::from_str(s) {
            b = b.header("mcp-session-id", h);
        }
    }
    if let Some(v) = &case.version {
        if let Ok(h) = axum::http::HeaderValue::from_str(v) {
            b = b.header("mcp-protocol-version", h);
        }
    }
    let req = b.body(Body::from(case.body.clone())).unwrap();
    let r = tokio::time::timeout(HTTP_BOUND, app.clone().oneshot(req))
        .await
        .map_err(|_| format!("no response within {HTTP_BOUND:?}"))?
        .unwrap();
    let status = r.status();
    let session = r.headers().get("mcp-session-id").cloned();
    let body = tokio::time::timeout(HTTP_BOUND, r.into_body().collect())
        .await
        .map_err(|_| format!("the {status} body did not end within {HTTP_BOUND:?}"))?
        .map(|b| b.to_bytes())
        .map_err(|e| format!("the body failed: {e}"))?;
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    // Sessions opened by an `initialize` are closed again, so the cases do not pile them up.
    if let Some(s) = session {
        let del = Request::delete("/mcp")
            .header("host", "localhost")
            .header("mcp-session-id", s)
            .body(Body::empty())
            .unwrap();
        let _ = tokio::time::timeout(HTTP_BOUND, app.oneshot(del)).await;
    }
    Ok(())
}

static APP: LazyLock<axum::Router> = LazyLock::new(|| router(HttpState::new(SHARED.hub.clone())));

proptest! {
    #![proptest_config(settings(128))]
    fn fuzz_downstream_http(case in http_case()) {
        count("downstream_http");
        let shared = &*SHARED;
        shared.rt.block_on(http_exchange(APP.clone(), &case)).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn downstream_http() {
    run("downstream_http", fuzz_downstream_http);
}

// ------------------------------------------------------------------ upstream messages

/// Hooks that only count what reached them.
#[derive(Default)]
struct Recorder {
    notifications: AtomicU64,
    requests: AtomicU64,
}

impl ConnHooks for Recorder {
    fn on_notification(&self, _: &Arc<Conn>, _: Value) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }
    fn on_server_request(&self, _: &Arc<Conn>, _: Value, _: Vec<InFlight>, _: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    fn on_input_required(&self, _: &Arc<Conn>, _: Value, _: DownstreamReply) {}
}

fn downstream_reply(out: &Outbox, id: Value, progress: Option<Value>) -> DownstreamReply {
    DownstreamReply {
        out: out.clone(),
        session: 1,
        id,
        progress,
        log_level: None,
        finish: Finish::default(),
        retry: None,
    }
}

/// What the mux takes for an upstream id (`id_number` in src/mux.rs): a u64, or a string that parses as one.
fn names_call(id: &Value, calls: &[u64]) -> bool {
    let n = id
        .as_u64()
        .or_else(|| id.as_str().and_then(|s| s.parse::<u64>().ok()));
    n.is_some_and(|n| calls.contains(&n))
}

/// Noise must not answer a real call (that would be a real answer): ids that name one are moved.
fn defuse(v: &mut Value, calls: &[u64]) {
    match v {
        Value::Object(o)
            if o.get("id").is_some_and(|id| names_call(id, calls)) && !o.contains_key("method") =>
        {
            o.insert("id".into(), json!(u64::MAX));
        }
        Value::Array(items) => items.iter_mut().for_each(|i| defuse(i, calls)),
        _ => {}
    }
}

/// One line of noise from an upstream: a message value, or raw (possibly broken) text.
#[derive(Debug, Clone)]
enum Noise {
    Message(Msg, Shape),
    Progress(Value, Value),
    Ping(Value),
    /// A corpus line, as is (its ids moved off the real calls when it parses).
    Line(String),
}

fn noise() -> impl Strategy<Value = Noise> {
    prop_oneof![
        8 => (msg(), shape()).prop_map(|(m, s)| Noise::Message(m, s)),
        2 => (json_value(), json_value()).prop_map(|(t, p)| Noise::Progress(t, p)),
        1 => json_id().prop_map(Noise::Ping),
    ]
}

#[derive(Debug, Clone)]
struct UpstreamCase {
    stateless: bool,
    /// Client ids of the pending calls, and whether each asked for progress.
    calls: Vec<(Value, bool)>,
    noise: Vec<Noise>,
    /// Where each call's real answer goes in the noise (an index into it, modulo its length + 1).
    at: Vec<usize>,
    /// Progress for real calls mixed in (token = call index).
    progress: Vec<(usize, Value)>,
}

fn upstream_case() -> impl Strategy<Value = UpstreamCase> {
    (
        any::<bool>(),
        vec((json_id(), any::<bool>()), 1..5),
        vec(noise(), 0..16),
        vec(any::<usize>(), 5),
        vec((any::<usize>(), json_value()), 0..4),
    )
        .prop_map(|(stateless, calls, noise, at, progress)| UpstreamCase {
            stateless,
            calls,
            noise,
            at,
            progress,
        })
}

fn upstream_lines(case: &UpstreamCase, upstream_ids: &[Value]) -> Vec<String> {
    let calls: Vec<u64> = upstream_ids.iter().filter_map(Value::as_u64).collect();
    let mut lines: Vec<String> = case
        .noise
        .iter()
        .map(|n| match n {
            Noise::Message(m, s) => {
                let mut v = to_value(m);
                defuse(&mut v, &calls);
                let m = Msg::Raw(v);
                String::from_utf8_lossy(&render(&m, s)).into_owned()
            }
            Noise::Progress(token, progress) => {
                json!({"jsonrpc":"2.0","method":"notifications/progress",
                "params":{"progressToken": token, "progress": progress}})
                .to_string()
            }
            Noise::Ping(id) => json!({"jsonrpc":"2.0","id":id,"method":"ping"}).to_string(),
            Noise::Line(line) => match serde_json::from_str::<Value>(line) {
                Ok(mut v) => {
                    let before = v.clone();
                    defuse(&mut v, &calls);
                    if v == before {
                        line.clone()
                    } else {
                        v.to_string()
                    }
                }
                Err(_) => line.clone(),
            },
        })
        .collect();
    for (i, up) in upstream_ids.iter().enumerate().rev() {
        let answer = json!({"jsonrpc":"2.0","id":up,"result":{"content":[{"type":"text","text":format!("real-{i}")}]}});
        let at = case.at[i % case.at.len()] % (lines.len() + 1);
        lines.insert(at, answer.to_string());
    }
    for (k, p) in &case.progress {
        let up = &upstream_ids[k % upstream_ids.len()];
        let at = k % (lines.len() + 1);
        lines.insert(
            at,
            json!({"jsonrpc":"2.0","method":"notifications/progress",
            "params":{"progressToken": up, "progress": p}})
            .to_string(),
        );
    }
    // A late duplicate of every real answer, and a late error, must change nothing.
    for up in upstream_ids {
        lines.push(
            json!({"jsonrpc":"2.0","id":up,"result":{"content":[{"type":"text","text":"late"}]}})
                .to_string(),
        );
        lines
            .push(json!({"jsonrpc":"2.0","id":up,"error":{"code":1,"message":"late"}}).to_string());
    }
    lines
}

fn check_upstream(case: UpstreamCase) -> Result<(), String> {
    let (conn, mut up) = Conn::new(ServerName::new("up"), Arc::new(Recorder::default()));
    conn.set_era(if case.stateless {
        Era::Stateless {
            meta: serde_json::Map::new(),
        }
    } else {
        Era::Handshake {
            version: "2025-11-25".into(),
        }
    });
    let (out, mut down) = mcp_hub::jsonrpc::outbox();
    // Distinct client ids (one session): a repeat gets a fresh one.
    let mut seen = std::collections::HashSet::new();
    let calls: Vec<(Value, bool)> = case
        .calls
        .iter()
        .enumerate()
        .map(|(i, (id, progress))| {
            let id = if seen.insert(id_key(id)) {
                id.clone()
            } else {
                json!(format!("c{i}"))
            };
            (id, *progress)
        })
        .collect();
    let mut upstream_ids = Vec::new();
    for (i, (id, progress)) in calls.iter().enumerate() {
        let token = progress.then(|| json!(format!("tok-{i}")));
        let mut params = json!({"name": "t"});
        if let Some(t) = &token {
            params["_meta"] = json!({"progressToken": t});
        }
        conn.forward(
            "tools/call",
            params,
            "",
            downstream_reply(&out, id.clone(), token),
            Duration::from_secs(60),
        )
        .map_err(|e| format!("forward failed: {e:?}"))?;
        let frame: Value = serde_json::from_str(&up.try_recv().map_err(|_| "no frame upstream")?)
            .map_err(|e| e.to_string())?;
        upstream_ids.push(frame["id"].clone());
    }
    for line in upstream_lines(&case, &upstream_ids) {
        conn.handle_incoming(&line);
    }
    drop(out);
    let mut answers: HashMap<String, Vec<Value>> = HashMap::new();
    while let Ok(frame) = down.try_recv() {
        let v: Value = serde_json::from_str(&frame)
            .map_err(|e| format!("a frame downstream is not JSON ({e}): {frame}"))?;
        if v.get("method").is_none() {
            answers.entry(id_key(&v["id"])).or_default().push(v);
        } else if v["method"] == "notifications/progress" {
            let t = &v["params"]["progressToken"];
            if !calls
                .iter()
                .enumerate()
                .any(|(i, (_, p))| *p && *t == json!(format!("tok-{i}")))
            {
                return Err(format!("progress for a token no call asked for: {v}"));
            }
        }
    }
    for (i, (id, _)) in calls.iter().enumerate() {
        let got = answers.remove(&id_key(id)).unwrap_or_default();
        let [one] = got.as_slice() else {
            return Err(format!(
                "call {i} (id {id}) got {} answers: {got:?}",
                got.len()
            ));
        };
        if one["result"]["content"][0]["text"] != json!(format!("real-{i}")) {
            return Err(format!("call {i} (id {id}) got the wrong answer: {one}"));
        }
    }
    if !answers.is_empty() {
        return Err(format!("answers for no call: {answers:?}"));
    }
    if conn.in_flight() != 0 {
        return Err(format!("{} call(s) still in flight", conn.in_flight()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(settings(256))]
    fn fuzz_upstream_messages(case in upstream_case()) {
        count("upstream_messages");
        bounded(PURE_LIMIT, move || check_upstream(case)).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn upstream_messages() {
    run("upstream_messages", fuzz_upstream_messages);
}

// ------------------------------------------------------------------ cursors

/// A valid server name (`A-Z a-z 0-9 _ -`, 1 to 32, not starting or ending with `_` or `-`).
fn server_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9_-]{0,30}[A-Za-z0-9])?"
}

fn offer() -> impl Strategy<Value = Offer> {
    let item = prop_oneof![
        4 => any_string().prop_map(|n| json!({"name": n})),
        1 => json_value(),
    ];
    let resource = prop_oneof![
        4 => any_string().prop_map(|u| json!({"uri": u, "name": "r"})),
        1 => json_value(),
    ];
    (
        vec(item.clone(), 0..12),
        vec(item, 0..6),
        vec(resource.clone(), 0..12),
        vec(resource, 0..4),
    )
        .prop_map(|(tools, prompts, resources, templates)| Offer {
            tools: Item::list(&tools),
            prompts: Item::list(&prompts),
            resources: Item::list(&resources),
            templates: templates
                .into_iter()
                .map(|mut t| {
                    if let Some(u) = t.get("uri").cloned() {
                        t["uriTemplate"] = u;
                    }
                    Item::new(&t)
                })
                .collect(),
            ..Offer::default()
        })
}

fn catalog_input() -> impl Strategy<Value = (Vec<(String, Offer)>, u64)> {
    (
        vec((server_name(), offer()), 0..4).prop_map(|v| {
            // Server names are unique (the config is a table keyed by them), sorted like the hub's.
            let map: BTreeMap<String, Offer> = v.into_iter().collect();
            map.into_iter().collect::<Vec<_>>()
        }),
        prop_oneof![Just(0u64), Just(1), any::<u64>()],
    )
}

fn build_catalog(namer: &Namer, offers: &[(String, Offer)], generation: u64) -> Catalog {
    let offers: Vec<(ServerName, Arc<Offer>)> = offers
        .iter()
        .map(|(s, o)| (ServerName::new(s), Arc::new(o.clone())))
        .collect();
    Catalog::build(namer, &offers, generation)
}

fn cursor_string(generation: u64) -> impl Strategy<Value = String> {
    prop_oneof![
        any_string(),
        any::<usize>().prop_map(move |o| format!("g{generation}o{o}")),
        (0usize..40).prop_map(move |o| format!("g{generation}o{o}")),
        (any::<u64>(), 0usize..40).prop_map(|(g, o)| format!("g{g}o{o}")),
        "g[0-9+-]{0,22}o[0-9+-]{0,22}",
    ]
}

fn check_cursors(
    offers: Vec<(String, Offer)>,
    generation: u64,
    size: usize,
    cursors: Vec<String>,
) -> Result<(), String> {
    let namer = Namer::new("__", 64);
    let cat = build_catalog(&namer, &offers, generation);
    for kind in ListKind::ALL {
        for c in &cursors {
            // Any answer will do, as long as it is an answer.
            if let Ok((items, next)) = cat.page(kind, Some(c), size) {
                if items.len() > size {
                    return Err(format!("a page of {} items for size {size}", items.len()));
                }
                if let Some(n) = next {
                    let _ = cat.page(kind, Some(&n), size);
                }
            }
        }
        // From the start, the hub's own cursors go through every item once, in order.
        let all: Vec<Value> = cat.list(kind).iter().map(Item::value).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..=all.len() + 1 {
            let (items, next) = cat
                .page(kind, cursor.as_deref(), size)
                .map_err(|e| format!("the hub's own cursor {cursor:?} was refused: {e}"))?;
            if items.is_empty() && next.is_some() {
                return Err(format!("an empty page with a next cursor {next:?}"));
            }
            seen.extend(items);
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        if cursor.is_some() {
            return Err("paging did not end".into());
        }
        if seen != all {
            return Err(format!(
                "{kind:?}: paged {} items, the list has {}",
                seen.len(),
                all.len()
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(settings(256))]
    fn fuzz_cursors(
        (offers, generation) in catalog_input(),
        size in prop_oneof![1usize..5, 1usize..=10_000],
        cursors in any::<u64>().prop_flat_map(|g| vec(cursor_string(g), 0..6)),
    ) {
        count("cursors");
        bounded(PURE_LIMIT, move || check_cursors(offers, generation, size, cursors))
            .map_err(TestCaseError::fail)?;
    }
}

#[test]
fn cursors() {
    run("cursors", fuzz_cursors);
}

// ------------------------------------------------------------------ naming and routing

/// A valid `hub.separator`: 1 to 3 of `_ . -`.
fn separator() -> impl Strategy<Value = String> {
    "[_.-]{1,3}"
}

fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        any_string(),
        ("[a-z][a-z0-9+.-]{0,6}", any_string()).prop_map(|(s, r)| format!("{s}://{r}")),
        ("[a-z][a-z0-9+.-]{0,6}", any_string()).prop_map(|(s, r)| format!("{s}:{r}")),
        "[a-z0-9/_.:-]{0,20}",
    ]
}

/// A namer, its servers (valid, none holding the separator) and (server index, URI or name) pairs.
fn naming_input() -> impl Strategy<Value = (Namer, Vec<String>, Vec<(usize, String)>)> {
    (separator(), 16usize..=128)
        .prop_flat_map(|(sep, max)| {
            let s2 = sep.clone();
            (
                Just(Namer::new(&sep, max)),
                vec(server_name(), 1..4).prop_map(move |mut v| {
                    v.retain(|s| !s.contains(s2.as_str()));
                    v.sort();
                    v.dedup();
                    if v.is_empty() {
                        v.push("srv".into());
                    }
                    v
                }),
                vec((any::<usize>(), uri()), 0..12),
            )
        })
        .prop_map(|(n, servers, pairs)| {
            let pairs = pairs
                .into_iter()
                .map(|(i, u)| (i % servers.len(), u))
                .collect();
            (n, servers, pairs)
        })
}

fn check_naming(
    namer: Namer,
    servers: Vec<String>,
    pairs: Vec<(usize, String)>,
    method: String,
    params: Value,
) -> Result<(), String> {
    let is_server = |s: &str| servers.iter().any(|x| x == s);
    // URIs: namespaced, then resolved back to the same server and URI.
    for (i, u) in &pairs {
        let server = &servers[*i];
        let ns = namer.namespace_uri(server, u);
        let back = namer.resolve_uri(&ns, is_server);
        // With a separator of scheme characters (`.`, `-`), two URIs can namespace to the same
        // text (`:k.x` and `k.:x` of server `k` both become `k.:k.x`); then resolving must give
        // one of them: a pair that namespaces back to the same text (README, "Known limits").
        let same_text = back
            .as_ref()
            .is_some_and(|(s, o)| namer.namespace_uri(s, o) == ns);
        if back != Some((server.as_str(), u.clone())) && !same_text {
            return Err(format!(
                "URI {u:?} of {server:?} (sep {:?}) became {ns:?}, which resolves to {back:?}",
                namer.sep
            ));
        }
        let task = namer.namespace_name(server, u);
        if namer.resolve_name(&task, is_server) != Some((server.as_str(), u.as_str())) {
            return Err(format!("task id {u:?} of {server:?} does not resolve back"));
        }
    }
    // Names: allowed characters, within the ceiling, never two equal, deterministic.
    let named: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(i, n)| (servers[*i].as_str(), n.as_str()))
        .collect();
    let names = namer.assign(&named);
    let mut unique = std::collections::HashSet::new();
    for (n, (s, orig)) in names.iter().zip(&named) {
        if n.is_empty()
            || n.len() > namer.max_len
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(format!(
                "{s:?}/{orig:?} was exposed as {n:?} (max {})",
                namer.max_len
            ));
        }
        if !unique.insert(n.clone()) {
            return Err(format!("two items exposed as {n:?}"));
        }
    }
    let mut reversed = named.clone();
    reversed.reverse();
    let mut again = namer.assign(&reversed);
    again.reverse();
    // Equal pairs may trade their names; the (pair, name) multiset may not change.
    let sorted = |names: &[String]| {
        let mut v: Vec<_> = named.iter().zip(names.iter()).collect();
        v.sort();
        v.into_iter()
            .map(|(p, n)| (*p, n.clone()))
            .collect::<Vec<_>>()
    };
    if sorted(&again) != sorted(&names) {
        return Err("the names depend on the order of the input".into());
    }
    // Routing never panics, whatever the params.
    let offers: Vec<(String, Offer)> = servers
        .iter()
        .map(|s| {
            (
                s.clone(),
                Offer {
                    tools: pairs
                        .iter()
                        .map(|(_, n)| json!({"name": n}).into())
                        .collect(),
                    prompts: pairs
                        .iter()
                        .map(|(_, n)| json!({"name": n}).into())
                        .collect(),
                    ..Offer::default()
                },
            )
        })
        .collect();
    let cat = build_catalog(&namer, &offers, 1);
    let _ = mcp_hub::route::route(&cat, &namer, is_server, &method, params.clone());
    for m in [
        "tools/call",
        "prompts/get",
        "resources/read",
        "tasks/get",
        "completion/complete",
    ] {
        let _ = mcp_hub::route::route(&cat, &namer, is_server, m, params.clone());
    }
    Ok(())
}

fn route_params() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        (json_value(), json_value()).prop_map(|(n, u)| json!({"name": n, "uri": u, "taskId": n})),
        (
            proptest::sample::select(&["ref/prompt", "ref/resource", "x"][..]),
            json_value()
        )
            .prop_map(|(t, n)| json!({"ref": {"type": t, "name": n, "uri": n}})),
        any_string().prop_map(
            |s| json!({"name": s, "uri": s, "taskId": s, "ref": {"type": "ref/resource", "uri": s}})
        ),
        Just(json!({"ref": "not an object"})),
    ]
}

proptest! {
    #![proptest_config(settings(256))]
    fn fuzz_naming(
        (namer, servers, pairs) in naming_input(),
        method in method(),
        params in route_params(),
    ) {
        count("naming");
        bounded(PURE_LIMIT, move || check_naming(namer, servers, pairs, method, params))
            .map_err(TestCaseError::fail)?;
    }
}

#[test]
fn naming() {
    run("naming", fuzz_naming);
}

// ------------------------------------------------------------------ config parsing

const EXAMPLE_CONFIGS: &[(&str, &str)] = &[
    ("first-hub.toml", include_str!("../examples/first-hub.toml")),
    (
        "multi-tenant.toml",
        include_str!("../examples/multi-tenant.toml"),
    ),
    ("remote.toml", include_str!("../examples/remote.toml")),
    ("hub.toml", include_str!("../hub.toml")),
];

/// A line of TOML-ish text: keys the hub knows, values of every TOML type, broken syntax.
fn toml_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        proptest::sample::select(
            &[
                "command",
                "args",
                "url",
                "env",
                "cwd",
                "start",
                "share",
                "protocol",
                "transport",
                "request_timeout",
                "startup_timeout",
                "separator",
                "max_name_length",
                "page_size",
                "listen",
                "default_tenant",
                "restart",
                "headers",
                "policy",
                "max_sessions",
                "max_request_bytes",
                "key",
                "keys",
                "tools",
                "allow",
                "deny",
            ][..]
        )
        .prop_map(str::to_string),
        "[a-z_.\"-]{1,12}",
    ];
    let value = prop_oneof![
        any_string().prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        finite_f64().prop_map(|f| f.to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("[1, \"a\", {x = 1}]".to_string()),
        Just("{ policy = \"always\", max = -1 }".to_string()),
        Just("\"${HOME}/x ${NOPE} $${ESC}\"".to_string()),
        Just("\"\"\"\nmulti\n\"\"\"".to_string()),
        "[^\n]{0,20}",
    ];
    let table = prop_oneof![
        Just("[hub]".to_string()),
        Just("[hub.http]".to_string()),
        Just("[hub.admin]".to_string()),
        server_name().prop_map(|t| format!("[tenants.{t}]")),
        (server_name(), server_name()).prop_map(|(t, s)| format!("[tenants.{t}.servers.{s}]")),
        (server_name(), server_name()).prop_map(|(t, s)| format!("[[tenants.{t}.servers.{s}]]")),
        any_string().prop_map(|s| format!("[{s}]")),
    ];
    prop_oneof![
        6 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        3 => table,
        1 => any_string(),
    ]
}

#[derive(Debug, Clone)]
enum ConfigText {
    Lines(Vec<String>),
    Mutated(usize, Vec<(usize, u8, u8)>),
    Spliced(usize, Vec<(usize, String)>),
    Bytes(Vec<u8>),
}

fn config_text() -> impl Strategy<Value = ConfigText> {
    prop_oneof![
        3 => vec(toml_line(), 0..16).prop_map(ConfigText::Lines),
        3 => (any::<usize>(), vec((any::<usize>(), 0u8..4, any::<u8>()), 1..8))
            .prop_map(|(i, ops)| ConfigText::Mutated(i, ops)),
        3 => (any::<usize>(), vec((any::<usize>(), toml_line()), 1..5))
            .prop_map(|(i, lines)| ConfigText::Spliced(i, lines)),
        1 => vec(any::<u8>(), 0..300).prop_map(ConfigText::Bytes),
    ]
}

fn config_string(c: &ConfigText) -> String {
    match c {
        ConfigText::Lines(lines) => lines.join("\n"),
        ConfigText::Mutated(i, ops) => {
            let base = EXAMPLE_CONFIGS[i % EXAMPLE_CONFIGS.len()].1;
            let mut b = base.as_bytes().to_vec();
            for &(at, op, byte) in ops {
                let i = at % (b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    2 if i < b.len() => {
                        b.remove(i);
                    }
                    _ => b.truncate(i),
                }
            }
            String::from_utf8_lossy(&b).into_owned()
        }
        ConfigText::Spliced(i, lines) => {
            let base = EXAMPLE_CONFIGS[i % EXAMPLE_CONFIGS.len()].1;
            let mut all: Vec<String> = base.lines().map(str::to_string).collect();
            for (at, l) in lines {
                let at = at % (all.len() + 1);
                if at < all.len() && at.is_multiple_of(2) {
                    all[at] = l.clone();
                } else {
                    all.insert(at, l.clone());
                }
            }
            all.join("\n")
        }
        ConfigText::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn check_config(text: &str, dir: &Path) -> Result<(), String> {
    let path = dir.join("hub.toml");
    let env = |name: &str| match name {
        "HOME" => Some("/home/fuzz".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    match HubConfig::from_str_at(text, &path, &env) {
        Ok(_) => Ok(()),
        Err(e) if e.problems.is_empty() => Err(format!("an error without problems for {text:?}")),
        Err(e) => match e.problems.iter().find(|p| p.message.trim().is_empty()) {
            Some(p) => Err(format!("a problem without a message ({p:?}) for {text:?}")),
            None => Ok(()),
        },
    }
}

static CONFIG_DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

proptest! {
    #![proptest_config(settings(256))]
    fn fuzz_config(c in config_text()) {
        count("config");
        let text = config_string(&c);
        let dir = CONFIG_DIR.path().to_path_buf();
        bounded(PURE_LIMIT, move || check_config(&text, &dir)).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn config() {
    run("config", fuzz_config);
}

// ------------------------------------------------------------------ requestState

fn idle_conn() -> Arc<Conn> {
    Conn::new(ServerName::new("up"), Arc::new(Recorder::default())).0
}

#[derive(Debug, Clone)]
enum StateProbe {
    Arbitrary(String),
    Mutated(Vec<(usize, u8, char)>),
    OtherContext(String, String),
}

fn state_probe() -> impl Strategy<Value = StateProbe> {
    prop_oneof![
        any_string().prop_map(|s| StateProbe::Arbitrary(s.clone())),
        any_string().prop_map(|s| StateProbe::Arbitrary(format!("mcp-hub.{s}"))),
        vec((any::<usize>(), 0u8..4, any::<char>()), 1..4).prop_map(StateProbe::Mutated),
        (server_name(), any_string()).prop_map(|(t, o)| StateProbe::OtherContext(t, o)),
    ]
}

fn check_request_state(
    tenant: String,
    origin: String,
    probes: Vec<StateProbe>,
) -> Result<(), String> {
    let bridges = Bridges::new();
    let conn = idle_conn();
    let state = bridges.park(
        &tenant,
        &origin,
        conn.clone(),
        7,
        json!(1),
        Duration::from_secs(60),
    );
    // Another call parked for another context, whose state must not open this one.
    let other = bridges.park(
        "other-tenant",
        &origin,
        conn,
        8,
        json!(2),
        Duration::from_secs(60),
    );
    let mut taken = false;
    for p in probes {
        let (t, o, s) = match &p {
            StateProbe::Arbitrary(s) => (tenant.clone(), origin.clone(), s.clone()),
            StateProbe::Mutated(ops) => {
                let mut chars: Vec<char> = state.chars().collect();
                for &(at, op, c) in ops {
                    let i = at % (chars.len() + 1);
                    match op {
                        0 if i < chars.len() => chars[i] = c,
                        1 => chars.insert(i, c),
                        2 if i < chars.len() => {
                            chars.remove(i);
                        }
                        _ => chars.truncate(i),
                    }
                }
                (tenant.clone(), origin.clone(), chars.into_iter().collect())
            }
            StateProbe::OtherContext(t, o) => (t.clone(), o.clone(), state.clone()),
        };
        if let Ok(parked) = bridges.take(&t, &o, &s) {
            // Only the issued call, for its own tenant and origin, once. (A mutation the
            // encoding ignores, such as unused bits of the last base64 character, names the
            // same sealed handle: that is still the issued state.)
            if parked.call != 7 || t != tenant || o != origin || taken {
                return Err(format!(
                    "{s:?} opened call {} for ({t:?}, {o:?}); issued {state:?} for ({tenant:?}, {origin:?}); taken before: {taken}",
                    parked.call
                ));
            }
            taken = true;
        }
    }
    if bridges.take(&tenant, &origin, &other).is_ok() {
        return Err("another tenant's state opened here".into());
    }
    let again = bridges.take(&tenant, &origin, &state);
    if taken == again.is_ok() {
        return Err(format!(
            "the issued state opened {} time(s)",
            u8::from(taken) + u8::from(again.is_ok())
        ));
    }
    if bridges.take(&tenant, &origin, &state).is_ok() {
        return Err("a state opened twice".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(settings(256))]
    fn fuzz_request_state(
        tenant in server_name(),
        origin in prop_oneof![
            any_string(),
            server_name().prop_map(|s| format!("tools/call {s}__x")),
        ],
        probes in vec(state_probe(), 1..6),
    ) {
        count("request_state");
        bounded(PURE_LIMIT, move || check_request_state(tenant, origin, probes))
            .map_err(TestCaseError::fail)?;
    }
}

#[test]
fn request_state() {
    run("request_state", fuzz_request_state);
}

// ------------------------------------------------------------------ the corpus (regressions)

fn corpus(name: &str) -> std::path::PathBuf {
    harness::repo_root().join("tests/corpus").join(name)
}

fn corpus_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(corpus(name))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every line of `downstream.jsonl` in one session, after a handshake and without one.
#[test]
fn corpus_downstream_stdio() {
    let lines = std::fs::read(corpus("downstream.jsonl")).unwrap();
    let shared = &*SHARED;
    for prefix in [handshake_prefix(), Vec::new()] {
        let input = [prefix, lines.clone()].concat();
        let t = shared
            .rt
            .block_on(stdio_session(&shared.hub, input.clone()));
        if let Err(e) = check_transcript(&input, &t) {
            panic!("{e}");
        }
    }
}

/// A 1 MB string in a request is answered (the echo carries it back).
#[test]
fn corpus_downstream_one_megabyte_string() {
    let big = "\u{e9}".repeat(512 * 1024);
    let mut input = handshake_prefix();
    for m in [
        json!({"jsonrpc":"2.0","id":"big-echo","method":"tools/call","params":{"name":"demo__echo","arguments":{"message": big}}}),
        json!({"jsonrpc":"2.0","id":"big-method","method": big}),
        json!({"jsonrpc":"2.0","id": big,"method":"ping"}),
    ] {
        input.extend(m.to_string().into_bytes());
        input.push(b'\n');
    }
    let shared = &*SHARED;
    let t = shared
        .rt
        .block_on(stdio_session(&shared.hub, input.clone()));
    check_transcript(&input, &t).unwrap();
    let echo = t.answers.iter().find(|a| a["id"] == "big-echo").unwrap();
    assert!(
        echo["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|s| s.ends_with(&big)),
        "the echo carries the 1 MB string back, got {} (upstreams: {})",
        mcp_hub::mux::truncate(&echo.to_string(), 600),
        shared.hub.tenants().values().next().unwrap().summary()
    );
}

/// A line over 16 MiB ends the session cleanly; no id is answered twice.
#[test]
fn corpus_downstream_line_over_16_mib_ends_the_session() {
    let mut input = handshake_prefix();
    input.extend(
        json!({"jsonrpc":"2.0","id":"before","method":"ping"})
            .to_string()
            .into_bytes(),
    );
    input.push(b'\n');
    input.extend(std::iter::repeat_n(b'x', 16 * 1024 * 1024 + 1));
    input.push(b'\n');
    input.extend(
        json!({"jsonrpc":"2.0","id":"after","method":"ping"})
            .to_string()
            .into_bytes(),
    );
    input.push(b'\n');
    let shared = &*SHARED;
    let t = shared.rt.block_on(stdio_session(&shared.hub, input));
    assert!(t.ended, "the session ends by itself");
    let mut ids = std::collections::HashSet::new();
    for a in t.answers.iter().filter(|v| is_answer(v)) {
        assert!(
            a["id"].is_null() || ids.insert(a["id"].to_string()),
            "answered twice: {a}"
        );
    }
    assert!(
        !ids.contains("\"after\""),
        "nothing after the long line is read"
    );
}

/// Every line of `downstream.jsonl` as a POST body.
#[test]
fn corpus_downstream_http() {
    let shared = &*SHARED;
    let bytes = std::fs::read(corpus("downstream.jsonl")).unwrap();
    for line in bytes.split(|&b| b == b'\n') {
        for path in ["/mcp", "/t/default/mcp", "/messages"] {
            let case = HttpCase {
                path,
                content_type: Some("application/json"),
                accept: Some("application/json, text/event-stream"),
                session: None,
                version: None,
                body: line.to_vec(),
            };
            if let Err(e) = shared.rt.block_on(http_exchange(APP.clone(), &case)) {
                panic!("{path} {:?}: {e}", String::from_utf8_lossy(line));
            }
        }
    }
}

/// Every line of `upstream.jsonl`, plus a 1 MB result and 10,000 levels of nesting, while three
/// calls are pending.
#[test]
fn corpus_upstream() {
    let mut noise: Vec<Noise> = corpus_lines("upstream.jsonl")
        .into_iter()
        .map(Noise::Line)
        .collect();
    noise.push(Noise::Line(
        json!({"jsonrpc":"2.0","id":993,"result":{"content":[{"type":"text","text":"x".repeat(1 << 20)}]}}).to_string(),
    ));
    noise.push(Noise::Line(format!(
        "{{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{}{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    )));
    let n = noise.len();
    for at in [0, n / 2, n] {
        let case = UpstreamCase {
            stateless: false,
            calls: vec![(json!(1), true), (json!("two"), false), (json!(3.5), true)],
            noise: noise.clone(),
            at: vec![at, at + 1, at + 2, 0, n],
            progress: vec![(0, json!(1)), (1, json!("x")), (2, json!(null))],
        };
        check_upstream(case).unwrap();
    }
}

/// Every file of `corpus/config/` and every example config, as given.
#[test]
fn corpus_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(corpus("config")).unwrap() {
        let path = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let d = dir.path().to_path_buf();
        if let Err(e) = bounded(PURE_LIMIT, move || check_config(&text, &d)) {
            panic!("{}: {e}", path.display());
        }
        n += 1;
    }
    assert!(n >= 20, "the config corpus has its files ({n})");
    for (name, text) in EXAMPLE_CONFIGS {
        check_config(text, dir.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn corpus_cursors() {
    let offers = vec![(
        "demo".to_string(),
        Offer {
            tools: (0..7)
                .map(|i| json!({"name": format!("t{i}")}).into())
                .collect(),
            resources: (0..3)
                .map(|i| json!({"uri": format!("a://{i}")}).into())
                .collect(),
            ..Offer::default()
        },
    )];
    let cursors = corpus_lines("cursors.txt");
    for generation in [0, 1, u64::MAX] {
        for size in [1, 2, 7, 10_000] {
            check_cursors(offers.clone(), generation, size, cursors.clone()).unwrap();
        }
    }
}

#[test]
fn corpus_uris() {
    let uris = corpus_lines("uris.txt");
    let servers: Vec<String> = ["a-b", "demo", "x1"].map(String::from).to_vec();
    for sep in ["__", "_", "___", ".", "-", "--", "._-", "-._"] {
        let servers: Vec<String> = servers
            .iter()
            .filter(|s| !s.contains(sep))
            .cloned()
            .collect();
        let pairs: Vec<(usize, String)> = uris
            .iter()
            .enumerate()
            .map(|(i, u)| (i % servers.len(), u.clone()))
            .collect();
        for max in [16, 64, 128] {
            check_naming(
                Namer::new(sep, max),
                servers.clone(),
                pairs.clone(),
                "resources/read".into(),
                json!({"uri": "demo__x"}),
            )
            .unwrap_or_else(|e| panic!("sep {sep:?}: {e}"));
        }
    }
}

#[test]
fn corpus_request_states() {
    let probes: Vec<StateProbe> = corpus_lines("request_states.txt")
        .into_iter()
        .map(StateProbe::Arbitrary)
        .chain([
            StateProbe::OtherContext("default".into(), "tools/call demo__echo".into()),
            StateProbe::OtherContext("acme\ntools/call".into(), "demo__echo".into()),
            StateProbe::Mutated(vec![(usize::MAX, 3, 'x')]),
            StateProbe::Mutated(vec![(8, 2, 'x')]),
        ])
        .collect();
    check_request_state("acme".into(), "tools/call demo__echo".into(), probes).unwrap();
}

/// Found by `fuzz_naming` (fixed): with a separator made only of `.` and `-`, a URI whose text
/// before its first `:` is not a valid scheme but is made of scheme characters (`1:x`, `:x`,
/// `-a:x`) did not resolve back after namespacing: `srv.1:x` starts with the valid scheme
/// `srv.1`. `resolve_uri` now reads it as scheme-less when the scheme reading finds no server.
#[test]
fn a_uri_without_a_valid_scheme_resolves_back_with_any_separator() {
    for sep in [".", "-", "--", ".-"] {
        let namer = Namer::new(sep, 64);
        for uri in ["1:x", ":x", "-a:x"] {
            let ns = namer.namespace_uri("srv", uri);
            assert_eq!(
                namer.resolve_uri(&ns, |s| s == "srv"),
                Some(("srv", uri.to_string())),
                "sep {sep:?}: {uri:?} became {ns:?}"
            );
        }
    }
}

/// Found by `fuzz_downstream_stdio` (fixed with serde_json's `float_roundtrip`): the hub read
/// `3.860707590644941e+208` one unit in the last place off, so the answer carried another id,
/// and the stdio session's `Unanswered` set (keyed by the id's text) never saw that request
/// answered: after stdin closed, the session waited out its whole drain limit.
#[test]
fn a_float_id_comes_back_as_sent_and_a_piped_session_ends_at_once() {
    let line = "{\"jsonrpc\":\"2.0\",\"id\":3.860707590644941e+208,\"method\":\"ping\"}\n";
    let input = [handshake_prefix(), line.as_bytes().to_vec()].concat();
    let shared = &*SHARED;
    let start = std::time::Instant::now();
    let t = shared.rt.block_on(stdio_session(&shared.hub, input));
    let ids: Vec<String> = t.answers.iter().map(|a| a["id"].to_string()).collect();
    assert!(
        t.answers
            .iter()
            .any(|a| a["id"].as_f64() == Some(3.860707590644941e208)),
        "the answer carries the id as sent: {ids:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the session ends as soon as everything is answered ({:?})",
        start.elapsed()
    );
}

/// Found by `fuzz_downstream_stdio` (a test-oracle fault, not the hub's): a malformed object
/// that carries a request's id gets its own error with that id echoed, so the id is answered
/// twice, once per line, which is what JSON-RPC asks.
#[test]
fn a_malformed_line_that_repeats_a_requests_id_gets_its_own_error() {
    let lines = "{\"\u{312e}\":16008200963481295479,\"id\":\"\",\"id\":\"\"}\n{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"server/discover\"}\n";
    let input = [handshake_prefix(), lines.as_bytes().to_vec()].concat();
    let shared = &*SHARED;
    let t = shared
        .rt
        .block_on(stdio_session(&shared.hub, input.clone()));
    check_transcript(&input, &t).unwrap();
    let for_empty: Vec<&Value> = t.answers.iter().filter(|a| a["id"] == "").collect();
    assert_eq!(for_empty.len(), 2, "{for_empty:?}");
    assert!(
        for_empty.iter().any(|a| a["error"]["code"] == -32600),
        "the malformed line's error"
    );
    assert!(
        for_empty
            .iter()
            .any(|a| a["result"]["supportedVersions"].is_array()),
        "the request's answer"
    );
}
