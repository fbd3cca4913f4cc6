//! Forwarding overhead of the hub: `cargo bench --bench forward`.
//!
//! Measures, in one run and against the same upstream (`examples/demo_server`):
//! 1. sequential `tools/call echo` latency, DIRECT (bench ↔ demo_server) vs HUB
//!    (bench ↔ mcp-hub stdio ↔ demo_server): p50 / p99 / mean, and the added latency per hop;
//! 2. throughput with 64 calls in flight (pipelined, matched by id), direct vs hub;
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

#[path = "../tests/harness/mod.rs"]
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
const RUN_DEADLINE: Duration = Duration::from_secs(150);
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

// ---------------------------------------------------------------------------------------------
// Child bookkeeping: every pid we start (and the hub's upstreams) is registered here so that
// both the normal end, a panic and the watchdog can kill them.

type Registry = Arc<Mutex<Vec<u32>>>;

fn kill_pid(pid: u32, sig: nix::sys::signal::Signal) {
    harness::signal_pid(pid, sig);
}

fn alive(pid: u32) -> bool {
    harness::pid_alive(pid as i32)
}

/// A spawned server we speak JSON-RPC to.
struct Server {
    label: &'static str,
    child: Child,
    pid: u32,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: Option<BufReader<ChildStdout>>,
    /// Processes started by this server (the hub's upstreams), killed after it.
    descendants: Vec<u32>,
    registry: Registry,
    next_id: u64,
}

impl Server {
    fn spawn(
        label: &'static str,
        mut cmd: Command,
        stderr: &Path,
        registry: &Registry,
    ) -> Result<Self> {
        let log = std::fs::File::create(stderr)?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .env_remove("RUST_LOG");
        let mut child = cmd.spawn().with_context(|| format!("spawning {label}"))?;
        let pid = child.id();
        registry.lock().unwrap().push(pid);
        let stdin = BufWriter::with_capacity(64 * 1024, child.stdin.take().unwrap());
        let stdout = BufReader::with_capacity(64 * 1024, child.stdout.take().unwrap());
        Ok(Server {
            label,
            child,
            pid,
            stdin: Some(stdin),
            stdout: Some(stdout),
            descendants: Vec::new(),
            registry: registry.clone(),
            next_id: 1,
        })
    }

    fn send(&mut self, msg: &Value) -> Result<()> {
        let w = self.stdin.as_mut().ok_or_else(|| anyhow!("stdin closed"))?;
        serde_json::to_writer(&mut *w, msg)?;
        w.write_all(b"\n")?;
        w.flush()?;
        Ok(())
    }

    /// Reads until the response with `id`; answers server→client requests with `{}`.
    fn response(&mut self, id: u64) -> Result<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            let r = self
                .stdout
                .as_mut()
                .ok_or_else(|| anyhow!("stdout taken"))?;
            if r.read_line(&mut line)? == 0 {
                bail!("{}: stdout closed while waiting for id {id}", self.label);
            }
            let msg: Value = serde_json::from_str(line.trim())
                .with_context(|| format!("{}: bad line {line:?}", self.label))?;
            if msg.get("method").is_some() {
                if let Some(rid) = msg.get("id") {
                    let reply = json!({"jsonrpc": "2.0", "id": rid, "result": {}});
                    self.send(&reply)?;
                }
                continue;
            }
            if msg["id"].as_u64() == Some(id) {
                if let Some(err) = msg.get("error") {
                    bail!("{}: error for id {id}: {err}", self.label);
                }
                return Ok(msg);
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        self.response(id)
    }

