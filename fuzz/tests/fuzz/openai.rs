//! `openai_response` and `openai_stream`: the OpenAI-compatible adapter's
//! translation of upstream bodies (completions, text completions,
//! embeddings, listings, error bodies) and its stream driver.

use serde_json::{Value, json};
use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::{self, Event};
use tollgate_fuzz::rand::Rng;
use tollgate_transport::openai::translate;

use crate::support::{
    assert_no_null_cost, check_error, derive, maybe, object, pick, some_number, text,
};

pub const DICTIONARY: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "index",
    "message",
    "delta",
    "role",
    "content",
    "assistant",
    "finish_reason",
    "stop",
    "length",
    "tool_calls",
    "function",
    "arguments",
    "name",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "is_byok",
    "prompt_tokens_details",
    "cached_tokens",
    "completion_tokens_details",
    "reasoning_tokens",
    "reasoning",
    "reasoning_details",
    "error",
    "code",
    "metadata",
    "provider",
    "chat.completion",
    "chat.completion.chunk",
    "native_finish_reason",
    "refusal",
    "logprobs",
    "data",
    "embedding",
    "[DONE]",
];

pub fn usage(rng: &mut Rand) -> Value {
    object(vec![
        ("prompt_tokens", Some(some_number(rng, 0.0, 1e5))),
        ("completion_tokens", Some(some_number(rng, 0.0, 1e5))),
        (
            "total_tokens",
            maybe(rng, 0.8).then(|| some_number(rng, 0.0, 2e5)),
        ),
        (
            "cost",
            maybe(rng, 0.5).then(|| match rng.random_range(0..4) {
                0 => Value::Null,
                1 => Value::from("0.0001"),
                _ => some_number(rng, 0.0, 1.0),
            }),
        ),
        (
            "prompt_tokens_details",
            maybe(rng, 0.3).then(|| json!({"cached_tokens": some_number(rng, 0.0, 100.0)})),
        ),
        (
            "completion_tokens_details",
            maybe(rng, 0.3).then(|| json!({"reasoning_tokens": some_number(rng, 0.0, 100.0)})),
        ),
        (
            "is_byok",
            maybe(rng, 0.1).then(|| Value::Bool(rng.random())),
        ),
    ])
}

fn tool_call_delta(rng: &mut Rand) -> Value {
    object(vec![
        ("index", Some(some_number(rng, 0.0, 3.0))),
        ("id", maybe(rng, 0.5).then(|| Value::from("call_1"))),
        ("type", maybe(rng, 0.5).then(|| Value::from("function"))),
        (
            "function",
            Some(object(vec![
                ("name", maybe(rng, 0.5).then(|| Value::from("get_weather"))),
                (
                    "arguments",
                    maybe(rng, 0.8).then(|| {
                        Value::from(pick(rng, &["{\"city\":", "\"Paris\"}", "", "{}", "x"]))
                    }),
                ),
            ])),
        ),
    ])
}

fn error_object(rng: &mut Rand) -> Value {
    json!({"error": object(vec![
        ("code", maybe(rng, 0.8).then(|| match rng.random_range(0..3) { 0 => some_number(rng, 100.0, 600.0), 1 => Value::from(pick(rng, &["429", "rate_limit_exceeded", "", "server_error"])), _ => Value::Null })),
        ("message", maybe(rng, 0.8).then(|| Value::from(text(rng)))),
        ("type", maybe(rng, 0.3).then(|| Value::from("invalid_request_error"))),
        ("metadata", maybe(rng, 0.2).then(|| json!({"raw": text(rng), "provider_name": "X"}))),
    ])})
}

fn chunk(rng: &mut Rand) -> Value {
    if maybe(rng, 0.05) {
        return error_object(rng);
    }
    let choices: Vec<Value> = (0..rng.random_range(0..3))
        .map(|i| {
            object(vec![
                (
                    "index",
                    Some(if maybe(rng, 0.9) {
                        Value::from(i)
                    } else {
                        some_number(rng, 0.0, 5.0)
                    }),
                ),
                (
                    "delta",
                    Some(object(vec![
                        ("role", maybe(rng, 0.2).then(|| Value::from("assistant"))),
                        (
                            "content",
                            maybe(rng, 0.7).then(|| {
                                if maybe(rng, 0.9) {
                                    Value::from(text(rng))
                                } else {
                                    Value::Null
                                }
                            }),
                        ),
                        ("reasoning", maybe(rng, 0.1).then(|| Value::from(text(rng)))),
                        (
                            "tool_calls",
                            maybe(rng, 0.15).then(|| {
                                Value::Array(
                                    (0..rng.random_range(1..3))
                                        .map(|_| tool_call_delta(rng))
                                        .collect(),
                                )
                            }),
                        ),
                    ])),
                ),
                (
                    "finish_reason",
                    maybe(rng, 0.2).then(|| {
                        Value::from(pick(
                            rng,
                            &[
                                "stop",
                                "length",
                                "tool_calls",
                                "content_filter",
                                "error",
                                "x",
                            ],
                        ))
                    }),
                ),
            ])
        })
        .collect();
    object(vec![
        ("id", Some(Value::from("gen-1"))),
        ("object", Some(Value::from("chat.completion.chunk"))),
        ("created", Some(some_number(rng, 0.0, 2e9))),
        ("model", Some(Value::from("m"))),
        ("choices", Some(Value::Array(choices))),
        ("usage", maybe(rng, 0.2).then(|| usage(rng))),
    ])
}

