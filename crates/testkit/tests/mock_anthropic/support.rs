//! Helpers shared by the Anthropic mock tests: requests, SSE parsing.

use futures::StreamExt as _;
pub(crate) use serde_json::{Value, json};
pub(crate) use std::time::{Duration, Instant};
pub(crate) use tollgate_testkit::{Dialect, Failure, MockConfig, MockHandle, MockServer};

pub(crate) const MODEL: &str = "claude-mock-1";
pub(crate) const VERSION: &str = "2023-06-01";

pub(crate) async fn start() -> MockHandle {
    start_with(MockConfig::default()).await
}

pub(crate) async fn start_with(config: MockConfig) -> MockHandle {
    MockServer::start(MockConfig {
        dialect: Dialect::Anthropic,
        ..config
    })
    .await
    .expect("mock starts")
}

/// A request to `path` with `anthropic-version` set.
pub(crate) fn request(mock: &MockHandle, path: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(mock.url(path))
        .header("anthropic-version", VERSION)
        .json(body)
}

pub(crate) async fn post(mock: &MockHandle, body: &Value) -> reqwest::Response {
    request(mock, "/messages", body)
        .send()
        .await
        .expect("request sent")
}

/// Posts and returns the status and the JSON body.
pub(crate) async fn post_json(mock: &MockHandle, body: &Value) -> (u16, Value) {
    let response = post(mock, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A one-turn request with `max_tokens: 1024`.
pub(crate) fn user(text: &str) -> Value {
    json!({
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{ "role": "user", "content": text }],
    })
}

pub(crate) fn streamed(mut request: Value) -> Value {
    request["stream"] = json!(true);
    request
}

pub(crate) fn with_tools(mut request: Value, tools: &[&str]) -> Value {
    request["tools"] = tools
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "description": format!("The {name} tool"),
                "input_schema": { "type": "object", "properties": {} },
            })
        })
        .collect();
    request
}

/// Checks the SSE framing of a complete body (`event: X\ndata: Y\n\n`,
/// `data.type == X`) and returns the events.
pub(crate) fn sse_events(body: &str) -> Vec<(String, Value)> {
    assert!(body.ends_with("\n\n"), "ends with a blank line: {body:?}");
    body.split_terminator("\n\n")
        .map(|event| {
            let (name_line, data_line) = event.split_once('\n').expect("two lines");
            let name = name_line.strip_prefix("event: ").expect("event line");
            let data = data_line.strip_prefix("data: ").expect("data line");
            assert!(!data.contains('\n'), "one data line: {event:?}");
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "type matches the event name");
            (name.to_owned(), data)
        })
        .collect()
}

/// Reads a whole successful stream and returns its events.
pub(crate) async fn stream_events(response: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "text/event-stream; charset=utf-8");
    sse_events(&response.text().await.unwrap())
}

/// Reads a stream until it ends or fails; returns the complete events and
/// whether the body failed.
pub(crate) async fn read_until_end(response: reqwest::Response) -> (Vec<(String, Value)>, bool) {
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
    let events = if complete.is_empty() {
        Vec::new()
    } else {
        sse_events(complete)
    };
    (events, failed)
}

pub(crate) fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// The text of the `text_delta`s of a stream.
pub(crate) fn streamed_text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, data)| data.pointer("/delta/text").and_then(Value::as_str))
        .collect()
}

pub(crate) fn usage(input: u64, output: u64, write: u64, read: u64) -> Value {
    json!({
        "input_tokens": input,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "output_tokens": output,
    })
}

pub(crate) fn is_id(id: &str, prefix: &str, len: usize) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == len && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// A fixed conversation: system "Be brief." = Be|brief|. = 3 tokens;
/// user "Hello, world! How are you?" = Hello|,|world|!|How|are|you|? = 8.
/// Prompt = (3 + 3) + (3 + 8) + 3 priming = 20.
/// Reply "echo: Hello, world! How are you?" = echo|:| + 8 = 10.
pub(crate) fn fixed_conversation() -> Value {
    json!({
        "model": MODEL,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{ "role": "user", "content": "Hello, world! How are you?" }],
    })
}

/// Asserts an Anthropic error body and returns its message.
pub(crate) async fn expect_error(response: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(response.status(), status);
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["error", "request_id", "type"], "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["request_id"], request_id.as_str());
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["error"].as_object().unwrap().len(), 2, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}
