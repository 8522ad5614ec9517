//! Injected failures and directives, in Anthropic's shapes.

use super::support::*;

#[tokio::test]
async fn failure_status_renders_anthropic_error_types() {
    let mock = start().await;
    let cases = [
        (400, "invalid_request_error", false),
        (401, "authentication_error", false),
        (403, "permission_error", false),
        (404, "not_found_error", false),
        (413, "request_too_large", false),
        (429, "rate_limit_error", true),
        (500, "api_error", false),
        (502, "api_error", false),
        (503, "api_error", true),
        (529, "overloaded_error", true),
    ];
    for (status, kind, retry) in cases {
        mock.set_failure(Some(Failure::Status(status)));
        let response = post(&mock, &user("hi")).await;
        assert_eq!(
            response.headers().contains_key("retry-after"),
            retry,
            "{status}"
        );
        let message = expect_error(response, status, kind).await;
        assert!(!message.is_empty());
        if status == 529 {
            assert_eq!(message, "Overloaded");
        }
    }
    mock.set_failure(None);
    assert_eq!(post(&mock, &user("hi")).await.status(), 200);
}

#[tokio::test]
async fn directives_script_statuses_and_are_stripped() {
    let mock = start().await;
    let response = post(&mock, &user("[mock:status=529] hi")).await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        expect_error(response, 529, "overloaded_error").await,
        "Overloaded"
    );
    let (_, body) = post_json(&mock, &user("wait [mock:sleep_ms=50] for it")).await;
    assert_eq!(body["content"][0]["text"], "echo: wait for it");
}

#[tokio::test]
async fn drop_stream_after_two_content_deltas() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::DropStreamAfter(2)),
        ..MockConfig::default()
    })
    .await;
    let response = post(&mock, &streamed(fixed_conversation())).await;
    assert_eq!(response.status(), 200);
    let (events, failed) = read_until_end(response).await;
    assert!(failed, "the body fails instead of ending cleanly");
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
        ]
    );
    assert_eq!(streamed_text(&events), "echo:");
    assert_eq!(mock.state().dropped_streams(), 1);

    // non-stream: the connection closes without a response
    let error = request(&mock, "/messages", &user("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "{error}");
    assert!(error.status().is_none());

    // the directive does the same on a healthy mock
    let healthy = start().await;
    let response = post(&healthy, &streamed(user("[mock:drop_after=0] a b"))).await;
    let (events, failed) = read_until_end(response).await;
    assert!(failed);
    assert_eq!(names(&events), ["message_start", "ping"]);
}

#[tokio::test]
async fn stream_error_directive_sends_an_error_event() {
    let mock = start().await;
    let response = post(&mock, &streamed(user("[mock:stream_error] one two"))).await;
    assert_eq!(response.status(), 200);
    let (events, failed) = read_until_end(response).await;
    assert!(!failed, "the stream ends cleanly after the error event");
    assert_eq!(
        names(&events),
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "error",
        ]
    );
    assert_eq!(
        events[4].1,
        json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } })
    );
    assert_eq!(streamed_text(&events), "echo");

    let response = post(&mock, &streamed(user("[mock:stream_error=0] x"))).await;
    let (events, _) = read_until_end(response).await;
    assert_eq!(names(&events), ["message_start", "ping", "error"]);

    // non-stream: the overload error status
    let response = post(&mock, &user("[mock:stream_error] x")).await;
    assert_eq!(
        expect_error(response, 529, "overloaded_error").await,
        "Overloaded"
    );
}

#[tokio::test]
async fn timeout_and_pacing() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::Timeout),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = client
        .post(mock.url("/messages"))
        .header("anthropic-version", VERSION)
        .json(&user("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");

    // [mock:slow]: 5 tokens/s, "echo: hi" = 3 deltas = 2 gaps of 200 ms
    let mock = start().await;
    let started = Instant::now();
    let events = stream_events(post(&mock, &streamed(user("[mock:slow] hi"))).await).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(streamed_text(&events), "echo: hi");
}
