//! The tenant's side of pinning: its pinner, the report the admin API shows, approval (which
//! rebuilds the catalog, so sessions that listed tools hear `list_changed`), and a new mode
//! applied by a reload.

use std::sync::Arc;

use super::Tenant;
use crate::config::{PinMode, ServerName};
use crate::pinning::{Difference, PinError, PinReport, Pinner};

impl Tenant {
    /// Gives the tenant its pinner; once, before `start`.
    pub fn set_pinner(&self, p: Arc<Pinner>) {
        let _ = self.pinner.set(p);
    }

    /// The tenant's pinner, when the hub has a state store.
    pub fn pinner(&self) -> Option<&Arc<Pinner>> {
        self.pinner.get()
    }

    /// The pins and the tools held back; `None` when the hub keeps no pins.
    pub async fn pins(&self) -> Option<Result<PinReport, crate::state::StateError>> {
        Some(self.pinner()?.report().await)
    }

    /// The name a held tool would have in the catalog.
    pub fn exposed_name(&self, server: &ServerName, tool: &str) -> String {
        self.namer.namespace_name(server.as_str(), tool)
    }

    /// Approves the held tool `name` (its exposed name, or its upstream name when only one
    /// server holds one by that name): pins it and serves it at once.
    pub async fn approve_pin(&self, name: &str) -> Result<(ServerName, Difference), PinError> {
        let Some(p) = self.pinner() else {
            return Err(PinError::NotHeld(name.to_string()));
        };
        let exposed = |s: &ServerName, tool: &str| self.exposed_name(s, tool);
        let exact = {
            let report = p.report().await?;
            report.held.iter().any(|(s, d)| exposed(s, &d.tool) == name)
        };
        let found = p
            .approve(
                name,
                |s, tool| {
                    if exact {
                        exposed(s, tool) == name
                    } else {
                        tool == name
                    }
                },
                |server, visible| {
                    if let Some(up) = self.upstream(server.as_str()) {
                        up.update_offer(|o| o.tools = visible);
                    }
                },
            )
            .await?;
        self.rebuild();
        Ok(found)
    }

    /// Applies a new pinning mode (a reload): every server's last list is filtered again.
    pub(super) async fn apply_pin_mode(&self, mode: PinMode) {
        let Some(p) = self.pinner() else {
            if mode != PinMode::Off {
                tracing::warn!(tenant = %self.id, "`pinning.mode = \"{}\"` needs the state store, which this hub did not open at start (no tenant pinned then): restart the hub to pin tools", mode.as_str());
            }
            return;
        };
        if !p.set_mode(mode) {
            return;
        }
        for server in p.servers() {
            let up = self.upstream(server.as_str());
            p.refilter(&server, |visible| {
                if let Some(up) = up {
                    up.update_offer(|o| o.tools = visible);
                }
            })
            .await;
        }
        self.rebuild();
    }
}
