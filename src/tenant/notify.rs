//! Who gets which notification: a catalog change goes to the sessions that read that list,
//! an upstream's log message to the sessions that want its level, a resource update to the
//! sessions subscribed to it, task status to handshake-era sessions. Every field of an
//! upstream's notification is read tolerantly: a wrong-typed one is dropped, never a panic.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{log_severity, Tenant};
use crate::config::ServerName;
use crate::jsonrpc;
use crate::mux::Conn;
use crate::protocol::{self, ListKind};
use crate::upstream::handshake;

/// The `params` object of a message, when it has one.
fn params_mut(msg: &mut Value) -> Option<&mut Map<String, Value>> {
    msg.as_object_mut()?.get_mut("params")?.as_object_mut()
}

impl Tenant {
    /// Tells handshake-era sessions that read the list, on their stream, and 2026-07-28
    /// sessions that opted in, on their `subscriptions/listen` stream.
    pub(super) fn broadcast_list_changed(&self, kind: ListKind) {
        let method = kind.changed_notification();
        let frame = jsonrpc::notification(method, None);
        for s in self.each_session() {
            if s.has_listed(kind) && s.is_handshake() {
                let _ = s.out.send(frame.clone());
            }
            for l in s.state().listens.iter() {
                if l.filter.get(kind.listen_key()) == Some(&Value::Bool(true)) {
                    let params = json!({"_meta": {protocol::META_SUBSCRIPTION_ID: l.id}});
                    let _ = l.out.send(jsonrpc::notification(method, Some(params)));
                }
            }
        }
    }

    /// Re-reads some lists of one upstream after its `list_changed`, then rebuilds the catalog.
    async fn refresh(self: Arc<Self>, server: ServerName, kinds: &'static [ListKind]) {
        let Some(up) = self.upstream(server.as_str()) else {
            return;
        };
        let Some(conn) = up.conn() else { return };
        for &kind in kinds {
            match handshake::list_all(&conn, kind, up.cfg.request_timeout).await {
                Ok(items) => match (kind, self.pinner()) {
                    (ListKind::Tools, Some(p)) => {
                        p.filter(&server, items, |v| up.update_offer(|o| o.tools = v))
                            .await
                    }
                    _ => up.update_offer(|o| *o.list_mut(kind) = items),
                },
                Err(e) => {
                    tracing::warn!(tenant = %self.id, server = %server, "could not re-read `{}`: {e}", kind.method())
                }
            }
        }
        self.rebuild();
    }

    pub(super) fn on_upstream_notification(
        &self,
        conn: &Arc<Conn>,
        msg: Value,
        scope: Option<u64>,
    ) {
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kinds = ListKind::from_changed_notification(&method);
        if !kinds.is_empty() {
            // The catalog is read from the shared connection; a session's own connection is
            // expected to offer the same.
            if scope.is_none() {
                if let Some(me) = self.me.upgrade() {
                    self.spawn(me.refresh(conn.server.clone(), kinds));
                }
            }
            return;
        }
        match method.as_str() {
            "notifications/message" => self.relay_log(conn, msg, scope),
            "notifications/resources/updated" => self.relay_resource_updated(conn, msg, scope),
            "notifications/tasks/status" => self.relay_task_status(conn, msg, scope),
            "notifications/cancelled" => self.relay_cancelled(conn, msg, scope),
            _ => {
                tracing::debug!(tenant = %self.id, server = %conn.server, "notification `{method}` from upstream not relayed")
            }
        }
    }

    /// An upstream's log line: `logger` names the upstream; handshake-era sessions get it at
    /// the level each set, 2026-07-28 requests in flight whose `_meta` asked for a level too.
    fn relay_log(&self, conn: &Arc<Conn>, mut msg: Value, scope: Option<u64>) {
        let server = &conn.server;
        let Some(params) = params_mut(&mut msg) else {
            tracing::debug!(tenant = %self.id, server = %server, "dropped a `notifications/message` whose params are not an object");
            return;
        };
        let logger = match params.get("logger").and_then(Value::as_str) {
            Some(l) => format!("{server}/{l}"),
            None => server.to_string(),
        };
        params.insert("logger".into(), json!(logger));
        let severity = params
            .get("level")
            .and_then(Value::as_str)
            .and_then(log_severity)
            .unwrap_or(0);
        let frame = msg.to_string();
        for (_, s) in self.audience(server, scope) {
            let wants = s.log_level().is_none_or(|l| severity >= l);
            if wants && s.is_handshake() {
                let _ = s.out.send_droppable(frame.clone());
            }
        }
        for c in conn.active_calls() {
            if c.stateless && c.log_level.is_some_and(|l| severity >= l) {
                let _ = c.out.send_droppable(frame.clone());
            }
        }
    }

    /// A resource changed: the sessions subscribed to it (and the listens that named it) are told,
    /// with the namespaced URI.
    fn relay_resource_updated(&self, conn: &Arc<Conn>, mut msg: Value, scope: Option<u64>) {
        let Some(params) = params_mut(&mut msg) else {
            return;
        };
        let Some(uri) = params.get("uri").and_then(Value::as_str) else {
            return;
        };
        let ns = self.expose_uri(conn.server.as_str(), uri);
        params.insert("uri".into(), json!(ns));
        let frame = msg.to_string();
        for (_, s) in self.audience(&conn.server, scope) {
            let st = s.state();
            if st.subscriptions.contains(&ns) {
                let _ = s.out.send(frame.clone());
            }
            for l in st.listens.iter() {
                if super::sessions::listen_uris(&l.filter).contains(&ns) {
                    let mut m = msg.clone();
                    if let Some(p) = params_mut(&mut m) {
                        p.insert(
                            "_meta".into(),
                            json!({protocol::META_SUBSCRIPTION_ID: l.id}),
                        );
                    }
                    let _ = l.out.send(m.to_string());
                }
            }
        }
    }

    fn relay_task_status(&self, conn: &Arc<Conn>, mut msg: Value, scope: Option<u64>) {
        let Some(params) = msg.get_mut("params") else {
            return;
        };
        crate::rewrite::namespace_task_ids(params, &self.namer, conn.server.as_str());
        let frame = msg.to_string();
        for (_, s) in self.audience(&conn.server, scope) {
            if s.is_handshake() {
                let _ = s.out.send(frame.clone());
            }
        }
    }

    /// The upstream withdrew a request it relayed to a client: the client hears it under the
    /// hub's id for that request.
    fn relay_cancelled(&self, conn: &Arc<Conn>, mut msg: Value, scope: Option<u64>) {
        let Some(uid) = params_mut(&mut msg).and_then(|p| p.get("requestId").cloned()) else {
            return;
        };
        for (_, s) in self.audience(&conn.server, scope) {
            let hit = s
                .relayed
                .iter()
                .find(|e| Arc::ptr_eq(&e.value().0, conn) && e.value().1 == uid)
                .map(|e| e.key().clone());
            if let Some(hid) = hit {
                s.relayed.remove(&hid);
                if let Some(p) = params_mut(&mut msg) {
                    p.insert("requestId".into(), json!(hid));
                }
                let _ = s.out.send(msg.to_string());
            }
        }
    }
}
