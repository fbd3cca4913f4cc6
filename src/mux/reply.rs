//! Where an upstream answer goes, and what it is given on its way: the client's id, the
//! caller's rewrite, the 2026-07-28 result fields, the quota permit given back.

use super::*;

/// A change the caller wants made to a result on its way downstream (namespacing its URIs and
/// task ids): given as a value, so the mux knows nothing of naming.
#[derive(Clone)]
pub struct Rewrite {
    apply: Arc<dyn Fn(&mut Value) + Send + Sync>,
    /// Finders of the object keys the rewrite reads, quoted (`"uri"`), and of `\u`: a result
    /// whose text holds none of them passes as is. Built once, not per answer.
    needles: Arc<[memchr::memmem::Finder<'static>]>,
}

impl Rewrite {
    /// `apply` changes only values under the object keys `keys` (it may read others).
    pub fn new(
        keys: &'static [&'static str],
        apply: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> Self {
        // A `\u` escape could spell a key: its presence counts as a key's.
        let needles = std::iter::once(memchr::memmem::Finder::new(b"\\u").into_owned())
            .chain(
                keys.iter()
                    .map(|k| memchr::memmem::Finder::new(&format!("\"{k}\"")).into_owned()),
            )
            .collect();
        Self {
            apply: Arc::new(apply),
            needles,
        }
    }

    pub fn apply(&self, result: &mut Value) {
        (self.apply)(result)
    }

    /// Whether the rewrite may change the result whose JSON text is `text`: `false` only when
    /// no key it reads appears in it, as written (a `\u` escape could spell one: then `true`).
    pub fn may_touch(&self, text: &str) -> bool {
        self.needles
            .iter()
            .any(|f| f.find(text.as_bytes()).is_some())
    }
}

/// What to do to a result on its way downstream.
#[derive(Clone, Default)]
pub struct Finish {
    pub rewrite: Option<Rewrite>,
    /// The call's place in its tenant's quota, given back when the answer is delivered.
    pub permit: Option<crate::quota::Permit>,
    /// The downstream speaks 2026-07-28: mark results `resultType: complete` when the upstream did not.
    pub stateless: bool,
    /// `<method> <name or uri>` of the request (2026-07-28 calls only), for the MRTR bridge.
    pub origin: Option<Arc<str>>,
    /// 2026-07-28 cache hints for a `resources/read` result (kept when the upstream gave them).
    pub cache_hint: bool,
    /// The request as observed (metrics, spans, log), told how it ended on delivery.
    pub call: Option<Arc<crate::observe::Call>>,
}

impl std::fmt::Debug for Finish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish")
            .field("rewrite", &self.rewrite.is_some())
            .field("stateless", &self.stateless)
            .field("origin", &self.origin)
            .field("cache_hint", &self.cache_hint)
            .finish()
    }
}

/// A downstream request waiting for its upstream's answer.
#[derive(Debug)]
pub struct DownstreamReply {
    pub out: Outbox,
    pub session: u64,
    /// The client's own request id.
    pub id: Value,
    /// The client's own progress token, if it asked for progress.
    pub progress: Option<Value>,
    /// 2026-07-28: the log level the request's `_meta` asked for (log messages reach the request's stream).
    pub log_level: Option<u8>,
    pub finish: Finish,
    /// For a 2026-07-28 upstream and a handshake-era client: the request as sent, so the hub can
    /// retry it with the client's answers when the upstream says `input_required`.
    pub retry: Option<Box<(String, Value)>>,
}

/// An upstream answer, rewritten for its client.
pub(super) fn deliver(mut msg: Value, r: DownstreamReply) {
    if let Some(c) = &r.finish.call {
        c.answered(&msg);
    }
    msg["id"] = r.id;
    if let Some(result) = msg.get_mut("result") {
        finish_result(result, &r.finish);
    }
    let _ = r.out.send(msg.to_string());
}

pub(super) fn deliver_error(reply: Reply, err: CallError) {
    match reply {
        Reply::Parked(_) => {}
        Reply::Local(tx) => {
            let _ = tx.send(Err(err));
        }
        Reply::Downstream(r) => {
            if let Some(c) = &r.finish.call {
                c.failed(&err);
            }
            let _ = r.out.send(err.to_error_value(&r.id).to_string());
        }
    }
}

/// Rewrites a result for the downstream: the caller's rewrite (URIs, task ids), and
/// `resultType` and cache hints for 2026-07-28 clients.
pub fn finish_result(result: &mut Value, finish: &Finish) {
    if let Some(rewrite) = &finish.rewrite {
        rewrite.apply(result);
    }
    if finish.stateless {
        if let Some(o) = result.as_object_mut() {
            o.entry("resultType").or_insert_with(|| json!("complete"));
            if finish.cache_hint {
                // A proxied resource can change with no word to the hub: do not cache unless the
                // upstream said how long.
                o.entry("ttlMs").or_insert_with(|| json!(0));
                o.entry("cacheScope").or_insert_with(|| json!("private"));
            }
            let meta = o.entry("_meta").or_insert_with(|| json!({}));
            if let Some(m) = meta.as_object_mut() {
                m.entry(protocol::META_SERVER_INFO)
                    .or_insert_with(protocol::hub_info);
            }
        }
    }
}
