//! Golden tests of the Gemini adapter: hand-written fixture cases under
//! `fixtures/gemini/` (see its README) are served by wiremock; each asserts
//! the exact body sent upstream and the exact OpenAI-shaped result, streamed
//! and not.

// Helpers outside `#[test]` functions unwrap too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Map, Value, json};
use tollgate_schema::chat::{ChatChunk, ChatRequest};
use tollgate_schema::embeddings::EmbeddingRequest;
use tollgate_transport::{
    ChatCall, EmbedCall, ErrorKind, GeminiProvider, HttpClient, HttpClientConfig, Provider,
    ProviderError, ProviderSettings, StreamAccumulator,
};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "AIzaSy-test-0123456789abcdef";
const MODEL: &str = "gemini-2.5-flash";

fn fixture_path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn client() -> HttpClient {
    HttpClient::new(HttpClientConfig::default()).unwrap()
}

fn provider_at(base_url: &str) -> GeminiProvider {
    let settings = ProviderSettings::new("gemini", "Google AI Studio", base_url).with_api_key(KEY);
    GeminiProvider::new(settings, client())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `created` is the time of the call: checked, then zeroed so the rest
/// compares exactly.
fn normalize(mut v: Value) -> Value {
    let created = v["created"].as_i64().unwrap();
    assert!((created - now()).abs() < 300, "created {created}");
    v["created"] = json!(0);
    v
}

fn assert_json(actual: &Value, expected: &Value, case: &str, what: &str) {
    assert!(
        actual == expected,
        "{case}: {what} differs\n--- actual\n{}\n--- expected\n{}",
        serde_json::to_string_pretty(actual).unwrap(),
        serde_json::to_string_pretty(expected).unwrap()
    );
}

/// A provider error as the fixtures describe it.
fn describe(e: &ProviderError) -> Value {
    let mut d = Map::new();
    let kind = match e.kind() {
        ErrorKind::Status { status } => {
            d.insert("status".into(), json!(status));
            "status"
        }
        ErrorKind::StreamInterrupted { after_output } => {
            d.insert("after_output".into(), json!(after_output));
            "stream_interrupted"
        }
        ErrorKind::Connect => "connect",
        ErrorKind::Timeout => "timeout",
        ErrorKind::InvalidResponse => "invalid_response",
        ErrorKind::Unsupported => "unsupported",
    };
    d.insert("kind".into(), json!(kind));
    d.insert("message".into(), json!(e.message()));
    if let Some(code) = e.upstream_code() {
        d.insert("upstream_code".into(), json!(code));
    }
    d.insert("retryable".into(), json!(e.is_retryable()));
    d.insert("client_status".into(), json!(e.client_status()));
    d.insert("error_type".into(), json!(e.error_type()));
    if let Some(after) = e.retry_after() {
        d.insert("retry_after_ms".into(), json!(after.as_millis() as u64));
    }
    assert_eq!(e.provider_name(), "Google AI Studio");
    assert!(!format!("{e:?}{e}").contains(KEY), "key leaked: {e:?}");
    json!({ "error": d })
}

fn call_for(case: &Value) -> ChatCall {
    let request: ChatRequest = serde_json::from_value(case["request"].clone()).unwrap();
    let mut call = ChatCall::new(MODEL, Arc::new(request));
    if let Some(max) = case.get("max_output_tokens").and_then(Value::as_u64) {
        call = call.with_max_output_tokens(max as u32);
    }
    call
}

/// Starts a server answering the model's `generateContent` (or, for a
/// stream, `streamGenerateContent?alt=sse`) only with the key header, with
/// `status`, `body` and the case's `upstream_headers`.
async fn server_for(
    case: &Value,
    status: u16,
    body: Vec<u8>,
    content_type: &str,
    stream: bool,
) -> MockServer {
    let server = MockServer::start().await;
    let mut response = ResponseTemplate::new(status).set_body_raw(body, content_type);
    if let Some(Value::Object(headers)) = case.get("upstream_headers") {
        for (k, v) in headers {
            response = response.insert_header(k.as_str(), v.as_str().unwrap());
        }
    }
    let mock = if stream {
        Mock::given(method("POST"))
            .and(path(format!(
                "/v1beta/models/{MODEL}:streamGenerateContent"
            )))
            .and(query_param("alt", "sse"))
    } else {
        Mock::given(method("POST")).and(path(format!("/v1beta/models/{MODEL}:generateContent")))
    };
    mock.and(header("x-goog-api-key", KEY))
        .and(header("content-type", "application/json"))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn sent_body(server: &MockServer) -> Value {
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert!(received[0].headers.get("authorization").is_none());
    // The key travels in a header only, never in the URL.
    assert!(!received[0].url.as_str().contains(KEY));
    received[0].body_json().unwrap()
}

/// Runs fixture case `name` (`<name>.json`, and `<name>.sse` when the case
/// streams): see `fixtures/gemini/README.md`.
async fn golden(name: &str) {
    let case: Value = serde_json::from_slice(&fixture(&format!("{name}.json"))).unwrap();
    let expected_upstream = &case["upstream_request"];
    let status = case
        .get("upstream_status")
        .and_then(Value::as_u64)
        .unwrap_or(200) as u16;

    if status != 200 {
        // An error answer fails the call and the stream alike, before any
        // chunk.
        let body = serde_json::to_vec(&case["upstream_response"]).unwrap();
        for stream in [false, true] {
            let server = server_for(&case, status, body.clone(), "application/json", stream).await;
            let provider = provider_at(&format!("{}/v1beta", server.uri()));
            let err = if stream {
                match provider.chat_stream(call_for(&case)).await {
                    Ok(_) => panic!("{name}: a stream for HTTP {status}"),
                    Err(e) => e,
                }
            } else {
                provider.chat(call_for(&case)).await.unwrap_err()
            };
            assert_json(
                &sent_body(&server).await,
                expected_upstream,
                name,
                "upstream request",
            );
            assert_json(&describe(&err), &case["expected_error"], name, "error");
            assert_eq!(err.raw(), Some(String::from_utf8_lossy(&body).as_ref()));
        }
        return;
    }

    let mut completion = None;
    if let Some(response) = case.get("upstream_response") {
        let server = server_for(
            &case,
            200,
            serde_json::to_vec(response).unwrap(),
            "application/json",
            false,
        )
        .await;
        let provider = provider_at(&format!("{}/v1beta", server.uri()));
        let result = provider.chat(call_for(&case)).await;
        assert_json(
            &sent_body(&server).await,
            expected_upstream,
            name,
            "upstream request",
        );
        let actual = normalize(serde_json::to_value(result.unwrap()).unwrap());
        assert_json(&actual, &case["expected"], name, "completion");
        completion = Some(actual);
    }

    if std::path::Path::new(&fixture_path(&format!("{name}.sse"))).exists() {
        let sse = fixture(&format!("{name}.sse"));
        let server = server_for(&case, 200, sse, "text/event-stream", true).await;
        let provider = provider_at(&format!("{}/v1beta", server.uri()));
        let stream = provider.chat_stream(call_for(&case)).await.unwrap();
        let items: Vec<Result<ChatChunk, ProviderError>> =
            stream.map(|r| r.map(|c| *c)).collect().await;
        assert_json(
            &sent_body(&server).await,
            expected_upstream,
            name,
            "upstream stream request",
        );

        let mut acc = StreamAccumulator::new();
        let mut actual = Vec::new();
        let mut failed = false;
        for item in &items {
            assert!(!failed, "{name}: an item after the error");
            match item {
                Ok(chunk) => {
                    acc.push(chunk);
                    actual.push(normalize(serde_json::to_value(chunk).unwrap()));
                }
                Err(e) => {
                    failed = true;
                    actual.push(describe(e));
                }
            }
        }
        assert_json(
            &Value::Array(actual),
            &case["expected_chunks"],
            name,
            "stream chunks",
        );
        // A folded stream is the non-streamed answer.
        if let (Some(completion), false) = (completion, failed) {
            let folded = normalize(serde_json::to_value(acc.finish()).unwrap());
            assert_json(&folded, &completion, name, "folded stream");
        }
    }
}

// ---- golden cases --------------------------------------------------------

#[tokio::test]
async fn plain_text() {
    golden("text").await;
}

#[tokio::test]
async fn system_instruction() {
    golden("system").await;
}

#[tokio::test]
async fn multi_turn_merges_same_role_messages() {
    golden("multi_turn").await;
}

#[tokio::test]
async fn images_inline_and_by_url() {
    golden("images").await;
}

#[tokio::test]
async fn function_call() {
    golden("tool_call").await;
}

#[tokio::test]
async fn function_responses_round_trip() {
    golden("tool_results").await;
}

#[tokio::test]
async fn parallel_function_calls_across_events() {
    golden("parallel_tools").await;
}

#[tokio::test]
async fn prefill_is_the_last_model_turn() {
    golden("prefill").await;
}

#[tokio::test]
async fn reasoning_becomes_thinking_config() {
    golden("thinking").await;
}

#[tokio::test]
async fn thought_signature_round_trip() {
    golden("thought_signature_round_trip").await;
}

#[tokio::test]
async fn json_mode_is_a_response_schema() {
    golden("json_mode").await;
}

#[tokio::test]
async fn stop_sequences() {
    golden("stop").await;
}

#[tokio::test]
async fn length_cut() {
    golden("length").await;
}

#[tokio::test]
async fn safety_is_content_filter() {
    golden("safety").await;
}

#[tokio::test]
async fn blocked_prompt_is_content_filter() {
    golden("prompt_blocked").await;
}

#[tokio::test]
async fn upstream_400() {
    golden("error_400").await;
}

#[tokio::test]
async fn upstream_400_for_a_bad_key_is_401() {
    golden("error_400_bad_key").await;
}

#[tokio::test]
async fn upstream_403() {
    golden("error_403").await;
}

#[tokio::test]
async fn upstream_429_with_retry_info() {
    golden("error_429").await;
}

#[tokio::test]
async fn upstream_500() {
    golden("error_500").await;
}

#[tokio::test]
async fn upstream_503() {
    golden("error_503").await;
}

#[tokio::test]
async fn stream_cut_before_finish_reason() {
    golden("stream_cut").await;
}

#[tokio::test]
async fn stream_error_event_after_output() {
    golden("stream_error_event").await;
}

#[tokio::test]
async fn stream_error_event_before_output_can_fail_over() {
    golden("stream_error_first").await;
}

// ---- embeddings ------------------------------------------------------------

async fn embed_case(name: &str) {
    let case: Value = serde_json::from_slice(&fixture(&format!("{name}.json"))).unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/v1beta/models/{MODEL_EMBED}:batchEmbedContents"
        )))
        .and(header("x-goog-api-key", KEY))
        .and(body_json(&case["upstream_request"]))
        .respond_with(ResponseTemplate::new(200).set_body_json(&case["upstream_response"]))
        .expect(1)
        .mount(&server)
        .await;
    let request: EmbeddingRequest = serde_json::from_value(case["request"].clone()).unwrap();
    let response = provider_at(&format!("{}/v1beta", server.uri()))
        .embed(EmbedCall::new(MODEL_EMBED, request))
        .await
        .unwrap();
    assert_json(
        &serde_json::to_value(response).unwrap(),
        &case["expected"],
        name,
        "embeddings",
    );
}

