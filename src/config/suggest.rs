//! "Did you mean …?" for unknown keys: edit distance, then a prefix/substring rule.

/// The valid key that `unknown` most likely means, if any is close enough.
pub fn closest<'a>(unknown: &str, valid: &[&'a str]) -> Option<&'a str> {
    let lower = unknown.to_ascii_lowercase();
    let by_distance = valid
        .iter()
        .map(|v| (edit_distance(&lower, v), *v))
        .filter(|(d, v)| *d <= threshold(&lower, v))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v);
    by_distance.or_else(|| {
        // `enviroment` → `env`, `restart_policy` → `restart`: the longest valid key that is a
        // prefix or a part of the unknown one (or the other way round), if long enough to mean something.
        valid
            .iter()
            .filter(|v| {
                v.len() >= 3
                    && lower.len() >= 3
                    && (lower.starts_with(*v) || v.starts_with(&lower) || lower.contains(*v))
            })
            .max_by_key(|v| v.len())
            .copied()
    })
}

/// About one typo per three letters of the shorter word, at least one.
fn threshold(a: &str, b: &str) -> usize {
    (a.chars().count().min(b.chars().count()) / 3).max(1)
}

/// Levenshtein distance, counted in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &[&str] = &["command", "url", "args", "env", "env_passthrough", "cwd"];

    #[test]
    fn typos_prefixes_and_nothing_close() {
        assert_eq!(closest("comand", SERVER), Some("command"));
        assert_eq!(closest("Command", SERVER), Some("command"));
        assert_eq!(closest("enviroment", SERVER), Some("env"));
        assert_eq!(closest("arg", SERVER), Some("args"));
        assert_eq!(closest("env_passthru", SERVER), Some("env_passthrough"));
        assert_eq!(closest("timeout", SERVER), None);
        assert_eq!(closest("x", SERVER), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
