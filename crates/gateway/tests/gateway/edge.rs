//! Hostile connections on a real socket: silent ones, an HTTP/2 preface
//! and nothing more, the cap on open connections, and the errors hyper
//! answers itself, which must carry the gateway's JSON error body.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::reload::Rig;

/// Bound on anything a test waits for: generous, never a measurement.
const PATIENCE: Duration = Duration::from_secs(10);

/// The HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `rig`'s gateway on a socket; the server stops when the returned
/// sender is dropped.
async fn serve(rig: &Rig) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(tollgate_gateway::serve(
        listener,
        rig.gateway.clone(),
        async {
            let _ = rx.await;
        },
    ));
    (addr, tx)
}

/// Reads until the peer closes the connection or `limit` passes; returns
/// what was read and whether the peer closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_elapsed) => return (out, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `request` on a new connection and reads the answer to the end:
/// its status and its body as JSON.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before all of a huge request is in.
    let _ = stream.write_all(request).await;
    let (reply, closed) = read_until_closed(&mut stream, PATIENCE).await;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer (closed: {closed}): {reply:?}"));
    let status: u16 = head[9..12].parse().unwrap();
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ncontent-type: application/json"),
        "{head}"
    );
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: body {body:?} of {head}"));
    (status, body)
}

/// The value of the series `name` in the gateway's metrics, 0 when absent.
fn metric(rig: &Rig, name: &str) -> f64 {
    let mut text = String::new();
    rig.gateway.metrics().encode(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /health` on a new connection: the status line, or why not.
async fn health(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = read_until_closed(&mut stream, PATIENCE).await;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    reply
        .lines()
        .next()
        .unwrap_or("(closed, no answer)")
        .to_string()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_first_byte_timeout() {
    let rig = Rig::start("first_byte_timeout_secs = 0.5").await;
    let (addr, _stop) = serve(&rig).await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    for stream in &mut silent {
        let (bytes, closed) = read_until_closed(stream, PATIENCE).await;
        assert!(closed, "a silent connection stayed open");
        assert!(bytes.is_empty(), "{bytes:?}");
    }
    until("20 first-byte timeouts counted", || {
        metric(
            &rig,
            "tollgate_connections_closed_total{reason=\"first_byte_timeout\"}",
        ) == 20.0
    })
    .await;
    until("no connection open", || {
        metric(&rig, "tollgate_connections_open") == 0.0
    })
    .await;
    // A connection that speaks is served.
    assert_eq!(health(addr).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn an_http2_preface_followed_by_silence_is_closed() {
    let rig = Rig::start("header_read_timeout_secs = 0.5\nidle_timeout_secs = 600").await;
    let (addr, _stop) = serve(&rig).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    let (_, closed) = read_until_closed(&mut stream, PATIENCE).await;
    assert!(closed, "a preface without SETTINGS held its connection");
    until("one handshake timeout counted", || {
        metric(
            &rig,
            "tollgate_connections_closed_total{reason=\"handshake_timeout\"}",
        ) == 1.0
    })
    .await;
}

#[tokio::test]
async fn http2_past_its_settings_is_served_beyond_the_handshake_deadline() {
    let rig = Rig::start("header_read_timeout_secs = 0.3").await;
    let (addr, _stop) = serve(&rig).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let url = format!("http://{addr}/health");
    for _ in 0..2 {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_2);
        assert_eq!(resp.status(), 200);
        // Past the handshake deadline, on the same connection.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(metric(&rig, "tollgate_connections_accepted_total"), 1.0);
    assert_eq!(
        metric(
            &rig,
            "tollgate_connections_closed_total{reason=\"handshake_timeout\"}"
        ),
        0.0
    );
}

#[tokio::test]
async fn a_connection_idle_after_its_request_is_closed() {
    let rig = Rig::start("idle_timeout_secs = 0.5").await;
    let (addr, _stop) = serve(&rig).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Keep-alive: the connection stays open after the answer...
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: tollgate\r\n\r\n")
        .await
        .unwrap();
    let (reply, closed) = read_until_closed(&mut stream, PATIENCE).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // ... until it has been idle too long.
    assert!(closed, "an idle keep-alive connection stayed open");
    assert_eq!(
        metric(
            &rig,
            "tollgate_connections_closed_total{reason=\"idle_timeout\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn at_the_cap_the_idlest_connection_makes_room_and_health_answers() {
    let rig = Rig::start("max_connections = 8\nfirst_byte_timeout_secs = 60").await;
    let (addr, _stop) = serve(&rig).await;
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    until("8 connections open", || {
        metric(&rig, "tollgate_connections_open") == 8.0
    })
    .await;
    // Full, yet health answers: the oldest silent connection made room.
    assert_eq!(health(addr).await, "HTTP/1.1 200 OK");
    let (_, closed) = read_until_closed(&mut silent[0], PATIENCE).await;
    assert!(closed, "the idlest connection was not closed");
    assert_eq!(
        metric(
            &rig,
            "tollgate_connections_closed_total{reason=\"evicted\"}"
        ),
        1.0
    );
    assert_eq!(metric(&rig, "tollgate_connections_refused_total"), 0.0);
    // The others were left alone.
    for stream in &mut silent[1..] {
        let (_, closed) = read_until_closed(stream, Duration::from_millis(50)).await;
        assert!(!closed, "a connection younger than the idlest was closed");
    }
}

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_a_newcomer_is_refused() {
    let rig = Rig::start("max_connections = 2\nrequest_body_timeout_secs = 60").await;
    let (addr, _stop) = serve(&rig).await;
    // Two requests in flight: their bodies are still coming.
    let head = format!(
        "POST /api/v1/chat/completions HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":",
        rig.key
    );
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        busy.push(stream);
    }
    until("two requests in flight", || {
        metric(&rig, "tollgate_http_requests_in_flight") == 2.0
    })
    .await;
    let mut newcomer = TcpStream::connect(addr).await.unwrap();
    let _ = newcomer
        .write_all(b"GET /health HTTP/1.1\r\nHost: tollgate\r\n\r\n")
        .await;
    let (reply, closed) = read_until_closed(&mut newcomer, PATIENCE).await;
    assert!(closed && reply.is_empty(), "{reply:?}");
    assert_eq!(metric(&rig, "tollgate_connections_refused_total"), 1.0);
    // Once a request ends, there is room again.
    drop(busy.pop());
    until("a place freed", || {
        metric(&rig, "tollgate_connections_open") == 1.0
    })
    .await;
    assert_eq!(health(addr).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn errors_hyper_answers_itself_carry_the_json_error_body() {
    let rig = Rig::start("").await;
    let (addr, _stop) = serve(&rig).await;

    // 414: a 100 KB query.
    let long = format!(
        "GET /api/v1/models?q={} HTTP/1.1\r\nHost: tollgate\r\n\r\n",
        "a".repeat(100_000)
    );
    let (status, body) = exchange(addr, long.as_bytes()).await;
    assert_eq!(status, 414, "{body}");
    assert_eq!(body["error"]["code"], 414, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("65534"),
        "{body}"
    );

    // 431: 10,000 headers.
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: tollgate\r\n");
    for i in 0..10_000 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let (status, body) = exchange(addr, many.as_bytes()).await;
    assert_eq!(status, 431, "{body}");
    assert_eq!(body["error"]["code"], 431, "{body}");

    // 400: a Content-Length that is not a number.
    let (status, body) = exchange(
        addr,
        b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: tollgate\r\nContent-Length: -1\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 400, "{body}");
    assert_eq!(body["error"]["metadata"]["error_type"], "invalid_request");

    // 400: not HTTP at all.
    let (status, body) = exchange(addr, b"HELLO\x00THERE\r\n\r\n").await;
    assert_eq!(status, 400, "{body}");

    // Still serving.
    assert_eq!(health(addr).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_read() {
    // The body timeout is far beyond the wait: the answer cannot be the
    // timeout's.
    let rig = Rig::start("max_body_bytes = 4096\nrequest_body_timeout_secs = 600").await;
    let (addr, _stop) = serve(&rig).await;
    for path in ["/api/v1/chat/completions", "/api/v1/embeddings", "/health"] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n",
            rig.key
        );
        let (status, body) = exchange(addr, request.as_bytes()).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["error"]["code"], 413, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("4096"),
            "{body}"
        );
    }
    // At the limit is not refused for its size.
    let (status, body) = exchange(
        addr,
        format!(
            "POST /api/v1/chat/completions HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n{}",
            rig.key,
            " ".repeat(4096)
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(rig.acme.request_count(), 0);
}

/// A client refused while it is still sending a large body (announced in
/// `Content-Length`) gets the 413, not a broken pipe: the gateway reads and
/// drops the rest of the body before it closes (a lingering close), on
/// either runtime. Closing with the body unread would reset the connection
/// while the client writes, before it reads the answer.
#[tokio::test]
async fn a_client_still_sending_a_refused_body_reads_the_413() {
    for runtime in ["per-core", "work-stealing"] {
        let rig = Rig::start(&format!("max_body_bytes = 4096\nruntime = \"{runtime}\"")).await;
        let (addr, _stop) = serve(&rig).await;
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let reply = client
                .post(format!("http://{addr}/api/v1/chat/completions"))
                .bearer_auth(&rig.key)
                .header("content-type", "application/json")
                .body(vec![b' '; 10 * 1024 * 1024])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{runtime}: no answer: {e:?}"));
            assert_eq!(reply.status(), 413, "{runtime}");
            let body: Value = reply.json().await.unwrap();
            assert_eq!(body["error"]["code"], 413, "{runtime}: {body}");
        }
    }
}