fn completion(rng: &mut Rand) -> Value {
    if maybe(rng, 0.1) {
        return error_object(rng);
    }
    let choices: Vec<Value> = (0..rng.random_range(0..3))
        .map(|i| object(vec![
            ("index", Some(Value::from(i))),
            ("message", Some(object(vec![
                ("role", Some(Value::from(pick(rng, &["assistant", "user", "x"])))),
                ("content", Some(if maybe(rng, 0.9) { Value::from(text(rng)) } else { Value::Null })),
                ("reasoning", maybe(rng, 0.1).then(|| Value::from(text(rng)))),
                ("tool_calls", maybe(rng, 0.15).then(|| json!([{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]))),
            ]))),
            ("finish_reason", Some(Value::from(pick(rng, &["stop", "length", "tool_calls"])))),
            ("logprobs", maybe(rng, 0.05).then_some(Value::Null)),
        ]))
        .collect();
    object(vec![
        ("id", Some(Value::from("gen-1"))),
        ("object", Some(Value::from("chat.completion"))),
        ("created", Some(some_number(rng, 0.0, 2e9))),
        ("model", Some(Value::from("m"))),
        ("choices", Some(Value::Array(choices))),
        ("usage", maybe(rng, 0.7).then(|| usage(rng))),
    ])
}

fn response_target(bytes: &[u8]) {
    match translate::chat_completion("fuzz", "Fuzz", bytes) {
        Ok(c) => {
            assert_eq!(c.provider.as_deref(), Some("Fuzz"));
            assert_no_null_cost(&serde_json::to_value(&c).expect("a completion serialises"));
        }
        Err(e) => check_error(&e),
    }
    match translate::text_completion("fuzz", "Fuzz", bytes) {
        Ok(c) => assert_no_null_cost(&serde_json::to_value(&c).expect("serialises")),
        Err(e) => check_error(&e),
    }
    if let Err(e) = translate::embeddings("fuzz", "Fuzz", bytes) {
        check_error(&e);
    }
    if let Err(e) = translate::listing("fuzz", "Fuzz", "https://x/models", bytes) {
        check_error(&e);
    }
    let status = 400 + (derive(bytes, 3) % 200) as u16;
    check_error(&translate::error_from_status(
        "fuzz", "Fuzz", status, None, bytes,
    ));
    let _ = translate::upstream_error(bytes);
    let excerpt = translate::excerpt(bytes);
    assert!(
        excerpt.chars().count() <= 201,
        "an excerpt of more than 200 characters: {excerpt}"
    );
}

#[test]
fn openai_response() {
    tollgate_fuzz::Fuzzer::new("openai_response")
        .generator(|rng| serde_json::to_vec(&completion(rng)).unwrap_or_default())
        .generator(|rng| serde_json::to_vec(&chunk(rng)).unwrap_or_default())
        .dictionary(DICTIONARY)
        .run(response_target);
}

fn stream_target(bytes: &[u8]) {
    let whole =
        crate::support::same_however_split(bytes, tollgate_transport::fuzzing::openai_stream);
    every_chunk_as_parsed_alone(bytes, &whole);
}

/// The driver's chunks are the ones [`translate::stream_event`] reads from
/// each event on its own: a chunk that only changes the text of one before
/// it (read from that one's template, not parsed in full) is no exception.
fn every_chunk_as_parsed_alone(
    bytes: &[u8],
    whole: &[Result<tollgate_schema::chat::ChatChunk, tollgate_transport::ProviderError>],
) {
    let mut parser = tollgate_transport::sse::SseParser::new();
    let mut events = std::collections::VecDeque::new();
    if parser.push(bytes, &mut events).is_err() {
        return;
    }
    events.extend(parser.finish());
    let mut alone = Vec::new();
    for event in &events {
        match translate::stream_event(event, "Fuzz") {
            translate::StreamEvent::Chunk(chunk) => alone.push(*chunk),
            translate::StreamEvent::Skip => {}
            _ => break,
        }
    }
    let relayed: Vec<_> = whole.iter().map_while(|item| item.as_ref().ok()).collect();
    assert_eq!(
        relayed.len(),
        alone.len(),
        "chunks relayed vs chunks in the events"
    );
    for (relayed, alone) in relayed.iter().zip(&alone) {
        assert_eq!(*relayed, alone);
    }
}

fn stream(rng: &mut Rand) -> Vec<u8> {
    let n = rng.random_range(0..8);
    let mut events: Vec<Event> = Vec::new();
    for _ in 0..n {
        let previous = events.last().map(|e: &Event| e.data.clone());
        let data = match previous {
            // The repeated shape: the chunk before with another text (the
            // driver reads these from a template).
            Some(previous) if maybe(rng, 0.4) => with_other_text(rng, &previous),
            _ if maybe(rng, 0.05) => text(rng),
            _ => chunk(rng).to_string(),
        };
        events.push(Event {
            event: maybe(rng, 0.05).then(|| "error".to_owned()),
            data,
        });
    }
    if maybe(rng, 0.8) {
        events.push(Event {
            event: None,
            data: "[DONE]".into(),
        });
    }
    generate::sse(rng, &events)
}

/// `data` with the first choice's delta text replaced (or `data` itself
/// when it has none).
fn with_other_text(rng: &mut Rand, data: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(data) else {
        return data.to_owned();
    };
    if let Some(content) = value.pointer_mut("/choices/0/delta/content") {
        *content = Value::from(text(rng));
    }
    value.to_string()
}

#[test]
fn openai_stream() {
    tollgate_fuzz::Fuzzer::new("openai_stream")
        .generator(stream)
        .dictionary(DICTIONARY)
        .run(stream_target);
}
