//! Tenants at runtime (issue #11): a tenant added by a reload starts with its own credentials,
//! which never reach another tenant's upstreams, and a removed tenant's upstreams stop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::time::{Duration, Instant};

use harness::{fill_template, pid_alive, serve_hub, upstream_pids};
use serde_json::Value;

/// A server that writes its environment to `<tmp>/seen-<name>.env`, then is the fault server.
fn server(tenant: &str, name: &str, var: &str) -> String {
    format!(
        "[tenants.{tenant}.servers.{name}]\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"env > @TMP@/seen-{name}.env; exec @FAULT@\"]\nenv = {{ {var}_TOKEN = \"${{{var}_SECRET}}\" }}\n"
    )
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < until, "{what} within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_tenant_added_by_reload_gets_its_own_credentials_and_a_removed_one_stops() {
    let first = server("a", "ea", "A");
    let hub = serve_hub(
        &first,
        &[("A_SECRET", "alpha-5ecret"), ("B_SECRET", "bravo-5ecret")],
    );
    let tmp = hub.config.dir().to_path_buf();
    wait_for("tenant a's server up", || tmp.join("seen-ea.env").exists());

    // Tenant b arrives with a reload; tenant a is untouched.
    let pid_a = upstream_pids(&hub.log(), "ea");
    let both = format!("{first}{}", server("b", "eb", "B"));
    std::fs::write(&hub.config.path, fill_template(&both, &tmp)).unwrap();
    let r = hub.request("POST", "/api/reload", &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let report: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        report["tenants_added"],
        serde_json::json!(["b"]),
        "{report}"
    );
    let call = hub
        .request(
            "POST",
            "/api/tenants/b/tools/eb__echo/call",
            &[],
            br#"{"message":"hi"}"#,
        )
        .unwrap();
    assert_eq!(call.status, 200, "{}", call.body);
    assert!(call.body.contains("fault echo: hi"), "{}", call.body);
    let seen_b = std::fs::read_to_string(tmp.join("seen-eb.env")).unwrap();
    let seen_a = std::fs::read_to_string(tmp.join("seen-ea.env")).unwrap();
    assert!(
        seen_b.contains("B_TOKEN=bravo-5ecret"),
        "b has its own credential"
    );
    assert!(
        !seen_b.contains("alpha-5ecret") && !seen_b.contains("A_TOKEN"),
        "b sees none of a's"
    );
    assert!(
        !seen_a.contains("bravo-5ecret") && !seen_a.contains("B_TOKEN"),
        "a sees none of b's"
    );
    assert!(
        !seen_b.contains("_SECRET="),
        "the hub's own variables stay with the hub"
    );
    assert_eq!(
        upstream_pids(&hub.log(), "ea"),
        pid_a,
        "tenant a's server was not restarted"
    );

    // Tenant a leaves with the next reload: its upstream stops, b keeps serving.
    let pid_b = *upstream_pids(&hub.log(), "eb").last().unwrap();
    std::fs::write(
        &hub.config.path,
        fill_template(&server("b", "eb", "B"), &tmp),
    )
    .unwrap();
    let r = hub.request("POST", "/api/reload", &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"tenants_removed\":[\"a\"]"), "{}", r.body);
    let gone = *pid_a.last().unwrap();
    wait_for("tenant a's upstream to exit", || !pid_alive(gone));
    assert!(pid_alive(pid_b), "tenant b's upstream keeps running");
    let r = hub.request("GET", "/api/tenants/a", &[], b"").unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        !hub.log().contains("alpha-5ecret") && !hub.log().contains("bravo-5ecret"),
        "no secret in the log"
    );
}
