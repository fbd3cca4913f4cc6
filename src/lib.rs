//! mcp-hub: one MCP server in front of many.
//!
//! # Layout
//! - [`config`]: `hub.toml`, parsed and validated once (knows no runtime).
//! - [`naming`]: how names and URIs are namespaced (pure rules).
//! - [`catalog`]: a tenant's merged tools, prompts, resources and templates, and their routes.
//! - [`jsonrpc`], [`protocol`]: raw JSON-RPC framing, MCP revisions and `_meta` keys.
//! - [`mux`]: one upstream connection's multiplexer: ids, progress, timeouts, cancellation.
//! - [`upstream`]: upstream state, the stdio transport, the handshake in either era.
//! - [`supervisor`]: start, health, restart with backoff, stop.
//! - [`bridge`]: the MRTR bridge for 2026-07-28 clients of handshake-era upstreams.
//! - [`tenant`]: upstreams + catalog + sessions of one tenant; notifications and relays.
//! - [`downstream`]: the hub as an MCP server: sessions, stdio, and HTTP (Streamable HTTP, legacy SSE).
//! - [`admin`]: `/health` and `/ready`, which read state and own none.
//! - [`hub`]: every tenant and the shutdown; [`cli`]: the commands.
//! - [`demo`]: the demo MCP server (`mcp-hub demo-server`), a peer that knows nothing of the hub.
//!
//! # The path of a `tools/call`
//! stdin line → `downstream::stdio` → `Session::handle_line` → the tenant's `Catalog::tool`
//! gives (server, upstream name) → `Conn::forward` rewrites name, id and progress token and
//! queues the frame → `upstream::stdio` writes it to the child → the child's answer is read by
//! `upstream::stdio`, matched by `Conn::handle_incoming`, given back the client's id and put on
//! the session's outbox → `downstream::stdio` writes it to stdout.

pub mod admin;
pub mod bridge;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod downstream;
pub mod hub;
pub mod jsonrpc;
pub mod mux;
pub mod naming;
pub mod protocol;
pub mod quota;
pub mod rewrite;
pub mod route;
pub mod supervisor;
pub mod telemetry;
pub mod tenant;
pub mod upstream;
