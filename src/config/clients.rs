//! MCP client configs read as hub servers: Claude Desktop's `claude_desktop_config.json` and
//! Cursor's / Claude Code's `mcp.json` / `.mcp.json` (`mcpServers`), VS Code's `mcp.json`
//! (`servers`, `inputs`). Pure: text in, server entries (or the reason an entry is skipped) out;
//! it knows no file and no `hub.toml` layout (that is [`super::edit`]).
//!
//! Rules, written down once:
//! - An entry with `command` (or `type = "stdio"`) is a process: `command`, `args`, `env`, `cwd`.
//!   One with `url` is a remote: `type` `http` / `streamable-http` / `streamableHttp` →
//!   `transport = "streamable-http"`, `sse` → `"sse"`, none → the hub's `auto`; `headers`.
//!   `disabled: true` becomes `enabled = false`. Anything else is skipped, with the reason.
//! - References: `${input:ID}` (VS Code inputs) becomes `${ID}` upper-cased with `_` for
//!   anything but letters and digits (`api-key` → `${API_KEY}`), and the summary says to set it;
//!   `${env:NAME}` becomes `${NAME}`; `${userHome}` becomes `${HOME}`; `${workspaceFolder}`
//!   becomes `${WORKSPACE_FOLDER}` (to set); `${NAME}`, `${NAME:-default}`… stay as they are
//!   (the hub expands them the same way). Any other `${…}` skips the entry: the hub could not
//!   resolve it.
//! - Server names: each character outside `A-Z a-z 0-9 _ -` becomes `-`, a run of `-`/`_`
//!   becomes its first character (so no name holds `__`), `-`/`_` are trimmed from both ends,
//!   the name is cut to 32 characters, an empty name becomes `server`, and a name already taken
//!   by an earlier entry gets `-2`, `-3`…

use std::collections::BTreeMap;

use serde_json::Value;

use super::expand::is_env_name;

/// Which client wrote the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// `mcpServers` (Claude Desktop, Cursor, Claude Code, Windsurf, Cline…).
    McpServers,
    /// VS Code: `servers` and `inputs`.
    VsCode,
}

/// A server entry, as the hub will run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        cwd: Option<String>,
    },
    Remote {
        url: String,
        /// `streamable-http` or `sse`; `None` lets the hub find out (`auto`).
        transport: Option<&'static str>,
        headers: Vec<(String, String)>,
    },
}

/// One imported entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// A valid server name (see the module's rules).
    pub name: String,
    /// The entry's name in the client's file.
    pub original: String,
    pub entry: Entry,
    /// `disabled: true` in the client's file.
    pub disabled: bool,
}

/// A client config, read.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    pub kind: Option<ClientKind>,
    pub servers: Vec<Imported>,
    /// `(name in the file, why)` for each entry that cannot be expressed.
    pub skipped: Vec<(String, String)>,
    /// Variables the imported entries reference and the hub will need, with what they stand for.
    pub to_set: BTreeMap<String, String>,
    /// Other things worth saying (an `envFile` that is not read, …).
    pub notes: Vec<String>,
}

/// Reads a client config; `Err` when the text is not one (not JSON, or neither `mcpServers` nor
/// `servers` at its top).
pub fn read(text: &str) -> Result<ClientConfig, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(top) = doc.as_object() else {
        return Err("the file is not a JSON object".into());
    };
    let (kind, servers) = if let Some(s) = top.get("mcpServers") {
        (ClientKind::McpServers, s)
    } else if let Some(s) = top.get("servers") {
        (ClientKind::VsCode, s)
    } else if let Some(s) = top.get("mcp").and_then(|m| m.get("servers")) {
        // VS Code's settings.json: `"mcp": { "servers": … }`.
        (ClientKind::VsCode, s)
    } else {
        return Err("neither `mcpServers` (Claude Desktop, Cursor, Claude Code) nor `servers` (VS Code) is at its top".into());
    };
    let Some(servers) = servers.as_object() else {
        return Err("the server list is not a JSON object of named entries".into());
    };
    let inputs = inputs(top.get("inputs").or_else(|| doc.pointer("/mcp/inputs")));
    let mut out = ClientConfig {
        kind: Some(kind),
        ..ClientConfig::default()
    };
    let mut taken: Vec<String> = Vec::new();
    for (original, v) in servers {
        let mut refs = Refs {
            inputs: &inputs,
            to_set: BTreeMap::new(),
        };
        match entry(v, &mut refs) {
            Ok((entry, disabled, notes)) => {
                let name = unique(sanitize(original), &taken);
                taken.push(name.clone());
                out.to_set.extend(refs.to_set);
                out.notes
                    .extend(notes.into_iter().map(|n| format!("`{original}`: {n}")));
                out.servers.push(Imported {
                    name,
                    original: original.clone(),
                    entry,
                    disabled,
                });
            }
            Err(why) => out.skipped.push((original.clone(), why)),
        }
    }
    Ok(out)
}

