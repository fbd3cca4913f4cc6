//! What the hub changes in an answer on its way to a client: URIs (resource contents, resource
//! links, embedded resources) and task ids, namespaced by their server. Pure functions over
//! JSON; every field is read tolerantly (a wrong-typed one is left as it is).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::ServerName;
use crate::mux::Rewrite;
use crate::naming::Namer;

/// The rewrite of every answer from `server`: its URIs namespaced by its `prefix` (left as they
/// are without one) and its task ids by its name.
pub fn namespacing(namer: Arc<Namer>, server: ServerName, prefix: &str) -> Rewrite {
    let prefix = prefix.to_string();
    // Everything below changes values under `uri` and `taskId` only (it reads the other keys).
    Rewrite::new(&["uri", "taskId"], move |result: &mut Value| {
        if !prefix.is_empty() {
            namespace_result_uris(result, &namer, &prefix);
        }
        namespace_task_ids(result, &namer, server.as_str());
    })
}

/// Task ids are namespaced like names (`<server><sep><id>`), so `tasks/*` route back and ids of
/// different upstreams never collide: `taskId`, `task.taskId`, `tasks[].taskId` and the
/// `io.modelcontextprotocol/related-task` meta.
pub fn namespace_task_ids(v: &mut Value, namer: &Namer, server: &str) {
    let fix = |t: &mut Value| {
        if let Some(id) = t.get("taskId").and_then(Value::as_str) {
            t["taskId"] = json!(namer.namespace_name(server, id));
        }
    };
    fix(v);
    if v.get("task").is_some() {
        fix(&mut v["task"]);
    }
    if let Some(tasks) = v.get_mut("tasks").and_then(Value::as_array_mut) {
        tasks.iter_mut().for_each(fix);
    }
    if let Some(meta) = v
        .get_mut("_meta")
        .and_then(|m| m.get_mut("io.modelcontextprotocol/related-task"))
    {
        fix(meta);
    }
}

/// Namespaces `contents[].uri` (resources/read) and the URIs of resource links and embedded
/// resources in `content[]` (tools/call) and `messages[].content` (prompts/get).
pub fn namespace_result_uris(result: &mut Value, namer: &Namer, server: &str) {
    let fix = |v: &mut Value| {
        if let Some(u) = v.as_str() {
            *v = json!(namer.namespace_uri(server, u));
        }
    };
    let fix_content = |c: &mut Value| match c["type"].as_str() {
        Some("resource_link") => fix(&mut c["uri"]),
        Some("resource") if c["resource"].get("uri").is_some() => fix(&mut c["resource"]["uri"]),
        _ => {}
    };
    if let Some(items) = result.get_mut("contents").and_then(Value::as_array_mut) {
        for item in items {
            if item.get("uri").is_some() {
                fix(&mut item["uri"]);
            }
        }
    }
    if let Some(items) = result.get_mut("content").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(fix_content);
    }
    if let Some(msgs) = result.get_mut("messages").and_then(Value::as_array_mut) {
        for m in msgs {
            if let Some(c) = m.get_mut("content") {
                if c.is_array() {
                    c.as_array_mut().into_iter().flatten().for_each(fix_content);
                } else {
                    fix_content(c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn uris_and_task_ids_in_answers_are_namespaced_and_nothing_else_changes() {
        let namer = Namer::new("__", 64);
        let mut r = json!({
            "contents": [{"uri": "test://static/1", "text": "x"}],
            "content": [
                {"type": "resource_link", "uri": "file:///a", "x-vendor": 1},
                {"type": "resource", "resource": {"uri": "ui://demo/app.html"}},
                {"type": "text", "text": "file:///not-a-uri-field"}
            ],
            "task": {"taskId": "7"},
            "structuredContent": {"uri": "kept"}
        });
        namespacing(Arc::new(namer), ServerName::new("srv"), "srv").apply(&mut r);
        assert_eq!(r["contents"][0]["uri"], "test://srv__static/1");
        assert_eq!(r["content"][0]["uri"], "file://srv__/a");
        assert_eq!(r["content"][0]["x-vendor"], 1);
        assert_eq!(
            r["content"][1]["resource"]["uri"],
            "ui://srv__demo/app.html"
        );
        assert_eq!(r["content"][2]["text"], "file:///not-a-uri-field");
        assert_eq!(r["task"]["taskId"], "srv__7");
        assert_eq!(r["structuredContent"]["uri"], "kept");
    }

    #[test]
    fn wrong_typed_answers_pass_unchanged() {
        let namer = Namer::new("__", 64);
        for v in [
            json!("a string"),
            json!([1, 2]),
            json!(null),
            json!({"content": "x", "contents": 3, "task": 1, "tasks": {"a": 1}}),
        ] {
            let mut r = v.clone();
            namespace_result_uris(&mut r, &namer, "s");
            namespace_task_ids(&mut r, &namer, "s");
            assert_eq!(r, v);
        }
    }
}
