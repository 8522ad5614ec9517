//! The Anthropic Messages ingress (`POST /api/v1/messages`) end to end,
//! to each upstream dialect (OpenAI, Anthropic, Gemini mocks): answers,
//! event streams, tools, thinking, errors in Anthropic's shape, the cost
//! against `/generation`, a client going away, and `count_tokens`.
//!
//! Token counts follow the mock's documented rules (a word or a
//! punctuation character is one token; 3 per message, 3 for priming);
//! costs are the demo catalog's prices times those counts, by hand.

use std::str::FromStr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::*;

const MODELS: [&str; 3] = ["mock/echo", "mock/echo-anthropic", "mock/echo-gemini"];

/// (model, prompt $/token, completion $/token) of the demo catalog.
const PRICES: [(&str, &str, &str); 3] = [
    ("mock/echo", "0.000001", "0.000002"),
    ("mock/echo-anthropic", "0.000003", "0.000015"),
    ("mock/echo-gemini", "0.00000125", "0.00001"),
];

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn cost(model: &str, prompt: u64, completion: u64) -> Decimal {
    let (_, p, c) = PRICES.iter().find(|(m, _, _)| *m == model).unwrap();
    dec(p) * Decimal::from(prompt) + dec(c) * Decimal::from(completion)
}

fn number(v: &Value) -> Decimal {
    Decimal::from_str(&v.to_string()).unwrap_or_else(|e| panic!("{v} is a number: {e}"))
}

fn body(model: &str, text: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": text}]
    })
}

/// `POST /api/v1/messages` as the Anthropic SDK sends it: `x-api-key`,
/// `anthropic-version`, through the router.
async fn messages(gw: &TestGateway, body: &Value) -> Reply {
    post(gw, "/api/v1/messages", body).await
}

async fn post(gw: &TestGateway, path: &str, body: &Value) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    gw.oneshot(request).await
}

async fn messages_http(gw: &TestGateway, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/messages", gw.url))
        .header("x-api-key", &gw.key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Parses an Anthropic event stream, asserting its framing: every event
/// has an `event:` line and a `data:` line whose `type` is the event's
/// name. Returns the data objects in order.
fn events(text: &str) -> Vec<Value> {
    assert!(text.ends_with("\n\n"), "ends with a blank line: {text:?}");
    text.split_terminator("\n\n")
        .map(|block| {
            let mut lines = block.lines();
            let name = lines
                .next()
                .and_then(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("an event line first: {block:?}"));
            let data = lines
                .next()
                .and_then(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("a data line second: {block:?}"));
            assert!(lines.next().is_none(), "two lines per event: {block:?}");
            let v: Value = serde_json::from_str(data)
                .unwrap_or_else(|e| panic!("data is JSON ({e}): {data:?}"));
            assert_eq!(v["type"], name, "data.type is the event name: {block}");
            v
        })
        .collect()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| *k != "ping")
        .collect()
}

/// The deltas of one kind (`text_delta`: `text`, ...) joined.
fn joined(events: &[Value], kind: &str, field: &str) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "content_block_delta" && e["delta"]["type"] == kind)
        .map(|e| e["delta"][field].as_str().unwrap().to_string())
        .collect()
}

/// Asserts the block structure: every start has deltas of its index only,
/// then its stop, indices counting up from 0; returns the started blocks.
fn blocks(events: &[Value]) -> Vec<Value> {
    let mut started = Vec::new();
    let mut open: Option<u64> = None;
    for e in events {
        match e["type"].as_str().unwrap() {
            "content_block_start" => {
                assert_eq!(open, None, "a block opens after the last closed: {e}");
                assert_eq!(e["index"], started.len(), "indices count up: {e}");
                open = e["index"].as_u64();
                started.push(e["content_block"].clone());
            }
            "content_block_delta" => assert_eq!(e["index"].as_u64(), open, "{e}"),
            "content_block_stop" => {
                assert_eq!(e["index"].as_u64(), open, "{e}");
                open = None;
            }
            _ => {}
        }
    }
    assert_eq!(open, None, "every block was closed");
    started
}

