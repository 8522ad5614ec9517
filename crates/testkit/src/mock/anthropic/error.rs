//! Anthropic error responses:
//! `{"type":"error","error":{"type","message"},"request_id"}`.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::mock::common;

/// Anthropic's non-standard "overloaded" status.
pub(super) const OVERLOADED: u16 = 529;

/// An error the Anthropic API would send; renders as its JSON body, with
/// `retry-after: 1` on 429, 503 and 529.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    /// This error with another message.
    pub(super) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub(super) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// A 400 `invalid_request_error`.
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// A required field is missing (pydantic's wording, as the API has it).
    pub(super) fn missing(field: &str) -> Self {
        Self::invalid(format!("{field}: Field required"))
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    pub(super) fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        )
    }

    pub(super) fn wrong_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        )
    }

    pub(super) fn missing_version() -> Self {
        Self::invalid("anthropic-version: header is required")
    }

    pub(super) fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        )
    }

    /// The error the Anthropic API gives with `status` (a code outside
    /// 100..=999 becomes 500). The types follow Anthropic's error table:
    /// 400 `invalid_request_error`, 401 `authentication_error`, 402
    /// `billing_error`, 403 `permission_error`, 404 `not_found_error`, 413
    /// `request_too_large`, 429 `rate_limit_error`, 500 `api_error`, 529
    /// `overloaded_error`; other 4xx are `invalid_request_error`, other 5xx
    /// `api_error`.
    pub(super) fn status(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message) = match status.as_u16() {
            400 => (
                "invalid_request_error",
                "There was an issue with the format or content of your request.",
            ),
            401 => ("authentication_error", "invalid x-api-key"),
            402 => ("billing_error", "Your credit balance is too low."),
            403 => (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            404 => (
                "not_found_error",
                "The requested resource could not be found.",
            ),
            413 => (
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            429 => (
                "rate_limit_error",
                "This request would exceed the rate limit for your organization. \
                 Please try again later.",
            ),
            500 => ("api_error", "Internal server error"),
            OVERLOADED => ("overloaded_error", "Overloaded"),
            _ if status.is_server_error() => ("api_error", "Internal server error"),
            _ => ("invalid_request_error", "The request failed."),
        };
        Self::new(status, kind, message)
    }

    /// The body, with the id of the request being handled.
    pub(super) fn body(&self) -> Value {
        let mut body = json!({
            "type": "error",
            "error": { "type": self.kind, "message": self.message },
        });
        if let (Some(id), Some(fields)) = (common::request_id(), body.as_object_mut()) {
            fields.insert("request_id".to_owned(), json!(id));
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = matches!(self.status.as_u16(), 429 | 503 | OVERLOADED);
        let mut response = (self.status, Json(self.body())).into_response();
        if retry {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The data of the `error` event Anthropic sends mid-stream when it is
/// overloaded.
pub(super) fn stream_error_data() -> Value {
    json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
}
