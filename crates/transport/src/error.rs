//! Provider failures, classified in the type.
//!
//! A [`ProviderError`] says which provider failed, how ([`ErrorKind`]), what
//! the upstream said, and is the one place that classifies it, so no call
//! site matches on kinds or strings: may another endpoint be tried
//! ([`is_retryable`]), does it count against the endpoint's health
//! ([`counts_against_health`]), how is the attempt named
//! ([`label`], e.g. in `x-tollgate-attempts`) and counted
//! ([`metric_class`], the `outcome` of the attempts metric), which status
//! goes to the client if this is the last error ([`client_status`]), and
//! which `error_type` the error envelope carries ([`error_type`]).
//!
//! No error ever holds a provider API key: requests carry the key in a header
//! the error never sees, and the adapter masks every run of 8 or more of the
//! key's characters in upstream bodies that echo it ([`Secrets`]). What only
//! the operator should see (the upstream URL, the transport's own causes) is
//! kept apart in [`detail`], which the gateway logs and never sends.
//!
//! [`Secrets`]: crate::redact::Secrets
//! [`detail`]: ProviderError::detail
//!
//! [`is_retryable`]: ProviderError::is_retryable
//! [`counts_against_health`]: ProviderError::counts_against_health
//! [`label`]: ProviderError::label
//! [`metric_class`]: ProviderError::metric_class
//! [`client_status`]: ProviderError::client_status
//! [`error_type`]: ProviderError::error_type

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tollgate_schema::Extra;
use tollgate_schema::wire_error::ErrorBody;

/// Most bytes of an upstream body kept in [`ProviderError::raw`] (4 KiB).
pub const RAW_LIMIT: usize = 4096;

