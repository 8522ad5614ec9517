//! The same conversation through the three dialects: the same reply, the
//! same token counts and the same tool decision, whatever the wire format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use tollgate_testkit::{Dialect, MockConfig, MockHandle, MockServer, MockState};

async fn start(dialect: Dialect) -> MockHandle {
    MockServer::start(MockConfig {
        dialect,
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

/// What a reply comes down to: text or calls (name, arguments object),
/// prompt tokens, completion tokens.
#[derive(Debug, PartialEq)]
struct Outcome {
    text: Option<String>,
    calls: Vec<(String, Value)>,
    prompt: u64,
    completion: u64,
}

/// System "Be brief.", then the user `text`, with `tools` offered.
async fn ask(dialect: Dialect, text: &str, tools: &[&str]) -> Outcome {
    let mock = start(dialect).await;
    let client = reqwest::Client::new();
    match dialect {
        Dialect::OpenAi => {
            let tools: Vec<Value> = tools
                .iter()
                .map(|n| json!({ "type": "function", "function": { "name": n, "parameters": {} } }))
                .collect();
            let mut request = json!({
                "model": "m",
                "messages": [
                    { "role": "system", "content": "Be brief." },
                    { "role": "user", "content": text },
                ],
            });
            if !tools.is_empty() {
                request["tools"] = json!(tools);
            }
            let body: Value = client
                .post(mock.url("/chat/completions"))
                .json(&request)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let message = &body["choices"][0]["message"];
            Outcome {
                text: message["content"].as_str().map(str::to_owned),
                calls: message["tool_calls"]
                    .as_array()
                    .map(|calls| {
                        calls
                            .iter()
                            .map(|c| {
                                let args = c["function"]["arguments"].as_str().unwrap();
                                (
                                    c["function"]["name"].as_str().unwrap().to_owned(),
                                    serde_json::from_str(args).unwrap(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                prompt: body["usage"]["prompt_tokens"].as_u64().unwrap(),
                completion: body["usage"]["completion_tokens"].as_u64().unwrap(),
            }
        }
        Dialect::Anthropic => {
            let tools: Vec<Value> = tools
                .iter()
                .map(|n| json!({ "name": n, "input_schema": { "type": "object" } }))
                .collect();
            let mut request = json!({
                "model": "m",
                "max_tokens": 512,
                "system": "Be brief.",
                "messages": [{ "role": "user", "content": text }],
            });
            if !tools.is_empty() {
                request["tools"] = json!(tools);
            }
            let body: Value = client
                .post(mock.url("/messages"))
                .header("anthropic-version", "2023-06-01")
                .json(&request)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let content = body["content"].as_array().unwrap();
            let usage = &body["usage"];
            Outcome {
                text: content
                    .iter()
                    .find(|b| b["type"] == "text")
                    .and_then(|b| b["text"].as_str())
                    .map(str::to_owned),
                calls: content
                    .iter()
                    .filter(|b| b["type"] == "tool_use")
                    .map(|b| (b["name"].as_str().unwrap().to_owned(), b["input"].clone()))
                    .collect(),
                prompt: usage["input_tokens"].as_u64().unwrap()
                    + usage["cache_creation_input_tokens"].as_u64().unwrap()
                    + usage["cache_read_input_tokens"].as_u64().unwrap(),
                completion: usage["output_tokens"].as_u64().unwrap(),
            }
        }
        Dialect::Gemini => {
            let declarations: Vec<Value> = tools.iter().map(|n| json!({ "name": n })).collect();
            let mut request = json!({
                "systemInstruction": { "parts": [{ "text": "Be brief." }] },
                "contents": [{ "role": "user", "parts": [{ "text": text }] }],
            });
            if !declarations.is_empty() {
                request["tools"] = json!([{ "functionDeclarations": declarations }]);
            }
            let body: Value = client
                .post(mock.url("/models/m:generateContent"))
                .json(&request)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let parts = body["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap();
            Outcome {
                text: parts
                    .iter()
                    .find_map(|p| p["text"].as_str())
                    .map(str::to_owned),
                calls: parts
                    .iter()
                    .filter_map(|p| p.get("functionCall"))
                    .map(|c| (c["name"].as_str().unwrap().to_owned(), c["args"].clone()))
                    .collect(),
                prompt: body["usageMetadata"]["promptTokenCount"].as_u64().unwrap(),
                completion: body["usageMetadata"]["candidatesTokenCount"]
                    .as_u64()
                    .unwrap(),
            }
        }
        _ => unreachable!("three dialects"),
    }
}

#[tokio::test]
async fn every_dialect_gives_the_same_outcome() {
    let cases: [(&str, &[&str]); 4] = [
        ("Hello, world! How are you?", &[]),
        (
            "What is the weather? Ask get_weather.",
            &["search", "get_weather"],
        ),
        ("run both tools in parallel", &["alpha", "beta"]),
        ("no tools wanted here", &["search"]),
    ];
    for (text, tools) in cases {
        let openai = ask(Dialect::OpenAi, text, tools).await;
        let anthropic = ask(Dialect::Anthropic, text, tools).await;
        let gemini = ask(Dialect::Gemini, text, tools).await;
        assert_eq!(openai, anthropic, "{text}");
        assert_eq!(openai, gemini, "{text}");
    }
    // spot-check the shared expectations: 3 + Be|brief|. + 3 + 8 + 3 = 20
    let outcome = ask(Dialect::Gemini, "Hello, world! How are you?", &[]).await;
    assert_eq!(
        outcome,
        Outcome {
            text: Some("echo: Hello, world! How are you?".to_owned()),
            calls: Vec::new(),
            prompt: 20,
            completion: 10,
        }
    );
    let parallel = ask(
        Dialect::Anthropic,
        "run both tools in parallel",
        &["alpha", "beta"],
    )
    .await;
    assert_eq!(parallel.calls.len(), 2);
}

#[tokio::test]
async fn every_dialect_router_mounts_inside_another_app() {
    let mut app = axum::Router::new();
    for dialect in Dialect::ALL {
        let state = MockState::new(MockConfig {
            name: format!("inproc-{dialect}"),
            dialect,
            ..MockConfig::default()
        });
        app = app.nest(&format!("/mock/{dialect}"), MockServer::router(state));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    let response = client
        .post(format!("http://{addr}/mock/anthropic/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({ "model": "m", "max_tokens": 9, "messages": [{ "role": "user", "content": "Hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock-provider"], "inproc-anthropic");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "echo: Hi");

    let response = client
        .post(format!(
            "http://{addr}/mock/gemini/v1beta/models/m:generateContent"
        ))
        .json(&json!({ "contents": [{ "parts": [{ "text": "Hi" }] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock-provider"], "inproc-gemini");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "echo: Hi"
    );

    let response = client
        .post(format!("http://{addr}/mock/openai/v1/chat/completions"))
        .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": "Hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[path = "mock_dialects/structured.rs"]
mod structured;
