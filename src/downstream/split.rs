//! A client's `tools/call` read in two parts: the members of `params` the hub reads or edits
//! (`name`, `_meta`) as a JSON tree, and every other member (`arguments`, `task`, vendor keys)
//! as the client's own text, which the hub passes on unread. It knows nothing of routing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The members of `params` the hub reads or edits; the rest pass as text.
const READ: [&str; 2] = ["name", "_meta"];

/// A `tools/call` request, split.
#[derive(Debug)]
pub struct SplitCall {
    pub id: Value,
    /// `params` with only the members the hub reads (`name`, `_meta`).
    pub params: Value,
    /// The other members of `params` as the client wrote them (`"arguments":{…}`), joined by
    /// commas; empty when there are none.
    pub rest: String,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    jsonrpc: &'a RawValue,
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    method: &'a RawValue,
    #[serde(borrow)]
    params: Members<'a>,
}

/// A member's name, borrowed when it has no escapes.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// `params`' members in the client's order.
struct Members<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(4);
                while let Some(kv) = m.next_entry::<Key<'a>, &'a RawValue>()? {
                    out.push(kv);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `line` split when it is a well-formed `tools/call` request whose params are an object;
/// `None` for anything else (which is then read whole, as before).
pub fn split_call(line: &str) -> Option<SplitCall> {
    // Any other message is read once, whole, by the caller: no envelope read first.
    static METHOD: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(br#""tools/call""#));
    METHOD.find(line.as_bytes())?;
    let head: Head = serde_json::from_str(line).ok()?;
    if head.jsonrpc.get() != r#""2.0""# || head.method.get() != r#""tools/call""# {
        return None;
    }
    let id: Value = serde_json::from_str(head.id.get()).ok()?;
    if !(id.is_string() || id.is_number()) {
        return None;
    }
    let mut params = Map::new();
    let mut rest = String::with_capacity(line.len());
    for (Key(k), v) in head.params.0 {
        if READ.contains(&k.as_ref()) {
            params.insert(k.into_owned(), serde_json::from_str(v.get()).ok()?);
            continue;
        }
        if !rest.is_empty() {
            rest.push(',');
        }
        match k {
            // Borrowed: the name had no escapes, so its text is the name itself.
            Cow::Borrowed(k) => {
                rest.push('"');
                rest.push_str(k);
                rest.push('"');
            }
            Cow::Owned(k) => rest.push_str(&Value::String(k).to_string()),
        }
        rest.push(':');
        rest.push_str(v.get());
    }
    Some(SplitCall {
        id,
        params: Value::Object(params),
        rest,
    })
}

/// `params` whole again: the read members and the rest in one tree (for the ways that need
/// every member: search mode's `call_tool`, 2026-07-28 requests, bridged retries).
pub fn join(mut params: Value, rest: &str) -> Value {
    if rest.is_empty() {
        return params;
    }
    let Ok(Value::Object(others)) = serde_json::from_str::<Value>(&format!("{{{rest}}}")) else {
        return params;
    };
    if let Some(p) = params.as_object_mut() {
        for (k, v) in others {
            p.entry(k).or_insert(v);
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tools_call_is_split_into_what_the_hub_reads_and_the_clients_own_text() {
        let line = r#"{"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"arguments":{"a" : [1, 2.50]},"name":"x__y","_meta":{"progressToken":3},"x-vendor":{"k":"\u00e9"},"t\"q":1}}"#;
        let c = split_call(line).unwrap();
        assert_eq!(c.id, json!("r1"));
        assert_eq!(
            c.params,
            json!({"name": "x__y", "_meta": {"progressToken": 3}})
        );
        // Byte for byte as the client wrote them, escapes and spacing included.
        assert_eq!(
            c.rest,
            r#""arguments":{"a" : [1, 2.50]},"x-vendor":{"k":"\u00e9"},"t\"q":1"#
        );
        let whole = join(c.params, &c.rest);
        assert_eq!(whole["arguments"]["a"][1], json!(2.5));
        assert_eq!(whole["t\"q"], json!(1));
    }

    #[test]
    fn anything_but_a_well_formed_tools_call_is_left_whole() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"a"}}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"a"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}]"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}"#,
        ] {
            assert!(split_call(line).is_none(), "{line}");
        }
    }
}
