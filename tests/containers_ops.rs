//! Issue #13, operating container servers against the real engine (podman's Docker-compatible
//! service): the hub's own network (created when missing and labelled, the server's container
//! on it, removed at shutdown and by `POST /api/docker/cleanup`, a network the hub did not create
//! left alone); the image's own HEALTHCHECK status in `/health`, `/api/servers`,
//! `/api/docker/containers` and `mcp-hub status`; `/health` degraded, not unhealthy, when only
//! on-demand containers are stopped; and image pulls that fail naming the image.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::Duration;

use harness::engine::{hostroot_server, hub_toml, instance_label, test_instance, Engine, HOSTROOT};
use harness::{api, api_ok, wait_until, Config, ServedHub, StdioHub};
use serde_json::json;

fn demo_args() -> Vec<String> {
    vec!["/hub/mcp-hub".to_string(), "demo-server".to_string()]
}

/// The demo server as a container on `network`, with `extra` keys.
fn demo_on(name: &str, network: &str, extra: &str) -> String {
    hostroot_server(
        "t",
        name,
        &demo_args(),
        &format!("network = \"{network}\"\n{extra}"),
    )
}

#[test]
fn the_hubs_network_is_created_labelled_used_and_removed_at_shutdown() {
    let engine = Engine::shared();
    let inst = test_instance("net");
    let net = format!("mcphub-{inst}");
    assert!(!engine.has_network(&net), "left from an earlier run");
    let toml = hub_toml(
        &engine,
        &inst,
        &format!("network = \"{net}\""),
        &demo_on("demo", &net, "strategy = \"always-on\""),
    );
    let mut hub = StdioHub::start(&toml);
    let echo = hub.call("demo__echo", json!({"message": "on the hub's network"}));
    assert!(
        harness::first_text(&echo).contains("on the hub's network"),
        "{echo}\n{}",
        hub.log()
    );

    let n = engine.get(&format!("/networks/{net}"));
    assert_eq!(
        n["Labels"]["io.mcp-hub.instance"],
        inst.as_str(),
        "the network carries the hub's label: {n}"
    );
    let rows = engine.containers(&instance_label(&inst));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let inspected = engine.inspect(rows[0]["Id"].as_str().unwrap());
    assert!(
        inspected["NetworkSettings"]["Networks"]
            .get(net.as_str())
            .is_some(),
        "the container is on `{net}`: {}",
        inspected["NetworkSettings"]
    );

    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
    assert!(
        engine.containers(&instance_label(&inst)).is_empty(),
        "{:?}",
        engine.containers(&instance_label(&inst))
    );
    assert!(
        !engine.has_network(&net),
        "the hub's network outlived it:\n{log}"
    );
}

