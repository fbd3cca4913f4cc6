//! The command line: parsing, dispatch, and the long-running commands (`stdio`, `serve`).
//! The others live beside it: [`check`], [`health`], [`inspect`] (`tools`, `call`, `status`),
//! [`import`] and [`client_config`] (to and from a client's MCP config).
//! [`remote`] and [`pins`] (through a running hub's admin API); [`pull`] (container images).
//!
//! Exit codes: 0 success; 1 runtime failure (a call failed, an upstream is down for `status`);
//! 2 bad command line; 64 bad config.

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{HubConfig, TenantId};

use crate::hub::{self, Hub};

mod check;
mod client_config;
mod health;
mod import;
mod inspect;
mod pins;
mod pull;
mod remote;
mod serving;

use check::check;
use health::health;
use inspect::{call, only_owner, parse_arguments, status, tools};
use serving::{serve, stdio};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-hub",
    version,
    about = "One MCP server in front of many: a multi-tenant MCP gateway"
)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "MCP_HUB_CONFIG",
        default_value = "hub.toml"
    )]
    pub config: PathBuf,
    /// Log level for stderr (error, warn, info, debug, trace) [default: `hub.log.level`, else
    /// info]; RUST_LOG overrides it.
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Log lines as `text` or `json` (one object per line, with the tenant, server and session
    /// they concern); always on stderr [default: `hub.log.format`, else text].
    #[arg(long, global = true, env = "MCP_HUB_LOG_FORMAT", value_enum)]
    pub log_format: Option<crate::telemetry::LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve one tenant as an MCP server over stdin/stdout (for Claude Desktop, Cursor, `docker run -i`).
    Stdio {
        /// The tenant to serve (default: `hub.default_tenant`, or the only tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Also serve MCP over HTTP on this address (the stdio tenant's routes and health).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Serve only `/health` and `/ready` on this address (a sidecar for container probes).
        #[arg(long, value_name = "ADDR", conflicts_with = "listen")]
        health_listen: Option<std::net::SocketAddr>,
    },
    /// Serve every tenant over HTTP: Streamable HTTP at /mcp, legacy SSE at /sse, /t/<tenant>/…, /health, /ready.
    Serve {
        /// The address to bind (default: `hub.http.listen`, 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Probe a hub's health endpoint: exit 0 when healthy or degraded, 1 otherwise (for HEALTHCHECK).
    Health {
        /// The hub's health URL, or its base URL (`/health` is added). Default: `/health` on the
        /// config's `hub.http.listen` (loopback when it listens on every address).
        #[arg(long)]
        url: Option<String>,
    },
    /// Validate the config and print a summary; exit 64 when it is invalid.
    Check,
    /// Start a tenant's upstreams and print the merged catalog; exit 1 if a server failed.
    Tools {
        /// The tenant (default: `hub.default_tenant`, or the only tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Print the whole catalog as JSON.
        #[arg(long)]
        json: bool,
        /// Exit 0 with the servers that came up even when others failed (they are still named on stderr).
        #[arg(long)]
        partial: bool,
        /// Ask the hub running at this URL (its admin API) instead of starting upstreams.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin or tenant key for `--url`.
        #[arg(long, env = "MCP_HUB_API_KEY", hide_env_values = true)]
        key: Option<String>,
    },
    /// Make one tool call and print its result (a CallToolResult) as JSON; starts only the
    /// server that owns the tool.
    Call {
        /// The tenant (default: `hub.default_tenant`, or the only tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The tool's exposed name, e.g. `demo__echo`.
        tool: String,
        /// The arguments as a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
    },
    /// Start a tenant's upstreams and print each one's state and last error; exit 1 if any is not up.
    Status {
        /// The tenant (default: `hub.default_tenant`, or the only tenant; with `--url`: every tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Ask the hub running at this URL (its admin API) instead of starting upstreams.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin or tenant key for `--url`.
        #[arg(long, env = "MCP_HUB_API_KEY", hide_env_values = true)]
        key: Option<String>,
    },
    /// Pull container images through the engine the config names (`hub.containers.socket`, else
    /// DOCKER_HOST, else the usual sockets): the images given, or every configured container
    /// server's; progress on stderr (a line redrawn in place on a terminal); exit 1 if one failed.
    Pull {
        /// Images to pull (default: every image of the config's container servers).
        images: Vec<String>,
    },
    /// Print a JSON Schema of hub.toml (for editor completion, e.g. Taplo / Even Better TOML).
    Schema,
    /// Make a running hub read its config file again and apply it (`POST /api/reload`).
    Reload {
        /// The hub's URL (default: `[hub.admin] listen`, else `hub.http.listen`, from the config).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin key.
        #[arg(long, env = "MCP_HUB_API_KEY", hide_env_values = true)]
        key: Option<String>,
    },
    /// Import a client's MCP config (Claude Desktop, Cursor, Claude Code, VS Code) into the
    /// config's `[tenants.T.servers.*]`, keeping what is there; prints what was added, changed
    /// or skipped, and keeps a backup of the file it changed.
    Import {
        /// `claude_desktop_config.json`, `mcp.json`, `.mcp.json` or VS Code's `mcp.json`.
        path: PathBuf,
        /// The tenant to add the servers to (default: `hub.default_tenant`, else the only
        /// tenant, else `default`).
        #[arg(long)]
        tenant: Option<String>,
        /// Print the resulting hub.toml on stdout instead of writing it (the summary goes to stderr).
        #[arg(long)]
        print: bool,
    },
    /// Print the entry a client's MCP config needs to run this hub (absolute paths).
    ClientConfig {
        /// The tenant to serve (default: `hub.default_tenant`, or the only tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// The client whose config format to print.
        #[arg(long = "for", value_enum, default_value = "claude-desktop")]
        client: client_config::ForClient,
    },
    /// A running hub's pinned tools: list them (with what changed in quarantined ones), approve one.
    Pins {
        #[command(subcommand)]
        command: pins::PinsCommand,
    },
    /// Run the demo MCP server on stdin/stdout (the shipped hub.toml's upstream; a server to try the hub with).
    DemoServer {
        /// `--name NAME` (serverInfo.name), `--only-2026` (speak only 2026-07-28), `--tools N` (N extra tools).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "OPTIONS"
        )]
        args: Vec<String>,
    },
}

