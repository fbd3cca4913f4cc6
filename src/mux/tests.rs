//! The multiplexer without a transport: frames out of `outgoing`, answers into `handle_incoming`.

use super::*;

struct NoHooks;
impl ConnHooks for NoHooks {
    fn on_notification(&self, _: &Arc<Conn>, _: Value) {}
    fn on_server_request(&self, _: &Arc<Conn>, _: Value, _: Vec<InFlight>, _: bool) {}
    fn on_input_required(&self, _: &Arc<Conn>, _: Value, _: DownstreamReply) {}
}

fn conn() -> (Arc<Conn>, mpsc::Receiver<String>) {
    let (c, rx) = Conn::new(ServerName::new("up"), Arc::new(NoHooks));
    c.set_era(Era::Handshake {
        version: "2025-11-25".into(),
    });
    (c, rx)
}

fn reply(out: &Outbox, session: u64, id: Value, progress: Option<Value>) -> DownstreamReply {
    DownstreamReply {
        out: out.clone(),
        session,
        id,
        progress,
        log_level: None,
        finish: Finish::default(),
        retry: None,
    }
}

/// Either end frames come out of: the upstream's queue, or a client's outbox.
trait Frames {
    fn frame(&mut self) -> String;
}
impl Frames for mpsc::Receiver<String> {
    fn frame(&mut self) -> String {
        self.try_recv().expect("a frame")
    }
}
impl Frames for crate::jsonrpc::OutboxRx {
    fn frame(&mut self) -> String {
        self.try_recv().expect("a frame")
    }
}

fn next(rx: &mut impl Frames) -> Value {
    serde_json::from_str(&rx.frame()).unwrap()
}

#[test]
fn ids_are_remapped_and_answers_find_their_caller() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    // Two sessions use the same client id: the upstream sees distinct ids.
    c.forward(
        "tools/call",
        json!({"name":"a"}),
        "",
        reply(&out, 1, json!(7), None),
        Duration::from_secs(5),
    )
    .unwrap();
    c.forward(
        "tools/call",
        json!({"name":"b"}),
        "",
        reply(&out, 2, json!(7), None),
        Duration::from_secs(5),
    )
    .unwrap();
    let (f1, f2) = (next(&mut up), next(&mut up));
    assert_ne!(f1["id"], f2["id"]);
    // Answer in reverse order, with extra fields that must survive.
    c.handle_incoming(
        &json!({"jsonrpc":"2.0","id":f2["id"],"result":{"content":[],"x-vendor":1}}).to_string(),
    );
    c.handle_incoming(
        &json!({"jsonrpc":"2.0","id":f1["id"],"result":{"content":[{"type":"text","text":"A"}]}})
            .to_string(),
    );
    let (r2, r1) = (next(&mut down), next(&mut down));
    assert_eq!(r2["id"], 7);
    assert_eq!(r2["result"]["x-vendor"], 1);
    assert_eq!(r1["result"]["content"][0]["text"], "A");
    assert_eq!(c.in_flight(), 0);
}

/// No sleeping against the clock: `sweep` takes the time to judge by. The call's deadlines are
/// `std::time::Instant`s (a paused tokio clock does not move them), so the test sweeps at a time
/// it computes: past the first deadline, before the one the progress renewed.
#[test]
fn progress_tokens_are_mapped_both_ways_and_reset_the_deadline() {
    const TIMEOUT: Duration = Duration::from_millis(50);
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    let params = json!({"name":"slow","_meta":{"progressToken":"client-tok"}});
    c.forward(
        "tools/call",
        params,
        "",
        reply(&out, 1, json!("r1"), Some(json!("client-tok"))),
        TIMEOUT,
    )
    .unwrap();
    // The first deadline is at most `forwarded + TIMEOUT`.
    let forwarded = Instant::now();
    let f = next(&mut up);
    let upstream_token = f["params"]["_meta"]["progressToken"].clone();
    assert_ne!(upstream_token, json!("client-tok"));
    // The progress arrives strictly later (the clock has ticked, by nanoseconds), so the renewed
    // deadline is strictly after `forwarded + TIMEOUT`.
    while Instant::now() <= forwarded {
        std::hint::spin_loop();
    }
    c.handle_incoming(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":upstream_token,"progress":1,"total":2}}).to_string());
    c.sweep(forwarded + TIMEOUT);
    assert_eq!(c.in_flight(), 1, "progress pushed the deadline out");
    let p = next(&mut down);
    assert_eq!(p["params"]["progressToken"], "client-tok");
    assert_eq!(p["params"]["progress"], 1);
}

#[test]
fn a_timeout_fails_the_call_names_the_server_and_cancels_upstream() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    c.forward(
        "tools/call",
        json!({"name":"hang"}),
        "",
        reply(&out, 1, json!(1), None),
        Duration::from_millis(1),
    )
    .unwrap();
    let _ = next(&mut up);
    c.sweep(Instant::now() + Duration::from_millis(5));
    let e = next(&mut down);
    assert_eq!(e["error"]["code"], jsonrpc::REQUEST_TIMEOUT);
    assert!(e["error"]["message"].as_str().unwrap().contains("`up`"));
    let cancel = next(&mut up);
    assert_eq!(cancel["method"], "notifications/cancelled");
}

