//! A scriptable FAKE upstream MCP server for faults a real server can't produce.
//!
//! Raw newline-delimited JSON-RPC over stdio (serde_json only, no rmcp), handshake era:
//! answers `initialize`, `ping`, `tools/list`, `tools/call`; other requests get -32601;
//! notifications are only logged (stderr). Every tool call runs in its own task.
//!
//! ```text
//! cargo run --example fault_server -- [flags]
//!   --log FILE            append every line received on stdin to FILE (flushed per line)
//!   --crash-after N       exit(3) when the Nth tools/call arrives (it is not answered)
//!   --garbage             before each response write "this is not json" and {"hello":1}
//!   --grandchild PIDFILE  spawn `sleep 1000` (stdio to /dev/null, never waited for) and
//!                         write its pid to PIDFILE
//!   --ignore-stdin-eof    keep running after stdin closes (exit only on a signal)
//!   --ignore-sigterm      ignore SIGTERM (SIGKILL still works)
//!   --logging             declare the `logging` capability and answer `logging/setLevel`
//!   --progress            `sleep` sends notifications/progress every 100 ms when the call has
//!                         _meta.progressToken, and always a final one (progress = total)
//!                         right before the result
//!   --hostile             around every answer write wrong-typed versions of every message kind:
//!                         `notifications/message` with params an array, a string, a number,
//!                         null; `notifications/progress` with wrong-typed tokens and progress
//!                         (also the ids of calls in flight); `notifications/tools/list_changed`
//!                         with weird params (around `tools/call` answers only, so list refreshes
//!                         do not loop; once per answer); responses with ids of every JSON type and ids the hub
//!                         never sent, with a string `result` or `error`; non-JSON and non-UTF-8
//!                         lines; a batch (JSON array); a 1 MB notification; server-to-client
//!                         requests with params an array, a string, and an unknown method
//!   --no-bad-logs         with --hostile, leave out `notifications/message` whose params are not
//!                         an object (src/tenant.rs panics on those until it is fixed)
//!   --server-request      list tool `ask`, which sends sampling/createMessage (id "srv-1",
//!                         "srv-2", ...) to the client and returns the reply's text
//!   --flood N             list tool `flood {ms}` (default 1000): for `ms` milliseconds it writes
//!                         N notifications per second (fewer when its reader cannot keep up),
//!                         alternating `notifications/progress` for the call (when it has
//!                         _meta.progressToken) and `notifications/message` (level info), then
//!                         answers `flooded <sent> notifications in <ms> ms (<rate>/s)`
//!   --tools-patch FILE    FILE (read at every tools/list; absent or unreadable: no patch) is a
//!                         JSON object `{tool: {field: value}}` merged into the listed tools (a
//!                         name not listed adds a tool); FILE is polled every 50 ms and a change
//!                         of its content sends `notifications/tools/list_changed`. A patched or
//!                         added tool's `tools/call` answers `<tool> v<description>`
//! ```
//!
//! Tools: `sleep {ms}`, `hang`, `echo {message}`, `rich`, `weird__name`, a tool with a
//! 100-character name, and `ask` (with --server-request). Every tool carries fields a lossy
//! proxy would drop (`execution`, `icons`, `annotations`, `_meta`, `x-extra`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a fault-injecting test peer: it may die, the hub may not"
)]

use std::{
    collections::HashMap,
    io::Write,
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::{mpsc, oneshot},
};

const KNOWN_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const DEFAULT_VERSION: &str = "2025-11-25";
/// 20 + 80 = 100 characters.
const LONG_NAME_PREFIX: &str = "very_long_tool_name_";
const TINY_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
const TINY_WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

#[derive(Default, Clone)]
struct Opts {
    log: Option<PathBuf>,
    crash_after: Option<u64>,
    garbage: bool,
    grandchild: Option<PathBuf>,
    ignore_stdin_eof: bool,
    ignore_sigterm: bool,
    logging: bool,
    progress: bool,
    server_request: bool,
    hostile: bool,
    no_bad_logs: bool,
    flood: Option<u64>,
    tools_patch: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!(
        "usage: fault_server [--log FILE] [--crash-after N] [--garbage] [--grandchild PIDFILE] \
         [--ignore-stdin-eof] [--ignore-sigterm] [--logging] [--progress] [--server-request] \
         [--hostile [--no-bad-logs]] [--flood N]"
    );
    std::process::exit(2);
}

