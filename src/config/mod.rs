//! `hub.toml`: parsed, expanded (`${VAR}`) and validated once; everything after this module sees only these types.
//!
//! Config knows no runtime: it imports nothing else of the crate.

mod catalog;
pub mod clients;
mod container;
mod container_http;
pub mod edit;
mod expand;
mod hub;
mod hub_containers;
mod operate;
mod overlay;
mod raw;
mod report;
mod schedule;
mod schema;
mod server;
mod settings;
mod shape;
mod spans;
mod suggest;
mod telemetry;
#[cfg(test)]
mod tests;
mod typecheck;
mod validate;
mod which;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use catalog::{glob, CatalogConfig, CatalogMode, Patterns, Rules, ServerShape, ToolOverride};
pub use container::{ContainerConfig, Network, Pull, Strategy, Volume};
pub use container_http::HttpHeaders;
pub use hub_containers::{ContainerSettings, StdioPath};
pub use report::{ConfigErrors, ConfigWarnings, Location, Problem};
pub use schedule::{
    local_time, next_change, open_at, parse_window, parse_zone, ScheduleError, Window,
};
pub use schema::json_schema;
pub use settings::{hub_keys, variables as env_variables, Given, Origin, Setting};
pub use suggest::edit_distance;
pub use which::{find_command, CommandError};

/// A tenant's id, as written under `[tenants.<id>]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(Arc<str>);

/// An upstream server's name within its tenant, as written under `[tenants.<id>.servers.<name>]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerName(Arc<str>);

macro_rules! name_type {
    ($t:ident) => {
        impl $t {
            pub fn new(s: &str) -> Self {
                Self(Arc::from(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}
name_type!(TenantId);
name_type!(ServerName);

/// The whole validated configuration.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The file it came from.
    pub path: PathBuf,
    pub hub: HubSettings,
    pub tenants: BTreeMap<TenantId, TenantConfig>,
    /// Things worth saying that do not stop the hub (e.g. an unset `${VAR}` in a disabled server).
    pub warnings: Vec<Problem>,
    /// Hub-wide keys set by the environment (`MCP_HUB_*`), with the variable that set each.
    pub sources: BTreeMap<String, String>,
    /// Every hub-wide key: where it came from and its value as given (`<set>` for a secret);
    /// [`HubConfig::settings`] shows them.
    pub given: BTreeMap<String, Given>,
}

/// `[hub]`: hub-wide settings and the defaults for every server.
#[derive(Clone, Debug, PartialEq)]
pub struct HubSettings {
    pub separator: String,
    pub max_name_length: usize,
    pub default_tenant: Option<TenantId>,
    pub request_timeout: Duration,
    pub startup_timeout: Duration,
    pub shutdown_grace: Duration,
    pub page_size: usize,
    pub health_interval: Duration,
    /// `hub.env_passthrough`: variables every server gets from the hub's environment when set;
    /// already merged into each `ServerConfig::env_passthrough`.
    pub env_passthrough: Vec<String>,
    pub restart: RestartPolicy,
    pub http: HttpSettings,
    pub admin: AdminSettings,
    /// Defaults for every tenant's `limits`.
    pub limits: Limits,
    /// `[hub.containers]`: the engine and container defaults.
    pub containers: ContainerSettings,
    /// `hub.state_dir`: where the state store lives (`None`: no default could be found, no
    /// `$XDG_STATE_HOME` nor `$HOME`; only a problem when a tenant turns pinning on).
    pub state_dir: Option<PathBuf>,
    pub telemetry: TelemetrySettings,
    pub log: LogSettings,
}

/// `[tenants.<t>.pinning] mode`: what the hub does when an upstream offers a tool definition that
/// differs from the one it recorded (or a new tool of a server it has recorded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PinMode {
    /// Nothing is recorded nor compared (the default).
    #[default]
    Off,
    /// The change is logged and the tool served.
    Warn,
    /// The changed or new tool is hidden until an admin approves it.
    Quarantine,
}

impl PinMode {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            PinMode::Off => "off",
            PinMode::Warn => "warn",
            PinMode::Quarantine => "quarantine",
        }
    }
}

/// `[hub.telemetry]`: what the hub reports about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetrySettings {
    /// Record the Prometheus metrics served at `/metrics` (default on).
    pub metrics: bool,
    /// Export spans by OTLP/HTTP (JSON) to `{endpoint}/v1/traces`; `None`: no spans are made.
    pub otlp_endpoint: Option<url::Url>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Head sampling: the share of requests without a client trace that get spans (default
    /// 1.0: all); a client's `traceparent` decides by its own sampled flag.
    pub sample_ratio: f64,
}

/// `[hub.log]`: what the file says of the log (`None`: not set there).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogSettings {
    pub level: Option<String>,
    /// `text` or `json`.
    pub format: Option<String>,
}

