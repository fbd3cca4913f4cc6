//! One downstream client: handshake-era (`initialize`) or 2026-07-28 (per-request `_meta`),
//! requests routed through the catalog, answers relayed straight from the upstream's reader.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::catalog::ListKind;
use crate::config::ServerName;
use crate::jsonrpc::{self, Kind, Outbox};
use crate::mux::{DownstreamReply, Finish};
use crate::protocol::{self, STATELESS};
use crate::tenant::{SessionPeer, Tenant};

/// How long a 2026-07-28 client may cache a list (see the README: the hub's upstreams can change
/// at any time, so lists are cached briefly and privately, per tenant).
pub const LIST_TTL_MS: u64 = 5_000;

pub struct Session {
    pub id: u64,
    tenant: Arc<Tenant>,
    out: Outbox,
    peer: Arc<SessionPeer>,
    /// The version agreed by `initialize`, for handshake-era sessions.
    version: Mutex<Option<String>>,
}

/// How a request is to be answered, and where: the session's stream (stdio, legacy SSE) or the
/// request's own (a Streamable HTTP POST).
#[derive(Clone)]
struct Ctx {
    stateless: bool,
    out: Outbox,
}

impl Ctx {
    fn send(&self, frame: String) {
        let _ = self.out.send(frame);
    }

    fn reply(&self, id: &Value, mut result: Value) {
        if self.stateless {
            crate::mux::finish_result(
                &mut result,
                &Finish {
                    uris: None,
                    stateless: true,
                    cache_hint: false,
                    origin: None,
                },
            );
        }
        self.send(jsonrpc::result(id, result));
    }

    fn fail(&self, id: &Value, code: i64, message: impl Into<String>) {
        self.send(jsonrpc::error(id, code, message, None));
    }
}

