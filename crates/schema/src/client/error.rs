//! What a client call can fail with.

use crate::Extra;
use crate::wire_error::{ErrorBody, ErrorCode};

/// What a call can fail with.
///
/// API errors keep the server's error object, so `code`, `message` and
/// `metadata` (`provider_name`, `raw`, `error_type`, ...) are all at hand:
///
/// ```
/// # use tollgate_schema::client::ClientError;
/// # use tollgate_schema::wire_error::ErrorBody;
/// let e = ClientError::Api { status: 402, body: ErrorBody::new(402, "Insufficient credits") };
/// assert_eq!(e.status(), Some(402));
/// assert_eq!(e.message(), "Insufficient credits");
/// assert!(!e.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("API error {status}: {}", body.message)]
    Api {
        /// HTTP status.
        status: u16,
        /// The error object (code, message, metadata).
        body: ErrorBody,
    },
    /// The stream ended with an error chunk.
    #[error("stream error: {}", .0.message)]
    Stream(ErrorBody),
    /// The server could not be reached or the connection broke.
    #[error("cannot reach {url}: {}", innermost(cause))]
    Http {
        /// What was called.
        url: String,
        /// Why.
        cause: reqwest::Error,
    },
    /// The answer is not what the API specifies.
    #[error("unexpected response from {url}: {message}")]
    Decode {
        /// What was called.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The client was configured wrongly (bad base URL or key).
    #[error("client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The HTTP status of an API error (or the numeric code of a stream
    /// error), if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::Stream(body) => body.code.status(),
            _ => None,
        }
    }

    /// The error object's `code`, for API and stream errors.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.body().map(|b| &b.code)
    }

    /// The server's message for API and stream errors, else this error's
    /// text.
    pub fn message(&self) -> String {
        match self.body() {
            Some(b) => b.message.clone(),
            None => self.to_string(),
        }
    }

    /// The error object's `metadata` (`provider_name`, `raw`,
    /// `error_type`, ...), when the server sent one.
    pub fn metadata(&self) -> Option<&Extra> {
        self.body().and_then(|b| b.metadata.as_ref())
    }

    /// The error object, for API and stream errors.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            ClientError::Api { body, .. } | ClientError::Stream(body) => Some(body),
            _ => None,
        }
    }

    /// Whether trying again may succeed: a connection failure or timeout,
    /// 408, 429 or a 5xx. Never a 4xx otherwise, and never a stream error
    /// (the answer had already started).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Api { status, .. } => retryable_status(*status),
            ClientError::Http { cause, .. } => cause.is_connect() || cause.is_timeout(),
            _ => false,
        }
    }
}

/// 408, 429 and every 5xx.
pub(crate) fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// The most specific cause of a transport error ("Connection refused"),
/// rather than reqwest's outer "error sending request for url (...)".
fn innermost(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return String::from("timed out");
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