    fn initialize(&mut self) -> Result<()> {
        let res = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "forward-bench", "version": "0.1.0"}
            }),
        )?;
        if res["result"]["protocolVersion"].is_null() {
            bail!("{}: odd initialize result {res}", self.label);
        }
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(())
    }

    fn tool_names(&mut self) -> Result<Vec<String>> {
        let res = self.request("tools/list", json!({}))?;
        Ok(res["result"]["tools"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Remembers the processes this server started, so they can be cleaned up too.
    fn adopt_children(&mut self) {
        for pid in children_of(self.pid) {
            if !self.descendants.contains(&pid) {
                self.descendants.push(pid);
                self.registry.lock().unwrap().push(pid);
            }
        }
    }

    /// Whether the process exits within `limit`.
    fn exits_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Close stdin, give it `grace` to exit, then SIGTERM, then SIGKILL; same for descendants.
    fn stop(&mut self, grace: Duration) {
        self.adopt_children();
        drop(self.stdin.take());
        if !self.exits_within(grace) {
            self.term_then_kill(Duration::from_secs(2));
        }
        self.reap_descendants();
    }

    /// For `serve` (which does not watch stdin): SIGTERM at once, `wait`, then SIGKILL.
    fn terminate(&mut self, wait: Duration) {
        self.adopt_children();
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.term_then_kill(wait);
        }
        self.reap_descendants();
    }

    fn term_then_kill(&mut self, wait: Duration) {
        kill_pid(self.pid, nix::sys::signal::Signal::SIGTERM);
        if !self.exits_within(wait) {
            eprintln!(
                "forward bench: {} (pid {}) ignored SIGTERM; SIGKILL",
                self.label, self.pid
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// The hub's upstreams should have been stopped by the hub; make sure.
    fn reap_descendants(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.descendants.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for pid in &self.descendants {
            if alive(*pid) {
                eprintln!(
                    "forward bench: upstream pid {pid} of {} still alive; SIGKILL",
                    self.label
                );
                kill_pid(*pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
        let mut reg = self.registry.lock().unwrap();
        reg.retain(|p| *p != self.pid && !self.descendants.contains(p));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stdin.is_some() || matches!(self.child.try_wait(), Ok(None)) {
            self.stop(Duration::from_secs(1));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements

fn call_line(id: u64, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{MESSAGE}"}}}}}}"#
    )
}

fn check_echo(msg: &Value) -> Result<()> {
    let text = msg["result"]["content"][0]["text"].as_str();
    if text != Some(&format!("Echo: {MESSAGE}")) || msg["result"]["isError"] == json!(true) {
        bail!("unexpected echo answer: {msg}");
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
struct Latency {
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
    max_us: f64,
}

fn latency(
    server: &mut Server,
    tool: &str,
    hub: Option<u32>,
    upstream: u32,
) -> Result<(Latency, CpuUse)> {
    timed_calls(hub, upstream, |_| {
        let id = server.next_id;
        server.next_id += 1;
        let line = call_line(id, tool);
        let t0 = Instant::now();
        {
            let w = server.stdin.as_mut().unwrap();
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
            w.flush()?;
        }
        let msg = server.response(id)?;
        let dt = t0.elapsed();
        check_echo(&msg)?;
        Ok(dt)
    })
}

/// `WARMUP` untimed then `SEQ_CALLS` timed sequential calls; `call(i)` makes call `i` and
/// returns its duration. CPU use is measured over the timed calls only.
fn timed_calls(
    hub: Option<u32>,
    upstream: u32,
    mut call: impl FnMut(usize) -> Result<Duration>,
) -> Result<(Latency, CpuUse)> {
    let mut samples = Vec::with_capacity(SEQ_CALLS);
    let mut probe = None;
    let mut client0 = 0;
    for i in 0..WARMUP + SEQ_CALLS {
        if i == WARMUP {
            probe = Some(CpuProbe::start(hub, upstream));
            client0 = thread_cpu_ns();
        }
        let dt = call(i)?;
        if i >= WARMUP {
            samples.push(dt.as_nanos() as f64 / 1000.0);
        }
    }
    let cpu = probe.unwrap().finish(SEQ_CALLS, thread_cpu_ns() - client0);
    Ok((summarize(samples), cpu))
}

fn summarize(mut samples: Vec<f64>) -> Latency {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    Latency {
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        mean_us: samples.iter().sum::<f64>() / samples.len() as f64,
        max_us: *samples.last().unwrap(),
    }
}

/// `PIPE_CALLS` calls with `IN_FLIGHT` outstanding; returns calls/s and CPU use (`hub`: the
/// hub's pid when measuring through it; `upstream`: the demo_server's).
fn throughput(
    server: &mut Server,
    tool: &str,
    hub: Option<u32>,
    upstream: u32,
) -> Result<(f64, CpuUse)> {
    let first = server.next_id;
    server.next_id += PIPE_CALLS as u64;
    let mut stdin = server.stdin.take().unwrap();
    let mut stdout = server.stdout.take().unwrap();
    let (permit_tx, permit_rx) = mpsc::channel::<()>();
    for _ in 0..IN_FLIGHT {
        permit_tx.send(()).unwrap();
    }
    let tool = tool.to_string();
    let label = server.label;
    let probe = CpuProbe::start(hub, upstream);
    let reader_cpu0 = thread_cpu_ns();
    let (result, stdin, stdout) = std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<(BufWriter<ChildStdin>, u64)> {
            let cpu0 = thread_cpu_ns();
            let mut sent = 0usize;
            while sent < PIPE_CALLS {
                permit_rx
                    .recv_timeout(Duration::from_secs(30))
                    .map_err(|_| {
                        anyhow!("{label}: no answer within 30 s during the pipelined run")
                    })?;
                let mut batch = 1;
                while sent + batch < PIPE_CALLS && permit_rx.try_recv().is_ok() {
                    batch += 1;
                }
                for k in 0..batch {
                    stdin.write_all(call_line(first + (sent + k) as u64, &tool).as_bytes())?;
                    stdin.write_all(b"\n")?;
                }
                stdin.flush()?;
                sent += batch;
            }
            Ok((stdin, thread_cpu_ns() - cpu0))
        });
        let reader = (|| -> Result<()> {
            let mut pending: HashSet<u64> = (first..first + PIPE_CALLS as u64).collect();
            let mut line = String::new();
            while !pending.is_empty() {
                line.clear();
                if stdout.read_line(&mut line)? == 0 {
                    bail!("{label}: stdout closed during the pipelined run");
                }
                let msg: Value = serde_json::from_str(line.trim())?;
                if msg.get("method").is_some() {
                    continue; // notifications / server requests are not part of this test
                }
                let id = msg["id"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("{label}: answer without id: {msg}"))?;
                if !pending.remove(&id) {
                    bail!("{label}: unexpected or duplicate id {id}");
                }
                check_echo(&msg)?;
                let _ = permit_tx.send(());
            }
            Ok(())
        })();
        drop(permit_tx);
        let stdin = writer.join().expect("writer thread panicked");
        (reader, stdin, stdout)
    });
    let reader_cpu = thread_cpu_ns() - reader_cpu0;
    server.stdout = Some(stdout);
    let mut writer_cpu = 0;
    match stdin {
        Ok((w, cpu)) => {
            server.stdin = Some(w);
            writer_cpu = cpu;
        }
        Err(e) if result.is_ok() => return Err(e),
        Err(_) => {}
    }
    result?;
    let cpu = probe.finish(PIPE_CALLS, reader_cpu + writer_cpu);
    Ok((PIPE_CALLS as f64 / cpu.wall_s, cpu))
}

// ---------------------------------------------------------------------------------------------
// CPU accounting: exact per-thread run time from /proc/<pid>/task/*/schedstat (ns), so the
// report can say who burns the CPU (the bench client, the hub, the upstream).

fn schedstat_ns(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time of every live thread of `pid` (ns).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| schedstat_ns(&e.path().join("schedstat")))
        .sum()
}

/// CPU time of the calling thread (ns).
fn thread_cpu_ns() -> u64 {
    schedstat_ns(Path::new("/proc/thread-self/schedstat")).unwrap_or(0)
}

#[derive(Clone, Copy, Debug, Default)]
struct CpuUse {
    calls: usize,
    wall_s: f64,
    client_ns: u64,
    hub_ns: Option<u64>,
    upstream_ns: u64,
}

impl CpuUse {
    fn us(&self, ns: u64) -> f64 {
        ns as f64 / 1000.0 / self.calls as f64
    }
    fn total_ns(&self) -> u64 {
        self.client_ns + self.hub_ns.unwrap_or(0) + self.upstream_ns
    }
    /// Share of all CPUs busy in the three processes during the run.
    fn busy(&self, cpus: usize) -> f64 {
        self.total_ns() as f64 / 1e9 / (self.wall_s * cpus.max(1) as f64)
    }
    fn json(&self, cpus: usize) -> Value {
        json!({
            "calls": self.calls,
            "wall_s": self.wall_s,
            "client_us_per_call": self.us(self.client_ns),
            "hub_us_per_call": self.hub_ns.map(|n| self.us(n)),
            "upstream_us_per_call": self.us(self.upstream_ns),
            "total_us_per_call": self.us(self.total_ns()),
            "cpus_busy_share": self.busy(cpus),
        })
    }
}

/// Snapshot of the hub's and the upstream's CPU time at the start of a run.
struct CpuProbe {
    hub: Option<(u32, u64)>,
    upstream: (u32, u64),
    t0: Instant,
}

impl CpuProbe {
    fn start(hub: Option<u32>, upstream: u32) -> Self {
        CpuProbe {
            hub: hub.map(|p| (p, cpu_ns(p))),
            upstream: (upstream, cpu_ns(upstream)),
            t0: Instant::now(),
        }
    }
    fn finish(self, calls: usize, client_ns: u64) -> CpuUse {
        CpuUse {
            calls,
            wall_s: self.t0.elapsed().as_secs_f64(),
            client_ns,
            hub_ns: self.hub.map(|(p, c)| cpu_ns(p).saturating_sub(c)),
            upstream_ns: cpu_ns(self.upstream.0).saturating_sub(self.upstream.1),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP: a minimal blocking HTTP/1.1 keep-alive client (one request in flight per
// connection, Content-Length bodies), so the numbers are the hub's, not an HTTP library's.

const HTTP_CONNS: usize = 64;
const SESSIONS: usize = 500;
const HTTP_IO_TIMEOUT: Duration = Duration::from_secs(30);
const STATELESS: &str = "2026-07-28";
const HUB_TOOL: &str = "demo__echo";
const TARGET_ADDED_P50_US: f64 = 120.0;
const TARGET_CALLS_PER_S: f64 = 20_000.0;
const TARGET_KIB_PER_SESSION: f64 = 30.0;

fn session_headers(sid: &str) -> String {
    format!("Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {PROTOCOL}\r\n")
}

fn stateless_headers(tool: &str) -> String {
    format!("Mcp-Method: tools/call\r\nMcp-Name: {tool}\r\nMCP-Protocol-Version: {STATELESS}\r\n")
}

fn http_call_body(id: u64, tool: &str, stateless: bool) -> String {
    if stateless {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{MESSAGE}"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{STATELESS}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        )
    } else {
        call_line(id, tool)
    }
}

/// POST `initialize`; the new session's id.
fn http_initialize(conn: &mut Http) -> Result<String> {
    let body = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "forward-bench", "version": "0.1.0"}
        }
    })
    .to_string();
    let r = conn.post("", &body)?;
    if r.status != 200 {
        bail!(
            "initialize over HTTP: status {} body {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    r.session
        .ok_or_else(|| anyhow!("initialize over HTTP: no Mcp-Session-Id header"))
}

fn http_delete(conn: &mut Http, sid: &str) -> Result<u16> {
    Ok(conn.exchange("DELETE", &session_headers(sid), "")?.status)
}

/// Sends one echo call; the answer must be plain JSON (no SSE) with the right id and text.
fn http_call(conn: &mut Http, headers: &str, id: u64, tool: &str, stateless: bool) -> Result<()> {
    let body = http_call_body(id, tool, stateless);
    let r = conn.post(headers, &body)?;
    check_http_echo(&r, id)
}

fn check_http_echo(r: &Reply, id: u64) -> Result<()> {
    if r.status != 200 || !r.content_type.starts_with("application/json") {
        bail!(
            "tools/call over HTTP: status {} ({}) body {}",
            r.status,
            r.content_type,
            String::from_utf8_lossy(&r.body)
        );
    }
    let msg: Value = serde_json::from_slice(&r.body)?;
    if msg["id"].as_u64() != Some(id) {
        bail!("tools/call over HTTP: answer for another id: {msg}");
    }
    check_echo(&msg)
}

/// Sequential calls on one keep-alive connection (the timed part is write → parsed reply,
/// as on the stdio path); the hub's and the upstream's CPU over the timed calls.
fn http_latency(
    conn: &mut Http,
    headers: &str,
    stateless: bool,
    hub: u32,
    upstream: u32,
) -> Result<(Latency, CpuUse)> {
    timed_calls(Some(hub), upstream, |i| {
        let id = i as u64 + 1;
        let body = http_call_body(id, HUB_TOOL, stateless);
        let t0 = Instant::now();
        let r = conn.post(headers, &body)?;
        check_http_echo(&r, id)?; // JSON parse inside the timing, as on the stdio path
        Ok(t0.elapsed())
    })
}

/// `PIPE_CALLS` calls over `HTTP_CONNS` keep-alive connections, one request in flight on
/// each (HTTP/1.1 has no multiplexing); returns calls/s and CPU use.
fn http_throughput(
    addr: std::net::SocketAddr,
    headers: &str,
    stateless: bool,
    hub: u32,
    upstream: u32,
) -> Result<(f64, CpuUse)> {
    let mut conns = Vec::with_capacity(HTTP_CONNS);
    for i in 0..HTTP_CONNS {
        let mut c = Http::connect(addr, HTTP_IO_TIMEOUT)?;
        http_call(&mut c, headers, i as u64, HUB_TOOL, stateless)?; // warm the connection
        conns.push(c);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = std::sync::Barrier::new(HTTP_CONNS + 1);
    let first_id = 1_000_000u64;
    let (results, probe) = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .map(|mut c| {
                let (next, start) = (&next, &start);
                s.spawn(move || -> Result<u64> {
                    start.wait();
                    let c0 = thread_cpu_ns();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= PIPE_CALLS {
                            break;
                        }
                        if let Err(e) =
                            http_call(&mut c, headers, first_id + i as u64, HUB_TOOL, stateless)
                        {
                            next.store(usize::MAX / 2, std::sync::atomic::Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(thread_cpu_ns() - c0)
                })
            })
            .collect();
        let probe = CpuProbe::start(Some(hub), upstream);
        start.wait();
        let results: Vec<Result<u64>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("HTTP client thread panicked")))
            })
            .collect();
        (results, probe)
    });
    let mut client_ns = 0;
    for r in results {
        client_ns += r?;
    }
    let cpu = probe.finish(PIPE_CALLS, client_ns);
    Ok((PIPE_CALLS as f64 / cpu.wall_s, cpu))
}

#[derive(Clone, Copy, Debug)]
struct SessionMemory {
    before_kib: u64,
    after_kib: u64,
    after_delete_kib: Option<u64>,
    per_session_kib: f64,
    open_ms: f64,
    deleted: usize,
}

/// Hub VmRSS before and after `SESSIONS` idle Streamable HTTP sessions (initialize only, all
/// over one keep-alive connection, then 1 s idle); then DELETEs them.
fn session_memory(hub_pid: u32, addr: std::net::SocketAddr) -> Result<SessionMemory> {
    let mut conn = Http::connect(addr, HTTP_IO_TIMEOUT)?;
    // One session with a call, closed again: one-time allocations are not counted per session.
    let sid = http_initialize(&mut conn)?;
    http_call(&mut conn, &session_headers(&sid), 1, HUB_TOOL, false)?;
    http_delete(&mut conn, &sid)?;
    std::thread::sleep(Duration::from_secs(1));
    let before_kib = rss_kib(hub_pid).ok_or_else(|| anyhow!("no VmRSS for the HTTP hub"))?;
    let t0 = Instant::now();
    let mut sids = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        sids.push(http_initialize(&mut conn)?);
    }
    let open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(1));
    let after_kib = rss_kib(hub_pid).ok_or_else(|| anyhow!("no VmRSS for the HTTP hub"))?;
    let mut deleted = 0;
    for sid in &sids {
        if http_delete(&mut conn, sid)? == 200 {
            deleted += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    Ok(SessionMemory {
        before_kib,
        after_kib,
        after_delete_kib: rss_kib(hub_pid),
        per_session_kib: (after_kib as f64 - before_kib as f64) / SESSIONS as f64,
        open_ms,
        deleted,
    })
}

/// `mcp-hub serve --listen 127.0.0.1:0`; waits (bounded) for its `listening on` line.
fn spawn_serve_hub(
    hub: &Path,
    config: &Path,
    log: &Path,
    registry: &Registry,
) -> Result<(Server, std::net::SocketAddr)> {
    let mut cmd = Command::new(hub);
    cmd.arg("--config")
        .arg(config)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let mut s = Server::spawn("hub-http", cmd, log, registry)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = text.lines().find_map(|l| ready_addr(&strip_ansi(l))) {
            return Ok((s, addr));
        }
        if let Ok(Some(st)) = s.child.try_wait() {
            bail!("mcp-hub serve exited ({st}) before listening:\n{text}");
        }
        if Instant::now() > deadline {
            bail!("mcp-hub serve did not log `listening on` within 30 s:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------

fn build(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("forward bench: cargo build --release --bin mcp-hub --example demo_server");
    let mut child = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "mcp-hub",
            "--example",
            "demo_server",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .spawn()
        .context("running cargo build")?;
    let deadline = Instant::now() + BUILD_DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("cargo build failed: {status}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("cargo build took longer than {BUILD_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `extra`: more TOML for the top of the file (e.g. a `[hub.http]` table).
fn hub_config(
    dir: &Path,
    file: &str,
    demo: &Path,
    servers: &[&str],
    extra: &str,
) -> Result<PathBuf> {
    let mut toml = format!("[hub]\nshutdown_grace = \"1s\"\n{extra}\n[tenants.default]\n");
    for name in servers {
        toml.push_str(&format!(
            "[tenants.default.servers.{name}]\ncommand = {}\n",
            toml_string(&demo.display().to_string())
        ));
    }
    let path = dir.join(file);
    std::fs::write(&path, toml)?;
    Ok(path)
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap() // a JSON string is a valid TOML basic string
}

fn spawn_hub(hub: &Path, config: &Path, log: &Path, registry: &Registry) -> Result<Server> {
    let mut cmd = Command::new(hub);
    cmd.arg("--config").arg(config).arg("stdio");
    let mut s = Server::spawn("hub", cmd, log, registry)?;
    s.initialize()?;
    Ok(s)
}

fn spawn_direct(demo: &Path, log: &Path, registry: &Registry) -> Result<Server> {
    let mut s = Server::spawn("direct", Command::new(demo), log, registry)?;
    s.initialize()?;
    Ok(s)
}

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

    let (direct_pid, hub_pid) = (direct.pid, hub.pid);
    eprintln!("forward bench: sequential latency ({WARMUP} warm-up + {SEQ_CALLS} calls each)");
    let (lat_direct, cpu_lat_direct) = latency(&mut direct, "echo", None, direct_pid)?;
    let (lat_hub, cpu_lat_hub) = latency(&mut hub, HUB_TOOL, Some(hub_pid), hub_upstream)?;
    eprintln!("forward bench: pipelined throughput ({PIPE_CALLS} calls, {IN_FLIGHT} in flight)");
    let (tp_direct, cpu_tp_direct) = throughput(&mut direct, "echo", None, direct_pid)?;
    let (tp_hub, cpu_tp_hub) = throughput(&mut hub, HUB_TOOL, Some(hub_pid), hub_upstream)?;
    let hub_rss_after_load = rss_kib(hub.pid);
    let upstream_rss = rss_kib(hub_upstream);
    direct.stop(Duration::from_secs(3));
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
    for (name, a50, a99, amean) in [
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
    println!();
    println!("throughput, {PIPE_CALLS} calls (calls/s)");
    println!(
        "  {:<34}{:>12.0}",
        format!("direct, {IN_FLIGHT} pipelined"),
        tp_direct
    );
    println!(
        "  {:<34}{:>12.0}",
        format!("hub stdio, {IN_FLIGHT} pipelined"),
        tp_hub
    );
    println!("  {:<34}{:>12.3}", "hub stdio / direct", ratio);
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
        "  http: after DELETE of {}/{SESSIONS}: {} KiB; after the HTTP load: {} KiB",
        mem.deleted,
        mem.after_delete_kib.map_or("?".into(), |k| k.to_string()),
        http_rss_after_load.map_or("?".into(), |k| k.to_string()),
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
            "hub": lat_json(&lat_hub),
            "added_per_hop": {"p50": add_p50, "p99": add_p99, "mean": lat_hub.mean_us - lat_direct.mean_us},
        },
        "throughput_calls_per_s": {
            "calls": PIPE_CALLS,
            "in_flight": IN_FLIGHT,
            "direct": tp_direct,
            "hub": tp_hub,
            "ratio_hub_over_direct": ratio,
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
                "hub_stdio": cpu_lat_hub.json(cpus),
                "hub_http_session": cpu_lat_http.json(cpus),
                "hub_http_stateless": cpu_lat_sl.json(cpus),
            },
            "throughput": {
                "direct": cpu_tp_direct.json(cpus),
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
                "hub_rss_after_http_load": http_rss_after_load,
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
