//! W3C trace context (`traceparent`: `00-<trace id>-<parent id>-<flags>`) and the spans the hub
//! makes of a forwarded request, encoded as OTLP/JSON straight into bytes (no JSON tree, no
//! per-span strings). Pure: the export is in [`super::otlp`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::metrics::Outcome;
use super::series::Series;

/// The `_meta` key (and HTTP header) that carries the trace context.
pub const TRACEPARENT: &str = "traceparent";

/// A trace context: whose trace, which span is the parent, sampled or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

fn hex_into(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

impl Context {
    /// Reads a `traceparent` value; `None` when it is malformed, or names the invalid all-zero
    /// trace or span (the W3C rule: then start a new trace).
    pub fn parse(v: &str) -> Option<Context> {
        let mut parts = v.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let mut c = Context {
            trace_id: [0; 16],
            span_id: [0; 8],
            flags: 0,
        };
        hex_into(trace, &mut c.trace_id)?;
        hex_into(span, &mut c.span_id)?;
        let mut f = [0u8; 1];
        hex_into(flags, &mut f)?;
        c.flags = f[0];
        (c.trace_id != [0; 16] && c.span_id != [0; 8]).then_some(c)
    }

    /// A new trace (sampled), for a request that came without one.
    pub fn new_root() -> Context {
        Context {
            trace_id: fastrand::u128(1..).to_be_bytes(),
            span_id: new_span_id(),
            flags: 1,
        }
    }

    /// This context with `span` as the parent, as a `traceparent` value (one allocation).
    pub fn header_with(&self, span: [u8; 8]) -> String {
        let mut v = Vec::with_capacity(55);
        v.extend_from_slice(b"00-");
        push_hex(&mut v, &self.trace_id);
        v.push(b'-');
        push_hex(&mut v, &span);
        v.push(b'-');
        push_hex(&mut v, &[self.flags]);
        String::from_utf8(v).unwrap_or_default()
    }
}

/// Head sampling: a request with the client's context follows its sampled flag (W3C); one
/// without starts a trace with probability `ratio`.
pub fn sampled(client: Option<&Context>, ratio: f64) -> bool {
    match client {
        Some(c) => c.flags & 1 == 1,
        None => ratio >= 1.0 || (ratio > 0.0 && fastrand::f64() < ratio),
    }
}

pub fn new_span_id() -> [u8; 8] {
    fastrand::u64(1..).to_be_bytes()
}

/// Nanoseconds since the Unix epoch.
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// OTLP span kinds.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Server = 2,
    Client = 3,
}

/// One forwarded request's two spans, as recorded when it ends: the server span (client → hub
/// → client) and, inside it, the client span (hub → upstream → hub). Nothing is formatted here:
/// the names, ids and attributes are written by [`encode_request`], in the exporter's task.
#[derive(Debug)]
pub struct CallSpans {
    /// Tenant, server, method and exposed tool (shared, not copied).
    pub series: Arc<Series>,
    pub trace_id: [u8; 16],
    /// The client's span, when it sent a `traceparent`.
    pub parent: Option<[u8; 8]>,
    pub server_span: [u8; 8],
    /// The span the upstream got as its parent.
    pub client_span: [u8; 8],
    pub start_ns: u64,
    pub upstream_start_ns: u64,
    pub end_ns: u64,
    pub session: u64,
    /// The client's JSON-RPC id.
    pub id: Value,
    /// The upstream's name of what was called (tool name or URI).
    pub upstream_name: Box<str>,
    pub outcome: Outcome,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

/// `s` as a JSON string (escaped).
fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    use std::io::Write as _;
    let _ = write!(out, "{n}");
}

/// `a b` as one JSON string (both escaped).
fn push_two(out: &mut Vec<u8>, a: &str, b: &str) {
    push_str(out, a);
    out.pop();
    out.push(b' ');
    let at = out.len();
    push_str(out, b);
    // `b`'s opening quote goes: the two halves are one string.
    out.copy_within(at + 1.., at);
    out.pop();
}

fn push_attr(out: &mut Vec<u8>, first: bool, key: &str, value: &str) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"key\":\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\",\"value\":{\"stringValue\":");
    push_str(out, value);
    out.extend_from_slice(b"}}");
}

