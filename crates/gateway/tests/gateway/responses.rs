//! The OpenAI Responses ingress (`POST /api/v1/responses`) end to end, to
//! each upstream dialect (OpenAI, Anthropic, Gemini mocks): `response`
//! objects, event streams, tools, structured output, reasoning, length,
//! the cost against `/generation`, statelessness, a client going away.
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

async fn responses(gw: &TestGateway, body: &Value) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/responses")
        .header("authorization", format!("Bearer {}", gw.key))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    gw.oneshot(request).await
}

async fn responses_http(gw: &TestGateway, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/v1/responses", gw.url))
        .bearer_auth(&gw.key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Parses a Responses event stream, asserting its framing: every event
/// has an `event:` line and a `data:` line whose `type` is the event's
/// name, and `sequence_number`s count up from 0 (comments, the
/// keep-alive, are skipped). Returns the data objects in order.
fn events(text: &str) -> Vec<Value> {
    assert!(text.ends_with("\n\n"), "ends with a blank line: {text:?}");
    let events: Vec<Value> = text
        .split_terminator("\n\n")
        .filter(|block| !block.starts_with(':'))
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
        .collect();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i, "sequence numbers count up: {e}");
    }
    events
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// The `delta`s of one event type joined.
fn joined(events: &[Value], kind: &str) -> String {
    events
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["delta"].as_str().unwrap().to_string())
        .collect()
}

/// The output items of a response of one type.
fn items<'a>(v: &'a Value, kind: &str) -> Vec<&'a Value> {
    v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == kind)
        .collect()
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

fn weather_tool() -> Value {
    json!([{
        "type": "function",
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        "strict": false
    }])
}

#[tokio::test]
async fn answers_are_response_objects_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let b = json!({"model": model, "input": "Hello there", "metadata": {"k": "v"}, "temperature": 0.5});
        let reply = responses(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(v["object"], "response", "{model}: {v}");
        assert_eq!(v["status"], "completed", "{model}: {v}");
        assert_eq!(v["model"], model);
        assert_eq!(v["error"], Value::Null);
        assert_eq!(v["incomplete_details"], Value::Null);
        assert!(v["created_at"].as_i64().unwrap() > 1_700_000_000, "{v}");
        // The echoed request fields the SDKs' models have.
        assert_eq!(v["metadata"], json!({"k": "v"}));
        assert_eq!(v["temperature"], 0.5);
        assert_eq!(v["tools"], json!([]));
        assert_eq!(v["tool_choice"], "auto");
        assert_eq!(v["parallel_tool_calls"], true);
        let messages = items(&v, "message");
        assert_eq!(messages.len(), 1, "{model}: {v}");
        assert_eq!(messages[0]["role"], "assistant");
        assert_eq!(messages[0]["status"], "completed");
        assert_eq!(
            messages[0]["content"],
            json!([{"type": "output_text", "text": "echo: Hello there", "annotations": [], "logprobs": []}]),
            "{model}"
        );
        // 2 words + 3 per message + 3 priming; "echo", ":", "Hello", "there".
        let usage = &v["usage"];
        assert_eq!(usage["input_tokens"], 8, "{model}: {usage}");
        assert_eq!(usage["output_tokens"], 4, "{model}: {usage}");
        assert_eq!(usage["total_tokens"], 12, "{model}: {usage}");
        assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
        assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
        assert_eq!(number(&usage["cost"]), cost(model, 8, 4), "{model}");

        let id = v["id"].as_str().unwrap();
        assert_eq!(reply.header("x-generation-id"), Some(id));
        let g = generation(&gw, id).await;
        assert_eq!(g["api_type"], "responses", "{g}");
        assert_eq!(g["model"], model);
        assert_eq!(number(&g["total_cost"]), number(&usage["cost"]), "{model}");
        assert_eq!(g["streamed"], false);
    }
}