/// `[hub.admin]`: the REST admin API.
#[derive(Clone, Debug, PartialEq)]
pub struct AdminSettings {
    /// SHA-256 digests of the keys that may do everything; empty: the API answers on loopback only.
    pub key_digests: Vec<[u8; 32]>,
    /// A listener of its own for the API (and health), so it can stay private while `/mcp` is public.
    pub listen: Option<std::net::SocketAddr>,
    /// Reload when the config file changes on disk.
    pub watch: bool,
}

/// A tenant's quotas; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_servers: Option<usize>,
    /// Catalog size: servers whose tools would go beyond it are left out (and say so).
    pub max_tools: Option<usize>,
    pub max_sessions: Option<usize>,
    pub max_concurrent_calls: Option<usize>,
    pub calls_per_minute: Option<u32>,
    pub max_request_bytes: Option<usize>,
}

impl Limits {
    /// `self`, with each key it leaves unset taken from `defaults`.
    pub fn or(self, defaults: Limits) -> Limits {
        Limits {
            max_servers: self.max_servers.or(defaults.max_servers),
            max_tools: self.max_tools.or(defaults.max_tools),
            max_sessions: self.max_sessions.or(defaults.max_sessions),
            max_concurrent_calls: self.max_concurrent_calls.or(defaults.max_concurrent_calls),
            calls_per_minute: self.calls_per_minute.or(defaults.calls_per_minute),
            max_request_bytes: self.max_request_bytes.or(defaults.max_request_bytes),
        }
    }
}

/// `[hub.http]`: the HTTP listener (`mcp-hub serve`, `--listen`).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSettings {
    pub listen: std::net::SocketAddr,
    /// Origins allowed besides loopback ones (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`).
    pub allowed_origins: Vec<String>,
    /// Host names allowed besides `localhost`, `127.0.0.1` and `::1`.
    pub allowed_hosts: Vec<String>,
    pub max_body_bytes: usize,
    pub session_idle_timeout: Duration,
    pub max_sessions_per_tenant: usize,
    pub shutdown_deadline: Duration,
    /// How long a client may take to send a request's headers (from its first byte; for a new
    /// connection, from the accept).
    pub header_read_timeout: Duration,
    /// How long a client may take to send a whole request body (408 and close beyond it).
    pub body_read_timeout: Duration,
    /// How long a keep-alive connection with no request in flight stays open.
    pub keep_alive_idle_timeout: Duration,
    /// How long a write to a client may make no progress before the connection is closed (a
    /// stream whose client stopped reading).
    pub stream_write_timeout: Duration,
    /// Open connections; beyond it only `/health` and `/ready` are served (from a small reserve).
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_peer: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartMode {
    Always,
    OnFailure,
    Never,
}

