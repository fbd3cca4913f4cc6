//! A tenant: its upstreams and their supervisors, its merged catalog, and its downstream
//! sessions, which it tells about catalog changes and hands requests that upstreams send.
//!
//! Server-to-client requests (sampling, elicitation, roots) go to the session whose call is in
//! flight on that upstream (the most recent one when several are); with no call in flight, or
//! when that session's client did not declare the capability, the upstream gets a JSON-RPC error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bridge::Bridges;
use crate::catalog::{Catalog, ListKind};
use crate::config::{HubSettings, ServerName, Share, StartMode, TenantConfig, TenantId};
use crate::jsonrpc::{self, Outbox};
use crate::mux::{Bridged, Conn, ConnHooks, DownstreamReply, InFlight, Resumed};
use crate::naming::Namer;
use crate::protocol;
use crate::supervisor::Supervisor;
use crate::upstream::{handshake, State, Upstream};

/// What the tenant knows of a downstream session, to reach it with notifications and relays.
pub struct SessionPeer {
    pub out: Outbox,
    /// Handshake-era sessions get list_changed and log notifications on their stream.
    pub handshake: Mutex<bool>,
    /// The lists this session has read ([`ListKind::notice_bit`]): a list's `list_changed` goes
    /// only to sessions that have read it, so a client is not told of changes to a list it
    /// never saw (start-up would otherwise send one per upstream coming up).
    pub listed: std::sync::atomic::AtomicU8,
    pub client_capabilities: Mutex<Value>,
    /// Relayed server-to-client requests: the id the hub gave the client → (upstream, its id).
    pub relayed: DashMap<String, (Arc<Conn>, Value)>,
    /// Requests the hub itself asked this client (for a 2026-07-28 upstream's `input_required`).
    pub waiting: DashMap<String, tokio::sync::oneshot::Sender<Value>>,
    /// Namespaced URIs this session subscribed to.
    pub subscriptions: Mutex<HashSet<String>>,
    /// 2026-07-28 `subscriptions/listen` requests: (request id, accepted filter).
    pub listens: Mutex<Vec<Listen>>,
    /// The severity `logging/setLevel` asked for (handshake era); `None`: everything.
    pub log_level: Mutex<Option<u8>>,
}

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

/// A log level's rank in `LOG_LEVELS`.
pub fn log_severity(level: &str) -> Option<u8> {
    LOG_LEVELS.iter().position(|l| *l == level).map(|i| i as u8)
}

/// A 2026-07-28 `subscriptions/listen` request: its id, what it accepted, and its stream.
pub struct Listen {
    pub id: Value,
    pub filter: Value,
    pub out: Outbox,
}

/// The filter key of `subscriptions/listen` that opts in to a list-changed notification.
fn listen_key(method: &str) -> &'static str {
    match method {
        "notifications/tools/list_changed" => "toolsListChanged",
        "notifications/prompts/list_changed" => "promptsListChanged",
        _ => "resourcesListChanged",
    }
}

pub struct Tenant {
    pub id: TenantId,
    pub settings: Arc<HubSettings>,
    pub namer: Arc<Namer>,
    pub upstreams: BTreeMap<ServerName, Arc<Upstream>>,
    catalog: RwLock<Arc<Catalog>>,
    generation: AtomicU64,
    sessions: DashMap<u64, Arc<SessionPeer>>,
    next_session: AtomicU64,
    next_relay: AtomicU64,
    /// Lazy upstreams were asked to start (the tenant's first use).
    lazy_started: AtomicBool,
    /// 2026-07-28 calls parked while their client supplies input (MRTR).
    pub bridges: Bridges,
    /// Resource subscriptions per namespaced URI: how many sessions hold one.
    subscriptions: Mutex<HashMap<String, usize>>,
    /// The level the upstreams were last set to.
    upstream_log_level: Mutex<Option<u8>>,
    /// The connections of `share = "session"` servers, per (session, server).
    own: DashMap<(u64, ServerName), Own>,
    /// Where supervisors run, and what stops them (set by `start`).
    runtime: OnceLock<(TaskTracker, CancellationToken)>,
    me: Weak<Tenant>,
}

/// A `share = "session"` server's connection that belongs to one session.
struct Own {
    up: Arc<Upstream>,
    stop: CancellationToken,
}

