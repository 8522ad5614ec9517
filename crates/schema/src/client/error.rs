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
    /// The server could not be reached, did not answer in time, or the
    /// connection broke.
    #[error("{}", transport_message(url, cause))]
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

/// What happened, in words: could not connect, timed out waiting for the
/// answer (the server was reached), or the connection broke.
fn transport_message(url: &str, e: &reqwest::Error) -> String {
    if e.is_connect() {
        format!("could not connect to {url}: {}", innermost(e))
    } else if e.is_timeout() {
        format!("timed out waiting for the answer from {url}")
    } else {
        format!("connection to {url} failed: {}", innermost(e))
    }
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
    // "Connection refused (os error 111)": the number says nothing more.
    let text = cause.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// A short, single-line excerpt of an error body that is not JSON: an
/// HTML page's `<title>` (else its text without tags), whitespace
/// collapsed, cut at `max` characters with an ellipsis. Proxies and load
/// balancers answer errors with whole pages; a message needs a line.
///
/// ```
/// # use tollgate_schema::client::excerpt;
/// let page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>...</body></html>";
/// assert_eq!(excerpt(page, 200), "502 Bad Gateway");
/// assert_eq!(excerpt("a  b\n c", 200), "a b c");
/// assert_eq!(excerpt("abcdef", 3), "abc…");
/// ```
pub fn excerpt(text: &str, max: usize) -> String {
    let lower = text.to_ascii_lowercase();
    let html = lower.contains("<html") || lower.contains("<!doctype html");
    let mut plain = text.to_string();
    if html {
        let title = lower.find("<title").and_then(|start| {
            let open = start + lower[start..].find('>')? + 1;
            let close = open + lower[open..].find("</title")?;
            text.get(open..close)
        });
        plain = match title.filter(|t| !t.trim().is_empty()) {
            Some(t) => t.to_string(),
            None => strip_tags(text),
        };
    }
    let plain = plain.split_whitespace().collect::<Vec<_>>().join(" ");
    if plain.chars().count() > max {
        let head: String = plain.chars().take(max).collect();
        format!("{head}…")
    } else {
        plain
    }
}

/// `text` without `<...>` tags (and without what `<script>` and `<style>`
/// hold, roughly: their content is dropped up to the closing tag).
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        let tag = &rest[lt..];
        let lower = tag.get(..7).unwrap_or(tag).to_ascii_lowercase();
        let end = if lower.starts_with("<script") || lower.starts_with("<style") {
            let close = if lower.starts_with("<script") {
                "</script"
            } else {
                "</style"
            };
            tag.to_ascii_lowercase()
                .find(close)
                .and_then(|c| tag[c..].find('>').map(|g| c + g + 1))
        } else {
            tag.find('>').map(|g| g + 1)
        };
        match end {
            Some(end) => rest = &tag[end..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
