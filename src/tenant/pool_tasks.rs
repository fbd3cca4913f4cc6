//! Tasks on a pre-warmed pool: a task lives in the member whose container ran the call that
//! created it, so `tasks/get`, `tasks/result`, `tasks/cancel` (and `tasks/update`) for it are
//! asked of that member, found in a bounded map of task id → member kept per pool. It knows
//! nothing of sessions or transports; `tasks/list` (every member's list, merged) is the
//! session's.
//!
//! - **Recorded** when the answer to a task-augmented `tools/call` passes (its rewrite reads
//!   `task.taskId`), before the client can see the id, so a `tasks/get` never races the record.
//! - **Kept** until the task's `ttl` has passed (an hour when the member gave none, a day at
//!   most), or, once the map holds [`MAX_TASKS_PER_POOL`] tasks, until 4,096 newer ones push it
//!   out (oldest first, said in the log). A finished task is kept too: its `tasks/result` must
//!   still reach the member that holds it.
//! - **A member that died** (its container exited or was replaced) took its tasks with it:
//!   asking for one answers an error naming the server and the member, not a hang and not
//!   "unknown task" from another member. The record stays (bounded as above) so every later
//!   question gets the same answer.
//! - **Unknown here** (never recorded, expired, pushed out): asked of the first member, which
//!   answers the stateless requests of the pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Tenant;
use crate::config::{ServerName, TenantId};
use crate::mux::{Conn, Rewrite};
use crate::sync::LockExt;
use crate::upstream::Upstream;

/// How many tasks one pool remembers; the oldest is forgotten (with a log line) past it.
pub const MAX_TASKS_PER_POOL: usize = 4096;
/// How long a task is remembered when its member gave no `ttl`.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The longest a task is remembered, whatever `ttl` its member gave.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// The methods that name a task (`params.taskId`).
fn is_task_method(method: &str) -> bool {
    matches!(
        method,
        "tasks/get" | "tasks/result" | "tasks/cancel" | "tasks/update"
    )
}

/// Where one task lives: the member (1-based, as `/api/docker/containers` numbers them) and the
/// connection that created it (a restarted member has a new one).
struct Home {
    member: usize,
    conn: Weak<Conn>,
    expires: Instant,
    seq: u64,
}

/// One pool's task ids (the member's own ids, not namespaced) and where each lives.
pub(super) struct TaskHomes {
    tenant: TenantId,
    server: ServerName,
    inner: Mutex<(HashMap<String, Home>, u64)>,
}

impl TaskHomes {
    pub(super) fn new(tenant: TenantId, server: ServerName) -> Arc<Self> {
        Arc::new(Self {
            tenant,
            server,
            inner: Mutex::new((HashMap::new(), 0)),
        })
    }

    /// Remembers the task a `tools/call` answer created (`result.task.taskId`), if any.
    fn record(&self, result: &Value, member: usize, conn: &Weak<Conn>) {
        let Some(task) = result.get("task") else {
            return;
        };
        let Some(id) = task.get("taskId").and_then(Value::as_str) else {
            return;
        };
        let ttl = task
            .get("ttl")
            .and_then(Value::as_u64)
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TTL)
            .min(MAX_TTL);
        let now = Instant::now();
        let mut g = self.inner.locked();
        let (map, seq) = &mut *g;
        if map.len() >= MAX_TASKS_PER_POOL && !map.contains_key(id) {
            map.retain(|_, h| h.expires > now);
        }
        if map.len() >= MAX_TASKS_PER_POOL && !map.contains_key(id) {
            let oldest = map
                .iter()
                .min_by_key(|(_, h)| h.seq)
                .map(|(k, _)| k.clone());
            if let Some(old) = oldest {
                map.remove(&old);
                tracing::warn!(tenant = %self.tenant, server = %self.server, "pool `{}` remembers {MAX_TASKS_PER_POOL} tasks: forgot the oldest, `{old}` (asked for later, it is asked of the first member)", self.server);
            }
        }
        *seq += 1;
        map.insert(
            id.to_string(),
            Home {
                member,
                conn: conn.clone(),
                expires: now + ttl,
                seq: *seq,
            },
        );
    }

    /// The member (1-based) and connection `task` lives in; `None` when unknown or expired.
    fn find(&self, task: &str) -> Option<(usize, Weak<Conn>)> {
        let mut g = self.inner.locked();
        let (map, _) = &mut *g;
        match map.get(task) {
            Some(h) if h.expires > Instant::now() => Some((h.member, h.conn.clone())),
            Some(_) => {
                map.remove(task);
                None
            }
            None => None,
        }
    }

    /// How many tasks are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.locked().0.len()
    }

    /// Per member (in order, `conns` their connections now): how many unexpired tasks its
    /// current connection created.
    fn per_member(&self, conns: &[Option<Arc<Conn>>]) -> Vec<usize> {
        let mut n = vec![0; conns.len()];
        let now = Instant::now();
        for h in self.inner.locked().0.values() {
            let live = conns
                .get(h.member - 1)
                .and_then(Option::as_ref)
                .is_some_and(|c| std::ptr::eq(h.conn.as_ptr(), Arc::as_ptr(c)));
            if live && h.expires > now {
                n[h.member - 1] += 1;
            }
        }
        n
    }
}

