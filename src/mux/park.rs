//! Calls parked for the MRTR bridge: a 2026-07-28 client away answering an `input_required`,
//! its retry attached again, and the upstream's requests that arrive meanwhile.

use super::*;

/// A call whose client went away to answer an `input_required` (MRTR bridge).
pub(super) struct ParkedCall {
    pub(super) session: u64,
    pub(super) out: Outbox,
    pub(super) origin: Option<Arc<str>>,
    pub(super) log_level: Option<u8>,
    /// The upstream's answer, if it came before the client's retry.
    pub(super) answer: Option<Value>,
    /// Upstream requests that arrived while the client was away; the retry is answered with
    /// the first of them instead of being attached.
    pub(super) queued: VecDeque<Value>,
}

/// What `bridge` did with an upstream request for a 2026-07-28 call.
#[allow(
    clippy::large_enum_variant,
    reason = "a return value moved once, not stored"
)]
pub enum Bridged {
    /// The call was with its client, and is now parked: answer `reply` with `input_required`.
    Ask(DownstreamReply),
    /// The call was already parked: the request waits for the client's retry.
    Queued,
    /// The call is gone.
    Gone,
}

/// What `resume` did with a client's retry of a parked call.
#[allow(
    clippy::large_enum_variant,
    reason = "a return value moved once, not stored"
)]
pub enum Resumed {
    /// Attached (or answered at once when the upstream had already answered).
    Attached,
    /// The upstream asked something else meanwhile: answer `reply` with `input_required` for
    /// `request`; the call stays parked.
    Ask {
        request: Value,
        reply: DownstreamReply,
    },
}

impl Conn {
    /// An upstream request (sampling, elicitation, roots) for 2026-07-28 call `call`: the
    /// client is detached so the bridge can answer it with `input_required`, or, when the client
    /// is already away answering an earlier one, the request waits for its retry. Either way the
    /// call stays pending upstream, and its answer is kept until `resume`.
    pub fn bridge(&self, call: u64, request: Value) -> Bridged {
        let Some(mut p) = self.pending.get_mut(&call) else {
            return Bridged::Gone;
        };
        let parked = match &mut p.reply {
            Reply::Parked(parked) => {
                parked.queued.push_back(request);
                return Bridged::Queued;
            }
            Reply::Local(_) => return Bridged::Gone,
            Reply::Downstream(r) => ParkedCall {
                session: r.session,
                out: r.out.clone(),
                origin: r.finish.origin.clone(),
                log_level: r.log_level,
                answer: None,
                queued: VecDeque::new(),
            },
        };
        p.deadline = deadline(Duration::from_secs(24 * 3600));
        match std::mem::replace(&mut p.reply, Reply::Parked(Box::new(parked))) {
            Reply::Downstream(r) => Bridged::Ask(r),
            other => {
                p.reply = other;
                Bridged::Gone
            }
        }
    }

    /// Attaches the client's retry to parked call `call`; delivers at once when the upstream
    /// already answered, and hands back the next queued upstream request when there is one.
    /// Gives the reply back when the call is gone.
    pub fn resume(
        &self,
        call: u64,
        reply: DownstreamReply,
    ) -> Result<Resumed, Box<DownstreamReply>> {
        let (answer, stale) = {
            let Some(mut p) = self.pending.get_mut(&call) else {
                return Err(Box::new(reply));
            };
            let Reply::Parked(parked) = &mut p.reply else {
                return Err(Box::new(reply));
            };
            if parked.answer.is_none() {
                if let Some(request) = parked.queued.pop_front() {
                    return Ok(Resumed::Ask { request, reply });
                }
                p.deadline = deadline(p.timeout);
                p.reply = Reply::Downstream(reply);
                return Ok(Resumed::Attached);
            }
            drop(p);
            match self.pending.remove(&call) {
                Some((
                    _,
                    Pending {
                        reply: Reply::Parked(parked),
                        ..
                    },
                )) => {
                    let ParkedCall { answer, queued, .. } = *parked;
                    (answer.unwrap_or_default(), queued)
                }
                _ => return Err(Box::new(reply)),
            }
        };
        self.refuse_queued(stale, "the call ended before its client could be asked");
        deliver(answer, reply);
        Ok(Resumed::Attached)
    }

    /// Answers upstream requests that will never reach a client with an error.
    fn refuse_queued(&self, queued: VecDeque<Value>, why: &str) {
        for q in queued {
            let _ = self.respond_raw(
                jsonrpc::error_value(&Value::Null, jsonrpc::INTERNAL_ERROR, why, None),
                q["id"].clone(),
            );
        }
    }

    /// Gives up on call `call` (a bridged call whose client never came back).
    pub fn abandon(&self, call: u64, reason: &str) {
        if let Some((_, p)) = self.pending.remove(&call) {
            if let Reply::Parked(parked) = p.reply {
                self.refuse_queued(parked.queued, reason);
            }
            let _ = self.notify(
                "notifications/cancelled",
                Some(json!({"requestId": call, "reason": reason})),
            );
        }
    }
}
