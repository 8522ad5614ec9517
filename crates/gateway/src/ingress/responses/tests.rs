//! The golden cases of `fixtures/ingress/responses/` (see its README):
//! each Responses request decoded into the internal request; each
//! finished answer and relayed stream encoded.

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatChunk, ChatCompletion, ChatRequest};
use tollgate_schema::from_json_slice;
use tollgate_schema::responses::ResponsesRequest;
use tollgate_schema::usage::Usage;
use tollgate_schema::wire_error::ErrorBody;

use super::{Echo, Encoder, answer, decode};
use crate::error::ApiError;
use crate::ingress::golden::{self, parse_events, upstream_body};
use crate::ingress::{StreamEncoder, StreamInfo};

fn cases() -> Vec<(String, Value)> {
    let cases = golden::cases("responses", 5);
    // A misspelt key would leave its part of a case unchecked.
    const KEYS: &[&str] = &[
        "request",
        "internal",
        "upstream",
        "completion",
        "expected",
        "stream",
        "invalid",
    ];
    for (name, case) in &cases {
        let keys: Vec<&String> = case.as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(|k| KEYS.contains(&k.as_str())),
            "{name}: {keys:?}"
        );
        for (given, needs) in [
            ("request", "internal"),
            ("upstream", "request"),
            ("completion", "expected"),
        ] {
            assert!(
                case.get(given).is_none() || case.get(needs).is_some(),
                "{name}: `{given}` without `{needs}`"
            );
        }
        if let Some(upstream) = case.get("upstream") {
            let dialects: Vec<&String> = upstream.as_object().unwrap().keys().collect();
            assert!(
                !dialects.is_empty()
                    && dialects
                        .iter()
                        .all(|d| ["openai", "anthropic", "gemini"].contains(&d.as_str())),
                "{name}: {dialects:?}"
            );
        }
        if let Some(stream) = case.get("stream") {
            assert!(
                stream.get("usage").is_some() != stream.get("error").is_some(),
                "{name}: a stream ends with `usage` or `error`"
            );
        }
    }
    cases
}

fn decoded(request: &Value) -> Result<ChatRequest, ApiError> {
    let r: ResponsesRequest = from_json_slice(request.to_string().as_bytes())?;
    decode(r)
}

