//! Helpers shared by the Gemini mock tests: requests, SSE parsing.

use futures::StreamExt as _;
pub(crate) use serde_json::{Value, json};
pub(crate) use std::time::{Duration, Instant};
pub(crate) use tollgate_testkit::{Dialect, Failure, MockConfig, MockHandle, MockServer};

pub(crate) const MODEL: &str = "gemini-mock-1";

pub(crate) async fn start() -> MockHandle {
    start_with(MockConfig::default()).await
}

pub(crate) async fn start_with(config: MockConfig) -> MockHandle {
    MockServer::start(MockConfig {
        dialect: Dialect::Gemini,
        ..config
    })
    .await
    .expect("mock starts")
}

/// `POST {base}/models/{MODEL}:{method}` (the method may carry a query).
pub(crate) async fn call(mock: &MockHandle, method: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(mock.url(&format!("/models/{MODEL}:{method}")))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// `generateContent`: the status and the JSON body.
pub(crate) async fn generate(mock: &MockHandle, body: &Value) -> (u16, Value) {
    let response = call(mock, "generateContent", body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// `streamGenerateContent?alt=sse`.
pub(crate) async fn stream(mock: &MockHandle, body: &Value) -> reqwest::Response {
    call(mock, "streamGenerateContent?alt=sse", body).await
}

/// One user turn.
pub(crate) fn user(text: &str) -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": text }] }] })
}

pub(crate) fn with_tools(mut request: Value, tools: &[&str]) -> Value {
    let declarations: Vec<Value> = tools
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "description": format!("The {name} tool"),
                "parameters": { "type": "OBJECT", "properties": {} },
            })
        })
        .collect();
    request["tools"] = json!([{ "functionDeclarations": declarations }]);
    request
}

/// Checks the SSE framing of a complete body (`data: X\r\n\r\n`, no end
/// marker) and returns the chunks.
pub(crate) fn sse_chunks(body: &str) -> Vec<Value> {
    assert!(
        body.ends_with("\r\n\r\n"),
        "ends with a blank line: {body:?}"
    );
    body.split_terminator("\r\n\r\n")
        .map(|event| {
            let data = event.strip_prefix("data: ").expect("a data line");
            assert!(!data.contains('\n'), "one line per event: {event:?}");
            serde_json::from_str(data).unwrap()
        })
        .collect()
}

/// Reads a whole successful SSE stream.
pub(crate) async fn stream_chunks(response: reqwest::Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    sse_chunks(&response.text().await.unwrap())
}

/// Reads a stream until it ends or fails; returns the complete chunks and
/// whether the body failed.
pub(crate) async fn read_until_end(response: reqwest::Response) -> (Vec<Value>, bool) {
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
    let complete = &text[..text.rfind("\r\n\r\n").map_or(0, |i| i + 4)];
    let chunks = if complete.is_empty() {
        Vec::new()
    } else {
        sse_chunks(complete)
    };
    (chunks, failed)
}

/// The text of the non-thought parts of the chunks.
pub(crate) fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|c| {
            c.pointer("/candidates/0/content/parts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|p| p.get("thought").is_none())
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) fn safety_ratings() -> Value {
    json!([
        { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" },
    ])
}

pub(crate) fn usage(prompt: u64, candidates: u64) -> Value {
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
    })
}

/// A fixed conversation: system "Be brief." = Be|brief|. = 3 tokens;
/// user "Hello, world! How are you?" = Hello|,|world|!|How|are|you|? = 8.
/// Prompt = (3 + 3) + (3 + 8) + 3 priming = 20.
/// Reply "echo: Hello, world! How are you?" = echo|:| + 8 = 10.
pub(crate) fn fixed_conversation() -> Value {
    json!({
        "systemInstruction": { "parts": [{ "text": "Be brief." }] },
        "contents": [{ "role": "user", "parts": [{ "text": "Hello, world! How are you?" }] }],
    })
}

/// Asserts a Google error body and returns it.
pub(crate) async fn expect_error(response: reqwest::Response, code: u16, status: &str) -> Value {
    assert_eq!(response.status(), code);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["status"], status, "{body}");
    assert!(error["message"].is_string(), "{body}");
    error.clone()
}
