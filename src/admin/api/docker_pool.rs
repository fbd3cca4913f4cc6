//! The members of a pre-warmed pool as `/api/docker/containers` shows them: each member's
//! container, its state and the calls it carries now (the engine's rows say whether it runs),
//! and how many of them are up (`pool_up`, `k/N`: a member down for good is not replaced).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::upstream::Upstream;

/// One row per member, the first (the server's shared connection) first; `tasks[i]`: how many
/// tasks live in member `i + 1` now.
pub(super) fn members(
    members: &[Arc<Upstream>],
    tasks: &[usize],
    engine_rows: &[bollard::models::ContainerSummary],
) -> Value {
    let rows: Vec<Value> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let st = m.status();
            let name = m.container();
            let (row, running) = super::docker::engine_row(engine_rows, name.as_deref());
            json!({
                "member": i + 1,
                "state": st.state.as_str(),
                "last_error": st.last_error,
                "restarts": st.restarts,
                "container": name,
                "id": row.and_then(|c| c.id.clone()),
                "running": running,
                "in_flight": m.conn().map(|c| c.in_flight()).unwrap_or(0),
                "tasks": tasks.get(i).copied().unwrap_or(0),
            })
        })
        .collect();
    Value::Array(rows)
}

/// `"k/N"`: how many of the pool's members are up (connected), of how many.
pub(super) fn up(members: &[Arc<Upstream>]) -> Value {
    let up = members.iter().filter(|m| m.conn().is_some()).count();
    json!(format!("{up}/{}", members.len()))
}
