//! A tenant's merged catalog: every upstream's tools, prompts, resources and templates under
//! their exposed names (prefix, rename, filters and overrides of the tenant's config), the
//! routes back, the collisions that hid a name, the search index, and pagination.
//!
//! Order: tools and prompts sorted by exposed name; resources and templates by the servers'
//! order in the file, then in the order their upstream gave them (URIs often carry a meaningful
//! order). A new catalog is built on every change and swapped in; readers never see a
//! half-built one. It takes over from the previous one what did not change: each server's named
//! tools and prompts ([`named`]), its search segment, and every definition's text ([`Item`]), so
//! a rebuild after one upstream's change shapes that upstream's items only. It knows no
//! sessions and no connections.

mod meta;
mod named;
mod shape;

pub use crate::protocol::ListKind;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::config::{CatalogConfig, CatalogMode, ServerName};
use crate::item::Item;
use crate::naming::Namer;
use crate::upstream::Offer;

pub use meta::{MetaCall, CALL_TOOL, DESCRIBE_TOOL, SEARCH_TOOLS};

/// Where an exposed name leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub server: ServerName,
    /// The upstream's own name.
    pub name: String,
}

/// A name two servers offer: the earlier in the file keeps it, the later one's is hidden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collision {
    /// `tool`, `prompt`, `resource` or `template`.
    pub kind: &'static str,
    /// The exposed name (or URI).
    pub name: String,
    pub kept_by: ServerName,
    pub hidden_from: ServerName,
    /// The hidden item's name at its upstream.
    pub upstream_name: String,
}

/// How the URIs of one server are told apart.
#[derive(Debug, Default)]
struct Uris {
    /// Non-empty prefix → server.
    prefixes: HashMap<String, ServerName>,
    /// Servers without a prefix, in file order; their resources' URIs, and their templates.
    plain: Vec<ServerName>,
    plain_uris: HashMap<String, ServerName>,
    plain_templates: Vec<(String, ServerName)>,
    /// Listed resources the rules or a collision hid: (server, upstream URI), never read.
    hidden: std::collections::HashSet<(ServerName, String)>,
}

impl Collision {
    /// As the admin API and `status` show it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "kind": self.kind,
            "name": self.name,
            "kept_by": self.kept_by.as_str(),
            "hidden_from": self.hidden_from.as_str(),
            "upstream_name": self.upstream_name,
        })
    }

    /// One line for the log.
    pub fn describe(&self) -> String {
        format!(
            "{} `{}` is offered by servers `{}` and `{}`: `{}` (earlier in the file) keeps it, `{}`'s (`{}` upstream) is hidden",
            self.kind, self.name, self.kept_by, self.hidden_from, self.kept_by, self.hidden_from, self.upstream_name
        )
    }
}

/// One upstream's index segment and what it was built from: reused by the next catalog when
/// the upstream's offer, its rules and its exposed tool names are the same.
#[derive(Debug)]
struct IndexedServer {
    server: ServerName,
    offer: Arc<Offer>,
    shape: Option<crate::config::ServerShape>,
    segment: Arc<crate::search::Segment>,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub generation: u64,
    /// Every exposed tool (in search mode, [`Catalog::list`] shows only the pinned ones and the
    /// meta-tools).
    /// Each item shares its upstream's text ([`Item`]): only its name or URI is its own.
    pub tools: Vec<Item>,
    pub prompts: Vec<Item>,
    pub resources: Vec<Item>,
    pub templates: Vec<Item>,
    /// Names hidden because an earlier server took them.
    pub collisions: Vec<Collision>,
    pub mode: CatalogMode,
    /// Search mode: what `tools/list` shows.
    listed: Vec<Item>,
    index: crate::search::Index,
    /// Where each of `tools` (and `prompts`) leads; each server's part is kept by the next
    /// catalog while the server does not change.
    tool_routes: named::Named,
    prompt_routes: named::Named,
    uris: Uris,
    /// Search mode: each upstream's part of the index, reused while its tools do not change.
    segments: Vec<IndexedServer>,
    /// The first unprefixed server and every tool and prompt name it offers (listed or not).
    passthrough: Option<(ServerName, HashSet<String>, HashSet<String>)>,
}

