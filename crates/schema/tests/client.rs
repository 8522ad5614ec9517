//! The typed client against wiremock replaying OpenRouter-shaped answers:
//! every method's request (path, headers, body) and parsed response,
//! retries, and recorded streams.
#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tollgate_schema::chat::{ChatRequest, Message, Role};
use tollgate_schema::client::types::{ActivityQuery, AuthKeysRequest, KeyUpdate, ListKeys, NewKey};
use tollgate_schema::client::{Client, ClientError};
use tollgate_schema::completions::{CompletionRequest, Prompt};
use tollgate_schema::embeddings::{EmbeddingInput, EmbeddingRequest};
use tollgate_schema::wire_error::ErrorCode;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk-or-v1-test";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/e2e")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A client of `server` with fast retries.
fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .api_key(KEY)
        .referer("https://example.com/app")
        .title("Client Tests")
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .build()
        .unwrap()
}

/// Mounts `method path` (authenticated, with the app headers) answering
/// `status` with `body`, expected once.
async fn route(server: &MockServer, m: &str, p: &str, status: u16, body: Value) {
    Mock::given(method(m))
        .and(path(format!("/api/v1{p}")))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("http-referer", "https://example.com/app"))
        .and(header("x-title", "Client Tests"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.remove(0)
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn hello(model: &str) -> ChatRequest {
    ChatRequest {
        model: Some(model.into()),
        messages: Some(vec![Message::text(Role::User, "Hello")]),
        ..ChatRequest::default()
    }
}

fn completion_json() -> Value {
    json!({
        "id": "gen-1", "object": "chat.completion", "created": 1733000000,
        "model": "openai/gpt-4o", "provider": "OpenAI",
        "choices": [{"index": 0, "finish_reason": "stop", "native_finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Bonjour"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7, "cost": 0.00001}
    })
}

// --- every method --------------------------------------------------------

#[tokio::test]
async fn chat_sends_the_request_and_parses_the_completion() {
    let server = MockServer::start().await;
    route(&server, "POST", "/chat/completions", 200, completion_json()).await;
    let answer = client(&server).chat(&hello("openai/gpt-4o")).await.unwrap();
    assert_eq!(answer.id, "gen-1");
    assert_eq!(
        answer.choices[0].message.content.as_deref(),
        Some("Bonjour")
    );
    assert_eq!(answer.usage.unwrap().total_tokens, 7);
    let r = only_request(&server).await;
    assert_eq!(
        body(&r),
        json!({"model": "openai/gpt-4o", "stream": false,
               "messages": [{"role": "user", "content": "Hello"}]})
    );
    assert_eq!(r.headers["x-openrouter-title"], "Client Tests");
    assert_eq!(r.headers["content-type"], "application/json");
}

#[tokio::test]
async fn completions_and_embeddings() {
    let server = MockServer::start().await;
    route(
        &server,
        "POST",
        "/completions",
        200,
        json!({"id": "gen-2", "object": "text_completion", "created": 1, "model": "m/x",
               "choices": [{"text": "lo", "index": 0, "logprobs": null, "finish_reason": "stop"}]}),
    )
    .await;
    route(
        &server,
        "POST",
        "/embeddings",
        200,
        json!({"object": "list", "model": "m/e",
               "data": [{"object": "embedding", "embedding": [0.5, -1.0], "index": 0}],
               "usage": {"prompt_tokens": 2, "total_tokens": 2, "cost": 0.0000001}}),
    )
    .await;
    let c = client(&server);
    let text = c
        .completions(&CompletionRequest {
            model: Some("m/x".into()),
            prompt: Prompt::Text("Hel".into()),
            ..serde_json::from_value(json!({"prompt": ""})).unwrap()
        })
        .await
        .unwrap();
    assert_eq!(text.choices[0].text, "lo");
    let emb = c
        .embeddings(&EmbeddingRequest {
            model: "m/e".into(),
            input: EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
            ..serde_json::from_value(json!({"model": "", "input": ""})).unwrap()
        })
        .await
        .unwrap();
    assert_eq!(emb.data.len(), 1);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        body(&requests[0]),
        json!({"model": "m/x", "prompt": "Hel", "stream": false})
    );
    assert_eq!(
        body(&requests[1]),
        json!({"model": "m/e", "input": ["a", "b"]})
    );
}

#[tokio::test]
async fn models_endpoints_and_providers() {
    let server = MockServer::start().await;
    let pricing = json!({"prompt": "0.0000025", "completion": "0.00001"});
    let arch = json!({"modality": "text->text", "input_modalities": ["text"],
                      "output_modalities": ["text"], "tokenizer": "GPT"});
    route(
        &server,
        "GET",
        "/models",
        200,
        json!({"data": [{"id": "openai/gpt-4o", "canonical_slug": "openai/gpt-4o", "name": "GPT-4o",
            "created": 1, "description": "d", "context_length": 128000, "architecture": arch,
            "pricing": pricing, "top_provider": {"context_length": 128000,
            "max_completion_tokens": 16384, "is_moderated": true},
            "per_request_limits": null, "supported_parameters": ["tools"],
            "knowledge_cutoff": "2023-10"}]}),
    )
    .await;
    route(
        &server,
        "GET",
        "/models/openai/gpt-4o/endpoints",
        200,
        json!({"data": {"id": "openai/gpt-4o", "name": "GPT-4o", "created": 1, "description": "d",
            "architecture": arch, "endpoints": [{"name": "OpenAI | openai/gpt-4o",
            "model_id": "openai/gpt-4o", "model_name": "GPT-4o", "context_length": 128000,
            "pricing": pricing, "provider_name": "OpenAI", "tag": "openai", "quantization": null,
            "max_completion_tokens": 16384, "max_prompt_tokens": null,
            "supported_parameters": ["tools"], "status": 0, "uptime_last_30m": 99.5,
            "supports_implicit_caching": true, "latency_last_30m": null,
            "throughput_last_30m": null}]}}),
    )
    .await;
    route(
        &server,
        "GET",
        "/providers",
        200,
        json!({"data": [{"name": "OpenAI", "slug": "openai",
            "privacy_policy_url": "https://openai.com/privacy", "headquarters": "US"}]}),
    )
    .await;
    let c = client(&server);
    let models = c.models().await.unwrap();
    assert_eq!(models.data[0].pricing.prompt, d("0.0000025"));
    assert_eq!(models.data[0].extra["knowledge_cutoff"], "2023-10");
    let eps = c.endpoints("openai/gpt-4o").await.unwrap();
    assert_eq!(eps.data.endpoints[0].tag, "openai");
    let providers = c.providers().await.unwrap();
    assert_eq!(providers.data[0].slug, "openai");
}

#[tokio::test]
async fn credits_key_generation_and_activity() {
    let server = MockServer::start().await;
    route(
        &server,
        "GET",
        "/credits",
        200,
        json!({"data": {"total_credits": 100.5, "total_usage": 0.25}}),
    )
    .await;
    route(
        &server,
        "GET",
        "/key",
        200,
        json!({"data": {"label": "sk-or-v1-abc...xyz", "limit": null, "limit_remaining": null,
            "limit_reset": null, "usage": 0.25, "usage_daily": 0.25, "usage_weekly": 0.25,
            "usage_monthly": 0.25, "byok_usage": 0, "byok_usage_daily": 0, "byok_usage_weekly": 0,
            "byok_usage_monthly": 0, "include_byok_in_limit": false, "is_free_tier": false,
            "is_management_key": false, "is_provisioning_key": false, "creator_user_id": null,
            "rate_limit": {"requests": -1, "interval": "10s", "note": "deprecated"}}}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/generation"))
        .and(query_param("id", "gen-1733000000-abc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "id": "gen-1733000000-abc", "upstream_id": "chatcmpl-1", "total_cost": 0.000093,
            "cache_discount": null, "created_at": "2024-12-01T00:00:00Z", "model": "openai/gpt-4o",
            "app_id": null, "streamed": true, "cancelled": false, "provider_name": "OpenAI",
            "latency": 312, "generation_time": 900, "finish_reason": "stop",
            "tokens_prompt": 13, "tokens_completion": 6, "native_tokens_prompt": 13,
            "native_tokens_completion": 6, "is_byok": false, "api_type": "completions",
            "data_region": "global", "provider_responses": null}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/activity"))
        .and(query_param("date", "2024-12-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{
            "date": "2024-12-01", "model": "openai/gpt-4o", "model_permaslug": "openai/gpt-4o-2024-08-06",
            "endpoint_id": "ep-1", "provider_name": "OpenAI", "usage": 1.5,
            "byok_usage_inference": 0, "requests": 12, "prompt_tokens": 1000,
            "completion_tokens": 500, "reasoning_tokens": 0}]})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let credits = c.credits().await.unwrap();
    assert_eq!(credits.remaining(), d("100.25"));
    let key = c.key().await.unwrap();
    assert_eq!(key.limit, None);
    assert_eq!(key.usage.usage, d("0.25"));
    assert!(key.extra.contains_key("rate_limit"));
    let g = c.generation("gen-1733000000-abc").await.unwrap();
    assert_eq!(g.total_cost, d("0.000093"));
    assert_eq!(g.tokens_completion, Some(6));
    assert_eq!(g.extra["data_region"], "global");
    let rows = c
        .activity(&ActivityQuery {
            date: Some("2024-12-01".into()),
            ..ActivityQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows[0].requests, 12);
    assert_eq!(rows[0].usage, d("1.5"));
    // Unknown fields round-trip.
    let back = serde_json::to_value(&g).unwrap();
    assert_eq!(back["provider_responses"], Value::Null);
    assert_eq!(back["data_region"], "global");
}

fn key_info(hash: &str, name: &str, disabled: bool, limit: Value) -> Value {
    json!({"hash": hash, "name": name, "label": name, "disabled": disabled, "limit": limit,
        "limit_remaining": limit, "limit_reset": null, "include_byok_in_limit": false,
        "usage": 0, "usage_daily": 0, "usage_weekly": 0, "usage_monthly": 0, "byok_usage": 0,
        "byok_usage_daily": 0, "byok_usage_weekly": 0, "byok_usage_monthly": 0,
        "created_at": "2025-01-01T00:00:00Z", "updated_at": null, "expires_at": null,
        "creator_user_id": null, "workspace_id": "ws-1"})
}

#[tokio::test]
async fn keys_crud() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/keys"))
        .and(query_param("include_disabled", "true"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [key_info("h1", "ci", false, json!(null))]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/keys"))
        .and(body_json(
            json!({"name": "ci", "limit": 5.5, "limit_reset": "monthly"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"data": key_info("h2", "ci", false, json!(5.5)), "key": "sk-or-v1-secret"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    route(
        &server,
        "GET",
        "/keys/h2",
        200,
        json!({"data": key_info("h2", "ci", false, json!(5.5))}),
    )
    .await;
    Mock::given(method("PATCH"))
        .and(path("/api/v1/keys/h2"))
        .and(body_json(json!({"disabled": true, "limit": null})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": key_info("h2", "ci", true, json!(null))})),
        )
        .expect(1)
        .mount(&server)
        .await;
    route(&server, "DELETE", "/keys/h2", 200, json!({"deleted": true})).await;

    let c = client(&server);
    let list = c
        .keys_list(&ListKeys {
            include_disabled: Some(true),
            ..ListKeys::default()
        })
        .await
        .unwrap();
    assert_eq!(list[0].hash, "h1");
    assert_eq!(list[0].extra["workspace_id"], "ws-1");
    let created = c
        .keys_create(&NewKey {
            name: "ci".into(),
            limit: Some(d("5.5")),
            limit_reset: Some("monthly".into()),
            ..NewKey::default()
        })
        .await
        .unwrap();
    assert_eq!(created.key, "sk-or-v1-secret");
    assert_eq!(created.data.limit, Some(d("5.5")));
    assert_eq!(c.keys_get("h2").await.unwrap().name, "ci");
    let updated = c
        .keys_update(
            "h2",
            &KeyUpdate {
                disabled: Some(true),
                limit: Some(None),
                ..KeyUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(updated.disabled);
    assert!(c.keys_delete("h2").await.unwrap().deleted);
}

#[tokio::test]
async fn pkce_exchange_needs_no_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/keys"))
        .and(body_json(
            json!({"code": "c0de", "code_verifier": "v", "code_challenge_method": "S256"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"key": "sk-or-v1-new", "user_id": "user_1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::builder()
        .base_url(format!("{}/api/v1/", server.uri()))
        .build()
        .unwrap();
    let out = c
        .auth_keys(&AuthKeysRequest {
            code: "c0de".into(),
            code_verifier: Some("v".into()),
            code_challenge_method: Some("S256".into()),
        })
        .await
        .unwrap();
    assert_eq!(out.key, "sk-or-v1-new");
    assert_eq!(out.user_id.as_deref(), Some("user_1"));
    let r = only_request(&server).await;
    assert!(!r.headers.contains_key("authorization"));
}

// --- errors and retries --------------------------------------------------

#[tokio::test]
async fn an_api_error_is_typed() {
    let server = MockServer::start().await;
    route(
        &server,
        "POST",
        "/chat/completions",
        400,
        json!({"error": {"code": 400, "message": "openai/gpt-5 is not a valid model ID",
            "metadata": {"provider_name": null, "error_type": "invalid_model"}}, "user_id": "u1"}),
    )
    .await;
    let e = client(&server)
        .chat(&hello("openai/gpt-5"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.code(), Some(&ErrorCode::Status(400)));
    assert_eq!(e.message(), "openai/gpt-5 is not a valid model ID");
    assert_eq!(e.metadata().unwrap()["error_type"], "invalid_model");
    assert!(!e.is_retryable());
    assert_eq!(
        e.to_string(),
        "API error 400: openai/gpt-5 is not a valid model ID"
    );
}

#[tokio::test]
async fn a_non_json_error_keeps_its_status_and_text() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_string("not here"))
        .mount(&server)
        .await;
    let e = client(&server).credits().await.unwrap_err();
    assert!(matches!(&e, ClientError::Api { status: 404, .. }), "{e:?}");
    assert_eq!(e.message(), "not here");
}

#[tokio::test]
async fn a_503_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(
                json!({"error": {"code": 503, "message": "No instances available"}}),
            ),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion_json()))
        .expect(1)
        .mount(&server)
        .await;
    let answer = client(&server).chat(&hello("openai/gpt-4o")).await.unwrap();
    assert_eq!(answer.id, "gen-1");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    // The same body both times.
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(
                    json!({"error": {"code": 429, "message": "Rate limit exceeded",
                    "metadata": {"error_type": "rate_limit_exceeded"}}}),
                ),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"total_credits": 1, "total_usage": 0}})),
        )
        .mount(&server)
        .await;
    let start = Instant::now();
    let credits = client(&server).credits().await.unwrap();
    assert_eq!(credits.total_credits, d("1"));
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn retries_give_up_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .expect(4)
        .mount(&server)
        .await;
    let e = client(&server).models().await.unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert!(e.is_retryable());
    let c = Client::builder()
        .base_url(server.uri())
        .max_retries(0)
        .build()
        .unwrap();
    c.models().await.unwrap_err();
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_400_and_should_retry_false_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"code": 400, "message": "bad"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(502)
                .insert_header("x-should-retry", "false")
                .set_body_json(json!({"error": {"code": 502, "message": "all providers failed"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(c.chat(&hello("x/y")).await.unwrap_err().status(), Some(400));
    assert_eq!(c.models().await.unwrap_err().status(), Some(502));
}

#[tokio::test]
async fn an_unreachable_server_is_an_http_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}/api/v1"))
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .unwrap();
    let e = c.models().await.unwrap_err();
    assert!(matches!(e, ClientError::Http { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(
        e.to_string()
            .starts_with("could not connect to http://127.0.0.1:"),
        "{e}"
    );
}

#[test]
fn bad_configuration_is_refused() {
    assert!(matches!(
        Client::builder().build(),
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        Client::new("ftp://example.com", "k"),
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        Client::new("http://example.com", "bad\nkey"),
        Err(ClientError::Config(_))
    ));
}

// --- streams -------------------------------------------------------------

async fn sse_server(body: String, status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_recorded_openrouter_stream_yields_typed_chunks() {
    let server = sse_server(fixture("openrouter-stream.sse"), 200).await;
    let mut stream = client(&server)
        .chat_stream(&hello("openai/gpt-4o"))
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(c) = stream.next().await {
        chunks.push(c.unwrap());
    }
    // Comments and [DONE] are not chunks.
    assert_eq!(chunks.len(), 6);
    let text: String = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.content.as_deref())
        .collect();
    assert_eq!(text, "Bonjour, café ☕!");
    let usage = chunks[5].usage.as_ref().unwrap();
    assert!(chunks[5].choices.is_empty());
    assert_eq!(usage.total_tokens, 19);
    assert_eq!(usage.cost, Some(d("0.000093")));
    let r = only_request(&server).await;
    assert_eq!(body(&r)["stream"], true);
}

#[tokio::test]
async fn an_error_chunk_ends_the_stream_with_its_error() {
    let server = sse_server(fixture("openrouter-stream-error.sse"), 200).await;
    let mut stream = client(&server)
        .chat_stream(&hello("openai/gpt-4o"))
        .await
        .unwrap();
    let mut text = String::new();
    let mut error = None;
    while let Some(c) = stream.next().await {
        match c {
            Ok(c) => text.extend(c.choices.iter().filter_map(|c| c.delta.content.clone())),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(text, "Partial answer");
    let e = error.expect("an error");
    assert!(matches!(&e, ClientError::Stream(_)), "{e:?}");
    assert_eq!(e.code(), Some(&ErrorCode::Text("server_error".into())));
    assert_eq!(e.message(), "Provider disconnected");
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn a_stream_that_fails_before_starting_is_an_api_error_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"code": 503, "message": "busy"}})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(fixture("openrouter-stream.sse")),
        )
        .mount(&server)
        .await;
    let stream = client(&server)
        .chat_stream(&hello("openai/gpt-4o"))
        .await
        .unwrap();
    let chunks: Vec<_> = stream.collect().await;
    assert_eq!(chunks.len(), 6);
    assert!(chunks.iter().all(Result::is_ok));
}

#[tokio::test]
async fn a_garbled_chunk_ends_the_stream_with_a_decode_error() {
    let server = sse_server(
        String::from("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[]}\n\ndata: ping\n\n"),
        200,
    )
    .await;
    let stream = client(&server).chat_stream(&hello("m")).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(matches!(items[1], Err(ClientError::Decode { .. })));
}

#[tokio::test]
async fn a_stream_without_done_still_ends() {
    let server = sse_server(
        String::from(": OPENROUTER PROCESSING\n\ndata: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[]}"),
        200,
    )
    .await;
    let stream = client(&server).chat_stream(&hello("m")).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 1);
    assert!(items[0].is_ok());
}

// --- environment -----------------------------------------------------------

#[test]
fn from_env_prefers_tollgate_then_openrouter() {
    // One test touches the environment, so no other test races it.
    // SAFETY-free: set_var is unsafe in edition 2024; this crate forbids
    // unsafe, so drive `builder_from_env` through a child process instead.
    let exe = std::env::current_exe().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["--exact", "env_probe", "--nocapture", "--include-ignored"]);
        for v in [
            "TOLLGATE_BASE_URL",
            "TOLLGATE_API_KEY",
            "OPENROUTER_API_KEY",
        ] {
            cmd.env_remove(v);
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("PROBE "))
            .map(String::from)
            .unwrap_or_else(|| panic!("no probe output: {stdout}"))
    };
    assert_eq!(
        run(&[("OPENROUTER_API_KEY", "k")]),
        "https://openrouter.ai/api/v1"
    );
    assert_eq!(
        run(&[
            ("OPENROUTER_API_KEY", "k"),
            ("TOLLGATE_BASE_URL", "http://h/api/v1")
        ]),
        "http://h/api/v1"
    );
    assert_eq!(run(&[]), "config error");
}

#[test]
#[ignore = "run by from_env_prefers_tollgate_then_openrouter in a child process"]
#[allow(clippy::print_stdout)]
fn env_probe() {
    match Client::from_env() {
        Ok(c) => println!("PROBE {}", c.base_url()),
        Err(ClientError::Config(_)) => println!("PROBE config error"),
        Err(e) => println!("PROBE {e}"),
    }
}

#[tokio::test]
async fn the_timeout_bounds_the_whole_call_so_no_retry_starts_past_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("retry-after", "5")
                .set_body_json(json!({"error": {"code": 503, "message": "busy"}})),
        )
        .mount(&server)
        .await;
    let c = Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .timeout(Duration::from_secs(2))
        .max_retries(3)
        .build()
        .unwrap();
    let e = c.models().await.unwrap_err();
    assert_eq!(e.status(), Some(503));
    // The 5 s wait would end past the 2 s budget: one attempt only.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_a_timeout_not_a_connection_failure() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": []}))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let c = Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .timeout(Duration::from_millis(300))
        .max_retries(0)
        .build()
        .unwrap();
    let e = c.models().await.unwrap_err();
    assert!(matches!(e, ClientError::Http { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("timed out waiting for the answer from http://127.0.0.1:"),
        "{e}"
    );
}

#[test]
fn an_html_error_page_becomes_its_title() {
    let page = "<html><head><script>var x = '<b>';</script><title>\n  Bad   Gateway </title></head><body>x</body></html>";
    assert_eq!(tollgate_schema::client::excerpt(page, 200), "Bad Gateway");
    let untitled = "<!DOCTYPE html><html><style>p { }</style><body><h1>Oops</h1> <p>try later</p></body></html>";
    assert_eq!(
        tollgate_schema::client::excerpt(untitled, 200),
        "Oops try later"
    );
}

#[tokio::test]
async fn each_retry_is_reported_with_its_reason() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"code": 503, "message": "busy"}})),
        )
        .mount(&server)
        .await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let c = Client::builder()
        .base_url(format!("{}/api/v1", server.uri()))
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .max_retries(2)
        .on_retry(move |n| {
            log.lock()
                .unwrap()
                .push((n.retry, n.max_retries, n.reason.clone()))
        })
        .build()
        .unwrap();
    c.models().await.unwrap_err();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].0, seen[0].1), (1, 2));
    assert_eq!(seen[1].0, 2);
    assert!(seen[0].2.contains("503"), "{seen:?}");
}
