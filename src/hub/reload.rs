//! A new config applied while the hub runs (file change, SIGHUP, `POST /api/reload`, rollback):
//! validated exactly like `mcp-hub check`, then applied as a diff. An invalid file changes
//! nothing, nor does one that the hub's listeners refuse (a key that listening off loopback
//! needs is gone: [`super::exposure`]). Servers whose definition did not change keep running with their sessions and calls;
//! changed ones restart; removed servers and tenants stop; added ones start (eager) or wait
//! (lazy). Hub-wide settings that cannot change live are reported as needing a restart.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::Hub;
use crate::config::{ConfigErrors, HubConfig, HubSettings};
use crate::sync::{LockExt, RwLockExt};
use crate::tenant::TenantDiff;

/// How many applied configs are kept for `GET /api/config/history` and rollback.
pub const HISTORY: usize = 10;

/// What started a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReloadSource {
    Start,
    File,
    Signal,
    Api,
    Rollback,
}

/// One applied config: the file as written (with its `${VAR}` references, not their values).
#[derive(Clone, Debug)]
pub struct Generation {
    pub generation: u64,
    pub applied_at: SystemTime,
    pub source: ReloadSource,
    pub text: Arc<str>,
}

/// What a reload did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReloadReport {
    /// The generation running after it.
    pub generation: u64,
    pub changed: bool,
    pub tenants_added: Vec<String>,
    pub tenants_removed: Vec<String>,
    /// Per tenant whose servers changed.
    pub tenants: BTreeMap<String, TenantDiff>,
    /// Hub-wide keys that changed but take effect only when the hub restarts.
    pub needs_restart: Vec<String>,
    /// How long applying took (not counting the start of the servers it started).
    pub took_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Invalid(ConfigErrors),
    #[error("there is no earlier config generation to roll back to")]
    NoHistory,
    /// The config is valid, but not on the addresses the hub listens on (a key it needs is
    /// gone): the message is the one a start would give ([`super::exposure`]).
    #[error("{0}")]
    Exposed(String),
}

/// The hub-wide keys that only a restart applies, when they differ.
fn needs_restart(old: &HubSettings, new: &HubSettings) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |key: &str, differs: bool| {
        if differs {
            out.push(key.to_string());
        }
    };
    check("hub.separator", old.separator != new.separator);
    check(
        "hub.max_name_length",
        old.max_name_length != new.max_name_length,
    );
    check("hub.page_size", old.page_size != new.page_size);
    check(
        "hub.health_interval",
        old.health_interval != new.health_interval,
    );
    check(
        "hub.shutdown_grace",
        old.shutdown_grace != new.shutdown_grace,
    );
    check(
        "hub.startup_timeout",
        old.startup_timeout != new.startup_timeout,
    );
    check("hub.http", old.http != new.http);
    check("hub.admin.listen", old.admin.listen != new.admin.listen);
    check("hub.state_dir", old.state_dir != new.state_dir);
    check("hub.telemetry", old.telemetry != new.telemetry);
    check("hub.log", old.log != new.log);
    out
}

impl Hub {
    /// Reads the config file again and applies it.
    pub async fn reload(
        self: &Arc<Self>,
        source: ReloadSource,
    ) -> Result<ReloadReport, ReloadError> {
        let path = self.config().path.clone();
        let (config, text) = match HubConfig::load_with_text(&path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "reload refused; the hub keeps running on generation {}:\n{e}",
                    self.generation()
                );
                return Err(ReloadError::Invalid(e));
            }
        };
        self.apply(config, text, source).await
    }

    /// Applies the generation before the one running now.
    pub async fn rollback(self: &Arc<Self>) -> Result<ReloadReport, ReloadError> {
        let previous = {
            let h = self.history.locked();
            h.len().checked_sub(2).and_then(|i| h.get(i).cloned())
        };
        let previous = previous.ok_or(ReloadError::NoHistory)?;
        let path = self.config().path.clone();
        let config = HubConfig::from_str_at(&previous.text, &path, &crate::config::process_env)
            .map_err(ReloadError::Invalid)?;
        tracing::info!(
            "rolling back to the config of generation {}",
            previous.generation
        );
        self.apply(config, previous.text.to_string(), ReloadSource::Rollback)
            .await
    }

    /// Applies a validated config as a diff.
    pub async fn apply(
        self: &Arc<Self>,
        new: HubConfig,
        text: String,
        source: ReloadSource,
    ) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reloading.lock().await;
        if let Err(e) = self.check_exposure(&new) {
            tracing::error!(
                "reload refused; the hub keeps running on generation {}:\n{e}",
                self.generation()
            );
            return Err(ReloadError::Exposed(e));
        }
        let started = Instant::now();
        let old = self.config();
        let mut report = ReloadReport {
            needs_restart: needs_restart(&old.hub, &new.hub),
            ..ReloadReport::default()
        };
        let current = self.tenants();
        let mut tenants = (*current).clone();
        for (id, tenant) in current.iter() {
            if !new.tenants.contains_key(id) {
                tenant.retire().await;
                tenants.remove(id);
                report.tenants_removed.push(id.to_string());
            }
        }
        for (id, tcfg) in &new.tenants {
            if !self.runs(id) {
                continue;
            }
            match current.get(id) {
                Some(t) if *t.config() == *tcfg => {}
                Some(t) => {
                    let diff = t.apply(tcfg.clone()).await;
                    if !diff.is_empty() {
                        report.tenants.insert(id.to_string(), diff);
                    }
                }
                None => {
                    tenants.insert(id.clone(), self.start_tenant(&new, tcfg));
                    report.tenants_added.push(id.to_string());
                }
            }
        }
        report.changed = !report.tenants_added.is_empty()
            || !report.tenants_removed.is_empty()
            || !report.tenants.is_empty()
            || old.hub != new.hub
            || old.tenants != new.tenants;
        *self.tenants.write_now() = Arc::new(tenants);
        *self.config.write_now() = Arc::new(new);
        if report.changed {
            let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
            self.remember(generation, source, text);
        }
        report.generation = self.generation();
        report.took_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            generation = report.generation,
            changed = report.changed,
            added = ?report.tenants_added,
            removed = ?report.tenants_removed,
            servers = ?report.tenants,
            "config applied ({source:?}) in {:.1} ms",
            report.took_ms
        );
        if !report.needs_restart.is_empty() {
            tracing::warn!(
                "changed, but applied only when the hub restarts: {}",
                report.needs_restart.join(", ")
            );
        }
        Ok(report)
    }
}
