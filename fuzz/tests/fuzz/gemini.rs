//! `gemini_response` and `gemini_stream`: the Gemini adapter's translation
//! of `generateContent` answers, `batchEmbedContents` answers and
//! `streamGenerateContent?alt=sse` streams.

use serde_json::{Value, json};
use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::{self, Event};
use tollgate_fuzz::rand::Rng;
use tollgate_schema::embeddings::EmbeddingRequest;
use tollgate_transport::gemini::translate::{self, ResponseMode};

use crate::support::{
    assert_no_null_cost, check_error, derive, maybe, object, pick, some_number, text,
};

const DICTIONARY: &[&str] = &[
    "candidates",
    "content",
    "parts",
    "role",
    "model",
    "text",
    "thought",
    "thoughtSignature",
    "functionCall",
    "functionResponse",
    "name",
    "args",
    "inlineData",
    "mimeType",
    "data",
    "finishReason",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "RECITATION",
    "MALFORMED_FUNCTION_CALL",
    "index",
    "safetyRatings",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "totalTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "modelVersion",
    "responseId",
    "promptFeedback",
    "blockReason",
    "error",
    "code",
    "message",
    "status",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "INVALID_ARGUMENT",
    "embeddings",
    "values",
];

fn mode(bytes: &[u8]) -> ResponseMode {
    ResponseMode {
        exclude_reasoning: derive(bytes, 13) & 1 == 1,
    }
}

fn part(rng: &mut Rand) -> Value {
    match rng.random_range(0..7) {
        0..=2 => json!({"text": text(rng)}),
        3 => json!({"text": text(rng), "thought": true}),
        4 => object(vec![
            (
                "functionCall",
                Some(
                    json!({"name": pick(rng, &["get_weather", "", "f"]), "args": generate::json(rng, 2, &[])}),
                ),
            ),
            (
                "thoughtSignature",
                maybe(rng, 0.3).then(|| Value::from("c2ln")),
            ),
        ]),
        5 => json!({"thoughtSignature": "c2ln"}),
        _ => json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}),
    }
}

fn usage(rng: &mut Rand) -> Value {
    object(vec![
        (
            "promptTokenCount",
            maybe(rng, 0.9).then(|| some_number(rng, 0.0, 1e5)),
        ),
        (
            "candidatesTokenCount",
            maybe(rng, 0.8).then(|| some_number(rng, 0.0, 1e5)),
        ),
        (
            "totalTokenCount",
            maybe(rng, 0.8).then(|| some_number(rng, 0.0, 2e5)),
        ),
        (
            "thoughtsTokenCount",
            maybe(rng, 0.3).then(|| some_number(rng, 0.0, 1e4)),
        ),
        (
            "cachedContentTokenCount",
            maybe(rng, 0.2).then(|| some_number(rng, 0.0, 1e4)),
        ),
    ])
}

fn error(rng: &mut Rand) -> Value {
    json!({"error": {"code": some_number(rng, 400.0, 600.0), "message": text(rng), "status": pick(rng, &["RESOURCE_EXHAUSTED", "UNAVAILABLE", "INVALID_ARGUMENT", "PERMISSION_DENIED", "x"])}})
}

fn answer(rng: &mut Rand) -> Value {
    if maybe(rng, 0.08) {
        return error(rng);
    }
    let candidates: Vec<Value> = (0..rng.random_range(0..3))
        .map(|i| object(vec![
            ("content", maybe(rng, 0.9).then(|| json!({"role": "model", "parts": (0..rng.random_range(0..4)).map(|_| part(rng)).collect::<Vec<_>>()}))),
            ("finishReason", maybe(rng, 0.6).then(|| Value::from(pick(rng, &["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "MALFORMED_FUNCTION_CALL", "OTHER", "x"])))),
            ("index", maybe(rng, 0.5).then(|| if maybe(rng, 0.9) { Value::from(i) } else { some_number(rng, 0.0, 5.0) })),
        ]))
        .collect();
    object(vec![
        (
            "candidates",
            maybe(rng, 0.95).then_some(Value::Array(candidates)),
        ),
        ("usageMetadata", maybe(rng, 0.7).then(|| usage(rng))),
        (
            "modelVersion",
            maybe(rng, 0.5).then(|| Value::from("gemini-2.5-flash-001")),
        ),
        ("responseId", maybe(rng, 0.5).then(|| Value::from("resp-1"))),
        (
            "promptFeedback",
            maybe(rng, 0.05).then(|| json!({"blockReason": pick(rng, &["SAFETY", "OTHER", ""])})),
        ),
    ])
}

fn embed_request(bytes: &[u8]) -> EmbeddingRequest {
    let key = derive(bytes, 17);
    let n = (key % 4) as usize;
    let input = if n == 0 {
        json!("one")
    } else {
        json!(vec!["a"; n])
    };
    let mut request = json!({"model": "google/text-embedding-004", "input": input});
    if key & 16 == 16 {
        request["encoding_format"] = json!("base64");
    }
    if key & 32 == 32 {
        request["dimensions"] = json!(key % 9);
    }
    serde_json::from_value(request).expect("a valid embedding request")
}

fn response_target(bytes: &[u8]) {
    match translate::chat_completion(
        "fuzz",
        "Fuzz",
        bytes,
        "gemini-x",
        &mode(bytes),
        1_700_000_000,
    ) {
        Ok(c) => {
            assert_eq!(c.provider.as_deref(), Some("Fuzz"));
            assert_no_null_cost(&serde_json::to_value(&c).expect("a completion serialises"));
        }
        Err(e) => check_error(&e),
    }
    let request = embed_request(bytes);
    match translate::embeddings("fuzz", "Fuzz", bytes, &request, "text-embedding-004") {
        Ok(r) => {
            serde_json::to_value(&r).expect("embeddings serialise");
        }
        Err(e) => check_error(&e),
    }
    let _ = translate::usage(&serde_json::from_slice(bytes).unwrap_or(Value::Null));
}

fn embeddings(rng: &mut Rand) -> Value {
    json!({"embeddings": (0..rng.random_range(0..4)).map(|_| json!({"values": (0..rng.random_range(0..6)).map(|_| some_number(rng, -1.0, 1.0)).collect::<Vec<_>>()})).collect::<Vec<_>>()})
}

#[test]
fn gemini_response() {
    tollgate_fuzz::Fuzzer::new("gemini_response")
        .generator(|rng| serde_json::to_vec(&answer(rng)).unwrap_or_default())
        .generator(|rng| serde_json::to_vec(&embeddings(rng)).unwrap_or_default())
        .dictionary(DICTIONARY)
        .run(response_target);
}

fn stream_target(bytes: &[u8]) {
    let mode = mode(bytes);
    crate::support::same_however_split(bytes, |chunks| {
        tollgate_transport::fuzzing::gemini_stream(chunks, mode.clone(), "gemini-x")
    });
}

#[test]
fn gemini_stream() {
    tollgate_fuzz::Fuzzer::new("gemini_stream")
        .generator(|rng| {
            let n = rng.random_range(0..6);
            let events: Vec<Event> = (0..n)
                .map(|_| Event {
                    event: None,
                    data: if maybe(rng, 0.03) {
                        text(rng)
                    } else {
                        answer(rng).to_string()
                    },
                })
                .collect();
            generate::sse(rng, &events)
        })
        .dictionary(DICTIONARY)
        .run(stream_target);
}
