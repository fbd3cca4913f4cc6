//! `mcp-hub check`: the config's summary (never a secret's value) and its warnings.

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use crate::config::{HubConfig, Origin};

use super::EXIT_OK;

pub(super) fn check(config: &HubConfig, flags: &[(&str, &str, String)]) -> u8 {
    println!("config `{}` is valid", config.path.display());
    // Every hub-wide setting, its value as used (a secret's never) and where it came from.
    println!("hub-wide settings (value, and where it came from):");
    for s in config.settings(flags) {
        let from = match &s.origin {
            Origin::File(line) => format!("{}:{line}", config.path.display()),
            other => other.to_string(),
        };
        println!("  {} = {}  ({from})", s.key, s.value);
    }
    // The PATH an upstream gets: the hub's, unless the server's `env` sets its own.
    let hub_path = std::env::var_os("PATH");
    let mut launch = Vec::new();
    for (id, t) in &config.tenants {
        match (t.pinning, &config.hub.state_dir) {
            (crate::config::PinMode::Off, _) => {
                println!("tenant `{id}`: {} server(s)", t.servers.len())
            }
            (mode, dir) => println!(
                "tenant `{id}`: {} server(s), pinning `{}` (pins kept in `{}`)",
                t.servers.len(),
                mode.as_str(),
                dir.as_ref().map_or_else(
                    || "nowhere: set `hub.state_dir`".to_string(),
                    |d| d.join(crate::state::DB_FILE).display().to_string()
                )
            ),
        }
        for s in t.servers.values() {
            let mode = if !s.enabled {
                "disabled"
            } else if s.start == crate::config::StartMode::Lazy {
                "lazy"
            } else {
                "eager"
            };
            let mode = match s.share {
                crate::config::Share::Tenant => mode.to_string(),
                crate::config::Share::Session => format!("{mode}, one per session"),
            };
            // Arguments, env and header values and URL credentials can hold secrets: print names only.
            if let Some(r) = &s.remote {
                let headers: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
                println!(
                    "  {} ({mode}): remote {} ({}); headers: [{}]",
                    s.name,
                    r.public_url(),
                    r.transport.as_str(),
                    headers.join(", ")
                );
                continue;
            }
            if let Some(k) = &s.container {
                let env: Vec<&str> = k.env.keys().map(String::as_str).collect();
                let http = k
                    .port
                    .map(|p| format!(", Streamable HTTP on port {p} at `{}`", k.path))
                    .unwrap_or_default();
                println!(
                    "  {} ({mode}): container `{}`, {}, network `{}`{http}; {} arg(s); env: [{}]",
                    s.name,
                    k.image,
                    k.strategy.as_str(),
                    k.network.mode(),
                    k.args.len(),
                    env.join(", ")
                );
                continue;
            }
            let env: Vec<&str> = s.env.keys().map(String::as_str).collect();
            println!(
                "  {} ({mode}): `{}` with {} arg(s); env: [{}]",
                s.name,
                s.command,
                s.args.len(),
                env.join(", ")
            );
            if s.enabled {
                let path = s
                    .env
                    .get("PATH")
                    .map(std::ffi::OsString::from)
                    .or_else(|| hub_path.clone());
                if let Err(e) = crate::config::find_command(&s.command, &s.cwd, path.as_deref()) {
                    launch.push(format!(
                        "warning: tenants.{id}.servers.{}: command `{}` {e}",
                        s.name, s.command
                    ));
                }
            }
        }
    }
    if !config.warnings.is_empty() {
        print!("{}", config.warnings_report());
    }
    for w in launch {
        println!("{w}");
    }
    EXIT_OK
}
