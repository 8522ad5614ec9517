//! `ApiError`: every error the HTTP API returns, rendered in the seed's shape
//! `{"error":{"code","message","metadata"}}` with the matching status.

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tollgate_schema::Extra;
use tollgate_schema::wire_error::{ErrorBody, ErrorResponse};
use tollgate_transport::ProviderError;

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
    /// excluded (404, 400 when the prompt fits no context, 503 when all are
    /// down).
    #[error("{message}")]
    NoEndpoint {
        /// The status to answer with.
        status: u16,
        /// Why, in words.
        message: String,
    },
    /// The provider failed and no fallback was left.
    #[error("{0}")]
    Provider(#[from] ProviderError),
    /// 500: our own fault; logged, never detailed to the client.
    #[error("internal error: {0}")]
    Internal(String),
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
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
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
            ApiError::Provider(e) => e.error_type(),
            ApiError::Internal(_) => "server",
        }
    }

    /// The error object, as sent in a body or a mid-stream chunk.
    pub fn body(&self) -> ErrorBody {
        if let ApiError::Provider(e) = self {
            return e.to_error_body();
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
        ErrorBody {
            metadata: Some(metadata),
            ..ErrorBody::new(status, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Provider(e) => {
                tracing::warn!(error = %e, "provider error returned to client")
            }
            _ => tracing::debug!(status = status.as_u16(), error = %self, "request rejected"),
        }
        let body = ErrorResponse {
            error: self.body(),
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