#[test]
fn cleanup_removes_the_hubs_network_once_unused_and_never_one_it_did_not_create() {
    let engine = Engine::shared();
    let inst = test_instance("netclean");
    let own = format!("mcphub-{inst}");
    let foreign = format!("foreign-{inst}");
    let made = engine.podman(&["network", "create", &foreign]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    // A hub whose network is the hub's own: cleanup removes it once no container runs.
    let hub = ServedHub::start(Config::new(&hub_toml(
        &engine,
        &inst,
        &format!("network = \"{own}\""),
        &demo_on("demo", &own, "strategy = \"always-on\""),
    )));
    let port = hub.addr.port();
    let get = |path: &str| api_ok(port, "GET", path, None, "");
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            get("/api/docker/containers/t/demo")["running"] == true
        }),
        "{}\n{}",
        get("/api/docker/containers/t/demo"),
        hub.log()
    );
    assert!(engine.has_network(&own));
    let kept = api_ok(port, "POST", "/api/docker/cleanup", None, "");
    assert_eq!(kept["networks"], json!([]), "in use: kept. {kept}");
    assert!(engine.has_network(&own));

    api_ok(port, "POST", "/api/docker/containers/t/demo/stop", None, "");
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
            get("/api/docker/containers/t/demo")["running"] == false
        }),
        "{}",
        get("/api/docker/containers/t/demo")
    );
    let cleaned = api_ok(port, "POST", "/api/docker/cleanup", None, "");
    assert_eq!(cleaned["networks"], json!([own.as_str()]), "{cleaned}");
    assert!(!engine.has_network(&own), "{cleaned}");

    // The next start creates it again.
    api_ok(
        port,
        "POST",
        "/api/docker/containers/t/demo/start",
        None,
        "",
    );
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            get("/api/docker/containers/t/demo")["state"] == "up"
        }),
        "{}\n{}",
        get("/api/docker/containers/t/demo"),
        hub.log()
    );
    assert!(engine.has_network(&own), "{}", hub.log());
    drop(hub);
    assert!(
        engine.wait(Duration::from_secs(10), |e| !e.has_network(&own)),
        "the hub's network outlived it"
    );

    // A hub told to use a network it did not create: neither cleanup nor shutdown removes it.
    let inst2 = format!("{inst}-2");
    let hub = ServedHub::start(Config::new(&hub_toml(
        &engine,
        &inst2,
        &format!("network = \"{foreign}\""),
        &demo_on("demo", &foreign, "strategy = \"always-on\""),
    )));
    let port = hub.addr.port();
    let get = |path: &str| api_ok(port, "GET", path, None, "");
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            get("/api/docker/containers/t/demo")["state"] == "up"
        }),
        "{}\n{}",
        get("/api/docker/containers/t/demo"),
        hub.log()
    );
    api_ok(port, "POST", "/api/docker/containers/t/demo/stop", None, "");
    assert!(wait_until(
        Duration::from_secs(15),
        Duration::from_millis(100),
        || get("/api/docker/containers/t/demo")["running"] == false
    ));
    let cleaned = api_ok(port, "POST", "/api/docker/cleanup", None, "");
    assert_eq!(cleaned["networks"], json!([]), "{cleaned}");
    drop(hub);
    assert!(
        engine.has_network(&foreign),
        "a network the hub did not create was removed"
    );
    let _ = engine.podman(&["network", "rm", "-f", &foreign]);
}

/// An image with a HEALTHCHECK: healthy once `/tmp/ok` exists (podman without systemd runs the
/// check only when asked: `podman healthcheck run`).
const CHECKED: &str = "localhost/hostroot-healthcheck:latest";

