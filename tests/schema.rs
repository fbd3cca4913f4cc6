//! `mcp-hub schema`: every shipped config validates against the schema the hub prints, and a
//! config the hub refuses for a type error is refused by the schema too (checked with the
//! `jsonschema` package of the pinned Python venv, as an editor would).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::{run_command, test_dep, HUB_BIN};

/// Validates each TOML file against the schema: one line `<file>: ok` or `<file>: <error>`.
const CHECK: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    print(f"{path}: " + ("ok" if not errors else errors[0].message))
"#;

fn validate(files: &[&Path]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut print = Command::new(HUB_BIN);
    print.arg("schema");
    let schema = run_command(print, b"", Duration::from_secs(20)).unwrap();
    assert!(schema.status.success(), "{}", schema.stderr);
    let schema_path = dir.path().join("schema.json");
    std::fs::write(&schema_path, &schema.stdout).unwrap();
    let mut cmd = Command::new(test_dep("py2/bin/python"));
    cmd.args(["-c", CHECK]).arg(&schema_path).args(files);
    let out = run_command(cmd, b"", Duration::from_secs(30)).unwrap();
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    out.stdout
}

#[test]
fn every_shipped_config_fits_the_schema_and_a_type_error_does_not() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = [
        root.join("hub.toml"),
        root.join("examples/first-hub.toml"),
        root.join("examples/multi-tenant.toml"),
        root.join("examples/remote.toml"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[tenants.t.servers.s]\ncommand = \"npx\"\nargs = \"-y @modelcontextprotocol/server-everything\"\n",
    )
    .unwrap();
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[tenants.t.servers.s]\ncomand = \"npx\"\n").unwrap();
    let mut files: Vec<&Path> = shipped.iter().map(|p| p.as_path()).collect();
    files.push(&bad);
    files.push(&unknown);
    let out = validate(&files);
    for p in &shipped {
        assert!(out.contains(&format!("{}: ok", p.display())), "{out}");
    }
    let line = |p: &Path| {
        out.lines()
            .find(|l| l.starts_with(&p.display().to_string()))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        !line(&bad).ends_with(": ok"),
        "the schema refuses args as a string: {out}"
    );
    assert!(
        line(&unknown).contains("comand"),
        "the schema refuses an unknown key: {out}"
    );
    // The hub refuses the same file.
    let check = run_command(
        {
            let mut c = Command::new(HUB_BIN);
            c.args(["--config", bad.to_str().unwrap(), "check"]);
            c
        },
        b"",
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(check.status.code(), Some(64), "{}", check.stderr);
}

/// Type errors across the file's tables: each refused by `check` (exit 64) and by the schema.
#[test]
fn every_kind_of_type_error_is_refused_by_both_the_hub_and_the_schema() {
    let cases = [
        ("int-as-string", "[hub]\npage_size = \"100\"\n"),
        ("duration-as-int", "[hub]\nrequest_timeout = 30\n"),
        ("bool-as-string", "[hub.admin]\nwatch = \"yes\"\n"),
        (
            "nested-list-as-string",
            "[hub.http]\nallowed_hosts = \"a.example\"\n",
        ),
        ("log-level-as-int", "[hub.log]\nlevel = 3\n"),
        (
            "env-as-list",
            "[tenants.t.servers.s]\ncommand = \"x\"\nenv = [\"A=b\"]\n",
        ),
        ("limit-as-float", "[tenants.t.limits]\nmax_servers = 1.5\n"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let server = "[tenants.t.servers.s]\ncommand = \"x\"\n";
    let files: Vec<std::path::PathBuf> = cases
        .iter()
        .map(|(name, text)| {
            let p = dir.path().join(format!("{name}.toml"));
            let full = if text.contains("[tenants.t.servers.s]") {
                text.to_string()
            } else {
                format!("{text}{server}")
            };
            std::fs::write(&p, full).unwrap();
            p
        })
        .collect();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let out = validate(&refs);
    for p in &files {
        let line = out
            .lines()
            .find(|l| l.starts_with(&p.display().to_string()))
            .unwrap_or("");
        assert!(
            !line.ends_with(": ok"),
            "the schema accepts {}: {out}",
            p.display()
        );
        let mut c = Command::new(HUB_BIN);
        c.args(["--config", p.to_str().unwrap(), "check"]);
        let check = run_command(c, b"", Duration::from_secs(20)).unwrap();
        assert_eq!(
            check.status.code(),
            Some(64),
            "{}: {}",
            p.display(),
            check.stdout
        );
    }
}
