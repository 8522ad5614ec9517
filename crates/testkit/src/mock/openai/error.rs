//! OpenAI error responses: `{"error":{"message","type","param","code"}}`.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error the OpenAI API would send; renders as its JSON body, with
/// `retry-after: 1` on 429 and 503.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<&'static str>,
}

impl ApiError {
    /// This error with another message.
    pub(super) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub(super) fn new(
        status: StatusCode,
        message: impl Into<String>,
        kind: &'static str,
        code: Option<&'static str>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code,
        }
    }

    /// A 400 about one request parameter.
    pub(super) fn invalid(message: impl Into<String>, param: &str, code: &'static str) -> Self {
        Self {
            param: Some(param.to_owned()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                message,
                "invalid_request_error",
                Some(code),
            )
        }
    }

    pub(super) fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            param,
            "missing_required_parameter",
        )
    }

    pub(super) fn wrong_type(param: &str, expected: &str) -> Self {
        Self::invalid(
            format!("Invalid type for '{param}': expected {expected}."),
            param,
            "invalid_type",
        )
    }

    pub(super) fn malformed_json() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
             but what was sent was not valid JSON. If you have trouble figuring out how to fix \
             this, please contact us through our help center at help.openai.com.)",
            "invalid_request_error",
            None,
        )
    }

    pub(super) fn no_model() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "you must provide a model parameter",
            "invalid_request_error",
            None,
        )
    }

    pub(super) fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
        )
    }

    pub(super) fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), \
             or as the password field (with blank username) if you're accessing the API \
             from your browser and are prompted for a username and password. You can \
             obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
        )
    }

    pub(super) fn wrong_key(key: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "Incorrect API key provided: {}. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                redact(key)
            ),
            "invalid_request_error",
            Some("invalid_api_key"),
        )
    }

    /// The error a real OpenAI would give with `status` (a code outside
    /// 100..=999 becomes 500).
    pub(super) fn status(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (message, kind, code) = match status.as_u16() {
            400 => ("Bad request.", "invalid_request_error", None),
            401 => (
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            403 => (
                "You are not allowed to access this resource.",
                "invalid_request_error",
                None,
            ),
            404 => (
                "The model does not exist or you do not have access to it.",
                "invalid_request_error",
                Some("model_not_found"),
            ),
            408 => ("Request timed out.", "timeout", None),
            429 => (
                "Rate limit reached for requests. Please try again in 1s.",
                "requests",
                Some("rate_limit_exceeded"),
            ),
            500 => (
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            502 => ("Bad gateway.", "server_error", None),
            503 => (
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
            ),
            504 => ("Gateway timeout.", "server_error", None),
            _ if status.is_server_error() => ("The server had an error.", "server_error", None),
            _ => ("The request failed.", "invalid_request_error", None),
        };
        Self::new(status, message, kind, code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Shows a key the way OpenAI does: a few characters at each end.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}