async fn generation(gw: &TestGateway, id: &str) -> Value {
    for _ in 0..250 {
        let reply = gw
            .oneshot(
                Request::builder()
                    .uri(format!("/api/v1/generation?id={id}"))
                    .header("authorization", format!("Bearer {}", gw.key))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        if reply.status == 200 {
            return reply.json()["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("generation {id} was never recorded")
}

fn assert_anthropic_error(reply: &Reply, status: u16, kind: &str) -> Value {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );
    let v = reply.json();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    v
}

#[tokio::test]
async fn answers_are_anthropic_messages_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let reply = messages(&gw, &body(model, "Hello there")).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(v["type"], "message", "{model}: {v}");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["model"], model);
        assert_eq!(
            v["content"],
            json!([{"type": "text", "text": "echo: Hello there"}]),
            "{model}"
        );
        assert_eq!(v["stop_reason"], "end_turn", "{model}");
        assert_eq!(v["stop_sequence"], Value::Null);
        // 2 words + 3 per message + 3 priming; "echo", ":", "Hello", "there".
        let usage = &v["usage"];
        assert_eq!(usage["input_tokens"], 8, "{model}: {usage}");
        assert_eq!(usage["output_tokens"], 4, "{model}: {usage}");
        assert_eq!(usage["cache_creation_input_tokens"], 0, "{model}");
        assert_eq!(usage["cache_read_input_tokens"], 0, "{model}");
        assert_eq!(number(&usage["cost"]), cost(model, 8, 4), "{model}");

        let id = v["id"].as_str().unwrap();
        assert_eq!(reply.header("x-generation-id"), Some(id));
        let g = generation(&gw, id).await;
        assert_eq!(g["api_type"], "messages", "{g}");
        assert_eq!(g["model"], model);
        assert_eq!(number(&g["total_cost"]), number(&usage["cost"]), "{model}");
        assert_eq!(g["streamed"], false);
    }
}

#[tokio::test]
async fn streams_are_anthropic_events_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let mut b = body(model, "Stream me, please");
        b["stream"] = json!(true);
        let response = messages_http(&gw, &b).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let id = response.headers()["x-generation-id"]
            .to_str()
            .unwrap()
            .to_string();
        let text = response.text().await.unwrap();
        let events = events(&text);
        let kinds = kinds(&events);
        assert_eq!(kinds.first(), Some(&"message_start"), "{model}: {text}");
        assert_eq!(
            &kinds[kinds.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"],
            "{model}: {text}"
        );
        let start = &events[0]["message"];
        assert_eq!(start["id"], id.as_str());
        assert_eq!(start["model"], model);
        assert_eq!(start["content"], json!([]));
        assert_eq!(start["stop_reason"], Value::Null);
        assert_eq!(
            blocks(&events),
            [json!({"type": "text", "text": ""})],
            "{model}"
        );
        assert_eq!(
            joined(&events, "text_delta", "text"),
            "echo: Stream me, please",
            "{model}"
        );
        let delta = events
            .iter()
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "end_turn", "{model}");
        // "Stream me, please": 4 tokens + 6; the reply 6 tokens.
        assert_eq!(delta["usage"]["input_tokens"], 10, "{model}: {delta}");
        assert_eq!(delta["usage"]["output_tokens"], 6, "{model}: {delta}");
        assert_eq!(
            number(&delta["usage"]["cost"]),
            cost(model, 10, 6),
            "{model}"
        );
        let g = generation(&gw, &id).await;
        assert_eq!(g["api_type"], "messages");
        assert_eq!(g["streamed"], true);
        assert_eq!(
            number(&g["total_cost"]),
            number(&delta["usage"]["cost"]),
            "{model}"
        );
    }
}

