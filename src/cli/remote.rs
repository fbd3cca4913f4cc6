//! The commands that ask a running hub through its admin API instead of starting upstreams:
//! `status --url`, `tools --url`, `reload` (and [`super::pins`]). The key comes from `--key` or `MCP_HUB_API_KEY`.

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::config::HubConfig;

/// The base URL of a hub's admin API: `--url` (its path dropped), else the config's
/// `[hub.admin] listen` or `hub.http.listen` (loopback when it listens on every address).
pub(super) fn base(url: Option<&str>, config: &Path) -> Result<String, String> {
    if let Some(u) = url {
        let mut u = url::Url::parse(u)
            .map_err(|e| format!("`{u}` is not a URL ({e}); e.g. http://127.0.0.1:8080"))?;
        u.set_path("");
        u.set_query(None);
        return Ok(u.to_string().trim_end_matches('/').to_string());
    }
    let c = HubConfig::load(config).map_err(|e| {
        format!(
            "cannot read `{}` to find the hub: {} problem(s); pass --url",
            config.display(),
            e.problems.len()
        )
    })?;
    Ok(super::health::listen_base_url(
        c.hub.admin.listen.unwrap_or(c.hub.http.listen),
    ))
}

/// Asks the API; the body as JSON on 2xx, else prints why and gives the exit code.
pub(super) async fn ask(method: &str, url: &str, key: Option<&str>) -> Result<Value, u8> {
    match crate::admin::probe::request(method, url, key, Duration::from_secs(120)).await {
        Ok((status, body)) if (200..300).contains(&status) => {
            serde_json::from_str(&body).map_err(|e| {
                eprintln!("error: {url} answered something that is not JSON ({e})");
                EXIT_FAILURE
            })
        }
        Ok((status, body)) => {
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let err = v.get("error");
            let msg = err
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or(body.trim());
            eprintln!("error: {url} answered HTTP {status}: {msg}");
            for p in err
                .and_then(|e| e.get("problems"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                eprintln!(
                    "  - {} (line {}): {}",
                    p.get("path").and_then(Value::as_str).unwrap_or(""),
                    p.get("line").and_then(Value::as_u64).unwrap_or(0),
                    p.get("message").and_then(Value::as_str).unwrap_or("")
                );
            }
            if let Some(h) = err.and_then(|e| e.get("hint")).and_then(Value::as_str) {
                eprintln!("hint: {h}");
            }
            Err(EXIT_FAILURE)
        }
        Err(e) => {
            eprintln!("error: cannot reach {url}: {e}");
            Err(EXIT_FAILURE)
        }
    }
}

pub(super) fn usage(e: String) -> u8 {
    eprintln!("error: {e}");
    EXIT_USAGE
}

/// `mcp-hub reload [--url URL]`: `POST /api/reload`; prints what changed.
pub(super) async fn reload(url: Option<&str>, key: Option<&str>, config: &Path) -> u8 {
    let base = match base(url, config) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    match ask("POST", &format!("{base}/api/reload"), key).await {
        Ok(report) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            EXIT_OK
        }
        Err(code) => code,
    }
}

/// `mcp-hub status --url URL`: each server's state from a running hub; 1 if any is not up.
pub(super) async fn status(url: &str, key: Option<&str>, tenant: Option<&str>) -> u8 {
    let base = match base(Some(url), Path::new("")) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let path = match tenant {
        Some(t) => format!("{base}/api/servers?tenant={t}"),
        None => format!("{base}/api/servers"),
    };
    let v = match ask("GET", &path, key).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut all_up = true;
    let mut out = std::io::stdout().lock();
    for s in v
        .get("servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let get = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("");
        let state = get("state");
        let strategy = s
            .pointer("/container/strategy")
            .and_then(Value::as_str)
            .unwrap_or("");
        let health = s
            .pointer("/container/health")
            .and_then(Value::as_str)
            .map(|h| format!(" health={h}"))
            .unwrap_or_default();
        // A pre-warmed pool: `pool k/N up` (a member down for good is not replaced).
        let pool = s.pointer("/container/pool").map(|p| {
            let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
            (n("up"), n("total"))
        });
        let health = match pool {
            Some((up, total)) => format!(" pool {up}/{total} up{health}"),
            None => health,
        };
        // A stopped on-demand container is where it should be: it starts on the next call.
        let parked = strategy == "on-demand" && state == "idle";
        let short = pool.is_some_and(|(up, total)| up < total);
        if s.get("enabled") == Some(&Value::Bool(true)) && (state != "up" || short) && !parked {
            all_up = false;
        }
        let count = |k: &str| {
            s.get("counts")
                .and_then(|c| c.get(k))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let _ = writeln!(
            out,
            "{}/{:<20} {:<9} tools={:<3} prompts={:<3} resources={:<3} {}",
            get("tenant"),
            get("name"),
            state,
            count("tools"),
            count("prompts"),
            count("resources"),
            match (strategy, s.get("last_error").and_then(Value::as_str)) {
                ("", None) => String::new(),
                ("", Some(e)) => format!("last error: {e}"),
                (k, None) => format!("container {k}{health}"),
                (k, Some(e)) => format!("container {k}{health}; last error: {e}"),
            }
        );
        for h in s
            .get("hidden")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let hget = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("");
            let _ = writeln!(
                out,
                "{}/{:<20} hidden: {} `{}` (kept by `{}`, earlier in the file)",
                get("tenant"),
                get("name"),
                hget("kind"),
                hget("name"),
                hget("kept_by")
            );
        }
    }
    if all_up {
        EXIT_OK
    } else {
        EXIT_FAILURE
    }
}

/// `mcp-hub tools --url URL`: a running hub's catalog.
pub(super) async fn tools(url: &str, key: Option<&str>, tenant: Option<&str>, as_json: bool) -> u8 {
    let base = match base(Some(url), Path::new("")) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let path = match tenant {
        Some(t) => format!("{base}/api/tenants/{t}/tools"),
        None => format!("{base}/api/tools"),
    };
    let v = match ask("GET", &path, key).await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    if as_json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
        return EXIT_OK;
    }
    let tools = v
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(out, "tools ({}):", tools.len());
    for t in tools {
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        let desc = t
            .get("description")
            .and_then(Value::as_str)
            .and_then(|d| d.lines().next())
            .unwrap_or("");
        let _ = writeln!(out, "  {name:<40} {desc}");
    }
    EXIT_OK
}
