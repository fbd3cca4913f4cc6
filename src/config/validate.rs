//! Parse, expand `${VAR}`, validate: every problem is collected with its key path and a hint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::expand::{self, is_env_name, ExpandError};
use super::raw::{RawDuration, RawFile, RawRestart, RawServer, RawTenant};
use super::report::{ConfigErrors, Problem};
use super::shape::shape_of;
use super::spans::{Spans, Target};
use super::typecheck;
use super::*;

/// Problems and warnings as found; located in the file at the end.
#[derive(Default)]
pub(super) struct Collector {
    problems: Vec<(Problem, Target)>,
    warnings: Vec<(Problem, Target)>,
    /// Keys dropped for having the wrong type: later problems there (`is missing`) would only repeat them.
    misfits: std::collections::HashSet<String>,
}

fn problem(path: impl Into<String>, message: impl Into<String>, hint: Option<&str>) -> Problem {
    Problem {
        path: path.into(),
        message: message.into(),
        hint: hint.map(str::to_string),
        location: None,
    }
}

impl Collector {
    pub(super) fn push(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
        let path = path.into();
        if self.misfits.contains(&path) {
            return;
        }
        self.problems
            .push((problem(path, message, hint), Target::Value));
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>, hint: Option<&str>) {
        self.warnings
            .push((problem(path, message, hint), Target::Value));
    }

    /// Checks `value` against `T`'s shape, reporting every type error and unknown key under
    /// `path`, then deserializes what fits; `None` when the value as a whole has the wrong type.
    fn typed<T: DeserializeOwned>(&mut self, path: &str, mut value: toml::Value) -> Option<T> {
        let mut misfits = Vec::new();
        let fits = typecheck::check(&shape_of::<T>(), path, &mut value, &mut misfits);
        for m in misfits {
            self.misfits.insert(m.path.clone());
            self.problems
                .push((problem(m.path, m.message, Some(&m.hint)), m.target));
        }
        if !fits {
            return None;
        }
        match T::deserialize(value) {
            Ok(v) => Some(v),
            Err(_) => {
                // Unreachable once the shape check passed; said without serde's wording anyway.
                self.push(
                    path,
                    "cannot be read",
                    Some("check the README's config reference"),
                );
                None
            }
        }
    }

    /// Attaches each entry's place in the file, and puts them in the file's order (those without
    /// a place last).
    fn finish(self, spans: &Spans<'_>) -> (Vec<Problem>, Vec<Problem>) {
        let locate = |v: Vec<(Problem, Target)>| {
            let mut v: Vec<Problem> = v
                .into_iter()
                .map(|(mut p, t)| {
                    p.location = spans.locate(&p.path, t);
                    p
                })
                .collect();
            v.sort_by_key(|p| {
                p.location
                    .as_ref()
                    .map_or((1, 0, 0), |l| (0, l.line, l.column))
            });
            v
        };
        (locate(self.problems), locate(self.warnings))
    }
}

/// Not valid TOML: toml's own message, placed at toml's own span.
fn not_toml(text: &str, file: &Path, e: &toml::de::Error) -> ConfigErrors {
    let location = e.span().and_then(|s| Spans::new(text).location(s));
    let message = match &location {
        Some(_) => e.message().trim_end().to_string(),
        None => e.to_string().trim_end().to_string(),
    };
    ConfigErrors {
        file: file.to_path_buf(),
        problems: vec![Problem {
            path: String::new(),
            message: format!("not valid TOML: {message}"),
            hint: None,
            location,
        }],
    }
}

/// Key paths of the servers written with `enabled = false`.
fn disabled_servers(table: &toml::Table) -> Vec<String> {
    let mut out = Vec::new();
    let tenants = table.get("tenants").and_then(toml::Value::as_table);
    for (tid, t) in tenants.into_iter().flatten() {
        let servers = t.get("servers").and_then(toml::Value::as_table);
        for (sname, s) in servers.into_iter().flatten() {
            if s.get("enabled").and_then(toml::Value::as_bool) == Some(false) {
                out.push(format!("tenants.{tid}.servers.{sname}."));
            }
        }
    }
    out
}

