//! Stdio upstreams: a child process in its own process group, newline-delimited JSON on its
//! stdin/stdout, stderr drained into the hub's log, and a stop that leaves nothing behind.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::orphans::GroupRecord;
use super::UpstreamError;
use crate::config::{ServerConfig, TenantId, ENV_ALLOW_LIST, ENV_DEFAULT_PASSTHROUGH};
use crate::mux::{truncate, CloseGuard, Conn};
use crate::sync::LockExt;

/// Longest line accepted from an upstream (the same ceiling as rmcp's stdio transport).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// How many of the last stderr lines are kept to explain a failed start, and how long each may be.
const STDERR_TAIL_LINES: usize = 5;
const STDERR_LINE_MAX: usize = 300;

/// The last lines a process wrote to stderr, and whether its stderr has ended.
#[derive(Default)]
pub(super) struct StderrTail {
    lines: std::sync::Mutex<std::collections::VecDeque<String>>,
    ended: tokio::sync::Notify,
    ended_flag: std::sync::atomic::AtomicBool,
}

impl StderrTail {
    pub(super) fn push(&self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let mut lines = self.lines.locked();
        if lines.len() == STDERR_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(truncate(line, STDERR_LINE_MAX).to_string());
    }

    pub(super) fn end(&self) {
        self.ended_flag
            .store(true, std::sync::atomic::Ordering::Release);
        self.ended.notify_waiters();
    }

    /// The last lines joined with ` | `, once the stream has ended (or after `wait`).
    pub(super) async fn tail(&self, wait: Duration) -> Option<String> {
        let ended = self.ended.notified();
        if !self.ended_flag.load(std::sync::atomic::Ordering::Acquire) {
            let _ = tokio::time::timeout(wait, ended).await;
        }
        let lines = self.lines.locked();
        (!lines.is_empty()).then(|| lines.iter().cloned().collect::<Vec<_>>().join(" | "))
    }
}

/// A running child process behind a connection.
pub struct StdioLink {
    stderr: Arc<StderrTail>,
    pgid: Pid,
    stop_writer: CancellationToken,
    exit: watch::Receiver<Option<String>>,
    /// The process's exit code, once it has exited (`None` inside: killed by a signal).
    exit_code: Arc<std::sync::OnceLock<Option<i32>>>,
    /// The group's record in the state folder (for a later hub, should this one be SIGKILLed).
    record: Option<GroupRecord>,
    /// Closed (with the reason) by the reader or the writer when either ends, panics included.
    conn: Arc<Conn>,
}

