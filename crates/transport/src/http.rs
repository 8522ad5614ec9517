//! The shared HTTP client and the HTTP-level pieces every dialect uses:
//! reading `Retry-After`, describing transport errors without secrets.

use std::error::Error as _;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, ErrorKind, Result};
use crate::h1::{self, H1Client};

/// Timeouts and pool sizes of the shared client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpClientConfig {
    /// Time to establish a connection (TCP + TLS). Default 5 s.
    pub connect_timeout: Duration,
    /// Total time of a non-streamed call, and of the wait for a stream's
    /// response head; a provider's own `timeout` overrides it. Default 600 s
    /// (reasoning models can think for minutes before answering).
    pub request_timeout: Duration,
    /// Longest silence between two reads of a streamed body. Default 120 s.
    pub read_timeout: Duration,
    /// How long an idle pooled connection is kept. Default 90 s.
    pub pool_idle_timeout: Duration,
    /// Most idle connections kept per host. Default 64.
    pub pool_max_idle_per_host: usize,
    /// Largest non-streamed response body read, in bytes: a larger one
    /// fails the call ([`ErrorKind::InvalidResponse`]) as soon as its
    /// `Content-Length` or its bytes say so, instead of being buffered
    /// whole. Default 32 MiB. (Streamed bodies are bounded per event by the
    /// SSE parser.)
    pub max_response_bytes: usize,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(600),
            read_timeout: Duration::from_secs(120),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
            max_response_bytes: 32 * 1024 * 1024,
        }
    }
}

/// One pooled HTTP client, built once and shared (cheap to clone) by every
/// adapter. No global state: whoever builds the providers owns it.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// The hot path's client ([`crate::h1`]); `None` when an HTTP proxy is
    /// configured in the environment, which only reqwest honours.
    h1: Option<H1Client>,
    config: HttpClientConfig,
}

/// The environment variables through which reqwest takes an HTTP proxy.
const PROXY_VARS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl HttpClient {
    /// Builds the client. Fails only if the TLS backend cannot start.
    pub fn new(config: HttpClientConfig) -> Result<Self> {
        // No client-wide total or read timeout: a total one would cut long
        // streams, and reqwest's read timeout also covers the wait for the
        // response head, which a non-streamed reasoning call legitimately
        // spends in silence. Both are applied per call instead.
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Client {
                message: describe(&e),
            })?;
        let proxied = PROXY_VARS
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        let h1 = (!proxied).then(|| {
            H1Client::new(
                config.connect_timeout,
                config.pool_idle_timeout,
                config.pool_max_idle_per_host,
            )
        });
        Ok(HttpClient { client, h1, config })
    }

    /// The settings it was built with.
    pub fn config(&self) -> &HttpClientConfig {
        &self.config
    }

    /// The underlying reqwest client.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }
}

/// How long the upstream asks us to wait: `retry-after-ms` (milliseconds,
/// OpenAI's), else `retry-after` (seconds, possibly fractional, or an HTTP
/// date).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && let Ok(d) = Duration::try_from_secs_f64(ms / 1000.0)
    {
        return Some(d);
    }
    let value = header("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A reqwest error in a few words, for the client: no URL, no address,
/// no cause (those are in [`describe`], for the log).
pub(crate) fn reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the body failed"
    } else if e.is_builder() {
        "invalid request"
    } else {
        "request failed"
    }
}

/// A reqwest error and its causes, without the URL (whose query could
/// carry a secret).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    with_causes(String::from(reason(e)), e.source())
}