impl Catalog {
    /// Merges the offers of the upstreams that are up, with every server's default naming.
    pub fn build(namer: &Namer, offers: &[(ServerName, Arc<Offer>)], generation: u64) -> Self {
        Self::build_shaped(namer, &CatalogConfig::default(), offers, generation)
    }

    /// Merges the offers of the upstreams that are up, shaped by the tenant's config.
    pub fn build_shaped(
        namer: &Namer,
        cfg: &CatalogConfig,
        offers: &[(ServerName, Arc<Offer>)],
        generation: u64,
    ) -> Self {
        Self::rebuild(namer, cfg, offers, generation, None)
    }

    /// [`Catalog::build_shaped`], reusing the search index of each upstream whose tools did not
    /// change since `prev`: the index work of a change is proportional to the upstreams that
    /// changed.
    pub fn rebuild(
        namer: &Namer,
        cfg: &CatalogConfig,
        offers: &[(ServerName, Arc<Offer>)],
        generation: u64,
        prev: Option<&Catalog>,
    ) -> Self {
        let mut offers: Vec<&(ServerName, Arc<Offer>)> = offers.iter().collect();
        offers.sort_by_key(|(s, _)| (cfg.rank(s.as_str()), s.clone()));
        let mut cat = Catalog {
            generation,
            mode: cfg.mode,
            ..Default::default()
        };
        let mut collisions = Vec::new();
        let (tools, tool_routes) = named::named(
            namer,
            cfg,
            &offers,
            shape::Kind::Tool,
            &mut collisions,
            prev.map(|p| &p.tool_routes),
        );
        let (prompts, prompt_routes) = named::named(
            namer,
            cfg,
            &offers,
            shape::Kind::Prompt,
            &mut collisions,
            prev.map(|p| &p.prompt_routes),
        );
        cat.tools = tools;
        cat.tool_routes = tool_routes;
        cat.prompts = prompts;
        cat.prompt_routes = prompt_routes;
        shape::uris(namer, cfg, &offers, &mut cat, &mut collisions);
        cat.passthrough = offers
            .iter()
            .find(|(s, _)| cfg.prefix(s.as_str()).is_empty())
            .map(|(s, o)| {
                let names = |l: &[Item]| {
                    l.iter()
                        .filter_map(|t| t.key("name").map(|n| n.into_owned()))
                        .collect()
                };
                (s.clone(), names(&o.tools), names(&o.prompts))
            });
        cat.collisions = collisions;
        if cfg.mode == CatalogMode::Search {
            cat.index_by_server(cfg, &offers, prev);
            cat.listed = meta::listed(&cat, cfg, offers.len());
        }
        cat
    }

    pub fn tool(&self, name: &str) -> Option<&Route> {
        self.tool_routes.route(&self.tools, name)
    }

    pub fn prompt(&self, name: &str) -> Option<&Route> {
        self.prompt_routes.route(&self.prompts, name)
    }

