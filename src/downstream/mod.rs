//! Downstream: the hub as an MCP server. A `Session` speaks MCP over raw JSON-RPC lines and is
//! fed by a transport (stdio now); it routes each request through its tenant's catalog to an
//! upstream connection.

pub mod era;
pub mod http;
pub mod oneshot;
pub mod session;
pub mod split;
pub mod stdio;

pub use session::Session;
