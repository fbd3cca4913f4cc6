//! The Docker Engine API as the hub uses it (Docker or podman's compatible service, API 1.41):
//! connect, the container's spec with its secure defaults, images, stop-then-remove where 404
//! means "already gone", and the sweep by label. Knows no MCP.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;

use crate::config::{ContainerConfig, ContainerSettings, Pull, ServerConfig, TenantId};

/// Podman 4.3 speaks 1.41; Docker accepts older versions than its own.
const API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Seconds a request to the engine may take (pulls and attach streams are not bound by it).
const REQUEST_TIMEOUT_SECS: u64 = 60;

/// The labels every container of the hub carries.
pub const LABEL_INSTANCE: &str = "io.mcp-hub.instance";
pub const LABEL_TENANT: &str = "io.mcp-hub.tenant";
pub const LABEL_SERVER: &str = "io.mcp-hub.server";
pub const LABEL_STRATEGY: &str = "io.mcp-hub.strategy";

/// What went wrong talking to the engine, and whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no container engine socket found (tried {tried}); hint: set `hub.containers.socket` or DOCKER_HOST, or start Docker or `podman system service`")]
    NoSocket { tried: String },
    #[error("the container engine at `{socket}` is unreachable: {reason}")]
    Unreachable { socket: String, reason: String },
    #[error("image `{image}` is not present and `pull = \"never\"`; hint: build or load it (`docker pull {image}`), or set `pull = \"missing\"`")]
    ImageMissing { image: String },
    #[error("pulling image `{image}` failed: {reason}")]
    Pull { image: String, reason: String },
    #[error("the container engine refused: {0}")]
    Api(String),
}

impl From<bollard::errors::Error> for EngineError {
    fn from(e: bollard::errors::Error) -> Self {
        EngineError::Api(e.to_string())
    }
}

/// Whether the engine answered 404 (for stop, remove and inspect: the container is already gone).
pub fn is_gone(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The socket to use: `hub.containers.socket`, `DOCKER_HOST`, then the usual paths.
pub fn socket_path(settings: &ContainerSettings) -> Result<String, EngineError> {
    let strip = |s: &str| s.strip_prefix("unix://").unwrap_or(s).to_string();
    if let Some(s) = &settings.socket {
        return Ok(strip(s));
    }
    if let Ok(h) = std::env::var("DOCKER_HOST") {
        if h.starts_with("unix://") || h.starts_with('/') {
            return Ok(strip(&h));
        }
    }
    let mut tried = vec!["/var/run/docker.sock".to_string()];
    if let Ok(x) = std::env::var("XDG_RUNTIME_DIR") {
        tried.push(format!("{x}/podman/podman.sock"));
    }
    tried.push("/run/podman/podman.sock".into());
    tried
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .cloned()
        .ok_or_else(|| EngineError::NoSocket {
            tried: tried.join(", "),
        })
}

/// A client of the engine (cheap: it connects per request).
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    pub socket: String,
}

