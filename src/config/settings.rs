//! The effective hub-wide settings, for `mcp-hub check`: every key of `[hub]` (taken from the
//! raw types, so a new key is listed without a change here), its value as the hub uses it, and
//! where it came from: a flag, an `MCP_HUB_*` variable, a line of the file, or the default. A
//! secret's value is never shown (`<set>`).

use std::collections::BTreeMap;
use std::fmt;

use super::overlay::{env_name, is_secret};
use super::raw::RawHub;
use super::shape::{shape_of, Shape};
use super::spans::Spans;
use super::{HubConfig, HubSettings, Limits, RestartMode};

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--log-level`.
    Flag(String),
    /// An environment variable, e.g. `MCP_HUB_HTTP_LISTEN`.
    Env(String),
    /// The config file, at this line.
    File(usize),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::File(line) => write!(f, "file line {line}"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// One hub-wide key as read: where from, and its value as given (`<set>` for a secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Given {
    pub origin: Origin,
    pub value: Option<String>,
}

/// One effective setting, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// `hub.http.listen`.
    pub key: String,
    /// As the hub uses it; `<set>` / `<not set>` for a secret.
    pub value: String,
    pub origin: Origin,
}

/// The key paths (`http.listen`, without `hub.`) of every value under `[hub]`, in the raw
/// types' order.
pub fn hub_keys() -> Vec<Vec<&'static str>> {
    fn walk(shape: &Shape, path: &mut Vec<&'static str>, out: &mut Vec<Vec<&'static str>>) {
        let Shape::Struct(fields) = shape else { return };
        for (k, s) in fields {
            path.push(k);
            match s {
                Shape::Struct(_) => walk(s, path, out),
                _ => out.push(path.clone()),
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&shape_of::<RawHub>(), &mut Vec::new(), &mut out);
    out
}

/// Where each hub-wide key came from, and its value as given, after the environment's overlay.
pub(super) fn given(
    hub: Option<&toml::Value>,
    sources: &BTreeMap<String, String>,
    spans: &Spans<'_>,
) -> BTreeMap<String, Given> {
    let mut out = BTreeMap::new();
    for path in hub_keys() {
        let key = format!("hub.{}", path.join("."));
        let mut value = hub;
        for k in &path {
            value = value.and_then(|v| v.get(*k));
        }
        let origin = match (sources.get(&key), spans.line_of(&key)) {
            (Some(var), _) => Origin::Env(var.clone()),
            (None, Some(line)) => Origin::File(line),
            (None, None) => Origin::Default,
        };
        let value = value.map(|v| {
            if is_secret(&key) {
                let empty = match v {
                    toml::Value::String(s) => s.is_empty(),
                    toml::Value::Array(a) => a.is_empty(),
                    _ => false,
                };
                if empty {
                    String::new()
                } else {
                    "<set>".to_string()
                }
            } else {
                show(v)
            }
        });
        out.insert(key, Given { origin, value });
    }
    out
}

/// A value as given, for display: strings without quotes, lists as `[a, b]`.
fn show(v: &toml::Value) -> String {
    use toml::Value as V;
    match v {
        V::String(s) => s.clone(),
        V::Integer(n) => n.to_string(),
        V::Float(x) => x.to_string(),
        V::Boolean(b) => b.to_string(),
        V::Datetime(d) => d.to_string(),
        V::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        V::Table(t) => format!(
            "{{ {} }}",
            t.iter()
                .map(|(k, v)| format!("{k} = {}", show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn duration(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

fn limit<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

/// A known key's value as the hub uses it (validated, defaults applied); `None` for a key this
/// list does not know yet (its given value is shown then).
fn effective(h: &HubSettings, key: &str) -> Option<String> {
    let l: &Limits = &h.limits;
    let r = &h.restart;
    let x = &h.http;
    Some(match key {
        "hub.separator" => h.separator.clone(),
        "hub.max_name_length" => h.max_name_length.to_string(),
        "hub.default_tenant" => h
            .default_tenant
            .as_ref()
            .map_or_else(|| "(not set)".into(), |t| t.to_string()),
        "hub.request_timeout" => duration(h.request_timeout),
        "hub.startup_timeout" => duration(h.startup_timeout),
        "hub.shutdown_grace" => duration(h.shutdown_grace),
        "hub.page_size" => h.page_size.to_string(),
        "hub.health_interval" => duration(h.health_interval),
        "hub.env_passthrough" => list(&h.env_passthrough),
        "hub.restart.policy" => match r.mode {
            RestartMode::Always => "always",
            RestartMode::OnFailure => "on-failure",
            RestartMode::Never => "never",
        }
        .into(),
        "hub.restart.max_retries" => r.max_retries.to_string(),
        "hub.restart.initial_backoff" => duration(r.initial_backoff),
        "hub.restart.max_backoff" => duration(r.max_backoff),
        "hub.restart.stable_after" => duration(r.stable_after),
        "hub.http.listen" => x.listen.to_string(),
        "hub.http.allowed_origins" => list(&x.allowed_origins),
        "hub.http.allowed_hosts" => list(&x.allowed_hosts),
        "hub.http.max_body_bytes" => x.max_body_bytes.to_string(),
        "hub.http.session_idle_timeout" => duration(x.session_idle_timeout),
        "hub.http.max_sessions_per_tenant" => x.max_sessions_per_tenant.to_string(),
        "hub.http.shutdown_deadline" => duration(x.shutdown_deadline),
        "hub.http.header_read_timeout" => duration(x.header_read_timeout),
        "hub.http.body_read_timeout" => duration(x.body_read_timeout),
        "hub.http.keep_alive_idle_timeout" => duration(x.keep_alive_idle_timeout),
        "hub.http.stream_write_timeout" => duration(x.stream_write_timeout),
        "hub.http.max_connections" => x.max_connections.to_string(),
        "hub.http.max_connections_per_peer" => x.max_connections_per_peer.to_string(),
        "hub.admin.listen" => h
            .admin
            .listen
            .map_or_else(|| "(beside /mcp)".into(), |a| a.to_string()),
        "hub.admin.watch" => h.admin.watch.to_string(),
        "hub.limits.max_servers" => limit(l.max_servers),
        "hub.limits.max_tools" => limit(l.max_tools),
        "hub.limits.max_sessions" => limit(l.max_sessions),
        "hub.limits.max_concurrent_calls" => limit(l.max_concurrent_calls),
        "hub.limits.calls_per_minute" => limit(l.calls_per_minute),
        "hub.limits.max_request_bytes" => limit(l.max_request_bytes),
        "hub.log.level" => h.log.level.clone().unwrap_or_else(|| "info".into()),
        "hub.log.format" => h.log.format.clone().unwrap_or_else(|| "text".into()),
        "hub.telemetry.metrics" => h.telemetry.metrics.to_string(),
        "hub.telemetry.otlp_endpoint" => h
            .telemetry
            .otlp_endpoint
            .as_ref()
            .map_or_else(|| "<not set>".into(), ToString::to_string),
        "hub.telemetry.service_name" => h.telemetry.service_name.clone(),
        "hub.telemetry.sample_ratio" => h.telemetry.sample_ratio.to_string(),
        "hub.state_dir" => h
            .state_dir
            .as_ref()
            .map_or_else(|| "<none>".into(), |d| d.display().to_string()),
        "hub.containers.socket" => opt(&h.containers.socket),
        "hub.containers.network" => opt(&h.containers.network),
        "hub.containers.image_prefix" => opt(&h.containers.image_prefix),
        "hub.containers.max_containers" => opt(&h.containers.max_containers),
        "hub.containers.cleanup_on_shutdown" => h.containers.cleanup_on_shutdown.to_string(),
        "hub.containers.stdio" => h.containers.stdio.as_str().to_string(),
        "hub.containers.instance" => h.containers.instance.clone(),
        "hub.containers.memory" => opt(&h.containers.memory),
        "hub.containers.cpus" => opt(&h.containers.cpus),
        "hub.containers.pids_limit" => opt(&h.containers.pids_limit),
        _ => return None,
    })
}

impl HubConfig {
    /// Every hub-wide setting as the hub uses it and where it came from; `flags` are the
    /// command line's overrides, `(key, flag, value)` (`("hub.log.level", "--log-level", "debug")`).
    pub fn settings(&self, flags: &[(&str, &str, String)]) -> Vec<Setting> {
        hub_keys()
            .into_iter()
            .map(|path| {
                let key = format!("hub.{}", path.join("."));
                let given = self.given.get(&key);
                if let Some((_, flag, v)) = flags.iter().find(|(k, _, _)| *k == key) {
                    return Setting {
                        value: v.clone(),
                        origin: Origin::Flag((*flag).to_string()),
                        key,
                    };
                }
                let origin = given.map_or(Origin::Default, |g| g.origin.clone());
                let value = if is_secret(&key) {
                    match given.and_then(|g| g.value.as_deref()) {
                        Some("") | None => "<not set>".into(),
                        Some(_) => "<set>".into(),
                    }
                } else {
                    effective(&self.hub, &key)
                        .or_else(|| given.and_then(|g| g.value.clone()))
                        .unwrap_or_else(|| "(default)".into())
                };
                Setting { key, value, origin }
            })
            .collect()
    }
}

/// `hub.http.listen` → `MCP_HUB_HTTP_LISTEN`, for every hub-wide key: the README's table.
pub fn variables() -> Vec<(String, String)> {
    hub_keys()
        .into_iter()
        .map(|p| (format!("hub.{}", p.join(".")), env_name(&p)))
        .collect()
}

/// An optional setting as `check` shows it.
fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "<not set>".into(), ToString::to_string)
}
