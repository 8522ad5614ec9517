//! The edge, hardened (issue 18): no secret or internal address in what a
//! client reads, rate limits on every route that calls a model, and money
//! in messages printed exactly.

use axum::body::Body;
use axum::http::{Method, Request, header};
use rust_decimal::Decimal;
use tollgate_gateway::AdminAuth;

use crate::support::*;

const BYOK_SECRET: &str = "gateway hardening test secret key, at least 32 chars";

/// Asserts that `text` holds no run of 8 characters of `secret`.
fn assert_no_run(text: &str, secret: &str, what: &str) {
    for run in secret.as_bytes().windows(8) {
        let run = std::str::from_utf8(run).unwrap();
        assert!(
            !text.contains(run),
            "{what}: {run:?} of the secret in {text}"
        );
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// `PUT /api/v1/byok/{provider}` with a provisioning key of the test
/// account (storing a provider key needs one).
async fn store_byok(gw: &TestGateway, provider: &str, key: &str) {
    let (provisioning, _) = gw
        .gateway
        .store()
        .create_api_key(
            &gw.account_id,
            tollgate_store::NewApiKey {
                label: "byok manager".to_owned(),
                kind: tollgate_store::KeyKind::Provisioning,
            },
        )
        .await
        .unwrap();
    let request = Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/v1/byok/{provider}"))
        .header(header::AUTHORIZATION, format!("Bearer {provisioning}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"api_key": key, "always_use": true}).to_string(),
        ))
        .unwrap();
    let reply = gw.oneshot(request).await;
    assert!(reply.status.is_success(), "{}", text(&reply));
}

/// The `/generation` record of a reply, when it has one.
async fn generation_record(gw: &TestGateway, reply: &Reply) -> String {
    let Some(id) = reply.header("x-generation-id") else {
        return String::new();
    };
    gw.gateway.sync_books().await;
    let request = Request::builder()
        .uri(format!("/api/v1/generation?id={id}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
        .body(Body::empty())
        .unwrap();
    text(&gw.oneshot(request).await)
}

/// An upstream echoing part of the key it was called with (here the
/// account's own key, BYOK) never shows it to the client, in any dialect,
/// in a JSON error, before a stream starts or in a stream's error chunk,
/// nor in the generation record.
#[tokio::test]
async fn keys_echoed_by_an_upstream_are_masked_in_every_dialect() {
    let gw = start_with(Options {
        byok_secret: Some(BYOK_SECRET),
        ..Options::default()
    })
    .await;
    let cases = [
        (
            "mock-alpha",
            "mock/echo",
            "sk-user-ALPHASECRET-00112233-aabbcc",
        ),
        (
            "mock-anthropic",
            "mock/echo-anthropic",
            "sk-ant-user-ANTHROPICSECRET-4455",
        ),
        (
            "mock-gemini",
            "mock/echo-gemini",
            "AIza-user-GEMINISECRET-66778899",
        ),
    ];
    for (provider, model, key) in cases {
        store_byok(&gw, provider, key).await;
        // A 400 echoing the first 23 characters: not retryable, so the
        // client gets it, message and raw body.
        let reply = gw.chat(&chat_body(model, "hi [mock:echo_key=23]")).await;
        let error = assert_error(&reply, 400);
        assert_no_run(&text(&reply), key, model);
        assert!(
            error["message"].as_str().unwrap().contains("[REDACTED]"),
            "{model}: {error}"
        );
        assert!(
            error["metadata"]["raw"]
                .as_str()
                .unwrap()
                .contains("[REDACTED]"),
            "{model}: {error}"
        );
        assert_no_run(&generation_record(&gw, &reply).await, key, model);

        // Streamed: refused before the first chunk (a real status), then
        // failing after it (the stream's error chunk).
        let reply = gw
            .chat(&streamed(chat_body(model, "hi [mock:echo_key]")))
            .await;
        assert_error(&reply, 400);
        assert_no_run(&text(&reply), key, model);
        let reply = gw
            .chat(&streamed(chat_body(
                model,
                "hi [mock:echo_key] [mock:stream_error]",
            )))
            .await;
        assert_eq!(reply.status, 200, "{model}");
        let body = text(&reply);
        let chunks = chunks(&parse_sse(&body));
        let failed = chunks
            .iter()
            .find(|c| c.get("error").is_some())
            .unwrap_or_else(|| panic!("{model}: no error chunk in {body}"));
        assert!(
            failed["error"]["message"]
                .as_str()
                .unwrap()
                .contains("[REDACTED]"),
            "{model}: {failed}"
        );
        assert_no_run(&body, key, model);
        assert_no_run(&generation_record(&gw, &reply).await, key, model);
    }
}

/// The admin key is masked in provider errors too: an upstream that knows
/// it (here a hand-written one) cannot show it to a client.
#[tokio::test]
async fn the_admin_key_is_masked_in_provider_errors() {
    const ADMIN: &str = "sk-tg-admin-HARDENING-0123456789abcdef";
    let echo = format!("admin key {} leaked", &ADMIN[..20]);
    let upstream = axum::Router::new().fallback({
        let echo = echo.clone();
        move || {
            let body = json!({"error": {"message": echo, "code": "bad"}}).to_string();
            async move { (axum::http::StatusCode::BAD_REQUEST, body) }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let gw = start_with(Options {
        alpha_base_url: Some(format!("http://{addr}/v1")),
        ..Options::default()
    })
    .await;
    let _admin = gw.gateway.clone().with_admin(AdminAuth::new(ADMIN));
    let reply = gw.chat(&chat_body("mock/echo", "hi")).await;
    let error = assert_error(&reply, 400);
    assert_no_run(&text(&reply), ADMIN, "admin key");
    assert_eq!(
        error["message"], "Mock Alpha: admin key [REDACTED] leaked",
        "{error}"
    );
}

/// A provider that cannot be reached is named, with the reason; its
/// address is for the log, never for the client.
#[tokio::test]
async fn connection_failures_name_the_provider_not_its_address() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let gw = start_with(Options {
        alpha_base_url: Some(format!("http://{addr}/v1")),
        ..Options::default()
    })
    .await;
    let mut body = chat_body("mock/echo", "hi");
    body["provider"] = json!({"only": ["mock-alpha"]});
    for body in [body.clone(), streamed(body)] {
        let reply = gw.chat(&body).await;
        let error = assert_error(&reply, 502);
        assert_eq!(error["message"], "Mock Alpha: connection failed", "{error}");
        assert_eq!(error["metadata"]["provider_name"], "Mock Alpha");
        let shown = format!("{}{}", text(&reply), generation_record(&gw, &reply).await);
        assert!(!shown.contains(&addr.port().to_string()), "{shown}");
        assert!(!shown.contains("127.0.0.1"), "{shown}");
    }
}

/// Every route that calls a model goes through the rate limiter: with a
/// surge limit of one request a second, each route answers 429 within a
/// few requests, and the refused request reaches no provider. (Without the
/// limiter no request would ever be refused.)
#[tokio::test]
async fn every_model_route_is_rate_limited() {
    let gw = start_with(Options {
        surge_per_second: 1,
        ..Options::default()
    })
    .await;
    let routes = [
        (
            "chat",
            "/api/v1/chat/completions",
            chat_body("mock/echo", "hi"),
        ),
        (
            "completions, one text prompt",
            "/api/v1/completions",
            json!({"model": "mock/echo", "prompt": "hi"}),
        ),
        (
            "completions passthrough, token ids",
            "/api/v1/completions",
            json!({"model": "mock/echo", "prompt": [[1, 2, 3]], "max_tokens": 5}),
        ),
        (
            "completions passthrough, several prompts",
            "/api/v1/completions",
            json!({"model": "mock/echo", "prompt": ["a", "b"], "max_tokens": 5}),
        ),
        (
            "embeddings",
            "/api/v1/embeddings",
            json!({"model": "mock/embed", "input": "hi"}),
        ),
    ];
    for (what, path, body) in routes {
        let mut limited = None;
        for _ in 0..50 {
            let before = gw.request_counts();
            let reply = gw.post_raw(path, body.to_string()).await;
            if reply.status == 429 {
                limited = Some((reply, before));
                break;
            }
            assert_eq!(reply.status, 200, "{what}: {}", text(&reply));
        }
        let (reply, before) = limited.unwrap_or_else(|| panic!("{what}: never rate limited"));
        let error = assert_error(&reply, 429);
        assert!(reply.header("retry-after").is_some(), "{what}: {error}");
        assert_eq!(
            gw.request_counts(),
            before,
            "{what}: a refused request was sent"
        );
    }
}

/// The 402 names the amounts exactly, never rounded: an account a tenth
/// of a micro-dollar short of the hold is told both amounts to the last
/// digit, and one exactly at it is served.
#[tokio::test]
async fn the_402_prints_money_exactly() {
    for postgres in [false, true] {
        let gw = start_with(Options {
            credits: Some(Decimal::new(1, 7)), // $0.0000001
            postgres,
            ..Options::default()
        })
        .await;
        let body = json!({
            "model": "mock/echo",
            "max_tokens": 2573,
            "messages": [{"role": "user", "content": "hi"}],
        });
        // What the request may cost, as the 402 says it.
        let reply = gw.chat(&body).await;
        let needed = amounts(&assert_error(&reply, 402))[0];
        assert!(needed > Decimal::new(1, 7), "{needed}");

        // A tenth of a micro-dollar short: both amounts, to the last digit.
        let short = needed - Decimal::new(1, 7);
        top_up(&gw, short - Decimal::new(1, 7)).await;
        let reply = gw.chat(&body).await;
        let error = assert_error(&reply, 402);
        assert_eq!(amounts(&error), [needed, short], "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("${}", short.normalize())),
            "{message}"
        );
        // (rounded to 6 decimals, as the message once was, both would read
        // the same)
        assert_eq!(short.round_dp(6), needed);

        // Exactly enough: served.
        top_up(&gw, Decimal::new(1, 7)).await;
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{}", text(&reply));
    }
}

async fn top_up(gw: &TestGateway, amount: Decimal) {
    gw.gateway
        .store()
        .top_up(&gw.account_id, amount, Some("test"))
        .await
        .unwrap();
    gw.gateway.sync_books().await;
}

/// The dollar amounts of a 402 message, in order.
fn amounts(error: &Value) -> Vec<Decimal> {
    error["message"]
        .as_str()
        .unwrap()
        .split('$')
        .skip(1)
        .map(|s| {
            let digits: String = s
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            digits.trim_end_matches('.').parse().unwrap()
        })
        .collect()
}
