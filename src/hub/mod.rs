//! The running hub: its tenants, their supervisors, the config they run on, and one shutdown
//! for all. [`reload`] applies a new config as a diff ([`watch`]: on a file change; [`signals`]:
//! on SIGHUP); [`exposure`] is the rule for listening off loopback, at start and at each reload.
//!
//! Shutdown order: stop taking requests (the transport ends), cancel the root token, every
//! supervisor stops its upstream (close stdin, grace, SIGTERM the group, grace, SIGKILL), then
//! the tracker drains.

pub mod exposure;
pub mod reload;
mod signals;
mod watch;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{HubConfig, TenantId};
use crate::sync::{LockExt, RwLockExt};
use crate::tenant::Tenant;

pub use reload::{Generation, ReloadError, ReloadReport, ReloadSource};
pub use signals::{on_hangup, terminate_signal};
pub use watch::watch_config;

pub type Tenants = BTreeMap<TenantId, Arc<Tenant>>;

pub struct Hub {
    config: RwLock<Arc<HubConfig>>,
    tenants: RwLock<Arc<Tenants>>,
    pub shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The tenants this hub runs (`None`: all of them); a reload adds only these.
    only: Option<Vec<TenantId>>,
    started: Instant,
    generation: AtomicU64,
    /// The configs applied, newest last (at most [`reload::HISTORY`]).
    history: Mutex<VecDeque<Generation>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// The state store (pins), when a tenant pins tools.
    state: Option<Arc<crate::state::Store>>,
    /// Where the hub listens (once its listeners opened): a reload must keep the keys that
    /// listening there needs.
    listening: Mutex<exposure::Listening>,
}

impl Hub {
    /// Starts the upstreams of the tenants named in `only` (all tenants when `None`). When a
    /// tenant pins tools, the state store is opened for reading if another hub holds it (see
    /// [`Hub::start_with_state`] for a hub that must own it).
    pub fn start(config: HubConfig, only: Option<&[TenantId]>) -> Arc<Self> {
        let state = match crate::state::open_for(&config, crate::state::Access::ReadIfBusy) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("pinning is off for this run: {e}");
                None
            }
        };
        Self::start_with_state(config, only, state)
    }

    /// [`Hub::start`] with the state store already opened (`None`: no tenant pins tools).
    pub fn start_with_state(
        config: HubConfig,
        only: Option<&[TenantId]>,
        state: Option<Arc<crate::state::Store>>,
    ) -> Arc<Self> {
        // Upstream process groups a SIGKILLed hub left behind are ended before new ones start.
        crate::upstream::orphans::sweep(config.hub.shutdown_grace.min(Duration::from_secs(2)));
        let text = std::fs::read_to_string(&config.path).unwrap_or_default();
        let config = Arc::new(config);
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let hub = Arc::new(Self {
            config: RwLock::new(config.clone()),
            tenants: RwLock::new(Arc::new(BTreeMap::new())),
            shutdown,
            tracker,
            only: only.map(<[TenantId]>::to_vec),
            started: Instant::now(),
            generation: AtomicU64::new(1),
            history: Mutex::new(VecDeque::new()),
            reloading: tokio::sync::Mutex::new(()),
            state,
            listening: Mutex::new(exposure::Listening::default()),
        });
        let mut tenants = BTreeMap::new();
        for (id, tcfg) in &config.tenants {
            if hub.runs(id) {
                tenants.insert(id.clone(), hub.start_tenant(&config, tcfg));
            }
        }
        *hub.tenants.write_now() = Arc::new(tenants);
        if crate::upstream::container::configured(&config) {
            // Containers an earlier run of this instance left (every container start waits for it).
            let settings = config.hub.containers.clone();
            hub.tasks()
                .spawn(tracing::info_span!("container-sweep"), async move {
                    crate::upstream::container::startup_sweep(&settings).await
                });
        }
        hub.remember(1, ReloadSource::Start, text);
        crate::observe::start_exporter(&hub.tasks());
        crate::memory::start_trimmer(&hub.tasks());
        hub.tracker.close();
        hub
    }

    fn runs(&self, id: &TenantId) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(id))
    }

    fn start_tenant(&self, config: &HubConfig, tcfg: &crate::config::TenantConfig) -> Arc<Tenant> {
        let t = Tenant::new(tcfg, Arc::new(config.hub.clone()));
        match &self.state {
            Some(store) => t.set_pinner(crate::pinning::Pinner::new(
                tcfg.id.clone(),
                tcfg.pinning,
                store.clone(),
            )),
            None if tcfg.pinning != crate::config::PinMode::Off => {
                tracing::warn!(tenant = %tcfg.id, "`pinning.mode = \"{}\"` needs the state store, which this hub did not open at start: restart the hub to pin tools", tcfg.pinning.as_str());
            }
            None => {}
        }
        t.start(&self.tracker, &self.shutdown);
        t
    }

    /// The config the hub runs on now.
    pub fn config(&self) -> Arc<HubConfig> {
        self.config.read_now().clone()
    }

    /// Every tenant the hub runs now (a reload may add or remove some).
    pub fn tenants(&self) -> Arc<Tenants> {
        self.tenants.read_now().clone()
    }

    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.tenants().get(id).cloned()
    }

    /// The tenant `--tenant` (or `hub.default_tenant`, or the only tenant) names.
    pub fn default_tenant(&self) -> Option<Arc<Tenant>> {
        let cfg = self.config();
        let id = cfg.tenant(None).ok()?.id.clone();
        self.tenant(id.as_str())
    }

    /// Checks `at` against the running config ([`exposure::check`]) and, when it passes,
    /// remembers it: from then on a reload must pass the same check.
    pub fn listen_at(&self, at: exposure::Listening) -> Result<(), String> {
        exposure::check(&self.config(), |id| self.runs(id), at)?;
        *self.listening.locked() = at;
        Ok(())
    }

    /// Whether `config` may run on the hub's listeners ([`exposure::check`]).
    fn check_exposure(&self, config: &HubConfig) -> Result<(), String> {
        let at = *self.listening.locked();
        exposure::check(config, |id| self.runs(id), at)
    }

    /// The hub's tasks: spawn through it so that the shutdown waits for them.
    pub fn tasks(&self) -> crate::tasks::Tasks {
        crate::tasks::Tasks::new(self.tracker.clone(), self.shutdown.clone())
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The number of the config generation running now (1 at start, +1 per applied reload).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The generations kept, oldest first.
    pub fn history(&self) -> Vec<Generation> {
        self.history.locked().iter().cloned().collect()
    }

    fn remember(&self, generation: u64, source: ReloadSource, text: String) {
        let mut h = self.history.locked();
        h.push_back(Generation {
            generation,
            applied_at: SystemTime::now(),
            source,
            text: Arc::from(text),
        });
        while h.len() > reload::HISTORY {
            h.pop_front();
        }
    }

    /// Stops every upstream and waits for them, at most `2 × shutdown_grace + 5 s`.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let limit = self.config().hub.shutdown_grace * 2 + Duration::from_secs(5);
        if tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "some upstreams did not stop within {}",
                humantime::format_duration(limit)
            );
        }
        let config = self.config();
        if config.hub.containers.cleanup_on_shutdown
            && crate::upstream::container::configured(&config)
        {
            let sweep = crate::upstream::container::shutdown_sweep(&config.hub.containers);
            if tokio::time::timeout(limit, sweep).await.is_err() {
                tracing::warn!(
                    "the container cleanup did not finish within {}",
                    humantime::format_duration(limit)
                );
            }
        }
    }
}
