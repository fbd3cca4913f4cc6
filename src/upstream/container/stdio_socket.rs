//! `hub.containers.stdio = "socket"`: a stdio container's stdin and stdout are pipes of the
//! hub's, handed over a unix socket, so that no relay sits between the hub and the server. For
//! each container the hub makes a folder (`$TMPDIR/mcp-hub-io/<instance>/<n>`) holding the
//! static shim it carries (`shim/mcp-hub-shim.rs`) and a listening socket, mounts it at
//! `/.mcp-hub`, and runs the image's command under the shim, which connects, receives the
//! server's ends of two pipes, and execs it. Knows files, the socket, the pipes and the command
//! line; not the engine's API nor MCP.
//!
//! Where the shim was not built or the engine is remote, the container is attached as before;
//! where the engine turns out not to see the hub's folders (a hub in a container of its own
//! talking to its host's engine), the first container fails saying so and every later one is
//! attached ([`mark_broken`]).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::unix::pipe;
use tokio::net::UnixListener;

/// The shim, built static by `build.rs` (empty when it could not be).
static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mcp-hub-shim"));

/// Where the folder is mounted inside the container.
pub const MOUNT: &str = "/.mcp-hub";

/// A container's folder: removed (with its socket and shim copy) when dropped.
#[derive(Debug)]
pub struct IoDir {
    dir: PathBuf,
}

impl Drop for IoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A prepared socket path: the folder, the listener, and the bind for the engine.
#[derive(Debug)]
pub struct Prepared {
    pub dir: IoDir,
    pub listener: UnixListener,
    /// `host-folder:/.mcp-hub`.
    pub bind: String,
}

fn root(instance: &str) -> PathBuf {
    std::env::temp_dir().join("mcp-hub-io").join(instance)
}

/// Set once a container could not use the socket: the engine does not see the hub's folders
/// (a hub in a container of its own talking to its host's engine, a folder the engine cannot
/// mount). From then on this process attaches.
static BROKEN: AtomicBool = AtomicBool::new(false);

/// A container could not use the socket path (`why`): this one fails (its supervisor starts it
/// again) and every later one is attached. Said once, as a warning.
pub fn mark_broken(why: &str) {
    if !BROKEN.swap(true, Ordering::AcqRel) {
        tracing::warn!("stdio containers switch to the engine's attach stream: {why}; set `hub.containers.stdio = \"attach\"` where the engine cannot mount the hub's folders");
    }
}

/// Whether the engine is reached over a local unix socket (so it shares the hub's file system).
fn local_engine(socket: Option<&str>) -> bool {
    let host = socket
        .map(str::to_string)
        .or_else(|| std::env::var("DOCKER_HOST").ok());
    match host {
        None => true,
        Some(h) => h.starts_with("unix://") || h.starts_with('/'),
    }
}

/// Why the socket path cannot be used here (`None`: it can).
pub fn unavailable(socket: Option<&str>) -> Option<&'static str> {
    if SHIM.is_empty() {
        Some("this build carries no static shim")
    } else if !local_engine(socket) {
        Some("the engine is not on a local unix socket")
    } else if BROKEN.load(Ordering::Acquire) {
        Some("an earlier container could not use the hub's socket")
    } else {
        None
    }
}

/// Removes the folders an earlier run of this instance left (once, before its first container).
pub fn sweep(instance: &str) {
    let _ = std::fs::remove_dir_all(root(instance));
}

/// Makes the container's folder: the shim (0755) and a listening socket (0666: the container's
/// user may be anyone). `Err`: the folder or socket could not be made.
pub fn prepare(instance: &str) -> std::io::Result<Prepared> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = root(instance);
    std::fs::create_dir_all(&base)?;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o711))?;
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    let guard = IoDir { dir: dir.clone() };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let shim = dir.join("shim");
    std::fs::write(&shim, SHIM)?;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755))?;
    let sock = dir.join("io.sock");
    let listener = UnixListener::bind(&sock)?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666))?;
    Ok(Prepared {
        bind: format!("{}:{MOUNT}", dir.display()),
        dir: guard,
        listener,
    })
}

/// The container's entrypoint: the shim, its socket, then the command it runs (the image's
/// entrypoint, then `args` or the image's command).
pub fn entrypoint(image_entrypoint: &[String], cmd: &[String]) -> Option<Vec<String>> {
    let command: Vec<String> = image_entrypoint.iter().chain(cmd).cloned().collect();
    if command.is_empty() {
        return None;
    }
    let mut v = vec![format!("{MOUNT}/shim"), format!("{MOUNT}/io.sock")];
    v.extend(command);
    Some(v)
}

