//! `ApiError`: every error the HTTP API returns, rendered in the seed's shape
//! `{"error":{"code","message","metadata"}}` with the matching status.
//!
//! [`ApiError::body`] is the one place an error becomes what a client
//! reads (a JSON answer, a stream's error chunk) and what the log says of
//! it, so it bounds what the client sent us and we echo: every quoted run
//! of a message (`` `model` ``, serde's `"value"`) is cut at
//! [`ECHO_CHARS`] characters and an ellipsis, the field path too, and a
//! whole message at [`MESSAGE_CHARS`]. A 1 MB model id is answered in a
//! few hundred bytes.

use std::borrow::Cow;

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_schema::Extra;
use tollgate_schema::wire_error::{ErrorBody, ErrorResponse};
use tollgate_transport::ProviderError;

/// Most characters of one echo of client input (a quoted run of a
/// message, the field path) before it is cut with `…`.
pub const ECHO_CHARS: usize = 200;
/// Most characters of a whole error message before it is cut with `…`.
pub const MESSAGE_CHARS: usize = 2000;

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a field is invalid.
    #[error("{message}")]
    BadRequest {
        /// What is wrong, naming the field.
        message: String,
        /// The offending field, when known.
        field: Option<String>,
    },
    /// 401: no key, an unknown key, or a disabled key.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 402: the balance or the key's limit cannot cover the request.
    #[error("{0}")]
    PaymentRequired(String),
    /// 404: no such model, generation or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 413: the body is larger than allowed.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// No endpoint can serve the request, with the reason each was
    /// excluded (503: no provider meets the routing requirements; 400 when
    /// the prompt fits no context; 404 for a `:free` variant with no free
    /// endpoint).
    #[error("{message}")]
    NoEndpoint {
        /// The status to answer with.
        status: u16,
        /// Why, in words.
        message: String,
    },
    /// 400: the prompt (with the completion's reserve) fits no endpoint's
    /// context. Written as OpenAI words it (`This model's maximum context
    /// length is ...`, `type: invalid_request_error`, `param: messages`,
    /// `metadata.error_type: context_length_exceeded`), so clients raise
    /// their context-window exceptions (litellm, LangChain).
    #[error("{message}")]
    ContextLengthExceeded {
        /// What did not fit where.
        message: String,
    },
    /// 403: a moderated endpoint's input was flagged (by the moderation
    /// backend or the provider itself) and no endpoint was left
    /// (api-reference "Moderation Errors").
    #[error("{}", .0.message)]
    Moderated(Box<Flagged>),
    /// The provider failed and no fallback was left.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// 500: our own fault; logged, never detailed to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A flagged input: what the moderation 403's metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flagged {
    /// The error's message.
    pub message: String,
    /// Why the input was flagged (the categories).
    pub reasons: Vec<String>,
    /// The flagged text, at most 100 characters.
    pub flagged_input: String,
    /// The display name of the provider that requires moderation.
    pub provider_name: String,
    /// The model id the client asked for.
    pub model_slug: String,
}

