//! Messages: shapes, usage, streaming, limits, count_tokens, models.

use super::support::*;

#[tokio::test]
async fn base_url_is_the_v1_prefix() {
    let mock = start().await;
    assert_eq!(mock.dialect(), Dialect::Anthropic);
    assert_eq!(mock.base_url(), format!("http://{}/v1", mock.addr()));
    assert_eq!(mock.origin(), format!("http://{}", mock.addr()));
    assert_eq!(
        mock.url("/messages"),
        format!("{}/messages", mock.base_url())
    );
}

#[tokio::test]
async fn non_stream_has_the_anthropic_shape_and_hand_counted_usage() {
    let mock = start().await;
    let response = post(&mock, &fixed_conversation()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock-provider"], "mock");
    assert!(is_id(
        response.headers()["request-id"].to_str().unwrap(),
        "req_",
        32
    ));
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let mut body: Value = response.json().await.unwrap();
    assert!(is_id(body["id"].as_str().unwrap(), "msg_01", 22), "{body}");
    body["id"] = json!("msg_X");
    assert_eq!(
        body,
        json!({
            "id": "msg_X",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{ "type": "text", "text": "echo: Hello, world! How are you?" }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": usage(20, 10, 0, 0),
        })
    );
    // ids differ per response
    let (_, again) = post_json(&mock, &fixed_conversation()).await;
    assert_ne!(again["id"], "msg_X");
    assert_eq!(mock.last_request().unwrap().path, "/v1/messages");
}

#[tokio::test]
async fn system_blocks_images_and_tool_results_are_counted() {
    let mock = start().await;
    // system blocks "Be " + "brief." = Be|brief|. = 3 (+3); user text
    // "Look " + "here." = Look|here|. = 3, one image (85): 3 + 3 + 85 = 91;
    // priming 3: 6 + 91 + 3 = 100. Reply echo|:|Look|here|. = 5.
    let request = json!({
        "model": MODEL,
        "max_tokens": 100,
        "system": [
            { "type": "text", "text": "Be " },
            { "type": "text", "text": "brief." },
        ],
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "Look " },
            { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "AAAA" } },
            { "type": "text", "text": "here." },
        ]}],
    });
    let (status, body) = post_json(&mock, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], "echo: Look here.");
    assert_eq!(body["usage"], usage(100, 5, 0, 0));

    // a URL image counts the same
    let mut by_url = request.clone();
    by_url["messages"][0]["content"][1] =
        json!({ "type": "image", "source": { "type": "url", "url": "https://example.com/a.png" } });
    let (_, body) = post_json(&mock, &by_url).await;
    assert_eq!(body["usage"]["input_tokens"], 100);

    // prefill: a final assistant message does not change the reply; it
    // costs 3 + Sure|, = 5 more
    let mut prefill = request;
    prefill["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "role": "assistant", "content": "Sure," }));
    let (_, body) = post_json(&mock, &prefill).await;
    assert_eq!(body["content"][0]["text"], "echo: Look here.");
    assert_eq!(body["usage"]["input_tokens"], 105);
}

#[tokio::test]
async fn stream_event_sequence_is_exact() {
    let mock = start().await;
    // user Hi|there = 2: 3 + 2 + 3 = 8; reply echo|:|Hi|there = 4
    let events = stream_events(post(&mock, &streamed(user("Hi there"))).await).await;
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
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let id = events[0].1["message"]["id"].as_str().unwrap();
    assert!(is_id(id, "msg_01", 22));
    assert_eq!(
        events[0].1,
        json!({ "type": "message_start", "message": {
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": usage(8, 1, 0, 0),
        } })
    );
    assert_eq!(events[1].1, json!({ "type": "ping" }));
    assert_eq!(
        events[2].1,
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })
    );
    for (event, piece) in events[3..7].iter().zip(["echo", ":", " Hi", " there"]) {
        assert_eq!(
            event.1,
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece } })
        );
    }
    assert_eq!(
        events[7].1,
        json!({ "type": "content_block_stop", "index": 0 })
    );
    assert_eq!(
        events[8].1,
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": 4 },
        })
    );
    assert_eq!(events[9].1, json!({ "type": "message_stop" }));
    assert_eq!(mock.completed_streams(), 1);
}

