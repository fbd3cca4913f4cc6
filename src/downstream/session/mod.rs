//! One downstream client: its requests, in either era, routed through the tenant's catalog
//! ([`crate::route`]) and forwarded to an upstream connection, whose answer the upstream's
//! reader relays straight back. Era negotiation is in [`super::era`].

use std::sync::Arc;

use serde_json::{json, Value};

mod forward;
mod state;

use super::era;
use crate::catalog::{ListKind, MetaCall};
use crate::jsonrpc::{self, Kind, Outbox};
use crate::mux::Finish;
use crate::protocol;
use crate::quota::QuotaError;
use crate::route::{self, RouteError};
use crate::tenant::{SessionPeer, Tenant};

pub struct Session {
    pub id: u64,
    tenant: Arc<Tenant>,
    out: Outbox,
    peer: Arc<SessionPeer>,
}

/// How a request is to be answered, and where: the session's stream (stdio, legacy SSE) or the
/// request's own (a Streamable HTTP POST).
#[derive(Clone)]
struct Ctx {
    stateless: bool,
    out: Outbox,
    /// When the request came in, if anything observes it (`crate::observe::received`).
    received: Option<std::time::Instant>,
    /// Set once routed: when it came in, and its metric series.
    observed: Option<(std::time::Instant, Arc<crate::observe::series::Series>)>,
    /// Members of the params passed on unread, as JSON text (a split `tools/call`: see
    /// `downstream::split`); empty when the params are whole.
    rest: String,
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
                    stateless: true,
                    ..Finish::default()
                },
            );
        }
        self.send(jsonrpc::result(id, result));
    }

    fn fail(&self, id: &Value, code: i64, message: impl Into<String>) {
        self.send(jsonrpc::error(id, code, message, None));
    }

    /// The params whole again, for a way that reads every member.
    fn join(&mut self, params: Value) -> Value {
        if self.rest.is_empty() {
            return params;
        }
        super::split::join(params, &std::mem::take(&mut self.rest))
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
        })
    }

    /// Names the transport the session came by, for the metrics (`stdio` when never named).
    pub fn set_transport(&self, transport: &'static str) {
        self.peer.set_transport(transport);
    }

    /// One line from the client. Never blocks on an upstream.
    pub fn handle_line(self: &Arc<Self>, line: &str) {
        match serde_json::from_str(line) {
            Ok(msg) => self.handle_message(msg),
            Err(e) => {
                let _ = self.out.send(jsonrpc::error(
                    &Value::Null,
                    jsonrpc::PARSE_ERROR,
                    format!("Parse error: {e}"),
                    None,
                ));
            }
        }
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

    /// A `tools/call` read split (`downstream::split`), answered on the session's stream.
    pub fn handle_split(self: &Arc<Self>, call: super::split::SplitCall) {
        let out = self.out.clone();
        self.request(call.id, "tools/call".into(), call.params, call.rest, out);
    }

    fn on_request(self: &Arc<Self>, mut msg: Value, out: Outbox) {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let params = msg
            .get_mut("params")
            .map(Value::take)
            .unwrap_or_else(|| json!({}));
        self.request(id, method, params, String::new(), out);
    }

    /// A request's parts; `rest` is more of its params as text (a split `tools/call`).
    fn request(
        self: &Arc<Self>,
        id: Value,
        method: String,
        params: Value,
        rest: String,
        out: Outbox,
    ) {
        let received = crate::observe::received();
        if !params.is_object() {
            return Ctx {
                stateless: false,
                out,
                received,
                observed: None,
                rest,
            }
            .fail(&id, jsonrpc::INVALID_PARAMS, "`params` must be an object");
        }
        let meta_version = params
            .get("_meta")
            .and_then(|m| m.get(protocol::META_PROTOCOL_VERSION))
            .and_then(Value::as_str);
        let stateless = match era::is_stateless(self.peer.is_handshake(), meta_version, &method) {
            Ok(s) => s,
            Err(e) => {
                let _ = out.send(e.to_frame(&id));
                return;
            }
        };
        if stateless {
            if let Some(caps) = params
                .get("_meta")
                .and_then(|m| m.get(protocol::META_CLIENT_CAPABILITIES))
            {
                self.peer.state().client_capabilities = caps.clone();
            }
        }
        let mut ctx = Ctx {
            stateless,
            out,
            received,
            observed: None,
            rest,
        };
        // A 2026-07-28 request may be bridged or retried: every member is read.
        let params = if stateless { ctx.join(params) } else { params };
        if !matches!(method.as_str(), "initialize" | "server/discover" | "ping") {
            self.tenant.first_use();
        }
        match method.as_str() {
            "initialize" => self.initialize(&id, &ctx, &params),
            "server/discover" => ctx.send(jsonrpc::result(
                &id,
                era::discover_result(self.instructions()),
            )),
            "ping" => ctx.reply(&id, json!({})),
            m if ListKind::from_method(m).is_some() => {
                let kind = ListKind::from_method(m).unwrap_or(ListKind::Tools);
                self.after_settled(move |s| s.list(&id, ctx, kind, &params));
            }
            "tasks/list" => self.list_tasks(id, ctx, params),
            "logging/setLevel" => self.set_level(&id, ctx, params),
            "subscriptions/listen" if stateless => self.listen(&id, &ctx, &params),
            _ => self.route(id, ctx, method, params),
        }
    }

    fn initialize(&self, id: &Value, ctx: &Ctx, params: &Value) {
        let version = era::negotiate(params.get("protocolVersion").and_then(Value::as_str));
        {
            let mut st = self.peer.state();
            st.version = Some(version.to_string());
            st.client_capabilities = params.get("capabilities").cloned().unwrap_or(Value::Null);
        }
        let client = params
            .get("clientInfo")
            .and_then(|c| c.get("name"))
            .cloned()
            .unwrap_or(Value::Null);
        tracing::info!(tenant = %self.tenant.id, session = self.id, version, client = %client, "client initialized");
        ctx.send(jsonrpc::result(
            id,
            era::initialize_result(version, self.instructions()),
        ));
    }

    /// The upstreams' own instructions, each under its server's name.
    fn instructions(&self) -> Option<String> {
        let parts: Vec<String> = self
            .tenant
            .upstreams()
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
                "mcp-hub serves several MCP servers; a tool or prompt name starts with its server's prefix (by default the server's name) and `{}`, unless the server is configured without one.\n\n{}",
                self.tenant.settings.separator,
                parts.join("\n\n")
            )
        })
    }

    /// Runs `f` now when the tenant's upstreams have settled, else once they have (or the
    /// start-up wait ran out): the one place a request waits for the tenant.
    fn after_settled(self: &Arc<Self>, f: impl FnOnce(&Arc<Self>) + Send + 'static) {
        if self.tenant.is_settled() {
            f(self);
        } else {
            let me = self.clone();
            self.tenant.spawn(async move {
                me.tenant.wait_ready().await;
                f(&me);
            });
        }
    }

    /// A request routed by the name, URI or task id in its params.
    fn route(self: &Arc<Self>, id: Value, mut ctx: Ctx, method: String, mut params: Value) {
        let tenant = &self.tenant;
        // Settled first, then the catalog: an upstream's tools are in the catalog before it
        // counts as settled, so a name missing from a catalog read after a settled tenant is
        // really unknown (read the other way round, an upstream coming up in between was missed).
        let settled = tenant.is_settled();
        let cat = tenant.catalog();
        // Search mode: search and describe are answered here; a call through `call_tool`
        // becomes the real call (same id, same `_meta`) and goes on like a direct one.
        if method == "tools/call" {
            if cat.mode == crate::config::CatalogMode::Search {
                // `call_tool` reads the call's arguments.
                params = ctx.join(params);
            }
            match cat.meta_call(&params) {
                None => {}
                Some(MetaCall::Answer(_)) if !settled => {
                    return self.after_settled(move |s| s.route(id, ctx, method, params));
                }
                Some(MetaCall::Answer(result)) => return ctx.reply(&id, result),
                Some(MetaCall::Invalid(msg)) => return ctx.fail(&id, jsonrpc::INVALID_PARAMS, msg),
                Some(MetaCall::Forward(real)) => params = real,
            }
        }
        let servers = tenant.upstreams();
        let uri = params
            .get("uri")
            .and_then(Value::as_str)
            .map(str::to_string);
        // The exposed tool name, for the call's metrics series (only when metrics are on).
        let observed_tool = ctx
            .received
            .is_some()
            .then(|| {
                params
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .flatten()
            .filter(|_| method == "tools/call");
        // The params are kept for a second try only while the tenant is still starting.
        let (routed, kept) = if settled {
            let routed = route::route(
                &cat,
                &tenant.namer,
                |s| servers.contains_key(s),
                &method,
                params,
            );
            (routed, None)
        } else {
            let routed = route::route(
                &cat,
                &tenant.namer,
                |s| servers.contains_key(s),
                &method,
                params.clone(),
            );
            (routed, Some(params))
        };
        let r = match (routed, kept) {
            (Ok(r), _) => r,
            (Err(e), Some(params)) if e.may_appear() => {
                return self.after_settled(move |s| s.route(id, ctx, method, params));
            }
            (Err(e), _) => return self.refuse(&id, &ctx, e),
        };
        if let (Some(uri), "resources/subscribe" | "resources/unsubscribe") = (uri, method.as_str())
        {
            if !self.count_subscription(&r.server, &method, uri) {
                return ctx.reply(&id, json!({}));
            }
        }
        // A tool call takes a place in the tenant's quota until its answer is delivered.
        let permit = match method.as_str() {
            "tools/call" => match self.tenant.quota.try_call() {
                Ok(p) => Some(p),
                Err(e) => {
                    crate::observe::quota_refused(self.tenant.id.as_str(), e.limit);
                    return ctx.send(quota_error(&id, &e));
                }
            },
            _ => None,
        };
        // Observed from here on; the tool's series is the catalog's (it was routed), so tool
        // names stay a bounded set.
        let observed = ctx.received.map(|t| {
            let tool = observed_tool.as_deref();
            let series =
                (self.tenant.series).get(self.tenant.id.as_str(), r.server.as_str(), &method, tool);
            (t, series)
        });
        let ctx = Ctx { observed, ..ctx };
        self.forward(
            id,
            ctx,
            &r.server,
            &method,
            r.params,
            r.namespace_answer,
            permit,
        );
    }

    /// The answer to a request that has nowhere to go.
    fn refuse(&self, id: &Value, ctx: &Ctx, e: RouteError) {
        match e {
            RouteError::NotRouted(m) => ctx.fail(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("Method not found: `{m}` is not supported by mcp-hub"),
            ),
            RouteError::UnknownTool(ref name) | RouteError::UnknownPrompt(ref name) => {
                let msg = match self.down_server_hint(name) {
                    Some(hint) => format!("{e}: {hint}"),
                    None => e.to_string(),
                };
                ctx.fail(id, jsonrpc::INVALID_PARAMS, msg)
            }
            e => ctx.fail(id, jsonrpc::INVALID_PARAMS, e.to_string()),
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

    fn on_notification(&self, msg: Value) {
        let params = msg.get("params");
        match msg.get("method").and_then(Value::as_str) {
            Some("notifications/cancelled") => {
                let rid = params
                    .and_then(|p| p.get("requestId"))
                    .cloned()
                    .unwrap_or(Value::Null);
                let listen = {
                    let mut st = self.peer.state();
                    st.listens
                        .iter()
                        .position(|l| l.id == rid)
                        .map(|i| st.listens.remove(i))
                };
                if let Some(l) = listen {
                    for uri in crate::tenant::listen_uris(&l.filter) {
                        self.tenant.release_subscription(&uri);
                    }
                    return;
                }
                let reason = params.and_then(|p| p.get("reason")).and_then(Value::as_str);
                for conn in self.tenant.conns_of_session(self.id) {
                    if conn.cancel_downstream(self.id, &rid, reason) {
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
        let Some(hid) = msg.get("id").and_then(Value::as_str).map(str::to_string) else {
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

/// A quota refusal as JSON-RPC: a stable code, the limit's name and value, and when to retry
/// (the HTTP transports answer it with 429 and `Retry-After`).
pub fn quota_error(id: &Value, e: &QuotaError) -> String {
    jsonrpc::error(
        id,
        jsonrpc::QUOTA_EXCEEDED,
        e.to_string(),
        Some(
            json!({"limit": e.limit, "value": e.value, "retryAfterMs": e.retry_after.as_millis() as u64}),
        ),
    )
}
