//! Writes imported servers ([`super::clients`]) into a `hub.toml` document, keeping everything
//! else as written (comments, order, layout): an entry that is not there is added, one that is
//! there gets the keys the import manages set to the imported values, and nothing else moves.
//!
//! The keys an import manages: `command`, `args`, `env`, `cwd` (a process), `url`, `transport`,
//! `headers` (a remote); one of these that the imported entry does not have is removed (a
//! server that moved from a process to a URL loses its `command`). `enabled = false` is written
//! for a disabled entry and never removed. Every other key (`start`, `share`, `restart`…) is the
//! user's and stays. So a second import of the same file changes nothing.

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::clients::{Entry, Imported};

/// What happened to one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Added,
    /// The managed keys that changed.
    Changed(Vec<&'static str>),
    Unchanged,
}

const MANAGED: [&str; 7] = [
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "transport",
    "headers",
];

/// The managed keys of `e`, in the order they are written.
fn wanted(e: &Entry) -> Vec<(&'static str, Value)> {
    let pairs = |p: &[(String, String)]| {
        let mut t = InlineTable::new();
        for (k, v) in p {
            t.insert(k.as_str(), Value::from(v.as_str()));
        }
        Value::InlineTable(t)
    };
    match e {
        Entry::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut out = vec![("command", Value::from(command.as_str()))];
            if !args.is_empty() {
                out.push((
                    "args",
                    Value::Array(args.iter().map(String::as_str).collect::<Array>()),
                ));
            }
            if !env.is_empty() {
                out.push(("env", pairs(env)));
            }
            if let Some(c) = cwd {
                out.push(("cwd", Value::from(c.as_str())));
            }
            out
        }
        Entry::Remote {
            url,
            transport,
            headers,
        } => {
            let mut out = vec![("url", Value::from(url.as_str()))];
            if let Some(t) = transport {
                out.push(("transport", Value::from(*t)));
            }
            if !headers.is_empty() {
                out.push(("headers", pairs(headers)));
            }
            out
        }
    }
}

/// Two values alike in content (layout and comments aside).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same(p, q))
        }
        (Value::InlineTable(x), Value::InlineTable(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

/// The value of `item`, with a table (`[…servers.x.env]`) read as an inline table.
fn as_value(item: &Item) -> Option<Value> {
    match item {
        Item::Value(v) => Some(v.clone()),
        Item::Table(t) => Some(Value::InlineTable(t.clone().into_inline_table())),
        _ => None,
    }
}

/// The table at `key` of `parent`, made (without a header of its own) when missing; `None` when
/// `key` holds something else than a table.
fn child<'a>(parent: &'a mut dyn TableLike, key: &str) -> Option<&'a mut dyn TableLike> {
    if parent.get(key).is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        parent.insert(key, Item::Table(t));
    }
    parent.get_mut(key)?.as_table_like_mut()
}

