//! The container engine for the container tests: podman's Docker-compatible service, started by
//! `scripts/podman.sh` with its state in a scratch folder, shared by the test processes of a run
//! (a lock serialises the start; the service exits by itself after a minute without a
//! connection), or private to one test (`Engine::private`, stopped by its PID on drop). The
//! images are local: `localhost/hostroot` runs the host's `/usr` mounted read-only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::deps::repo_root;

/// The image whose root is almost empty: run it with `/usr` mounted (`HOSTROOT_VOLUMES`).
pub const HOSTROOT: &str = "localhost/hostroot:latest";

pub struct Engine {
    pub dir: PathBuf,
    pub socket: String,
    /// Stopped (by the script, with the PID it recorded) on drop.
    private: bool,
}

fn script(args: &[&str], time: &str) -> Result<String, String> {
    let out = Command::new(repo_root().join("scripts/podman.sh"))
        .args(args)
        .env("PODMAN_SERVICE_TIME", time)
        .output()
        .map_err(|e| format!("cannot run scripts/podman.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`scripts/podman.sh {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn start_in(dir: &Path, time: &str) -> Result<String, String> {
    let d = dir.to_string_lossy().to_string();
    let socket = script(&["start", &d], time)?;
    script(&["hostroot", &d], time)?;
    Ok(socket)
}

impl Engine {
    /// The run's shared engine (`target/podman-tests`); panics saying why when it cannot start.
    pub fn shared() -> Engine {
        let dir = repo_root().join("target/podman-tests");
        std::fs::create_dir_all(&dir).expect("create target/podman-tests");
        let socket = {
            let _guard = FileLock::lock(&dir.join("start.lockdir"));
            start_in(&dir, "60")
        }
        .unwrap_or_else(|e| {
            panic!("the container engine (podman) could not start, so the container tests cannot run: {e}")
        });
        Engine {
            dir,
            socket,
            private: false,
        }
    }

    /// An engine of this test's own (for tests that stop or restart it).
    pub fn private(dir: &Path) -> Engine {
        let socket = start_in(dir, "0").unwrap_or_else(|e| {
            panic!("the container engine (podman) could not start, so this test cannot run: {e}")
        });
        Engine {
            dir: dir.to_path_buf(),
            socket,
            private: true,
        }
    }

    pub fn stop(&self) {
        let _ = script(&["stop", &self.dir.to_string_lossy()], "0");
    }

    pub fn start(&self) {
        start_in(&self.dir, "0").expect("restart the engine");
    }

    /// A GET on the engine's API (JSON), through curl on the unix socket.
    pub fn get(&self, path: &str) -> Value {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "10", "--unix-socket", &self.socket])
            .arg(format!("http://d/v1.41{path}"))
            .output()
            .expect("run curl");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The containers carrying `label` (`key=value`), stopped ones included.
    pub fn containers(&self, label: &str) -> Vec<Value> {
        let filters = format!("{{\"label\":[\"{label}\"]}}");
        let q = url_encode(&filters);
        match self.get(&format!("/containers/json?all=true&filters={q}")) {
            Value::Array(v) => v,
            _ => Vec::new(),
        }
    }

    /// `podman` CLI on this engine's store and registries (exec into a container, kill one, push).
    pub fn podman(&self, args: &[&str]) -> std::process::Output {
        Command::new("podman")
            .args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"))
            .env(
                "CONTAINERS_REGISTRIES_CONF",
                self.dir.join("registries.conf"),
            )
            .output()
            .expect("run podman")
    }

    /// Waits until `f` holds (polling every 100 ms), at most `limit`.
    pub fn wait(&self, limit: Duration, mut f: impl FnMut(&Engine) -> bool) -> bool {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f(self)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.private {
            self.stop();
            // podman mounts its overlay store on itself; unmounted, the scratch folder can go.
            let overlay = self.dir.join("storage/overlay");
            let _ = Command::new("umount").arg(&overlay).output();
        }
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An exclusive lock held while alive: a directory (its creation is atomic), shared by the
/// test processes of a run.
struct FileLock(PathBuf);

impl FileLock {
    fn lock(dir: &Path) -> FileLock {
        let dir = dir.to_path_buf();
        let until = std::time::Instant::now() + Duration::from_secs(120);
        while std::fs::create_dir(&dir).is_err() {
            // A lock older than two minutes belongs to a test that died holding it.
            let stale = std::fs::metadata(&dir)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|e| e > Duration::from_secs(120));
            if stale || std::time::Instant::now() > until {
                let _ = std::fs::remove_dir(&dir);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        FileLock(dir)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The volumes that make `localhost/hostroot` run the host's programs: `/usr` and the hub's
/// build folder (for `mcp-hub demo-server`) and `.test-deps` (node servers), read-only.
pub fn hostroot_volumes() -> String {
    let hub_dir = Path::new(super::deps::HUB_BIN)
        .parent()
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_default();
    let deps = super::deps::deps_dir().to_string_lossy().to_string();
    format!("[\"/usr:/usr:ro\", \"{hub_dir}:/hub:ro\", \"{deps}:{deps}:ro\"]")
}

/// A hub config for the container tests: `[hub]` timeouts, `[hub.containers]` on `engine` with
/// this test's `instance` (and `extra` keys there), then `servers`.
pub fn hub_toml(engine: &Engine, instance: &str, extra: &str, servers: &str) -> String {
    format!(
        r#"
[hub]
shutdown_grace = "1s"
startup_timeout = "30s"
request_timeout = "20s"

[hub.containers]
socket = "{socket}"
instance = "{instance}"
{extra}

{servers}
"#,
        socket = engine.socket,
    )
}

/// A container server `tenant/name` running `args` in `localhost/hostroot`, with `extra` keys.
pub fn hostroot_server(tenant: &str, name: &str, args: &[String], extra: &str) -> String {
    format!(
        r#"
[tenants.{tenant}.servers.{name}.container]
image = "{HOSTROOT}"
args = {args}
volumes = {volumes}
pull = "never"
{extra}
"#,
        args = serde_json::to_string(args).unwrap_or_default(),
        volumes = hostroot_volumes()
    )
}

/// This test's instance id (unique per process and test, so tests never sweep each other).
pub fn test_instance(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// The label filter for an instance's containers.
pub fn instance_label(instance: &str) -> String {
    format!("io.mcp-hub.instance={instance}")
}

impl Engine {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, id: &str) -> Value {
        self.get(&format!("/containers/{id}/json"))
    }

    /// Whether the engine has the network `name`.
    pub fn has_network(&self, name: &str) -> bool {
        self.get(&format!("/networks/{name}")).is_object()
    }

    /// Builds `tag` from a Containerfile (`--format docker`: the OCI format drops HEALTHCHECK),
    /// offline; panics saying why when it fails.
    pub fn build(&self, tag: &str, containerfile: &str) {
        let ctx = self
            .dir
            .join(format!("build-{}", tag.replace(['/', ':'], "-")));
        std::fs::create_dir_all(&ctx).expect("create the build folder");
        std::fs::write(ctx.join("Containerfile"), containerfile).expect("write the Containerfile");
        let out = self.podman(&[
            "build",
            "--pull=never",
            "--network",
            "none",
            "--format",
            "docker",
            "-q",
            "-t",
            tag,
            &ctx.to_string_lossy(),
        ]);
        assert!(
            out.status.success(),
            "podman build {tag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
