//! The command line: `stdio`, `check`, `tools`, `call`, `status`.
//!
//! Exit codes: 0 success; 1 runtime failure (a call failed, an upstream is down for `status`);
//! 2 bad command line; 64 bad config.

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::config::{HubConfig, TenantId};
use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use crate::downstream::http::{self, HttpState};
use crate::downstream::{self, Session};
use crate::hub::{self, Hub};
use crate::jsonrpc;

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
    /// Log level for stderr (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
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
        /// The tenant (default: `hub.default_tenant`, or the only tenant).
        #[arg(long)]
        tenant: Option<String>,
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
    match &cli.command {
        Command::Health { url } => return health(url.as_deref(), &cli.config).await,
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
    hub::ignore_hangup();
    let config = match load(&cli.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !config.warnings.is_empty() && !matches!(cli.command, Command::Check) {
        tracing::warn!("{}", config.warnings_report().to_string().trim_end());
    }
    match cli.command {
        Command::Check => check(&config),
        Command::Stdio {
            tenant,
            listen,
            health_listen,
        } => {
            with_tenant(config, tenant, move |hub, id| async move {
                stdio(hub, id, listen, health_listen).await
            })
            .await
        }
        Command::Serve { listen } => serve(config, listen).await,
        Command::Health { .. } | Command::DemoServer { .. } => EXIT_USAGE,
        Command::Tools {
            tenant,
            json,
            partial,
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
        Command::Status { tenant } => {
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
    let id = match config.tenant(tenant.as_deref()) {
        Ok(t) => t.id.clone(),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CONFIG;
        }
    };
    let hub = Hub::start(config, Some(std::slice::from_ref(&id)));
    let code = f(hub.clone(), id).await;
    hub.stop().await;
    code
}

fn check(config: &HubConfig) -> u8 {
    println!("config `{}` is valid", config.path.display());
    // The PATH an upstream gets: the hub's, unless the server's `env` sets its own.
    let hub_path = std::env::var_os("PATH");
    let mut launch = Vec::new();
    for (id, t) in &config.tenants {
        println!("tenant `{id}`: {} server(s)", t.servers.len());
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

async fn stdio(
    hub: std::sync::Arc<Hub>,
    id: TenantId,
    listen: Option<SocketAddr>,
    health_listen: Option<SocketAddr>,
) -> u8 {
    let Some(tenant) = hub.tenant(&id).cloned() else {
        return EXIT_FAILURE;
    };
    let watch = tenant.clone();
    tokio::spawn(async move {
        watch.wait_settled().await;
        tracing::info!(tenant = %watch.id, "upstreams: {}", watch.summary());
    });
    let stop = hub.shutdown.child_token();
    let http_stop = CancellationToken::new();
    if let Some(addr) = listen.or(health_listen) {
        let state = HttpState::new(hub.clone());
        let app = if listen.is_some() {
            http::router(state.clone())
        } else {
            http::health_router().with_state(state.clone())
        };
        let token = http_stop.clone();
        tokio::spawn(async move {
            if let Err(e) = http::serve(state, addr, app, token).await {
                tracing::error!("cannot serve HTTP on {addr}: {e}");
            }
        });
    }
    let serve = downstream::stdio::serve(tenant, stop.clone());
    let code = tokio::select! {
        r = serve => match r {
            Err(e) => {
                tracing::error!("stdio transport failed: {e}");
                EXIT_FAILURE
            }
            Ok(()) => {
                tracing::info!("stdin closed; stopping");
                EXIT_OK
            }
        },
        _ = hub::terminate_signal() => {
            tracing::info!("signal received; stopping");
            EXIT_OK
        }
    };
    http_stop.cancel();
    code
}

/// `mcp-hub serve`: every tenant over HTTP until SIGTERM/SIGINT (a second signal exits at once).
async fn serve(config: HubConfig, listen: Option<SocketAddr>) -> u8 {
    let addr = listen.unwrap_or(config.hub.http.listen);
    let hub = Hub::start(config, None);
    let state = HttpState::new(hub.clone());
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        hub::terminate_signal().await;
        tracing::info!("signal received; draining (a second signal exits at once)");
        on_signal.cancel();
        hub::terminate_signal().await;
        tracing::warn!("second signal; exiting now");
        std::process::exit(130);
    });
    let app = http::router(state.clone());
    let code = match http::serve(state, addr, app, shutdown).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!("cannot serve HTTP on {addr}: {e}");
            EXIT_FAILURE
        }
    };
    hub.stop().await;
    code
}

/// `mcp-hub health`: GET the hub's `/health`; 0 for 200, 1 otherwise. Always says what it found.
async fn health(url: Option<&str>, config: &std::path::Path) -> u8 {
    let url = match url {
        Some(u) => health_url(u),
        None => match HubConfig::load(config) {
            Ok(c) => Ok(listen_health_url(c.hub.http.listen)),
            Err(e) => {
                eprintln!(
                    "note: cannot read `{}` for `hub.http.listen` ({} problem(s)); probing the default address",
                    config.display(),
                    e.problems.len()
                );
                Ok(listen_health_url(SocketAddr::from(([127, 0, 0, 1], 8080))))
            }
        },
    };
    let url = match url {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match crate::admin::probe::get(&url, Duration::from_secs(5)).await {
        Ok((200, body)) => {
            let _ = writeln!(std::io::stdout().lock(), "{body}");
            EXIT_OK
        }
        Ok((status, body)) => {
            let body = body.trim();
            if body.is_empty() {
                eprintln!("error: {url} answered HTTP {status} with an empty body");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{body}");
                eprintln!("error: {url} answered HTTP {status}");
            }
            EXIT_FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot reach {url}: {e}");
            EXIT_FAILURE
        }
    }
}

/// A hub's health URL from what the user gave: a base URL gets `/health`.
fn health_url(given: &str) -> Result<String, String> {
    let mut url = url::Url::parse(given)
        .map_err(|e| format!("`{given}` is not a URL ({e}); e.g. http://127.0.0.1:8080"))?;
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/health");
    }
    Ok(url.to_string())
}

/// `/health` on the listen address; an unspecified address (0.0.0.0, ::) is probed on loopback.
fn listen_health_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}/health", SocketAddr::new(ip, addr.port()))
}