#[tokio::test]
async fn instructions_items_and_images_reach_each_upstream() {
    let gw = start().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let url = format!("data:image/png;base64,{png}");
    for model in MODELS {
        // The OpenAI mock's endpoints take no images.
        let image = if model == "mock/echo" {
            json!({"type": "input_text", "text": "(no image)"})
        } else {
            json!({"type": "input_image", "image_url": url, "detail": "auto"})
        };
        let b = json!({
            "model": model,
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": "Hi"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!", "annotations": []}]},
                {"type": "message", "role": "user", "content": [image, {"type": "input_text", "text": "What is this?"}]}
            ]
        });
        let reply = responses(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        let text = items(&v, "message")[0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("echo: "), "{model}: {text}");
        assert!(text.contains("What is this?"), "{model}: {text}");
        assert_eq!(v["instructions"], "Be brief.");
    }
    let sent = gw.alpha.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["messages"][1]["content"], "Hi");
    assert_eq!(
        sent["messages"][2],
        json!({"role": "assistant", "content": "Hello!"})
    );
    assert_eq!(
        sent["messages"][3]["content"],
        json!([{"type": "text", "text": "(no image)"}, {"type": "text", "text": "What is this?"}])
    );
    let sent = gw.anthropic.last_request().unwrap().body;
    assert_eq!(sent["system"], "Be brief.", "{sent}");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}),
        "{sent}"
    );
    let sent = gw.gemini.last_request().unwrap().body;
    assert!(sent["systemInstruction"].is_object(), "{sent}");
    assert_eq!(
        sent["contents"][2]["parts"][0]["inlineData"],
        json!({"mimeType": "image/png", "data": png}),
        "{sent}"
    );
}

#[tokio::test]
async fn a_tool_round_trip_works_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let b = json!({
            "model": model,
            "input": "use the tool for Boston",
            "tools": weather_tool(),
            "tool_choice": "auto",
            "parallel_tool_calls": false
        });
        let reply = responses(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(v["status"], "completed", "{model}: {v}");
        assert_eq!(v["tools"], weather_tool(), "the tools are echoed");
        assert_eq!(v["parallel_tool_calls"], false);
        let calls = items(&v, "function_call");
        assert_eq!(calls.len(), 1, "{model}: {v}");
        let call = calls[0].clone();
        assert_eq!(call["name"], "get_weather");
        assert_eq!(call["status"], "completed");
        let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"query": "use the tool for Boston"}));
        let call_id = call["call_id"].as_str().unwrap();
        assert!(!call_id.is_empty());
        assert_ne!(call["id"], call["call_id"]);

        // The SDKs send the output items back as they came, then the result.
        let mut input = vec![json!({"role": "user", "content": "use the tool for Boston"})];
        input.extend(v["output"].as_array().unwrap().iter().cloned());
        input.push(
            json!({"type": "function_call_output", "call_id": call_id, "output": "22 degrees"}),
        );
        let follow = json!({"model": model, "input": input, "tools": weather_tool()});
        let reply = responses(&gw, &follow).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(
            items(&v, "message")[0]["content"][0]["text"],
            "echo: tool result: 22 degrees",
            "{model}: {v}"
        );
    }
    let sent = gw.alpha.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][1]["tool_calls"][0]["function"]["name"], "get_weather",
        "{sent}"
    );
    assert_eq!(sent["messages"][2]["role"], "tool", "{sent}");
    assert_eq!(
        sent["messages"][2]["tool_call_id"], sent["messages"][1]["tool_calls"][0]["id"],
        "{sent}"
    );
}

#[tokio::test]
async fn streams_are_response_events_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let b = json!({"model": model, "input": "Stream me, please", "stream": true,
            "metadata": {"k": "v"}, "instructions": "Be brief.", "top_p": 0.5});
        let response = responses_http(&gw, &b).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let id = response.headers()["x-generation-id"]
            .to_str()
            .unwrap()
            .to_string();
        let text = response.text().await.unwrap();
        let events = events(&text);
        let kinds = kinds(&events);
        assert_eq!(
            kinds[..4],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"
            ],
            "{model}: {text}"
        );
        assert_eq!(
            kinds[kinds.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ],
            "{model}: {text}"
        );
        assert!(
            kinds[4..kinds.len() - 4]
                .iter()
                .all(|k| *k == "response.output_text.delta"),
            "{model}: {text}"
        );
        let created = &events[0]["response"];
        assert_eq!(created["id"], id.as_str());
        assert_eq!(created["status"], "in_progress");
        assert_eq!(created["output"], json!([]));
        // The request's fields are echoed in every `response` object.
        for e in [&events[0], &events[1], events.last().unwrap()] {
            let r = &e["response"];
            assert_eq!(r["metadata"], json!({"k": "v"}), "{model}: {e}");
            assert_eq!(r["instructions"], "Be brief.", "{model}: {e}");
            assert_eq!(r["top_p"], 0.5, "{model}: {e}");
        }
        assert_eq!(
            joined(&events, "response.output_text.delta"),
            "echo: Stream me, please",
            "{model}"
        );
        let done = &events[events.len() - 4];
        assert_eq!(done["text"], "echo: Stream me, please");
        let completed = &events.last().unwrap()["response"];
        assert_eq!(completed["status"], "completed");
        assert_eq!(
            completed["output"][0]["content"][0]["text"],
            "echo: Stream me, please"
        );
        // "Stream me, please": 4 tokens + 3; "Be brief.": 3 + 3; priming 3;
        // the reply 6 tokens.
        let usage = &completed["usage"];
        assert_eq!(usage["input_tokens"], 16, "{model}: {usage}");
        assert_eq!(usage["output_tokens"], 6, "{model}: {usage}");
        assert_eq!(number(&usage["cost"]), cost(model, 16, 6), "{model}");
        let g = generation(&gw, &id).await;
        assert_eq!(g["api_type"], "responses");
        assert_eq!(g["streamed"], true);
        assert_eq!(number(&g["total_cost"]), number(&usage["cost"]), "{model}");
    }
}

