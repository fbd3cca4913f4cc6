//! `mcp-hub client-config [--tenant T] [--for claude-desktop|cursor|vscode]`: the entry a client's
//! MCP config needs to run this hub over stdio, with absolute paths (this binary, the config).

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::path::Path;

use serde_json::{json, Value};

use crate::config::HubConfig;

use super::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK};

/// The client whose config format to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ForClient {
    /// `claude_desktop_config.json`: `{"mcpServers": {…}}`.
    ClaudeDesktop,
    /// Cursor's (and Claude Code's) `mcp.json`: `{"mcpServers": {…}}`.
    Cursor,
    /// VS Code's `mcp.json`: `{"servers": {…}}` with `"type": "stdio"`.
    Vscode,
}

/// The JSON for `client`: the hub at `exe` serving `tenant` (when given) of the config at `config`.
pub fn entry(client: ForClient, exe: &Path, config: &Path, tenant: Option<&str>) -> Value {
    let mut args = vec![
        "--config".to_string(),
        config.to_string_lossy().into_owned(),
        "stdio".to_string(),
    ];
    if let Some(t) = tenant {
        args.push("--tenant".into());
        args.push(t.into());
    }
    let name = match tenant {
        Some(t) => format!("mcp-hub-{t}"),
        None => "mcp-hub".into(),
    };
    let command = exe.to_string_lossy();
    match client {
        ForClient::ClaudeDesktop | ForClient::Cursor => {
            json!({"mcpServers": {name: {"command": command, "args": args}}})
        }
        ForClient::Vscode => {
            json!({"servers": {name: {"type": "stdio", "command": command, "args": args}}})
        }
    }
}

pub(super) fn client_config(config: &HubConfig, tenant: Option<&str>, client: ForClient) -> u8 {
    // The tenant must exist (or be the default one): a client would only see the hub fail.
    if let Err(e) = config.tenant(tenant) {
        eprintln!("error: {e}");
        return EXIT_CONFIG;
    }
    let exe = match std::env::current_exe().and_then(|p| p.canonicalize()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the path of this mcp-hub binary: {e}");
            return EXIT_FAILURE;
        }
    };
    let path = match config.path.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "error: cannot make `{}` an absolute path: {e}",
                config.path.display()
            );
            return EXIT_FAILURE;
        }
    };
    let v = entry(client, &exe, &path, tenant);
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_own_shape() {
        let e = entry(
            ForClient::Vscode,
            Path::new("/usr/bin/mcp-hub"),
            Path::new("/etc/hub.toml"),
            Some("acme"),
        );
        assert_eq!(e["servers"]["mcp-hub-acme"]["type"], "stdio");
        assert_eq!(
            e["servers"]["mcp-hub-acme"]["args"],
            json!(["--config", "/etc/hub.toml", "stdio", "--tenant", "acme"])
        );
        let e = entry(
            ForClient::ClaudeDesktop,
            Path::new("/usr/bin/mcp-hub"),
            Path::new("/etc/hub.toml"),
            None,
        );
        assert_eq!(e["mcpServers"]["mcp-hub"]["command"], "/usr/bin/mcp-hub");
    }
}
