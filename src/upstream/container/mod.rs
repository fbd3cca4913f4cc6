//! Container upstreams: a server run by the container engine, attached before it starts, whose
//! stdio reaches the same multiplexer as a stdio upstream's, on the hub's own socket
//! ([`stdio_socket`]) or the attach stream's frames ([`io`]); stopped with a grace period, then
//! killed, then removed. A container with `port` serves Streamable HTTP instead ([`http`]). The
//! strategy (when it runs) is the supervisor's.

pub mod engine;
pub mod health;
mod http;
mod io;
mod owned;
pub mod pull;
pub mod pulls;
mod spec;
mod stdio_socket;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::stdio::StderrTail;
use super::UpstreamError;
use crate::config::{ServerConfig, TenantId};
use crate::mux::{CloseGuard, Conn};
use engine::Engine;

/// Containers this hub runs right now, and per tenant (for `max_containers`).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PER_TENANT: std::sync::Mutex<Vec<(TenantId, usize)>> = std::sync::Mutex::new(Vec::new());

/// How many containers the hub runs now.
pub fn running() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

/// The names of the containers this process created and has not let go yet (being created,
/// starting, running, stopping): `POST /api/docker/cleanup` never takes one for an orphan. One
/// entry per [`Slot`], so it is bounded by the containers the hub runs.
static OWNED: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The names of the containers this process owns now (see [`OWNED`]).
pub fn owned() -> std::collections::BTreeSet<String> {
    OWNED.lock().map(|g| g.clone()).unwrap_or_default()
}

/// One running container counted against the limits (and its name owned) until dropped.
struct Slot(TenantId, Option<String>);

impl Slot {
    /// Counts one more container, or says which limit refuses it (the tenant's
    /// `max_containers`, then the hub's).
    fn take(
        tenant: &TenantId,
        hub_max: Option<usize>,
        tenant_max: Option<usize>,
    ) -> Result<Self, String> {
        // The per-tenant count is checked and raised under its lock, so two starts cannot both pass.
        let mut g = PER_TENANT
            .lock()
            .map_err(|_| "the container count is unusable".to_string())?;
        let i = match g.iter().position(|(t, _)| t == tenant) {
            Some(i) => i,
            None => {
                g.push((tenant.clone(), 0));
                g.len() - 1
            }
        };
        let mine = g[i].1;
        if tenant_max.is_some_and(|m| mine >= m) {
            return Err(format!(
                "tenant `{tenant}` already runs {mine} containers (`tenants.{tenant}.max_containers`); hint: raise it, or make pools smaller"
            ));
        }
        let prev = RUNNING.fetch_add(1, Ordering::AcqRel);
        if hub_max.is_some_and(|m| prev >= m) {
            RUNNING.fetch_sub(1, Ordering::AcqRel);
            return Err(format!(
                "the hub already runs {prev} containers (`hub.containers.max_containers`)"
            ));
        }
        g[i].1 += 1;
        Ok(Slot(tenant.clone(), None))
    }
}

