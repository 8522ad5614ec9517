//! tool_use blocks: plain, streamed, parallel, and a full round trip.

use std::collections::BTreeMap;

use super::support::*;

/// Reassembles the tool_use blocks of a stream: index -> (id, name, input).
fn reassemble(events: &[(String, Value)]) -> BTreeMap<u64, (String, String, String)> {
    let mut blocks: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for (name, data) in events {
        match name.as_str() {
            "content_block_start" if data["content_block"]["type"] == "tool_use" => {
                let block = &data["content_block"];
                assert_eq!(block["input"], json!({}));
                blocks.insert(
                    data["index"].as_u64().unwrap(),
                    (
                        block["id"].as_str().unwrap().to_owned(),
                        block["name"].as_str().unwrap().to_owned(),
                        String::new(),
                    ),
                );
            }
            "content_block_delta" if data["delta"]["type"] == "input_json_delta" => {
                let entry = blocks.get_mut(&data["index"].as_u64().unwrap()).unwrap();
                entry
                    .2
                    .push_str(data["delta"]["partial_json"].as_str().unwrap());
            }
            _ => {}
        }
    }
    blocks
}

#[tokio::test]
async fn tool_use_non_stream() {
    let mock = start().await;
    let text = "What is the weather in Paris? Ask get_weather.";
    let request = with_tools(user(text), &["search", "get_weather"]);
    let (status, body) = post_json(&mock, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["stop_sequence"], Value::Null);
    let content = body["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    let block = &content[0];
    let id = block["id"].as_str().unwrap();
    assert!(is_id(id, "toolu_01", 22), "{id}");
    assert_eq!(
        block,
        &json!({ "type": "tool_use", "id": id, "name": "get_weather", "input": { "query": text } })
    );
    // What|is|the|weather|in|Paris|?|Ask|get|_|weather|. = 12: 3 + 12 + 3
    // = 18 in; out: get|_|weather = 3, plus {"query":"<12>"} =
    // {|"|query|"|:|"| + 12 + "|} = 20: 23
    assert_eq!(body["usage"], usage(18, 23, 0, 0));

    // the id is a function of the conversation
    let (_, again) = post_json(&mock, &request).await;
    assert_eq!(again["content"][0]["id"], id);

    let cases = [
        ("use a tool", json!(null), Some("search")),
        ("hello", json!({ "type": "any" }), Some("search")),
        (
            "hello",
            json!({ "type": "tool", "name": "get_weather" }),
            Some("get_weather"),
        ),
        ("use a tool", json!({ "type": "none" }), None),
        ("hello", json!({ "type": "auto" }), None),
        ("toolbox", json!(null), None),
    ];
    for (text, choice, expected) in cases {
        let mut request = with_tools(user(text), &["search", "get_weather"]);
        if !choice.is_null() {
            request["tool_choice"] = choice;
        }
        let (_, body) = post_json(&mock, &request).await;
        let name = body
            .pointer("/content/0")
            .filter(|b| b["type"] == "tool_use")
            .and_then(|b| b["name"].as_str());
        assert_eq!(name, expected, "{request}");
    }

    // server tools are not offered as functions
    let mut request = user("use a tool");
    request["tools"] = json!([{ "type": "web_search_20250305", "name": "web_search" }]);
    let (_, body) = post_json(&mock, &request).await;
    assert_eq!(body["content"][0]["type"], "text");
}

#[tokio::test]
async fn tool_use_streams_input_json_fragments() {
    let mock = start().await;
    let request = with_tools(user("call the search tool"), &["search", "other"]);
    let (_, plain) = post_json(&mock, &request).await;
    let events = stream_events(post(&mock, &streamed(request)).await).await;
    let names = names(&events);
    assert_eq!(
        &names[..3],
        ["message_start", "ping", "content_block_start"]
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let fragments: Vec<&str> = events
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/partial_json").and_then(Value::as_str))
        .collect();
    assert!(fragments.len() > 3);
    assert!(
        fragments
            .iter()
            .all(|f| (1..=4).contains(&f.chars().count()))
    );
    let blocks = reassemble(&events);
    assert_eq!(blocks.len(), 1);
    let (id, name, input) = &blocks[&0];
    assert_eq!(id, plain["content"][0]["id"].as_str().unwrap());
    assert_eq!(name, "search");
    let input: Value = serde_json::from_str(input).unwrap();
    assert_eq!(input, json!({ "query": "call the search tool" }));
    assert_eq!(
        events[events.len() - 2].1,
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": "tool_use", "stop_sequence": null },
            "usage": { "output_tokens": plain["usage"]["output_tokens"] },
        })
    );
}

#[tokio::test]
async fn parallel_tool_use_blocks_follow_each_other() {
    let mock = start().await;
    let text = "run both tools in parallel";
    let request = with_tools(user(text), &["alpha", "beta", "gamma"]);
    let (_, plain) = post_json(&mock, &request).await;
    let content = plain["content"].as_array().unwrap();
    let names: Vec<&str> = content
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert_ne!(content[0]["id"], content[1]["id"]);

    let events = stream_events(post(&mock, &streamed(request.clone())).await).await;
    // blocks do not interleave: each starts after the previous stopped
    let mut open: Option<u64> = None;
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                assert_eq!(open, None, "a block is open");
                open = data["index"].as_u64();
            }
            "content_block_delta" => assert_eq!(data["index"].as_u64(), open),
            "content_block_stop" => {
                assert_eq!(data["index"].as_u64(), open);
                open = None;
            }
            _ => {}
        }
    }
    let blocks = reassemble(&events);
    assert_eq!(blocks.len(), 2);
    for (index, (id, name, input)) in &blocks {
        let expected = &content[*index as usize];
        assert_eq!(id, expected["id"].as_str().unwrap());
        assert_eq!(name, expected["name"].as_str().unwrap());
        let input: Value = serde_json::from_str(input).unwrap();
        assert_eq!(input, json!({ "query": text }));
    }

    let mut single = request;
    single["tool_choice"] = json!({ "type": "auto", "disable_parallel_tool_use": true });
    let (_, body) = post_json(&mock, &single).await;
    assert_eq!(body["content"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn tool_result_round_trip() {
    let mock = start().await;
    let request = |result: Value| {
        with_tools(
            json!({
                "model": MODEL,
                "max_tokens": 100,
                "messages": [
                    { "role": "user", "content": "weather tool please" },
                    { "role": "assistant", "content": [
                        { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {} },
                    ]},
                    { "role": "user", "content": [
                        { "type": "tool_result", "tool_use_id": "toolu_1", "content": result },
                    ]},
                ],
            }),
            &["get_weather"],
        )
    };
    for result in [json!("22C"), json!([{ "type": "text", "text": "22C" }])] {
        let (status, body) = post_json(&mock, &request(result)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["content"],
            json!([{ "type": "text", "text": "echo: tool result: 22C" }])
        );
        assert_eq!(body["stop_reason"], "end_turn");
        // user 3 + weather|tool|please = 6; assistant 3 + get|_|weather (3)
        // + {|} (2) = 8; tool result 3 + 22C (1) = 4; priming 3: 21.
        // out: echo|:|tool|result|:|22C = 6
        assert_eq!(body["usage"], usage(21, 6, 0, 0));
    }
}
