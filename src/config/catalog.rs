//! How a tenant's catalog is shaped: each server's `prefix`, `tools` / `prompts` / `resources`
//! rules (allow, deny, rename, overrides), the tenant-wide filters and `[tenants.<t>.catalog]`
//! (mode, pinned tools). Checked here with key paths; applied by `crate::catalog` (knows no
//! upstream: collisions that depend on what upstreams offer are found at run time).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::raw::{RawAnnotations, RawPatterns, RawServer, RawTenant};
use super::validate::Collector;
use super::{HubSettings, ServerName};

/// `[tenants.<t>.catalog] mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CatalogMode {
    /// `tools/list` lists every tool.
    #[default]
    Full,
    /// `tools/list` lists the pinned tools and three meta-tools (search, describe, call).
    Search,
}

/// Glob patterns: `*` (any run of characters) and `?` (one character); deny wins over allow,
/// and an empty allow list allows everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Patterns {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Whether `name` passes: not denied, and allowed (or no allow list).
    pub fn admits(&self, name: &str) -> bool {
        !self.deny.iter().any(|p| glob(p, name))
            && (self.allow.is_empty() || self.allow.iter().any(|p| glob(p, name)))
    }
}

/// `*` matches any run of characters (also none), `?` one character; the rest literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Overrides of one tool's fields; annotations are merged key by key into the upstream's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolOverride {
    pub description: Option<String>,
    pub title: Option<String>,
    pub annotations: Map<String, Value>,
}

/// One kind's rules for one server, over the upstream's own names (URIs for resources).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub filter: Patterns,
    /// Upstream name → exposed name (taken as is: no prefix is added).
    pub rename: BTreeMap<String, String>,
    pub overrides: BTreeMap<String, ToolOverride>,
}

/// How one server's items are exposed.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerShape {
    pub server: ServerName,
    /// `""`: names and URIs are exposed unchanged.
    pub prefix: String,
    pub tools: Rules,
    pub prompts: Rules,
    pub resources: Rules,
}

/// The shape of a tenant's catalog.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CatalogConfig {
    pub mode: CatalogMode,
    /// Exposed tool names always listed in search mode.
    pub pinned: Vec<String>,
    /// Tenant-wide filters over exposed names (exposed URIs for resources).
    pub tools: Patterns,
    pub prompts: Patterns,
    pub resources: Patterns,
    /// Every server of the tenant, in the order of the file (the earlier keeps a contested name).
    pub servers: Vec<ServerShape>,
}

impl CatalogConfig {
    pub fn shape(&self, server: &str) -> Option<&ServerShape> {
        self.servers.iter().find(|s| s.server.as_str() == server)
    }

    /// The prefix of `server`'s names and URIs: its own name unless the config says otherwise.
    pub fn prefix<'a>(&'a self, server: &'a str) -> &'a str {
        self.shape(server).map_or(server, |s| s.prefix.as_str())
    }

    /// The position of `server` in the file (unknown servers last).
    pub fn rank(&self, server: &str) -> usize {
        self.servers
            .iter()
            .position(|s| s.server.as_str() == server)
            .unwrap_or(usize::MAX)
    }
}

fn patterns(c: &mut Collector, path: &str, allow: &[String], deny: &[String]) -> Patterns {
    for (key, list) in [("allow", allow), ("deny", deny)] {
        for (i, p) in list.iter().enumerate() {
            if p.is_empty() {
                c.push(
                    format!("{path}.{key}[{i}]"),
                    "is empty",
                    Some("write a name or a glob pattern, e.g. `get_*`"),
                );
            }
        }
    }
    Patterns {
        allow: allow.to_vec(),
        deny: deny.to_vec(),
    }
}

fn raw_patterns(c: &mut Collector, path: &str, r: Option<&RawPatterns>) -> Patterns {
    r.map(|r| patterns(c, path, &r.allow, &r.deny))
        .unwrap_or_default()
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'))
}

