//! Moderation through HTTP: endpoints marked `is_moderated` (`mock/moderated`
//! on Mock Alpha) have their input checked by a `[moderation]` backend
//! speaking the OpenAI moderation API — here `MockModeration`, a real HTTP
//! server outside the gateway that flags `[mock:flag=CATEGORY]` — before
//! any hold or upstream call (api-reference "Moderation Errors": 403 with
//! `reasons`, `flagged_input` at most 100 characters cut in the middle with
//! `...`, `provider_name`, `model_slug`). A provider's own content refusal
//! gets the same 403.

use axum::body::Body;
use axum::http::{Method, Request, header};
use tollgate_gateway::config::ModerationConfig;
use tollgate_testkit::MockModeration;

use super::support::*;

fn backend_at(base_url: String) -> ModerationConfig {
    ModerationConfig {
        base_url,
        model: String::from("omni-moderation-latest"),
        api_key_env: None,
        timeout_secs: 5.0,
    }
}

async fn moderated(backend: &MockModeration, postgres: bool) -> TestGateway {
    start_with(Options {
        moderation: Some(backend_at(backend.base_url())),
        postgres,
        ..Options::default()
    })
    .await
}

/// `GET /api/v1/generation?id=` with the test key.
async fn generation(gw: &TestGateway, id: &str) -> Value {
    gw.gateway.sync_books().await;
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/v1/generation?id={id}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
        .body(Body::empty())
        .unwrap();
    let reply = gw.oneshot(request).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["data"].clone()
}

const FLAGGED_MESSAGE: &str = "mock/moderated requires moderation on Mock Alpha. Your input was \
     flagged for \"violence\". No credits were charged.";

#[tokio::test]
async fn a_flagged_input_is_refused_before_any_hold_on_sqlite_and_postgres() {
    for postgres in [false, true] {
        let backend = MockModeration::start().await.unwrap();
        let gw = moderated(&backend, postgres).await;
        let text = "[mock:flag=violence] how do I hurt someone";
        let reply = gw.chat(&chat_body("mock/moderated", text)).await;
        let error = assert_error(&reply, 403);
        assert_eq!(
            error,
            json!({
                "code": 403,
                "message": FLAGGED_MESSAGE,
                "metadata": {
                    "reasons": ["violence"],
                    "flagged_input": text,
                    "provider_name": "Mock Alpha",
                    "model_slug": "mock/moderated",
                    "error_type": "content_policy_violation",
                },
            }),
            "postgres: {postgres}"
        );
        // The backend was asked once, in the moderation API's shape; the
        // provider never.
        assert_eq!(backend.request_count(), 1);
        assert_eq!(
            backend.bodies(),
            [json!({"model": "omni-moderation-latest", "input": [text]})]
        );
        assert_eq!(gw.alpha.request_count(), 0);
        // No hold, no charge, no generation: the ledger has the top-up only.
        gw.gateway.sync_books().await;
        let ledger = gw.gateway.store().ledger(&gw.account_id).await.unwrap();
        assert_eq!(ledger.len(), 1, "postgres: {postgres}: {ledger:?}");
        let balance = gw.gateway.balance(&gw.account_id).await.unwrap();
        assert_eq!(balance.available, rust_decimal::Decimal::from(10));
    }
}

#[tokio::test]
async fn a_long_flagged_input_is_cut_to_100_characters_in_the_middle() {
    let backend = MockModeration::start().await.unwrap();
    let gw = moderated(&backend, false).await;
    let words: String = (0..30).map(|i| format!("w{i:02} ")).collect();
    let text = format!("[mock:flag=harassment] {words}end");
    assert!(text.chars().count() > 100);
    let reply = gw.chat(&chat_body("mock/moderated", &text)).await;
    let error = assert_error(&reply, 403);
    let flagged = error["metadata"]["flagged_input"].as_str().unwrap();
    // 100 characters: the first 48, `...`, the last 49.
    let chars: Vec<char> = text.chars().collect();
    let head: String = chars[..48].iter().collect();
    let tail: String = chars[chars.len() - 49..].iter().collect();
    assert_eq!(flagged, format!("{head}...{tail}"));
    assert_eq!(flagged.chars().count(), 100);
    assert_eq!(error["metadata"]["reasons"], json!(["harassment"]));
}

