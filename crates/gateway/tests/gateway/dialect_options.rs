//! Request options every dialect must honour (issue 20, the smaller
//! items): `reasoning.exclude` / `include_reasoning: false` for
//! OpenAI-dialect upstreams, and top-level `cache_control` (automatic
//! caching, OpenAPI `AnthropicCacheControlDirective`).

use crate::support::*;

fn with(model: &str, text: &str, extra: Value) -> Value {
    let mut body = chat_body(model, text);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn stream_chunks(text: &str) -> Vec<Value> {
    parse_sse(text)
        .into_iter()
        .filter_map(|e| match e {
            Event::Chunk(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn excluded_reasoning_is_left_out_of_openai_dialect_answers_but_billed() {
    let gw = start().await;
    // mock/reasoner is served by Mock Gamma, an OpenAI-dialect mock that
    // always reasons ("thinking about: Hi there", 5 tokens) and sends the
    // text as both `reasoning` and `reasoning_content`.
    let plain = gw.chat(&chat_body("mock/reasoner", "Hi there")).await;
    assert_eq!(plain.status, 200, "{:?}", plain.body);
    let plain = plain.json();
    assert_eq!(
        plain["choices"][0]["message"]["reasoning"],
        "thinking about: Hi there"
    );
    for exclude in [
        json!({"reasoning": {"exclude": true}}),
        json!({"reasoning": {"effort": "low", "exclude": true}}),
        json!({"include_reasoning": false}),
    ] {
        let body = with("mock/reasoner", "Hi there", exclude.clone());
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{exclude}: {:?}", reply.body);
        let v = reply.json();
        let message = &v["choices"][0]["message"];
        assert_eq!(message["content"], "echo: Hi there", "{exclude}");
        for key in ["reasoning", "reasoning_details", "reasoning_content"] {
            assert!(
                message.get(key).is_none_or(Value::is_null),
                "{exclude}: {key} in {message}"
            );
        }
        // Still produced, so still counted and charged: the same usage and
        // cost as with the reasoning shown.
        assert_eq!(v["usage"]["completion_tokens"], 9, "{exclude}");
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"], 5,
            "{exclude}"
        );
        assert_eq!(v["usage"]["cost"], plain["usage"]["cost"], "{exclude}");

        let response = gw.chat_http(&streamed(body)).await;
        assert_eq!(response.status(), 200);
        let chunks = stream_chunks(&response.text().await.unwrap());
        let mut content = String::new();
        for c in &chunks {
            for choice in c["choices"].as_array().unwrap() {
                let delta = &choice["delta"];
                for key in ["reasoning", "reasoning_details", "reasoning_content"] {
                    assert!(
                        delta.get(key).is_none_or(Value::is_null),
                        "{exclude}: {key} in {c}"
                    );
                }
                content.push_str(delta["content"].as_str().unwrap_or_default());
            }
        }
        assert_eq!(content, "echo: Hi there", "{exclude}");
        let usage = chunks.iter().rev().find_map(|c| c.get("usage")).unwrap();
        assert_eq!(usage["completion_tokens"], 9, "{exclude}: {usage}");
    }
    // What reached the provider: no OpenRouter-only keys.
    let sent = gw.gamma.last_request().unwrap().body;
    assert!(sent.get("include_reasoning").is_none(), "{sent}");
}

#[tokio::test]
async fn top_level_cache_control_caches_the_whole_prompt_at_anthropic() {
    let gw = start().await;
    let text = "Summarise the following long document for me please";
    let body = with(
        "mock/echo-anthropic",
        text,
        json!({"cache_control": {"type": "ephemeral"}}),
    );
    let first = gw.chat(&body).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    // Placed on the last cacheable block, never sent top-level.
    let sent = gw.anthropic.last_request().unwrap().body;
    assert!(sent.get("cache_control").is_none(), "{sent}");
    let last = sent["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last,
        json!({"type": "text", "text": text, "cache_control": {"type": "ephemeral"}})
    );
    // The first request writes the prompt up to that block to the
    // provider's cache, the second reads all of it back.
    let first = first.json();
    let details = &first["usage"]["prompt_tokens_details"];
    assert_eq!(details["cached_tokens"], 0, "{first}");
    let written = details["cache_write_tokens"].as_u64().unwrap();
    assert!(written > 0, "{first}");
    let second = gw.chat(&body).await.json();
    let details = &second["usage"]["prompt_tokens_details"];
    assert_eq!(details["cached_tokens"], written, "{second}");
    assert_eq!(
        details["cache_write_tokens"].as_u64().unwrap_or(0),
        0,
        "{second}"
    );

    // Without it, nothing is cached.
    let other = gw
        .chat(&chat_body("mock/echo-anthropic", "Another prompt entirely"))
        .await
        .json();
    let details = &other["usage"]["prompt_tokens_details"];
    assert_eq!(details["cached_tokens"], 0, "{other}");
    assert!(
        details["cache_write_tokens"].as_u64().unwrap_or(0) == 0,
        "{other}"
    );
}

#[tokio::test]
async fn top_level_cache_control_is_accepted_by_the_other_dialects() {
    let gw = start().await;
    for model in ["mock/echo", "mock/echo-gemini"] {
        let body = with(
            model,
            "hi",
            json!({"cache_control": {"type": "ephemeral", "ttl": "1h"}}),
        );
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        assert_eq!(
            reply.json()["choices"][0]["message"]["content"],
            "echo: hi",
            "{model}"
        );
    }
    // The OpenAI dialect does not take it top-level: it is not forwarded.
    let sent = gw.alpha.last_request().unwrap().body;
    assert!(sent.get("cache_control").is_none(), "{sent}");
}