#[tokio::test]
async fn streamed_tool_calls_are_argument_deltas_through_every_dialect() {
    let gw = start().await;
    for model in MODELS {
        let b = json!({"model": model, "input": "use the tool for Paris", "tools": weather_tool(), "stream": true});
        let text = responses_http(&gw, &b).await.text().await.unwrap();
        let events = events(&text);
        let added: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "response.output_item.added")
            .map(|e| &e["item"])
            .filter(|i| i["type"] == "function_call")
            .collect();
        assert_eq!(added.len(), 1, "{model}: {text}");
        assert_eq!(added[0]["name"], "get_weather");
        assert_eq!(added[0]["status"], "in_progress");
        let args = joined(&events, "response.function_call_arguments.delta");
        let parsed: Value = serde_json::from_str(&args)
            .unwrap_or_else(|e| panic!("{model}: the arguments are JSON ({e}): {text}"));
        assert_eq!(
            parsed,
            json!({"query": "use the tool for Paris"}),
            "{model}"
        );
        let done = events
            .iter()
            .find(|e| e["type"] == "response.function_call_arguments.done")
            .unwrap();
        assert_eq!(done["arguments"], args.as_str());
        assert_eq!(done["item_id"], added[0]["id"]);
        let completed = &events.last().unwrap()["response"];
        assert_eq!(events.last().unwrap()["type"], "response.completed");
        let call = completed["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .unwrap();
        assert_eq!(call["arguments"], args.as_str(), "{model}");
        assert_eq!(call["status"], "completed");
        assert_eq!(call["call_id"], added[0]["call_id"]);
        assert_eq!(completed["tools"], weather_tool(), "{model}: echoed");
    }
}

#[tokio::test]
async fn text_format_json_schema_reaches_each_upstream_as_structured_output() {
    let gw = start().await;
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    for model in MODELS {
        let b = json!({
            "model": model,
            "input": "Name a city",
            "text": {"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": true}}
        });
        let reply = responses(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        assert_eq!(reply.json()["text"]["format"]["name"], "city", "echoed");
    }
    let sent = gw.alpha.last_request().unwrap().body;
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": true}}),
        "{sent}"
    );
    let sent = gw.gemini.last_request().unwrap().body;
    assert_eq!(
        sent["generationConfig"]["responseMimeType"], "application/json",
        "{sent}"
    );
    // Anthropic's answer is held to the schema by a forced tool or, where
    // the endpoint cannot, by the system prompt naming it.
    let sent = gw.anthropic.last_request().unwrap().body;
    assert!(
        sent["tool_choice"]["name"] == "city"
            || sent["system"]
                .as_str()
                .is_some_and(|s| s.contains("`city`")),
        "{sent}"
    );
}