impl Tenant {
    /// For a `tasks/*` request to a pool: the member the task lives in (the first member when
    /// the task is unknown here), or, when that member has died since, the error to answer
    /// (naming the server and the member). `Ok(None)`: not a task request, or `up` is no pool.
    pub fn pool_task_member(
        &self,
        up: &Arc<Upstream>,
        method: &str,
        params: &Value,
    ) -> Result<Option<Arc<Upstream>>, String> {
        if !is_task_method(method) {
            return Ok(None);
        }
        let Some(homes) = self.pool_tasks(up) else {
            return Ok(None);
        };
        let task = params
            .get("taskId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some((member, conn)) = homes.find(task) else {
            return Ok(Some(up.clone()));
        };
        let members = self.pool_members(&up.name);
        let live = members
            .get(member - 1)
            .filter(|m| match (m.conn(), conn.upgrade()) {
                (Some(now), Some(then)) => Arc::ptr_eq(&now, &then),
                _ => false,
            });
        match live {
            Some(m) => Ok(Some(m.clone())),
            None => Err(format!(
                "upstream `{}`: task `{task}` ran on member {member} of the pool, whose container has stopped since (it died or was replaced); the task and its result are lost, hint: call the tool again",
                up.name
            )),
        }
    }

    /// Whether `up` is a pool (its `tools/call` answers may create tasks to remember).
    pub fn is_pool(&self, up: &Arc<Upstream>) -> bool {
        self.pool_tasks(up).is_some()
    }

    /// The rewrite of a task-augmented `tools/call` that `member` of `up`'s pool carries on
    /// `conn`: `rewrite`, after remembering the task the answer creates. `rewrite` itself when
    /// `up` is no pool.
    pub fn pool_task_rewrite(
        &self,
        up: &Arc<Upstream>,
        member: &Arc<Upstream>,
        conn: &Arc<Conn>,
        rewrite: Option<Rewrite>,
    ) -> Option<Rewrite> {
        let Some(homes) = self.pool_tasks(up) else {
            return rewrite;
        };
        let Some(index) = self
            .pool_members(&up.name)
            .iter()
            .position(|m| Arc::ptr_eq(m, member))
        else {
            return rewrite;
        };
        let conn = Arc::downgrade(conn);
        Some(Rewrite::new(
            &["uri", "taskId"],
            move |result: &mut Value| {
                homes.record(result, index + 1, &conn);
                if let Some(r) = &rewrite {
                    r.apply(result);
                }
            },
        ))
    }

    /// Per member of `server`'s pool, in order, how many tasks live in it now (empty when it
    /// is no pool).
    pub fn pool_task_counts(&self, server: &ServerName) -> Vec<usize> {
        let Some(homes) = self
            .upstream(server.as_str())
            .and_then(|u| self.pool_tasks(&u))
        else {
            return Vec::new();
        };
        let conns: Vec<Option<Arc<Conn>>> =
            self.pool_members(server).iter().map(|m| m.conn()).collect();
        homes.per_member(&conns)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn homes() -> Arc<TaskHomes> {
        TaskHomes::new(TenantId::new("t"), ServerName::new("pool"))
    }

    #[test]
    fn a_recorded_task_is_found_with_its_member_and_an_answer_without_a_task_records_nothing() {
        let h = homes();
        h.record(&json!({"content": []}), 2, &Weak::new());
        assert_eq!(h.len(), 0);
        h.record(
            &json!({"task": {"taskId": "a", "ttl": 60000}}),
            2,
            &Weak::new(),
        );
        assert_eq!(h.find("a").map(|(m, _)| m), Some(2));
        assert!(h.find("b").is_none());
    }

    #[test]
    fn an_expired_task_is_forgotten() {
        let h = homes();
        h.record(&json!({"task": {"taskId": "a", "ttl": 0}}), 1, &Weak::new());
        assert!(h.find("a").is_none());
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn the_map_is_bounded_and_forgets_the_oldest_first() {
        let h = homes();
        for i in 0..MAX_TASKS_PER_POOL + 10 {
            h.record(
                &json!({"task": {"taskId": format!("t{i}")}}),
                1,
                &Weak::new(),
            );
        }
        assert_eq!(h.len(), MAX_TASKS_PER_POOL);
        assert!(h.find("t0").is_none(), "the oldest went first");
        assert!(h.find("t9").is_none());
        assert!(h.find("t10").is_some());
        assert!(h.find(&format!("t{}", MAX_TASKS_PER_POOL + 9)).is_some());
    }
}
