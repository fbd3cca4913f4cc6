//! Tools or prompts under their exposed names, built per server and merged: each server's items
//! are named and shaped on their own ([`Part`]) and the next catalog keeps a part while the
//! server's offer, rules and the naming settings are the same, so a rebuild after one upstream's
//! change shapes that upstream's items only; the merge then walks names (no parse, no copy of a
//! definition). The earlier server in the file keeps a name two servers expose; when that
//! meets a name a server had to suffix (`-2`), or the tenant filters exposed names, the whole
//! list is named at once, exactly as before (see [`whole`]).

use std::sync::Arc;

use super::shape::{expose, rules, Kind, Offers};
use super::{Collision, Route};
use crate::config::{CatalogConfig, ServerName, ServerShape};
use crate::item::Item;
use crate::naming::{Candidate, Namer};
use crate::upstream::Offer;

/// One server's items, named as if it were alone, in the upstream's order.
#[derive(Debug)]
pub(super) struct Part {
    server: ServerName,
    /// What it was built from (`None`: a whole list, never reused).
    source: Option<(Arc<Offer>, Option<ServerShape>, String, usize)>,
    entries: Vec<(Item, Route)>,
    /// The entries by exposed name (the merge then joins sorted runs).
    order: Vec<u32>,
    /// A name took a suffix within the server (its names depend on who else took what).
    suffixed: bool,
}

/// Where each item of a merged list (sorted by exposed name, kept beside this) came from.
#[derive(Debug, Default)]
pub(super) struct Named {
    /// For each item: its part and its entry there.
    at: Vec<(u32, u32)>,
    parts: Vec<Arc<Part>>,
}

impl Named {
    /// Where an exposed name of `items` (the list this was built with) leads.
    pub fn route(&self, items: &[Item], name: &str) -> Option<&Route> {
        let i = items
            .binary_search_by(|t| t.exposed().unwrap_or_default().cmp(name))
            .ok()?;
        self.route_at(i)
    }

    /// The route of the `i`-th item.
    pub fn route_at(&self, i: usize) -> Option<&Route> {
        let (p, e) = *self.at.get(i)?;
        Some(&self.parts.get(p as usize)?.entries.get(e as usize)?.1)
    }
}

fn list(offer: &Offer, kind: Kind) -> &[Item] {
    match kind {
        Kind::Tool => &offer.tools,
        Kind::Prompt => &offer.prompts,
    }
}

fn kind_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Tool => "tool",
        Kind::Prompt => "prompt",
    }
}

