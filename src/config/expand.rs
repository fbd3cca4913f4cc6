//! `${VAR}` expansion in every string value of the file (keys excluded), with the POSIX shell's
//! forms: `${VAR:-default}` (unset or empty: the default), `${VAR-default}` (unset only),
//! `${VAR:?message}` (unset or empty: an error with the message), `${VAR?message}` (unset only).
//! `$${` stands for a literal `${`. The default and the message are taken as written (no `}`).

/// Why a string could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` names a variable that is not set.
    Unset(String),
    /// `${NAME:?message}`: the variable is unset (or empty); the message is the user's.
    Required { name: String, message: String },
    /// The reference itself is malformed.
    Malformed { message: String, hint: String },
}

/// Expands every string under `v` (written at `path`) in place; a string that cannot be expanded
/// is left as written and reported with its key path.
pub fn expand_tree(
    path: &str,
    v: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut dyn FnMut(&str, ExpandError),
) {
    match v {
        toml::Value::String(s) if s.contains('$') => match expand_str(s, env) {
            Ok(x) => *s = x,
            Err(e) => report(path, e),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(&format!("{path}[{i}]"), item, env, report);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand_tree(&p, item, env, report);
            }
        }
        _ => {}
    }
}

pub fn expand_str(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Err(ExpandError::Malformed {
                    message: "`${` is not closed".into(),
                    hint: "write `${NAME}`, or `$${` for a literal `${`".into(),
                });
            };
            let inner = &tail[..end];
            let split = inner.find([':', '-', '?']).unwrap_or(inner.len());
            let (name, op) = inner.split_at(split);
            if !is_env_name(name) {
                return Err(ExpandError::Malformed {
                    message: format!("`${{{inner}}}` is not a valid variable reference"),
                    hint: "variable names are letters, digits and `_`, e.g. `${API_TOKEN}`, `${PORT:-8080}`, `${TOKEN:?set TOKEN}`".into(),
                });
            }
            let value = env(name);
            let (empty_counts, op) = match op.strip_prefix(':') {
                Some(rest) => (true, rest),
                None => (false, op),
            };
            let missing = match &value {
                None => true,
                Some(v) => empty_counts && v.is_empty(),
            };
            match (op.chars().next(), missing) {
                (None, _) if empty_counts => {
                    return Err(ExpandError::Malformed {
                        message: format!("`${{{inner}}}` has `:` but no `-` or `?` after it"),
                        hint: "write `${NAME:-default}` or `${NAME:?message}`".into(),
                    })
                }
                (None, true) => return Err(ExpandError::Unset(name.to_string())),
                (Some('-'), true) => out.push_str(&op[1..]),
                (Some('?'), true) => {
                    let message = match &op[1..] {
                        "" => format!("{name} must be set"),
                        m => m.to_string(),
                    };
                    return Err(ExpandError::Required {
                        name: name.to_string(),
                        message,
                    });
                }
                (Some('-' | '?') | None, false) => out.push_str(value.as_deref().unwrap_or("")),
                (Some(_), _) => {
                    return Err(ExpandError::Malformed {
                        message: format!("`${{{inner}}}` is not a valid variable reference"),
                        hint: "write `${NAME}`, `${NAME:-default}` or `${NAME:?message}`".into(),
                    })
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Letters, digits and `_`, not starting with a digit.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn x(s: &str) -> Result<String, ExpandError> {
        expand_str(s, &env)
    }

    #[test]
    fn defaults_and_required_values_behave_as_in_a_posix_shell() {
        assert_eq!(x("${SET:-d}").unwrap(), "value");
        assert_eq!(x("${UNSET:-d}").unwrap(), "d");
        assert_eq!(
            x("${EMPTY:-d}").unwrap(),
            "d",
            ":- also replaces an empty value"
        );
        assert_eq!(x("${EMPTY-d}").unwrap(), "", "- replaces only an unset one");
        assert_eq!(x("${UNSET-d}").unwrap(), "d");
        assert_eq!(
            x("http://${UNSET:-localhost}:${PORT:-8080}/mcp").unwrap(),
            "http://localhost:8080/mcp"
        );
        assert_eq!(x("${SET:?needed}").unwrap(), "value");
        assert_eq!(
            x("${UNSET:?set it in .env}"),
            Err(ExpandError::Required {
                name: "UNSET".into(),
                message: "set it in .env".into()
            })
        );
        assert!(matches!(x("${EMPTY:?}"), Err(ExpandError::Required { .. })));
        assert_eq!(
            x("${EMPTY?}").unwrap(),
            "",
            "? without : accepts an empty value"
        );
        assert_eq!(x("${UNSET}"), Err(ExpandError::Unset("UNSET".into())));
        assert!(matches!(x("${SET:x}"), Err(ExpandError::Malformed { .. })));
        assert!(matches!(x("${SET:}"), Err(ExpandError::Malformed { .. })));
        assert_eq!(x("$${SET}").unwrap(), "${SET}");
    }
}
