//! CORS: preflight answered, actual answers readable from a page, and a
//! configured list of origins enforced.

use axum::body::Body;
use axum::http::{Method, Request, header};

use crate::support::*;

fn preflight(origin: &str, method: &str, headers: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/v1/chat/completions")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(Body::empty())
        .unwrap()
}

fn chat_from(gw: &TestGateway, origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/chat/completions")
        .header(header::ORIGIN, origin)
        .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(chat_body("mock/echo", "hi").to_string()))
        .unwrap()
}

/// The comma-separated names of a header, lowercased.
fn names(reply: &Reply, header: &str) -> Vec<String> {
    reply
        .header(header)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

#[tokio::test]
async fn a_preflight_from_any_origin_is_answered_by_default() {
    let gw = start().await;
    let sdk_headers = "authorization, content-type, http-referer, x-title, x-api-key, \
                       anthropic-version, anthropic-beta, x-stainless-os, x-stainless-retry-count";
    let reply = gw
        .oneshot(preflight("https://chat.example", "POST", sdk_headers))
        .await;
    assert!(reply.status.is_success(), "preflight: {}", reply.status);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(
        names(&reply, "access-control-allow-methods").contains(&"post".to_string()),
        "{:?}",
        reply.headers
    );
    let allowed = names(&reply, "access-control-allow-headers");
    for h in sdk_headers.split(", ") {
        assert!(allowed.contains(&h.to_string()), "{h} not in {allowed:?}");
    }
    // Any origin, so no credentials.
    assert_eq!(reply.header("access-control-allow-credentials"), None);
    assert!(reply.header("access-control-max-age").is_some());
    // The preflight reached no provider.
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn an_answer_exposes_the_generation_provider_and_rate_limit_headers() {
    let gw = start().await;
    let reply = gw.oneshot(chat_from(&gw, "https://chat.example")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let exposed = names(&reply, "access-control-expose-headers");
    for h in [
        "x-generation-id",
        "x-tollgate-provider",
        "x-tollgate-attempts",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
    ] {
        assert!(exposed.contains(&h.to_string()), "{h} not in {exposed:?}");
    }
    // An error answer is readable by the page too.
    let unauthenticated = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/key")
        .header(header::ORIGIN, "https://chat.example")
        .body(Body::empty())
        .unwrap();
    let reply = gw.oneshot(unauthenticated).await;
    assert_error(&reply, 401);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_allowed() {
    let gw = start_with(Options {
        cors: Some((vec!["https://app.example".into()], true)),
        ..Options::default()
    })
    .await;
    let reply = gw
        .oneshot(preflight("https://app.example", "POST", "authorization"))
        .await;
    assert!(reply.status.is_success(), "preflight: {}", reply.status);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    let reply = gw.oneshot(chat_from(&gw, "https://app.example")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    // Another origin gets no grant: the browser blocks the page.
    let reply = gw
        .oneshot(preflight("https://evil.example", "POST", "authorization"))
        .await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
    let reply = gw.oneshot(chat_from(&gw, "https://evil.example")).await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_settings_are_validated_at_load() {
    let parse = |text: &str| {
        tollgate_gateway::Config::parse(
            text,
            std::path::Path::new("cors-test"),
            std::path::PathBuf::new(),
        )
    };
    let config = parse("").unwrap();
    assert_eq!(config.server.cors_allowed_origins, vec!["*".to_string()]);
    assert!(!config.server.cors_allow_credentials);
    for bad in [
        "[server]\ncors_allowed_origins = [\"*\"]\ncors_allow_credentials = true\n",
        "[server]\ncors_allowed_origins = [\"https://a.example/\"]\n",
        "[server]\ncors_allowed_origins = [\"*\", \"https://a.example\"]\n",
        "[server]\ncors_allowed_origins = [\"a.example\"]\n",
    ] {
        assert!(parse(bad).is_err(), "{bad} was accepted");
    }
    assert!(
        parse(
            "[server]\ncors_allowed_origins = [\"https://a.example\", \"http://localhost:3000\"]\n\
             cors_allow_credentials = true\n"
        )
        .is_ok()
    );
}

#[tokio::test]
async fn no_origins_means_no_cors_headers() {
    let gw = start_with(Options {
        cors: Some((vec![], false)),
        ..Options::default()
    })
    .await;
    let reply = gw.oneshot(chat_from(&gw, "https://chat.example")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), None);
}