    /// Builds the search index from one segment per upstream, reusing `prev`'s where the
    /// upstream's offer, rules and exposed tool names are unchanged.
    fn index_by_server(
        &mut self,
        cfg: &CatalogConfig,
        offers: &[&(ServerName, Arc<Offer>)],
        prev: Option<&Catalog>,
    ) {
        let mut by_server: HashMap<&str, Vec<&Item>> = HashMap::new();
        for (i, t) in self.tools.iter().enumerate() {
            if let Some(r) = self.tool_routes.route_at(i) {
                by_server.entry(r.server.as_str()).or_default().push(t);
            }
        }
        let mut segments = Vec::with_capacity(offers.len());
        for (server, offer) in offers.iter().map(|o| (&o.0, &o.1)) {
            let tools = by_server.remove(server.as_str()).unwrap_or_default();
            let shape = cfg.shape(server.as_str()).cloned();
            let reuse = prev
                .into_iter()
                .flat_map(|p| &p.segments)
                .find(|s| {
                    s.server == *server
                        && Arc::ptr_eq(&s.offer, offer)
                        && s.shape == shape
                        && s.segment.names().len() == tools.len()
                        && s.segment
                            .names()
                            .iter()
                            .zip(&tools)
                            .all(|(n, t)| t.exposed() == Some(n.as_ref()))
                })
                .map(|s| s.segment.clone());
            let segment = reuse.unwrap_or_else(|| {
                // Read in place from each definition's text (no tree is built).
                let texts: Vec<std::borrow::Cow<'_, str>> =
                    tools.iter().map(|t| t.json()).collect();
                Arc::new(crate::search::Segment::build_texts(
                    texts.iter().map(|t| t.as_ref()),
                ))
            });
            segments.push(IndexedServer {
                server: server.clone(),
                offer: offer.clone(),
                shape,
                segment,
            });
        }
        self.index = crate::search::Index::from_segments(
            segments.iter().map(|s| s.segment.clone()).collect(),
        );
        self.segments = segments;
    }

    /// Whether the search index of `server` was taken over from the previous catalog.
    pub fn index_reused(&self, server: &str, prev: &Catalog) -> bool {
        let find = |c: &Catalog| {
            c.segments
                .iter()
                .find(|s| s.server.as_str() == server)
                .map(|s| Arc::as_ptr(&s.segment))
        };
        find(self).is_some() && find(self) == find(prev)
    }

    /// Transparent mode: a tool (or prompt) name that no server exposes and that the first
    /// unprefixed server does not offer goes to that server as it is, so it answers as it would
    /// directly. A name it offers but the rules or a collision hide stays unknown.
    pub fn passthrough(&self, prompt: bool, name: &str) -> Option<&ServerName> {
        let (server, tools, prompts) = self.passthrough.as_ref()?;
        let offered = if prompt { prompts } else { tools };
        (!offered.contains(name)).then_some(server)
    }

    /// An exposed tool's definition.
    pub fn tool_definition(&self, name: &str) -> Option<&Item> {
        self.tools
            .binary_search_by(|t| t.exposed().unwrap_or_default().cmp(name))
            .ok()
            .and_then(|i| self.tools.get(i))
    }

    /// The server an exposed URI belongs to and the upstream's own URI: a resource of an
    /// unprefixed server as listed, a prefixed URI, a URI matching an unprefixed server's
    /// template, and finally the first unprefixed server (which answers for its own URIs).
    pub fn resolve_uri(&self, namer: &Namer, uri: &str) -> Option<(ServerName, String)> {
        self.find_uri(namer, uri)
            .filter(|(s, u)| !self.uris.hidden.contains(&(s.clone(), u.clone())))
    }

    fn find_uri(&self, namer: &Namer, uri: &str) -> Option<(ServerName, String)> {
        if let Some(s) = self.uris.plain_uris.get(uri) {
            return Some((s.clone(), uri.to_string()));
        }
        if let Some((p, original)) = namer.resolve_uri(uri, |p| self.uris.prefixes.contains_key(p))
        {
            return self.uris.prefixes.get(p).map(|s| (s.clone(), original));
        }
        if let Some((_, s)) = self
            .uris
            .plain_templates
            .iter()
            .find(|(t, _)| shape::template_matches(t, uri))
        {
            return Some((s.clone(), uri.to_string()));
        }
        self.uris
            .plain
            .first()
            .map(|s| (s.clone(), uri.to_string()))
    }

