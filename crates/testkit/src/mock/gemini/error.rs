//! Gemini (Google API) error responses:
//! `{"error":{"code","message","status","details"?}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error the Gemini API would send; renders as its JSON body.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ApiError {
    status: StatusCode,
    code_name: &'static str,
    message: String,
    details: Vec<Value>,
}

impl ApiError {
    /// This error with another message.
    pub(super) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub(super) fn new(
        status: StatusCode,
        code_name: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code_name,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// A 400 `INVALID_ARGUMENT`.
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// No key at all: Google refuses anonymous callers with a 403.
    pub(super) fn missing_key() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        )
    }

    /// A wrong key: a 400 `INVALID_ARGUMENT` with reason `API_KEY_INVALID`.
    pub(super) fn wrong_key() -> Self {
        const MESSAGE: &str = "API key not valid. Please pass a valid API key.";
        Self {
            details: vec![
                json!({
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": { "service": "generativelanguage.googleapis.com" },
                }),
                json!({
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": MESSAGE,
                }),
            ],
            ..Self::invalid(MESSAGE)
        }
    }

    pub(super) fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "INVALID_ARGUMENT",
            "Request payload size exceeds the limit.",
        )
    }

    /// The model is unknown (or not served by the mock).
    pub(super) fn model_not_found(model: &str, method: &str) -> Self {
        Self::not_found(format!(
            "models/{model} is not found for API version v1beta, or is not supported for \
             {method}. Call ListModels to see the list of available models and their supported \
             methods."
        ))
    }

    /// The error Gemini gives with `status` (a code outside 100..=999
    /// becomes 500): 400 `INVALID_ARGUMENT`, 401 `UNAUTHENTICATED`, 403
    /// `PERMISSION_DENIED`, 404 `NOT_FOUND`, 409 `ABORTED`, 429
    /// `RESOURCE_EXHAUSTED` (with a `RetryInfo` detail of 1s), 499
    /// `CANCELLED`, 500 `INTERNAL`, 501 `UNIMPLEMENTED`, 503 `UNAVAILABLE`,
    /// 504 `DEADLINE_EXCEEDED`; other 4xx `FAILED_PRECONDITION`, other 5xx
    /// `INTERNAL`.
    pub(super) fn status(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code_name, message) = match status.as_u16() {
            400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
            401 => (
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
            403 => ("PERMISSION_DENIED", "The caller does not have permission"),
            404 => ("NOT_FOUND", "Requested entity was not found."),
            409 => ("ABORTED", "The operation was aborted."),
            429 => (
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            ),
            499 => ("CANCELLED", "The operation was cancelled."),
            500 => (
                "INTERNAL",
                "An internal error has occurred. Please retry or report in \
                 https://developers.generativeai.google/guide/troubleshooting",
            ),
            501 => ("UNIMPLEMENTED", "Method not implemented."),
            503 => (
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
            ),
            504 => (
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
            ),
            _ if status.is_server_error() => ("INTERNAL", "An internal error has occurred."),
            _ => ("FAILED_PRECONDITION", "The request failed."),
        };
        let mut error = Self::new(status, code_name, message);
        if status == StatusCode::TOO_MANY_REQUESTS {
            error.details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": "1s",
            }));
        }
        error
    }

    /// The `{"error": ...}` body.
    pub(super) fn body(&self) -> Value {
        let mut error = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.code_name,
        });
        if let (false, Some(fields)) = (self.details.is_empty(), error.as_object_mut()) {
            fields.insert("details".to_owned(), json!(self.details));
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}
