//! The tenant's servers under the operator's hand: each one started, stopped and restarted at
//! runtime, the whole tenant stopped and started, and a new config applied as a diff (servers
//! whose definition did not change keep running, untouched).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Servers, Tenant};
use crate::config::{ServerName, StartMode, TenantConfig};
use crate::sync::{LockExt, RwLockExt};
use crate::upstream::Upstream;

/// What a running supervisor is stopped with, and how to know it has finished.
pub(super) struct Control {
    pub(super) stop: CancellationToken,
    pub(super) done: watch::Receiver<bool>,
}

impl Control {
    fn running(&self) -> bool {
        !*self.done.borrow() && !self.stop.is_cancelled()
    }
}

/// Why an operator's action on a server cannot be done.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("no server `{server}` in tenant `{tenant}`")]
    UnknownServer { tenant: String, server: String },
    #[error("server `{0}` is disabled in the config (`enabled = false`); enable it and reload")]
    Disabled(String),
    #[error("tenant `{0}` is stopped; start the tenant first")]
    TenantStopped(String),
}

/// What applying a new config changed in one tenant.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
pub struct TenantDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
}

impl TenantDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Tenant {
    fn stop_wait(&self) -> Duration {
        self.settings.shutdown_grace * 2 + Duration::from_secs(5)
    }

    /// Whether `server`'s supervisor is running (it may be starting, up or in backoff).
    pub fn is_running(&self, server: &str) -> bool {
        self.controls
            .locked()
            .get(server)
            .is_some_and(Control::running)
    }

    /// Whether the operator stopped the whole tenant.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn known(&self, server: &str) -> Result<Arc<Upstream>, ControlError> {
        self.upstream(server)
            .ok_or_else(|| ControlError::UnknownServer {
                tenant: self.id.to_string(),
                server: server.to_string(),
            })
    }

    /// Starts a server that is not running; `Ok(false)` when it already was (idempotent).
    pub fn start_server(self: &Arc<Self>, server: &str) -> Result<bool, ControlError> {
        let up = self.known(server)?;
        if !up.cfg.enabled {
            return Err(ControlError::Disabled(server.to_string()));
        }
        if self.is_stopped() {
            return Err(ControlError::TenantStopped(self.id.to_string()));
        }
        if self.is_running(server) {
            return Ok(false);
        }
        self.supervise(up.clone());
        // Asked for by name: a lazy server starts now.
        up.request_start();
        Ok(true)
    }

    /// Stops a running server and waits until its process (or remote session) is gone;
    /// `Ok(false)` when it was not running. Its tools leave the catalog (clients are told).
    pub async fn stop_server(&self, server: &str) -> Result<bool, ControlError> {
        self.known(server)?;
        let control = self.controls.locked().remove(server);
        let Some(mut control) = control.filter(Control::running) else {
            return Ok(false);
        };
        control.stop.cancel();
        let wait = self.stop_wait();
        if tokio::time::timeout(wait, control.done.wait_for(|d| *d))
            .await
            .is_err()
        {
            tracing::warn!(tenant = %self.id, server, "did not stop within {}", humantime::format_duration(wait));
        }
        self.rebuild();
        Ok(true)
    }

    pub async fn restart_server(self: &Arc<Self>, server: &str) -> Result<(), ControlError> {
        self.known(server)?;
        if self.is_stopped() {
            return Err(ControlError::TenantStopped(self.id.to_string()));
        }
        self.stop_server(server).await?;
        self.start_server(server).map(|_| ())
    }

    /// Stops every server and refuses new sessions; `false` when it was already stopped.
    pub async fn stop_tenant(&self) -> bool {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return false;
        }
        let names: Vec<ServerName> = self.upstreams().upstreams.keys().cloned().collect();
        for name in names {
            let _ = self.stop_server(name.as_str()).await;
        }
        true
    }

    /// Starts every enabled server again; `false` when the tenant was not stopped.
    pub fn start_tenant(self: &Arc<Self>) -> bool {
        if !self.stopped.swap(false, Ordering::AcqRel) {
            return false;
        }
        for up in self.upstreams().values() {
            if up.cfg.enabled && !self.is_running(up.name.as_str()) {
                self.supervise(up.clone());
                if up.cfg.start == StartMode::Eager || self.lazy_started.load(Ordering::Relaxed) {
                    up.request_start();
                }
            }
        }
        true
    }

    /// Applies a new definition of this tenant: unchanged servers keep running untouched,
    /// changed ones restart on their new definition, removed ones stop, added ones start (eager)
    /// or wait for first use (lazy). Keys and limits take effect at once.
    pub async fn apply(self: &Arc<Self>, new: TenantConfig) -> TenantDiff {
        let old = self.config();
        let mut diff = TenantDiff::default();
        let mut servers: Servers = (*self.upstreams()).clone();
        for name in old.servers.keys() {
            if !new.servers.contains_key(name) {
                let _ = self.stop_server(name.as_str()).await;
                servers.remove(name);
                diff.removed.push(name.to_string());
            }
        }
        let mut to_start = Vec::new();
        for (name, cfg) in &new.servers {
            match old.servers.get(name) {
                Some(o) if o == cfg => diff.unchanged += 1,
                Some(_) => {
                    let _ = self.stop_server(name.as_str()).await;
                    let up = Upstream::new(cfg.clone());
                    servers.insert(&self.namer, up.clone(), new.catalog.prefix(name.as_str()));
                    to_start.push(up);
                    diff.changed.push(name.to_string());
                }
                None => {
                    let up = Upstream::new(cfg.clone());
                    servers.insert(&self.namer, up.clone(), new.catalog.prefix(name.as_str()));
                    to_start.push(up);
                    diff.added.push(name.to_string());
                }
            }
        }
        // A prefix may change without the server's definition changing.
        for name in new.servers.keys() {
            servers.set_prefix(&self.namer, name, new.catalog.prefix(name.as_str()));
        }
        *self.servers.write_now() = Arc::new(servers);
        self.quota.set_limits(new.limits);
        let pin_mode = new.pinning;
        *self.config.write_now() = Arc::new(new);
        self.apply_pin_mode(pin_mode).await;
        if !self.is_stopped() {
            for up in to_start.into_iter().filter(|u| u.cfg.enabled) {
                self.supervise(up.clone());
                if self.lazy_started.load(Ordering::Relaxed) {
                    up.request_start();
                }
            }
        }
        self.rebuild();
        diff
    }

    /// Stops every server for good (the tenant was removed by a reload).
    pub async fn retire(&self) {
        self.stopped.store(true, Ordering::Release);
        let names: Vec<ServerName> = self.upstreams().upstreams.keys().cloned().collect();
        for name in names {
            let _ = self.stop_server(name.as_str()).await;
        }
        let ids: Vec<u64> = self.sessions.iter().map(|s| *s.key()).collect();
        for id in ids {
            self.end_session(id);
        }
    }
}
