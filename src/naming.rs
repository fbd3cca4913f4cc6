//! How upstream names and URIs are namespaced: `<server><sep><name>` and `scheme://<server><sep>rest`.
//!
//! Rules (also in the README):
//! - A tool or prompt is exposed as `<server><sep><name>`. Characters outside `[A-Za-z0-9_.-]`
//!   become `_`. When that changed the name, or the result is longer than the ceiling, the name
//!   is cut to `ceiling - 7` characters and `-` plus six hex digits of a stable hash (FNV-1a of
//!   `server`, NUL, `name`) are appended.
//! - `<server>` above is the server's prefix: its name by default, another string, or none
//!   (`prefix = ""`: names and URIs exposed as the upstream gives them). A `rename` is exposed
//!   exactly as written.
//! - Names are assigned in (place in the file, server, name) order. A name another server took
//!   first is hidden for the later server (not renamed); a name its own server took first gets
//!   `-2`, `-3`, … (cut to fit). So a tenant's names are always unique and the same inputs
//!   always give the same names.
//! - Routing never splits a name: the catalog keeps a map from exposed name to (server, name).
//! - A URI gets the server and separator right after `scheme://` (or `scheme:`), so the scheme is
//!   kept (`ui://x/a.html` → `ui://demo__x/a.html`) and the server is found again from the URI
//!   alone, even for URIs a client builds from a namespaced template. Server names may not contain
//!   the separator nor start or end with `_` or `-`, which makes the first separator after the
//!   scheme the server's end.

use std::collections::HashMap;

/// Namespacing settings of a hub.
#[derive(Clone, Debug)]
pub struct Namer {
    pub sep: String,
    pub max_len: usize,
}

/// One item to name: its server's place in the file (`rank`), its prefix and its own name.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub rank: usize,
    pub server: &'a str,
    pub prefix: &'a str,
    pub name: &'a str,
    /// The exposed name the config gives it, taken as is.
    pub rename: Option<&'a str>,
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

    /// The name before uniqueness is enforced: `<prefix><sep><name>`, or the name alone when
    /// the prefix is empty.
    pub(crate) fn candidate(&self, prefix: &str, name: &str) -> String {
        let clean: String = name
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .collect();
        let full = if prefix.is_empty() {
            clean.clone()
        } else {
            format!("{prefix}{}{clean}", self.sep)
        };
        if clean == name && full.len() <= self.max_len {
            return full;
        }
        let hash = fnv1a(&[prefix, name]);
        format!("{}-{:06x}", cut(&full, self.max_len - 7), hash & 0xff_ffff)
    }

    /// Exposed names for `(server, name)` pairs (each server its own prefix), in the same order
    /// as given. Deterministic for a given set of pairs and never two equal names.
    pub fn assign(&self, pairs: &[(&str, &str)]) -> Vec<String> {
        let items: Vec<Candidate<'_>> = pairs
            .iter()
            .map(|&(server, name)| Candidate {
                rank: 0,
                server,
                prefix: server,
                name,
                rename: None,
            })
            .collect();
        self.assign_ranked(&items)
            .into_iter()
            .map(|r| r.unwrap_or_default())
            .collect()
    }

    /// Exposed names in the same order as given: `Ok(name)`, or `Err(i)` when `items[i]` (of
    /// another server, earlier in the file) keeps the name and this item is hidden.
    ///
    /// Items are taken in (rank, server, name) order. A name taken by another server hides the
    /// later item; a name taken within the same server (two names that clean up alike) gets
    /// `-2`, `-3`, … (cut to fit). A rename is taken as written.
    pub fn assign_ranked(&self, items: &[Candidate<'_>]) -> Vec<Result<String, usize>> {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&items[a], &items[b]);
            (x.rank, x.server, x.name).cmp(&(y.rank, y.server, y.name))
        });
        let mut taken: HashMap<String, usize> = HashMap::with_capacity(items.len());
        let mut out: Vec<Result<String, usize>> = vec![Err(usize::MAX); items.len()];
        for i in order {
            let it = &items[i];
            let base = match it.rename {
                Some(r) => r.to_string(),
                None => self.candidate(it.prefix, it.name),
            };
            if let Some(&w) = taken.get(&base) {
                if items[w].server != it.server {
                    out[i] = Err(w);
                    continue;
                }
            }
            let mut chosen = base.clone();
            let mut n = 2;
            while taken.contains_key(&chosen) {
                let suffix = format!("-{n}");
                chosen = format!("{}{suffix}", cut(&base, self.max_len - suffix.len()));
                n += 1;
            }
            taken.insert(chosen.clone(), i);
            out[i] = Ok(chosen);
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
    /// An empty prefix leaves the URI as it is.
    pub fn namespace_uri(&self, server: &str, uri: &str) -> String {
        if server.is_empty() {
            return uri.to_string();
        }
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