/// The tenant's side of a connection: `scope` is the session that owns it (`share = "session"`),
/// `None` for the connection every session shares.
struct Hooks {
    tenant: Weak<Tenant>,
    scope: Option<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tenant {
    pub fn new(cfg: &TenantConfig, settings: Arc<HubSettings>) -> Arc<Self> {
        let namer = Arc::new(Namer::new(&settings.separator, settings.max_name_length));
        let settings_bridge_ttl = settings.request_timeout;
        Arc::new_cyclic(|me| Tenant {
            id: cfg.id.clone(),
            namer,
            settings,
            upstreams: cfg
                .servers
                .values()
                .map(|s| (s.name.clone(), Upstream::new(s.clone())))
                .collect(),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            generation: AtomicU64::new(0),
            sessions: DashMap::new(),
            next_session: AtomicU64::new(1),
            next_relay: AtomicU64::new(1),
            lazy_started: AtomicBool::new(false),
            bridges: Bridges::new(settings_bridge_ttl),
            subscriptions: Mutex::new(HashMap::new()),
            upstream_log_level: Mutex::new(None),
            own: DashMap::new(),
            runtime: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// Starts a supervisor per enabled upstream.
    pub fn start(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let _ = self.runtime.set((tracker.clone(), shutdown.clone()));
        tracker.spawn(self.clone().expire_bridges(shutdown.child_token()));
        let hooks: Arc<dyn ConnHooks> = Arc::new(Hooks {
            tenant: Arc::downgrade(self),
            scope: None,
        });
        for up in self.upstreams.values() {
            let me = Arc::downgrade(self);
            let sup = Supervisor {
                up: up.clone(),
                tenant: self.id.clone(),
                hooks: hooks.clone(),
                on_change: Arc::new(move || {
                    if let Some(t) = me.upgrade() {
                        t.rebuild();
                    }
                }),
                settings: self.settings.clone(),
                shutdown: shutdown.child_token(),
            };
            tracker.spawn(sup.run());
        }
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn upstream(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.get(name)
    }

    /// For a `share = "session"` server and a session that began with `initialize`, the
    /// session's own connection to `up`, started here on first use (the caller waits for it to
    /// settle); `None` when the session uses the shared `up`.
    pub fn own_upstream(&self, up: &Arc<Upstream>, session: u64) -> Option<Arc<Upstream>> {
        if up.cfg.share != Share::Session {
            return None;
        }
        // Only a session that began with `initialize` owns connections, told its client's capabilities.
        let caps = self
            .sessions
            .get(&session)
            .filter(|p| *lock(&p.handshake))
            .map(|p| handshake::session_capabilities(&lock(&p.client_capabilities)));
        let (Some(caps), Some((tracker, shutdown))) = (caps, self.runtime.get()) else {
            return None;
        };
        let key = (session, up.name.clone());
        let inst = self
            .own
            .entry(key.clone())
            .or_insert_with(|| {
                let mut cfg = up.cfg.clone();
                cfg.start = StartMode::Eager;
                let inst = Upstream::declaring(cfg, Some(caps));
                let stop = shutdown.child_token();
                tracing::info!(tenant = %self.id, server = %up.name, session, "starting the session's own connection (share = \"session\")");
                tracker.spawn(
                    Supervisor {
                        up: inst.clone(),
                        tenant: self.id.clone(),
                        hooks: Arc::new(Hooks {
                            tenant: self.me.clone(),
                            scope: Some(session),
                        }),
                        on_change: Arc::new(|| {}),
                        settings: self.settings.clone(),
                        shutdown: stop.clone(),
                    }
                    .run(),
                );
                Own { up: inst, stop }
            })
            .up
            .clone();
        // The session may have ended meanwhile: then nobody would stop the connection.
        if !self.sessions.contains_key(&session) {
            self.stop_own(session);
        }
        Some(inst)
    }

    /// Stops the connections that `session` owns.
    fn stop_own(&self, session: u64) {
        let keys: Vec<_> = self
            .own
            .iter()
            .filter(|e| e.key().0 == session)
            .map(|e| e.key().clone())
            .collect();
        for k in keys {
            if let Some((_, o)) = self.own.remove(&k) {
                tracing::info!(tenant = %self.id, server = %k.1, session, "stopping the session's own connection");
                o.stop.cancel();
            }
        }
    }

    /// How many sessions have their own connection to `server`, and how many of those are up.
    pub fn own_connections(&self, server: &ServerName) -> (usize, usize) {
        self.own
            .iter()
            .filter(|e| &e.key().1 == server)
            .fold((0, 0), |(n, up), e| {
                (n + 1, up + usize::from(e.up.conn().is_some()))
            })
    }

    /// Every live connection that may carry `session`'s calls: the shared ones and its own.
    pub fn conns_of_session(&self, session: u64) -> Vec<Arc<Conn>> {
        let own = self
            .own
            .iter()
            .filter(|e| e.key().0 == session)
            .filter_map(|e| e.up.conn());
        self.upstreams
            .values()
            .filter_map(|u| u.conn())
            .chain(own)
            .collect()
    }

    /// Sets a session's own connection to the log level the session asked for.
    pub fn apply_own_log_level(&self, session: u64) {
        let Some(level) = self
            .sessions
            .get(&session)
            .and_then(|p| *lock(&p.log_level))
            .map(|l| LOG_LEVELS[l as usize])
        else {
            return;
        };
        for e in self.own.iter().filter(|e| e.key().0 == session) {
            let up = e.up.clone();
            if let Some(conn) = up.conn() {
                if up.offer().capabilities.get("logging").is_some() {
                    tokio::spawn(async move {
                        let _ = conn
                            .request(
                                "logging/setLevel",
                                Some(json!({"level": level})),
                                up.cfg.request_timeout,
                            )
                            .await;
                    });
                }
            }
        }
    }

    /// Whether every upstream that is wanted has finished its first start attempt.
    pub fn is_settled(&self) -> bool {
        self.upstreams.values().all(|u| u.status().settled)
    }

    /// Starts lazy upstreams (first use) and waits, at most `startup_timeout`, for every wanted
    /// upstream's first start attempt, so the first list a client sees is complete.
    pub async fn wait_ready(&self) {
        self.first_use();
        self.wait_settled().await;
    }

    /// Starts the lazy upstreams, once: called on every request, so it is one atomic load after the first.
    pub fn first_use(&self) {
        if !self.lazy_started.swap(true, Ordering::Relaxed) {
            for u in self.upstreams.values() {
                u.request_start();
            }
        }
    }

    /// Waits, at most `startup_timeout`, for the first start attempt of every upstream already
    /// wanted (lazy ones that nobody asked for are not started).
    pub async fn wait_settled(&self) {
        if self.is_settled() {
            return;
        }
        let limit = self
            .upstreams
            .values()
            .map(|u| u.cfg.startup_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
            .max(self.settings.startup_timeout);
        let all = futures_join_all(self.upstreams.values().cloned().collect());
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Rebuilds the catalog from the upstreams that are up and tells sessions what changed.
    pub fn rebuild(&self) {
        let offers: Vec<_> = self
            .upstreams
            .values()
            .filter(|u| u.conn().is_some())
            .map(|u| (u.name.clone(), u.offer()))
            .collect();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let new = Arc::new(Catalog::build(&self.namer, &offers, generation));
        let old = {
            let mut g = self.catalog.write().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *g, new.clone())
        };
        let mut sent = HashSet::new();
        for kind in [
            ListKind::Tools,
            ListKind::Prompts,
            ListKind::Resources,
            ListKind::Templates,
        ] {
            if old.list(kind) != new.list(kind) && sent.insert(kind.changed_notification()) {
                self.broadcast_list_changed(kind);
            }
        }
        tracing::debug!(tenant = %self.id, generation, tools = new.tools.len(), "catalog rebuilt");
    }

    /// A one-line summary of every upstream, for the log and `mcp-hub status`.
    pub fn summary(&self) -> String {
        self.upstreams
            .values()
            .map(|u| {
                let s = u.status();
                match (&s.state, &s.last_error) {
                    (State::Up, _) | (_, None) => format!("{}={}", u.name, s.state.as_str()),
                    (st, Some(e)) => format!("{}={} ({e})", u.name, st.as_str()),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn register_session(&self, out: Outbox) -> (u64, Arc<SessionPeer>) {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let peer = Arc::new(SessionPeer {
            out,
            handshake: Mutex::new(false),
            listed: std::sync::atomic::AtomicU8::new(0),
            client_capabilities: Mutex::new(json!({})),
            relayed: DashMap::new(),
            waiting: DashMap::new(),
            subscriptions: Mutex::new(HashSet::new()),
            listens: Mutex::new(Vec::new()),
            log_level: Mutex::new(None),
        });
        self.sessions.insert(id, peer.clone());
        (id, peer)
    }

    /// Forgets a session; relayed requests it never answered fail upstream.
    pub fn end_session(&self, id: u64) {
        if let Some((_, peer)) = self.sessions.remove(&id) {
            self.stop_own(id);
            for up in self.upstreams.values() {
                if let Some(conn) = up.conn() {
                    conn.cancel_session(id, "the client went away");
                }
            }
            let held: Vec<String> = lock(&peer.subscriptions).drain().collect();
            for uri in held {
                if self.unsubscribe(&uri, true) {
                    self.send_unsubscribe(&uri);
                }
            }
            if lock(&peer.log_level).is_some() {
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
    }

    /// Counts a session's subscription to `uri`; true when the upstream must hear of it (the first).
    pub fn subscribe(&self, uri: &str, fresh: bool) -> bool {
        if !fresh {
            return false;
        }
        let mut subs = lock(&self.subscriptions);
        let n = subs.entry(uri.to_string()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Uncounts a session's subscription; true when the upstream must hear of it (the last).
    pub fn unsubscribe(&self, uri: &str, had: bool) -> bool {
        if !had {
            return false;
        }
        let mut subs = lock(&self.subscriptions);
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

    /// Tells the owning upstream that nobody holds `uri` any more.
    fn send_unsubscribe(&self, uri: &str) {
        let Some((server, original)) = self
            .namer
            .resolve_uri(uri, |s| self.upstreams.contains_key(s))
        else {
            return;
        };
        if let Some(up) = self.upstreams.get(server) {
            if let Some(conn) = up.conn() {
                let timeout = up.cfg.request_timeout;
                tokio::spawn(async move {
                    let _ = conn
                        .request(
                            "resources/unsubscribe",
                            Some(json!({"uri": original})),
                            timeout,
                        )
                        .await;
                });
            }
        }
    }

    /// Sets upstreams that log to the most verbose level any session asked for.
    pub fn apply_log_levels(&self) {
        let wanted = self
            .sessions
            .iter()
            .filter_map(|p| *lock(&p.log_level))
            .min();
        {
            let mut current = lock(&self.upstream_log_level);
            if *current == wanted || wanted.is_none() {
                return;
            }
            *current = wanted;
        }
        let Some(level) = wanted.map(|l| LOG_LEVELS[l as usize]) else {
            return;
        };
        for up in self.upstreams.values() {
            if let Some(conn) = up.conn() {
                if up.offer().capabilities.get("logging").is_some() {
                    let timeout = up.cfg.request_timeout;
                    tokio::spawn(async move {
                        let _ = conn
                            .request("logging/setLevel", Some(json!({"level": level})), timeout)
                            .await;
                    });
                }
            }
        }
    }

    /// Tells handshake-era sessions on their stream, and 2026-07-28 sessions that opted in on
    /// their `subscriptions/listen` stream.
    fn broadcast_list_changed(&self, kind: ListKind) {
        let method = kind.changed_notification();
        let frame = jsonrpc::notification(method, None);
        for s in self.sessions.iter() {
            let listed = s.listed.load(Ordering::Relaxed) & kind.notice_bit() != 0;
            if listed && *s.handshake.lock().unwrap_or_else(|e| e.into_inner()) {
                let _ = s.out.send(frame.clone());
            }
        }
        let key = listen_key(method);
        for s in self.sessions.iter() {
            for l in s.listens.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                if l.filter[key] == true {
                    let params = json!({"_meta": {protocol::META_SUBSCRIPTION_ID: l.id}});
                    let _ = l.out.send(jsonrpc::notification(method, Some(params)));
                }
            }
        }
    }

    /// Re-reads one list of one upstream after its `list_changed`.
    async fn refresh(
        self: Arc<Self>,
        server: ServerName,
        kinds: &'static [(&'static str, &'static str)],
    ) {
        let Some(up) = self.upstreams.get(&server) else {
            return;
        };
        let Some(conn) = up.conn() else { return };
        for (method, key) in kinds {
            match handshake::list_all(&conn, method, key, up.cfg.request_timeout).await {
                Ok(items) => up.update_offer(|o| *handshake::offer_list(o, key) = items),
                Err(e) => {
                    tracing::warn!(tenant = %self.id, server = %server, "could not re-read `{method}`: {e}")
                }
            }
        }
        self.rebuild();
    }

    /// The sessions a connection speaks to: the session that owns it, or for a shared
    /// connection every session, except, for a `share = "session"` server, the handshake-era
    /// sessions (they have connections of their own).
    fn audience(&self, server: &ServerName, scope: Option<u64>) -> Vec<(u64, Arc<SessionPeer>)> {
        let per_session = self
            .upstreams
            .get(server)
            .is_some_and(|u| u.cfg.share == Share::Session);
        self.sessions
            .iter()
            .filter(|s| match scope {
                Some(id) => *s.key() == id,
                None => !per_session || !*lock(&s.handshake),
            })
            .map(|s| (*s.key(), s.value().clone()))
            .collect()
    }

    fn on_upstream_notification(&self, conn: &Arc<Conn>, mut msg: Value, scope: Option<u64>) {
        let server = conn.server.clone();
        let method = msg["method"].as_str().unwrap_or_default().to_string();
        let audience = || self.audience(&server, scope);
        let kinds: &'static [(&str, &str)] = match method.as_str() {
            "notifications/tools/list_changed" => &[("tools/list", "tools")],
            "notifications/prompts/list_changed" => &[("prompts/list", "prompts")],
            "notifications/resources/list_changed" => &[
                ("resources/list", "resources"),
                ("resources/templates/list", "resourceTemplates"),
            ],
            "notifications/message" => {
                let logger = match msg["params"]["logger"].as_str() {
                    Some(l) => format!("{server}/{l}"),
                    None => server.to_string(),
                };
                msg["params"]["logger"] = json!(logger);
                let severity = msg["params"]["level"]
                    .as_str()
                    .and_then(log_severity)
                    .unwrap_or(0);
                let frame = msg.to_string();
                // Handshake-era sessions, at the level each one set.
                for (_, s) in audience() {
                    let wants = lock(&s.log_level).is_none_or(|l| severity >= l);
                    if *lock(&s.handshake) && wants {
                        let _ = s.out.send(frame.clone());
                    }
                }
                // 2026-07-28 requests in flight on this upstream whose `_meta` asked for a level.
                for c in conn.active_calls() {
                    if c.stateless && c.log_level.is_some_and(|l| severity >= l) {
                        let _ = c.out.send(frame.clone());
                    }
                }
                return;
            }
            "notifications/resources/updated" => {
                let Some(uri) = msg["params"]["uri"].as_str() else {
                    return;
                };
                let ns = self.namer.namespace_uri(server.as_str(), uri);
                msg["params"]["uri"] = json!(ns);
                let frame = msg.to_string();
                for (_, s) in audience() {
                    if s.subscriptions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains(&ns)
                    {
                        let _ = s.out.send(frame.clone());
                    }
                    for l in s.listens.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                        let wanted = l.filter["resourceSubscriptions"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|u| u.as_str() == Some(ns.as_str())));
                        if wanted {
                            let mut m = msg.clone();
                            m["params"]["_meta"] = json!({protocol::META_SUBSCRIPTION_ID: l.id});
                            let _ = l.out.send(m.to_string());
                        }
                    }
                }
                return;
            }
            "notifications/tasks/status" => {
                crate::mux::namespace_task_ids(&mut msg["params"], &self.namer, server.as_str());
                let frame = msg.to_string();
                for (_, s) in audience().iter().filter(|(_, s)| *lock(&s.handshake)) {
                    let _ = s.out.send(frame.clone());
                }
                return;
            }
            "notifications/cancelled" => {
                // The upstream withdrew a request it relayed to a client.
                let uid = msg["params"]["requestId"].clone();
                for (_, s) in audience() {
                    let hit = s
                        .relayed
                        .iter()
                        .find(|e| Arc::ptr_eq(&e.value().0, conn) && e.value().1 == uid)
                        .map(|e| e.key().clone());
                    if let Some(hid) = hit {
                        s.relayed.remove(&hid);
                        msg["params"]["requestId"] = json!(hid);
                        let _ = s.out.send(msg.to_string());
                    }
                }
                return;
            }
            _ => {
                tracing::debug!(tenant = %self.id, server = %server, "notification `{method}` from upstream not relayed");
                return;
            }
        };
        // The catalog is read from the shared connection; a session's own connection is
        // expected to offer the same.
        if scope.is_some() {
            return;
        }
        if let Some(me) = self.me.upgrade() {
            tokio::spawn(me.refresh(server, kinds));
        }
    }

    fn on_upstream_request(
        &self,
        conn: &Arc<Conn>,
        msg: Value,
        calls: Vec<InFlight>,
        associated: bool,
        scope: Option<u64>,
    ) {
        let method = msg["method"].as_str().unwrap_or_default().to_string();
        let uid = msg["id"].clone();
        let refuse = |code: i64, message: String| {
            tracing::info!(tenant = %self.id, server = %conn.server, "refused the upstream's `{method}`: {message}");
            let _ = conn.respond_raw(
                jsonrpc::error_value(&Value::Null, code, message, None),
                uid.clone(),
            );
        };
        let Some(cap) = capability_for(&method) else {
            return refuse(
                jsonrpc::METHOD_NOT_FOUND,
                format!("mcp-hub does not relay `{method}`"),
            );
        };
        let declared = |p: &SessionPeer| declares(p, cap);
        // The call that caused it: the one the transport tied it to (Streamable HTTP), else the
        // calls in flight on this upstream. stdio and legacy SSE carry no association, so when
        // calls of several sessions are in flight the request is refused rather than risk
        // showing one session's request to another. A parked call's client is away answering an
        // earlier request (its 2026-07-28 request has ended); it comes back with a retry.
        let calls: Vec<InFlight> = calls
            .into_iter()
            .filter(|c| c.parked || self.sessions.contains_key(&c.session))
            .collect();
        let sessions: HashSet<u64> = calls.iter().map(|c| c.session).collect();
        if !associated && sessions.len() > 1 {
            return refuse(
                jsonrpc::INTERNAL_ERROR,
                format!("`{method}` is ambiguous: calls of {} client sessions are in flight on this server and its transport does not say which one asked; mcp-hub will not guess", sessions.len()),
            );
        }
        let call = calls.into_iter().next();
        let (peer, out) = match call {
            // Asked on the client's retry, where its capabilities are checked.
            Some(c) if c.parked => return self.bridge(conn, msg, c),
            Some(c) => {
                let Some(peer) = self.sessions.get(&c.session).map(|p| p.clone()) else {
                    return refuse(jsonrpc::INTERNAL_ERROR, "the client's session has ended".into());
                };
                if !declared(&peer) {
                    return refuse(jsonrpc::METHOD_NOT_FOUND, format!("the client did not declare the `{cap}` capability"));
                }
                if c.stateless {
                    return self.bridge(conn, msg, c);
                }
                (peer, c.out)
            }
            // A roots refresh with no call in flight goes to the session that owns the
            // connection, else to the tenant's newest handshake-era session whose client
            // declared roots.
            None if cap == "roots" => {
                let newest = self
                    .audience(&conn.server, scope)
                    .into_iter()
                    .filter(|(_, p)| *lock(&p.handshake) && declared(p))
                    .max_by_key(|(id, _)| *id)
                    .map(|(_, p)| p);
                match newest {
                    Some(p) => {
                        let out = p.out.clone();
                        (p, out)
                    }
                    None => return refuse(jsonrpc::INVALID_REQUEST, "`roots/list` arrived with no client call in flight and no session whose client declared roots".into()),
                }
            }
            None => {
                return refuse(
                    jsonrpc::INVALID_REQUEST,
                    format!("`{method}` arrived with no client call in flight on this server; mcp-hub has no client to ask"),
                )
            }
        };
        let hid = format!(
            "mcp-hub-{}",
            self.next_relay.fetch_add(1, Ordering::Relaxed)
        );
        peer.relayed.insert(hid.clone(), (conn.clone(), uid));
        let _ = out.send(jsonrpc::request(
            &json!(hid),
            &method,
            msg.get("params").cloned(),
        ));
    }

    /// MRTR: answer the 2026-07-28 client's call with `input_required` and park the upstream
    /// call. A request that arrives while the client is already away answering an earlier one
    /// waits for its retry (`resume_bridged` asks it then).
    fn bridge(&self, conn: &Arc<Conn>, msg: Value, c: InFlight) {
        let uid = msg["id"].clone();
        let refuse = |uid: Value| {
            let _ = conn.respond_raw(
                jsonrpc::error_value(
                    &Value::Null,
                    jsonrpc::INTERNAL_ERROR,
                    "the client's call can no longer take input",
                    None,
                ),
                uid,
            );
        };
        if c.origin.is_none() {
            return refuse(uid);
        }
        match conn.bridge(c.call, msg.clone()) {
            Bridged::Ask(reply) => self.ask_bridged(conn, c.call, &msg, reply),
            Bridged::Queued => {
                tracing::debug!(tenant = %self.id, server = %conn.server, "`{}` waits for the client's retry of an earlier input_required", msg["method"].as_str().unwrap_or_default());
            }
            Bridged::Gone => refuse(uid),
        }
    }

    /// Answers a 2026-07-28 client's call (or its retry) with `input_required` for upstream
    /// request `msg`; the state it carries brings the answer back to the parked call.
    fn ask_bridged(&self, conn: &Arc<Conn>, call: u64, msg: &Value, reply: DownstreamReply) {
        let origin = reply.finish.origin.clone().unwrap_or_else(|| "".into());
        let state = self.bridges.park(
            self.id.as_str(),
            &origin,
            conn.clone(),
            call,
            msg["id"].clone(),
        );
        let mut request = json!({"method": msg["method"]});
        if let Some(p) = msg.get("params") {
            request["params"] = p.clone();
        }
        let result = json!({"resultType": "input_required", "inputRequests": {"input": request}, "requestState": state});
        tracing::debug!(tenant = %self.id, server = %conn.server, "bridging `{}` to a 2026-07-28 client (input_required)", msg["method"].as_str().unwrap_or_default());
        let _ = reply.out.send(jsonrpc::result(&reply.id, result));
    }

    /// A 2026-07-28 client came back with input for a bridged call: hand the answer to the
    /// waiting upstream request and attach the retry to the parked call.
    pub fn resume_bridged(
        &self,
        origin: &str,
        params: &Value,
        reply: DownstreamReply,
    ) -> Result<(), Box<(DownstreamReply, String)>> {
        let state = params["requestState"].as_str().unwrap_or_default();
        let parked = match self.bridges.take(self.id.as_str(), origin, state) {
            Ok(p) => p,
            Err(e) => return Err(Box::new((reply, e))),
        };
        let Some(answer) = params["inputResponses"].get("input").cloned() else {
            parked.give_up(
                jsonrpc::INVALID_PARAMS,
                "the client gave no answer",
                "the client's retry carried no input",
            );
            return Err(Box::new((
                reply,
                "`inputResponses.input` is missing".into(),
            )));
        };
        let _ = parked.conn.respond_raw(
            json!({"jsonrpc": "2.0", "result": answer}),
            parked.upstream_request,
        );
        let mut reply = reply;
        loop {
            match parked.conn.resume(parked.call, reply) {
                Ok(Resumed::Attached) => return Ok(()),
                Ok(Resumed::Ask { request, reply: r }) => {
                    // Asked while the client was away: ask it now, if it can answer.
                    let method = request["method"].as_str().unwrap_or_default();
                    let can = capability_for(method).is_some_and(|cap| {
                        self.sessions
                            .get(&r.session)
                            .is_some_and(|p| declares(&p, cap))
                    });
                    if can {
                        self.ask_bridged(&parked.conn, parked.call, &request, r);
                        return Ok(());
                    }
                    let _ = parked.conn.respond_raw(
                        jsonrpc::error_value(
                            &Value::Null,
                            jsonrpc::METHOD_NOT_FOUND,
                            format!("the client did not declare the capability for `{method}`"),
                            None,
                        ),
                        request["id"].clone(),
                    );
                    reply = r;
                }
                Err(r) => {
                    return Err(Box::new((
                        *r,
                        format!(
                            "the call on upstream `{}` ended while waiting for input",
                            parked.conn.server
                        ),
                    )))
                }
            }
        }
    }

    /// The reverse bridge: a 2026-07-28 upstream wants input for a handshake-era client's call.
    /// Each `inputRequests` entry becomes a request to that client (on the call's stream); the
    /// answers go back to the upstream in a retry of the call, whose answer reaches the client.
    fn ask_for_input(self: Arc<Self>, conn: Arc<Conn>, result: Value, reply: DownstreamReply) {
        tokio::spawn(async move {
            let fail = |reply: &DownstreamReply, msg: String| {
                let _ = reply.out.send(jsonrpc::error(
                    &reply.id,
                    jsonrpc::UPSTREAM_FAILED,
                    msg,
                    Some(json!({"server": conn.server.as_str()})),
                ));
            };
            let Some((method, params)) = reply.retry.clone().map(|b| *b) else {
                return;
            };
            let Some(peer) = self.sessions.get(&reply.session).map(|p| p.clone()) else {
                return;
            };
            let timeout = self
                .upstreams
                .get(&conn.server)
                .map_or(self.settings.request_timeout, |u| u.cfg.request_timeout);
            let mut answers = serde_json::Map::new();
            for (key, req) in result["inputRequests"].as_object().into_iter().flatten() {
                let m = req["method"].as_str().unwrap_or_default();
                let cap = match m {
                    "sampling/createMessage" => "sampling",
                    "elicitation/create" => "elicitation",
                    "roots/list" => "roots",
                    _ => {
                        return fail(
                            &reply,
                            format!(
                                "upstream `{}` asked for input of an unknown kind (`{m}`)",
                                conn.server
                            ),
                        )
                    }
                };
                if lock(&peer.client_capabilities).get(cap).is_none() {
                    return fail(
                        &reply,
                        format!(
                            "upstream `{}` needs `{cap}` input, which this client did not declare",
                            conn.server
                        ),
                    );
                }
                let hid = format!(
                    "mcp-hub-{}",
                    self.next_relay.fetch_add(1, Ordering::Relaxed)
                );
                let (tx, rx) = tokio::sync::oneshot::channel();
                peer.waiting.insert(hid.clone(), tx);
                let _ =
                    reply
                        .out
                        .send(jsonrpc::request(&json!(hid), m, req.get("params").cloned()));
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(answer)) if answer.get("result").is_some() => {
                        answers.insert(key.clone(), answer["result"].clone());
                    }
                    Ok(Ok(answer)) => {
                        return fail(
                            &reply,
                            format!(
                                "the client refused `{m}`: {}",
                                answer["error"]["message"].as_str().unwrap_or("error")
                            ),
                        )
                    }
                    _ => {
                        peer.waiting.remove(&hid);
                        return fail(&reply, format!("the client did not answer `{m}` in time"));
                    }
                }
            }
            let mut retry = params;
            retry["inputResponses"] = Value::Object(answers);
            if let Some(state) = result.get("requestState") {
                retry["requestState"] = state.clone();
            }
            if let Err(failed) = conn.forward(&method, retry, reply, timeout) {
                let (reply, e) = *failed;
                let _ = reply.out.send(e.to_error_value(&reply.id).to_string());
            }
        });
    }

    /// Cancels bridged calls whose client never came back.
    async fn expire_bridges(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            for p in self.bridges.expired() {
                tracing::info!(tenant = %self.id, server = %p.conn.server, "a bridged call's client did not come back within {}; cancelled", humantime::format_duration(self.bridges.ttl));
                p.give_up(
                    jsonrpc::REQUEST_TIMEOUT,
                    "the client did not answer in time",
                    "the client did not come back with input in time",
                );
            }
        }
    }
}

impl ConnHooks for Hooks {
    fn on_input_required(&self, conn: &Arc<Conn>, result: Value, reply: DownstreamReply) {
        if let Some(t) = self.tenant.upgrade() {
            t.ask_for_input(conn.clone(), result, reply);
        }
    }

    fn on_notification(&self, conn: &Arc<Conn>, msg: Value) {
        if let Some(t) = self.tenant.upgrade() {
            t.on_upstream_notification(conn, msg, self.scope);
        }
    }

    fn on_server_request(
        &self,
        conn: &Arc<Conn>,
        msg: Value,
        calls: Vec<InFlight>,
        associated: bool,
    ) {
        match self.tenant.upgrade() {
            Some(t) => t.on_upstream_request(conn, msg, calls, associated, self.scope),
            None => {
                let _ = conn.respond_raw(
                    jsonrpc::error_value(
                        &Value::Null,
                        jsonrpc::INTERNAL_ERROR,
                        "the hub is stopping",
                        None,
                    ),
                    msg["id"].clone(),
                );
            }
        }
    }
}

async fn futures_join_all(ups: Vec<Arc<Upstream>>) {
    let mut set = tokio::task::JoinSet::new();
    for u in ups {
        set.spawn(async move { u.settled().await });
    }
    while set.join_next().await.is_some() {}
}

/// The client capability a server-to-client request needs; `None` for what the hub does not relay.
fn capability_for(method: &str) -> Option<&'static str> {
    match method {
        "sampling/createMessage" => Some("sampling"),
        "elicitation/create" => Some("elicitation"),
        "roots/list" => Some("roots"),
        _ => None,
    }
}

fn declares(peer: &SessionPeer, cap: &str) -> bool {
    lock(&peer.client_capabilities).get(cap).is_some()
}