#[tokio::test]
async fn reassembled_stream_equals_non_stream_and_reply_for() {
    let mock = start().await;
    for text in ["Hello, world!", "  spaced   out  ", "naïve café — ok?"] {
        let request = user(text);
        let (_, plain) = post_json(&mock, &request).await;
        let events = stream_events(post(&mock, &streamed(request.clone())).await).await;
        let expected = plain["content"][0]["text"].as_str().unwrap();
        assert_eq!(expected, format!("echo: {text}"));
        assert_eq!(streamed_text(&events), expected);
        let start_usage = &events[0].1["message"]["usage"];
        assert_eq!(start_usage["input_tokens"], plain["usage"]["input_tokens"]);
        let delta = &events[events.len() - 2].1;
        assert_eq!(
            delta["usage"]["output_tokens"],
            plain["usage"]["output_tokens"]
        );
        let reply = tollgate_testkit::anthropic::reply_for(&request);
        assert_eq!(reply.text(), Some(expected));
        assert_eq!(
            u64::from(reply.usage.prompt_tokens),
            plain["usage"]["input_tokens"].as_u64().unwrap()
        );
    }
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_set_the_stop_reason() {
    let mock = start().await;
    let mut request = user("Hello, world! Bye.");
    request["max_tokens"] = json!(3);
    let (_, body) = post_json(&mock, &request).await;
    assert_eq!(body["content"][0]["text"], "echo: Hello");
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert_eq!(body["usage"]["output_tokens"], 3);

    let mut request = user("Hello, world! Bye.");
    request["stop_sequences"] = json!(["Bye", "world"]);
    let (_, body) = post_json(&mock, &request).await;
    assert_eq!(body["content"][0]["text"], "echo: Hello, ");
    assert_eq!(body["stop_reason"], "stop_sequence");
    assert_eq!(body["stop_sequence"], "world");
    // echo|:|Hello|, = 4
    assert_eq!(body["usage"]["output_tokens"], 4);

    let events = stream_events(post(&mock, &streamed(request)).await).await;
    assert_eq!(streamed_text(&events), "echo: Hello, ");
    assert_eq!(
        events[events.len() - 2].1["delta"],
        json!({ "stop_reason": "stop_sequence", "stop_sequence": "world" })
    );

    // cut to nothing: no text block at all
    let mut request = user("anything");
    request["stop_sequences"] = json!(["echo"]);
    let (_, body) = post_json(&mock, &request).await;
    assert_eq!(body["content"], json!([]));
    assert_eq!(body["usage"]["output_tokens"], 0);
    let events = stream_events(post(&mock, &streamed(request)).await).await;
    assert_eq!(
        names(&events),
        ["message_start", "ping", "message_delta", "message_stop"]
    );
}

#[tokio::test]
async fn count_tokens_and_models() {
    let mock = start_with(MockConfig {
        models: vec!["claude-a".to_owned(), "claude-b".to_owned()],
        ..MockConfig::default()
    })
    .await;
    let mut request = fixed_conversation();
    request["model"] = json!("claude-a");
    request.as_object_mut().unwrap().remove("max_tokens");
    let response = super::support::request(&mock, "/messages/count_tokens", &request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "input_tokens": 20 }));

    let body: Value = reqwest::Client::new()
        .get(mock.url("/models"))
        .header("anthropic-version", VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({
            "data": [
                { "type": "model", "id": "claude-a", "display_name": "claude-a", "created_at": "2025-01-01T00:00:00Z" },
                { "type": "model", "id": "claude-b", "display_name": "claude-b", "created_at": "2025-01-01T00:00:00Z" },
            ],
            "has_more": false,
            "first_id": "claude-a",
            "last_id": "claude-b",
        })
    );
    let get = |path: &str| {
        reqwest::Client::new()
            .get(mock.url(path))
            .header("anthropic-version", VERSION)
            .send()
    };
    assert_eq!(get("/models/claude-b").await.unwrap().status(), 200);
    let message = expect_error(
        get("/models/claude-z").await.unwrap(),
        404,
        "not_found_error",
    )
    .await;
    assert_eq!(message, "model: claude-z");
    let message = expect_error(post(&mock, &user("hi")).await, 404, "not_found_error").await;
    assert_eq!(message, format!("model: {MODEL}"));

    // a mock without models lists those asked about
    let open = start().await;
    post(&open, &user("hi")).await;
    let body: Value = reqwest::Client::new()
        .get(open.url("/models"))
        .header("anthropic-version", VERSION)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][0]["id"], MODEL);
    assert_eq!(body["first_id"], MODEL);
}
