//! The hub over stdin/stdout: one session, one JSON-RPC message per line. Only protocol goes to
//! stdout; logs go to stderr.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Session;
use crate::tenant::Tenant;

const MAX_LINE: usize = 16 * 1024 * 1024;

/// Serves `tenant` on the process's stdin/stdout until stdin closes or `shutdown` fires.
pub async fn serve(tenant: Arc<Tenant>, shutdown: CancellationToken) -> std::io::Result<()> {
    let (reader, writer) = rmcp::transport::io::stdio_pipes();
    serve_on(tenant, reader, writer, shutdown).await
}

/// Serves one session over any byte stream pair (stdio, or a test's in-memory pipes).
pub async fn serve_on<R, W>(
    tenant: Arc<Tenant>,
    reader: R,
    writer: W,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let session = Session::new(tenant, tx);
    let writer_task = tokio::spawn(write_loop(writer, rx));
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let mut limited = (&mut r).take(MAX_LINE as u64 + 1);
        let n = tokio::select! {
            n = limited.read_until(b'\n', &mut buf) => n?,
            _ = shutdown.cancelled() => break,
        };
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE {
            session.handle_message(serde_json::json!({"jsonrpc": "2.0"}));
            tracing::warn!("client sent a line longer than 16 MiB; closing the session");
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim();
        if !line.is_empty() {
            session.handle_line(line);
        }
    }
    session.close();
    drop(session);
    // Answers already queued still go out; the writer ends when every sender is gone or soon after.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), writer_task).await;
    Ok(())
}

/// Writes frames, batching what is queued into one flush, except that a progress notification
/// is flushed on its own: some clients (TypeScript SDK 1.x) drop a progress notification that
/// arrives in the same read as the result it belongs to.
async fn write_loop<W: AsyncWrite + Unpin>(writer: W, mut rx: mpsc::UnboundedReceiver<String>) {
    let mut w = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(mut frame) = rx.recv().await {
        loop {
            if w.write_all(frame.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
                return;
            }
            if is_progress(&frame) && w.flush().await.is_err() {
                return;
            }
            match rx.try_recv() {
                Ok(f) => frame = f,
                Err(_) => break,
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
}

fn is_progress(frame: &str) -> bool {
    frame.len() < 2048 && frame.contains("\"notifications/progress\"")
}
