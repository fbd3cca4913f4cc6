//! Where a client's request goes: from the exposed name, URI or task id in its params to
//! (server, params in the upstream's own terms). Pure: it reads the catalog and the naming
//! rules and knows nothing of sessions, transports or connections.

use serde_json::{json, Value};

use crate::catalog::{Catalog, Route};
use crate::config::ServerName;
use crate::naming::Namer;

/// A request bound for one upstream, with its params already in that upstream's terms.
#[derive(Debug, PartialEq)]
pub struct Routed {
    pub server: ServerName,
    pub params: Value,
    /// Whether URIs and task ids in the answer are to be namespaced on the way back.
    pub namespace_answer: bool,
}

/// Why a request has nowhere to go. Every variant is the client's mistake (or a name that may
/// appear once upstreams are up): JSON-RPC -32602.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RouteError {
    #[error("Invalid params: `{0}` is required")]
    Missing(&'static str),
    #[error("Unknown tool `{0}`")]
    UnknownTool(String),
    #[error("Unknown prompt `{0}`")]
    UnknownPrompt(String),
    #[error("Resource not found: `{uri}` does not name a server of this hub (URIs look like `scheme://<prefix>{sep}…`)")]
    UnknownResource { uri: String, sep: String },
    #[error("Unknown task `{0}`")]
    UnknownTask(String),
    #[error("Invalid params: `ref.type` must be `ref/prompt` or `ref/resource`")]
    BadCompletionRef,
    #[error("`{0}` is not routed by name")]
    NotRouted(String),
}

impl RouteError {
    /// Whether the name may exist once the tenant's upstreams have all come up.
    pub fn may_appear(&self) -> bool {
        matches!(
            self,
            RouteError::UnknownTool(_)
                | RouteError::UnknownPrompt(_)
                | RouteError::UnknownResource { .. }
        )
    }
}

fn str_param<'a>(params: &'a Value, key: &'static str) -> Result<&'a str, RouteError> {
    params
        .get(key)
        .and_then(Value::as_str)
        .ok_or(RouteError::Missing(key))
}

/// Replaces `params[key]` (an object known to hold it).
fn set(params: &mut Value, key: &str, value: &str) {
    if let Some(v) = params.get_mut(key) {
        // In place: no new key, no new slot in the map.
        match v {
            Value::String(s) => value.clone_into(s),
            v => *v = Value::String(value.to_string()),
        }
    } else if let Some(o) = params.as_object_mut() {
        o.insert(key.into(), json!(value));
    }
}

/// Routes `method` with `params` (an object). `is_server` tells which server names exist (for
/// task ids); URIs find their server through the catalog's prefixes.
pub fn route(
    catalog: &Catalog,
    namer: &Namer,
    is_server: impl Fn(&str) -> bool,
    method: &str,
    mut params: Value,
) -> Result<Routed, RouteError> {
    let to = |server: ServerName, params: Value, namespace_answer: bool| Routed {
        server,
        params,
        namespace_answer,
    };
    match method {
        "tools/call" | "prompts/get" => {
            let name = str_param(&params, "name")?;
            let (route, unknown): (_, fn(String) -> RouteError) = if method == "tools/call" {
                (catalog.tool(name), RouteError::UnknownTool)
            } else {
                (catalog.prompt(name), RouteError::UnknownPrompt)
            };
            let route = match route {
                Some(r) => r.clone(),
                None => match catalog.passthrough(method == "prompts/get", name) {
                    Some(server) => Route {
                        server: server.clone(),
                        name: name.to_string(),
                    },
                    None => return Err(unknown(name.to_string())),
                },
            };
            set(&mut params, "name", &route.name);
            Ok(to(route.server, params, true))
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let uri = str_param(&params, "uri")?;
            let (server, original) =
                catalog
                    .resolve_uri(namer, uri)
                    .ok_or_else(|| RouteError::UnknownResource {
                        uri: uri.to_string(),
                        sep: namer.sep.clone(),
                    })?;
            set(&mut params, "uri", &original);
            Ok(to(server, params, true))
        }
        "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/update" => {
            let task = str_param(&params, "taskId")?;
            let (server, original) = namer
                .resolve_name(task, &is_server)
                .ok_or_else(|| RouteError::UnknownTask(task.to_string()))?;
            let (server, original) = (ServerName::new(server), original.to_string());
            set(&mut params, "taskId", &original);
            Ok(to(server, params, true))
        }
        "completion/complete" => {
            let r = params.get("ref").cloned().unwrap_or(Value::Null);
            let (key, server, original) = match r.get("type").and_then(Value::as_str) {
                Some("ref/prompt") => {
                    let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
                    let route = catalog
                        .prompt(name)
                        .ok_or_else(|| RouteError::UnknownPrompt(name.to_string()))?;
                    ("name", route.server.clone(), route.name.clone())
                }
                Some("ref/resource") => {
                    let uri = r.get("uri").and_then(Value::as_str).unwrap_or_default();
                    let (server, original) = catalog.resolve_uri(namer, uri).ok_or_else(|| {
                        RouteError::UnknownResource {
                            uri: uri.to_string(),
                            sep: namer.sep.clone(),
                        }
                    })?;
                    ("uri", server, original)
                }
                _ => return Err(RouteError::BadCompletionRef),
            };
            if let Some(rf) = params.get_mut("ref") {
                set(rf, key, &original);
            }
            Ok(to(server, params, false))
        }
        other => Err(RouteError::NotRouted(other.to_string())),
    }
}

#[cfg(test)]
mod tests;
