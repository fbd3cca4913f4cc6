//! The file as written: every field optional, every duration a string; `validate.rs` turns it into `HubConfig`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A duration as written (`"30s"`); a newtype so `shape.rs` can tell it from other strings.
#[derive(Debug, Clone, Deserialize)]
pub struct RawDuration(pub String);

#[derive(Debug, Default, Deserialize)]
pub struct RawFile {
    #[serde(default)]
    pub hub: RawHub,
    #[serde(default)]
    pub tenants: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawHub {
    pub separator: Option<String>,
    pub max_name_length: Option<i64>,
    pub default_tenant: Option<String>,
    pub request_timeout: Option<RawDuration>,
    pub startup_timeout: Option<RawDuration>,
    pub shutdown_grace: Option<RawDuration>,
    pub page_size: Option<i64>,
    pub health_interval: Option<RawDuration>,
    #[serde(default)]
    pub env_passthrough: Vec<String>,
    pub restart: Option<RawRestart>,
    pub http: Option<RawHttp>,
    pub admin: Option<RawAdmin>,
    pub limits: Option<RawLimits>,
    pub telemetry: Option<RawTelemetry>,
    pub log: Option<RawLog>,
    /// Where the hub keeps its state (the pinning database); default `$XDG_STATE_HOME/mcp-hub`.
    pub state_dir: Option<String>,
    pub containers: Option<RawContainers>,
}

/// `[hub.containers]`: the engine, and the defaults of every container server.
#[derive(Debug, Default, Deserialize)]
pub struct RawContainers {
    pub socket: Option<String>,
    pub network: Option<String>,
    pub image_prefix: Option<String>,
    pub max_containers: Option<i64>,
    pub cleanup_on_shutdown: Option<bool>,
    pub stdio: Option<String>,
    pub instance: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
}

/// `[tenants.<t>.servers.<s>.container]`: the server runs as a container.
#[derive(Debug, Default, Deserialize)]
pub struct RawContainer {
    pub image: Option<String>,
    pub strategy: Option<String>,
    pub idle_timeout: Option<RawDuration>,
    pub pool: Option<i64>,
    #[serde(default)]
    pub schedule: Vec<String>,
    pub time_zone: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub network: Option<String>,
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub read_only: Option<bool>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub pull: Option<String>,
    pub port: Option<i64>,
    pub path: Option<String>,
}

/// `[hub.telemetry]`: Prometheus metrics and OTLP traces.
#[derive(Debug, Default, Deserialize)]
pub struct RawTelemetry {
    pub metrics: Option<bool>,
    pub otlp_endpoint: Option<String>,
    pub service_name: Option<String>,
    pub sample_ratio: Option<f64>,
}

/// `[hub.log]`: the log on stderr (the command line's `--log-level` and `--log-format` win).
#[derive(Debug, Default, Deserialize)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

/// `[hub.admin]`: who may use the REST admin API, and where it is served.
#[derive(Debug, Default, Deserialize)]
pub struct RawAdmin {
    #[serde(default)]
    pub api_keys: Vec<String>,
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
    pub listen: Option<String>,
    pub watch: Option<bool>,
}

/// `[hub.limits]` (defaults) and `[tenants.<t>.limits]` (overrides, key by key).
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawLimits {
    pub max_servers: Option<i64>,
    pub max_tools: Option<i64>,
    pub max_sessions: Option<i64>,
    pub max_concurrent_calls: Option<i64>,
    pub calls_per_minute: Option<i64>,
    pub max_request_bytes: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawHttp {
    pub listen: Option<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    pub max_body_bytes: Option<i64>,
    pub session_idle_timeout: Option<RawDuration>,
    pub max_sessions_per_tenant: Option<i64>,
    pub shutdown_deadline: Option<RawDuration>,
    pub header_read_timeout: Option<RawDuration>,
    pub body_read_timeout: Option<RawDuration>,
    pub keep_alive_idle_timeout: Option<RawDuration>,
    pub stream_write_timeout: Option<RawDuration>,
    pub max_connections: Option<i64>,
    pub max_connections_per_peer: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawRestart {
    pub policy: Option<String>,
    pub max_retries: Option<i64>,
    pub initial_backoff: Option<RawDuration>,
    pub max_backoff: Option<RawDuration>,
    pub stable_after: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawTenant {
    pub description: Option<String>,
    #[serde(default)]
    pub api_keys: Vec<String>,
    #[serde(default)]
    pub api_key_sha256: Vec<String>,
    #[serde(default)]
    pub servers: BTreeMap<String, toml::Value>,
    pub limits: Option<RawLimits>,
    pub catalog: Option<RawCatalog>,
    /// Tenant-wide filters, over exposed names (URIs for resources).
    pub tools: Option<RawPatterns>,
    pub prompts: Option<RawPatterns>,
    pub resources: Option<RawPatterns>,
    pub pinning: Option<RawPinning>,
    /// Containers this tenant may run at once (every pool member counts).
    pub max_containers: Option<i64>,
}

/// `[tenants.<t>.catalog]`: what `tools/list` shows.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawCatalog {
    pub mode: Option<String>,
    #[serde(default)]
    pub pinned: Vec<String>,
}

/// `allow` / `deny` glob patterns (`*`, `?`).
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawPatterns {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `[tenants.<t>.servers.<s>.prompts]`: filters over the upstream's names, and renames.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawNameRules {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

/// `[tenants.<t>.servers.<s>.tools]`: filters over the upstream's names, renames, overrides.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawToolRules {
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    #[serde(default)]
    pub overrides: BTreeMap<String, RawToolOverride>,
}

/// `[tenants.<t>.servers.<s>.tools.overrides.<upstream tool name>]`.
#[derive(Debug, Default, Deserialize, Clone)]
pub struct RawToolOverride {
    pub description: Option<String>,
    pub title: Option<String>,
    pub annotations: Option<RawAnnotations>,
}

/// MCP tool annotations a config may set.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RawAnnotations {
    pub title: Option<String>,
    pub read_only_hint: Option<bool>,
    pub destructive_hint: Option<bool>,
    pub idempotent_hint: Option<bool>,
    pub open_world_hint: Option<bool>,
}

/// `[tenants.<t>.pinning]`: what happens when an upstream changes a tool it offered before.
#[derive(Debug, Default, Deserialize)]
pub struct RawPinning {
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub command: Option<String>,
    pub url: Option<String>,
    pub container: Option<RawContainer>,
    pub transport: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub connect_timeout: Option<RawDuration>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub env_passthrough: Vec<String>,
    pub cwd: Option<String>,
    pub enabled: Option<bool>,
    pub start: Option<String>,
    pub share: Option<String>,
    pub request_timeout: Option<RawDuration>,
    pub startup_timeout: Option<RawDuration>,
    pub protocol: Option<String>,
    pub restart: Option<RawRestart>,
    /// Free-form label (`database`, `search`), shown in the admin API and usable as a filter.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// What the server's names are exposed under (default: the server's name; `""`: none).
    pub prefix: Option<String>,
    pub tools: Option<RawToolRules>,
    pub prompts: Option<RawNameRules>,
    pub resources: Option<RawPatterns>,
}
