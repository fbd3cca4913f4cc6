//! Config validation: each kind of mistake gives its own message with the key path (snapshots).

use std::path::Path;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "ACME_TOKEN" => Some("s3cr3t".into()),
        _ => None,
    }
}

fn errors(text: &str) -> String {
    match HubConfig::from_str_at(text, Path::new("hub.toml"), &env) {
        Ok(_) => panic!("expected the config to be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = r#"
[hub]
separator = "__"
request_timeout = "30s"
[hub.restart]
policy = "always"
max_retries = 3

[tenants.acme.servers.git]
command = "uvx"
args = ["mcp-server-git", "--repository", "."]
env = { TOKEN = "${ACME_TOKEN}" }
start = "lazy"
share = "session"
request_timeout = "2m"
restart = { max_retries = 9 }
"#;

#[test]
fn a_good_config_loads_with_defaults_and_expanded_env() {
    let c = HubConfig::from_str_at(GOOD, Path::new("hub.toml"), &env).unwrap();
    let s = &c.tenants["acme"].servers["git"];
    assert_eq!(s.env["TOKEN"], "s3cr3t");
    assert_eq!(s.start, StartMode::Lazy);
    assert_eq!(s.share, Share::Session);
    assert_eq!(s.request_timeout, Duration::from_secs(120));
    assert_eq!(s.startup_timeout, Duration::from_secs(30));
    assert_eq!(
        s.restart.mode,
        RestartMode::Always,
        "inherits the hub's policy"
    );
    assert_eq!(s.restart.max_retries, 9, "overrides the hub's max_retries");
    assert_eq!(c.hub.max_name_length, 64);
    assert_eq!(
        c.tenant(None).unwrap().id.as_str(),
        "acme",
        "the only tenant is the default"
    );
}

#[test]
fn empty_command() {
    insta::assert_snapshot!(errors("[tenants.acme.servers.git]\ncommand = \"\"\n"));
}

#[test]
fn missing_command_and_unknown_keys_are_all_reported() {
    insta::assert_snapshot!(errors(
        "[hub]\nseperator = \".\"\n[tenants.acme.servers.git]\nargs = []\ncomand = \"uvx\"\n"
    ));
}

#[test]
fn unset_environment_variable() {
    insta::assert_snapshot!(errors("[tenants.acme.servers.git]\ncommand = \"uvx\"\nenv = { TOKEN = \"${NOT_SET_ANYWHERE}\" }\n"));
}

#[test]
fn bad_durations_enums_and_ranges() {
    insta::assert_snapshot!(errors(
        "[hub]\nrequest_timeout = \"soon\"\nmax_name_length = 500\n[tenants.acme.servers.git]\ncommand = \"uvx\"\nstart = \"sometimes\"\nshare = \"everyone\"\nprotocol = \"2030\"\nrestart = { policy = \"maybe\" }\n"
    ));
}

#[test]
fn server_name_containing_the_separator() {
    insta::assert_snapshot!(errors(
        "[tenants.acme.servers.my__git]\ncommand = \"uvx\"\n"
    ));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(errors(
        "[tenants.acme.servers.git]\ncommand = \"uvx\"\nargs = \"--repository .\"\n"
    ));
}

#[test]
fn not_toml_at_all() {
    insta::assert_snapshot!(errors("[tenants.acme\ncommand = \"uvx\"\n"));
}

#[test]
fn no_tenants_and_bad_default_tenant() {
    insta::assert_snapshot!(errors("[hub]\ndefault_tenant = \"nobody\"\n"));
}

#[test]
fn bad_separator_and_cwd() {
    insta::assert_snapshot!(errors("[hub]\nseparator = \"/\"\n[tenants.acme.servers.git]\ncommand = \"uvx\"\ncwd = \"does/not/exist\"\n"));
}

#[test]
fn expand_handles_literals_and_errors() {
    let e = |s: &str| super::expand::expand_str(s, &env);
    assert_eq!(e("Bearer ${ACME_TOKEN}").unwrap(), "Bearer s3cr3t");
    assert_eq!(
        e("cost: $5, literal $${ACME_TOKEN}").unwrap(),
        "cost: $5, literal ${ACME_TOKEN}"
    );
    assert!(e("${ACME_TOKEN").is_err());
    assert!(e("${1BAD}").is_err());
}

#[test]
fn every_config_under_examples_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![dir.join("hub.toml")];
    for entry in std::fs::read_dir(dir.join("examples")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            files.push(p);
        }
    }
    assert!(
        files.len() >= 2,
        "expected hub.toml and at least one examples/*.toml"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Every variable is set (long enough for a key), but those that override hub settings.
        let settings: Vec<String> = super::env_variables().into_iter().map(|(_, v)| v).collect();
        let any_env = |n: &str| (!settings.iter().any(|v| v == n)).then(|| "x".repeat(32));
        if let Err(e) = HubConfig::from_str_at(&text, &f, &any_env) {
            panic!("{} does not parse:\n{e}", f.display());
        }
    }
}

#[test]
fn remote_server_mistakes() {
    insta::assert_snapshot!(errors(
        "[tenants.acme.servers.both]\ncommand = \"uvx\"\nurl = \"http://127.0.0.1:1/mcp\"\n[tenants.acme.servers.badurl]\nurl = \"ftp://x\"\n[tenants.acme.servers.proc]\ncommand = \"uvx\"\nheaders = { A = \"b\" }\ntransport = \"sse\"\n[tenants.acme.servers.weird]\nurl = \"http://127.0.0.1:1/mcp\"\ntransport = \"carrier-pigeon\"\n"
    ));
}

fn load(text: &str) -> HubConfig {
    match HubConfig::from_str_at(text, Path::new("hub.toml"), &env) {
        Ok(c) => c,
        Err(e) => panic!("expected the config to load:\n{e}"),
    }
}

#[test]
fn several_type_errors_across_hub_and_two_servers_are_reported_at_once() {
    let out = errors(
        r#"[hub]
request_timeout = 30
page_size = "100"

[tenants.a.servers.x]
command = "npx"
args = "-y @modelcontextprotocol/server-everything"
enabled = "false"

[tenants.a.servers.y]
command = ["uvx"]
env = { TOKEN = 5 }
env_passthrough = ["HOME", 7]
restart = "always"
"#,
    );
    assert!(out.contains("(8 problems)"), "{out}");
    assert!(
        !out.contains("invalid type") && !out.contains("expected a sequence"),
        "no raw serde text: {out}"
    );
    assert!(
        out.contains(
            r#"hint: write a list: args = ["-y", "@modelcontextprotocol/server-everything"]"#
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"hint: write it with a unit, e.g. request_timeout = "30s""#),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn unknown_keys_with_and_without_a_suggestion() {
    let out = errors(
        "[hub]\nseperator = \".\"\n[tenants.acme.servers.git]\ncomand = \"uvx\"\nenviroment = { A = \"b\" }\ncolour = \"blue\"\n",
    );
    assert!(out.contains("did you mean `separator`?"), "{out}");
    assert!(out.contains("did you mean `command`?"), "{out}");
    assert!(out.contains("did you mean `env`?"), "{out}");
    assert!(out.contains("valid keys here: `command`, `url`"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn missing_command_and_url() {
    let out = errors("[tenants.acme.servers.git]\nargs = [\"x\"]\n\n[tenants.acme.servers.web]\nheaders = { A = \"b\" }\n");
    assert!(
        out.contains("tenants.acme.servers.git.command: is missing"),
        "{out}"
    );
    assert!(
        out.contains("--> hub.toml:1:1"),
        "a missing key points at its table: {out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn a_disabled_server_with_an_unset_variable_loads_with_a_warning() {
    let c = load(
        "[tenants.acme.servers.on]\ncommand = \"uvx\"\n[tenants.acme.servers.off]\ncommand = \"npx\"\nenabled = false\nenv = { TOKEN = \"${NOT_SET_ANYWHERE}\" }\n",
    );
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(c.warnings[0].path, "tenants.acme.servers.off.env.TOKEN");
    assert!(!c.tenants["acme"].servers["off"].enabled);
    insta::assert_snapshot!(c.warnings_report().to_string());
}

#[test]
fn the_same_unset_variable_in_an_enabled_server_is_an_error() {
    let out = errors("[tenants.acme.servers.on]\ncommand = \"uvx\"\nenabled = true\nenv = { TOKEN = \"${NOT_SET_ANYWHERE}\" }\n");
    assert!(
        out.contains("environment variable `NOT_SET_ANYWHERE` is not set"),
        "{out}"
    );
}

#[test]
fn multi_tenant_example_loads_without_the_disabled_servers_token() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = dir.join("examples/multi-tenant.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    let env = |name: &str| {
        (name != "ACME_GITHUB_TOKEN" && !name.starts_with("MCP_HUB_")).then(|| "x".to_string())
    };
    let c = HubConfig::from_str_at(&text, &f, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.warnings.len(), 1, "{}", c.warnings_report());
    assert!(c.warnings[0].message.contains("ACME_GITHUB_TOKEN"));
}

#[test]
fn hub_env_passthrough_is_merged_into_every_server() {
    let c = load(
        "[hub]\nenv_passthrough = [\"SSL_CERT_FILE\", \"CORP_ID\"]\n[tenants.acme.servers.a]\ncommand = \"uvx\"\nenv_passthrough = [\"CORP_ID\", \"GIT_DIR\"]\n[tenants.acme.servers.b]\ncommand = \"npx\"\n",
    );
    assert_eq!(c.hub.env_passthrough, ["SSL_CERT_FILE", "CORP_ID"]);
    let servers = &c.tenants["acme"].servers;
    assert_eq!(
        servers["a"].env_passthrough,
        ["SSL_CERT_FILE", "CORP_ID", "GIT_DIR"],
        "hub's first, then the server's, no duplicates"
    );
    assert_eq!(servers["b"].env_passthrough, ["SSL_CERT_FILE", "CORP_ID"]);
}

#[test]
fn bad_hub_env_passthrough_entry() {
    let out = errors("[hub]\nenv_passthrough = [\"HOME\", \"NOT-A-NAME\"]\n[tenants.acme.servers.a]\ncommand = \"uvx\"\n");
    assert!(
        out.contains(
            "hub.env_passthrough[1]: `NOT-A-NAME` is not a valid environment variable name"
        ),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn raw_shapes_come_from_serde() {
    use super::shape::{shape_of, Shape};
    let s = shape_of::<super::raw::RawServer>();
    let fields = s.fields();
    assert!(fields.contains(&"command") && fields.contains(&"env_passthrough"));
    let Shape::Struct(f) = s else {
        panic!("a server is a table")
    };
    let get = |k: &str| f.iter().find(|(n, _)| *n == k).map(|(_, s)| s.clone());
    assert_eq!(get("args"), Some(Shape::Seq(Box::new(Shape::Str))));
    assert_eq!(get("request_timeout"), Some(Shape::Duration));
    assert_eq!(get("enabled"), Some(Shape::Bool));
    assert_eq!(get("env"), Some(Shape::Map(Box::new(Shape::Str))));
    assert!(matches!(get("restart"), Some(Shape::Struct(_))));
}

#[test]
fn remote_urls_print_without_credentials_or_query() {
    let c = load("[tenants.acme.servers.web]\nurl = \"https://user:pw@mcp.example.com:8443/mcp?key=s3cr3t#x\"\ntransport = \"streamable-http\"\n");
    let r = c.tenants["acme"].servers["web"].remote.as_ref().unwrap();
    assert_eq!(r.public_url(), "https://mcp.example.com:8443/mcp");
    assert_eq!(r.transport.as_str(), "streamable-http");
}

#[test]
fn limits_default_from_the_hub_and_are_overridden_key_by_key() {
    let toml = r#"
[hub.limits]
max_concurrent_calls = 8
calls_per_minute = 600
[hub.admin]
api_keys = ["0123456789abcdef0123"]
listen = "127.0.0.1:9000"
[tenants.a.limits]
max_concurrent_calls = 4
[tenants.a.servers.s]
command = "x"
type = "database"
metadata = { owner = "ops" }
[tenants.b.servers.s]
command = "x"
"#;
    let c = HubConfig::from_str_at(toml, Path::new("hub.toml"), &env).unwrap();
    let a = &c.tenants["a"];
    assert_eq!(a.limits.max_concurrent_calls, Some(4));
    assert_eq!(a.limits.calls_per_minute, Some(600), "from [hub.limits]");
    assert_eq!(c.tenants["b"].limits.max_concurrent_calls, Some(8));
    assert_eq!(a.limits.max_tools, None, "unset means unlimited");
    assert_eq!(a.servers["s"].kind.as_deref(), Some("database"));
    assert_eq!(a.servers["s"].metadata["owner"], "ops");
    assert_eq!(c.hub.admin.key_digests.len(), 1);
    assert_eq!(c.hub.admin.listen, Some("127.0.0.1:9000".parse().unwrap()));
    assert!(c.hub.admin.watch, "the file is watched by default");
}

#[test]
fn operator_key_mistakes() {
    insta::assert_snapshot!(errors(
        r#"
[hub.admin]
api_keys = ["short"]
listen = "not an address"
[hub.limits]
max_concurrent_calls = 0
[tenants.a.limits]
max_servers = 1
[tenants.a.servers.one]
command = "x"
[tenants.a.servers.two]
command = "x"
"#
    ));
}

#[test]
fn catalog_shaping_mistakes_are_reported_with_their_key_paths() {
    let out = errors(
        r#"
[tenants.t.catalog]
mode = "compact"
[tenants.t.servers.a]
command = "x"
prefix = "same"
tools.allow = [""]
tools.rename = { one = "bad name", two = "dup", three = "dup" }
[tenants.t.servers.a.tools.overrides.get_time]
[tenants.t.servers.b]
command = "x"
prefix = "same"
tools.overrides.x.annotations = { readOnly = true }
[tenants.t.servers.c]
command = "x"
prefix = "has__sep"
"#,
    );
    for want in [
        "tenants.t.catalog.mode: `compact` is not a catalog mode",
        "tenants.t.servers.a.tools.allow[0]: is empty",
        "tenants.t.servers.a.tools.rename.one: `bad name` is not a valid exposed name",
        "tenants.t.servers.a.tools.rename.two: renames onto `dup`, as `three` does",
        "tenants.t.servers.a.tools.overrides.get_time: overrides nothing",
        "tenants.t.servers.b.prefix: servers `a` and `b` have the same prefix `same`",
        "tenants.t.servers.b.tools.overrides.x.annotations.readOnly: unknown key",
        "tenants.t.servers.c.prefix: `has__sep` is not a valid prefix",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
}

#[test]
fn catalog_collisions_knowable_from_the_file_are_warnings_naming_both_servers() {
    let c = load(
        r#"
[tenants.t.servers.first]
command = "x"
prefix = ""
[tenants.t.servers.second]
command = "x"
prefix = ""
tools.rename = { foo = "github__bar" }
[tenants.t.servers.github]
command = "x"
"#,
    );
    let w = c.warnings_report().to_string();
    assert!(
        w.contains(
            "tenants.t.servers.second.prefix: servers `first` and `second` both have no prefix"
        ),
        "{w}"
    );
    assert!(
        w.contains("tenants.t.servers.second.tools.rename.foo: `github__bar` may also be a name of server `github`"),
        "{w}"
    );
    let cat = &c.tenants["t"].catalog;
    let order: Vec<&str> = cat.servers.iter().map(|s| s.server.as_str()).collect();
    assert_eq!(order, ["first", "second", "github"], "file order is kept");
    assert_eq!(cat.prefix("first"), "");
    assert_eq!(cat.prefix("github"), "github");
}

mod container_http;
mod environment;
mod schedule;
