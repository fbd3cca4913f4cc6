//! The hub under test, as a user runs it: a `hub.toml` written from a template ([`Config`]),
//! `mcp-hub stdio` driven by a raw JSON-RPC client ([`StdioHub`]), `mcp-hub serve` on a loopback
//! port read from its ready line ([`ServedHub`]), and one-shot CLI runs ([`run_hub`]).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tempfile::TempDir;

use super::deps::{path_str, placeholder, HUB_BIN};
use super::http::{http_request, HttpResponse};
use super::proc::{run_command, stop_group, tail, Output, Proc};

/// Protocol revisions with the `initialize` handshake, and the stateless one.
pub const HANDSHAKE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
pub const MODERN_VERSION: &str = "2026-07-28";

/// The `_meta` of a 2026-07-28 request.
pub fn meta26() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"raw26","version":"1"}})
}

// ------------------------------------------------------------------ config

/// A hub configuration in a fresh temp dir (`<tmp>/hub.toml`); the dir is removed on drop.
pub struct Config {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl Config {
    /// Writes `<tmp>/hub.toml` from `template`, replacing these placeholders (use them inside TOML
    /// strings; values are TOML-escaped): `@NODE@`, `@EVERYTHING@`, `@MEMORY@`, `@FILESYSTEM@`,
    /// `@PY2@`, `@TIME@`, `@GIT@` (peers from .test-deps, looked up only when named), `@DEMO@`,
    /// `@FAULT@` (the example servers), `@EXAMPLES@` (their folder), `@TMP@` (the temp dir).
    pub fn new(template: &str) -> Config {
        let dir = tempfile::Builder::new()
            .prefix("mcp-hub-test-")
            .tempdir()
            .expect("create temp dir");
        let text = fill_template(template, dir.path());
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, text).expect("write hub.toml");
        Config { dir, path }
    }

    /// The temp dir (what `@TMP@` names).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `mcp-hub --config <tmp>/hub.toml stdio --tenant <tenant>`.
    pub fn stdio_cmd(&self, tenant: &str) -> Vec<String> {
        vec![
            HUB_BIN.to_owned(),
            "--config".into(),
            path_str(&self.path),
            "stdio".into(),
            "--tenant".into(),
            tenant.into(),
        ]
    }
}

/// `template` with every `@NAME@` placeholder filled (see [`Config::new`]); panics on an unknown one.
pub fn fill_template(template: &str, tmp: &Path) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('@') {
            let name = &rest[i..i + len + 2];
            let value = match name {
                "@TMP@" => tmp.to_path_buf(),
                _ => placeholder(name)
                    .unwrap_or_else(|| panic!("hub.toml template: unknown placeholder `{name}`")),
            };
            out.push_str(&toml_escape(&path_str(&value)));
            rest = &rest[i + len + 2..];
        } else {
            out.push('@');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

// ------------------------------------------------------------------ one-shot CLI runs

/// Runs `mcp-hub --config <config> args…` with `stdin` piped in and `RUST_LOG` unset, killed
/// (its process group) after `limit`; panics then, with its stderr.
pub fn run_hub(config: &Path, args: &[&str], stdin: &str, limit: Duration) -> Output {
    let mut cmd = Command::new(HUB_BIN);
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG");
    run_command(cmd, stdin.as_bytes(), limit)
        .unwrap_or_else(|e| panic!("`mcp-hub {}`: {e:#}", args.join(" ")))
}

/// [`run_hub`] with `env` set, no stdin.
pub fn run_hub_env(config: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(HUB_BIN);
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied());
    run_command(cmd, b"", limit).unwrap_or_else(|e| panic!("`mcp-hub {}`: {e:#}", args.join(" ")))
}

// ------------------------------------------------------------------ stdio

/// `mcp-hub --config <tmp>/hub.toml stdio` with a raw JSON-RPC client on its stdin/stdout; its
/// log (`RUST_LOG=info`) goes to `<tmp>/hub.log`. Dropping it closes stdin (the hub stops its
/// upstreams) and stops the process group (SIGTERM, 10 s, SIGKILL).
pub struct StdioHub {
    child: Child,
    stdin: Option<ChildStdin>,
    pub rx: mpsc::Receiver<Value>,
    next: u64,
    /// Messages seen while waiting for answers (notifications, server requests, other answers).
    pub notes: Vec<Value>,
    pub config: Config,
    /// The temp dir (what `@TMP@` names).
    pub dir: PathBuf,
}

