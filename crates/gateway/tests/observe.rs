//! Observability (`tollgate_gateway::observe`) through the router: the
//! `/metrics` exposition (checked line by line against the OpenMetrics text
//! grammar, then for the expected series), the metrics registry being one
//! per gateway, `x-request-id` handling and the request span.
//!
//! Each test starts its own dev environment (mock providers in-process, a
//! temporary SQLite database), so counts are exact even with tests running
//! in parallel. Pipeline series are driven both by real requests and by
//! calling the gateway's `Metrics` directly on endpoints no real request
//! touches (for exact counts of failures and fallbacks).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use rust_decimal::Decimal;
use tollgate_billing::Ending;
use tollgate_catalog::{Catalog, CatalogEndpoint, demo};
use tollgate_gateway::Gateway;
use tollgate_gateway::dev::DevEnvironment;
use tollgate_gateway::observe::{self, Finished};
use tollgate_schema::usage::Usage;
use tollgate_transport::{ErrorKind, ProviderError};
use tower::ServiceExt as _;

/// The tests of this binary run one at a time: tracing caches callsite
/// interest process-wide, so a test logging with no subscriber on another
/// thread can hide the access line from the span test's subscriber.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn dev() -> DevEnvironment {
    DevEnvironment::start(None).await.unwrap()
}

async fn send(gw: &Gateway, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = gw.router().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn chat(key: &str, stream: bool) -> Request<Body> {
    let body = serde_json::json!({
        "model": "mock/echo",
        "messages": [{"role": "user", "content": "Hello there"}],
        "stream": stream,
    });
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/chat/completions")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn with_request_id(mut request: Request<Body>, id: HeaderValue) -> Request<Body> {
    request.headers_mut().insert("x-request-id", id);
    request
}

fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .expect("every response carries x-request-id")
        .to_str()
        .unwrap()
}

fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    assert_eq!(uuid.get_version_num(), 4, "{id}");
    assert_eq!(id, uuid.hyphenated().to_string(), "lower-case, hyphenated");
}

// ---------------------------------------------------------------------------
// The exposition, parsed and checked.

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug)]
struct Exposition {
    text: String,
    /// Family name -> type.
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The sum of the samples named `name` carrying every label of `labels`
    /// (`None` when there is none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }

    /// Like [`Exposition::sum`], but the series must exist.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.sum(name, labels).unwrap_or_else(|| {
            panic!("no sample {name} {labels:?} in\n{}", self.text);
        })
    }
}

/// `GET /metrics` without any credential, checked and parsed.
async fn scrape(gw: &Gateway) -> Exposition {
    let (status, headers, body) = send(gw, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        observe::CONTENT_TYPE
    );
    parse(String::from_utf8(body.to_vec()).unwrap())
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `{k="v",...}` (no escapes are expected in our label values).
fn parse_labels(s: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if s.is_empty() {
        return labels;
    }
    for pair in s.split("\",") {
        let (k, v) = pair
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
        let v = v.strip_suffix('"').unwrap_or(v);
        assert!(is_name(k), "bad label name {k:?} in {line:?}");
        assert!(
            !v.contains(['"', '\\', '\n']),
            "unexpected escape in {line:?}"
        );
        assert!(
            labels.insert(k.to_string(), v.to_string()).is_none(),
            "label {k} twice in {line:?}"
        );
    }
    labels
}

/// Which declared family a sample name belongs to, by the OpenMetrics
/// suffix rules of its type.
fn family_of<'a>(name: &str, types: &'a BTreeMap<String, String>) -> Option<&'a str> {
    types.iter().find_map(|(family, kind)| {
        let suffixes: &[&str] = match kind.as_str() {
            "counter" => &["_total"],
            "gauge" => &[""],
            "histogram" => &["_bucket", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[],
        };
        suffixes
            .iter()
            .any(|s| name.strip_prefix(family.as_str()) == Some(s))
            .then_some(family.as_str())
    })
}

