//! Hub-wide settings from the environment: one rule from key path to variable, precedence,
//! typed values, and where `check` says each setting came from.

use super::*;

#[test]
fn hub_settings_come_from_the_environment_by_one_rule_and_say_so() {
    let env = |name: &str| {
        let v = match name {
            "MCP_HUB_HTTP_LISTEN" => "0.0.0.0:9000",
            "MCP_HUB_REQUEST_TIMEOUT" => "5s",
            "MCP_HUB_PAGE_SIZE" => "50",
            "MCP_HUB_HTTP_ALLOWED_HOSTS" => r#"["mcp.example.com"]"#,
            "MCP_HUB_RESTART_POLICY" => "never",
            "MCP_HUB_ADMIN_WATCH" => "false",
            _ => return None,
        };
        Some(v.to_string())
    };
    let toml = "[hub]\nrequest_timeout = \"60s\"\n[tenants.t.servers.s]\ncommand = \"x\"\n";
    let c = HubConfig::from_str_at(toml, Path::new("hub.toml"), &env).unwrap();
    assert_eq!(c.hub.http.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(
        c.hub.request_timeout,
        Duration::from_secs(5),
        "the environment wins over the file"
    );
    assert_eq!(
        c.tenants["t"].servers["s"].request_timeout,
        Duration::from_secs(5),
        "and reaches the servers' defaults"
    );
    assert_eq!(c.hub.page_size, 50);
    assert_eq!(
        c.hub.http.allowed_hosts,
        vec!["mcp.example.com".to_string()]
    );
    assert_eq!(c.hub.restart.mode, RestartMode::Never);
    assert!(!c.hub.admin.watch);
    assert_eq!(c.sources["hub.http.listen"], "MCP_HUB_HTTP_LISTEN");
    assert_eq!(c.sources["hub.admin.watch"], "MCP_HUB_ADMIN_WATCH");
    assert_eq!(c.sources.len(), 6);
}

#[test]
fn a_wrong_value_from_the_environment_is_reported_under_its_key() {
    let env = |name: &str| (name == "MCP_HUB_PAGE_SIZE").then(|| "many".to_string());
    let e = HubConfig::from_str_at(
        "[tenants.t.servers.s]\ncommand = \"x\"\n",
        Path::new("hub.toml"),
        &env,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("hub.page_size"), "{e}");
}

/// Every hub-wide key, a value for its variable that is not the default, and the value `check`
/// then shows. A key added to `[hub]` without a row here fails
/// `each_documented_variable_overrides_its_key` with its name.
const VARIABLES: &[(&str, &str, &str)] = &[
    ("MCP_HUB_SEPARATOR", "--", "--"),
    ("MCP_HUB_MAX_NAME_LENGTH", "40", "40"),
    ("MCP_HUB_DEFAULT_TENANT", "t", "t"),
    ("MCP_HUB_REQUEST_TIMEOUT", "5s", "5s"),
    ("MCP_HUB_STARTUP_TIMEOUT", "6s", "6s"),
    ("MCP_HUB_SHUTDOWN_GRACE", "7s", "7s"),
    ("MCP_HUB_PAGE_SIZE", "50", "50"),
    ("MCP_HUB_HEALTH_INTERVAL", "8s", "8s"),
    (
        "MCP_HUB_ENV_PASSTHROUGH",
        "CARGO_HOME, GOPATH",
        "[CARGO_HOME, GOPATH]",
    ),
    ("MCP_HUB_RESTART_POLICY", "never", "never"),
    ("MCP_HUB_RESTART_MAX_RETRIES", "9", "9"),
    ("MCP_HUB_RESTART_INITIAL_BACKOFF", "1s", "1s"),
    ("MCP_HUB_RESTART_MAX_BACKOFF", "2m", "2m"),
    ("MCP_HUB_RESTART_STABLE_AFTER", "3m", "3m"),
    ("MCP_HUB_HTTP_LISTEN", "0.0.0.0:9000", "0.0.0.0:9000"),
    (
        "MCP_HUB_HTTP_ALLOWED_ORIGINS",
        "https://a.example,https://b.example",
        "[https://a.example, https://b.example]",
    ),
    (
        "MCP_HUB_HTTP_ALLOWED_HOSTS",
        r#"["mcp.example.com"]"#,
        "[mcp.example.com]",
    ),
    ("MCP_HUB_HTTP_MAX_BODY_BYTES", "2048", "2048"),
    ("MCP_HUB_HTTP_SESSION_IDLE_TIMEOUT", "5m", "5m"),
    ("MCP_HUB_HTTP_MAX_SESSIONS_PER_TENANT", "7", "7"),
    ("MCP_HUB_HTTP_SHUTDOWN_DEADLINE", "4s", "4s"),
    ("MCP_HUB_HTTP_HEADER_READ_TIMEOUT", "3s", "3s"),
    ("MCP_HUB_HTTP_BODY_READ_TIMEOUT", "4s", "4s"),
    ("MCP_HUB_HTTP_KEEP_ALIVE_IDLE_TIMEOUT", "5s", "5s"),
    ("MCP_HUB_HTTP_STREAM_WRITE_TIMEOUT", "6s", "6s"),
    ("MCP_HUB_HTTP_MAX_CONNECTIONS", "99", "99"),
    ("MCP_HUB_HTTP_MAX_CONNECTIONS_PER_PEER", "9", "9"),
    (
        "MCP_HUB_ADMIN_API_KEYS",
        "a-very-long-admin-key-0001",
        "<set>",
    ),
    (
        "MCP_HUB_ADMIN_API_KEY_SHA256",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "<set>",
    ),
    ("MCP_HUB_ADMIN_LISTEN", "127.0.0.1:8081", "127.0.0.1:8081"),
    ("MCP_HUB_ADMIN_WATCH", "false", "false"),
    ("MCP_HUB_LIMITS_MAX_SERVERS", "3", "3"),
    ("MCP_HUB_LIMITS_MAX_TOOLS", "4", "4"),
    ("MCP_HUB_LIMITS_MAX_SESSIONS", "5", "5"),
    ("MCP_HUB_LIMITS_MAX_CONCURRENT_CALLS", "6", "6"),
    ("MCP_HUB_LIMITS_CALLS_PER_MINUTE", "7", "7"),
    ("MCP_HUB_LIMITS_MAX_REQUEST_BYTES", "8192", "8192"),
    ("MCP_HUB_LOG_LEVEL", "debug", "debug"),
    ("MCP_HUB_LOG_FORMAT", "json", "json"),
    ("MCP_HUB_TELEMETRY_METRICS", "false", "false"),
    (
        "MCP_HUB_TELEMETRY_OTLP_ENDPOINT",
        "http://127.0.0.1:4318",
        "http://127.0.0.1:4318/",
    ),
    ("MCP_HUB_TELEMETRY_SERVICE_NAME", "hub-a", "hub-a"),
    ("MCP_HUB_TELEMETRY_SAMPLE_RATIO", "0.25", "0.25"),
    ("MCP_HUB_STATE_DIR", "/var/lib/hub-a", "/var/lib/hub-a"),
    (
        "MCP_HUB_CONTAINERS_SOCKET",
        "/run/podman.sock",
        "/run/podman.sock",
    ),
    ("MCP_HUB_CONTAINERS_NETWORK", "hubnet", "hubnet"),
    (
        "MCP_HUB_CONTAINERS_IMAGE_PREFIX",
        "localhost/",
        "localhost/",
    ),
    ("MCP_HUB_CONTAINERS_MAX_CONTAINERS", "12", "12"),
    ("MCP_HUB_CONTAINERS_CLEANUP_ON_SHUTDOWN", "false", "false"),
    ("MCP_HUB_CONTAINERS_STDIO", "attach", "attach"),
    ("MCP_HUB_CONTAINERS_INSTANCE", "hub-a", "hub-a"),
    ("MCP_HUB_CONTAINERS_MEMORY", "256m", "268435456"),
    ("MCP_HUB_CONTAINERS_CPUS", "1.5", "1.5"),
    ("MCP_HUB_CONTAINERS_PIDS_LIMIT", "64", "64"),
];

#[test]
fn each_documented_variable_overrides_its_key() {
    let vars = super::super::env_variables();
    for (key, var) in &vars {
        assert!(
            VARIABLES.iter().any(|(v, _, _)| v == var),
            "`{key}` ({var}) has no row in VARIABLES (src/config/tests.rs): add one, and a line to the README's table"
        );
    }
    let file = "[hub]\nrequest_timeout = \"60s\"\n[tenants.t.servers.s]\ncommand = \"x\"\n";
    for (var, value, shown) in VARIABLES {
        let (key, _) = vars
            .iter()
            .find(|(_, v)| v == var)
            .unwrap_or_else(|| panic!("{var} is not the variable of any key"));
        let env = |name: &str| (name == *var).then(|| value.to_string());
        let c = HubConfig::from_str_at(file, Path::new("hub.toml"), &env)
            .unwrap_or_else(|e| panic!("{var}={value}:\n{e}"));
        let s = c.settings(&[]).into_iter().find(|s| &s.key == key).unwrap();
        assert_eq!(&s.value, shown, "{var}={value} sets {key}");
        assert_eq!(
            s.origin,
            super::super::Origin::Env(var.to_string()),
            "{key}"
        );
    }
}

#[test]
fn check_names_where_each_setting_came_from_and_never_a_secret() {
    let env = |name: &str| match name {
        "MCP_HUB_HTTP_LISTEN" => Some("0.0.0.0:9000".to_string()),
        "ADMIN_KEY" => Some("a-very-long-admin-key-0001".to_string()),
        _ => None,
    };
    let toml = "[hub]\nrequest_timeout = \"45s\"\nhealth_interval = \"${INTERVAL:-15s}\"\n[hub.admin]\napi_keys = [\"${ADMIN_KEY}\"]\n[tenants.t.servers.s]\ncommand = \"x\"\n";
    let c = HubConfig::from_str_at(toml, Path::new("hub.toml"), &env).unwrap();
    let flags = [("hub.log.level", "--log-level", "trace".to_string())];
    let settings = c.settings(&flags);
    let get = |k: &str| settings.iter().find(|s| s.key == k).unwrap().clone();
    assert_eq!(
        get("hub.http.listen").origin,
        super::super::Origin::Env("MCP_HUB_HTTP_LISTEN".into())
    );
    assert_eq!(
        get("hub.request_timeout").origin,
        super::super::Origin::File(2)
    );
    assert_eq!(get("hub.request_timeout").value, "45s");
    assert_eq!(
        get("hub.health_interval").value,
        "15s",
        "${{VAR:-default}} in the file"
    );
    assert_eq!(get("hub.page_size").origin, super::super::Origin::Default);
    assert_eq!(get("hub.page_size").value, "100");
    assert_eq!(
        get("hub.log.level").origin,
        super::super::Origin::Flag("--log-level".into())
    );
    assert_eq!(get("hub.admin.api_keys").value, "<set>");
    assert_eq!(get("hub.admin.api_key_sha256").value, "<not set>");
    let all = format!("{settings:?}");
    assert!(!all.contains("a-very-long-admin-key"), "{all}");
    assert_eq!(
        settings.len(),
        super::super::env_variables().len(),
        "every key is shown"
    );
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable_the_key_and_the_fix() {
    let env = |name: &str| match name {
        "MCP_HUB_HTTP_MAX_CONNECTIONS" => Some("lots".to_string()),
        "MCP_HUB_LOG_LEVEL" => Some("loud".to_string()),
        _ => None,
    };
    let e = HubConfig::from_str_at(
        "[hub.http]\nmax_connections = 10\n[tenants.t.servers.s]\ncommand = \"x\"\n",
        Path::new("hub.toml"),
        &env,
    )
    .unwrap_err();
    let p = e
        .problems
        .iter()
        .find(|p| p.path == "hub.http.max_connections")
        .unwrap();
    assert!(
        p.message.contains("`MCP_HUB_HTTP_MAX_CONNECTIONS`"),
        "{p:?}"
    );
    assert!(
        p.hint
            .as_deref()
            .unwrap()
            .contains("fix or unset `MCP_HUB_HTTP_MAX_CONNECTIONS`"),
        "{p:?}"
    );
    assert_eq!(
        p.location, None,
        "the file's line is not where the value came from"
    );
    let p = e
        .problems
        .iter()
        .find(|p| p.path == "hub.log.level")
        .unwrap();
    assert!(
        p.message.contains("`loud` is not a log level") && p.message.contains("MCP_HUB_LOG_LEVEL"),
        "{p:?}"
    );
}

#[test]
fn a_required_variable_in_hub_toml_fails_with_the_key_and_the_message() {
    let e = HubConfig::from_str_at(
        "[hub.http]\nlisten = \"${LISTEN:?set LISTEN to the address to serve on}\"\n[tenants.t.servers.s]\ncommand = \"x\"\n",
        Path::new("hub.toml"),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("hub.http.listen: environment variable `LISTEN` is required: set LISTEN to the address to serve on"), "{e}");
}
