//! Injected failures, directives, pacing, auth, bad input, cancellation.

use futures::StreamExt as _;

use super::support::*;

#[tokio::test]
async fn failure_status_answers_with_an_openai_error() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::Status(503)),
        ..MockConfig::default()
    })
    .await;
    let response = post(&mock, "/chat/completions", &chat("hi")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_object().unwrap();
    let keys: Vec<&str> = error.keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "message", "param", "type"]);
    assert_eq!(error["type"], "server_error");
    assert!(error["message"].as_str().unwrap().len() > 5);

    mock.set_failure(Some(Failure::Status(429)));
    let response = post(&mock, "/embeddings", &json!({ "model": "e", "input": "x" })).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    mock.set_failure(Some(Failure::Status(500)));
    let response = post(&mock, "/chat/completions", &chat("hi")).await;
    assert_eq!(response.status(), 500);
    assert!(!response.headers().contains_key("retry-after"));

    mock.set_failure(None);
    assert_eq!(
        post(&mock, "/chat/completions", &chat("hi")).await.status(),
        200
    );
    assert_eq!(mock.request_count(), 4);
}

#[tokio::test]
async fn failure_timeout_never_answers() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::Timeout),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = client
        .post(mock.url("/chat/completions"))
        .json(&chat("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn shutdown_cuts_hanging_requests() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::Timeout),
        ..MockConfig::default()
    })
    .await;
    let url = mock.url("/chat/completions");
    let hanging = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&chat("hi"))
            .send()
            .await
    });
    while mock.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    mock.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(hanging.await.unwrap().is_err());
}

#[tokio::test]
async fn drop_stream_after_two_content_chunks() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::DropStreamAfter(2)),
        ..MockConfig::default()
    })
    .await;
    let response = post(
        &mock,
        "/chat/completions",
        &streamed(fixed_conversation(), true),
    )
    .await;
    assert_eq!(response.status(), 200);
    let (data, failed) = read_until_end(response).await;
    assert!(failed, "the body fails instead of ending cleanly");
    assert!(!data.iter().any(|d| d == "[DONE]"));
    let chunks: Vec<Value> = data
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3, "role chunk and exactly 2 content chunks");
    assert_eq!(content_text(&chunks), "echo:");
    assert_eq!(mock.state().dropped_streams(), 1);
    assert_eq!(mock.cancelled_streams(), 0);

    // non-stream: the connection closes without a response
    let error = reqwest::Client::new()
        .post(mock.url("/chat/completions"))
        .json(&chat("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout(), "{error}");
    assert!(error.status().is_none());
}

#[tokio::test]
async fn directives_script_failures_and_are_stripped() {
    let mock = start().await;

    let response = post(&mock, "/chat/completions", &chat("[mock:status=429] hi")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let response = post(&mock, "/chat/completions", &chat("boom [mock:status=502]")).await;
    assert_eq!(response.status(), 502);

    let started = Instant::now();
    let body: Value = post(
        &mock,
        "/chat/completions",
        &chat("wait [mock:sleep_ms=300] for it"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: wait for it"
    );
    // prompt counts what was sent: wait|[|mock|:|sleep_ms... is
    // wait [ mock : sleep _ ms = 300 ] for it = 12, + 3 + 3
    assert_eq!(body["usage"]["prompt_tokens"], 18);

    let response = post(
        &mock,
        "/chat/completions",
        &streamed(chat("[mock:drop_after=1] a b c"), false),
    )
    .await;
    let (data, failed) = read_until_end(response).await;
    assert!(failed);
    assert_eq!(data.len(), 2, "role chunk and one content chunk");

    // slow: 5 tokens/s, "echo: hi" = 3 chunks = 2 gaps of 200 ms
    let started = Instant::now();
    let chunks = stream_chunks(
        post(
            &mock,
            "/chat/completions",
            &streamed(chat("[mock:slow] hi"), false),
        )
        .await,
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(content_text(&chunks), "echo: hi");

    // unknown directives stay in the text
    let body: Value = post(&mock, "/chat/completions", &chat("[mock:nope] x"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: [mock:nope] x"
    );
}

#[tokio::test]
async fn latency_and_ttft_pace_the_stream() {
    let mock = start_with(MockConfig {
        latency: Duration::from_millis(150),
        ttft: Duration::from_millis(250),
        tokens_per_second: Some(20.0),
        ..MockConfig::default()
    })
    .await;
    let started = Instant::now();
    let response = post(
        &mock,
        "/chat/completions",
        &streamed(chat("one two three"), false),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    let chunks = stream_chunks(response).await;
    // ttft + 4 gaps of 50 ms between the 5 tokens
    assert!(started.elapsed() >= Duration::from_millis(150 + 250 + 200));
    assert_eq!(content_text(&chunks), "echo: one two three");
}

#[tokio::test]
async fn api_key_is_required_when_configured() {
    let mock = start_with(MockConfig {
        api_key: Some("sk-test-secret-123".to_owned()),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = mock.url("/chat/completions");

    let response = client.post(&url).json(&chat("hi")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("didn't provide an API key")
    );

    let response = client
        .post(&url)
        .bearer_auth("sk-wrong-key-456")
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sk-wrong-key-456")
    );

    let response = client
        .post(&url)
        .bearer_auth("sk-test-secret-123")
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        mock.request_count(),
        3,
        "rejected requests are recorded too"
    );
}

#[tokio::test]
async fn bad_requests_get_openai_400s() {
    let mock = start().await;
    let client = reqwest::Client::new();
    let response = client
        .post(mock.url("/chat/completions"))
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], Value::Null);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not parse the JSON")
    );
    assert_eq!(mock.last_request().unwrap().body, json!("{\"model\": "));

    let response = post(&mock, "/chat/completions", &json!({ "model": MODEL })).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "messages");
    assert_eq!(body["error"]["code"], "missing_required_parameter");

    let response = post(&mock, "/chat/completions", &json!({ "messages": [] })).await;
    assert_eq!(response.status(), 400);

    let response = post(&mock, "/nope", &json!({})).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Invalid URL (POST /v1/nope)");
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_generation() {
    let mock = start_with(MockConfig {
        tokens_per_second: Some(20.0),
        ..MockConfig::default()
    })
    .await;
    let long = "word ".repeat(200);
    let response = post(&mock, "/chat/completions", &streamed(chat(&long), false)).await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while seen.matches("\n\n").count() < 3 {
        seen.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
    }
    drop(body);
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.cancelled_streams() == 0 {
        assert!(Instant::now() < deadline, "the mock noticed the disconnect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.cancelled_streams(), 1);
    assert_eq!(mock.completed_streams(), 0);
}
