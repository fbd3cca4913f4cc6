//! What every HTTP request passes before it reaches a session: `Host` and `Origin` (DNS-rebinding
//! protection), the tenant named by the route, and the tenant's bearer key.

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::HttpState;
use crate::jsonrpc;
use crate::tenant::Tenant;

/// An HTTP error with a JSON-RPC error body (clients show `message`).
pub fn error(status: StatusCode, code: i64, message: impl Into<String>) -> Response {
    let body =
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message.into()}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Why a `Host` or an `Origin` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the request has no Host header")]
    MissingHost,
    #[error("the request has more than one {0} header")]
    Duplicate(&'static str),
    #[error("the {0} header is not ASCII text")]
    NotText(&'static str),
    #[error("the {0} header `{1}` is not a valid {2}")]
    Malformed(&'static str, String, &'static str),
    #[error("Host `{0}` is not allowed (add it to hub.http.allowed_hosts)")]
    HostNotAllowed(String),
    #[error("Origin `{0}` is not allowed (add it to hub.http.allowed_origins)")]
    OriginNotAllowed(String),
    #[error("the request target's authority `{0}` does not match its Host header")]
    AuthorityMismatch(String),
}

/// A parsed `host[:port]`: an IP literal or a registered name (lowercased), and the port if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub host: HostName,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostName {
    Ip(std::net::IpAddr),
    /// A reg-name: 1-253 of `a-z 0-9 . - _`, lowercased.
    Name(String),
}

impl HostName {
    fn is_loopback_name(&self) -> bool {
        match self {
            HostName::Ip(ip) => ip.is_loopback(),
            HostName::Name(n) => n == "localhost",
        }
    }

    /// As written in a `Host` (IPv6 in brackets), for `allowed_hosts`.
    fn text(&self) -> String {
        match self {
            HostName::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            HostName::Ip(ip) => ip.to_string(),
            HostName::Name(n) => n.clone(),
        }
    }
}

/// Parses `host[:port]` strictly: `host` is an IPv4 address, a bracketed IPv6 address, or a
/// reg-name of letters, digits, `.`, `-`, `_`; `port` is 1-5 digits up to 65535. Nothing else
/// (no userinfo, no path, no text after `]`).
pub fn parse_authority(s: &str) -> Option<Authority> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (HostName::Ip(std::net::IpAddr::V6(ip)), port)
    } else {
        let (h, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if h.is_empty()
            || h.len() > 253
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return None;
        }
        let host = match h.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => HostName::Ip(std::net::IpAddr::V4(ip)),
            Err(_) => HostName::Name(h.to_ascii_lowercase()),
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some(Authority { host, port })
}

/// Parses an `Origin` strictly: `http(s)://host[:port]`, no userinfo, path, query or fragment.
/// Returns the lowercased scheme and the authority.
pub fn parse_origin(s: &str) -> Option<(String, Authority)> {
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") {
        return None;
    }
    Some((scheme, parse_authority(rest)?))
}

/// The only header called `name`, as text: refused when repeated or not ASCII.
fn single<'a>(
    headers: &'a HeaderMap,
    name: header::HeaderName,
    label: &'static str,
) -> Result<Option<&'a str>, HostError> {
    let mut all = headers.get_all(&name).iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(HostError::Duplicate(label));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| HostError::NotText(label))
}

