//! A tenant: its upstreams and their supervisors, its merged catalog, and its downstream
//! sessions. This file wires them together and implements [`ConnHooks`], through which each
//! upstream connection reaches the tenant (the mux never sees the tenant itself).
//!
//! - [`sessions`]: the session registry, what the tenant knows of each session.
//! - [`own`]: the connections of `share = "session"` servers, one per session.
//! - [`pool`]: the members of pre-warmed container pools, and which one a call goes to.
//! - [`pool_tasks`]: which pool member each task lives in.
//! - [`notify`]: who gets which notification (list changes, logs, resource updates, task status).
//! - [`relay`]: server-to-client requests, routed to the session whose call caused them.
//! - [`subscriptions`]: resource subscription counts and the upstreams' log level.
//! - [`pins`]: the tenant's pinned tools, listed and approved (the pinning itself is [`crate::pinning`]).
//! - [`control`]: servers started, stopped and restarted at runtime, and a new config applied as a diff.
//! - The MRTR bridge (both directions) lives in [`crate::bridge`].

mod control;
mod notify;
mod own;
mod pins;
mod pool;
mod pool_tasks;
mod relay;
mod sessions;
mod subscriptions;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use dashmap::DashMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bridge::Bridges;
use crate::catalog::Catalog;
use crate::config::{HubSettings, ServerName, TenantConfig, TenantId};
use crate::jsonrpc;
use crate::mux::{Conn, ConnHooks, DownstreamReply, InFlight, Rewrite};
use crate::naming::Namer;
use crate::protocol::ListKind;
use crate::supervisor::Supervisor;
use crate::sync::{LockExt, RwLockExt};
use crate::upstream::Offer;
use crate::upstream::{State, Upstream};

pub use control::{ControlError, TenantDiff};
pub use sessions::{listen_uris, Listen, PeerState, SessionPeer};
pub use subscriptions::{log_severity, LOG_LEVELS};

pub struct Tenant {
    pub id: TenantId,
    pub settings: Arc<HubSettings>,
    pub namer: Arc<Namer>,
    /// The servers, swapped whole when a reload adds, removes or replaces one.
    servers: RwLock<Arc<Servers>>,
    /// What each running supervisor is stopped with.
    controls: Mutex<BTreeMap<ServerName, control::Control>>,
    /// The tenant's config as last applied (keys, limits, server definitions).
    config: RwLock<Arc<TenantConfig>>,
    /// Stopped by the operator: new sessions are refused until it is started again.
    stopped: AtomicBool,
    pub quota: crate::quota::Quota,
    /// Servers left out of the catalog because it would exceed `max_tools`, with why.
    left_out: RwLock<BTreeMap<ServerName, String>>,
    catalog: RwLock<Arc<Catalog>>,
    generation: AtomicU64,
    sessions: DashMap<u64, Arc<SessionPeer>>,
    next_session: AtomicU64,
    next_relay: AtomicU64,
    /// Lazy upstreams were asked to start (the tenant's first use).
    lazy_started: AtomicBool,
    /// 2026-07-28 calls parked while their client supplies input (MRTR).
    pub bridges: Bridges,
    /// The tenant's metric series, resolved once per tool (`crate::observe`).
    pub series: crate::observe::TenantSeries,
    subs: subscriptions::Subscriptions,
    /// The connections of `share = "session"` servers, per (session, server).
    own: DashMap<(u64, ServerName), own::Own>,
    /// The members of pre-warmed pools, per server, and whose turn a tie is.
    pool: DashMap<ServerName, pool::Pool>,
    pool_turn: AtomicUsize,
    /// Where the tenant's tasks run, and what stops them (set by `start`).
    runtime: OnceLock<crate::tasks::Tasks>,
    /// The tenant's pins, when the hub has a state store (set before `start`).
    pinner: OnceLock<Arc<crate::pinning::Pinner>>,
    me: Weak<Tenant>,
}

/// A tenant's upstreams by name, and how each one's answers are rewritten (made once).
#[derive(Default, Clone)]
pub struct Servers {
    pub upstreams: BTreeMap<ServerName, Arc<Upstream>>,
    rewrites: BTreeMap<ServerName, Rewrite>,
}

impl Servers {
    fn insert(&mut self, namer: &Arc<Namer>, up: Arc<Upstream>, prefix: &str) {
        self.set_prefix(namer, &up.name, prefix);
        self.upstreams.insert(up.name.clone(), up);
    }

    /// Answers from `name` get their URIs namespaced by `prefix`.
    fn set_prefix(&mut self, namer: &Arc<Namer>, name: &ServerName, prefix: &str) {
        self.rewrites.insert(
            name.clone(),
            crate::rewrite::namespacing(namer.clone(), name.clone(), prefix),
        );
    }