fn parse(text: String) -> Exposition {
    assert!(
        text.ends_with("# EOF\n"),
        "the exposition ends with # EOF:\n{text}"
    );
    let mut types = BTreeMap::new();
    let mut helped = Vec::new();
    let mut samples = Vec::new();
    let body = &text[..text.len() - "# EOF\n".len()];
    for line in body.lines() {
        assert!(!line.is_empty(), "no blank lines in OpenMetrics");
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, arg) = (parts.next(), parts.next(), parts.next());
            let (Some(kind), Some(name), Some(arg)) = (kind, name, arg) else {
                panic!("bad descriptor line {line:?}");
            };
            assert!(is_name(name), "bad metric name in {line:?}");
            match kind {
                "HELP" => helped.push(name.to_string()),
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "info"].contains(&arg),
                        "unexpected type in {line:?}"
                    );
                    assert!(
                        types.insert(name.to_string(), arg.to_string()).is_none(),
                        "{name} declared twice"
                    );
                }
                "UNIT" => assert!(name.ends_with(&format!("_{arg}")), "{line:?}"),
                _ => panic!("unknown descriptor {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                parse_labels(
                    rest.strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels in {line:?}")),
                    line,
                ),
            ),
            None => (series, BTreeMap::new()),
        };
        assert!(is_name(name), "bad sample name in {line:?}");
        assert!(
            family_of(name, &types).is_some(),
            "sample {name} of no declared family"
        );
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    for family in types.keys() {
        assert!(helped.contains(family), "{family} has no HELP");
    }
    let exposition = Exposition {
        text,
        types,
        samples,
    };
    check_histograms(&exposition);
    exposition
}

/// A series' labels but `le`, sorted.
type Labels = Vec<(String, String)>;

/// Buckets are cumulative and `+Inf` equals `_count`, series by series.
fn check_histograms(e: &Exposition) {
    for (family, kind) in &e.types {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{family}_bucket");
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in e.samples.iter().filter(|s| s.name == bucket) {
            let le: f64 = match s.labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            let key = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series.entry(key).or_default().push((le, s.value));
        }
        for (key, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family} {key:?} is not cumulative"
            );
            let labels: Vec<(&str, &str)> =
                key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let count = e.value(&format!("{family}_count"), &labels);
            assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, count));
        }
    }
}

// ---------------------------------------------------------------------------
// /metrics

/// The families the HTTP layer and the scrape itself fill.
const HTTP_FAMILIES: &[(&str, &str)] = &[
    ("tollgate_build", "info"),
    ("tollgate_http_requests", "counter"),
    ("tollgate_http_request_duration_seconds", "histogram"),
    ("tollgate_http_requests_in_flight", "gauge"),
    ("tollgate_streams_in_flight", "gauge"),
    ("tollgate_books_queued", "gauge"),
    ("tollgate_books_writes", "counter"),
    ("tollgate_books_write_failures", "counter"),
    ("tollgate_books_commit_duration_seconds", "histogram"),
    ("tollgate_books_batch_size", "histogram"),
    ("tollgate_endpoint_up", "gauge"),
    ("tollgate_endpoint_status", "gauge"),
];

/// The families the pipeline fills (a family shows once it has a series).
const PIPELINE_FAMILIES: &[(&str, &str)] = &[
    ("tollgate_upstream_attempts", "counter"),
    ("tollgate_upstream_latency_seconds", "histogram"),
    ("tollgate_fallbacks", "counter"),
    ("tollgate_generations", "counter"),
    ("tollgate_generation_duration_seconds", "histogram"),
    ("tollgate_time_to_first_token_seconds", "histogram"),
    ("tollgate_tokens", "counter"),
    ("tollgate_cost_usd", "counter"),
    ("tollgate_endpoint_uptime_ratio", "gauge"),
];

fn assert_families(m: &Exposition, families: &[(&str, &str)]) {
    for (family, kind) in families {
        assert_eq!(
            m.types.get(*family).map(String::as_str),
            Some(*kind),
            "{family} in\n{}",
            m.text
        );
    }
}

