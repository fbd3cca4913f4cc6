//! Pre-warmed pools (`strategy = "pre-warmed"`, `pool = N`): the members beyond the first, each
//! a connection of its own with its own supervisor (so a dead member is restarted, the pool
//! refilled, exactly as a single server is), and which member a call goes to.
//!
//! The first member is the server's shared connection: it feeds the catalog, holds the resource
//! subscriptions and answers the stateless requests (lists, and tasks it does not know of). The
//! other members carry calls; a task lives in the member that ran its call ([`super::pool_tasks`]).
//! Every member is told the log level the tenant's sessions asked for, again after each restart
//! (`super::subscriptions`). Their notifications and server-to-client requests reach the tenant
//! as the shared connection's do (the same hooks, no session scope), and a member's pending calls
//! fail at once, naming the server, when its container dies (the multiplexer's close).
//!
//! **A member that stays down** (restart policy `never`, or its restart budget spent) is not
//! replaced: the pool serves with fewer members, said once in the log (warning, naming the server
//! and `k/N` members up), in `/api/docker/containers` (`pool_up`), `mcp-hub status` and `/health`
//! (`degraded`).
//!
//! **Spread: least in flight, ties by rotation.** A member busy with a slow call gets no more
//! until the others are as busy, which round robin cannot promise when calls differ in length;
//! the rotation spreads a burst of equal calls evenly instead of piling them on the first member.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::pool_tasks::TaskHomes;
use super::subscriptions::Restored;
use super::{Hooks, Tenant};
use crate::config::{ServerName, StartMode, Strategy};
use crate::mux::Conn;
use crate::supervisor::Supervisor;
use crate::upstream::{State, Upstream};

/// The members of one server's pool: the shared upstream (the first member) and the others.
pub(super) struct Pool {
    first: Arc<Upstream>,
    others: Vec<Arc<Upstream>>,
    /// Which member each task lives in.
    tasks: Arc<TaskHomes>,
}

/// How many containers `up` keeps (1 for anything but a pre-warmed pool).
fn pool_size(up: &Upstream) -> usize {
    match &up.cfg.container {
        Some(k) if k.strategy == Strategy::PreWarmed => k.pool.max(1),
        _ => 1,
    }
}

impl Tenant {
    /// Starts the members of `up`'s pool beyond the first, stopped with `stop` (the server's
    /// own token: stopping, restarting or replacing the server stops them too). Answers what
    /// ends once every one of them has stopped (so a stop waits for all of the pool's
    /// containers, not only the first's); `None` when `up` is no pool.
    pub(super) fn start_pool(
        &self,
        up: &Arc<Upstream>,
        stop: &CancellationToken,
    ) -> Option<mpsc::Receiver<()>> {
        let n = pool_size(up);
        if n < 2 || !up.cfg.enabled {
            self.pool.remove(&up.name);
            return None;
        }
        let tasks = self.tasks()?;
        // Each member's task holds a sender: the receiver ends when the last one is dropped.
        let (alive, all_stopped) = mpsc::channel::<()>(1);
        let others = (2..=n)
            .map(|i| {
                let mut cfg = up.cfg.clone();
                cfg.start = StartMode::Eager;
                let member = Upstream::new(cfg);
                tracing::debug!(tenant = %self.id, server = %up.name, member = i, "pool member");
                let alive = alive.clone();
                let sup = Supervisor {
                    tasks: tasks.clone(),
                    up: member.clone(),
                    tenant: self.id.clone(),
                    hooks: Arc::new(Hooks {
                        tenant: self.me.clone(),
                        scope: None,
                    }),
                    on_change: self.member_changed(up, &member, i),
                    settings: self.settings.clone(),
                    shutdown: stop.child_token(),
                    pinning: None,
                };
                self.spawn(async move {
                    sup.run().await;
                    drop(alive);
                });
                member
            })
            .collect();
        self.pool.insert(
            up.name.clone(),
            Pool {
                first: up.clone(),
                others,
                tasks: TaskHomes::new(self.id.clone(), up.name.clone()),
            },
        );
        Some(all_stopped)
    }