#[tokio::test]
async fn system_blocks_images_and_turns_reach_each_upstream() {
    let gw = start().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    for model in MODELS {
        // The OpenAI mock's endpoints take no images.
        let image = if model == "mock/echo" {
            json!({"type": "text", "text": "(no image)"})
        } else {
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}})
        };
        let b = json!({
            "model": model,
            "max_tokens": 100,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                {"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}
            ]
        });
        let reply = messages(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let text = reply.json()["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("echo: "), "{model}: {text}");
        assert!(text.contains("What is this?"), "{model}: {text}");
    }
    let sent = gw.anthropic.last_request().unwrap().body;
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]),
        "cache_control reaches an Anthropic upstream: {sent}"
    );
    assert_eq!(sent["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}})
    );
    let sent = gw.alpha.last_request().unwrap().body;
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["content"], "Hi");
    assert_eq!(sent["messages"][2]["role"], "assistant");
    assert_eq!(
        sent["messages"][3]["content"],
        json!([{"type": "text", "text": "(no image)"}, {"type": "text", "text": "What is this?"}])
    );
    let sent = gw.gemini.last_request().unwrap().body;
    assert!(sent["systemInstruction"].is_object(), "{sent}");
    assert_eq!(
        sent["contents"][2]["parts"][0]["inlineData"],
        json!({"mimeType": "image/png", "data": png}),
        "{sent}"
    );
}

fn weather_tool() -> Value {
    json!([{
        "name": "get_weather",
        "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}
    }])
}

#[tokio::test]
async fn a_tool_round_trip_works_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let mut b = body(model, "use the tool for Boston");
        b["tools"] = weather_tool();
        b["tool_choice"] = json!({"type": "auto"});
        let reply = messages(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(v["stop_reason"], "tool_use", "{model}: {v}");
        let call = v["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{model}: a tool_use block: {v}"))
            .clone();
        assert_eq!(call["name"], "get_weather");
        assert_eq!(call["input"], json!({"query": "use the tool for Boston"}));
        let id = call["id"].as_str().unwrap();
        assert!(!id.is_empty());

        let follow = json!({
            "model": model,
            "max_tokens": 100,
            "tools": weather_tool(),
            "messages": [
                {"role": "user", "content": "use the tool for Boston"},
                {"role": "assistant", "content": [call]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "22 degrees"}]}
                ]}
            ]
        });
        let reply = messages(&gw, &follow).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(
            v["content"][0]["text"], "echo: tool result: 22 degrees",
            "{model}: {v}"
        );
        assert_eq!(v["stop_reason"], "end_turn");
    }
    // An error result keeps its flag on the way to Anthropic.
    let follow = json!({
        "model": "mock/echo-anthropic",
        "max_tokens": 100,
        "tools": weather_tool(),
        "messages": [
            {"role": "user", "content": "use the tool"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"query": "x"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "no such city", "is_error": true}]}
        ]
    });
    assert_eq!(messages(&gw, &follow).await.status, 200);
    let sent = gw.anthropic.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "no such city", "is_error": true})
    );
}

#[tokio::test]
async fn streamed_tool_calls_are_input_json_deltas_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let mut b = body(model, "use the tool for Paris");
        b["tools"] = weather_tool();
        b["stream"] = json!(true);
        let text = messages_http(&gw, &b).await.text().await.unwrap();
        let events = events(&text);
        let blocks = blocks(&events);
        let tool = blocks
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{model}: a tool_use block: {text}"));
        assert_eq!(tool["name"], "get_weather", "{model}");
        assert_eq!(tool["input"], json!({}));
        assert!(!tool["id"].as_str().unwrap().is_empty());
        let input: Value =
            serde_json::from_str(&joined(&events, "input_json_delta", "partial_json"))
                .unwrap_or_else(|e| panic!("{model}: the input is JSON ({e}): {text}"));
        assert_eq!(input, json!({"query": "use the tool for Paris"}), "{model}");
        let delta = events
            .iter()
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "tool_use", "{model}: {text}");
    }
}