impl Session {
    pub fn new(tenant: Arc<Tenant>, out: Outbox) -> Arc<Self> {
        let (id, peer) = tenant.register_session(out.clone());
        Arc::new(Self {
            id,
            tenant,
            out,
            peer,
            version: Mutex::new(None),
        })
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    fn send(&self, frame: String) {
        let _ = self.out.send(frame);
    }

    fn fail(&self, id: &Value, code: i64, message: impl Into<String>) {
        self.send(jsonrpc::error(id, code, message, None));
    }

    /// One line from the client. Never blocks on an upstream.
    pub fn handle_line(self: &Arc<Self>, line: &str) {
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return self.fail(
                    &Value::Null,
                    jsonrpc::PARSE_ERROR,
                    format!("Parse error: {e}"),
                )
            }
        };
        self.handle_message(msg);
    }

    pub fn handle_message(self: &Arc<Self>, msg: Value) {
        self.handle_message_on(msg, &self.out.clone());
    }

    /// One message whose answers go to `out` (a Streamable HTTP POST's own stream).
    pub fn handle_message_on(self: &Arc<Self>, msg: Value, out: &Outbox) {
        let fail = |id: &Value, code, m: &str| {
            let _ = out.send(jsonrpc::error(id, code, m, None));
        };
        if msg.is_array() {
            return fail(&Value::Null, jsonrpc::INVALID_REQUEST, "JSON-RPC batches are not supported (MCP removed them in 2025-06-18); send one message per line");
        }
        match jsonrpc::classify(&msg) {
            Kind::Request => self.on_request(msg, out.clone()),
            Kind::Notification => self.on_notification(msg),
            Kind::Response => self.on_response(msg),
            Kind::Invalid => {
                let id = msg
                    .get("id")
                    .filter(|i| i.is_string() || i.is_number())
                    .cloned()
                    .unwrap_or(Value::Null);
                fail(&id, jsonrpc::INVALID_REQUEST, "Invalid request: expected a JSON-RPC 2.0 request, notification or response object");
            }
        }
    }

    fn on_request(self: &Arc<Self>, mut msg: Value, out: Outbox) {
        let id = msg["id"].clone();
        let method = msg["method"].as_str().unwrap_or_default().to_string();
        let params = msg
            .get_mut("params")
            .map(Value::take)
            .unwrap_or_else(|| json!({}));
        if !params.is_object() {
            return Ctx {
                stateless: false,
                out: out.clone(),
            }
            .fail(&id, jsonrpc::INVALID_PARAMS, "`params` must be an object");
        }
        let handshake = self
            .version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        let meta_version = params["_meta"][protocol::META_PROTOCOL_VERSION]
            .as_str()
            .map(str::to_string);
        let stateless = match (&meta_version, handshake) {
            (_, true) => false,
            (Some(v), false) if v == STATELESS => true,
            (Some(v), false) if method != "initialize" && method != "server/discover" => {
                let err = jsonrpc::error(
                    &id,
                    jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
                    "Unsupported protocol version",
                    Some(json!({"requested": v, "supported": [STATELESS]})),
                );
                return {
                    let _ = out.send(err);
                };
            }
            _ => false,
        };
        if stateless {
            if let Some(caps) = params["_meta"].get(protocol::META_CLIENT_CAPABILITIES) {
                *self
                    .peer
                    .client_capabilities
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = caps.clone();
            }
        }
        let ctx = Ctx { stateless, out };
        if stateless
            && matches!(
                method.as_str(),
                "initialize"
                    | "ping"
                    | "logging/setLevel"
                    | "resources/subscribe"
                    | "resources/unsubscribe"
            )
        {
            return ctx.fail(
                &id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("Method not found: `{method}` does not exist in protocol 2026-07-28"),
            );
        }
        if !matches!(method.as_str(), "initialize" | "server/discover" | "ping") {
            self.tenant.first_use();
        }
        match method.as_str() {
            "initialize" => self.initialize(&id, &ctx, &params),
            "server/discover" => ctx.send(jsonrpc::result(&id, self.discover_result())),
            "ping" => ctx.reply(&id, json!({})),
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                let kind = ListKind::from_method(&method).unwrap_or(ListKind::Tools);
                self.when_ready(move |s| s.list(&id, ctx, kind, &params));
            }
            "tools/call" => self.route_named(id, ctx, method, params, true),
            "prompts/get" => self.route_named(id, ctx, method, params, false),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                self.route_uri(id, ctx, method, params)
            }
            "completion/complete" => self.complete(id, ctx, params),
            "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/update" => {
                self.route_task(id, ctx, method, params)
            }
            "tasks/list" => self.list_tasks(id, ctx, params),
            "logging/setLevel" => self.set_level(&id, ctx, params),
            "subscriptions/listen" if stateless => self.listen(&id, &ctx, &params),
            _ => ctx.fail(
                &id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("Method not found: `{method}` is not supported by mcp-hub"),
            ),
        }
    }

    fn initialize(&self, id: &Value, ctx: &Ctx, params: &Value) {
        let requested = params["protocolVersion"]
            .as_str()
            .unwrap_or(protocol::LATEST_HANDSHAKE);
        let version = if protocol::HANDSHAKE_VERSIONS.contains(&requested) {
            requested
        } else {
            protocol::LATEST_HANDSHAKE
        };
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version.to_string());
        *self
            .peer
            .client_capabilities
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = params["capabilities"].clone();
        *self
            .peer
            .handshake
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        tracing::info!(tenant = %self.tenant.id, session = self.id, version, client = %params["clientInfo"]["name"], "client initialized");
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": capabilities(),
            "serverInfo": protocol::hub_info(),
        });
        if let Some(i) = self.instructions() {
            result["instructions"] = json!(i);
        }
        ctx.send(jsonrpc::result(id, result));
    }

    fn discover_result(&self) -> Value {
        let mut r = json!({
            "resultType": "complete",
            "supportedVersions": protocol::ALL_VERSIONS,
            "capabilities": capabilities(),
            "serverInfo": protocol::hub_info(),
            "ttlMs": LIST_TTL_MS,
            "cacheScope": "private",
            "_meta": { protocol::META_SERVER_INFO: protocol::hub_info() },
        });
        if let Some(i) = self.instructions() {
            r["instructions"] = json!(i);
        }
        r
    }

    /// The upstreams' own instructions, each under its server's name.
    fn instructions(&self) -> Option<String> {
        let parts: Vec<String> = self
            .tenant
            .upstreams
            .values()
            .filter_map(|u| {
                u.offer()
                    .instructions
                    .clone()
                    .map(|i| format!("## {}\n{}", u.name, i.trim()))
            })
            .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "mcp-hub serves several MCP servers; each tool and prompt name starts with its server's name and `{}`.\n\n{}",
                self.tenant.settings.separator,
                parts.join("\n\n")
            )
        })
    }

    /// Runs `f` now when the tenant's upstreams have settled, else once they have (or the wait timed out).
    fn when_ready(self: &Arc<Self>, f: impl FnOnce(&Arc<Self>) + Send + 'static) {
        if self.tenant.is_settled() {
            f(self);
        } else {
            let me = self.clone();
            tokio::spawn(async move {
                me.tenant.wait_ready().await;
                f(&me);
            });
        }
    }

    fn list(&self, id: &Value, ctx: Ctx, kind: ListKind, params: &Value) {
        self.peer
            .listed
            .fetch_or(kind.notice_bit(), std::sync::atomic::Ordering::Relaxed);
        let cat = self.tenant.catalog();
        match cat.page(
            kind,
            params["cursor"].as_str(),
            self.tenant.settings.page_size,
        ) {
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

    /// `tools/call` and `prompts/get`: exposed name → (server, upstream name).
    fn route_named(
        self: &Arc<Self>,
        id: Value,
        ctx: Ctx,
        method: String,
        mut params: Value,
        tool: bool,
    ) {
        let Some(name) = params["name"].as_str().map(str::to_string) else {
            return ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                "Invalid params: `name` is required",
            );
        };
        let cat = self.tenant.catalog();
        let route = if tool {
            cat.tool(&name)
        } else {
            cat.prompt(&name)
        }
        .cloned();
        match route {
            Some(r) => {
                params["name"] = json!(r.name);
                self.forward(id, ctx, &r.server, &method, params, true);
            }
            None if !self.tenant.is_settled() => {
                let me = self.clone();
                tokio::spawn(async move {
                    me.tenant.wait_ready().await;
                    me.route_named(id, ctx, method, params, tool);
                });
            }
            None => {
                let what = if tool { "tool" } else { "prompt" };
                let msg = match self.down_server_hint(&name) {
                    Some(hint) => format!("Unknown {what} `{name}`: {hint}"),
                    None => format!("Unknown {what} `{name}`"),
                };
                ctx.fail(&id, jsonrpc::INVALID_PARAMS, msg);
            }
        }
    }

    /// When a name looks like it belongs to a server that is down, say so.
    fn down_server_hint(&self, name: &str) -> Option<String> {
        let sep = &self.tenant.settings.separator;
        let (server, _) = name.split_once(sep.as_str())?;
        let up = self.tenant.upstream(server)?;
        let st = up.status();
        (st.state != crate::upstream::State::Up).then(|| {
            format!(
                "upstream `{server}` is {}{}",
                st.state.as_str(),
                st.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
            )
        })
    }

    /// `resources/*`: namespaced URI → (server, upstream URI).
    fn route_uri(self: &Arc<Self>, id: Value, ctx: Ctx, method: String, mut params: Value) {
        let Some(uri) = params["uri"].as_str().map(str::to_string) else {
            return ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                "Invalid params: `uri` is required",
            );
        };
        let resolved = self
            .tenant
            .namer
            .resolve_uri(&uri, |s| self.tenant.upstream(s).is_some())
            .map(|(s, u)| (ServerName::new(s), u));
        let Some((server, original)) = resolved else {
            return ctx.fail(&id, jsonrpc::INVALID_PARAMS, format!("Resource not found: `{uri}` does not name a server of this hub (URIs look like `scheme://<server>{}…`)", self.tenant.settings.separator));
        };
        if !self.tenant.is_settled()
            && self
                .tenant
                .upstream(server.as_str())
                .and_then(|u| u.conn())
                .is_none()
        {
            let me = self.clone();
            tokio::spawn(async move {
                me.tenant.wait_ready().await;
                me.route_uri(id, ctx, method, params);
            });
            return;
        }
        // Subscriptions are counted per tenant: the upstream hears the first subscribe and the
        // last unsubscribe; the sessions in between are answered here. A session with its own
        // connection (`share = "session"`) subscribes there itself.
        let own = self
            .tenant
            .upstream(server.as_str())
            .is_some_and(|u| self.tenant.own_upstream(u, self.id).is_some());
        match method.as_str() {
            "resources/subscribe" | "resources/unsubscribe" if own => {
                let mut subs = lock(&self.peer.subscriptions);
                if method == "resources/subscribe" {
                    subs.insert(uri.clone());
                } else {
                    subs.remove(&uri);
                }
            }
            "resources/subscribe" => {
                let fresh = lock(&self.peer.subscriptions).insert(uri.clone());
                if !self.tenant.subscribe(&uri, fresh) {
                    return ctx.reply(&id, json!({}));
                }
            }
            "resources/unsubscribe" => {
                let had = lock(&self.peer.subscriptions).remove(&uri);
                if !self.tenant.unsubscribe(&uri, had) {
                    return ctx.reply(&id, json!({}));
                }
            }
            _ => {}
        }
        params["uri"] = json!(original);
        self.forward(id, ctx, &server, &method, params, true);
    }

    /// `tasks/*`: the namespaced task id names its upstream.
    fn route_task(self: &Arc<Self>, id: Value, ctx: Ctx, method: String, mut params: Value) {
        let Some(task) = params["taskId"].as_str().map(str::to_string) else {
            return ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                "Invalid params: `taskId` is required",
            );
        };
        let resolved = self
            .tenant
            .namer
            .resolve_name(&task, |s| self.tenant.upstream(s).is_some())
            .map(|(s, t)| (ServerName::new(s), t.to_string()));
        let Some((server, original)) = resolved else {
            return ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                format!("Unknown task `{task}`"),
            );
        };
        params["taskId"] = json!(original);
        self.forward(id, ctx, &server, &method, params, true);
    }

    /// `tasks/list`: every upstream that has tasks, merged, ids namespaced (one page).
    fn list_tasks(&self, id: Value, ctx: Ctx, params: Value) {
        let tenant = self.tenant.clone();
        tokio::spawn(async move {
            let mut all = Vec::new();
            for up in tenant.upstreams.values() {
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
                    crate::mux::namespace_task_ids(&mut r, &tenant.namer, up.name.as_str());
                    if let Some(Value::Array(t)) = r.get_mut("tasks").map(Value::take) {
                        all.extend(t);
                    }
                }
            }
            ctx.reply(&id, json!({"tasks": all}));
        });
    }

    fn complete(self: &Arc<Self>, id: Value, ctx: Ctx, mut params: Value) {
        let r = &params["ref"];
        match r["type"].as_str() {
            Some("ref/prompt") => {
                let name = r["name"].as_str().unwrap_or_default().to_string();
                let Some(route) = self.tenant.catalog().prompt(&name).cloned() else {
                    return ctx.fail(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        format!("Unknown prompt `{name}`"),
                    );
                };
                params["ref"]["name"] = json!(route.name);
                self.forward(id, ctx, &route.server, "completion/complete", params, false);
            }
            Some("ref/resource") => {
                let uri = r["uri"].as_str().unwrap_or_default().to_string();
                let resolved = self
                    .tenant
                    .namer
                    .resolve_uri(&uri, |s| self.tenant.upstream(s).is_some())
                    .map(|(s, u)| (ServerName::new(s), u));
                let Some((server, original)) = resolved else {
                    return ctx.fail(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        format!("Resource not found: `{uri}`"),
                    );
                };
                params["ref"]["uri"] = json!(original);
                self.forward(id, ctx, &server, "completion/complete", params, false);
            }
            _ => ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                "Invalid params: `ref.type` must be `ref/prompt` or `ref/resource`",
            ),
        }
    }

    /// 2026-07-28: a long-lived request; list-changed and resource-updated notifications the
    /// client opted in to arrive tagged with its id until the client cancels it.
    fn listen(&self, id: &Value, ctx: &Ctx, params: &Value) {
        let want = &params["notifications"];
        let mut accepted = serde_json::Map::new();
        for key in [
            "toolsListChanged",
            "promptsListChanged",
            "resourcesListChanged",
        ] {
            if want[key] == true {
                accepted.insert(key.into(), json!(true));
            }
        }
        if let Some(uris) = want["resourceSubscriptions"]
            .as_array()
            .filter(|a| !a.is_empty())
        {
            accepted.insert("resourceSubscriptions".into(), json!(uris));
        }
        let accepted = Value::Object(accepted);
        self.peer
            .listens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(crate::tenant::Listen {
                id: id.clone(),
                filter: accepted.clone(),
                out: ctx.out.clone(),
            });
        let ack = json!({"notifications": accepted, "_meta": {protocol::META_SUBSCRIPTION_ID: id}});
        ctx.send(jsonrpc::notification(
            "notifications/subscriptions/acknowledged",
            Some(ack),
        ));
    }

    /// `logging/setLevel` applies to what this session receives; upstreams are set to the most
    /// verbose level any session of the tenant asked for, so every session can get its share.
    fn set_level(&self, id: &Value, ctx: Ctx, params: Value) {
        let Some(level) = params["level"]
            .as_str()
            .and_then(crate::tenant::log_severity)
        else {
            return ctx.fail(id, jsonrpc::INVALID_PARAMS, "Invalid params: `level` must be one of debug, info, notice, warning, error, critical, alert, emergency");
        };
        *lock(&self.peer.log_level) = Some(level);
        self.tenant.apply_log_levels();
        self.tenant.apply_own_log_level(self.id);
        ctx.reply(id, json!({}));
    }

    fn forward(
        self: &Arc<Self>,
        id: Value,
        ctx: Ctx,
        server: &ServerName,
        method: &str,
        params: Value,
        namespace_uris: bool,
    ) {
        let Some(up) = self.tenant.upstream(server.as_str()) else {
            return ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                format!("Unknown server `{server}`"),
            );
        };
        let own = self.tenant.own_upstream(up, self.id);
        let up = own.as_ref().unwrap_or(up);
        let Some(conn) = up.conn() else {
            let st = up.status();
            if !st.settled {
                // The upstream (a session's own connection, `share = "session"`) is starting: wait for it.
                let (me, up, server, method) =
                    (self.clone(), up.clone(), server.clone(), method.to_string());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(up.cfg.startup_timeout, up.settled()).await;
                    me.tenant.apply_own_log_level(me.id);
                    me.forward(id, ctx, &server, &method, params, namespace_uris);
                });
                return;
            }
            let msg = format!(
                "upstream `{server}` is {}{}",
                st.state.as_str(),
                st.last_error.map(|e| format!(": {e}")).unwrap_or_default()
            );
            return ctx.send(jsonrpc::error(
                &id,
                jsonrpc::UPSTREAM_FAILED,
                msg,
                Some(json!({"server": server.as_str()})),
            ));
        };
        // What this request is, to bind MRTR bridge state to (2026-07-28 clients only).
        let origin: Option<Arc<str>> = ctx.stateless.then(|| {
            let what = params["name"]
                .as_str()
                .or(params["uri"].as_str())
                .unwrap_or_default();
            Arc::from(format!("{method} {server}/{what}"))
        });
        let bridged_retry = ctx.stateless
            && params["requestState"]
                .as_str()
                .is_some_and(|s| s.starts_with(crate::bridge::PREFIX));
        let log_level = params["_meta"][protocol::META_LOG_LEVEL]
            .as_str()
            .and_then(crate::tenant::log_severity);
        let retry = (!ctx.stateless
            && matches!(conn.era(), Some(crate::mux::Era::Stateless { .. }))
            && matches!(method, "tools/call" | "prompts/get" | "resources/read"))
        .then(|| Box::new((method.to_string(), params.clone())));
        let reply = DownstreamReply {
            retry,
            out: ctx.out.clone(),
            session: self.id,
            log_level: log_level.filter(|_| ctx.stateless),
            progress: params["_meta"].get("progressToken").cloned(),
            id,
            finish: Finish {
                uris: namespace_uris.then(|| (self.tenant.namer.clone(), server.clone())),
                stateless: ctx.stateless,
                cache_hint: method == "resources/read",
                origin: origin.clone(),
            },
        };
        if bridged_retry {
            if let Err(failed) =
                self.tenant
                    .resume_bridged(origin.as_deref().unwrap_or_default(), &params, reply)
            {
                let (reply, e) = *failed;
                ctx.fail(
                    &reply.id,
                    jsonrpc::INVALID_PARAMS,
                    format!("Invalid params: {e}"),
                );
            }
            return;
        }
        if let Err(failed) = conn.forward(method, params, reply, up.cfg.request_timeout) {
            let (reply, e) = *failed;
            ctx.send(e.to_error_value(&reply.id).to_string());
        }
    }

    fn on_notification(&self, msg: Value) {
        match msg["method"].as_str() {
            Some("notifications/cancelled") => {
                let rid = &msg["params"]["requestId"];
                let mut listens = self.peer.listens.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(i) = listens.iter().position(|l| &l.id == rid) {
                    listens.remove(i);
                    return;
                }
                drop(listens);
                let reason = msg["params"]["reason"].as_str();
                for conn in self.tenant.conns_of_session(self.id) {
                    if conn.cancel_downstream(self.id, rid, reason) {
                        tracing::debug!(session = self.id, server = %conn.server, "cancelled request {rid}");
                        return;
                    }
                }
            }
            Some("notifications/roots/list_changed") => {
                for conn in self.tenant.conns_of_session(self.id) {
                    let _ = conn.notify("notifications/roots/list_changed", None);
                }
            }
            _ => {}
        }
    }

    /// The client answered a request the hub relayed from an upstream.
    fn on_response(&self, msg: Value) {
        let Some(hid) = msg["id"].as_str().map(str::to_string) else {
            return;
        };
        if let Some((_, tx)) = self.peer.waiting.remove(&hid) {
            let _ = tx.send(msg);
            return;
        }
        if let Some((_, (conn, uid))) = self.peer.relayed.remove(&hid) {
            let _ = conn.respond_raw(msg, uid);
        }
    }

    /// The transport is gone.
    pub fn close(&self) {
        self.tenant.end_session(self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the hub offers every client, whatever its upstreams offer.
fn capabilities() -> Value {
    json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "completions": {},
        "logging": {},
        "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}},
    })
}