/// How long [`StdioHub::request`] waits for an answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

impl StdioHub {
    /// Starts the hub and completes an `initialize` handshake (2025-11-25, with sampling).
    pub fn start(toml: &str) -> Self {
        let mut hub = Self::start_uninitialized(toml);
        let init = hub.request("initialize", json!({"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"faults","version":"1"}}));
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
        hub.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        hub
    }

    /// [`StdioHub::start`] with more arguments to `stdio` (`--health-listen ADDR`).
    pub fn start_args(toml: &str, args: &[&str]) -> Self {
        let mut hub = Self::start_uninitialized_args(toml, args);
        let init = hub.request("initialize", json!({"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"faults","version":"1"}}));
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
        hub.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        hub
    }

    /// A hub whose client has not sent `initialize` (a 2026-07-28 client never does).
    pub fn start_uninitialized(toml: &str) -> Self {
        Self::start_uninitialized_with(toml, &[])
    }

    /// [`StdioHub::start`] with more arguments for `stdio` (e.g. `--listen 127.0.0.1:PORT`, which
    /// also serves the admin API).
    pub fn start_with(toml: &str, args: &[&str]) -> Self {
        let mut hub = Self::start_uninitialized_with(toml, args);
        let init = hub.request("initialize", json!({"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"faults","version":"1"}}));
        assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
        hub.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        hub
    }

    fn start_uninitialized_args(toml: &str, args: &[&str]) -> Self {
        Self::start_uninitialized_with(toml, args)
    }

    fn start_uninitialized_with(toml: &str, args: &[&str]) -> Self {
        let config = Config::new(toml);
        let dir = config.dir().to_path_buf();
        let mut child = Command::new(HUB_BIN)
            .args(["--config", &path_str(&config.path), "stdio"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("hub.log")).expect("create hub.log"))
            .process_group(0)
            .spawn()
            .expect("spawn mcp-hub stdio");
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
        StdioHub {
            child,
            stdin,
            rx,
            next: 100,
            notes: Vec::new(),
            config,
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the hub is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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

    /// The next message from the hub (a kept note first), within `limit`.
    pub fn recv(&mut self, limit: Duration) -> Option<Value> {
        if !self.notes.is_empty() {
            return Some(self.notes.remove(0));
        }
        self.rx.recv_timeout(limit).ok()
    }

    /// The answer to `id` within `limit`; other messages are kept in [`StdioHub::notes`].
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

    /// Every message from the hub until the answer to `id` (within 20 s), that answer last.
    pub fn until(&mut self, id: u64) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let m = self.recv(ANSWER_TIMEOUT).unwrap_or_else(|| {
                panic!("an answer to {id} within 20 s; hub log:\n{}", self.log())
            });
            let done = m["id"] == id && m.get("method").is_none();
            seen.push(m);
            if done {
                return seen;
            }
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.wait_for(&json!(id), ANSWER_TIMEOUT)
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

    /// Closes stdin and waits (up to 20 s) for the hub to exit.
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

impl Drop for StdioHub {
    fn drop(&mut self) {
        // Close stdin: the hub stops its upstreams (a SIGKILLed hub could not, and an upstream
        // with timers running, like server-everything, would outlive it).
        drop(self.stdin.take());
        stop_group(&mut self.child, Duration::from_secs(10));
        if std::thread::panicking() {
            eprintln!(
                "--- mcp-hub stdio (pid {}), last 40 lines of its log ---\n{}",
                self.child.id(),
                tail(&self.log(), 40)
            );
        }
    }
}

// ------------------------------------------------------------------ serve

/// How long the hub may take to log its ready line.
pub const HUB_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The address of the hub's ready line, `… mcp-hub listening on http://127.0.0.1:PORT`: only a
/// line that says `listening` counts, and the address is what follows its `http://` (up to a
/// space, `/` or the `"` that ends it in a JSON log line).
pub fn ready_addr(line: &str) -> Option<std::net::SocketAddr> {
    let rest = &line[line.find("listening")?..];
    let rest = &rest[rest.find("http://")? + "http://".len()..];
    let authority: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '/' | '"'))
        .collect();
    authority.parse().ok()
}

/// How to start `mcp-hub serve`.
#[derive(Clone, Debug)]
pub struct ServeOpts {
    /// `--listen` (default `127.0.0.1:0`); `None`: the config's `[hub.http] listen`.
    pub listen: Option<String>,
    /// Extra environment; `RUST_LOG` is unset unless given here.
    pub env: Vec<(String, String)>,
}

impl Default for ServeOpts {
    fn default() -> Self {
        ServeOpts {
            listen: Some("127.0.0.1:0".into()),
            env: Vec::new(),
        }
    }
}

impl ServeOpts {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn listen(mut self, addr: &str) -> Self {
        self.listen = Some(addr.into());
        self
    }
}

/// `mcp-hub --config <tmp>/hub.toml serve --listen 127.0.0.1:0`, running until dropped (SIGTERM
/// to its group, then SIGKILL after 10 s); its port comes from its ready line.
pub struct ServedHub {
    pub config: Config,
    pub proc: Proc,
    pub addr: std::net::SocketAddr,
    pub port: u16,
}

impl ServedHub {
    /// Starts the hub on `config`; panics (with the hub's log) when it does not log its ready
    /// line within [`HUB_START_TIMEOUT`].
    pub fn start(config: Config) -> ServedHub {
        Self::start_opts(config, ServeOpts::default())
    }

    /// [`ServedHub::start`] from a template (see [`Config::new`]).
    pub fn from_toml(template: &str) -> ServedHub {
        Self::start(Config::new(template))
    }

    pub fn start_opts(config: Config, opts: ServeOpts) -> ServedHub {
        Self::try_start(config, opts).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn try_start(config: Config, opts: ServeOpts) -> Result<ServedHub> {
        let mut cmd = Command::new(HUB_BIN);
        cmd.args(["--config", &path_str(&config.path), "serve"]);
        if let Some(listen) = &opts.listen {
            cmd.args(["--listen", listen]);
        }
        cmd.env_remove("RUST_LOG").stdin(Stdio::null());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let (tx, rx) = mpsc::channel();
        let mut proc = Proc::spawn("mcp-hub serve", cmd, move |line| {
            if let Some(addr) = ready_addr(line) {
                let _ = tx.send(addr);
            }
        })?;
        let deadline = Instant::now() + HUB_START_TIMEOUT;
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                break addr;
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // let the log thread finish
                bail!(
                    "mcp-hub serve exited ({status}) before listening\n--- log ---\n{}",
                    tail(&proc.log(), 60)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "mcp-hub serve did not log `mcp-hub listening on http://…` within {:?}\n--- log ---\n{}",
                    HUB_START_TIMEOUT,
                    tail(&proc.log(), 60)
                );
            }
        };
        Ok(ServedHub {
            config,
            proc,
            addr,
            port: addr.port(),
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
    /// The hub's log so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }
    /// The hub process's resident set size in KiB (0 when it is gone).
    pub fn rss_kib(&self) -> u64 {
        super::proc::rss_kib(self.pid()).unwrap_or(0)
    }
    /// Whether the hub is still running.
    pub fn running(&mut self) -> bool {
        self.proc.running()
    }
    /// A raw HTTP request to this hub (see [`http_request`]).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse> {
        http_request(self.port, method, path, headers, body)
    }
    /// GET /health: (status code, JSON body).
    pub fn health(&self) -> Result<(u16, Value)> {
        let r = self.request("GET", "/health", &[], b"")?;
        let v = serde_json::from_str(&r.body)
            .with_context(|| format!("/health body is not JSON: {}", r.body))
            .map_err(|e| anyhow!("{e:#}"))?;
        Ok((r.status, v))
    }
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

/// `mcp-hub serve` on a free loopback port from a `hub.toml` template, with `env` added.
pub fn serve_hub(template: &str, env: &[(&str, &str)]) -> ServedHub {
    let mut opts = ServeOpts::default();
    for (k, v) in env {
        opts = opts.env(k, v);
    }
    ServedHub::start_opts(Config::new(template), opts)
}
