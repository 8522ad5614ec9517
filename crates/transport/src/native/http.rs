//! The HTTP side of a native dialect: one provider's base URL, key header
//! and timeouts, JSON calls read whole, and event streams opened only once
//! the upstream answered 2xx with `text/event-stream`.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::error::{ErrorKind, ProviderError};
use crate::http::{self, HttpClient, Post, SendFailure};
use crate::settings::ProviderSettings;

/// Turns a non-2xx answer (status, `Retry-After`, body) into the dialect's
/// classified error.
pub(crate) type ErrorParser = fn(
    slug: &str,
    name: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ProviderError;

pub(crate) use crate::http::BodyStream;

/// One provider reached through a native dialect.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    settings: ProviderSettings,
    client: HttpClient,
    /// `base_url` without its trailing `/`.
    base: String,
    /// The header carrying the key (`x-api-key`, `x-goog-api-key`).
    key_header: &'static str,
    /// Headers every request carries (`anthropic-version`).
    fixed_headers: &'static [(&'static str, &'static str)],
    /// Reads a non-2xx body.
    parse_error: ErrorParser,
}

/// The key a call uses and whether it is the caller's own.
pub(crate) struct Auth<'a> {
    pub(crate) key: Option<&'a str>,
    pub(crate) byok: bool,
}

impl Upstream {
    pub(crate) fn new(
        settings: ProviderSettings,
        client: HttpClient,
        key_header: &'static str,
        fixed_headers: &'static [(&'static str, &'static str)],
        parse_error: ErrorParser,
    ) -> Self {
        let base = settings.base_url.trim_end_matches('/').to_string();
        Upstream {
            settings,
            client,
            base,
            key_header,
            fixed_headers,
            parse_error,
        }
    }

    pub(crate) fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    pub(crate) fn slug(&self) -> &str {
        &self.settings.slug
    }

    pub(crate) fn name(&self) -> &str {
        &self.settings.name
    }

