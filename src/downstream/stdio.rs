//! The hub over stdin/stdout: one session, one JSON-RPC message per line. Only protocol goes to
//! stdout; logs go to stderr.
//!
//! When stdin ends (a client that pipes its requests and closes, `docker run -i` with a here
//! document), the hub drains: every request already read is answered (each within its
//! timeout), the answers are flushed, and only then does the session end.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::Notify;
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
    /// The number of unanswered requests.
    count: AtomicUsize,
    /// Told when the last one is answered (the drain waits for it).
    none_left: Notify,
}

impl Unanswered {
    fn add(&self, id: &Value) {
        let mut ids = self.ids.locked();
        if ids.insert(id.to_string()) {
            self.count.store(ids.len(), Ordering::Release);
        }
    }

    fn remove(&self, id: &Value) {
        self.remove_text(&id.to_string());
    }

    fn remove_text(&self, id: &str) {
        let mut ids = self.ids.locked();
        if ids.remove(id) {
            self.count.store(ids.len(), Ordering::Release);
            if ids.is_empty() {
                self.none_left.notify_waiters();
            }
        }
    }

    fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once every request read so far is answered.
    async fn all_answered(&self) {
        loop {
            let told = self.none_left.notified();
            tokio::pin!(told);
            // Registered before the check, so an answer in between is not missed.
            told.as_mut().enable();
            if self.is_empty() {
                return;
            }
            told.await;
        }
    }

    /// Called by the writer for every frame while requests are unanswered.
    fn saw_frame(&self, frame: &str) {
        if let Some(id) = answer_id(frame) {
            return self.remove_text(id);
        }
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
        self.remove_text(id.get());
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
        // A tool call is read split: its arguments pass on as the client wrote them.
        if let Some(call) = super::split::split_call(line) {
            unanswered.add(&call.id);
            session.handle_split(call);
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
    let pending = unanswered.len();
    tracing::info!("stdin closed; answering the {pending} request(s) already read before stopping");
    let limit = tenant
        .upstreams()
        .values()
        .map(|u| u.cfg.request_timeout + u.cfg.startup_timeout)
        .max()
        .unwrap_or(tenant.settings.request_timeout)
        + DRAIN_SLACK;
    tokio::select! {
        r = tokio::time::timeout(limit, unanswered.all_answered()) => {
            if r.is_err() {
                let left = unanswered.len();
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

/// The id of an answer that starts as the hub's own answers and rmcp's do
/// (`{"jsonrpc":"2.0","id":…,"result"` or `,"error"`), read without scanning the rest of the
/// frame; `None` for any other frame (which is then read whole).
fn answer_id(frame: &str) -> Option<&str> {
    const HEAD: &str = r#"{"jsonrpc":"2.0","id":"#;
    let rest = frame.strip_prefix(HEAD)?;
    let mut de = serde_json::Deserializer::from_str(rest);
    let id: &serde_json::value::RawValue = serde::Deserialize::deserialize(&mut de).ok()?;
    // The id's text is a slice of `rest`: what follows it starts where it ends.
    let end = id.get().as_ptr() as usize - rest.as_ptr() as usize + id.get().len();
    let after = rest.get(end..)?;
    (after.starts_with(r#","result""#) || after.starts_with(r#","error""#)).then(|| id.get())
}

fn is_progress(frame: &str) -> bool {
    frame.len() < 2048 && frame.contains("\"notifications/progress\"")
}

#[cfg(test)]
mod tests {
    use super::answer_id;

    #[test]
    fn an_answers_id_is_read_from_its_head_and_anything_else_is_left_to_the_full_read() {
        assert_eq!(
            answer_id(r#"{"jsonrpc":"2.0","id":7,"result":{"id":8}}"#),
            Some("7")
        );
        assert_eq!(
            answer_id(r#"{"jsonrpc":"2.0","id":"a,\"b","error":{"code":1}}"#),
            Some(r#""a,\"b""#)
        );
        // A request of the hub's to the client carries an id too, but is no answer.
        assert_eq!(
            answer_id(r#"{"jsonrpc":"2.0","id":7,"method":"roots/list"}"#),
            None
        );
        assert_eq!(answer_id(r#"{"result":{},"jsonrpc":"2.0","id":7}"#), None);
        assert_eq!(answer_id(r#"{"jsonrpc":"2.0","id":"#), None);
    }
}