/// VS Code's `inputs`: id → what to tell the user.
fn inputs(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for i in v.and_then(Value::as_array).into_iter().flatten() {
        let Some(id) = i.get("id").and_then(Value::as_str) else {
            continue;
        };
        let mut what = format!("VS Code input `{id}`");
        if let Some(d) = i.get("description").and_then(Value::as_str) {
            what.push_str(&format!(": {d}"));
        }
        if i.get("password").and_then(Value::as_bool) == Some(true) {
            what.push_str(" (a secret)");
        }
        out.insert(id.to_string(), what);
    }
    out
}

struct Refs<'a> {
    inputs: &'a BTreeMap<String, String>,
    to_set: BTreeMap<String, String>,
}

type Read = (Entry, bool, Vec<String>);

fn entry(v: &Value, refs: &mut Refs<'_>) -> Result<Read, String> {
    let Some(o) = v.as_object() else {
        return Err("the entry is not a JSON object".into());
    };
    let text = |key: &str, refs: &mut Refs<'_>| -> Result<Option<String>, String> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => scalar(v)
                .ok_or_else(|| format!("`{key}` is not a string"))
                .and_then(|s| translate(&s, refs).map_err(|e| format!("`{key}`: {e}")))
                .map(Some),
        }
    };
    let kind = o.get("type").and_then(Value::as_str);
    let disabled = o.get("disabled").and_then(Value::as_bool) == Some(true);
    let mut notes = Vec::new();
    if o.contains_key("envFile") {
        notes.push("`envFile` is not read by the hub: put its variables in `env`, or export them and list them in `env_passthrough`".to_string());
    }
    let command = text("command", refs)?;
    let url = text("url", refs)?.or(text("serverUrl", refs)?);
    let transport = match kind {
        None | Some("stdio") => None,
        Some("http" | "streamable-http" | "streamableHttp" | "streamable_http") => {
            Some("streamable-http")
        }
        Some("sse") => Some("sse"),
        Some(other) => {
            return Err(format!(
                "`type = \"{other}\"` is not a transport the hub knows (stdio, http, sse)"
            ))
        }
    };
    let entry = match (command, url, kind) {
        (Some(command), _, None | Some("stdio")) => {
            if command.trim().is_empty() {
                return Err("`command` is empty".into());
            }
            Entry::Stdio {
                command,
                args: list(o.get("args"), "args", refs)?,
                env: pairs(o.get("env"), "env", refs)?,
                cwd: text("cwd", refs)?,
            }
        }
        (None, _, Some("stdio")) => return Err("`type = \"stdio\"` without a `command`".into()),
        (_, Some(url), _) => {
            if url::Url::parse(&url).is_err() && !url.contains("${") {
                return Err(format!("`url` (`{url}`) is not a URL"));
            }
            Entry::Remote {
                url,
                transport,
                headers: pairs(o.get("headers"), "headers", refs)?,
            }
        }
        (_, None, _) => return Err("it has neither `command` nor `url`".into()),
    };
    Ok((entry, disabled, notes))
}

/// A string, or a number or boolean written as one.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list(v: Option<&Value>, key: &str, refs: &mut Refs<'_>) -> Result<Vec<String>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(items) = v.as_array() else {
        return Err(format!("`{key}` is not a list"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let s = scalar(item).ok_or_else(|| format!("`{key}[{i}]` is not a string"))?;
            translate(&s, refs).map_err(|e| format!("`{key}[{i}]`: {e}"))
        })
        .collect()
}

fn pairs(
    v: Option<&Value>,
    key: &str,
    refs: &mut Refs<'_>,
) -> Result<Vec<(String, String)>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(o) = v.as_object() else {
        return Err(format!("`{key}` is not an object of names and strings"));
    };
    o.iter()
        .map(|(k, item)| {
            let s = scalar(item).ok_or_else(|| format!("`{key}.{k}` is not a string"))?;
            let s = translate(&s, refs).map_err(|e| format!("`{key}.{k}`: {e}"))?;
            Ok((k.clone(), s))
        })
        .collect()
}

