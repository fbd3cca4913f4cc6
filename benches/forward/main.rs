//! Forwarding overhead of the hub: `cargo bench --bench forward`.
//!
//! Measures, in one run and against the same upstream (`examples/demo_server`):
//! 1. sequential `tools/call echo` latency, DIRECT (bench ↔ demo_server), RELAY (bench ↔
//!    `socat - EXEC:demo_server`, a byte relay that parses nothing) and HUB (bench ↔ mcp-hub
//!    stdio ↔ demo_server): p50 / p99 / mean, the added latency per hop, and the hub's over the
//!    relay's;
//! 2. throughput with 64 calls in flight (pipelined, matched by id): direct, relay, hub, and the
//!    ratios hub/direct and hub/relay;
//! 3. idle RSS of the hub fronting three demo_server upstreams, after a `tools/list` and 1 s;
//! 4. the hub over Streamable HTTP (`mcp-hub serve`): sequential latency on one keep-alive
//!    HTTP/1.1 connection, in a session and as 2026-07-28 stateless requests, and the added
//!    p50/p99 over the DIRECT stdio path;
//! 5. HTTP throughput with 64 keep-alive connections, one request in flight each (one session);
//! 6. hub VmRSS per idle Streamable HTTP session (500 × `initialize`, 1 s idle; then DELETE),
//!    on a fresh hub.
//!
//! Each run also reports CPU per call of the bench client, the hub and the upstream (from
//! /proc/*/task/*/schedstat), to show whether the client or the hub is the limit.
//!
//! The stdio client is plain newline-delimited JSON-RPC over pipes (std threads + serde_json);
//! the HTTP client is a hand-written blocking HTTP/1.1 keep-alive client (Content-Length
//! bodies only), so the numbers are the servers', not a client library's. Results go to stdout
//! and to `target/bench-forward.json`. Every child is killed by pid at the end; a watchdog bounds
//! the whole run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]
#![allow(clippy::print_stdout)]

#[path = "../../tests/harness/mod.rs"]
mod harness;

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, BufWriter, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use harness::{children_of, ready_addr, rss_kib, strip_ansi, KeepAlive as Http, Reply};
use serde_json::{json, Value};

const WARMUP: usize = 200;
const SEQ_CALLS: usize = 5000;
const PIPE_CALLS: usize = 20_000;
const IN_FLIGHT: usize = 64;
const MESSAGE: &str = "hello";
const PROTOCOL: &str = "2025-11-25";
/// Whole run after the build (the watchdog kills every child and exits past this).
const RUN_DEADLINE: Duration = Duration::from_secs(200);
/// How long the HTTP hub idles after its load before its RSS is read again.
const SETTLE: Duration = Duration::from_secs(12);
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

mod cpu;
mod http;
mod procs;
mod stdio;

