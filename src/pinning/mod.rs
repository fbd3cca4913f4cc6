//! Pinning against silently changed tools (`[tenants.<t>.pinning] mode`). Every tool list an
//! upstream offers passes through [`Pinner::filter`] before the catalog sees it: the list is
//! compared with the pins in the state store ([`review`]), and what is served, pinned, held
//! back or warned about follows from the tenant's mode. The digests are computed here, on list
//! changes only; a `tools/call` never comes near this module (it routes on the catalog, which
//! simply does not contain a held tool, so calling one is an unknown tool).
//!
//! - [`digest`]: the pinned definition and its canonical JSON digest.
//! - [`diff`]: what changed, by JSON path.
//! - [`review`]: the decision, pure.
//! - this file: the tenant's pinner, which keeps each server's unfiltered tool list and what is
//!   held, reads and writes the store, logs, and approves.
//!
//! It knows no transport and no catalog: whoever calls it says how to apply the filtered list.

pub mod diff;
pub mod digest;
pub mod review;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::config::{PinMode, ServerName, TenantId};
use crate::item::Item;
use crate::state::{pins, PinRow, StateError, Store};
use crate::sync::LockExt;

pub use review::Difference;

/// Why a pin cannot be listed or approved.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("no quarantined tool `{0}`")]
    NotHeld(String),
    #[error("`{name}` names quarantined tools of several servers ({servers}); name it as exposed (`<server><separator><tool>`)")]
    Ambiguous { name: String, servers: String },
    #[error("the state store `{0}` is held by another mcp-hub; approve through that hub")]
    ReadOnly(String),
    #[error(transparent)]
    State(#[from] StateError),
}

/// One server's tools as last offered (unfiltered) and those held back from it.
#[derive(Default)]
struct ServerView {
    offered: Vec<Item>,
    held: Vec<Difference>,
}

/// A tenant's pins: its mode, the store, and each server's view.
pub struct Pinner {
    tenant: TenantId,
    mode: Mutex<PinMode>,
    store: Arc<Store>,
    servers: Mutex<BTreeMap<ServerName, ServerView>>,
    /// One review at a time per tenant, from reading the pins to applying the filtered list, so
    /// an approval and a list change cannot apply lists out of order.
    gate: tokio::sync::Mutex<()>,
}

/// What `GET /api/tenants/{t}/pins` shows.
#[derive(Debug)]
pub struct PinReport {
    pub mode: PinMode,
    pub store: String,
    pub writable: bool,
    pub pins: Vec<PinRow>,
    /// Held tools, by server.
    pub held: Vec<(ServerName, Difference)>,
}

impl Pinner {
    pub fn new(tenant: TenantId, mode: PinMode, store: Arc<Store>) -> Arc<Self> {
        Arc::new(Self {
            tenant,
            mode: Mutex::new(mode),
            store,
            servers: Mutex::new(BTreeMap::new()),
            gate: tokio::sync::Mutex::new(()),
        })
    }

    pub fn mode(&self) -> PinMode {
        *self.mode.locked()
    }

    /// Sets the mode (a reload); returns whether it changed.
    pub fn set_mode(&self, mode: PinMode) -> bool {
        std::mem::replace(&mut *self.mode.locked(), mode) != mode
    }

    /// The servers whose tools were seen (to filter again after a mode change).
    pub fn servers(&self) -> Vec<ServerName> {
        self.servers.locked().keys().cloned().collect()
    }

    /// Filters `tools`, the list `server` offers now, and hands what may be served to `apply`
    /// (under the tenant's review gate). On a store error the mode decides: `warn` serves the
    /// list as it is, `quarantine` serves nothing of the server (it fails closed), and both log.
    pub async fn filter(
        &self,
        server: &ServerName,
        tools: Vec<Item>,
        apply: impl FnOnce(Vec<Item>),
    ) {
        let _g = self.gate.lock().await;
        let visible = self.review_locked(server, tools).await;
        apply(visible);
    }

    /// Filters the list `server` offered last again (after a mode change), through `apply`.
    pub async fn refilter(&self, server: &ServerName, apply: impl FnOnce(Vec<Item>)) {
        let _g = self.gate.lock().await;
        let Some(tools) = self.servers.locked().get(server).map(|v| v.offered.clone()) else {
            return;
        };
        let visible = self.review_locked(server, tools).await;
        apply(visible);
    }

