//! The catalog's items under the tenant's rules: each server's rules, overrides and MCP Apps
//! URIs applied to one tool ([`expose`]; naming and collisions of tools and prompts are in
//! `named.rs`), and resources and templates by URI.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{Catalog, Collision};
use crate::config::{CatalogConfig, Rules, ServerName};
use crate::item::Item;
use crate::naming::Namer;
use crate::upstream::Offer;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Tool,
    Prompt,
}

pub(super) type Offers<'a> = [&'a (ServerName, Arc<Offer>)];

/// The server's prefix and rules for `kind` (defaults for a server the config does not name).
pub(super) fn rules<'a>(
    cfg: &'a CatalogConfig,
    server: &'a str,
    kind: Kind,
) -> (&'a str, Option<&'a Rules>) {
    match cfg.shape(server) {
        Some(s) => (
            s.prefix.as_str(),
            Some(match kind {
                Kind::Tool => &s.tools,
                Kind::Prompt => &s.prompts,
            }),
        ),
        None => (server, None),
    }
}

/// One item under its exposed name: a tool the rules change (overrides, an MCP Apps `ui://`
/// URI) is parsed and written anew; any other shares the upstream's text.
pub(super) fn expose(
    namer: &Namer,
    kind: Kind,
    prefix: &str,
    overrides: Option<&crate::config::ToolOverride>,
    item: &Item,
    exposed: &str,
) -> Option<Item> {
    let rewritten = (kind == Kind::Tool && (overrides.is_some() || item.mentions("resourceUri")))
        .then(|| {
            let mut v = item.value();
            if let Some(o) = overrides {
                apply_override(&mut v, o);
            }
            rewrite_tool_meta(namer, prefix, &mut v);
            Item::new(&v)
        });
    rewritten
        .as_ref()
        .unwrap_or(item)
        .exposed_as("name", exposed)
}

fn apply_override(tool: &mut Value, o: &crate::config::ToolOverride) {
    let Some(t) = tool.as_object_mut() else {
        return;
    };
    if let Some(d) = &o.description {
        t.insert("description".into(), json!(d));
    }
    if let Some(x) = &o.title {
        t.insert("title".into(), json!(x));
    }
    if !o.annotations.is_empty() {
        let a = t
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if !a.is_object() {
            *a = Value::Object(Default::default());
        }
        if let Some(a) = a.as_object_mut() {
            for (k, v) in &o.annotations {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

/// MCP Apps: the `ui://` URI a tool points to is namespaced like the resource it names.
fn rewrite_tool_meta(namer: &Namer, prefix: &str, tool: &mut Value) {
    let Some(meta) = tool.get_mut("_meta").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(u) = meta.get("ui/resourceUri").and_then(Value::as_str) {
        let ns = namer.namespace_uri(prefix, u);
        meta.insert("ui/resourceUri".into(), json!(ns));
    }
    if let Some(ui) = meta.get_mut("ui").and_then(Value::as_object_mut) {
        if let Some(u) = ui.get("resourceUri").and_then(Value::as_str) {
            let ns = namer.namespace_uri(prefix, u);
            ui.insert("resourceUri".into(), json!(ns));
        }
    }
}

/// Resources and templates: URIs namespaced by prefix (unchanged without one), filtered, and
/// a URI two servers offer kept by the earlier one; and how URIs find their server again.
pub(super) fn uris(
    namer: &Namer,
    cfg: &CatalogConfig,
    offers: &Offers<'_>,
    cat: &mut Catalog,
    collisions: &mut Vec<Collision>,
) {
    for s in &cfg.servers {
        if !s.prefix.is_empty() {
            cat.uris
                .prefixes
                .entry(s.prefix.clone())
                .or_insert_with(|| s.server.clone());
        }
    }
    let mut taken: HashMap<(bool, String), ServerName> = HashMap::new();
    for (server, offer) in offers.iter().map(|o| (&o.0, &o.1)) {
        let prefix = cfg.prefix(server.as_str());
        let filter = cfg.shape(server.as_str()).map(|s| &s.resources.filter);
        if prefix.is_empty() {
            cat.uris.plain.push(server.clone());
        } else {
            cat.uris
                .prefixes
                .entry(prefix.to_string())
                .or_insert_with(|| server.clone());
        }
        for (is_template, list, key) in [
            (false, &offer.resources, "uri"),
            (true, &offer.templates, "uriTemplate"),
        ] {
            for item in list {
                let Some(u) = item.key(key) else {
                    continue;
                };
                let u = u.as_ref();
                let exposed = namer.namespace_uri(prefix, u);
                if filter.is_some_and(|f| !f.admits(u)) || !cfg.resources.admits(&exposed) {
                    if !is_template {
                        cat.uris.hidden.insert((server.clone(), u.to_string()));
                    }
                    continue;
                }
                if let Some(w) = taken.get(&(is_template, exposed.clone())) {
                    if w != server {
                        collisions.push(Collision {
                            kind: if is_template { "template" } else { "resource" },
                            name: exposed,
                            kept_by: w.clone(),
                            hidden_from: server.clone(),
                            upstream_name: u.to_string(),
                        });
                        cat.uris.hidden.insert((server.clone(), u.to_string()));
                        continue;
                    }
                }
                taken.insert((is_template, exposed.clone()), server.clone());
                let Some(v) = item.exposed_as(key, &exposed) else {
                    continue;
                };
                if prefix.is_empty() {
                    if is_template {
                        cat.uris.plain_templates.push((exposed, server.clone()));
                    } else {
                        cat.uris.plain_uris.insert(exposed, server.clone());
                    }
                }
                if is_template {
                    cat.templates.push(v);
                } else {
                    cat.resources.push(v);
                }
            }
        }
    }
}

/// Whether `uri` could come from the RFC 6570 template `t`: its literal parts in order, each
/// `{…}` standing for any (non-empty) text.
pub(super) fn template_matches(t: &str, uri: &str) -> bool {
    let mut rest = uri;
    let mut parts = t.split('{');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(r) = rest.strip_prefix(first) else {
        return false;
    };
    rest = r;
    let mut parts = parts.peekable();
    while let Some(p) = parts.next() {
        let literal = p.split_once('}').map_or("", |(_, l)| l);
        if literal.is_empty() {
            if parts.peek().is_none() {
                return !rest.is_empty();
            }
            continue;
        }
        let is_last = parts.peek().is_none();
        let at = if is_last {
            rest.rfind(literal)
        } else {
            rest.find(literal)
        };
        match at {
            Some(i) if i > 0 => rest = &rest[i + literal.len()..],
            _ => return false,
        }
        if is_last {
            return rest.is_empty();
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_match_templates_by_their_literal_parts() {
        assert!(template_matches(
            "test://template/{id}/data",
            "test://template/7/data"
        ));
        assert!(!template_matches(
            "test://template/{id}/data",
            "test://template/7/other"
        ));
        assert!(template_matches("test://dynamic/{id}", "test://dynamic/42"));
        assert!(!template_matches("test://dynamic/{id}", "test://dynamic/"));
        assert!(!template_matches("other://{x}", "test://dynamic/42"));
    }
}
