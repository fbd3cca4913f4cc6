//! One `[tenants.<t>.servers.<s>]` table: a process (`command`) or a remote (`url`), its
//! restart policy (the hub's defaults overridden key by key), and every value checked.

use std::path::Path;
use std::time::Duration;

use super::expand::is_env_name;
use super::raw::{RawRestart, RawServer};
use super::validate::{check_env_names, check_ident, duration, int_in, merge_names, Collector};
use super::*;

pub(super) fn restart(
    c: &mut Collector,
    path: &str,
    r: Option<&RawRestart>,
    base: Option<&RestartPolicy>,
) -> RestartPolicy {
    let d = base.cloned().unwrap_or(RestartPolicy {
        mode: RestartMode::OnFailure,
        max_retries: 5,
        initial_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(30),
        stable_after: Duration::from_secs(60),
    });
    let Some(r) = r else { return d };
    let mode = match r.policy.as_deref() {
        None => d.mode,
        Some("always") => RestartMode::Always,
        Some("on-failure") => RestartMode::OnFailure,
        Some("never") => RestartMode::Never,
        Some(other) => {
            c.push(
                format!("{path}.policy"),
                format!("`{other}` is not a restart policy"),
                Some("use `always`, `on-failure` or `never`"),
            );
            d.mode
        }
    };
    let p = RestartPolicy {
        mode,
        max_retries: int_in(
            c,
            &format!("{path}.max_retries"),
            r.max_retries,
            i64::from(d.max_retries),
            0,
            1000,
        ) as u32,
        initial_backoff: duration(
            c,
            &format!("{path}.initial_backoff"),
            r.initial_backoff.as_ref(),
            d.initial_backoff,
        ),
        max_backoff: duration(
            c,
            &format!("{path}.max_backoff"),
            r.max_backoff.as_ref(),
            d.max_backoff,
        ),
        stable_after: duration(
            c,
            &format!("{path}.stable_after"),
            r.stable_after.as_ref(),
            d.stable_after,
        ),
    };
    if p.initial_backoff > p.max_backoff {
        c.push(
            format!("{path}.initial_backoff"),
            "is longer than `max_backoff`",
            Some("make `initial_backoff` at most `max_backoff`"),
        );
    }
    p
}

fn remote(c: &mut Collector, spath: &str, rs: &RawServer) -> Option<RemoteConfig> {
    let Some(u) = &rs.url else {
        if rs.transport.is_some() {
            c.push(
                format!("{spath}.transport"),
                "only applies to remote servers (`url`)",
                Some("remove it, or give the server a `url`"),
            );
        }
        if rs.connect_timeout.is_some() {
            c.push(
                format!("{spath}.connect_timeout"),
                "only applies to remote servers (`url`)",
                Some("remove it, or give the server a `url`"),
            );
        }
        // A container serving Streamable HTTP (`port`) is sent them too.
        let http_container = rs.container.as_ref().is_some_and(|k| k.port.is_some());
        if !rs.headers.is_empty() && !http_container {
            c.push(
                format!("{spath}.headers"),
                "only applies to remote servers (`url`) and containers with a `port`",
                Some("for a process, use `env`"),
            );
        }
        return None;
    };
    let url = match url::Url::parse(u) {
        Ok(x) if matches!(x.scheme(), "http" | "https") && x.host().is_some() => x,
        _ => {
            c.push(
                format!("{spath}.url"),
                format!("`{u}` is not an http(s) URL"),
                Some("e.g. `https://mcp.example.com/mcp` or `http://127.0.0.1:3001/sse`"),
            );
            return None;
        }
    };
    let transport = match rs.transport.as_deref() {
        None | Some("auto") => RemoteTransport::Auto,
        Some("streamable-http") => RemoteTransport::StreamableHttp,
        Some("sse") => RemoteTransport::Sse,
        Some(o) => {
            c.push(format!("{spath}.transport"), format!("`{o}` is not a transport"), Some("use `streamable-http`, `sse`, or leave it out to try Streamable HTTP and fall back to SSE"));
            RemoteTransport::Auto
        }
    };
    Some(RemoteConfig {
        url,
        transport,
        headers: headers(c, spath, &rs.headers),
        connect_timeout: duration(
            c,
            &format!("{spath}.connect_timeout"),
            rs.connect_timeout.as_ref(),
            Duration::from_secs(10),
        ),
    })
}