    pub fn list(&self, kind: ListKind) -> &[Item] {
        match kind {
            ListKind::Tools if self.mode == CatalogMode::Search => &self.listed,
            ListKind::Tools => &self.tools,
            ListKind::Prompts => &self.prompts,
            ListKind::Resources => &self.resources,
            ListKind::Templates => &self.templates,
        }
    }

    /// One page of a list and the cursor of the next; the cursor is opaque to clients.
    pub fn page(
        &self,
        kind: ListKind,
        cursor: Option<&str>,
        size: usize,
    ) -> Result<(Vec<Value>, Option<String>), String> {
        let (items, next) = self.page_items(kind, cursor, size)?;
        Ok((items.iter().map(Item::value).collect(), next))
    }

    /// [`Catalog::page`] as the catalog's items (shared, not parsed): they serialize as the
    /// JSON a client reads.
    pub fn page_items(
        &self,
        kind: ListKind,
        cursor: Option<&str>,
        size: usize,
    ) -> Result<(&[Item], Option<String>), String> {
        let items = self.list(kind);
        let start = match cursor {
            None => 0,
            Some(c) => {
                let (generation, offset) = decode_cursor(c)
                    .ok_or_else(|| format!("`{c}` is not a cursor this hub gave out"))?;
                // Paging across a change would skip or repeat items: the client starts over.
                if generation != self.generation {
                    return Err(format!(
                        "the list changed since cursor `{c}` was given out; list again without a cursor"
                    ));
                }
                offset
            }
        };
        let start = start.min(items.len());
        let end = (start + size).min(items.len());
        let next = (end < items.len()).then(|| encode_cursor(self.generation, end));
        Ok((&items[start..end], next))
    }
}

fn encode_cursor(generation: u64, offset: usize) -> String {
    format!("g{generation}o{offset}")
}

fn decode_cursor(c: &str) -> Option<(u64, usize)> {
    let rest = c.strip_prefix('g')?;
    let (generation, off) = rest.split_once('o')?;
    Some((generation.parse().ok()?, off.parse().ok()?))
}

