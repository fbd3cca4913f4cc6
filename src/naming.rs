//! How upstream names and URIs are namespaced: `<server><sep><name>` and `scheme://<server><sep>rest`.
//!
//! Rules (also in the README):
//! - A tool or prompt is exposed as `<server><sep><name>`. Characters outside `[A-Za-z0-9_.-]`
//!   become `_`. When that changed the name, or the result is longer than the ceiling, the name
//!   is cut to `ceiling - 7` characters and `-` plus six hex digits of a stable hash (FNV-1a of
//!   `server`, NUL, `name`) are appended.
//! - Names are assigned in (server, name) order; a name already taken gets `-2`, `-3`, … (cut to
//!   fit), so a tenant's names are always unique and the same set of inputs always gives the same
//!   names.
//! - Routing never splits a name: the catalog keeps a map from exposed name to (server, name).
//! - A URI gets the server and separator right after `scheme://` (or `scheme:`), so the scheme is
//!   kept (`ui://x/a.html` → `ui://demo__x/a.html`) and the server is found again from the URI
//!   alone, even for URIs a client builds from a namespaced template. Server names may not contain
//!   the separator nor start or end with `_` or `-`, which makes the first separator after the
//!   scheme the server's end.

use std::collections::HashSet;

/// Namespacing settings of a hub.
#[derive(Clone, Debug)]
pub struct Namer {
    pub sep: String,
    pub max_len: usize,
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// FNV-1a, 64 bit: stable across runs, platforms and versions.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn cut(s: &str, n: usize) -> &str {
    // Names are ASCII after sanitizing, so byte cuts are char cuts.
    &s[..s.len().min(n)]
}

impl Namer {
    pub fn new(sep: &str, max_len: usize) -> Self {
        Self {
            sep: sep.to_string(),
            max_len,
        }
    }

    /// The name before uniqueness is enforced.
    fn candidate(&self, server: &str, name: &str) -> String {
        let clean: String = name
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .collect();
        let full = format!("{server}{}{clean}", self.sep);
        if clean == name && full.len() <= self.max_len {
            return full;
        }
        let hash = fnv1a(&[server, name]);
        format!("{}-{:06x}", cut(&full, self.max_len - 7), hash & 0xff_ffff)
    }

    /// Exposed names for `(server, name)` pairs, in the same order as given.
    /// Deterministic for a given set of pairs and never two equal names.
    pub fn assign(&self, pairs: &[(&str, &str)]) -> Vec<String> {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by(|&a, &b| pairs[a].cmp(&pairs[b]));
        let mut taken = HashSet::with_capacity(pairs.len());
        let mut out = vec![String::new(); pairs.len()];
        for i in order {
            let (server, name) = pairs[i];
            let base = self.candidate(server, name);
            let mut chosen = base.clone();
            let mut n = 2;
            while taken.contains(&chosen) {
                let suffix = format!("-{n}");
                chosen = format!("{}{suffix}", cut(&base, self.max_len - suffix.len()));
                n += 1;
            }
            taken.insert(chosen.clone());
            out[i] = chosen;
        }
        out
    }

    /// An opaque id (a task id) namespaced without any rewriting: `<server><sep><id>`.
    pub fn namespace_name(&self, server: &str, id: &str) -> String {
        format!("{server}{}{id}", self.sep)
    }

    /// The server and upstream id of a namespaced opaque id.
    pub fn resolve_name<'a>(
        &self,
        name: &'a str,
        is_server: impl Fn(&str) -> bool,
    ) -> Option<(&'a str, &'a str)> {
        let (server, id) = name.split_once(self.sep.as_str())?;
        is_server(server).then_some((server, id))
    }

    /// `test://static/x` → `test://<server><sep>static/x`; `urn:a` → `urn:<server><sep>a`.
    pub fn namespace_uri(&self, server: &str, uri: &str) -> String {
        match split_scheme(uri) {
            Some((head, rest)) => format!("{head}{server}{}{rest}", self.sep),
            None => format!("{server}{}{uri}", self.sep),
        }
    }

    /// The server a namespaced URI belongs to and the upstream's own URI; `None` when the URI
    /// is not namespaced or `is_server` does not know the server.
    pub fn resolve_uri<'a>(
        &self,
        uri: &'a str,
        is_server: impl Fn(&str) -> bool,
    ) -> Option<(&'a str, String)> {
        // A URI without a valid scheme was namespaced as `<server><sep><uri>`; with a separator
        // of `.` or `-` that can itself look like a scheme (`srv.1:x`), so when reading it as
        // `scheme:` finds no server, it is read again as scheme-less.
        let split = |head: &'a str, rest: &'a str| {
            let i = rest.find(self.sep.as_str())?;
            let server = &rest[..i];
            if server.is_empty() || !is_server(server) {
                return None;
            }
            Some((server, format!("{head}{}", &rest[i + self.sep.len()..])))
        };
        match split_scheme(uri) {
            Some((head, rest)) => split(head, rest).or_else(|| split("", uri)),
            None => split("", uri),
        }
    }
}

