//! The Docker Engine API as the hub uses it (Docker or podman's compatible service, API 1.41):
//! connect, images, create, attach-then-start, stop-then-remove where 404 means "already
//! gone", and the labels every container of the hub carries. What is created is `spec.rs`'s;
//! what the hub owns by label (the sweep, its network) is `owned.rs`'s. Knows no MCP.

use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;

use crate::config::{ContainerSettings, Pull};

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
}

/// `name[:tag]` (a registry port's colon is not a tag).
fn split_tag(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    }
}