const MODEL_EMBED: &str = "gemini-embedding-001";

#[tokio::test]
async fn embeddings_of_one_string() {
    embed_case("embeddings_string").await;
}

#[tokio::test]
async fn embeddings_of_several_strings_with_dimensions_in_base64() {
    embed_case("embeddings_batch_base64").await;
}

#[tokio::test]
async fn embeddings_of_token_ids_are_unsupported() {
    let request: EmbeddingRequest =
        serde_json::from_value(json!({ "model": "m", "input": [[1, 2], [3]] })).unwrap();
    let err = provider_at("http://127.0.0.1:9/v1beta")
        .embed(EmbedCall::new(MODEL_EMBED, request))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.client_status(), 400);
}

// ---- other behaviour -----------------------------------------------------

#[tokio::test]
async fn a_tool_result_matching_no_call_is_a_400() {
    let request: ChatRequest = serde_json::from_value(json!({
        "messages": [
            { "role": "user", "content": "Hi" },
            { "role": "tool", "tool_call_id": "call_0_nowhere", "content": "1" }
        ]
    }))
    .unwrap();
    let err = provider_at("http://127.0.0.1:9/v1beta")
        .chat(ChatCall::new(MODEL, request))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status { status: 400 });
    assert!(!err.is_retryable());
    assert_eq!(
        err.message(),
        "messages[1].tool_call_id `call_0_nowhere` matches no earlier assistant tool call"
    );
}

