//! A FAKE upstream MCP server for catalog tests: it serves many generated tools and changes its
//! tool list at run time, which real servers do not do on demand.
//!
//! Raw newline-delimited JSON-RPC over stdio (serde_json only), handshake era, one request at
//! a time: `initialize`, `ping`, `tools/list`, `tools/call`; other requests get -32601.
//!
//! ```text
//! cargo run --example catalog_server -- [--name S] [--tools N]
//!   --name S    the server's label, in generated descriptions (default `fake`)
//!   --tools N   also list N generated tools `gen_<i>` (default 0)
//! ```
//!
//! Tools: `echo {message}` → `<S> echoes: <message>`; `progress {steps}` → one
//! `notifications/progress` per step (100 ms apart) when the call has `_meta.progressToken`, then
//! `done <steps>`; `add_tool {name}` → lists a new tool `name` from now on and sends
//! `notifications/tools/list_changed`; `gen_<i>` → `gen_<i> on <S>`. Each generated tool's
//! description holds a word no other tool of any server has: [`word`] of (server, i).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test peer"
)]

use std::io::{BufRead, Write};

use serde_json::{json, Value};

const SYLLABLES: [&str; 16] = [
    "ka", "lo", "mi", "ne", "pu", "ra", "si", "to", "vu", "xe", "zo", "qui", "bre", "dra", "fli",
    "gno",
];

/// A made-up word for `(server, i)`, unique for i < 65536 and distinct across server labels.
fn word(server: &str, i: usize) -> String {
    let mut w = String::from(server);
    let mut n = i;
    for _ in 0..4 {
        w.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    w
}

fn tool(name: &str, description: String, props: Value) -> Value {
    json!({"name": name, "description": description, "inputSchema": {"type": "object", "properties": props}})
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut name, mut n) = ("fake".to_string(), 0usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--name" => name = args.next().expect("--name S"),
            "--tools" => n = args.next().and_then(|v| v.parse().ok()).expect("--tools N"),
            other => panic!("unknown flag {other}"),
        }
    }
    let mut tools = vec![
        tool(
            "echo",
            format!("Echoes a message back ({name})"),
            json!({"message": {"type": "string"}}),
        ),
        tool(
            "progress",
            "Reports progress for a number of steps, then answers".into(),
            json!({"steps": {"type": "integer"}}),
        ),
        tool(
            "add_tool",
            "Adds a tool to this server's list and says so".into(),
            json!({"name": {"type": "string"}}),
        ),
    ];
    for i in 0..n {
        tools.push(tool(
            &format!("gen_{i}"),
            format!(
                "Fetches the {} record list from the {name} data store and returns the rows",
                word(&name, i)
            ),
            json!({"record_id": {"type": "string", "description": "The record's id"}, "limit": {"type": "integer"}}),
        ));
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let send = |v: Value, out: &mut std::io::StdoutLock<'_>| {
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    };
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            continue;
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            continue;
        };
        let params = msg.get("params").cloned().unwrap_or(json!({}));
        let result = match method {
            "initialize" => json!({
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": format!("catalog-{name}"), "version": "1"}
            }),
            "ping" => json!({}),
            "tools/list" => json!({"tools": tools}),
            "tools/call" => {
                let tname = params["name"].as_str().unwrap_or_default();
                let a = &params["arguments"];
                let text = match tname {
                    "echo" => format!(
                        "{name} echoes: {}",
                        a["message"].as_str().unwrap_or_default()
                    ),
                    "progress" => {
                        let steps = a["steps"].as_u64().unwrap_or(3);
                        if let Some(tok) = params["_meta"].get("progressToken") {
                            for s in 1..=steps {
                                // TypeScript SDK 1.x handles notifications a tick later than
                                // answers: progress sent in the same instant as the answer is
                                // dropped there as "unknown token" (direct calls too).
                                std::thread::sleep(std::time::Duration::from_millis(100));
                                send(
                                    json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": tok, "progress": s, "total": steps}}),
                                    &mut out,
                                );
                            }
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        format!("done {steps}")
                    }
                    "add_tool" => {
                        let new = a["name"].as_str().unwrap_or("added").to_string();
                        tools.push(tool(
                            &new,
                            format!("Added at run time to {name}"),
                            json!({}),
                        ));
                        send(
                            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                            &mut out,
                        );
                        format!("added {new}")
                    }
                    t if tools.iter().any(|x| x["name"] == t) => format!("{t} on {name}"),
                    t => {
                        send(
                            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": format!("Unknown tool: {t}")}}),
                            &mut out,
                        );
                        continue;
                    }
                };
                json!({"content": [{"type": "text", "text": text}]})
            }
            _ => {
                send(
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}}),
                    &mut out,
                );
                continue;
            }
        };
        send(
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
            &mut out,
        );
    }
}
