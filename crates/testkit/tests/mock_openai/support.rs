//! Helpers shared by the mock tests: requests, SSE parsing, expectations.

use std::collections::BTreeMap;

use futures::StreamExt as _;
pub(crate) use serde_json::{Value, json};
pub(crate) use std::time::{Duration, Instant};
pub(crate) use tollgate_testkit::{Failure, MockConfig, MockHandle, MockServer};

pub(crate) const MODEL: &str = "mock/model-1";

pub(crate) async fn start() -> MockHandle {
    start_with(MockConfig::default()).await
}

pub(crate) async fn start_with(config: MockConfig) -> MockHandle {
    MockServer::start(config).await.expect("mock starts")
}

pub(crate) async fn post(mock: &MockHandle, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(mock.url(path))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

pub(crate) fn chat(text: &str) -> Value {
    json!({ "model": MODEL, "messages": [{ "role": "user", "content": text }] })
}

pub(crate) fn streamed(mut request: Value, include_usage: bool) -> Value {
    request["stream"] = json!(true);
    if include_usage {
        request["stream_options"] = json!({ "include_usage": true });
    }
    request
}

pub(crate) fn with_tools(mut request: Value, tools: &[&str]) -> Value {
    request["tools"] = tools
        .iter()
        .map(|name| json!({ "type": "function", "function": { "name": name, "parameters": {} } }))
        .collect();
    request
}

/// Checks SSE framing of a complete body and returns the data payloads.
pub(crate) fn sse_data(body: &str) -> Vec<String> {
    assert!(
        body.ends_with("\n\n"),
        "body ends with a blank line: {body:?}"
    );
    body.split_terminator("\n\n")
        .map(|event| {
            assert!(
                event.starts_with("data: "),
                "every event is a data line: {event:?}"
            );
            let data = &event["data: ".len()..];
            assert!(!data.contains('\n'), "one line per event: {event:?}");
            data.to_owned()
        })
        .collect()
}

/// Reads a whole stream; returns the JSON chunks, asserting it ends with
/// exactly one `[DONE]`.
pub(crate) async fn stream_chunks(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let body = response.text().await.unwrap();
    let mut data = sse_data(&body);
    assert_eq!(data.pop().as_deref(), Some("[DONE]"));
    data.iter()
        .map(|d| {
            serde_json::from_str(d)
                .map_err(|e| format!("{e}: {d}"))
                .unwrap()
        })
        .collect()
}

/// Reads a stream until it ends or fails; returns the complete data
/// payloads and whether the body failed.
pub(crate) async fn read_until_end(response: reqwest::Response) -> (Vec<String>, bool) {
    let mut body = response.bytes_stream();
    let mut bytes = Vec::new();
    let mut failed = false;
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    let text = String::from_utf8(bytes).unwrap();
    let complete = &text[..text.rfind("\n\n").map_or(0, |i| i + 2)];
    let data = if complete.is_empty() {
        Vec::new()
    } else {
        sse_data(complete)
    };
    (data, failed)
}

pub(crate) fn content_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

/// Reassembles streamed tool calls: index -> (id, name, arguments).
pub(crate) fn reassemble_tool_calls(chunks: &[Value]) -> BTreeMap<u64, (String, String, String)> {
    let mut calls: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for chunk in chunks {
        let Some(deltas) = chunk
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array)
        else {
            continue;
        };
        for delta in deltas {
            let entry = calls.entry(delta["index"].as_u64().unwrap()).or_default();
            if let Some(id) = delta["id"].as_str() {
                entry.0 = id.to_owned();
            }
            if let Some(name) = delta.pointer("/function/name").and_then(Value::as_str) {
                entry.1 = name.to_owned();
            }
            if let Some(args) = delta.pointer("/function/arguments").and_then(Value::as_str) {
                entry.2.push_str(args);
            }
        }
    }
    calls
}

pub(crate) fn expected_usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

/// A fixed conversation: system "Be brief." = Be|brief|. = 3 tokens;
/// user "Hello, world! How are you?" = Hello|,|world|!|How|are|you|? = 8.
/// Prompt = (3 + 3) + (3 + 8) + 3 priming = 20.
/// Reply "echo: Hello, world! How are you?" = echo|:| + 8 = 10.
pub(crate) fn fixed_conversation() -> Value {
    json!({
        "model": MODEL,
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "Hello, world! How are you?" },
        ],
    })
}

pub(crate) fn is_alphanumeric_id(id: &str, prefix: &str, len: usize) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == len && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}
