//! The operator's keys of `hub.toml`: `[hub.admin]` (who may use the REST API, where it
//! listens, whether the file is watched), the quotas of `[hub.limits]` / `[tenants.<t>.limits]`,
//! `hub.state_dir` and `[tenants.<t>.pinning]`.

use std::path::{Path, PathBuf};

use super::raw::{RawAdmin, RawLimits, RawPinning};
use super::validate::{key_digests, Collector};
use super::{AdminSettings, Limits, PinMode};

pub(super) fn admin(c: &mut Collector, raw: Option<&RawAdmin>) -> AdminSettings {
    let default = RawAdmin::default();
    let raw = raw.unwrap_or(&default);
    let listen = raw.listen.as_deref().and_then(|l| match l.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            c.push(
                "hub.admin.listen",
                format!("`{l}` is not an address"),
                Some("write IP:PORT, e.g. `127.0.0.1:8081`"),
            );
            None
        }
    });
    AdminSettings {
        key_digests: key_digests(c, "hub.admin", &raw.api_keys, &raw.api_key_sha256),
        listen,
        watch: raw.watch.unwrap_or(true),
    }
}

/// A limit: a positive integer, `None` when not set.
fn limit(c: &mut Collector, path: &str, v: Option<i64>, max: i64) -> Option<usize> {
    let v = v?;
    if !(1..=max).contains(&v) {
        c.push(
            path,
            format!("{v} is out of range"),
            Some(&format!("use 1 to {max}, or leave it out for no limit")),
        );
        return None;
    }
    usize::try_from(v).ok()
}

pub(super) fn limits(c: &mut Collector, path: &str, raw: Option<&RawLimits>) -> Limits {
    let default = RawLimits::default();
    let raw = raw.unwrap_or(&default);
    let p = |k: &str| format!("{path}.{k}");
    Limits {
        max_servers: limit(c, &p("max_servers"), raw.max_servers, 100_000),
        max_tools: limit(c, &p("max_tools"), raw.max_tools, 10_000_000),
        max_sessions: limit(c, &p("max_sessions"), raw.max_sessions, 10_000_000),
        max_concurrent_calls: limit(
            c,
            &p("max_concurrent_calls"),
            raw.max_concurrent_calls,
            1_000_000,
        ),
        calls_per_minute: limit(c, &p("calls_per_minute"), raw.calls_per_minute, 100_000_000)
            .and_then(|v| u32::try_from(v).ok()),
        max_request_bytes: limit(c, &p("max_request_bytes"), raw.max_request_bytes, 1 << 30),
    }
}

/// A tenant with more servers than its `max_servers` is refused at load.
pub(super) fn check_server_count(c: &mut Collector, tpath: &str, servers: usize, limits: &Limits) {
    if let Some(max) = limits.max_servers.filter(|m| servers > *m) {
        c.push(
            format!("{tpath}.servers"),
            format!("{servers} servers are configured, above the tenant's limit of {max}"),
            Some(&format!(
                "remove servers, or raise `{tpath}.limits.max_servers` (or `hub.limits.max_servers`)"
            )),
        );
    }
}

/// `[tenants.<t>.pinning]`: `mode` is `off` (the default), `warn` or `quarantine`.
pub(super) fn pinning(c: &mut Collector, tpath: &str, raw: Option<&RawPinning>) -> PinMode {
    match raw.and_then(|r| r.mode.as_deref()) {
        None | Some("off") => PinMode::Off,
        Some("warn") => PinMode::Warn,
        Some("quarantine") => PinMode::Quarantine,
        Some(other) => {
            c.push(
                format!("{tpath}.pinning.mode"),
                format!("`{other}` is not a pinning mode"),
                Some("use `off`, `warn` (log a changed tool and serve it) or `quarantine` (hide it until approved)"),
            );
            PinMode::Off
        }
    }
}

/// `hub.state_dir`: as written (relative to the config file's folder), else
/// `$XDG_STATE_HOME/mcp-hub`, else `$HOME/.local/state/mcp-hub`.
pub(super) fn state_dir(
    c: &mut Collector,
    raw: Option<&str>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    if let Some(dir) = raw {
        if dir.trim().is_empty() {
            c.push(
                "hub.state_dir",
                "must not be empty",
                Some("give a folder the hub may write to, e.g. `/var/lib/mcp-hub`, or leave it out for `$XDG_STATE_HOME/mcp-hub`"),
            );
            return None;
        }
        let path = base.join(dir);
        if path.exists() && !path.is_dir() {
            c.push(
                "hub.state_dir",
                format!("`{}` exists and is not a folder", path.display()),
                Some("point it at a folder (it is created on first use)"),
            );
        }
        return Some(path);
    }
    let nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
    nonempty("XDG_STATE_HOME")
        .map(|x| PathBuf::from(x).join("mcp-hub"))
        .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".local/state/mcp-hub")))
}
