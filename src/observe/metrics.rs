//! The metric families events are recorded in (operations, sessions, quota refusals, trace
//! export), under the names the OpenTelemetry semantic conventions for MCP give them, mapped to
//! Prometheus (`mcp.server.operation.duration` → `mcp_server_operation_duration_seconds`).
//! Knows no tenant and no transport: [`super::series`] resolves label sets, [`super::scrape`]
//! adds the hub's state at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Seconds. The semantic conventions' buckets for MCP operations (10 ms … 300 s), with four
/// below them, as most calls through the hub take well under 10 ms.
pub const BUCKETS: [f64; 18] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// How a forwarded request ended (`outcome` label; the conventions' `error.type`, bounded).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    /// A result (for `tools/call`: not `isError`).
    Ok,
    /// A `tools/call` result with `isError: true`.
    ToolError,
    /// A JSON-RPC error from the upstream (or from the hub on its behalf).
    Error,
    /// The upstream did not answer within `request_timeout`.
    Timeout,
    /// The upstream connection closed before it answered.
    Closed,
    /// No answer was delivered: the client cancelled or went away, or the MRTR bridge asked it
    /// for input (`input_required`).
    Cancelled,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::ToolError,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Closed,
        Outcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Closed => "closed",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(i: u8) -> Outcome {
        Outcome::ALL
            .get(usize::from(i))
            .copied()
            .unwrap_or(Outcome::Cancelled)
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// One series of `mcp_server_operation_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub tenant: String,
    pub server: String,
    pub mcp_method_name: String,
    /// The exposed tool name for `tools/call` (only names in the catalog; see `series`), else empty.
    pub gen_ai_tool_name: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaLabels {
    pub tenant: String,
    /// The limit's config key (`max_concurrent_calls`, `calls_per_minute`).
    pub limit: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every family the hub records events in. Cloning shares them.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub operation: HistogramFamily<OpLabels>,
    pub session: HistogramFamily<TenantLabels>,
    pub quota_refusals: Family<QuotaLabels, Counter>,
    pub spans_exported: Counter,
    pub spans_dropped: Counter,
}

/// Notifications dropped from slow clients' outboxes (`jsonrpc::Queue`), all sessions together.
pub static OUTBOX_DROPPED: AtomicU64 = AtomicU64::new(0);

impl Default for Metrics {
    fn default() -> Self {
        Self {
            operation: Family::new_with_constructor(histogram),
            session: Family::new_with_constructor(histogram),
            quota_refusals: Family::default(),
            spans_exported: Counter::default(),
            spans_dropped: Counter::default(),
        }
    }
}

impl Metrics {
    /// Registers the event families (clones sharing their values) in `r`.
    pub fn register(&self, r: &mut Registry) {
        r.register_with_unit(
            "mcp_server_operation_duration",
            "MCP requests forwarded to an upstream, by how long they took until answered (the semantic conventions' mcp.server.operation.duration)",
            Unit::Seconds,
            self.operation.clone(),
        );
        r.register_with_unit(
            "mcp_server_session_duration",
            "Downstream sessions that ended, by how long they lasted (mcp.server.session.duration)",
            Unit::Seconds,
            self.session.clone(),
        );
        r.register(
            "mcp_hub_quota_refusals",
            "Tool calls refused by a tenant's limits",
            self.quota_refusals.clone(),
        );
        r.register(
            "mcp_hub_trace_spans_exported",
            "Spans sent to the OTLP endpoint",
            self.spans_exported.clone(),
        );
        r.register(
            "mcp_hub_trace_spans_dropped",
            "Spans dropped: the export queue was full, or the endpoint refused or did not answer",
            self.spans_dropped.clone(),
        );
        let dropped: Counter = Counter::default();
        dropped.inc_by(OUTBOX_DROPPED.load(std::sync::atomic::Ordering::Relaxed));
        r.register(
            "mcp_hub_outbox_dropped",
            "Progress and log notifications dropped because a client read too slowly",
            dropped,
        );
    }
}
