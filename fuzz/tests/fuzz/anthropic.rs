//! `anthropic_response` and `anthropic_stream`: the Anthropic Messages
//! adapter's translation of upstream answers and of its event streams
//! (event sequences with blocks opened, continued and closed in any order).

use serde_json::{Value, json};
use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::{self, Event};
use tollgate_fuzz::rand::Rng;
use tollgate_transport::anthropic::translate::{self, ResponseMode};

use crate::support::{
    assert_no_null_cost, check_error, derive, maybe, object, pick, some_number, text,
};

const DICTIONARY: &[&str] = &[
    "type",
    "message",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "index",
    "content_block",
    "delta",
    "text",
    "text_delta",
    "thinking",
    "thinking_delta",
    "signature",
    "signature_delta",
    "redacted_thinking",
    "data",
    "tool_use",
    "server_tool_use",
    "input",
    "input_json_delta",
    "partial_json",
    "stop_reason",
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "refusal",
    "pause_turn",
    "usage",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "overloaded_error",
    "rate_limit_error",
    "api_error",
    "json_response",
    "id",
    "model",
    "role",
    "content",
    "name",
];

/// The modes the adapter answers in, chosen by the input.
fn mode(bytes: &[u8]) -> ResponseMode {
    let key = derive(bytes, 11);
    ResponseMode {
        json_tool: (key & 1 == 1).then(|| String::from("json_response")),
        exclude_reasoning: key & 2 == 2,
    }
}

fn usage(rng: &mut Rand) -> Value {
    object(vec![
        (
            "input_tokens",
            maybe(rng, 0.9).then(|| some_number(rng, 0.0, 1e5)),
        ),
        (
            "output_tokens",
            maybe(rng, 0.9).then(|| some_number(rng, 0.0, 1e5)),
        ),
        (
            "cache_read_input_tokens",
            maybe(rng, 0.3).then(|| some_number(rng, 0.0, 1e4)),
        ),
        (
            "cache_creation_input_tokens",
            maybe(rng, 0.3).then(|| some_number(rng, 0.0, 1e4)),
        ),
    ])
}

fn block(rng: &mut Rand) -> Value {
    match rng.random_range(0..7) {
        0 | 1 => json!({"type": "text", "text": text(rng)}),
        2 => json!({"type": "thinking", "thinking": text(rng), "signature": "sig"}),
        3 => json!({"type": "redacted_thinking", "data": "abc"}),
        4 => {
            json!({"type": "tool_use", "id": "toolu_1", "name": pick(rng, &["get_weather", "json_response", ""]), "input": generate::json(rng, 2, &[])})
        }
        5 => {
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}})
        }
        _ => json!({"type": pick(rng, &["image", "x", ""]), "text": text(rng)}),
    }
}

fn error(rng: &mut Rand) -> Value {
    json!({"type": "error", "error": {"type": pick(rng, &["overloaded_error", "rate_limit_error", "invalid_request_error", "api_error", "x"]), "message": text(rng)}})
}

fn message(rng: &mut Rand) -> Value {
    if maybe(rng, 0.1) {
        return error(rng);
    }
    object(vec![
        ("id", Some(Value::from("msg_1"))),
        ("type", Some(Value::from("message"))),
        ("role", Some(Value::from("assistant"))),
        ("model", Some(Value::from("claude-x"))),
        (
            "content",
            maybe(rng, 0.95)
                .then(|| Value::Array((0..rng.random_range(0..4)).map(|_| block(rng)).collect())),
        ),
        (
            "stop_reason",
            maybe(rng, 0.9).then(|| {
                Value::from(pick(
                    rng,
                    &[
                        "end_turn",
                        "max_tokens",
                        "stop_sequence",
                        "tool_use",
                        "refusal",
                        "pause_turn",
                        "x",
                    ],
                ))
            }),
        ),
        (
            "stop_sequence",
            maybe(rng, 0.2).then(|| Value::from("\n\n")),
        ),
        ("usage", maybe(rng, 0.9).then(|| usage(rng))),
    ])
}

fn response_target(bytes: &[u8]) {
    match translate::chat_completion("fuzz", "Fuzz", bytes, &mode(bytes), 1_700_000_000) {
        Ok(c) => {
            assert_eq!(c.provider.as_deref(), Some("Fuzz"));
            assert_no_null_cost(&serde_json::to_value(&c).expect("a completion serialises"));
        }
        Err(e) => check_error(&e),
    }
    let _ = translate::usage(&serde_json::from_slice(bytes).unwrap_or(Value::Null));
}

#[test]
fn anthropic_response() {
    tollgate_fuzz::Fuzzer::new("anthropic_response")
        .generator(|rng| serde_json::to_vec(&message(rng)).unwrap_or_default())
        .dictionary(DICTIONARY)
        .run(response_target);
}

/// One plausible event: mostly in protocol order, indices sometimes wrong.
fn events(rng: &mut Rand) -> Vec<Event> {
    let mut out = Vec::new();
    let ev = |name: &str, data: Value| Event {
        event: Some(name.to_owned()),
        data: data.to_string(),
    };
    if maybe(rng, 0.9) {
        out.push(ev("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [], "usage": usage(rng)}})));
    }
    let blocks = rng.random_range(0..4);
    for i in 0..blocks {
        let index = if maybe(rng, 0.9) {
            Value::from(i)
        } else {
            some_number(rng, 0.0, 5.0)
        };
        let b = block(rng);
        let kind = b["type"].as_str().unwrap_or("").to_owned();
        out.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": b}),
        ));
        for _ in 0..rng.random_range(0..4) {
            let delta = match (kind.as_str(), rng.random_range(0..6)) {
                (_, 0) => {
                    json!({"type": pick(rng, &["text_delta", "thinking_delta", "signature_delta", "input_json_delta", "citations_delta", "x"]), "text": text(rng)})
                }
                ("thinking", 1) => json!({"type": "signature_delta", "signature": "s"}),
                ("thinking", _) => json!({"type": "thinking_delta", "thinking": text(rng)}),
                ("tool_use" | "server_tool_use", _) => {
                    json!({"type": "input_json_delta", "partial_json": pick(rng, &["{\"city\":", "\"Paris\"}", "", "{}", "]"])})
                }
                _ => json!({"type": "text_delta", "text": text(rng)}),
            };
            out.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        if maybe(rng, 0.1) {
            out.push(ev("ping", json!({"type": "ping"})));
        }
        if maybe(rng, 0.9) {
            out.push(ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }
    if maybe(rng, 0.1) {
        out.push(ev("error", error(rng)));
    }
    if maybe(rng, 0.85) {
        out.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": pick(rng, &["end_turn", "max_tokens", "tool_use", "refusal", "x"]), "stop_sequence": null}, "usage": usage(rng)})));
    }
    if maybe(rng, 0.85) {
        out.push(ev("message_stop", json!({"type": "message_stop"})));
    }
    if maybe(rng, 0.1) {
        // Shuffle two events: out-of-order streams.
        let len = out.len();
        if len > 1 {
            out.swap(rng.random_range(0..len), rng.random_range(0..len));
        }
    }
    out
}

fn stream_target(bytes: &[u8]) {
    let mode = mode(bytes);
    crate::support::same_however_split(bytes, |chunks| {
        tollgate_transport::fuzzing::anthropic_stream(chunks, mode.clone(), "claude-x")
    });
}

#[test]
fn anthropic_stream() {
    tollgate_fuzz::Fuzzer::new("anthropic_stream")
        .generator(|rng| {
            let events = events(rng);
            generate::sse(rng, &events)
        })
        .dictionary(DICTIONARY)
        .run(stream_target);
}