#[test]
fn requests_decode_as_the_cases_say() {
    let mut checked = 0;
    for (name, case) in cases() {
        let Some(request) = case.get("request") else {
            continue;
        };
        let internal = decoded(request).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            serde_json::to_value(&internal).unwrap(),
            case["internal"],
            "{name}: the internal request"
        );
        // What each dialect's adapter sends, where the case says.
        let upstream = &case["upstream"];
        for (dialect, to) in [
            ("openai", "OpenAI"),
            ("anthropic", "Anthropic"),
            ("gemini", "Gemini"),
        ] {
            if let Some(body) = upstream.get(dialect) {
                assert_eq!(
                    &upstream_body(dialect, &internal),
                    body,
                    "{name}: to an {to} upstream"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn answers_encode_as_the_cases_say() {
    let mut checked = 0;
    for (name, case) in cases() {
        let Some(completion) = case.get("completion") else {
            continue;
        };
        let c: ChatCompletion = from_json_slice(completion.to_string().as_bytes()).unwrap();
        assert_eq!(
            serde_json::to_value(answer(c)).unwrap(),
            case["expected"],
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn streams_encode_as_the_cases_say() {
    let mut checked = 0;
    for (name, case) in cases() {
        let Some(stream) = case.get("stream") else {
            continue;
        };
        let mut encoder = Encoder::new(StreamInfo {
            id: String::from("gen-1-abc"),
            model: String::from("m"),
            prompt_estimate: 0,
        });
        let mut out = Vec::new();
        for c in stream["chunks"].as_array().unwrap() {
            let c: ChatChunk = from_json_slice(c.to_string().as_bytes()).unwrap();
            out.extend(encoder.chunk(Box::new(c)).unwrap_or_default());
        }
        let end = ChatChunk {
            id: String::from("gen-1-abc"),
            object: String::from("chat.completion.chunk"),
            created: 1,
            model: String::from("m"),
            provider: None,
            system_fingerprint: None,
            choices: Vec::new(),
            usage: None,
            error: None,
            extra: Extra::new(),
        };
        if let Some(error) = stream.get("error") {
            let error: ErrorBody = serde_json::from_value(error.clone()).unwrap();
            let c = ChatChunk {
                error: Some(Box::new(error)),
                ..end
            };
            out.extend(encoder.error(c).unwrap());
        } else {
            let usage: Usage = serde_json::from_value(stream["usage"].clone()).unwrap();
            let c = ChatChunk {
                usage: Some(Box::new(usage)),
                ..end
            };
            out.extend(encoder.finish(c));
        }
        let events = parse_events(&out);
        let expected = stream["expected_events"].as_array().unwrap();
        assert_eq!(
            events.len(),
            expected.len(),
            "{name}: {}",
            String::from_utf8_lossy(&out)
        );
        for (got, want) in events.iter().zip(expected) {
            assert_eq!(got, want, "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn invalid_requests_are_400s_naming_the_field() {
    let (_, case) = cases().into_iter().find(|c| c.0 == "errors").unwrap();
    for invalid in case["invalid"].as_array().unwrap() {
        match decoded(&invalid["request"]) {
            Err(ApiError::BadRequest { field, .. }) => {
                assert_eq!(field.as_deref(), invalid["field"].as_str(), "{invalid}");
            }
            other => panic!("{invalid}: {other:?}"),
        }
    }
}

#[test]
fn the_echo_writes_the_requests_fields_into_the_answer() {
    let (_, case) = cases()
        .into_iter()
        .find(|c| c.0 == "text_instructions")
        .unwrap();
    let request: ResponsesRequest =
        from_json_slice(case["request"].to_string().as_bytes()).unwrap();
    let c: ChatCompletion = from_json_slice(case["completion"].to_string().as_bytes()).unwrap();
    let mut response = answer(c);
    Echo::of(&request).apply(&mut response);
    let v = serde_json::to_value(&response).unwrap();
    assert_eq!(v["instructions"], "Be brief.");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["temperature"], 0.2);
    assert_eq!(v["top_p"], 0.9);
    assert_eq!(v["max_output_tokens"], 100);
    assert_eq!(v["user"], "u-1");
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["parallel_tool_calls"], true);
    assert_eq!(v["output"], case["expected"]["output"]);
}

#[test]
fn the_echo_rewrites_only_a_streams_response_objects() {
    let request: ResponsesRequest = from_json_slice(
        br#"{"model":"m","input":"hi","instructions":"Be brief.","tools":[{"type":"function","name":"f"}]}"#,
    )
    .unwrap();
    let echo = Echo::of(&request);
    let mut encoder = Encoder::new(StreamInfo {
        id: String::from("gen-1-abc"),
        model: String::from("m"),
        prompt_estimate: 0,
    });
    // A delta whose text looks like a response object's key.
    let chunk: ChatChunk = from_json_slice(
        br#"{"id":"gen-1-abc","object":"chat.completion.chunk","created":1,"model":"m",
            "choices":[{"index":0,"delta":{"content":"\"response\":{"}}]}"#,
    )
    .unwrap();
    let mut bytes = b": OPENROUTER PROCESSING\n\n".to_vec();
    bytes.extend(encoder.chunk(Box::new(chunk)).unwrap());
    let out = echo.frames(bytes::Bytes::from(bytes.clone()));
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.starts_with(": OPENROUTER PROCESSING\n\n"), "{text}");
    let events = parse_events(text.split_once("\n\n").unwrap().1.as_bytes());
    let original = parse_events(
        std::str::from_utf8(&bytes)
            .unwrap()
            .split_once("\n\n")
            .unwrap()
            .1
            .as_bytes(),
    );
    assert_eq!(events.len(), original.len());
    for (got, was) in events.iter().zip(&original) {
        let name = got["event"].as_str().unwrap();
        if name == "response.created" || name == "response.in_progress" {
            let r = &got["data"]["response"];
            assert_eq!(r["instructions"], "Be brief.", "{got}");
            assert_eq!(r["tools"][0]["name"], "f", "{got}");
            assert_eq!(
                got["data"]["sequence_number"],
                was["data"]["sequence_number"]
            );
        } else {
            assert_eq!(got, was, "other frames pass as they are");
        }
    }
    assert!(
        events
            .iter()
            .any(|e| e["data"]["delta"] == "\"response\":{"),
        "{text}"
    );
}
