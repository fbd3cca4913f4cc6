//! `[hub.containers]`: the engine the hub's containers run on, the hub's instance id, its own
//! network, how stdio containers are reached, and the default limits of every container server,
//! every value checked (knows no engine and no server).

use std::path::Path;

use sha2::Digest;

use super::container::{bytes, cpus, pids};
use super::raw::RawContainers;
use super::validate::{int_in, Collector};

/// How a stdio container's stdin and stdout reach the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdioPath {
    /// The default: a unix socket in a folder mounted into the container, over which a small
    /// static shim receives two pipes of the hub's and puts them on the server's stdin and
    /// stdout before it runs the image's command: no relay in between, as for a child process.
    /// Falls back to `Attach` where the engine cannot mount the hub's folders.
    Socket,
    /// The engine's attach stream (the engine's service and its monitor relay every line).
    Attach,
}

impl StdioPath {
    pub fn as_str(self) -> &'static str {
        match self {
            StdioPath::Socket => "socket",
            StdioPath::Attach => "attach",
        }
    }
}

/// `[hub.containers]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSettings {
    /// The engine's socket (`unix:///…` or a path); `None`: `DOCKER_HOST`, then the usual paths.
    pub socket: Option<String>,
    /// A network of the hub's own, created when missing and removed by cleanup if the hub made it.
    pub network: Option<String>,
    pub image_prefix: Option<String>,
    /// Containers running at once, hub-wide.
    pub max_containers: Option<usize>,
    pub cleanup_on_shutdown: bool,
    /// How a stdio container's stdin and stdout reach the hub (`hub.containers.stdio`).
    pub stdio: StdioPath,
    /// This hub's label value: `hub.containers.instance`, or a hash of the config file's path.
    pub instance: String,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
}

impl Default for ContainerSettings {
    fn default() -> Self {
        Self {
            socket: None,
            network: None,
            image_prefix: None,
            max_containers: None,
            cleanup_on_shutdown: true,
            stdio: StdioPath::Socket,
            instance: String::new(),
            memory: None,
            cpus: None,
            pids_limit: None,
        }
    }
}

/// `[hub.containers]`; the instance id defaults to a hash of the config file's absolute path,
/// so two hubs with different configs on one engine never sweep each other's containers.
pub(super) fn settings(
    c: &mut Collector,
    r: Option<&RawContainers>,
    file: &Path,
) -> ContainerSettings {
    let d = RawContainers::default();
    let r = r.unwrap_or(&d);
    let instance = match &r.instance {
        Some(i)
            if !i.is_empty()
                && i.len() <= 32
                && i.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') =>
        {
            i.clone()
        }
        Some(i) => {
            c.push(
                "hub.containers.instance",
                format!("`{i}` is not an instance id"),
                Some("use 1 to 32 letters, digits or `-`"),
            );
            String::new()
        }
        None => {
            let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
            let digest = sha2::Sha256::digest(abs.to_string_lossy().as_bytes());
            digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
        }
    };
    if let Some(n) = &r.network {
        if n.is_empty()
            || !n
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
            || matches!(n.as_str(), "none" | "bridge" | "host")
        {
            c.push(
                "hub.containers.network",
                format!("`{n}` cannot be the hub's own network"),
                Some("name a network of the hub's own, e.g. `mcp-hub`"),
            );
        }
    }
    ContainerSettings {
        socket: r.socket.clone(),
        network: r.network.clone(),
        image_prefix: r.image_prefix.clone(),
        max_containers: r
            .max_containers
            .map(|n| int_in(c, "hub.containers.max_containers", Some(n), 0, 1, 10_000) as usize),
        cleanup_on_shutdown: r.cleanup_on_shutdown.unwrap_or(true),
        stdio: match r.stdio.as_deref() {
            None | Some("socket") => StdioPath::Socket,
            Some("attach") => StdioPath::Attach,
            Some(other) => {
                c.push(
                    "hub.containers.stdio",
                    format!("`{other}` is not a stdio path"),
                    Some("use `socket` (the default: the hub's pipes, handed to the container over a socket it mounts) or `attach` (the engine's attach stream)"),
                );
                StdioPath::Socket
            }
        },
        instance,
        memory: bytes(c, "hub.containers.memory", r.memory.as_deref()),
        cpus: cpus(c, "hub.containers.cpus", r.cpus),
        pids_limit: pids(c, "hub.containers.pids_limit", r.pids_limit),
    }
}
