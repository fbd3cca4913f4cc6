//! A tenant's operation series, resolved once per (tool) or (method, server) and kept, so a call
//! costs one map read and a histogram update, not a label set built and hashed. Cardinality is
//! bounded by the caller: only routed names (in the catalog) get their own series; anything
//! else is [`OTHER`].

use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use prometheus_client::metrics::histogram::Histogram;

use super::metrics::{Metrics, OpLabels, Outcome};

/// The label value of every name that is not in the catalog.
pub const OTHER: &str = "_other";

/// One (tenant, server, method, tool): its labels, and one histogram per outcome, made on first use.
#[derive(Debug)]
pub struct Series {
    pub tenant: Arc<str>,
    pub server: Arc<str>,
    pub method: Arc<str>,
    pub tool: Arc<str>,
    by_outcome: [OnceLock<Histogram>; 6],
}

impl Series {
    /// The histogram of `outcome`, registered in `m` the first time.
    pub fn histogram(&self, m: &Metrics, outcome: Outcome) -> Option<&Histogram> {
        let cell = self.by_outcome.get(outcome.index())?;
        Some(cell.get_or_init(|| {
            m.operation
                .get_or_create(&OpLabels {
                    tenant: self.tenant.to_string(),
                    server: self.server.to_string(),
                    mcp_method_name: self.method.to_string(),
                    gen_ai_tool_name: self.tool.to_string(),
                    outcome,
                })
                .clone()
        }))
    }
}

/// A tenant's series: `tools/call` by exposed tool name, other methods by `method server`.
#[derive(Debug, Default)]
pub struct TenantSeries {
    tools: DashMap<Box<str>, Arc<Series>>,
    others: DashMap<String, Arc<Series>>,
}

impl TenantSeries {
    /// The series of a routed request: `tool` is the exposed tool name of a `tools/call` the
    /// catalog routed (so the set of names stays the catalog's), `None` for other methods.
    pub fn get(&self, tenant: &str, server: &str, method: &str, tool: Option<&str>) -> Arc<Series> {
        let make = |tool: &str| {
            Arc::new(Series {
                tenant: tenant.into(),
                server: server.into(),
                method: method.into(),
                tool: tool.into(),
                by_outcome: Default::default(),
            })
        };
        match tool {
            Some(name) => {
                if let Some(s) = self.tools.get(name) {
                    if &*s.server == server {
                        return s.clone();
                    }
                }
                // New, or now served by another server (a reload moved it).
                let s = make(name);
                self.tools.insert(name.into(), s.clone());
                s
            }
            None => {
                let key = format!("{method} {server}");
                if let Some(s) = self.others.get(&key) {
                    return s.clone();
                }
                self.others.entry(key).or_insert_with(|| make("")).clone()
            }
        }
    }
}
