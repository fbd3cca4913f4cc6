//! A Streamable HTTP session's upkeep: the GET stream for what the server sends unasked
//! (reconnected while the link lives, the lists re-read after it connects), and a new
//! `initialize` when the server forgets the session.

use super::*;

impl Shared {
    /// Runs `initialize` again after the server forgot the session (once for concurrent callers).
    pub(super) async fn reinit(&self) -> Result<(), String> {
        let seen = self.generation.load(Ordering::SeqCst);
        let _g = self.reinit_lock.lock().await;
        if self.generation.load(Ordering::SeqCst) != seen {
            return Ok(());
        }
        let Some(init) = self.init_frame.locked().clone() else {
            return Err("lost its session before it was initialized".into());
        };
        *self.session.locked() = None;
        let v: Value = serde_json::from_str(&init).unwrap_or(Value::Null);
        let resp = self
            .streamable_request(init, &v, "initialize", None)
            .send()
            .await
            .map_err(|e| format!("is unreachable: {}", short(e)))?;
        if !resp.status().is_success() {
            return Err(format!(
                "refused to initialize again (HTTP {})",
                resp.status()
            ));
        }
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let _ = resp.bytes().await;
        *self.session.locked() = sid;
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string();
        let nv: Value = serde_json::from_str(&note).unwrap_or(Value::Null);
        let _ = self
            .streamable_request(note, &nv, "notifications/initialized", None)
            .send()
            .await;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The session's GET stream (server-initiated messages); reconnects while the link lives.
    pub(super) fn start_get_stream(self: &Arc<Self>) {
        if self.get_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        self.spawn(async move {
            let _guard = CloseGuard::on_panic(me.conn.clone(), "GET stream reader");
            me.get_stream().await;
        });
    }

    pub(super) async fn get_stream(self: Arc<Self>) {
        let me = self;
        {
            let mut delay = Duration::from_millis(500);
            let mut unreachable = 0u32;
            while !me.stop.is_cancelled() {
                let mut req = me
                    .with_headers(me.client.get(me.cfg.url.clone()))
                    .header(ACCEPT, "text/event-stream");
                if let Some(sid) = me.session.locked().clone() {
                    req = req.header("mcp-session-id", sid);
                }
                if let Some(Era::Handshake { version }) = me.conn.era() {
                    req = req.header("mcp-protocol-version", version.as_str());
                }
                let resp = tokio::select! {
                    r = req.send() => r,
                    _ = me.stop.cancelled() => return,
                };
                match resp {
                    // A server that restarts quickly is given a moment (it keeps its session,
                    // or forgets it and the session is renewed); one that stays away is dead.
                    Err(e) if unreachable >= 3 => {
                        return me.die(format!("is unreachable: {}", short(e)))
                    }
                    Err(_) => {
                        unreachable += 1;
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(250 << unreachable)) => {}
                            _ = me.stop.cancelled() => return,
                        }
                        continue;
                    }
                    Ok(r) if r.status().as_u16() == 405 => return,
                    Ok(r) if matches!(r.status().as_u16(), 404 | 400) => {
                        let body = r.text().await.unwrap_or_default().to_ascii_lowercase();
                        if !body.contains("session") {
                            return;
                        }
                        if let Err(e) = me.reinit().await {
                            return me.die(e);
                        }
                    }
                    Ok(r) if r.status().is_success() => {
                        delay = Duration::from_millis(500);
                        unreachable = 0;
                        // A list change sent while no GET stream was open is lost (servers do
                        // not buffer it): re-read the lists once the stream is up.
                        let conn = me.conn.clone();
                        me.spawn(async move {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            conn.lists_may_have_changed();
                        });
                        me.read_body(r, None).await;
                    }
                    Ok(r) => {
                        tracing::debug!(server = %me.server, "GET stream answered HTTP {}", r.status())
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = me.stop.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