/// Points the create request at the shim: its folder mounted, stdin not attached, and the
/// command (`entrypoint` above) split as the shim and its socket, then what it runs.
pub fn apply(spec: &mut bollard::models::ContainerCreateBody, bind: &str, command: Vec<String>) {
    let (shim, rest) = command.split_at(2.min(command.len()));
    spec.entrypoint = Some(shim.to_vec());
    spec.cmd = Some(rest.to_vec());
    spec.attach_stdin = Some(false);
    spec.open_stdin = Some(false);
    if let Some(h) = spec.host_config.as_mut() {
        h.binds.get_or_insert_with(Vec::new).push(bind.to_string());
    }
}

/// The server's stdin (the hub writes) and stdout (the hub reads): the hub's ends of two pipes
/// whose other ends the shim put on the server's 0 and 1, as for a child process.
pub struct Streams {
    pub stdin: pipe::Sender,
    pub stdout: pipe::Receiver,
}

/// Waits for the shim's connection (its hello is `p`), at most `limit`, and hands it the
/// server's ends of two fresh pipes (`SCM_RIGHTS`). Pipes rather than the socket: a server
/// reading a socket wakes the hub's reactor for writability on every read, a pipe with room
/// does not; so a warm call costs what it does through a child's pipes.
pub async fn accept(listener: &UnixListener, limit: Duration) -> std::io::Result<Streams> {
    let handover = async {
        let (mut s, _) = listener.accept().await?;
        let mut hello = [0u8; 1];
        s.read_exact(&mut hello).await?;
        if hello[0] != b'p' {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a connection on the hub's stdio socket that is not the shim's",
            ));
        }
        let (stdin_r, stdin_w) = std::io::pipe()?;
        let (stdout_r, stdout_w) = std::io::pipe()?;
        let fds = [stdin_r.as_raw_fd(), stdout_w.as_raw_fd()];
        loop {
            s.writable().await?;
            let sent = s.try_io(Interest::WRITABLE, || {
                sendmsg::<()>(
                    s.as_raw_fd(),
                    &[IoSlice::new(b"p")],
                    &[ControlMessage::ScmRights(&fds)],
                    MsgFlags::MSG_NOSIGNAL,
                    None,
                )
                .map_err(std::io::Error::from)
            });
            match sent {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        // The server's ends now live in the shim (in flight until it reads them): the hub's
        // copies close, so that the server's exit is EOF here and EPIPE there.
        drop((stdin_r, stdout_w));
        Ok(Streams {
            stdin: pipe::Sender::from_owned_fd(OwnedFd::from(stdin_w))?,
            stdout: pipe::Receiver::from_owned_fd(OwnedFd::from(stdout_r))?,
        })
    };
    match tokio::time::timeout(limit, handover).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the container's shim did not connect within {} s",
                limit.as_secs()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_runs_under_the_shim_after_the_images_entrypoint() {
        let e = entrypoint(&["/entry.sh".into()], &["serve".into(), "--stdio".into()]);
        assert_eq!(
            e.unwrap(),
            vec![
                "/.mcp-hub/shim",
                "/.mcp-hub/io.sock",
                "/entry.sh",
                "serve",
                "--stdio"
            ]
        );
        assert_eq!(
            entrypoint(&[], &[]),
            None,
            "an image with no command has nothing to run"
        );
    }

    #[test]
    fn a_remote_engine_cannot_mount_the_hubs_folders() {
        assert!(!local_engine(Some("tcp://10.0.0.2:2375")));
        assert!(local_engine(Some("unix:///run/podman/podman.sock")));
        assert!(local_engine(Some("/var/run/docker.sock")));
    }

    #[test]
    fn the_shim_is_carried_static() {
        // build.rs builds it with +crt-static: a static executable has no PT_INTERP header.
        assert!(!SHIM.is_empty(), "build.rs could not build the shim here");
        assert_eq!(&SHIM[..4], b"\x7fELF");
        let phoff = u64::from_le_bytes(SHIM[0x20..0x28].try_into().unwrap()) as usize;
        let size = u16::from_le_bytes(SHIM[0x36..0x38].try_into().unwrap()) as usize;
        let count = u16::from_le_bytes(SHIM[0x38..0x3a].try_into().unwrap()) as usize;
        let interp = (0..count).any(|i| {
            let at = phoff + i * size;
            u32::from_le_bytes(SHIM[at..at + 4].try_into().unwrap()) == 3
        });
        assert!(!interp, "the shim asks for a dynamic loader");
    }
}
