//! `chat_request`: the chat request parser (`tollgate_schema::from_json_slice`
//! of a `ChatRequest`), and everything that takes a parsed request without
//! I/O: the three dialects' request translators, token counting and the
//! prompt shaping transforms. (The gateway's `validate` module is private
//! to the gateway and reached only through HTTP.)

use serde_json::{Value, json};
use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::{json as any_json, unicode};
use tollgate_fuzz::rand::Rng;
use tollgate_schema::chat::ChatRequest;
use tollgate_schema::completions::CompletionRequest;
use tollgate_schema::embeddings::EmbeddingRequest;
use tollgate_transforms::{ByteBound, Tokenizer, count_request, shaping};

use crate::support::{derive, maybe, object, pick, some_number, text};

pub const DICTIONARY: &[&str] = &[
    "model",
    "models",
    "messages",
    "role",
    "content",
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
    "name",
    "tool_call_id",
    "tool_calls",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "input_audio",
    "file",
    "file_data",
    "filename",
    "video_url",
    "prompt",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "stream",
    "stream_options",
    "include_usage",
    "response_format",
    "json_object",
    "json_schema",
    "schema",
    "strict",
    "tools",
    "tool_choice",
    "parameters",
    "arguments",
    "reasoning",
    "effort",
    "exclude",
    "enabled",
    "reasoning_details",
    "reasoning.text",
    "reasoning.encrypted",
    "signature",
    "usage",
    "transforms",
    "middle-out",
    "provider",
    "order",
    "only",
    "ignore",
    "sort",
    "max_price",
    "plugins",
    "n",
    "logit_bias",
    "seed",
    "data:image/png;base64,iVBORw0KGgo=",
    "cache_control",
    "ephemeral",
];

