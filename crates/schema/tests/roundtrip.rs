//! Real-shaped fixtures (fixtures/schema/) parse into the typed wire structs
//! and serialise back without losing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tollgate_schema::chat::{
    ChatChunk, ChatCompletion, ChatRequest, ContentPart, MessageContent, Role, Stop, ToolChoice,
};
use tollgate_schema::completions::CompletionRequest;
use tollgate_schema::embeddings::{EmbeddingInput, EmbeddingRequest};
use tollgate_schema::listing::ProviderListing;
use tollgate_schema::models::{EndpointList, ModelList};
use tollgate_schema::provider::{DataCollection, ProviderSort};
use tollgate_schema::usage::Usage;
use tollgate_schema::wire_error::{ErrorCode, ErrorResponse};
use tollgate_schema::{Error, from_json_slice};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../fixtures/schema/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Puts equal meanings in one form: `null` members are removed (an absent
/// optional and a null one mean the same, and the types write absent
/// optionals as absent), numbers compare as numbers (`-100` and `-100.0`),
/// and `provider.max_price` values, which clients send as numbers or
/// strings, compare in the spec's string form.
fn normalize(v: Value) -> Value {
    fn walk(v: Value, in_max_price: bool) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        // Members of `max_price` are prices.
                        let child_is_price = in_max_price || k == "max_price";
                        (k, walk(v, child_is_price))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| walk(v, false)).collect()),
            Value::Number(n) if in_max_price => Value::String(n.to_string()),
            Value::Number(n) => n.as_f64().map(Value::from).unwrap_or(Value::Number(n)),
            other => other,
        }
    }
    walk(v, false)
}

/// Parses the fixture as `T`, writes it back, and checks nothing was lost.
fn roundtrip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let text = fixture(name);
    let typed: T = from_json_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let original: Value = serde_json::from_str(&text).unwrap();
    let written = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        normalize(written),
        normalize(original),
        "{name} does not round-trip"
    );
    typed
}

#[test]
fn full_chat_request_keeps_every_field() {
    let req: ChatRequest = roundtrip("chat-request-full.json");
    let messages = req.messages.as_ref().unwrap();
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[1].role, Role::Developer);
    let Some(MessageContent::Parts(parts)) = &messages[2].content else {
        panic!("parts expected")
    };
    let kinds: Vec<&str> = parts.iter().map(|p| p.type_name()).collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image_url",
            "input_audio",
            "file",
            "video_url",
            "input_video",
            "future_part"
        ]
    );
    assert!(matches!(&parts[6], ContentPart::Other(m) if m["payload"]["x"] == 1));
    assert_eq!(
        messages[3].tool_calls.as_ref().unwrap()[0].function.name,
        "get_current_weather"
    );
    assert_eq!(
        messages[4].tool_call_id.as_deref(),
        Some("call_9pw1qnYScqvGrCH58HWCvFH6")
    );
    assert_eq!(req.max_output_tokens(), Some(512));
    assert_eq!(
        req.stop,
        Some(Stop::Many(vec!["\n\n".into(), "END".into()]))
    );
    assert!(
        matches!(&req.tool_choice, Some(ToolChoice::Named(n)) if n.function.name == "get_current_weather")
    );
    let prefs = req.provider.as_ref().unwrap();
    assert_eq!(prefs.data_collection, Some(DataCollection::Deny));
    assert_eq!(
        prefs.sort.as_ref().and_then(ProviderSort::by),
        Some("throughput")
    );
    let max = prefs.max_price.as_ref().unwrap();
    assert_eq!(max.prompt, Some(Decimal::new(15, 1)));
    assert_eq!(max.completion, Some(Decimal::from(2)));
    assert!(prefs.extra.contains_key("experimental"));
    assert_eq!(req.extra["my_extra_body_key"]["nested"][2], 3);
    assert!(req.extra.contains_key("web_search_options"));
    assert!(req.middle_out());
}

#[test]
fn minimal_request_forms() {
    let req: ChatRequest = roundtrip("chat-request-minimal.json");
    assert_eq!(req.stop, Some(Stop::One("END".into())));
    assert_eq!(req.tool_choice, Some(ToolChoice::Mode("auto".into())));
    assert_eq!(req.reasoning_effort.as_deref(), Some("low"));
    assert_eq!(
        req.provider.unwrap().max_price.unwrap().prompt,
        Some(Decimal::ONE)
    );
}

#[test]
fn transforms_empty_disables_middle_out() {
    let req: ChatRequest =
        from_json_slice(br#"{"messages":[{"role":"user","content":"x"}],"transforms":[]}"#)
            .unwrap();
    assert!(!req.middle_out());
}

#[test]
fn response_and_chunks_round_trip() {
    let resp: ChatCompletion = roundtrip("chat-response.json");
    let usage = resp.usage.as_ref().unwrap();
    assert_eq!(usage.cost, Some(Decimal::new(93, 6)));
    assert_eq!(
        resp.choices[0].native_finish_reason.as_deref(),
        Some("tool_use")
    );
    let chunk: ChatChunk = roundtrip("chat-chunk-content.json");
    let tc = &chunk.choices[0].delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!(tc.index, 1);
    let last: ChatChunk = roundtrip("chat-chunk-usage.json");
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.unwrap().total_tokens, 29);
    let err: ChatChunk = roundtrip("chat-chunk-error.json");
    assert_eq!(
        err.error.unwrap().code,
        ErrorCode::Text("server_error".into())
    );
    assert_eq!(err.choices[0].finish_reason.as_deref(), Some("error"));
}

