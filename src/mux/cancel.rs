//! The calls in flight on a connection, seen from the client's side: a client's cancellation
//! forwarded under the upstream's id, every call of a session that went away cancelled, and the
//! list of calls a server-to-client request may belong to.

use super::*;

impl Conn {
    /// The client cancelled its request `client_id`: drop it here and tell the upstream.
    pub fn cancel_downstream(&self, session: u64, client_id: &Value, reason: Option<&str>) -> bool {
        let found = self.pending.iter().find_map(|e| match &e.value().reply {
            Reply::Downstream(r) if r.session == session && &r.id == client_id => Some(*e.key()),
            _ => None,
        });
        let Some(id) = found else { return false };
        self.pending.remove(&id);
        let mut params = json!({"requestId": id});
        if let Some(r) = reason {
            params["reason"] = json!(r);
        }
        let _ = self.notify("notifications/cancelled", Some(params));
        true
    }

    /// A session went away: its calls in flight are cancelled upstream (parked MRTR calls stay).
    pub fn cancel_session(&self, session: u64, reason: &str) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|e| matches!(&e.value().reply, Reply::Downstream(r) if r.session == session))
            .map(|e| *e.key())
            .collect();
        for id in ids {
            if self.pending.remove(&id).is_some() {
                let _ = self.notify(
                    "notifications/cancelled",
                    Some(json!({"requestId": id, "reason": reason})),
                );
            }
        }
    }

    /// Downstream calls in flight here, most recent first.
    pub fn active_calls(&self) -> Vec<InFlight> {
        let mut v: Vec<InFlight> = self
            .pending
            .iter()
            .filter_map(|e| match &e.value().reply {
                Reply::Downstream(r) => Some(InFlight {
                    call: *e.key(),
                    session: r.session,
                    out: r.out.clone(),
                    stateless: r.finish.stateless,
                    origin: r.finish.origin.clone(),
                    log_level: r.log_level,
                    parked: false,
                }),
                Reply::Parked(p) => Some(InFlight {
                    call: *e.key(),
                    session: p.session,
                    out: p.out.clone(),
                    stateless: true,
                    origin: p.origin.clone(),
                    log_level: p.log_level,
                    parked: true,
                }),
                Reply::Local(_) => None,
            })
            .collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.call));
        v
    }
}
