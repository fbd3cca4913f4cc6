//! The tenant's session registry: what it knows of each downstream session (its outbox, era,
//! capabilities, subscriptions, listens, log level) to reach it with notifications and relays.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use dashmap::DashMap;
use serde_json::{json, Value};

use super::Tenant;
use crate::config::{ServerName, Share};
use crate::jsonrpc::{self, Outbox};
use crate::mux::Conn;
use crate::protocol::ListKind;
use crate::sync::LockExt;

/// A 2026-07-28 `subscriptions/listen` request: its id, what it accepted, and its stream.
pub struct Listen {
    pub id: Value,
    pub filter: Value,
    pub out: Outbox,
}

/// What changes over a session's life, behind one lock.
#[derive(Default)]
pub struct PeerState {
    /// The revision `initialize` agreed; `None` until then, and for 2026-07-28 clients.
    pub version: Option<String>,
    pub client_capabilities: Value,
    /// Namespaced URIs this session subscribed to.
    pub subscriptions: HashSet<String>,
    /// 2026-07-28 `subscriptions/listen` requests still open.
    pub listens: Vec<Listen>,
    /// The severity `logging/setLevel` asked for (handshake era); `None`: everything.
    pub log_level: Option<u8>,
}

/// What the tenant knows of a downstream session.
pub struct SessionPeer {
    pub out: Outbox,
    /// The lists this session has read ([`ListKind::notice_bit`]): a list's `list_changed` goes
    /// only to sessions that have read it, so a client is not told of changes to a list it
    /// never saw (start-up would otherwise send one per upstream coming up).
    listed: AtomicU8,
    /// Relayed server-to-client requests: the id the hub gave the client → (upstream, its id).
    pub relayed: DashMap<String, (Arc<Conn>, Value)>,
    /// Requests the hub itself asked this client (for a 2026-07-28 upstream's `input_required`).
    pub waiting: DashMap<String, tokio::sync::oneshot::Sender<Value>>,
    state: Mutex<PeerState>,
    /// When it began (for `mcp_server_session_duration_seconds`).
    opened: std::time::Instant,
    /// `stdio` unless the transport said otherwise ([`SessionPeer::set_transport`]).
    transport: std::sync::OnceLock<&'static str>,
}

impl SessionPeer {
    fn new(out: Outbox) -> Self {
        Self {
            out,
            listed: AtomicU8::new(0),
            relayed: DashMap::new(),
            waiting: DashMap::new(),
            state: Mutex::new(PeerState {
                client_capabilities: json!({}),
                ..PeerState::default()
            }),
            opened: std::time::Instant::now(),
            transport: std::sync::OnceLock::new(),
        }
    }

    /// Names the transport the session came by (`streamable_http`, `sse`), for the metrics.
    pub fn set_transport(&self, transport: &'static str) {
        let _ = self.transport.set(transport);
    }

    pub fn transport(&self) -> &'static str {
        self.transport.get().copied().unwrap_or("stdio")
    }

    /// The session's state; held briefly, never across an await.
    pub fn state(&self) -> MutexGuard<'_, PeerState> {
        self.state.locked()
    }

    /// Whether the session began with `initialize` (it then gets notifications on its stream).
    pub fn is_handshake(&self) -> bool {
        self.state().version.is_some()
    }

    /// Whether the client declared `capability` (sampling, elicitation, roots).
    pub fn declares(&self, capability: &str) -> bool {
        self.state().client_capabilities.get(capability).is_some()
    }

    pub fn log_level(&self) -> Option<u8> {
        self.state().log_level
    }

    pub fn mark_listed(&self, kind: ListKind) {
        self.listed.fetch_or(kind.notice_bit(), Ordering::Relaxed);
    }

    pub fn has_listed(&self, kind: ListKind) -> bool {
        self.listed.load(Ordering::Relaxed) & kind.notice_bit() != 0
    }
}

impl Tenant {
    pub fn register_session(&self, out: Outbox) -> (u64, Arc<SessionPeer>) {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let peer = Arc::new(SessionPeer::new(out));
        self.sessions.insert(id, peer.clone());
        (id, peer)
    }

    pub fn peer(&self, session: u64) -> Option<Arc<SessionPeer>> {
        self.sessions.get(&session).map(|p| p.clone())
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions open by (transport, protocol revision; `unnegotiated` before `initialize` and
    /// for 2026-07-28 clients, which have no handshake).
    pub fn session_census(&self) -> std::collections::BTreeMap<(&'static str, String), u64> {
        let mut m = std::collections::BTreeMap::new();
        for e in self.sessions.iter() {
            let version = e
                .state()
                .version
                .clone()
                .unwrap_or_else(|| "unnegotiated".into());
            *m.entry((e.transport(), version)).or_insert(0) += 1;
        }
        m
    }

    /// Forgets a session: its own connections stop, its calls are cancelled upstream, its
    /// subscriptions and log level are released, and relayed requests it never answered fail.
    pub fn end_session(&self, id: u64) {
        let Some((_, peer)) = self.sessions.remove(&id) else {
            return;
        };
        crate::observe::session_ended(self.id.as_str(), peer.opened.elapsed());
        self.stop_own(id);
        let pooled = self.pool_conns();
        for conn in self
            .upstreams()
            .values()
            .filter_map(|u| u.conn())
            .chain(pooled)
        {
            conn.cancel_session(id, "the client went away");
        }
        let (held, had_level) = {
            let mut st = peer.state();
            let held: Vec<String> = st.subscriptions.drain().collect();
            // A listen's resource subscriptions end with it.
            let listened: Vec<String> = st
                .listens
                .drain(..)
                .flat_map(|l| listen_uris(&l.filter))
                .collect();
            (
                held.into_iter().chain(listened).collect::<Vec<_>>(),
                st.log_level.is_some(),
            )
        };
        for uri in held {
            self.release_subscription(&uri);
        }
        if had_level {
            self.apply_log_levels();
        }
        for e in peer.relayed.iter() {
            let (conn, uid) = e.value();
            let _ = conn.respond_raw(
                jsonrpc::error_value(
                    &Value::Null,
                    jsonrpc::INTERNAL_ERROR,
                    "the client session ended before it answered",
                    None,
                ),
                uid.clone(),
            );
        }
    }

    /// The sessions a connection speaks to: the session that owns it, or for a shared
    /// connection every session, except, for a `share = "session"` server, the handshake-era
    /// sessions (they have connections of their own).
    pub(super) fn audience(
        &self,
        server: &ServerName,
        scope: Option<u64>,
    ) -> Vec<(u64, Arc<SessionPeer>)> {
        let per_session = self
            .upstreams()
            .get(server.as_str())
            .is_some_and(|u| u.cfg.share == Share::Session);
        self.sessions
            .iter()
            .filter(|s| match scope {
                Some(id) => *s.key() == id,
                None => !per_session || !s.is_handshake(),
            })
            .map(|s| (*s.key(), s.value().clone()))
            .collect()
    }

    /// Every session, for notifications that go to all of them.
    pub(super) fn each_session(&self) -> Vec<Arc<SessionPeer>> {
        self.sessions.iter().map(|s| s.value().clone()).collect()
    }
}

/// The namespaced URIs a `subscriptions/listen` filter subscribes to.
pub fn listen_uris(filter: &Value) -> Vec<String> {
    filter
        .get("resourceSubscriptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}
