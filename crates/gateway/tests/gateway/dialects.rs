//! The same request through the three wire dialects (OpenAI, Anthropic
//! Messages, Gemini generateContent) gives the client equivalent
//! OpenAI-shaped results: text, streams, tools and usage.

use serde_json::{Value, json};

use crate::support::*;

const MODELS: [&str; 3] = ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"];

#[tokio::test]
async fn text_is_the_same_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let reply = gw.chat(&chat_body(model, "Hello there")).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], model);
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            v["choices"][0]["message"]["content"], "echo: Hello there",
            "{model}"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{model}");
        // "Hello there": 2 tokens + 3 per message + 3 priming = 8 prompt
        // tokens; "echo: Hello there" = echo, :, Hello, there = 4.
        let usage = &v["usage"];
        assert_eq!(usage["prompt_tokens"], 8, "{model}: {usage}");
        assert_eq!(usage["completion_tokens"], 4, "{model}: {usage}");
        assert_eq!(usage["total_tokens"], 12, "{model}: {usage}");
        assert_eq!(
            usage["prompt_tokens_details"]["cached_tokens"], 0,
            "{model}"
        );
        assert_eq!(
            usage["completion_tokens_details"]["reasoning_tokens"], 0,
            "{model}"
        );
    }
    assert_eq!(gw.anthropic.request_count(), 1);
    assert_eq!(gw.gemini.request_count(), 1);
    let sent = gw.anthropic.last_request().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["model"], "claude-mock-echo");
    let sent = gw.gemini.last_request().unwrap();
    assert_eq!(sent.path, "/v1beta/models/gemini-mock-echo:generateContent");
}

#[tokio::test]
async fn streams_are_the_same_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let mut body = chat_body(model, "Stream me, please");
        body["stream"] = json!(true);
        let response = gw.chat_http(&body).await;
        assert_eq!(response.status(), 200, "{model}");
        let text = response.text().await.unwrap();
        let events = parse_sse(&text);
        assert_eq!(events.last(), Some(&Event::Done), "{model}: {text}");
        let chunks = chunks(&events);
        assert_eq!(text_of(&chunks), "echo: Stream me, please", "{model}");
        let with_usage: Vec<&Value> = chunks.iter().filter(|c| c.get("usage").is_some()).collect();
        assert_eq!(with_usage.len(), 1, "{model}: one usage chunk");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]), "{model}: usage chunk last");
        // 3 words + "," = 4, + 3 + 3 = 10 prompt; echo : Stream me , please = 6.
        assert_eq!(last["usage"]["prompt_tokens"], 10, "{model}: {last}");
        assert_eq!(last["usage"]["completion_tokens"], 6, "{model}: {last}");
        let finish: Vec<&Value> = chunks
            .iter()
            .flat_map(|c| c["choices"].as_array().into_iter().flatten())
            .filter(|c| !c["finish_reason"].is_null())
            .collect();
        assert_eq!(finish.len(), 1, "{model}");
        assert_eq!(finish[0]["finish_reason"], "stop", "{model}");
    }
}

fn weather_tools() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}
        }
    }])
}

#[tokio::test]
async fn a_tool_round_trip_works_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let mut body = chat_body(model, "use the tool for Boston");
        body["tools"] = weather_tools();
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {v}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function", "{model}");
        assert_eq!(call["function"]["name"], "get_weather", "{model}");
        let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{model}: arguments are JSON: {e}"));
        assert_eq!(args, json!({"query": "use the tool for Boston"}), "{model}");
        let id = call["id"].as_str().unwrap().to_string();
        assert!(!id.is_empty(), "{model}: a call id");

        // Send the result back; the answer quotes it.
        let follow = json!({
            "model": model,
            "tools": weather_tools(),
            "messages": [
                {"role": "user", "content": "use the tool for Boston"},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": id, "content": "22 degrees"}
            ]
        });
        let reply = gw.chat(&follow).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(
            v["choices"][0]["message"]["content"], "echo: tool result: 22 degrees",
            "{model}: {v}"
        );
    }
}

#[tokio::test]
async fn streamed_tool_calls_reassemble_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let mut body = chat_body(model, "use the tool for Paris");
        body["tools"] = weather_tools();
        body["stream"] = json!(true);
        let text = gw.chat_http(&body).await.text().await.unwrap();
        let chunks = chunks(&parse_sse(&text));
        let mut name = String::new();
        let mut args = String::new();
        for c in &chunks {
            for choice in c["choices"].as_array().into_iter().flatten() {
                for call in choice["delta"]["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    assert_eq!(call["index"], 0, "{model}: one call, index 0");
                    name.push_str(call["function"]["name"].as_str().unwrap_or(""));
                    args.push_str(call["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
        }
        assert_eq!(name, "get_weather", "{model}: {text}");
        let args: Value = serde_json::from_str(&args)
            .unwrap_or_else(|e| panic!("{model}: streamed arguments are JSON ({e}): {args}"));
        assert_eq!(args, json!({"query": "use the tool for Paris"}), "{model}");
    }
}

#[tokio::test]
async fn a_provider_error_is_in_the_seed_shape_for_every_dialect() {
    let gw = start().await;
    for (model, name) in [
        ("mock/echo-anthropic", "Mock Anthropic"),
        ("mock/echo-gemini", "Mock Gemini"),
    ] {
        let reply = gw.chat(&chat_body(model, "[mock:status=400] bad")).await;
        let error = assert_error(&reply, 400);
        assert_eq!(error["metadata"]["provider_name"], name, "{model}: {error}");
        let reply = gw.chat(&chat_body(model, "[mock:status=503] down")).await;
        let error = assert_error(&reply, 502);
        assert_eq!(error["metadata"]["provider_name"], name, "{model}: {error}");
    }
}

#[tokio::test]
async fn names_are_prefixed_into_content_where_the_dialect_has_no_name() {
    let gw = start().await;
    let body = json!({
        "model": "mock/echo-anthropic",
        "messages": [
            {"role": "user", "name": "alice", "content": "Hi, I am Alice"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "name": "bob", "content": "And I am Bob"}
        ]
    });
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let sent = gw.anthropic.last_request().unwrap();
    let messages = sent.body["messages"].as_array().unwrap();
    let text = |m: &Value| -> String {
        match &m["content"] {
            Value::String(s) => s.clone(),
            other => other
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect(),
        }
    };
    assert!(text(&messages[0]).starts_with("alice: "), "{}", sent.body);
    assert!(text(&messages[2]).starts_with("bob: "), "{}", sent.body);
    // The OpenAI dialect keeps the `name` field instead.
    let mut openai = body.clone();
    openai["model"] = json!("mock/echo");
    assert_eq!(gw.chat(&openai).await.status, 200);
    let sent = gw.alpha.last_request().unwrap();
    assert_eq!(sent.body["messages"][0]["name"], "alice");
    assert_eq!(sent.body["messages"][0]["content"], "Hi, I am Alice");
}
