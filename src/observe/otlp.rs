//! The span exporter: OTLP/HTTP with JSON encoding (`POST {endpoint}/v1/traces`,
//! `application/json`), over the reqwest client already in the tree. Spans wait in a bounded
//! queue (a full queue drops them, counted in `mcp_hub_trace_spans_dropped_total`); a batch
//! goes out at [`BATCH`] spans or every [`INTERVAL`], and what is queued is flushed at shutdown.

use std::time::Duration;

use tokio::sync::mpsc;

use super::metrics::Metrics;
use super::trace::{export_request, SpanData};

/// Spans waiting for export, at most.
pub const QUEUE: usize = 8192;
/// Spans per request to the collector, at most.
pub const BATCH: usize = 512;
/// How long a span waits for its batch to fill, at most.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long one export may take (and the flush at shutdown, in all).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The sending side: where finished spans go.
#[derive(Debug)]
pub struct Tracer {
    tx: mpsc::Sender<SpanData>,
    metrics: Metrics,
}

impl Tracer {
    /// Queues a span; drops it (counted) when the queue is full or the exporter is gone.
    pub fn send(&self, span: SpanData) {
        if self.tx.try_send(span).is_err() {
            self.metrics.spans_dropped.inc();
        }
    }
}

/// The exporting side, to be run by the hub's tasks ([`Exporter::run`]).
pub struct Exporter {
    rx: mpsc::Receiver<SpanData>,
    url: url::Url,
    service_name: String,
    metrics: Metrics,
}

/// A tracer and its exporter, connected.
pub fn pipeline(endpoint: &url::Url, service_name: &str, metrics: &Metrics) -> (Tracer, Exporter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let mut url = endpoint.clone();
    let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
    url.set_path(&path);
    (
        Tracer {
            tx,
            metrics: metrics.clone(),
        },
        Exporter {
            rx,
            url,
            service_name: service_name.to_string(),
            metrics: metrics.clone(),
        },
    )
}

impl Exporter {
    /// Exports until `stop` fires, then flushes what is queued (within [`TIMEOUT`]).
    pub async fn run(mut self, stop: tokio_util::sync::CancellationToken) {
        let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("traces are not exported: cannot make an HTTP client: {e}");
                return;
            }
        };
        tracing::info!(url = %self.url, "exporting traces by OTLP/HTTP");
        let mut batch: Vec<SpanData> = Vec::with_capacity(BATCH);
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = self.rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    if batch.len() >= BATCH {
                        self.export(&client, &mut batch).await;
                    }
                }
                _ = tick.tick() => {
                    if !batch.is_empty() {
                        self.export(&client, &mut batch).await;
                    }
                }
                () = stop.cancelled() => break,
            }
        }
        // Shutdown: what is queued now goes out, in batches, within the timeout.
        let flush = async {
            loop {
                while batch.len() < BATCH {
                    match self.rx.try_recv() {
                        Ok(s) => batch.push(s),
                        Err(_) => break,
                    }
                }
                if batch.is_empty() {
                    break;
                }
                self.export(&client, &mut batch).await;
            }
        };
        if tokio::time::timeout(TIMEOUT, flush).await.is_err() {
            tracing::warn!("the last spans were not exported within {TIMEOUT:?}");
        }
    }

    async fn export(&self, client: &reqwest::Client, batch: &mut Vec<SpanData>) {
        let n = batch.len() as u64;
        let body = export_request(&self.service_name, batch).to_string();
        batch.clear();
        let sent = client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                self.metrics.spans_exported.inc_by(n);
            }
            Ok(r) => {
                self.metrics.spans_dropped.inc_by(n);
                tracing::warn!(url = %self.url, status = %r.status(), "the OTLP endpoint refused {n} spans");
            }
            Err(e) => {
                self.metrics.spans_dropped.inc_by(n);
                tracing::warn!(url = %self.url, "cannot export {n} spans: {e}");
            }
        }
    }
}
