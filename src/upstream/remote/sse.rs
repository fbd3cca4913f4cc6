//! The legacy HTTP+SSE transport (2024-11-05): `GET` the URL, wait for its `endpoint` event,
//! POST messages there, read every answer from the stream.

use super::*;

impl Shared {
    pub(super) async fn post_sse(
        &self,
        endpoint: &url::Url,
        frame: String,
        v: &Value,
        issued: Option<oneshot::Sender<()>>,
    ) {
        let req = with_body(
            self.with_headers(self.client.post(endpoint.clone()))
                .header(CONTENT_TYPE, "application/json"),
            frame,
            issued,
        );
        match req.send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => self.fail(
                v.get("id"),
                format!("answered HTTP {} to a message", r.status()),
            ),
            Err(e) => {
                let reason = format!("is unreachable: {}", short(e));
                self.fail(v.get("id"), reason.clone());
                self.die(reason);
            }
        }
    }

    /// Legacy SSE: GET the URL, wait for the `endpoint` event, read `message` events from then on.
    pub(super) async fn open_sse(self: &Arc<Self>) -> Result<url::Url, String> {
        let req = self
            .with_headers(self.client.get(self.cfg.url.clone()))
            .header(ACCEPT, "text/event-stream");
        let resp = req
            .send()
            .await
            .map_err(|e| format!("is unreachable: {}", short(e)))?;
        if !resp.status().is_success() {
            return Err(format!("answered HTTP {} to the SSE GET", resp.status()));
        }
        let mut events = sse_stream::SseStream::from_bytes_stream(resp.bytes_stream());
        let wait = tokio::time::timeout(self.cfg.connect_timeout, async {
            while let Some(ev) = events.next().await {
                let ev = ev.map_err(|e| format!("broke its SSE stream: {e}"))?;
                if ev.event.as_deref() == Some("endpoint") {
                    return ev
                        .data
                        .ok_or_else(|| "sent an empty endpoint event".to_string());
                }
            }
            Err("closed its SSE stream before sending the endpoint".to_string())
        });
        let data = wait
            .await
            .map_err(|_| "sent no endpoint event in time".to_string())??;
        let endpoint = self
            .cfg
            .url
            .join(data.trim())
            .map_err(|e| format!("sent a bad endpoint `{data}`: {e}"))?;
        tracing::info!(tenant = %self.tenant, server = %self.server, "using legacy SSE; messages go to {}", safe_url(&endpoint));
        *self.mode.locked() = Mode::Sse {
            endpoint: endpoint.clone(),
        };
        let me = self.clone();
        self.spawn(async move {
            let _guard = CloseGuard::on_panic(me.conn.clone(), "SSE reader");
            loop {
                let ev = tokio::select! {
                    e = events.next() => e,
                    _ = me.stop.cancelled() => return,
                };
                match ev {
                    Some(Ok(e)) if e.event.is_none() || e.event.as_deref() == Some("message") => {
                        if let Some(d) = e.data.filter(|d| !d.trim().is_empty()) {
                            me.conn.handle_incoming(&d);
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return me.die(format!("broke its SSE stream: {e}")),
                    None => return me.die("closed its SSE stream".into()),
                }
            }
        });
        Ok(endpoint)
    }
}