#[tokio::test]
async fn thinking_and_its_signature_round_trip_through_anthropic() {
    let gw = start().await;
    let mut b = body("mock/echo-anthropic", "Hi there");
    b["max_tokens"] = json!(4000);
    b["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let reply = messages(&gw, &b).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    let thinking = &v["content"][0];
    assert_eq!(thinking["type"], "thinking", "{v}");
    assert_eq!(thinking["thinking"], "thinking about: Hi there");
    let signature = thinking["signature"].as_str().unwrap().to_string();
    assert!(!signature.is_empty(), "{v}");
    assert_eq!(v["content"][1]["type"], "text");
    let sent = gw.anthropic.last_request().unwrap().body;
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(sent["max_tokens"], 4000);

    // Streamed: thinking deltas, then the signature, then the text.
    b["stream"] = json!(true);
    let text = messages_http(&gw, &b).await.text().await.unwrap();
    let events = events(&text);
    let blocks = blocks(&events);
    assert_eq!(blocks[0]["type"], "thinking", "{text}");
    assert_eq!(blocks[1]["type"], "text", "{text}");
    assert_eq!(
        joined(&events, "thinking_delta", "thinking"),
        "thinking about: Hi there"
    );
    assert_eq!(joined(&events, "signature_delta", "signature"), signature);

    // The signed thinking goes back to Anthropic as it came.
    let follow = json!({
        "model": "mock/echo-anthropic",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": v["content"]},
            {"role": "user", "content": "And now?"}
        ]
    });
    let reply = messages(&gw, &follow).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let sent = gw.anthropic.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "thinking about: Hi there", "signature": signature})
    );
}

