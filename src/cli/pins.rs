//! `mcp-hub pins list|approve`: a running hub's pinned and quarantined tools, through its admin
//! API (the quarantine is a fact about what an upstream offers now, which only a running hub
//! knows; with no hub running there is nothing to approve).

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::path::Path;

use clap::Subcommand;
use serde_json::Value;

use super::remote::{ask, base, usage};
use super::EXIT_OK;
use crate::config::HubConfig;

#[derive(Debug, Subcommand)]
pub enum PinsCommand {
    /// The tenant's pinned tools, and the quarantined ones with what changed.
    List {
        /// The tenant (default: `hub.default_tenant`, or the only tenant of the config).
        #[arg(long)]
        tenant: Option<String>,
        /// Print the API's answer as JSON.
        #[arg(long)]
        json: bool,
        /// The hub's URL (default: `[hub.admin] listen`, else `hub.http.listen`, from the config).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin or tenant key.
        #[arg(long, env = "MCP_HUB_API_KEY", hide_env_values = true)]
        key: Option<String>,
    },
    /// Approve a quarantined tool (its exposed name, as `pins list` shows it): its new
    /// definition is pinned and the tool is served again at once.
    Approve {
        /// The tool's exposed name, e.g. `github__create_issue`.
        tool: String,
        /// The tenant (default: `hub.default_tenant`, or the only tenant of the config).
        #[arg(long)]
        tenant: Option<String>,
        /// The hub's URL (default: `[hub.admin] listen`, else `hub.http.listen`, from the config).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin key.
        #[arg(long, env = "MCP_HUB_API_KEY", hide_env_values = true)]
        key: Option<String>,
    },
}

/// `--tenant`, else the config's default tenant.
fn tenant(given: Option<&str>, config: &Path) -> Result<String, String> {
    if let Some(t) = given {
        return Ok(t.to_string());
    }
    let c = HubConfig::load(config).map_err(|_| {
        format!(
            "cannot read `{}` to find the tenant; pass --tenant",
            config.display()
        )
    })?;
    c.tenant(None).map(|t| t.id.to_string())
}

pub(super) async fn run(cmd: &PinsCommand, config: &Path) -> u8 {
    match cmd {
        PinsCommand::List {
            tenant: t,
            json,
            url,
            key,
        } => {
            let (base, t) = match base(url.as_deref(), config)
                .and_then(|b| Ok((b, tenant(t.as_deref(), config)?)))
            {
                Ok(x) => x,
                Err(e) => return usage(e),
            };
            let v = match ask(
                "GET",
                &format!("{base}/api/tenants/{t}/pins"),
                key.as_deref(),
            )
            .await
            {
                Ok(v) => v,
                Err(code) => return code,
            };
            let mut out = std::io::stdout().lock();
            if *json {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                );
                return EXIT_OK;
            }
            let _ = write!(out, "{}", render(&v));
            EXIT_OK
        }
        PinsCommand::Approve {
            tool,
            tenant: t,
            url,
            key,
        } => {
            let (base, t) = match base(url.as_deref(), config)
                .and_then(|b| Ok((b, tenant(t.as_deref(), config)?)))
            {
                Ok(x) => x,
                Err(e) => return usage(e),
            };
            let path = format!("{base}/api/tenants/{t}/pins/{tool}/approve");
            match ask("POST", &path, key.as_deref()).await {
                Ok(v) => {
                    let a = &v["approved"];
                    let _ = writeln!(
                        std::io::stdout().lock(),
                        "approved `{}` (server `{}`, {}){}",
                        a["name"].as_str().unwrap_or(tool),
                        a["server"].as_str().unwrap_or(""),
                        a["digest"].as_str().unwrap_or(""),
                        if v["visible"] == Value::Bool(true) {
                            "; it is served again"
                        } else {
                            ""
                        }
                    );
                    EXIT_OK
                }
                Err(code) => code,
            }
        }
    }
}

/// The pins answer for people: the quarantined tools with their changes, then the pin count.
fn render(v: &Value) -> String {
    let mut s = String::new();
    let held = v["quarantined"].as_array().cloned().unwrap_or_default();
    let pins = v["pins"].as_array().map_or(0, Vec::len);
    s.push_str(&format!(
        "tenant `{}`: pinning mode `{}`, {pins} pinned tool(s), {} quarantined\n",
        v["tenant"].as_str().unwrap_or(""),
        v["mode"].as_str().unwrap_or(""),
        held.len()
    ));
    for h in held {
        s.push_str(&format!(
            "\n{} (server `{}`): {}\n",
            h["name"].as_str().unwrap_or(""),
            h["server"].as_str().unwrap_or(""),
            if h["reason"] == "new" {
                "a new tool"
            } else {
                "changed since it was pinned"
            }
        ));
        for c in h["changes"].as_array().into_iter().flatten() {
            let show = |k: &str| c.get(k).map_or("(none)".to_string(), Value::to_string);
            s.push_str(&format!(
                "  {}:\n    - {}\n    + {}\n",
                c["path"].as_str().unwrap_or(""),
                show("old"),
                show("new")
            ));
        }
        s.push_str(&format!(
            "  approve: mcp-hub pins approve {}\n",
            h["name"].as_str().unwrap_or("")
        ));
    }
    s
}
