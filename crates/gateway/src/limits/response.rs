//! The 429 of a refused request, and the optional headers of an admitted
//! one, as OpenRouter sends them (WIRE-NOTES §4).

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tollgate_schema::Extra;
use tollgate_schema::wire_error::{ErrorBody, ErrorResponse};

use super::{Allowed, Limited};

/// `X-RateLimit-Limit`: requests the window allows.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: requests left in the window.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`: the window's end, Unix milliseconds.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The three `X-RateLimit-*` values, in OpenRouter's spelling (for the body's
/// `metadata.headers`) and as header names.
fn limit_headers(
    limit: u64,
    remaining: u64,
    reset_ms: u64,
) -> [(HeaderName, &'static str, u64); 3] {
    [
        (X_RATELIMIT_LIMIT, "X-RateLimit-Limit", limit),
        (X_RATELIMIT_REMAINING, "X-RateLimit-Remaining", remaining),
        (X_RATELIMIT_RESET, "X-RateLimit-Reset", reset_ms),
    ]
}

impl Limited {
    /// The error object: code 429, OpenRouter's message, and metadata
    /// `{error_type: "rate_limit_exceeded", headers: {X-RateLimit-*}}`
    /// (OpenRouter repeats the limit headers in the body, where clients that
    /// only see the body read the reset time).
    pub fn body(&self) -> ErrorBody {
        let mut headers = Extra::new();
        for (_, name, value) in limit_headers(self.limit, self.remaining, self.reset_at_unix_ms) {
            headers.insert(name.into(), Value::String(value.to_string()));
        }
        let mut metadata = Extra::new();
        metadata.insert("error_type".into(), "rate_limit_exceeded".into());
        metadata.insert("headers".into(), Value::Object(headers));
        ErrorBody {
            metadata: Some(metadata),
            ..ErrorBody::new(429, self.message.clone())
        }
    }
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        tracing::debug!(
            scope = %self.scope,
            limit = self.limit,
            retry_after_s = self.retry_after_s,
            "rate limited"
        );
        let body = ErrorResponse {
            error: self.body(),
            user_id: None,
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"code":429,"message":"Rate limit exceeded"}}"#.to_vec()
        });
        let mut resp = (StatusCode::TOO_MANY_REQUESTS, json).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_s.max(1)),
        );
        for (name, _, value) in limit_headers(self.limit, self.remaining, self.reset_at_unix_ms) {
            h.insert(name, HeaderValue::from(value));
        }
        resp
    }
}

impl Allowed {
    /// Adds `X-RateLimit-Limit/Remaining/Reset` for the tightest limit, if
    /// any applies. Only when [`super::RateLimitConfig::headers_on_success`]
    /// is set: OpenRouter sends none on success.
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        if let Some(q) = self.tightest {
            for (name, _, value) in limit_headers(q.limit, q.remaining, q.reset_at_unix_ms) {
                headers.insert(name, HeaderValue::from(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Quota, Scope};
    use super::*;

    fn limited() -> Limited {
        Limited {
            scope: Scope::FreeMinute,
            limit: 20,
            remaining: 0,
            reset_at_unix_ms: 1_800_000_060_000,
            retry_after_s: 42,
            message: String::from("Rate limit exceeded: free-models-per-min."),
        }
    }

    #[tokio::test]
    async fn a_429_has_openrouters_shape_and_headers() {
        let resp = limited().into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = resp.headers();
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["retry-after"], "42");
        assert_eq!(h["x-ratelimit-limit"], "20");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["x-ratelimit-reset"], "1800000060000");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {
                "code": 429,
                "message": "Rate limit exceeded: free-models-per-min.",
                "metadata": {
                    "error_type": "rate_limit_exceeded",
                    "headers": {
                        "X-RateLimit-Limit": "20",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": "1800000060000"
                    }
                }
            }})
        );
    }

    #[test]
    fn retry_after_is_never_zero() {
        let resp = Limited {
            retry_after_s: 0,
            ..limited()
        }
        .into_response();
        assert_eq!(resp.headers()["retry-after"], "1");
    }

    #[test]
    fn success_headers_only_when_a_limit_applies() {
        let mut h = HeaderMap::new();
        Allowed { tightest: None }.apply_headers(&mut h);
        assert!(h.is_empty());
        Allowed {
            tightest: Some(Quota {
                scope: Scope::FreeDay,
                limit: 200,
                remaining: 7,
                reset_at_unix_ms: 1_800_028_800_000,
            }),
        }
        .apply_headers(&mut h);
        assert_eq!(h["x-ratelimit-limit"], "200");
        assert_eq!(h["x-ratelimit-remaining"], "7");
        assert_eq!(h["x-ratelimit-reset"], "1800028800000");
    }
}
