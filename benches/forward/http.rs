//! The hub over Streamable HTTP: sessions, stateless calls, throughput and memory per idle
//! session, with a hand-written HTTP/1.1 keep-alive client.

use super::*;

// ---------------------------------------------------------------------------------------------
// Streamable HTTP: a minimal blocking HTTP/1.1 keep-alive client (one request in flight per
// connection, Content-Length bodies), so the numbers are the hub's, not an HTTP library's.

pub(crate) const HTTP_CONNS: usize = 64;
pub(crate) const SESSIONS: usize = 500;
pub(crate) const HTTP_IO_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const STATELESS: &str = "2026-07-28";
pub(crate) const HUB_TOOL: &str = "demo__echo";
pub(crate) const TARGET_ADDED_P50_US: f64 = 120.0;
pub(crate) const TARGET_CALLS_PER_S: f64 = 20_000.0;
pub(crate) const TARGET_KIB_PER_SESSION: f64 = 30.0;

pub(crate) fn session_headers(sid: &str) -> String {
    format!("Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {PROTOCOL}\r\n")
}

pub(crate) fn stateless_headers(tool: &str) -> String {
    format!("Mcp-Method: tools/call\r\nMcp-Name: {tool}\r\nMCP-Protocol-Version: {STATELESS}\r\n")
}

pub(crate) fn http_call_body(id: u64, tool: &str, stateless: bool) -> String {
    if stateless {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"message":"{MESSAGE}"}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{STATELESS}","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        )
    } else {
        call_line(id, tool)
    }
}

/// POST `initialize`; the new session's id.
pub(crate) fn http_initialize(conn: &mut Http) -> Result<String> {
    let body = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "forward-bench", "version": "0.1.0"}
        }
    })
    .to_string();
    let r = conn.post("", &body)?;
    if r.status != 200 {
        bail!(
            "initialize over HTTP: status {} body {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    r.session
        .ok_or_else(|| anyhow!("initialize over HTTP: no Mcp-Session-Id header"))
}

pub(crate) fn http_delete(conn: &mut Http, sid: &str) -> Result<u16> {
    Ok(conn.exchange("DELETE", &session_headers(sid), "")?.status)
}

/// Sends one echo call; the answer must be plain JSON (no SSE) with the right id and text.
pub(crate) fn http_call(
    conn: &mut Http,
    headers: &str,
    id: u64,
    tool: &str,
    stateless: bool,
) -> Result<()> {
    let body = http_call_body(id, tool, stateless);
    let r = conn.post(headers, &body)?;
    check_http_echo(&r, id)
}

pub(crate) fn check_http_echo(r: &Reply, id: u64) -> Result<()> {
    if r.status != 200 || !r.content_type.starts_with("application/json") {
        bail!(
            "tools/call over HTTP: status {} ({}) body {}",
            r.status,
            r.content_type,
            String::from_utf8_lossy(&r.body)
        );
    }
    let msg: Value = serde_json::from_slice(&r.body)?;
    if msg["id"].as_u64() != Some(id) {
        bail!("tools/call over HTTP: answer for another id: {msg}");
    }
    check_echo(&msg)
}

/// Sequential calls on one keep-alive connection (the timed part is write → parsed reply,
/// as on the stdio path); the hub's and the upstream's CPU over the timed calls.
pub(crate) fn http_latency(
    conn: &mut Http,
    headers: &str,
    stateless: bool,
    hub: u32,
    upstream: u32,
) -> Result<(Latency, CpuUse)> {
    timed_calls(Some(hub), upstream, |i| {
        let id = i as u64 + 1;
        let body = http_call_body(id, HUB_TOOL, stateless);
        let t0 = Instant::now();
        let r = conn.post(headers, &body)?;
        check_http_echo(&r, id)?; // JSON parse inside the timing, as on the stdio path
        Ok(t0.elapsed())
    })
}

/// `PIPE_CALLS` calls over `HTTP_CONNS` keep-alive connections, one request in flight on
/// each (HTTP/1.1 has no multiplexing); returns calls/s and CPU use.
pub(crate) fn http_throughput(
    addr: std::net::SocketAddr,
    headers: &str,
    stateless: bool,
    hub: u32,
    upstream: u32,
) -> Result<(f64, CpuUse)> {
    let mut conns = Vec::with_capacity(HTTP_CONNS);
    for i in 0..HTTP_CONNS {
        let mut c = Http::connect(addr, HTTP_IO_TIMEOUT)?;
        http_call(&mut c, headers, i as u64, HUB_TOOL, stateless)?; // warm the connection
        conns.push(c);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = std::sync::Barrier::new(HTTP_CONNS + 1);
    let first_id = 1_000_000u64;
    let (results, probe) = std::thread::scope(|s| {
        let handles: Vec<_> = conns
            .into_iter()
            .map(|mut c| {
                let (next, start) = (&next, &start);
                s.spawn(move || -> Result<u64> {
                    start.wait();
                    let c0 = thread_cpu_ns();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= PIPE_CALLS {
                            break;
                        }
                        if let Err(e) =
                            http_call(&mut c, headers, first_id + i as u64, HUB_TOOL, stateless)
                        {
                            next.store(usize::MAX / 2, std::sync::atomic::Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(thread_cpu_ns() - c0)
                })
            })
            .collect();
        let probe = CpuProbe::start(Some(hub), upstream);
        start.wait();
        let results: Vec<Result<u64>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("HTTP client thread panicked")))
            })
            .collect();
        (results, probe)
    });
    let mut client_ns = 0;
    for r in results {
        client_ns += r?;
    }
    let cpu = probe.finish(PIPE_CALLS, client_ns);
    Ok((PIPE_CALLS as f64 / cpu.wall_s, cpu))
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionMemory {
    pub(crate) before_kib: u64,
    pub(crate) after_kib: u64,
    pub(crate) after_delete_kib: Option<u64>,
    pub(crate) per_session_kib: f64,
    pub(crate) open_ms: f64,
    pub(crate) deleted: usize,
}

/// Hub VmRSS before and after `SESSIONS` idle Streamable HTTP sessions (initialize only, all
/// over one keep-alive connection, then 1 s idle); then DELETEs them.
pub(crate) fn session_memory(hub_pid: u32, addr: std::net::SocketAddr) -> Result<SessionMemory> {
    let mut conn = Http::connect(addr, HTTP_IO_TIMEOUT)?;
    // One session with a call, closed again: one-time allocations are not counted per session.
    let sid = http_initialize(&mut conn)?;
    http_call(&mut conn, &session_headers(&sid), 1, HUB_TOOL, false)?;
    http_delete(&mut conn, &sid)?;
    std::thread::sleep(Duration::from_secs(1));
    let before_kib = rss_kib(hub_pid).ok_or_else(|| anyhow!("no VmRSS for the HTTP hub"))?;
    let t0 = Instant::now();
    let mut sids = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        sids.push(http_initialize(&mut conn)?);
    }
    let open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(1));
    let after_kib = rss_kib(hub_pid).ok_or_else(|| anyhow!("no VmRSS for the HTTP hub"))?;
    let mut deleted = 0;
    for sid in &sids {
        if http_delete(&mut conn, sid)? == 200 {
            deleted += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    Ok(SessionMemory {
        before_kib,
        after_kib,
        after_delete_kib: rss_kib(hub_pid),
        per_session_kib: (after_kib as f64 - before_kib as f64) / SESSIONS as f64,
        open_ms,
        deleted,
    })
}
