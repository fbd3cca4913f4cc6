//! A minimal HTTP client on hyper for the CLI's questions to a running hub: `mcp-hub health`
//! (a container HEALTHCHECK without curl), and `status`/`tools`/`reload --url` (the admin API).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// GETs an `http://` URL; returns the status code and the body as text.
pub async fn get(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    request("GET", url, None, timeout).await
}

/// Sends `method` to an `http://` URL, with `Authorization: Bearer <key>` when given; returns
/// the status code and the body as text.
pub async fn request(
    method: &str,
    url: &str,
    key: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported".into());
    }
    let host = uri.host().ok_or("the URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let work = async {
        let stream = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, format!("{host}:{port}"));
        if let Some(k) = key {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {}", humantime::format_duration(timeout)))?
}
