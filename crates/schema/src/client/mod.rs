//! A typed async client for any OpenRouter-compatible server (feature
//! `client`): Tollgate, or OpenRouter itself.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tollgate_schema::client::ClientError> {
//! use futures::StreamExt;
//! use tollgate_schema::chat::{ChatRequest, Message, Role};
//! use tollgate_schema::client::Client;
//!
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080/api/v1")
//!     .api_key("sk-tg-v1-...")
//!     .title("My app")
//!     .build()?;
//! let request = ChatRequest {
//!     model: Some("mock/echo".into()),
//!     messages: Some(vec![Message::text(Role::User, "Hello")]),
//!     ..ChatRequest::default()
//! };
//! let answer = client.chat(&request).await?;
//! println!("{:?}", answer.choices[0].message.content);
//!
//! let mut stream = client.chat_stream(&request).await?;
//! while let Some(chunk) = stream.next().await {
//!     for choice in chunk?.choices {
//!         print!("{}", choice.delta.content.unwrap_or_default());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Retries: connection failures, timeouts, 408, 429 and 5xx are retried
//! (default twice) with exponential backoff and jitter, honouring
//! `Retry-After` and `x-should-retry`; other 4xx never are, and a stream
//! is never retried once its answer has started.

mod error;
mod retry;
mod stream;
pub mod types;

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

pub use error::{ClientError, excerpt};
pub use retry::MAX_RETRY_AFTER;
pub use stream::{ChunkStream, CompletionStream, StreamChunk, TypedStream};

use self::retry::{Backoff, Verdict};
use self::types::{
    Account, ActivityQuery, ActivityRow, AuthKeysRequest, AuthKeysResponse, CreatedAccount,
    CreatedKey, Credits, CurrentKey, Data, Deleted, Generation, KeyInfo, KeyUpdate, ListKeys,
    NewKey, TopUp,
};
use crate::chat::{ChatCompletion, ChatRequest};
use crate::completions::{CompletionRequest, TextCompletion};
use crate::embeddings::{EmbeddingRequest, EmbeddingResponse};
use crate::models::{EndpointList, ModelList, ProviderList};
use crate::wire_error::{ErrorBody, ErrorResponse};

/// OpenRouter's API base URL, the default when only `OPENROUTER_API_KEY`
/// is set.
pub const OPENROUTER_BASE_URL: &str = "https://openrouter.ai/api/v1";

/// Retries after the first attempt, by default.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// A retry about to happen, for [`ClientBuilder::on_retry`].
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// Which retry this is (1 for the first).
    pub retry: u32,
    /// The most retries this call makes.
    pub max_retries: u32,
    /// How long the client waits before it.
    pub wait: Duration,
    /// Why: the failed attempt's HTTP status, or its transport error.
    pub reason: String,
}

/// A function told of each retry.
#[derive(Clone)]
struct OnRetry(std::sync::Arc<dyn Fn(&RetryNotice) + Send + Sync>);

impl std::fmt::Debug for OnRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnRetry")
    }
}

/// The client. Cheap to clone (it shares one connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    backoff: Backoff,
    /// The bound on each call, retries included.
    timeout: Option<Duration>,
    on_retry: Option<OnRetry>,
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: Option<String>,
    api_key: Option<String>,
    referer: Option<String>,
    title: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    backoff: Backoff,
    on_retry: Option<OnRetry>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: None,
            api_key: None,
            referer: None,
            title: None,
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            backoff: Backoff {
                max_retries: DEFAULT_MAX_RETRIES,
                initial: Duration::from_millis(500),
                max: Duration::from_secs(8),
            },
            on_retry: None,
        }
    }
}

impl ClientBuilder {
    /// The API base URL, including `/api/v1` (required).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API key, sent as `Authorization: Bearer ...`. Without one, no
    /// `Authorization` is sent (enough for `/models` and the PKCE
    /// exchange).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// `HTTP-Referer`: your app's URL (app attribution).
    pub fn referer(mut self, referer: impl Into<String>) -> Self {
        self.referer = Some(referer.into());
        self
    }

