//! The real MCP SDK clients of tests/clients/ (Python mcp 1.x/2.x, TypeScript SDK 1.x/2.x), the
//! MCP Inspector CLI, and server-everything in its HTTP modes (the direct baselines), each run
//! with a bound and in its own process group.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::deps::{path_str, repo_root, Deps, HUB_BIN};
use super::proc::{port_open, run_bounded, run_bounded_env, tail, Proc};

/// Default bound on one client run (the client gets this; the harness kills 5 s later).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

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

// ------------------------------------------------------------------ callback clients

/// The clients whose sampling, elicitation and roots callbacks answer deterministically
/// (tests/clients/py_callbacks.py, tests/clients/ts_callbacks.mjs).
#[derive(Clone, Copy, Debug)]
pub enum CallbackClient {
    /// Python mcp 2.x with `--mode auto|legacy|2026`.
    Py2(&'static str),
    Py1,
    Ts1,
}

impl CallbackClient {
    fn command(self, deps: &Deps) -> (PathBuf, Vec<String>) {
        let clients = repo_root().join("tests/clients");
        let (program, script, mode) = match self {
            CallbackClient::Py2(m) => (deps.py2(), "py_callbacks.py", Some(m)),
            CallbackClient::Py1 => (deps.py1(), "py_callbacks.py", None),
            CallbackClient::Ts1 => (deps.node(), "ts_callbacks.mjs", None),
        };
        let mut args = vec![path_str(&clients.join(script))];
        if let Some(m) = mode {
            args.extend(["--mode".to_string(), m.to_string()]);
        }
        (program, args)
    }
}

/// Where a callback client reaches the hub.
pub enum Target<'a> {
    /// `mcp-hub --config CONFIG stdio`, run by the client.
    Stdio(&'a Path),
    /// An HTTP endpoint and `http` or `sse`.
    Url(String, &'static str),
}

/// What a callback client printed.
pub struct CallbackRun {
    pub out: Value,
    /// The client's stderr (over stdio it includes the hub's log, at debug level).
    pub stderr: String,
}

/// Bound on one callback-client run (the client's own bound is 5 s shorter).
pub const CALLBACK_LIMIT: Duration = Duration::from_secs(30);

/// Runs a callback client to completion within [`CALLBACK_LIMIT`] (its process group is killed
/// after that) with `RUST_LOG=mcp_hub=debug`, and parses the one JSON object it prints; panics
/// with its stderr when it fails.
pub fn run_callbacks(client: CallbackClient, target: &Target, args: &[&str]) -> CallbackRun {
    let deps = Deps::get();
    let (program, mut argv) = client.command(&deps);
    argv.extend([
        "--timeout".to_string(),
        (CALLBACK_LIMIT.as_secs() - 5).to_string(),
    ]);
    argv.extend(args.iter().map(|s| s.to_string()));
    match target {
        Target::Stdio(cfg) => {
            argv.extend(["--".into(), HUB_BIN.into(), "--config".into()]);
            argv.extend([path_str(cfg), "stdio".into()]);
        }
        Target::Url(url, transport) => {
            argv.extend(["--url".into(), url.clone(), "--transport".into()]);
            argv.push(transport.to_string());
        }
    }
    let out = run_bounded_env(
        &program,
        &argv,
        &[("RUST_LOG", "mcp_hub=debug")],
        CALLBACK_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{client:?}: {e:#}"));
    let (text, stderr) = (out.stdout, out.stderr);
    assert!(
        out.status.success(),
        "{client:?} failed ({}); stdout: {text}\nstderr:\n{stderr}",
        out.status
    );
    let out = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{client:?} printed no JSON ({e}): {text}\nstderr:\n{stderr}"));
    CallbackRun { out, stderr }
}

// ------------------------------------------------------------------ server-everything over HTTP

/// server-everything in one of its HTTP modes on a loopback port (bound to 127.0.0.1 only, by
/// the `tests/harness/loopback.cjs` preload), for direct baselines and remote upstreams. Paths:
/// `streamableHttp` serves `/mcp`; `sse` serves `GET /sse` and `POST /message?sessionId=…`.
/// Stopped (its process group) when dropped.
pub struct EverythingHttp {
    pub proc: Proc,
    pub port: u16,
}

impl EverythingHttp {
    /// `mode`: `"streamableHttp"` or `"sse"`, on a free port.
    pub fn start(mode: &str) -> EverythingHttp {
        Self::start_on(mode, super::proc::free_port())
    }

    /// On `port` (a remote that comes back on the same address).
    pub fn start_on(mode: &str, port: u16) -> EverythingHttp {
        let deps = Deps::get();
        let preload = repo_root().join("tests/harness/loopback.cjs");
        let mut cmd = Command::new(deps.node());
        cmd.arg(deps.everything())
            .arg(mode)
            .env("PORT", port.to_string())
            .env("NODE_OPTIONS", format!("--require {}", path_str(&preload)))
            .stdin(Stdio::null());
        let mut proc = Proc::spawn(&format!("server-everything {mode}"), cmd, |_| {})
            .unwrap_or_else(|e| panic!("{e:#}"));
        proc.grace = Duration::from_secs(3);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !port_open(port) {
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!(
                    "server-everything {mode} exited ({status})\n{}",
                    tail(&proc.log(), 30)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "server-everything {mode} did not listen on 127.0.0.1:{port} within 20 s\n{}",
                    tail(&proc.log(), 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        EverythingHttp { proc, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn log(&self) -> String {
        self.proc.log()
    }
    /// Ends it at once (a remote that dies).
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}

/// Runs `client` with `args` against `mcp-hub stdio` on `config`'s default tenant.
pub fn run_stdio(client: Client, config: &super::hub::Config, args: &[&str]) -> Result<Value> {
    run_client(client, args, &config.stdio_cmd("default"), CLIENT_TIMEOUT)
}
