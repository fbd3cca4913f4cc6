//! What the hub tells about itself: Prometheus metrics (`/metrics`), OpenTelemetry spans of
//! forwarded requests (OTLP/HTTP), and a completion event per request in the log. Set once at
//! start from `[hub.telemetry]` ([`install`]; a reload does not change it); off, it costs a
//! check per request and builds nothing.
//!
//! - [`metrics`]: the families events are recorded in, named after the semantic conventions.
//! - [`series`]: a tenant's label sets, resolved once.
//! - [`call`]: one forwarded request, recorded once, when its answer is delivered.
//! - [`trace`], [`otlp`]: `traceparent`, spans, and their export.
//! - [`scrape`]: `/metrics`, with the hub's state read at scrape time.

pub mod call;
pub mod metrics;
pub mod otlp;
pub mod scrape;
pub mod series;
pub mod trace;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use call::Call;
pub use metrics::{Metrics, OUTBOX_DROPPED};
pub use series::TenantSeries;

use crate::config::TelemetrySettings;
use crate::sync::LockExt;

/// `params._meta`.
const META: &str = "_meta";

/// The process's telemetry: one per process, like the log (the hub runs once per process).
#[derive(Debug)]
pub struct Observe {
    pub metrics: Metrics,
    metrics_on: bool,
    tracer: Option<otlp::Tracer>,
    /// `hub.telemetry.sample_ratio`.
    sample_ratio: f64,
}

static OBSERVE: OnceLock<Observe> = OnceLock::new();

/// The process's telemetry; metrics on and no traces until [`install`] says otherwise.
pub fn get() -> &'static Observe {
    OBSERVE.get_or_init(|| Observe {
        metrics: Metrics::default(),
        metrics_on: true,
        tracer: None,
        sample_ratio: 1.0,
    })
}

/// The span exporter [`install`] made, until the hub starts it ([`start_exporter`]).
static EXPORTER: std::sync::Mutex<Option<otlp::Exporter>> = std::sync::Mutex::new(None);

/// Sets telemetry up from the config, once, before the hub starts (a second call changes
/// nothing); the span exporter, when traces are on, waits for [`start_exporter`].
pub fn install(t: &TelemetrySettings) {
    let metrics = Metrics::default();
    let (tracer, exporter) = match &t.otlp_endpoint {
        Some(url) => {
            let (t, e) = otlp::pipeline(url, &t.service_name, &metrics);
            (Some(t), Some(e))
        }
        None => (None, None),
    };
    let installed = OBSERVE.set(Observe {
        metrics,
        metrics_on: t.metrics,
        tracer,
        sample_ratio: t.sample_ratio,
    });
    if installed.is_ok() {
        *EXPORTER.locked() = exporter;
    }
}

/// Runs the span exporter, if there is one, in the hub's tasks; it flushes when the hub stops.
pub fn start_exporter(tasks: &crate::tasks::Tasks) {
    if let Some(exporter) = EXPORTER.locked().take() {
        let stop = tasks.root().clone();
        tasks.spawn(tracing::info_span!("otlp"), exporter.run(stop));
    }
}

/// When a request was received, if anything will record it (metrics, traces, or the
/// completion event at DEBUG); `None` costs nothing further.
pub fn received() -> Option<Instant> {
    let o = get();
    (o.metrics_on
        || o.tracer.is_some()
        || tracing::enabled!(target: "mcp_hub::call", tracing::Level::DEBUG))
    .then(Instant::now)
}

/// Whether spans are made (the HTTP transport then reads the `traceparent` header).
pub fn tracing_on() -> bool {
    get().tracer.is_some()
}

/// A tool call refused by the tenant's limit `limit`.
pub fn quota_refused(tenant: &str, limit: &str) {
    let o = get();
    if o.metrics_on {
        o.metrics
            .quota_refusals
            .get_or_create(&metrics::QuotaLabels {
                tenant: tenant.to_string(),
                limit: limit.to_string(),
            })
            .inc();
    }
}

/// A downstream session of `tenant` ended after `lasted`.
pub fn session_ended(tenant: &str, lasted: Duration) {
    let o = get();
    if o.metrics_on {
        o.metrics
            .session
            .get_or_create(&metrics::TenantLabels {
                tenant: tenant.to_string(),
            })
            .observe(lasted.as_secs_f64());
    }
}

/// Puts the HTTP `traceparent` header into a request's `params._meta`, unless it has its own
/// there (the message's own context is the more precise one).
pub fn adopt_traceparent(msg: &mut serde_json::Value, header: Option<&str>) {
    let Some(h) = header.filter(|h| trace::Context::parse(h).is_some()) else {
        return;
    };
    let Some(params) = msg.get_mut("params").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let meta = params.entry(META).or_insert_with(|| serde_json::json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.entry(trace::TRACEPARENT)
            .or_insert_with(|| serde_json::json!(h));
    }
}
