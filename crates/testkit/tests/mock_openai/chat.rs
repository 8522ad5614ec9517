//! Chat completions: shapes, usage, streaming, limits; legacy completions.

use tollgate_testkit::reply_for;

use super::support::*;

#[tokio::test]
async fn non_stream_has_the_openai_shape_and_hand_counted_usage() {
    let mock = start().await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let response = post(&mock, "/chat/completions", &fixed_conversation()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock-provider"], "mock");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();

    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "choices",
            "created",
            "id",
            "model",
            "object",
            "system_fingerprint",
            "usage"
        ]
    );
    assert!(is_alphanumeric_id(
        body["id"].as_str().unwrap(),
        "chatcmpl-",
        29
    ));
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["system_fingerprint"], "fp_mock");
    let created = body["created"].as_u64().unwrap();
    assert!(created >= before && created <= before + 5);
    assert_eq!(
        body["choices"],
        json!([{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "echo: Hello, world! How are you?",
                "refusal": null,
            },
            "logprobs": null,
            "finish_reason": "stop",
        }])
    );
    assert_eq!(body["usage"], expected_usage(20, 10));
}

#[tokio::test]
async fn content_parts_images_and_tool_results_are_counted() {
    let mock = start().await;
    // user text parts "Look " + "here." = Look|here|. = 3 tokens, plus one
    // image (85): 3 + 3 + 85 = 91, + 3 priming = 94.
    let request = json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "Look " },
            { "type": "image_url", "image_url": { "url": "data:image/png;base64,AAAA" } },
            { "type": "text", "text": "here." },
        ]}],
    });
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: Look here.");
    assert_eq!(body["usage"]["prompt_tokens"], 94);
    // echo|:|Look|here|. = 5
    assert_eq!(body["usage"]["completion_tokens"], 5);

    // last message is a tool result: echo|:|tool|result|:|22C = 6 tokens
    let request = json!({
        "model": MODEL,
        "messages": [
            { "role": "user", "content": "weather tool please" },
            { "role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": { "name": "get_weather", "arguments": "{}" },
            }]},
            { "role": "tool", "tool_call_id": "call_1", "content": "22C" },
        ],
        "tools": [{ "type": "function", "function": { "name": "get_weather" } }],
    });
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: tool result: 22C"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["completion_tokens"], 6);
    // user 3 + weather|tool|please = 6; assistant 3 + get|_|weather (3)
    // + {|} (2) = 8; tool 3 + 22C (1) = 4; priming 3: 6 + 8 + 4 + 3 = 21
    assert_eq!(body["usage"]["prompt_tokens"], 21);
}

