//! The hub over stdin/stdout: one session, one JSON-RPC message per line. Only protocol goes to
//! stdout; logs go to stderr.
//!
//! When stdin ends (a client that pipes its requests and closes, `docker run -i` with a here
//! document), the hub drains: every request already read is answered (each within its
//! timeout), the answers are flushed, and only then does the session end.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Session;
use crate::jsonrpc::{self, Kind};
use crate::sync::LockExt;
use crate::tenant::Tenant;

const MAX_LINE: usize = 16 * 1024 * 1024;

/// Extra time a drain waits beyond the longest request timeout, for the answer to travel.
const DRAIN_SLACK: Duration = Duration::from_secs(5);

/// Serves `tenant` on the process's stdin/stdout until stdin closes (then drains) or `shutdown` fires.
pub async fn serve(tenant: Arc<Tenant>, shutdown: CancellationToken) -> std::io::Result<()> {
    let (reader, writer) = rmcp::transport::io::stdio_pipes();
    serve_on(tenant, reader, writer, shutdown).await
}

/// The ids of the client's requests that have not been answered yet, shared by the reader
/// (which adds) and the writer (which removes as it writes each answer).
#[derive(Default)]
struct Unanswered {
    /// Each id as JSON text (as serde_json writes it, which is how every answer carries it).
    ids: Mutex<HashSet<String, rustc_hash::FxBuildHasher>>,
    /// The number of unanswered requests, watched by the drain.
    count: watch::Sender<usize>,
}

impl Unanswered {
    fn add(&self, id: &Value) {
        let mut ids = self.ids.locked();
        if ids.insert(id.to_string()) {
            self.count.send_replace(ids.len());
        }
    }

    fn remove(&self, id: &Value) {
        let mut ids = self.ids.locked();
        if ids.remove(&id.to_string()) {
            self.count.send_replace(ids.len());
        }
    }

    fn is_empty(&self) -> bool {
        *self.count.borrow() == 0
    }

    /// Called by the writer for every frame while requests are unanswered.
    fn saw_frame(&self, frame: &str) {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            id: Option<&'a serde_json::value::RawValue>,
            method: Option<serde::de::IgnoredAny>,
        }
        let Ok(Envelope {
            id: Some(id),
            method: None,
        }) = serde_json::from_str::<Envelope>(frame)
        else {
            return;
        };
        let mut ids = self.ids.locked();
        if ids.remove(id.get()) {
            self.count.send_replace(ids.len());
        }
    }
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
    let (tx, rx) = jsonrpc::outbox();
    let unanswered = Arc::new(Unanswered::default());
    let session = Session::new(tenant.clone(), tx.clone());
    tx.set_label(format_args!("stdio-{}", session.id));
    drop(tx);
    // A client that stops reading while the hub has answers for it is disconnected (the
    // outbox's policy, README "Queues"); the outbox logged why.
    let overflow = rx.overflow_token();
    let writer_task = tokio::spawn(write_loop(writer, rx, unanswered.clone()));
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut buf = Vec::with_capacity(4096);
    let mut eof = false;
    loop {
        buf.clear();
        let mut limited = (&mut r).take(MAX_LINE as u64 + 1);
        let n = tokio::select! {
            n = limited.read_until(b'\n', &mut buf) => n?,
            _ = shutdown.cancelled() => break,
            _ = overflow.cancelled() => break,
        };
        if n == 0 {
            eof = true;
            break;
        }
        if buf.len() > MAX_LINE {
            session.handle_message(serde_json::json!({"jsonrpc": "2.0"}));
            tracing::warn!("client sent a line longer than 16 MiB; closing the session");
            break;
        }
        let line = crate::upstream::stdio::utf8(&buf);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(msg) => {
                if jsonrpc::classify(&msg) == Kind::Request {
                    unanswered.add(&msg["id"]);
                } else if msg["method"] == "notifications/cancelled" {
                    // A cancelled request is never answered: the drain must not wait for it.
                    unanswered.remove(&msg["params"]["requestId"]);
                }
                session.handle_message(msg);
            }
            // The session answers a parse error in the protocol's words.
            Err(_) => session.handle_line(line),
        }
    }
    if eof && !unanswered.is_empty() && !overflow.is_cancelled() {
        drain(&tenant, &unanswered, &shutdown, &overflow).await;
    }
    session.close();
    drop(session);
    // Answers already queued still go out; the writer ends when every sender is gone or soon after.
    let _ = tokio::time::timeout(Duration::from_millis(200), writer_task).await;
    Ok(())
}