    /// `X-Title` (and `X-OpenRouter-Title`): your app's name.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// A bound on each call as a whole: every attempt, the waits between
    /// them and, for a stream, until its last byte. No retry is started
    /// that could not finish in time. Default: none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A bound on connecting. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries after the first attempt (default 2; 0 disables retries).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.backoff.max_retries = retries;
        self
    }

    /// Calls `f` before each retry (e.g. to tell a person waiting, or to
    /// count them for an error message).
    pub fn on_retry(mut self, f: impl Fn(&RetryNotice) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(OnRetry(std::sync::Arc::new(f)));
        self
    }

    /// The first backoff delay, doubled per retry up to `max` (defaults
    /// 500 ms and 8 s). Jitter takes up to a quarter off each delay.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff.initial = initial;
        self.backoff.max = max.max(initial);
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, ClientError> {
        let base = self
            .base_url
            .ok_or_else(|| ClientError::Config(String::from("no base URL given")))?;
        let base = base.trim().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| ClientError::Config(format!("invalid base URL `{base}`: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::Config(format!(
                "invalid base URL `{base}`: the scheme must be http or https"
            )));
        }
        let mut headers = HeaderMap::new();
        let value = |what: &str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| {
                ClientError::Config(format!(
                    "the {what} contains characters not allowed in a header"
                ))
            })
        };
        if let Some(key) = self.api_key.as_deref().map(str::trim)
            && !key.is_empty()
        {
            let mut auth = value("API key", &format!("Bearer {key}"))?;
            auth.set_sensitive(true);
            headers.insert(AUTHORIZATION, auth);
        }
        if let Some(referer) = &self.referer {
            headers.insert(
                HeaderName::from_static("http-referer"),
                value("referer", referer)?,
            );
        }
        if let Some(title) = &self.title {
            let v = value("title", title)?;
            headers.insert(HeaderName::from_static("x-title"), v.clone());
            headers.insert(HeaderName::from_static("x-openrouter-title"), v);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("tollgate-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.connect_timeout);
        let http = http
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Client {
            http,
            base,
            backoff: self.backoff,
            timeout: self.timeout,
            on_retry: self.on_retry,
        })
    }
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080/api/v1`)
    /// authenticating with `api_key`, with default settings.
    pub fn new(base_url: &str, api_key: &str) -> Result<Client, ClientError> {
        Client::builder()
            .base_url(base_url)
            .api_key(api_key)
            .build()
    }

    /// A builder: base URL, key, app headers, timeouts, retries.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A builder preset from the environment: `TOLLGATE_BASE_URL` and
    /// `TOLLGATE_API_KEY`; without `TOLLGATE_API_KEY`, `OPENROUTER_API_KEY`
    /// (then the base URL defaults to OpenRouter's).
    pub fn builder_from_env() -> Result<ClientBuilder, ClientError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let base = var("TOLLGATE_BASE_URL");
        let (key, default_base) = match (var("TOLLGATE_API_KEY"), var("OPENROUTER_API_KEY")) {
            (Some(k), _) => (Some(k), None),
            (None, Some(k)) => (Some(k), Some(OPENROUTER_BASE_URL)),
            (None, None) => (None, None),
        };
        let base = base.or(default_base.map(String::from)).ok_or_else(|| {
            ClientError::Config(String::from(
                "set TOLLGATE_BASE_URL (e.g. http://127.0.0.1:8080/api/v1) or OPENROUTER_API_KEY",
            ))
        })?;
        let mut builder = Client::builder().base_url(base);
        if let Some(key) = key {
            builder = builder.api_key(key);
        }
        Ok(builder)
    }

    /// A client configured from the environment (see
    /// [`builder_from_env`](Self::builder_from_env)).
    pub fn from_env() -> Result<Client, ClientError> {
        Client::builder_from_env()?.build()
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `method path` with an optional query and JSON body, retrying
    /// what may succeed on a second try; the successful response.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<&(dyn erased::Query + Sync)>,
        body: Option<&(dyn erased::Body + Sync)>,
        bearer: Option<&str>,
    ) -> Result<(reqwest::Response, String), ClientError> {
        // Admin calls (the only ones with their own bearer) are not
        // retried: a top-up or an account creation is not idempotent.
        let max_retries = if bearer.is_some() {
            0
        } else {
            self.backoff.max_retries
        };
        let url = self.url(path);
        let mut req = self.http.request(method, &url);
        if let Some(q) = query {
            req = q.apply(req);
        }
        if let Some(b) = body {
            req = b.apply(req);
        }
        if let Some(key) = bearer {
            req = req.bearer_auth(key);
        }
        let req = req.build().map_err(|cause| ClientError::Http {
            url: url.clone(),
            cause,
        })?;
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut retry = 0;
        loop {
            let mut attempt = req.try_clone().ok_or_else(|| {
                ClientError::Config(String::from("request body cannot be retried"))
            })?;
            if let Some(deadline) = deadline {
                // What is left of the call's time; at least a moment, so
                // that an expired deadline is reported as a timeout.
                let left = deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(Duration::from_millis(1));
                *attempt.timeout_mut() = Some(left);
            }
            let outcome = self.http.execute(attempt).await;
            // A retry that would start after the deadline cannot succeed:
            // then the last error is the answer.
            let fits =
                |wait: Duration| deadline.is_none_or(|d| tokio::time::Instant::now() + wait < d);
            let (wait, reason) = match outcome {
                Ok(resp) if resp.status().is_success() => return Ok((resp, url)),
                Ok(resp) => {
                    let verdict = retry::verdict(resp.status().as_u16(), resp.headers());
                    let wait = match verdict {
                        Verdict::After(d) => d,
                        _ => self.backoff.delay(retry),
                    };
                    if retry >= max_retries || verdict == Verdict::GiveUp || !fits(wait) {
                        return Err(api_error(resp).await);
                    }
                    (wait, format!("HTTP {}", resp.status()))
                }
                Err(cause) => {
                    let e = ClientError::Http {
                        url: url.clone(),
                        cause,
                    };
                    let wait = self.backoff.delay(retry);
                    if retry >= max_retries || !e.is_retryable() || !fits(wait) {
                        return Err(e);
                    }
                    (wait, e.to_string())
                }
            };
            if let Some(OnRetry(f)) = &self.on_retry {
                f(&RetryNotice {
                    retry: retry + 1,
                    max_retries,
                    wait,
                    reason,
                });
            }
            retry += 1;
            tokio::time::sleep(wait).await;
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&(dyn erased::Query + Sync)>,
        body: Option<&(dyn erased::Body + Sync)>,
    ) -> Result<T, ClientError> {
        self.json_as(method, path, query, body, None).await
    }

    async fn json_as<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&(dyn erased::Query + Sync)>,
        body: Option<&(dyn erased::Body + Sync)>,
        bearer: Option<&str>,
    ) -> Result<T, ClientError> {
        let (resp, url) = self.send(method, path, query, body, bearer).await?;
        let bytes = resp.bytes().await.map_err(|cause| ClientError::Http {
            url: url.clone(),
            cause,
        })?;
        crate::from_json_slice(&bytes).map_err(|e| ClientError::Decode {
            url,
            message: e.to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, None, None).await
    }

    // --- inference -------------------------------------------------------

    /// `POST /chat/completions`, not streamed.
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatCompletion, ClientError> {
        let mut body = request.clone();
        body.stream = Some(false);
        self.json(Method::POST, "/chat/completions", None, Some(&body))
            .await
    }

    /// `POST /chat/completions` with `stream: true`: chunks as they come.
    /// Retried only until the answer starts.
    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, ClientError> {
        let mut body = request.clone();
        body.stream = Some(true);
        let (resp, url) = self
            .send(Method::POST, "/chat/completions", None, Some(&body), None)
            .await?;
        Ok(stream::typed_stream(resp, url))
    }

    /// `POST /completions` (legacy text completions), not streamed.
    pub async fn completions(
        &self,
        request: &CompletionRequest,
    ) -> Result<TextCompletion, ClientError> {
        let mut body = request.clone();
        body.stream = Some(false);
        self.json(Method::POST, "/completions", None, Some(&body))
            .await
    }

    /// `POST /completions` with `stream: true`.
    pub async fn completions_stream(
        &self,
        request: &CompletionRequest,
    ) -> Result<CompletionStream, ClientError> {
        let mut body = request.clone();
        body.stream = Some(true);
        let (resp, url) = self
            .send(Method::POST, "/completions", None, Some(&body), None)
            .await?;
        Ok(stream::typed_stream(resp, url))
    }

    /// `POST /embeddings`.
    pub async fn embeddings(
        &self,
        request: &EmbeddingRequest,
    ) -> Result<EmbeddingResponse, ClientError> {
        self.json(Method::POST, "/embeddings", None, Some(request))
            .await
    }

    // --- catalog ---------------------------------------------------------

    /// `GET /models`.
    pub async fn models(&self) -> Result<ModelList, ClientError> {
        self.get("/models").await
    }

    /// `GET /models/{author}/{slug}/endpoints`.
    pub async fn endpoints(&self, model: &str) -> Result<EndpointList, ClientError> {
        let model = model.trim_matches('/');
        self.get(&format!("/models/{model}/endpoints")).await
    }

    /// `GET /providers`.
    pub async fn providers(&self) -> Result<ProviderList, ClientError> {
        self.get("/providers").await
    }

    // --- account ---------------------------------------------------------

    /// `GET /generation?id=`: one generation's record (404 until it is
    /// recorded, a moment after the answer ends).
    pub async fn generation(&self, id: &str) -> Result<Generation, ClientError> {
        let q = [("id", id)];
        let d: Data<Generation> = self
            .json(Method::GET, "/generation", Some(&q), None)
            .await?;
        Ok(d.data)
    }

    /// `GET /credits`.
    pub async fn credits(&self) -> Result<Credits, ClientError> {
        Ok(self.get::<Data<Credits>>("/credits").await?.data)
    }

    /// `GET /key`: the calling key's limit and usage.
    pub async fn key(&self) -> Result<CurrentKey, ClientError> {
        Ok(self.get::<Data<CurrentKey>>("/key").await?.data)
    }

    /// `GET /activity`: usage per day, model and provider.
    pub async fn activity(&self, query: &ActivityQuery) -> Result<Vec<ActivityRow>, ClientError> {
        let d: Data<Vec<ActivityRow>> = self
            .json(Method::GET, "/activity", Some(query), None)
            .await?;
        Ok(d.data)
    }

    // --- keys (provisioning key) -----------------------------------------

    /// `GET /keys` (provisioning key).
    pub async fn keys_list(&self, query: &ListKeys) -> Result<Vec<KeyInfo>, ClientError> {
        let d: Data<Vec<KeyInfo>> = self.json(Method::GET, "/keys", Some(query), None).await?;
        Ok(d.data)
    }

    /// `POST /keys` (provisioning key): the new key and its secret.
    pub async fn keys_create(&self, key: &NewKey) -> Result<CreatedKey, ClientError> {
        self.json(Method::POST, "/keys", None, Some(key)).await
    }

    /// `GET /keys/{hash}` (provisioning key).
    pub async fn keys_get(&self, hash: &str) -> Result<KeyInfo, ClientError> {
        Ok(self
            .get::<Data<KeyInfo>>(&format!("/keys/{hash}"))
            .await?
            .data)
    }

    /// `PATCH /keys/{hash}` (provisioning key).
    pub async fn keys_update(
        &self,
        hash: &str,
        update: &KeyUpdate,
    ) -> Result<KeyInfo, ClientError> {
        let d: Data<KeyInfo> = self
            .json(Method::PATCH, &format!("/keys/{hash}"), None, Some(update))
            .await?;
        Ok(d.data)
    }

    /// `DELETE /keys/{hash}` (provisioning key).
    pub async fn keys_delete(&self, hash: &str) -> Result<Deleted, ClientError> {
        self.json(Method::DELETE, &format!("/keys/{hash}"), None, None)
            .await
    }

    // --- OAuth PKCE ------------------------------------------------------

    /// `POST /auth/keys`: exchanges an OAuth PKCE code for an API key.
    /// Needs no key of its own.
    pub async fn auth_keys(
        &self,
        request: &AuthKeysRequest,
    ) -> Result<AuthKeysResponse, ClientError> {
        self.json(Method::POST, "/auth/keys", None, Some(request))
            .await
    }

    // --- Tollgate's admin API (admin key) --------------------------------

    /// `POST /admin/accounts`: a new account, with its first provisioning
    /// and inference keys. Tollgate only; `admin_key` is the operator's.
    pub async fn admin_create_account(
        &self,
        admin_key: &str,
        name: &str,
    ) -> Result<CreatedAccount, ClientError> {
        let body = serde_json::json!({ "name": name });
        self.json_as(
            Method::POST,
            "/admin/accounts",
            None,
            Some(&body),
            Some(admin_key),
        )
        .await
    }

    /// `GET /admin/accounts`. Tollgate only.
    pub async fn admin_accounts(&self, admin_key: &str) -> Result<Vec<Account>, ClientError> {
        let d: Data<Vec<Account>> = self
            .json_as(Method::GET, "/admin/accounts", None, None, Some(admin_key))
            .await?;
        Ok(d.data)
    }

    /// `GET /admin/accounts/{id}`, with its balance. Tollgate only.
    pub async fn admin_account(&self, admin_key: &str, id: &str) -> Result<Account, ClientError> {
        let d: Data<Account> = self
            .json_as(
                Method::GET,
                &format!("/admin/accounts/{id}"),
                None,
                None,
                Some(admin_key),
            )
            .await?;
        Ok(d.data)
    }

    /// `POST /admin/accounts/{id}/credits`: tops the account up by
    /// `amount` USD. Tollgate only. Not retried (a top-up is not
    /// idempotent).
    pub async fn admin_add_credits(
        &self,
        admin_key: &str,
        id: &str,
        amount: rust_decimal::Decimal,
        note: Option<&str>,
    ) -> Result<TopUp, ClientError> {
        let mut body = serde_json::json!({ "amount": amount.to_string() });
        if let Some(note) = note {
            body["note"] = serde_json::Value::from(note);
        }
        let d: Data<TopUp> = self
            .json_as(
                Method::POST,
                &format!("/admin/accounts/{id}/credits"),
                None,
                Some(&body),
                Some(admin_key),
            )
            .await?;
        Ok(d.data)
    }
}

/// The typed error of a non-2xx response: its `{"error": {...}}` body, or
/// (when the body is not one) its status and the start of its text.
async fn api_error(resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = match serde_json::from_str::<ErrorResponse>(&text) {
        Ok(e) => e.error,
        Err(_) => {
            let text = text.trim();
            let message = if text.is_empty() {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_string()
            } else {
                excerpt(text, 200)
            };
            ErrorBody::new(status, message)
        }
    };
    ClientError::Api { status, body }
}

/// Object-safe wrappers over `Serialize`, so that `send` is not generic
/// (one copy of the retry loop).
mod erased {
    use serde::Serialize;

    pub(super) trait Query {
        fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    }

    impl<T: Serialize + ?Sized> Query for T {
        fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
            req.query(self)
        }
    }

    pub(super) trait Body {
        fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    }

    impl<T: Serialize + ?Sized> Body for T {
        fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
            req.json(self)
        }
    }
}
