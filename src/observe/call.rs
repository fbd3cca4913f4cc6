//! One forwarded request, observed: made when the session forwards it, told how it ended when
//! the answer is delivered (`mux::reply`), and recorded once when dropped, in one place: the
//! operation histogram, the hub's two spans, and the completion event at DEBUG (target
//! `mcp_hub::call`). A request never answered (cancelled, client gone, `input_required`) is
//! recorded as `cancelled`.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::Value;

use super::metrics::Outcome;
use super::series::Series;
use super::trace::{self, CallSpans, Context, TRACEPARENT};
use crate::mux::CallError;

/// The hub's spans of one request: the server span (client → hub → client) and, inside it, the
/// client span (hub → upstream → hub), whose id the upstream gets as its parent.
#[derive(Debug)]
struct Spans {
    trace_id: [u8; 16],
    /// The client's span, when it sent a `traceparent`.
    parent: Option<[u8; 8]>,
    server: [u8; 8],
    /// The client span: the upstream's parent.
    upstream: [u8; 8],
    start_ns: u64,
    /// The upstream's name of what was called.
    upstream_name: Box<str>,
    upstream_start: Instant,
}

#[derive(Debug)]
pub struct Call {
    series: Arc<Series>,
    started: Instant,
    session: u64,
    id: Value,
    outcome: AtomicU8,
    spans: Option<Spans>,
}

impl Call {
    /// Starts observing a routed request, received at `received`, about to be forwarded with
    /// `params` (the upstream's terms); when traces are on, `params._meta.traceparent` becomes
    /// the hub's span.
    pub fn start(
        series: Arc<Series>,
        session: u64,
        id: &Value,
        received: Instant,
        params: &mut Value,
    ) -> Arc<Call> {
        let o = super::get();
        let client = o.tracer.as_ref().map(|_| {
            params
                .get(super::META)
                .filter(|m| m.is_object())
                .and_then(|m| m.get(TRACEPARENT))
                .and_then(Value::as_str)
                .and_then(Context::parse)
        });
        // Not sampled: no spans, and `_meta` goes on as the client sent it.
        let client = client.filter(|c| trace::sampled(c.as_ref(), o.sample_ratio));
        let spans = client.map(|client| {
            let ctx = client.unwrap_or_else(Context::new_root);
            let upstream = trace::new_span_id();
            if let Some(p) = params.as_object_mut() {
                let meta = p
                    .entry(super::META)
                    .or_insert_with(|| Value::Object(Default::default()));
                if !meta.is_object() {
                    *meta = Value::Object(Default::default());
                }
                if let Some(m) = meta.as_object_mut() {
                    m.insert(
                        TRACEPARENT.to_string(),
                        Value::String(ctx.header_with(upstream)),
                    );
                }
            }
            Spans {
                trace_id: ctx.trace_id,
                parent: client.map(|c| c.span_id),
                server: trace::new_span_id(),
                upstream,
                start_ns: trace::unix_nanos(SystemTime::now())
                    .saturating_sub(received.elapsed().as_nanos() as u64),
                upstream_name: params
                    .get("name")
                    .or(params.get("uri"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                upstream_start: Instant::now(),
            }
        });
        Arc::new(Call {
            series,
            started: received,
            session,
            id: id.clone(),
            outcome: AtomicU8::new(Outcome::Cancelled as u8),
            spans,
        })
    }

    fn set(&self, o: Outcome) {
        self.outcome.store(o as u8, Ordering::Relaxed);
    }

    /// The upstream's answer (a result or an error), on its way to the client.
    pub fn answered(&self, msg: &Value) {
        self.set(if msg.get("error").is_some() {
            Outcome::Error
        } else if msg
            .get("result")
            .and_then(|r| r.get("isError"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            Outcome::ToolError
        } else {
            Outcome::Ok
        });
    }

    /// A result that passed to the client unparsed (its JSON text): a tool error only when its
    /// top-level `isError` is `true` (the text is scanned, no tree is built).
    pub fn answered_result_text(&self, result: &str) {
        #[derive(serde::Deserialize)]
        struct Flag {
            #[serde(rename = "isError")]
            is_error: Option<bool>,
        }
        static IS_ERROR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
            std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"isError\""));
        // Read only when some `"isError"` is followed by `true` (at any depth: the read says
        // whether it is the result's own).
        let bytes = result.as_bytes();
        let flagged = IS_ERROR.find_iter(bytes).any(|at| {
            let after = &bytes[at + b"\"isError\"".len()..];
            let after = after.trim_ascii_start();
            after
                .strip_prefix(b":")
                .is_some_and(|v| v.trim_ascii_start().starts_with(b"true"))
        });
        let tool_error = flagged
            && serde_json::from_str::<Flag>(result)
                .ok()
                .and_then(|f| f.is_error)
                == Some(true);
        self.set(if tool_error {
            Outcome::ToolError
        } else {
            Outcome::Ok
        });
    }

    /// The call failed without an upstream answer.
    pub fn failed(&self, e: &CallError) {
        self.set(match e {
            CallError::Rpc { .. } => Outcome::Error,
            CallError::Closed { .. } => Outcome::Closed,
            CallError::Timeout { .. } => Outcome::Timeout,
        });
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let o = super::get();
        let outcome = Outcome::from_index(self.outcome.load(Ordering::Relaxed));
        let took = self.started.elapsed();
        if o.metrics_on {
            if let Some(h) = self.series.histogram(&o.metrics, outcome) {
                h.observe(took.as_secs_f64());
            }
        }
        let s = &self.series;
        tracing::debug!(
            target: "mcp_hub::call",
            tenant = %s.tenant,
            server = %s.server,
            session = self.session,
            method = %s.method,
            tool = %s.tool,
            request_id = %self.id,
            duration_us = took.as_micros() as u64,
            outcome = outcome.as_str(),
            "request answered"
        );
        if let (Some(s), Some(tracer)) = (self.spans.take(), o.tracer.as_ref()) {
            self.send_spans(s, outcome, tracer);
        }
    }
}

impl Call {
    /// The call's spans, to the exporter (the request id moves there: the call is done).
    fn send_spans(&mut self, s: Spans, outcome: Outcome, tracer: &super::otlp::Tracer) {
        let end_ns = trace::unix_nanos(SystemTime::now());
        tracer.send(CallSpans {
            series: self.series.clone(),
            trace_id: s.trace_id,
            parent: s.parent,
            server_span: s.server,
            client_span: s.upstream,
            start_ns: s.start_ns.min(end_ns),
            upstream_start_ns: end_ns.saturating_sub(s.upstream_start.elapsed().as_nanos() as u64),
            end_ns,
            session: self.session,
            id: std::mem::take(&mut self.id),
            upstream_name: s.upstream_name,
            outcome,
        });
    }
}
