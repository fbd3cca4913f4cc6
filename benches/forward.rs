//! Forwarding overhead of the hub: `cargo bench --bench forward`.
//!
//! Measures, in one run and against the same upstream (`examples/demo_server`):
//! 1. sequential `tools/call echo` latency, DIRECT (bench ↔ demo_server) vs HUB
//!    (bench ↔ mcp-hub stdio ↔ demo_server): p50 / p99 / mean, and the added latency per hop;
//! 2. throughput with 64 calls in flight (pipelined, matched by id), direct vs hub;
//! 3. idle RSS of the hub fronting three demo_server upstreams, after a `tools/list` and 1 s.
//!
//! The client is plain newline-delimited JSON-RPC over pipes (std threads + serde_json), so
//! the numbers are the servers', not a client library's. Results go to stdout and to
//! `target/bench-forward.json`. Every child is killed by pid at the end; a watchdog bounds
//! the whole run.
#![allow(clippy::print_stdout)]

use std::{
    collections::HashSet,
    io::{BufRead, BufReader, BufWriter, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
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
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; treat it as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Direct children of `pid`, from /proc/*/stat.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
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
            kill_pid(self.pid, nix::sys::signal::Signal::SIGTERM);
            if !self.exits_within(Duration::from_secs(2)) {
                eprintln!(
                    "forward bench: {} (pid {}) ignored SIGTERM; SIGKILL",
                    self.label, self.pid
                );
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        // The hub's upstreams should have been stopped by the hub; make sure.
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

fn latency(server: &mut Server, tool: &str) -> Result<Latency> {
    let mut samples = Vec::with_capacity(SEQ_CALLS);
    for i in 0..WARMUP + SEQ_CALLS {
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
        if i >= WARMUP {
            samples.push(dt.as_nanos() as f64 / 1000.0);
        }
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct =
        |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1];
    Ok(Latency {
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        mean_us: samples.iter().sum::<f64>() / samples.len() as f64,
        max_us: *samples.last().unwrap(),
    })
}

/// `PIPE_CALLS` calls with `IN_FLIGHT` outstanding; returns calls/s.
fn throughput(server: &mut Server, tool: &str) -> Result<f64> {
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
    let t0 = Instant::now();
    let (result, stdin, stdout) = std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<BufWriter<ChildStdin>> {
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
            Ok(stdin)
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
    let elapsed = t0.elapsed();
    server.stdout = Some(stdout);
    match stdin {
        Ok(w) => server.stdin = Some(w),
        Err(e) if result.is_ok() => return Err(e),
        Err(_) => {}
    }
    result?;
    Ok(PIPE_CALLS as f64 / elapsed.as_secs_f64())
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

fn hub_config(dir: &Path, demo: &Path, servers: &[&str]) -> Result<PathBuf> {
    let mut toml = String::from("[hub]\nshutdown_grace = \"1s\"\n\n[tenants.default]\n");
    for name in servers {
        toml.push_str(&format!(
            "[tenants.default.servers.{name}]\ncommand = {}\n",
            toml_string(&demo.display().to_string())
        ));
    }
    let path = dir.join(format!("hub-{}.toml", servers.len()));
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
    let config1 = hub_config(tmp.path(), &demo_bin, &["demo"])?;
    let hub_log = tmp.path().join("hub1.stderr");
    let mut hub = spawn_hub(&hub_bin, &config1, &hub_log, &registry)?;
    let tools = hub.tool_names()?;
    if !tools.iter().any(|t| t == "demo__echo") {
        bail!("hub does not list demo__echo; tools: {tools:?}");
    }
    hub.adopt_children();

    eprintln!("forward bench: sequential latency ({WARMUP} warm-up + {SEQ_CALLS} calls each)");
    let lat_direct = latency(&mut direct, "echo")?;
    let lat_hub = latency(&mut hub, "demo__echo")?;
    eprintln!("forward bench: pipelined throughput ({PIPE_CALLS} calls, {IN_FLIGHT} in flight)");
    let tp_direct = throughput(&mut direct, "echo")?;
    let tp_hub = throughput(&mut hub, "demo__echo")?;
    let hub_rss_after_load = rss_kib(hub.pid);
    let upstream_rss = hub.descendants.first().and_then(|p| rss_kib(*p));
    direct.stop(Duration::from_secs(3));
    hub.stop(Duration::from_secs(5));
    let hub_log_bytes = std::fs::metadata(&hub_log).map(|m| m.len()).unwrap_or(0);

    // --- 3: idle RSS with three upstreams ---------------------------------------------------
    let config3 = hub_config(tmp.path(), &demo_bin, &["demo1", "demo2", "demo3"])?;
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
    println!();
    println!("mcp-hub forward benchmark  (tools/call echo, {cpus} CPUs)");
    println!("{}", "-".repeat(72));
    println!("sequential latency, {SEQ_CALLS} calls after {WARMUP} warm-up (µs)");
    println!(
        "  {:<16}{:>10}{:>10}{:>10}{:>10}",
        "path", "p50", "p99", "mean", "max"
    );
    for (name, l) in [("direct", lat_direct), ("through hub", lat_hub)] {
        println!(
            "  {:<16}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
            name, l.p50_us, l.p99_us, l.mean_us, l.max_us
        );
    }
    println!(
        "  {:<16}{:>10.1}{:>10.1}{:>10.1}",
        "added per hop",
        add_p50,
        add_p99,
        lat_hub.mean_us - lat_direct.mean_us
    );
    println!();
    println!("throughput, {PIPE_CALLS} calls, {IN_FLIGHT} in flight (calls/s)");
    println!("  {:<16}{:>12.0}", "direct", tp_direct);
    println!("  {:<16}{:>12.0}", "through hub", tp_hub);
    println!("  {:<16}{:>12.3}", "hub / direct", ratio);
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
    println!("{}", "-".repeat(72));
    println!(
        "hub stderr during the latency/throughput runs: {hub_log_bytes} bytes; run took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let report = json!({
        "benchmark": "forward",
        "cpus": cpus,
        "tool": "echo",
        "latency_us": {
            "warmup_calls": WARMUP,
            "calls": SEQ_CALLS,
            "direct": {"p50": lat_direct.p50_us, "p99": lat_direct.p99_us, "mean": lat_direct.mean_us, "max": lat_direct.max_us},
            "hub": {"p50": lat_hub.p50_us, "p99": lat_hub.p99_us, "mean": lat_hub.mean_us, "max": lat_hub.max_us},
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
        "hub_stderr_bytes": hub_log_bytes,
        "leftover_pids": leftovers,
    });
    let out = target.join("bench-forward.json");
    std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("wrote {}", out.display());
    Ok(())
}
