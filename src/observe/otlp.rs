//! The span exporter: OTLP/HTTP with JSON encoding (`POST {endpoint}/v1/traces`,
//! `application/json`), over the reqwest client already in the tree.
//!
//! What it costs a request: finished calls ([`CallSpans`], two spans each) are pushed onto a
//! bounded buffer under a mutex, and nothing else: no channel wakes the exporter per span. The
//! exporter wakes when a batch is full ([`BATCH`] calls) or every [`INTERVAL`], takes the whole
//! buffer at once (a swap of two vectors that keep their capacity), and encodes each batch
//! straight into bytes (no JSON tree), one request to the collector per batch, on a kept-alive
//! connection. A full buffer ([`QUEUE`] calls) drops what comes, counted in
//! `mcp_hub_trace_spans_dropped_total`; what is buffered is flushed at shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::metrics::Metrics;
use super::trace::{encode_request, CallSpans};
use crate::sync::LockExt;

/// Calls (two spans each) waiting for export, at most.
pub const QUEUE: usize = 8192;
/// Calls per request to the collector, at most (the exporter wakes when this many wait).
pub const BATCH: usize = 1024;
/// How long a span waits for its batch to fill, at most.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long one export may take (and the flush at shutdown, in all).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What the request side and the exporter share.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Vec<CallSpans>>,
    /// Told when a batch is full.
    full: Notify,
    metrics: Metrics,
}

/// The sending side: where finished calls go.
#[derive(Debug)]
pub struct Tracer {
    shared: Arc<Shared>,
}

impl Tracer {
    /// Queues a call's spans; drops them (counted) when the queue is full.
    pub fn send(&self, call: CallSpans) {
        let len = {
            let mut q = self.shared.queue.locked();
            if q.len() >= QUEUE {
                drop(q);
                self.shared.metrics.spans_dropped.inc_by(2);
                return;
            }
            q.push(call);
            q.len()
        };
        if len == BATCH {
            self.shared.full.notify_one();
        }
    }
}

/// The exporting side, to be run by the hub's tasks ([`Exporter::run`]).
pub struct Exporter {
    shared: Arc<Shared>,
    url: url::Url,
    service_name: String,
}

/// A tracer and its exporter, connected.
pub fn pipeline(endpoint: &url::Url, service_name: &str, metrics: &Metrics) -> (Tracer, Exporter) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Vec::with_capacity(BATCH)),
        full: Notify::new(),
        metrics: metrics.clone(),
    });
    let mut url = endpoint.clone();
    let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
    url.set_path(&path);
    (
        Tracer {
            shared: shared.clone(),
        },
        Exporter {
            shared,
            url,
            service_name: service_name.to_string(),
        },
    )
}

/// The exporter's buffers, reused from batch to batch.
struct Buffers {
    calls: Vec<CallSpans>,
    body: Vec<u8>,
    scratch: String,
}

impl Exporter {
    /// Exports until `stop` fires, then flushes what is queued (within [`TIMEOUT`]).
    pub async fn run(self, stop: tokio_util::sync::CancellationToken) {
        let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("traces are not exported: cannot make an HTTP client: {e}");
                return;
            }
        };
        tracing::info!(url = %self.url, "exporting traces by OTLP/HTTP");
        let mut bufs = Buffers {
            calls: Vec::with_capacity(BATCH),
            body: Vec::new(),
            scratch: String::new(),
        };
        loop {
            tokio::select! {
                () = self.shared.full.notified() => {}
                () = tokio::time::sleep(INTERVAL) => {}
                () = stop.cancelled() => break,
            }
            self.export_queued(&client, &mut bufs).await;
        }
        // Shutdown: what is queued now goes out, in batches, within the timeout.
        if tokio::time::timeout(TIMEOUT, self.export_queued(&client, &mut bufs))
            .await
            .is_err()
        {
            tracing::warn!("the last spans were not exported within {TIMEOUT:?}");
        }
    }

    /// Takes what is queued (a swap, not a copy) and exports it, [`BATCH`] calls per request.
    async fn export_queued(&self, client: &reqwest::Client, bufs: &mut Buffers) {
        bufs.calls.clear();
        std::mem::swap(&mut *self.shared.queue.locked(), &mut bufs.calls);
        let mut calls = std::mem::take(&mut bufs.calls);
        for chunk in calls.chunks(BATCH) {
            self.export(client, chunk, bufs).await;
        }
        calls.clear();
        bufs.calls = calls;
    }

    async fn export(&self, client: &reqwest::Client, calls: &[CallSpans], bufs: &mut Buffers) {
        if calls.is_empty() {
            return;
        }
        let n = 2 * calls.len() as u64;
        bufs.body.clear();
        encode_request(&mut bufs.body, &mut bufs.scratch, &self.service_name, calls);
        // The body is handed to the client; the next one starts at this one's size.
        let next = Vec::with_capacity(bufs.body.len());
        let body = std::mem::replace(&mut bufs.body, next);
        let sent = client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let metrics = &self.shared.metrics;
        match sent {
            Ok(r) if r.status().is_success() => {
                metrics.spans_exported.inc_by(n);
                // Read to the end, so the connection is kept for the next batch.
                let _ = r.bytes().await;
            }
            Ok(r) => {
                metrics.spans_dropped.inc_by(n);
                tracing::warn!(url = %self.url, status = %r.status(), "the OTLP endpoint refused {n} spans");
            }
            Err(e) => {
                metrics.spans_dropped.inc_by(n);
                tracing::warn!(url = %self.url, "cannot export {n} spans: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(session: u64) -> CallSpans {
        CallSpans {
            series: super::super::TenantSeries::default().get("t", "s", "tools/call", None),
            trace_id: [1; 16],
            parent: None,
            server_span: [2; 8],
            client_span: [3; 8],
            start_ns: 0,
            upstream_start_ns: 0,
            end_ns: 0,
            session,
            id: serde_json::json!(session),
            upstream_name: "x".into(),
            outcome: super::super::metrics::Outcome::Ok,
        }
    }

    /// The buffer is bounded: past [`QUEUE`] calls, spans are dropped and counted, two per call;
    /// the exporter takes everything at once, in order.
    #[test]
    fn a_full_buffer_drops_and_counts_and_a_swap_takes_all() {
        let metrics = Metrics::default();
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        let (tracer, exporter) = pipeline(&url, "svc", &metrics);
        assert_eq!(exporter.url.as_str(), "http://127.0.0.1:9/v1/traces");
        for i in 0..QUEUE as u64 + 3 {
            tracer.send(call(i));
        }
        assert_eq!(metrics.spans_dropped.get(), 6);
        let mut taken = Vec::new();
        std::mem::swap(&mut *exporter.shared.queue.locked(), &mut taken);
        assert_eq!(taken.len(), QUEUE);
        assert!(taken.iter().enumerate().all(|(i, c)| c.session == i as u64));
        tracer.send(call(0));
        assert_eq!(exporter.shared.queue.locked().len(), 1, "room again");
    }
}