#[test]
fn closing_fails_every_pending_call_at_once_with_the_reason() {
    let (c, _up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    for i in 0..3 {
        c.forward(
            "tools/call",
            json!({"name":"x"}),
            "",
            reply(&out, 1, json!(i), None),
            Duration::from_secs(60),
        )
        .unwrap();
    }
    c.close("exited (signal 9)".into());
    for _ in 0..3 {
        let e = next(&mut down);
        assert_eq!(e["error"]["code"], jsonrpc::UPSTREAM_FAILED);
        assert_eq!(e["error"]["message"], "upstream `up` exited (signal 9)");
        assert_eq!(e["error"]["data"]["server"], "up");
    }
    let (out2, _d) = crate::jsonrpc::outbox();
    assert!(c
        .forward(
            "tools/call",
            json!({}),
            "",
            reply(&out2, 1, json!(9), None),
            Duration::from_secs(1)
        )
        .is_err());
}

#[test]
fn cancellation_by_the_client_is_forwarded_with_the_upstream_id() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    c.forward(
        "tools/call",
        json!({"name":"x"}),
        "",
        reply(&out, 4, json!("abc"), None),
        Duration::from_secs(60),
    )
    .unwrap();
    let f = next(&mut up);
    assert!(
        !c.cancel_downstream(5, &json!("abc"), None),
        "another session's id does not match"
    );
    assert!(c.cancel_downstream(4, &json!("abc"), Some("user")));
    let cancel = next(&mut up);
    assert_eq!(cancel["params"]["requestId"], f["id"]);
    assert_eq!(cancel["params"]["reason"], "user");
    // A late answer after the cancel is dropped.
    c.handle_incoming(&json!({"jsonrpc":"2.0","id":f["id"],"result":{}}).to_string());
    assert!(down.try_recv().is_err());
}

#[test]
fn garbage_from_the_upstream_is_ignored() {
    let (c, _up) = conn();
    c.handle_incoming("this is not json");
    c.handle_incoming("{\"hello\":1}");
    c.handle_incoming("{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":{}}");
    assert!(!c.is_closed());
}

/// MRTR: a second upstream request that arrives while the client is away answering the first
/// one waits for the client's retry, which is answered with it; the next retry gets the result.
#[test]
fn a_request_for_a_parked_call_waits_for_the_clients_retry() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    c.forward(
        "tools/call",
        json!({"name":"t"}),
        "",
        reply(&out, 1, json!("first"), None),
        Duration::from_secs(5),
    )
    .unwrap();
    let call = id_number(&next(&mut up)["id"]).unwrap();
    assert!(c.active_calls().iter().all(|f| !f.parked));

    let Bridged::Ask(r) = c.bridge(call, json!({"id": 90, "method": "roots/list"})) else {
        panic!("the call was with its client, so the client is asked");
    };
    assert_eq!(r.id, "first");
    // The client is away: the call is still in flight (parked), and a new request waits.
    assert!(c.active_calls().iter().any(|f| f.call == call && f.parked));
    assert!(matches!(
        c.bridge(call, json!({"id": 91, "method": "elicitation/create"})),
        Bridged::Queued
    ));

    // The retry is answered with the waiting request; the call stays parked.
    match c.resume(call, reply(&out, 1, json!("retry-1"), None)) {
        Ok(Resumed::Ask { request, reply }) => {
            assert_eq!(request["method"], "elicitation/create");
            assert_eq!(reply.id, "retry-1");
        }
        _ => panic!("the queued request is asked on the retry"),
    }
    // The next retry is attached, and the upstream's result reaches it.
    assert!(matches!(
        c.resume(call, reply(&out, 1, json!("retry-2"), None)),
        Ok(Resumed::Attached)
    ));
    c.handle_incoming(&json!({"jsonrpc":"2.0","id":call,"result":{"content":[]}}).to_string());
    let r = next(&mut down);
    assert_eq!(r["id"], "retry-2");
    assert!(r["result"]["content"].is_array());
    assert_eq!(c.in_flight(), 0);
}

