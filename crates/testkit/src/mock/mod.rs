//! Mock upstream model providers.
//!
//! A mock is a [`MockState`] (configuration plus what it has seen) served by
//! the router of one wire dialect. [`MockServer`] runs it on a socket;
//! [`MockServer::router`] gives the bare router for mounting in-process.

pub mod anthropic;
pub mod behaviour;
mod common;
mod conn;
pub mod gemini;
pub mod openai;
mod server;
mod stream;

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use serde_json::Value;

use crate::Error;

pub use server::{MockHandle, MockServer, SHUTDOWN_GRACE};

/// How a mock fails on purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer every request with this status and an error body in the
    /// dialect's shape (OpenAI and Anthropic: 429, 503 and 529 also carry
    /// `retry-after: 1`; Gemini: 429 carries a `RetryInfo` detail). A code
    /// outside 100..=999 is answered with 500.
    Status(u16),
    /// Never answer: the request hangs until the client gives up.
    Timeout,
    /// Streams: close the connection abruptly after this many content
    /// chunks, without the end marker. Non-streamed requests: close the
    /// connection without a response.
    DropStreamAfter(usize),
}

/// The wire dialect a mock speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// OpenAI Chat Completions (`/v1/chat/completions` and friends).
    #[default]
    OpenAi,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini (`/v1beta/models/{model}:generateContent` and friends).
    Gemini,
}

impl Dialect {
    /// Every dialect, in a fixed order.
    pub const ALL: [Dialect; 3] = [Self::OpenAi, Self::Anthropic, Self::Gemini];

    /// The dialect's name as used in configuration: `openai`, `anthropic`
    /// or `gemini`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// The path prefix of the dialect's API, which [`MockHandle::base_url`]
    /// ends with: `/v1` (OpenAI and Anthropic) or `/v1beta` (Gemini).
    pub fn base_path(self) -> &'static str {
        match self {
            Self::OpenAi | Self::Anthropic => "/v1",
            Self::Gemini => "/v1beta",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| Error::UnknownDialect(s.to_owned()))
    }
}

/// Configuration of a mock provider. Everything can be changed at run time
/// through [`MockHandle::set_config`] or [`MockState::set_config`].
#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    /// A name for logs; also sent back in the `x-mock-provider` response
    /// header so tests can tell which mock answered.
    pub name: String,
    /// The wire dialect.
    pub dialect: Dialect,
    /// Delay before the response headers.
    pub latency: Duration,
    /// Delay before the first content chunk of a stream.
    pub ttft: Duration,
    /// Streaming speed; `None` streams as fast as possible.
    pub tokens_per_second: Option<f64>,
    /// A failure to inject into every request.
    pub failure: Option<Failure>,
    /// If set, requests must present this key, in the dialect's way
    /// (OpenAI: `Authorization: Bearer <key>`, 401 without; Anthropic:
    /// `x-api-key`, 401 without; Gemini: `x-goog-api-key` or `?key=`, 403
    /// without and 400 `API_KEY_INVALID` when wrong).
    pub api_key: Option<String>,
    /// The models served. Empty: any model is accepted, and the model list
    /// shows the models asked about so far.
    pub models: Vec<String>,
    /// How many requests [`MockState::requests`] keeps (the oldest are
    /// forgotten first); [`MockState::request_count`] counts them all.
    pub max_recorded_requests: usize,
    /// The context window, in prompt tokens: a chat request whose prompt
    /// is longer gets the dialect's context-length error (OpenAI: 400
    /// `invalid_request_error`, `code: "context_length_exceeded"`, `param:
    /// "messages"`). `None`: no limit.
    pub context_length: Option<u32>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            name: "mock".to_owned(),
            dialect: Dialect::OpenAi,
            latency: Duration::ZERO,
            ttft: Duration::ZERO,
            tokens_per_second: None,
            failure: None,
            api_key: None,
            models: Vec::new(),
            max_recorded_requests: 10_000,
            context_length: None,
        }
    }
}

/// A request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path as the mock router saw it, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The request headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON; `Null` when empty, a JSON string holding the
    /// (lossily decoded) text when it is not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The value of header `name` (case-insensitive), if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The shared state of one mock: its configuration and what it has seen.
