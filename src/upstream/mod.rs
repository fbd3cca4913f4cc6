//! Upstream MCP servers: their live state, the connection of the moment, and what they offer.
//!
//! An `Upstream` outlives its connections: the supervisor replaces `conn` on every restart.

pub mod container;
pub mod handshake;
pub mod orphans;
pub mod remote;
pub mod stdio;

use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use serde_json::Value;
use tokio::sync::{watch, Notify};

use crate::config::{ServerConfig, ServerName, StartMode};
use crate::item::Item;
use crate::mux::Conn;
use crate::sync::{LockExt, RwLockExt};

/// Why an upstream could not be reached or used.
#[derive(Clone, Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not start `{command}`: {reason}")]
    Spawn { command: String, reason: String },
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("did not finish its handshake within {0}")]
    StartupTimeout(String),
    /// The config forces a protocol revision (`protocol = …`) that the server does not speak.
    /// Retrying cannot help: the server stays failed until the config changes.
    #[error("does not speak {asked}, which `protocol = \"{setting}\"` requires: {answered}; hint: set `protocol = \"auto\"` (or leave it out) and the hub uses what the server speaks")]
    ProtocolUnsupported {
        asked: &'static str,
        setting: &'static str,
        answered: String,
    },
}

impl UpstreamError {
    /// Whether starting the server again can change the outcome.
    pub fn is_permanent(&self) -> bool {
        matches!(self, UpstreamError::ProtocolUnsupported { .. })
    }
}

/// Why an upstream's connection ended: the words for the log and `status`, and for a process
/// that exited, its exit code (so "exited cleanly" is a fact, not a string comparison).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub text: String,
    pub exit_code: Option<i32>,
}

