//! One list item (a tool, prompt, resource or template definition) stored once and compactly:
//! its JSON text, shared (`Arc<str>`) between the upstream's offer, the pinner, the catalog and
//! its pages, and parsed only when a rule needs to look inside. A catalog's copy is the same
//! text with its key (exposed name or URI) spliced in place. It knows nothing of servers.
//!
//! A `serde_json::Value` of a 250-byte tool costs about 3 KB (an `IndexMap` per object with
//! `preserve_order`, a `String` per key); this costs the text and 40 bytes.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// A definition: its JSON object text and, in a catalog, its key as exposed.
#[derive(Clone)]
pub struct Item {
    text: Arc<str>,
    /// The exposed key (shared by the catalogs that follow) and the byte range of the
    /// upstream's key (a JSON string, quotes included) it replaces in `text`.
    exposed: Option<(Arc<str>, u32, u32)>,
    /// Where the upstream's key is in `text` (found once: later rebuilds splice without a parse).
    span: OnceLock<(&'static str, Option<(u32, u32)>)>,
}

impl Item {
    /// The item as an upstream sent it (`Value` → compact JSON text, member order kept).
    pub fn new(v: &Value) -> Item {
        Item {
            text: serde_json::to_string(v).unwrap_or_default().into(),
            exposed: None,
            span: OnceLock::new(),
        }
    }

    /// Items of a list, as an upstream sent them.
    pub fn list(values: &[Value]) -> Vec<Item> {
        values.iter().map(Item::new).collect()
    }

    /// The string member `key` as the upstream wrote it (`None` if absent or not a string).
    pub fn get_str(&self, key: &str) -> Option<Cow<'_, str>> {
        let raw = member(&self.text, key)?;
        string_of(raw)
    }

    /// The byte range of the upstream's string member `key` (quotes included), found once.
    fn span(&self, key: &'static str) -> Option<(u32, u32)> {
        let find = || {
            let raw = member(&self.text, key)?;
            string_of(raw)?;
            let start = (raw.get().as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
            let end = start + raw.get().len();
            Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
        };
        match self.span.get() {
            Some((k, s)) if *k == key => *s,
            Some(_) => find(),
            None => self.span.get_or_init(|| (key, find())).1,
        }
    }

    /// The key (`name`, `uri`, `uriTemplate`): as exposed in a catalog's copy, else as the
    /// upstream wrote it. `None` if the upstream's is absent or not a string.
    pub fn key(&self, key: &'static str) -> Option<Cow<'_, str>> {
        if let Some((k, _, _)) = &self.exposed {
            return Some(Cow::Borrowed(k));
        }
        let (s, e) = self.span(key)?;
        let raw = self.text.get(s as usize..e as usize)?;
        let inner = raw.get(1..raw.len().saturating_sub(1))?;
        if inner.contains('\\') {
            serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(inner))
        }
    }

    /// The same definition with its string member `key` replaced by `exposed` (the text is
    /// shared, not copied). `None` when the item has no such string member.
    pub fn exposed_as(&self, key: &'static str, exposed: &str) -> Option<Item> {
        let (start, end) = self.span(key)?;
        Some(Item {
            text: self.text.clone(),
            exposed: Some((exposed.into(), start, end)),
            span: self.span.clone(),
        })
    }

    /// The exposed key, for an item of a catalog.
    pub fn exposed(&self) -> Option<&str> {
        self.exposed.as_ref().map(|(k, _, _)| k.as_ref())
    }

    /// Whether two items share the upstream's text (neither was rewritten).
    pub fn same_source(&self, other: &Item) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
    }

    /// Whether the text mentions `needle` anywhere (a cheap test before a parse).
    pub fn mentions(&self, needle: &str) -> bool {
        memchr::memmem::find(self.text.as_bytes(), needle.as_bytes()).is_some()
    }

