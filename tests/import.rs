//! `mcp-hub import` and `client-config` as a user drives them (issue #12 item 5): real-world
//! shaped Claude Desktop, Cursor / Claude Code and VS Code configs become a `hub.toml` that
//! `check` accepts and that serves the same tools (real servers from `.test-deps`, listed by the
//! real Python SDK client); a second import changes nothing; a backup; `--print`; a client's JSON
//! used as `--config`; and the entry `client-config` prints, run as a client would run it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a panic is a failed assertion, not a crashed hub"
)]

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::{
    assert_has, path_str, run_client, run_command, run_hub, run_hub_env, strings, Client, Deps,
    EverythingHttp, Output, CLIENT_TIMEOUT, HUB_BIN,
};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(30);

/// The tools the real Python SDK client lists through `command`.
fn tools_via(command: &[String]) -> Vec<String> {
    let out = run_client(
        Client::Py2Handshake,
        &["--scenario", "basic"],
        command,
        CLIENT_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    strings(&out, "tools")
}

/// `mcp-hub --config <config> stdio`, with `env` set first.
fn hub_stdio(config: &Path, env: &[&str]) -> Vec<String> {
    let mut cmd = vec!["/usr/bin/env".to_string()];
    cmd.extend(env.iter().map(|s| s.to_string()));
    cmd.extend([
        HUB_BIN.to_string(),
        "--config".into(),
        path_str(config),
        "stdio".into(),
    ]);
    cmd
}

fn hub_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_hub_env(config, args, env, LIMIT)
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bak"))
        .collect()
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

#[test]
fn a_claude_desktop_config_imports_into_a_hub_that_serves_the_same_tools() {
    let deps = Deps::get();
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("my documents");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("note.txt"), "hi").unwrap();
    let hub = dir.path().join("hub.toml");
    let before = format!(
        "# the team's hub\n[hub]\nrequest_timeout = \"45s\"  # our calls are slow\n\n[tenants.default.servers.clock]  # kept as is\ncommand = \"{}\"\nrequest_timeout = \"2m\"\n",
        path_str(&deps.time_server())
    );
    std::fs::write(&hub, &before).unwrap();
    let claude = write_json(
        dir.path(),
        "claude_desktop_config.json",
        &json!({"mcpServers": {
            "everything": {"command": path_str(&deps.node()), "args": [path_str(&deps.everything()), "stdio"],
                           "env": {"GREETING": "hello from the desktop"}},
            "Time Server": {"command": path_str(&deps.time_server()), "args": ["--local-timezone", "UTC"]},
            "file system": {"command": path_str(&deps.node()), "args": [path_str(&deps.filesystem()), path_str(&docs)]},
            "half-written": {"args": ["-y", "something"]}
        }}),
    );

    let out = run_hub(&hub, &["import", claude.to_str().unwrap()], "", LIMIT);
    assert_eq!(out.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    let summary = &out.stdout;
    assert!(summary.contains("added      everything"), "{summary}");
    assert!(
        summary.contains("added      Time-Server") && summary.contains("named `Time Server`"),
        "a sanitized name says what it was: {summary}"
    );
    assert!(
        summary.contains("skipped    `half-written`: it has neither `command` nor `url`"),
        "{summary}"
    );
    assert!(
        !summary.contains("hello from the desktop"),
        "env values are not printed: {summary}"
    );
    let after = std::fs::read_to_string(&hub).unwrap();
    assert!(
        after.starts_with(&before),
        "what was there stays as written:\n{after}"
    );
    assert!(
        after.contains(&format!("\"{}\"", path_str(&docs))),
        "an argument with a space: {after}"
    );
    let saved = backups(dir.path());
    assert_eq!(saved.len(), 1, "one backup: {saved:?}");
    assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), before);

    let check = run_hub(&hub, &["check"], "", LIMIT);
    assert_eq!(check.code(), Some(0), "{}\n{}", check.stdout, check.stderr);

    let direct = tools_via(&deps.everything_cmd());
    let tools = tools_via(&hub_stdio(&hub, &[]));
    for t in &direct {
        assert_has(
            &tools,
            &format!("everything__{t}"),
            "server-everything's tools",
        );
    }
    assert_has(&tools, "Time-Server__get_current_time", "mcp-server-time");
    assert_has(&tools, "file-system__list_directory", "server-filesystem");
    assert_has(
        &tools,
        "clock__get_current_time",
        "the server that was there",
    );

    // A second import of the same file changes nothing, and makes no backup.
    let again = run_hub(&hub, &["import", claude.to_str().unwrap()], "", LIMIT);
    assert_eq!(again.code(), Some(0), "{}", again.stderr);
    assert!(
        again.stdout.contains("unchanged  everything"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert_eq!(std::fs::read_to_string(&hub).unwrap(), after);
    assert_eq!(backups(dir.path()).len(), 1);

    // --print: the result on stdout, the summary on stderr, no file written.
    let fresh = dir.path().join("other.toml");
    let printed = run_hub(
        &fresh,
        &[
            "import",
            "--print",
            "--tenant",
            "desk",
            claude.to_str().unwrap(),
        ],
        "",
        LIMIT,
    );
    assert_eq!(printed.code(), Some(0), "{}", printed.stderr);
    assert!(!fresh.exists(), "--print writes nothing");
    let doc: toml::Table = toml::from_str(&printed.stdout).unwrap();
    assert!(
        doc["tenants"]["desk"]["servers"]
            .get("everything")
            .is_some(),
        "{}",
        printed.stdout
    );
    assert!(
        printed.stderr.contains("added      everything"),
        "{}",
        printed.stderr
    );
}

#[test]
fn cursor_and_claude_code_remote_entries_reach_their_servers() {
    let deps = Deps::get();
    let http = EverythingHttp::start("streamableHttp");
    let sse = EverythingHttp::start("sse");
    let dir = tempfile::tempdir().unwrap();
    let mcp = write_json(
        dir.path(),
        ".mcp.json",
        &json!({"mcpServers": {
            "remote-http": {"type": "http", "url": http.url("/mcp"), "headers": {"X-Api-Key": "${REMOTE_KEY:-none}"}},
            "remote-sse": {"type": "sse", "url": sse.url("/sse")},
            "time": {"type": "stdio", "command": path_str(&deps.time_server()), "args": [], "env": {}},
            "socket": {"type": "websocket", "url": "ws://127.0.0.1:1/"}
        }}),
    );
    let hub = dir.path().join("hub.toml");
    let out = run_hub(&hub, &["import", mcp.to_str().unwrap()], "", LIMIT);
    assert_eq!(out.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("skipped    `socket`"), "{}", out.stdout);
    assert!(backups(dir.path()).is_empty(), "a new file needs no backup");
    let text = std::fs::read_to_string(&hub).unwrap();
    assert!(text.contains("transport = \"streamable-http\""), "{text}");
    assert!(text.contains("transport = \"sse\""), "{text}");
    assert!(
        text.contains("X-Api-Key = \"${REMOTE_KEY:-none}\""),
        "{text}"
    );

    let check = run_hub(&hub, &["check"], "", LIMIT);
    assert_eq!(check.code(), Some(0), "{}\n{}", check.stdout, check.stderr);
    let tools = tools_via(&hub_stdio(&hub, &[]));
    assert_has(
        &tools,
        "remote-http__echo",
        "server-everything over Streamable HTTP",
    );
    assert_has(&tools, "remote-sse__echo", "server-everything over SSE");
    assert_has(&tools, "time__get_current_time", "the stdio entry");
}

#[test]
fn a_vs_code_config_with_inputs_names_the_variables_to_set() {
    let deps = Deps::get();
    let dir = tempfile::tempdir().unwrap();
    let vscode = write_json(
        dir.path(),
        "mcp.json",
        &json!({
            "inputs": [{"type": "promptString", "id": "everything-key", "description": "Key for everything", "password": true}],
            "servers": {"everything": {"type": "stdio", "command": path_str(&deps.node()),
                                       "args": [path_str(&deps.everything()), "stdio"],
                                       "env": {"EVERYTHING_KEY": "${input:everything-key}"}}}
        }),
    );
    let hub = dir.path().join("hub.toml");
    let out = run_hub(&hub, &["import", vscode.to_str().unwrap()], "", LIMIT);
    assert_eq!(out.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("set before starting the hub:\n  EVERYTHING_KEY: VS Code input `everything-key`: Key for everything (a secret)"),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(&hub).unwrap();
    assert!(
        text.contains("EVERYTHING_KEY = \"${EVERYTHING_KEY}\""),
        "{text}"
    );

    let unset = hub_env(&hub, &["check"], &[]);
    assert_eq!(unset.code(), Some(64), "{}", unset.stdout);
    assert!(
        unset
            .stderr
            .contains("environment variable `EVERYTHING_KEY` is not set"),
        "{}",
        unset.stderr
    );
    let set = hub_env(&hub, &["check"], &[("EVERYTHING_KEY", "s3cret-value")]);
    assert_eq!(set.code(), Some(0), "{}", set.stderr);
    let tools = tools_via(&hub_stdio(&hub, &["EVERYTHING_KEY=s3cret-value"]));
    assert_has(&tools, "everything__echo", "server-everything");
}

#[test]
fn a_client_json_serves_as_the_config_directly() {
    let deps = Deps::get();
    let dir = tempfile::tempdir().unwrap();
    let claude = write_json(
        dir.path(),
        "claude_desktop_config.json",
        &json!({"mcpServers": {"time": {"command": path_str(&deps.time_server())}}}),
    );
    let check = run_hub(&claude, &["check"], "", LIMIT);
    assert_eq!(check.code(), Some(0), "{}", check.stderr);
    assert!(
        check.stdout.contains("tenant `default`: 1 server(s)"),
        "{}",
        check.stdout
    );
    let tools = tools_via(&hub_stdio(&claude, &[]));
    assert_eq!(
        tools.iter().filter(|t| t.starts_with("time__")).count(),
        2,
        "{tools:?}"
    );
}

#[test]
fn client_config_prints_an_entry_that_runs_this_hub() {
    let deps = Deps::get();
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub.toml");
    std::fs::write(
        &hub,
        format!(
            "[tenants.acme.servers.time]\ncommand = \"{}\"\n\n[tenants.other.servers.time]\ncommand = \"{}\"\n",
            path_str(&deps.time_server()),
            path_str(&deps.time_server())
        ),
    )
    .unwrap();
    // Run from another folder with a relative --config: the entry must not depend on either.
    for (client, top) in [
        ("claude-desktop", "mcpServers"),
        ("cursor", "mcpServers"),
        ("vscode", "servers"),
    ] {
        let mut cmd = Command::new(HUB_BIN);
        cmd.current_dir(dir.path()).args([
            "--config",
            "hub.toml",
            "client-config",
            "--tenant",
            "acme",
            "--for",
            client,
        ]);
        let out = run_command(cmd, b"", LIMIT).unwrap();
        assert_eq!(out.code(), Some(0), "{}", out.stderr);
        let v: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
        let entry = &v[top]["mcp-hub-acme"];
        let command = entry["command"].as_str().unwrap();
        assert!(Path::new(command).is_absolute(), "{command}");
        let args: Vec<String> = entry["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert!(Path::new(&args[1]).is_absolute(), "{args:?}");
        if client == "vscode" {
            assert_eq!(entry["type"], "stdio");
        }
        let mut launch = vec![command.to_string()];
        launch.extend(args);
        let tools = tools_via(&launch);
        assert_has(&tools, "time__get_current_time", client);
    }
    let missing = run_hub(&hub, &["client-config", "--tenant", "nobody"], "", LIMIT);
    assert_eq!(missing.code(), Some(64), "{}", missing.stdout);
    assert!(
        missing.stderr.contains("no tenant `nobody`"),
        "{}",
        missing.stderr
    );
}