/// The environment an upstream starts with: the allow-list and the default pass-through (CA
/// bundles, proxies), then `env_passthrough` (the hub's and the server's), then `env`.
pub fn child_env(
    cfg: &ServerConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for k in ENV_ALLOW_LIST
        .iter()
        .chain(ENV_DEFAULT_PASSTHROUGH)
        .copied()
        .chain(cfg.env_passthrough.iter().map(String::as_str))
    {
        if let Some(v) = lookup(k) {
            env.retain(|(x, _)| x != k);
            env.push((k.to_string(), v));
        }
    }
    for (k, v) in &cfg.env {
        env.retain(|(x, _)| x != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// Starts the process and wires it to `conn`; `outgoing` is the connection's frame queue.
pub fn spawn(
    cfg: &ServerConfig,
    tenant: &TenantId,
    conn: &Arc<Conn>,
    outgoing: crate::mux::Outgoing,
    tasks: &crate::tasks::Tasks,
) -> Result<StdioLink, UpstreamError> {
    let mut cmd = Command::new(&cfg.command);
    cmd.args(&cfg.args)
        .env_clear()
        .envs(child_env(cfg, &|k| std::env::var(k).ok()))
        .current_dir(&cfg.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    die_with_the_hub(&mut cmd);
    let mut child: Child = cmd.spawn().map_err(|e| UpstreamError::Spawn {
        command: cfg.command.clone(),
        reason: e.to_string(),
    })?;
    let pid = child.id().ok_or_else(|| UpstreamError::Spawn {
        command: cfg.command.clone(),
        reason: "exited at once".into(),
    })?;
    let pgid = Pid::from_raw(pid as i32);
    let (stdin, stdout, stderr) =
        match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
            (Some(i), Some(o), Some(e)) => (i, o, e),
            _ => {
                return Err(UpstreamError::Spawn {
                    command: cfg.command.clone(),
                    reason: "no stdio pipes".into(),
                })
            }
        };
    tracing::info!(tenant = %tenant, server = %cfg.name, pid, "started `{}`", cfg.command);
    let record = GroupRecord::create(pgid.as_raw());
    let span =
        tracing::info_span!(parent: None, "upstream", tenant = %tenant, server = %cfg.name, pid);

    let (exit_tx, exit_rx) = watch::channel(None);
    let exit_code = Arc::new(std::sync::OnceLock::new());
    let code_cell = exit_code.clone();
    tasks.spawn(span.clone(), async move {
        let status = match child.wait().await {
            Ok(s) => {
                let _ = code_cell.set(s.code());
                describe_exit(s)
            }
            Err(e) => format!("could not be waited for: {e}"),
        };
        let _ = exit_tx.send(Some(status));
    });

    let stop_writer = tasks.child_token();
    tasks.spawn(
        span.clone(),
        write_loop(
            stdin,
            outgoing,
            stop_writer.clone(),
            conn.clone(),
            exit_rx.clone(),
        ),
    );

    let server = cfg.name.clone();
    let tenant_s = tenant.clone();
    let tail = Arc::new(StderrTail::default());
    let tail2 = tail.clone();
    tasks.spawn(span.clone(), async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!(target: "upstream", tenant = %tenant_s, server = %server, "{}", truncate(&line, 2000));
            tail2.push(&line);
        }
        tail2.end();
    });

    let conn2 = conn.clone();
    let exit_rx2 = exit_rx.clone();
    tasks.spawn(span.clone(), async move {
        // Whatever ends this task (a panic in a hook included) closes the connection.
        let guard = CloseGuard::new(conn2.clone(), "reader");
        let read_err = read_loop(stdout, &conn2).await;
        let reason = match (exit_status(exit_rx2).await, read_err) {
            (Some(s), _) => s,
            (None, Some(e)) => format!("broke its stdout: {e}"),
            (None, None) => "closed its stdout".to_string(),
        };
        conn2.close(reason);
        guard.disarm();
    });

    Ok(StdioLink {
        stderr: tail,
        pgid,
        stop_writer,
        exit: exit_rx,
        exit_code,
        record,
        conn: conn.clone(),
    })
}

/// No parent-death signal outside Linux: the state-folder sweep is all there is.
#[cfg(not(target_os = "linux"))]
fn die_with_the_hub(_: &mut Command) {}

/// Has the kernel send SIGTERM to the child when the hub dies, however it dies (SIGKILL
/// included): `prctl(PR_SET_PDEATHSIG)` between fork and exec. The signal comes when the
/// *thread* that forked exits: upstreams are spawned by supervisor tasks on the runtime's worker
/// threads, which live as long as the hub (never from `spawn_blocking`, whose threads retire).
#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "pre_exec is the only way to run prctl(PR_SET_PDEATHSIG) in the child; reviewed: see SAFETY"
)]
fn die_with_the_hub(cmd: &mut Command) {
    use nix::errno::Errno;
    let hub = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // operations are allowed. It makes two system calls, prctl(2) and getppid(2), which are
    // async-signal-safe; it captures one `Pid` (Copy), allocates nothing, takes no lock, and its
    // errors are `io::Error::from_raw_os_error`, which does not allocate either.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
            // The hub died before prctl took effect: the child was already reparented and no
            // signal will come. Fail the spawn rather than leave an orphan.
            if nix::unistd::getppid() != hub {
                return Err(std::io::Error::from_raw_os_error(Errno::ESRCH as i32));
            }
            Ok(())
        });
    }
}