/// A parked call whose upstream answered first gets the answer on the retry; requests still
/// waiting are refused upstream rather than left hanging.
#[test]
fn a_parked_call_answered_first_refuses_what_still_waits() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    c.forward(
        "tools/call",
        json!({"name":"t"}),
        "",
        reply(&out, 1, json!(1), None),
        Duration::from_secs(5),
    )
    .unwrap();
    let call = id_number(&next(&mut up)["id"]).unwrap();
    assert!(matches!(
        c.bridge(call, json!({"id": 5, "method": "roots/list"})),
        Bridged::Ask(_)
    ));
    assert!(matches!(
        c.bridge(call, json!({"id": 6, "method": "roots/list"})),
        Bridged::Queued
    ));
    c.handle_incoming(&json!({"jsonrpc":"2.0","id":call,"result":{"content":[]}}).to_string());
    assert!(
        down.try_recv().is_err(),
        "nothing reaches the client before its retry"
    );
    assert!(matches!(
        c.resume(call, reply(&out, 1, json!(2), None)),
        Ok(Resumed::Attached)
    ));
    assert_eq!(next(&mut down)["id"], 2);
    let refused = next(&mut up);
    assert_eq!(refused["id"], 6);
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ended"));
}

/// Hooks that panic on every notification and server request, like a reader that hits a bug.
struct PanickyHooks;
impl ConnHooks for PanickyHooks {
    fn on_notification(&self, _: &Arc<Conn>, _: Value) {
        panic!("a hook panicked");
    }
    fn on_server_request(&self, _: &Arc<Conn>, _: Value, _: Vec<InFlight>, _: bool) {}
    fn on_input_required(&self, _: &Arc<Conn>, _: Value, _: DownstreamReply) {}
}

#[test]
fn a_dropped_reader_guard_fails_every_pending_call_at_once() {
    let (c, _up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    c.forward(
        "tools/call",
        json!({"name":"x"}),
        "",
        reply(&out, 1, json!(1), None),
        Duration::from_secs(600),
    )
    .unwrap();
    let guard = CloseGuard::new(c.clone(), "reader");
    drop(guard);
    assert!(c.is_closed());
    let e = next(&mut down);
    assert_eq!(e["error"]["code"], jsonrpc::UPSTREAM_FAILED);
    assert_eq!(
        e["error"]["message"],
        "upstream `up` reader task ended: stopped"
    );
    // A disarmed guard and a panic-only guard leave a connection open.
    let (c, _up) = conn();
    CloseGuard::new(c.clone(), "reader").disarm();
    drop(CloseGuard::on_panic(c.clone(), "post"));
    assert!(!c.is_closed());
}

#[tokio::test]
async fn a_reader_task_that_panics_fails_pending_calls_at_once_naming_the_server() {
    let (c, _up) = Conn::new(ServerName::new("up"), Arc::new(PanickyHooks));
    let started = Instant::now();
    let c2 = c.clone();
    let call = tokio::spawn(async move {
        c2.request("tools/list", None, Duration::from_secs(600))
            .await
    });
    tokio::task::yield_now().await;
    let c3 = c.clone();
    let reader = tokio::spawn(async move {
        let _guard = CloseGuard::new(c3.clone(), "reader");
        tokio::task::yield_now().await;
        c3.handle_incoming(r#"{"jsonrpc":"2.0","method":"notifications/message","params":[1]}"#);
    });
    assert!(reader.await.unwrap_err().is_panic());
    let err = call.await.unwrap().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(err.to_string(), "upstream `up` reader task ended: panicked");
    assert_eq!(c.close_reason(), Some("reader task ended: panicked"));
}

#[test]
fn messages_of_any_shape_from_the_upstream_never_panic_and_answers_still_arrive() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    c.forward(
        "tools/call",
        json!({"name":"slow","_meta":{"progressToken":"tok"}}),
        "",
        reply(&out, 1, json!("r1"), Some(json!("tok"))),
        Duration::from_secs(60),
    )
    .unwrap();
    let f = next(&mut up);
    let id = f["id"].clone();
    let big = "x".repeat(1 << 20);
    let hostile = [
        json!(null),
        json!(true),
        json!(12.5),
        json!("string"),
        json!([]),
        json!([1, [2], {"a": 1}]),
        json!({"jsonrpc":"2.0","method":"notifications/progress","params":[id]}),
        json!({"jsonrpc":"2.0","method":"notifications/progress","params":"x"}),
        json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":{"a":1},"progress":1}}),
        json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":id,"progress":"half"}}),
        json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":id,"progress":[1]}}),
        json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1e300,"progress":1}}),
        json!({"jsonrpc":"2.0","id":{"a":1},"result":{}}),
        json!({"jsonrpc":"2.0","id":[1],"result":{}}),
        json!({"jsonrpc":"2.0","id":true,"result":{}}),
        json!({"jsonrpc":"2.0","id":1.5,"result":"s"}),
        json!({"jsonrpc":"2.0","id":-1,"error":"s"}),
        json!({"jsonrpc":"2.0","id":u64::MAX,"error":{"code":"x"}}),
        json!({"jsonrpc":"2.0","id":"99999999999999999999999","result":{}}),
        json!({"jsonrpc":"2.0","id":null,"result":{}}),
        json!({"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}),
        json!({"jsonrpc":"2.0","method":7}),
        json!({"jsonrpc":"2.0","method":"x","params":big}),
    ];
    for m in &hostile {
        c.handle_incoming(&m.to_string());
        c.handle_incoming(&json!([m, m]).to_string());
    }
    // Progress with a wrong-typed value is not relayed; a good one is.
    c.handle_incoming(
        &json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":id,"progress":1}})
            .to_string(),
    );
    let p = next(&mut down);
    assert_eq!(p["params"]["progressToken"], "tok");
    assert_eq!(p["params"]["progress"], 1);
    // A batch carrying the answer delivers it.
    c.handle_incoming(&json!([{"jsonrpc":"2.0","id":id,"result":{"content":[]}}, 5]).to_string());
    let r = next(&mut down);
    assert_eq!(r["id"], "r1");
    assert_eq!(r["result"]["content"], json!([]));
    assert!(down.try_recv().is_err());
    assert!(!c.is_closed());
}

