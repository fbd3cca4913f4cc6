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
    let e = |s: &str| super::validate::expand_str(s, &env);
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
        let any_env = |_: &str| Some("x".to_string());
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
