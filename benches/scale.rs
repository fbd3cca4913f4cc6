//! Scale of one hub on one machine: `cargo bench --bench scale`. Prints figures; asserts only
//! that the run worked (no timing is a pass or a fail).
//!
//! 1. **catalog**: a tenant of 100 upstreams × 100 tools (`examples/catalog_server`, each tool
//!    about 250 bytes of JSON) over stdio: the hub's RSS against 100 upstreams × 3 tools, the
//!    first page of `tools/list` (p50/p99), all pages, and one upstream's `list_changed` end to
//!    end (its `add_tool` call → the client's `notifications/tools/list_changed`); in process,
//!    a whole catalog rebuild against one after one upstream's change.
//! 2. **lazy**: 100, 500 and 1,000 lazy upstream definitions across 100 tenants: `mcp-hub check`
//!    time, `serve` start-up time (to its ready line) and idle RSS; then one tenant's first
//!    request, and how many upstream processes it started (its own servers only).
//! 3. **sessions**: 10,000 idle Streamable HTTP sessions and 2,000 legacy SSE streams held at
//!    once: RSS per session and per stream, a fresh client's `initialize` + `tools/call` (p50/p99)
//!    while they are held, then every session and stream calls once (errors counted).
//!
//! `SCALE_ONLY=catalog,lazy,sessions` runs some parts; `SCALE_NO_BUILD=1` skips the build of
//! the example upstream. Every process is started by this bench and killed by pid (the hub's upstreams too); a
//! watchdog ends the run past [`RUN_DEADLINE`]. Loopback only. The HTTP client is hand-written
//! (`KeepAlive` of tests/harness and raw SSE streams over std).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench code: a panic is a failed run"
)]
#![allow(clippy::print_stdout)]

#[path = "../tests/harness/mod.rs"]
mod harness;

mod scale_parts;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use scale_parts::procs::{children_count, Reg};

/// The whole run after the build; the watchdog kills every child and exits past it.
const RUN_DEADLINE: Duration = Duration::from_secs(420);

fn build_examples(root: &std::path::Path) -> Result<()> {
    harness::deps::release_build(root, "catalog_server", Duration::from_secs(900))
        .map_err(|e| anyhow::anyhow!(e))
}

fn main() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // SCALE_NO_BUILD=1: use the binaries next to this bench's hub as they are.
    if std::env::var_os("SCALE_NO_BUILD").is_none() {
        build_examples(&root)?;
    }
    let server = harness::example("catalog_server");
    if !server.exists() {
        bail!("{} is missing after the build", server.display());
    }
    let reg = Reg::default();
    reg.watchdog(RUN_DEADLINE);
    let only = std::env::var("SCALE_ONLY").unwrap_or_default();
    let want = |s: &str| only.is_empty() || only.split(',').any(|x| x == s);
    println!(
        "scale bench (file descriptors: soft limit {})",
        scale_parts::procs::nofile()
    );
    if want("catalog") {
        scale_parts::catalog::run(&reg, &server)?;
    }
    if want("lazy") {
        scale_parts::lazy::run(&reg, &server)?;
    }
    if want("sessions") {
        scale_parts::sessions::run(&reg, &server)?;
    }
    reg.kill_all();
    let left = children_count(std::process::id());
    println!("done; processes of this bench left: {left}");
    Ok(())
}
