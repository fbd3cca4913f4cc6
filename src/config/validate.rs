//! Parse, expand `${VAR}`, validate: every problem is collected with its key path and a hint.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::raw::{RawFile, RawRestart, RawServer, RawTenant};
use super::*;

/// One thing wrong with the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key path, e.g. `tenants.acme.servers.git.command`; empty for the file as a whole.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Every problem found in one config file.
#[derive(Clone, Debug)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl ConfigErrors {
    pub(crate) fn single(file: &Path, path: &str, message: String, hint: Option<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            problems: vec![Problem {
                path: path.to_string(),
                message,
                hint,
            }],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "error: invalid config `{}` ({n} problem{})",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            if p.path.is_empty() {
                writeln!(f, "  - {}", p.message)?;
            } else {
                writeln!(f, "  - {}: {}", p.path, p.message)?;
            }
            if let Some(h) = &p.hint {
                writeln!(f, "    hint: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>, hint: Option<&str>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }

    /// Deserializes `value` into `T`, reporting unknown keys and the type error (if any) under
    /// `path`; `None` when the value has the wrong shape.
    fn typed<T: DeserializeOwned>(&mut self, path: &str, value: toml::Value) -> Option<T> {
        let mut unknown = Vec::new();
        let mut on_unknown = |p: serde_ignored::Path<'_>| unknown.push(p.to_string());
        let de = serde_ignored::Deserializer::new(value, &mut on_unknown);
        let result: Result<T, _> = serde_path_to_error::deserialize(de);
        for key in unknown {
            let full = join(path, &key);
            self.push(
                full,
                "unknown key",
                Some("remove it or check its spelling against the README's config reference"),
            );
        }
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let at = e.path().to_string();
                let at = if at == "." { String::new() } else { at };
                self.push(
                    join(path, &at),
                    type_error_text(&e.into_inner().to_string()),
                    None,
                );
                None
            }
        }
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

fn type_error_text(serde_msg: &str) -> String {
    // toml's messages carry no span here (we deserialize from a Value); keep the first line.
    let first = serde_msg.lines().next().unwrap_or(serde_msg).trim();
    format!("wrong type: {first}")
}

pub(super) fn parse(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HubConfig, ConfigErrors> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigErrors {
        file: file.to_path_buf(),
        problems: vec![Problem {
            path: String::new(),
            message: format!("not valid TOML: {}", e.to_string().trim_end()),
            hint: None,
        }],
    })?;
    let mut c = Collector {
        problems: Vec::new(),
    };
    for (k, v) in table.iter_mut() {
        expand_env(k, v, env, &mut c);
    }
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
        let api_key_digests = key_digests(&mut c, &tpath, &rt);
        for (sname, svalue) in rt.servers {
            let spath = format!("{tpath}.servers.{sname}");
            let Some(rs) = c.typed::<RawServer>(&spath, svalue) else {
                continue;
            };
            if let Some(s) = server(&mut c, &spath, &sname, rs, &hub, &base) {
                servers.insert(s.name.clone(), s);
            }
        }
        let id = TenantId::new(&tid);
        tenants.insert(
            id.clone(),
            TenantConfig {
                id,
                description: rt.description,
                api_key_digests,
                servers,
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
    if c.problems.is_empty() {
        Ok(HubConfig {
            path: file.to_path_buf(),
            hub,
            tenants,
        })
    } else {
        Err(ConfigErrors {
            file: file.to_path_buf(),
            problems: c.problems,
        })
    }
}

/// Replaces `${VAR}` in every string (keys excluded); `$${` stands for a literal `${`.
fn expand_env(
    path: &str,
    v: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
    c: &mut Collector,
) {
    match v {
        toml::Value::String(s) if s.contains('$') => match expand_str(s, env) {
            Ok(x) => *s = x,
            Err((msg, hint)) => c.push(path, msg, Some(&hint)),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_env(&format!("{path}[{i}]"), item, env, c);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                expand_env(&join(path, k), item, env, c);
            }
        }
        _ => {}
    }
}

pub(crate) fn expand_str(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, (String, String)> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Err((
                    "`${` is not closed".into(),
                    "write `${NAME}`, or `$${` for a literal `${`".into(),
                ));
            };
            let name = &tail[..end];
            if name.is_empty() || !is_env_name(name) {
                return Err((
                    format!("`${{{name}}}` is not a valid variable reference"),
                    "variable names are letters, digits and `_`, e.g. `${API_TOKEN}`".into(),
                ));
            }
            match env(name) {
                Some(val) => out.push_str(&val),
                None => {
                    return Err((
                        format!("environment variable `{name}` is not set"),
                        format!("export {name} before starting the hub, or remove the reference"),
                    ))
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

fn duration(c: &mut Collector, path: &str, v: Option<&String>, default: Duration) -> Duration {
    let Some(s) = v else { return default };
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
    HubSettings {
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
    }
}

/// Digests of a tenant's keys: `api_keys` (tokens, usually `${ENV}`) hashed here, `api_key_sha256` as given.
fn key_digests(c: &mut Collector, tpath: &str, rt: &RawTenant) -> Vec<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::new();
    for (i, k) in rt.api_keys.iter().enumerate() {
        if k.len() < 16 {
            c.push(
                format!("{tpath}.api_keys[{i}]"),
                "is shorter than 16 characters",
                Some("use a long random token, e.g. `openssl rand -hex 32`, given as `${ENV_VAR}`"),
            );
        }
        out.push(Sha256::digest(k.as_bytes()).into());
    }
    for (i, h) in rt.api_key_sha256.iter().enumerate() {
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
    for (i, k) in rs.env_passthrough.iter().enumerate() {
        if !is_env_name(k) {
            c.push(
                format!("{spath}.env_passthrough[{i}]"),
                format!("`{k}` is not a valid environment variable name"),
                None,
            );
        }
    }
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
        env_passthrough: rs.env_passthrough,
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
    })
}
