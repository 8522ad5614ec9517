//! The golden cases of `fixtures/ingress/messages/` (see its README):
//! each Anthropic request decoded, then sent by each upstream dialect's
//! adapter; each finished answer and relayed stream encoded.

use serde_json::Value;
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatChunk, ChatCompletion, ChatRequest};
use tollgate_schema::from_json_slice;
use tollgate_schema::messages::MessagesRequest;
use tollgate_schema::usage::Usage;
use tollgate_schema::wire_error::ErrorBody;

use super::error::error_type;
use super::{Encoder, answer, decode};
use crate::error::ApiError;
use crate::ingress::golden::{self, parse_events, upstream_body};
use crate::ingress::{StreamEncoder, StreamInfo};

fn cases() -> Vec<(String, Value)> {
    golden::cases("messages", 8)
}

fn decoded(request: &Value) -> Result<ChatRequest, ApiError> {
    let r: MessagesRequest = from_json_slice(request.to_string().as_bytes())?;
    decode(r, true)
}

#[test]
fn requests_decode_and_reach_each_dialect_as_the_cases_say() {
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
        let upstream = &case["upstream"];
        for (dialect, to) in [
            ("openai", "OpenAI"),
            ("anthropic", "Anthropic"),
            ("gemini", "Gemini"),
        ] {
            assert_eq!(
                upstream_body(dialect, &internal),
                upstream[dialect],
                "{name}: to an {to} upstream"
            );
        }
        checked += 1;
    }
    assert!(checked >= 4);
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
    assert!(checked >= 5);
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
            prompt_estimate: stream["prompt_estimate"].as_u64().unwrap(),
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
        assert_eq!(
            Value::Array(parse_events(&out)),
            stream["expected_events"],
            "{name}: {}",
            String::from_utf8_lossy(&out)
        );
        checked += 1;
    }
    assert!(checked >= 4);
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
    for pair in case["statuses"].as_array().unwrap() {
        let status = u16::try_from(pair[0].as_u64().unwrap()).unwrap();
        assert_eq!(error_type(status), pair[1], "{pair}");
    }
}
