//! Processes: every child a test starts runs in its own process group, every wait is bounded,
//! a stop is SIGTERM to the group then SIGKILL, and a process's log is printed when the test that
//! owns it fails. Plus /proc readers (liveness, groups, children, RSS) and free loopback ports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::deps::deps_dir;

// ------------------------------------------------------------------ bounded runs

/// What a finished child printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// From spawn to exit.
    pub took: Duration,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `program args` in its own process group with `timeout`, with `MCP_HUB_TEST_DEPS` and
/// `PYTHONUNBUFFERED=1` set and stdin closed; see [`run_command`].
pub fn run_bounded(program: &Path, args: &[String], timeout: Duration) -> Result<Output> {
    run_bounded_env(program, args, &[], timeout)
}

/// [`run_bounded`] with more environment variables.
pub fn run_bounded_env(
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<Output> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("MCP_HUB_TEST_DEPS", deps_dir())
        .env("PYTHONUNBUFFERED", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd, b"", timeout)
}

/// Runs `cmd` in its own process group with `stdin` written to it (then closed); on timeout kills
/// the group and fails with the stderr so far. stdout and stderr are drained on threads so a
/// chatty child never blocks.
pub fn run_command(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Result<Output> {
    let started = Instant::now();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().with_context(|| format!("spawn {what}"))?;
    let input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // A thread: a child that does not read its stdin must not block the harness.
    thread::spawn(move || {
        let mut input = input;
        let _ = input.write_all(&stdin);
    });
    let out_reader = drain(child.stdout.take().expect("piped stdout"));
    let err_reader = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, timeout);
    // The group is gone or finished; the pipes close once every holder has exited. A grandchild
    // outside the group (an upstream in its own group) could keep them open: bound the join too.
    let stdout = join_bounded(out_reader, Duration::from_secs(5));
    let stderr = join_bounded(err_reader, Duration::from_secs(5));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
            took: started.elapsed(),
        }),
        None => bail!(
            "{what} did not finish within {timeout:?}; killed its process group\n--- stderr ---\n{}",
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

/// Waits up to `limit` for `child`; on timeout SIGKILLs its process group. `None`: timed out.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            kill_group(child);
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `done` every `every` until it is true or `limit` passed; returns the last answer.
pub fn wait_until(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(every);
    }
}

// ------------------------------------------------------------------ signals

/// Sends `sig` to the process group the harness made `pid` the leader of (`process_group(0)`).
///
/// killpg(2) directly: procps' `kill -KILL -1234` does not signal group 1234. Its option parser
/// reads `-1234` as options, and its negative-PID special case then signals `-N` for the first
/// digit N alone: `kill(-1)` (every process the user may signal) for any group starting with 1.
pub fn signal_group(pid: u32, sig: nix::sys::signal::Signal) {
    let pgid = nix::unistd::Pid::from_raw(pid as i32);
    if pgid.as_raw() > 1 {
        let _ = nix::sys::signal::killpg(pgid, sig);
    }
}

/// Sends `sig` to one process.
pub fn signal_pid(pid: u32, sig: nix::sys::signal::Signal) {
    if pid > 1 {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

/// SIGKILL to the child's group (only the group this harness created), then reap it.
pub fn kill_group(child: &mut Child) {
    signal_group(child.id(), nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM to the child's process group, up to `grace` to exit, then SIGKILL to the group; always
/// reaped. A hub stops its upstreams on SIGTERM (SIGKILL would orphan them).
pub fn stop_group(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal_group(child.id(), nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    kill_group(child);
}

// ------------------------------------------------------------------ background processes

/// The output of a background child, collected on threads (ANSI colours removed, bounded).
#[derive(Clone, Default)]
pub struct LogBuf(Arc<Mutex<String>>);

impl LogBuf {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// Collects `r` line by line; `on_line` sees each line.
    pub fn collect<R: Read + Send + 'static>(
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

/// A process a test started in its own process group, with its output (the pipes `cmd` left
/// piped) in a [`LogBuf`]. Dropping it stops the group (SIGTERM, `grace`, SIGKILL); when the test
/// is failing, the log's tail is printed first thing.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: LogBuf,
    pub grace: Duration,
}

impl Proc {
    /// Spawns `cmd` (stdin closed unless `cmd` says otherwise; stdout and stderr collected).
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        on_line: impl FnMut(&str) + Send + 'static,
    ) -> Result<Proc> {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().with_context(|| format!("spawn {name}"))?;
        let log = LogBuf::default();
        let on_line = Arc::new(Mutex::new(on_line));
        if let Some(out) = child.stdout.take() {
            let f = on_line.clone();
            log.collect(out, move |l| (f.lock().unwrap())(l));
        }
        if let Some(err) = child.stderr.take() {
            log.collect(err, move |l| (on_line.lock().unwrap())(l));
        }
        Ok(Proc {
            name: name.to_owned(),
            child,
            log,
            grace: Duration::from_secs(10),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn log(&self) -> String {
        self.log.text()
    }
    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// Ends the process group at once (a server that "crashes").
    pub fn kill(&mut self) {
        kill_group(&mut self.child);
    }
    /// SIGTERM to the group, `grace`, SIGKILL.
    pub fn stop(&mut self) {
        stop_group(&mut self.child, self.grace);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            // What the process logged is the first thing to read when a test fails.
            eprintln!(
                "--- {} (pid {}), last 40 lines of its log ---\n{}",
                self.name,
                self.child.id(),
                tail(&self.log.text(), 40)
            );
        }
    }
}

// ------------------------------------------------------------------ /proc

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; count it as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

/// Waits up to 5 s for a pid file.
pub fn read_pid(path: &Path) -> i32 {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(p) = s.trim().parse() {
                return p;
            }
        }
        assert!(Instant::now() < until, "no pid file at {}", path.display());
        thread::sleep(Duration::from_millis(20));
    }
}

/// The fields of /proc/PID/stat after the command: state, ppid, pgrp, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

/// Processes whose process group is `pgid`, zombies excluded.
pub fn group_members(pgid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            stat_fields(pid).is_some_and(|f| f.len() > 2 && f[0] != "Z" && f[2] == pgid.to_string())
        })
        .map(|p| p as i32)
        .collect()
}

/// Direct children of `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| stat_fields(p).is_some_and(|f| f.len() > 1 && f[1] == pid.to_string()))
        .collect()
}

/// Direct children of `pid` that are zombies (exited, never reaped).
pub fn zombies_under(pid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| {
            stat_fields(p).is_some_and(|f| f.len() > 1 && f[0] == "Z" && f[1] == pid.to_string())
        })
        .collect()
}

/// Processes whose command is `comm` (as /proc/PID/comm has it) and whose command line
/// contains `needle` (e.g. the `conmon`s of one hub instance's containers).
pub fn processes_named(comm: &str, needle: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == comm)
                && std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// `VmRSS` of a process in KiB; `None` when it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ------------------------------------------------------------------ ports

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

// ------------------------------------------------------------------ text

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
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