fn parse_args() -> Opts {
    let mut opts = Opts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--log" => opts.log = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--crash-after" => {
                opts.crash_after = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--garbage" => opts.garbage = true,
            "--grandchild" => opts.grandchild = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--ignore-stdin-eof" => opts.ignore_stdin_eof = true,
            "--ignore-sigterm" => opts.ignore_sigterm = true,
            "--logging" => opts.logging = true,
            "--progress" => opts.progress = true,
            "--server-request" => opts.server_request = true,
            "--hostile" => opts.hostile = true,
            "--no-bad-logs" => opts.no_bad_logs = true,
            "--flood" => {
                opts.flood = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--tools-patch" => {
                opts.tools_patch = Some(args.next().unwrap_or_else(|| usage()).into())
            }
            "-h" | "--help" => usage(),
            other => {
                eprintln!("fault_server: unknown argument {other:?}");
                usage()
            }
        }
    }
    opts
}

fn long_name() -> String {
    format!("{LONG_NAME_PREFIX}{}", "x".repeat(80))
}

/// Something to write to stdout, in order, by the single writer task.
enum Out {
    Response(Value),
    /// The answer to a `tools/call` (with --hostile, list_changed noise goes around these only).
    CallResponse(Value),
    Message(Value),
    /// Lines already serialized (a flood's batch), acknowledged once written.
    Raw(Vec<u8>, oneshot::Sender<()>),
}

struct State {
    opts: Opts,
    out: mpsc::UnboundedSender<Out>,
    calls: AtomicU64,
    next_server_request: AtomicU64,
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
}

impl State {
    fn respond(&self, id: Value, result: Value) {
        let _ = self.out.send(Out::Response(
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
        ));
    }

    fn respond_error(&self, id: Value, code: i64, message: String) {
        let _ = self.out.send(Out::Response(json!({
            "jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}
        })));
    }

    fn notify(&self, method: &str, params: Value) {
        let _ = self.out.send(Out::Message(
            json!({"jsonrpc": "2.0", "method": method, "params": params}),
        ));
    }
}

fn tool(name: &str, description: &str, input_schema: Value) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": input_schema,
        "execution": {"taskSupport": "optional"},
        "icons": [{"src": "https://example.invalid/i.png", "mimeType": "image/png"}],
        "annotations": {"readOnlyHint": true},
        "_meta": {"x-k": 1},
        "x-extra": "kept"
    })
}

