//! The OpenAI-compatible dialect: OpenAI itself and the many servers that
//! copy its API (vLLM, Together, DeepInfra, Groq, Fireworks, llama.cpp,
//! Ollama, another OpenRouter-compatible gateway, ...).
//!
//! This module does the HTTP; [`translate`] holds the pure translations and
//! the list of what is sent upstream.

pub(crate) mod stream;
mod template;
pub mod translate;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use serde_json::Value;
use tollgate_schema::chat::ChatCompletion;
use tollgate_schema::completions::TextCompletion;
use tollgate_schema::embeddings::EmbeddingResponse;
use tollgate_schema::listing::ProviderListing;

use self::stream::StreamContext;
use crate::error::{ErrorKind, ProviderError};
use crate::h1;
use crate::http::{self, HttpClient, Post, Response, SendFailure};
use crate::provider::{ChatCall, ChunkStream, CompletionCall, EmbedCall, Provider};
use crate::settings::ProviderSettings;

/// Where chat completions go, under `base_url`.
const CHAT_PATH: &str = "/chat/completions";

/// An adapter for an OpenAI-compatible API at `settings.base_url`.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    settings: ProviderSettings,
    client: HttpClient,
    /// `base_url` without its trailing `/`.
    base: String,
    /// The chat completions URL.
    chat_url: String,
    /// ... parsed once for the hot path's client (parsing it per call was
    /// 4% of a request's CPU), when it can take it.
    chat_target: Option<h1::Target>,
    /// `Authorization` with the provider's own key, built once; `None`
    /// without a key or when the key cannot be sent in a header.
    key_header: Option<HeaderValue>,
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
        let chat_url = format!("{base}{CHAT_PATH}");
        let chat_target = h1::Target::parse(&chat_url);
        let key_header = settings.api_key.as_deref().and_then(http::bearer);
        OpenAiProvider {
            settings,
            client,
            base,
            chat_url,
            chat_target,
            key_header,
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

    /// The headers of a call: `Content-Type` (with a body), `Accept`, and
    /// the key.
    fn headers(
        &self,
        auth: &Auth<'_>,
        accept: &'static str,
        with_body: bool,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ProviderError> {
        let mut headers = Vec::with_capacity(3);
        if with_body {
            headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        }
        headers.push((ACCEPT, HeaderValue::from_static(accept)));
        if let Some(key) = auth.key {
            let value = match (&self.key_header, auth.byok) {
                (Some(own), false) => Some(own.clone()),
                _ => http::bearer(key),
            };
            let Some(value) = value else {
                let err = self.error(
                    ErrorKind::Status { status: 401 },
                    "the API key cannot be sent in an HTTP header",
                );
                return Err(self.seal(err, auth));
            };
            headers.push((AUTHORIZATION, value));
        }
        Ok(headers)
    }

    fn send_error(&self, e: SendFailure, url: &str) -> ProviderError {
        self.error(e.kind, e.reason).with_detail(format!(
            "{}: {}",
            http::display_url(url),
            e.detail
        ))
    }

    /// Reads a whole answer within `timeout`; a non-2xx answer is an
    /// error.
    async fn exchange(
        &self,
        send: impl Future<Output = Result<Response, SendFailure>>,
        url: &str,
        timeout: Duration,
        auth: &Auth<'_>,
    ) -> Result<Bytes, ProviderError> {
        tracing::debug!(provider = %self.settings.slug, url = http::display_url(url), "upstream call");
        let call = async {
            let response = send.await.map_err(|e| self.send_error(e, url))?;
            let status = response.status();
            let retry_after = http::retry_after(response.headers());
            let body = response
                .read_body(self.client.config().max_response_bytes)
                .await
                .map_err(|e| {
                    let (kind, message, detail) = e.describe(url);
                    self.error(kind, message).with_detail(detail)
                })?;
            if !(200..300).contains(&status) {
                return Err(translate::error_from_status(
                    &self.settings.slug,
                    &self.settings.name,
                    status,
                    retry_after,
                    &body,
                ));
            }
            Ok(body)
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result.map_err(|e| self.seal(e, auth)),
            Err(_elapsed) => {
                let err = self
                    .error(ErrorKind::Timeout, "timed out")
                    .with_detail(format!("{}: timed out", http::display_url(url)));
                Err(self.seal(err, auth))
            }
        }
    }

    /// A JSON `POST` to `path`, read whole within the call's time.
    async fn post_json(
        &self,
        path: &str,
        body: &Value,
        auth: &Auth<'_>,
        deadline: Option<Duration>,
    ) -> Result<Bytes, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.encode_error(&e))?;
        let (url, target) = if path == CHAT_PATH {
            (self.chat_url.clone(), self.chat_target.as_ref())
        } else {
            (self.url(path), None)
        };
        let headers = self.headers(auth, "application/json", true)?;
        let send = self.client.post(Post {
            url: &url,
            target,
            headers: &headers,
            body: bytes,
        });
        self.exchange(send, &url, self.total_timeout(deadline), auth)
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
        let url = self.chat_url.as_str();
        let headers = self.headers(&auth, "text/event-stream", true)?;
        let send = self.client.post(Post {
            url,
            target: self.chat_target.as_ref(),
            headers: &headers,
            body: bytes,
        });

        tracing::debug!(provider = %self.settings.slug, url = http::display_url(url), "upstream stream");
        // The head gets the total timeout; the body, the idle read timeout.
        let head_timeout = self.total_timeout(call.deadline);
        let response = match tokio::time::timeout(head_timeout, send).await {
            Err(_elapsed) => {
                let message = format!("no response within {} s", head_timeout.as_secs_f64());
                let err = self
                    .error(ErrorKind::Timeout, message)
                    .with_detail(http::display_url(url));
                return Err(self.seal(err, &auth));
            }
            Ok(Err(e)) => return Err(self.seal(self.send_error(e, url), &auth)),
            Ok(Ok(response)) => response,
        };

        let status = response.status();
        let idle = self.client.config().read_timeout;
        // An error body is small and comes at once; don't wait long for it.
        let error_body_wait = idle.min(Duration::from_secs(10));
        if !(200..300).contains(&status) {
            let retry_after = http::retry_after(response.headers());
            let body = response.read_capped(error_body_wait).await;
            let err = translate::error_from_status(
                &self.settings.slug,
                &self.settings.name,
                status,
                retry_after,
                &body,
            );
            return Err(self.seal(err, &auth));
        }
        if !response.is_event_stream() {
            let content_type = response.content_type();
            let body = response.read_capped(error_body_wait).await;
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

        let body = response.into_stream();
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
        let headers = self.headers(&auth, "application/json", false)?;
        let shown = http::display_url(&url);
        let shown = shown.as_str();
        let body = self
            .exchange(
                self.client.get(&url, &headers),
                &url,
                self.total_timeout(None),
                &auth,
            )
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