impl Slot {
    /// The container this slot counts is named `name` (from before its creation).
    fn own(&mut self, name: &str) {
        if let Ok(mut g) = OWNED.lock() {
            g.insert(name.to_string());
        }
        self.1 = Some(name.to_string());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let (Some(name), Ok(mut g)) = (&self.1, OWNED.lock()) {
            g.remove(name);
        }
        RUNNING.fetch_sub(1, Ordering::AcqRel);
        if let Ok(mut g) = PER_TENANT.lock() {
            if let Some((_, n)) = g.iter_mut().find(|(t, _)| *t == self.0) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// A running container behind a connection.
pub struct ContainerLink {
    engine: Engine,
    pub id: String,
    pub name: String,
    stderr: Arc<StderrTail>,
    stop_writer: CancellationToken,
    /// Cancelled when the attach stream has ended (the container's process is gone).
    ended: CancellationToken,
    exit_code: Arc<std::sync::OnceLock<Option<i32>>>,
    conn: Arc<Conn>,
    /// The Streamable HTTP transport, for a container with `port`.
    remote: Option<super::remote::RemoteLink>,
    /// The folder of the hub's socket and shim (`hub.containers.stdio = "socket"`).
    _io_dir: Option<Box<stdio_socket::IoDir>>,
    _slot: Slot,
}

/// The socket path for a stdio container, with the command the shim runs; `None` (attach) when
/// it cannot be used here, said once in the log.
async fn socket_io(
    engine: &Engine,
    settings: &crate::config::ContainerSettings,
    k: &crate::config::ContainerConfig,
    name: &str,
) -> Option<(stdio_socket::Prepared, Vec<String>)> {
    static SAID: std::sync::Once = std::sync::Once::new();
    let fallback = |why: &str| {
        let why = why.to_string();
        SAID.call_once(|| {
            tracing::info!(
                "stdio containers use the engine's attach stream: {why} (`hub.containers.stdio`)"
            )
        });
        None
    };
    if let Some(why) = stdio_socket::unavailable(settings.socket.as_deref()) {
        return fallback(why);
    }
    let image = engine.docker.inspect_image(&k.image).await.ok()?.config?;
    let cmd = if k.args.is_empty() {
        image.cmd.unwrap_or_default()
    } else {
        k.args.clone()
    };
    let Some(command) = stdio_socket::entrypoint(&image.entrypoint.unwrap_or_default(), &cmd)
    else {
        return fallback("the image names no command");
    };
    match stdio_socket::prepare(&settings.instance) {
        Ok(p) => Some((p, command)),
        Err(e) => {
            tracing::warn!(
                container = name,
                "the hub's stdio socket could not be made ({e}); using the engine's attach stream"
            );
            None
        }
    }
}

fn spawn_error(image: &str, reason: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Spawn {
        command: format!("container {image}"),
        reason: reason.to_string(),
    }
}

/// Creates, attaches (before the start, so nothing the server writes first is lost) and starts
/// the container, and wires it to `conn`.
pub async fn spawn(
    cfg: &ServerConfig,
    settings: &crate::config::ContainerSettings,
    tenant: &TenantId,
    conn: &Arc<Conn>,
    outgoing: crate::mux::Outgoing,
    tasks: &crate::tasks::Tasks,
) -> Result<ContainerLink, UpstreamError> {
    let Some(k) = &cfg.container else {
        return Err(spawn_error("?", "not a container server"));
    };
    let err = |e: &dyn std::fmt::Display| spawn_error(&k.image, e);
    startup_sweep(settings).await;
    let mut slot = Slot::take(tenant, settings.max_containers, k.tenant_max_containers)
        .map_err(|e| err(&e))?;
    let engine = Engine::connect(settings).map_err(|e| err(&e))?;
    engine.ping().await.map_err(|e| err(&e))?;
    engine
        .sweep_server(&settings.instance, tenant, cfg.name.as_str(), &owned())
        .await;
    if let (Some(net), crate::config::Network::Named(n)) = (&settings.network, &k.network) {
        if net == n {
            engine
                .ensure_network(n, &settings.instance)
                .await
                .map_err(|e| err(&e))?;
        }
    }
    engine
        .ensure_image(&k.image, k.pull)
        .await
        .map_err(|e| err(&e))?;
    let name = spec::container_name(&settings.instance, tenant, cfg.name.as_str());
    slot.own(&name);
    let mut spec = spec::spec(cfg, k, settings, tenant);
    // stdio on the hub's own socket where it can be (no relay), else the engine's attach stream.
    let io = match (k.port, settings.stdio) {
        (None, crate::config::StdioPath::Socket) => socket_io(&engine, settings, k, &name).await,
        _ => None,
    };
    if let Some((prepared, command)) = &io {
        stdio_socket::apply(&mut spec, &prepared.bind, command.clone());
    }
    let id = match engine.create(&name, spec).await {
        Ok(id) => id,
        Err(e) => {
            if io.is_some() {
                stdio_socket::mark_broken(&format!(
                    "creating a container with the hub's folder mounted failed ({e})"
                ));
            }
            return Err(err(&e));
        }
    };
    if k.port.is_some() {
        let created = http::Created {
            engine,
            id,
            name,
            slot,
        };
        return http::start(created, cfg, k, tenant, conn, outgoing, tasks).await;
    }
    let attached = engine
        .attach_and_start(&id, io.is_none())
        .await
        .map_err(|e| err(&e))?;
    tracing::info!(tenant = %tenant, server = %cfg.name, container = %name, image = %k.image, stdio = if io.is_some() { "socket" } else { "attach" }, "started container");
    let span = tracing::info_span!(parent: None, "upstream", tenant = %tenant, server = %cfg.name, container = %name);
    let protocol_on_attach = io.is_none();
    // Cancelled when the link stops, or when the container's attach stream ends (the engine
    // restarted): the writer then closes the server's stdin, so a container whose stdio is the
    // hub's socket ends too, as an attached one does when its attach connection goes.
    let stop_writer = tasks.child_token();
    let stop_on_end = stop_writer.clone();

    let stderr = Arc::new(StderrTail::default());
    let ended = CancellationToken::new();
    health::watch(&engine, &id, &name, tasks, ended.clone(), span.clone());
    let exit_code = Arc::new(std::sync::OnceLock::new());
    let (conn2, tail, ended2, code, eng, id2) = (
        conn.clone(),
        stderr.clone(),
        ended.clone(),
        exit_code.clone(),
        engine.clone(),
        id.clone(),
    );
    let (tenant_s, server) = (tenant.clone(), cfg.name.clone());
    tasks.spawn(span.clone(), async move {
        let guard = CloseGuard::new(conn2.clone(), "reader");
        let why = io::read_loop(
            attached.output,
            &conn2,
            &tail,
            &tenant_s,
            &server,
            protocol_on_attach,
        )
        .await;
        tail.end();
        let exit = exit_code_of(&eng, &id2).await;
        let _ = code.set(exit);
        let reason = match (exit, why) {
            (Some(c), _) => format!("container exited (code {c})"),
            (None, Some(e)) => format!("container's attach stream broke: {e}"),
            (None, None) => "container's output ended".to_string(),
        };
        ended2.cancel();
        stop_on_end.cancel();
        conn2.close(reason);
        guard.disarm();
    });

    let (input, io_dir): (std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>, _) = match io {
        None => (attached.input, None),
        Some((prepared, _)) => {
            // The shim connects at once; a container that dies first (no shim, a noexec folder)
            // ends its attach stream, and the reader above has its reason.
            let limit = Duration::from_secs(30);
            let stream = tokio::select! {
                s = stdio_socket::accept(&prepared.listener, limit) => s.map_err(|e| {
                    stdio_socket::mark_broken(&e.to_string());
                    err(&e)
                })?,
                _ = ended.cancelled() => {
                    let tail = stderr.tail(Duration::from_millis(300)).await.unwrap_or_default();
                    let why = format!("the container ended before its shim connected to the hub's socket{}{tail}", if tail.is_empty() { "" } else { ": " });
                    stdio_socket::mark_broken(&why);
                    return Err(err(&why));
                }
            };
            let conn3 = conn.clone();
            tasks.spawn(span.clone(), async move {
                // The container's end (its attach stream) closes the connection, as without
                // the socket; a stdout that ends first only says so.
                if let Some(e) = super::stdio::read_loop(stream.stdout, &conn3).await {
                    tracing::warn!(server = %conn3.server, "reading the container's stdout pipe: {e}");
                }
            });
            (Box::pin(stream.stdin) as _, Some(Box::new(prepared.dir)))
        }
    };
    tasks.spawn(
        span,
        io::write_loop(input, outgoing, stop_writer.clone(), conn.clone()),
    );

    Ok(ContainerLink {
        _io_dir: io_dir,
        engine,
        id,
        name,
        stderr,
        stop_writer,
        ended,
        exit_code,
        conn: conn.clone(),
        remote: None,
        _slot: slot,
    })
}

/// The container's exit code, once its process is gone (`None`: still running, or removed).
async fn exit_code_of(engine: &Engine, id: &str) -> Option<i32> {
    for _ in 0..10 {
        match engine.docker.inspect_container(id, None).await {
            Ok(i) => {
                let st = i.state?;
                if st.running != Some(true) {
                    return st.exit_code.map(|c| c as i32);
                }
            }
            Err(_) => return None,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

impl ContainerLink {
    /// Resolves with the reason once the connection has closed.
    pub async fn closed(&mut self) -> super::CloseReason {
        self.conn.closed().await;
        // The reader sets the exit code just before it closes; a writer-side close has none.
        super::CloseReason {
            text: self.conn.close_reason().unwrap_or("closed").to_string(),
            exit_code: self.exit_code.get().copied().flatten(),
        }
    }

    /// The last lines of stderr, once it has ended (or after 300 ms).
    pub async fn stderr_tail(&self) -> Option<String> {
        self.stderr.tail(Duration::from_millis(300)).await
    }

    /// Stops the container: close its stdin, wait `grace`, then the engine's stop (SIGTERM,
    /// `grace`, SIGKILL), then remove it. 404 anywhere is "already gone".
    /// An HTTP container's session is ended first (`DELETE`), and its stdin is not the signal.
    pub async fn stop(self, grace: Duration) {
        self.stop_writer.cancel();
        match self.remote {
            Some(r) => r.stop(grace).await,
            None => {
                let _ = tokio::time::timeout(grace, self.ended.cancelled()).await;
            }
        }
        self.engine.stop_and_remove(&self.id, grace).await;
    }

    /// Removes what is left once the container's process is gone.
    pub async fn sweep(&self) {
        self.engine.remove(&self.id).await;
    }
}

/// The sweep of what an earlier run of this hub instance left, once per process: every
/// container spawn waits for it, so it never removes a container of this run.
static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// Removes the containers an earlier run of this instance left behind (a SIGKILLed hub's),
/// once; later calls wait for the first. Never touches a container without this instance's label.
pub async fn startup_sweep(settings: &crate::config::ContainerSettings) {
    SWEPT
        .get_or_init(|| async {
            stdio_socket::sweep(&settings.instance);
            let engine = match Engine::connect(settings) {
                Ok(e) => e,
                Err(e) => return tracing::warn!("container sweep skipped: {e}"),
            };
            match engine.sweep(&settings.instance, false).await {
                Ok(v) if v.is_empty() => {}
                Ok(v) => tracing::info!(instance = %settings.instance, "removed {} container(s) an earlier run left: {}", v.len(), v.join(", ")),
                Err(e) => tracing::warn!("container sweep failed: {e}"),
            }
        })
        .await;
}

/// At shutdown (`cleanup_on_shutdown`): removes every container of this instance still there,
/// and the hub's network when the hub created it (it carries the instance's label).
pub async fn shutdown_sweep(settings: &crate::config::ContainerSettings) {
    let Ok(engine) = Engine::connect(settings) else {
        return;
    };
    match engine.sweep(&settings.instance, false).await {
        Ok(v) if v.is_empty() => {}
        Ok(v) => tracing::info!(
            "removed {} container(s) at shutdown: {}",
            v.len(),
            v.join(", ")
        ),
        Err(e) => tracing::warn!("container cleanup at shutdown failed: {e}"),
    }
    if let Some(net) = &settings.network {
        engine.remove_own_network(net, &settings.instance).await;
    }
}

/// Whether the config runs any container server.
pub fn configured(config: &crate::config::HubConfig) -> bool {
    config
        .tenants
        .values()
        .any(|t| t.servers.values().any(|s| s.container.is_some()))
}