/// `headers`, each checked as HTTP: sent with every request to a remote server, or to a container
/// serving Streamable HTTP.
fn headers(
    c: &mut Collector,
    spath: &str,
    raw: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for (k, v) in raw {
        if axum::http::HeaderName::from_bytes(k.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(v).is_err()
        {
            c.push(
                format!("{spath}.headers.{k}"),
                "is not a valid HTTP header",
                Some("header names are letters, digits and `-`; values are visible ASCII"),
            );
        } else {
            headers.push((k.clone(), v.clone()));
        }
    }
    headers
}

pub(super) fn server(
    c: &mut Collector,
    spath: &str,
    sname: &str,
    rs: RawServer,
    hub: &HubSettings,
    base: &Path,
) -> Option<ServerConfig> {
    let name_ok = check_ident(c, spath, sname, 32, "server name");
    if name_ok && sname.contains(hub.separator.as_str()) {
        c.push(
            spath,
            format!(
                "server name `{sname}` contains the separator `{}`",
                hub.separator
            ),
            Some("rename the server, or choose another `hub.separator`"),
        );
    }
    let remote = remote(c, spath, &rs);
    let kinds = [
        rs.command.is_some(),
        rs.url.is_some(),
        rs.container.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        c.push(
            spath,
            "has more than one of `command`, `url` and `container`",
            Some("a server is a process (`command`), remote (`url`) or a container (`[…container]`): keep one"),
        );
    }
    let container = rs.container.map(|rc| {
        let mut k = super::container::container(
            c,
            &format!("{spath}.container"),
            rc,
            &hub.containers,
            base,
        );
        if k.port.is_some() && rs.url.is_none() {
            k.headers = super::container_http::HttpHeaders(headers(c, spath, &rs.headers));
        }
        k
    });
    let command = match (rs.command, &rs.url) {
        (Some(cmd), None) if !cmd.trim().is_empty() => cmd,
        (Some(_), None) if container.is_none() => {
            c.push(
                format!("{spath}.command"),
                "must not be empty",
                Some("set it to the program that starts the server, e.g. `command = \"npx\"`"),
            );
            String::new()
        }
        (None, None) if container.is_none() => {
            c.push(format!("{spath}.command"), "is missing", Some("set it to the program that starts the server, e.g. `command = \"npx\"`, give a remote server's `url`, or a `[…container]` table"));
            String::new()
        }
        _ => String::new(),
    };
    for k in rs.env.keys() {
        if !is_env_name(k) {
            c.push(
                format!("{spath}.env.{k}"),
                format!("`{k}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    check_env_names(c, &format!("{spath}.env_passthrough"), &rs.env_passthrough);
    let cwd = match rs.cwd {
        None => base.to_path_buf(),
        Some(s) => {
            let p = base.join(&s);
            if !p.is_dir() {
                c.push(
                    format!("{spath}.cwd"),
                    format!("`{s}` is not a directory (resolved to `{}`)", p.display()),
                    Some("relative paths are taken from the config file's folder"),
                );
            }
            p
        }
    };
    let start = match rs.start.as_deref() {
        // A container's strategy says when it starts: on-demand and scheduled ones wait.
        None if container
            .as_ref()
            .is_some_and(|k| k.strategy == Strategy::OnDemand) =>
        {
            StartMode::Lazy
        }
        None | Some("eager") => StartMode::Eager,
        Some("lazy") => StartMode::Lazy,
        Some(o) => {
            c.push(
                format!("{spath}.start"),
                format!("`{o}` is not a start mode"),
                Some("use `eager` (with the hub) or `lazy` (on first use)"),
            );
            StartMode::Eager
        }
    };
    let share = match rs.share.as_deref() {
        None | Some("tenant") => Share::Tenant,
        Some("session") => Share::Session,
        Some(o) => {
            c.push(
                format!("{spath}.share"),
                format!("`{o}` is not a sharing mode"),
                Some(
                    "use `tenant` (one connection for all sessions) or `session` (one per session)",
                ),
            );
            Share::Tenant
        }
    };
    let protocol = match rs.protocol.as_deref() {
        None | Some("auto") => ProtocolPref::Auto,
        Some("handshake") => ProtocolPref::Handshake,
        Some("2026-07-28") => ProtocolPref::Stateless,
        Some(o) => {
            c.push(
                format!("{spath}.protocol"),
                format!("`{o}` is not a protocol choice"),
                Some("use `auto`, `handshake` or `2026-07-28`"),
            );
            ProtocolPref::Auto
        }
    };
    let mut restart = restart(
        c,
        &format!("{spath}.restart"),
        rs.restart.as_ref(),
        Some(&hub.restart),
    );
    // An always-on container is restarted whatever its exit code, unless a policy is written.
    if container
        .as_ref()
        .is_some_and(|k| k.strategy != Strategy::OnDemand)
        && rs.restart.as_ref().is_none_or(|r| r.policy.is_none())
    {
        restart.mode = RestartMode::Always;
    }
    Some(ServerConfig {
        name: ServerName::new(sname),
        remote,
        container,
        command,
        args: rs.args,
        env: rs.env,
        env_passthrough: merge_names(&hub.env_passthrough, &rs.env_passthrough),
        cwd,
        enabled: rs.enabled.unwrap_or(true),
        start,
        share,
        request_timeout: duration(
            c,
            &format!("{spath}.request_timeout"),
            rs.request_timeout.as_ref(),
            hub.request_timeout,
        ),
        startup_timeout: duration(
            c,
            &format!("{spath}.startup_timeout"),
            rs.startup_timeout.as_ref(),
            hub.startup_timeout,
        ),
        protocol,
        restart,
        kind: rs.kind,
        metadata: rs.metadata,
    })
}
