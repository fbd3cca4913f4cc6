//! Containers that serve Streamable HTTP on `port` inside: their output goes to the log (as a
//! stdio container's stderr does), the loopback port the engine published is read back by
//! inspect and waited for (bounded by `startup_timeout`), then the remote Streamable HTTP
//! transport speaks MCP over it. Knows no strategy (the supervisor's) and no MCP framing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::{exit_code_of, spawn_error, ContainerLink, Slot};
use crate::config::{
    ContainerConfig, Network, RemoteConfig, RemoteTransport, ServerConfig, ServerName, TenantId,
};
use crate::mux::{truncate, Conn};
use crate::upstream::stdio::StderrTail;
use crate::upstream::{remote, UpstreamError};

/// How often the published port is tried while the server starts.
const RETRY: Duration = Duration::from_millis(100);

/// A created container, not started yet.
pub(super) struct Created {
    pub engine: Engine,
    pub id: String,
    pub name: String,
    pub slot: Slot,
}

/// Attaches to the output (before the start), starts, waits until the server answers HTTP on
/// its published port, and connects the remote transport to `conn`.
pub(super) async fn start(
    c: Created,
    cfg: &ServerConfig,
    k: &ContainerConfig,
    tenant: &TenantId,
    conn: &Arc<Conn>,
    outgoing: crate::mux::Outgoing,
    tasks: &crate::tasks::Tasks,
) -> Result<ContainerLink, UpstreamError> {
    let Created {
        engine,
        id,
        name,
        slot,
    } = c;
    let err = |e: &dyn std::fmt::Display| spawn_error(&k.image, e);
    let attached = engine
        .attach_and_start(&id, false)
        .await
        .map_err(|e| err(&e))?;
    tracing::info!(tenant = %tenant, server = %cfg.name, container = %name, image = %k.image, port = k.port, "started container (Streamable HTTP)");
    let span = tracing::info_span!(parent: None, "upstream", tenant = %tenant, server = %cfg.name, container = %name);

    let tail = Arc::new(StderrTail::default());
    let ended = CancellationToken::new();
    let exit_code = Arc::new(std::sync::OnceLock::new());
    {
        let (conn, tail, ended, code, eng, id) = (
            conn.clone(),
            tail.clone(),
            ended.clone(),
            exit_code.clone(),
            engine.clone(),
            id.clone(),
        );
        let (tenant, server) = (tenant.clone(), cfg.name.clone());
        tasks.spawn(span.clone(), async move {
            let why = log_output(attached.output, &tail, &tenant, &server).await;
            tail.end();
            let exit = exit_code_of(&eng, &id).await;
            let _ = code.set(exit);
            let reason = match (exit, why) {
                (Some(c), _) => format!("container exited (code {c})"),
                (None, Some(e)) => format!("container's attach stream broke: {e}"),
                (None, None) => "container's output ended".to_string(),
            };
            ended.cancel();
            conn.close(reason);
        });
    }
    super::health::watch(&engine, &id, &name, tasks, ended.clone(), span);

    let url = match ready(&engine, &id, k, cfg.startup_timeout, &ended).await {
        Ok(u) => u,
        Err(why) => {
            let mut reason = format!(
                "server `{}`'s container `{name}` (image `{}`) {why}",
                cfg.name, k.image
            );
            if let Some(t) = tail.tail(Duration::from_millis(300)).await {
                reason = format!("{reason}; its output ended with: {t}");
            }
            engine.stop_and_remove(&id, Duration::from_secs(1)).await;
            return Err(err(&reason));
        }
    };
    let mut http = cfg.clone();
    http.remote = Some(RemoteConfig {
        url,
        transport: RemoteTransport::StreamableHttp,
        headers: k.headers.0.clone(),
        connect_timeout: Duration::from_secs(5),
    });
    let remote = match remote::spawn(&http, tenant, conn, outgoing, tasks) {
        Ok(r) => r,
        Err(e) => {
            engine.stop_and_remove(&id, Duration::from_secs(1)).await;
            return Err(e);
        }
    };
    Ok(ContainerLink {
        _io_dir: None,
        engine,
        id,
        name,
        stderr: tail,
        stop_writer: CancellationToken::new(),
        ended,
        exit_code,
        conn: conn.clone(),
        remote: Some(remote),
        _slot: slot,
    })
}

/// The host port the engine published for `port` (read by inspect; the engine may fill it a
/// moment after the start).
async fn published_port(engine: &Engine, id: &str, port: u16, until: Instant) -> Option<u16> {
    let key = format!("{port}/tcp");
    loop {
        if let Ok(i) = engine.docker.inspect_container(id, None).await {
            let found = i
                .network_settings
                .and_then(|n| n.ports)
                .and_then(|mut p| p.remove(&key))
                .flatten()
                .into_iter()
                .flatten()
                .find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()));
            if found.is_some() {
                return found;
            }
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Waits until the server answers HTTP (any status) on its published port; answers the MCP
/// endpoint's URL, or why it never did.
async fn ready(
    engine: &Engine,
    id: &str,
    k: &ContainerConfig,
    limit: Duration,
    ended: &CancellationToken,
) -> Result<url::Url, String> {
    let port = k.port.unwrap_or_default();
    let until = Instant::now() + limit;
    let host_port = match k.network {
        Network::Host => port,
        _ => published_port(engine, id, port, until)
            .await
            .ok_or_else(|| format!("has no host port published for port {port}"))?,
    };
    let url = url::Url::parse(&format!("http://127.0.0.1:{host_port}{}", k.path))
        .map_err(|e| format!("has no usable URL: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    loop {
        if ended.is_cancelled() {
            return Err(format!(
                "exited before it accepted connections on port {port}"
            ));
        }
        // Any answer, even 4xx, is a server listening (a userspace port proxy accepts the
        // connection before the server inside does, so a connect alone proves nothing).
        let probe = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await;
        if probe.is_ok() {
            return Ok(url);
        }
        if Instant::now() >= until {
            return Err(format!(
                "did not accept connections on port {port} (published on 127.0.0.1:{host_port}) within {}; hint: check that the server listens on {port} on every address (0.0.0.0), not only on the container's loopback",
                humantime::format_duration(limit)
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = ended.cancelled() => {}
        }
    }
}

/// The container's stdout and stderr, line by line, to the hub's log and the tail that says why
/// a start failed; answers the stream's error, if any.
async fn log_output(
    mut output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    tail: &StderrTail,
    tenant: &TenantId,
    server: &ServerName,
) -> Option<String> {
    // Each stream has its own buffer: a line written in two parts is not split by the other's.
    let (mut out, mut err): (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    while let Some(item) = output.next().await {
        let (buf, message) = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                (&mut out, message)
            }
            Ok(LogOutput::StdErr { message }) => (&mut err, message),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(e) => return Some(e.to_string()),
        };
        buf.extend_from_slice(&message);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            tracing::info!(target: "upstream", tenant = %tenant, server = %server, "{}", truncate(line.trim_end(), 2000));
            tail.push(&line);
        }
        if buf.len() > 64 * 1024 {
            buf.clear();
        }
    }
    None
}
