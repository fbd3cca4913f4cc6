//! Connections of `share = "session"` servers: each handshake-era session gets its own, started
//! on its first request to the server, told the session's log level each time it (re)connects,
//! and stopped when the session ends.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::subscriptions::Restored;
use super::{Hooks, Tenant, LOG_LEVELS};
use crate::config::{ServerName, Share, StartMode};
use crate::mux::Conn;
use crate::supervisor::Supervisor;
use crate::upstream::{handshake, Upstream};

/// A `share = "session"` server's connection that belongs to one session.
pub(super) struct Own {
    pub(super) up: Arc<Upstream>,
    stop: CancellationToken,
}

impl Tenant {
    /// For a `share = "session"` server and a session that began with `initialize`, the
    /// session's own connection to `up`, started here on first use (the caller waits for it to
    /// settle); `None` when the session uses the shared `up`.
    pub fn own_upstream(&self, up: &Arc<Upstream>, session: u64) -> Option<Arc<Upstream>> {
        if up.cfg.share != Share::Session {
            return None;
        }
        // Only a session that began with `initialize` owns connections, told its client's capabilities.
        let caps = self.sessions.get(&session).and_then(|p| {
            let st = p.state();
            st.version
                .is_some()
                .then(|| handshake::session_capabilities(&st.client_capabilities))
        });
        let (Some(caps), Some(tasks)) = (caps, self.tasks()) else {
            return None;
        };
        let key = (session, up.name.clone());
        let inst = self
            .own
            .entry(key)
            .or_insert_with(|| {
                let mut cfg = up.cfg.clone();
                cfg.start = StartMode::Eager;
                let inst = Upstream::declaring(cfg, Some(caps));
                let stop = tasks.child_token();
                // Each new connection (the first, and every restart) is told the session's
                // log level, as the shared connection is told the sessions'.
                let on_change = {
                    let (tenant, weak) = (self.me.clone(), Arc::downgrade(&inst));
                    let restored = Restored::default();
                    Arc::new(move || {
                        let (Some(t), Some(up)) = (tenant.upgrade(), weak.upgrade()) else {
                            return;
                        };
                        if up.conn().is_some_and(|c| restored.is_new(&c)) {
                            t.apply_own_log_level_to(session, &up);
                        }
                    })
                };
                tracing::info!(tenant = %self.id, server = %up.name, session, "starting the session's own connection (share = \"session\")");
                self.spawn(
                    Supervisor {
                        tasks: tasks.clone(),
                        up: inst.clone(),
                        tenant: self.id.clone(),
                        hooks: Arc::new(Hooks {
                            tenant: self.me.clone(),
                            scope: Some(session),
                        }),
                        on_change,
                        settings: self.settings.clone(),
                        shutdown: stop.clone(),
                        // The catalog is the shared connection's, pinned there.
                        pinning: None,
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
    pub(super) fn stop_own(&self, session: u64) {
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

    /// Every live connection that may carry `session`'s calls: the shared ones, the pools'
    /// other members and its own.
    pub fn conns_of_session(&self, session: u64) -> Vec<Arc<Conn>> {
        let own = self
            .own
            .iter()
            .filter(|e| e.key().0 == session)
            .filter_map(|e| e.up.conn());
        self.upstreams()
            .values()
            .filter_map(|u| u.conn())
            .chain(self.pool_conns())
            .chain(own)
            .collect()
    }

    /// The names of every container this tenant's connections run now: the servers' own,
    /// their pools' other members and the sessions' own (`share = "session"`).
    pub fn container_names(&self) -> Vec<String> {
        let own: Vec<Arc<Upstream>> = self.own.iter().map(|e| e.up.clone()).collect();
        self.upstreams()
            .values()
            .flat_map(|u| std::iter::once(u.clone()).chain(self.pool_members(&u.name)))
            .chain(own)
            .filter_map(|u| u.container())
            .collect()
    }

    /// Sets a session's own connections to the log level the session asked for.
    pub fn apply_own_log_level(&self, session: u64) {
        let owned: Vec<Arc<Upstream>> = self
            .own
            .iter()
            .filter(|e| e.key().0 == session)
            .map(|e| e.up.clone())
            .collect();
        for up in owned {
            self.apply_own_log_level_to(session, &up);
        }
    }

    /// Sets one of a session's own connections to the log level the session asked for.
    fn apply_own_log_level_to(&self, session: u64, up: &Arc<Upstream>) {
        if let Some(level) = self
            .sessions
            .get(&session)
            .and_then(|p| p.log_level())
            .map(|l| LOG_LEVELS[l as usize])
        {
            self.set_upstream_log_level(up, level);
        }
    }
}
