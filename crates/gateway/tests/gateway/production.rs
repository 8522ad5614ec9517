//! What a production deployment relies on: bounded upstream answers,
//! client time limits on a real socket, and `deploy/tollgate.toml.example`
//! loading with the real config loader.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tollgate_gateway::Config;

use crate::reload::Rig;

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
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_elapsed) => return (String::from_utf8_lossy(&out).into_owned(), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn an_upstream_answer_over_the_limit_fails_with_a_502() {
    let rig = Rig::start("max_upstream_response_bytes = 2048").await;
    // A short echo fits.
    let (status, _, body) = rig.chat("acme/widget", "short").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The echo of a long prompt does not: the attempt fails, naming the
    // limit, and nothing else can answer.
    let (status, headers, body) = rig.chat("acme/widget", &"word ".repeat(1000)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], 502);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("larger than the limit of 2048 bytes"),
        "{message}"
    );
    assert_eq!(body["error"]["metadata"]["provider_name"], "acme inc");
    assert_eq!(headers["x-tollgate-attempts"], "acme=invalid");
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let rig = Rig::start("header_read_timeout_secs = 0.5").await;
    let (addr, _stop) = serve(&rig).await;

    // Headers that never end: the connection is closed after the timeout.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: tollgate\r\n")
        .await
        .unwrap();
    let began = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(10)).await;
    assert!(closed, "the connection stayed open");
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // A complete request on a fresh connection is answered.
    let mut ok = TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /health HTTP/1.1\r\nHost: tollgate\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = read_until_closed(&mut ok, Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test]
async fn a_body_slower_than_the_timeout_is_refused() {
    let rig = Rig::start("request_body_timeout_secs = 0.5").await;
    let (addr, _stop) = serve(&rig).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/chat/completions HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{{\"model\":",
        rig.key
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let began = Instant::now();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while began.elapsed() < Duration::from_secs(10) {
        // The body keeps trickling in: a timeout on idleness alone would
        // never fire.
        let _ = slow.write_all(b" ").await;
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => reply.extend_from_slice(&buf[..n]),
            Err(_idle) => {}
        }
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("\"code\":400"), "{reply}");
    assert!(
        reply.contains("the request body did not arrive within 0.5 s"),
        "{reply}"
    );
    let took = began.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(rig.acme.request_count(), 0);
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/tollgate.toml.example")
}

#[test]
fn the_deployment_example_config_loads() {
    let path = example_path();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
    assert!(config.database.url.starts_with("postgres://"));
    // No password in the URL (`user@host`, not `user:password@host`).
    let userinfo = config.database.url["postgres://".len()..]
        .split('@')
        .next()
        .unwrap();
    assert!(!userinfo.contains(':'), "{}", config.database.url);
    assert_eq!(
        config.redis.url.as_deref(),
        Some("redis://redis.internal:6379/0")
    );
    assert_eq!(config.server.shutdown_grace_secs, 30.0);
    assert_eq!(config.server.max_upstream_response_bytes, 32 * 1024 * 1024);
    let slugs: Vec<&str> = config.providers.iter().map(|p| p.slug.as_str()).collect();
    assert_eq!(slugs, ["openai", "anthropic", "google-ai-studio"]);
    assert!(config.providers.iter().all(|p| p.api_key_env.is_some()));
    // Listing paths are resolved beside the file.
    assert_eq!(config.base_dir, path.parent().unwrap());

    // The unit's stop timeout leaves the drain its time.
    let unit = std::fs::read_to_string(path.with_file_name("tollgated.service")).unwrap();
    let stop: f64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(stop > config.server.shutdown_grace_secs, "{stop}");
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
}

#[test]
fn bounds_and_timeouts_are_checked() {
    let parse = |text: &str| Config::parse(text, Path::new("t.toml"), PathBuf::new());
    let defaults = parse("").unwrap().server;
    assert_eq!(defaults.max_upstream_response_bytes, 32 * 1024 * 1024);
    assert_eq!(defaults.header_read_timeout_secs, 30.0);
    assert_eq!(defaults.request_body_timeout_secs, 120.0);
    for (text, key) in [
        (
            "[server]\nmax_upstream_response_bytes = 10\n",
            "server.max_upstream_response_bytes",
        ),
        (
            "[server]\nheader_read_timeout_secs = 0\n",
            "server.header_read_timeout_secs",
        ),
        (
            "[server]\nrequest_body_timeout_secs = -1\n",
            "server.request_body_timeout_secs",
        ),
    ] {
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("t.toml"), "{e}");
    }
}
