//! A tenant of 100 upstreams × 100 tools over stdio, and the catalog rebuild in process.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use mcp_hub::catalog::Catalog;
use mcp_hub::config::{CatalogConfig, ServerName};
use mcp_hub::item::Item;
use mcp_hub::naming::Namer;
use mcp_hub::upstream::Offer;
use serde_json::{json, Value};

use super::procs::{settled_rss, Reg};
use super::stdio::StdioHub;
use super::{ms, pct};

const SERVERS: usize = 100;
/// `catalog_server` lists three tools of its own besides the generated ones.
const PER_SERVER: usize = 100;

fn config(server: &Path, generated: usize) -> String {
    let mut t = String::from("[tenants.default]\n");
    for s in 0..SERVERS {
        let _ = writeln!(
            t,
            "[tenants.default.servers.s{s:03}]\ncommand = {:?}\nargs = [\"--name\", \"s{s:03}\", \"--tools\", \"{generated}\"]",
            server.display().to_string()
        );
    }
    t
}

/// Starts the hub over `generated + 3` tools per upstream; returns it after its first full list.
fn start(reg: &Reg, server: &Path, generated: usize, dir: &Path) -> Result<(StdioHub, Duration)> {
    let path = dir.join(format!("catalog-{generated}.toml"));
    std::fs::write(&path, config(server, generated))?;
    let mut hub = StdioHub::start(reg, &path, &dir.join(format!("catalog-{generated}.log")))?;
    let t = Instant::now();
    hub.initialize()?;
    let first = hub.request("tools/list", json!({}), Duration::from_secs(120))?;
    let took = t.elapsed();
    ensure!(
        first.text.contains("nextCursor"),
        "the first page has no next cursor"
    );
    Ok((hub, took))
}

fn page(hub: &mut StdioHub, cursor: Option<&str>) -> Result<(usize, Option<String>)> {
    let params = match cursor {
        Some(c) => json!({"cursor": c}),
        None => json!({}),
    };
    let line = hub.request("tools/list", params, Duration::from_secs(20))?;
    let v: Value = serde_json::from_str(&line.text)?;
    let n = v["result"]["tools"].as_array().map_or(0, Vec::len);
    Ok((n, v["result"]["nextCursor"].as_str().map(str::to_string)))
}

pub fn run(reg: &Reg, server: &Path) -> Result<()> {
    println!("\n## 1. one tenant of {SERVERS} upstreams × {PER_SERVER} tools (stdio)");
    let dir = tempfile::tempdir()?;
    let (small, small_start) = start(reg, server, 0, dir.path())?;
    let small_rss = settled_rss(small.pid(), Duration::from_secs(5));
    drop(small);
    let (mut hub, start_time) = start(reg, server, PER_SERVER - 3, dir.path())?;
    let rss = settled_rss(hub.pid(), Duration::from_secs(5));
    let extra = (SERVERS * (PER_SERVER - 3)) as f64;
    println!(
        "hub RSS: {:.1} MiB with {} tools ({:.1} MiB with {SERVERS} × 3 tools: {:.0} bytes per added tool)",
        rss as f64 / 1024.0,
        SERVERS * PER_SERVER,
        small_rss as f64 / 1024.0,
        (rss.saturating_sub(small_rss) as f64 * 1024.0) / extra
    );
    println!(
        "start-up to the first complete tools/list: {} (with {SERVERS} × 3 tools: {})",
        ms(start_time),
        ms(small_start)
    );
    let mut firsts = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let (n, _) = page(&mut hub, None)?;
        firsts.push(t.elapsed());
        ensure!(n > 0, "an empty first page");
    }
    firsts.sort();
    println!(
        "first page of tools/list: p50 {}, p99 {} (500 requests, sequential)",
        ms(pct(&firsts, 0.5)),
        ms(pct(&firsts, 0.99))
    );
    let mut alls = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let (mut n, mut cursor) = page(&mut hub, None)?;
        let mut pages = 1;
        while let Some(c) = cursor {
            let (m, next) = page(&mut hub, Some(&c))?;
            n += m;
            cursor = next;
            pages += 1;
        }
        alls.push(t.elapsed());
        count = n;
        ensure!(pages > 1, "one page only");
    }
    alls.sort();
    ensure!(count == SERVERS * PER_SERVER, "paged {count} tools");
    println!("all pages ({count} tools): median {}", ms(pct(&alls, 0.5)));
    let mut changes = Vec::new();
    for k in 0..5 {
        let t = Instant::now();
        let name = format!("added_{k}");
        hub.request(
            "tools/call",
            json!({"name": "s050__add_tool", "arguments": {"name": name}}),
            Duration::from_secs(20),
        )?;
        hub.wait_note("notifications/tools/list_changed", Duration::from_secs(20))?;
        changes.push(t.elapsed());
        page(&mut hub, None)?;
    }
    changes.sort();
    println!(
        "one upstream's list_changed, end to end (its call → the client hears list_changed: the hub re-reads its 100 tools and rebuilds): median {}",
        ms(pct(&changes, 0.5))
    );
    let rss_after = settled_rss(hub.pid(), Duration::from_secs(5));
    println!(
        "hub RSS after the paging and the changes: {:.1} MiB",
        rss_after as f64 / 1024.0
    );
    drop(hub);
    rebuild_in_process();
    Ok(())
}

/// A tool like `catalog_server`'s generated ones (about 250 bytes).
fn tool(server: usize, i: usize) -> Value {
    json!({"name": format!("gen_{i}"), "description": format!("Fetches the s{server:03}w{i:04} record list from the s{server:03} data store and returns the rows"),
        "inputSchema": {"type": "object", "properties": {"record_id": {"type": "string", "description": "The record's id"}, "limit": {"type": "integer"}}}})
}

fn offer(server: usize, n: usize) -> Arc<Offer> {
    Arc::new(Offer {
        tools: (0..n).map(|i| Item::new(&tool(server, i))).collect(),
        ..Default::default()
    })
}

fn rebuild_in_process() {
    let namer = Namer::new("__", 64);
    let cfg = CatalogConfig::default();
    let median = |mut v: Vec<Duration>| {
        v.sort();
        pct(&v, 0.5)
    };
    let (mut cold, mut warm, mut one) = (Vec::new(), Vec::new(), Vec::new());
    let mut g = 0;
    for _ in 0..7 {
        let offers: Vec<(ServerName, Arc<Offer>)> = (0..SERVERS)
            .map(|s| (ServerName::new(&format!("s{s:03}")), offer(s, PER_SERVER)))
            .collect();
        g += 1;
        let t = Instant::now();
        let first = Catalog::rebuild(&namer, &cfg, &offers, g, None);
        cold.push(t.elapsed());
        g += 1;
        let t = Instant::now();
        let again = Catalog::rebuild(&namer, &cfg, &offers, g, Some(&first));
        warm.push(t.elapsed());
        let mut changed = offers.clone();
        changed[50].1 = offer(50, PER_SERVER + 1);
        g += 1;
        let t = Instant::now();
        let after = Catalog::rebuild(&namer, &cfg, &changed, g, Some(&again));
        one.push(t.elapsed());
        assert_eq!(after.tools.len(), SERVERS * PER_SERVER + 1);
    }
    println!(
        "catalog rebuild in process ({} tools): from scratch (every definition new) {}; nothing changed (every server's part taken over: the merge of the names, linear in the tenant) {}; one upstream changed (its 101 definitions new) {}",
        SERVERS * PER_SERVER,
        ms(median(cold)),
        ms(median(warm)),
        ms(median(one))
    );
}
