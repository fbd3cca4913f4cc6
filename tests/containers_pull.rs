//! Issue #13 item 6, image pulls from a real registry: Debian's `docker-registry` on loopback
//! (started by the harness, stopped by its PID) and an engine of each test's own (podman's
//! service in a scratch folder, which trusts loopback registries over plain HTTP). Images are
//! pushed there with the podman CLI and removed from the engine, then pulled back through the
//! hub: `POST /api/docker/images/pull` as a job to poll and as an NDJSON stream, a stream left
//! early, two pulls of one image at once (the second joins the first), `update: true` restarting
//! the server on a changed image, a missing tag, and `mcp-hub pull`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use harness::engine::{hostroot_server, hub_toml, test_instance, Engine, HOSTROOT};
use harness::registry::Registry;
use harness::{api, api_ok, pull_and_wait, wait_job, wait_servers, Config, ServedHub};
use serde_json::{json, Value};

const PULL_LIMIT: Duration = Duration::from_secs(60);

fn scratch(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("mcp-hub-pull-{what}-"))
        .tempdir()
        .unwrap()
}

/// `podman push` of the engine's `local` image to `remote` (plain HTTP), then `remote` removed
/// from the engine, so the next pull has to fetch it.
fn push(engine: &Engine, local: &str, remote: &str) {
    let out = engine.podman(&["push", "-q", "--tls-verify=false", local, remote]);
    assert!(
        out.status.success(),
        "podman push {local} {remote}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = engine.podman(&["rmi", "-f", remote]);
    assert!(
        !has_image(engine, remote),
        "{remote} is still in the engine"
    );
}

fn has_image(engine: &Engine, image: &str) -> bool {
    engine.podman(&["image", "exists", image]).status.success()
}

fn image_id(engine: &Engine, image: &str) -> String {
    engine.get(&format!("/images/{image}/json"))["Id"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("sha256:")
        .to_string()
}

/// Builds `tag` from `containerfile` with `files` in its context (offline).
fn build(engine: &Engine, tag: &str, containerfile: &str, files: &[(&str, &[u8])]) {
    let ctx = engine
        .dir
        .join(format!("ctx-{}", tag.replace(['/', ':'], "-")));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Containerfile"), containerfile).unwrap();
    for (name, data) in files {
        std::fs::write(ctx.join(name), data).unwrap();
    }
    let ctx = ctx.to_string_lossy().to_string();
    let out = engine.podman(&[
        "build",
        "--pull=never",
        "--network",
        "none",
        "-q",
        "-t",
        tag,
        &ctx,
    ]);
    assert!(
        out.status.success(),
        "podman build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An image with one 32 MB layer of random bytes: its pull takes long enough to be joined.
fn big_image(engine: &Engine) -> &'static str {
    let mut blob = vec![0u8; 32 << 20];
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
    for chunk in blob.chunks_mut(8) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        chunk.copy_from_slice(&seed.to_le_bytes()[..chunk.len()]);
    }
    let tag = "localhost/big:latest";
    build(
        engine,
        tag,
        &format!("FROM {HOSTROOT}\nCOPY blob /blob\n"),
        &[("blob", &blob)],
    );
    tag
}

fn demo_args() -> Vec<String> {
    vec!["/hub/mcp-hub".to_string(), "demo-server".to_string()]
}

/// A 2026-07-28 `tools/call` through the hub's Streamable HTTP endpoint: the tool's text.
fn call_text(port: u16, tool: &str, message: &str) -> String {
    let r = harness::mcp_call_2026(port, "/t/t/mcp", None, tool, json!({ "message": message }));
    let answer = r
        .json()
        .unwrap_or_else(|| panic!("no JSON-RPC answer ({}): {}", r.status, r.body));
    harness::first_text(&answer)
}

fn container_id(port: u16) -> String {
    let c = api_ok(port, "GET", "/api/docker/containers/t/srv", None, "");
    c["id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_pull_job_fetches_a_registry_image_and_update_restarts_its_server_on_the_new_one() {
    let dir = scratch("update");
    let engine = Engine::private(dir.path());
    let registry = Registry::start(dir.path());
    let image = registry.image("hostroot:1");
    push(&engine, HOSTROOT, &image);

    // A server on that image, which the engine does not have: it cannot start yet.
    let servers = format!(
        "{}\n[tenants.t.servers.srv.restart]\ninitial_backoff = \"5s\"\nmax_backoff = \"5s\"\n",
        hostroot_server("t", "srv", &demo_args(), "strategy = \"always-on\"")
            .replace(HOSTROOT, &image)
    );
    let hub = ServedHub::start(Config::new(&hub_toml(
        &engine,
        &test_instance("pull-update"),
        "",
        &servers,
    )));
    let port = hub.addr.port();
    let srv = api_ok(port, "GET", "/api/servers/t/srv", None, "");
    assert_ne!(srv["state"], "up", "{srv}");

    // (a) a job to poll: 202, then done; the image is in the engine; the server restarted on it.
    let body = json!({ "image": image, "update": true }).to_string();
    let started = Instant::now();
    let job = pull_and_wait(port, None, &body, PULL_LIMIT);
    eprintln!("first pull: {:?}: {job:#}", started.elapsed());
    assert_eq!(job["state"], "done", "{job}");
    let img = &job["images"][0];
    assert_eq!(img["image"], image.as_str());
    assert_eq!(img["state"], "done", "{job}");
    assert_eq!(img["changed"], true, "{job}");
    assert!(img["error"].is_null(), "{job}");
    assert!(img["layers_total"].as_u64().unwrap() >= 1, "{job}");
    assert_eq!(img["layers_done"], img["layers_total"], "{job}");
    assert!(img["bytes_total"].as_i64().unwrap() > 0, "{job}");
    assert_eq!(img["bytes_done"], img["bytes_total"], "{job}");
    assert!(img["line"].as_str().unwrap().starts_with(&image), "{job}");
    assert!(job["finished_at"].is_string(), "{job}");
    assert!(has_image(&engine, &image));
    assert_eq!(job["restarted"], json!(["t/srv"]), "{job}");

    // (c) the server runs on the pulled image and answers.
    wait_servers(port, None, "t", "up", &[], Duration::from_secs(30));
    assert_eq!(call_text(port, "srv__echo", "pulled"), "Echo: pulled");
    let first = container_id(port);
    assert!(!first.is_empty());

    // Pulled again, unchanged: nothing restarts.
    let job = pull_and_wait(port, None, &body, PULL_LIMIT);
    assert_eq!(job["images"][0]["changed"], false, "{job}");
    assert_eq!(job["restarted"], json!([]), "{job}");
    assert_eq!(container_id(port), first);

    // (d) a changed image under the same tag: `changed`, and the server runs a new container on it.
    build(
        &engine,
        "localhost/hostroot-v2:latest",
        &format!("FROM {HOSTROOT}\nLABEL version=2\n"),
        &[],
    );
    push(&engine, "localhost/hostroot-v2:latest", &image);
    let job = pull_and_wait(port, None, &body, PULL_LIMIT);
    assert_eq!(job["images"][0]["changed"], true, "{job}");
    assert_eq!(job["restarted"], json!(["t/srv"]), "{job}");
    wait_servers(port, None, "t", "up", &[], Duration::from_secs(30));
    let second = container_id(port);
    assert!(
        !second.is_empty() && second != first,
        "{first} then {second}"
    );
    let runs_on = engine.inspect(&second)["Image"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("sha256:")
        .to_string();
    assert_eq!(runs_on, image_id(&engine, &image));
    assert_eq!(call_text(port, "srv__echo", "updated"), "Echo: updated");
}

/// Reads a response to `request` on 127.0.0.1:`port` until its body holds one whole line;
/// that line (the connection is then dropped).
fn first_line(port: u16, request: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        // The body is chunked: the first chunk holds the first line.
        if let Some(start) = text.find("{\"job\"") {
            if let Some(end) = text[start..].find('\n') {
                return serde_json::from_str(&text[start..start + end]).unwrap();
            }
        }
    }
    panic!(
        "no first line within 10 s: {}",
        String::from_utf8_lossy(&raw)
    )
}

#[test]
fn the_stream_tells_progress_and_a_summary_a_left_stream_goes_on_and_a_second_pull_joins_the_first()
{
    let dir = scratch("stream");
    let engine = Engine::private(dir.path());
    let registry = Registry::start(dir.path());
    let big = big_image(&engine);
    let image = registry.image("big:1");
    push(&engine, big, &image);
    let hub = ServedHub::start(Config::new(&hub_toml(
        &engine,
        &test_instance("pull-stream"),
        "",
        &hostroot_server("t", "srv", &demo_args(), "").replace(HOSTROOT, &image),
    )));
    let port = hub.addr.port();
    let body = json!({ "image": image }).to_string();

    // (b) the stream form: the job first, progress, the finished job last.
    let a = api(
        port,
        "POST",
        "/api/docker/images/pull?stream=true",
        None,
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.raw.body);
    assert_eq!(a.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = a
        .raw
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    eprintln!("{} lines: {}", lines.len(), a.raw.body);
    assert!(lines.len() >= 2, "{}", a.raw.body);
    let id = lines[0]["job"].as_str().unwrap().to_string();
    assert_eq!(lines[0]["state"], "running");
    let last = lines.last().unwrap();
    assert_eq!(last["job"], id.as_str());
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["images"][0]["state"], "done", "{last}");
    assert!(
        last["images"][0]["bytes_total"].as_i64().unwrap() > 30 << 20,
        "{last}"
    );
    for p in &lines[1..lines.len() - 1] {
        assert_eq!(p["job"], id.as_str(), "{p}");
        assert_eq!(p["image"], image.as_str(), "{p}");
    }
    assert!(has_image(&engine, &image));
    // The same job, polled.
    assert_eq!(wait_job(port, None, &id, PULL_LIMIT)["state"], "done");

    // A stream left after its first line: the pull goes on and the job can be polled.
    let _ = engine.podman(&["rmi", "-f", &image]);
    let request = format!(
        "POST /api/docker/images/pull HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/x-ndjson\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let first = first_line(port, &request);
    let id = first["job"].as_str().unwrap();
    let job = wait_job(port, None, id, PULL_LIMIT);
    assert_eq!(job["state"], "done", "{job}");
    assert!(has_image(&engine, &image));

    // (4) two pulls of one image at once: one pull, the other job joins it and shares its result.
    let _ = engine.podman(&["rmi", "-f", &image]);
    let (b1, b2) = (body.clone(), body.clone());
    let t1 = std::thread::spawn(move || api(port, "POST", "/api/docker/images/pull", None, &b1));
    let t2 = std::thread::spawn(move || api(port, "POST", "/api/docker/images/pull", None, &b2));
    let (j1, j2) = (t1.join().unwrap(), t2.join().unwrap());
    assert_eq!((j1.status, j2.status), (202, 202));
    let id1 = j1.json["job"].as_str().unwrap().to_string();
    let id2 = j2.json["job"].as_str().unwrap().to_string();
    let (j1, j2) = (
        wait_job(port, None, &id1, PULL_LIMIT),
        wait_job(port, None, &id2, PULL_LIMIT),
    );
    let joined: Vec<&Value> = [&j1, &j2]
        .iter()
        .map(|j| &j["images"][0]["joined"])
        .filter(|j| !j.is_null())
        .collect();
    assert_eq!(
        joined.len(),
        1,
        "exactly one job joined the other:\n{j1}\n{j2}"
    );
    assert!(
        *joined[0] == json!(id1) || *joined[0] == json!(id2),
        "{j1}\n{j2}"
    );
    for j in [&j1, &j2] {
        assert_eq!(j["state"], "done", "{j}");
        assert_eq!(j["images"][0]["changed"], true, "{j}");
    }
    assert_eq!(
        j1["images"][0]["bytes_total"],
        j2["images"][0]["bytes_total"]
    );

    // An unknown job is a 404 with a hint.
    let nope = api(port, "GET", "/api/docker/images/pull/no-such-job", None, "");
    assert_eq!(nope.status, 404, "{}", nope.raw.body);
    assert!(nope.json["error"]["hint"]
        .as_str()
        .unwrap()
        .contains("POST /api/docker/images/pull"));
}

#[test]
fn a_missing_tag_fails_the_job_naming_the_image_and_bad_bodies_name_the_key() {
    let dir = scratch("missing");
    let engine = Engine::private(dir.path());
    let registry = Registry::start(dir.path());
    push(&engine, HOSTROOT, &registry.image("hostroot:1"));
    assert_eq!(registry.tags("hostroot"), vec!["1".to_string()]);
    let admin = "adm-pull-5e1f0c9a3b7d2e44";
    let config = Config::new(&hub_toml(
        &engine,
        &test_instance("pull-missing"),
        "",
        &format!(
            "[hub.admin]\napi_keys = [\"{admin}\"]\n[tenants.t]\napi_keys = [\"k-tenant-pull-7c2a9e13f0\"]\n{}",
            hostroot_server("t", "srv", &demo_args(), "")
        ),
    ));
    let missing = registry.image("hostroot:nope");

    // (f) `mcp-hub pull` prints progress and exits 0; a missing tag exits 1 naming the image.
    let good = registry.image("hostroot:1");
    let out = harness::run_hub(&config.path, &["pull", &good], "", PULL_LIMIT);
    assert_eq!(out.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("pulled {good}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!("{good}:")),
        "progress: {}",
        out.stderr
    );
    assert!(has_image(&engine, &good));
    let out = harness::run_hub(&config.path, &["pull", &missing], "", PULL_LIMIT);
    assert_eq!(out.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("error: pulling image `{missing}` failed")),
        "{}",
        out.stderr
    );

    let hub = ServedHub::start(config);
    let port = hub.addr.port();
    // (e) a missing tag: the job fails, its image says why and names itself.
    let body = json!({ "image": missing }).to_string();
    let job = pull_and_wait(port, Some(admin), &body, PULL_LIMIT);
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["images"][0]["state"], "failed", "{job}");
    let error = job["images"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("pulling image `{missing}` failed")),
        "{error}"
    );
    assert!(error.contains("manifest unknown"), "{error}");

    // Bad bodies name the key; a tenant's key gets the admin-only answer; no key, 401.
    for (bad, key) in [
        (r#"{"image": 3}"#, "`image`"),
        (r#"{"image": ""}"#, "`image`"),
        (r#"{"image": "x:1", "update": "yes"}"#, "`update`"),
        (r#"{"imgae": "x:1"}"#, "`imgae`"),
    ] {
        let a = api(port, "POST", "/api/docker/images/pull", Some(admin), bad);
        assert_eq!(a.status, 400, "{bad}: {}", a.raw.body);
        assert!(
            a.json["error"]["message"].as_str().unwrap().contains(key),
            "{bad}: {}",
            a.raw.body
        );
    }
    let a = api(
        port,
        "POST",
        "/api/docker/images/pull?stream=perhaps",
        Some(admin),
        &body,
    );
    assert_eq!(a.status, 400, "{}", a.raw.body);
    let a = api(
        port,
        "POST",
        "/api/docker/images/pull",
        Some("k-tenant-pull-7c2a9e13f0"),
        &body,
    );
    assert_eq!((a.status, a.code()), (403, "admin_only"), "{}", a.raw.body);
    let id = job["job"].as_str().unwrap();
    let path = format!("/api/docker/images/pull/{id}");
    assert_eq!(
        api(port, "GET", &path, Some("k-tenant-pull-7c2a9e13f0"), "").status,
        403
    );
    assert_eq!(api(port, "GET", &path, None, "").status, 401);
}