/// The process usually exits with its stdout or stdin: wait briefly to name the exit status.
async fn exit_status(mut exit: watch::Receiver<Option<String>>) -> Option<String> {
    tokio::time::timeout(Duration::from_millis(500), exit.wait_for(Option::is_some))
        .await
        .ok()
        .and_then(|r| r.ok().map(|s| s.clone()))
        .flatten()
}

/// Writes frames to the child's stdin until the link stops. A write that fails (the child
/// closed its stdin or died) closes the connection: nothing sent from then on could be answered.
async fn write_loop(
    stdin: ChildStdin,
    mut rx: crate::mux::Outgoing,
    stop: CancellationToken,
    conn: Arc<Conn>,
    exit: watch::Receiver<Option<String>>,
) {
    let guard = CloseGuard::new(conn.clone(), "writer");
    let mut w = BufWriter::new(stdin);
    let failed = loop {
        let frame = tokio::select! {
            biased;
            _ = stop.cancelled() => break None,
            f = rx.recv() => match f { Some(f) => f, None => break None },
        };
        let mut res = write_frame(&mut w, &frame).await;
        // Batch whatever else is queued before one flush.
        while res.is_ok() {
            match rx.try_recv() {
                Ok(f) => res = write_frame(&mut w, &f).await,
                Err(_) => break,
            }
        }
        if let Err(e) = res.and(w.flush().await) {
            break Some(e);
        }
    };
    // Dropping the writer closes the child's stdin.
    drop(w);
    if let Some(e) = failed {
        let reason = match exit_status(exit).await {
            Some(s) => s,
            None => format!("broke its stdin: {e}"),
        };
        conn.close(reason);
    }
    guard.disarm();
}

async fn write_frame(w: &mut BufWriter<ChildStdin>, frame: &str) -> std::io::Result<()> {
    w.write_all(frame.as_bytes()).await?;
    w.write_all(b"\n").await
}

/// Reads lines until EOF; returns the read error, if any.
pub(crate) async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    stdout: R,
    conn: &Arc<Conn>,
) -> Option<String> {
    // 16 KiB: a message larger than that takes a few reads; a hub of 100 upstreams keeps
    // 1.6 MiB of these instead of 6.4 MiB.
    let mut r = BufReader::with_capacity(16 * 1024, stdout);
    let mut buf = Vec::with_capacity(4096);
    loop {
        // A large line (a long tool list) does not keep its buffer for the connection's life.
        if buf.capacity() > 16 * 1024 {
            buf = Vec::with_capacity(4096);
        }
        buf.clear();
        let mut limited = (&mut r).take(MAX_LINE as u64 + 1);
        match limited.read_until(b'\n', &mut buf).await {
            Ok(0) => return None,
            Ok(_) if buf.len() > MAX_LINE => {
                tracing::warn!(server = %conn.server, "upstream wrote a line longer than {MAX_LINE} bytes; dropping the connection");
                return Some("wrote a line longer than 16 MiB".into());
            }
            Ok(_) => {
                let line = utf8(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                if !line.trim().is_empty() {
                    conn.handle_incoming(line);
                }
            }
            Err(e) => return Some(e.to_string()),
        }
    }
}

/// A line as text: borrowed when it is valid UTF-8 (the common case, checked at memory speed),
/// else with U+FFFD for each invalid sequence.
pub(crate) fn utf8(buf: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(buf) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(buf),
    }
}

fn describe_exit(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited (code {c})"),
        (None, Some(sig)) => format!("exited (signal {sig})"),
        _ => "exited".to_string(),
    }
}

fn signal_group(pgid: Pid, sig: Signal) -> bool {
    // ESRCH: nobody is left in the group.
    killpg(pgid, sig).is_ok()
}