/// Splits `scheme://` or `scheme:` off a URI.
fn split_scheme(uri: &str) -> Option<(&str, &str)> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    let mut chars = scheme.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return None;
    }
    let head_len = if uri[colon..].starts_with("://") {
        colon + 3
    } else {
        colon + 1
    };
    Some((&uri[..head_len], &uri[head_len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namer() -> Namer {
        Namer::new("__", 64)
    }

    #[test]
    fn plain_names_are_prefixed() {
        let n = namer();
        assert_eq!(
            n.assign(&[("github", "create_issue")]),
            vec!["github__create_issue"]
        );
        assert_eq!(
            Namer::new(".", 64).assign(&[("postgres", "query")]),
            vec!["postgres.query"]
        );
    }

    #[test]
    fn a_tool_name_containing_the_separator_is_kept_and_routed_by_map() {
        assert_eq!(
            namer().assign(&[("fault", "weird__name")]),
            vec!["fault__weird__name"]
        );
    }

    #[test]
    fn long_names_are_cut_with_a_stable_hash_and_stay_within_the_ceiling() {
        let long = "x".repeat(100);
        let a = namer().assign(&[("srv", &long)]);
        assert_eq!(a[0].len(), 64);
        assert!(a[0].starts_with("srv__xxx"));
        assert_eq!(a, namer().assign(&[("srv", &long)]), "deterministic");
        let other = format!("{}y", "x".repeat(99));
        let b = namer().assign(&[("srv", &long), ("srv", &other)]);
        assert_ne!(b[0], b[1]);
    }

    #[test]
    fn illegal_characters_are_replaced_and_marked_by_hash() {
        let a = namer().assign(&[("s", "a b"), ("s", "a_b")]);
        assert_eq!(a[1], "s__a_b");
        assert!(
            a[0].starts_with("s__a_b-") && a[0].len() == "s__a_b-".len() + 6,
            "{}",
            a[0]
        );
        assert!(a[0].chars().all(allowed));
    }

    #[test]
    fn names_are_unique_even_when_candidates_collide() {
        // Craft a collision: a natural name equal to another's hashed candidate.
        let hashed = namer().candidate("s", "a b");
        let natural = hashed.trim_start_matches("s__").to_string();
        let a = namer().assign(&[("s", "a b"), ("s", &natural)]);
        assert_ne!(a[0], a[1]);
        assert!(a.iter().all(|x| x.len() <= 64));
    }

    #[test]
    fn assignment_does_not_depend_on_input_order() {
        let x = namer().assign(&[("b", "t"), ("a", "t")]);
        let y = namer().assign(&[("a", "t"), ("b", "t")]);
        assert_eq!(
            (x[0].as_str(), x[1].as_str()),
            (y[1].as_str(), y[0].as_str())
        );
    }

    #[test]
    fn uris_keep_their_scheme_and_round_trip() {
        let n = namer();
        let cases = [
            (
                "ui://demo/dashboard.html",
                "ui://everything__demo/dashboard.html",
            ),
            (
                "test://static/resource/1",
                "test://everything__static/resource/1",
            ),
            ("file:///tmp/a.txt", "file://everything__/tmp/a.txt"),
            ("urn:isbn:123", "urn:everything__isbn:123"),
            ("demo://items/{id}", "demo://everything__items/{id}"),
            ("relative/path", "everything__relative/path"),
        ];
        for (orig, ns) in cases {
            assert_eq!(n.namespace_uri("everything", orig), ns);
            assert_eq!(
                n.resolve_uri(ns, |s| s == "everything"),
                Some(("everything", orig.to_string()))
            );
        }
    }

    #[test]
    fn unknown_servers_and_plain_uris_do_not_resolve() {
        let n = namer();
        assert_eq!(
            n.resolve_uri("test://static/resource/1", |s| s == "everything"),
            None
        );
        assert_eq!(
            n.resolve_uri("test://other__x", |s| s == "everything"),
            None
        );
    }

    #[test]
    fn dot_separator_uris_round_trip() {
        let n = Namer::new(".", 64);
        let ns = n.namespace_uri("pg", "postgres://db/table");
        assert_eq!(ns, "postgres://pg.db/table");
        assert_eq!(
            n.resolve_uri(&ns, |s| s == "pg"),
            Some(("pg", "postgres://db/table".into()))
        );
    }
}
