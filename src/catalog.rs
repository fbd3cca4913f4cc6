//! A tenant's merged catalog: every upstream's tools, prompts, resources and templates under
//! namespaced names, the routes back, and pagination.
//!
//! Order: tools and prompts sorted by exposed name; resources and templates by server name, then
//! in the order their upstream gave them (URIs often carry a meaningful order). The catalog is
//! rebuilt whole on every change and swapped in; readers never see a half-built one.

pub use crate::protocol::ListKind;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::ServerName;
use crate::naming::Namer;
use crate::upstream::Offer;

/// Where an exposed name leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub server: ServerName,
    /// The upstream's own name.
    pub name: String,
}

#[derive(Debug, Default)]
pub struct Catalog {
    pub generation: u64,
    pub tools: Vec<Value>,
    pub prompts: Vec<Value>,
    pub resources: Vec<Value>,
    pub templates: Vec<Value>,
    tool_routes: HashMap<String, Route>,
    prompt_routes: HashMap<String, Route>,
}

impl Catalog {
    /// Merges the offers of the upstreams that are up, in server-name order.
    pub fn build(namer: &Namer, offers: &[(ServerName, Arc<Offer>)], generation: u64) -> Self {
        let mut cat = Catalog {
            generation,
            ..Default::default()
        };
        let (tools, tool_routes) = named(
            namer,
            offers,
            |o| &o.tools,
            |server, mut t| {
                rewrite_tool_meta(namer, server, &mut t);
                t
            },
        );
        let (prompts, prompt_routes) = named(namer, offers, |o| &o.prompts, |_, p| p);
        cat.tools = tools;
        cat.tool_routes = tool_routes;
        cat.prompts = prompts;
        cat.prompt_routes = prompt_routes;
        for (server, offer) in offers {
            for r in &offer.resources {
                let mut r = r.clone();
                if let Some(u) = r["uri"].as_str() {
                    r["uri"] = json!(namer.namespace_uri(server.as_str(), u));
                }
                cat.resources.push(r);
            }
            for t in &offer.templates {
                let mut t = t.clone();
                if let Some(u) = t["uriTemplate"].as_str() {
                    t["uriTemplate"] = json!(namer.namespace_uri(server.as_str(), u));
                }
                cat.templates.push(t);
            }
        }
        cat
    }

    pub fn tool(&self, name: &str) -> Option<&Route> {
        self.tool_routes.get(name)
    }

    pub fn prompt(&self, name: &str) -> Option<&Route> {
        self.prompt_routes.get(name)
    }

    pub fn list(&self, kind: ListKind) -> &[Value] {
        match kind {
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
        Ok((items[start..end].to_vec(), next))
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

type Routes = HashMap<String, Route>;

/// Names every item of one kind across servers, rewrites it, and sorts by exposed name.
fn named(
    namer: &Namer,
    offers: &[(ServerName, Arc<Offer>)],
    list: impl Fn(&Offer) -> &Vec<Value>,
    rewrite: impl Fn(&str, Value) -> Value,
) -> (Vec<Value>, Routes) {
    let mut pairs: Vec<(&str, &str, &Value)> = Vec::new();
    for (server, offer) in offers {
        for item in list(offer) {
            match item["name"].as_str() {
                Some(n) if !n.is_empty() => pairs.push((server.as_str(), n, item)),
                _ => {
                    tracing::warn!(server = %server, "upstream listed an item without a name; skipped")
                }
            }
        }
    }
    let names = namer.assign(&pairs.iter().map(|(s, n, _)| (*s, *n)).collect::<Vec<_>>());
    let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
    let mut routes = HashMap::with_capacity(pairs.len());
    for ((server, name, item), exposed) in pairs.into_iter().zip(names) {
        let mut v = rewrite(server, item.clone());
        v["name"] = json!(exposed);
        routes.insert(
            exposed.clone(),
            Route {
                server: ServerName::new(server),
                name: name.to_string(),
            },
        );
        out.push((exposed, v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (out.into_iter().map(|(_, v)| v).collect(), routes)
}

/// MCP Apps: the `ui://` URI a tool points to is namespaced like the resource it names.
fn rewrite_tool_meta(namer: &Namer, server: &str, tool: &mut Value) {
    let Some(meta) = tool.get_mut("_meta").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(u) = meta.get("ui/resourceUri").and_then(Value::as_str) {
        let ns = namer.namespace_uri(server, u);
        meta.insert("ui/resourceUri".into(), json!(ns));
    }
    if let Some(ui) = meta.get_mut("ui").and_then(Value::as_object_mut) {
        if let Some(u) = ui.get("resourceUri").and_then(Value::as_str) {
            let ns = namer.namespace_uri(server, u);
            ui.insert("resourceUri".into(), json!(ns));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(tools: &[Value]) -> Arc<Offer> {
        Arc::new(Offer {
            tools: tools.to_vec(),
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
        let names: Vec<&str> = cat
            .tools
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a__alpha", "a__zeta", "b__alpha"]);
        assert_eq!(cat.tools[1]["x-extra"], "kept");
        assert_eq!(cat.tools[1]["execution"]["taskSupport"], "optional");
        assert_eq!(
            cat.tools[2]["_meta"]["ui"]["resourceUri"],
            "ui://b__b/app.html"
        );
        assert_eq!(cat.tools[2]["_meta"]["ui"]["visibility"], json!(["app"]));
        assert_eq!(
            cat.tools[2]["_meta"]["ui/resourceUri"],
            "ui://b__b/app.html"
        );
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
