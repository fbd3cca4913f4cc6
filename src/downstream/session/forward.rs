//! A routed request on its way to its upstream connection: the session's own connection
//! (`share = "session"`), a pool's member (the task's own for `tasks/*`) or the shared one, waiting while it starts; what the answer needs on
//! its way back (the client's id and progress token, the rewrite, the quota permit); and the
//! MRTR bridge's retries.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Ctx, Session};
use crate::config::ServerName;
use crate::jsonrpc;
use crate::mux::{DownstreamReply, Finish};
use crate::protocol;
use crate::quota::Permit;

impl Session {
    #[allow(
        clippy::too_many_arguments,
        reason = "one request's parts; a struct would be built once and taken apart at once"
    )]
    pub(super) fn forward(
        self: &Arc<Self>,
        id: Value,
        mut ctx: Ctx,
        server: &ServerName,
        method: &str,
        mut params: Value,
        namespace_answer: bool,
        permit: Option<Permit>,
    ) {
        // One look at the server set for the upstream and its rewrite (a reload may swap it).
        let servers = self.tenant.upstreams();
        let Some(up) = servers.get(server.as_str()).cloned() else {
            return ctx.fail(
                &id,
                jsonrpc::INVALID_PARAMS,
                format!("Unknown server `{server}`"),
            );
        };
        // A task's own pool member; a session's own connection (`share = "session"`); or the
        // pool member the method goes to.
        let own = match self.tenant.pool_task_member(&up, method, &params) {
            Ok(Some(member)) => Some(member),
            Ok(None) => self
                .tenant
                .own_upstream(&up, self.id)
                .or_else(|| self.tenant.pool_member(&up, method)),
            Err(msg) => {
                return ctx.send(jsonrpc::error(
                    &id,
                    jsonrpc::UPSTREAM_FAILED,
                    msg,
                    Some(json!({"server": server.as_str()})),
                ))
            }
        };
        let shared = up.clone();
        let up = own.as_ref().unwrap_or(&up);
        up.touch();
        if up.conn().is_none() {
            // A stopped on-demand container starts for this call (no-op for the others).
            up.request_start();
        }
        let Some(conn) = up.conn() else {
            let st = up.status();
            if !st.settled {
                // The upstream (or a session's own connection, `share = "session"`) is starting: wait for it.
                let (me, up, server, method) =
                    (self.clone(), up.clone(), server.clone(), method.to_string());
                self.tenant.spawn(async move {
                    // A session's own connection is told the session's log level as it connects
                    // (its supervisor's change hook, before it is `up`).
                    let _ = tokio::time::timeout(up.cfg.startup_timeout, up.settled()).await;
                    me.forward(id, ctx, &server, &method, params, namespace_answer, permit);
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
            let what = params
                .get("name")
                .or(params.get("uri"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Arc::from(format!("{method} {server}/{what}"))
        });
        let bridged_retry = ctx.stateless
            && params
                .get("requestState")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with(crate::bridge::PREFIX));
        let meta = params.get("_meta");
        let log_level = meta
            .and_then(|m| m.get(protocol::META_LOG_LEVEL))
            .and_then(Value::as_str)
            .and_then(crate::tenant::log_severity);
        let progress = meta.and_then(|m| m.get("progressToken")).cloned();
        let retry = (!ctx.stateless
            && matches!(conn.era(), Some(crate::mux::Era::Stateless { .. }))
            && matches!(method, "tools/call" | "prompts/get" | "resources/read"))
        .then(|| {
            // The bridge retries with every member.
            params = ctx.join(std::mem::take(&mut params));
            Box::new((method.to_string(), params.clone()))
        });
        // Observed from here (the series is the catalog's: this request was routed).
        let call = ctx.observed.as_ref().map(|(received, series)| {
            crate::observe::Call::start(series.clone(), self.id, &id, *received, &mut params)
        });
        let mut rewrite = namespace_answer
            .then(|| servers.rewrite(server.as_str()))
            .flatten();
        if method == "tools/call" && self.tenant.is_pool(&shared) {
            // A split call's `task` is in the text passed on unread: read whole when it may be.
            if ctx.rest.contains("\"task\"") || ctx.rest.contains("\\u") {
                params = ctx.join(std::mem::take(&mut params));
            }
            if params.get("task").is_some() {
                // The task the answer creates lives in this member: remembered on the way back.
                rewrite = self.tenant.pool_task_rewrite(&shared, up, &conn, rewrite);
            }
        }
        let reply = DownstreamReply {
            retry,
            out: ctx.out.clone(),
            session: self.id,
            log_level: log_level.filter(|_| ctx.stateless),
            progress,
            id,
            finish: Finish {
                rewrite,
                stateless: ctx.stateless,
                cache_hint: method == "resources/read",
                origin: origin.clone(),
                permit,
                call,
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
        if let Err(failed) = conn.forward(method, params, &ctx.rest, reply, up.cfg.request_timeout)
        {
            let (reply, e) = *failed;
            ctx.send(e.to_error_value(&reply.id).to_string());
        }
    }
}