impl Part {
    fn build(
        namer: &Namer,
        cfg: &CatalogConfig,
        server: &ServerName,
        offer: &Arc<Offer>,
        kind: Kind,
    ) -> Part {
        let (prefix, r) = rules(cfg, server.as_str(), kind);
        let items = list(offer, kind);
        let names: Vec<Option<std::borrow::Cow<'_, str>>> =
            items.iter().map(|i| i.key("name")).collect();
        let mut admitted: Vec<(Candidate<'_>, &Item)> = Vec::with_capacity(items.len());
        for (item, name) in items.iter().zip(&names) {
            let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else {
                tracing::warn!(server = %server, "upstream listed an item without a name; skipped");
                continue;
            };
            if r.is_some_and(|r| !r.filter.admits(name)) {
                continue;
            }
            let c = Candidate {
                rank: 0,
                server: server.as_str(),
                prefix,
                name,
                rename: r.and_then(|r| r.rename.get(name)).map(String::as_str),
            };
            admitted.push((c, item));
        }
        let cands: Vec<Candidate<'_>> = admitted.iter().map(|a| a.0).collect();
        let exposed = namer.assign_ranked(&cands);
        let mut suffixed = false;
        let mut entries = Vec::with_capacity(admitted.len());
        for ((c, item), n) in admitted.iter().zip(exposed) {
            // Alone, a server's names never collide with another's: every one is `Ok`.
            let Ok(n) = n else { continue };
            let base = match c.rename {
                Some(r) => r.to_string(),
                None => namer.candidate(c.prefix, c.name),
            };
            suffixed |= base != n;
            let overrides = r.and_then(|r| r.overrides.get(c.name));
            if let Some(v) = expose(namer, kind, c.prefix, overrides, item, &n) {
                let route = Route {
                    server: server.clone(),
                    name: c.name.to_string(),
                };
                entries.push((v, route));
            }
        }
        let mut order: Vec<u32> = (0..entries.len() as u32).collect();
        order.sort_by(|&a, &b| {
            let name = |i: u32| entries.get(i as usize).and_then(|e| e.0.exposed());
            name(a).cmp(&name(b))
        });
        Part {
            server: server.clone(),
            order,
            source: Some((
                offer.clone(),
                cfg.shape(server.as_str()).cloned(),
                namer.sep.clone(),
                namer.max_len,
            )),
            entries,
            suffixed,
        }
    }

    fn built_from(
        &self,
        namer: &Namer,
        cfg: &CatalogConfig,
        server: &ServerName,
        offer: &Arc<Offer>,
    ) -> bool {
        self.server == *server
            && self.source.as_ref().is_some_and(|(o, shape, sep, max)| {
                Arc::ptr_eq(o, offer)
                    && shape.as_ref() == cfg.shape(server.as_str())
                    && *sep == namer.sep
                    && *max == namer.max_len
            })
    }
}

/// Names every tool or prompt across servers, applies the rules, sorts by exposed name; the
/// parts of `prev` whose server did not change are taken over.
pub(super) fn named(
    namer: &Namer,
    cfg: &CatalogConfig,
    offers: &Offers<'_>,
    kind: Kind,
    collisions: &mut Vec<Collision>,
    prev: Option<&Named>,
) -> (Vec<Item>, Named) {
    let tenant_filter = match kind {
        Kind::Tool => &cfg.tools,
        Kind::Prompt => &cfg.prompts,
    };
    if !tenant_filter.is_empty() {
        return whole(namer, cfg, offers, kind, collisions);
    }
    let parts: Vec<Arc<Part>> = offers
        .iter()
        .map(|(server, offer)| {
            prev.into_iter()
                .flat_map(|p| &p.parts)
                .find(|p| p.built_from(namer, cfg, server, offer))
                .cloned()
                .unwrap_or_else(|| Arc::new(Part::build(namer, cfg, server, offer, kind)))
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.entries.len()).sum();
    let mut taken: rustc_hash::FxHashMap<&str, usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(total, Default::default());
    let mut hidden: Vec<Vec<bool>> = Vec::with_capacity(parts.len());
    let mut found = Vec::new();
    for (pi, p) in parts.iter().enumerate() {
        let mut h = vec![false; p.entries.len()];
        for (ei, (item, route)) in p.entries.iter().enumerate() {
            let name = item.exposed().unwrap_or_default();
            match taken.get(name) {
                Some(&w) if w != pi => {
                    if p.suffixed {
                        // Its suffixes were chosen without this server's names: name all at once.
                        return whole(namer, cfg, offers, kind, collisions);
                    }
                    h[ei] = true;
                    found.push(Collision {
                        kind: kind_word(kind),
                        name: name.to_string(),
                        kept_by: parts[w].server.clone(),
                        hidden_from: p.server.clone(),
                        upstream_name: route.name.clone(),
                    });
                }
                _ => {
                    taken.insert(name, pi);
                }
            }
        }
        hidden.push(h);
    }
    collisions.extend(found);
    let mut out: Vec<(Item, (u32, u32))> = Vec::with_capacity(total);
    for (pi, (p, h)) in parts.iter().zip(&hidden).enumerate() {
        for &ei in &p.order {
            if let (Some((item, _)), Some(false)) = (p.entries.get(ei as usize), h.get(ei as usize))
            {
                out.push((item.clone(), (pi as u32, ei)));
            }
        }
    }
    // Stable sort over one sorted run per server: a merge of the runs.
    out.sort_by(|a, b| a.0.exposed().cmp(&b.0.exposed()));
    let (items, at) = out.into_iter().unzip();
    (items, Named { at, parts })
}

/// Every server's items named at once (the tenant's filters see exposed names; a suffix may
/// depend on another server's names).
fn whole(
    namer: &Namer,
    cfg: &CatalogConfig,
    offers: &Offers<'_>,
    kind: Kind,
    collisions: &mut Vec<Collision>,
) -> (Vec<Item>, Named) {
    let tenant_filter = match kind {
        Kind::Tool => &cfg.tools,
        Kind::Prompt => &cfg.prompts,
    };
    let names_of: Vec<Vec<Option<std::borrow::Cow<'_, str>>>> = offers
        .iter()
        .map(|o| list(&o.1, kind).iter().map(|i| i.key("name")).collect())
        .collect();
    let mut items: Vec<(Candidate<'_>, &Item, Option<&crate::config::Rules>)> = Vec::new();
    for ((server, offer), names) in offers.iter().map(|o| (&o.0, &o.1)).zip(&names_of) {
        let (prefix, r) = rules(cfg, server.as_str(), kind);
        let rank = cfg.rank(server.as_str());
        for (item, name) in list(offer, kind).iter().zip(names) {
            let Some(name) = name.as_deref().filter(|n| !n.is_empty()) else {
                tracing::warn!(server = %server, "upstream listed an item without a name; skipped");
                continue;
            };
            if r.is_some_and(|r| !r.filter.admits(name)) {
                continue;
            }
            let c = Candidate {
                rank,
                server: server.as_str(),
                prefix,
                name,
                rename: r.and_then(|r| r.rename.get(name)).map(String::as_str),
            };
            items.push((c, item, r));
        }
    }
    if !tenant_filter.is_empty() {
        // The tenant's patterns apply to the names clients would see.
        let names = namer.assign_ranked(&items.iter().map(|i| i.0).collect::<Vec<_>>());
        let mut keep = names.iter().map(|n| match n {
            Ok(n) => tenant_filter.admits(n),
            Err(_) => true,
        });
        items.retain(|_| keep.next().unwrap_or(true));
    }
    let names = namer.assign_ranked(&items.iter().map(|i| i.0).collect::<Vec<_>>());
    let mut entries: Vec<(Item, Route)> = Vec::with_capacity(items.len());
    for ((c, item, r), exposed) in items.iter().zip(&names) {
        let exposed = match exposed {
            Ok(n) => n,
            Err(w) => {
                let winner = &items[*w].0;
                collisions.push(Collision {
                    kind: kind_word(kind),
                    name: names[*w].clone().unwrap_or_default(),
                    kept_by: ServerName::new(winner.server),
                    hidden_from: ServerName::new(c.server),
                    upstream_name: c.name.to_string(),
                });
                continue;
            }
        };
        let overrides = r.and_then(|r| r.overrides.get(c.name));
        let Some(v) = expose(namer, kind, c.prefix, overrides, item, exposed) else {
            continue;
        };
        let route = Route {
            server: ServerName::new(c.server),
            name: c.name.to_string(),
        };
        entries.push((v, route));
    }
    entries.sort_by(|a, b| a.0.exposed().cmp(&b.0.exposed()));
    let items = entries.iter().map(|e| e.0.clone()).collect();
    let at = (0..entries.len() as u32).map(|e| (0, e)).collect();
    let part = Part {
        server: ServerName::new(""),
        order: Vec::new(),
        source: None,
        entries,
        suffixed: false,
    };
    (
        items,
        Named {
            at,
            parts: vec![Arc::new(part)],
        },
    )
}