fn renames(
    c: &mut Collector,
    path: &str,
    rename: &BTreeMap<String, String>,
    hub: &HubSettings,
) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (from, to) in rename {
        let p = format!("{path}.rename.{from}");
        if !name_ok(to) || to.len() > hub.max_name_length {
            c.push(
                &p,
                format!("`{to}` is not a valid exposed name"),
                Some(&format!(
                    "use 1 to {} of `A-Z a-z 0-9 _ . -`",
                    hub.max_name_length
                )),
            );
        } else if let Some(other) = seen.insert(to, from) {
            c.push(
                &p,
                format!("renames onto `{to}`, as `{other}` does"),
                Some("give each tool its own exposed name"),
            );
        }
    }
    rename.clone()
}

fn annotations(a: &RawAnnotations) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(t) = &a.title {
        m.insert("title".into(), Value::from(t.clone()));
    }
    for (k, v) in [
        ("readOnlyHint", a.read_only_hint),
        ("destructiveHint", a.destructive_hint),
        ("idempotentHint", a.idempotent_hint),
        ("openWorldHint", a.open_world_hint),
    ] {
        if let Some(b) = v {
            m.insert(k.into(), Value::from(b));
        }
    }
    m
}

/// The shape of one server, from its table.
pub(super) fn server_shape(
    c: &mut Collector,
    spath: &str,
    sname: &str,
    rs: &RawServer,
    hub: &HubSettings,
) -> ServerShape {
    let prefix = match &rs.prefix {
        None => sname.to_string(),
        Some(p) if p.is_empty() => String::new(),
        Some(p) => {
            let ok = p.len() <= 32
                && p.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
                && !p.starts_with(['_', '-'])
                && !p.ends_with(['_', '-'])
                && !p.contains(hub.separator.as_str());
            if !ok {
                c.push(
                    format!("{spath}.prefix"),
                    format!("`{p}` is not a valid prefix"),
                    Some(&format!(
                        "use 1 to 32 of `A-Z a-z 0-9 _ -`, not starting or ending with `_` or `-` and without the separator `{}`, or `\"\"` for no prefix",
                        hub.separator
                    )),
                );
            }
            p.clone()
        }
    };
    let tools = rs.tools.clone().unwrap_or_default();
    let tpath = format!("{spath}.tools");
    let mut overrides = BTreeMap::new();
    for (name, o) in &tools.overrides {
        if o.description.is_none() && o.title.is_none() && o.annotations.is_none() {
            c.push(
                format!("{tpath}.overrides.{name}"),
                "overrides nothing",
                Some("set `description`, `title` or `annotations`, or remove the table"),
            );
        }
        overrides.insert(
            name.clone(),
            ToolOverride {
                description: o.description.clone(),
                title: o.title.clone(),
                annotations: o.annotations.as_ref().map(annotations).unwrap_or_default(),
            },
        );
    }
    let prompts = rs.prompts.clone().unwrap_or_default();
    let ppath = format!("{spath}.prompts");
    ServerShape {
        server: ServerName::new(sname),
        prefix,
        tools: Rules {
            filter: patterns(c, &tpath, &tools.allow, &tools.deny),
            rename: renames(c, &tpath, &tools.rename, hub),
            overrides,
        },
        prompts: Rules {
            filter: patterns(c, &ppath, &prompts.allow, &prompts.deny),
            rename: renames(c, &ppath, &prompts.rename, hub),
            overrides: BTreeMap::new(),
        },
        resources: Rules {
            filter: raw_patterns(c, &format!("{spath}.resources"), rs.resources.as_ref()),
            ..Rules::default()
        },
    }
}