#[cfg(test)]
mod shaping_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offer(tools: &[Value]) -> Arc<Offer> {
        Arc::new(Offer {
            tools: Item::list(tools),
            ..Default::default()
        })
    }

    #[test]
    fn tools_are_prefixed_sorted_routed_and_keep_every_field() {
        let namer = Namer::new("__", 64);
        let a = offer(&[
            json!({"name":"zeta","inputSchema":{},"x-extra":"kept","execution":{"taskSupport":"optional"}}),
            json!({"name":"alpha","inputSchema":{}}),
        ]);
        let b = offer(&[
            json!({"name":"alpha","inputSchema":{},"_meta":{"ui":{"resourceUri":"ui://b/app.html","visibility":["app"]},"ui/resourceUri":"ui://b/app.html"}}),
        ]);
        let cat = Catalog::build(
            &namer,
            &[(ServerName::new("a"), a), (ServerName::new("b"), b)],
            1,
        );
        let names: Vec<&str> = cat.tools.iter().map(|t| t.exposed().unwrap()).collect();
        assert_eq!(names, ["a__alpha", "a__zeta", "b__alpha"]);
        let tools: Vec<Value> = cat.tools.iter().map(Item::value).collect();
        assert_eq!(tools[1]["x-extra"], "kept");
        assert_eq!(tools[1]["execution"]["taskSupport"], "optional");
        assert_eq!(tools[2]["_meta"]["ui"]["resourceUri"], "ui://b__b/app.html");
        assert_eq!(tools[2]["_meta"]["ui"]["visibility"], json!(["app"]));
        assert_eq!(tools[2]["_meta"]["ui/resourceUri"], "ui://b__b/app.html");
        assert_eq!(
            cat.tool("b__alpha"),
            Some(&Route {
                server: ServerName::new("b"),
                name: "alpha".into()
            })
        );
        assert_eq!(cat.tool("alpha"), None);
    }

    #[test]
    fn a_rebuild_after_one_change_is_the_catalog_a_fresh_build_gives() {
        let namer = Namer::new("__", 64);
        let cfg: CatalogConfig = {
            let text = "[tenants.t.servers.a]\ncommand = \"x\"\nprefix = \"\"\ntools.rename = { z = \"p\" }\n[tenants.t.servers.b]\ncommand = \"x\"\nprefix = \"\"\n[tenants.t.servers.c]\ncommand = \"x\"\n";
            let c = crate::config::HubConfig::from_str_at(
                text,
                std::path::Path::new("hub.toml"),
                &|_| None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            c.tenants["t"].catalog.clone()
        };
        let t = |n: &str| json!({"name": n, "inputSchema": {}});
        // `z` is renamed onto `p` (a suffix within `a`); `b` collides with `a` on `p`.
        let a = offer(&[t("p"), t("z"), t("x_y")]);
        let b = offer(&[t("p"), t("q")]);
        let c = offer(&[t("r")]);
        let s = |n: &str| ServerName::new(n);
        let before = vec![(s("a"), a.clone()), (s("b"), b), (s("c"), c.clone())];
        let first = Catalog::rebuild(&namer, &cfg, &before, 1, None);
        for b2 in [
            offer(&[t("p"), t("q"), t("new")]),
            offer(&[t("p-2"), t("q")]),
            offer(&[t("x_y")]),
        ] {
            let after = vec![(s("a"), a.clone()), (s("b"), b2), (s("c"), c.clone())];
            let reused = Catalog::rebuild(&namer, &cfg, &after, 2, Some(&first));
            let fresh = Catalog::rebuild(&namer, &cfg, &after, 2, None);
            assert_eq!(reused.tools, fresh.tools);
            assert_eq!(reused.collisions, fresh.collisions);
            for t in &fresh.tools {
                let n = t.exposed().unwrap();
                assert_eq!(reused.tool(n), fresh.tool(n), "{n}");
            }
        }
        let names: Vec<&str> = first.tools.iter().map(|t| t.exposed().unwrap()).collect();
        assert_eq!(names, ["c__r", "p", "p-2", "q", "x_y"]);
        assert_eq!(first.collisions.len(), 1);
        assert_eq!(first.tool("p").unwrap().server.as_str(), "a");
    }

    #[test]
    fn pages_cover_the_list_exactly_once() {
        let namer = Namer::new("__", 64);
        let tools: Vec<Value> = (0..25)
            .map(|i| json!({"name": format!("t{i:02}")}))
            .collect();
        let cat = Catalog::build(&namer, &[(ServerName::new("s"), offer(&tools))], 7);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = cat.page(ListKind::Tools, cursor.as_deref(), 10).unwrap();
            seen.extend(
                page.into_iter()
                    .map(|t| t["name"].as_str().unwrap().to_string()),
            );
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        assert_eq!(seen[0], "s__t00");
        assert!(cat.page(ListKind::Tools, Some("bogus"), 10).is_err());
    }

    #[test]
    fn a_cursor_from_before_a_change_is_refused_instead_of_skipping_items() {
        let namer = Namer::new("__", 64);
        let tools: Vec<Value> = (0..30)
            .map(|i| json!({"name": format!("t{i:02}")}))
            .collect();
        let before = Catalog::build(&namer, &[(ServerName::new("s"), offer(&tools))], 1);
        let (_, next) = before.page(ListKind::Tools, None, 10).unwrap();
        let next = next.unwrap();
        let after = Catalog::build(&namer, &[(ServerName::new("s"), offer(&tools[5..]))], 2);
        let e = after.page(ListKind::Tools, Some(&next), 10).unwrap_err();
        assert!(e.contains("list again"), "{e}");
        assert!(before.page(ListKind::Tools, Some(&next), 10).is_ok());
    }
}