#[test]
fn the_images_own_health_shows_in_health_status_and_the_docker_routes() {
    let engine = Engine::shared();
    engine.build(
        CHECKED,
        &format!("FROM {HOSTROOT}\nHEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD [\"/usr/bin/test\", \"-e\", \"/tmp/ok\"]\n"),
    );
    let inst = test_instance("health");
    let servers = hostroot_server("t", "checked", &demo_args(), "strategy = \"always-on\"")
        .replace(HOSTROOT, CHECKED)
        + &hostroot_server("t", "plain", &demo_args(), "strategy = \"always-on\"");
    let hub = ServedHub::start(Config::new(&hub_toml(&engine, &inst, "", &servers)));
    let port = hub.addr.port();
    let get = |path: &str| api_ok(port, "GET", path, None, "");
    let health_of = |server: &str| {
        api(port, "GET", "/health", None, "").json["upstreams"][format!("t/{server}")]["container"]
            ["health"]
            .clone()
    };
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
            get("/api/docker/containers/t/checked")["health"] == "starting"
                && get("/api/docker/containers/t/plain")["state"] == "up"
        }),
        "{}\n{}",
        get("/api/docker/containers"),
        hub.log()
    );
    assert_eq!(health_of("checked"), "starting");
    assert_eq!(health_of("plain"), json!(null), "no HEALTHCHECK, no health");
    let name = get("/api/docker/containers/t/checked")["container"]
        .as_str()
        .unwrap()
        .to_string();

    // The check fails (no /tmp/ok): unhealthy, as the engine says.
    let _ = engine.podman(&["healthcheck", "run", &name]);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            health_of("checked") == "unhealthy"
        }),
        "{}",
        api(port, "GET", "/health", None, "").raw.body
    );

    // Then it passes: healthy everywhere.
    let touched = engine.podman(&["exec", &name, "/usr/bin/touch", "/tmp/ok"]);
    assert!(
        touched.status.success(),
        "{}",
        String::from_utf8_lossy(&touched.stderr)
    );
    let ran = engine.podman(&["healthcheck", "run", &name]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            health_of("checked") == "healthy"
        }),
        "{}",
        api(port, "GET", "/health", None, "").raw.body
    );
    assert_eq!(get("/api/docker/containers/t/checked")["health"], "healthy");
    let servers = get("/api/servers");
    let row = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "checked")
        .unwrap();
    assert_eq!(row["container"]["health"], "healthy", "{row}");

    let url = format!("http://127.0.0.1:{port}");
    let out = harness::run_hub(
        &hub.config.path,
        &["status", "--url", &url],
        "",
        Duration::from_secs(20),
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("t/checked"))
        .unwrap_or_else(|| panic!("{}\n{}", out.stdout, out.stderr));
    assert!(
        line.contains("container always-on health=healthy"),
        "{line}"
    );
    assert_eq!(out.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn health_is_degraded_not_unhealthy_when_only_on_demand_containers_are_stopped() {
    let engine = Engine::shared();
    let inst = test_instance("parked");
    let toml = hub_toml(
        &engine,
        &inst,
        "",
        &hostroot_server("t", "lazy", &demo_args(), "idle_timeout = \"1s\""),
    );
    let addr = format!("127.0.0.1:{}", harness::free_port());
    let mut hub = StdioHub::start_args(&toml, &["--health-listen", &addr]);
    assert!(hub.tool_names().iter().any(|t| t == "lazy__echo"));
    assert!(
        engine.wait(Duration::from_secs(15), |e| e
            .containers(&instance_label(&inst))
            .is_empty()),
        "{}",
        hub.log()
    );
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let health = api(port, "GET", "/health", None, "");
    assert_eq!(health.status, 200, "{}", health.raw.body);
    assert_eq!(health.json["status"], "degraded", "{}", health.json);
    assert_eq!(
        health.json["components"]["containers"]["stopped_on_demand"],
        1
    );
    assert_eq!(health.json["upstreams"]["t/lazy"]["state"], "idle");
    let (status, log) = hub.finish();
    assert!(status.success(), "{log}");
}

#[test]
fn a_pull_that_cannot_reach_a_registry_fails_naming_the_image_in_cli_api_and_status() {
    let engine = Engine::shared();
    let inst = test_instance("pull");
    let missing = format!("localhost/mcp-hub-missing-{inst}:1");
    let servers = hostroot_server("t", "gone", &demo_args(), "strategy = \"always-on\"")
        .replace(HOSTROOT, &missing)
        .replace("pull = \"never\"", "pull = \"missing\"")
        .replace(
            "[tenants.t.servers.gone.container]",
            "[tenants.t.servers.gone]\nrestart = { policy = \"never\" }\n[tenants.t.servers.gone.container]",
        );
    let config = Config::new(&hub_toml(&engine, &inst, "", &servers));

    // `mcp-hub pull` with no image pulls the configured ones; a non-terminal gets plain lines.
    let out = harness::run_hub(&config.path, &["pull"], "", Duration::from_secs(60));
    assert_eq!(out.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("error: pulling image `{missing}` failed")),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\r') && !out.stdout.contains("pulled"),
        "{}",
        out.stderr
    );

    // A server whose image cannot be pulled: `status` says which image.
    let out = harness::run_hub(&config.path, &["status"], "", Duration::from_secs(60));
    assert_eq!(out.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("pulling image `{missing}` failed")),
        "{}\n{}",
        out.stdout,
        out.stderr
    );

    // The admin API's pull answers what failed, and why.
    let hub = ServedHub::start(config);
    let port = hub.addr.port();
    let body = json!({ "image": missing }).to_string();
    let answer = harness::pull_and_wait(port, None, &body, Duration::from_secs(30));
    assert_eq!(answer["state"], "failed", "{answer}");
    assert_eq!(answer["images"][0]["image"], missing.as_str(), "{answer}");
    assert_eq!(answer["images"][0]["state"], "failed", "{answer}");
    assert!(
        answer["images"][0]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("pulling image `{missing}` failed")),
        "{answer}"
    );
    assert!(engine.containers(&instance_label(&inst)).is_empty());
}
