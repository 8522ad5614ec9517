//! Middle-out end to end: a conversation larger than the small-context demo
//! model's 4096 tokens is compressed and answered; with `transforms: []`
//! it is a 400 stating the prompt size and the context length.

use serde_json::{Value, json};

use crate::support::*;

/// A conversation of `turns` user/assistant pairs of about 300 tokens each,
/// ending with a short question.
fn long_conversation(turns: usize) -> Vec<Value> {
    let mut messages = vec![json!({"role": "system", "content": "You are a patient assistant."})];
    for i in 0..turns {
        let filler = format!("turn {i}: ") + &"lorem ipsum dolor sit amet ".repeat(60);
        messages.push(json!({"role": "user", "content": filler.clone()}));
        messages.push(json!({"role": "assistant", "content": filler}));
    }
    messages.push(json!({"role": "user", "content": "What was the last thing I said?"}));
    messages
}

#[tokio::test]
async fn an_oversize_conversation_is_compressed_and_answered() {
    let gw = start().await;
    let body = json!({"model": "mock/small-context", "messages": long_conversation(12)});
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "echo: What was the last thing I said?"
    );
    let header = reply
        .header("x-tollgate-middle-out")
        .expect("middle-out reports what it did");
    assert!(header.starts_with("removed="), "{header}");
    // What was sent upstream kept the system prompt, the first user turn
    // and the last message, and fits the model's 4096-token context.
    let sent = gw.alpha.last_request().unwrap();
    let messages = sent.body["messages"].as_array().unwrap();
    assert!(
        messages.len() < 26,
        "messages were removed: {}",
        messages.len()
    );
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[1]["content"]
            .as_str()
            .unwrap()
            .starts_with("turn 0:")
    );
    assert_eq!(
        messages.last().unwrap()["content"],
        "What was the last thing I said?"
    );
    let prompt_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(
        prompt_tokens < 4096,
        "usage reflects what was sent: {prompt_tokens}"
    );
}

#[tokio::test]
async fn without_middle_out_an_oversize_prompt_is_a_400_with_the_sizes() {
    let gw = start().await;
    let body =
        json!({"model": "mock/small-context", "messages": long_conversation(12), "transforms": []});
    let reply = gw.chat(&body).await;
    let error = assert_error(&reply, 400);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("4096"),
        "names the context length: {message}"
    );
    assert_eq!(gw.alpha.request_count(), 0, "nothing was sent upstream");
}

#[tokio::test]
async fn a_prompt_that_fits_is_sent_unchanged() {
    let gw = start().await;
    let body = json!({"model": "mock/small-context", "messages": long_conversation(2)});
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("x-tollgate-middle-out").is_none());
    assert_eq!(
        gw.alpha.last_request().unwrap().body["messages"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[tokio::test]
async fn tools_are_described_in_the_prompt_for_an_endpoint_without_tool_calling() {
    let gw = start().await;
    let tools = json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}
        }
    }]);
    // The echo mock repeats the user's text, so a user text that is a tool
    // call in the documented format comes back as the model's "reply".
    let call = r#"{"tool_calls": [{"name": "get_weather", "arguments": {"query": "Paris"}}]}"#;
    let body = json!({"model": "mock/no-tools", "tools": tools, "messages": [{"role": "user", "content": call}]});
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    // Upstream got no `tools`, and a system prompt describing them.
    let sent = gw.beta.last_request().unwrap();
    assert!(sent.body.get("tools").is_none(), "{}", sent.body);
    let system = sent.body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(sent.body["messages"][0]["role"], "system");
    assert!(
        system.contains("get_weather") && system.contains("Weather in a city"),
        "{system}"
    );
    // The reply's JSON became a real tool call.
    let v = reply.json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"query": "Paris"}));
}