impl StdioLink {
    /// Resolves with the reason once the connection has closed.
    pub async fn closed(&mut self) -> super::CloseReason {
        self.conn.closed().await;
        super::CloseReason {
            text: self.conn.close_reason().unwrap_or("closed").to_string(),
            exit_code: self.exit_code.get().copied().flatten(),
        }
    }

    /// The last lines of stderr joined with ` | `, once stderr has ended (or after 300 ms).
    pub async fn stderr_tail(&self) -> Option<String> {
        self.stderr.tail(Duration::from_millis(300)).await
    }

    /// The process id of the server (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pgid.as_raw().unsigned_abs()
    }

    /// Whether the process group still has members.
    pub fn group_alive(&self) -> bool {
        killpg(self.pgid, None).is_ok()
    }

    /// Stops the process: close stdin, wait `grace`, SIGTERM the group, wait `grace`, SIGKILL.
    /// Members of the group left behind by the leader (grandchildren) are ended too.
    pub async fn stop(mut self, grace: Duration) {
        self.stop_writer.cancel();
        let exited = |rx: &mut watch::Receiver<Option<String>>, d: Duration| {
            let mut rx = rx.clone();
            async move {
                tokio::time::timeout(d, rx.wait_for(Option::is_some))
                    .await
                    .is_ok()
            }
        };
        if !exited(&mut self.exit, grace).await {
            signal_group(self.pgid, Signal::SIGTERM);
            if !exited(&mut self.exit, grace).await {
                signal_group(self.pgid, Signal::SIGKILL);
                exited(&mut self.exit, Duration::from_secs(2)).await;
            }
        }
        self.sweep_group(grace).await;
    }

    fn forget_group(&self) {
        if let Some(r) = &self.record {
            r.remove();
        }
    }

    /// Ends whatever is left in the process group once the leader is gone.
    pub async fn sweep_group(&self, grace: Duration) {
        if !signal_group(self.pgid, Signal::SIGTERM) {
            return self.forget_group();
        }
        let until = tokio::time::Instant::now() + grace.min(Duration::from_secs(1));
        while tokio::time::Instant::now() < until {
            if !self.group_alive() {
                return self.forget_group();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        signal_group(self.pgid, Signal::SIGKILL);
        self.forget_group();
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::child_env;
    use crate::config::HubConfig;

    #[test]
    fn launchers_get_ca_bundles_proxies_and_the_hubs_passthrough_but_no_other_variable() {
        let toml = r#"
[hub]
env_passthrough = ["CARGO_HOME"]
[tenants.t.servers.s]
command = "uvx"
env_passthrough = ["EXTRA"]
env = { TOKEN = "own" }
"#;
        let cfg = HubConfig::from_str_at(toml, Path::new("hub.toml"), &|_| None).unwrap();
        let hub_env = |k: &str| {
            let v = match k {
                "PATH" => "/usr/bin",
                "SSL_CERT_FILE" => "/etc/ssl/ca.pem",
                "https_proxy" => "http://proxy:3128",
                "CARGO_HOME" => "/cargo",
                "EXTRA" => "extra",
                "OTHER_TENANT_TOKEN" => "secret",
                _ => return None,
            };
            Some(v.to_string())
        };
        let env = child_env(&cfg.tenants["t"].servers["s"], &hub_env);
        let get = |k: &str| env.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SSL_CERT_FILE"), Some("/etc/ssl/ca.pem"));
        assert_eq!(get("https_proxy"), Some("http://proxy:3128"));
        assert_eq!(get("CARGO_HOME"), Some("/cargo"), "hub.env_passthrough");
        assert_eq!(
            get("EXTRA"),
            Some("extra"),
            "the server's own env_passthrough"
        );
        assert_eq!(get("TOKEN"), Some("own"));
        assert_eq!(get("PATH"), Some("/usr/bin"));
        assert_eq!(
            get("OTHER_TENANT_TOKEN"),
            None,
            "nothing else of the hub's environment"
        );
        assert_eq!(get("HTTP_PROXY"), None, "unset variables are not invented");
    }
}