#[tokio::test]
async fn metrics_count_http_requests_by_route_method_and_status() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    let (status, _, _) = send(gw, chat(&env.api_key, false)).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..2 {
        let (status, _, _) = send(gw, get("/api/v1/models")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = send(gw, get("/no/such/route")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = send(gw, get("/api/v1/keys/some-hash")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let m = scrape(gw).await;
    assert_families(&m, HTTP_FAMILIES);
    let requests = "tollgate_http_requests_total";
    let chat_route = ("route", "/api/v1/chat/completions");
    assert_eq!(
        m.value(
            requests,
            &[chat_route, ("method", "POST"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            requests,
            &[
                ("route", "/api/v1/models"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        2.0
    );
    // Unmatched paths share one label; a path parameter stays a template.
    assert_eq!(
        m.value(
            requests,
            &[("route", "unmatched"), ("method", "GET"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            requests,
            &[("route", "/api/v1/keys/{hash}"), ("status", "401")]
        ),
        1.0
    );
    assert!(!m.text.contains("some-hash") && !m.text.contains("/no/such/route"));
    assert_eq!(
        m.value(
            "tollgate_http_request_duration_seconds_count",
            &[chat_route]
        ),
        1.0
    );
    assert!(m.value("tollgate_http_request_duration_seconds_sum", &[chat_route]) > 0.0);
    // The scrape being answered is the one request in flight.
    assert_eq!(m.value("tollgate_http_requests_in_flight", &[]), 1.0);
    assert_eq!(m.value("tollgate_streams_in_flight", &[]), 0.0);
    assert_eq!(
        m.value(
            "tollgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Health is read at scrape time for every catalog endpoint.
    let alpha = [("model", "mock/echo"), ("provider", "mock-alpha")];
    assert_eq!(m.value("tollgate_endpoint_up", &alpha), 1.0);
    assert_eq!(m.value("tollgate_endpoint_status", &alpha), 0.0);

    // The first scrape is counted once it was answered.
    let m = scrape(gw).await;
    assert_eq!(
        m.value(
            requests,
            &[("route", "/metrics"), ("method", "GET"), ("status", "200")]
        ),
        1.0
    );
}

/// A demo endpoint renamed, so that no real request of the test's gateway
/// records into its series.
fn simulated(provider: &str) -> CatalogEndpoint {
    let catalog = Catalog::build(demo::listings().unwrap()).unwrap();
    let mut ep = catalog.models()[0].endpoints[0].clone();
    ep.model = String::from("test/simulated");
    ep.provider = provider.to_string();
    ep
}

fn failure(status: u16) -> ProviderError {
    ProviderError::new(
        "sim",
        "Sim",
        ErrorKind::Status { status },
        "simulated failure",
    )
}

#[tokio::test]
async fn metrics_carry_pipeline_series_per_model_and_provider() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    // A real request: the HTTP series, and a health record for the
    // endpoint that served it (`tollgate_endpoint_uptime_ratio`).
    let (status, _, _) = send(gw, chat(&env.api_key, false)).await;
    assert_eq!(status, StatusCode::OK);
    let (a, b) = (simulated("sim-a"), simulated("sim-b"));
    let metrics = gw.metrics();
    // What the pipeline reports for: a fails with a 503, the gateway fails
    // over to b, which answers a stream; later a is rate limited, and a
    // second stream from b is cancelled by its client.
    metrics.attempt_failed(&a, &failure(503));
    metrics.fallback(&a);
    metrics.attempt_succeeded(&b, Duration::from_millis(120));
    let usage = Usage::new(10, 5);
    metrics.finished(&Finished {
        endpoint: &b,
        ending: Ending::Succeeded,
        usage: Some(&usage),
        cost: Decimal::new(15, 4),
        ttft: Some(Duration::from_millis(80)),
        duration: Duration::from_millis(300),
    });
    metrics.attempt_failed(&a, &failure(429));
    metrics.attempt_succeeded(&b, Duration::from_millis(30));
    metrics.finished(&Finished {
        endpoint: &b,
        ending: Ending::Cancelled,
        usage: Some(&usage),
        cost: Decimal::new(15, 4),
        ttft: Some(Duration::from_millis(20)),
        duration: Duration::from_secs(2),
    });

    let m = scrape(gw).await;
    assert_families(&m, HTTP_FAMILIES);
    assert_families(&m, PIPELINE_FAMILIES);
    let model = ("model", "test/simulated");
    let (sim_a, sim_b) = (("provider", "sim-a"), ("provider", "sim-b"));
    let attempts = "tollgate_upstream_attempts_total";
    assert_eq!(
        m.value(attempts, &[model, sim_a, ("outcome", "server_error")]),
        1.0
    );
    assert_eq!(
        m.value(attempts, &[model, sim_a, ("outcome", "rate_limited")]),
        1.0
    );
    assert_eq!(
        m.sum(attempts, &[model, sim_a, ("outcome", "ok")]),
        Some(0.0)
    );
    assert_eq!(m.value(attempts, &[model, sim_b, ("outcome", "ok")]), 2.0);
    assert_eq!(m.value(attempts, &[model, sim_b]), 2.0, "no failure at b");
    assert_eq!(m.value("tollgate_fallbacks_total", &[model, sim_a]), 1.0);
    assert_eq!(m.sum("tollgate_fallbacks_total", &[model, sim_b]), None);

    let latency = "tollgate_upstream_latency_seconds_bucket";
    assert_eq!(m.value(latency, &[model, sim_b, ("le", "0.025")]), 0.0);
    assert_eq!(m.value(latency, &[model, sim_b, ("le", "0.05")]), 1.0);
    assert_eq!(m.value(latency, &[model, sim_b, ("le", "0.25")]), 2.0);
    let generations = "tollgate_generations_total";
    assert_eq!(
        m.value(generations, &[model, sim_b, ("ending", "succeeded")]),
        1.0
    );
    assert_eq!(
        m.value(generations, &[model, sim_b, ("ending", "cancelled")]),
        1.0
    );
    assert_eq!(
        m.value(
            "tollgate_time_to_first_token_seconds_count",
            &[model, sim_b]
        ),
        2.0
    );
    assert_eq!(
        m.value(
            "tollgate_generation_duration_seconds_bucket",
            &[model, sim_b, ("le", "0.5")]
        ),
        1.0
    );
    let tokens = "tollgate_tokens_total";
    assert_eq!(m.value(tokens, &[model, sim_b, ("kind", "prompt")]), 20.0);
    assert_eq!(
        m.value(tokens, &[model, sim_b, ("kind", "completion")]),
        10.0
    );
    let cost = m.value("tollgate_cost_usd_total", &[model, sim_b]);
    assert!((cost - 0.003).abs() < 1e-12, "{cost}");
}

#[tokio::test]
async fn each_gateway_has_its_own_registry() {
    let _serial = SERIAL.lock().await;
    let (one, two) = (dev().await, dev().await);
    for _ in 0..3 {
        send(&one.gateway, get("/api/v1/models")).await;
    }
    one.gateway.metrics().fallback(&simulated("sim-a"));

    let route = [("route", "/api/v1/models")];
    let m = scrape(&one.gateway).await;
    assert_eq!(m.value("tollgate_http_requests_total", &route), 3.0);
    assert_eq!(m.value("tollgate_fallbacks_total", &[]), 1.0);
    let m = scrape(&two.gateway).await;
    assert_eq!(m.sum("tollgate_http_requests_total", &route), None);
    assert_eq!(m.sum("tollgate_fallbacks_total", &[]), None);
}

#[tokio::test]
async fn a_stream_is_in_flight_until_its_body_ends() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    let response = gw.router().oneshot(chat(&env.api_key, true)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/event-stream"
    );
    assert_generated(request_id(response.headers()));
    let m = scrape(gw).await;
    assert_eq!(m.value("tollgate_streams_in_flight", &[]), 1.0);

    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(body.ends_with(b"data: [DONE]\n\n"));
    let m = scrape(gw).await;
    assert_eq!(m.value("tollgate_streams_in_flight", &[]), 0.0);
    // The request counts when its head is sent, not when its stream ends.
    assert_eq!(
        m.value(
            "tollgate_http_requests_total",
            &[("route", "/api/v1/chat/completions"), ("status", "200")]
        ),
        1.0
    );
}

// ---------------------------------------------------------------------------
// x-request-id

#[tokio::test]
async fn a_sane_client_request_id_is_echoed() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    for (request, id) in [
        (chat(&env.api_key, false), "client-req-42"),
        (
            get("/api/v1/models"),
            "550e8400-e29b-41d4-a716-446655440000",
        ),
        (get("/no/such/route"), "svc:trace/span@host_1.2+x="),
    ] {
        let request = with_request_id(request, HeaderValue::from_static(id));
        let (_, headers, _) = send(gw, request).await;
        assert_eq!(request_id(&headers), id);
        assert_eq!(headers.get_all("x-request-id").iter().count(), 1);
    }
    let longest = "a".repeat(observe::request_id::MAX_LEN);
    let request = with_request_id(get("/health"), HeaderValue::from_str(&longest).unwrap());
    let (_, headers, _) = send(gw, request).await;
    assert_eq!(request_id(&headers), longest);
}

#[tokio::test]
async fn an_absurd_client_request_id_is_replaced() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    let too_long = "a".repeat(observe::request_id::MAX_LEN + 1);
    for sent in [
        HeaderValue::from_str(&too_long).unwrap(),
        HeaderValue::from_static("has spaces"),
        HeaderValue::from_static("<script>alert(1)</script>"),
        HeaderValue::from_static("quo\"te;semi"),
        HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        HeaderValue::from_static(""),
    ] {
        let request = with_request_id(chat(&env.api_key, false), sent.clone());
        let (status, headers, _) = send(gw, request).await;
        assert_eq!(status, StatusCode::OK, "the request itself is served");
        let id = request_id(&headers);
        assert_ne!(id.as_bytes(), sent.as_bytes());
        assert_generated(id);
    }
}

#[tokio::test]
async fn a_missing_request_id_is_generated_fresh_each_time() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    let (_, first, _) = send(gw, get("/api/v1/models")).await;
    let (_, second, _) = send(gw, get("/metrics")).await;
    let (_, third, _) = send(gw, chat("sk-not-a-key", false)).await;
    let ids = [request_id(&first), request_id(&second), request_id(&third)];
    for id in ids {
        assert_generated(id);
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
}

// ---------------------------------------------------------------------------
// The request span

/// A log sink shared with the subscriber.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Sink;

    fn make_writer(&'a self) -> Sink {
        self.clone()
    }
}

#[tokio::test]
async fn log_lines_of_a_request_carry_its_span() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let sink = Sink::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(sink.clone())
        .finish();
    // The test runtime is single-threaded: the handler runs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsite interest is cached process-wide: a test on another thread
    // that logged first, with no subscriber, may have cached "never" for
    // the access line. Recompute it now that this subscriber exists.
    tracing::callsite::rebuild_interest_cache();
    let request = with_request_id(
        get("/api/v1/models"),
        HeaderValue::from_static("span-check-1"),
    );
    let (status, _, _) = send(&env.gateway, request).await;
    assert_eq!(status, StatusCode::OK);

    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let answered: serde_json::Value = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["target"] == "tollgate::access")
        .unwrap_or_else(|| panic!("no access line in\n{logs}"));
    assert_eq!(answered["level"], "INFO");
    assert_eq!(answered["fields"]["message"], "request");
    assert_eq!(answered["fields"]["status"], 200);
    assert_eq!(answered["fields"]["path"], "/api/v1/models");
    let span = &answered["span"];
    assert_eq!(span["name"], "request");
    assert_eq!(span["request_id"], "span-check-1");
    assert_eq!(span["route"], "/api/v1/models");
    assert_eq!(span["method"], "GET");
}

// ---------------------------------------------------------------------------
// The pipeline's own reporting

/// Real requests count per model and provider, and the generation record
/// keeps the request id.
#[tokio::test]
async fn real_requests_report_attempts_generations_and_request_ids() {
    let _serial = SERIAL.lock().await;
    let env = dev().await;
    let gw = &env.gateway;
    let request = with_request_id(
        chat(&env.api_key, false),
        HeaderValue::from_static("record-me-1"),
    );
    let (status, headers, _) = send(gw, request).await;
    assert_eq!(status, StatusCode::OK);
    let generation = headers
        .get("x-generation-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (status, _, _) = send(gw, chat(&env.api_key, true)).await;
    assert_eq!(status, StatusCode::OK);

    let m = scrape(gw).await;
    let model = ("model", "mock/echo");
    assert_eq!(
        m.value(
            "tollgate_upstream_attempts_total",
            &[model, ("outcome", "ok")]
        ),
        2.0
    );
    assert_eq!(
        m.value("tollgate_upstream_latency_seconds_count", &[model]),
        2.0
    );
    assert_eq!(
        m.value(
            "tollgate_generations_total",
            &[model, ("ending", "succeeded")]
        ),
        2.0
    );
    assert_eq!(
        m.value("tollgate_time_to_first_token_seconds_count", &[model]),
        1.0,
        "only the stream has a first token apart from its answer"
    );
    assert!(m.value("tollgate_tokens_total", &[model, ("kind", "prompt")]) > 0.0);
    assert!(m.value("tollgate_cost_usd_total", &[model]) > 0.0);

    // Settlements and records are written behind the answers: once the
    // books are synced, both generations' settlement and record (four
    // writes) are committed and nothing waits.
    gw.sync_books().await;
    let m = scrape(gw).await;
    assert_eq!(m.value("tollgate_books_writes_total", &[]), 4.0);
    assert_eq!(m.value("tollgate_books_queued", &[]), 0.0);
    assert_eq!(m.value("tollgate_books_write_failures_total", &[]), 0.0);
    assert!(m.value("tollgate_books_batch_size_count", &[]) >= 1.0);

    // The record is written off the response path: wait for it.
    let lookup = || {
        Request::get(format!("/api/v1/generation?id={generation}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", env.api_key))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..100 {
        let (status, _, body) = send(gw, lookup()).await;
        if status == StatusCode::OK {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["data"]["request_id"], "record-me-1");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("generation {generation} was never recorded");
}
