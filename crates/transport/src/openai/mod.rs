//! The OpenAI-compatible dialect: OpenAI itself and the many servers that
//! copy its API (vLLM, Together, DeepInfra, Groq, Fireworks, llama.cpp,
//! Ollama, another OpenRouter-compatible gateway, ...).
//!
//! This module does the HTTP; [`translate`] holds the pure translations and
//! the list of what is sent upstream.

pub(crate) mod stream;
pub mod translate;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use tollgate_schema::chat::ChatCompletion;
use tollgate_schema::completions::TextCompletion;
use tollgate_schema::embeddings::EmbeddingResponse;
use tollgate_schema::listing::ProviderListing;

use self::stream::{BodyError, StreamContext};
use crate::error::{ErrorKind, ProviderError};
use crate::http::{self, HttpClient};
use crate::provider::{ChatCall, ChunkStream, CompletionCall, EmbedCall, Provider};
use crate::settings::ProviderSettings;

/// Most bytes of an error body read from a failed stream request.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Where chat completions go, under `base_url`.
const CHAT_PATH: &str = "/chat/completions";

/// An adapter for an OpenAI-compatible API at `settings.base_url`.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    settings: ProviderSettings,
    client: HttpClient,
    /// `base_url` without its trailing `/`.
    base: String,
    /// The chat completions URL, parsed once (parsing it per call was 4% of
    /// a request's CPU).
    chat_url: Option<(String, reqwest::Url)>,
}

/// The key a call uses and whether it is the caller's own.
struct Auth<'a> {
    key: Option<&'a str>,
    byok: bool,
}

impl OpenAiProvider {
    /// An adapter using `client` (shared by every provider).
    pub fn new(settings: ProviderSettings, client: HttpClient) -> Self {
        let base = settings.base_url.trim_end_matches('/').to_string();
        let chat = format!("{base}{CHAT_PATH}");
        let chat_url = reqwest::Url::parse(&chat).ok().map(|url| (chat, url));
        OpenAiProvider {
            settings,
            client,
            base,
            chat_url,
        }
    }