/// Writes `servers` under `[tenants.<tenant>.servers]`; `Err` names a key that is in the way (a
/// value where a table must be). `source` is named in a comment above each added table.
pub fn apply(
    doc: &mut DocumentMut,
    tenant: &str,
    servers: &[Imported],
    source: &str,
) -> Result<Vec<Outcome>, String> {
    let root = doc.as_table_mut() as &mut dyn TableLike;
    let not_table = |p: &str| format!("`{p}` is not a table");
    let tenants = child(root, "tenants").ok_or_else(|| not_table("tenants"))?;
    let tpath = format!("tenants.{tenant}");
    let t = child(tenants, tenant).ok_or_else(|| not_table(&tpath))?;
    let list = child(t, "servers").ok_or_else(|| not_table(&format!("{tpath}.servers")))?;
    let mut out = Vec::with_capacity(servers.len());
    for s in servers {
        let want = wanted(&s.entry);
        match list.get_mut(&s.name) {
            None => {
                let mut table = Table::new();
                for (k, v) in want {
                    table.insert(k, Item::Value(v));
                }
                if s.disabled {
                    table.insert("enabled", Item::Value(Value::from(false)));
                }
                table
                    .decor_mut()
                    .set_prefix(format!("\n# imported from {source}\n"));
                list.insert(&s.name, Item::Table(table));
                out.push(Outcome::Added);
            }
            Some(item) => {
                let spath = format!("{tpath}.servers.{}", s.name);
                let existing = item.as_table_like_mut().ok_or_else(|| not_table(&spath))?;
                let mut changed = Vec::new();
                for key in MANAGED {
                    let new = want.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
                    let old = existing.get(key).and_then(as_value);
                    match (old, new) {
                        (Some(o), Some(n)) if same(&o, n) => {}
                        (None, None) => {}
                        (_, Some(n)) => {
                            existing.insert(key, Item::Value(n.clone()));
                            changed.push(key);
                        }
                        (Some(_), None) => {
                            existing.remove(key);
                            changed.push(key);
                        }
                    }
                }
                if s.disabled && existing.get("enabled").and_then(Item::as_bool) != Some(false) {
                    existing.insert("enabled", Item::Value(Value::from(false)));
                    changed.push("enabled");
                }
                out.push(if changed.is_empty() {
                    Outcome::Unchanged
                } else {
                    Outcome::Changed(changed)
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio(name: &str, args: &[&str]) -> Imported {
        Imported {
            name: name.into(),
            original: name.into(),
            entry: Entry::Stdio {
                command: "npx".into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                env: vec![("TOKEN".into(), "${TOKEN}".into())],
                cwd: None,
            },
            disabled: false,
        }
    }

    #[test]
    fn an_import_keeps_the_file_and_a_second_one_changes_nothing() {
        let before = "# my hub\n[hub]\nrequest_timeout = \"30s\" # short\n\n[tenants.default.servers.old]\ncommand = \"x\"\nstart = \"lazy\"\n";
        let mut doc: DocumentMut = before.parse().unwrap();
        let servers = [stdio("old", &["-y", "a b"]), stdio("new", &[])];
        let first = apply(&mut doc, "default", &servers, "c.json").unwrap();
        assert_eq!(
            first,
            vec![
                Outcome::Changed(vec!["command", "args", "env"]),
                Outcome::Added
            ]
        );
        let text = doc.to_string();
        assert!(
            text.starts_with("# my hub\n[hub]\nrequest_timeout = \"30s\" # short\n"),
            "{text}"
        );
        assert!(
            text.contains("start = \"lazy\""),
            "the user's keys stay: {text}"
        );
        assert!(text.contains("args = [\"-y\", \"a b\"]"), "{text}");
        assert!(
            text.contains("# imported from c.json\n[tenants.default.servers.new]"),
            "{text}"
        );
        let mut again: DocumentMut = text.parse().unwrap();
        let second = apply(&mut again, "default", &servers, "c.json").unwrap();
        assert_eq!(second, vec![Outcome::Unchanged, Outcome::Unchanged]);
        assert_eq!(again.to_string(), text);
    }

    #[test]
    fn a_server_that_became_remote_loses_its_process_keys() {
        let mut doc: DocumentMut = "[tenants.t.servers.s]\ncommand = \"x\"\nargs = [\"y\"]\n"
            .parse()
            .unwrap();
        let remote = Imported {
            name: "s".into(),
            original: "s".into(),
            entry: Entry::Remote {
                url: "https://x.example/mcp".into(),
                transport: Some("sse"),
                headers: Vec::new(),
            },
            disabled: true,
        };
        let out = apply(&mut doc, "t", &[remote], "c.json").unwrap();
        assert_eq!(
            out,
            vec![Outcome::Changed(vec![
                "command",
                "args",
                "url",
                "transport",
                "enabled"
            ])]
        );
        assert_eq!(
            doc.to_string(),
            "[tenants.t.servers.s]\nurl = \"https://x.example/mcp\"\ntransport = \"sse\"\nenabled = false\n"
        );
    }
}
