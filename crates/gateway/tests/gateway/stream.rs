//! Streamed chat completions over a real socket: framing, usage, keep-alive
//! comments, failures after the response was committed and client
//! disconnects.

use std::time::Duration;

use futures::StreamExt as _;

use crate::support::*;

/// Reads a whole streamed response: asserts a 200 event stream and returns
/// its `X-Generation-Id` and parsed events.
async fn read_stream(response: reqwest::Response) -> (String, Vec<Event>) {
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let id = response.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = response.text().await.unwrap();
    (id, parse_sse(&body))
}

#[tokio::test]
async fn a_stream_is_framed_like_openrouter_and_ends_with_usage() {
    let gw = start().await;
    let request = chat_body("mock/echo", "Hello, world!");
    let plain = gw.chat(&request).await.json();

    let response = gw.chat_http(&streamed(request)).await;
    assert_eq!(
        response.headers()["x-tollgate-provider"].to_str().unwrap(),
        "mock-alpha"
    );
    assert_eq!(
        response.headers()["x-tollgate-quantization"]
            .to_str()
            .unwrap(),
        "fp8"
    );
    let (id, events) = read_stream(response).await;
    assert!(id.starts_with("gen-"), "{id}");
    assert_ne!(id, plain["id"], "a new generation has a new id");

    assert!(
        !events.iter().any(|e| matches!(e, Event::Comment(_))),
        "no keep-alive when the first chunk comes at once: {events:?}"
    );
    assert_eq!(events.last(), Some(&Event::Done), "[DONE] is last");
    assert_eq!(
        events.iter().filter(|e| **e == Event::Done).count(),
        1,
        "one [DONE]"
    );
    let chunks = chunks(&events);
    assert!(chunks.len() >= 3, "{chunks:?}");
    for c in &chunks {
        assert_eq!(c["id"], id.as_str(), "same id in every chunk: {c}");
        assert_eq!(c["object"], "chat.completion.chunk", "{c}");
        assert_eq!(c["model"], "mock/echo", "{c}");
        assert_eq!(c["provider"], "Mock Alpha", "{c}");
        assert!(c.get("error").is_none(), "{c}");
        let created = c["created"].as_i64().unwrap();
        assert!((created - now_unix()).abs() <= 60, "{c}");
    }

    assert_eq!(
        text_of(&chunks),
        plain["choices"][0]["message"]["content"].as_str().unwrap(),
        "the streamed text is the non-streamed text"
    );

    let with_usage: Vec<usize> = chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| c.get("usage").is_some_and(|u| !u.is_null()))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        with_usage,
        vec![chunks.len() - 1],
        "exactly one chunk carries usage, the last one before [DONE]"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], plain["usage"], "same usage as non-streamed");
    // prompt: 3 + Hello, ",", world, "!" (4) + 3 = 10; completion 6.
    assert_eq!(last["usage"]["prompt_tokens"], 10);
    assert_eq!(last["usage"]["completion_tokens"], 6);
    assert_eq!(last["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        last["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );
    // Mock Alpha: 10 x 0.000001 + 6 x 0.000002 = 0.000022, from the final
    // usage the provider reported.
    assert_eq!(last["usage"]["cost"].as_f64(), Some(0.000022), "{last}");

    let finished: Vec<usize> = chunks
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c["choices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ch| !ch["finish_reason"].is_null())
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        finished,
        vec![chunks.len() - 2],
        "one finish_reason chunk, right before the usage chunk"
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );

    let upstream = gw.alpha.last_request().unwrap().body;
    assert_eq!(upstream["stream"], true);
    assert_eq!(upstream["model"], "mock/echo");
}

#[tokio::test]
async fn keepalive_comments_come_before_a_slow_first_chunk() {
    let mut options = Options {
        keepalive_secs: 0.1,
        ..Options::default()
    };
    // Far above the keep-alive interval, so the response is committed
    // before the first chunk even on a slow machine.
    options.mocks[0].latency = Duration::from_millis(800);
    let gw = start_with(options).await;

    let (id, events) = read_stream(
        gw.chat_http(&streamed(chat_body("mock/echo", "Hello, world!")))
            .await,
    )
    .await;

    assert_eq!(
        events.first(),
        Some(&Event::Comment(String::from(KEEPALIVE))),
        "the body starts with a keep-alive comment: {events:?}"
    );
    let first_data = events
        .iter()
        .position(|e| !matches!(e, Event::Comment(_)))
        .unwrap();
    assert!(
        events[..first_data]
            .iter()
            .all(|e| *e == Event::Comment(String::from(KEEPALIVE)))
    );
    assert!(
        !events[first_data..]
            .iter()
            .any(|e| matches!(e, Event::Comment(_))),
        "comments only before the first data event: {events:?}"
    );
    assert_eq!(events.last(), Some(&Event::Done));
    let chunks = chunks(&events);
    assert!(chunks.iter().all(|c| c["id"] == id.as_str()));
    assert_eq!(text_of(&chunks), "echo: Hello, world!");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    // prompt 3 + 4 + 3 = 10; completion 6.
    assert_eq!(last["usage"]["total_tokens"], 16);
}