    /// The provider's settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn auth<'a>(&'a self, call_key: Option<&'a str>) -> Auth<'a> {
        match call_key {
            Some(key) => Auth {
                key: Some(key),
                byok: true,
            },
            None => Auth {
                key: self.settings.api_key.as_deref(),
                byok: false,
            },
        }
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.settings.slug, &self.settings.name, kind, message)
    }

    /// Marks BYOK and scrubs the key from whatever the upstream echoed.
    fn seal(&self, err: ProviderError, auth: &Auth<'_>) -> ProviderError {
        let err = err.with_byok(auth.byok);
        match auth.key {
            Some(key) => err.redact(key),
            None => err,
        }
    }

    /// The total time a call may take: the shorter of its deadline and the
    /// provider's (or else the client's) total timeout.
    fn total_timeout(&self, deadline: Option<Duration>) -> Duration {
        let total = self
            .settings
            .timeout
            .unwrap_or(self.client.config().request_timeout);
        deadline.map_or(total, |d| d.min(total))
    }

    fn encode_error(&self, e: &serde_json::Error) -> ProviderError {
        self.error(
            ErrorKind::Unsupported,
            format!("the request cannot be encoded for this provider: {e}"),
        )
    }

    fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: &Auth<'_>,
    ) -> reqwest::RequestBuilder {
        let builder = match &self.chat_url {
            Some((text, parsed)) if text == url => {
                self.client.reqwest().request(method, parsed.clone())
            }
            _ => self.client.reqwest().request(method, url),
        };
        match auth.key {
            // `bearer_auth` marks the header sensitive, so it is never
            // printed by reqwest or hyper.
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    fn send_error(&self, e: &reqwest::Error, url: &str) -> ProviderError {
        self.error(http::send_error_kind(e), http::reason(e))
            .with_detail(format!("{}: {}", http::display_url(url), http::describe(e)))
    }

    /// Sends a request and reads the whole answer within `timeout`; a
    /// non-2xx answer is an error.
    async fn exchange(
        &self,
        builder: reqwest::RequestBuilder,
        url: &str,
        timeout: Duration,
        auth: &Auth<'_>,
    ) -> Result<Bytes, ProviderError> {
        tracing::debug!(provider = %self.settings.slug, url = http::display_url(url), "upstream call");
        let response = builder
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.seal(self.send_error(&e, url), auth))?;
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let body = http::read_body(response, self.client.config().max_response_bytes)
            .await
            .map_err(|e| {
                let (kind, message, detail) = e.describe(url);
                self.seal(self.error(kind, message).with_detail(detail), auth)
            })?;
        if !status.is_success() {
            let err = translate::error_from_status(
                &self.settings.slug,
                &self.settings.name,
                status.as_u16(),
                retry_after,
                &body,
            );
            return Err(self.seal(err, auth));
        }
        Ok(body)
    }

    /// A JSON `POST` to `path`, read whole within the call's time.
    async fn post_json(
        &self,
        path: &str,
        body: &Value,
        auth: &Auth<'_>,
        deadline: Option<Duration>,
    ) -> Result<Bytes, ProviderError> {
        let url = self.url(path);
        let bytes = serde_json::to_vec(body).map_err(|e| self.encode_error(&e))?;
        let builder = self
            .request(reqwest::Method::POST, &url, auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(bytes);
        self.exchange(builder, &url, self.total_timeout(deadline), auth)
            .await
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn slug(&self) -> &str {
        &self.settings.slug
    }

    fn name(&self) -> &str {
        &self.settings.name
    }

    fn dialect(&self) -> &'static str {
        "openai"
    }

    fn supported_parameters(&self) -> &'static [&'static str] {
        if self.settings.extended_sampling {
            translate::SUPPORTED_PARAMETERS_EXTENDED
        } else {
            translate::SUPPORTED_PARAMETERS
        }
    }

    async fn chat(&self, call: ChatCall) -> Result<ChatCompletion, ProviderError> {
        let body = translate::chat_body(
            &call.request,
            &call.upstream_model,
            false,
            self.settings.extended_sampling,
        )
        .map_err(|e| self.encode_error(&e))?;
        let auth = self.auth(call.api_key.as_deref());
        let body = self
            .post_json(CHAT_PATH, &body, &auth, call.deadline)
            .await?;
        let mut completion =
            translate::chat_completion(&self.settings.slug, &self.settings.name, &body)
                .map_err(|e| self.seal(e, &auth))?;
        if translate::excludes_reasoning(&call.request) {
            translate::strip_reasoning(&mut completion);
        }
        Ok(completion)
    }

    async fn chat_stream(&self, call: ChatCall) -> Result<ChunkStream, ProviderError> {
        // The JSON tree is dropped here, not held while the stream waits.
        let bytes = translate::chat_body(
            &call.request,
            &call.upstream_model,
            true,
            self.settings.extended_sampling,
        )
        .and_then(|body| serde_json::to_vec(&body))
        .map_err(|e| self.encode_error(&e))?;
        let auth = self.auth(call.api_key.as_deref());
        let url = self.url(CHAT_PATH);
        let builder = self
            .request(reqwest::Method::POST, &url, &auth)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(bytes);

        tracing::debug!(provider = %self.settings.slug, url = http::display_url(&url), "upstream stream");
        // No reqwest timeout here: it would bound the whole body. The head
        // gets the total timeout; the body, the idle read timeout.
        let head_timeout = self.total_timeout(call.deadline);
        let response = match tokio::time::timeout(head_timeout, builder.send()).await {
            Err(_elapsed) => {
                let message = format!("no response within {} s", head_timeout.as_secs_f64());
                let err = self
                    .error(ErrorKind::Timeout, message)
                    .with_detail(http::display_url(&url));
                return Err(self.seal(err, &auth));
            }
            Ok(Err(e)) => return Err(self.seal(self.send_error(&e, &url), &auth)),
            Ok(Ok(response)) => response,
        };

        let status = response.status();
        let idle = self.client.config().read_timeout;
        // An error body is small and comes at once; don't wait long for it.
        let error_body_wait = idle.min(Duration::from_secs(10));
        if !status.is_success() {
            let retry_after = http::retry_after(response.headers());
            let body = read_capped(response, error_body_wait).await;
            let err = translate::error_from_status(
                &self.settings.slug,
                &self.settings.name,
                status.as_u16(),
                retry_after,
                &body,
            );
            return Err(self.seal(err, &auth));
        }
        if !is_event_stream(response.headers()) {
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_string();
            let body = read_capped(response, error_body_wait).await;
            let up = translate::upstream_error(&body);
            let message = match up.message {
                Some(m) => m,
                None => format!("expected an event stream, got content type {content_type}"),
            };
            let mut err = self
                .error(ErrorKind::InvalidResponse, message)
                .with_upstream_code(up.code);
            if !body.is_empty() {
                err = err.with_raw(String::from_utf8_lossy(&body));
            }
            return Err(self.seal(err, &auth));
        }

        let body = response.bytes_stream().map(|item| {
            item.map_err(|e| {
                if e.is_timeout() {
                    BodyError::Timeout
                } else {
                    BodyError::Broken(http::describe(&e))
                }
            })
        });
        let chunks = stream::chunk_stream(
            body,
            StreamContext {
                slug: self.settings.slug.clone(),
                name: self.settings.name.clone(),
                idle_timeout: idle,
                byok: auth.byok,
                exclude_reasoning: translate::excludes_reasoning(&call.request),
            },
        );
        Ok(crate::redact::sealed_stream(chunks, auth.key))
    }

    async fn completion(&self, call: CompletionCall) -> Result<TextCompletion, ProviderError> {
        let body = translate::completion_body(
            &call.request,
            &call.upstream_model,
            self.settings.extended_sampling,
        )
        .map_err(|e| self.encode_error(&e))?;
        let auth = self.auth(call.api_key.as_deref());
        let body = self
            .post_json("/completions", &body, &auth, call.deadline)
            .await?;
        translate::text_completion(&self.settings.slug, &self.settings.name, &body)
            .map_err(|e| self.seal(e, &auth))
    }

    async fn embed(&self, call: EmbedCall) -> Result<EmbeddingResponse, ProviderError> {
        let body = translate::embedding_body(&call.request, &call.upstream_model)
            .map_err(|e| self.encode_error(&e))?;
        let auth = self.auth(call.api_key.as_deref());
        let body = self
            .post_json("/embeddings", &body, &auth, call.deadline)
            .await?;
        translate::embeddings(&self.settings.slug, &self.settings.name, &body)
            .map_err(|e| self.seal(e, &auth))
    }

    async fn list_models(&self) -> Result<ProviderListing, ProviderError> {
        let auth = self.auth(None);
        let url = self.url("/models");
        let builder = self
            .request(reqwest::Method::GET, &url, &auth)
            .header(ACCEPT, "application/json");
        let shown = http::display_url(&url);
        let shown = shown.as_str();
        let body = self
            .exchange(builder, &url, self.total_timeout(None), &auth)
            .await
            .map_err(|e| name_url(e, shown))?;
        translate::listing(&self.settings.slug, &self.settings.name, shown, &body)
            .map_err(|e| self.seal(e, &auth))
    }
}

/// Prefixes the message of a listing error with the URL, unless it has it.
fn name_url(err: ProviderError, url: &str) -> ProviderError {
    if err.message().contains(url) {
        return err;
    }
    let message = format!("GET {url}: {}", err.message());
    let mut out = ProviderError::new(
        err.provider_slug(),
        err.provider_name(),
        err.kind(),
        message,
    )
    .with_retry_after(err.retry_after())
    .with_upstream_code(err.upstream_code().map(str::to_owned))
    .with_byok(err.is_byok());
    if let Some(raw) = err.raw() {
        out = out.with_raw(raw);
    }
    out
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

/// Reads at most [`ERROR_BODY_LIMIT`] bytes of an answer we are about to
/// report as an error, giving up after `idle` of silence.
async fn read_capped(response: reqwest::Response, idle: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = response.bytes_stream();
    while out.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(chunk))) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    out.truncate(ERROR_BODY_LIMIT);
    out
}