/// How a provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The connection could not be made (DNS, refused, TLS, connect timeout).
    Connect,
    /// No answer in time: the total deadline, or the idle gap between stream
    /// bytes before any chunk arrived.
    Timeout,
    /// The upstream answered with a non-2xx status (or an error object
    /// carrying one).
    Status {
        /// The upstream HTTP status.
        status: u16,
    },
    /// A 2xx answer that could not be understood: unparseable body, wrong
    /// content type.
    InvalidResponse,
    /// A stream that broke after it started: the connection dropped, the body
    /// ended without `[DONE]`, or the upstream sent an error event.
    StreamInterrupted {
        /// Whether chunks were already yielded before the interruption. When
        /// they were, output may have reached the client and the request
        /// cannot be retried elsewhere.
        after_output: bool,
    },
    /// The adapter cannot do this (e.g. embeddings on a chat-only dialect).
    Unsupported,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Connect => f.write_str("connection failed"),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::Status { status } => write!(f, "upstream returned {status}"),
            ErrorKind::InvalidResponse => f.write_str("invalid response"),
            ErrorKind::StreamInterrupted { .. } => f.write_str("stream interrupted"),
            ErrorKind::Unsupported => f.write_str("unsupported"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Repr {
    slug: String,
    name: String,
    kind: ErrorKind,
    message: String,
    upstream_code: Option<String>,
    raw: Option<String>,
    /// For the log only: the upstream URL and the transport's causes.
    detail: Option<String>,
    retry_after: Option<Duration>,
    is_byok: bool,
}

/// A failed provider call.
///
/// Boxed inside so that `Result<T, ProviderError>` stays small.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("provider {}: {}: {}", .0.slug, .0.kind, .0.message)]
pub struct ProviderError(Box<Repr>);

impl ProviderError {
    /// An error of `kind` from the provider `slug` (display name `name`).
    pub fn new(
        slug: impl Into<String>,
        name: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        // An upstream's message can be as long as its body: keep what a
        // message needs (and a log line can carry).
        let mut message = message.into();
        truncate_utf8(&mut message, RAW_LIMIT);
        ProviderError(Box::new(Repr {
            slug: slug.into(),
            name: name.into(),
            kind,
            message,
            upstream_code: None,
            raw: None,
            detail: None,
            retry_after: None,
            is_byok: false,
        }))
    }

    /// Keeps what only the operator should see (the upstream URL, the
    /// transport's causes): logged, never sent to a client.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Keeps the upstream body, truncated to [`RAW_LIMIT`] bytes.
    pub fn with_raw(mut self, raw: impl Into<String>) -> Self {
        let mut raw = raw.into();
        truncate_utf8(&mut raw, RAW_LIMIT);
        self.0.raw = Some(raw);
        self
    }

    /// Sets how long the upstream asked us to wait.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.0.retry_after = retry_after;
        self
    }

    /// Sets the upstream's own error code (`rate_limit_exceeded`,
    /// `context_length_exceeded`, `server_error`, ...).
    pub fn with_upstream_code(mut self, code: Option<String>) -> Self {
        self.0.upstream_code = code;
        self
    }

    /// Marks the call as made with the caller's own key (BYOK).
    pub fn with_byok(mut self, is_byok: bool) -> Self {
        self.0.is_byok = is_byok;
        self
    }

    /// Masks every run of 8 or more characters of `secret` in everything
    /// the error says (see [`Secrets`](crate::redact::Secrets)). Secrets
    /// shorter than 8 bytes are left alone (they would match ordinary text
    /// and are no real key).
    pub fn redact(self, secret: &str) -> Self {
        self.redact_with(&crate::redact::Secrets::new([secret]))
    }

    /// Masks every run of `secrets` in the message, the raw body, the
    /// detail and the upstream code.
    pub fn redact_with(mut self, secrets: &crate::redact::Secrets) -> Self {
        if secrets.is_empty() {
            return self;
        }
        let r = &mut *self.0;
        secrets.redact_in_place(&mut r.message);
        for text in [&mut r.raw, &mut r.detail, &mut r.upstream_code]
            .into_iter()
            .flatten()
        {
            secrets.redact_in_place(text);
        }
        self
    }

    /// Routing id of the provider, e.g. `mock-alpha`.
    pub fn provider_slug(&self) -> &str {
        &self.0.slug
    }

    /// Display name of the provider, e.g. `Mock Alpha`.
    pub fn provider_name(&self) -> &str {
        &self.0.name
    }

    /// How the call failed.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// What went wrong: the upstream's own message when it sent one.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The upstream's error code or type, when its body had one.
    pub fn upstream_code(&self) -> Option<&str> {
        self.0.upstream_code.as_deref()
    }

    /// The upstream body (at most [`RAW_LIMIT`] bytes), when there was one.
    pub fn raw(&self) -> Option<&str> {
        self.0.raw.as_deref()
    }

    /// What only the operator should see: the upstream URL and the
    /// transport's causes (log it; never send it).
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// How long the upstream asked us to wait (`retry-after-ms`,
    /// `retry-after`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Whether the call used the caller's own key.
    pub fn is_byok(&self) -> bool {
        self.0.is_byok
    }

    /// The upstream HTTP status, for [`ErrorKind::Status`].
    pub fn status(&self) -> Option<u16> {
        match self.0.kind {
            ErrorKind::Status { status } => Some(status),
            _ => None,
        }
    }

    /// Whether another endpoint may succeed where this one failed, so the
    /// gateway should try the next one (if nothing reached the client yet).
    ///
    /// True for connection failures, timeouts, 408, 409, 429, every 5xx
    /// (incl. 529), 401/402/403 (the operator's credentials or account at
    /// this provider: another provider may work), unparseable answers, a
    /// stream that broke before its first chunk, and [`ErrorKind::Unsupported`]
    /// (another adapter may support the call). False for the request's own
    /// faults (400, 404, 413, 422 and other 4xx) and for a stream that broke
    /// after output. A content refusal ([`refusal`](Self::refusal)) is
    /// retryable: another provider (or a `models` fallback) may not
    /// moderate, as OpenRouter's fallbacks do on moderation flags.
    pub fn is_retryable(&self) -> bool {
        if self.is_refusal() {
            return true;
        }
        match self.0.kind {
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::InvalidResponse => true,
            ErrorKind::Unsupported => true,
            ErrorKind::StreamInterrupted { after_output } => !after_output,
            ErrorKind::Status { status } => {
                matches!(status, 401 | 402 | 403 | 408 | 409 | 429) || status >= 500
            }
        }
    }

    /// Whether the failure is the provider's, so it counts against the
    /// endpoint's health: an outage, overload, rate limit or broken answer,
    /// not a refusal of the client's request.
    ///
    /// True for every 5xx, 429 and 408, connection failures, timeouts,
    /// unparseable answers and broken streams (before or after output);
    /// false for other statuses (400, 401, 403, 404, 413, 422, ...: the
    /// request's fault or the operator's credentials, which a health
    /// penalty would not fix) and for [`ErrorKind::Unsupported`] (the
    /// adapter's limit, known before anything was sent).
    ///
    /// This is not [`is_retryable`](Self::is_retryable): a 401 moves on to
    /// the next endpoint without counting against this one's health, and a
    /// stream broken after output counts against health but cannot be
    /// retried.
    pub fn counts_against_health(&self) -> bool {
        match self.0.kind {
            ErrorKind::Status { status } => status >= 500 || status == 429 || status == 408,
            ErrorKind::Connect
            | ErrorKind::Timeout
            | ErrorKind::InvalidResponse
            | ErrorKind::StreamInterrupted { .. } => true,
            ErrorKind::Unsupported => false,
        }
    }

    /// The name of a failed attempt, as the `x-tollgate-attempts` header
    /// lists it: the upstream status for [`ErrorKind::Status`] (`"503"`,
    /// `"429"`), else `"connect"`, `"timeout"`, `"invalid"`,
    /// `"interrupted"` or `"unsupported"`.
    pub fn label(&self) -> Cow<'static, str> {
        match self.0.kind {
            ErrorKind::Status { status } => Cow::Owned(status.to_string()),
            ErrorKind::Connect => Cow::Borrowed("connect"),
            ErrorKind::Timeout => Cow::Borrowed("timeout"),
            ErrorKind::InvalidResponse => Cow::Borrowed("invalid"),
            ErrorKind::StreamInterrupted { .. } => Cow::Borrowed("interrupted"),
            ErrorKind::Unsupported => Cow::Borrowed("unsupported"),
        }
    }

    /// The class of a failed attempt, a metric label of bounded
    /// cardinality (the `outcome` of `tollgate_upstream_attempts_total`,
    /// whose success value `"ok"` is not an error's):
    ///
    /// | kind | class |
    /// |---|---|
    /// | 429 | `rate_limited` |
    /// | 408, [`ErrorKind::Timeout`] | `timeout` |
    /// | other 4xx | `client_error` |
    /// | 5xx and above | `server_error` |
    /// | a status below 400, [`ErrorKind::InvalidResponse`] | `invalid` |
    /// | [`ErrorKind::Connect`] | `connect` |
    /// | [`ErrorKind::StreamInterrupted`] | `interrupted` |
    /// | [`ErrorKind::Unsupported`] | `unsupported` |
    pub fn metric_class(&self) -> &'static str {
        match self.0.kind {
            ErrorKind::Status { status: 429 } => "rate_limited",
            ErrorKind::Status { status: 408 } | ErrorKind::Timeout => "timeout",
            ErrorKind::Status { status } if (400..500).contains(&status) => "client_error",
            ErrorKind::Status { status } if status >= 500 => "server_error",
            ErrorKind::Status { .. } | ErrorKind::InvalidResponse => "invalid",
            ErrorKind::Connect => "connect",
            ErrorKind::StreamInterrupted { .. } => "interrupted",
            ErrorKind::Unsupported => "unsupported",
        }
    }

    /// The status the gateway answers its client with when this is the final
    /// error: 400/404/413/422 are the request's fault and kept; 408 and
    /// timeouts give 408; 429 stays 429; everything else the provider did
    /// wrong (5xx, 401/403 on the operator's key, connection failures,
    /// garbage, broken streams) gives 502; an unsupported call gives 400; a
    /// content refusal ([`refusal`](Self::refusal)) gives 403, the status
    /// of a flagged input (api-reference "Moderation Errors").
    pub fn client_status(&self) -> u16 {
        if self.is_refusal() {
            return 403;
        }
        match self.0.kind {
            ErrorKind::Timeout => 408,
            ErrorKind::Unsupported => 400,
            ErrorKind::Connect
            | ErrorKind::InvalidResponse
            | ErrorKind::StreamInterrupted { .. } => 502,
            ErrorKind::Status { status } => match status {
                400 | 404 | 413 | 422 | 408 | 429 => status,
                _ => 502,
            },
        }
    }

    /// The `error_type` of the error envelope's metadata (WIRE-NOTES
    /// `ApiErrorType`).
    pub fn error_type(&self) -> &'static str {
        if self.is_refusal() {
            return "content_policy_violation";
        }
        match self.0.kind {
            ErrorKind::Connect | ErrorKind::InvalidResponse => "provider_unavailable",
            ErrorKind::StreamInterrupted { .. } => "provider_unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "invalid_request",
            ErrorKind::Status { status } => match status {
                400 => match self.0.upstream_code.as_deref() {
                    Some("context_length_exceeded") => "context_length_exceeded",
                    Some("content_policy_violation" | "content_filter") => {
                        "content_policy_violation"
                    }
                    _ => "invalid_request",
                },
                // The caller's own key (BYOK) was refused; otherwise it is the
                // operator's key and the provider is unusable for now.
                401 if self.0.is_byok => "authentication",
                403 if self.0.is_byok => "permission_denied",
                401..=403 | 409 => "provider_unavailable",
                404 => "not_found",
                408 => "timeout",
                413 => "payload_too_large",
                422 => "unprocessable",
                429 => "rate_limit_exceeded",
                529 => "provider_overloaded",
                500..=599 => "provider_unavailable",
                _ => "invalid_request",
            },
        }
    }

    /// The error object the gateway sends when this is the final error:
    /// `code` = [`client_status`](Self::client_status), the message after
    /// the provider's name (`"Mock Alpha: connection failed"`), and
    /// metadata `{provider_name, raw, error_type}` (plus `provider_code` when
    /// the upstream named one and `is_byok` when the caller's key was used).
    /// The [`detail`](Self::detail) is never part of it.
    ///
    /// When the provider refused the *operator's* credentials (401/403
    /// without BYOK), the upstream's message and body are replaced by a
    /// generic message and `raw: null`: they describe the operator's key
    /// (OpenAI echoes part of it) and are none of the caller's business.
    pub fn to_error_body(&self) -> ErrorBody {
        if let Some(refusal) = self.refusal() {
            return self.refusal_body(refusal);
        }
        let operator_auth = !self.0.is_byok && matches!(self.status(), Some(401 | 403));
        let (message, raw) = if operator_auth {
            let message = format!(
                "{} refused the gateway's credentials (HTTP {})",
                self.0.name,
                self.status().unwrap_or_default()
            );
            (message, Value::Null)
        } else {
            (
                format!("{}: {}", self.0.name, self.0.message),
                self.0.raw.clone().map_or(Value::Null, Value::String),
            )
        };
        let mut metadata = Extra::new();
        metadata.insert("provider_name".into(), Value::String(self.0.name.clone()));
        metadata.insert("raw".into(), raw);
        metadata.insert("error_type".into(), Value::String(self.error_type().into()));
        if let Some(code) = &self.0.upstream_code {
            metadata.insert("provider_code".into(), Value::String(code.clone()));
        }
        if self.0.is_byok {
            metadata.insert("is_byok".into(), Value::Bool(true));
        }
        let mut body = ErrorBody::new(self.client_status(), message);
        body.metadata = Some(metadata);
        body
    }
}

