//! The short soak: the real daemon holding hundreds of hostile
//! connections (silent ones, and ones trickling their headers) while
//! clients chat and a monitor checks `/health`. The full-size soak is
//! `bench/soak`; this one runs in seconds with short timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tollgate_testkit::{MockConfig, MockServer};

use super::daemon::{ConfigDir, DEV_API_KEY, Launch};
use super::http::{chat_body, client, post_chat};

/// Hostile connections of each kind (the test process and the daemon each
/// hold one descriptor per connection: well under the usual limit of 1024).
const HOSTILE: usize = 200;
/// Bound on every wait: generous, never a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

/// The value of the series `name` in `/metrics`, 0 when absent.
async fn metric(d_metrics: &str, name: &str) -> f64 {
    let text = client()
        .get(d_metrics)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// A connection that sends nothing; returns whether the daemon closed it
/// (within [`PATIENCE`]).
async fn silent(addr: SocketAddr) -> bool {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A connection that sends a request line and then one header line after
/// another, never ending its head, until the daemon closes it or `stop`
/// is set; returns whether the daemon closed it.
async fn slow_headers(addr: SocketAddr, stop: Arc<AtomicBool>) -> bool {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: tollgate\r\n")
        .await
        .is_err()
    {
        return true;
    }
    let deadline = Instant::now() + PATIENCE;
    let mut buf = [0u8; 64];
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if stream.write_all(b"x-slow: y\r\n").await.is_err() {
            return true;
        }
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
        {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_health_carry_on_through_silent_and_slow_connections() {
    let mock = MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let config = dir.write(
        "tollgate.toml",
        &format!(
            r#"[server]
listen = "127.0.0.1:0"
first_byte_timeout_secs = 1
header_read_timeout_secs = 2

[[providers]]
slug = "acme"
name = "Acme"
dialect = "openai"
base_url = "{}"
models = "acme-widget.json"
"#,
            mock.base_url()
        ),
    );
    let launch = Launch::bare()
        .env("TOLLGATE_DEV_API_KEY", DEV_API_KEY)
        .args(["--dev"])
        .config(&config);
    // The mock runs on this runtime: keep its workers free while waiting.
    let d = tokio::task::block_in_place(|| launch.start());
    let addr = d.addr();
    let metrics = d.url("/metrics");

    let stop = Arc::new(AtomicBool::new(false));
    let silent: Vec<_> = (0..HOSTILE).map(|_| tokio::spawn(silent(addr))).collect();
    let slow: Vec<_> = (0..HOSTILE)
        .map(|_| tokio::spawn(slow_headers(addr, Arc::clone(&stop))))
        .collect();

    // While they are there, clients chat and the monitor checks health.
    let chatters: Vec<_> = (0..8)
        .map(|c| {
            let api = d.api();
            tokio::spawn(async move {
                for i in 0..10 {
                    let text = format!("client {c} request {i}");
                    let resp =
                        post_chat(&api, DEV_API_KEY, &chat_body("acme/widget", &text, false)).await;
                    assert_eq!(resp.status(), 200);
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(
                        body["choices"][0]["message"]["content"],
                        format!("echo: {text}")
                    );
                }
            })
        })
        .collect();
    let health = d.url("/health");
    for _ in 0..10 {
        // A new connection each time, as a load balancer's probe.
        let resp = reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap()
            .get(&health)
            .send()
            .await
            .expect("health check");
        assert_eq!(resp.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for c in chatters {
        c.await.expect("a chat client failed");
    }

    // Every silent connection was closed, each counted as silent.
    let mut open = 0;
    for s in silent {
        if !s.await.unwrap() {
            open += 1;
        }
    }
    if open > 0 {
        let text = client()
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let connections: Vec<&str> = text.lines().filter(|l| l.contains("connections")).collect();
        panic!(
            "{open} silent connections were never closed; {connections:#?}\n{}",
            d.stderr()
        );
    }
    let by_first_byte = "tollgate_connections_closed_total{reason=\"first_byte_timeout\"}";
    assert!(
        metric(&metrics, by_first_byte).await >= HOSTILE as f64,
        "{by_first_byte} below {HOSTILE}"
    );
    // So was every connection trickling its headers (hyper's header
    // timeout, from their first byte).
    for s in slow {
        assert!(
            s.await.unwrap(),
            "a slow-header connection was never closed"
        );
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(
        metric(&metrics, "tollgate_connections_refused_total").await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_open_file_limit_health_and_chat_still_answer() {
    let mock = MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    // A cap far above what the descriptors allow, and silent connections
    // that would stay for a minute: only running out of descriptors can
    // make room.
    let config = dir.write(
        "tollgate.toml",
        &format!(
            r#"[server]
listen = "127.0.0.1:0"
first_byte_timeout_secs = 600
idle_timeout_secs = 600
max_connections = 100000

[[providers]]
slug = "acme"
name = "Acme"
dialect = "openai"
base_url = "{}"
models = "acme-widget.json"
"#,
            mock.base_url()
        ),
    );
    let launch = Launch::bare()
        .env("TOLLGATE_DEV_API_KEY", DEV_API_KEY)
        .args(["--dev"])
        .config(&config)
        .open_files(256);
    let d = tokio::task::block_in_place(|| launch.start());
    let addr = d.addr();
    // More silent connections than the daemon has descriptors.
    let mut silent = Vec::new();
    for _ in 0..400 {
        silent.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let resp = reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
        .get(d.url("/health"))
        .send()
        .await
        .expect("health check");
    assert_eq!(resp.status(), 200);
    let resp = post_chat(
        &d.api(),
        DEV_API_KEY,
        &chat_body("acme/widget", "still here", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let metrics = d.url("/metrics");
    assert!(metric(&metrics, "tollgate_accept_errors_total").await > 0.0);
    assert!(
        metric(
            &metrics,
            "tollgate_connections_closed_total{reason=\"evicted\"}"
        )
        .await
            > 0.0
    );
    drop(silent);
}
