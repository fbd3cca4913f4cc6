//! Twelve-factor settings: every hub-wide key can also come from the environment, by one rule:
//! `MCP_HUB_` + the key path after `hub.`, upper-cased, dots as `_` (`hub.http.listen` ←
//! `MCP_HUB_HTTP_LISTEN`, `hub.request_timeout` ← `MCP_HUB_REQUEST_TIMEOUT`). The environment
//! wins over the file; a command-line flag (`--listen`) wins over both. Values are read as a
//! TOML value when they parse as one of the key's type (`50`, `true`, `["a", "b"]`), else as a
//! string, and are then checked like the file's.

use std::collections::BTreeMap;

use super::raw::RawHub;
use super::shape::{shape_of, Shape};

/// The variable that sets the hub-wide key `path` (without `hub.`).
pub fn env_name(path: &[&str]) -> String {
    format!("MCP_HUB_{}", path.join("_").to_ascii_uppercase())
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
        | (Shape::Map(_), Some(v @ toml::Value::Table(_))) => v,
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