/// When and how fast a dead upstream is started again.
#[derive(Clone, Debug, PartialEq)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    /// Restarts in a row before the hub gives up on the server.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// An upstream that stayed up this long gets its retry counter reset.
    pub stable_after: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TenantConfig {
    pub id: TenantId,
    pub description: Option<String>,
    /// SHA-256 digests of the bearer tokens that open this tenant's HTTP routes; empty = open.
    pub api_key_digests: Vec<[u8; 32]>,
    pub servers: BTreeMap<ServerName, ServerConfig>,
    /// Effective quotas (the tenant's own keys, then `[hub.limits]`).
    pub limits: Limits,
    /// Prefixes, filters, renames, overrides and the catalog mode.
    pub catalog: CatalogConfig,
    /// `[tenants.<t>.pinning] mode`.
    pub pinning: PinMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Started with the hub.
    Eager,
    /// Started on the tenant's first request.
    Lazy,
}

/// Who shares an upstream's connection (its process, or its remote session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Share {
    /// One connection for every session of the tenant (the default).
    Tenant,
    /// Each handshake-era downstream session gets a connection of its own, started on its first
    /// request to the server and stopped when the session ends; for servers that keep state per
    /// client (roots, memory, a working directory) and for exact routing of server-to-client
    /// requests over stdio. The shared connection still feeds the catalog and serves stateless
    /// (2026-07-28) requests, which have no session to own one.
    Session,
}

/// Which protocol era the hub speaks to an upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolPref {
    /// `initialize` (offering 2025-11-25); `server/discover` when the server refuses it.
    Auto,
    /// Only the handshake era.
    Handshake,
    /// Only 2026-07-28 (`server/discover`, per-request `_meta`).
    Stateless,
}

/// How a remote upstream is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteTransport {
    /// Streamable HTTP, falling back to legacy SSE when the server answers like one.
    Auto,
    StreamableHttp,
    Sse,
}

/// A remote upstream (`url = …`).
#[derive(Clone, PartialEq)]
pub struct RemoteConfig {
    pub url: url::Url,
    pub transport: RemoteTransport,
    /// Sent with every request (`Authorization`, API keys); values may hold secrets and are never logged.
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url.as_str())
            .field("transport", &self.transport)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub name: ServerName,
    /// A remote server; `command` is empty then.
    pub remote: Option<RemoteConfig>,
    /// A container server (`[….container]`); `command` is empty then.
    pub container: Option<ContainerConfig>,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Variables passed from the hub's environment when set: `hub.env_passthrough` first, then the
    /// server's own, without duplicates.
    pub env_passthrough: Vec<String>,
    pub cwd: PathBuf,
    pub enabled: bool,
    pub start: StartMode,
    pub share: Share,
    pub request_timeout: Duration,
    pub startup_timeout: Duration,
    pub protocol: ProtocolPref,
    pub restart: RestartPolicy,
    /// Free-form label (`type = "database"`), for the admin API's filters.
    pub kind: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// Environment variables every upstream inherits from the hub; nothing else of the hub's environment leaks.
pub const ENV_ALLOW_LIST: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
];

/// `${VAR}` as the hub resolves it: the process's environment, then [`builtin_var`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| builtin_var(name))
}

/// Variables the hub defines itself for `${…}`, when the environment does not set them:
/// `MCP_HUB_EXE` is the path of the running mcp-hub binary (the shipped `hub.toml` runs its
/// built-in demo server with it).
pub fn builtin_var(name: &str) -> Option<String> {
    match name {
        "MCP_HUB_EXE" => std::env::current_exe()
            .ok()
            .map(|p| p.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// Variables that carry no secrets of the hub's own but that real launchers (`npx`, `uvx`, `pip`,
/// `curl`, TLS stacks) need to reach the network from inside a company: extra CA certificates and
/// proxies. Each is passed to every upstream when it is set in the hub's environment.
///
/// Proxy URLs may carry credentials (`http://user:pass@proxy:3128`); passing them is acceptable
/// because they are the user's own settings for outbound traffic, but their values are never logged.
pub const ENV_DEFAULT_PASSTHROUGH: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
];

impl RemoteTransport {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteTransport::Auto => "auto",
            RemoteTransport::StreamableHttp => "streamable-http",
            RemoteTransport::Sse => "sse",
        }
    }
}

