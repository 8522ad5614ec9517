//! Hostile upstreams scripted by directives: misreported or missing usage,
//! endless and oversized replies.

use futures::StreamExt as _;

use super::support::*;

/// "hi [mock:usage_completion=0]" is hi|[|mock|:|usage|_|completion|=|0|]
/// = 10 tokens: 3 + 10 + 3 priming = 16 prompt tokens (directives are
/// counted as sent); "hi [mock:reply_bytes=11]" likewise.
const PROMPT_WITH_DIRECTIVE: u64 = 16;

/// Reads a stream until `count` events arrived, then drops it.
async fn first_events(response: reqwest::Response, count: usize) -> Vec<(String, Value)> {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    // the end of the last complete event, and how many there are
    let (mut end, mut events) = (0, 0);
    while events < count {
        let chunk = body.next().await.expect("the stream goes on").unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(at) = text[end..].find("\n\n") {
            end += at + 2;
            events += 1;
        }
    }
    sse_events(&text[..end])
}

async fn until_cancelled(mock: &MockHandle, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.cancelled_streams() < n {
        assert!(Instant::now() < deadline, "the mock stops generating");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn usage_directives_override_the_reported_counts() {
    let mock = start().await;
    let request = user("hi [mock:usage_completion=5000000] [mock:usage_prompt=11]");
    let (status, body) = post_json(&mock, &request).await;
    assert_eq!(status, 200);
    assert_eq!(body["content"][0]["text"], "echo: hi");
    assert_eq!(body["usage"], usage(11, 5_000_000, 0, 0));

    let events = stream_events(post(&mock, &streamed(request)).await).await;
    assert_eq!(streamed_text(&events), "echo: hi");
    let start = &events[0].1;
    assert_eq!(start["message"]["usage"], usage(11, 1, 0, 0));
    let (name, delta) = &events[events.len() - 2];
    assert_eq!(name, "message_delta");
    assert_eq!(delta["usage"], json!({ "output_tokens": 5_000_000 }));

    let (_, body) = post_json(&mock, &user("hi [mock:usage_completion=0]")).await;
    assert_eq!(body["usage"], usage(PROMPT_WITH_DIRECTIVE, 0, 0, 0));
}

#[tokio::test]
async fn no_usage_sends_no_usage_anywhere() {
    let mock = start().await;
    let request = user("hi [mock:no_usage]");
    let (status, body) = post_json(&mock, &request).await;
    assert_eq!(status, 200);
    assert_eq!(body["content"][0]["text"], "echo: hi");
    assert!(body.get("usage").is_none(), "{body}");

    let events = stream_events(post(&mock, &streamed(request)).await).await;
    assert_eq!(streamed_text(&events), "echo: hi");
    assert_eq!(
        names(&events)[..2],
        ["message_start", "ping"],
        "the stream keeps its shape"
    );
    assert!(events[0].1["message"].get("usage").is_none());
    for (_, data) in &events {
        assert!(data.get("usage").is_none(), "{data}");
    }
    assert_eq!(names(&events).last(), Some(&"message_stop"));
}

#[tokio::test]
async fn reply_bytes_sends_that_much_filler_past_every_limit() {
    let mock = start().await;
    // 11 bytes: "x " five times and "x", 6 tokens; max_tokens is ignored
    let mut request = user("hi [mock:reply_bytes=11]");
    request["max_tokens"] = json!(2);
    let (_, body) = post_json(&mock, &request).await;
    assert_eq!(
        body["content"],
        json!([{ "type": "text", "text": "x x x x x x" }])
    );
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(body["usage"], usage(PROMPT_WITH_DIRECTIVE, 6, 0, 0));

    let events = stream_events(post(&mock, &streamed(request)).await).await;
    let pieces: Vec<&str> = events
        .iter()
        .filter_map(|(_, data)| data.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(pieces, ["x ", "x ", "x ", "x ", "x ", "x"]);
    let (_, delta) = &events[events.len() - 2];
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
    assert_eq!(delta["usage"], json!({ "output_tokens": 6 }));
}

#[tokio::test]
async fn endless_is_a_long_answer_or_a_stream_without_end() {
    let mock = start().await;
    let (_, body) = post_json(&mock, &user("[mock:endless]")).await;
    let text = body["content"][0]["text"].as_str().unwrap();
    assert_eq!(text.len(), 1024 * 1024);
    assert_eq!(body["usage"]["output_tokens"], 512 * 1024);
    let (_, body) = post_json(&mock, &user("[mock:endless][mock:reply_bytes=3]")).await;
    assert_eq!(body["content"][0]["text"], "x x");

    let response = post(&mock, &streamed(user("[mock:endless]"))).await;
    let events = first_events(response, 3000).await;
    assert_eq!(
        names(&events)[..3],
        ["message_start", "ping", "content_block_start"]
    );
    for (name, data) in &events[3..] {
        assert_eq!(name, "content_block_delta");
        assert_eq!(data["delta"], json!({ "type": "text_delta", "text": "x " }));
    }
    until_cancelled(&mock, 1).await;
    assert_eq!(mock.completed_streams(), 0);
}

/// `[mock:echo_key]`: the `x-api-key` echoed in an error status or in the
/// stream's `error` event.
#[tokio::test]
async fn echo_key_puts_the_presented_key_in_an_error() {
    const KEY: &str = "sk-ant-OPERATORSECRET-0042-abcdefgh";
    let mock = start().await;
    let send = |body: Value| {
        request(&mock, "/messages", &body)
            .header("x-api-key", KEY)
            .send()
    };
    let response = send(user("hi [mock:echo_key=23] [mock:status=401]"))
        .await
        .unwrap();
    let message = expect_error(response, 401, "authentication_error").await;
    assert_eq!(message, format!("key {}... is invalid", &KEY[..23]));

    let response = send(streamed(user("hi [mock:echo_key] [mock:stream_error]")))
        .await
        .unwrap();
    let (events, _) = read_until_end(response).await;
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["message"], format!("key {KEY}... is invalid"));
    assert!(
        names(&events).contains(&"content_block_delta"),
        "{events:?}"
    );
}
