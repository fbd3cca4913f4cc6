//! `mcp-hub import PATH [--tenant T] [--print]`: a client's MCP config (Claude Desktop, Cursor,
//! Claude Code, VS Code) into `hub.toml`, keeping what is there, with a backup and a summary.
//! The reading is [`crate::config::clients`], the writing [`crate::config::edit`]; this file
//! does the files: read, check the result, back up, write.

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::clients::{self, ClientKind, Entry};
use crate::config::edit::{self, Outcome};
use crate::config::{is_client_json, process_env, HubConfig};

use super::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

/// The tenant to import into: `--tenant`, else `hub.default_tenant`, else the only tenant, else
/// `default`.
fn tenant_of(doc: &toml_edit::DocumentMut, requested: Option<&str>) -> String {
    if let Some(t) = requested {
        return t.to_string();
    }
    if let Some(d) = doc
        .get("hub")
        .and_then(|h| h.get("default_tenant"))
        .and_then(|d| d.as_str())
    {
        return d.to_string();
    }
    match doc.get("tenants").and_then(|t| t.as_table_like()) {
        Some(t) if t.len() == 1 => t.iter().map(|(k, _)| k.to_string()).next(),
        _ => None,
    }
    .unwrap_or_else(|| "default".into())
}

/// `hub.toml.20261201T042000Z.bak` beside `path` (`-2`, `-3`… when taken).
fn backup_path(path: &Path) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hub.toml".into());
    let mut candidate = path.with_file_name(format!("{name}.{stamp}.bak"));
    let mut n = 2;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{name}.{stamp}-{n}.bak"));
        n += 1;
    }
    candidate
}

/// Writes `text` to `path` through a temporary file and a rename, keeping the file's permissions.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.import-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn describe(e: &Entry) -> String {
    match e {
        Entry::Stdio {
            command, args, env, ..
        } => {
            let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
            format!(
                "`{command}` with {} arg(s); env: [{}]",
                args.len(),
                names.join(", ")
            )
        }
        Entry::Remote {
            url,
            transport,
            headers,
        } => {
            let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
            let shown = url::Url::parse(url)
                .map(|u| crate::config::public_url(&u))
                .unwrap_or_else(|_| url.clone());
            format!(
                "remote {shown} ({}); headers: [{}]",
                transport.unwrap_or("auto"),
                names.join(", ")
            )
        }
    }
}

pub(super) fn import(config: &Path, source: &Path, tenant: Option<&str>, print: bool) -> u8 {
    let text = match std::fs::read_to_string(source) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", source.display());
            return EXIT_USAGE;
        }
    };
    let read = match clients::read(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "error: `{}` is not an MCP client config: {e}\n  hint: give Claude Desktop's claude_desktop_config.json, a Cursor or Claude Code mcp.json / .mcp.json (`mcpServers`), or a VS Code mcp.json (`servers`)",
                source.display()
            );
            return EXIT_USAGE;
        }
    };
    let (before, exists) = match std::fs::read_to_string(config) {
        Ok(t) => (t, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), false),
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", config.display());
            return EXIT_CONFIG;
        }
    };
    if is_client_json(config, &before) {
        eprintln!(
            "error: `{}` is a client's JSON config; import writes into a hub.toml\n  hint: pass `--config hub.toml` (created when missing)",
            config.display()
        );
        return EXIT_USAGE;
    }
    let mut doc: toml_edit::DocumentMut = match before.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "error: `{}` is not valid TOML, so nothing was imported: {e}",
                config.display()
            );
            return EXIT_CONFIG;
        }
    };
    let tenant = tenant_of(&doc, tenant);
    let source_name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let outcomes = match edit::apply(&mut doc, &tenant, &read.servers, &source_name) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "error: {e} in `{}`, so nothing was imported",
                config.display()
            );
            return EXIT_CONFIG;
        }
    };
    let after = doc.to_string();
    // The result must pass `check`, but for the variables it names, which are the user's to set.
    let unset = match HubConfig::from_str_at(&after, config, &process_env) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let (unset, real): (Vec<_>, Vec<_>) = e
                .problems
                .iter()
                .cloned()
                .partition(|p| p.is_unset_variable());
            if !real.is_empty() {
                let e = crate::config::ConfigErrors {
                    problems: real,
                    ..e
                };
                eprint!("{e}");
                eprintln!("nothing was imported: the result would not be a valid config");
                return EXIT_CONFIG;
            }
            unset
        }
    };

    let mut summary = String::new();
    let kind = match read.kind {
        Some(ClientKind::VsCode) => "VS Code `servers`",
        _ => "`mcpServers`",
    };
    summary.push_str(&format!(
        "{} ({kind}) into `{}`, tenant `{tenant}`:\n",
        source.display(),
        config.display()
    ));
    for (s, o) in read.servers.iter().zip(&outcomes) {
        let renamed = if s.name == s.original {
            String::new()
        } else {
            format!(
                " (named `{}` in the client's file: server names are 1-32 of A-Z a-z 0-9 _ -)",
                s.original
            )
        };
        let line = match o {
            Outcome::Added => format!("  added      {}: {}{renamed}", s.name, describe(&s.entry)),
            Outcome::Changed(keys) => {
                format!("  changed    {}: {}{renamed}", s.name, keys.join(", "))
            }
            Outcome::Unchanged => format!("  unchanged  {}{renamed}", s.name),
        };
        summary.push_str(&line);
        summary.push('\n');
    }
    for (name, why) in &read.skipped {
        summary.push_str(&format!("  skipped    `{name}`: {why}\n"));
    }
    for note in &read.notes {
        summary.push_str(&format!("note: {note}\n"));
    }
    if !read.to_set.is_empty() || !unset.is_empty() {
        summary.push_str("set before starting the hub:\n");
        for (var, what) in &read.to_set {
            summary.push_str(&format!("  {var}: {what}\n"));
        }
        for p in unset.iter().filter(|p| {
            !read
                .to_set
                .keys()
                .any(|v| p.message.contains(&format!("`{v}`")))
        }) {
            summary.push_str(&format!("  {}: {}\n", p.path, p.message));
        }
    }

    if print {
        eprint!("{summary}");
        let _ = std::io::stdout().lock().write_all(after.as_bytes());
        return EXIT_OK;
    }
    if exists && after == before {
        print!("{summary}");
        println!(
            "nothing to change: `{}` is left as it was",
            config.display()
        );
        return EXIT_OK;
    }
    if exists {
        let backup = backup_path(config);
        if let Err(e) = std::fs::copy(config, &backup) {
            eprintln!(
                "error: cannot back `{}` up to `{}`: {e}; nothing was imported",
                config.display(),
                backup.display()
            );
            return EXIT_FAILURE;
        }
        summary.push_str(&format!("backup: {}\n", backup.display()));
    }
    if let Err(e) = write_atomically(config, &after) {
        eprintln!("error: cannot write `{}`: {e}", config.display());
        return EXIT_FAILURE;
    }
    print!("{summary}");
    println!(
        "written: {} (check it with `mcp-hub --config {} check`)",
        config.display(),
        config.display()
    );
    EXIT_OK
}
