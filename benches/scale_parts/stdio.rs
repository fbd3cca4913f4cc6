//! `mcp-hub stdio` driven by a raw newline-delimited JSON-RPC client: a reader thread hands
//! each line over with its `id` and `method` read (the rest is skipped, not built).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};

use super::procs::Reg;
use crate::harness;

#[derive(serde::Deserialize)]
struct Head {
    id: Option<Value>,
    method: Option<String>,
}

pub struct Line {
    pub id: Option<Value>,
    pub method: Option<String>,
    pub text: String,
}

pub struct StdioHub {
    pub child: Child,
    stdin: ChildStdin,
    rx: mpsc::Receiver<Line>,
    next: u64,
    /// Notifications seen while waiting for answers.
    pub notes: Vec<Line>,
    reg: Reg,
}

impl StdioHub {
    pub fn start(reg: &Reg, config: &Path, log: &Path) -> Result<StdioHub> {
        let mut child = Command::new(harness::HUB_BIN)
            .arg("--config")
            .arg(config)
            .arg("stdio")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("spawn mcp-hub stdio")?;
        reg.add(child.id());
        let stdout = child.stdout.take().context("stdout")?;
        let stdin = child.stdin.take().context("stdin")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(256 * 1024, stdout);
            let mut text = String::new();
            loop {
                text.clear();
                match r.read_line(&mut text) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let head: Head = serde_json::from_str(&text).unwrap_or(Head {
                    id: None,
                    method: None,
                });
                let line = Line {
                    id: head.id,
                    method: head.method,
                    text: std::mem::take(&mut text),
                };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(StdioHub {
            child,
            stdin,
            rx,
            next: 1,
            notes: Vec::new(),
            reg: reg.clone(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, v: &Value) -> Result<()> {
        let mut s = serde_json::to_string(v)?;
        s.push('\n');
        self.stdin.write_all(s.as_bytes())?;
        Ok(())
    }

    /// Sends a request and returns its answer's line.
    pub fn request(&mut self, method: &str, params: Value, limit: Duration) -> Result<Line> {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .rx
                .recv_timeout(left)
                .map_err(|_| anyhow!("no answer to `{method}` within {limit:?}"))?;
            if line.id.as_ref().and_then(Value::as_u64) == Some(id) && line.method.is_none() {
                return Ok(line);
            }
            if line.method.is_some() {
                self.notes.push(line);
            }
        }
    }

    /// Waits for a notification `method` (seen before or arriving within `limit`).
    pub fn wait_note(&mut self, method: &str, limit: Duration) -> Result<()> {
        if let Some(i) = self
            .notes
            .iter()
            .position(|n| n.method.as_deref() == Some(method))
        {
            self.notes.remove(i);
            return Ok(());
        }
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self
                .rx
                .recv_timeout(left)
                .map_err(|_| anyhow!("no `{method}` within {limit:?}"))?;
            if line.method.as_deref() == Some(method) {
                return Ok(());
            }
        }
    }

    pub fn initialize(&mut self) -> Result<()> {
        let init = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "scale", "version": "1"}}),
            Duration::from_secs(120),
        )?;
        if !init.text.contains("\"result\"") {
            return Err(anyhow!("initialize failed: {}", init.text));
        }
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    }
}

impl Drop for StdioHub {
    fn drop(&mut self) {
        self.reg.kill(self.child.id());
        let _ = self.child.wait();
    }
}