/// Waits until every request read before stdin closed has been answered, at most the longest
/// request timeout of the tenant's servers (plus the start-up wait, which lists may need).
async fn drain(
    tenant: &Tenant,
    unanswered: &Unanswered,
    shutdown: &CancellationToken,
    overflow: &CancellationToken,
) {
    let pending = *unanswered.count.borrow();
    tracing::info!("stdin closed; answering the {pending} request(s) already read before stopping");
    let limit = tenant
        .upstreams()
        .values()
        .map(|u| u.cfg.request_timeout + u.cfg.startup_timeout)
        .max()
        .unwrap_or(tenant.settings.request_timeout)
        + DRAIN_SLACK;
    let mut count = unanswered.count.subscribe();
    tokio::select! {
        r = tokio::time::timeout(limit, count.wait_for(|n| *n == 0)) => {
            if r.is_err() {
                let left = *unanswered.count.borrow();
                tracing::warn!("stdin closed; {left} request(s) still unanswered after {}; stopping", humantime::format_duration(limit));
            }
        }
        _ = shutdown.cancelled() => {}
        _ = overflow.cancelled() => {}
    }
}

/// At most this many frames (or [`BATCH_BYTES`]) are written between two flushes, so what the
/// writer holds outside the outbox stays small when the client reads slowly.
const BATCH_FRAMES: usize = 256;
const BATCH_BYTES: usize = 256 * 1024;

/// Writes frames, batching what is queued into one flush, except that a progress notification
/// is flushed on its own: some clients (TypeScript SDK 1.x) drop a progress notification that
/// arrives in the same read as the result it belongs to. An answer counts as given once it is
/// flushed. When the outbox overflows the writer stops at once (the session is disconnected).
async fn write_loop<W: AsyncWrite + Unpin>(
    writer: W,
    mut rx: jsonrpc::OutboxRx,
    unanswered: Arc<Unanswered>,
) {
    let overflow = rx.overflow_token();
    tokio::select! {
        _ = write_frames(writer, &mut rx, unanswered) => {}
        _ = overflow.cancelled() => {}
    }
}

async fn write_frames<W: AsyncWrite + Unpin>(
    writer: W,
    rx: &mut jsonrpc::OutboxRx,
    unanswered: Arc<Unanswered>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, writer);
    let mut written: Vec<String> = Vec::new();
    while let Some(mut frame) = rx.recv().await {
        let (mut frames, mut bytes) = (0, 0);
        loop {
            frames += 1;
            bytes += frame.len();
            if w.write_all(frame.as_bytes()).await.is_err() || w.write_all(b"\n").await.is_err() {
                return;
            }
            if is_progress(&frame) && w.flush().await.is_err() {
                return;
            }
            if !unanswered.is_empty() {
                written.push(frame);
            }
            if frames >= BATCH_FRAMES || bytes >= BATCH_BYTES {
                break;
            }
            match rx.try_recv() {
                Ok(f) => frame = f,
                Err(_) => break,
            }
        }
        if w.flush().await.is_err() {
            return;
        }
        for f in written.drain(..) {
            unanswered.saw_frame(&f);
        }
    }
}

fn is_progress(frame: &str) -> bool {
    frame.len() < 2048 && frame.contains("\"notifications/progress\"")
}
