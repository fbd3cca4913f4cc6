//! Routing: each kind of request finds its server and reaches it in the upstream's own terms.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{route, RouteError, Routed};
use crate::catalog::Catalog;
use crate::config::ServerName;
use crate::item::Item;
use crate::naming::Namer;
use crate::upstream::Offer;

fn catalog(namer: &Namer) -> Catalog {
    let git = Arc::new(Offer {
        tools: Item::list(&[json!({"name": "status", "inputSchema": {"type": "object"}})]),
        prompts: Item::list(&[json!({"name": "commit_message"})]),
        ..Offer::default()
    });
    let odd = Arc::new(Offer {
        tools: Item::list(&[json!({"name": "has__separator", "inputSchema": {"type": "object"}})]),
        ..Offer::default()
    });
    Catalog::build(
        namer,
        &[(ServerName::new("git"), git), (ServerName::new("odd"), odd)],
        1,
    )
}

fn known(s: &str) -> bool {
    matches!(s, "git" | "odd")
}

fn go(method: &str, params: Value) -> Result<Routed, RouteError> {
    let namer = Namer::new("__", 64);
    route(&catalog(&namer), &namer, known, method, params)
}

#[test]
fn a_tool_call_goes_to_its_server_under_the_upstream_name_and_keeps_the_rest() {
    let r = go(
        "tools/call",
        json!({"name": "git__status", "arguments": {"x": 1}, "_meta": {"progressToken": 7}}),
    )
    .unwrap();
    assert_eq!(r.server.as_str(), "git");
    assert_eq!(
        r.params,
        json!({"name": "status", "arguments": {"x": 1}, "_meta": {"progressToken": 7}})
    );
    assert!(r.namespace_answer);
}

#[test]
fn a_name_with_the_separator_inside_routes_by_table_not_by_splitting() {
    let r = go("tools/call", json!({"name": "odd__has__separator"})).unwrap();
    assert_eq!(
        (r.server.as_str(), &r.params["name"]),
        ("odd", &json!("has__separator"))
    );
}

#[test]
fn prompts_resources_tasks_and_completions_route_back() {
    let p = go("prompts/get", json!({"name": "git__commit_message"})).unwrap();
    assert_eq!(p.params["name"], "commit_message");
    let r = go("resources/read", json!({"uri": "file://git__/repo/README"})).unwrap();
    assert_eq!(
        (r.server.as_str(), &r.params["uri"]),
        ("git", &json!("file:///repo/README"))
    );
    let t = go("tasks/get", json!({"taskId": "git__42"})).unwrap();
    assert_eq!(t.params["taskId"], "42");
    let c = go(
        "completion/complete",
        json!({"ref": {"type": "ref/prompt", "name": "git__commit_message"}, "argument": {"name": "a", "value": "b"}}),
    )
    .unwrap();
    assert_eq!(c.params["ref"]["name"], "commit_message");
    assert!(!c.namespace_answer);
}

#[test]
fn what_cannot_be_routed_says_why() {
    assert_eq!(
        go("tools/call", json!({})),
        Err(RouteError::Missing("name"))
    );
    assert_eq!(
        go("tools/call", json!({"name": 42})),
        Err(RouteError::Missing("name")),
        "a wrong-typed name is as good as none"
    );
    let e = go("tools/call", json!({"name": "nope__x"})).unwrap_err();
    assert!(e.may_appear(), "a tool may appear when its server comes up");
    assert!(go("resources/read", json!({"uri": "file:///no/server"}))
        .unwrap_err()
        .to_string()
        .contains("does not name a server"));
    assert_eq!(
        go("tasks/get", json!({"taskId": "zzz__1"})),
        Err(RouteError::UnknownTask("zzz__1".into()))
    );
    assert_eq!(
        go("completion/complete", json!({"ref": "not an object"})),
        Err(RouteError::BadCompletionRef)
    );
}