use cpu::*;
use http::*;
use procs::*;
use stdio::*;

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; we take no options.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let hub_bin = target.join("release/mcp-hub");
    let demo_bin = target.join("release/examples/demo_server");
    if let Err(e) = build(&root) {
        if hub_bin.exists() && demo_bin.exists() {
            eprintln!(
                "forward bench: WARNING: {e:#}; using the binaries already in target/release"
            );
        } else {
            return Err(e);
        }
    }
    let demo_bin = demo_bin.canonicalize()?;
    let hub_bin = hub_bin.canonicalize()?;

    let registry: Registry = Arc::new(Mutex::new(Vec::new()));
    {
        let registry = registry.clone();
        std::thread::spawn(move || {
            std::thread::sleep(RUN_DEADLINE);
            eprintln!(
                "forward bench: still running after {RUN_DEADLINE:?}; killing children and exiting"
            );
            for pid in registry.lock().unwrap().iter() {
                kill_pid(*pid, nix::sys::signal::Signal::SIGKILL);
            }
            std::process::exit(3);
        });
    }

    let tmp = tempfile::tempdir()?;
    let started = Instant::now();
    eprintln!(
        "forward bench: hub {}, upstream {}",
        hub_bin.display(),
        demo_bin.display()
    );

    // --- 1 & 2: direct and through the hub, same upstream binary --------------------------
    let mut direct = spawn_direct(&demo_bin, &tmp.path().join("direct.stderr"), &registry)?;
    let mut relay = spawn_relay(&demo_bin, &tmp.path().join("relay.stderr"), &registry)?;
    let relay_upstream = *relay
        .descendants
        .first()
        .ok_or_else(|| anyhow!("the relay has no upstream process"))?;
    let config1 = hub_config(tmp.path(), "hub-1.toml", &demo_bin, &["demo"], "")?;
    let hub_log = tmp.path().join("hub1.stderr");
    let mut hub = spawn_hub(&hub_bin, &config1, &hub_log, &registry)?;
    let tools = hub.tool_names()?;
    if !tools.iter().any(|t| t == HUB_TOOL) {
        bail!("hub does not list {HUB_TOOL}; tools: {tools:?}");
    }
    hub.adopt_children();
    let hub_upstream = *hub
        .descendants
        .first()
        .ok_or_else(|| anyhow!("the stdio hub has no upstream process"))?;

    let (direct_pid, hub_pid, relay_pid) = (direct.pid, hub.pid, relay.pid);
    eprintln!("forward bench: sequential latency ({WARMUP} warm-up + {SEQ_CALLS} calls each)");
    let (lat_direct, cpu_lat_direct) = latency(&mut direct, "echo", None, direct_pid)?;
    let (lat_relay, cpu_lat_relay) = latency(&mut relay, "echo", Some(relay_pid), relay_upstream)?;
    let (lat_hub, cpu_lat_hub) = latency(&mut hub, HUB_TOOL, Some(hub_pid), hub_upstream)?;
    eprintln!("forward bench: pipelined throughput ({PIPE_CALLS} calls, {IN_FLIGHT} in flight)");
    let (tp_direct, cpu_tp_direct) = throughput(&mut direct, "echo", None, direct_pid)?;
    let (tp_relay, cpu_tp_relay) = throughput(&mut relay, "echo", Some(relay_pid), relay_upstream)?;
    let (tp_hub, cpu_tp_hub) = throughput(&mut hub, HUB_TOOL, Some(hub_pid), hub_upstream)?;
    let hub_rss_after_load = rss_kib(hub.pid);
    let upstream_rss = rss_kib(hub_upstream);
    direct.stop(Duration::from_secs(3));
    relay.stop(Duration::from_secs(6));
    hub.stop(Duration::from_secs(5));
    let hub_log_bytes = std::fs::metadata(&hub_log).map(|m| m.len()).unwrap_or(0);

    // --- 4 & 5: the hub over Streamable HTTP (`serve`), same upstream binary ----------------
    let http_extra = "[hub.http]\nshutdown_deadline = \"1s\"\n";
    let config_http = hub_config(
        tmp.path(),
        "hub-http.toml",
        &demo_bin,
        &["demo"],
        http_extra,
    )?;
    let http_log = tmp.path().join("hub-http.stderr");
    let (mut hub_http, addr) = spawn_serve_hub(&hub_bin, &config_http, &http_log, &registry)?;
    let mut conn = Http::connect(addr, HTTP_IO_TIMEOUT)?;
    let sid = http_initialize(&mut conn)?;
    let sh = session_headers(&sid);
    let r = conn.post(
        &sh,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )?;
    if r.status != 202 {
        bail!("notifications/initialized over HTTP: status {}", r.status);
    }
    http_call(&mut conn, &sh, 0, HUB_TOOL, false)?; // waits for the upstream if still starting
    hub_http.adopt_children();
    let http_upstream = *hub_http
        .descendants
        .first()
        .ok_or_else(|| anyhow!("the HTTP hub has no upstream process"))?;
    let http_rss_before = rss_kib(hub_http.pid);
    let slh = stateless_headers(HUB_TOOL);
    eprintln!("forward bench: Streamable HTTP sequential latency (session, stateless)");
    let (lat_http, cpu_lat_http) =
        http_latency(&mut conn, &sh, false, hub_http.pid, http_upstream)?;
    let (lat_sl, cpu_lat_sl) = http_latency(&mut conn, &slh, true, hub_http.pid, http_upstream)?;
    drop(conn);
    eprintln!(
        "forward bench: Streamable HTTP throughput ({PIPE_CALLS} calls, {HTTP_CONNS} connections)"
    );
    let (tp_http, cpu_tp_http) = http_throughput(addr, &sh, false, hub_http.pid, http_upstream)?;
    let (tp_sl, cpu_tp_sl) = http_throughput(addr, &slh, true, hub_http.pid, http_upstream)?;
    // The admin API polled 100 times a second must not slow MCP traffic down (issue #11).
    eprintln!("forward bench: Streamable HTTP throughput while GET /api/tenants is polled 100/s");
    let (tp_polled, polls) = {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poller = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = Instant::now();
                    if harness::http_request(addr.port(), "GET", "/api/tenants", &[], b"")
                        .is_ok_and(|r| r.status == 200)
                    {
                        n += 1;
                    }
                    std::thread::sleep(Duration::from_millis(10).saturating_sub(t.elapsed()));
                }
                n
            })
        };
        let started = Instant::now();
        let (tp, _) = http_throughput(addr, &sh, false, hub_http.pid, http_upstream)?;
        let secs = started.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let n = poller.join().unwrap_or(0);
        (tp, n as f64 / secs)
    };
    let http_rss_after_load = rss_kib(hub_http.pid);
    // Freed memory goes back to the system within a few seconds (src/memory.rs).
    std::thread::sleep(SETTLE);
    let http_rss_settled = rss_kib(hub_http.pid);
    hub_http.terminate(Duration::from_secs(5));
    let http_log_bytes = std::fs::metadata(&http_log).map(|m| m.len()).unwrap_or(0);

    // --- 6: memory per idle Streamable HTTP session, on a fresh hub ---------------------------
    eprintln!("forward bench: {SESSIONS} idle Streamable HTTP sessions");
    let (mut hub_mem, addr) = spawn_serve_hub(
        &hub_bin,
        &config_http,
        &tmp.path().join("hub-mem.stderr"),
        &registry,
    )?;
    let mem = session_memory(hub_mem.pid, addr);
    hub_mem.terminate(Duration::from_secs(5));
    let mem = mem?;

    // --- 3: idle RSS with three upstreams ---------------------------------------------------
    let config3 = hub_config(
        tmp.path(),
        "hub-3.toml",
        &demo_bin,
        &["demo1", "demo2", "demo3"],
        "",
    )?;
    let mut hub3 = spawn_hub(
        &hub_bin,
        &config3,
        &tmp.path().join("hub3.stderr"),
        &registry,
    )?;
    let tools3 = hub3.tool_names()?;
    for s in ["demo1__echo", "demo2__echo", "demo3__echo"] {
        if !tools3.iter().any(|t| t == s) {
            bail!("hub with three upstreams does not list {s}");
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    hub3.adopt_children();
    let idle_rss = rss_kib(hub3.pid).ok_or_else(|| anyhow!("no VmRSS for the hub"))?;
    let upstream_count = hub3.descendants.len();
    hub3.stop(Duration::from_secs(5));

    let leftovers: Vec<u32> = registry
        .lock()
        .unwrap()
        .iter()
        .copied()
        .filter(|p| alive(*p))
        .collect();
    if !leftovers.is_empty() {
        eprintln!("forward bench: WARNING: processes still alive after cleanup: {leftovers:?}");
    }

    // --- report -------------------------------------------------------------------------------
    let add_p50 = lat_hub.p50_us - lat_direct.p50_us;
    let add_p99 = lat_hub.p99_us - lat_direct.p99_us;
    let ratio = tp_hub / tp_direct;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let added = |l: &Latency| {
        (
            l.p50_us - lat_direct.p50_us,
            l.p99_us - lat_direct.p99_us,
            l.mean_us - lat_direct.mean_us,
        )
    };
    let (http_add50, http_add99, http_addmean) = added(&lat_http);
    let (sl_add50, sl_add99, sl_addmean) = added(&lat_sl);
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let pass_latency = http_add50 <= TARGET_ADDED_P50_US;
    let pass_latency_sl = sl_add50 <= TARGET_ADDED_P50_US;
    let pass_tp = tp_http >= TARGET_CALLS_PER_S;
    let pass_mem = mem.per_session_kib <= TARGET_KIB_PER_SESSION;

    println!();
    println!("mcp-hub forward benchmark  (tools/call echo, {cpus} CPUs)");
    println!("{}", "-".repeat(72));
    println!("sequential latency, {SEQ_CALLS} calls after {WARMUP} warm-up (µs)");
    println!(
        "  {:<20}{:>9}{:>9}{:>9}{:>9}{:>14}",
        "path", "p50", "p99", "mean", "max", "hub cpu/call"
    );
    for (name, l, c) in [
        ("direct (stdio)", lat_direct, cpu_lat_direct),
        ("relay (socat)", lat_relay, cpu_lat_relay),
        ("hub stdio", lat_hub, cpu_lat_hub),
        ("hub http session", lat_http, cpu_lat_http),
        ("hub http stateless", lat_sl, cpu_lat_sl),
    ] {
        let hub_cpu = c
            .hub_ns
            .map(|n| format!("{:.1}", c.us(n)))
            .unwrap_or_else(|| "-".into());
        println!(
            "  {:<20}{:>9.1}{:>9.1}{:>9.1}{:>9.1}{:>14}",
            name, l.p50_us, l.p99_us, l.mean_us, l.max_us, hub_cpu
        );
    }
    let (relay_add50, relay_add99, relay_addmean) = added(&lat_relay);
    for (name, a50, a99, amean) in [
        ("added: relay", relay_add50, relay_add99, relay_addmean),
        (
            "added: stdio hub",
            add_p50,
            add_p99,
            lat_hub.mean_us - lat_direct.mean_us,
        ),
        ("added: http session", http_add50, http_add99, http_addmean),
        ("added: http stateless", sl_add50, sl_add99, sl_addmean),
    ] {
        println!("  {:<20}{:>9.1}{:>9.1}{:>9.1}", name, a50, a99, amean);
    }
    println!(
        "  {:<20}{:>9.1}{:>9.1}{:>9.1}   (targets: p50 ≤ +10, p99 ≤ +50)",
        "hub stdio - relay",
        add_p50 - relay_add50,
        add_p99 - relay_add99,
        lat_hub.mean_us - lat_relay.mean_us
    );
    println!();
    println!("throughput, {PIPE_CALLS} calls (calls/s)");
    println!(
        "  {:<34}{:>12.0}",
        format!("direct, {IN_FLIGHT} pipelined"),
        tp_direct
    );
    println!(
        "  {:<34}{:>12.0}",
        format!("relay (socat), {IN_FLIGHT} pipelined"),
        tp_relay
    );
    println!(
        "  {:<34}{:>12.0}",
        format!("hub stdio, {IN_FLIGHT} pipelined"),
        tp_hub
    );
    println!("  {:<34}{:>12.3}", "hub stdio / direct", ratio);
    println!(
        "  {:<34}{:>12.3}   (target: ≥ 1)",
        "hub stdio / relay",
        tp_hub / tp_relay
    );
    println!(
        "  {:<34}{:>12.0}  ({:.0} API polls/s; {:+.1}% vs unpolled)",
        "hub http session, API polled",
        tp_polled,
        polls,
        (tp_polled / tp_http - 1.0) * 100.0
    );
    println!(
        "  {:<34}{:>12.0}",
        format!("hub http session, {HTTP_CONNS} conns"),
        tp_http
    );
    println!(
        "  {:<34}{:>12.0}",
        format!("hub http stateless, {HTTP_CONNS} conns"),
        tp_sl
    );
    println!();
    println!("CPU per call during the throughput runs (µs; client = this bench)");
    println!(
        "  {:<20}{:>9}{:>9}{:>10}{:>9}{:>11}",
        "path", "client", "hub", "upstream", "total", "CPUs busy"
    );
    for (name, c) in [
        ("direct (stdio)", cpu_tp_direct),
        ("relay (socat)", cpu_tp_relay),
        ("hub stdio", cpu_tp_hub),
        ("hub http session", cpu_tp_http),
        ("hub http stateless", cpu_tp_sl),
    ] {
        println!(
            "  {:<20}{:>9.1}{:>9}{:>10.1}{:>9.1}{:>10.0}%",
            name,
            c.us(c.client_ns),
            c.hub_ns
                .map(|n| format!("{:.1}", c.us(n)))
                .unwrap_or_else(|| "-".into()),
            c.us(c.upstream_ns),
            c.us(c.total_ns()),
            c.busy(cpus) * 100.0
        );
    }
    println!();
    println!("hub memory (VmRSS)");
    println!(
        "  idle, {upstream_count} upstreams, after tools/list + 1 s:  {idle_rss} KiB ({:.1} MiB)",
        idle_rss as f64 / 1024.0
    );
    if let Some(r) = hub_rss_after_load {
        println!("  1 upstream, right after the load above:   {r} KiB");
    }
    if let Some(r) = upstream_rss {
        println!("  (one demo_server upstream, for scale:     {r} KiB)");
    }
    println!(
        "  http: {SESSIONS} idle sessions: {} -> {} KiB = {:.1} KiB/session (opened in {:.0} ms)",
        mem.before_kib, mem.after_kib, mem.per_session_kib, mem.open_ms
    );
    println!(
        "  http: after DELETE of {}/{SESSIONS}: {} KiB",
        mem.deleted,
        mem.after_delete_kib.map_or("?".into(), |k| k.to_string()),
    );
    let kib = |k: Option<u64>| k.map_or("?".into(), |k| k.to_string());
    println!(
        "  http load: before {} KiB, right after {} KiB, {} s later {} KiB",
        kib(http_rss_before),
        kib(http_rss_after_load),
        SETTLE.as_secs(),
        kib(http_rss_settled),
    );
    println!();
    println!(
        "targets: added p50 ≤ {TARGET_ADDED_P50_US} µs: session {} ({http_add50:.1}), stateless {} ({sl_add50:.1})",
        verdict(pass_latency),
        verdict(pass_latency_sl)
    );
    println!(
        "         ≥ {TARGET_CALLS_PER_S} calls/s at {HTTP_CONNS} in flight: {} ({tp_http:.0});  ≤ {TARGET_KIB_PER_SESSION} KiB/idle session: {} ({:.1})",
        verdict(pass_tp),
        verdict(pass_mem),
        mem.per_session_kib
    );
    println!("{}", "-".repeat(72));
    println!(
        "hub stderr: stdio runs {hub_log_bytes} bytes, http runs {http_log_bytes} bytes; run took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let lat_json =
        |l: &Latency| json!({"p50": l.p50_us, "p99": l.p99_us, "mean": l.mean_us, "max": l.max_us});
    let report = json!({
        "benchmark": "forward",
        "cpus": cpus,
        "tool": "echo",
        "latency_us": {
            "warmup_calls": WARMUP,
            "calls": SEQ_CALLS,
            "direct": lat_json(&lat_direct),
            "relay": lat_json(&lat_relay),
            "hub": lat_json(&lat_hub),
            "hub_minus_relay": {"p50": add_p50 - relay_add50, "p99": add_p99 - relay_add99},
            "added_per_hop": {"p50": add_p50, "p99": add_p99, "mean": lat_hub.mean_us - lat_direct.mean_us},
        },
        "throughput_calls_per_s": {
            "calls": PIPE_CALLS,
            "in_flight": IN_FLIGHT,
            "direct": tp_direct,
            "relay": tp_relay,
            "hub": tp_hub,
            "ratio_hub_over_direct": ratio,
            "ratio_hub_over_relay": tp_hub / tp_relay,
        },
        "memory_kib": {
            "hub_idle_rss_3_upstreams": idle_rss,
            "upstreams_seen": upstream_count,
            "hub_rss_after_load_1_upstream": hub_rss_after_load,
            "demo_server_rss": upstream_rss,
        },
        "cpu_per_call": {
            "latency": {
                "direct": cpu_lat_direct.json(cpus),
                "relay": cpu_lat_relay.json(cpus),
                "hub_stdio": cpu_lat_hub.json(cpus),
                "hub_http_session": cpu_lat_http.json(cpus),
                "hub_http_stateless": cpu_lat_sl.json(cpus),
            },
            "throughput": {
                "direct": cpu_tp_direct.json(cpus),
                "relay": cpu_tp_relay.json(cpus),
                "hub_stdio": cpu_tp_hub.json(cpus),
                "hub_http_session": cpu_tp_http.json(cpus),
                "hub_http_stateless": cpu_tp_sl.json(cpus),
            },
        },
        "http": {
            "client": "blocking HTTP/1.1 keep-alive, one request in flight per connection",
            "latency_us": {
                "session": lat_json(&lat_http),
                "stateless_2026_07_28": lat_json(&lat_sl),
                "added_over_direct_stdio": {
                    "session": {"p50": http_add50, "p99": http_add99, "mean": http_addmean},
                    "stateless_2026_07_28": {"p50": sl_add50, "p99": sl_add99, "mean": sl_addmean},
                },
            },
            "throughput_calls_per_s": {
                "calls": PIPE_CALLS,
                "connections": HTTP_CONNS,
                "in_flight": HTTP_CONNS,
                "session": tp_http,
                "stateless_2026_07_28": tp_sl,
            },
            "memory_kib": {
                "sessions": SESSIONS,
                "before": mem.before_kib,
                "after": mem.after_kib,
                "per_idle_session": mem.per_session_kib,
                "after_delete": mem.after_delete_kib,
                "deleted": mem.deleted,
                "open_ms": mem.open_ms,
                "hub_rss_before_http_load": http_rss_before,
                "hub_rss_after_http_load": http_rss_after_load,
                "hub_rss_settled_after_http_load": http_rss_settled,
                "settle_s": SETTLE.as_secs(),
            },
            "hub_stderr_bytes": http_log_bytes,
            "targets": {
                "added_p50_us_max": TARGET_ADDED_P50_US,
                "calls_per_s_min": TARGET_CALLS_PER_S,
                "kib_per_idle_session_max": TARGET_KIB_PER_SESSION,
                "latency_session_pass": pass_latency,
                "latency_stateless_pass": pass_latency_sl,
                "throughput_pass": pass_tp,
                "memory_pass": pass_mem,
            },
        },
        "hub_stderr_bytes": hub_log_bytes,
        "leftover_pids": leftovers,
    });
    let out = target.join("bench-forward.json");
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("wrote {}", out.display());
    Ok(())
}
