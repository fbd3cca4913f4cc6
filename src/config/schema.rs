//! `mcp-hub schema`: a JSON Schema (draft 2020-12) of `hub.toml`, generated from the raw types
//! the file is read with ([`super::shape`]), so it never drifts from what `check` accepts. It
//! states the keys and their types; the rules beyond types (ranges, enums, references) stay
//! with `check`.

use serde_json::{json, Map, Value};

use super::raw::{RawFile, RawServer, RawTenant};
use super::shape::{shape_of, Shape};

/// A duration as `humantime` reads it: `"500ms"`, `"30s"`, `"2m"`, `"1h 30m"`.
const DURATION_PATTERN: &str = r"^\s*[0-9]+\s*[a-zA-Zµ]+(\s*[0-9]+\s*[a-zA-Zµ]+)*\s*$";

fn to_schema(shape: &Shape) -> Value {
    match shape {
        Shape::Str => json!({"type": "string"}),
        Shape::Duration => {
            json!({"type": "string", "pattern": DURATION_PATTERN, "description": "a duration, e.g. \"30s\", \"500ms\", \"2m\""})
        }
        Shape::Int => json!({"type": "integer"}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Seq(item) => json!({"type": "array", "items": to_schema(item)}),
        Shape::Map(value) => json!({"type": "object", "additionalProperties": to_schema(value)}),
        Shape::Struct(fields) => {
            let props: Map<String, Value> = fields
                .iter()
                .map(|(k, s)| ((*k).to_string(), to_schema(s)))
                .collect();
            json!({"type": "object", "properties": props, "additionalProperties": false})
        }
        Shape::Any => json!({}),
    }
}

/// Replaces the shape of key `key` of a struct shape.
fn with_field(shape: Shape, key: &str, field: Shape) -> Shape {
    match shape {
        Shape::Struct(fields) => Shape::Struct(
            fields
                .into_iter()
                .map(|(k, s)| if k == key { (k, field.clone()) } else { (k, s) })
                .collect(),
        ),
        other => other,
    }
}

/// The schema of the whole file.
pub fn json_schema() -> Value {
    let server = shape_of::<RawServer>();
    let tenant = with_field(
        shape_of::<RawTenant>(),
        "servers",
        Shape::Map(Box::new(server)),
    );
    let file = with_field(
        shape_of::<RawFile>(),
        "tenants",
        Shape::Map(Box::new(tenant)),
    );
    let mut schema = to_schema(&file);
    if let Some(o) = schema.as_object_mut() {
        o.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        o.insert("title".into(), json!("mcp-hub hub.toml"));
        o.insert(
            "description".into(),
            json!("The keys of hub.toml and their types; `mcp-hub check` also checks ranges, names and references."),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_table_with_its_keys() {
        let s = json_schema();
        let server = &s["properties"]["tenants"]["additionalProperties"]["properties"]["servers"]
            ["additionalProperties"];
        assert_eq!(server["properties"]["args"]["type"], "array");
        assert_eq!(server["properties"]["request_timeout"]["type"], "string");
        assert_eq!(
            server["additionalProperties"], false,
            "unknown keys are errors"
        );
        assert_eq!(
            s["properties"]["hub"]["properties"]["http"]["properties"]["max_connections"]["type"],
            "integer"
        );
        assert_eq!(
            s["properties"]["hub"]["properties"]["admin"]["properties"]["api_keys"]["type"],
            "array"
        );
        assert_eq!(
            s["properties"]["tenants"]["additionalProperties"]["properties"]["max_containers"]
                ["type"],
            "integer",
            "the per-tenant container limit"
        );
        let container = &server["properties"]["container"];
        assert_eq!(container["properties"]["image"]["type"], "string");
        assert_eq!(container["properties"]["volumes"]["type"], "array");
        assert_eq!(container["additionalProperties"], false);
        assert_eq!(
            s["properties"]["hub"]["properties"]["containers"]["properties"]["max_containers"]
                ["type"],
            "integer"
        );
    }
}