    /// What member `index`'s supervisor does on a change: a new connection is told
    /// the log level; a member down for good is said in the log; and the catalog is the first
    /// member's, but while that one has never come up, the first other member that does lends
    /// it its lists (not with pinning on: pins review the first member's lists only).
    fn member_changed(
        &self,
        first: &Arc<Upstream>,
        member: &Arc<Upstream>,
        index: usize,
    ) -> crate::supervisor::OnChange {
        let lend = self.pinner().is_none();
        let restored = Restored::default();
        let (me, first, member) = (
            self.me.clone(),
            Arc::downgrade(first),
            Arc::downgrade(member),
        );
        Arc::new(move || {
            let (Some(t), Some(first), Some(member)) =
                (me.upgrade(), first.upgrade(), member.upgrade())
            else {
                return;
            };
            if lend && first.offer().server_info.is_null() && member.conn().is_some() {
                first.set_offer((*member.offer()).clone());
                t.rebuild();
            }
            t.restore(&member, &restored, false);
            t.warn_if_pool_short(&first, &member, index);
        })
    }

    /// The pool member a `method` request to `up` goes to: the live one with the fewest calls
    /// in flight, ties taken in turn; `None` when `up` is no pool, no member is up (the caller
    /// then treats `up` as it treats any server that is down or starting), or the method is the
    /// first member's (a resource subscription: the first holds the tenant's subscriptions and
    /// is told them again when it restarts; the caller then uses `up`, the first).
    pub fn pool_member(&self, up: &Arc<Upstream>, method: &str) -> Option<Arc<Upstream>> {
        if matches!(method, "resources/subscribe" | "resources/unsubscribe") {
            return None;
        }
        let pool = self.pool.get(&up.name)?;
        // A pool of a server a reload has since replaced is not this server's.
        if !Arc::ptr_eq(&pool.first, up) {
            return None;
        }
        let members: Vec<(Arc<Upstream>, Arc<Conn>)> = std::iter::once(&pool.first)
            .chain(pool.others.iter())
            .filter_map(|m| m.conn().map(|c| (m.clone(), c)))
            .collect();
        drop(pool);
        let turn = self.pool_turn.fetch_add(1, Ordering::Relaxed);
        let n = members.len();
        (0..n)
            .map(|i| (i + turn) % n.max(1))
            .filter_map(|i| members.get(i))
            .min_by_key(|(_, c)| c.in_flight())
            .map(|(m, _)| m.clone())
    }

    /// Every member of `server`'s pool, the first (the shared upstream) first; empty when it
    /// is no pool.
    pub fn pool_members(&self, server: &ServerName) -> Vec<Arc<Upstream>> {
        self.pool
            .get(server)
            .filter(|p| {
                self.upstream(server.as_str())
                    .is_some_and(|u| Arc::ptr_eq(&u, &p.first))
            })
            .map(|p| {
                std::iter::once(p.first.clone())
                    .chain(p.others.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Said once, when member `index` of `first`'s pool has just gone down for good (restart
    /// policy `never` or its budget spent): the pool serves on with fewer members, unreplaced.
    pub(super) fn warn_if_pool_short(
        &self,
        first: &Arc<Upstream>,
        member: &Upstream,
        index: usize,
    ) {
        let st = member.status();
        if st.state != State::Failed {
            return;
        }
        let Some((up, size)) = self.pool_up(&first.name) else {
            return;
        };
        tracing::warn!(tenant = %self.id, server = %first.name, member = index, "pool `{}` serves with {up}/{size} members: member {index} is down for good and is not replaced ({}); hint: restart the server (`POST /api/docker/containers/{}/{}/restart`) or raise `restart.max_retries`", first.name, st.last_error.unwrap_or_default(), self.id, first.name);
    }

    /// The task map of `up`'s pool; `None` when `up` is no pool (or a reload replaced it).
    pub(super) fn pool_tasks(&self, up: &Arc<Upstream>) -> Option<Arc<TaskHomes>> {
        let pool = self.pool.get(&up.name)?;
        Arc::ptr_eq(&pool.first, up).then(|| pool.tasks.clone())
    }

    /// How many of `server`'s pool members are up, and how many it has; `None` when it is no pool.
    pub fn pool_up(&self, server: &ServerName) -> Option<(usize, usize)> {
        let members = self.pool_members(server);
        (!members.is_empty()).then(|| {
            let up = members.iter().filter(|m| m.conn().is_some()).count();
            (up, members.len())
        })
    }

    /// The live connections of the pool members beyond the first (the first is the server's
    /// shared connection): where a session's calls may also be in flight.
    pub fn pool_conns(&self) -> Vec<Arc<Conn>> {
        self.pool
            .iter()
            .flat_map(|p| p.others.iter().filter_map(|m| m.conn()).collect::<Vec<_>>())
            .collect()
    }
}