    fn remove(&mut self, name: &ServerName) -> Option<Arc<Upstream>> {
        self.rewrites.remove(name);
        self.upstreams.remove(name)
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Upstream>> {
        self.upstreams.values()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Upstream>> {
        self.upstreams.get(name)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.upstreams.contains_key(name)
    }

    /// How answers from `name` are rewritten for clients.
    pub fn rewrite(&self, name: &str) -> Option<Rewrite> {
        self.rewrites.get(name).cloned()
    }

    pub fn len(&self) -> usize {
        self.upstreams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }
}

/// The tenant's side of a connection: `scope` is the session that owns it (`share = "session"`),
/// `None` for the connection every session shares.
struct Hooks {
    tenant: Weak<Tenant>,
    scope: Option<u64>,
}

impl Tenant {
    pub fn new(cfg: &TenantConfig, settings: Arc<HubSettings>) -> Arc<Self> {
        let namer = Arc::new(Namer::new(&settings.separator, settings.max_name_length));
        Arc::new_cyclic(|me| Tenant {
            id: cfg.id.clone(),
            namer: namer.clone(),
            settings,
            servers: RwLock::new(Arc::new({
                let mut servers = Servers::default();
                for s in cfg.servers.values() {
                    let prefix = cfg.catalog.prefix(s.name.as_str());
                    servers.insert(&namer, Upstream::new(s.clone()), prefix);
                }
                servers
            })),
            controls: Mutex::new(BTreeMap::new()),
            config: RwLock::new(Arc::new(cfg.clone())),
            stopped: AtomicBool::new(false),
            quota: crate::quota::Quota::new(cfg.limits),
            left_out: RwLock::new(BTreeMap::new()),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            generation: AtomicU64::new(0),
            sessions: DashMap::new(),
            next_session: AtomicU64::new(1),
            next_relay: AtomicU64::new(1),
            lazy_started: AtomicBool::new(false),
            bridges: Bridges::new(),
            series: Default::default(),
            subs: subscriptions::Subscriptions::default(),
            own: DashMap::new(),
            pool: DashMap::new(),
            pool_turn: AtomicUsize::new(0),
            runtime: OnceLock::new(),
            pinner: OnceLock::new(),
            me: me.clone(),
        })
    }

    /// Starts a supervisor per enabled upstream; every task of the tenant is owned by `tracker`
    /// and stopped by `shutdown`.
    pub fn start(self: &Arc<Self>, tracker: &TaskTracker, shutdown: &CancellationToken) {
        let _ = self
            .runtime
            .set(crate::tasks::Tasks::new(tracker.clone(), shutdown.clone()));
        self.spawn(self.clone().expire_bridges(shutdown.child_token()));
        for up in self.upstreams().values() {
            self.supervise(up.clone());
        }
    }

    /// Runs a supervisor for `up` (the shared connection), stopped by its own token.
    fn supervise(self: &Arc<Self>, up: Arc<Upstream>) {
        let Some(tasks) = self.tasks() else {
            return;
        };
        let (me, weak_up) = (Arc::downgrade(self), Arc::downgrade(&up));
        let restored = subscriptions::Restored::default();
        let stop = tasks.child_token();
        let (done_tx, done) = tokio::sync::watch::channel(false);
        let sup = Supervisor {
            tasks,
            up: up.clone(),
            tenant: self.id.clone(),
            hooks: Arc::new(Hooks {
                tenant: Arc::downgrade(self),
                scope: None,
            }),
            on_change: Arc::new(move || {
                if let Some(t) = me.upgrade() {
                    t.rebuild();
                    if let Some(up) = weak_up.upgrade() {
                        // A new connection (a restart) knows neither the log level nor the subscriptions.
                        t.restore(&up, &restored, true);
                        t.warn_if_pool_short(&up, &up, 1);
                    }
                }
            }),
            settings: self.settings.clone(),
            shutdown: stop.clone(),
            pinning: self.pinner().cloned(),
        };
        let old = self.controls.locked().insert(
            up.name.clone(),
            control::Control {
                stop: stop.clone(),
                done,
            },
        );
        if let Some(old) = old {
            old.stop.cancel();
        }
        let pool_stopped = self.start_pool(&up, &stop);
        self.spawn(async move {
            sup.run().await;
            // A pool's other members stop with the same token; done is when they all have.
            if let Some(mut rx) = pool_stopped {
                while rx.recv().await.is_some() {}
            }
            let _ = done_tx.send(true);
        });
    }

    /// The servers as they are now (a reload may swap them).
    pub fn upstreams(&self) -> Arc<Servers> {
        self.servers.read_now().clone()
    }

    /// The tenant's config as last applied.
    pub fn config(&self) -> Arc<TenantConfig> {
        self.config.read_now().clone()
    }

    /// Runs `task` in the hub's tracker (so the shutdown waits for it), in a span naming the
    /// tenant, or on the runtime when the tenant was never started (unit tests).
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.tasks() {
            Some(tasks) => tasks.spawn(
                tracing::info_span!(parent: None, "tenant", tenant = %self.id),
                task,
            ),
            None => {
                tokio::spawn(task);
            }
        }
    }

    /// The hub's tasks, once the tenant is started.
    pub fn tasks(&self) -> Option<crate::tasks::Tasks> {
        self.runtime.get().cloned()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read_now().clone()
    }

    /// A URI of `server`'s as clients see it (namespaced by the server's prefix).
    pub fn expose_uri(&self, server: &str, uri: &str) -> String {
        self.namer
            .namespace_uri(self.config().catalog.prefix(server), uri)
    }

    pub fn upstream(&self, name: &str) -> Option<Arc<Upstream>> {
        self.upstreams().get(name).cloned()
    }

    /// Whether every upstream that is wanted has finished its first start attempt.
    pub fn is_settled(&self) -> bool {
        self.upstreams().values().all(|u| u.status().settled)
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
            for u in self.upstreams().values() {
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
        let ups = self.upstreams();
        let limit = ups
            .values()
            .map(|u| u.cfg.startup_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
            .max(self.settings.startup_timeout);
        let mut set = tokio::task::JoinSet::new();
        for u in ups.values() {
            let u = u.clone();
            set.spawn(async move { u.settled().await });
        }
        let all = async { while set.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Rebuilds the catalog from the upstreams that are up and tells sessions what changed.
    pub fn rebuild(&self) {
        let old = {
            // The offers are read under the lock: a rebuild that read them earlier (before
            // another server came up) must not replace the catalog of one that read them later.
            let mut g = self.catalog.write_now();
            let offers = self.offers_within_limits();
            let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
            let cfg = self.config();
            let mut new =
                Catalog::rebuild(&self.namer, &cfg.catalog, &offers, generation, Some(&g));
            // Cursors stay valid while nothing a client can page through changed.
            if ListKind::ALL.iter().all(|&k| g.list(k) == new.list(k)) {
                new.generation = g.generation;
            }
            std::mem::replace(&mut *g, Arc::new(new))
        };
        let new = self.catalog();
        // Said once per change: a collision already in the old catalog is not repeated.
        for c in new
            .collisions
            .iter()
            .filter(|c| !old.collisions.contains(c))
        {
            tracing::warn!(tenant = %self.id, kept_by = %c.kept_by, hidden_from = %c.hidden_from, "{}", c.describe());
        }
        let mut sent = HashSet::new();
        for kind in ListKind::ALL {
            if old.list(kind) != new.list(kind) && sent.insert(kind.changed_notification()) {
                self.broadcast_list_changed(kind);
            }
        }
        tracing::debug!(tenant = %self.id, generation = new.generation, tools = new.tools.len(), "catalog rebuilt");
    }

    /// The offers of the servers that are up, in server order, leaving out those whose tools
    /// would take the catalog beyond `max_tools` (said in the log and the admin API).
    fn offers_within_limits(&self) -> Vec<(ServerName, Arc<Offer>)> {
        let max = self.quota.limits().max_tools;
        let mut total = 0usize;
        let mut left_out = BTreeMap::new();
        let mut offers = Vec::new();
        // A stopped on-demand container keeps its tools listed: a call starts it.
        for u in self
            .upstreams()
            .values()
            .filter(|u| u.conn().is_some() || u.remembers_offer())
        {
            let offer = u.offer();
            match max {
                Some(m) if total + offer.tools.len() > m => {
                    let why = format!(
                        "left out of the catalog: its {} tools would take the tenant past `max_tools` = {m}",
                        offer.tools.len()
                    );
                    left_out.insert(u.name.clone(), why);
                }
                _ => {
                    total += offer.tools.len();
                    offers.push((u.name.clone(), offer));
                }
            }
        }
        let mut current = self.left_out.write_now();
        for (name, why) in &left_out {
            if current.get(name) != Some(why) {
                tracing::warn!(tenant = %self.id, server = %name, "{why}");
            }
        }
        *current = left_out;
        offers
    }

    /// Servers left out of the catalog by `max_tools`, with why.
    pub fn left_out(&self) -> BTreeMap<ServerName, String> {
        self.left_out.read_now().clone()
    }

    /// A one-line summary of every upstream, for the log and `mcp-hub status`.
    pub fn summary(&self) -> String {
        self.upstreams()
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
                    msg.get("id").cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
}
