//! The tenant's naming rules over real-shaped offers: prefixes, collisions and who wins,
//! filters, renames, overrides, URIs of unprefixed servers, and search mode.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::config::HubConfig;

fn cfg(servers_toml: &str) -> CatalogConfig {
    let text = format!("{servers_toml}\n");
    let c = HubConfig::from_str_at(&text, Path::new("hub.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    c.tenants["t"].catalog.clone()
}

fn tools(names: &[&str]) -> Arc<Offer> {
    Arc::new(Offer {
        tools: names
            .iter()
            .map(|n| Item::new(&json!({"name": n, "description": format!("does {n}"), "inputSchema": {"type": "object"}})))
            .collect(),
        ..Default::default()
    })
}

fn names(cat: &Catalog) -> Vec<&str> {
    cat.tools.iter().map(|t| t.exposed().unwrap()).collect()
}

fn build(c: &CatalogConfig, offers: &[(&str, Arc<Offer>)]) -> Catalog {
    let offers: Vec<(ServerName, Arc<Offer>)> = offers
        .iter()
        .map(|(s, o)| (ServerName::new(s), o.clone()))
        .collect();
    Catalog::build_shaped(&Namer::new("__", 64), c, &offers, 1)
}

#[test]
fn two_unprefixed_servers_with_the_same_tool_the_earlier_in_the_file_keeps_it() {
    // `zeta` is written first: file order, not name order, decides.
    let c = cfg(r#"
[tenants.t.servers.zeta]
command = "x"
prefix = ""
[tenants.t.servers.alpha]
command = "x"
prefix = ""
"#);
    let cat = build(
        &c,
        &[
            ("alpha", tools(&["echo", "only_alpha"])),
            ("zeta", tools(&["echo"])),
        ],
    );
    assert_eq!(names(&cat), ["echo", "only_alpha"]);
    assert_eq!(cat.tool("echo").unwrap().server.as_str(), "zeta");
    assert_eq!(
        cat.collisions,
        [Collision {
            kind: "tool",
            name: "echo".into(),
            kept_by: ServerName::new("zeta"),
            hidden_from: ServerName::new("alpha"),
            upstream_name: "echo".into(),
        }]
    );
    assert!(cat.collisions[0].describe().contains("`zeta`"));
    assert!(cat.collisions[0].describe().contains("`alpha`"));
}

#[test]
fn an_unprefixed_server_next_to_a_prefixed_one_collides_on_the_prefixed_name() {
    let c = cfg(r#"
[tenants.t.servers.git]
command = "x"
[tenants.t.servers.plain]
command = "x"
prefix = ""
"#);
    let cat = build(
        &c,
        &[
            ("git", tools(&["status"])),
            ("plain", tools(&["git__status", "other"])),
        ],
    );
    assert_eq!(names(&cat), ["git__status", "other"]);
    assert_eq!(cat.tool("git__status").unwrap().name, "status");
    assert_eq!(cat.collisions.len(), 1);
    assert_eq!(cat.collisions[0].hidden_from.as_str(), "plain");
}

#[test]
fn a_rename_onto_another_servers_name_the_earlier_server_keeps_it() {
    let c = cfg(r#"
[tenants.t.servers.b]
command = "x"
[tenants.t.servers.a]
command = "x"
tools.rename = { foo = "b__bar" }
"#);
    let cat = build(&c, &[("a", tools(&["foo"])), ("b", tools(&["bar"]))]);
    assert_eq!(names(&cat), ["b__bar"]);
    assert_eq!(cat.tool("b__bar").unwrap().server.as_str(), "b");
    assert_eq!(cat.collisions[0].hidden_from.as_str(), "a");
    assert_eq!(cat.collisions[0].upstream_name, "foo");
}

#[test]
fn an_upstream_that_later_adds_a_colliding_tool_is_the_one_hidden_when_it_is_later() {
    let c = cfg(r#"
[tenants.t.servers.first]
command = "x"
prefix = ""
[tenants.t.servers.second]
command = "x"
prefix = ""
"#);
    let before = build(&c, &[("first", tools(&["a"])), ("second", tools(&["b"]))]);
    assert!(before.collisions.is_empty());
    let after = build(
        &c,
        &[("first", tools(&["a"])), ("second", tools(&["b", "a"]))],
    );
    assert_eq!(names(&after), ["a", "b"]);
    assert_eq!(after.tool("a").unwrap().server.as_str(), "first");
    assert_eq!(after.collisions[0].hidden_from.as_str(), "second");
    // And when the earlier server adds it later, it takes the name over.
    let later = build(
        &c,
        &[("first", tools(&["a", "b"])), ("second", tools(&["b"]))],
    );
    assert_eq!(later.tool("b").unwrap().server.as_str(), "first");
}

#[test]
fn allow_deny_rename_and_overrides_shape_a_servers_tools() {
    let c = cfg(r#"
[tenants.t.servers.s]
command = "x"
prefix = "my"
tools.allow = ["get_*", "echo"]
tools.deny = ["get_secret"]
tools.rename = { echo = "say" }
[tenants.t.servers.s.tools.overrides.get_time]
description = "The time, from the hub's config"
title = "Time"
annotations = { readOnlyHint = true }
"#);
    let cat = build(
        &c,
        &[(
            "s",
            tools(&["get_time", "get_secret", "echo", "delete_all"]),
        )],
    );
    assert_eq!(names(&cat), ["my__get_time", "say"]);
    let t = cat.tool_definition("my__get_time").unwrap().value();
    assert_eq!(t["description"], "The time, from the hub's config");
    assert_eq!(t["title"], "Time");
    assert_eq!(t["annotations"]["readOnlyHint"], true);
    assert_eq!(cat.tool("say").unwrap().name, "echo");
    assert!(cat.tool("my__get_secret").is_none());
    assert!(cat.tool("my__delete_all").is_none());
}

#[test]
fn tenant_filters_apply_to_exposed_names() {
    let c = cfg(r#"
[tenants.t.tools]
deny = ["b__*"]
[tenants.t.servers.a]
command = "x"
[tenants.t.servers.b]
command = "x"
"#);
    let cat = build(&c, &[("a", tools(&["x"])), ("b", tools(&["x"]))]);
    assert_eq!(names(&cat), ["a__x"]);
}

#[test]
fn unprefixed_resources_keep_their_uris_and_route_back_by_uri_or_template() {
    let c = cfg(r#"
[tenants.t.servers.everything]
command = "x"
prefix = ""
[tenants.t.servers.other]
command = "x"
prefix = "o"
"#);
    let offer = |uri: &str, tpl: &str| {
        Arc::new(Offer {
            resources: Item::list(&[json!({"uri": uri, "name": "r"})]),
            templates: Item::list(&[json!({"uriTemplate": tpl, "name": "t"})]),
            ..Default::default()
        })
    };
    let cat = build(
        &c,
        &[
            (
                "everything",
                offer("test://static/resource/1", "test://template/{id}/data"),
            ),
            ("other", offer("file:///a", "file:///{path}")),
        ],
    );
    let uris: Vec<Value> = cat
        .resources
        .iter()
        .map(|r| r.value()["uri"].clone())
        .collect();
    assert_eq!(
        uris,
        [json!("test://static/resource/1"), json!("file://o__/a")]
    );
    assert_eq!(
        cat.templates[0].value()["uriTemplate"],
        "test://template/{id}/data"
    );
    let namer = Namer::new("__", 64);
    let at = |u: &str| {
        cat.resolve_uri(&namer, u)
            .map(|(s, o)| (s.as_str().to_string(), o))
    };
    assert_eq!(
        at("test://static/resource/1"),
        Some(("everything".into(), "test://static/resource/1".into()))
    );
    assert_eq!(
        at("test://template/9/data"),
        Some(("everything".into(), "test://template/9/data".into()))
    );
    assert_eq!(
        at("file://o__/b"),
        Some(("other".into(), "file:///b".into()))
    );
    // Anything else goes to the unprefixed server, which answers for its own URIs.
    assert_eq!(at("test://unknown").unwrap().0, "everything");
}

#[test]
fn a_denied_resource_is_neither_listed_nor_read_by_its_uri() {
    let c = cfg(r#"
[tenants.t.servers.p]
command = "x"
prefix = ""
resources.deny = ["secret://*"]
[tenants.t.servers.q]
command = "x"
resources.allow = ["public://*"]
"#);
    let offer = Arc::new(Offer {
        resources: Item::list(&[
            json!({"uri": "secret://key", "name": "k"}),
            json!({"uri": "public://a", "name": "a"}),
        ]),
        ..Default::default()
    });
    let cat = build(&c, &[("p", offer.clone()), ("q", offer)]);
    let uris: Vec<Value> = cat
        .resources
        .iter()
        .map(|r| r.value()["uri"].clone())
        .collect();
    assert_eq!(uris, ["public://a", "public://q__a"]);
    let namer = Namer::new("__", 64);
    assert_eq!(cat.resolve_uri(&namer, "secret://key"), None);
    assert_eq!(cat.resolve_uri(&namer, "secret://q__key"), None);
    assert!(cat.resolve_uri(&namer, "public://q__a").is_some());
}

#[test]
fn two_unprefixed_servers_with_the_same_uri_the_earlier_keeps_it() {
    let c = cfg(r#"
[tenants.t.servers.b]
command = "x"
prefix = ""
[tenants.t.servers.a]
command = "x"
prefix = ""
"#);
    let r = Arc::new(Offer {
        resources: Item::list(&[json!({"uri": "mem://x", "name": "x"})]),
        ..Default::default()
    });
    let cat = build(&c, &[("a", r.clone()), ("b", r)]);
    assert_eq!(cat.resources.len(), 1);
    assert_eq!(cat.collisions[0].kind, "resource");
    assert_eq!(cat.collisions[0].kept_by.as_str(), "b");
}

#[test]
fn search_mode_lists_pinned_tools_and_meta_tools_that_say_how_many_tools_they_reach() {
    let c = cfg(r#"
[tenants.t.catalog]
mode = "search"
pinned = ["a__alpha", "a__missing"]
[tenants.t.servers.a]
command = "x"
[tenants.t.servers.b]
command = "x"
"#);
    let cat = build(
        &c,
        &[
            ("a", tools(&["alpha", "beta"])),
            ("b", tools(&["zebra_crossing"])),
        ],
    );
    let listed: Vec<String> = cat
        .list(ListKind::Tools)
        .iter()
        .map(|t| t.value()["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ["a__alpha", SEARCH_TOOLS, DESCRIBE_TOOL, CALL_TOOL]);
    let search = &cat.list(ListKind::Tools)[1].value();
    assert!(
        search["description"]
            .as_str()
            .unwrap()
            .contains("3 tools from 2 servers"),
        "{search}"
    );
    assert_eq!(cat.tools.len(), 3, "every tool is still in the catalog");

    let found = cat
        .meta_call(&json!({"name": SEARCH_TOOLS, "arguments": {"query": "zebra", "limit": 2}}))
        .unwrap();
    let MetaCall::Answer(found) = found else {
        panic!("{found:?}")
    };
    assert_eq!(
        found["structuredContent"]["tools"][0]["name"],
        "b__zebra_crossing"
    );

    let MetaCall::Answer(d) = cat
        .meta_call(&json!({"name": DESCRIBE_TOOL, "arguments": {"name": "a__beta"}}))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(d["structuredContent"]["inputSchema"]["type"], "object");

    let call = cat
        .meta_call(&json!({"name": CALL_TOOL, "arguments": {"name": "a__beta", "arguments": {"x": 1}}, "_meta": {"progressToken": "p1"}}))
        .unwrap();
    assert_eq!(
        call,
        MetaCall::Forward(
            json!({"name": "a__beta", "arguments": {"x": 1}, "_meta": {"progressToken": "p1"}})
        )
    );
    assert!(matches!(
        cat.meta_call(&json!({"name": CALL_TOOL, "arguments": {}})),
        Some(MetaCall::Invalid(_))
    ));
    assert_eq!(cat.meta_call(&json!({"name": "a__beta"})), None);
}

#[test]
fn in_full_mode_meta_tool_names_are_ordinary_names() {
    let cat = build(&CatalogConfig::default(), &[("a", tools(&["x"]))]);
    assert_eq!(cat.meta_call(&json!({"name": CALL_TOOL})), None);
    assert_eq!(cat.list(ListKind::Tools).len(), 1);
}

#[test]
fn names_an_unprefixed_server_does_not_offer_pass_through_to_it_but_hidden_ones_do_not() {
    let c = cfg(r#"
[tenants.t.servers.p]
command = "x"
prefix = ""
tools.deny = ["secret"]
"#);
    let cat = build(&c, &[("p", tools(&["open", "secret"]))]);
    assert_eq!(
        cat.passthrough(false, "fixture_only").map(|s| s.as_str()),
        Some("p")
    );
    assert_eq!(
        cat.passthrough(false, "secret"),
        None,
        "denied stays unknown"
    );
    let prefixed = build(&CatalogConfig::default(), &[("p", tools(&["open"]))]);
    assert_eq!(prefixed.passthrough(false, "anything"), None);
}

#[test]
fn a_rebuild_reindexes_only_the_upstreams_whose_tools_changed() {
    let c = cfg(r#"
[tenants.t.catalog]
mode = "search"
[tenants.t.servers.a]
command = "x"
[tenants.t.servers.b]
command = "x"
"#);
    let namer = Namer::new("__", 64);
    let a = tools(&["alpha"]);
    let offers = vec![
        (ServerName::new("a"), a.clone()),
        (ServerName::new("b"), tools(&["beta"])),
    ];
    let first = Catalog::build_shaped(&namer, &c, &offers, 1);
    let changed = vec![
        (ServerName::new("a"), a),
        (ServerName::new("b"), tools(&["beta", "gamma_ray"])),
    ];
    let second = Catalog::rebuild(&namer, &c, &changed, 2, Some(&first));
    assert!(second.index_reused("a", &first));
    assert!(!second.index_reused("b", &first));
    let MetaCall::Answer(found) = second
        .meta_call(&json!({"name": SEARCH_TOOLS, "arguments": {"query": "gamma ray"}}))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        found["structuredContent"]["tools"][0]["name"],
        "b__gamma_ray"
    );
    // A rule of `a` changes: its segment is built again.
    let c2 = cfg(r#"
[tenants.t.catalog]
mode = "search"
[tenants.t.servers.a]
command = "x"
tools.overrides.alpha.description = "new words"
[tenants.t.servers.b]
command = "x"
"#);
    let third = Catalog::rebuild(&namer, &c2, &changed, 3, Some(&second));
    assert!(!third.index_reused("a", &second));
    assert!(third.index_reused("b", &second));
}