#[test]
fn what_we_write_is_what_clients_demand() {
    // A text-less tool-call turn keeps `content: null`; a chunk keeps
    // `finish_reason: null`; usage never writes `cost: null` and always
    // carries both detail counters.
    let resp: ChatCompletion = from_json_slice(fixture("chat-response.json").as_bytes()).unwrap();
    let v = serde_json::to_value(&resp).unwrap();
    assert!(
        v["choices"][0]["message"]
            .as_object()
            .unwrap()
            .contains_key("content")
    );
    assert!(v["choices"][0]["message"]["content"].is_null());

    let chunk: ChatChunk = from_json_slice(fixture("chat-chunk-content.json").as_bytes()).unwrap();
    let v = serde_json::to_value(&chunk).unwrap();
    assert!(
        v["choices"][0]
            .as_object()
            .unwrap()
            .contains_key("finish_reason")
    );

    let usage = Usage::new(3, 4);
    let v = serde_json::to_value(&usage).unwrap();
    assert!(!v.as_object().unwrap().contains_key("cost"));
    assert_eq!(v["total_tokens"], 7);
    assert_eq!(v["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(v["completion_tokens_details"]["reasoning_tokens"], 0);

    let with_cost = Usage {
        cost: Some(Decimal::new(93, 6)),
        ..usage
    };
    let v = serde_json::to_value(&with_cost).unwrap();
    assert_eq!(v["cost"].as_f64(), Some(0.000093));
}

#[test]
fn null_detail_counters_read_as_zero() {
    let u: Usage = from_json_slice(
        br#"{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"completion_tokens_details":{"reasoning_tokens":null}}"#,
    )
    .unwrap();
    assert_eq!(u.reasoning_tokens(), 0);
}

#[test]
fn errors_round_trip() {
    let e: ErrorResponse = roundtrip("error-402.json");
    assert_eq!(e.error.code.status(), Some(402));
    let p: ErrorResponse = roundtrip("error-provider.json");
    assert_eq!(p.error.metadata.unwrap()["provider_name"], "OpenAI");
}

#[test]
fn models_api_and_listing_round_trip() {
    let list: ModelList = roundtrip("models-list.json");
    let m = &list.data[0];
    assert_eq!(m.pricing.prompt, "0.00000125".parse::<Decimal>().unwrap());
    assert_eq!(m.top_provider.max_completion_tokens, Some(65535));
    assert!(list.extra.contains_key("total_count"));
    let eps: EndpointList = roundtrip("endpoints.json");
    assert_eq!(eps.data.endpoints[0].tag, "openai");
    assert_eq!(
        eps.data.endpoints[0].latency_last_30m.as_ref().unwrap().p99,
        1400.0
    );
    let listing: ProviderListing = roundtrip("provider-listing.json");
    let l = &listing.data[0];
    assert_eq!(l.pricing.completion, "0.000024".parse::<Decimal>().unwrap());
    assert_eq!(l.pricing.input_cache_reads, Some(Decimal::ZERO));
    assert_eq!(
        l.openrouter.as_ref().unwrap().slug,
        "anthropic/claude-sonnet-4"
    );
}

#[test]
fn completions_and_embeddings_inputs() {
    let c: CompletionRequest =
        from_json_slice(br#"{"model":"m/x","prompt":["a","b"],"echo":true}"#).unwrap();
    assert!(c.extra.contains_key("echo"));
    let e: EmbeddingRequest =
        from_json_slice(br#"{"model":"m/e","input":[[1,2],[3]],"dimensions":8}"#).unwrap();
    assert_eq!(
        e.input,
        EmbeddingInput::TokenBatches(vec![vec![1, 2], vec![3]])
    );
    let e: EmbeddingRequest = from_json_slice(br#"{"model":"m/e","input":"hi"}"#).unwrap();
    assert_eq!(e.input, EmbeddingInput::Text("hi".into()));
}

#[test]
fn bad_input_names_the_field() {
    let cases: &[(&[u8], &str)] = &[
        (
            br#"{"messages":[{"role":"wizard","content":"x"}]}"#,
            "messages[0].role",
        ),
        (
            br#"{"messages":[{"role":"user","content":5}]}"#,
            "messages[0].content",
        ),
        (br#"{"messages":[],"temperature":"hot"}"#, "temperature"),
        (br#"{"messages":[],"max_tokens":-1}"#, "max_tokens"),
        (
            br#"{"messages":[],"provider":{"data_collection":"sometimes"}}"#,
            "provider.data_collection",
        ),
        (
            br#"{"messages":[],"provider":{"max_price":{"prompt":"cheap"}}}"#,
            "provider.max_price.prompt",
        ),
        (
            br#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
            "messages[0].content[0]",
        ),
        (
            br#"{"messages":[{"role":"user","content":[{"text":"no type"}]}]}"#,
            "messages[0].content[0]",
        ),
        (
            br#"{"messages":[{"role":"user"}],"stream":"yes"}"#,
            "stream",
        ),
    ];
    for (body, path) in cases {
        let err = from_json_slice::<ChatRequest>(body).unwrap_err();
        assert_eq!(
            err.path(),
            Some(*path),
            "{}: {err}",
            String::from_utf8_lossy(body)
        );
    }
    let err = from_json_slice::<ChatRequest>(br#"{"messages":[{"content":"x"}]}"#).unwrap_err();
    assert!(
        matches!(&err, Error::Missing { path } if path == "messages[0].role"),
        "{err:?}"
    );
    let err = from_json_slice::<ChatRequest>(br#"{"messages": [}"#).unwrap_err();
    assert!(matches!(err, Error::Syntax { .. }), "{err:?}");
    let err = from_json_slice::<ChatRequest>(
        br#"{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("image_url"), "{err}");
}
