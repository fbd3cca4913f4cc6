//! Twelve-factor settings: every hub-wide key can also come from the environment, by one rule:
//! `MCP_HUB_` + the key path after `hub.`, upper-cased, with `_` for each dot and dash
//! (`hub.http.listen` ← `MCP_HUB_HTTP_LISTEN`, `hub.log.level` ← `MCP_HUB_LOG_LEVEL`). The keys
//! come from the raw config types ([`super::shape`]), so a key added there gets its variable
//! without a change here. The environment wins over the file; a command-line flag (`--listen`,
//! `--log-level`) wins over both. A value is read as the key's type: a whole number, `true` /
//! `false`, a list as comma-separated items (`a.example,b.example`; empty for none) or as a TOML
//! array (`["a", "b"]`), a string as written (no `${…}` expansion); then it is checked like the
//! file's, and a problem names the variable.

use std::collections::BTreeMap;

use super::raw::RawHub;
use super::report::Problem;
use super::shape::{shape_of, Shape};

/// The variable that sets the hub-wide key `path` (without `hub.`).
pub fn env_name(path: &[&str]) -> String {
    format!(
        "MCP_HUB_{}",
        path.join("_").to_ascii_uppercase().replace('-', "_")
    )
}

/// Whether the hub-wide key `path` (`hub.admin.api_keys`) may hold a secret: its value is never
/// shown. A word of its last segment (split at `_` and `-`) names one: `key`, `token`, `secret`,
/// `password`, `headers`, `credentials`, `auth`… (`header_read_timeout` does not).
pub fn is_secret(path: &str) -> bool {
    const WORDS: [&str; 12] = [
        "key",
        "keys",
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwords",
        "headers",
        "credentials",
        "auth",
        "authorization",
    ];
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    last.split(['_', '-']).any(|w| WORDS.contains(&w))
}

/// `text` as a value of `shape`, when it reads as one; else as a string (the type check says why).
fn value(shape: &Shape, text: &str) -> toml::Value {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    match (shape, parsed) {
        (Shape::Int, Some(v @ toml::Value::Integer(_)))
        | (Shape::Bool, Some(v @ toml::Value::Boolean(_)))
        | (Shape::Seq(_), Some(v @ toml::Value::Array(_)))
        | (Shape::Map(_), Some(v @ toml::Value::Table(_)))
        // A float (`cpus`) has no shape of its own: a number is taken as written.
        | (Shape::Any, Some(v @ (toml::Value::Float(_) | toml::Value::Integer(_)))) => v,
        (Shape::Seq(item), _) => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| value(item, s))
                .collect(),
        ),
        _ => toml::Value::String(text.to_string()),
    }
}

fn walk(
    shape: &Shape,
    path: &mut Vec<&'static str>,
    table: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
    sources: &mut BTreeMap<String, String>,
) {
    let Shape::Struct(fields) = shape else { return };
    for (key, field) in fields {
        path.push(key);
        if let Shape::Struct(_) = field {
            let mut sub = match table.remove(*key) {
                Some(toml::Value::Table(t)) => t,
                Some(other) => {
                    // A wrong type in the file: leave it for the type check.
                    table.insert((*key).to_string(), other);
                    path.pop();
                    continue;
                }
                None => toml::Table::new(),
            };
            walk(field, path, &mut sub, env, sources);
            if !sub.is_empty() {
                table.insert((*key).to_string(), toml::Value::Table(sub));
            }
        } else {
            let name = env_name(path);
            if let Some(text) = env(&name) {
                table.insert((*key).to_string(), value(field, &text));
                sources.insert(format!("hub.{}", path.join(".")), name);
            }
        }
        path.pop();
    }
}

/// Applies the `MCP_HUB_*` variables to the file's `[hub]` table; returns which keys came from
/// which variable.
pub(super) fn apply(
    file: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut sources = BTreeMap::new();
    let mut hub = match file.remove("hub") {
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            file.insert("hub".into(), other);
            return sources;
        }
        None => toml::Table::new(),
    };
    walk(
        &shape_of::<RawHub>(),
        &mut Vec::new(),
        &mut hub,
        env,
        &mut sources,
    );
    if !hub.is_empty() {
        file.insert("hub".into(), toml::Value::Table(hub));
    }
    sources
}

/// Problems with a value the environment gave: each names its variable beside the key it
/// overrides, says how to fix it, and has no place in the file (the file's value is not used).
pub(super) fn name_variables(problems: &mut [Problem], sources: &BTreeMap<String, String>) {
    for p in problems.iter_mut() {
        let from = sources.iter().find(|(key, _)| {
            p.path == **key
                || p.path
                    .strip_prefix(key.as_str())
                    .is_some_and(|rest| rest.starts_with(['[', '.']))
        });
        let Some((key, var)) = from else { continue };
        p.message = format!(
            "{} (from the environment variable `{var}`, which overrides `{key}`)",
            p.message
        );
        p.hint = Some(match &p.hint {
            Some(h) => format!("fix or unset `{var}`; the value must be as in the file: {h}"),
            None => format!("fix or unset `{var}`"),
        });
        p.location = None;
    }
}
