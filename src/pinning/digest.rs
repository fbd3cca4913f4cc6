//! A tool's pinned definition and its digest: the fields a model or a user reads (name, title,
//! description, input and output schema, annotations), as canonical JSON (object keys sorted at
//! every depth, no spaces), hashed with SHA-256. Key order and fields outside the definition
//! (`_meta`, `icons`, `execution`, extensions) do not change the digest.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fields of a tool that are pinned, in byte order (the order of the canonical text).
pub const PINNED_FIELDS: &[&str] = &[
    "annotations",
    "description",
    "inputSchema",
    "name",
    "outputSchema",
    "title",
];

/// The pinned part of `tool` (the fields it has of [`PINNED_FIELDS`]), keys sorted at every depth.
pub fn definition(tool: &Value) -> Value {
    let mut out = Map::new();
    for &k in PINNED_FIELDS {
        if let Some(v) = tool.get(k) {
            out.insert(k.to_string(), sorted(v));
        }
    }
    Value::Object(out)
}

/// `v` with every object's keys in byte order (serde_json keeps insertion order here).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The canonical text of a [`definition`] (what is stored and hashed): compact JSON of a value
/// whose keys are already sorted.
pub fn canonical(definition: &Value) -> String {
    definition.to_string()
}

/// `sha256:` and the hex digest of the canonical text.
pub fn digest_of(canonical: &str) -> String {
    let d = Sha256::digest(canonical.as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest(tool: &Value) -> String {
        digest_of(&canonical(&definition(tool)))
    }

    #[test]
    fn key_order_does_not_change_the_digest() {
        let a: Value = serde_json::from_str(
            r#"{"name":"echo","description":"d","inputSchema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"inputSchema":{"properties":{"b":{"type":"integer"},"a":{"type":"string"}},"type":"object"},"description":"d","name":"echo"}"#,
        )
        .unwrap();
        assert_eq!(digest(&a), digest(&b));
        assert!(digest(&a).starts_with("sha256:") && digest(&a).len() == 71);
    }

    #[test]
    fn every_pinned_field_changes_the_digest_and_others_do_not() {
        let base = json!({"name": "t", "title": "T", "description": "d", "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object"}, "annotations": {"readOnlyHint": true}, "_meta": {"k": 1}, "icons": []});
        let d0 = digest(&base);
        for &k in PINNED_FIELDS {
            let mut t = base.clone();
            t[k] = json!("changed");
            assert_ne!(digest(&t), d0, "{k} is pinned");
        }
        let mut t = base.clone();
        t["_meta"] = json!({"k": 2});
        t["icons"] = json!([{"src": "x"}]);
        t["execution"] = json!({"taskSupport": "optional"});
        assert_eq!(
            digest(&t),
            d0,
            "fields outside the definition are not pinned"
        );
    }

    #[test]
    fn array_order_matters() {
        let a = json!({"name": "t", "inputSchema": {"required": ["a", "b"]}});
        let b = json!({"name": "t", "inputSchema": {"required": ["b", "a"]}});
        assert_ne!(digest(&a), digest(&b));
    }
}