    /// The longest silence allowed inside a streamed body.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.client.config().read_timeout
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) fn auth<'a>(&'a self, call_key: Option<&'a str>) -> Auth<'a> {
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

    pub(crate) fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.settings.slug, &self.settings.name, kind, message)
    }

    /// Marks BYOK and scrubs the key from whatever the upstream echoed.
    pub(crate) fn seal(&self, err: ProviderError, auth: &Auth<'_>) -> ProviderError {
        let err = err.with_byok(auth.byok);
        match auth.key {
            Some(key) => err.redact(key),
            None => err,
        }
    }

    /// The shorter of the call's deadline and the provider's (or else the
    /// client's) total timeout.
    fn total_timeout(&self, deadline: Option<Duration>) -> Duration {
        let total = self
            .settings
            .timeout
            .unwrap_or(self.client.config().request_timeout);
        deadline.map_or(total, |d| d.min(total))
    }

    /// The headers of a call: `Content-Type`, `Accept`, the fixed ones
    /// and the key.
    fn headers(
        &self,
        accept: &'static str,
        auth: &Auth<'_>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ProviderError> {
        let mut headers = Vec::with_capacity(3 + self.fixed_headers.len());
        headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        headers.push((ACCEPT, HeaderValue::from_static(accept)));
        for (name, value) in self.fixed_headers {
            headers.push((
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            ));
        }
        if let Some(key) = auth.key {
            let mut value = HeaderValue::from_str(key).map_err(|_| {
                let err = self.error(
                    ErrorKind::Status { status: 401 },
                    "the API key cannot be sent in an HTTP header",
                );
                self.seal(err, auth)
            })?;
            // Sensitive values are never printed by reqwest or hyper.
            value.set_sensitive(true);
            headers.push((HeaderName::from_static(self.key_header), value));
        }
        Ok(headers)
    }

    fn encode(&self, body: &Value) -> Result<Vec<u8>, ProviderError> {
        serde_json::to_vec(body).map_err(|e| {
            self.error(
                ErrorKind::Unsupported,
                format!("the request cannot be encoded for this provider: {e}"),
            )
        })
    }

    fn send_error(&self, e: SendFailure, url: &str) -> ProviderError {
        self.error(e.kind, e.reason).with_detail(format!(
            "{}: {}",
            http::display_url(url),
            e.detail
        ))
    }

    fn status_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        auth: &Auth<'_>,
    ) -> ProviderError {
        let err = (self.parse_error)(
            &self.settings.slug,
            &self.settings.name,
            status,
            http::retry_after(headers),
            body,
        );
        self.seal(err, auth)
    }

    /// `POST`s `body` as JSON to `path` and reads the whole answer within
    /// the call's time; a non-2xx answer is the dialect's error.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &Value,
        auth: &Auth<'_>,
        deadline: Option<Duration>,
    ) -> Result<Bytes, ProviderError> {
        let url = self.url(path);
        let headers = self.headers("application/json", auth)?;
        let bytes = self.encode(body)?;
        tracing::debug!(provider = %self.settings.slug, url = http::display_url(&url), "upstream call");
        let call = async {
            let response = self
                .client
                .post(Post {
                    url: &url,
                    target: None,
                    headers: &headers,
                    body: bytes,
                })
                .await
                .map_err(|e| self.seal(self.send_error(e, &url), auth))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .read_body(self.client.config().max_response_bytes)
                .await
                .map_err(|e| {
                    let (kind, message, detail) = e.describe(&url);
                    self.seal(self.error(kind, message).with_detail(detail), auth)
                })?;
            if !(200..300).contains(&status) {
                return Err(self.status_error(status, &headers, &bytes, auth));
            }
            Ok(bytes)
        };
        match tokio::time::timeout(self.total_timeout(deadline), call).await {
            Ok(result) => result,
            Err(_elapsed) => {
                let err = self
                    .error(ErrorKind::Timeout, "timed out")
                    .with_detail(format!("{}: timed out", http::display_url(&url)));
                Err(self.seal(err, auth))
            }
        }
    }

    /// `POST`s `body` and returns the event-stream body once the upstream
    /// answered 2xx with `text/event-stream`. The head must come within the
    /// call's time; the body is bounded by the idle read timeout only.
    /// `body` is taken, and dropped once encoded: a stream can wait long for
    /// its head, and should not hold the request's JSON tree meanwhile.
    pub(crate) async fn post_stream(
        &self,
        path: &str,
        body: Value,
        auth: &Auth<'_>,
        deadline: Option<Duration>,
    ) -> Result<BodyStream, ProviderError> {
        let url = self.url(path);
        let headers = self.headers("text/event-stream", auth)?;
        let bytes = self.encode(&body)?;
        drop(body);
        tracing::debug!(provider = %self.settings.slug, url = http::display_url(&url), "upstream stream");
        let head_timeout = self.total_timeout(deadline);
        let send = self.client.post(Post {
            url: &url,
            target: None,
            headers: &headers,
            body: bytes,
        });
        let response = match tokio::time::timeout(head_timeout, send).await {
            Err(_elapsed) => {
                let message = format!("no response within {} s", head_timeout.as_secs_f64());
                let err = self
                    .error(ErrorKind::Timeout, message)
                    .with_detail(http::display_url(&url));
                return Err(self.seal(err, auth));
            }
            Ok(Err(e)) => return Err(self.seal(self.send_error(e, &url), auth)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        // An error body is small and comes at once; don't wait long for it.
        let error_body_wait = self.idle_timeout().min(Duration::from_secs(10));
        if !(200..300).contains(&status) {
            let headers = response.headers().clone();
            let body = response.read_capped(error_body_wait).await;
            return Err(self.status_error(status, &headers, &body, auth));
        }
        if !response.is_event_stream() {
            let content_type = response.content_type();
            let body = response.read_capped(error_body_wait).await;
            let mut err = self.error(
                ErrorKind::InvalidResponse,
                format!("expected an event stream, got content type {content_type}"),
            );
            if !body.is_empty() {
                err = err.with_raw(String::from_utf8_lossy(&body));
            }
            return Err(self.seal(err, auth));
        }
        Ok(response.into_stream())
    }
}

/// Now, in Unix seconds (the native dialects' answers carry no time).
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
