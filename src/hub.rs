//! The running hub: tenants, their supervisors, and one shutdown for all.
//!
//! Shutdown order: stop taking requests (the transport ends), cancel the root token, every
//! supervisor stops its upstream (close stdin, grace, SIGTERM the group, grace, SIGKILL), then
//! the tracker drains.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{HubConfig, TenantId};
use crate::tenant::Tenant;

pub struct Hub {
    pub config: Arc<HubConfig>,
    pub tenants: BTreeMap<TenantId, Arc<Tenant>>,
    pub shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Hub {
    /// Starts the upstreams of the tenants named in `only` (all tenants when `None`).
    pub fn start(config: HubConfig, only: Option<&[TenantId]>) -> Arc<Self> {
        // Upstream process groups a SIGKILLed hub left behind are ended before new ones start.
        crate::upstream::orphans::sweep(config.hub.shutdown_grace.min(Duration::from_secs(2)));
        let config = Arc::new(config);
        let settings = Arc::new(config.hub.clone());
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut tenants = BTreeMap::new();
        for (id, tcfg) in &config.tenants {
            if only.is_some_and(|o| !o.contains(id)) {
                continue;
            }
            let t = Tenant::new(tcfg, settings.clone());
            t.start(&tracker, &shutdown);
            tenants.insert(id.clone(), t);
        }
        tracker.close();
        Arc::new(Self {
            config,
            tenants,
            shutdown,
            tracker,
        })
    }

    pub fn tenant(&self, id: &TenantId) -> Option<&Arc<Tenant>> {
        self.tenants.get(id)
    }

    /// Stops every upstream and waits for them, at most `2 × shutdown_grace + 5 s`.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let limit = self.config.hub.shutdown_grace * 2 + Duration::from_secs(5);
        if tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "some upstreams did not stop within {}",
                humantime::format_duration(limit)
            );
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn terminate_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// SIGHUP would end the process by default; until hot reload gives it a meaning, it is logged
/// and ignored.
pub fn ignore_hangup() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::warn!("SIGHUP received and ignored: hot reload is not available yet; restart the hub to apply a changed config");
        }
    });
}