impl Engine {
    pub fn connect(settings: &ContainerSettings) -> Result<Self, EngineError> {
        let socket = socket_path(settings)?;
        let docker =
            Docker::connect_with_unix(&socket, REQUEST_TIMEOUT_SECS, &API).map_err(|e| {
                EngineError::Unreachable {
                    socket: socket.clone(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Self { docker, socket })
    }

    /// Liveness: `/_ping` (1 ms; `/version` costs about 0.6 s on podman).
    pub async fn ping(&self) -> Result<(), EngineError> {
        match tokio::time::timeout(Duration::from_secs(5), self.docker.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(EngineError::Unreachable {
                socket: self.socket.clone(),
                reason: e.to_string(),
            }),
            Err(_) => Err(EngineError::Unreachable {
                socket: self.socket.clone(),
                reason: "no answer to ping within 5 s".into(),
            }),
        }
    }

    /// Makes sure `image` is there as `pull` asks, pulling it (progress in the log) when needed.
    pub async fn ensure_image(&self, image: &str, pull: Pull) -> Result<(), EngineError> {
        let present = match self.docker.inspect_image(image).await {
            Ok(_) => true,
            Err(e) if is_gone(&e) => false,
            Err(e) => return Err(e.into()),
        };
        match (pull, present) {
            (Pull::Never, false) => Err(EngineError::ImageMissing {
                image: image.into(),
            }),
            (Pull::Missing, true) | (Pull::Never, true) => Ok(()),
            _ => self.pull(image).await,
        }
    }

    /// Pulls `image`, logging its progress (layers, bytes) at most once a second, and each
    /// layer as it completes.
    pub async fn pull(&self, image: &str) -> Result<(), EngineError> {
        tracing::info!(image, "pulling image");
        let mut last = std::time::Instant::now();
        self.pull_with(image, |p, change| {
            let due = last.elapsed() >= Duration::from_secs(1);
            if change == super::pull::Change::LayerDone
                || (change != super::pull::Change::Bytes && due)
            {
                last = std::time::Instant::now();
                tracing::info!(image, progress = %p.line(image), "pulling image");
            }
        })
        .await?;
        tracing::info!(image, "image pulled");
        Ok(())
    }

    /// Pulls `image`, telling `on` after every item of the engine's progress stream.
    pub async fn pull_with(
        &self,
        image: &str,
        mut on: impl FnMut(&super::pull::Progress, super::pull::Change),
    ) -> Result<(), EngineError> {
        let (name, tag) = split_tag(image);
        let opts = CreateImageOptions {
            from_image: Some(name.to_string()),
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        let failed = |reason: String| EngineError::Pull {
            image: image.into(),
            reason,
        };
        let mut progress = super::pull::Progress::default();
        let mut stream = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(e.to_string()))?;
            let change = progress.feed(&info).map_err(failed)?;
            on(&progress, change);
        }
        Ok(())
    }

    /// Creates the container (not started); answers its id.
    pub async fn create(
        &self,
        name: &str,
        body: bollard::models::ContainerCreateBody,
    ) -> Result<String, EngineError> {
        let opts = CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let image = body.image.clone().unwrap_or_default();
        match self.docker.create_container(Some(opts), body).await {
            Ok(r) => Ok(r.id),
            Err(e) if is_gone(&e) => Err(EngineError::ImageMissing { image }),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops (`grace`, then the engine kills) and removes a container; 404 is "already gone".
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) {
        let t = grace.as_secs().clamp(1, 60) as i32;
        let stop = self.docker.stop_container(
            id,
            Some(StopContainerOptions {
                t: Some(t),
                signal: None,
            }),
        );
        match tokio::time::timeout(grace + Duration::from_secs(REQUEST_TIMEOUT_SECS), stop).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if is_gone(&e) => return,
            // 304: already stopped; anything else: the remove below forces it.
            Ok(Err(e)) => tracing::debug!(container = id, "stop: {e}"),
            Err(_) => tracing::warn!(container = id, "stop did not answer; forcing the remove"),
        }
        self.remove(id).await;
    }

    /// Attaches to a created container (before its start, so nothing it writes first is lost:
    /// stdin only when `stdin`), then starts it; on failure the container is removed and the
    /// error says which step failed.
    pub async fn attach_and_start(
        &self,
        id: &str,
        stdin: bool,
    ) -> Result<bollard::container::AttachContainerResults, String> {
        let opts = bollard::query_parameters::AttachContainerOptions {
            stdin,
            stdout: true,
            stderr: true,
            stream: true,
            // Never `logs = true`: podman 4.3's replay frames are one byte short.
            logs: false,
            ..Default::default()
        };
        let attached = match self.docker.attach_container(id, Some(opts)).await {
            Ok(a) => a,
            Err(e) => {
                self.remove(id).await;
                return Err(format!("attach failed: {e}"));
            }
        };
        if let Err(e) = self.docker.start_container(id, None).await {
            self.remove(id).await;
            return Err(format!("start failed: {e}"));
        }
        Ok(attached)
    }

    /// Removes a container, forced; 404 is "already gone".
    pub async fn remove(&self, id: &str) {
        let opts = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        // The engine may still be cleaning up after the process's exit (409, 500): try again.
        for attempt in 1..=5 {
            match self.docker.remove_container(id, Some(opts.clone())).await {
                Ok(()) => return,
                Err(e) if is_gone(&e) => return,
                Err(e) if attempt == 5 => {
                    tracing::warn!(container = id, "could not remove the container: {e}")
                }
                Err(e) => {
                    tracing::debug!(container = id, "remove: {e}; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// The hub instance's containers (running and stopped).
    pub async fn list_own(
        &self,
        instance: &str,
    ) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
        self.list_labelled(vec![format!("{LABEL_INSTANCE}={instance}")])
            .await
    }

    /// Removes the stopped containers of one server of this instance (what a restarted engine
    /// or a failed remove left), before its next container is created. `owned` names the
    /// containers this process holds (created, starting, running): a pool's other members
    /// create theirs at the same time, and one created but not yet started is not a leftover.
    pub async fn sweep_server(
        &self,
        instance: &str,
        tenant: &TenantId,
        server: &str,
        owned: &std::collections::BTreeSet<String>,
    ) {
        let labels = vec![
            format!("{LABEL_INSTANCE}={instance}"),
            format!("{LABEL_TENANT}={tenant}"),
            format!("{LABEL_SERVER}={server}"),
        ];
        for c in self.list_labelled(labels).await.unwrap_or_default() {
            let running = matches!(
                c.state,
                Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
            );
            let name = c.names.as_ref().and_then(|n| n.first());
            let held = name.is_some_and(|n| owned.contains(n.trim_start_matches('/')));
            if let (false, false, Some(id)) = (running, held, &c.id) {
                self.remove(id).await;
            }
        }
    }

    async fn list_labelled(
        &self,
        labels: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        // podman 4.3 lists a container whose process exited a moment ago as `stopped`, a state
        // the Docker API (and bollard) does not know, until its clean-up marks it `exited`
        // (within a second): such a list is read again.
        let mut tries = 0;
        loop {
            match self.docker.list_containers(Some(options.clone())).await {
                Err(bollard::errors::Error::JsonDataError { .. }) if tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                r => return Ok(r?),
            }
        }
    }

    /// Removes every container of this hub instance (what a previous run left, or all of them at
    /// shutdown); answers the names removed. Never touches a container without the label.
    pub async fn sweep(
        &self,
        instance: &str,
        only_stopped: bool,
    ) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        // A container whose process is exiting right now can survive a remove (the engine's
        // own clean-up races it): look again, a few times.
        for _pass in 0..3 {
            let mut any = false;
            for c in self.list_own(instance).await? {
                let running = matches!(
                    c.state,
                    Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                );
                if only_stopped && running {
                    continue;
                }
                let Some(id) = c.id else { continue };
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_else(|| id.clone());
                self.stop_and_remove(&id, Duration::from_secs(1)).await;
                let name = name.trim_start_matches('/').to_string();
                if !removed.contains(&name) {
                    removed.push(name);
                }
                any = true;
            }
            if !any {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(removed)
    }

    /// Creates the hub's own network when missing; answers whether it was created now.
    pub async fn ensure_network(&self, name: &str, instance: &str) -> Result<bool, EngineError> {
        match self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if is_gone(&e) => {
                let req = bollard::models::NetworkCreateRequest {
                    name: name.to_string(),
                    labels: Some(HashMap::from([(
                        LABEL_INSTANCE.to_string(),
                        instance.to_string(),
                    )])),
                    ..Default::default()
                };
                self.docker.create_network(req).await?;
                tracing::info!(network = name, "created the hub's container network");
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Engine {
    /// Removes network `name` when it carries this instance's label (the hub created it, in this
    /// run or an earlier one); a network the hub did not create is left alone. Answers whether
    /// it removed it; 404 is "already gone".
    pub async fn remove_own_network(&self, name: &str, instance: &str) -> bool {
        let inspected = self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await;
        let own = match inspected {
            Ok(n) => n
                .labels
                .is_some_and(|l| l.get(LABEL_INSTANCE).is_some_and(|i| i == instance)),
            Err(e) if is_gone(&e) => return false,
            Err(e) => {
                tracing::warn!(network = name, "could not inspect the network: {e}");
                return false;
            }
        };
        if !own {
            tracing::debug!(
                network = name,
                "not removing a network the hub did not create"
            );
            return false;
        }
        match self.docker.remove_network(name).await {
            Ok(()) => {
                tracing::info!(network = name, "removed the hub's container network");
                true
            }
            Err(e) if is_gone(&e) => false,
            Err(e) => {
                tracing::warn!(network = name, "could not remove the network: {e}");
                false
            }
        }
    }
}

/// `name[:tag]` (a registry port's colon is not a tag).
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    }
}

/// The container's name: `mcp-hub-<instance>-<tenant>-<server>-<nonce>` (the nonce lets a
/// restart create the next one while the engine still removes the last).
pub fn container_name(instance: &str, tenant: &TenantId, server: &str) -> String {
    format!(
        "mcp-hub-{instance}-{tenant}-{server}-{:06x}",
        fastrand::u32(..) & 0xff_ffff
    )
}

/// The create request: stdio attached, the secure defaults (every capability dropped,
/// `no-new-privileges`, a read-only root with a tmpfs `/tmp`, network `none`, an init), limits.
pub fn spec(
    cfg: &ServerConfig,
    k: &ContainerConfig,
    settings: &ContainerSettings,
    tenant: &TenantId,
) -> bollard::models::ContainerCreateBody {
    let mut labels: HashMap<String, String> = k.labels.clone().into_iter().collect();
    labels.insert(LABEL_INSTANCE.into(), settings.instance.clone());
    labels.insert(LABEL_TENANT.into(), tenant.to_string());
    labels.insert(LABEL_SERVER.into(), cfg.name.to_string());
    labels.insert(LABEL_STRATEGY.into(), k.strategy.as_str().into());
    let host = bollard::models::HostConfig {
        binds: Some(k.volumes.iter().map(|v| v.bind()).collect()),
        memory: k.memory,
        nano_cpus: k.cpus.map(|c| (c * 1e9) as i64),
        pids_limit: k.pids_limit,
        readonly_rootfs: Some(k.read_only),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            "rw,nosuid,nodev,size=64m".to_string(),
        )])),
        network_mode: Some(k.network.mode().to_string()),
        // `port`: published on a loopback port the engine chooses (`127.0.0.1::port`); with
        // `network = "host"` the server's port is the host's already.
        port_bindings: published(k).map(|p| {
            HashMap::from([(
                p,
                Some(vec![bollard::models::PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])
        }),
        init: Some(true),
        auto_remove: Some(false),
        ..Default::default()
    };
    bollard::models::ContainerCreateBody {
        image: Some(k.image.clone()),
        cmd: (!k.args.is_empty()).then(|| k.args.clone()),
        env: Some(k.env.iter().map(|(a, b)| format!("{a}={b}")).collect()),
        working_dir: k.workdir.clone(),
        user: k.user.clone(),
        labels: Some(labels),
        exposed_ports: published(k).map(|p| vec![p]),
        // An HTTP server's stdin is not the hub's channel: it stays closed.
        attach_stdin: Some(k.port.is_none()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(k.port.is_none()),
        stdin_once: Some(false),
        tty: Some(false),
        host_config: Some(host),
        ..Default::default()
    }
}

/// The `<port>/tcp` key of the port to publish (`None`: stdio, or the host's network).
pub fn published(k: &ContainerConfig) -> Option<String> {
    match (k.port, &k.network) {
        (_, crate::config::Network::Host) | (None, _) => None,
        (Some(p), _) => Some(format!("{p}/tcp")),
    }
}
