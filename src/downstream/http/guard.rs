//! What every HTTP request passes before it reaches a session: `Host` and `Origin` (DNS-rebinding
//! protection), the tenant named by the route, and the tenant's bearer key.

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::HttpState;
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

fn loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// The host part of a `Host` header or an origin's authority, lowercased, without the port.
fn host_of(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if let Some(rest) = a.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, _)) => format!("[{h}]"),
            None => a,
        };
    }
    a.split(':').next().unwrap_or("").to_string()
}

/// 403 for a `Host` or an `Origin` that is not allowed.
pub fn check_host_and_origin(state: &HttpState, headers: &HeaderMap) -> Result<(), Response> {
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let h = host_of(host);
        if !loopback_host(&h) && !state.settings.allowed_hosts.contains(&h) {
            return Err(error(
                StatusCode::FORBIDDEN,
                -32600,
                format!(
                    "Forbidden: Host `{host}` is not allowed (add it to hub.http.allowed_hosts)"
                ),
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()) {
        let allowed = state
            .settings
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            || origin.split_once("://").is_some_and(|(scheme, auth)| {
                matches!(scheme, "http" | "https") && loopback_host(&host_of(auth))
            });
        if !allowed {
            return Err(error(StatusCode::FORBIDDEN, -32600, format!("Forbidden: Origin `{origin}` is not allowed (add it to hub.http.allowed_origins)")));
        }
    }
    Ok(())
}

/// The tenant a route names (`/t/<tenant>/…`) or the default one, once its key checks out.
pub fn tenant(
    state: &HttpState,
    name: Option<&str>,
    headers: &HeaderMap,
) -> Result<Arc<Tenant>, Response> {
    check_host_and_origin(state, headers)?;
    let tenant = match name {
        Some(n) => state.hub.tenants.get(n).cloned(),
        None => state
            .default_tenant
            .as_ref()
            .and_then(|d| state.hub.tenants.get(d).cloned()),
    };
    let Some(tenant) = tenant else {
        return Err(match name {
            Some(n) => error(StatusCode::NOT_FOUND, -32600, format!("no tenant `{n}`")),
            None => error(
                StatusCode::NOT_FOUND,
                -32600,
                "no default tenant: use /t/<tenant>/mcp, or set hub.default_tenant",
            ),
        });
    };
    let digests = &state.hub.config.tenants[&tenant.id].api_key_digests;
    if !digests.is_empty() {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(|t| Sha256::digest(t.trim().as_bytes()));
        // Compare against every key, in constant time, whatever matches.
        let ok = presented.is_some_and(|p| {
            digests
                .iter()
                .fold(0u8, |acc, d| acc | d.ct_eq(p.as_slice()).unwrap_u8())
                == 1
        });
        if !ok {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                -32600,
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

    #[test]
    fn hosts_are_compared_without_ports() {
        assert_eq!(host_of("localhost:8080"), "localhost");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("Evil.Example"), "evil.example");
        assert!(loopback_host(&host_of("127.0.0.1:9")));
        assert!(!loopback_host(&host_of("127.0.0.1.nip.io")));
    }
}
