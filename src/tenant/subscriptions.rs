//! Counts that several sessions share on one upstream: resource subscriptions (the upstream
//! hears the first subscribe and the last unsubscribe) and the log level (the most verbose any
//! session asked for). A new connection (an upstream's start or restart, a pool member's
//! replacement) is told both again: a restarted process knows neither.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use serde_json::json;

use super::Tenant;
use crate::mux::Conn;
use crate::sync::LockExt;
use crate::upstream::Upstream;

/// MCP log levels, least severe first.
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The severity of an MCP log level (0 = debug); `None` for an unknown level.
pub fn log_severity(level: &str) -> Option<u8> {
    LOG_LEVELS.iter().position(|l| *l == level).map(|i| i as u8)
}

#[derive(Default)]
pub(super) struct Subscriptions {
    /// Per namespaced URI, how many subscriptions (sessions and listens) hold it.
    counts: Mutex<HashMap<String, usize>>,
    /// The level the upstreams were last set to.
    upstream_log_level: Mutex<Option<u8>>,
}

/// The connection of one upstream that was last told the log level and subscriptions (so a
/// supervisor's change hook tells each connection once).
#[derive(Default)]
pub(super) struct Restored(Mutex<Weak<Conn>>);

impl Restored {
    /// Whether `conn` is new here (and remembers it).
    pub(super) fn is_new(&self, conn: &Arc<Conn>) -> bool {
        let mut last = self.0.locked();
        if std::ptr::eq(last.as_ptr(), Arc::as_ptr(conn)) {
            return false;
        }
        *last = Arc::downgrade(conn);
        true
    }
}

impl Tenant {
    /// Called on every change of `up`'s supervisor: when `up` has a connection not yet told,
    /// it is sent the log level the sessions asked for and, when it holds the server's
    /// subscriptions (`subscriptions`: the shared connection, a pool's first member), a
    /// `resources/subscribe` for every URI of the server a session or listen still holds.
    pub(super) fn restore(&self, up: &Arc<Upstream>, restored: &Restored, subscriptions: bool) {
        let Some(conn) = up.conn() else { return };
        if !restored.is_new(&conn) {
            return;
        }
        let level = *self.subs.upstream_log_level.locked();
        if let Some(l) = level {
            self.set_upstream_log_level(up, LOG_LEVELS[l as usize]);
        }
        if !subscriptions || up.offer().capabilities.get("resources").is_none() {
            return;
        }
        let cat = self.catalog();
        let uris: Vec<String> = self
            .subs
            .counts
            .locked()
            .keys()
            .filter_map(|uri| cat.resolve_uri(&self.namer, uri))
            .filter(|(server, _)| *server == up.name)
            .map(|(_, original)| original)
            .collect();
        if uris.is_empty() {
            return;
        }
        tracing::info!(tenant = %self.id, server = %up.name, "subscribing the new connection again to {} resource(s)", uris.len());
        let (timeout, tenant, server) = (up.cfg.request_timeout, self.id.clone(), up.name.clone());
        self.spawn(async move {
            for uri in uris {
                if let Err(e) = conn
                    .request("resources/subscribe", Some(json!({"uri": uri})), timeout)
                    .await
                {
                    tracing::info!(tenant = %tenant, server = %server, "`resources/subscribe` for `{uri}` failed: {e}");
                }
            }
        });
    }

    /// Counts a subscription to `uri`; true when the upstream must hear of it (the first).
    pub fn subscribe(&self, uri: &str, fresh: bool) -> bool {
        if !fresh {
            return false;
        }
        let mut subs = self.subs.counts.locked();
        let n = subs.entry(uri.to_string()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Uncounts a subscription; true when the upstream must hear of it (the last).
    pub fn unsubscribe(&self, uri: &str, had: bool) -> bool {
        if !had {
            return false;
        }
        let mut subs = self.subs.counts.locked();
        match subs.get_mut(uri) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                subs.remove(uri);
                true
            }
            None => false,
        }
    }

    /// A subscription the hub holds itself (a 2026-07-28 listen's `resourceSubscriptions`):
    /// counted, and the owning upstream told when it is the first.
    pub fn acquire_subscription(&self, uri: &str) {
        if self.subscribe(uri, true) {
            self.tell_upstream("resources/subscribe", uri);
        }
    }

    /// Releases a subscription; the owning upstream is told when it was the last.
    pub fn release_subscription(&self, uri: &str) {
        if self.unsubscribe(uri, true) {
            self.tell_upstream("resources/unsubscribe", uri);
        }
    }

    /// Sends `resources/subscribe` or `…/unsubscribe` for a namespaced URI to its upstream.
    fn tell_upstream(&self, method: &'static str, uri: &str) {
        let Some((server, original)) = self.catalog().resolve_uri(&self.namer, uri) else {
            return;
        };
        let Some(up) = self.upstream(server.as_str()) else {
            return;
        };
        let Some(conn) = up.conn() else { return };
        let timeout = up.cfg.request_timeout;
        let (tenant, server) = (self.id.clone(), up.name.clone());
        self.spawn(async move {
            if let Err(e) = conn
                .request(method, Some(json!({"uri": original})), timeout)
                .await
            {
                tracing::info!(tenant = %tenant, server = %server, "`{method}` failed: {e}");
            }
        });
    }

    /// Sets upstreams that log to the most verbose level any session asked for.
    pub fn apply_log_levels(&self) {
        let wanted = self
            .each_session()
            .iter()
            .filter_map(|p| p.log_level())
            .min();
        {
            let mut current = self.subs.upstream_log_level.locked();
            if *current == wanted || wanted.is_none() {
                return;
            }
            *current = wanted;
        }
        let Some(level) = wanted.map(|l| LOG_LEVELS[l as usize]) else {
            return;
        };
        for up in self.upstreams().values() {
            self.set_upstream_log_level(up, level);
            // A pre-warmed pool's other members log for the same sessions.
            for m in self.pool_members(&up.name).iter().skip(1) {
                self.set_upstream_log_level(m, level);
            }
        }
    }

    /// Sends `logging/setLevel` to `up` when it is up and logs.
    pub(super) fn set_upstream_log_level(&self, up: &Arc<Upstream>, level: &'static str) {
        let Some(conn) = up.conn() else { return };
        if up.offer().capabilities.get("logging").is_none() {
            return;
        }
        let timeout = up.cfg.request_timeout;
        self.spawn(async move {
            let _ = conn
                .request("logging/setLevel", Some(json!({"level": level})), timeout)
                .await;
        });
    }
}
