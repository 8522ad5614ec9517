//! A gateway under test: three mock providers, the demo catalog pointed at
//! them, a temporary SQLite store with one key, the router for `oneshot`
//! calls and the same gateway served on a real socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
pub(crate) use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tollgate_catalog::{Catalog, demo};
use tollgate_gateway::{Config, Gateway};
use tollgate_store::{KeyKind, NewApiKey, Store};
pub(crate) use tollgate_testkit::{
    Dialect as MockDialect, Failure, MockConfig, MockHandle, MockServer,
};
use tower::ServiceExt as _;

/// The keep-alive comment the gateway sends while a stream is opening.
pub(crate) const KEEPALIVE: &str = ": OPENROUTER PROCESSING";

/// How the gateway under test is set up.
pub(crate) struct Options {
    /// `server.stream_keepalive_secs`.
    pub(crate) keepalive_secs: f64,
    /// `server.max_body_bytes`.
    pub(crate) max_body_bytes: usize,
    /// The mocks behind `mock-alpha`, `mock-beta` and `mock-gamma`, in that
    /// order (their names are set to the providers' display names).
    pub(crate) mocks: [MockConfig; 3],
    /// Credits (USD) the test account is topped up with; `None` leaves it
    /// empty.
    pub(crate) credits: Option<rust_decimal::Decimal>,
    /// The routing policy. The default pins routing to cheapest-first (a
    /// price exponent so high that Mock Alpha is always drawn first), so
    /// tests of other behaviour know which provider answers; routing tests
    /// set the real policy.
    pub(crate) routing: tollgate_routing::Policy,
    /// `TOLLGATE_SECRET_KEY` equivalent: enables BYOK.
    pub(crate) byok_secret: Option<&'static str>,
    /// `server.failover_budget_secs`.
    pub(crate) failover_budget_secs: f64,
    /// `[billing]`: holds in memory (the SQLite default) or in the
    /// database, replies waiting for their commit or not.
    pub(crate) billing: tollgate_gateway::config::BillingConfig,
    /// A fresh PostgreSQL database instead of SQLite.
    pub(crate) postgres: bool,
    /// `rate_limits.surge_per_second` (0, off, by default: tests send
    /// hundreds of requests a second).
    pub(crate) surge_per_second: u64,
    /// `rate_limits.requests_per_second_per_credit` (0, off, by default,
    /// for the same reason).
    pub(crate) credit_rate: u64,
    /// Where `mock-alpha` is called instead of its mock (a hand-written
    /// upstream, or a closed port).
    pub(crate) alpha_base_url: Option<String>,
    /// `server.cors_allowed_origins` and `server.cors_allow_credentials`;
    /// `None` keeps the defaults (any origin, no credentials).
    pub(crate) cors: Option<(Vec<String>, bool)>,
    /// `[search]` (web search off by default).
    pub(crate) search: Option<tollgate_gateway::search::SearchConfig>,
    /// `[moderation]`; when set, Mock Alpha also serves the moderated
    /// `mock/moderated` (`demo::listings_with_moderated`).
    pub(crate) moderation: Option<tollgate_gateway::config::ModerationConfig>,
    /// `[dashboard] enabled` (true, the default).
    pub(crate) dashboard: bool,
    /// `[dashboard] path` (`/`, the default).
    pub(crate) dashboard_path: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keepalive_secs: 2.0,
            max_body_bytes: 64 * 1024,
            mocks: Default::default(),
            credits: Some(rust_decimal::Decimal::from(10)),
            routing: tollgate_routing::Policy {
                price_exponent: 60.0,
                ..tollgate_routing::Policy::default()
            },
            byok_secret: None,
            failover_budget_secs: 120.0,
            billing: Default::default(),
            postgres: false,
            surge_per_second: 0,
            credit_rate: 0,
            alpha_base_url: None,
            cors: None,
            search: None,
            moderation: None,
            dashboard: true,
            dashboard_path: "/",
        }
    }
}

