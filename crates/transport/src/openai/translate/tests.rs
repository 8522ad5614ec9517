use super::*;
use crate::sse::SseParser;
use serde_json::json;

const FULL_REQUEST: &str = include_str!("../../../tests/fixtures/openai/chat_request_full.json");
const FULL_UPSTREAM: &str =
    include_str!("../../../tests/fixtures/openai/chat_request_full.upstream.json");

fn request(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn full_request() -> ChatRequest {
    serde_json::from_str(FULL_REQUEST).unwrap()
}

fn full_upstream() -> Value {
    serde_json::from_str(FULL_UPSTREAM).unwrap()
}

#[test]
fn full_request_keeps_openai_fields_and_drops_openrouter_ones() {
    let body = chat_body(&full_request(), "gpt-4o-2024-08-06", false, true).unwrap();
    assert_eq!(body, full_upstream());
}

#[test]
fn streaming_adds_stream_and_include_usage() {
    let body = chat_body(&full_request(), "gpt-4o-2024-08-06", true, true).unwrap();
    let mut expected = full_upstream();
    expected["stream"] = json!(true);
    expected["stream_options"] = json!({ "include_usage": true });
    assert_eq!(body, expected);
}

#[test]
fn extended_sampling_off_drops_non_openai_samplers() {
    let body = chat_body(&full_request(), "gpt-4o-2024-08-06", false, false).unwrap();
    let mut expected = full_upstream();
    for key in EXTENDED_SAMPLING {
        expected.as_object_mut().unwrap().remove(*key);
    }
    assert_eq!(body, expected);
}

#[test]
fn minimal_request_is_minimal() {
    let req = request(json!({
        "model": "openai/gpt-4o",
        "messages": [{ "role": "user", "content": "Hi" }],
        "stream": true
    }));
    assert_eq!(
        chat_body(&req, "gpt-4o", false, true).unwrap(),
        json!({ "model": "gpt-4o", "messages": [{ "role": "user", "content": "Hi" }] })
    );
}

#[test]
fn reasoning_effort_wins_over_reasoning_object() {
    let req = request(json!({
        "messages": [],
        "reasoning_effort": "low",
        "reasoning": { "effort": "high", "max_tokens": 2000 }
    }));
    let body = chat_body(&req, "o3", false, true).unwrap();
    assert_eq!(body["reasoning_effort"], json!("low"));
    assert!(body.get("reasoning").is_none());
}

#[test]
fn reasoning_without_effort_sends_nothing() {
    let req = request(json!({ "messages": [], "reasoning": { "max_tokens": 2000 } }));
    let body = chat_body(&req, "o3", false, true).unwrap();
    assert_eq!(body, json!({ "model": "o3", "messages": [] }));
}

#[test]
fn prompt_becomes_a_user_message() {
    let req = request(json!({ "prompt": "Tell me a joke" }));
    assert_eq!(
        chat_body(&req, "m", false, true).unwrap(),
        json!({ "model": "m", "messages": [{ "role": "user", "content": "Tell me a joke" }] })
    );
}

#[test]
fn tool_settings_go_when_no_tool_is_left() {
    let req = request(json!({
        "messages": [],
        "tools": [{ "type": "openrouter:web_search" }],
        "tool_choice": "required",
        "parallel_tool_calls": false
    }));
    assert_eq!(
        chat_body(&req, "m", false, true).unwrap(),
        json!({ "model": "m", "messages": [] })
    );
    let req = request(json!({ "messages": [], "parallel_tool_calls": true }));
    assert_eq!(
        chat_body(&req, "m", false, true).unwrap(),
        json!({ "model": "m", "messages": [] })
    );
}

#[test]
fn image_parts_are_kept_and_cache_control_removed() {
    let req = request(json!({
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "What is this?", "cache_control": { "type": "ephemeral" } },
            { "type": "image_url", "image_url": { "url": "https://example.com/cat.png", "detail": "low" } }
        ]}]
    }));
    assert_eq!(
        chat_body(&req, "m", false, true).unwrap()["messages"],
        json!([{ "role": "user", "content": [
            { "type": "text", "text": "What is this?" },
            { "type": "image_url", "image_url": { "url": "https://example.com/cat.png", "detail": "low" } }
        ]}])
    );
}