#[tokio::test]
async fn thinking_comes_back_from_gemini_as_a_thinking_block() {
    let gw = start().await;
    let mut b = body("mock/echo-gemini", "Hi there");
    b["max_tokens"] = json!(4000);
    b["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let reply = messages(&gw, &b).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["content"][0]["type"], "thinking", "{v}");
    assert_eq!(v["content"][0]["thinking"], "thinking about: Hi there");
    assert_eq!(v["content"][1]["text"], "echo: Hi there");
}

#[tokio::test]
async fn stop_sequences_and_max_tokens_end_the_answer() {
    let gw = start().await;
    for model in MODELS {
        let mut b = body(model, "one two three four five six");
        b["max_tokens"] = json!(3);
        let v = messages(&gw, &b).await.json();
        assert_eq!(v["stop_reason"], "max_tokens", "{model}: {v}");
        assert_eq!(v["usage"]["output_tokens"], 3, "{model}: {v}");

        let mut b = body(model, "one two three four five six");
        b["stop_sequences"] = json!(["four"]);
        let v = messages(&gw, &b).await.json();
        assert_eq!(
            v["content"][0]["text"], "echo: one two three ",
            "{model}: {v}"
        );
        let expected = if model == "mock/echo-anthropic" {
            // Only Anthropic says a stop sequence ended it.
            "stop_sequence"
        } else {
            "end_turn"
        };
        assert_eq!(v["stop_reason"], expected, "{model}: {v}");
        if model == "mock/echo-anthropic" {
            assert_eq!(v["stop_sequence"], "four", "{v}");
            b["stream"] = json!(true);
            let text = messages_http(&gw, &b).await.text().await.unwrap();
            let events = events(&text);
            let delta = events
                .iter()
                .find(|e| e["type"] == "message_delta")
                .unwrap();
            assert_eq!(
                delta["delta"],
                json!({"stop_reason": "stop_sequence", "stop_sequence": "four"}),
                "{text}"
            );
            // The chat wire does not carry it.
            let mut chat = chat_body(model, "one two three four five six");
            chat["stop"] = json!(["four"]);
            let reply = gw.chat(&chat).await.json();
            assert!(
                reply["choices"][0].get("stop_sequence").is_none(),
                "{reply}"
            );
        } else {
            assert_eq!(v["stop_sequence"], Value::Null, "{model}: {v}");
        }
    }
}

#[tokio::test]
async fn errors_are_in_anthropics_shape() {
    let gw = start().await;
    let mut b = body("mock/echo", "hi");
    b.as_object_mut().unwrap().remove("max_tokens");
    let v = assert_anthropic_error(&messages(&gw, &b).await, 400, "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{v}"
    );

    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/messages")
        .header("content-type", "application/json")
        .body(Body::from(body("mock/echo", "hi").to_string()))
        .unwrap();
    assert_anthropic_error(&gw.oneshot(request).await, 401, "authentication_error");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/messages")
        .header("x-api-key", "sk-or-v1-not-a-key")
        .body(Body::from(body("mock/echo", "hi").to_string()))
        .unwrap();
    assert_anthropic_error(&gw.oneshot(request).await, 401, "authentication_error");

    // The usual bearer key works too.
    let reply = gw
        .post_raw("/api/v1/messages", body("mock/echo", "hi").to_string())
        .await;
    assert_eq!(reply.status, 200);

    assert_anthropic_error(
        &messages(
            &gw,
            &json!({"model": "mock/echo", "max_tokens": 5, "messages": "x"}),
        )
        .await,
        400,
        "invalid_request_error",
    );
    assert_anthropic_error(
        &messages(&gw, &body("nobody/nothing", "hi")).await,
        400,
        "invalid_request_error",
    );
    for model in ["mock/echo-anthropic", "mock/echo-gemini"] {
        let reply = messages(&gw, &body(model, "[mock:status=400] bad")).await;
        let v = assert_anthropic_error(&reply, 400, "invalid_request_error");
        assert!(
            v["error"]["metadata"]["provider_name"].is_string(),
            "{model}: {v}"
        );
        let reply = messages(&gw, &body(model, "[mock:status=503] down")).await;
        assert_anthropic_error(&reply, 502, "api_error");
        assert_eq!(reply.header("x-should-retry"), Some("false"));
    }
    let reply = messages(
        &gw,
        &body("mock/echo-anthropic", "[mock:status=429] slow down"),
    )
    .await;
    assert_anthropic_error(&reply, 429, "rate_limit_error");
}

#[tokio::test]
async fn an_empty_balance_is_a_billing_error() {
    let gw = start_with(Options {
        credits: None,
        ..Options::default()
    })
    .await;
    let reply = messages(&gw, &body("mock/echo", "hi")).await;
    assert_anthropic_error(&reply, 402, "billing_error");
    assert_eq!(gw.alpha.request_count(), 0, "nothing was sent upstream");
}

#[tokio::test]
async fn a_failure_mid_stream_is_an_error_event_on_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        for directive in ["[mock:stream_error=2]", "[mock:drop_after=2]"] {
            let mut b = body(model, &format!("{directive} one two three four five"));
            b["stream"] = json!(true);
            let response = messages_http(&gw, &b).await;
            assert_eq!(response.status(), 200, "{model} {directive}");
            let text = response.text().await.unwrap();
            let events = events(&text);
            let kinds = kinds(&events);
            assert_eq!(kinds[0], "message_start", "{model} {directive}: {text}");
            assert!(kinds.contains(&"content_block_delta"), "{model}: {text}");
            assert_eq!(kinds.last(), Some(&"error"), "{model} {directive}: {text}");
            assert!(!kinds.contains(&"message_stop"), "{model}: {text}");
            let error = &events.last().unwrap()["error"];
            assert!(
                error["type"] == "api_error" || error["type"] == "overloaded_error",
                "{model} {directive}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_pays_for_what_it_got() {
    let gw = start().await;
    let mut b = body(
        "mock/echo",
        &format!("[mock:slow] {}", "lorem ipsum dolor sit amet ".repeat(8)),
    );
    b["stream"] = json!(true);
    let response = messages_http(&gw, &b).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    while let Some(bytes) = stream.next().await {
        seen.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        if seen.matches("\"text_delta\"").count() >= 2 {
            break;
        }
    }
    assert!(seen.matches("\"text_delta\"").count() >= 2, "{seen}");
    drop(stream);

    assert!(
        eventually(Duration::from_secs(5), || gw.alpha.cancelled_streams() == 1).await,
        "the upstream stream was cancelled"
    );
    let g = generation(&gw, &id).await;
    assert_eq!(g["cancelled"], true, "{g}");
    assert_eq!(g["api_type"], "messages");
    let charged = number(&g["total_cost"]);
    // The prompt (46 tokens) and some output, not the whole answer
    // (41 tokens: "echo", ":" and 40 words).
    assert!(charged > cost("mock/echo", 46, 0), "{g}");
    assert!(charged < cost("mock/echo", 46, 41), "{g}");
    let mut balance = gw.gateway.balance(&gw.account_id).await.unwrap();
    for _ in 0..250 {
        if balance.held.is_zero() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        balance = gw.gateway.balance(&gw.account_id).await.unwrap();
    }
    assert_eq!(
        balance.held,
        Decimal::ZERO,
        "the rest of the hold was released"
    );
    assert_eq!(
        balance.total_usage, charged,
        "the charge is what was produced"
    );
}

#[tokio::test]
async fn count_tokens_counts_what_the_gateway_would_send() {
    let gw = start().await;
    let request = json!({
        "model": "mock/echo",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello there, how are you today?"}],
        "tools": weather_tool()
    });
    let reply = post(&gw, "/api/v1/messages/count_tokens", &request).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let counted = reply.json()["input_tokens"].as_u64().unwrap();
    // The same prompt as a chat request, counted by the transforms crate.
    let chat: tollgate_schema::chat::ChatRequest = serde_json::from_value(json!({
        "model": "mock/echo",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there, how are you today?"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}
        }}]
    }))
    .unwrap();
    let tokenizer = tollgate_transforms::Tokenizer::for_family(Some("o200k"));
    assert_eq!(
        counted,
        tollgate_transforms::count_request(&chat, &tokenizer).total
    );
    let mut shorter = request.clone();
    shorter.as_object_mut().unwrap().remove("tools");
    let fewer = post(&gw, "/api/v1/messages/count_tokens", &shorter)
        .await
        .json()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(fewer < counted, "tools count: {fewer} < {counted}");
    assert_eq!(gw.alpha.request_count(), 0, "counting calls no provider");

    let reply = post(
        &gw,
        "/api/v1/messages/count_tokens",
        &json!({"model": "nobody/nothing", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_anthropic_error(&reply, 404, "not_found_error");
}

#[tokio::test]
async fn pings_come_before_a_slow_first_chunk_and_a_late_failure_is_an_error_event() {
    let parse = events;
    let mut options = Options {
        keepalive_secs: 0.1,
        ..Options::default()
    };
    // Far above the keep-alive interval, so the response is committed
    // before the first chunk even on a slow machine.
    options.mocks[0].latency = Duration::from_millis(800);
    let gw = start_with(options).await;
    let mut b = body("mock/echo", "Hello, world!");
    b["stream"] = json!(true);
    let text = messages_http(&gw, &b).await.text().await.unwrap();
    let events = parse(&text);
    assert_eq!(events[0]["type"], "ping", "{text}");
    let first = events.iter().position(|e| e["type"] != "ping").unwrap();
    assert_eq!(events[first]["type"], "message_start", "{text}");
    assert!(
        events[first..].iter().all(|e| e["type"] != "ping"),
        "pings only while waiting: {text}"
    );
    assert_eq!(joined(&events, "text_delta", "text"), "echo: Hello, world!");

    // Every provider fails, after the stream was committed to 200.
    let mut options = Options {
        keepalive_secs: 0.1,
        ..Options::default()
    };
    options.mocks[0].latency = Duration::from_millis(600);
    for mock in &mut options.mocks {
        mock.failure = Some(Failure::Status(503));
    }
    let gw = start_with(options).await;
    let response = messages_http(&gw, &b).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = parse(&text);
    assert_eq!(events[0]["type"], "ping", "{text}");
    let last = events.last().unwrap();
    assert_eq!(kinds(&events), ["error"], "{text}");
    assert_eq!(last["error"]["type"], "api_error", "{last}");
    assert_eq!(
        last["error"]["metadata"]["provider_name"], "Mock Gamma",
        "{last}"
    );
}

#[tokio::test]
async fn prompt_caching_through_anthropic_is_in_anthropics_usage_and_billed_so() {
    let gw = start().await;
    let b = json!({
        "model": "mock/echo-anthropic",
        "max_tokens": 100,
        "system": [{
            "type": "text",
            "text": "You are a careful assistant. ".repeat(40),
            "cache_control": {"type": "ephemeral"}
        }],
        "messages": [{"role": "user", "content": "Hello there"}]
    });
    let first = messages(&gw, &b).await.json();
    let second = messages(&gw, &b).await.json();
    let (u1, u2) = (&first["usage"], &second["usage"]);
    let written = u1["cache_creation_input_tokens"].as_u64().unwrap();
    assert!(written > 200, "the system prompt was written: {u1}");
    assert_eq!(u1["cache_read_input_tokens"], 0, "{u1}");
    assert_eq!(u2["cache_read_input_tokens"], written, "then read: {u2}");
    assert_eq!(u2["cache_creation_input_tokens"], 0, "{u2}");
    // `input_tokens` is the uncached rest, the same both times.
    assert_eq!(u1["input_tokens"], u2["input_tokens"]);
    assert!(u1["input_tokens"].as_u64().unwrap() < written);
    // The catalog's prices: input $3/M, cache reads $0.30/M, cache
    // writes $3.75/M, output $15/M.
    for (v, u) in [(&first, u1), (&second, u2)] {
        let n = |k: &str| Decimal::from(u[k].as_u64().unwrap());
        let expected = n("input_tokens") * dec("0.000003")
            + n("cache_read_input_tokens") * dec("0.0000003")
            + n("cache_creation_input_tokens") * dec("0.00000375")
            + n("output_tokens") * dec("0.000015");
        assert_eq!(number(&u["cost"]), expected, "{u}");
        let g = generation(&gw, v["id"].as_str().unwrap()).await;
        assert_eq!(number(&g["total_cost"]), expected, "{g}");
    }
    let sent = gw.anthropic.last_request().unwrap().body;
    assert_eq!(
        sent["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
}

#[tokio::test]
async fn tools_described_in_the_prompt_come_back_as_tool_use_blocks() {
    let gw = start().await;
    // mock/no-tools has no native tool calling: the tools are described in
    // the prompt and the reply parsed back. The echo mock repeats the
    // user's text, so a text that is a call in the documented format comes
    // back as the model's reply.
    let call = r#"{"tool_calls": [{"name": "get_weather", "arguments": {"query": "Paris"}}]}"#;
    let mut b = body("mock/no-tools", call);
    b["tools"] = weather_tool();
    let reply = messages(&gw, &b).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["stop_reason"], "tool_use", "{v}");
    let tool = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap_or_else(|| panic!("a tool_use block: {v}"));
    assert_eq!(tool["name"], "get_weather");
    assert_eq!(tool["input"], json!({"query": "Paris"}));
    assert!(gw.beta.last_request().unwrap().body.get("tools").is_none());

    b["stream"] = json!(true);
    let text = messages_http(&gw, &b).await.text().await.unwrap();
    let events = events(&text);
    let blocks = blocks(&events);
    let tool = blocks
        .iter()
        .find(|b| b["type"] == "tool_use")
        .unwrap_or_else(|| panic!("a tool_use block: {text}"));
    assert_eq!(tool["name"], "get_weather");
    let input: Value =
        serde_json::from_str(&joined(&events, "input_json_delta", "partial_json")).unwrap();
    assert_eq!(input, json!({"query": "Paris"}));
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use", "{text}");
}
