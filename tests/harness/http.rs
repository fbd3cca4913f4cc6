//! HTTP without a client library: a one-shot HTTP/1.1 request with a bounded read that
//! understands chunked bodies and SSE ([`http_request`]), SSE `data:` parsing
//! ([`sse_messages`]), and a keep-alive connection for measurements ([`KeepAlive`]).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The JSON-RPC message in the body: the body itself (application/json), or the first SSE
    /// `data:` event that is a response (has `result` or `error`).
    pub fn json(&self) -> Option<Value> {
        if let Ok(v) = serde_json::from_str::<Value>(&self.body) {
            return Some(v);
        }
        sse_messages(&self.body)
            .into_iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
    }
}

/// The JSON `data:` payloads of an SSE body.
pub fn sse_messages(body: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for event in body.replace("\r\n", "\n").split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            if let Ok(v) = serde_json::from_str(&data.join("\n")) {
                out.push(v);
            }
        }
    }
    out
}

/// How long [`http_request`] waits for a whole response.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// A plain HTTP/1.1 request to `127.0.0.1:port` (`Connection: close`; `Host: 127.0.0.1:PORT`
/// unless `headers` has a `Host`). Reads until the server closes, the `Content-Length` is complete,
/// or — for `text/event-stream` — the first JSON-RPC response event arrived; bounded by
/// [`HTTP_TIMEOUT`]. A write error (the server may answer and close before it read a large body)
/// is ignored: the response is read anyway.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let _ = stream.write_all(&request).and_then(|_| stream.flush());

    let started = Instant::now();
    let deadline = started + HTTP_TIMEOUT;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16384];
    let trace = std::env::var_os("MCP_HUB_TEST_HTTP_TRACE").is_some();
    loop {
        if let Some(resp) = parse_response(&raw, false) {
            if trace {
                eprintln!(
                    "http_request {method} {path}: {} in {:?}",
                    resp.status,
                    started.elapsed()
                );
            }
            return Ok(resp);
        }
        if Instant::now() >= deadline {
            bail!(
                "{method} {path}: no complete response within {HTTP_TIMEOUT:?}; got {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break, // reset after the response: parse what came
        }
    }
    parse_response(&raw, true).ok_or_else(|| {
        anyhow!(
            "{method} {path}: incomplete HTTP response: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// Parses `raw` as a response; `None` while incomplete (unless `eof`: then whatever is there).
fn parse_response(raw: &[u8], eof: bool) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let rest = &raw[end + 4..];
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let (body, complete) = if chunked {
        dechunk(rest)
    } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        (rest[..rest.len().min(len)].to_vec(), rest.len() >= len)
    } else {
        (rest.to_vec(), false)
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    let is_sse = get("content-type").is_some_and(|v| v.starts_with("text/event-stream"));
    let sse_done = is_sse
        && sse_messages(&body)
            .iter()
            .any(|m| m.get("result").is_some() || m.get("error").is_some());
    if complete || sse_done || eof {
        Some(HttpResponse {
            status,
            headers,
            body,
        })
    } else {
        None
    }
}

/// Decodes a chunked body; the bool says whether the last chunk was seen.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        if size == 0 {
            return (out, true);
        }
        let start = eol + 2;
        if rest.len() < start + size {
            out.extend_from_slice(&rest[start..]);
            return (out, false);
        }
        out.extend_from_slice(&rest[start..start + size]);
        rest = rest.get(start + size + 2..).unwrap_or(&[]);
    }
}

// ------------------------------------------------------------------ keep-alive

/// A blocking HTTP/1.1 keep-alive connection with one request in flight (Content-Length bodies
/// only), for measurements where a client library's cost must not count.
pub struct KeepAlive {
    stream: TcpStream,
    host: String,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
    req: Vec<u8>,
}

/// A [`KeepAlive`] reply.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub session: Option<String>,
    pub body: Vec<u8>,
}

impl KeepAlive {
    /// Connects with `io_timeout` on every read and write.
    pub fn connect(addr: SocketAddr, io_timeout: Duration) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(io_timeout))?;
        stream.set_write_timeout(Some(io_timeout))?;
        Ok(KeepAlive {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(16 * 1024),
            req: Vec::with_capacity(1024),
        })
    }

    /// One request on /mcp (head and body in one write), then its reply. `headers` are whole
    /// header lines, each ending in `\r\n`.
    pub fn exchange(&mut self, method: &str, headers: &str, body: &str) -> Result<Reply> {
        self.req.clear();
        write!(
            self.req,
            "{method} /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{headers}Content-Length: {}\r\n\r\n",
            self.host,
            body.len()
        )?;
        self.req.extend_from_slice(body.as_bytes());
        self.stream.write_all(&self.req)?;
        self.reply()
    }

    pub fn post(&mut self, headers: &str, body: &str) -> Result<Reply> {
        self.exchange("POST", headers, body)
    }

    fn fill(&mut self) -> Result<()> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self
            .stream
            .read(&mut tmp)
            .context("reading an HTTP reply (I/O timeout)")?;
        if n == 0 {
            bail!("the server closed the HTTP connection");
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    fn reply(&mut self) -> Result<Reply> {
        let head_len = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if self.buf.len() > 64 * 1024 {
                bail!("HTTP reply head larger than 64 KiB");
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[..head_len]).context("reply head not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad HTTP status line in {head:?}"))?;
        let (mut length, mut content_type, mut session) = (None, String::new(), None);
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("content-type") {
                content_type = v.to_string();
            } else if k.eq_ignore_ascii_case("mcp-session-id") {
                session = Some(v.to_string());
            }
        }
        let length = match length {
            Some(n) => n,
            None if status == 204 || status == 304 || (100..200).contains(&status) => 0,
            None => {
                bail!("HTTP {status} reply without Content-Length (an SSE stream?); head: {head:?}")
            }
        };
        while self.buf.len() < head_len + length {
            self.fill()?;
        }
        let body = self.buf[head_len..head_len + length].to_vec();
        self.buf.drain(..head_len + length);
        Ok(Reply {
            status,
            content_type,
            session,
            body,
        })
    }
}