#[test]
fn a_malformed_result_or_error_reaches_the_client_as_a_proper_error() {
    let (c, mut up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    let mut ids = Vec::new();
    for i in 0..4 {
        c.forward(
            "tools/call",
            json!({"name":"x"}),
            "",
            reply(&out, 1, json!(i), None),
            Duration::from_secs(60),
        )
        .unwrap();
        ids.push(next(&mut up)["id"].clone());
    }
    c.handle_incoming(&json!({"jsonrpc":"2.0","id":ids[0],"result":"a string"}).to_string());
    c.handle_incoming(&json!({"jsonrpc":"2.0","id":ids[1],"error":"it broke"}).to_string());
    c.handle_incoming(
        &json!({"jsonrpc":"2.0","id":ids[2],"error":{"code":"E1","message":{"m":1}}}).to_string(),
    );
    c.handle_incoming(
        &json!({"jsonrpc":"2.0","id":ids[3],"error":{"code":-32602,"message":"bad","data":[1]}})
            .to_string(),
    );
    let e0 = next(&mut down);
    assert_eq!(e0["id"], 0);
    assert_eq!(e0["error"]["code"], jsonrpc::UPSTREAM_FAILED);
    assert_eq!(
        e0["error"]["message"],
        "upstream `up` answered `tools/call` with a malformed result (a string)"
    );
    let e1 = next(&mut down);
    assert_eq!(e1["error"]["code"], jsonrpc::INTERNAL_ERROR);
    assert_eq!(e1["error"]["message"], "it broke");
    let e2 = next(&mut down);
    assert_eq!(e2["error"]["code"], jsonrpc::INTERNAL_ERROR);
    assert_eq!(e2["error"]["message"], r#"{"m":1}"#);
    let e3 = next(&mut down);
    assert_eq!(e3["error"]["code"], -32602);
    assert_eq!(e3["error"]["data"], json!([1]));
}

#[test]
fn answering_an_upstream_request_with_a_non_object_sends_an_error() {
    let (c, mut up) = conn();
    c.respond_raw(json!("nope"), json!("srv-1")).unwrap();
    let f = next(&mut up);
    assert_eq!(f["id"], "srv-1");
    assert_eq!(f["error"]["code"], jsonrpc::INTERNAL_ERROR);
}

#[test]
fn a_full_upstream_queue_fails_calls_at_once_naming_the_server() {
    let (c, _up) = conn();
    let (out, mut down) = crate::jsonrpc::outbox();
    for _ in 0..UPSTREAM_QUEUE_FRAMES {
        c.notify("notifications/roots/list_changed", None).unwrap();
    }
    let r = reply(&out, 1, json!(5), None);
    let e = c
        .forward("tools/call", json!({}), "", r, Duration::from_secs(5))
        .expect_err("the queue is full");
    assert_eq!(
        e.1.to_string(),
        "upstream `up` is not reading its input (4096 frames queued)"
    );
    assert_eq!(c.in_flight(), 0);
    assert!(down.try_recv().is_err());
}