struct SpanOut<'a> {
    span: [u8; 8],
    parent: Option<[u8; 8]>,
    name_tail: &'a str,
    kind: Kind,
    start_ns: u64,
}

impl CallSpans {
    /// Both spans, as two OTLP/JSON span objects separated by a comma.
    fn encode(&self, out: &mut Vec<u8>, scratch: &mut String) {
        let s = &*self.series;
        let what = if s.tool.is_empty() {
            &*self.upstream_name
        } else {
            &*s.tool
        };
        // The session and the request id as text, side by side.
        scratch.clear();
        let id_at = {
            use std::fmt::Write as _;
            let _ = write!(scratch, "{}", self.session);
            let at = scratch.len();
            let _ = write!(scratch, "{}", self.id);
            at
        };
        let client = SpanOut {
            span: self.client_span,
            parent: Some(self.server_span),
            name_tail: &self.upstream_name,
            kind: Kind::Client,
            start_ns: self.upstream_start_ns,
        };
        let server = SpanOut {
            span: self.server_span,
            parent: self.parent,
            name_tail: what,
            kind: Kind::Server,
            start_ns: self.start_ns,
        };
        for (i, span) in [client, server].into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"traceId\":\"");
            push_hex(out, &self.trace_id);
            out.extend_from_slice(b"\",\"spanId\":\"");
            push_hex(out, &span.span);
            out.push(b'"');
            if let Some(p) = span.parent {
                out.extend_from_slice(b",\"parentSpanId\":\"");
                push_hex(out, &p);
                out.push(b'"');
            }
            out.extend_from_slice(b",\"name\":");
            // `<method> <name>`, escaped as one string.
            push_two(out, &s.method, span.name_tail);
            out.extend_from_slice(b",\"kind\":");
            out.push(b'0' + span.kind as u8);
            out.extend_from_slice(b",\"startTimeUnixNano\":\"");
            push_u64(out, span.start_ns);
            out.extend_from_slice(b"\",\"endTimeUnixNano\":\"");
            push_u64(out, self.end_ns);
            out.extend_from_slice(b"\",\"attributes\":[");
            push_attr(out, true, "mcp.method.name", &s.method);
            let (session, id) = scratch.split_at_checked(id_at).unwrap_or_default();
            push_attr(out, false, "mcp.session.id", session);
            push_attr(out, false, "jsonrpc.request.id", id);
            push_attr(out, false, "mcp_hub.tenant", &s.tenant);
            push_attr(out, false, "mcp_hub.server", &s.server);
            if !s.tool.is_empty() {
                push_attr(out, false, "gen_ai.tool.name", &s.tool);
            }
            if self.outcome != Outcome::Ok {
                push_attr(out, false, "error.type", self.outcome.as_str());
                out.extend_from_slice(b"],\"status\":{\"code\":2,\"message\":\"");
                out.extend_from_slice(self.outcome.as_str().as_bytes());
                out.extend_from_slice(b"\"}}");
            } else {
                out.extend_from_slice(b"],\"status\":{\"code\":0}}");
            }
        }
    }
}