#[tokio::test]
async fn reasoning_comes_back_as_a_reasoning_item_and_round_trips() {
    let gw = start().await;
    for model in ["mock/echo-anthropic", "mock/echo-gemini"] {
        let b = json!({
            "model": model,
            "input": "Hi there",
            "max_output_tokens": 4000,
            "reasoning": {"effort": "high", "summary": "auto"}
        });
        let reply = responses(&gw, &b).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        let reasoning = items(&v, "reasoning");
        assert_eq!(reasoning.len(), 1, "{model}: {v}");
        assert_eq!(
            reasoning[0]["summary"],
            json!([{"type": "summary_text", "text": "thinking about: Hi there"}]),
            "{model}: {v}"
        );
        assert_eq!(
            items(&v, "message")[0]["content"][0]["text"],
            "echo: Hi there"
        );

        // Streamed: summary deltas in a reasoning item, then the text.
        let mut s = b.clone();
        s["stream"] = json!(true);
        let text = responses_http(&gw, &s).await.text().await.unwrap();
        let events = events(&text);
        assert_eq!(
            joined(&events, "response.reasoning_summary_text.delta"),
            "thinking about: Hi there",
            "{model}: {text}"
        );
        let completed = &events.last().unwrap()["response"];
        assert_eq!(
            completed["output"][0]["type"], "reasoning",
            "{model}: {text}"
        );
        assert_eq!(completed["output"][1]["type"], "message", "{model}: {text}");
    }
    // Anthropic's signed thinking goes back to Anthropic as it came, in
    // the reasoning item's encrypted_content.
    let b = json!({
        "model": "mock/echo-anthropic",
        "input": "Hi there",
        "max_output_tokens": 4000,
        "reasoning": {"effort": "high"}
    });
    let v = responses(&gw, &b).await.json();
    let mut input = vec![json!({"role": "user", "content": "Hi there"})];
    input.extend(v["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"role": "user", "content": "And again?"}));
    let follow = json!({"model": "mock/echo-anthropic", "input": input, "max_output_tokens": 4000, "reasoning": {"effort": "high"}});
    assert_eq!(responses(&gw, &follow).await.status, 200);
    let sent = gw.anthropic.last_request().unwrap().body;
    let thinking = &sent["messages"][1]["content"][0];
    assert_eq!(thinking["type"], "thinking", "{sent}");
    assert_eq!(thinking["thinking"], "thinking about: Hi there");
    assert!(
        thinking["signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{sent}"
    );
}

#[tokio::test]
async fn max_output_tokens_makes_an_incomplete_response() {
    let gw = start().await;
    for model in MODELS {
        let b =
            json!({"model": model, "input": "one two three four five six", "max_output_tokens": 3});
        let v = responses(&gw, &b).await.json();
        assert_eq!(v["status"], "incomplete", "{model}: {v}");
        assert_eq!(
            v["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(v["usage"]["output_tokens"], 3, "{model}: {v}");
        assert_eq!(v["max_output_tokens"], 3);

        let mut s = b.clone();
        s["stream"] = json!(true);
        let text = responses_http(&gw, &s).await.text().await.unwrap();
        let events = events(&text);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.incomplete", "{model}: {text}");
        assert_eq!(
            last["response"]["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
    }
}

#[tokio::test]
async fn stored_state_is_refused_as_the_gateway_is_stateless() {
    let gw = start().await;
    for (extra, field) in [
        (
            json!({"previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (json!({"store": true}), "store"),
    ] {
        let mut b = json!({"model": "mock/echo", "input": "hi"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let reply = responses(&gw, &b).await;
        assert_eq!(reply.status, 400, "{field}");
        let v = reply.json();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(field) && message.contains("stateless"),
            "{v}"
        );
    }
    let reply = responses(
        &gw,
        &json!({"model": "mock/echo", "input": "hi", "store": false}),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        gw.alpha.request_count(),
        1,
        "only the stateless one went upstream"
    );
}

#[tokio::test]
async fn a_failure_mid_stream_is_a_response_failed_event() {
    let gw = start().await;
    for model in MODELS {
        for directive in ["[mock:stream_error=2]", "[mock:drop_after=2]"] {
            let b = json!({"model": model, "input": format!("{directive} one two three four five"), "stream": true});
            let response = responses_http(&gw, &b).await;
            assert_eq!(response.status(), 200, "{model} {directive}");
            let text = response.text().await.unwrap();
            let events = events(&text);
            let kinds = kinds(&events);
            assert_eq!(kinds[0], "response.created", "{model} {directive}: {text}");
            assert!(
                kinds.contains(&"response.output_text.delta"),
                "{model}: {text}"
            );
            assert_eq!(
                kinds.last(),
                Some(&"response.failed"),
                "{model} {directive}: {text}"
            );
            assert!(!kinds.contains(&"response.completed"), "{model}: {text}");
            let failed = &events.last().unwrap()["response"];
            assert_eq!(failed["status"], "failed");
            assert!(
                failed["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{model} {directive}: {failed}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_pays_for_what_it_got() {
    let gw = start().await;
    let b = json!({
        "model": "mock/echo",
        "input": format!("[mock:slow] {}", "lorem ipsum dolor sit amet ".repeat(8)),
        "stream": true
    });
    let response = responses_http(&gw, &b).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    while let Some(bytes) = stream.next().await {
        seen.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        if seen.matches("event: response.output_text.delta").count() >= 2 {
            break;
        }
    }
    assert!(
        seen.matches("event: response.output_text.delta").count() >= 2,
        "{seen}"
    );
    drop(stream);

    assert!(
        eventually(Duration::from_secs(5), || gw.alpha.cancelled_streams() == 1).await,
        "the upstream stream was cancelled"
    );
    let g = generation(&gw, &id).await;
    assert_eq!(g["cancelled"], true, "{g}");
    assert_eq!(g["api_type"], "responses");
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
