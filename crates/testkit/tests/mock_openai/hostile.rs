//! Hostile upstreams scripted by directives: misreported or missing usage,
//! endless and oversized replies; and `n` choices.

use futures::StreamExt as _;

use super::support::*;

/// "hi" costs 3 + 1 + 3 priming = 7 prompt tokens; "echo: hi" is 3.
const PROMPT: u64 = 7;
const REPLY: u64 = 3;
/// Directives are counted as sent: "hi [mock:usage_completion=0]" is
/// hi|[|mock|:|usage|_|completion|=|0|] = 10 tokens, 16 with the overheads;
/// "hi [mock:reply_bytes=11]" likewise.
const PROMPT_WITH_DIRECTIVE: u64 = 16;

/// Reads a stream until `count` events arrived, then drops it; returns the
/// complete events read.
async fn first_events(response: reqwest::Response, count: usize) -> Vec<String> {
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
    sse_data(&text[..end])
}

/// Waits until the mock noticed `n` abandoned streams.
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
    let request = chat("hi [mock:usage_completion=5000000] [mock:usage_prompt=11]");
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(body["usage"], expected_usage(11, 5_000_000));

    let response = post(&mock, "/chat/completions", &streamed(request, true)).await;
    let chunks = stream_chunks(response).await;
    assert_eq!(content_text(&chunks), "echo: hi");
    assert_eq!(
        chunks.last().unwrap()["usage"],
        expected_usage(11, 5_000_000)
    );

    // only the completion count
    let request = chat("hi [mock:usage_completion=0]");
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["usage"], expected_usage(PROMPT_WITH_DIRECTIVE, 0));
}

#[tokio::test]
async fn no_usage_sends_no_usage_anywhere() {
    let mock = start().await;
    let request = chat("hi [mock:no_usage]");
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi");
    assert!(body.get("usage").is_none(), "{body}");

    // not even the `usage: null` of chunks when the usage chunk was asked for
    let response = post(&mock, "/chat/completions", &streamed(request, true)).await;
    let chunks = stream_chunks(response).await;
    assert_eq!(content_text(&chunks), "echo: hi");
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "{chunks:?}"
    );
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty())
    );

    // legacy completions too
    let request = json!({ "model": MODEL, "prompt": "hi [mock:no_usage]" });
    let body: Value = post(&mock, "/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["text"], "echo: hi");
    assert!(body.get("usage").is_none(), "{body}");
}

#[tokio::test]
async fn reply_bytes_sends_that_much_filler_past_every_limit() {
    let mock = start().await;
    // 11 bytes: "x " five times and "x", 6 tokens; max_tokens is ignored
    let mut request = chat("hi [mock:reply_bytes=11]");
    request["max_tokens"] = json!(2);
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "x x x x x x");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"], expected_usage(PROMPT_WITH_DIRECTIVE, 6));

    let response = post(&mock, "/chat/completions", &streamed(request, true)).await;
    let chunks = stream_chunks(response).await;
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!(pieces, ["x ", "x ", "x ", "x ", "x ", "x"]);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert_eq!(
        chunks.last().unwrap()["usage"],
        expected_usage(PROMPT_WITH_DIRECTIVE, 6)
    );
}

#[tokio::test]
async fn endless_is_a_long_answer_or_a_stream_without_end() {
    let mock = start().await;
    let body: Value = post(&mock, "/chat/completions", &chat("[mock:endless]"))
        .await
        .json()
        .await
        .unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content.len(), 1024 * 1024);
    assert!(content.starts_with("x x "));
    assert_eq!(body["usage"]["completion_tokens"], 512 * 1024);
    let request = chat("[mock:endless] [mock:reply_bytes=4]");
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "x x ");

    // far more chunks than a reply of any limit, until the client leaves
    let mut request = streamed(chat("[mock:endless] [mock:reply_bytes=4]"), true);
    request["max_tokens"] = json!(5);
    let response = post(&mock, "/chat/completions", &request).await;
    let events = first_events(response, 5000).await;
    assert!(events.len() >= 5000);
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    for event in &events[1..] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        assert_eq!(chunk["choices"][0]["delta"]["content"], "x ");
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null);
    }
    until_cancelled(&mock, 1).await;
    assert_eq!(mock.completed_streams(), 0);
}