    /// The JSON text, as a client sees it.
    pub fn json(&self) -> Cow<'_, str> {
        match &self.exposed {
            None => Cow::Borrowed(&self.text),
            Some((k, s, e)) => {
                let (s, e) = (*s as usize, *e as usize);
                let mut out = String::with_capacity(self.text.len() + k.len() + 2);
                out.push_str(self.text.get(..s).unwrap_or_default());
                out.push_str(&serde_json::to_string(k.as_ref()).unwrap_or_default());
                out.push_str(self.text.get(e..).unwrap_or_default());
                Cow::Owned(out)
            }
        }
    }

    /// The definition as a `Value` (parsed now; for rules that edit it, and for tests).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json()).unwrap_or(Value::Null)
    }

    /// Bytes held by this item alone (its text is counted once per sharing).
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    fn pieces(&self) -> (&str, Option<&str>, &str) {
        match &self.exposed {
            None => (&self.text, None, ""),
            Some((k, s, e)) => (
                self.text.get(..*s as usize).unwrap_or_default(),
                Some(k),
                self.text.get(*e as usize..).unwrap_or_default(),
            ),
        }
    }
}

impl PartialEq for Item {
    /// Equal when a client would read the same JSON.
    fn eq(&self, other: &Item) -> bool {
        if Arc::ptr_eq(&self.text, &other.text) && self.exposed == other.exposed {
            return true;
        }
        match (self.pieces(), other.pieces()) {
            ((a0, Some(ak), a1), (b0, Some(bk), b1)) => a0 == b0 && ak == bk && a1 == b1,
            _ => self.json() == other.json(),
        }
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json())
    }
}

impl From<Value> for Item {
    fn from(v: Value) -> Item {
        Item::new(&v)
    }
}

impl serde::Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match RawValue::from_string(self.json().into_owned()) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

/// A JSON string's text, unescaped only when it has escapes.
fn string_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(s).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The member `key` of the JSON object `text`, borrowed from it (the last one if repeated),
/// without building the object.
fn member<'a>(text: &'a str, key: &str) -> Option<&'a RawValue> {
    let mut d = serde_json::Deserializer::from_str(text);
    Find(key).deserialize(&mut d).ok().flatten()
}

struct Find<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(k) = m.next_key::<Key<'de>>()? {
            if k.0 == self.0 {
                found = Some(m.next_value::<&'de RawValue>()?);
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_key_is_spliced_in_place_and_everything_else_kept_byte_for_byte() {
        let v = json!({"x-first": 1, "name": "echo", "_meta": {"name": "inner"}, "inputSchema": {"type": "object"}});
        let item = Item::new(&v);
        assert_eq!(item.get_str("name").as_deref(), Some("echo"));
        assert_eq!(item.key("name").as_deref(), Some("echo"));
        let exposed = item.exposed_as("name", "a__\"echo\"").unwrap();
        assert!(exposed.same_source(&item));
        assert_eq!(
            exposed.json(),
            r#"{"x-first":1,"name":"a__\"echo\"","_meta":{"name":"inner"},"inputSchema":{"type":"object"}}"#
        );
        assert_eq!(exposed.value()["name"], "a__\"echo\"");
        assert_eq!(exposed.exposed(), Some("a__\"echo\""));
        assert_eq!(exposed.key("name").as_deref(), Some("a__\"echo\""));
        assert_eq!(
            exposed,
            Item::new(&exposed.value())
                .exposed_as("name", "a__\"echo\"")
                .unwrap()
        );
        assert_ne!(exposed, item);
        assert_eq!(serde_json::to_value(&exposed).unwrap(), exposed.value());
    }

    #[test]
    fn escaped_missing_and_non_string_keys() {
        let item = Item::new(&json!({"name": "a\nb", "uri": 3}));
        assert_eq!(item.get_str("name").as_deref(), Some("a\nb"));
        assert_eq!(item.key("name").as_deref(), Some("a\nb"));
        assert_eq!(item.key("uri"), None);
        assert_eq!(item.get_str("uri"), None);
        assert!(item.exposed_as("uri", "x").is_none());
        assert!(item.exposed_as("title", "x").is_none());
        assert!(Item::new(&json!([1])).get_str("name").is_none());
    }
}
