//! The listener's limits and timers, on real sockets and in memory.
use super::*;

#[test]
fn a_peer_over_its_cap_gets_the_reserve_then_refusals() {
    let limits = Limits::new(3, 2);
    let local: IpAddr = [127, 0, 0, 1].into();
    let locals: Vec<_> = (0..3).map(|_| limits.admit(local)).collect();
    assert!(locals.iter().all(|a| matches!(a, Admission::Full(_))));
    drop(locals);
    let a: IpAddr = [10, 0, 0, 1].into();
    let b: IpAddr = [10, 0, 0, 2].into();
    let p1 = limits.admit(a);
    let p2 = limits.admit(a);
    assert!(matches!(p1, Admission::Full(_)));
    assert!(matches!(p2, Admission::Full(_)));
    let mut reserve = Vec::new();
    for _ in 0..HEALTH_RESERVE_PER_PEER {
        match limits.admit(a) {
            Admission::HealthOnly(p, why) => {
                assert!(why.contains("max_connections_per_peer"), "{why}");
                reserve.push(p);
            }
            _ => panic!("expected a reserve connection"),
        }
    }
    assert!(matches!(limits.admit(a), Admission::Refused(_)));
    let pb = limits.admit(b);
    assert!(matches!(pb, Admission::Full(_)));
    match limits.admit(b) {
        Admission::HealthOnly(_, why) => {
            assert!(why.contains("hub.http.max_connections"), "{why}")
        }
        _ => panic!("expected a reserve connection at the total cap"),
    }
    drop(p1);
    assert!(matches!(limits.admit(a), Admission::Full(_)));
    drop((p2, reserve, pb));
}

#[tokio::test]
async fn the_watchdog_times_headers_then_idleness() {
    let (header, idle) = (Duration::from_millis(100), Duration::from_millis(300));
    let conn = ConnState::new();
    let t0 = Instant::now();
    assert_eq!(conn.watchdog(header, idle).await, Expired::Headers);
    assert!(t0.elapsed() >= header);
    let in_flight = InFlight::new(&conn);
    // Nothing expires while a request is in flight.
    assert!(tokio::time::timeout(idle * 2, conn.watchdog(header, idle))
        .await
        .is_err());
    drop(in_flight);
    let t1 = Instant::now();
    assert_eq!(conn.watchdog(header, idle).await, Expired::Idle);
    assert!(t1.elapsed() >= idle);
    // A byte on an idle connection starts the next request's headers.
    conn.on_bytes();
    let t2 = Instant::now();
    assert_eq!(conn.watchdog(header, idle).await, Expired::Headers);
    assert!(t2.elapsed() < idle);
}

fn settings(extra: &str) -> HttpSettings {
    crate::config::HubConfig::from_str_at(
        &format!("[hub.http]\n{extra}\n[tenants.default.servers.x]\ncommand = \"x\"\n"),
        std::path::Path::new("/tmp/hub.toml"),
        &|_| None,
    )
    .expect("config")
    .hub
    .http
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /flood HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let (stream, peer) = listener.accept().await.expect("accept");
    // An endless response: the client never reads it.
    let app = Router::new().route(
        "/flood",
        axum::routing::get(|| async {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let s = futures_util::stream::repeat_with(move || Ok::<_, Infallible>(chunk.clone()));
            Body::from_stream(s)
        }),
    );
    let s = Arc::new(settings(r#"stream_write_timeout = "500ms""#));
    let served = connection(
        stream,
        peer,
        app,
        s,
        None,
        CancellationToken::new(),
        CancellationToken::new(),
    );
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("the connection should be closed once writes stall");
    assert!(t0.elapsed() >= Duration::from_millis(500));
    drop(client);
}

/// A body whose client sends nothing.
pub struct Stalled;

impl HttpBody for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    use http_body_util::BodyExt;
    let timed = TimedBody::new(Stalled, Duration::from_millis(200));
    let err = timed.collect().await.expect_err("the body should time out");
    assert!(err.downcast_ref::<BodyTimeout>().is_some(), "{err}");
}