fn load(path: &std::path::Path) -> Result<HubConfig, u8> {
    HubConfig::load(path).map_err(|e| {
        eprint!("{e}");
        EXIT_CONFIG
    })
}

pub async fn run(cli: Cli) -> u8 {
    let no_config = matches!(
        &cli.command,
        Command::Health { .. }
            | Command::Schema
            | Command::Reload { .. }
            | Command::DemoServer { .. }
            | Command::Status { url: Some(_), .. }
            | Command::Tools { url: Some(_), .. }
    );
    if no_config {
        crate::telemetry::init(
            cli.log_level.as_deref(),
            cli.log_format,
            &Default::default(),
        );
    }
    match &cli.command {
        Command::Health { url } => return health(url.as_deref(), &cli.config).await,
        Command::Schema => {
            let schema = crate::config::json_schema();
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            return EXIT_OK;
        }
        Command::Import {
            path,
            tenant,
            print,
        } => return import::import(&cli.config, path, tenant.as_deref(), *print),
        Command::Reload { url, key } => {
            return remote::reload(url.as_deref(), key.as_deref(), &cli.config).await
        }
        Command::Pins { command } => return pins::run(command, &cli.config).await,
        Command::Status {
            url: Some(url),
            key,
            tenant,
        } => return remote::status(url, key.as_deref(), tenant.as_deref()).await,
        Command::Tools {
            url: Some(url),
            key,
            tenant,
            json,
            ..
        } => return remote::tools(url, key.as_deref(), tenant.as_deref(), *json).await,
        Command::DemoServer { args } => {
            return match crate::demo::run(args.clone()).await {
                Ok(()) => EXIT_OK,
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_USAGE
                }
            }
        }
        Command::Call { arguments, .. } if parse_arguments(arguments).is_none() => {
            eprintln!("error: the arguments must be a JSON object, e.g. '{{\"message\": \"hi\"}}' (got `{arguments}`)");
            return EXIT_USAGE;
        }
        _ => {}
    }
    let config = match load(&cli.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The log as the command line, else the file, says (`RUST_LOG` over both).
    crate::telemetry::init(cli.log_level.as_deref(), cli.log_format, &config.hub.log);
    if matches!(cli.command, Command::Stdio { .. } | Command::Serve { .. }) {
        crate::observe::install(&config.hub.telemetry);
    }
    if !matches!(cli.command, Command::Stdio { .. } | Command::Serve { .. }) {
        // Only a serving hub reloads; the others say so instead of dying on SIGHUP.
        hub::on_hangup(None);
    }
    if !config.warnings.is_empty() && !matches!(cli.command, Command::Check) {
        tracing::warn!("{}", config.warnings_report().to_string().trim_end());
    }
    match cli.command {
        Command::Check => {
            let flags: Vec<(&str, &str, String)> = cli
                .log_level
                .iter()
                .map(|l| ("hub.log.level", "--log-level", l.clone()))
                .collect();
            check(&config, &flags)
        }
        Command::ClientConfig { tenant, client } => {
            client_config::client_config(&config, tenant.as_deref(), client)
        }
        Command::Stdio {
            tenant,
            listen,
            health_listen,
        } => {
            let state = match serving::owned_state(&config) {
                Ok(s) => s,
                Err(code) => return code,
            };
            with_tenant_state(config, tenant, state, move |hub, id| async move {
                stdio(hub, id, listen, health_listen).await
            })
            .await
        }
        Command::Serve { listen } => serve(config, listen).await,
        Command::Pull { images } => pull::pull(&config, &images).await,
        Command::Health { .. }
        | Command::DemoServer { .. }
        | Command::Reload { .. }
        | Command::Import { .. }
        | Command::Pins { .. }
        | Command::Schema => EXIT_USAGE,
        Command::Tools {
            tenant,
            json,
            partial,
            ..
        } => {
            with_tenant(config, tenant, move |hub, id| async move {
                tools(hub, id, json, partial).await
            })
            .await
        }
        Command::Call {
            tenant,
            tool,
            arguments,
        } => {
            let config = only_owner(config, tenant.as_deref(), &tool);
            with_tenant(config, tenant, move |hub, id| async move {
                call(hub, id, tool, arguments).await
            })
            .await
        }
        Command::Status { tenant, .. } => {
            with_tenant(
                config,
                tenant,
                |hub, id| async move { status(hub, id).await },
            )
            .await
        }
    }
}

async fn with_tenant<F, Fut>(config: HubConfig, tenant: Option<String>, f: F) -> u8
where
    F: FnOnce(std::sync::Arc<Hub>, TenantId) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    // One-shot commands read the pins a serving hub keeps, and never take its store.
    let state = match crate::state::open_for(&config, crate::state::Access::ReadIfBusy) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    with_tenant_state(config, tenant, state, f).await
}

async fn with_tenant_state<F, Fut>(
    config: HubConfig,
    tenant: Option<String>,
    state: Option<std::sync::Arc<crate::state::Store>>,
    f: F,
) -> u8
where
    F: FnOnce(std::sync::Arc<Hub>, TenantId) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let id = match config.tenant(tenant.as_deref()) {
        Ok(t) => t.id.clone(),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CONFIG;
        }
    };
    let hub = Hub::start_with_state(config, Some(std::slice::from_ref(&id)), state);
    let code = f(hub.clone(), id).await;
    hub.stop().await;
    code
}
