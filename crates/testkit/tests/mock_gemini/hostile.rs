//! Hostile upstreams scripted by directives: misreported or missing usage,
//! endless and oversized replies.

use futures::StreamExt as _;

use super::support::*;

/// "hi [mock:usage_completion=0]" is hi|[|mock|:|usage|_|completion|=|0|]
/// = 10 tokens: 3 + 10 + 3 priming = 16 prompt tokens (directives are
/// counted as sent); "hi [mock:reply_bytes=11]" likewise.
const PROMPT_WITH_DIRECTIVE: u64 = 16;

/// Reads an SSE stream until `count` chunks arrived, then drops it.
async fn first_chunks(response: reqwest::Response, count: usize) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    // the end of the last complete event, and how many there are
    let (mut end, mut events) = (0, 0);
    while events < count {
        let chunk = body.next().await.expect("the stream goes on").unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(at) = text[end..].find("\r\n\r\n") {
            end += at + 4;
            events += 1;
        }
    }
    sse_chunks(&text[..end])
}

async fn until_cancelled(mock: &MockHandle, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.cancelled_streams() < n {
        assert!(Instant::now() < deadline, "the mock stops generating");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn text_parts(chunks: &[Value]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| c.pointer("/candidates/0/content/parts/0/text"))
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn usage_directives_override_the_reported_counts() {
    let mock = start().await;
    let request = user("hi [mock:usage_completion=5000000] [mock:usage_prompt=11]");
    let (status, body) = generate(&mock, &request).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hi"
    );
    assert_eq!(body["usageMetadata"], usage(11, 5_000_000));

    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(streamed_text(&chunks), "echo: hi");
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["usageMetadata"], usage(11, 5_000_000));
    for chunk in rest {
        assert_eq!(
            chunk["usageMetadata"],
            json!({ "promptTokenCount": 11, "totalTokenCount": 11 })
        );
    }

    let (_, body) = generate(&mock, &user("hi [mock:usage_completion=0]")).await;
    assert_eq!(body["usageMetadata"], usage(PROMPT_WITH_DIRECTIVE, 0));
}

#[tokio::test]
async fn no_usage_sends_no_usage_anywhere() {
    let mock = start().await;
    let request = user("hi [mock:no_usage]");
    let (status, body) = generate(&mock, &request).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hi"
    );
    assert!(body.get("usageMetadata").is_none(), "{body}");

    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(streamed_text(&chunks), "echo: hi");
    assert!(chunks.iter().all(|c| c.get("usageMetadata").is_none()));
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
}

#[tokio::test]
async fn reply_bytes_sends_that_much_filler_past_every_limit() {
    let mock = start().await;
    // 11 bytes: "x " five times and "x", 6 tokens; maxOutputTokens is ignored
    let mut request = user("hi [mock:reply_bytes=11]");
    request["generationConfig"] = json!({ "maxOutputTokens": 2 });
    let (_, body) = generate(&mock, &request).await;
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["parts"][0]["text"], "x x x x x x");
    assert_eq!(candidate["finishReason"], "MAX_TOKENS");
    assert_eq!(body["usageMetadata"], usage(PROMPT_WITH_DIRECTIVE, 6));

    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(text_parts(&chunks), ["x ", "x ", "x ", "x ", "x ", "x"]);
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(last["usageMetadata"], usage(PROMPT_WITH_DIRECTIVE, 6));

    // an even length ends with a whole piece, in the last chunk
    let chunks = stream_chunks(stream(&mock, &user("[mock:reply_bytes=4]")).await).await;
    assert_eq!(text_parts(&chunks), ["x ", "x "]);
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "MAX_TOKENS");
    let chunks = stream_chunks(stream(&mock, &user("[mock:reply_bytes=0]")).await).await;
    assert_eq!(text_parts(&chunks), [""]);

    // the JSON-array framing stays valid
    let response = call(
        &mock,
        "streamGenerateContent",
        &user("[mock:reply_bytes=5]"),
    )
    .await;
    let array: Value = response.json().await.unwrap();
    assert_eq!(text_parts(array.as_array().unwrap()), ["x ", "x ", "x"]);
}

#[tokio::test]
async fn endless_is_a_long_answer_or_a_stream_without_end() {
    let mock = start().await;
    let (_, body) = generate(&mock, &user("[mock:endless]")).await;
    let text = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(text.len(), 1024 * 1024);
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 512 * 1024);

    let chunks = first_chunks(stream(&mock, &user("[mock:endless]")).await, 3000).await;
    assert_eq!(text_parts(&chunks), vec!["x ".to_owned(); chunks.len()]);
    assert!(
        chunks
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    until_cancelled(&mock, 1).await;

    // the JSON array never closes either
    let response = call(&mock, "streamGenerateContent", &user("[mock:endless]")).await;
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while text.len() < 100_000 {
        text.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
    }
    assert!(text.starts_with("[{"));
    assert!(!text.trim_end().ends_with(']'));
    drop(body);
    until_cancelled(&mock, 2).await;
}

/// `[mock:echo_key]`: the `x-goog-api-key` echoed in an error status or in
/// the stream's error chunk.
#[tokio::test]
async fn echo_key_puts_the_presented_key_in_an_error() {
    const KEY: &str = "AIza-OPERATORSECRET-0042-abcdefgh";
    let mock = start().await;
    let send = |method: &str, body: Value| {
        reqwest::Client::new()
            .post(mock.url(&format!("/models/{MODEL}:{method}")))
            .header("x-goog-api-key", KEY)
            .json(&body)
            .send()
    };
    let response = send("generateContent", user("hi [mock:echo_key=23]"))
        .await
        .unwrap();
    let error = expect_error(response, 400, "INVALID_ARGUMENT").await;
    assert_eq!(
        error["message"],
        format!("key {}... is invalid", &KEY[..23])
    );

    let response = send(
        "streamGenerateContent?alt=sse",
        user("hi [mock:echo_key] [mock:stream_error]"),
    )
    .await
    .unwrap();
    let (chunks, _) = read_until_end(response).await;
    let last = chunks.last().unwrap();
    assert_eq!(last["error"]["message"], format!("key {KEY}... is invalid"));
    assert!(chunks.len() >= 2, "content before the error: {chunks:?}");
}