#[tokio::test]
async fn a_clean_input_is_served_and_the_check_shows_in_generation() {
    let backend = MockModeration::start().await.unwrap();
    let gw = moderated(&backend, false).await;
    let reply = gw.chat(&chat_body("mock/moderated", "hello there")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    assert_eq!(v["model"], "mock/moderated");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(backend.request_count(), 1);
    assert_eq!(gw.alpha.request_count(), 1);
    let data = generation(&gw, v["id"].as_str().unwrap()).await;
    assert!(
        data["moderation_latency"].is_u64(),
        "moderation_latency: {data}"
    );

    // `/models` says which model is moderated.
    let models = gw.get("/api/v1/models").await.json();
    let top = |id: &str| {
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()["top_provider"]["is_moderated"]
            .clone()
    };
    assert_eq!(top("mock/moderated"), true);
    assert_eq!(top("mock/echo"), false);

    // An unmoderated generation has none.
    let reply = gw.chat(&chat_body("mock/echo", "hello")).await;
    let data = generation(&gw, reply.json()["id"].as_str().unwrap()).await;
    assert_eq!(data["moderation_latency"], Value::Null);
}

#[tokio::test]
async fn unmoderated_endpoints_never_ask_the_backend() {
    let backend = MockModeration::start().await.unwrap();
    let gw = moderated(&backend, false).await;
    let reply = gw
        .chat(&chat_body("mock/echo", "[mock:flag=violence] hi"))
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    // A moderated fallback that is never reached is never checked either.
    let body = json!({
        "models": ["mock/echo", "mock/moderated"],
        "messages": [{"role": "user", "content": "[mock:flag=violence] hi"}],
    });
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["model"], "mock/echo");
    assert_eq!(backend.request_count(), 0);
}

#[tokio::test]
async fn a_models_fallback_moves_on_from_a_flagged_model() {
    let backend = MockModeration::start().await.unwrap();
    let gw = moderated(&backend, false).await;
    let body = json!({
        "models": ["mock/moderated", "mock/echo"],
        "messages": [{"role": "user", "content": "[mock:flag=violence] hi"}],
    });
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["model"], "mock/echo");
    assert_eq!(backend.request_count(), 1);

    // A moderated fallback reached after the others failed is checked
    // then (once), and its refusal is the last error: every echo endpoint
    // fails with a 503, the moderated model is flagged.
    let body = json!({
        "models": ["mock/echo", "mock/moderated"],
        "messages": [{"role": "user", "content": "[mock:status=503] [mock:flag=violence] hi"}],
    });
    let reply = gw.chat(&body).await;
    let error = assert_error(&reply, 403);
    assert_eq!(error["metadata"]["model_slug"], "mock/moderated");
    assert_eq!(error["metadata"]["reasons"], json!(["violence"]));
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-alpha=503,mock-beta=503,mock-gamma=503,mock-alpha=moderated")
    );
    assert_eq!(backend.request_count(), 2);
}

#[tokio::test]
async fn a_flagged_stream_is_a_403_json_before_streaming() {
    let backend = MockModeration::start().await.unwrap();
    let gw = moderated(&backend, false).await;
    let text = "[mock:flag=violence] hi";
    let response = gw
        .chat_http(&streamed(chat_body("mock/moderated", text)))
        .await;
    assert_eq!(response.status(), 403);
    let content_type = response.headers()[header::CONTENT_TYPE.as_str()]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error"]["code"], 403);
    assert_eq!(v["error"]["message"], FLAGGED_MESSAGE);
    assert_eq!(v["error"]["metadata"]["flagged_input"], text);
    assert_eq!(gw.alpha.request_count(), 0);
}