#[tokio::test]
async fn n_choices_each_get_the_reply_and_usage_counts_them_all() {
    let mock = start().await;
    let mut request = chat("hi");
    request["n"] = json!(3);
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (index, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], index);
        assert_eq!(choice["message"]["content"], "echo: hi");
        assert_eq!(choice["finish_reason"], "stop");
    }
    assert_eq!(body["usage"], expected_usage(PROMPT, 3 * REPLY));

    // streamed: each step has a chunk per choice, in index order
    let response = post(&mock, "/chat/completions", &streamed(request.clone(), true)).await;
    let chunks = stream_chunks(response).await;
    let (usage, chunks) = chunks.split_last().unwrap();
    assert_eq!(usage["usage"], expected_usage(PROMPT, 3 * REPLY));
    assert_eq!(usage["choices"], json!([]));
    let indexes: Vec<u64> = chunks
        .iter()
        .map(|c| c["choices"][0]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 2].repeat(indexes.len() / 3));
    for index in 0..3u64 {
        let mine: Vec<Value> = chunks
            .iter()
            .filter(|c| c["choices"][0]["index"] == index)
            .cloned()
            .collect();
        assert_eq!(content_text(&mine), "echo: hi");
        assert_eq!(mine.last().unwrap()["choices"][0]["finish_reason"], "stop");
    }

    // usage directives report over all choices
    let mut request = chat("hi [mock:usage_completion=10]");
    request["n"] = json!(2);
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"].as_array().unwrap().len(), 2);
    assert_eq!(body["usage"], expected_usage(PROMPT_WITH_DIRECTIVE, 10));

    // OpenAI's bounds: 1..=128
    for n in [json!(0), json!(129), json!("2")] {
        let mut request = chat("hi");
        request["n"] = n.clone();
        let response = post(&mock, "/chat/completions", &request).await;
        assert_eq!(response.status(), 400, "n = {n}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["param"], "n");
    }
    let mut request = chat("hi");
    request["n"] = Value::Null;
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn endless_stream_with_n_choices_round_robins() {
    let mock = start().await;
    let mut request = streamed(chat("[mock:endless]"), false);
    request["n"] = json!(2);
    let response = post(&mock, "/chat/completions", &request).await;
    let events = first_events(response, 1000).await;
    let indexes: Vec<u64> = events
        .iter()
        .map(|e| {
            let chunk: Value = serde_json::from_str(e).unwrap();
            chunk["choices"][0]["index"].as_u64().unwrap()
        })
        .collect();
    assert!(indexes.chunks(2).all(|pair| pair == [0, 1] || pair == [0]));
    until_cancelled(&mock, 1).await;
}

/// `[mock:echo_key]`: a careless upstream echoing the key it was called
/// with, in an error status or in a stream's error event.
#[tokio::test]
async fn echo_key_puts_the_presented_key_in_an_error() {
    const KEY: &str = "sk-op-PROVIDERSECRET-0042-abcdefgh";
    let mock = start().await;
    let send = |body: Value| {
        reqwest::Client::new()
            .post(mock.url("/chat/completions"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };
    // the first 23 characters, in a 400 by default
    let response = send(chat("hi [mock:echo_key=23]")).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        format!("key {}... is invalid", &KEY[..23])
    );
    // the whole key, with the status asked for, streamed or not
    for stream in [false, true] {
        let request = chat("hi [mock:echo_key] [mock:status=503]");
        let request = if stream {
            streamed(request, false)
        } else {
            request
        };
        let response = send(request).await.unwrap();
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], format!("key {KEY}... is invalid"));
    }
    // in the stream's error event, after the first chunk
    let request = streamed(chat("hi [mock:echo_key=9] [mock:stream_error]"), false);
    let (data, _) = read_until_end(send(request).await.unwrap()).await;
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(last["error"]["message"], "key sk-op-PRO... is invalid");
    assert!(data.len() >= 2, "content before the error: {data:?}");
}
