//! Errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}`
//! with the gateway's status.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;
use tollgate_schema::Extra;
use tollgate_schema::messages::{ErrorObject, ErrorResponse};
use tollgate_schema::wire_error::ErrorBody;

use crate::error::ApiError;

/// Anthropic's error `type` for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if (400..500).contains(&s) => "invalid_request_error",
        _ => "api_error",
    }
}

/// The gateway's error object in Anthropic's shape; its `metadata`
/// (provider name, raw upstream error) is kept beside `type` and
/// `message`.
pub fn error_object(status: u16, body: &ErrorBody) -> ErrorObject {
    let mut extra = Extra::new();
    if let Some(m) = &body.metadata {
        extra.insert("metadata".into(), Value::Object(m.clone()));
    }
    ErrorObject {
        kind: error_type(status).to_string(),
        message: body.message.clone(),
        extra,
    }
}

/// Rewrites an error answer of the gateway (`{"error":{"code",...}}`)
/// into Anthropic's shape, keeping its status and headers
/// (`retry-after`, `x-should-retry`, `x-tollgate-attempts`); successful
/// answers pass unchanged.
pub async fn error_response(resp: Response) -> Response {
    let status = resp.status();
    if status.is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let error = serde_json::from_slice::<tollgate_schema::wire_error::ErrorResponse>(&bytes)
        .map(|e| e.error)
        .unwrap_or_else(|_| {
            ErrorBody::new(
                status.as_u16(),
                status.canonical_reason().unwrap_or("error"),
            )
        });
    let wire = ErrorResponse {
        kind: String::from("error"),
        error: error_object(status.as_u16(), &error),
    };
    let json = serde_json::to_vec(&wire).unwrap_or_else(|_| {
        br#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#
            .to_vec()
    });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(json))
}

/// An error answered before anything else, in Anthropic's shape.
pub async fn error(e: ApiError) -> Response {
    use axum::response::IntoResponse;
    error_response(e.into_response()).await
}