/// `out`, then each error of the `source` chain not already at its end.
pub(crate) fn with_causes(
    mut out: String,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> String {
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A failure reading a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// The transport timed out.
    Timeout,
    /// The connection broke; the description has no secret in it.
    Broken(String),
}

/// A streamed response body.
pub(crate) type BodyStream =
    std::pin::Pin<Box<dyn Stream<Item = std::result::Result<Bytes, BodyError>> + Send + 'static>>;

/// Why a whole response body could not be read.
#[derive(Debug)]
pub(crate) enum ReadBodyError {
    /// Longer than the limit, by its `Content-Length` or by its bytes.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed or timed out while reading.
    Failed {
        /// It timed out.
        timeout: bool,
        /// What failed, with its causes, without secrets.
        detail: String,
    },
}

impl ReadBodyError {
    fn from_reqwest(e: &reqwest::Error) -> Self {
        ReadBodyError::Failed {
            timeout: e.is_timeout(),
            detail: describe(e),
        }
    }

    /// The error's kind, its message for the client, and its detail for
    /// the log, naming `url` (without secrets).
    pub(crate) fn describe(&self, url: &str) -> (ErrorKind, String, String) {
        match self {
            ReadBodyError::TooLarge { limit } => (
                ErrorKind::InvalidResponse,
                format!("the response body is larger than the limit of {limit} bytes"),
                display_url(url),
            ),
            ReadBodyError::Failed { timeout, detail } => {
                let (kind, reason) = if *timeout {
                    (ErrorKind::Timeout, "timed out")
                } else {
                    (
                        ErrorKind::StreamInterrupted {
                            after_output: false,
                        },
                        "reading the body failed",
                    )
                };
                let detail = format!("{}: reading the response body: {detail}", display_url(url));
                (kind, reason.to_string(), detail)
            }
        }
    }
}

/// A failure before the response head.
#[derive(Debug)]
pub(crate) struct SendFailure {
    /// Connect or timeout.
    pub(crate) kind: ErrorKind,
    /// A few words for the client.
    pub(crate) reason: &'static str,
    /// The words and the causes, for the log (no URL).
    pub(crate) detail: String,
}

impl SendFailure {
    fn from_reqwest(e: &reqwest::Error) -> Self {
        SendFailure {
            kind: send_error_kind(e),
            reason: reason(e),
            detail: describe(e),
        }
    }
}

/// An upstream's answer: its head, and its body still to read, from
/// either client.
pub(crate) enum Response {
    Reqwest(reqwest::Response),
    H1(h1::Exchange),
}

impl Response {
    /// The status code.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Response::Reqwest(r) => r.status().as_u16(),
            Response::H1(x) => x.status.as_u16(),
        }
    }

    /// The headers.
    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Response::Reqwest(r) => r.headers(),
            Response::H1(x) => &x.headers,
        }
    }

    /// The whole (non-streamed) body, of at most `limit` bytes; a larger
    /// one is refused as soon as its `Content-Length` or the bytes read so
    /// far exceed the limit, never buffered whole.
    pub(crate) async fn read_body(self, limit: usize) -> std::result::Result<Bytes, ReadBodyError> {
        let announced = self
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(ReadBodyError::TooLarge { limit });
        }
        match self {
            Response::H1(x) => x.body.read_all(limit).await.map_err(|e| match e {
                h1::BodyError::TooLarge => ReadBodyError::TooLarge { limit },
                h1::BodyError::Failed(detail) => ReadBodyError::Failed {
                    timeout: false,
                    detail: format!("reading the body failed: {detail}"),
                },
            }),
            Response::Reqwest(mut response) => {
                let capacity = announced
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0)
                    .min(limit);
                let mut out = Vec::with_capacity(capacity);
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| ReadBodyError::from_reqwest(&e))?
                {
                    if out.len() + chunk.len() > limit {
                        return Err(ReadBodyError::TooLarge { limit });
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(Bytes::from(out))
            }
        }
    }

    /// At most [`ERROR_BODY_LIMIT`] bytes of an answer about to be
    /// reported as an error, giving up after `idle` of silence.
    pub(crate) async fn read_capped(self, idle: Duration) -> Vec<u8> {
        let mut out = Vec::new();
        let mut body = self.into_stream();
        while out.len() < ERROR_BODY_LIMIT {
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(Ok(chunk))) => out.extend_from_slice(&chunk),
                _ => break,
            }
        }
        out.truncate(ERROR_BODY_LIMIT);
        out
    }

    /// Whether the body is an event stream (`Content-Type`).
    pub(crate) fn is_event_stream(&self) -> bool {
        self.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            })
    }

    /// The `Content-Type`, or `none`.
    pub(crate) fn content_type(&self) -> String {
        self.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_string()
    }

    /// The body as a stream of chunks.
    pub(crate) fn into_stream(self) -> BodyStream {
        match self {
            Response::Reqwest(r) => Box::pin(r.bytes_stream().map(|item| {
                item.map_err(|e| {
                    if e.is_timeout() {
                        BodyError::Timeout
                    } else {
                        BodyError::Broken(describe(&e))
                    }
                })
            })),
            Response::H1(x) => Box::pin(
                x.body
                    .map(|item| item.map_err(|e| BodyError::Broken(h1::chain(&e)))),
            ),
        }
    }
}