impl CloseReason {
    /// The process exited with code 0 (what `restart.policy = "on-failure"` does not restart).
    pub fn is_clean_exit(&self) -> bool {
        self.exit_code == Some(0)
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where an upstream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// `enabled = false`.
    Disabled,
    /// Lazy and not asked for yet.
    Idle,
    Starting,
    Up,
    /// Down; a restart is scheduled.
    Backoff,
    /// Down for good (restart policy exhausted or `never`).
    Failed,
    /// Stopped with the hub.
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Disabled => "disabled",
            State::Idle => "idle",
            State::Starting => "starting",
            State::Up => "up",
            State::Backoff => "backoff",
            State::Failed => "failed",
            State::Stopped => "stopped",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Status {
    pub state: State,
    pub since: SystemTime,
    pub last_error: Option<String>,
    pub restarts: u32,
    /// The first start attempt has finished (up or not): list requests stop waiting.
    pub settled: bool,
}

/// What an upstream offers, as it sent it (raw JSON, nothing dropped).
#[derive(Clone, Debug, Default)]
pub struct Offer {
    pub server_info: Value,
    pub capabilities: Value,
    pub instructions: Option<String>,
    /// Each definition's text, stored once ([`Item`]) and shared with the catalog.
    pub tools: Vec<Item>,
    pub prompts: Vec<Item>,
    pub resources: Vec<Item>,
    pub templates: Vec<Item>,
}

impl Offer {
    /// One of the four lists.
    pub fn list_mut(&mut self, kind: crate::protocol::ListKind) -> &mut Vec<Item> {
        use crate::protocol::ListKind;
        match kind {
            ListKind::Tools => &mut self.tools,
            ListKind::Prompts => &mut self.prompts,
            ListKind::Resources => &mut self.resources,
            ListKind::Templates => &mut self.templates,
        }
    }
}

pub struct Upstream {
    pub name: ServerName,
    pub cfg: ServerConfig,
    status: Mutex<Status>,
    conn: RwLock<Option<Arc<Conn>>>,
    offer: RwLock<Arc<Offer>>,
    changed: watch::Sender<u64>,
    /// Wakes a lazy upstream's supervisor.
    pub start_requested: Notify,
    /// The running process's id (0: none, or a remote server).
    pid: std::sync::atomic::AtomicU32,
    /// The client capabilities to declare instead of the hub's (a session's own connection).
    pub declare: Option<Value>,
    /// When a request last went to it (ms since the epoch): an on-demand container's idle clock.
    last_used: std::sync::atomic::AtomicU64,
    /// The running container's name (container upstreams).
    container: Mutex<Option<String>>,
}

impl Upstream {
    pub fn new(cfg: ServerConfig) -> Arc<Self> {
        Self::declaring(cfg, None)
    }

    /// An upstream that is told `declare` as its client's capabilities.
    pub fn declaring(cfg: ServerConfig, declare: Option<Value>) -> Arc<Self> {
        let state = match (cfg.enabled, cfg.start) {
            (false, _) => State::Disabled,
            (true, StartMode::Lazy) => State::Idle,
            (true, StartMode::Eager) => State::Starting,
        };
        Arc::new(Self {
            name: cfg.name.clone(),
            status: Mutex::new(Status {
                state,
                since: SystemTime::now(),
                last_error: None,
                restarts: 0,
                settled: state != State::Starting,
            }),
            cfg,
            conn: RwLock::new(None),
            offer: RwLock::new(Arc::new(Offer::default())),
            changed: watch::channel(0).0,
            start_requested: Notify::new(),
            pid: std::sync::atomic::AtomicU32::new(0),
            declare,
            last_used: std::sync::atomic::AtomicU64::new(0),
            container: Mutex::new(None),
        })
    }

    pub fn status(&self) -> Status {
        self.status.locked().clone()
    }

    pub fn set_state(&self, state: State, error: Option<String>) {
        {
            let mut s = self.status.locked();
            if s.state != state {
                s.since = SystemTime::now();
            }
            s.state = state;
            if error.is_some() {
                s.last_error = error;
            }
            if !matches!(state, State::Starting) {
                s.settled = true;
            }
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Forgets the last error (a reason that no longer holds, such as a closed schedule window).
    pub fn clear_error(&self) {
        self.status.locked().last_error = None;
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn set_restarts(&self, n: u32) {
        self.status.locked().restarts = n;
    }

    /// Marks a lazy upstream (or a stopped on-demand container) as wanted and unsettled until its
    /// attempt finishes. A scheduled container starts with its window, not on request.
    pub fn request_start(&self) {
        if self
            .cfg
            .container
            .as_ref()
            .is_some_and(|k| k.strategy == crate::config::Strategy::Scheduled)
        {
            return;
        }
        let mut s = self.status.locked();
        if s.state == State::Idle {
            s.state = State::Starting;
            s.settled = false;
            s.since = SystemTime::now();
            drop(s);
            self.start_requested.notify_one();
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// Waits until the first start attempt has finished.
    pub async fn settled(&self) {
        let mut rx = self.changed.subscribe();
        loop {
            if self.status().settled {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Records a request to it now (an on-demand container's idle clock starts again).
    pub fn touch(&self) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.last_used
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// When a request last went to it; `None`: never.
    pub fn last_used(&self) -> Option<SystemTime> {
        let ms = self.last_used.load(std::sync::atomic::Ordering::Relaxed);
        (ms != 0).then(|| SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }

    /// The running container's name (container upstreams).
    pub fn container(&self) -> Option<String> {
        self.container.locked().clone()
    }

    pub fn set_container(&self, name: Option<String>) {
        *self.container.locked() = name;
    }

    /// An on-demand container that has run once: while stopped (or stopping, or starting again)
    /// its catalog is still offered, and a call starts it. So is a pre-warmed pool's, while its
    /// first member is replaced (the other members carry the calls meanwhile).
    pub fn remembers_offer(&self) -> bool {
        self.cfg.container.as_ref().is_some_and(|k| {
            k.strategy == crate::config::Strategy::OnDemand
                || (k.strategy == crate::config::Strategy::PreWarmed && k.pool > 1)
        }) && matches!(
            self.status().state,
            State::Idle | State::Starting | State::Up | State::Backoff
        ) && !self.offer().server_info.is_null()
    }

    /// The running process's id, for the admin API.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(std::sync::atomic::Ordering::Relaxed)).filter(|p| *p != 0)
    }

    pub fn set_pid(&self, pid: Option<u32>) {
        self.pid
            .store(pid.unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// The live connection, if the upstream is up.
    pub fn conn(&self) -> Option<Arc<Conn>> {
        self.conn.read_now().clone().filter(|c| !c.is_closed())
    }

    pub fn set_conn(&self, conn: Option<Arc<Conn>>) {
        *self.conn.write_now() = conn;
    }

    pub fn offer(&self) -> Arc<Offer> {
        self.offer.read_now().clone()
    }

    pub fn set_offer(&self, offer: Offer) {
        *self.offer.write_now() = Arc::new(offer);
    }

    pub fn update_offer(&self, f: impl FnOnce(&mut Offer)) {
        let mut g = self.offer.write_now();
        let mut o = (**g).clone();
        f(&mut o);
        *g = Arc::new(o);
    }
}

/// The transport under a connection: a child process, a remote server or a container.
pub enum Link {
    Stdio(stdio::StdioLink),
    Remote(remote::RemoteLink),
    Container(container::ContainerLink),
}

impl Link {
    /// Starts the transport for `cfg` and wires it to `conn` (`settings` for containers: the engine).
    pub async fn spawn(
        cfg: &ServerConfig,
        settings: &crate::config::HubSettings,
        tenant: &crate::config::TenantId,
        conn: &Arc<Conn>,
        outgoing: crate::mux::Outgoing,
        tasks: &crate::tasks::Tasks,
    ) -> Result<Self, UpstreamError> {
        if cfg.container.is_some() {
            return container::spawn(cfg, &settings.containers, tenant, conn, outgoing, tasks)
                .await
                .map(Link::Container);
        }
        match cfg.remote {
            Some(_) => remote::spawn(cfg, tenant, conn, outgoing, tasks).map(Link::Remote),
            None => stdio::spawn(cfg, tenant, conn, outgoing, tasks).map(Link::Stdio),
        }
    }

    /// The container's name, for a container upstream.
    pub fn container_name(&self) -> Option<&str> {
        match self {
            Link::Container(l) => Some(&l.name),
            _ => None,
        }
    }

    /// Resolves with the reason once the transport is gone.
    pub async fn closed(&mut self) -> CloseReason {
        match self {
            Link::Stdio(l) => l.closed().await,
            Link::Container(l) => l.closed().await,
            Link::Remote(l) => CloseReason {
                text: l.closed().await,
                exit_code: None,
            },
        }
    }

    /// Stops the transport (a process: stdin, grace, SIGTERM, SIGKILL; remote: end the session).
    pub async fn stop(self, grace: std::time::Duration) {
        match self {
            Link::Stdio(l) => l.stop(grace).await,
            Link::Remote(l) => l.stop(grace).await,
            Link::Container(l) => l.stop(grace).await,
        }
    }

    /// The last lines the process wrote to stderr (waiting briefly for the pipe to drain), to
    /// say why a server failed to start; `None` for remote servers or a silent process.
    pub async fn stderr_tail(&self) -> Option<String> {
        match self {
            Link::Stdio(l) => l.stderr_tail().await,
            Link::Container(l) => l.stderr_tail().await,
            Link::Remote(_) => None,
        }
    }

    /// The server's process id; `None` for a remote server.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Link::Stdio(l) => Some(l.pid()),
            Link::Remote(_) | Link::Container(_) => None,
        }
    }

    /// Ends what a dead process left in its group.
    pub async fn sweep(&self, grace: std::time::Duration) {
        match self {
            Link::Stdio(l) => l.sweep_group(grace).await,
            Link::Container(l) => l.sweep().await,
            Link::Remote(_) => {}
        }
    }
}
