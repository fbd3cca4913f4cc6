//! A container serving Streamable HTTP: `port` needs a network, `path` needs `port`, and the
//! server's `headers` go to it (their values hidden from `Debug`).

use crate::config::HubConfig;
use std::path::Path;

fn problems_of(toml: &str) -> String {
    match HubConfig::from_str_at(toml, Path::new("/etc/mcp-hub/hub.toml"), &|_| None) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn port_needs_a_network_and_path_needs_port() {
    let ok = HubConfig::from_str_at(
        r#"
[tenants.t.servers.web]
headers = { Authorization = "Bearer s3cret" }
[tenants.t.servers.web.container]
image = "mcp/web:1"
network = "bridge"
port = 8080
[tenants.t.servers.api.container]
image = "mcp/api:1"
network = "bridge"
port = 3000
path = "/v1/mcp"
"#,
        Path::new("/etc/mcp-hub/hub.toml"),
        &|_| None,
    )
    .unwrap();
    let web = ok.tenants["t"].servers["web"].container.clone().unwrap();
    assert_eq!((web.port, web.path.as_str()), (Some(8080), "/mcp"));
    assert_eq!(
        web.headers.0,
        vec![("Authorization".to_string(), "Bearer s3cret".to_string())]
    );
    assert!(!format!("{web:?}").contains("s3cret"), "{web:?}");
    let api = ok.tenants["t"].servers["api"].container.clone().unwrap();
    assert_eq!((api.port, api.path.as_str()), (Some(3000), "/v1/mcp"));

    let bad = problems_of(
        r#"
[tenants.t.servers.a.container]
image = "i"
port = 8080
[tenants.t.servers.b.container]
image = "i"
path = "/mcp"
[tenants.t.servers.c.container]
image = "i"
network = "bridge"
port = 8080
path = "mcp"
[tenants.t.servers.d]
headers = { Authorization = "Bearer x" }
[tenants.t.servers.d.container]
image = "i"
"#,
    );
    for want in [
        "tenants.t.servers.a.container.port: needs a network",
        "tenants.t.servers.b.container.path: only applies with `port`",
        "tenants.t.servers.c.container.path: `mcp` is not an absolute URL path",
        "tenants.t.servers.d.headers: only applies to remote servers (`url`) and containers with a `port`",
    ] {
        assert!(bad.contains(want), "missing `{want}` in:\n{bad}");
    }
}
