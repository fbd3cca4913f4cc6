//! 10,000 idle Streamable HTTP sessions and 2,000 legacy SSE streams held at once: memory per
//! session and stream, a fresh client's latency while they are held, then all of them calling.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::procs::{settled_rss, Reg};
use super::{ms, pct};
use crate::harness;

const SESSIONS: usize = 10_000;
const STREAMS: usize = 2_000;
const THREADS: usize = 8;
const FRESH: usize = 200;
const IO: Duration = Duration::from_secs(30);
const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"scale","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

fn call(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"e__echo","arguments":{{"message":"m{id}"}}}}}}"#
    )
}

/// A keep-alive HTTP/1.1 connection (Content-Length replies only).
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    host: String,
}

impl Conn {
    fn open(addr: SocketAddr) -> Result<Conn> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO))?;
        Ok(Conn {
            s,
            buf: Vec::new(),
            host: addr.to_string(),
        })
    }

    /// POSTs `body` to `path`; returns the status, the session id header and the body.
    fn post(
        &mut self,
        path: &str,
        session: Option<&str>,
        body: &str,
    ) -> Result<(u16, Option<String>, String)> {
        let extra = session.map_or(String::new(), |s| {
            format!("Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: 2025-06-18\r\n")
        });
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.s.write_all(req.as_bytes())?;
        let head_end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("bad status line: {head:?}"))?;
        let mut len = 0;
        let mut sid = None;
        for l in head.split("\r\n") {
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("mcp-session-id") {
                    sid = Some(v.trim().to_string());
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    bail!("a streamed reply (not measured here): {head:?}");
                }
            }
        }
        while self.buf.len() < head_end + len {
            self.fill()?;
        }
        let body = String::from_utf8_lossy(&self.buf[head_end..head_end + len]).to_string();
        self.buf.drain(..head_end + len);
        Ok((status, sid, body))
    }

    fn fill(&mut self) -> Result<()> {
        let mut tmp = [0u8; 8192];
        let n = self.s.read(&mut tmp)?;
        if n == 0 {
            bail!("the hub closed the connection");
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }
}

/// One Streamable HTTP session: initialize, initialized; its id.
fn open_session(c: &mut Conn) -> Result<String> {
    let (status, sid, body) = c.post("/mcp", None, INIT)?;
    if status != 200 {
        bail!("initialize: {status} {body}");
    }
    let sid = sid.context("no Mcp-Session-Id")?;
    let (status, _, _) = c.post("/mcp", Some(&sid), INITIALIZED)?;
    if status != 202 && status != 200 {
        bail!("notifications/initialized: {status}");
    }
    Ok(sid)
}

/// A legacy SSE stream: its socket, what was read of it, and the endpoint to POST to.
struct Stream {
    s: BufReader<TcpStream>,
    endpoint: String,
}

impl Stream {
    fn open(addr: SocketAddr) -> Result<Stream> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(IO))?;
        write!(
            s,
            "GET /sse HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )?;
        let mut r = BufReader::new(s);
        let endpoint = loop {
            let mut l = String::new();
            if r.read_line(&mut l)? == 0 {
                bail!("the SSE stream ended before its endpoint");
            }
            if let Some(e) = l.trim_end().strip_prefix("data: ") {
                break e.to_string();
            }
        };
        Ok(Stream { s: r, endpoint })
    }

    /// Reads the stream until a `data:` line holds the answer to `id`; whether it is a result.
    fn answer(&mut self, id: u64) -> Result<bool> {
        let (a, b) = (format!("\"id\":{id},"), format!("\"id\":{id}}}"));
        loop {
            let mut l = String::new();
            if self.s.read_line(&mut l)? == 0 {
                bail!("the SSE stream ended");
            }
            if l.starts_with("data: ") && (l.contains(&a) || l.contains(&b)) {
                return Ok(l.contains("\"result\""));
            }
        }
    }
}