#[test]
fn null_extras_are_not_sent() {
    let req = request(json!({ "messages": [], "n": null, "service_tier": null }));
    assert_eq!(
        chat_body(&req, "m", false, true).unwrap(),
        json!({ "model": "m", "messages": [] })
    );
}

#[test]
fn completion_body_passes_openai_fields_only() {
    let req: CompletionRequest = serde_json::from_value(json!({
        "model": "openai/gpt-3.5-turbo-instruct",
        "prompt": "Say this is a test",
        "max_tokens": 7,
        "temperature": 0,
        "stream": true,
        "echo": true,
        "suffix": "!",
        "top_k": 5,
        "provider": { "order": ["OpenAI"] },
        "transforms": [],
        "usage": { "include": true }
    }))
    .unwrap();
    assert_eq!(
        completion_body(&req, "gpt-3.5-turbo-instruct", false).unwrap(),
        json!({
            "model": "gpt-3.5-turbo-instruct",
            "prompt": "Say this is a test",
            "max_tokens": 7,
            "temperature": 0.0,
            "echo": true,
            "suffix": "!"
        })
    );
    assert_eq!(completion_body(&req, "x", true).unwrap()["top_k"], json!(5));
}

#[test]
fn embedding_body_passes_openai_fields_only() {
    let req: EmbeddingRequest = serde_json::from_value(json!({
        "model": "openai/text-embedding-3-small",
        "input": ["a", "b"],
        "dimensions": 256,
        "encoding_format": "float",
        "input_type": "search_query",
        "provider": { "only": ["OpenAI"] }
    }))
    .unwrap();
    assert_eq!(
        embedding_body(&req, "text-embedding-3-small").unwrap(),
        json!({
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "dimensions": 256,
            "encoding_format": "float"
        })
    );
}

#[test]
fn supported_parameter_lists_differ_only_by_extended_sampling() {
    let mut extended: Vec<&str> = SUPPORTED_PARAMETERS_EXTENDED.to_vec();
    extended.retain(|p| !EXTENDED_SAMPLING.contains(p));
    assert_eq!(extended, SUPPORTED_PARAMETERS);
}

// ---- responses ---------------------------------------------------------

#[test]
fn chat_completion_is_parsed_and_stamped() {
    let body = include_bytes!("../../../tests/fixtures/openai/chat_completion.json");
    let c = chat_completion("alpha", "Alpha", body).unwrap();
    assert_eq!(c.provider.as_deref(), Some("Alpha"));
    assert_eq!(c.model, "gpt-4o-2024-08-06");
    assert_eq!(
        c.choices[0].message.content.as_deref(),
        Some("It is 18C and cloudy in Paris.")
    );
    let usage = c.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (1117, 46));
    assert_eq!(usage.cached_tokens(), 1024);
    // Unknown keys survive.
    assert_eq!(c.extra["service_tier"], json!("default"));
}

#[test]
fn non_json_success_is_invalid_response() {
    let err = chat_completion("alpha", "Alpha", b"<html>oops</html>").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert_eq!(err.raw(), Some("<html>oops</html>"));
    assert!(
        err.message().starts_with("unparseable chat completion"),
        "{}",
        err.message()
    );
}