/// `s` with the client's `${…}` references rewritten as the hub's (see the module's rules).
fn translate(s: &str, refs: &mut Refs<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos + 2..];
        let Some(end) = tail.find('}') else {
            return Err("`${` is not closed".into());
        };
        let inner = &tail[..end];
        if let Some(id) = inner.strip_prefix("input:") {
            let var = input_var(id);
            let what = refs
                .inputs
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("VS Code input `{id}`"));
            refs.to_set.insert(var.clone(), what);
            out.push_str(&format!("${{{var}}}"));
        } else if let Some(name) = inner.strip_prefix("env:") {
            if !is_env_name(name) {
                return Err(format!("`${{{inner}}}` does not name a variable"));
            }
            out.push_str(&format!("${{{name}}}"));
        } else if inner == "userHome" {
            out.push_str("${HOME}");
        } else if inner == "workspaceFolder" {
            refs.to_set.insert(
                "WORKSPACE_FOLDER".into(),
                "the folder VS Code or Cursor called `${workspaceFolder}`".into(),
            );
            out.push_str("${WORKSPACE_FOLDER}");
        } else if hub_reference(inner) {
            out.push_str(&format!("${{{inner}}}"));
        } else {
            return Err(format!(
                "`${{{inner}}}` is a reference the hub cannot resolve"
            ));
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `NAME`, `NAME:-x`, `NAME-x`, `NAME:?x`, `NAME?x`: a reference the hub expands itself.
fn hub_reference(inner: &str) -> bool {
    let end = inner.find([':', '-', '?']).unwrap_or(inner.len());
    let (name, op) = inner.split_at(end);
    is_env_name(name) && (op.is_empty() || ["-", "?", ":-", ":?"].iter().any(|o| op.starts_with(o)))
}

/// The variable a VS Code input becomes: `api-key` → `API_KEY`.
pub fn input_var(id: &str) -> String {
    let mut v: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if !v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        v.insert(0, '_');
    }
    v
}

/// A valid server name for `s` (see the module's rules).
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        let run = matches!(c, '_' | '-') && out.ends_with(['_', '-']);
        if !run {
            out.push(c);
        }
    }
    let mut name: String = out.trim_matches(['_', '-']).chars().take(32).collect();
    while name.ends_with(['_', '-']) {
        name.pop();
    }
    if name.is_empty() {
        "server".into()
    } else {
        name
    }
}

/// `name`, or `name-2`, `name-3`… when `taken` has it (still at most 32 characters).
fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|n| {
            let suffix = format!("-{n}");
            let keep = 32usize.saturating_sub(suffix.len());
            let base: String = name.chars().take(keep).collect();
            format!("{}{suffix}", base.trim_end_matches(['_', '-']))
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_by_the_documented_rule() {
        assert_eq!(sanitize("github"), "github");
        assert_eq!(sanitize("My Server"), "My-Server");
        assert_eq!(sanitize("@scope/server.js"), "scope-server-js");
        assert_eq!(sanitize("a__b"), "a_b", "never the default separator");
        assert_eq!(sanitize("a - b"), "a-b");
        assert_eq!(sanitize("__x__"), "x");
        assert_eq!(sanitize("日本"), "server");
        assert_eq!(sanitize(&"n".repeat(40)).len(), 32);
        assert_eq!(unique("a".into(), &["a".into(), "a-2".into()]), "a-3");
    }

    #[test]
    fn vs_code_inputs_become_variables_to_set() {
        let c = read(
            r#"{"inputs": [{"type": "promptString", "id": "api-key", "description": "The API key", "password": true}],
                "servers": {"gh": {"type": "stdio", "command": "npx", "args": ["-y", "x"],
                                   "env": {"TOKEN": "Bearer ${input:api-key}", "HOME_DIR": "${userHome}/x", "P": "${env:PATH}"}}}}"#,
        )
        .unwrap();
        assert_eq!(c.kind, Some(ClientKind::VsCode));
        let Entry::Stdio { env, .. } = &c.servers[0].entry else {
            panic!("{:?}", c.servers)
        };
        assert_eq!(
            env,
            &vec![
                ("TOKEN".to_string(), "Bearer ${API_KEY}".to_string()),
                ("HOME_DIR".to_string(), "${HOME}/x".to_string()),
                ("P".to_string(), "${PATH}".to_string()),
            ]
        );
        assert_eq!(
            c.to_set["API_KEY"],
            "VS Code input `api-key`: The API key (a secret)"
        );
    }

    #[test]
    fn remote_entries_and_entries_that_cannot_be_expressed() {
        let c = read(
            r#"{"mcpServers": {
                "a": {"type": "http", "url": "https://x.example/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
                "b": {"type": "sse", "url": "https://x.example/sse"},
                "c": {"url": "https://x.example/mcp"},
                "d": {"type": "websocket", "url": "wss://x"},
                "e": {"args": ["x"]},
                "f": {"command": "x", "args": ["${config:foo}"]}
            }}"#,
        )
        .unwrap();
        let transports: Vec<_> = c
            .servers
            .iter()
            .map(|s| match &s.entry {
                Entry::Remote { transport, .. } => *transport,
                Entry::Stdio { .. } => Some("stdio"),
            })
            .collect();
        assert_eq!(transports, vec![Some("streamable-http"), Some("sse"), None]);
        let skipped: Vec<&str> = c.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(skipped, vec!["d", "e", "f"]);
        assert!(c.skipped[2].1.contains("${config:foo}"), "{:?}", c.skipped);
    }
}