/// A running gateway with its mocks. Dropping it stops the server and the
/// mocks and deletes the database.
pub(crate) struct TestGateway {
    /// `http://127.0.0.1:PORT` of the served gateway.
    pub(crate) url: String,
    /// An enabled inference key.
    pub(crate) key: String,
    /// `mock-alpha` ("Mock Alpha"), the first endpoint of `mock/echo`.
    pub(crate) alpha: MockHandle,
    /// `mock-beta` ("Mock Beta"), the second.
    pub(crate) beta: MockHandle,
    /// `mock-gamma` ("Mock Gamma"), the third.
    pub(crate) gamma: MockHandle,
    /// `mock-anthropic`, serving `mock/echo-anthropic` in the Anthropic dialect.
    pub(crate) anthropic: MockHandle,
    /// `mock-gemini`, serving `mock/echo-gemini` in the Gemini dialect.
    pub(crate) gemini: MockHandle,
    pub(crate) gateway: Gateway,
    pub(crate) account_id: String,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: TempDir,
    _postgres: Option<tollgate_store::testing::TempPostgres>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body text if it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) async fn start() -> TestGateway {
    start_with(Options::default()).await
}

pub(crate) async fn start_with(options: Options) -> TestGateway {
    let dir = tempfile::Builder::new()
        .prefix("tollgate-gateway-test-")
        .tempdir()
        .unwrap();
    let mut pairs = if options.moderation.is_some() {
        demo::listings_with_moderated().unwrap()
    } else {
        demo::listings().unwrap()
    };
    assert_eq!(
        pairs.len(),
        5,
        "the demo catalog has three OpenAI-dialect providers, one Anthropic, one Gemini"
    );
    let mut mocks = Vec::new();
    for ((provider, _), mut config) in pairs.iter_mut().zip(options.mocks) {
        config.name = provider.name.clone();
        let mock = MockServer::start(config).await.unwrap();
        provider.base_url = mock.base_url();
        mocks.push(mock);
    }
    for ((provider, _), dialect) in pairs[3..]
        .iter_mut()
        .zip([MockDialect::Anthropic, MockDialect::Gemini])
    {
        let mock = MockServer::start(MockConfig {
            name: provider.name.clone(),
            dialect,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        provider.base_url = mock.base_url();
        mocks.push(mock);
    }
    if let Some(url) = &options.alpha_base_url {
        pairs[0].0.base_url.clone_from(url);
    }
    let providers = pairs.iter().map(|(p, _)| p.clone()).collect();
    let mut config = Config::parse("", Path::new("gateway-test"), PathBuf::new()).unwrap();
    config.providers = providers;
    config.server.stream_keepalive_secs = options.keepalive_secs;
    config.server.max_body_bytes = options.max_body_bytes;
    config.routing = options.routing;
    // Tests send hundreds of requests a second; the surge limit has its
    // own tests (tests/limits.rs).
    config.rate_limits.surge_per_second = options.surge_per_second;
    config.rate_limits.requests_per_second_per_credit = options.credit_rate;
    config.billing = options.billing.clone();
    config.server.failover_budget_secs = options.failover_budget_secs;
    config.moderation = options.moderation.clone();
    if let Some((origins, credentials)) = options.cors.clone() {
        config.server.cors_allowed_origins = origins;
        config.server.cors_allow_credentials = credentials;
    }
    if let Some(search) = options.search.clone() {
        config.search = search;
    }
    config.dashboard.enabled = options.dashboard;
    config.dashboard.path = options.dashboard_path.to_owned();
    config.server.byok_cipher = options
        .byok_secret
        .map(|s| tollgate_store::ByokCipher::from_secret(s).unwrap());
    let catalog = Catalog::build(pairs).unwrap();
    let (store, postgres) = if options.postgres {
        let pg = tollgate_store::testing::fresh_postgres().await.unwrap();
        (pg.store().await.unwrap(), Some(pg))
    } else {
        let db_url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        (Store::connect(&db_url).await.unwrap(), None)
    };
    let account = store.create_account("test").await.unwrap();
    if let Some(credits) = options.credits {
        store
            .top_up(&account.id, credits, Some("test credits"))
            .await
            .unwrap();
    }
    let (key, _) = store
        .create_api_key(
            &account.id,
            NewApiKey {
                label: String::from("test"),
                kind: KeyKind::Inference,
            },
        )
        .await
        .unwrap();
    let gateway = Gateway::from_parts(&config, catalog, store).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(tollgate_gateway::serve(listener, gateway.clone(), async {
        let _ = rx.await;
    }));

    let mut mocks = mocks.into_iter();
    let (alpha, beta, gamma, anthropic, gemini) = (
        mocks.next().unwrap(),
        mocks.next().unwrap(),
        mocks.next().unwrap(),
        mocks.next().unwrap(),
        mocks.next().unwrap(),
    );
    TestGateway {
        url,
        key,
        alpha,
        beta,
        gamma,
        anthropic,
        gemini,
        gateway,
        account_id: account.id,
        shutdown: Some(tx),
        _dir: dir,
        _postgres: postgres,
    }
}

impl TestGateway {
    /// The three mocks, in endpoint order.
    pub(crate) fn mocks(&self) -> [&MockHandle; 3] {
        [&self.alpha, &self.beta, &self.gamma]
    }

    /// How many requests each mock received, in endpoint order.
    pub(crate) fn request_counts(&self) -> [usize; 3] {
        self.mocks().map(MockHandle::request_count)
    }

    /// A new enabled key of the test account.
    pub(crate) async fn new_key(&self, label: &str) -> (String, String) {
        let (secret, key) = self
            .gateway
            .store()
            .create_api_key(
                &self.account_id,
                NewApiKey {
                    label: label.to_string(),
                    kind: KeyKind::Inference,
                },
            )
            .await
            .unwrap();
        (secret, key.hash)
    }

    /// Sends `request` through the router (no socket) and reads the answer.
    pub(crate) async fn oneshot(&self, request: Request<Body>) -> Reply {
        let response = self.gateway.router().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `POST path` with raw bytes and the test key, through the router.
    pub(crate) async fn post_raw(&self, path: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap();
        self.oneshot(request).await
    }

    /// `POST /api/v1/chat/completions` with `body` and the test key, through
    /// the router.
    pub(crate) async fn chat(&self, body: &Value) -> Reply {
        self.post_raw("/api/v1/chat/completions", body.to_string())
            .await
    }

    /// `GET path` without a key, through the router.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        self.oneshot(request).await
    }

    /// `POST /api/v1/chat/completions` over the socket; the response is
    /// returned as soon as its headers are in.
    pub(crate) async fn chat_http(&self, body: &Value) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/api/v1/chat/completions", self.url))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A chat request for `model` with one user message.
pub(crate) fn chat_body(model: &str, text: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": text }] })
}

/// The same request, streamed.
pub(crate) fn streamed(mut body: Value) -> Value {
    body["stream"] = json!(true);
    body
}

/// Asserts the seed's error shape
/// `{"error":{"code":<status>,"message":<string>,"metadata":{...}}}` with the
/// given status, and returns the `error` object.
pub(crate) fn assert_error(reply: &Reply, status: u16) -> Value {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "status; body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "error content-type: {content_type:?}"
    );
    let body = reply.json();
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("no `error` object: {body}"))
        .clone();
    assert_eq!(error["code"], json!(status), "error.code = status: {body}");
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error.message is a string: {body}"));
    assert!(!message.is_empty(), "error.message is empty: {body}");
    assert!(
        error["metadata"].is_object(),
        "error.metadata is an object: {body}"
    );
    error
}

/// One SSE event of a body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// A `:` comment line (without the colon's line prefix kept as is).
    Comment(String),
    /// A `data:` payload: one JSON chunk.
    Chunk(Value),
    /// `data: [DONE]`.
    Done,
}