/// Writes an OTLP/JSON `ExportTraceServiceRequest` of `calls` (two spans each) into `out`;
/// `scratch` is reused for the request ids.
pub fn encode_request(
    out: &mut Vec<u8>,
    scratch: &mut String,
    service_name: &str,
    calls: &[CallSpans],
) {
    out.extend_from_slice(b"{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    push_attr(out, true, "service.name", service_name);
    push_attr(out, false, "service.version", env!("CARGO_PKG_VERSION"));
    out.extend_from_slice(b"]},\"scopeSpans\":[{\"scope\":{\"name\":\"mcp-hub\",\"version\":\"");
    out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    out.extend_from_slice(b"\"},\"spans\":[");
    for (i, c) in calls.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        c.encode(out, scratch);
    }
    out.extend_from_slice(b"]}]}]}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_bad_ones_are_refused() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = Context::parse(v).unwrap();
        assert_eq!(c.header_with(c.span_id), v);
        assert_eq!(c.flags, 1);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-xyf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Context::parse(bad), None, "{bad}");
        }
        // A later version may add fields: read the four we know.
        assert!(
            Context::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx").is_some()
        );
    }

    #[test]
    fn sampling_follows_the_clients_flag_else_the_ratio() {
        let on = Context::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let off = Context { flags: 0, ..on };
        for ratio in [0.0, 0.5, 1.0] {
            assert!(sampled(Some(&on), ratio));
            assert!(!sampled(Some(&off), ratio));
        }
        assert!((0..1000).all(|_| sampled(None, 1.0)));
        assert!((0..1000).all(|_| !sampled(None, 0.0)));
        let n = (0..10_000).filter(|_| sampled(None, 0.25)).count();
        assert!((2_000..3_000).contains(&n), "{n} of 10000 at 0.25");
    }

    #[test]
    fn a_new_trace_is_valid_and_sampled() {
        let c = Context::new_root();
        assert_eq!(
            Context::parse(&c.header_with(new_span_id())).map(|p| p.trace_id),
            Some(c.trace_id)
        );
    }

    fn call(tool: Option<&str>, upstream_name: &str, outcome: Outcome) -> CallSpans {
        let series = super::super::TenantSeries::default().get("acme", "git", "tools/call", tool);
        CallSpans {
            series,
            trace_id: [0xab; 16],
            parent: None,
            server_span: [1; 8],
            client_span: [2; 8],
            start_ns: 1_000,
            upstream_start_ns: 1_500,
            end_ns: 2_000,
            session: 7,
            id: serde_json::json!("req \"1\""),
            upstream_name: upstream_name.into(),
            outcome,
        }
    }

    fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
        span["attributes"]
            .as_array()?
            .iter()
            .find(|a| a["key"] == key)?["value"]["stringValue"]
            .as_str()
    }

    #[test]
    fn calls_encode_as_an_otlp_json_request_of_two_spans_each() {
        let mut out = Vec::new();
        let mut scratch = String::new();
        let mut failed = call(None, "odd \"name\"\n", Outcome::Timeout);
        failed.parent = Some([3; 8]);
        encode_request(
            &mut out,
            &mut scratch,
            "svc",
            &[call(Some("git__log"), "log", Outcome::Ok), failed],
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        let rs = &v["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            serde_json::json!({"key": "service.name", "value": {"stringValue": "svc"}})
        );
        let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 4);
        let (client, server) = (&spans[0], &spans[1]);
        assert_eq!(client["kind"], 3);
        assert_eq!(client["name"], "tools/call log");
        assert_eq!(client["traceId"], "ab".repeat(16));
        assert_eq!(client["spanId"], "0202020202020202");
        assert_eq!(client["parentSpanId"], server["spanId"]);
        assert_eq!(client["startTimeUnixNano"], "1500");
        assert_eq!(client["endTimeUnixNano"], "2000");
        assert_eq!(client["status"], serde_json::json!({"code": 0}));
        assert_eq!(server["kind"], 2);
        assert_eq!(server["name"], "tools/call git__log");
        assert_eq!(server.get("parentSpanId"), None, "a root span");
        assert_eq!(server["startTimeUnixNano"], "1000");
        for s in [client, server] {
            assert_eq!(attr(s, "mcp.method.name"), Some("tools/call"));
            assert_eq!(attr(s, "mcp.session.id"), Some("7"));
            assert_eq!(attr(s, "jsonrpc.request.id"), Some(r#""req \"1\"""#));
            assert_eq!(attr(s, "mcp_hub.tenant"), Some("acme"));
            assert_eq!(attr(s, "mcp_hub.server"), Some("git"));
            assert_eq!(attr(s, "gen_ai.tool.name"), Some("git__log"));
            assert_eq!(attr(s, "error.type"), None);
        }
        // Another method's call: named after what the upstream was asked, escaped.
        let (client, server) = (&spans[2], &spans[3]);
        assert_eq!(server["name"], "tools/call odd \"name\"\n");
        assert_eq!(client["name"], server["name"]);
        assert_eq!(server["parentSpanId"], "0303030303030303");
        assert_eq!(attr(server, "gen_ai.tool.name"), None);
        assert_eq!(attr(server, "error.type"), Some("timeout"));
        assert_eq!(
            server["status"],
            serde_json::json!({"code": 2, "message": "timeout"})
        );
    }
}
