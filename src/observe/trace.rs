//! W3C trace context (`traceparent`: `00-<trace id>-<parent id>-<flags>`) and the spans the hub
//! makes of a forwarded request, encoded as OTLP/JSON. Pure: the export is in [`super::otlp`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

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

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
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

    /// This context with `span` as the parent, as a `traceparent` value.
    pub fn header_with(&self, span: [u8; 8]) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&span),
            self.flags
        )
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

/// One finished span, ready to encode.
#[derive(Debug)]
pub struct SpanData {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub name: String,
    pub kind: Kind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<(&'static str, String)>,
    pub error: Option<&'static str>,
}

impl SpanData {
    fn to_json(&self) -> Value {
        let attrs: Vec<Value> = self
            .attributes
            .iter()
            .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
            .collect();
        let mut span = json!({
            "traceId": hex(&self.trace_id),
            "spanId": hex(&self.span_id),
            "name": self.name,
            "kind": self.kind as u8,
            "startTimeUnixNano": self.start_ns.to_string(),
            "endTimeUnixNano": self.end_ns.to_string(),
            "attributes": attrs,
            "status": match self.error {
                Some(m) => json!({"code": 2, "message": m}),
                None => json!({"code": 0}),
            },
        });
        if let Some(p) = self.parent {
            span["parentSpanId"] = json!(hex(&p));
        }
        span
    }
}

/// An OTLP/JSON `ExportTraceServiceRequest` of `spans`.
pub fn export_request(service_name: &str, spans: &[SpanData]) -> Value {
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service_name}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
            ]},
            "scopeSpans": [{
                "scope": {"name": "mcp-hub", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans.iter().map(SpanData::to_json).collect::<Vec<_>>(),
            }],
        }]
    })
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
    fn a_new_trace_is_valid_and_sampled() {
        let c = Context::new_root();
        assert_eq!(
            Context::parse(&c.header_with(new_span_id())).map(|p| p.trace_id),
            Some(c.trace_id)
        );
    }
}
