//! What a session asks to be told: the lists it reads (and so hears change), its resource
//! subscriptions, its 2026-07-28 `subscriptions/listen` streams, its log level, and the
//! merged `tasks/list`.

use serde_json::{json, Value};

use super::{Ctx, Session};
use crate::catalog::ListKind;
use crate::config::ServerName;
use crate::downstream::era::LIST_TTL_MS;
use crate::jsonrpc;
use crate::protocol;
use crate::tenant::Listen;

impl Session {
    pub(super) fn list(&self, id: &Value, ctx: Ctx, kind: ListKind, params: &Value) {
        self.peer.mark_listed(kind);
        let cat = self.tenant.catalog();
        let cursor = params.get("cursor").and_then(Value::as_str);
        match cat.page(kind, cursor, self.tenant.settings.page_size) {
            Ok((items, next)) => {
                let mut r = json!({ kind.key(): items });
                if let Some(n) = next {
                    r["nextCursor"] = json!(n);
                }
                if ctx.stateless {
                    r["ttlMs"] = json!(LIST_TTL_MS);
                    r["cacheScope"] = json!("private");
                }
                ctx.reply(id, r);
            }
            Err(e) => ctx.fail(id, jsonrpc::INVALID_PARAMS, format!("Invalid params: {e}")),
        }
    }

    /// Subscriptions are counted per tenant: the upstream hears the first subscribe and the
    /// last unsubscribe; the sessions in between are answered here (false). A session with its
    /// own connection (`share = "session"`) subscribes there itself.
    pub(super) fn count_subscription(
        &self,
        server: &ServerName,
        method: &str,
        uri: String,
    ) -> bool {
        let subscribe = method == "resources/subscribe";
        let own = self
            .tenant
            .upstream(server.as_str())
            .is_some_and(|u| self.tenant.own_upstream(&u, self.id).is_some());
        let changed = {
            let mut st = self.peer.state();
            if subscribe {
                st.subscriptions.insert(uri.clone())
            } else {
                st.subscriptions.remove(&uri)
            }
        };
        if own {
            return true;
        }
        if subscribe {
            self.tenant.subscribe(&uri, changed)
        } else {
            self.tenant.unsubscribe(&uri, changed)
        }
    }

    /// `tasks/list`: every upstream that has tasks (every member of a pool), merged, ids
    /// namespaced (one page).
    pub(super) fn list_tasks(&self, id: Value, ctx: Ctx, params: Value) {
        let tenant = self.tenant.clone();
        self.tenant.spawn(async move {
            let mut all = Vec::new();
            let servers = tenant.upstreams();
            let members = servers.values().flat_map(|u| {
                let pool = tenant.pool_members(&u.name);
                if pool.is_empty() {
                    vec![u.clone()]
                } else {
                    pool
                }
            });
            for up in members {
                let Some(conn) = up.conn() else { continue };
                if up.offer().capabilities.get("tasks").is_none() {
                    continue;
                }
                let mut p = params.clone();
                if let Some(o) = p.as_object_mut() {
                    o.remove("cursor");
                }
                if let Ok(mut r) = conn
                    .request("tasks/list", Some(p), up.cfg.request_timeout)
                    .await
                {
                    crate::rewrite::namespace_task_ids(&mut r, &tenant.namer, up.name.as_str());
                    if let Some(Value::Array(t)) = r.get_mut("tasks").map(Value::take) {
                        all.extend(t);
                    }
                }
            }
            ctx.reply(&id, json!({"tasks": all}));
        });
    }

    /// 2026-07-28: a long-lived request; list-changed and resource-updated notifications the
    /// client opted in to arrive tagged with its id until the client cancels it. The resources
    /// it names are subscribed to upstream (counted with the handshake-era subscriptions) until
    /// the listen is cancelled or its stream closes.
    pub(super) fn listen(&self, id: &Value, ctx: &Ctx, params: &Value) {
        let want = params.get("notifications").cloned().unwrap_or(Value::Null);
        let mut accepted = serde_json::Map::new();
        for kind in [ListKind::Tools, ListKind::Prompts, ListKind::Resources] {
            if want.get(kind.listen_key()) == Some(&Value::Bool(true)) {
                accepted.insert(kind.listen_key().into(), json!(true));
            }
        }
        let uris: Vec<String> = crate::tenant::listen_uris(&want);
        if !uris.is_empty() {
            accepted.insert("resourceSubscriptions".into(), json!(uris));
        }
        let accepted = Value::Object(accepted);
        self.peer.state().listens.push(Listen {
            id: id.clone(),
            filter: accepted.clone(),
            out: ctx.out.clone(),
        });
        for uri in &uris {
            self.tenant.acquire_subscription(uri);
        }
        let ack = json!({"notifications": accepted, "_meta": {protocol::META_SUBSCRIPTION_ID: id}});
        ctx.send(jsonrpc::notification(
            "notifications/subscriptions/acknowledged",
            Some(ack),
        ));
    }

    /// `logging/setLevel` applies to what this session receives; upstreams are set to the most
    /// verbose level any session of the tenant asked for, so every session can get its share.
    pub(super) fn set_level(&self, id: &Value, ctx: Ctx, params: Value) {
        let Some(level) = params
            .get("level")
            .and_then(Value::as_str)
            .and_then(crate::tenant::log_severity)
        else {
            return ctx.fail(id, jsonrpc::INVALID_PARAMS, "Invalid params: `level` must be one of debug, info, notice, warning, error, critical, alert, emergency");
        };
        self.peer.state().log_level = Some(level);
        self.tenant.apply_log_levels();
        self.tenant.apply_own_log_level(self.id);
        ctx.reply(id, json!({}));
    }
}
