//! `mcp-hub health`: probe a running hub's `/health` (a container HEALTHCHECK without curl).

#![allow(
    clippy::print_stdout,
    reason = "the CLI's commands print their results to stdout"
)]

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::HubConfig;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};

/// `mcp-hub health`: GET the hub's `/health`; 0 for 200, 1 otherwise. Always says what it found.
pub(super) async fn health(url: Option<&str>, config: &std::path::Path) -> u8 {
    let url = match url {
        Some(u) => health_url(u),
        None => match HubConfig::load(config) {
            Ok(c) => Ok(listen_health_url(c.hub.http.listen)),
            Err(e) => {
                eprintln!(
                    "note: cannot read `{}` for `hub.http.listen` ({} problem(s)); probing the default address",
                    config.display(),
                    e.problems.len()
                );
                Ok(listen_health_url(SocketAddr::from(([127, 0, 0, 1], 8080))))
            }
        },
    };
    let url = match url {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    match crate::admin::probe::get(&url, Duration::from_secs(5)).await {
        Ok((200, body)) => {
            let _ = writeln!(std::io::stdout().lock(), "{body}");
            EXIT_OK
        }
        Ok((status, body)) => {
            let body = body.trim();
            if body.is_empty() {
                eprintln!("error: {url} answered HTTP {status} with an empty body");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{body}");
                eprintln!("error: {url} answered HTTP {status}");
            }
            EXIT_FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot reach {url}: {e}");
            EXIT_FAILURE
        }
    }
}

/// A hub's health URL from what the user gave: a base URL gets `/health`.
fn health_url(given: &str) -> Result<String, String> {
    let mut url = url::Url::parse(given)
        .map_err(|e| format!("`{given}` is not a URL ({e}); e.g. http://127.0.0.1:8080"))?;
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/health");
    }
    Ok(url.to_string())
}

/// `/health` on the listen address; an unspecified address (0.0.0.0, ::) is probed on loopback.
fn listen_health_url(addr: SocketAddr) -> String {
    format!("{}/health", listen_base_url(addr))
}

/// `http://<addr>`; an unspecified address (0.0.0.0, ::) is reached on loopback.
pub(super) fn listen_base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}
