//! `[hub]` and `[hub.http]`: the hub-wide settings and their defaults.

use std::path::Path;
use std::time::Duration;

use super::raw::{RawFile, RawHttp};
use super::validate::{check_env_names, duration, int_in, merge_names, Collector};
use super::*;

pub(super) fn hub_settings(
    raw: &RawFile,
    c: &mut Collector,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> HubSettings {
    let h = &raw.hub;
    let separator = h.separator.clone().unwrap_or_else(|| "__".into());
    if separator.is_empty()
        || separator.len() > 3
        || !separator.chars().all(|ch| matches!(ch, '_' | '.' | '-'))
    {
        c.push("hub.separator", format!("`{separator}` is not a valid separator"), Some("use 1 to 3 of `_ . -`; `__` (the default) is safe for every client's tool-name rules"));
    }
    let default_tenant = h.default_tenant.as_deref().map(TenantId::new);
    check_env_names(c, "hub.env_passthrough", &h.env_passthrough);
    HubSettings {
        env_passthrough: merge_names(&h.env_passthrough, &[]),
        separator,
        max_name_length: int_in(c, "hub.max_name_length", h.max_name_length, 64, 16, 128) as usize,
        default_tenant,
        request_timeout: duration(
            c,
            "hub.request_timeout",
            h.request_timeout.as_ref(),
            Duration::from_secs(60),
        ),
        startup_timeout: duration(
            c,
            "hub.startup_timeout",
            h.startup_timeout.as_ref(),
            Duration::from_secs(30),
        ),
        shutdown_grace: duration(
            c,
            "hub.shutdown_grace",
            h.shutdown_grace.as_ref(),
            Duration::from_secs(3),
        ),
        page_size: int_in(c, "hub.page_size", h.page_size, 100, 1, 10_000) as usize,
        health_interval: duration(
            c,
            "hub.health_interval",
            h.health_interval.as_ref(),
            Duration::from_secs(30),
        ),
        restart: super::server::restart(c, "hub.restart", h.restart.as_ref(), None),
        http: http_settings(c, h.http.as_ref()),
        admin: super::operate::admin(c, h.admin.as_ref()),
        limits: super::operate::limits(c, "hub.limits", h.limits.as_ref()),
        // Needs the file's path for its instance id: `validate::parse` fills it in.
        containers: ContainerSettings::default(),
        state_dir: super::operate::state_dir(c, h.state_dir.as_deref(), base, env),
        telemetry: super::telemetry::telemetry(c, h.telemetry.as_ref()),
        log: super::telemetry::log(c, h.log.as_ref()),
    }
}

fn http_settings(c: &mut Collector, h: Option<&RawHttp>) -> HttpSettings {
    let default = RawHttp::default();
    let h = h.unwrap_or(&default);
    let listen_s = h.listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = listen_s.parse().unwrap_or_else(|_| {
        c.push(
            "hub.http.listen",
            format!("`{listen_s}` is not an address"),
            Some("write IP:PORT, e.g. `127.0.0.1:8080`"),
        );
        std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    for (i, o) in h.allowed_origins.iter().enumerate() {
        if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
            c.push(
                format!("hub.http.allowed_origins[{i}]"),
                format!("`{o}` is not an origin"),
                Some("write scheme://host[:port] without a path, e.g. `https://app.example.com`"),
            );
        }
    }
    HttpSettings {
        listen,
        allowed_origins: h.allowed_origins.clone(),
        allowed_hosts: h
            .allowed_hosts
            .iter()
            .map(|x| x.to_ascii_lowercase())
            .collect(),
        max_body_bytes: int_in(
            c,
            "hub.http.max_body_bytes",
            h.max_body_bytes,
            4 * 1024 * 1024,
            1024,
            1 << 30,
        ) as usize,
        session_idle_timeout: duration(
            c,
            "hub.http.session_idle_timeout",
            h.session_idle_timeout.as_ref(),
            Duration::from_secs(30 * 60),
        ),
        max_sessions_per_tenant: int_in(
            c,
            "hub.http.max_sessions_per_tenant",
            h.max_sessions_per_tenant,
            1000,
            1,
            1_000_000,
        ) as usize,
        shutdown_deadline: duration(
            c,
            "hub.http.shutdown_deadline",
            h.shutdown_deadline.as_ref(),
            Duration::from_secs(10),
        ),
        header_read_timeout: duration(
            c,
            "hub.http.header_read_timeout",
            h.header_read_timeout.as_ref(),
            Duration::from_secs(10),
        ),
        body_read_timeout: duration(
            c,
            "hub.http.body_read_timeout",
            h.body_read_timeout.as_ref(),
            Duration::from_secs(30),
        ),
        keep_alive_idle_timeout: duration(
            c,
            "hub.http.keep_alive_idle_timeout",
            h.keep_alive_idle_timeout.as_ref(),
            Duration::from_secs(60),
        ),
        stream_write_timeout: duration(
            c,
            "hub.http.stream_write_timeout",
            h.stream_write_timeout.as_ref(),
            Duration::from_secs(30),
        ),
        max_connections: int_in(
            c,
            "hub.http.max_connections",
            h.max_connections,
            1024,
            1,
            1_000_000,
        ) as usize,
        max_connections_per_peer: int_in(
            c,
            "hub.http.max_connections_per_peer",
            h.max_connections_per_peer,
            256,
            1,
            1_000_000,
        ) as usize,
    }
}