/// Expands `${VAR}` everywhere; an unset variable in a disabled server is only a warning.
fn expand_env(table: &mut toml::Table, env: &dyn Fn(&str) -> Option<String>, c: &mut Collector) {
    let disabled = disabled_servers(table);
    let mut report = |path: &str, e: ExpandError| {
        match e {
        ExpandError::Unset(name) if disabled.iter().any(|d| path.starts_with(d.as_str())) => c.warn(
            path,
            format!("environment variable `{name}` is not set"),
            Some(&format!(
                "the server is disabled (`enabled = false`), so it does not need it yet; export {name} before enabling it"
            )),
        ),
        ExpandError::Unset(name) => c.push(
            path,
            format!("environment variable `{name}` is not set"),
            Some(&format!(
                "export {name} before starting the hub, or remove the reference"
            )),
        ),
        ExpandError::Malformed { message, hint } => c.push(path, message, Some(&hint)),
    }
    };
    for (k, v) in table.iter_mut() {
        expand::expand_tree(k, v, env, &mut report);
    }
}

pub(super) fn parse(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigErrors> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| not_toml(text, file, &e))?;
    let mut c = Collector::default();
    expand_env(&mut table, env, &mut c);
    let raw: RawFile = c.typed("", toml::Value::Table(table)).unwrap_or_default();
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let hub = hub_settings(&raw, &mut c);
    let mut tenants = BTreeMap::new();
    if raw.tenants.is_empty() {
        c.push(
            "tenants",
            "no tenant is configured",
            Some("add a server, e.g. `[tenants.default.servers.demo]` with `command = \"...\"`"),
        );
    }
    for (tid, value) in raw.tenants {
        let tpath = format!("tenants.{tid}");
        check_ident(&mut c, &tpath, &tid, 64, "tenant id");
        let rt: RawTenant = c.typed(&tpath, value).unwrap_or_default();
        let mut servers = BTreeMap::new();
        if rt.servers.is_empty() {
            c.push(
                format!("{tpath}.servers"),
                "the tenant has no servers",
                Some(&format!("add `[{tpath}.servers.<name>]` with a `command`")),
            );
        }
        let api_key_digests = key_digests(&mut c, &tpath, &rt.api_keys, &rt.api_key_sha256);
        let limits = super::operate::limits(&mut c, &format!("{tpath}.limits"), rt.limits.as_ref())
            .or(hub.limits);
        for (sname, svalue) in rt.servers {
            let spath = format!("{tpath}.servers.{sname}");
            let Some(rs) = c.typed::<RawServer>(&spath, svalue) else {
                continue;
            };
            if let Some(s) = server(&mut c, &spath, &sname, rs, &hub, &base) {
                servers.insert(s.name.clone(), s);
            }
        }
        super::operate::check_server_count(&mut c, &tpath, servers.len(), &limits);
        let id = TenantId::new(&tid);
        tenants.insert(
            id.clone(),
            TenantConfig {
                id,
                description: rt.description,
                api_key_digests,
                servers,
                limits,
            },
        );
    }
    if let Some(d) = &hub.default_tenant {
        if !tenants.contains_key(d) {
            c.push(
                "hub.default_tenant",
                format!("names tenant `{d}`, which is not configured"),
                Some("set it to one of the `[tenants.<id>]` tables"),
            );
        }
    }
    let (problems, warnings) = c.finish(&Spans::new(text));
    if problems.is_empty() {
        Ok(HubConfig {
            path: file.to_path_buf(),
            hub,
            tenants,
            warnings,
        })
    } else {
        Err(ConfigErrors {
            file: file.to_path_buf(),
            problems,
        })
    }
}

