//! `${VAR}` expansion in every string value of the file (keys excluded); `$${` stands for a literal `${`.

/// Why a string could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// `${NAME}` names a variable that is not set.
    Unset(String),
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
            let name = &tail[..end];
            if !is_env_name(name) {
                return Err(ExpandError::Malformed {
                    message: format!("`${{{name}}}` is not a valid variable reference"),
                    hint: "variable names are letters, digits and `_`, e.g. `${API_TOKEN}`".into(),
                });
            }
            match env(name) {
                Some(val) => out.push_str(&val),
                None => return Err(ExpandError::Unset(name.to_string())),
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
