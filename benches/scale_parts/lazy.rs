//! Many lazy upstream definitions across 100 tenants: `check`, start-up and idle RSS as the
//! definitions grow, and a tenant's first request starting its own servers only.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use super::ms;
use super::procs::{children_count, settled_rss, Reg};
use crate::harness;

const TENANTS: usize = 100;

fn config(server: &Path, defs: usize) -> String {
    let mut t = String::new();
    for i in 0..defs {
        let (tenant, s) = (i % TENANTS, i / TENANTS);
        let _ = writeln!(
            t,
            "[tenants.t{tenant:03}.servers.s{s:02}]\ncommand = {:?}\nargs = [\"--name\", \"t{tenant:03}s{s:02}\", \"--tools\", \"3\"]\nstart = \"lazy\"",
            server.display().to_string()
        );
    }
    t
}

/// POSTs one JSON-RPC message to `path`; returns the status, the session id and the body.
fn post(
    addr: std::net::SocketAddr,
    path: &str,
    session: Option<&str>,
    body: &str,
) -> Result<(u16, Option<String>, String)> {
    let mut headers = vec![("Accept", "application/json, text/event-stream")];
    headers.push(("Content-Type", "application/json"));
    if let Some(s) = session {
        headers.push(("Mcp-Session-Id", s));
        headers.push(("MCP-Protocol-Version", "2025-06-18"));
    }
    let r = harness::http_request(addr.port(), "POST", path, &headers, body.as_bytes())?;
    let session = r.header("mcp-session-id").map(str::to_string);
    Ok((r.status, session, r.body))
}

pub fn run(reg: &Reg, server: &Path) -> Result<()> {
    println!("\n## 2. lazy upstream definitions across {TENANTS} tenants (`serve`)");
    let dir = tempfile::tempdir()?;
    // The first start of a run is slower (cold caches): it is shown as a warm-up.
    for (defs, warmup) in [(100usize, true), (100, false), (500, false), (1000, false)] {
        let path = dir.path().join(format!("lazy-{defs}.toml"));
        std::fs::write(&path, config(server, defs))?;
        let t = Instant::now();
        let out = Command::new(harness::HUB_BIN)
            .arg("--config")
            .arg(&path)
            .arg("check")
            .stdin(Stdio::null())
            .output()
            .context("mcp-hub check")?;
        let check = t.elapsed();
        ensure!(
            out.status.success(),
            "check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let t = Instant::now();
        let mut child = Command::new(harness::HUB_BIN)
            .arg("--config")
            .arg(&path)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("mcp-hub serve")?;
        let pid = child.id();
        reg.add(pid);
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(l)) => {
                    if let Some(a) = harness::ready_addr(&harness::strip_ansi(&l)) {
                        break a;
                    }
                }
                _ => bail!("the hub ended before its ready line"),
            }
        };
        let startup = t.elapsed();
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let rss = settled_rss(pid, Duration::from_secs(3));
        let idle_children = children_count(pid);
        print!(
            "{}{defs:>5} definitions: check {}, start-up {} (to the ready line), idle RSS {:.1} MiB, upstream processes {idle_children}",
            if warmup { "(warm-up) " } else { "" },
            ms(check),
            ms(startup),
            rss as f64 / 1024.0
        );
        let tpath = "/t/t042/mcp";
        let t = Instant::now();
        let (status, session, body) = post(
            addr,
            tpath,
            None,
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"scale","version":"1"}}}"#,
        )?;
        ensure!(status == 200, "initialize: {status} {body}");
        let session = session.context("no session id")?;
        post(
            addr,
            tpath,
            Some(&session),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )?;
        let (status, _, body) = post(
            addr,
            tpath,
            Some(&session),
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
        )?;
        let first = t.elapsed();
        ensure!(status == 200, "tools/list: {status} {body}");
        let listed = harness::sse_messages(&body)
            .into_iter()
            .chain(serde_json::from_str::<Value>(&body).ok())
            .find_map(|m| m["result"]["tools"].as_array().map(Vec::len))
            .unwrap_or(0);
        let started = children_count(pid);
        println!(
            "; tenant t042's first initialize + tools/list {} ({listed} tools), upstream processes then {started} (its own: {})",
            ms(first),
            defs / TENANTS
        );
        reg.kill(pid);
        let _ = child.wait();
    }
    Ok(())
}
