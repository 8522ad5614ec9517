//! `[telemetry]`: the daemon's spans reach an OTLP/HTTP collector (here a
//! wiremock server) by the time it has shut down, and a collector that is
//! down costs the requests nothing.

use std::time::{Duration, Instant};

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::daemon::{ConfigDir, EXIT_TIMEOUT, Launch};
use super::http::get_json;

/// Whether `needle` occurs in `haystack` (protobuf keeps strings raw).
fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_by_the_end_of_shutdown() {
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let dir = ConfigDir::new();
    let config = dir.write(
        "tollgate.toml",
        &format!(
            r#"[server]
listen = "127.0.0.1:0"

[telemetry]
otlp_endpoint = "{}"
service_name = "tollgated-e2e"

[telemetry.headers]
x-collector-token = "t0ken"
"#,
            collector.uri()
        ),
    );
    // `Launch` sets RUST_LOG=warn: the export keeps its own level.
    let launch = Launch::bare().args(["--dev"]).config(&config);
    // The collector runs on this runtime: keep its workers free meanwhile.
    let mut d = tokio::task::block_in_place(|| launch.start());
    get_json(&format!("{}/models", d.api())).await;

    // Well inside the batch processor's 5 s delay: only the flush at
    // shutdown can have sent the span.
    d.signal("TERM");
    let status = tokio::task::block_in_place(|| d.wait_exit(EXIT_TIMEOUT));
    assert_eq!(status.code(), Some(0), "{status}\n{}", d.stderr());

    let received = collector.received_requests().await.unwrap();
    let export = received
        .iter()
        .find(|r| contains(&r.body, "/api/v1/models"))
        .unwrap_or_else(|| {
            panic!(
                "no export with the request's span among {} requests\n{}",
                received.len(),
                d.stderr()
            )
        });
    assert_eq!(export.method.as_str(), "POST");
    assert_eq!(export.url.path(), "/v1/traces");
    assert_eq!(
        export.headers.get("content-type").unwrap(),
        "application/x-protobuf"
    );
    assert_eq!(export.headers.get("x-collector-token").unwrap(), "t0ken");
    // The resource's service.name and the gateway's `request` span.
    assert!(contains(&export.body, "tollgated-e2e"));
    assert!(contains(&export.body, "request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_leaves_requests_and_shutdown_unharmed() {
    // The endpoint comes from the standard variable (the file has none),
    // and nothing listens on the discard port.
    let dir = ConfigDir::new();
    let config = dir.write(
        "tollgate.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[telemetry.headers]\nx-collector-token = \"t0ken\"\n",
    );
    let mut d = Launch::bare()
        .args(["--dev"])
        .config(&config)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        .env("RUST_LOG", "info")
        .start();
    for _ in 0..3 {
        get_json(&format!("{}/models", d.api())).await;
    }

    let asked = Instant::now();
    d.signal("TERM");
    let status = d.wait_exit(EXIT_TIMEOUT);
    let stderr = d.stderr();
    assert_eq!(status.code(), Some(0), "{status}\n{stderr}");
    // The flush gives up within its bound (5 s) plus the drain.
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "exit took {:?}\n{stderr}",
        asked.elapsed()
    );
    assert!(
        stderr.contains("http://127.0.0.1:9/v1/traces") && stderr.contains("x-collector-token"),
        "{stderr}"
    );
    assert!(stderr.contains("OTLP export failing"), "{stderr}");
    assert!(
        !stderr.contains("t0ken"),
        "a header value was logged:\n{stderr}"
    );
}