/// Most bytes of an error body read from a failed stream request.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A `POST` prepared for [`HttpClient::post`]: the URL (and, when the hot
/// path's client can call it, the URL parsed for it), the headers and the
/// body.
pub(crate) struct Post<'a> {
    pub(crate) url: &'a str,
    pub(crate) target: Option<&'a h1::Target>,
    pub(crate) headers: &'a [(HeaderName, HeaderValue)],
    pub(crate) body: Vec<u8>,
}

impl HttpClient {
    /// Sends a `POST` and waits for the response head (the caller bounds
    /// the wait): through the hot path's client when it can take the URL,
    /// else through reqwest.
    pub(crate) async fn post(&self, post: Post<'_>) -> std::result::Result<Response, SendFailure> {
        if let Some(h1) = &self.h1 {
            let parsed;
            let target = match post.target {
                Some(t) => Some(t),
                None => {
                    parsed = h1::Target::parse(post.url);
                    parsed.as_ref()
                }
            };
            if let Some(target) = target {
                return h1
                    .post(target, post.headers, Bytes::from(post.body))
                    .await
                    .map(Response::H1)
                    .map_err(|e| SendFailure {
                        kind: ErrorKind::Connect,
                        reason: e.reason(),
                        detail: e.describe(),
                    });
            }
        }
        send(self.client.post(post.url).body(post.body), post.headers).await
    }

    /// Sends a `GET` (through reqwest: listings are not the hot path) and
    /// waits for the response head.
    pub(crate) async fn get(
        &self,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> std::result::Result<Response, SendFailure> {
        send(self.client.get(url), headers).await
    }
}

/// Sends `builder` through reqwest with `headers` added.
async fn send(
    mut builder: reqwest::RequestBuilder,
    headers: &[(HeaderName, HeaderValue)],
) -> std::result::Result<Response, SendFailure> {
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder
        .send()
        .await
        .map(Response::Reqwest)
        .map_err(|e| SendFailure::from_reqwest(&e))
}

/// An `Authorization: Bearer` value, marked sensitive (never printed by
/// hyper or reqwest); `None` when the key cannot be sent in a header.
pub(crate) fn bearer(key: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What kind of failure a reqwest error before the response is.
pub(crate) fn send_error_kind(e: &reqwest::Error) -> ErrorKind {
    // A connect timeout is a connection failure (the host is unreachable),
    // not a slow answer.
    if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connect
    }
}

/// A URL without what could carry a secret (user info, query, fragment),
/// for messages.
pub(crate) fn display_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn retry_after_seconds_ms_and_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let at = |p: &[(&'static str, &'static str)]| retry_after_at(&headers(p), now);
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            at(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("retry-after-ms", "250"), ("retry-after", "7")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]),
            Some(Duration::ZERO)
        );
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[("retry-after", "-3")]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn display_url_drops_the_query() {
        assert_eq!(
            display_url("http://h/v1/models?key=s3cret"),
            "http://h/v1/models"
        );
        assert_eq!(display_url("http://h/v1/models"), "http://h/v1/models");
        assert_eq!(display_url("https://u:pw@h:8/v1?x#y"), "https://h:8/v1");
    }

    #[test]
    fn default_config_matches_the_design() {
        let c = HttpClientConfig::default();
        assert_eq!(c.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.request_timeout, Duration::from_secs(600));
        assert_eq!(c.read_timeout, Duration::from_secs(120));
        assert_eq!(c.max_response_bytes, 32 * 1024 * 1024);
        assert!(HttpClient::new(c).is_ok());
    }

    #[tokio::test]
    async fn bodies_past_the_limit_are_refused() {
        use wiremock::matchers::any;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2000)))
            .mount(&server)
            .await;
        let client = reqwest::Client::new();
        let get = || client.get(server.uri()).send();
        let body = Response::Reqwest(get().await.unwrap())
            .read_body(2000)
            .await
            .unwrap();
        assert_eq!(body.len(), 2000);
        let err = Response::Reqwest(get().await.unwrap())
            .read_body(1999)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadBodyError::TooLarge { limit: 1999 }));
        let (kind, message, detail) = err.describe("http://u:pw@h/v1/chat?key=s");
        assert_eq!(kind, ErrorKind::InvalidResponse);
        assert_eq!(
            message,
            "the response body is larger than the limit of 1999 bytes"
        );
        // the URL, without credentials or query, is for the log only
        assert_eq!(detail, "http://h/v1/chat");
    }
}
