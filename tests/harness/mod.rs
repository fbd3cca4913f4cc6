//! The one test harness, shared by every integration test file and `benches/forward.rs`
//! (`#[path = "../tests/harness/mod.rs"] mod harness;`):
//!
//! - [`deps`]: the hub binary, the example servers, the peers in `.test-deps`.
//! - [`proc`]: spawning in process groups, bounded waits, SIGTERM-then-SIGKILL stops, logs printed
//!   when a test fails, /proc readers (liveness, groups, RSS), free ports.
//! - [`hub`]: `hub.toml` templates, `mcp-hub stdio` with a raw JSON-RPC client, `mcp-hub serve`
//!   on a port read from its ready line, one-shot CLI runs.
//! - [`http`]: a raw HTTP/1.1 client (one-shot and keep-alive) and SSE parsing.
//! - [`api`]: the REST admin API with a bearer key, stateless 2026-07-28 calls, waits on server
//!   states and config generations.
//! - [`engine`]: the container engine (podman's Docker API service) and local images.
//! - [`registry`]: a container registry of the test's own (`docker-registry` on loopback).
//! - [`clients`]: the Python/TypeScript SDK client scripts of tests/clients, the Inspector CLI,
//!   server-everything over HTTP.
//!
//! Nothing here waits without a bound. Each test binary uses a different part of it.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]

pub mod api;
pub mod clients;
pub mod deps;
pub mod engine;
pub mod http;
pub mod hub;
pub mod proc;
pub mod registry;

pub use api::*;
pub use clients::*;
pub use deps::*;
pub use http::*;
pub use hub::*;
pub use proc::*;

use serde_json::Value;

// ------------------------------------------------------------------ JSON helpers

/// `v[key]` as an array of strings (names, URIs); empty when absent.
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The concatenated `text` of a CallToolResult's / prompt message's text content blocks.
pub fn text_of(result: &Value) -> String {
    let mut out = String::new();
    if let Some(content) = result["content"].as_array() {
        for block in content {
            if let Some(t) = block["text"].as_str() {
                out.push_str(t);
            }
        }
    }
    out
}

/// Asserts `list` contains `want`, showing the list when it does not.
#[track_caller]
pub fn assert_has(list: &[String], want: &str, what: &str) {
    assert!(
        list.iter().any(|x| x == want),
        "{what}: `{want}` missing from {list:?}"
    );
}

/// The `text` of a CallToolResult's text content blocks, one line each.
pub fn text_lines_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The first content block's text of a JSON-RPC answer (`""` when there is none).
pub fn first_text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