/// Runs `f` over `items` split across [`THREADS`] threads, each with its own connection;
/// returns the number of errors and the first one.
fn spread<T: Send>(
    addr: SocketAddr,
    items: &mut [T],
    f: impl Fn(&mut Conn, &mut T) -> Result<()> + Sync,
) -> (usize, Option<String>) {
    let per = items.len().div_ceil(THREADS).max(1);
    std::thread::scope(|sc| {
        let hs: Vec<_> = items
            .chunks_mut(per)
            .map(|chunk| {
                let f = &f;
                sc.spawn(move || {
                    let (mut errors, mut first) = (0, None);
                    let mut c = match Conn::open(addr) {
                        Ok(c) => c,
                        Err(e) => return (chunk.len(), Some(e.to_string())),
                    };
                    for it in chunk.iter_mut() {
                        if let Err(e) = f(&mut c, it) {
                            errors += 1;
                            first.get_or_insert(e.to_string());
                            if let Ok(n) = Conn::open(addr) {
                                c = n;
                            }
                        }
                    }
                    (errors, first)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or((per, Some("thread panicked".into()))))
            .fold((0, None), |(n, f), (m, g)| (n + m, f.or(g)))
    })
}

pub fn run(reg: &Reg, server: &Path) -> Result<()> {
    println!("\n## 3. {SESSIONS} idle Streamable HTTP sessions and {STREAMS} legacy SSE streams (`serve`)");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sessions.toml");
    std::fs::write(
        &path,
        format!(
            "[hub.http]\nmax_sessions_per_tenant = {}\nmax_connections = {}\n[tenants.default.servers.e]\ncommand = {:?}\nargs = [\"--name\", \"e\"]\n",
            SESSIONS + STREAMS + FRESH + 100,
            STREAMS + 1024,
            server.display().to_string()
        ),
    )?;
    let mut child = Command::new(harness::HUB_BIN)
        .arg("--config")
        .arg(&path)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn,mcp_hub=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    reg.add(pid);
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(a) = harness::ready_addr(&harness::strip_ansi(&l)) {
                    break a;
                }
            }
            _ => bail!("the hub ended before its ready line"),
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    // Warm: the upstream is up and one session has called.
    let mut c = Conn::open(addr)?;
    let sid = open_session(&mut c)?;
    let (st, _, body) = c.post("/mcp", Some(&sid), &call(2))?;
    if st != 200 || !body.contains("echoes") {
        bail!("the warm-up call failed: {st} {body}");
    }
    let rss0 = settled_rss(pid, Duration::from_secs(3));

    let t = Instant::now();
    let mut ids: Vec<String> = vec![String::new(); SESSIONS];
    let (errors, first) = spread(addr, &mut ids, |c, id| {
        *id = open_session(c)?;
        Ok(())
    });
    let took = t.elapsed();
    let rss1 = settled_rss(pid, Duration::from_secs(5));
    println!(
        "{SESSIONS} sessions opened in {} ({errors} errors{}); hub RSS {:.1} → {:.1} MiB: {:.1} KiB per idle session",
        ms(took),
        first.map(|e| format!(", first: {e}")).unwrap_or_default(),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        rss1.saturating_sub(rss0) as f64 / SESSIONS as f64
    );

    let t = Instant::now();
    let mut streams = Vec::with_capacity(STREAMS);
    let mut stream_errors = 0;
    for _ in 0..STREAMS {
        match Stream::open(addr) {
            Ok(s) => streams.push(s),
            Err(e) => {
                stream_errors += 1;
                if stream_errors == 1 {
                    eprintln!("scale bench: an SSE stream failed: {e:#}");
                }
            }
        }
    }
    // Each legacy session is initialized through its endpoint (the answers come on its stream).
    let mut poster = Conn::open(addr)?;
    for s in &mut streams {
        let ok = poster
            .post(&s.endpoint, None, INIT)
            .map_err(|e| e.to_string())
            .and_then(|(st, _, _)| {
                if st == 202 {
                    Ok(())
                } else {
                    Err(format!("{st}"))
                }
            })
            .and_then(|_| s.answer(1).map_err(|e| e.to_string()))
            .and_then(|_| {
                poster
                    .post(&s.endpoint, None, INITIALIZED)
                    .map_err(|e| e.to_string())
            });
        if ok.is_err() {
            stream_errors += 1;
        }
    }
    let took = t.elapsed();
    let rss2 = settled_rss(pid, Duration::from_secs(5));
    println!(
        "{} SSE streams opened and initialized in {} ({stream_errors} errors); hub RSS {:.1} MiB: {:.1} KiB per idle stream",
        streams.len(),
        ms(took),
        rss2 as f64 / 1024.0,
        rss2.saturating_sub(rss1) as f64 / STREAMS as f64
    );

    let mut fresh = Vec::with_capacity(FRESH);
    let mut fresh_errors = 0;
    for i in 0..FRESH {
        let t = Instant::now();
        let r = Conn::open(addr).and_then(|mut c| {
            let sid = open_session(&mut c)?;
            let (st, _, body) = c.post("/mcp", Some(&sid), &call(i as u64 + 10))?;
            if st != 200 || !body.contains("echoes") {
                bail!("{st} {body}");
            }
            Ok(())
        });
        fresh.push(t.elapsed());
        if r.is_err() {
            fresh_errors += 1;
        }
    }
    fresh.sort();
    println!(
        "a fresh client's connect + initialize + initialized + tools/call while they are held: p50 {}, p99 {} ({FRESH} clients, {fresh_errors} errors)",
        ms(pct(&fresh, 0.5)),
        ms(pct(&fresh, 0.99))
    );

    let t = Instant::now();
    let mut calls: Vec<(u64, String)> = ids
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i as u64 + 1000, s))
        .collect();
    let (call_errors, first) = spread(addr, &mut calls, |c, (id, sid)| {
        let (st, _, body) = c.post("/mcp", Some(sid), &call(*id))?;
        if st != 200 || !body.contains("echoes") {
            bail!("{st} {body}");
        }
        Ok(())
    });
    let took = t.elapsed();
    println!(
        "every session calls once: {} calls in {} ({:.0}/s), {call_errors} errors{}",
        calls.len(),
        ms(took),
        calls.len() as f64 / took.as_secs_f64(),
        first.map(|e| format!(", first: {e}")).unwrap_or_default()
    );
    let t = Instant::now();
    let mut sse_errors = 0;
    for (i, s) in streams.iter_mut().enumerate() {
        let id = 100_000 + i as u64;
        let ok = poster
            .post(&s.endpoint, None, &call(id))
            .map_err(|e| e.to_string())
            .and_then(|(st, _, _)| {
                if st == 202 {
                    Ok(())
                } else {
                    Err(format!("{st}"))
                }
            })
            .and_then(|_| s.answer(id).map_err(|e| e.to_string()));
        if !matches!(ok, Ok(true)) {
            sse_errors += 1;
        }
    }
    let took = t.elapsed();
    println!(
        "every SSE stream calls once: {} calls in {}, {sse_errors} errors",
        streams.len(),
        ms(took)
    );
    let rss3 = settled_rss(pid, Duration::from_secs(3));
    println!(
        "hub RSS after all the calls: {:.1} MiB",
        rss3 as f64 / 1024.0
    );
    drop(streams);
    reg.kill(pid);
    let _ = child.wait();
    Ok(())
}