/// The servers of the tenant that are wanted (enabled) but not up, with why.
fn failed_servers(tenant: &crate::tenant::Tenant) -> Vec<(String, String)> {
    tenant
        .upstreams
        .values()
        .filter(|u| u.cfg.enabled)
        .filter_map(|u| {
            let s = u.status();
            (s.state != crate::upstream::State::Up).then(|| {
                let why = s
                    .last_error
                    .unwrap_or_else(|| format!("still {}", s.state.as_str()));
                (u.name.to_string(), why)
            })
        })
        .collect()
}

async fn tools(hub: std::sync::Arc<Hub>, id: TenantId, as_json: bool, partial: bool) -> u8 {
    let Some(tenant) = hub.tenant(&id) else {
        return EXIT_FAILURE;
    };
    tenant.wait_ready().await;
    tracing::info!(tenant = %id, "upstreams: {}", tenant.summary());
    let cat = tenant.catalog();
    let mut out = std::io::stdout().lock();
    if as_json {
        let v = json!({"tools": cat.tools, "prompts": cat.prompts, "resources": cat.resources, "resourceTemplates": cat.templates});
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    } else {
        let first_line = |v: &Value| {
            v["description"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        };
        let _ = writeln!(out, "tools ({}):", cat.tools.len());
        for t in &cat.tools {
            let _ = writeln!(
                out,
                "  {:<40} {}",
                t["name"].as_str().unwrap_or(""),
                first_line(t)
            );
        }
        let _ = writeln!(out, "prompts ({}):", cat.prompts.len());
        for p in &cat.prompts {
            let _ = writeln!(
                out,
                "  {:<40} {}",
                p["name"].as_str().unwrap_or(""),
                first_line(p)
            );
        }
        let _ = writeln!(out, "resources ({}):", cat.resources.len());
        for r in &cat.resources {
            let _ = writeln!(out, "  {}", r["uri"].as_str().unwrap_or(""));
        }
        let _ = writeln!(out, "resource templates ({}):", cat.templates.len());
        for r in &cat.templates {
            let _ = writeln!(out, "  {}", r["uriTemplate"].as_str().unwrap_or(""));
        }
    }
    let failed = failed_servers(tenant);
    if failed.is_empty() {
        return EXIT_OK;
    }
    let level = if partial { "warning" } else { "error" };
    eprintln!(
        "{level}: {} server(s) of tenant `{id}` are missing from this catalog:",
        failed.len()
    );
    for (name, why) in &failed {
        eprintln!("  {name}: {why}");
    }
    if partial {
        EXIT_OK
    } else {
        eprintln!("hint: `mcp-hub status` shows each server's state; `--partial` accepts a catalog without them");
        EXIT_FAILURE
    }
}

/// The JSON arguments of `call`, when they are an object.
fn parse_arguments(text: &str) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// `call` starts only the server that owns the tool: the enabled server whose name and the
/// separator begin the tool's name (the longest such). When none does (a renamed or hashed
/// name), every server of the tenant starts, as for `tools`.
fn only_owner(mut config: HubConfig, tenant: Option<&str>, tool: &str) -> HubConfig {
    let Ok(id) = config.tenant(tenant).map(|t| t.id.clone()) else {
        return config;
    };
    let sep = config.hub.separator.clone();
    let Some(t) = config.tenants.get_mut(&id) else {
        return config;
    };
    let owner = t
        .servers
        .values()
        .filter(|s| s.enabled && tool.starts_with(&format!("{}{sep}", s.name)))
        .map(|s| s.name.clone())
        .max_by_key(|n| n.as_str().len());
    if let Some(owner) = owner {
        t.servers.retain(|name, _| *name == owner);
    }
    config
}

/// Exposed names close to `wanted`: those whose upstream part is `wanted` (a missing prefix),
/// then those within a small edit distance, best first, at most five.
fn nearest_tools(cat: &crate::catalog::Catalog, wanted: &str, sep: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = cat
        .tools
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter_map(|name| {
            let bare = name.split_once(sep).map_or(name, |(_, rest)| rest);
            let d = if bare == wanted {
                0
            } else {
                crate::config::edit_distance(wanted, name)
                    .min(crate::config::edit_distance(wanted, bare) + 1)
            };
            (d <= (wanted.chars().count() / 3).max(2)).then(|| (d, name.to_string()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| n).collect()
}

async fn call(hub: std::sync::Arc<Hub>, id: TenantId, tool: String, arguments: String) -> u8 {
    let Some(tenant) = hub.tenant(&id).cloned() else {
        return EXIT_FAILURE;
    };
    let Some(args) = parse_arguments(&arguments) else {
        return EXIT_USAGE;
    };
    tenant.wait_ready().await;
    let cat = tenant.catalog();
    if cat.tool(&tool).is_none() {
        eprintln!("error: no tool `{tool}` in tenant `{id}`");
        let near = nearest_tools(&cat, &tool, &tenant.settings.separator);
        if !near.is_empty() {
            eprintln!(
                "hint: did you mean {}?",
                near.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (name, why) in failed_servers(&tenant) {
            eprintln!("note: server `{name}` is not up: {why}");
        }
        if near.is_empty() {
            eprintln!("hint: `mcp-hub tools` lists the tenant's tools");
        }
        return EXIT_FAILURE;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let session = Session::new(tenant.clone(), tx);
    session.handle_message(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}));
    let limit = tenant
        .upstreams
        .values()
        .map(|u| u.cfg.request_timeout)
        .max()
        .unwrap_or(Duration::from_secs(60))
        + Duration::from_secs(5);
    let answer = tokio::time::timeout(limit, async {
        while let Some(frame) = rx.recv().await {
            let v: Value = serde_json::from_str(&frame).unwrap_or(Value::Null);
            if jsonrpc::classify(&v) == jsonrpc::Kind::Response && v["id"] == 1 {
                return Some(v);
            }
        }
        None
    })
    .await;
    session.close();
    match answer {
        Ok(Some(v)) if v.get("result").is_some() => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&v["result"]).unwrap_or_default()
            );
            if v["result"]["isError"] == true {
                EXIT_FAILURE
            } else {
                EXIT_OK
            }
        }
        Ok(Some(v)) => {
            eprintln!(
                "error: {} (code {})",
                v["error"]["message"].as_str().unwrap_or("unknown error"),
                v["error"]["code"]
            );
            EXIT_FAILURE
        }
        _ => {
            eprintln!(
                "error: no answer within {}",
                humantime::format_duration(limit)
            );
            EXIT_FAILURE
        }
    }
}

async fn status(hub: std::sync::Arc<Hub>, id: TenantId) -> u8 {
    let Some(tenant) = hub.tenant(&id) else {
        return EXIT_FAILURE;
    };
    tenant.wait_ready().await;
    let mut all_up = true;
    let mut out = std::io::stdout().lock();
    for up in tenant.upstreams.values() {
        let s = up.status();
        if s.state != crate::upstream::State::Up && s.state != crate::upstream::State::Disabled {
            all_up = false;
        }
        let offer = up.offer();
        let _ = writeln!(
            out,
            "{id}/{:<20} {:<9} tools={:<3} prompts={:<3} resources={:<3} {}",
            up.name.as_str(),
            s.state.as_str(),
            offer.tools.len(),
            offer.prompts.len(),
            offer.resources.len(),
            s.last_error
                .map(|e| format!("last error: {e}"))
                .unwrap_or_default()
        );
    }
    if all_up {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}