    async fn review_locked(&self, server: &ServerName, tools: Vec<Item>) -> Vec<Item> {
        let mode = self.mode();
        self.servers
            .locked()
            .entry(server.clone())
            .or_default()
            .offered = tools.clone();
        if mode == PinMode::Off {
            self.set_held(server, Vec::new());
            return tools;
        }
        let (t, s) = (self.tenant.to_string(), server.to_string());
        let loaded = self.store.run(move |c| pins::load(c, &t, &s)).await;
        let (seen, pinned) = match loaded {
            Ok(l) => l,
            Err(e) => return self.store_failed(server, mode, tools, &e),
        };
        let r = review::review(mode, seen, &pinned, tools);
        if self.store.writable() && (!seen || !r.record.is_empty()) {
            let (t, s, record) = (
                self.tenant.to_string(),
                server.to_string(),
                r.record.clone(),
            );
            if let Err(e) = self
                .store
                .run(move |c| pins::record(c, &t, &s, &record))
                .await
            {
                tracing::error!(tenant = %self.tenant, server = %server, "could not pin tools: {e}");
            }
        }
        if !seen {
            tracing::info!(tenant = %self.tenant, server = %server, tools = r.record.len(), "pinned the tools of `{server}` on first sight");
        }
        for d in &r.warned {
            self.log_difference(server, d, "serving it (pinning mode `warn`)");
        }
        let before: BTreeMap<String, String> = self
            .servers
            .locked()
            .get(server)
            .map(|v| {
                v.held
                    .iter()
                    .map(|d| (d.tool.clone(), d.digest.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for d in &r.held {
            if before.get(&d.tool) != Some(&d.digest) {
                self.log_difference(server, d, "hidden until approved (pinning mode `quarantine`): `mcp-hub pins approve` or `POST /api/tenants/{tenant}/pins/{tool}/approve`");
            }
        }
        self.set_held(server, r.held);
        r.visible
    }

    fn store_failed(
        &self,
        server: &ServerName,
        mode: PinMode,
        tools: Vec<Item>,
        e: &StateError,
    ) -> Vec<Item> {
        if mode == PinMode::Quarantine {
            tracing::error!(tenant = %self.tenant, server = %server, "cannot read the pins ({e}): none of its tools is served until the state store can be read");
            Vec::new()
        } else {
            tracing::error!(tenant = %self.tenant, server = %server, "cannot read the pins ({e}): its tools are served unchecked");
            tools
        }
    }

    fn set_held(&self, server: &ServerName, held: Vec<Difference>) {
        self.servers
            .locked()
            .entry(server.clone())
            .or_default()
            .held = held;
    }

    fn log_difference(&self, server: &ServerName, d: &Difference, then: &str) {
        match &d.pinned {
            Some(_) => tracing::warn!(tenant = %self.tenant, server = %server, tool = %d.tool,
                "tool `{}` of `{server}` changed since it was pinned: {}; {then}", d.tool, diff::summary(&d.changes)),
            None => tracing::warn!(tenant = %self.tenant, server = %server, tool = %d.tool,
                "`{server}` offers a new tool `{}`; {then}", d.tool),
        }
    }

    /// The pins in the store and the tools held now.
    pub async fn report(&self) -> Result<PinReport, StateError> {
        let t = self.tenant.to_string();
        let pins = self.store.run(move |c| pins::list(c, &t)).await?;
        let held = self
            .servers
            .locked()
            .iter()
            .flat_map(|(s, v)| v.held.iter().map(move |d| (s.clone(), d.clone())))
            .collect();
        Ok(PinReport {
            mode: self.mode(),
            store: self.store.path().display().to_string(),
            writable: self.store.writable(),
            pins,
            held,
        })
    }

    /// Approves the held tool that `matches` picks out (given each held tool's server and
    /// upstream name): pins what is offered now and hands the server's filtered list to `apply`.
    pub async fn approve(
        &self,
        name: &str,
        matches: impl Fn(&ServerName, &str) -> bool,
        apply: impl FnOnce(&ServerName, Vec<Item>),
    ) -> Result<(ServerName, Difference), PinError> {
        let _g = self.gate.lock().await;
        let hits: Vec<(ServerName, Difference)> = self
            .servers
            .locked()
            .iter()
            .flat_map(|(s, v)| v.held.iter().map(move |d| (s.clone(), d.clone())))
            .filter(|(s, d)| matches(s, &d.tool))
            .collect();
        let (server, d) = match hits.len() {
            0 => return Err(PinError::NotHeld(name.to_string())),
            1 => hits
                .into_iter()
                .next()
                .ok_or_else(|| PinError::NotHeld(name.to_string()))?,
            _ => {
                return Err(PinError::Ambiguous {
                    name: name.to_string(),
                    servers: hits
                        .iter()
                        .map(|(s, _)| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        };
        if !self.store.writable() {
            return Err(PinError::ReadOnly(self.store.path().display().to_string()));
        }
        let (t, s) = (self.tenant.to_string(), server.to_string());
        let record = vec![(d.tool.clone(), d.digest.clone(), d.definition.clone())];
        self.store
            .run(move |c| pins::record(c, &t, &s, &record))
            .await?;
        tracing::info!(tenant = %self.tenant, server = %server, tool = %d.tool, "approved the tool's new definition; it is served again");
        let tools = self
            .servers
            .locked()
            .get(&server)
            .map(|v| v.offered.clone())
            .unwrap_or_default();
        let visible = self.review_locked(&server, tools).await;
        apply(&server, visible);
        Ok((server, d))
    }
}