/// Cheap to clone; clones share everything.
#[derive(Clone, Debug)]
pub struct MockState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: RwLock<MockConfig>,
    requests: Mutex<VecDeque<RecordedRequest>>,
    request_count: AtomicUsize,
    cancelled_streams: AtomicUsize,
    completed_streams: AtomicUsize,
    dropped_streams: AtomicUsize,
    seen_models: Mutex<Vec<String>>,
    sequence: AtomicU64,
    prompt_cache: Mutex<HashSet<[u8; 32]>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MockState {
    /// A fresh mock with this configuration.
    pub fn new(config: MockConfig) -> Self {
        Self {
            inner: Arc::new(Shared {
                config: RwLock::new(config),
                requests: Mutex::new(VecDeque::new()),
                request_count: AtomicUsize::new(0),
                cancelled_streams: AtomicUsize::new(0),
                completed_streams: AtomicUsize::new(0),
                dropped_streams: AtomicUsize::new(0),
                seen_models: Mutex::new(Vec::new()),
                sequence: AtomicU64::new(0),
                prompt_cache: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// A snapshot of the configuration.
    pub fn config(&self) -> MockConfig {
        self.inner
            .config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the configuration; requests already running keep the one
    /// they started with.
    pub fn set_config(&self, config: MockConfig) {
        *self
            .inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config;
    }

    /// Sets or clears the injected failure.
    pub fn set_failure(&self, failure: Option<Failure>) {
        self.inner
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .failure = failure;
    }

    /// The requests received, oldest first (at most
    /// [`MockConfig::max_recorded_requests`] of them).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).iter().cloned().collect()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.inner.requests).back().cloned()
    }

    /// Forgets the recorded requests (the counters keep counting).
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }

    /// How many requests were received in all.
    pub fn request_count(&self) -> usize {
        self.inner.request_count.load(Ordering::SeqCst)
    }

    /// How many streams the client abandoned before the end (the mock
    /// stopped generating when it noticed).
    pub fn cancelled_streams(&self) -> usize {
        self.inner.cancelled_streams.load(Ordering::SeqCst)
    }

    /// How many streams were sent to the end.
    pub fn completed_streams(&self) -> usize {
        self.inner.completed_streams.load(Ordering::SeqCst)
    }

    /// How many streams the mock dropped on purpose (drop failures).
    pub fn dropped_streams(&self) -> usize {
        self.inner.dropped_streams.load(Ordering::SeqCst)
    }

    /// Forgets every cached prompt prefix (Anthropic `cache_control`), so
    /// the next request writes the cache again.
    pub fn clear_prompt_cache(&self) {
        lock(&self.inner.prompt_cache).clear();
    }

    /// Whether a prompt prefix with this key was cached by an earlier
    /// request.
    pub(crate) fn is_cached(&self, key: &[u8; 32]) -> bool {
        lock(&self.inner.prompt_cache).contains(key)
    }

    /// Caches prompt prefixes.
    pub(crate) fn cache_prefixes(&self, keys: impl IntoIterator<Item = [u8; 32]>) {
        lock(&self.inner.prompt_cache).extend(keys);
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.inner.request_count.fetch_add(1, Ordering::SeqCst);
        let max = self.config().max_recorded_requests;
        let mut requests = lock(&self.inner.requests);
        requests.push_back(request);
        while requests.len() > max {
            requests.pop_front();
        }
    }

    /// Remembers a model asked about, for the model list of a mock without
    /// a fixed one.
    pub(crate) fn note_model(&self, model: &str) {
        let mut seen = lock(&self.inner.seen_models);
        if !seen.iter().any(|m| m == model) {
            seen.push(model.to_owned());
        }
    }

    /// The models to list: the configured ones, else those asked about.
    pub(crate) fn listed_models(&self) -> Vec<String> {
        let configured = self.config().models;
        if configured.is_empty() {
            lock(&self.inner.seen_models).clone()
        } else {
            configured
        }
    }

    /// A number unique to this mock, for response ids.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.inner.sequence.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn stream_cancelled(&self) {
        self.inner.cancelled_streams.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn stream_completed(&self) {
        self.inner.completed_streams.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn stream_dropped(&self) {
        self.inner.dropped_streams.fetch_add(1, Ordering::SeqCst);
    }
}
