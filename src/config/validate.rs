//! Parse, expand `${VAR}`, validate: every problem is collected with its key path and a hint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::expand::{self, is_env_name, ExpandError};
use super::raw::{RawDuration, RawFile, RawServer, RawTenant};
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

    pub(super) fn warn(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: Option<&str>,
    ) {
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
        ExpandError::Required { name, message } => c.push(
            path,
            format!("environment variable `{name}` is required: {message}"),
            Some(&format!("export {name} before starting the hub")),
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
    let sources = super::overlay::apply(&mut table, env);
    let spans = Spans::new(text);
    let given = super::settings::given(table.get("hub"), &sources, &spans);
    let raw: RawFile = c.typed("", toml::Value::Table(table)).unwrap_or_default();
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let mut hub = super::hub::hub_settings(&raw, &mut c, &base, env);
    hub.containers = super::hub_containers::settings(&mut c, raw.hub.containers.as_ref(), file);
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
        let mut rt: RawTenant = c.typed(&tpath, value).unwrap_or_default();
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
        let mut shapes = Vec::new();
        for (sname, svalue) in std::mem::take(&mut rt.servers) {
            let spath = format!("{tpath}.servers.{sname}");
            let Some(rs) = c.typed::<RawServer>(&spath, svalue) else {
                continue;
            };
            // Where the server is written: the earlier one keeps a contested name.
            let at = spans.offset(&spath).unwrap_or(usize::MAX);
            shapes.push((
                at,
                super::catalog::server_shape(&mut c, &spath, &sname, &rs, &hub),
            ));
            if let Some(s) = super::server::server(&mut c, &spath, &sname, rs, &hub, &base) {
                servers.insert(s.name.clone(), s);
            }
        }
        shapes.sort_by(|a, b| (a.0, &a.1.server).cmp(&(b.0, &b.1.server)));
        tenant_max_containers(&mut c, &tpath, rt.max_containers, &mut servers);
        let shapes = shapes.into_iter().map(|(_, s)| s).collect();
        let catalog = super::catalog::tenant_catalog(&mut c, &tpath, &rt, shapes, &hub);
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
                catalog,
                pinning: super::operate::pinning(&mut c, &tpath, rt.pinning.as_ref()),
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
    let (mut problems, warnings) = c.finish(&spans);
    super::overlay::name_variables(&mut problems, &sources);
    if problems.is_empty() {
        Ok(HubConfig {
            sources,
            given,
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

pub(super) fn check_env_names(c: &mut Collector, path: &str, names: &[String]) {
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
pub(super) fn merge_names(first: &[String], then: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(first.len() + then.len());
    for k in first.iter().chain(then) {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

pub(super) fn check_ident(c: &mut Collector, path: &str, s: &str, max: usize, what: &str) -> bool {
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

pub(super) fn duration(
    c: &mut Collector,
    path: &str,
    v: Option<&RawDuration>,
    default: Duration,
) -> Duration {
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

/// `[tenants.<t>] max_containers`: checked, given to each of the tenant's container servers
/// (the limit is taken where a container starts), and refused when the containers the tenant
/// keeps running from the start (always-on, pre-warmed pools) already exceed it.
fn tenant_max_containers(
    c: &mut Collector,
    tpath: &str,
    raw: Option<i64>,
    servers: &mut BTreeMap<super::ServerName, super::ServerConfig>,
) {
    let Some(n) = raw else { return };
    let path = format!("{tpath}.max_containers");
    let max = int_in(c, &path, Some(n), 0, 1, 10_000) as usize;
    let mut standing = 0;
    for k in servers.values_mut().filter_map(|s| s.container.as_mut()) {
        k.tenant_max_containers = Some(max);
        standing += match k.strategy {
            super::Strategy::AlwaysOn => 1,
            super::Strategy::PreWarmed => k.pool,
            _ => 0,
        };
    }
    if (1..=10_000).contains(&n) && standing > max {
        c.push(
            path,
            format!("{max} is fewer than the {standing} containers the tenant's always-on and pre-warmed servers keep running"),
            Some(&format!("raise it to at least {standing}, or make pools smaller")),
        );
    }
}

pub(super) fn int_in(
    c: &mut Collector,
    path: &str,
    v: Option<i64>,
    default: i64,
    lo: i64,
    hi: i64,
) -> i64 {
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
