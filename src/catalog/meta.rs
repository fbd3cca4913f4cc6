//! Search mode's meta-tools: what `tools/list` shows (pinned tools, then `search_tools`,
//! `describe_tool`, `call_tool`, described with the number of tools they reach), and their
//! calls: search and describe are answered from the catalog; a call becomes the real
//! `tools/call` (same id, same `_meta`), so everything after routing is the same as for a
//! direct call.

use serde_json::{json, Map, Value};

use super::Catalog;
use crate::config::{CatalogConfig, CatalogMode};
use crate::item::Item;

pub const SEARCH_TOOLS: &str = "search_tools";
pub const DESCRIBE_TOOL: &str = "describe_tool";
pub const CALL_TOOL: &str = "call_tool";

const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 50;
/// Descriptions in search results are cut to this many characters (`describe_tool` has it all).
const SNIPPET: usize = 300;

/// What a call of a meta-tool becomes.
#[derive(Debug, PartialEq)]
pub enum MetaCall {
    /// The tool result, answered by the hub.
    Answer(Value),
    /// The params of the real `tools/call`.
    Forward(Value),
    /// The arguments are wrong: JSON-RPC -32602 with this message.
    Invalid(String),
}

/// `tools/list` in search mode: the pinned tools that exist, then the meta-tools.
pub(super) fn listed(cat: &Catalog, cfg: &CatalogConfig, servers: usize) -> Vec<Item> {
    let mut out: Vec<Item> = cfg
        .pinned
        .iter()
        .filter_map(|p| cat.tool_definition(p).cloned())
        .collect();
    let n = cat.tools.len();
    let reach = format!(
        "{n} tool{} from {servers} server{}",
        if n == 1 { "" } else { "s" },
        if servers == 1 { "" } else { "s" }
    );
    out.push(Item::from(json!({
        "name": SEARCH_TOOLS,
        "title": "Search tools",
        "description": format!(
            "Find tools by keywords among the {reach} this hub reaches but does not list. Ranked full-text search over tool names, titles, descriptions and argument names; returns up to `limit` (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}) tool names, best first, with their descriptions. Use `{DESCRIBE_TOOL}` for a tool's input schema, then `{CALL_TOOL}` to run it."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "Words describing what the tool should do, e.g. `create github issue`."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": format!("How many tools to return (default {DEFAULT_LIMIT}).")}
            },
            "required": ["query"]
        },
        "annotations": {"readOnlyHint": true, "openWorldHint": false}
    })));
    out.push(Item::from(json!({
        "name": DESCRIBE_TOOL,
        "title": "Describe a tool",
        "description": format!(
            "Returns the full definition of one of the {reach} by its exact name (as `{SEARCH_TOOLS}` gives it): description, input schema (the arguments `{CALL_TOOL}` needs), output schema and annotations."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {"name": {"type": "string", "description": "The tool's exact name."}},
            "required": ["name"]
        },
        "annotations": {"readOnlyHint": true, "openWorldHint": false}
    })));
    out.push(Item::from(json!({
        "name": CALL_TOOL,
        "title": "Call a tool",
        "description": format!(
            "Calls one of the {reach} by its exact name with its arguments, and returns that tool's own result (progress, errors and requests of the tool behave as if it were called directly). Find names with `{SEARCH_TOOLS}` and arguments with `{DESCRIBE_TOOL}`."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The tool's exact name."},
                "arguments": {"type": "object", "description": "The tool's arguments, as its input schema says."}
            },
            "required": ["name"]
        }
    })));
    out
}

fn snippet(s: &str) -> String {
    match s.char_indices().nth(SNIPPET) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn text_result(text: String, structured: Value) -> Value {
    json!({"content": [{"type": "text", "text": text}], "structuredContent": structured})
}

impl Catalog {
    /// A `tools/call` of a meta-tool (search mode only); `None` for any other call.
    pub fn meta_call(&self, params: &Value) -> Option<MetaCall> {
        if self.mode != CatalogMode::Search {
            return None;
        }
        let name = params.get("name").and_then(Value::as_str)?;
        let args = params.get("arguments").cloned().unwrap_or(json!({}));
        let arg = |k: &str| args.get(k).and_then(Value::as_str);
        Some(match name {
            SEARCH_TOOLS => {
                let Some(query) = arg("query") else {
                    return Some(MetaCall::Invalid(format!(
                        "Invalid params: `{SEARCH_TOOLS}` needs a `query` (a string)"
                    )));
                };
                let limit = args
                    .get("limit")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_LIMIT)
                    .clamp(1, MAX_LIMIT);
                MetaCall::Answer(self.search(query, limit as usize))
            }
            DESCRIBE_TOOL => match arg("name") {
                None => MetaCall::Invalid(format!(
                    "Invalid params: `{DESCRIBE_TOOL}` needs a `name` (a string)"
                )),
                Some(n) => MetaCall::Answer(match self.tool_definition(n) {
                    Some(t) => text_result(t.json().into_owned(), t.value()),
                    None => json!({
                        "content": [{"type": "text", "text": format!("Unknown tool `{n}`; find names with `{SEARCH_TOOLS}`")}],
                        "isError": true
                    }),
                }),
            },
            CALL_TOOL => {
                let Some(target) = arg("name") else {
                    return Some(MetaCall::Invalid(format!(
                        "Invalid params: `{CALL_TOOL}` needs a `name` (a string)"
                    )));
                };
                let mut p: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
                p.insert("name".into(), json!(target));
                p.insert(
                    "arguments".into(),
                    args.get("arguments").cloned().unwrap_or(json!({})),
                );
                MetaCall::Forward(Value::Object(p))
            }
            _ => return None,
        })
    }

    /// The tools best matching `query`, best first.
    fn search(&self, query: &str, limit: usize) -> Value {
        let hits: Vec<Value> = self
            .index
            .search(query, limit)
            .into_iter()
            .filter_map(|(name, score)| {
                let t = self.tool_definition(name)?.value();
                let mut h = json!({
                    "name": t["name"],
                    "description": snippet(t["description"].as_str().unwrap_or_default()),
                    "score": (score * 1000.0).round() / 1000.0,
                });
                if let Some(title) = t.get("title") {
                    h["title"] = title.clone();
                }
                Some(h)
            })
            .collect();
        let text = if hits.is_empty() {
            format!(
                "No tool matches `{query}` among {} tools; try other words.",
                self.tools.len()
            )
        } else {
            hits.iter()
                .map(|h| {
                    format!(
                        "- {}: {}",
                        h["name"].as_str().unwrap_or_default(),
                        h["description"].as_str().unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        text_result(text, json!({"tools": hits}))
    }
}