/// Error codes with which OpenAI-compatible upstreams refuse content
/// (Azure OpenAI's `content_filter`, OpenAI's `content_policy_violation`,
/// and the `moderation` / `flagged` of moderating proxies).
const REFUSAL_CODES: &[&str] = &[
    "content_filter",
    "content_policy_violation",
    "moderation",
    "moderation_blocked",
    "flagged",
];

/// A provider's own refusal of the input on content grounds, as
/// [`ProviderError::refusal`] reads it from the upstream's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why, in the upstream's words: the flagged categories when it named
    /// them, else its error code.
    pub reasons: Vec<String>,
    /// The flagged text, when the upstream said (an OpenRouter-shaped
    /// upstream's `metadata.flagged_input`).
    pub flagged_input: Option<String>,
}

impl ProviderError {
    /// The provider refused the input on content grounds, when this error
    /// says so: a 400 or 403 whose body is
    ///
    /// * OpenRouter-shaped, with `error.metadata.reasons` (another
    ///   moderating gateway upstream);
    /// * OpenAI-shaped with `error.code` (or `type`) one of
    ///   `content_filter`, `content_policy_violation`, `moderation`,
    ///   `moderation_blocked`, `flagged` (Azure OpenAI's content filter
    ///   names the filtered categories in
    ///   `error.innererror.content_filter_result`);
    /// * Anthropic's content filtering refusal (`invalid_request_error`,
    ///   "Output blocked by content filtering policy").
    ///
    /// Such an error answers the client with the moderation 403 and moves
    /// on to the next endpoint; it does not count against health.
    pub fn refusal(&self) -> Option<Refusal> {
        if !matches!(self.0.kind, ErrorKind::Status { status: 400 | 403 }) {
            return None;
        }
        let body: Value = self
            .0
            .raw
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw).ok())
            .unwrap_or(Value::Null);
        let error = body.get("error").unwrap_or(&Value::Null);
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        if let Some(meta) = error.get("metadata").filter(|m| m.get("reasons").is_some()) {
            return Some(Refusal {
                reasons: strings(meta.get("reasons")),
                flagged_input: meta
                    .get("flagged_input")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        let code = self
            .0
            .upstream_code
            .as_deref()
            .or_else(|| error.get("code").and_then(Value::as_str));
        if let Some(code) = code.filter(|c| REFUSAL_CODES.contains(c)) {
            let filtered: Vec<String> = error
                .pointer("/innererror/content_filter_result")
                .and_then(Value::as_object)
                .map(|r| {
                    r.iter()
                        .filter(|(_, v)| v.get("filtered").and_then(Value::as_bool) == Some(true))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default();
            let reasons = if filtered.is_empty() {
                vec![code.to_owned()]
            } else {
                filtered
            };
            return Some(Refusal {
                reasons,
                flagged_input: None,
            });
        }
        let anthropic = error.get("type").and_then(Value::as_str) == Some("invalid_request_error")
            && self.0.message.contains("content filtering policy");
        anthropic.then(|| Refusal {
            reasons: vec![String::from("content_filter")],
            flagged_input: None,
        })
    }

    fn is_refusal(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Status { status: 400 | 403 }) && self.refusal().is_some()
    }

    /// The moderation 403 of a refusal, without the model (the gateway,
    /// which knows it, adds `model_slug`).
    fn refusal_body(&self, refusal: Refusal) -> ErrorBody {
        let mut metadata = Extra::new();
        metadata.insert(
            "reasons".into(),
            Value::Array(refusal.reasons.into_iter().map(Value::String).collect()),
        );
        metadata.insert(
            "flagged_input".into(),
            Value::String(refusal.flagged_input.unwrap_or_default()),
        );
        metadata.insert("provider_name".into(), Value::String(self.0.name.clone()));
        metadata.insert("error_type".into(), Value::String(self.error_type().into()));
        let mut body = ErrorBody::new(403, format!("{}: {}", self.0.name, self.0.message));
        body.metadata = Some(metadata);
        body
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A provider call failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The shared HTTP client could not be built (TLS backend, ...).
    #[error("cannot build the HTTP client: {message}")]
    Client {
        /// Why.
        message: String,
    },
    /// The moderation backend failed (unreachable, an error status, an
    /// answer that is not the moderation API's).
    #[error("moderation backend: {message}")]
    Moderation {
        /// What went wrong (never the key).
        message: String,
    },
    /// A provider's settings are unusable.
    #[error("provider `{slug}`: invalid `{field}`: {message}")]
    Settings {
        /// The provider.
        slug: String,
        /// The setting at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Cuts `s` to at most `max` bytes, on a character boundary.
pub(crate) fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> ProviderError {
        ProviderError::new("p", "P", ErrorKind::Status { status: s }, "m")
    }

    /// What the gateway asks of an error, in one row.
    #[derive(Debug, PartialEq)]
    struct Row {
        retryable: bool,
        counts_against_health: bool,
        label: String,
        metric_class: &'static str,
        client_status: u16,
        error_type: &'static str,
    }

    fn row(
        retryable: bool,
        counts_against_health: bool,
        label: &str,
        metric_class: &'static str,
        client_status: u16,
        error_type: &'static str,
    ) -> Row {
        Row {
            retryable,
            counts_against_health,
            label: label.to_owned(),
            metric_class,
            client_status,
            error_type,
        }
    }

    fn classify(kind: ErrorKind) -> Row {
        let e = ProviderError::new("p", "P", kind, "m");
        Row {
            retryable: e.is_retryable(),
            counts_against_health: e.counts_against_health(),
            label: e.label().into_owned(),
            metric_class: e.metric_class(),
            client_status: e.client_status(),
            error_type: e.error_type(),
        }
    }

    #[test]
    fn classification_of_statuses() {
        // status: retryable, counts against health, metric class, client
        // status, error type; the label is the status itself
        let table: &[(u16, bool, bool, &str, u16, &str)] = &[
            (200, false, false, "invalid", 502, "invalid_request"),
            (302, false, false, "invalid", 502, "invalid_request"),
            (400, false, false, "client_error", 400, "invalid_request"),
            (
                401,
                true,
                false,
                "client_error",
                502,
                "provider_unavailable",
            ),
            (
                402,
                true,
                false,
                "client_error",
                502,
                "provider_unavailable",
            ),
            (
                403,
                true,
                false,
                "client_error",
                502,
                "provider_unavailable",
            ),
            (404, false, false, "client_error", 404, "not_found"),
            (405, false, false, "client_error", 502, "invalid_request"),
            (408, true, true, "timeout", 408, "timeout"),
            (
                409,
                true,
                false,
                "client_error",
                502,
                "provider_unavailable",
            ),
            (413, false, false, "client_error", 413, "payload_too_large"),
            (422, false, false, "client_error", 422, "unprocessable"),
            (429, true, true, "rate_limited", 429, "rate_limit_exceeded"),
            (500, true, true, "server_error", 502, "provider_unavailable"),
            (502, true, true, "server_error", 502, "provider_unavailable"),
            (503, true, true, "server_error", 502, "provider_unavailable"),
            (504, true, true, "server_error", 502, "provider_unavailable"),
            (529, true, true, "server_error", 502, "provider_overloaded"),
        ];
        for &(s, retryable, health, class, client, error_type) in table {
            let want = row(retryable, health, &s.to_string(), class, client, error_type);
            assert_eq!(classify(ErrorKind::Status { status: s }), want, "{s}");
        }
    }

    #[test]
    fn classification_of_other_kinds() {
        let interrupted = |after_output| ErrorKind::StreamInterrupted { after_output };
        let table = [
            (
                ErrorKind::Connect,
                row(
                    true,
                    true,
                    "connect",
                    "connect",
                    502,
                    "provider_unavailable",
                ),
            ),
            (
                ErrorKind::Timeout,
                row(true, true, "timeout", "timeout", 408, "timeout"),
            ),
            (
                ErrorKind::InvalidResponse,
                row(
                    true,
                    true,
                    "invalid",
                    "invalid",
                    502,
                    "provider_unavailable",
                ),
            ),
            (
                interrupted(false),
                row(
                    true,
                    true,
                    "interrupted",
                    "interrupted",
                    502,
                    "provider_unavailable",
                ),
            ),
            // counts against health, but output may have reached the client
            (
                interrupted(true),
                row(
                    false,
                    true,
                    "interrupted",
                    "interrupted",
                    502,
                    "provider_unavailable",
                ),
            ),
            (
                ErrorKind::Unsupported,
                row(
                    true,
                    false,
                    "unsupported",
                    "unsupported",
                    400,
                    "invalid_request",
                ),
            ),
        ];
        for (kind, want) in table {
            assert_eq!(classify(kind), want, "{kind:?}");
        }
    }

    #[test]
    fn upstream_codes_refine_400() {
        let e = status(400).with_upstream_code(Some("context_length_exceeded".into()));
        assert_eq!(e.error_type(), "context_length_exceeded");
        let e = status(400).with_upstream_code(Some("content_filter".into()));
        assert_eq!(e.error_type(), "content_policy_violation");
    }

    #[test]
    fn content_refusals_are_the_moderation_403() {
        // Azure OpenAI's content filter names the filtered categories.
        let azure = status(400)
            .with_upstream_code(Some("content_filter".into()))
            .with_raw(
                r#"{"error":{"message":"filtered","code":"content_filter","innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":false},"violence":{"filtered":true,"severity":"medium"}}}}}"#,
            );
        // A moderating gateway upstream (OpenRouter's shape).
        let router = status(403).with_raw(
            r#"{"error":{"code":403,"message":"flagged","metadata":{"reasons":["hate"],"flagged_input":"x...y","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}}"#,
        );
        // Anthropic's content filtering refusal.
        let anthropic = ProviderError::new(
            "p",
            "P",
            ErrorKind::Status { status: 400 },
            "Output blocked by content filtering policy",
        )
        .with_upstream_code(Some("invalid_request_error".into()))
        .with_raw(r#"{"type":"error","error":{"type":"invalid_request_error","message":"Output blocked by content filtering policy"}}"#);
        let cases = [
            (azure, vec!["violence"], None),
            (router, vec!["hate"], Some("x...y")),
            (anthropic, vec!["content_filter"], None),
        ];
        for (e, reasons, input) in cases {
            let refusal = e.refusal().unwrap();
            assert_eq!(refusal.reasons, reasons);
            assert_eq!(refusal.flagged_input.as_deref(), input);
            assert!(e.is_retryable());
            assert!(!e.counts_against_health());
            assert_eq!(e.client_status(), 403);
            assert_eq!(e.error_type(), "content_policy_violation");
            let body = e.to_error_body();
            assert_eq!(
                body.code,
                tollgate_schema::wire_error::ErrorCode::Status(403)
            );
            let meta = body.metadata.unwrap();
            assert_eq!(meta["reasons"], serde_json::json!(reasons));
            assert_eq!(meta["provider_name"], "P");
        }
        // Other 400s and 403s are not refusals.
        for e in [
            status(400).with_raw(r#"{"error":{"message":"bad","code":"invalid_value"}}"#),
            status(403).with_raw(r#"{"error":{"message":"no access"}}"#),
            status(500).with_upstream_code(Some("content_filter".into())),
        ] {
            assert_eq!(e.refusal(), None, "{e}");
        }
        assert_eq!(status(403).client_status(), 502);
    }

    #[test]
    fn byok_auth_failures_are_the_callers() {
        let e = status(401).with_byok(true);
        assert_eq!(e.error_type(), "authentication");
        assert_eq!(e.client_status(), 502);
        assert_eq!(
            e.to_error_body().metadata.unwrap()["is_byok"],
            Value::Bool(true)
        );
    }

    #[test]
    fn operator_credential_failures_are_not_shown_to_the_caller() {
        let e = status(401)
            .with_raw(r#"{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}"#);
        let body = e.to_error_body();
        assert_eq!(
            body.message,
            "P refused the gateway's credentials (HTTP 401)"
        );
        let meta = body.metadata.unwrap();
        assert_eq!(meta["raw"], Value::Null);
        assert_eq!(meta["error_type"], "provider_unavailable");
        // With the caller's own key, the caller sees what the provider said.
        let body = e.with_byok(true).to_error_body();
        assert_eq!(body.message, "P: m");
        assert!(body.metadata.unwrap()["raw"].is_string());
    }

    #[test]
    fn error_body_has_provider_metadata() {
        let e = ProviderError::new(
            "alpha",
            "Alpha",
            ErrorKind::Status { status: 429 },
            "slow down",
        )
        .with_raw(r#"{"error":{"message":"slow down"}}"#)
        .with_upstream_code(Some("rate_limit_exceeded".into()));
        let body = serde_json::to_value(e.to_error_body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "code": 429,
                "message": "Alpha: slow down",
                "metadata": {
                    "provider_name": "Alpha",
                    "raw": "{\"error\":{\"message\":\"slow down\"}}",
                    "error_type": "rate_limit_exceeded",
                    "provider_code": "rate_limit_exceeded"
                }
            })
        );
    }

    #[test]
    fn raw_is_truncated_on_a_char_boundary() {
        let long = "é".repeat(RAW_LIMIT); // 2 bytes each
        let e = status(500).with_raw(long);
        let raw = e.raw().unwrap();
        assert!(raw.len() <= RAW_LIMIT);
        assert!(raw.len() >= RAW_LIMIT - 1);
        assert!(raw.chars().all(|c| c == 'é'));
    }

    #[test]
    fn redact_masks_runs_of_the_secret_everywhere() {
        let key = "sk-op-PROVIDERSECRET-0042-abcdefgh";
        let e = ProviderError::new(
            "p",
            "P",
            ErrorKind::Status { status: 400 },
            format!("key {}... is invalid", &key[..23]),
        )
        .with_raw(format!(r#"{{"error":"bad key {key}"}}"#))
        .with_detail(format!("POST http://h/v1?k={}", &key[3..15]))
        .with_upstream_code(Some(format!("bad_{}", &key[..9])))
        .redact(key);
        let shown = format!("{e:?}{e}{:?}", e.to_error_body());
        assert!(!shown.contains(&key[..8]), "{shown}");
        assert!(!shown.contains(&key[10..18]), "{shown}");
        assert_eq!(e.message(), "key [REDACTED]... is invalid");
        assert_eq!(e.raw(), Some(r#"{"error":"bad key [REDACTED]"}"#));
        assert_eq!(e.detail(), Some("POST http://h/v1?k=[REDACTED]"));
        assert_eq!(e.upstream_code(), Some("bad_[REDACTED]"));
    }

    #[test]
    fn the_detail_is_for_the_log_only() {
        let e = ProviderError::new("p", "Mock P", ErrorKind::Connect, "connection failed")
            .with_detail("POST http://127.0.0.1:19210/v1/chat/completions: tcp connect error");
        let body = serde_json::to_string(&e.to_error_body()).unwrap();
        assert!(!body.contains("127.0.0.1"), "{body}");
        assert!(!e.to_string().contains("127.0.0.1"), "{e}");
        assert_eq!(e.to_error_body().message, "Mock P: connection failed");
        assert!(e.detail().unwrap().contains("19210"));
    }

    #[test]
    fn display_is_lowercase_and_names_the_provider() {
        let e = status(503);
        assert_eq!(e.to_string(), "provider p: upstream returned 503: m");
    }
}