#[test]
fn wrong_shape_names_the_field() {
    let err = chat_completion(
        "a",
        "A",
        br#"{"id":"x","created":1,"model":"m","choices":"no"}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.message().contains("choices"), "{}", err.message());
}

#[test]
fn empty_success_is_invalid_response() {
    let err = chat_completion("a", "A", b"").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert_eq!(err.message(), "empty chat completion body");
    assert_eq!(err.raw(), None);
}

#[test]
fn success_status_with_error_object_is_that_error() {
    let err = chat_completion(
        "a",
        "A",
        br#"{"error":{"code":429,"message":"Rate limited upstream"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status { status: 429 });
    assert_eq!(err.message(), "Rate limited upstream");
    let err = chat_completion(
        "a",
        "A",
        br#"{"error":{"message":"boom","type":"server_error"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert_eq!(err.message(), "boom");
    assert_eq!(err.upstream_code(), Some("server_error"));
}

#[test]
fn listing_errors_name_the_url() {
    let err = listing(
        "a",
        "A",
        "http://h/v1/models",
        br#"{"object":"list","data":[{"id":"x"}]}"#,
    )
    .unwrap_err();
    assert!(
        err.message().contains("http://h/v1/models"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("data[0]"), "{}", err.message());
}

// ---- errors ------------------------------------------------------------

/// (body, message, code, status)
type ErrorCase = (
    &'static [u8],
    Option<&'static str>,
    Option<&'static str>,
    Option<u16>,
);

#[test]
fn error_bodies_of_every_known_shape() {
    let cases: &[ErrorCase] = &[
        (
            br#"{"error":{"message":"m1","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
            Some("m1"),
            Some("context_length_exceeded"),
            None,
        ),
        (
            br#"{"error":{"message":"m2","type":"server_error","code":null}}"#,
            Some("m2"),
            Some("server_error"),
            None,
        ),
        // OpenRouter-shaped: numeric code is a status.
        (br#"{"error":{"code":502,"message":"m3"}}"#, Some("m3"), None, Some(502)),
        // Anthropic-shaped.
        (
            br#"{"type":"error","error":{"type":"overloaded_error","message":"m4"}}"#,
            Some("m4"),
            Some("overloaded_error"),
            None,
        ),
        // Gemini-shaped.
        (
            br#"{"error":{"code":400,"message":"m5","status":"INVALID_ARGUMENT"}}"#,
            Some("m5"),
            None,
            Some(400),
        ),
        (br#"{"error":"m6"}"#, Some("m6"), None, None),
        (br#"{"detail":"m7"}"#, Some("m7"), None, None),
        (br#"{"message":"m8"}"#, Some("m8"), None, None),
        (b"not json", None, None, None),
    ];
    for (body, message, code, status) in cases {
        let up = upstream_error(body);
        let shown = String::from_utf8_lossy(body);
        assert_eq!(up.message.as_deref(), *message, "{shown}");
        assert_eq!(up.code.as_deref(), *code, "{shown}");
        assert_eq!(up.status, *status, "{shown}");
    }
}

#[test]
fn status_error_from_openai_body() {
    let body = include_bytes!("../../../tests/fixtures/openai/error_400_context_length.json");
    let err = error_from_status("a", "A", 400, None, body);
    assert_eq!(err.kind(), ErrorKind::Status { status: 400 });
    assert!(
        err.message()
            .starts_with("This model's maximum context length")
    );
    assert_eq!(err.upstream_code(), Some("context_length_exceeded"));
    assert_eq!(err.error_type(), "context_length_exceeded");
    assert_eq!(err.raw(), Some(String::from_utf8_lossy(body).as_ref()));
}

#[test]
fn status_error_from_html_uses_an_excerpt() {
    let body = include_bytes!("../../../tests/fixtures/openai/error_503.html");
    let err = error_from_status("a", "A", 503, Some(Duration::from_secs(3)), body);
    assert!(
        err.message().starts_with("<html> <head><title>503"),
        "{}",
        err.message()
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
}

#[test]
fn status_error_from_empty_body_uses_the_reason() {
    let err = error_from_status("a", "A", 502, None, b"");
    assert_eq!(err.message(), "HTTP 502 Bad Gateway");
    assert_eq!(err.raw(), None);
}

#[test]
fn excerpt_is_short_and_one_line() {
    let long = "word ".repeat(100);
    let e = excerpt(long.as_bytes());
    assert_eq!(e.chars().count(), 201);
    assert!(e.ends_with('…'));
    assert_eq!(excerpt(b"  a\n\n b  "), "a b");
}

// ---- stream events -----------------------------------------------------

fn events(text: &str) -> Vec<StreamEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.push(text.as_bytes(), &mut out).unwrap();
    out.extend(p.finish());
    out.iter().map(|e| stream_event(e, "Alpha")).collect()
}

#[test]
fn recorded_stream_events() {
    let text = include_str!("../../../tests/fixtures/openai/chat_stream.sse");
    let evs = events(text);
    assert_eq!(evs.len(), 8);
    assert_eq!(evs.last(), Some(&StreamEvent::Done));
    let mut text = String::new();
    for e in &evs {
        if let StreamEvent::Chunk(c) = e {
            assert_eq!(c.provider.as_deref(), Some("Alpha"));
            for ch in &c.choices {
                text.push_str(ch.delta.content.as_deref().unwrap_or(""));
            }
        }
    }
    assert_eq!(text, "It is 18°C and cloudy ☁️.");
    let StreamEvent::Chunk(usage_chunk) = &evs[6] else {
        panic!("{:?}", evs[6]);
    };
    assert!(usage_chunk.choices.is_empty());
    assert_eq!(usage_chunk.usage.as_ref().unwrap().total_tokens, 26);
}

#[test]
fn error_chunks_are_errors() {
    let evs = events(
        "data: {\"id\":\"g\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"error\":{\"code\":\"server_error\",\"message\":\"Provider disconnected\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n\
         data: {\"error\":{\"message\":\"no id here\",\"type\":\"server_error\"}}\n\n\
         data: {\"error\":\"plain\"}\n\n\
         event: error\ndata: {\"type\":\"overloaded\",\"message\":\"busy\"}\n\n\
         event: error\ndata: upstream exploded\n\n",
    );
    let errors: Vec<_> = evs
        .iter()
        .map(|e| match e {
            StreamEvent::Error { error, .. } => (error.message.clone(), error.code.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                Some("Provider disconnected".into()),
                Some("server_error".into())
            ),
            (Some("no id here".into()), Some("server_error".into())),
            (Some("plain".into()), None),
            (Some("busy".into()), None),
            (Some("upstream exploded".into()), None),
        ]
    );
}

#[test]
fn falsy_error_fields_are_not_errors() {
    let evs = events("data: {\"id\":\"g\",\"choices\":[],\"error\":null}\n\n");
    assert!(matches!(evs[0], StreamEvent::Chunk(_)), "{:?}", evs[0]);
}

#[test]
fn empty_and_non_json_data() {
    let evs = events("data:\n\ndata: ping\n\ndata: {\"choices\":[]}\n\ndata: [DONE]");
    assert_eq!(evs[0], StreamEvent::Skip);
    assert!(matches!(&evs[1], StreamEvent::Invalid { raw, .. } if raw == "ping"));
    // A JSON object that is not a chunk (no id).
    assert!(matches!(&evs[2], StreamEvent::Invalid { message, .. } if message.contains("id")));
    assert_eq!(evs[3], StreamEvent::Done);
}

#[test]
fn excluded_reasoning_is_stripped_but_usage_kept() {
    let req = |v: Value| -> ChatRequest { serde_json::from_value(v).unwrap() };
    let hi = json!({"role": "user", "content": "hi"});
    assert!(excludes_reasoning(&req(
        json!({"messages": [hi], "reasoning": {"effort": "high", "exclude": true}})
    )));
    assert!(excludes_reasoning(&req(
        json!({"messages": [hi], "include_reasoning": false})
    )));
    assert!(!excludes_reasoning(&req(
        json!({"messages": [hi], "reasoning": {"exclude": false}, "include_reasoning": true})
    )));
    assert!(!excludes_reasoning(&req(json!({"messages": [hi]}))));

    let mut completion = chat_completion(
        "alpha",
        "Alpha",
        br#"{"id":"c","object":"chat.completion","created":1,"model":"m",
        "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant",
        "content":"4","reasoning":"2+2 is 4","reasoning_content":"2+2 is 4",
        "reasoning_details":[{"type":"reasoning.text","text":"2+2 is 4"}]}}],
        "usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14,
        "completion_tokens_details":{"reasoning_tokens":8}}}"#,
    )
    .unwrap();
    strip_reasoning(&mut completion);
    let v = serde_json::to_value(&completion).unwrap();
    let message = &v["choices"][0]["message"];
    assert_eq!(message["content"], "4");
    for key in ["reasoning", "reasoning_details", "reasoning_content"] {
        assert!(
            message.get(key).is_none_or(Value::is_null),
            "{key}: {message}"
        );
    }
    assert_eq!(v["usage"]["completion_tokens"], 9);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        8
    );

    let mut chunk: ChatChunk = serde_json::from_value(json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"reasoning": "hmm", "reasoning_content": "hmm",
            "reasoning_details": [{"type": "reasoning.text", "text": "hmm"}], "content": "x"},
            "finish_reason": null}]
    }))
    .unwrap();
    strip_chunk_reasoning(&mut chunk);
    let v = serde_json::to_value(&chunk).unwrap();
    let delta = &v["choices"][0]["delta"];
    assert_eq!(delta["content"], "x");
    for key in ["reasoning", "reasoning_details", "reasoning_content"] {
        assert!(delta.get(key).is_none_or(Value::is_null), "{key}: {delta}");
    }
}
