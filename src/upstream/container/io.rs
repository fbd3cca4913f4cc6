//! A container's byte streams: the frames the hub writes to its stdin (the attach stream's input
//! or the hub's socket), and the attach stream's output split into lines (MCP on stdout when it
//! is the channel, stderr and the rest to the log). Knows the multiplexer's connection and the
//! engine's frame type, not the container's lifecycle.

use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::config::TenantId;
use crate::mux::{truncate, CloseGuard, Conn};
use crate::upstream::stdio::StderrTail;

/// Longest line accepted from an upstream (as for stdio).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Writes frames to the container's stdin; a failed write closes the connection. Ending drops
/// the attach input, which closes the container's stdin.
pub(super) async fn write_loop(
    mut input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    mut rx: crate::mux::Outgoing,
    stop: CancellationToken,
    conn: Arc<Conn>,
) {
    let guard = CloseGuard::new(conn.clone(), "writer");
    let failed = loop {
        let frame = tokio::select! {
            biased;
            _ = stop.cancelled() => break None,
            f = rx.recv() => match f { Some(f) => f, None => break None },
        };
        let mut buf = frame.into_bytes();
        buf.push(b'\n');
        while let Ok(f) = rx.try_recv() {
            buf.extend_from_slice(f.as_bytes());
            buf.push(b'\n');
        }
        if let Err(e) = async {
            input.write_all(&buf).await?;
            input.flush().await
        }
        .await
        {
            break Some(e);
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), input.shutdown()).await;
    drop(input);
    if let Some(e) = failed {
        conn.close(format!("container's stdin broke: {e}"));
    }
    guard.disarm();
}

/// Splits the stdout frames into lines (a frame is one write of the process, not a line) and
/// logs stderr; returns the stream's error, if any.
pub(super) async fn read_loop(
    mut output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    conn: &Arc<Conn>,
    tail: &StderrTail,
    tenant: &TenantId,
    server: &crate::config::ServerName,
    protocol: bool,
) -> Option<String> {
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    let mut err: Vec<u8> = Vec::new();
    while let Some(item) = output.next().await {
        match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) if protocol => {
                out.extend_from_slice(&message);
                while let Some(pos) = out.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = out.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if !line.trim().is_empty() {
                        conn.handle_incoming(line);
                    }
                }
                if out.len() > MAX_LINE {
                    tracing::warn!(server = %conn.server, "upstream wrote a line longer than {MAX_LINE} bytes; dropping the connection");
                    return Some("wrote a line longer than 16 MiB".into());
                }
            }
            // With the socket path, stdout is the socket: what reaches the attach stream is the
            // shim's or the runtime's, and is logged as stderr is.
            Ok(
                LogOutput::StdErr { message }
                | LogOutput::StdOut { message }
                | LogOutput::Console { message },
            ) => {
                err.extend_from_slice(&message);
                while let Some(pos) = err.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = err.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line);
                    tracing::info!(target: "upstream", tenant = %tenant, server = %server, "{}", truncate(line.trim_end(), 2000));
                    tail.push(&line);
                }
                if err.len() > 64 * 1024 {
                    err.clear();
                }
            }
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}