/// The tenant's catalog settings; `servers` in file order. Collisions decidable from the
/// config alone are reported here: two servers with the same prefix (an error: their URIs
/// could not be told apart), two unprefixed servers and renames onto another rule's names
/// (warnings: the earlier server keeps a contested name).
pub(super) fn tenant_catalog(
    c: &mut Collector,
    tpath: &str,
    rt: &RawTenant,
    servers: Vec<ServerShape>,
    hub: &HubSettings,
) -> CatalogConfig {
    let raw = rt.catalog.clone().unwrap_or_default();
    let mode = match raw.mode.as_deref() {
        None | Some("full") => CatalogMode::Full,
        Some("search") => CatalogMode::Search,
        Some(o) => {
            c.push(
                format!("{tpath}.catalog.mode"),
                format!("`{o}` is not a catalog mode"),
                Some(
                    "use `full` (list every tool) or `search` (pinned tools and search meta-tools)",
                ),
            );
            CatalogMode::Full
        }
    };
    for (i, p) in raw.pinned.iter().enumerate() {
        if !name_ok(p) {
            c.push(
                format!("{tpath}.catalog.pinned[{i}]"),
                format!("`{p}` is not an exposed tool name"),
                Some("write exposed names as clients see them, e.g. `github__create_issue`"),
            );
        }
    }
    if mode == CatalogMode::Full && !raw.pinned.is_empty() {
        c.warn(
            format!("{tpath}.catalog.pinned"),
            "only applies in search mode; every tool is listed in full mode",
            Some("set `mode = \"search\"`, or remove `pinned`"),
        );
    }
    let spath = |s: &ServerShape| format!("{tpath}.servers.{}", s.server);
    for (i, a) in servers.iter().enumerate() {
        for b in &servers[i + 1..] {
            if a.prefix == b.prefix && a.prefix.is_empty() {
                c.warn(
                    format!("{}.prefix", spath(b)),
                    format!(
                        "servers `{}` and `{}` both have no prefix: a name both offer is kept by `{}` (earlier in the file) and hidden from `{}`",
                        a.server, b.server, a.server, b.server
                    ),
                    Some("give one of them a prefix, or rename or deny the names they share"),
                );
            } else if a.prefix == b.prefix {
                c.push(
                    format!("{}.prefix", spath(b)),
                    format!(
                        "servers `{}` and `{}` have the same prefix `{}`",
                        a.server, b.server, a.prefix
                    ),
                    Some("give each server its own prefix (its URIs must name it)"),
                );
            }
        }
    }
    // A rename onto a name another server's rule produces.
    for (i, a) in servers.iter().enumerate() {
        for (kind, rules) in [("tools", &a.tools), ("prompts", &a.prompts)] {
            for (from, to) in &rules.rename {
                for (j, b) in servers.iter().enumerate() {
                    if i == j {
                        continue;
                    }
                    let other = if kind == "tools" {
                        &b.tools
                    } else {
                        &b.prompts
                    };
                    let onto_rename = other.rename.values().any(|t| t == to);
                    let onto_prefix = !b.prefix.is_empty()
                        && to.starts_with(&format!("{}{}", b.prefix, hub.separator));
                    if (onto_rename && i > j) || onto_prefix {
                        let (kept, hidden) = if i < j { (a, b) } else { (b, a) };
                        c.warn(
                            format!("{}.{kind}.rename.{from}", spath(a)),
                            format!(
                                "`{to}` may also be a name of server `{}`: `{}` (earlier in the file) keeps it and `{}`'s is hidden",
                                b.server, kept.server, hidden.server
                            ),
                            Some("rename onto a name no other server exposes"),
                        );
                    }
                }
            }
        }
    }
    CatalogConfig {
        mode,
        pinned: raw.pinned,
        tools: raw_patterns(c, &format!("{tpath}.tools"), rt.tools.as_ref()),
        prompts: raw_patterns(c, &format!("{tpath}.prompts"), rt.prompts.as_ref()),
        resources: raw_patterns(c, &format!("{tpath}.resources"), rt.resources.as_ref()),
        servers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_stars_and_question_marks() {
        for (p, t, want) in [
            ("*", "", true),
            ("get_*", "get_time", true),
            ("get_*", "set_time", false),
            ("*_time", "get_time", true),
            ("g?t", "get", true),
            ("g?t", "gt", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("test://static/*", "test://static/resource/1", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn deny_wins_and_an_empty_allow_list_allows_all() {
        let p = Patterns {
            allow: vec!["get_*".into()],
            deny: vec!["get_secret".into()],
        };
        assert!(p.admits("get_time"));
        assert!(!p.admits("get_secret"));
        assert!(!p.admits("delete"));
        assert!(Patterns::default().admits("anything"));
    }
}
