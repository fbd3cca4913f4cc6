//! Checks a TOML value against a `Shape` before serde sees it: every type error and unknown key, each with an example fix.
//!
//! Misfitting keys are removed from their table, so the rest deserializes and is validated too.

use super::shape::Shape;
use super::spans::Target;
use super::suggest;

/// One misfit, with its key path.
#[derive(Debug)]
pub struct Misfit {
    pub path: String,
    pub message: String,
    pub hint: String,
    pub target: Target,
}

/// Checks `value` (written at `path`) against `shape`; `false` when the value itself does not
/// fit (its table should drop it). Misfitting keys inside tables are removed.
pub fn check(shape: &Shape, path: &str, value: &mut toml::Value, out: &mut Vec<Misfit>) -> bool {
    use toml::Value as V;
    let fits = match (shape, &mut *value) {
        (Shape::Any, _)
        | (Shape::Str | Shape::Duration, V::String(_))
        | (Shape::Int, V::Integer(_))
        | (Shape::Bool, V::Boolean(_)) => true,
        (Shape::Seq(elem), V::Array(items)) => {
            let mut all = true;
            for (i, item) in items.iter_mut().enumerate() {
                all &= check(elem, &format!("{path}[{i}]"), item, out);
            }
            return all;
        }
        (Shape::Map(inner), V::Table(t)) => {
            t.retain(|k, v| check(inner, &join(path, k), v, out));
            return true;
        }
        (Shape::Struct(fields), V::Table(t)) => {
            t.retain(
                |k, v| match fields.iter().find(|(f, _)| <str as PartialEq>::eq(f, k)) {
                    Some((_, s)) => check(s, &join(path, k), v, out),
                    None => {
                        out.push(unknown(&join(path, k), k, shape));
                        false
                    }
                },
            );
            return true;
        }
        _ => false,
    };
    if !fits {
        out.push(Misfit {
            path: path.to_string(),
            message: format!("expected {}, found {}", expected(shape), found(value)),
            hint: hint(shape, key_of(path), value),
            target: Target::Value,
        });
    }
    fits
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn unknown(path: &str, key: &str, shape: &Shape) -> Misfit {
    let fields = shape.fields();
    let hint = match suggest::closest(key, &fields) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!(
            "valid keys here: {}",
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Misfit {
        path: path.to_string(),
        message: "unknown key".into(),
        hint,
        target: Target::Key,
    }
}

/// The key a value is assigned to, or `None` for an array element.
fn key_of(path: &str) -> Option<&str> {
    if path.ends_with(']') {
        return None;
    }
    Some(path.rsplit('.').next().unwrap_or(path))
}

fn expected(shape: &Shape) -> &'static str {
    match shape {
        Shape::Str => "a string",
        Shape::Duration => "a duration string",
        Shape::Int => "an integer",
        Shape::Bool => "a boolean",
        Shape::Seq(e) if **e == Shape::Str => "an array of strings",
        Shape::Seq(_) => "an array",
        Shape::Map(v) if **v == Shape::Str => "a table of strings",
        Shape::Map(_) | Shape::Struct(_) => "a table",
        Shape::Any => "a value",
    }
}

fn found(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// `key = value`, or just `value` for an array element.
fn assign(key: Option<&str>, value: &str) -> String {
    match key {
        Some(k) => format!("{k} = {value}"),
        None => value.to_string(),
    }
}

/// `s` as a TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How to write it right, with the user's own value where it helps.
fn hint(shape: &Shape, key: Option<&str>, v: &toml::Value) -> String {
    use toml::Value as V;
    let scalar = match v {
        V::Integer(n) => Some(n.to_string()),
        V::Float(x) => Some(x.to_string()),
        V::Boolean(b) => Some(b.to_string()),
        V::Datetime(d) => Some(d.to_string()),
        _ => None,
    };
    match shape {
        Shape::Seq(_) => match (v, &scalar) {
            (V::String(s), _) => {
                let items: Vec<String> = s.split_whitespace().map(quote).collect();
                format!(
                    "write a list: {}",
                    assign(key, &format!("[{}]", items.join(", ")))
                )
            }
            (_, Some(x)) => format!("write a list: {}", assign(key, &format!("[{}]", quote(x)))),
            _ => format!(
                "write a list of strings, e.g. {}",
                assign(key, r#"["a", "b"]"#)
            ),
        },
        Shape::Duration => {
            let example = match v {
                V::Integer(n) if *n > 0 => format!("\"{n}s\""),
                V::Float(x) if *x > 0.0 => format!("\"{}ms\"", (x * 1000.0).round()),
                _ => "\"30s\"".into(),
            };
            format!("write it with a unit, e.g. {}", assign(key, &example))
        }
        Shape::Str => match (v, &scalar) {
            (_, Some(x)) => format!("put it in quotes: {}", assign(key, &quote(x))),
            (V::Array(items), _) if items.len() == 1 && items[0].is_str() => format!(
                "write a single string: {}",
                assign(key, &quote(items[0].as_str().unwrap_or_default()))
            ),
            _ => format!("write a single string, e.g. {}", assign(key, "\"...\"")),
        },
        Shape::Int => match v {
            V::String(s) if s.trim().parse::<i64>().is_ok() => {
                format!("remove the quotes: {}", assign(key, s.trim()))
            }
            V::Float(x) => format!(
                "write a whole number: {}",
                assign(key, &format!("{}", x.round()))
            ),
            _ => format!("write a whole number, e.g. {}", assign(key, "10")),
        },
        Shape::Bool => match v {
            V::String(s) if matches!(s.to_ascii_lowercase().as_str(), "true" | "false") => {
                format!(
                    "remove the quotes: {}",
                    assign(key, &s.to_ascii_lowercase())
                )
            }
            V::Integer(n @ (0 | 1)) => {
                format!("write a boolean: {}", assign(key, &(*n == 1).to_string()))
            }
            V::String(s)
                if matches!(s.to_ascii_lowercase().as_str(), "yes" | "on" | "no" | "off") =>
            {
                let b = matches!(s.to_ascii_lowercase().as_str(), "yes" | "on");
                format!("write a boolean: {}", assign(key, &b.to_string()))
            }
            _ => format!("write {} or {}", assign(key, "true"), assign(key, "false")),
        },
        Shape::Map(_) => format!(
            "write a table of names and strings, e.g. {}",
            assign(key, r#"{ NAME = "value" }"#)
        ),
        Shape::Struct(fields) => {
            let example = fields
                .first()
                .map(|(f, s)| format!("{{ {f} = {} }}", example(s)))
                .unwrap_or_else(|| "{ }".into());
            format!("write a table, e.g. {}", assign(key, &example))
        }
        Shape::Any => "check the README's config reference".into(),
    }
}

fn example(shape: &Shape) -> &'static str {
    match shape {
        Shape::Str | Shape::Any => "\"...\"",
        Shape::Duration => "\"30s\"",
        Shape::Int => "1",
        Shape::Bool => "true",
        Shape::Seq(_) => "[]",
        Shape::Map(_) | Shape::Struct(_) => "{ }",
    }
}
