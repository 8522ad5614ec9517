//! Extended thinking: blocks, signatures, streaming, with tools.

use tollgate_testkit::behaviour::thinking_signature;

use super::support::*;

fn thinking(mut request: Value) -> Value {
    request["max_tokens"] = json!(2048);
    request["thinking"] = json!({ "type": "enabled", "budget_tokens": 1024 });
    request
}

#[tokio::test]
async fn thinking_block_comes_first_with_a_signature() {
    let mock = start().await;
    let (status, body) = post_json(&mock, &thinking(user("Hi there"))).await;
    assert_eq!(status, 200, "{body}");
    let signature = thinking_signature("thinking about: Hi there");
    // standard base64 of a SHA-256 digest
    assert_eq!(signature.len(), 44);
    assert!(signature.ends_with('='));
    assert_eq!(
        body["content"],
        json!([
            { "type": "thinking", "thinking": "thinking about: Hi there", "signature": signature },
            { "type": "text", "text": "echo: Hi there" },
        ])
    );
    // in: 3 + Hi|there + 3 = 8; out: thinking|about|:|Hi|there = 5 plus
    // echo|:|Hi|there = 4
    assert_eq!(body["usage"], usage(8, 9, 0, 0));
    assert_eq!(body["stop_reason"], "end_turn");

    // disabled thinking: no block
    let mut request = user("Hi there");
    request["thinking"] = json!({ "type": "disabled" });
    let (_, body) = post_json(&mock, &request).await;
    assert_eq!(body["content"].as_array().unwrap().len(), 1);
    assert_eq!(body["usage"]["output_tokens"], 4);
}

#[tokio::test]
async fn thinking_streams_before_the_text() {
    let mock = start().await;
    let events = stream_events(post(&mock, &streamed(thinking(user("Hi there")))).await).await;
    let data: Vec<&Value> = events.iter().map(|(_, d)| d).collect();
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(
        data[2],
        &json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "thinking", "thinking": "", "signature": "" } })
    );
    for (event, piece) in data[3..8]
        .iter()
        .zip(["thinking", " about", ":", " Hi", " there"])
    {
        assert_eq!(
            *event,
            &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": piece } })
        );
    }
    assert_eq!(
        data[8],
        &json!({ "type": "content_block_delta", "index": 0, "delta": {
            "type": "signature_delta",
            "signature": thinking_signature("thinking about: Hi there"),
        } })
    );
    assert_eq!(
        data[9],
        &json!({ "type": "content_block_stop", "index": 0 })
    );
    assert_eq!(
        data[10],
        &json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "text", "text": "" } })
    );
    assert!(data[11..15].iter().all(|d| d["index"] == 1));
    assert_eq!(streamed_text(&events), "echo: Hi there");
    assert_eq!(data[16]["usage"], json!({ "output_tokens": 9 }));
}

#[tokio::test]
async fn thinking_with_a_tool_call() {
    let mock = start().await;
    let request = thinking(with_tools(user("use a tool"), &["search"]));
    let (_, body) = post_json(&mock, &request).await;
    let types: Vec<&str> = body["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["thinking", "tool_use"]);
    assert_eq!(body["content"][0]["thinking"], "thinking about: use a tool");
    assert_eq!(body["stop_reason"], "tool_use");
    // thinking|about|:|use|a|tool = 6; search = 1;
    // {"query":"use a tool"} = {|"|query|"|:|"|use|a|tool|"|} = 11
    assert_eq!(body["usage"]["output_tokens"], 18);

    let events = stream_events(post(&mock, &streamed(request)).await).await;
    let starts: Vec<(u64, &str)> = events
        .iter()
        .filter(|(name, _)| name == "content_block_start")
        .map(|(_, d)| {
            (
                d["index"].as_u64().unwrap(),
                d["content_block"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(starts, [(0, "thinking"), (1, "tool_use")]);

    // earlier thinking blocks in the conversation are not counted
    let request = json!({
        "model": MODEL,
        "max_tokens": 2048,
        "thinking": { "type": "enabled", "budget_tokens": 1024 },
        "messages": [
            { "role": "user", "content": "Hi" },
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": "many many words here", "signature": "abc" },
                { "type": "text", "text": "Hello" },
            ]},
            { "role": "user", "content": "Bye" },
        ],
    });
    let (_, body) = post_json(&mock, &request).await;
    // (3 + 1) + (3 + 1) + (3 + 1) + 3 = 15
    assert_eq!(body["usage"]["input_tokens"], 15);
}