#[tokio::test]
async fn failing_after_the_response_was_committed_ends_with_one_error_chunk() {
    let mut options = Options {
        keepalive_secs: 0.1,
        ..Options::default()
    };
    options.mocks[0].latency = Duration::from_millis(600);
    for mock in &mut options.mocks {
        mock.failure = Some(Failure::Status(503));
    }
    let gw = start_with(options).await;

    let (id, events) = read_stream(
        gw.chat_http(&streamed(chat_body("mock/echo", "Hello")))
            .await,
    )
    .await;
    assert_eq!(gw.request_counts(), [1, 1, 1], "every provider was tried");
    assert!(matches!(events.first(), Some(Event::Comment(_))));

    let chunks = chunks(&events);
    assert_eq!(chunks.len(), 1, "one error chunk: {events:?}");
    assert!(
        !events.contains(&Event::Done),
        "the stream ends with the error chunk: {events:?}"
    );
    let c = &chunks[0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["object"], "chat.completion.chunk");
    assert_eq!(c["model"], "mock/echo");
    assert_eq!(c["error"]["code"], 502, "{c}");
    assert!(!c["error"]["message"].as_str().unwrap().is_empty(), "{c}");
    assert_eq!(c["choices"][0]["finish_reason"], "error", "{c}");
    assert!(
        c.get("provider").is_none(),
        "no provider served, so none is named (and never as \"\"): {c}"
    );
    assert_eq!(c["error"]["metadata"]["provider_name"], "Mock Gamma", "{c}");
}

#[tokio::test]
async fn a_stream_fails_over_before_its_first_chunk() {
    let gw = start().await;
    gw.alpha.set_failure(Some(Failure::Status(503)));
    let response = gw
        .chat_http(&streamed(chat_body("mock/echo", "Hello")))
        .await;
    assert_eq!(
        response.headers()["x-tollgate-attempts"].to_str().unwrap(),
        "mock-alpha=503,mock-beta=ok"
    );
    assert_eq!(
        response.headers()["x-tollgate-provider"].to_str().unwrap(),
        "mock-beta"
    );
    let (_, events) = read_stream(response).await;
    let chunks = chunks(&events);
    assert_eq!(text_of(&chunks), "echo: Hello");
    assert!(chunks.iter().all(|c| c["provider"] == "Mock Beta"));
    assert_eq!(events.last(), Some(&Event::Done));
    assert_eq!(gw.request_counts(), [1, 1, 0]);
}

#[tokio::test]
async fn a_stream_is_never_retried_after_its_first_chunk() {
    let gw = start().await;
    let (id, events) = read_stream(
        gw.chat_http(&streamed(chat_body(
            "mock/echo",
            "[mock:drop_after=2] one two three four",
        )))
        .await,
    )
    .await;
    assert!(!events.contains(&Event::Done), "{events:?}");
    let chunks = chunks(&events);
    let (error, content): (Vec<&Value>, Vec<&Value>) =
        chunks.iter().partition(|c| c.get("error").is_some());

    // "echo: one two three four" streams as echo, ":", " one", ...; the mock
    // cuts the connection after two content chunks.
    let pieces: Vec<&str> = content
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(pieces, vec!["echo", ":"], "{chunks:?}");

    assert_eq!(error.len(), 1, "{chunks:?}");
    assert!(
        std::ptr::eq(error[0], chunks.last().unwrap()),
        "the error chunk is last"
    );
    let e = error[0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["error"]["code"], 502, "{e}");
    assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(e["choices"][0]["finish_reason"], "error");
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage chunk after an error: {chunks:?}"
    );

    assert_eq!(
        gw.request_counts(),
        [1, 0, 0],
        "no other provider was called"
    );
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_stream() {
    let gw = start().await;
    let response = gw
        .chat_http(&streamed(chat_body(
            "mock/echo",
            &format!("[mock:slow] {}", "lorem ipsum dolor sit amet ".repeat(8)),
        )))
        .await;
    assert_eq!(response.status(), 200);

    // Read until two content pieces are in, then hang up.
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    let content_pieces = |seen: &str| {
        seen.split("\n\n")
            .filter_map(|block| block.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            })
            .count()
    };
    while let Some(bytes) = body.next().await {
        seen.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        if content_pieces(&seen) >= 2 {
            break;
        }
    }
    assert!(content_pieces(&seen) >= 2, "{seen}");
    drop(body);

    assert!(
        eventually(Duration::from_secs(5), || gw.alpha.cancelled_streams() == 1).await,
        "the mock saw the stream cancelled (cancelled: {}, completed: {})",
        gw.alpha.cancelled_streams(),
        gw.alpha.completed_streams()
    );
    assert_eq!(gw.alpha.completed_streams(), 0);
    assert_eq!(gw.request_counts(), [1, 0, 0]);
}