/// Checks `Host` (and an absolute-form request target's authority) and `Origin`.
///
/// A Host must be present (HTTP/1.1 and later), single, strictly `host[:port]`, and either an IP
/// literal (a probe's `<pod IP>:<port>`; an IP literal cannot be a rebinding vector), `localhost`,
/// or in `allowed_hosts`. An Origin, when sent, must be single, strictly `scheme://host[:port]`,
/// and a loopback origin or in `allowed_origins`.
pub fn check_request(
    settings: &crate::config::HttpSettings,
    version: axum::http::Version,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<(), HostError> {
    let host = single(headers, header::HOST, "Host")?;
    let host = match (host, uri.authority()) {
        (Some(h), Some(a)) if !h.eq_ignore_ascii_case(a.as_str()) => {
            return Err(HostError::AuthorityMismatch(a.as_str().to_string()))
        }
        (Some(h), _) => Some(h),
        (None, Some(a)) => Some(a.as_str()),
        (None, None) => None,
    };
    match host {
        Some(h) => {
            let a = parse_authority(h)
                .ok_or_else(|| HostError::Malformed("Host", h.to_string(), "host[:port]"))?;
            let allowed = matches!(a.host, HostName::Ip(_))
                || a.host.is_loopback_name()
                || settings.allowed_hosts.contains(&a.host.text());
            if !allowed {
                return Err(HostError::HostNotAllowed(h.to_string()));
            }
        }
        None if version >= axum::http::Version::HTTP_11 => return Err(HostError::MissingHost),
        None => {}
    }
    if let Some(origin) = single(headers, header::ORIGIN, "Origin")? {
        let Some((scheme, a)) = parse_origin(origin) else {
            return Err(HostError::Malformed(
                "Origin",
                origin.to_string(),
                "scheme://host[:port] origin",
            ));
        };
        let loopback = match &a.host {
            HostName::Ip(ip) => ip.is_loopback(),
            HostName::Name(n) => n == "localhost",
        };
        let listed = settings.allowed_origins.iter().any(|o| {
            parse_origin(o).is_some_and(|(s, oa)| s == scheme && oa == a)
                || o.eq_ignore_ascii_case(origin)
        });
        if !(loopback || listed) {
            return Err(HostError::OriginNotAllowed(origin.to_string()));
        }
    }
    Ok(())
}

/// The 403 for a refused `Host` or `Origin`.
pub fn forbidden(e: &HostError) -> Response {
    error(
        StatusCode::FORBIDDEN,
        jsonrpc::INVALID_REQUEST,
        format!("Forbidden: {e}"),
    )
}

/// Middleware: every route passes the `Host`/`Origin` check first.
pub async fn host_and_origin(
    axum::extract::State(state): axum::extract::State<Arc<HttpState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match check_request(&state.settings, req.version(), req.uri(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::debug!("refused an HTTP request: {e}");
            forbidden(&e)
        }
    }
}

/// The SHA-256 of the key in `Authorization: Bearer <key>`, if there is one.
pub fn presented_key(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(|t| Sha256::digest(t.trim().as_bytes()).into())
}

/// Whether `presented` is one of `digests`: compared against every key, in constant time,
/// whatever matches.
pub fn key_matches(digests: &[[u8; 32]], presented: &[u8; 32]) -> bool {
    digests.iter().fold(0u8, |acc, d| {
        acc | d.ct_eq(presented.as_slice()).unwrap_u8()
    }) == 1
}

/// The tenant a route names (`/t/<tenant>/…`) or the default one, once its key checks out.
pub fn tenant(
    state: &HttpState,
    name: Option<&str>,
    headers: &HeaderMap,
) -> Result<Arc<Tenant>, Response> {
    let tenant = match name {
        Some(n) => state.hub.tenant(n),
        None => state.hub.default_tenant(),
    };
    let Some(tenant) = tenant else {
        return Err(match name {
            Some(n) => error(
                StatusCode::NOT_FOUND,
                jsonrpc::INVALID_REQUEST,
                format!("no tenant `{n}`"),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                jsonrpc::INVALID_REQUEST,
                "no default tenant: use /t/<tenant>/mcp, or set hub.default_tenant",
            ),
        });
    };
    let config = tenant.config();
    let digests = &config.api_key_digests;
    if !digests.is_empty() {
        let ok = presented_key(headers).is_some_and(|p| key_matches(digests, &p));
        if !ok {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                jsonrpc::INVALID_REQUEST,
                format!(
                    "Unauthorized: tenant `{}` needs `Authorization: Bearer <key>`",
                    tenant.id
                ),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Bearer realm=\"mcp-hub\", error=\"invalid_token\"",
                ),
            );
            return Err(r);
        }
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Uri, Version};

    fn settings() -> crate::config::HttpSettings {
        let mut s = crate::config::HubConfig::from_str_at(
            "[tenants.default.servers.x]\ncommand = \"x\"\n",
            std::path::Path::new("/tmp/hub.toml"),
            &|_| None,
        )
        .expect("config")
        .hub
        .http;
        s.allowed_hosts = vec!["mcp.example.com".into()];
        s.allowed_origins = vec!["https://app.example.com".into()];
        s
    }

    fn check(host: &[&[u8]], origin: &[&[u8]]) -> Result<(), HostError> {
        let mut h = HeaderMap::new();
        for v in host {
            h.append(
                header::HOST,
                HeaderValue::from_bytes(v).expect("header bytes"),
            );
        }
        for v in origin {
            h.append(
                header::ORIGIN,
                HeaderValue::from_bytes(v).expect("header bytes"),
            );
        }
        check_request(&settings(), Version::HTTP_11, &Uri::from_static("/mcp"), &h)
    }

    #[test]
    fn authorities_parse_strictly() {
        assert_eq!(
            parse_authority("LocalHost:8080"),
            Some(Authority {
                host: HostName::Name("localhost".into()),
                port: Some(8080)
            })
        );
        assert!(parse_authority("[::1]:80").is_some());
        assert!(parse_authority("[::1]").is_some());
        assert!(parse_authority("10.1.2.3:8080").is_some());
        for bad in [
            "",
            ":80",
            "[::1].evil.example",
            "[::1]x",
            "[::1]:",
            "[fe80::1%eth0]",
            "[127.0.0.1]",
            "localhost:x@evil.example",
            "localhost:",
            "localhost:123456",
            "localhost:65536",
            "localhost:8080:1",
            "user@localhost",
            "localhost/path",
            "local host",
            "::1",
        ] {
            assert_eq!(parse_authority(bad), None, "{bad:?} should not parse");
        }
        assert!(parse_origin("http://localhost:1@evil.example").is_none());
        assert!(parse_origin("http://localhost/").is_none());
        assert!(parse_origin("http://localhost?x").is_none());
        assert!(parse_origin("null").is_none());
        assert!(parse_origin("file://x").is_none());
    }

    #[test]
    fn hosts_and_origins_are_checked_strictly() {
        for ok in [
            &b"localhost"[..],
            b"localhost:8080",
            b"127.0.0.1",
            b"127.0.0.1:9",
            b"[::1]",
            b"[::1]:80",
            b"10.0.0.7:8080",
            b"[fd00::7]:8080",
            b"MCP.example.com",
        ] {
            assert_eq!(check(&[ok], &[]), Ok(()), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"evil.example"[..],
            b"localhost.evil.example",
            b"127.0.0.1.evil.example",
            b"[::1].evil.example",
            b"localhost:x@evil.example",
            b"local\xffhost",
        ] {
            assert!(
                check(&[bad], &[]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            check(&[b"localhost", b"localhost"], &[]),
            Err(HostError::Duplicate("Host"))
        );
        assert_eq!(check(&[], &[]), Err(HostError::MissingHost));
        assert_eq!(
            check(&[b"localhost"], &[b"\xc3\x28"]),
            Err(HostError::NotText("Origin"))
        );
        for ok in [
            &b"http://localhost:3000"[..],
            b"http://127.0.0.1",
            b"https://[::1]:8443",
            b"https://app.example.com",
            b"HTTPS://App.Example.com",
        ] {
            assert_eq!(
                check(&[b"localhost"], &[ok]),
                Ok(()),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        for bad in [
            &b"http://localhost:1@evil.example"[..],
            b"http://localhost.evil.example",
            b"https://app.example.com.evil.example",
            b"https://app.example.com/",
            b"http://10.0.0.7",
            b"null",
        ] {
            assert!(
                check(&[b"localhost"], &[bad]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            check(
                &[b"localhost"],
                &[b"http://localhost", b"http://evil.example"]
            ),
            Err(HostError::Duplicate("Origin"))
        );
    }

    #[test]
    fn an_absolute_target_must_name_the_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("localhost"));
        let uri = Uri::from_static("http://evil.example/mcp");
        assert!(check_request(&settings(), Version::HTTP_11, &uri, &h).is_err());
        // HTTP/1.0 without Host is allowed (no rebinding browser sends it).
        let none = HeaderMap::new();
        assert_eq!(
            check_request(
                &settings(),
                Version::HTTP_10,
                &Uri::from_static("/health"),
                &none
            ),
            Ok(())
        );
    }
}