fn tools(opts: &Opts) -> Value {
    let empty = json!({"type": "object", "properties": {}});
    let mut rich = tool(
        "rich",
        "Returns every content type and extra fields",
        empty.clone(),
    );
    rich["outputSchema"] = json!({
        "type": "object",
        "properties": {
            "answer": {"type": "integer"},
            "items": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["answer"]
    });
    let mut list = vec![
        tool(
            "sleep",
            "Wait `ms` milliseconds",
            json!({"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}, "required": ["ms"]}),
        ),
        tool("hang", "Never answers", empty.clone()),
        tool(
            "echo",
            "Echo the message back",
            json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
        ),
        rich,
        tool(
            "weird__name",
            "A tool whose name contains the separator",
            empty.clone(),
        ),
        tool(
            &long_name(),
            "A tool with a 100-character name",
            empty.clone(),
        ),
    ];
    if opts.flood.is_some() {
        list.push(tool(
            "flood",
            "Flood the client with progress and log notifications for `ms` milliseconds",
            json!({"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0}}}),
        ));
    }
    if opts.server_request {
        list.push(tool(
            "ask",
            "Ask the client's LLM (sampling/createMessage) and return its answer",
            json!({"type": "object", "properties": {"question": {"type": "string"}}}),
        ));
    }
    if let Some(patch) = opts.tools_patch.as_ref().and_then(read_patch) {
        for (name, fields) in patch {
            let i = match list.iter().position(|t| t["name"] == name.as_str()) {
                Some(i) => i,
                None => {
                    list.push(tool(&name, "", empty.clone()));
                    list.len() - 1
                }
            };
            for (k, v) in fields.as_object().into_iter().flatten() {
                list[i][k] = v.clone();
            }
        }
    }
    json!({ "tools": list })
}

/// The `--tools-patch` file as a JSON object, when it holds one.
fn read_patch(path: &PathBuf) -> Option<serde_json::Map<String, Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Value>(&text)
        .ok()?
        .as_object()
        .cloned()
}

/// Sends `notifications/tools/list_changed` whenever the `--tools-patch` file's content changes.
async fn watch_patch(state: Arc<State>, path: PathBuf) {
    let mut last = std::fs::read(&path).ok();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = std::fs::read(&path).ok();
        if now != last {
            last = now;
            state.notify("notifications/tools/list_changed", json!({}));
        }
    }
}

fn text_result(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": false})
}

fn rich_result() -> Value {
    json!({
        "content": [
            {"type": "text", "text": "rich text"},
            {"type": "image", "data": TINY_PNG, "mimeType": "image/png"},
            {"type": "audio", "data": TINY_WAV, "mimeType": "audio/wav"},
            {"type": "resource_link", "uri": "fault://thing/1", "name": "thing-1",
             "mimeType": "text/plain", "description": "a linked thing"},
            {"type": "resource", "resource":
                {"uri": "fault://thing/2", "mimeType": "text/plain", "text": "embedded thing"}}
        ],
        "structuredContent": {"answer": 42, "items": ["a", "b"]},
        "isError": false,
        "_meta": {"x-trace": "abc"},
        "x-vendor-extra": {"keep": true}
    })
}

async fn call_tool(state: Arc<State>, id: Value, params: Value) {
    let name = params["name"].as_str().unwrap_or_default().to_owned();
    let args = &params["arguments"];
    let result = match name.as_str() {
        "sleep" => {
            let ms = args["ms"].as_u64().unwrap_or(0);
            let token = params["_meta"]["progressToken"].clone();
            if state.opts.progress && !token.is_null() {
                let start = tokio::time::Instant::now();
                let mut elapsed = 0;
                while elapsed + 100 < ms {
                    elapsed += 100;
                    tokio::time::sleep_until(start + Duration::from_millis(elapsed)).await;
                    state.notify(
                        "notifications/progress",
                        json!({"progressToken": token, "progress": elapsed, "total": ms,
                               "message": format!("slept {elapsed} of {ms} ms")}),
                    );
                }
                tokio::time::sleep_until(start + Duration::from_millis(ms)).await;
                state.notify(
                    "notifications/progress",
                    json!({"progressToken": token, "progress": ms, "total": ms,
                           "message": "done"}),
                );
            } else {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            text_result(format!("slept {ms}"))
        }
        "hang" => return,
        "echo" => text_result(format!(
            "fault echo: {}",
            args["message"].as_str().unwrap_or_default()
        )),
        "rich" => rich_result(),
        "weird__name" => text_result("weird ok"),
        "ask" if state.opts.server_request => ask(&state, args).await,
        "flood" if state.opts.flood.is_some() => {
            let ms = args["ms"].as_u64().unwrap_or(1000);
            let rate = state.opts.flood.unwrap_or(0);
            flood(&state, &params["_meta"]["progressToken"], ms, rate).await
        }
        n if n == long_name() => text_result("long ok"),
        n if state
            .opts
            .tools_patch
            .as_ref()
            .and_then(read_patch)
            .is_some_and(|p| p.contains_key(n)) =>
        {
            let p = state
                .opts
                .tools_patch
                .as_ref()
                .and_then(read_patch)
                .unwrap_or_default();
            text_result(format!(
                "{n} v{}",
                p[n]["description"].as_str().unwrap_or("")
            ))
        }
        _ => {
            let _ = state.out.send(Out::CallResponse(json!({
                "jsonrpc": "2.0", "id": id,
                "error": {"code": -32602, "message": format!("unknown tool: {name}")}
            })));
            return;
        }
    };
    let _ = state.out.send(Out::CallResponse(
        json!({"jsonrpc": "2.0", "id": id, "result": result}),
    ));
}

/// Writes `rate` notifications per second for `ms` milliseconds, in a batch per millisecond.
async fn flood(state: &State, token: &Value, ms: u64, rate: u64) -> Value {
    let token = (!token.is_null()).then(|| token.to_string());
    let start = tokio::time::Instant::now();
    let until = start + Duration::from_millis(ms);
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let now = tick.tick().await;
        if now >= until {
            break;
        }
        let due = (rate as u128 * (now - start).as_micros() / 1_000_000) as u64;
        // At most 10 ms worth per batch, so a writer that cannot keep up is not buried.
        let n = due.saturating_sub(sent).min((rate / 100).max(1));
        let mut buf = Vec::with_capacity(n as usize * 160);
        for i in sent..sent + n {
            match &token {
                Some(t) if i % 2 == 0 => {
                    let _ = writeln!(
                        buf,
                        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":{t},"progress":{i},"message":"flood {i}"}}}}"#
                    );
                }
                _ => {
                    let _ = writeln!(
                        buf,
                        r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","logger":"flood","data":"flood {i}"}}}}"#
                    );
                }
            }
        }
        if n == 0 {
            continue;
        }
        sent += n;
        // Paced by the reader: the next batch waits until this one is written.
        let (done, written) = oneshot::channel();
        if state.out.send(Out::Raw(buf, done)).is_err() || written.await.is_err() {
            break;
        }
    }
    let took = start.elapsed().as_millis().max(1) as u64;
    text_result(format!(
        "flooded {sent} notifications in {took} ms ({}/s)",
        sent * 1000 / took
    ))
}

async fn ask(state: &State, args: &Value) -> Value {
    let question = args["question"].as_str().unwrap_or("What is 2+2?");
    let n = state.next_server_request.fetch_add(1, Ordering::SeqCst) + 1;
    let request_id = format!("srv-{n}");
    let (tx, rx) = oneshot::channel();
    state
        .pending
        .lock()
        .expect("pending lock")
        .insert(request_id.clone(), tx);
    let _ = state.out.send(Out::Message(json!({
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": question}}],
            "maxTokens": 100
        }
    })));
    let Ok(reply) = rx.await else {
        return json!({"content": [{"type": "text", "text": "no reply"}], "isError": true});
    };
    if let Some(error) = reply.get("error") {
        return json!({
            "content": [{"type": "text", "text": format!("sampling failed: {error}")}],
            "isError": true
        });
    }
    let content = &reply["result"]["content"];
    // 2025-11-25 allows an array of content blocks; older revisions a single block.
    let text = match content {
        Value::Array(blocks) => blocks.iter().find_map(|b| b["text"].as_str()),
        block => block["text"].as_str(),
    };
    text_result(text.unwrap_or_default())
}

fn handle_request(state: &Arc<State>, id: Value, method: &str, params: Value) {
    match method {
        "initialize" => {
            let requested = params["protocolVersion"].as_str().unwrap_or_default();
            let version = if KNOWN_VERSIONS.contains(&requested) {
                requested
            } else {
                DEFAULT_VERSION
            };
            let mut capabilities = json!({"tools": {"listChanged": true}});
            if state.opts.logging {
                capabilities["logging"] = json!({});
            }
            state.respond(
                id,
                json!({
                    "protocolVersion": version,
                    "capabilities": capabilities,
                    "serverInfo": {"name": "fault", "version": "0"}
                }),
            );
        }
        "ping" => state.respond(id, json!({})),
        "logging/setLevel" if state.opts.logging => state.respond(id, json!({})),
        "tools/list" => state.respond(id, tools(&state.opts)),
        "tools/call" => {
            let n = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if state.opts.crash_after == Some(n) {
                eprintln!("fault_server: crashing on tools/call #{n}");
                std::process::exit(3);
            }
            tokio::spawn(call_tool(state.clone(), id, params));
        }
        other => state.respond_error(id, -32601, format!("Method not found: {other}")),
    }
}

fn handle_line(state: &Arc<State>, line: &str) {
    let message: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(error) => {
            eprintln!("fault_server: unparsable line: {error}");
            state.respond_error(Value::Null, -32700, format!("Parse error: {error}"));
            return;
        }
    };
    let id = message.get("id").cloned();
    match (message.get("method").and_then(Value::as_str), id) {
        (Some(method), Some(id)) => {
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            handle_request(state, id, method, params);
        }
        (Some(method), None) => eprintln!("fault_server: notification {method}"),
        (None, Some(id)) => {
            let key = match &id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match state.pending.lock().expect("pending lock").remove(&key) {
                Some(waiter) => {
                    let _ = waiter.send(message);
                }
                None => eprintln!("fault_server: response to unknown request {key}"),
            }
        }
        (None, None) => eprintln!("fault_server: not a JSON-RPC message: {line}"),
    }
}

/// Wrong-typed versions of every message kind (--hostile), one per line.
fn hostile_lines(opts: &Opts, around_call: bool, huge: bool) -> Vec<u8> {
    let mut msgs: Vec<Value> = Vec::new();
    let note =
        |method: &str, params: Value| json!({"jsonrpc": "2.0", "method": method, "params": params});
    if !opts.no_bad_logs {
        for params in [json!([1, 2]), json!("a string"), json!(42), Value::Null] {
            msgs.push(note("notifications/message", params));
        }
    }
    msgs.push(note(
        "notifications/message",
        json!({"level": 7, "logger": {"x": 1}, "data": [1]}),
    ));
    msgs.push(json!({"jsonrpc": "2.0", "method": "notifications/message"}));
    // Progress: tokens of every type, and the ids of calls in flight (0..8) with progress values
    // that are not numbers.
    for token in [
        json!({"a": 1}),
        json!([0]),
        json!(true),
        json!(1.5),
        json!(-1),
        Value::Null,
    ] {
        msgs.push(note(
            "notifications/progress",
            json!({"progressToken": token, "progress": 1}),
        ));
    }
    for token in 0..8 {
        for progress in [json!("half"), json!(null), json!([1]), json!({"p": 1})] {
            msgs.push(note(
                "notifications/progress",
                json!({"progressToken": token, "progress": progress, "total": "x"}),
            ));
        }
    }
    msgs.push(note("notifications/progress", json!([0, 1])));
    msgs.push(note("notifications/progress", json!("0")));
    if around_call {
        for params in [json!([1]), json!("x"), json!(5), json!({"weird": [null]})] {
            msgs.push(note("notifications/tools/list_changed", params));
        }
    }
    msgs.push(note("notifications/resources/updated", json!([1])));
    msgs.push(note("notifications/cancelled", json!("x")));
    msgs.push(note("notifications/tasks/status", json!([{"taskId": 1}])));
    msgs.push(note("hostile/unknown", json!({"x": 1})));
    msgs.push(json!({"jsonrpc": "2.0", "method": 42, "params": {}}));
    // Responses with ids of every JSON type and ids the hub never sent.
    for id in [
        json!({"a": 1}),
        json!([1]),
        json!(true),
        json!(1.5),
        json!(-1),
        Value::Null,
        json!("never-sent"),
        json!(u64::MAX),
        json!(1e300),
        json!("99999999999999999999999"),
        json!(987_654_321u64),
    ] {
        msgs.push(json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        msgs.push(json!({"jsonrpc": "2.0", "id": id, "result": "a string result"}));
        msgs.push(json!({"jsonrpc": "2.0", "id": id, "error": "a string error"}));
        msgs.push(json!({"jsonrpc": "2.0", "id": id, "error": {"code": "x", "message": [1]}}));
    }
    msgs.push(json!({"jsonrpc": "2.0", "id": 987_654_322u64, "result": {}, "error": {}}));
    // Server-to-client requests with wrong-typed params, and one the hub does not relay.
    msgs.push(json!({"jsonrpc": "2.0", "id": "hostile-1", "method": "sampling/createMessage", "params": [1, 2]}));
    msgs.push(json!({"jsonrpc": "2.0", "id": "hostile-2", "method": "roots/list", "params": "x"}));
    msgs.push(
        json!({"jsonrpc": "2.0", "id": "hostile-3", "method": "hostile/unknown", "params": 7}),
    );
    msgs.push(json!({"jsonrpc": "2.0", "id": "hostile-4", "method": "ping", "params": [1]}));
    // A batch.
    msgs.push(json!([
        note("notifications/message", json!({"level": "info", "data": "in a batch"})),
        {"jsonrpc": "2.0", "id": {"x": 1}, "result": 1},
        1, "x", [], null
    ]));
    let mut buf = Vec::new();
    for m in &msgs {
        serde_json::to_writer(&mut buf, m).expect("serialize");
        buf.push(b'\n');
    }
    // Lines that are not JSON, or not UTF-8.
    buf.extend_from_slice(b"this is not json\n{\n\xff\xfe\xfd\n\"just a string\"\n12345678901234567890123456789\n[[[[[]]]]]\n");
    if huge {
        // A 1 MB notification.
        let huge = note("hostile/huge", json!({"data": "x".repeat(1 << 20)}));
        serde_json::to_writer(&mut buf, &huge).expect("serialize");
        buf.push(b'\n');
    }
    buf
}

async fn write_out(mut out_rx: mpsc::UnboundedReceiver<Out>, opts: Arc<Opts>) {
    let mut stdout = tokio::io::stdout();
    while let Some(out) = out_rx.recv().await {
        let mut buf = Vec::new();
        let (message, answer, call) = match out {
            Out::Response(v) => (v, true, false),
            Out::CallResponse(v) => (v, true, true),
            Out::Message(v) => (v, false, false),
            Out::Raw(b, done) => {
                if stdout.write_all(&b).await.is_err() || stdout.flush().await.is_err() {
                    break;
                }
                let _ = done.send(());
                continue;
            }
        };
        if answer && opts.garbage {
            buf.extend_from_slice(b"this is not json\n{\"hello\":1}\n");
        }
        if answer && opts.hostile {
            buf.extend(hostile_lines(&opts, call, true));
        }
        serde_json::to_writer(&mut buf, &message).expect("serialize");
        buf.push(b'\n');
        if answer && opts.hostile {
            // Once around each answer is enough for what makes work: list changes, 1 MB.
            buf.extend(hostile_lines(&opts, false, false));
        }
        if stdout.write_all(&buf).await.is_err() || stdout.flush().await.is_err() {
            break;
        }
    }
}

fn spawn_grandchild(pidfile: &PathBuf) -> std::io::Result<()> {
    // Deliberately never waited for: the hub must clean it up (process group kill).
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new("sleep")
        .arg("1000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::fs::write(pidfile, format!("{}\n", child.id()))?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let opts = parse_args();
    if let Some(pidfile) = &opts.grandchild {
        spawn_grandchild(pidfile)?;
    }
    if opts.ignore_sigterm {
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::spawn(async move {
            while sigterm.recv().await.is_some() {
                eprintln!("fault_server: ignoring SIGTERM");
            }
        });
    }
    let mut log = match &opts.log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => None,
    };
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_out(out_rx, Arc::new(opts.clone())));
    let ignore_stdin_eof = opts.ignore_stdin_eof;
    let state = Arc::new(State {
        opts,
        out: out_tx,
        calls: AtomicU64::new(0),
        next_server_request: AtomicU64::new(0),
        pending: Mutex::new(HashMap::new()),
    });

    if let Some(path) = state.opts.tools_patch.clone() {
        tokio::spawn(watch_patch(state.clone(), path));
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(log) = log.as_mut() {
            // One write per line: processes sharing the file (O_APPEND) never interleave a line.
            log.write_all(format!("{line}\n").as_bytes())?;
        }
        if !line.trim().is_empty() {
            handle_line(&state, &line);
        }
    }
    if ignore_stdin_eof {
        // Not eprintln!: with the hub gone its stderr is a broken pipe, and a panic would end
        // the process that must stay up until a signal comes.
        let _ = writeln!(
            std::io::stderr(),
            "fault_server: stdin closed; staying up until a signal arrives"
        );
        std::future::pending::<()>().await;
    }
    drop(state);
    let _ = tokio::time::timeout(Duration::from_millis(200), writer).await;
    Ok(())
}
