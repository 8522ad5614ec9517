//! CORS (`[server] cors_allowed_origins`): browser apps call the API
//! directly, so preflight `OPTIONS` requests are answered and every answer
//! names the headers a page may read.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::ServerConfig;
use crate::limits::{X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET};

/// How long a browser may cache a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(7200);

/// The response headers a page may read: the generation id, the provider
/// and attempts, the rate-limit headers, `Retry-After` and the request id.
fn exposed() -> Vec<HeaderName> {
    vec![
        super::GENERATION_ID,
        super::PROVIDER,
        super::ATTEMPTS,
        HeaderName::from_static("x-tollgate-quantization"),
        HeaderName::from_static("x-tollgate-middle-out"),
        crate::pipeline::hold::MAX_TOKENS_CAPPED,
        HeaderName::from_static("x-should-retry"),
        crate::observe::request_id::HEADER,
        X_RATELIMIT_LIMIT,
        X_RATELIMIT_REMAINING,
        X_RATELIMIT_RESET,
        header::RETRY_AFTER,
    ]
}

/// The configured CORS rules, as a layer; none when
/// `cors_allowed_origins` is empty. The config is validated at load (no
/// `*` with credentials, every origin a valid header value), so building
/// the layer cannot panic on what [`crate::config::Config::parse`] accepts;
/// an origin that is still not a header value is skipped.
pub(crate) fn layer(server: &ServerConfig) -> Option<CorsLayer> {
    let origins = &server.cors_allowed_origins;
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    let credentials = server.cors_allow_credentials && !origins.iter().any(|o| o == "*");
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        // Whatever the preflight asks for: Authorization, Content-Type,
        // HTTP-Referer, X-Title, x-api-key, anthropic-version,
        // anthropic-beta, the SDKs' many `x-stainless-*`; a fixed list
        // would break the next SDK header.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(exposed())
        .allow_credentials(credentials)
        .max_age(MAX_AGE);
    Some(layer)
}