fn content_part(rng: &mut Rand) -> Value {
    match rng.random_range(0..7) {
        0 | 1 => json!({"type": "text", "text": text(rng)}),
        2 => json!({"type": "image_url", "image_url": {
            "url": pick(rng, &["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "data:image/jpeg;base64,", "data:,", "data:image/gif;base64,R0lGODlh", ""]),
            "detail": pick(rng, &["auto", "low", "high", "x"])}}),
        3 => {
            json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": pick(rng, &["wav", "mp3", ""])}})
        }
        4 => {
            json!({"type": "file", "file": {"filename": unicode(rng, 8), "file_data": pick(rng, &["data:application/pdf;base64,JVBERi0=", "https://example.com/x.pdf", "", "data:text/plain;base64,aGk="])}})
        }
        5 => json!({"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}),
        _ => json!({"type": unicode(rng, 6), "x": text(rng)}),
    }
}

fn content(rng: &mut Rand) -> Value {
    match rng.random_range(0..6) {
        0..=2 => Value::String(text(rng)),
        3 => Value::Null,
        _ => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| content_part(rng))
                .collect(),
        ),
    }
}

fn tool_call(rng: &mut Rand) -> Value {
    let arguments = if maybe(rng, 0.7) {
        any_json(rng, 2, &[]).to_string()
    } else {
        text(rng)
    };
    json!({"id": format!("call_{}", rng.random_range(0..5)), "type": "function",
           "function": {"name": pick(rng, &["get_weather", "f", "", "ünï"]), "arguments": arguments}})
}

fn message(rng: &mut Rand) -> Value {
    let role = pick(
        rng,
        &[
            "system",
            "developer",
            "user",
            "user",
            "assistant",
            "assistant",
            "tool",
            "function",
            "robot",
        ],
    );
    let mut m = object(vec![
        ("role", Some(Value::from(role))),
        ("content", maybe(rng, 0.9).then(|| content(rng))),
        (
            "name",
            maybe(rng, 0.1).then(|| Value::from(unicode(rng, 8))),
        ),
    ]);
    if role == "tool" || maybe(rng, 0.05) {
        m["tool_call_id"] = Value::from(format!("call_{}", rng.random_range(0..5)));
    }
    if role == "assistant" && maybe(rng, 0.3) {
        m["tool_calls"] = Value::Array(
            (0..rng.random_range(0..3))
                .map(|_| tool_call(rng))
                .collect(),
        );
    }
    if role == "assistant" && maybe(rng, 0.2) {
        m["reasoning"] = Value::from(text(rng));
        m["reasoning_details"] = json!([
            {"type": "reasoning.text", "text": text(rng), "signature": "sig", "index": rng.random_range(0..3), "format": pick(rng, &["anthropic-claude-v1", "google-gemini-v1", "x"])},
            {"type": pick(rng, &["reasoning.encrypted", "reasoning.summary"]), "data": "abc", "summary": "s", "index": 0}
        ]);
    }
    m
}

fn tool(rng: &mut Rand) -> Value {
    let parameters = if maybe(rng, 0.6) {
        json!({"type": "object", "properties": {"city": {"type": "string", "enum": ["a", "b"]}, "n": {"type": ["integer", "null"], "minimum": 0}, "deep": {"type": "array", "items": {"$ref": "#/$defs/x"}}}, "required": ["city"], "additionalProperties": false, "$defs": {"x": {"anyOf": [{"type": "string"}, {"const": 1}]}}})
    } else {
        any_json(rng, 4, &[])
    };
    json!({"type": "function", "function": {"name": pick(rng, &["get_weather", "lookup", "", "a b"]), "description": text(rng), "parameters": parameters, "strict": maybe(rng, 0.5)}})
}

/// A chat request as JSON: real keys with valid-ish values, sometimes of
/// the wrong type or at the edges of their range, plus unknown keys.
pub fn request(rng: &mut Rand) -> Value {
    let n_messages = if maybe(rng, 0.05) {
        rng.random_range(0..200)
    } else {
        rng.random_range(0..8)
    };
    let effort = pick(
        rng,
        &["minimal", "low", "medium", "high", "xhigh", "none", ""],
    );
    let mut r = object(vec![
        ("model", maybe(rng, 0.8).then(|| Value::from(pick(rng, &["openai/gpt-4o", "anthropic/claude-sonnet-4.5", "google/gemini-2.5-flash", "mock/echo", "openrouter/auto", "x/y:free", "a/b:nitro", "a/b:floor", "a/b:thinking", "", "../x", "a%00b"])))),
        ("messages", maybe(rng, 0.9).then(|| Value::Array((0..n_messages).map(|_| message(rng)).collect()))),
        ("prompt", maybe(rng, 0.1).then(|| Value::from(text(rng)))),
        ("models", maybe(rng, 0.05).then(|| json!(["openai/gpt-4o", unicode(rng, 5)]))),
        ("temperature", maybe(rng, 0.2).then(|| some_number(rng, 0.0, 2.0))),
        ("top_p", maybe(rng, 0.1).then(|| some_number(rng, 0.0, 1.0))),
        ("top_k", maybe(rng, 0.1).then(|| some_number(rng, -1.0, 100.0))),
        ("min_p", maybe(rng, 0.05).then(|| some_number(rng, 0.0, 1.0))),
        ("frequency_penalty", maybe(rng, 0.05).then(|| some_number(rng, -2.0, 2.0))),
        ("repetition_penalty", maybe(rng, 0.05).then(|| some_number(rng, 0.0, 2.0))),
        ("seed", maybe(rng, 0.05).then(|| some_number(rng, -10.0, 1e6))),
        ("max_tokens", maybe(rng, 0.3).then(|| some_number(rng, 0.0, 200_000.0))),
        ("max_completion_tokens", maybe(rng, 0.05).then(|| some_number(rng, 0.0, 200_000.0))),
        ("top_logprobs", maybe(rng, 0.05).then(|| some_number(rng, 0.0, 30.0))),
        ("logprobs", maybe(rng, 0.05).then(|| Value::Bool(rng.random()))),
        ("logit_bias", maybe(rng, 0.05).then(|| json!({"50256": -100, "1": 0.5}))),
        ("stop", maybe(rng, 0.1).then(|| if maybe(rng, 0.5) { Value::from(text(rng)) } else { json!([" ", "\n\n", text(rng)]) })),
        ("stream", maybe(rng, 0.3).then(|| Value::Bool(rng.random()))),
        ("stream_options", maybe(rng, 0.1).then(|| json!({"include_usage": rng.random::<bool>()}))),
        ("response_format", maybe(rng, 0.15).then(|| match rng.random_range(0..3) {
            0 => json!({"type": "json_object"}),
            1 => json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": any_json(rng, 3, &[]), "strict": true}}),
            _ => json!({"type": pick(rng, &["text", "grammar", "x"])}),
        })),
        ("tools", maybe(rng, 0.2).then(|| Value::Array((0..rng.random_range(0..4)).map(|_| tool(rng)).collect()))),
        ("tool_choice", maybe(rng, 0.1).then(|| if maybe(rng, 0.5) { Value::from(pick(rng, &["auto", "none", "required", "any"])) } else { json!({"type": "function", "function": {"name": pick(rng, &["get_weather", "missing"])}}) })),
        ("parallel_tool_calls", maybe(rng, 0.05).then(|| Value::Bool(rng.random()))),
        ("reasoning", maybe(rng, 0.15).then(|| object(vec![
            ("effort", maybe(rng, 0.5).then(|| Value::from(effort))),
            ("max_tokens", maybe(rng, 0.3).then(|| some_number(rng, 0.0, 100_000.0))),
            ("exclude", maybe(rng, 0.3).then(|| Value::Bool(rng.random()))),
            ("enabled", maybe(rng, 0.3).then(|| Value::Bool(rng.random()))),
        ]))),
        ("reasoning_effort", maybe(rng, 0.05).then(|| Value::from(effort))),
        ("include_reasoning", maybe(rng, 0.05).then(|| Value::Bool(rng.random()))),
        ("usage", maybe(rng, 0.1).then(|| json!({"include": rng.random::<bool>()}))),
        ("transforms", maybe(rng, 0.1).then(|| json!(["middle-out"]))),
        ("provider", maybe(rng, 0.1).then(|| json!({"order": ["mock-alpha"], "allow_fallbacks": rng.random::<bool>(), "sort": pick(rng, &["price", "throughput", "latency", "x"]), "max_price": {"prompt": some_number(rng, 0.0, 10.0), "completion": "1"}, "data_collection": "deny", "quantizations": ["fp8"], "require_parameters": true}))),
        ("plugins", maybe(rng, 0.05).then(|| json!([{"id": "web"}]))),
        ("n", maybe(rng, 0.05).then(|| some_number(rng, 0.0, 200.0))),
        ("user", maybe(rng, 0.05).then(|| Value::from(unicode(rng, 10)))),
    ]);
    if maybe(rng, 0.1) {
        r[unicode(rng, 6)] = any_json(rng, 2, &[]);
    }
    r
}

fn generate(rng: &mut Rand) -> Vec<u8> {
    let r = request(rng);
    if maybe(rng, 0.2) {
        serde_json::to_vec_pretty(&r).unwrap_or_default()
    } else {
        serde_json::to_vec(&r).unwrap_or_default()
    }
}

fn target(bytes: &[u8]) {
    // The path-reporting parse and the plain one agree.
    let parsed = tollgate_schema::from_json_slice::<ChatRequest>(bytes);
    let plain = serde_json::from_slice::<ChatRequest>(bytes);
    assert_eq!(
        parsed.is_ok(),
        plain.is_ok(),
        "from_json_slice and serde_json disagree: {parsed:?} / {plain:?}"
    );
    let _ = tollgate_schema::from_json_slice::<CompletionRequest>(bytes).map_err(|e| e.to_string());
    let _ = tollgate_schema::from_json_slice::<EmbeddingRequest>(bytes).map_err(|e| e.to_string());
    let request = match parsed {
        Ok(request) => request,
        Err(e) => {
            let _ = (e.to_string(), e.path());
            return;
        }
    };
    // Re-serialised, it parses again to the same value.
    let text = serde_json::to_vec(&request).expect("a parsed request serialises");
    let again: ChatRequest = tollgate_schema::from_json_slice(&text)
        .unwrap_or_else(|e| panic!("a re-serialised request does not parse: {e}"));
    if again != request {
        // serde_json parses floats best-effort (its `float_roundtrip`
        // feature is off): a long literal such as 118446744073709551616
        // may land one ulp away from where its shortest re-printing
        // lands. Anything else is a change.
        let (a, b) = (
            serde_json::to_value(&again).expect("serialises"),
            serde_json::to_value(&request).expect("serialises"),
        );
        assert!(
            same_but_last_ulps(&a, &b),
            "the round trip changed the request:\n{a}\n{b}"
        );
    }

    // Model ids parse exactly: what parses prints back as given.
    for id in request.model.iter().chain(request.models.iter().flatten()) {
        if let Ok(parsed) = id.parse::<tollgate_catalog::ModelId>() {
            assert_eq!(&parsed.to_string(), id, "a model id changed in parsing");
        }
    }

    let key = derive(bytes, 1);
    let stream = key & 1 == 1;
    // The request translators: errors are fine, panics are not.
    let _ = tollgate_transport::openai::translate::chat_body(&request, "m", stream, key & 2 == 2);
    let cap = (key & 4 == 4).then_some((key >> 8) as u32 % 200_000);
    match tollgate_transport::anthropic::translate::messages_body(&request, "claude-x", stream, cap)
    {
        Ok(t) => {
            let max = t.body["max_tokens"]
                .as_u64()
                .expect("max_tokens is always set");
            if let Some(cap) = cap {
                assert!(max <= u64::from(cap), "max_tokens {max} over the cap {cap}");
            }
            if let Some(budget) = t.body["thinking"]["budget_tokens"].as_u64()
                && max > 0
            {
                assert!(
                    budget < max,
                    "thinking budget {budget} not under max_tokens {max}"
                );
            }
        }
        Err(e) => {
            let _ = format!("{e:?}");
        }
    }
    let _ = tollgate_transport::gemini::translate::generate_body(&request)
        .map_err(|e| format!("{e:?}"));

    // Counting, and the shaping transforms.
    let bound = count_request(&request, &ByteBound);
    if bytes.len() <= 8 * 1024 {
        let exact = count_request(&request, &Tokenizer::o200k());
        assert!(
            exact.total <= bound.total,
            "o200k counted {} > the byte bound {}",
            exact.total,
            bound.total
        );
    }
    let _ = shaping::describe_tools(&request);
    let _ = shaping::json_mode_by_instruction(&request);
    if let Some(messages) = &request.messages {
        let _ = shaping::prefix_names(messages);
        let _ = shaping::tool_history_as_text(messages);
        let _ = shaping::prepare_prefill(messages, shaping::Prefill::Native);
        let _ = shaping::prepare_prefill(messages, shaping::Prefill::Emulated);
        let _ = shaping::prefill_text(messages);
    }
    if let Some(tools) = &request.tools {
        let _ = shaping::tools_prompt(
            tools,
            request.tool_choice.as_ref(),
            request.parallel_tool_calls,
        );
    }
}

#[test]
fn chat_request() {
    tollgate_fuzz::Fuzzer::new("chat_request")
        .generator(generate)
        .generator(|rng| {
            // Deep nesting where a value is free-form.
            let mut r = request(rng);
            let depth = rng.random_range(100..140);
            r["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": tollgate_fuzz::generate::nested(json!({}), depth)}});
            serde_json::to_vec(&r).unwrap_or_default()
        })
        .dictionary(DICTIONARY)
        .run(target);
}

/// Equal JSON, floats within a few ulps of each other.
fn same_but_last_ulps(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_but_last_ulps(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_but_last_ulps(v, w)))
        }
        _ => a == b,
    }
}
