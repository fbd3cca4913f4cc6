//! Upstream answers and progress notifications that pass through unchanged but for their id or
//! token: the envelope is read in place (borrowed, no JSON tree of the body), and the client's id
//! is spliced into the upstream's bytes, so every other byte reaches the client as it was sent.
//!
//! Anything else (a rewrite that may apply, a 2026-07-28 client, a bridged call, a line the
//! envelope reader refuses) goes the full way through [`Conn::handle_message`].

use std::fmt::Write as _;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::*;

/// The parts of a message the pass-through needs, borrowed from its text. Unknown fields are
/// skipped (not kept: the splice keeps them); a duplicate field fails the read, and the message
/// goes the full way.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// The progress notification's params, as far as the splice needs them.
#[derive(Deserialize)]
struct Progress<'a> {
    #[serde(rename = "progressToken", borrow)]
    token: &'a RawValue,
    #[serde(borrow)]
    progress: &'a RawValue,
}

impl Conn {
    /// Passes `line` on when only its id (or progress token) changes; `false` when it must go
    /// the full way. A message that goes the full way is untouched here.
    pub(super) fn pass_through(&self, line: &str) -> bool {
        // A line break would split the frame on a stdio client (a pretty-printed HTTP body).
        if memchr::memchr2(b'\n', b'\r', line.as_bytes()).is_some() {
            return false;
        }
        // Only an object (serde would read a batch's array as a struct's fields in order).
        if !line.trim_start().starts_with('{') {
            return false;
        }
        let Ok(head) = serde_json::from_str::<Head>(line) else {
            return false;
        };
        match (head.method, head.result, head.error) {
            (None, Some(result), None) => self.pass_answer(line, head.id, result),
            (Some(m), None, None)
                if m.get() == r#""notifications/progress""# && head.id.is_none() =>
            {
                self.pass_progress(line, head.params)
            }
            _ => false,
        }
    }

    fn pass_answer(&self, line: &str, id: Option<&RawValue>, result: &RawValue) -> bool {
        let Some(id) = id else { return false };
        let Some(n) = raw_id(id) else { return false };
        // Every MCP result is an object; anything else is refused the full way.
        if !result.get().starts_with('{') {
            return false;
        }
        let Some((_, p)) = self
            .pending
            .remove_if(&n, |_, p| passes(&p.reply, result.get()))
        else {
            return false;
        };
        let Reply::Downstream(r) = p.reply else {
            return false; // `passes` said Downstream
        };
        if let Some(c) = &r.finish.call {
            c.answered_result_text(result.get());
        }
        let _ = r.out.send(splice(line, span(line, id.get()), &r.id));
        true
    }

    fn pass_progress(&self, line: &str, params: Option<&RawValue>) -> bool {
        let Some(params) = params else { return false };
        let Ok(p) = serde_json::from_str::<Progress>(params.get()) else {
            return false;
        };
        // A progress value that is not a number would break the client's parser: the full way
        // drops it.
        if !p
            .progress
            .get()
            .starts_with(|c: char| c == '-' || c.is_ascii_digit())
        {
            return false;
        }
        let Some(token) = raw_id(p.token) else {
            return false;
        };
        let Some(mut pending) = self.pending.get_mut(&token) else {
            return true; // no call of that token: dropped, as the full way would
        };
        pending.deadline = deadline(pending.timeout);
        if let Reply::Downstream(r) = &pending.reply {
            if let Some(t) = &r.progress {
                let _ = r
                    .out
                    .send_droppable(splice(line, span(line, p.token.get()), t));
            }
        }
        true
    }
}

/// Whether an answer for `reply` may pass unchanged: a handshake-era client's own call, not
/// bridged, whose rewrite (if any) cannot apply to `result`.
fn passes(reply: &Reply, result: &str) -> bool {
    match reply {
        Reply::Downstream(r) => {
            r.retry.is_none()
                && !r.finish.stateless
                && r.finish
                    .rewrite
                    .as_ref()
                    .is_none_or(|w| !w.may_touch(result))
        }
        _ => false,
    }
}

/// An id or token the hub sent: a number, or a number in a string (some peers echo it so).
fn raw_id(raw: &RawValue) -> Option<u64> {
    let s = raw.get();
    let digits = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Where `part` (a slice of `line`) lies in `line`.
fn span(line: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
    start..start + part.len()
}

/// `line` with the bytes at `at` replaced by `value` as JSON.
fn splice(line: &str, at: Range<usize>, value: &Value) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    out.push_str(&line[..at.start]);
    match value {
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        other => out.push_str(&other.to_string()),
    }
    out.push_str(&line[at.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_the_hub_sent() {
        let raw = |s: &str| RawValue::from_string(s.to_string()).unwrap();
        assert_eq!(raw_id(&raw("42")), Some(42));
        assert_eq!(raw_id(&raw("\"42\"")), Some(42));
        assert_eq!(raw_id(&raw("-1")), None);
        assert_eq!(raw_id(&raw("1.5")), None);
        assert_eq!(raw_id(&raw("\"\"")), None);
        assert_eq!(raw_id(&raw("null")), None);
    }

    #[test]
    fn splice_keeps_every_other_byte() {
        let line = r#"{"result":{"x-vendor":{"a" : 1},"_meta":{}},"id":7,"jsonrpc":"2.0"}"#;
        let head: Head = serde_json::from_str(line).unwrap();
        let id = head.id.unwrap();
        let out = splice(line, span(line, id.get()), &serde_json::json!("client-1"));
        assert_eq!(
            out,
            r#"{"result":{"x-vendor":{"a" : 1},"_meta":{}},"id":"client-1","jsonrpc":"2.0"}"#
        );
    }
}