impl ApiError {
    /// A 400 naming a field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::BadRequest {
            message: message.into(),
            field: Some(field),
        }
    }

    /// A 400 with a message only.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
            field: None,
        }
    }

    /// The error for a request body axum could not read: over
    /// `max_body_bytes` (its `DefaultBodyLimit`) is a 413, anything else
    /// (a broken upload) a 400. Without this the rejection would answer in
    /// plain text.
    pub fn from_body_rejection(rejection: BytesRejection, limit: usize) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::ContextLengthExceeded { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Moderated(_) => StatusCode::FORBIDDEN,
            ApiError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NoEndpoint { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            ApiError::Provider(e) => {
                StatusCode::from_u16(e.client_status()).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error.metadata.error_type` of WIRE-NOTES.
    fn error_type(&self) -> &str {
        match self {
            ApiError::BadRequest { .. } => "invalid_request",
            ApiError::Unauthorized(_) => "authentication",
            ApiError::Forbidden(_) => "permission_denied",
            ApiError::PaymentRequired(_) => "payment_required",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "invalid_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::NoEndpoint { .. } => "provider_unavailable",
            ApiError::ContextLengthExceeded { .. } => "context_length_exceeded",
            ApiError::Moderated(_) => "content_policy_violation",
            ApiError::Provider(e) => e.error_type(),
            ApiError::Internal(_) => "server",
        }
    }

    /// The error object, as sent in a body or a mid-stream chunk, with
    /// echoes of the request bounded (see the module docs).
    pub fn body(&self) -> ErrorBody {
        let mut body = self.unbounded_body();
        if let Cow::Owned(m) = bound_echoes(&body.message) {
            body.message = m;
        }
        if let Some(field) = body.metadata.as_mut().and_then(|m| m.get_mut("field"))
            && let Some(text) = field.as_str()
            && let Cow::Owned(cut) = cut_chars(text, ECHO_CHARS)
        {
            *field = cut.into();
        }
        body
    }

    fn unbounded_body(&self) -> ErrorBody {
        if let ApiError::Provider(e) = self {
            return e.to_error_body();
        }
        if let ApiError::Moderated(f) = self {
            let mut metadata = Extra::new();
            metadata.insert("reasons".into(), f.reasons.clone().into());
            metadata.insert("flagged_input".into(), f.flagged_input.clone().into());
            metadata.insert("provider_name".into(), f.provider_name.clone().into());
            metadata.insert("model_slug".into(), f.model_slug.clone().into());
            metadata.insert("error_type".into(), self.error_type().into());
            return ErrorBody {
                metadata: Some(metadata),
                ..ErrorBody::new(403, f.message.clone())
            };
        }
        let status = self.status().as_u16();
        let message = match self {
            // Internal details stay in the log.
            ApiError::Internal(_) => String::from("Internal server error"),
            other => other.to_string(),
        };
        let mut metadata = Extra::new();
        metadata.insert("error_type".into(), self.error_type().into());
        if let ApiError::BadRequest { field: Some(f), .. } = self {
            metadata.insert("field".into(), f.clone().into());
        }
        let mut extra = Extra::new();
        if let ApiError::ContextLengthExceeded { .. } = self {
            extra.insert("type".into(), "invalid_request_error".into());
            extra.insert("param".into(), "messages".into());
        }
        ErrorBody {
            metadata: Some(metadata),
            extra,
            ..ErrorBody::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = self.body();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Provider(e) => {
                tracing::warn!(error = %e, detail = e.detail(), "provider error returned to client")
            }
            // The message as the client reads it: echoes bounded.
            _ => {
                tracing::debug!(status = status.as_u16(), error = %error.message, "request rejected")
            }
        }
        let body = ErrorResponse {
            error,
            user_id: None,
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| {
            b"{\"error\":{\"code\":500,\"message\":\"Internal server error\"}}".to_vec()
        });
        let mut resp = (status, json).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let ApiError::Provider(e) = &self
            && let Some(after) = e.retry_after()
            && let Ok(v) = HeaderValue::from_str(&after.as_secs().max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<tollgate_store::Error> for ApiError {
    fn from(e: tollgate_store::Error) -> Self {
        ApiError::Internal(format!("store: {e}"))
    }
}

impl From<tollgate_schema::Error> for ApiError {
    fn from(e: tollgate_schema::Error) -> Self {
        match &e {
            tollgate_schema::Error::Syntax { .. } => {
                ApiError::bad_request(format!("invalid JSON body: {e}"))
            }
            _ => ApiError::BadRequest {
                field: e.path().map(str::to_string),
                message: format!("invalid request: {e}"),
            },
        }
    }
}

/// `message` with every quoted run (between backticks or double quotes)
/// longer than [`ECHO_CHARS`] cut there with `…`, and the whole cut at
/// [`MESSAGE_CHARS`]. Borrowed when nothing was cut (the usual case).
pub fn bound_echoes(message: &str) -> Cow<'_, str> {
    // Quick path: a message this short cannot hold a long echo.
    if message.len() <= ECHO_CHARS {
        return Cow::Borrowed(message);
    }
    let mut out = String::new();
    let mut copied = 0; // bytes of `message` already in `out`
    let mut rest = message;
    let mut offset = 0;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let start = offset + open + 1;
        let inner_end = message[start..]
            .find(quote)
            .map_or(message.len(), |i| start + i);
        let inner = &message[start..inner_end];
        if let Cow::Owned(cut) = cut_chars(inner, ECHO_CHARS) {
            out.push_str(&message[copied..start]);
            out.push_str(&cut);
            copied = inner_end;
        }
        // Past the closing quote (or the end).
        let next = (inner_end + 1).min(message.len());
        offset = next;
        rest = &message[next..];
    }
    let bounded: Cow<'_, str> = if copied == 0 {
        Cow::Borrowed(message)
    } else {
        out.push_str(&message[copied..]);
        Cow::Owned(out)
    };
    match cut_chars(&bounded, MESSAGE_CHARS) {
        Cow::Owned(cut) => Cow::Owned(cut),
        Cow::Borrowed(_) => bounded,
    }
}

/// `text` cut after `max` characters with `…` (borrowed when it is not
/// longer).
pub fn cut_chars(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((at, _)) => {
            let mut cut = String::with_capacity(at + '…'.len_utf8());
            cut.push_str(&text[..at]);
            cut.push('…');
            Cow::Owned(cut)
        }
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_echoes_are_cut() {
        let long = "m".repeat(1_000_000);
        let cut = format!("{}…", "m".repeat(ECHO_CHARS));
        let exact = "e".repeat(ECHO_CHARS);
        let table = [
            // (message, bounded)
            ("short `x` stays".to_string(), "short `x` stays".to_string()),
            (
                format!("model `{long}` not found"),
                format!("model `{cut}` not found"),
            ),
            (
                format!(r#"invalid type: string "{long}", expected u32 at line 1"#),
                format!(r#"invalid type: string "{cut}", expected u32 at line 1"#),
            ),
            // two echoes, one long; an echo of exactly the limit is kept
            (
                format!("`{exact}` and `{long}`"),
                format!("`{exact}` and `{cut}`"),
            ),
            // an unterminated quote runs to the end
            (format!("bad `{long}"), format!("bad `{cut}")),
            // quotes of the other kind inside an echo
            (
                format!("unknown variant `a\"{long}`, expected"),
                format!(
                    "unknown variant `a\"{}…`, expected",
                    "m".repeat(ECHO_CHARS - 2)
                ),
            ),
        ];
        for (message, want) in table {
            let got = bound_echoes(&message);
            assert_eq!(got, want, "{}", &message[..40.min(message.len())]);
        }
    }

    #[test]
    fn whole_messages_are_bounded_too() {
        let words = "word ".repeat(10_000);
        let got = bound_echoes(&words);
        assert_eq!(got.chars().count(), MESSAGE_CHARS + 1);
        assert!(got.ends_with('…'));
        // multi-byte characters are cut whole
        let accents = format!("`{}`", "é".repeat(500));
        let got = bound_echoes(&accents);
        assert_eq!(got, format!("`{}…`", "é".repeat(ECHO_CHARS)));
    }

    #[test]
    fn bodies_bound_the_message_and_the_field() {
        let long = "x".repeat(5000);
        let e = ApiError::field(
            format!("provider.{long}"),
            format!("invalid request: unknown field `{long}`"),
        );
        let body = e.body();
        assert!(body.message.len() < 300, "{}", body.message);
        let field = body.metadata.unwrap()["field"].as_str().unwrap().to_owned();
        assert_eq!(field.chars().count(), ECHO_CHARS + 1);
        assert!(field.starts_with("provider.xxx") && field.ends_with('…'));
    }
}