#[tokio::test]
async fn adapter_identity_and_unsupported_calls() {
    let provider = provider_at("http://127.0.0.1:9/v1beta");
    assert_eq!(provider.slug(), "gemini");
    assert_eq!(provider.name(), "Google AI Studio");
    assert_eq!(provider.dialect(), "gemini");
    let params = provider.supported_parameters();
    for p in [
        "tools",
        "tool_choice",
        "reasoning",
        "seed",
        "response_format",
        "top_k",
    ] {
        assert!(params.contains(&p), "{p}");
    }
    for p in [
        "logit_bias",
        "logprobs",
        "parallel_tool_calls",
        "repetition_penalty",
    ] {
        assert!(!params.contains(&p), "{p}");
    }
    let as_dyn: Arc<dyn Provider> = Arc::new(provider.clone());
    assert!(!format!("{as_dyn:?}").contains(KEY));
    assert_eq!(
        provider.list_models().await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn a_stalled_head_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("text.sse"), "text/event-stream")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let provider = GeminiProvider::new(
        ProviderSettings::new("gemini", "Google AI Studio", server.uri())
            .with_timeout(Duration::from_millis(300)),
        client(),
    );
    let request: ChatRequest =
        serde_json::from_value(json!({ "messages": [{ "role": "user", "content": "Hi" }] }))
            .unwrap();
    let err = match provider.chat_stream(ChatCall::new(MODEL, request)).await {
        Ok(_) => panic!("no head arrived in time"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Timeout);
}
