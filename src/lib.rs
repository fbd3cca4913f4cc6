//! mcp-hub: one MCP server in front of many.
//!
//! # Layout
//! - [`config`]: `hub.toml`, parsed and validated once, every problem with its place (knows no runtime);
//!   `MCP_HUB_*` variables over the file; a client's `mcpServers` JSON read as servers and
//!   written into a `hub.toml` keeping its layout (`config::clients`, `config::edit`).
//! - [`naming`]: how names and URIs are namespaced (pure rules).
//! - [`catalog`]: a tenant's merged tools, prompts, resources and templates under the tenant's
//!   naming rules (prefix, allow/deny, rename, overrides), collisions, search mode's meta-tools,
//!   and pagination.
//! - [`item`]: one list item (tool, prompt, resource, template) stored once as its JSON text,
//!   shared by the offer, the pinner, the catalog and its pages; parsed only when a rule looks inside.
//! - [`search`]: ranked full-text search (BM25) over a tool list. Pure.
//! - [`route`]: where a request goes: exposed name, URI or task id → (server, upstream terms). Pure.
//! - [`rewrite`]: what changes in an answer on its way back (URIs, task ids). Pure.
//! - [`jsonrpc`], [`protocol`]: JSON-RPC framing and codes; MCP revisions, `_meta` keys, list kinds.
//! - [`mux`]: one upstream connection's multiplexer: ids, progress, timeouts, cancellation. It sees
//!   no tenant: it reaches the tenant through [`mux::ConnHooks`] and is told what to rewrite.
//! - [`upstream`]: upstream state, the stdio, remote and container transports (the Docker Engine
//!   API through bollard: MCP over the attach stream, or Streamable HTTP on a published loopback
//!   port; the image's health; pull progress), the handshake in either era.
//! - [`supervisor`]: start, health, restart with backoff, stop; a container's strategy (on-demand
//!   idle stop, scheduled windows).
//! - [`pinning`]: each tool list checked against its pins before the catalog sees it (pure
//!   digest, diff and decision; the tenant's pinner). [`state`]: the SQLite state store they live in.
//! - [`tenant`]: upstreams + catalog + sessions of one tenant: notifications, relays, subscriptions,
//!   `share = "session"` connections, pre-warmed container pools, runtime control and config diffs.
//! - [`bridge`]: the MRTR bridge, both directions (2026-07-28 clients, 2026-07-28 upstreams).
//! - [`quota`]: calls in flight and calls per minute, per tenant.
//! - [`downstream`]: the hub as an MCP server: sessions and era negotiation, stdio, HTTP
//!   (Streamable HTTP, legacy SSE), one-shot calls.
//! - [`admin`]: `/health`, `/ready` and the REST admin API, which read state and act through
//!   the hub's and tenants' own methods.
//! - [`observe`]: Prometheus metrics, OTLP spans and the per-request log event, recorded once per
//!   forwarded request (when its answer is delivered); `/metrics` reads the rest at scrape time.
//! - [`hub`]: every tenant, the running config and its reloads, signals, the shutdown, and the
//!   rule for listening off loopback (`hub::exposure`: keys required, at start and at each reload).
//! - [`memory`]: freed heap returned to the system after a burst (glibc's `malloc_trim`).
//! - [`cli`]: the commands (`import` and `client-config` to and from a client's MCP config;
//!   `pull` for container images). [`demo`]: the demo MCP server, a peer that knows nothing of the hub.
//!
//! # The path of a `tools/call`
//! - **received**: a stdin line (`downstream::stdio`) or an HTTP body (`downstream::http`) →
//!   `Session::handle_message` (a `tools/call` read split, `downstream::split`: its arguments pass
//!   as the client's text), where `downstream::era` says which era it belongs to;
//! - **routed**: `route::route` finds (server, upstream name) in the tenant's catalog, and the
//!   tenant's quota gives the call a permit;
//! - **forwarded**: `Conn::forward` gives it an upstream id (and progress token) and queues the
//!   frame, which `upstream::stdio` (or `upstream::remote`) writes;
//! - **answered**: the upstream's reader hands the answer to `Conn::handle_incoming`, which gives
//!   it back the client's id, applies the `rewrite` it was given, and puts it on the session's
//!   outbox; the transport writes it out.

pub mod admin;
pub mod bridge;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod downstream;
pub mod hub;
pub mod item;
pub mod jsonrpc;
pub mod memory;
pub mod mux;
pub mod naming;
pub mod observe;
pub mod pinning;
pub mod protocol;
pub mod quota;
pub mod rewrite;
pub mod route;
pub mod search;
pub mod state;
pub mod supervisor;
pub mod sync;
pub mod tasks;
pub mod telemetry;
pub mod tenant;
pub mod upstream;