/// Parses a complete SSE body, asserting the framing clients rely on
/// (WIRE-NOTES §5): events end with a blank line, each is a single comment
/// line or a single `data: ` line, and every data payload is `[DONE]` or a
/// JSON object (never empty).
pub(crate) fn parse_sse(body: &str) -> Vec<Event> {
    assert!(
        body.ends_with("\n\n"),
        "the body ends with a blank line: {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|block| {
            assert!(
                !block.contains('\n'),
                "one line per event: {block:?} in {body:?}"
            );
            if block.starts_with(':') {
                return Event::Comment(block.to_string());
            }
            let data = block
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("neither a comment nor data: {block:?}"));
            assert!(!data.trim().is_empty(), "an empty data event: {body:?}");
            if data == "[DONE]" {
                return Event::Done;
            }
            let value: Value = serde_json::from_str(data)
                .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data:?}"));
            assert!(value.is_object(), "data is a JSON object: {data}");
            Event::Chunk(value)
        })
        .collect()
}

/// The JSON chunks of parsed events, in order.
pub(crate) fn chunks(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Chunk(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// The content text of the chunks, concatenated.
pub(crate) fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
        .filter_map(|choice| choice["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

/// Polls `condition` every 20 ms for up to `limit`; true if it held.
pub(crate) async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
