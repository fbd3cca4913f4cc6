//! `/metrics`: the recorded families, and what is read from the hub when scraped (upstream
//! states and restarts, sessions open, calls in flight, parked MRTR calls, catalog sizes), so
//! none of that costs anything between scrapes. OpenMetrics text, which Prometheus reads.

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::TenantLabels;
use crate::hub::Hub;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    tenant: String,
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    tenant: String,
    server: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionLabels {
    tenant: String,
    transport: &'static str,
    protocol_revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CatalogLabels {
    tenant: String,
    kind: &'static str,
}

const STATES: [crate::upstream::State; 7] = {
    use crate::upstream::State::*;
    [Disabled, Idle, Starting, Up, Backoff, Failed, Stopped]
};

/// The metrics text for `hub`.
pub fn render(hub: &Hub) -> String {
    let o = super::get();
    let mut events = Registry::default();
    o.metrics.register(&mut events);

    let state = Family::<StateLabels, Gauge>::default();
    let restarts = Family::<ServerLabels, Counter>::default();
    let sessions = Family::<SessionLabels, Gauge>::default();
    let in_flight = Family::<TenantLabels, Gauge>::default();
    let parked = Family::<TenantLabels, Gauge>::default();
    let catalog = Family::<CatalogLabels, Gauge>::default();
    for (id, t) in hub.tenants().iter() {
        let tenant = id.to_string();
        for up in t.upstreams().values() {
            let st = up.status();
            for s in STATES {
                state
                    .get_or_create(&StateLabels {
                        tenant: tenant.clone(),
                        server: up.name.to_string(),
                        state: s.as_str(),
                    })
                    .set(i64::from(st.state == s));
            }
            restarts
                .get_or_create(&ServerLabels {
                    tenant: tenant.clone(),
                    server: up.name.to_string(),
                })
                .inc_by(u64::from(st.restarts));
        }
        for ((transport, protocol_revision), n) in t.session_census() {
            sessions
                .get_or_create(&SessionLabels {
                    tenant: tenant.clone(),
                    transport,
                    protocol_revision,
                })
                .set(n as i64);
        }
        let tl = TenantLabels {
            tenant: tenant.clone(),
        };
        in_flight
            .get_or_create(&tl)
            .set(t.quota.usage().calls_in_flight as i64);
        parked.get_or_create(&tl).set(t.bridges.len() as i64);
        let cat = t.catalog();
        for (kind, n) in [
            ("tools", cat.tools.len()),
            ("prompts", cat.prompts.len()),
            ("resources", cat.resources.len()),
            ("resource_templates", cat.templates.len()),
        ] {
            catalog
                .get_or_create(&CatalogLabels {
                    tenant: tenant.clone(),
                    kind,
                })
                .set(n as i64);
        }
    }
    let mut now = Registry::default();
    now.register(
        "mcp_hub_upstream_state",
        "1 for the state each upstream is in, 0 for the others",
        state,
    );
    now.register(
        "mcp_hub_upstream_restarts",
        "Restarts of each upstream since it was configured",
        restarts,
    );
    now.register(
        "mcp_server_sessions_open",
        "Downstream sessions open, by transport and protocol revision",
        sessions,
    );
    now.register(
        "mcp_hub_calls_in_flight",
        "Tool calls forwarded and not yet answered (the quota's count)",
        in_flight,
    );
    now.register(
        "mcp_hub_bridge_parked",
        "2026-07-28 calls parked by the MRTR bridge while their client supplies input",
        parked,
    );
    now.register(
        "mcp_hub_catalog_size",
        "Entries in each tenant's merged catalog, by kind",
        catalog,
    );
    let mut text = String::with_capacity(16 * 1024);
    let _ = encode_registry(&mut text, &events);
    let _ = encode_registry(&mut text, &now);
    let _ = encode_eof(&mut text);
    text
}
