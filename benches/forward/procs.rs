//! The processes a run starts: every pid registered so that the end, a panic or the watchdog
//! kills them; the hub, the direct upstream and the relay spawned and spoken to over pipes.

use super::*;

// ---------------------------------------------------------------------------------------------
// Child bookkeeping: every pid we start (and the hub's upstreams) is registered here so that
// both the normal end, a panic and the watchdog can kill them.

pub(crate) type Registry = Arc<Mutex<Vec<u32>>>;

pub(crate) fn kill_pid(pid: u32, sig: nix::sys::signal::Signal) {
    harness::signal_pid(pid, sig);
}

pub(crate) fn alive(pid: u32) -> bool {
    harness::pid_alive(pid as i32)
}

/// A spawned server we speak JSON-RPC to.
pub(crate) struct Server {
    pub(crate) label: &'static str,
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) stdin: Option<BufWriter<ChildStdin>>,
    pub(crate) stdout: Option<BufReader<ChildStdout>>,
    /// Processes started by this server (the hub's upstreams), killed after it.
    pub(crate) descendants: Vec<u32>,
    pub(crate) registry: Registry,
    pub(crate) next_id: u64,
}

impl Server {
    pub(crate) fn spawn(
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

    pub(crate) fn send(&mut self, msg: &Value) -> Result<()> {
        let w = self.stdin.as_mut().ok_or_else(|| anyhow!("stdin closed"))?;
        serde_json::to_writer(&mut *w, msg)?;
        w.write_all(b"\n")?;
        w.flush()?;
        Ok(())
    }

    /// Reads until the response with `id`; answers server→client requests with `{}`.
    pub(crate) fn response(&mut self, id: u64) -> Result<Value> {
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

    pub(crate) fn request(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        self.response(id)
    }

    pub(crate) fn initialize(&mut self) -> Result<()> {
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

    pub(crate) fn tool_names(&mut self) -> Result<Vec<String>> {
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
    pub(crate) fn adopt_children(&mut self) {
        for pid in children_of(self.pid) {
            if !self.descendants.contains(&pid) {
                self.descendants.push(pid);
                self.registry.lock().unwrap().push(pid);
            }
        }
    }

    /// Whether the process exits within `limit`.
    pub(crate) fn exits_within(&mut self, limit: Duration) -> bool {
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
    pub(crate) fn stop(&mut self, grace: Duration) {
        self.adopt_children();
        drop(self.stdin.take());
        if !self.exits_within(grace) {
            self.term_then_kill(Duration::from_secs(2));
        }
        self.reap_descendants();
    }

    /// For `serve` (which does not watch stdin): SIGTERM at once, `wait`, then SIGKILL.
    pub(crate) fn terminate(&mut self, wait: Duration) {
        self.adopt_children();
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.term_then_kill(wait);
        }
        self.reap_descendants();
    }

    pub(crate) fn term_then_kill(&mut self, wait: Duration) {
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
    pub(crate) fn reap_descendants(&mut self) {
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

/// `mcp-hub serve --listen 127.0.0.1:0`; waits (bounded) for its `listening on` line.
pub(crate) fn spawn_serve_hub(
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

pub(crate) fn build(root: &Path) -> Result<()> {
    harness::deps::release_build(root, "demo_server", BUILD_DEADLINE).map_err(|e| anyhow!(e))
}

/// `extra`: more TOML for the top of the file (e.g. a `[hub.http]` table).
pub(crate) fn hub_config(
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

pub(crate) fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap() // a JSON string is a valid TOML basic string
}

pub(crate) fn spawn_hub(
    hub: &Path,
    config: &Path,
    log: &Path,
    registry: &Registry,
) -> Result<Server> {
    let mut cmd = Command::new(hub);
    cmd.arg("--config").arg(config).arg("stdio");
    let mut s = Server::spawn("hub", cmd, log, registry)?;
    s.initialize()?;
    Ok(s)
}

pub(crate) fn spawn_direct(demo: &Path, log: &Path, registry: &Registry) -> Result<Server> {
    let mut s = Server::spawn("direct", Command::new(demo), log, registry)?;
    s.initialize()?;
    Ok(s)
}

/// A byte relay between the same pipes (`socat - EXEC:<demo>`): it forwards bytes and parses
/// nothing, the floor for any process in the middle.
pub(crate) fn spawn_relay(demo: &Path, log: &Path, registry: &Registry) -> Result<Server> {
    let socat = which_socat()?;
    let mut cmd = Command::new(socat);
    cmd.arg("-t")
        .arg("5")
        .arg("-")
        .arg(format!("EXEC:{}", demo.display()));
    let mut s = Server::spawn("relay", cmd, log, registry)?;
    s.initialize()?;
    s.adopt_children();
    Ok(s)
}

/// socat's path; installed with apt when missing (as root), as `scripts/callgrind.sh` does.
fn which_socat() -> Result<PathBuf> {
    let find = || {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("socat"))
                .find(|f| f.is_file())
        })
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    eprintln!("forward bench: socat is missing; installing it with apt-get");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "socat"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    match find() {
        Some(p) if ok => Ok(p),
        _ => bail!(
            "the byte relay needs socat (apt-get install socat), and it could not be installed"
        ),
    }
}