#[tokio::test]
async fn a_provider_s_own_content_refusal_is_the_moderation_403_not_a_502() {
    let gw = start().await;
    // OpenAI dialect: Azure OpenAI's content filter (a 400 with code
    // `content_filter`, violence filtered) from each of the three
    // providers in turn.
    let text = "[mock:refuse] something";
    let reply = gw.chat(&chat_body("mock/echo", text)).await;
    let error = assert_error(&reply, 403);
    assert_eq!(error["metadata"]["reasons"], json!(["violence"]));
    assert_eq!(error["metadata"]["flagged_input"], text);
    assert_eq!(error["metadata"]["provider_name"], "Mock Gamma");
    assert_eq!(error["metadata"]["model_slug"], "mock/echo");
    assert_eq!(error["metadata"]["error_type"], "content_policy_violation");
    assert_eq!(gw.request_counts(), [1, 1, 1]);
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-alpha=400,mock-beta=400,mock-gamma=400")
    );

    // Anthropic: "Output blocked by content filtering policy".
    let reply = gw
        .chat(&chat_body("mock/echo-anthropic", "[mock:refuse] x"))
        .await;
    let error = assert_error(&reply, 403);
    assert_eq!(error["metadata"]["reasons"], json!(["content_filter"]));
    assert_eq!(error["metadata"]["provider_name"], "Mock Anthropic");
    assert_eq!(error["metadata"]["model_slug"], "mock/echo-anthropic");

    // A plain 403 (the operator's credentials) is still not the caller's.
    let reply = gw
        .chat(&chat_body("mock/echo-anthropic", "[mock:status=403] x"))
        .await;
    assert_error(&reply, 502);
}

#[tokio::test]
async fn an_unreachable_backend_fails_closed() {
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let gw = start_with(Options {
        moderation: Some(backend_at(closed)),
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&chat_body("mock/moderated", "hello")).await;
    let error = assert_error(&reply, 503);
    assert_eq!(
        error["message"],
        "mock/moderated requires moderation on Mock Alpha, and the moderation service is unavailable"
    );
    assert_eq!(gw.alpha.request_count(), 0);
    // Unmoderated fallbacks still serve.
    let body = json!({
        "models": ["mock/moderated", "mock/echo"],
        "messages": [{"role": "user", "content": "hello"}],
    });
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["model"], "mock/echo");

    // A backend answering an error status is down too.
    let backend = MockModeration::start().await.unwrap();
    let gw = moderated(&backend, false).await;
    let reply = gw
        .chat(&chat_body(
            "mock/moderated",
            "[mock:moderation_status=500] hi",
        ))
        .await;
    assert_error(&reply, 503);
    assert_eq!(backend.request_count(), 1);
    assert_eq!(gw.alpha.request_count(), 0);
}

/// `tollgated --dev` serves `mock/moderated` with its own mock backend
/// (the `dev` feature: built with `--workspace`).
#[cfg(feature = "dev")]
#[tokio::test]
async fn dev_mode_demonstrates_moderation() {
    use tower::ServiceExt as _;
    let env = tollgate_gateway::dev::DevEnvironment::start(None)
        .await
        .unwrap();
    let backend = env.moderation.as_ref().unwrap();
    let send = |text: &str| {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/chat/completions")
            .header(header::AUTHORIZATION, format!("Bearer {}", env.api_key))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(chat_body("mock/moderated", text).to_string()))
            .unwrap();
        env.gateway.router().oneshot(request)
    };
    let flagged = send("[mock:flag=violence] hi").await.unwrap();
    assert_eq!(flagged.status(), 403);
    let body = axum::body::to_bytes(flagged.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["metadata"]["reasons"], json!(["violence"]));
    assert_eq!(v["error"]["metadata"]["provider_name"], "Mock Alpha");
    let clean = send("hi").await.unwrap();
    assert_eq!(clean.status(), 200);
    assert_eq!(backend.request_count(), 2);
}
