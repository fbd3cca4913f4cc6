//! A container registry of the test's own: Debian's `docker-registry` (installed by
//! `scripts/podman.sh install`) serving plain HTTP on 127.0.0.1:<free port> with its storage in a
//! scratch folder, ready once `GET /v2/` answers, stopped by its PID when dropped. The engine
//! trusts it because `scripts/podman.sh` marks loopback registries insecure.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::http::http_request;
use super::proc::{free_port, Proc};

pub struct Registry {
    /// `127.0.0.1:PORT`, the prefix of its images' names.
    pub addr: String,
    pub port: u16,
    _proc: Proc,
}

impl Registry {
    /// Starts one with its config and storage under `dir`; panics saying why when it cannot.
    pub fn start(dir: &Path) -> Registry {
        let storage = dir.join("registry");
        std::fs::create_dir_all(&storage).expect("create the registry's storage folder");
        let port = free_port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .expect("write the registry's config");
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve").arg(&config);
        let mut proc = Proc::spawn("docker-registry", cmd, |_| {}).unwrap_or_else(|e| {
            panic!("the registry (`docker-registry`, Debian's package; `scripts/podman.sh install` installs it) could not start: {e:#}")
        });
        proc.grace = Duration::from_secs(2);
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            if http_request(port, "GET", "/v2/", &[], b"").is_ok_and(|r| r.status == 200) {
                break;
            }
            assert!(
                proc.running() && Instant::now() < until,
                "docker-registry did not answer `GET /v2/` on 127.0.0.1:{port} within 15 s; its log:\n{}",
                proc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            addr: format!("127.0.0.1:{port}"),
            port,
            _proc: proc,
        }
    }

    /// `127.0.0.1:PORT/name`.
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    /// The tags the registry holds for `repo`.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let r = http_request(self.port, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
        r.ok()
            .and_then(|r| r.json())
            .map(|v| super::strings(&v, "tags"))
            .unwrap_or_default()
    }
}
