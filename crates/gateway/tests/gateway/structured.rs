//! What the demo's mocks promise in their listings, through the gateway:
//! structured output on every dialect (checked with an independent JSON
//! Schema validator), reasoning emitted and counted, embeddings-only models
//! refusing chat, and a prompt too long for the context refused in
//! OpenAI's shape.

use serde_json::{Value, json};

use crate::support::*;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": { "type": "string" },
            "population": { "type": "integer", "minimum": 1000 },
            "capital": { "type": "boolean" },
            "kind": { "type": "string", "enum": ["town", "city"] },
            "districts": { "type": "array", "items": { "$ref": "#/$defs/District" }, "minItems": 2 }
        },
        "required": ["city", "population", "capital", "kind", "districts"],
        "additionalProperties": false,
        "$defs": { "District": {
            "type": "object",
            "properties": { "name": { "type": "string" }, "area": { "type": "number", "maximum": 10 } },
            "required": ["name", "area"],
            "additionalProperties": false
        } }
    })
}

fn assert_valid(model: &str, schema: &Value, instance: &Value) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:test:schema", schema.clone())
        .unwrap();
    let index = compiler.compile("urn:test:schema", &mut schemas).unwrap();
    if let Err(error) = schemas.validate(instance, index) {
        panic!("{model}: {instance} is not valid: {error}");
    }
}

/// The models of the demo that take `response_format`, one per dialect and
/// way of asking: natively (OpenAI, Gemini), by a forced tool (Anthropic),
/// by instruction (a model without JSON mode).
const JSON_MODELS: [&str; 4] = [
    "mock/echo",
    "mock/echo-anthropic",
    "mock/echo-gemini",
    "mock/no-tools",
];

#[tokio::test]
async fn json_schema_answers_validate_through_every_dialect() {
    let gw = start().await;
    let schema = schema();
    for model in JSON_MODELS {
        let mut body = chat_body(model, "Tell me about Paris");
        body["response_format"] = json!({ "type": "json_schema",
            "json_schema": { "name": "city", "strict": true, "schema": schema } });
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        let text = v["choices"][0]["message"]["content"].as_str().unwrap();
        let answer: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{model}: not JSON ({e}): {text}"));
        assert_valid(model, &schema, &answer);
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{model}");
        // streamed, the same JSON arrives in pieces
        let response = gw.chat_http(&streamed(body)).await;
        assert_eq!(response.status(), 200, "{model}");
        let events = parse_sse(&response.text().await.unwrap());
        let streamed: Value = serde_json::from_str(&text_of(&chunks(&events))).unwrap();
        assert_eq!(streamed, answer, "{model}");
    }
    // the demo's Anthropic listing has no JSON mode: asked by instruction
    let sent = gw.anthropic.last_request().unwrap();
    assert!(
        sent.body["system"]
            .as_str()
            .unwrap()
            .contains("JSON Schema")
    );
    // Gemini natively
    let sent = gw.gemini.last_request().unwrap();
    assert_eq!(
        sent.body["generationConfig"]["responseMimeType"],
        "application/json"
    );
}

#[tokio::test]
async fn json_object_answers_are_objects() {
    let gw = start().await;
    for model in JSON_MODELS {
        let mut body = chat_body(model, "List colours");
        body["response_format"] = json!({ "type": "json_object" });
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let text = reply.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert!(answer.is_object(), "{model}: {text}");
    }
}

#[tokio::test]
async fn reasoning_is_emitted_and_counted_through_every_dialect() {
    let gw = start().await;
    let cases = [
        ("mock/reasoner", json!(null)),
        ("mock/echo-anthropic", json!({ "effort": "high" })),
        ("mock/echo-gemini", json!({ "effort": "high" })),
    ];
    for (model, reasoning) in cases {
        let mut body = chat_body(model, "Hi there");
        if !reasoning.is_null() {
            body["reasoning"] = reasoning;
        }
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        let message = &v["choices"][0]["message"];
        assert_eq!(message["content"], "echo: Hi there", "{model}");
        assert_eq!(message["reasoning"], "thinking about: Hi there", "{model}");
        // thinking|about|:|Hi|there = 5, echo|:|Hi|there = 4
        let usage = &v["usage"];
        assert_eq!(usage["completion_tokens"], 9, "{model}: {usage}");
        let reasoning_tokens = usage["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap();
        assert_reasoning_tokens(model, reasoning_tokens);

        let response = gw.chat_http(&streamed(body)).await;
        assert_eq!(response.status(), 200, "{model}");
        let chunks = chunks(&parse_sse(&response.text().await.unwrap()));
        let reasoning: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["reasoning"].as_str())
            .collect();
        assert_eq!(reasoning, "thinking about: Hi there", "{model}");
        let usage = &chunks.last().unwrap()["usage"];
        let reasoning_tokens = usage["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap();
        assert_reasoning_tokens(model, reasoning_tokens);
    }
}

/// OpenAI and Gemini report reasoning tokens (the mock's 5); Anthropic
/// counts thinking in `output_tokens` only, so the gateway counts the
/// thinking text with the model's tokenizer: some tokens, never more than
/// the completion's 9.
fn assert_reasoning_tokens(model: &str, tokens: u64) {
    if model == "mock/echo-anthropic" {
        assert!((1..=9).contains(&tokens), "{model}: {tokens}");
    } else {
        assert_eq!(tokens, 5, "{model}");
    }
}

#[tokio::test]
async fn embedding_models_refuse_chat() {
    let gw = start().await;
    let reply = gw.chat(&chat_body("mock/embed", "Hello")).await;
    let error = assert_error(&reply, 400);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("mock/embed"), "{message}");
    assert!(message.contains("embeddings"), "{message}");
    assert_eq!(gw.alpha.request_count(), 0, "nothing was sent upstream");
}

#[tokio::test]
async fn a_prompt_past_the_context_is_context_length_exceeded() {
    let gw = start().await;
    // mock/small-context has a 4096-token window
    let long = "word ".repeat(5000);
    let mut body = chat_body("mock/small-context", &long);
    body["transforms"] = json!([]);
    let reply = gw.chat(&body).await;
    let error = assert_error(&reply, 400);
    assert_eq!(
        error["metadata"]["error_type"], "context_length_exceeded",
        "{error}"
    );
    // OpenAI's shape, which litellm and LangChain map to their
    // context-window exceptions
    let v = reply.json();
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert_eq!(v["error"]["param"], "messages", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    // litellm looks for the first, LangChain for the second
    assert!(
        message.starts_with("This model's maximum context length is 4096 tokens"),
        "{message}"
    );
    assert!(message.contains("context_length_exceeded"), "{message}");
}

#[tokio::test]
async fn an_upstream_context_length_error_reaches_the_client_as_such() {
    // the listing promises more context than the upstream has: the
    // provider's own refusal is passed on, not turned into an outage
    let small = MockConfig {
        context_length: Some(5),
        ..MockConfig::default()
    };
    let gw = start_with(Options {
        mocks: [small.clone(), small.clone(), small],
        ..Options::default()
    })
    .await;
    let reply = gw
        .chat(&chat_body("mock/echo", "a prompt of some words"))
        .await;
    let error = assert_error(&reply, 400);
    assert_eq!(
        error["metadata"]["error_type"], "context_length_exceeded",
        "{error}"
    );
    let raw = error["metadata"]["raw"].to_string();
    assert!(
        raw.contains("maximum context length is 5 tokens"),
        "{error}"
    );
    // a 400 is not retried elsewhere
    let sent: usize = gw.request_counts().iter().sum();
    assert_eq!(sent, 1);
}