fn check_env_names(c: &mut Collector, path: &str, names: &[String]) {
    for (i, k) in names.iter().enumerate() {
        if !is_env_name(k) {
            c.push(
                format!("{path}[{i}]"),
                format!("`{k}` is not a valid environment variable name"),
                Some(
                    "use letters, digits and `_`, not starting with a digit, e.g. `SSL_CERT_FILE`",
                ),
            );
        }
    }
}

/// `first`, then the names of `then` not already in it; no duplicates.
fn merge_names(first: &[String], then: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(first.len() + then.len());
    for k in first.iter().chain(then) {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

fn check_ident(c: &mut Collector, path: &str, s: &str, max: usize, what: &str) -> bool {
    let ok_chars = s
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
    let ok_ends = !s.starts_with(['_', '-']) && !s.ends_with(['_', '-']);
    if s.is_empty() || s.len() > max || !ok_chars || !ok_ends {
        c.push(
            path,
            format!("`{s}` is not a valid {what}"),
            Some(&format!(
                "use 1 to {max} of `A-Z a-z 0-9 _ -`, not starting or ending with `_` or `-`"
            )),
        );
        false
    } else {
        true
    }
}

fn duration(c: &mut Collector, path: &str, v: Option<&RawDuration>, default: Duration) -> Duration {
    let Some(RawDuration(s)) = v else {
        return default;
    };
    match humantime::parse_duration(s) {
        Ok(d) if d > Duration::ZERO => d,
        Ok(_) => {
            c.push(path, "must be longer than zero", Some("e.g. `30s`"));
            default
        }
        Err(_) => {
            c.push(
                path,
                format!("`{s}` is not a duration"),
                Some("write a number and a unit, e.g. `500ms`, `30s`, `2m`"),
            );
            default
        }
    }
}

fn int_in(c: &mut Collector, path: &str, v: Option<i64>, default: i64, lo: i64, hi: i64) -> i64 {
    match v {
        None => default,
        Some(n) if (lo..=hi).contains(&n) => n,
        Some(n) => {
            c.push(
                path,
                format!("{n} is out of range"),
                Some(&format!("use a whole number from {lo} to {hi}")),
            );
            default
        }
    }
}

fn hub_settings(raw: &RawFile, c: &mut Collector) -> HubSettings {
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
        restart: restart(c, "hub.restart", h.restart.as_ref(), None),
        http: http_settings(c, h.http.as_ref()),
        admin: super::operate::admin(c, h.admin.as_ref()),
        limits: super::operate::limits(c, "hub.limits", h.limits.as_ref()),
    }
}

fn http_settings(c: &mut Collector, h: Option<&super::raw::RawHttp>) -> HttpSettings {
    let default = super::raw::RawHttp::default();
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

/// Digests of keys: `api_keys` (tokens, usually `${ENV}`) hashed here, `api_key_sha256` as given.
pub(super) fn key_digests(
    c: &mut Collector,
    tpath: &str,
    api_keys: &[String],
    api_key_sha256: &[String],
) -> Vec<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    for (i, k) in api_keys.iter().enumerate() {
        if k.len() < 16 {
            c.push(
                format!("{tpath}.api_keys[{i}]"),
                "is shorter than 16 characters",
                Some("use a long random token, e.g. `openssl rand -hex 32`, given as `${ENV_VAR}`"),
            );
        }
        out.push(Sha256::digest(k.as_bytes()).into());
    }
    for (i, h) in api_key_sha256.iter().enumerate() {
        match decode_hex32(h) {
            Some(d) => out.push(d),
            None => c.push(
                format!("{tpath}.api_key_sha256[{i}]"),
                "is not 64 hex digits",
                Some(
                    "give the SHA-256 of the token in hex, e.g. `printf %s \"$TOKEN\" | sha256sum`",
                ),
            ),
        }
    }
    out
}

fn decode_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn restart(
    c: &mut Collector,
    path: &str,
    r: Option<&RawRestart>,
    base: Option<&RestartPolicy>,
) -> RestartPolicy {
    let d = base.cloned().unwrap_or(RestartPolicy {
        mode: RestartMode::OnFailure,
        max_retries: 5,
        initial_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(30),
        stable_after: Duration::from_secs(60),
    });
    let Some(r) = r else { return d };
    let mode = match r.policy.as_deref() {
        None => d.mode,
        Some("always") => RestartMode::Always,
        Some("on-failure") => RestartMode::OnFailure,
        Some("never") => RestartMode::Never,
        Some(other) => {
            c.push(
                format!("{path}.policy"),
                format!("`{other}` is not a restart policy"),
                Some("use `always`, `on-failure` or `never`"),
            );
            d.mode
        }
    };
    let p = RestartPolicy {
        mode,
        max_retries: int_in(
            c,
            &format!("{path}.max_retries"),
            r.max_retries,
            i64::from(d.max_retries),
            0,
            1000,
        ) as u32,
        initial_backoff: duration(
            c,
            &format!("{path}.initial_backoff"),
            r.initial_backoff.as_ref(),
            d.initial_backoff,
        ),
        max_backoff: duration(
            c,
            &format!("{path}.max_backoff"),
            r.max_backoff.as_ref(),
            d.max_backoff,
        ),
        stable_after: duration(
            c,
            &format!("{path}.stable_after"),
            r.stable_after.as_ref(),
            d.stable_after,
        ),
    };
    if p.initial_backoff > p.max_backoff {
        c.push(
            format!("{path}.initial_backoff"),
            "is longer than `max_backoff`",
            Some("make `initial_backoff` at most `max_backoff`"),
        );
    }
    p
}

fn remote(c: &mut Collector, spath: &str, rs: &RawServer) -> Option<RemoteConfig> {
    let Some(u) = &rs.url else {
        if rs.transport.is_some() {
            c.push(
                format!("{spath}.transport"),
                "only applies to remote servers (`url`)",
                Some("remove it, or give the server a `url`"),
            );
        }
        if rs.connect_timeout.is_some() {
            c.push(
                format!("{spath}.connect_timeout"),
                "only applies to remote servers (`url`)",
                Some("remove it, or give the server a `url`"),
            );
        }
        if !rs.headers.is_empty() {
            c.push(
                format!("{spath}.headers"),
                "only applies to remote servers (`url`)",
                Some("for a process, use `env`"),
            );
        }
        return None;
    };
    let url = match url::Url::parse(u) {
        Ok(x) if matches!(x.scheme(), "http" | "https") && x.host().is_some() => x,
        _ => {
            c.push(
                format!("{spath}.url"),
                format!("`{u}` is not an http(s) URL"),
                Some("e.g. `https://mcp.example.com/mcp` or `http://127.0.0.1:3001/sse`"),
            );
            return None;
        }
    };
    let transport = match rs.transport.as_deref() {
        None | Some("auto") => RemoteTransport::Auto,
        Some("streamable-http") => RemoteTransport::StreamableHttp,
        Some("sse") => RemoteTransport::Sse,
        Some(o) => {
            c.push(format!("{spath}.transport"), format!("`{o}` is not a transport"), Some("use `streamable-http`, `sse`, or leave it out to try Streamable HTTP and fall back to SSE"));
            RemoteTransport::Auto
        }
    };
    let mut headers = Vec::new();
    for (k, v) in &rs.headers {
        if axum::http::HeaderName::from_bytes(k.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(v).is_err()
        {
            c.push(
                format!("{spath}.headers.{k}"),
                "is not a valid HTTP header",
                Some("header names are letters, digits and `-`; values are visible ASCII"),
            );
        } else {
            headers.push((k.clone(), v.clone()));
        }
    }
    Some(RemoteConfig {
        url,
        transport,
        headers,
        connect_timeout: duration(
            c,
            &format!("{spath}.connect_timeout"),
            rs.connect_timeout.as_ref(),
            Duration::from_secs(10),
        ),
    })
}

fn server(
    c: &mut Collector,
    spath: &str,
    sname: &str,
    rs: RawServer,
    hub: &HubSettings,
    base: &Path,
) -> Option<ServerConfig> {
    let name_ok = check_ident(c, spath, sname, 32, "server name");
    if name_ok && sname.contains(hub.separator.as_str()) {
        c.push(
            spath,
            format!(
                "server name `{sname}` contains the separator `{}`",
                hub.separator
            ),
            Some("rename the server, or choose another `hub.separator`"),
        );
    }
    let remote = remote(c, spath, &rs);
    let command = match (rs.command, &rs.url) {
        (Some(_), Some(_)) => {
            c.push(
                spath,
                "has both `command` and `url`",
                Some("a server is either a process (`command`) or remote (`url`)"),
            );
            String::new()
        }
        (Some(cmd), None) if !cmd.trim().is_empty() => cmd,
        (Some(_), None) => {
            c.push(
                format!("{spath}.command"),
                "must not be empty",
                Some("set it to the program that starts the server, e.g. `command = \"npx\"`"),
            );
            String::new()
        }
        (None, Some(_)) => String::new(),
        (None, None) => {
            c.push(format!("{spath}.command"), "is missing", Some("set it to the program that starts the server, e.g. `command = \"npx\"`, or give a remote server's `url`"));
            String::new()
        }
    };
    for k in rs.env.keys() {
        if !is_env_name(k) {
            c.push(
                format!("{spath}.env.{k}"),
                format!("`{k}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    check_env_names(c, &format!("{spath}.env_passthrough"), &rs.env_passthrough);
    let cwd = match rs.cwd {
        None => base.to_path_buf(),
        Some(s) => {
            let p = base.join(&s);
            if !p.is_dir() {
                c.push(
                    format!("{spath}.cwd"),
                    format!("`{s}` is not a directory (resolved to `{}`)", p.display()),
                    Some("relative paths are taken from the config file's folder"),
                );
            }
            p
        }
    };
    let start = match rs.start.as_deref() {
        None | Some("eager") => StartMode::Eager,
        Some("lazy") => StartMode::Lazy,
        Some(o) => {
            c.push(
                format!("{spath}.start"),
                format!("`{o}` is not a start mode"),
                Some("use `eager` (with the hub) or `lazy` (on first use)"),
            );
            StartMode::Eager
        }
    };
    let share = match rs.share.as_deref() {
        None | Some("tenant") => Share::Tenant,
        Some("session") => Share::Session,
        Some(o) => {
            c.push(
                format!("{spath}.share"),
                format!("`{o}` is not a sharing mode"),
                Some(
                    "use `tenant` (one connection for all sessions) or `session` (one per session)",
                ),
            );
            Share::Tenant
        }
    };
    let protocol = match rs.protocol.as_deref() {
        None | Some("auto") => ProtocolPref::Auto,
        Some("handshake") => ProtocolPref::Handshake,
        Some("2026-07-28") => ProtocolPref::Stateless,
        Some(o) => {
            c.push(
                format!("{spath}.protocol"),
                format!("`{o}` is not a protocol choice"),
                Some("use `auto`, `handshake` or `2026-07-28`"),
            );
            ProtocolPref::Auto
        }
    };
    Some(ServerConfig {
        name: ServerName::new(sname),
        remote,
        command,
        args: rs.args,
        env: rs.env,
        env_passthrough: merge_names(&hub.env_passthrough, &rs.env_passthrough),
        cwd,
        enabled: rs.enabled.unwrap_or(true),
        start,
        share,
        request_timeout: duration(
            c,
            &format!("{spath}.request_timeout"),
            rs.request_timeout.as_ref(),
            hub.request_timeout,
        ),
        startup_timeout: duration(
            c,
            &format!("{spath}.startup_timeout"),
            rs.startup_timeout.as_ref(),
            hub.startup_timeout,
        ),
        protocol,
        restart: restart(
            c,
            &format!("{spath}.restart"),
            rs.restart.as_ref(),
            Some(&hub.restart),
        ),
        kind: rs.kind,
        metadata: rs.metadata,
    })
}