#[tokio::test]
async fn stream_framing_is_exact_with_include_usage() {
    let mock = start().await;
    let response = post(
        &mock,
        "/chat/completions",
        &streamed(fixed_conversation(), true),
    )
    .await;
    let chunks = stream_chunks(response).await;

    // role, 10 tokens, finish, usage
    assert_eq!(chunks.len(), 1 + 10 + 1 + 1);
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(is_alphanumeric_id(id, "chatcmpl-", 29));
    for chunk in &chunks {
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], MODEL);
        assert_eq!(chunk["system_fingerprint"], "fp_mock");
        assert!(chunk["created"].is_u64());
    }
    let choice = |delta: Value, finish: Value| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
    assert_eq!(
        chunks[0]["choices"],
        choice(json!({ "role": "assistant", "content": "" }), Value::Null)
    );
    let pieces = [
        "echo", ":", " Hello", ",", " world", "!", " How", " are", " you", "?",
    ];
    for (chunk, piece) in chunks[1..11].iter().zip(pieces) {
        assert_eq!(
            chunk["choices"],
            choice(json!({ "content": piece }), Value::Null)
        );
    }
    assert_eq!(chunks[11]["choices"], choice(json!({}), json!("stop")));
    for chunk in &chunks[..12] {
        assert_eq!(
            chunk.get("usage"),
            Some(&Value::Null),
            "usage: null before the end"
        );
    }
    assert_eq!(chunks[12]["choices"], json!([]));
    assert_eq!(chunks[12]["usage"], expected_usage(20, 10));
    assert_eq!(mock.completed_streams(), 1);
    assert_eq!(mock.cancelled_streams(), 0);
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_at_all() {
    let mock = start().await;
    let response = post(
        &mock,
        "/chat/completions",
        &streamed(fixed_conversation(), false),
    )
    .await;
    let chunks = stream_chunks(response).await;
    assert_eq!(chunks.len(), 1 + 10 + 1);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[11]["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn reassembled_stream_equals_non_stream_and_reply_for() {
    let mock = start().await;
    for text in ["Hello, world!", "  spaced   out  ", "", "naïve café — ok?"] {
        let request = chat(text);
        let plain: Value = post(&mock, "/chat/completions", &request)
            .await
            .json()
            .await
            .unwrap();
        let chunks =
            stream_chunks(post(&mock, "/chat/completions", &streamed(request.clone(), true)).await)
                .await;
        let expected = plain["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content_text(&chunks), expected);
        assert_eq!(expected, format!("echo: {text}"));
        assert_eq!(chunks.last().unwrap()["usage"], plain["usage"]);
        let reply = reply_for(&request);
        assert_eq!(reply.text(), Some(expected));
        assert_eq!(
            u64::from(reply.usage.completion_tokens),
            plain["usage"]["completion_tokens"].as_u64().unwrap()
        );
    }
}

#[tokio::test]
async fn empty_conversation_echoes_nothing() {
    let mock = start().await;
    let body: Value = post(
        &mock,
        "/chat/completions",
        &json!({ "model": MODEL, "messages": [] }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: ");
    // priming only; reply echo|: = 2
    assert_eq!(body["usage"], expected_usage(3, 2));
}

#[tokio::test]
async fn max_tokens_cuts_with_finish_reason_length() {
    let mock = start().await;
    for field in ["max_tokens", "max_completion_tokens"] {
        let mut request = chat("Hello, world!");
        request[field] = json!(3);
        let body: Value = post(&mock, "/chat/completions", &request)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "echo: Hello");
        assert_eq!(body["choices"][0]["finish_reason"], "length");
        assert_eq!(body["usage"]["completion_tokens"], 3);

        let chunks =
            stream_chunks(post(&mock, "/chat/completions", &streamed(request, false)).await).await;
        assert_eq!(content_text(&chunks), "echo: Hello");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "length"
        );
    }
    // exactly enough: not cut
    let mut request = chat("Hello, world!");
    request["max_tokens"] = json!(6);
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: Hello, world!"
    );
    // zero is rejected like OpenAI does
    request["max_tokens"] = json!(0);
    let response = post(&mock, "/chat/completions", &request).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "max_tokens");
}

#[tokio::test]
async fn stop_sequences_cut_the_reply() {
    let mock = start().await;
    let mut request = chat("Hello, world! Bye.");
    request["stop"] = json!("world");
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: Hello, ");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // echo|:|Hello|, = 4
    assert_eq!(body["usage"]["completion_tokens"], 4);

    request["stop"] = json!(["Bye", "!"]);
    let chunks =
        stream_chunks(post(&mock, "/chat/completions", &streamed(request, false)).await).await;
    assert_eq!(content_text(&chunks), "echo: Hello, world");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn legacy_completions_echo_the_prompt() {
    let mock = start().await;
    let request = json!({ "model": "instruct", "prompt": "Say hi." });
    let body: Value = post(&mock, "/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "text_completion");
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(
        body["choices"],
        json!([{ "text": "echo: Say hi.", "index": 0, "logprobs": null, "finish_reason": "stop" }])
    );
    // Say|hi|. = 3 (no overheads); echo|:|Say|hi|. = 5
    assert_eq!(
        body["usage"],
        json!({ "prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8 })
    );

    let stream =
        json!({ "model": "instruct", "prompt": "Say hi.", "stream": true, "max_tokens": 4 });
    let chunks = stream_chunks(post(&mock, "/completions", &stream).await).await;
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: Say hi");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "length"
    );
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));

    let two = json!({ "model": "instruct", "prompt": ["a", "b"] });
    let body: Value = post(&mock, "/completions", &two)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][1]["text"], "echo: b");
    assert_eq!(
        post(&mock, "/completions", &json!({ "model": "m" }))
            .await
            .status(),
        400
    );
}