/// `url` without user name, password, query or fragment, where secrets tend to live: safe to print.
pub fn public_url(url: &url::Url) -> String {
    let mut u = url.clone();
    // Both fail only for URLs that cannot have credentials; nothing to strip then.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

impl RemoteConfig {
    /// The URL without user name, password, query or fragment, where secrets tend to live: safe to print.
    pub fn public_url(&self) -> String {
        public_url(&self.url)
    }
}

/// A client's JSON config rather than a `hub.toml`: a `.json` name, or text that opens with `{`
/// (which TOML cannot).
pub fn is_client_json(path: &Path, text: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{')
}

impl HubConfig {
    /// The warnings, for display under a `warning:` heading.
    pub fn warnings_report(&self) -> ConfigWarnings<'_> {
        ConfigWarnings {
            file: &self.path,
            warnings: &self.warnings,
        }
    }

    /// Reads, expands and validates the file at `path`; every problem is reported at once.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        Self::load_with_text(path).map(|(c, _)| c)
    }

    /// [`HubConfig::load`], keeping the file's text (a reload records it, references and all).
    pub fn load_with_text(path: &Path) -> Result<(Self, String), ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(
                path,
                "",
                format!("cannot read the config file: {e}"),
                Some("pass the right file with `--config PATH` or set MCP_HUB_CONFIG".into()),
            )
        })?;
        if is_client_json(path, &text) {
            return Self::from_client_json(&text, path, &process_env);
        }
        Self::from_str_at(&text, path, &process_env).map(|c| (c, text))
    }

    /// A client's `mcpServers` / VS Code `servers` JSON used as the config: its servers become
    /// tenant `default`, every hub setting its default (or its `MCP_HUB_*` variable). Returns the
    /// `hub.toml` text it stands for; entries that cannot be expressed are warnings.
    pub fn from_client_json(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, String), ConfigErrors> {
        let read = clients::read(text).map_err(|e| {
            ConfigErrors::single(
                path,
                "",
                format!("cannot be read as an MCP client config: {e}"),
                Some("give a Claude Desktop / Cursor / Claude Code config (`mcpServers`), a VS Code `mcp.json` (`servers`), or a hub.toml".into()),
            )
        })?;
        let mut doc = toml_edit::DocumentMut::new();
        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        edit::apply(&mut doc, "default", &read.servers, &source)
            .map_err(|e| ConfigErrors::single(path, "", e, None))?;
        let toml = doc.to_string();
        let mut config = Self::from_str_at(&toml, path, env).map_err(|mut e| {
            // The places are in the generated TOML, not in the JSON the user wrote.
            for p in &mut e.problems {
                p.location = None;
            }
            e
        })?;
        for (name, why) in read.skipped {
            config.warnings.push(Problem {
                path: format!("servers.{name}"),
                message: format!("skipped: {why}"),
                hint: Some("import it into a hub.toml (`mcp-hub import`) and fix it there".into()),
                location: None,
            });
        }
        Ok((config, toml))
    }

    /// Parses `text` as if it were the file at `path`, looking `${VAR}` up with `env`.
    pub fn from_str_at(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        validate::parse(text, path, env)
    }

    /// The tenant that `--tenant` names, or the default one.
    pub fn tenant(&self, requested: Option<&str>) -> Result<&TenantConfig, String> {
        let id = match requested {
            Some(t) => t.to_string(),
            None => match (&self.hub.default_tenant, self.tenants.len()) {
                (Some(d), _) => d.to_string(),
                (None, 1) => self.tenants.keys().next().map(|t| t.to_string()).unwrap_or_default(),
                _ => {
                    return Err(format!(
                        "several tenants are configured ({}); choose one with `--tenant` or set `hub.default_tenant`",
                        self.tenant_list()
                    ))
                }
            },
        };
        self.tenants.get(id.as_str()).ok_or_else(|| {
            format!(
                "no tenant `{id}` in {} (configured: {})",
                self.path.display(),
                self.tenant_list()
            )
        })
    }

    fn tenant_list(&self) -> String {
        self.tenants
            .keys()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
