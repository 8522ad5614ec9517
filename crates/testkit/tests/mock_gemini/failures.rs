//! Injected failures and directives, in Google's shapes.

use super::support::*;

#[tokio::test]
async fn failure_status_renders_google_errors() {
    let mock = start().await;
    let cases = [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ];
    for (code, status) in cases {
        mock.set_failure(Some(Failure::Status(code)));
        let error = expect_error(
            call(&mock, "generateContent", &user("hi")).await,
            code,
            status,
        )
        .await;
        if code == 429 {
            assert_eq!(
                error["details"],
                json!([{ "@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s" }])
            );
        } else {
            assert!(error.get("details").is_none(), "{error}");
        }
    }
    mock.set_failure(Some(Failure::Status(503)));
    let error = expect_error(
        call(&mock, "generateContent", &user("hi")).await,
        503,
        "UNAVAILABLE",
    )
    .await;
    assert_eq!(
        error,
        json!({
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        })
    );
    mock.set_failure(None);
    assert_eq!(generate(&mock, &user("hi")).await.0, 200);

    let error = expect_error(
        call(&mock, "generateContent", &user("[mock:status=429] hi")).await,
        429,
        "RESOURCE_EXHAUSTED",
    )
    .await;
    assert_eq!(error["code"], 429);
}

#[tokio::test]
async fn drop_stream_after_two_chunks() {
    let mock = start_with(MockConfig {
        failure: Some(Failure::DropStreamAfter(2)),
        ..MockConfig::default()
    })
    .await;
    let response = stream(&mock, &fixed_conversation()).await;
    assert_eq!(response.status(), 200);
    let (chunks, failed) = read_until_end(response).await;
    assert!(failed, "the body fails instead of ending cleanly");
    assert_eq!(chunks.len(), 2);
    assert_eq!(streamed_text(&chunks), "echo:");
    assert!(
        chunks
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    assert_eq!(mock.state().dropped_streams(), 1);

    // the last chunk never goes out when a drop is scripted
    let healthy = start().await;
    let (chunks, failed) =
        read_until_end(stream(&healthy, &user("[mock:drop_after=9] a")).await).await;
    assert!(failed);
    // echo|:|a = 3 pieces: the first 2
    assert_eq!(chunks.len(), 2);

    // non-stream and embeddings: the connection closes without a response
    let error = reqwest::Client::new()
        .post(mock.url(&format!("/models/{MODEL}:generateContent")))
        .json(&user("hi"))
        .send()
        .await
        .unwrap_err();
    assert!(error.status().is_none());
    let error = reqwest::Client::new()
        .post(mock.url(&format!("/models/{MODEL}:embedContent")))
        .json(&json!({ "content": { "parts": [{ "text": "x" }] } }))
        .send()
        .await
        .unwrap_err();
    assert!(error.status().is_none());
}

#[tokio::test]
async fn stream_error_directive_sends_an_error_chunk() {
    let mock = start().await;
    let response = stream(&mock, &user("[mock:stream_error] one two")).await;
    let (chunks, failed) = read_until_end(response).await;
    assert!(!failed);
    assert_eq!(chunks.len(), 2);
    assert_eq!(streamed_text(&chunks[..1]), "echo");
    assert_eq!(
        chunks[1],
        json!({ "error": {
            "code": 503,
            "message": "The model is overloaded. Please try again later.",
            "status": "UNAVAILABLE",
        } })
    );

    // JSON-array framing stays valid JSON
    let response = call(
        &mock,
        "streamGenerateContent",
        &user("[mock:stream_error=0] x"),
    )
    .await;
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert_eq!(body[0]["error"]["status"], "UNAVAILABLE");
    let response = call(
        &mock,
        "streamGenerateContent",
        &user("[mock:stream_error=2] x y"),
    )
    .await;
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 3);

    // non-stream: the overload status
    expect_error(
        call(&mock, "generateContent", &user("[mock:stream_error] x")).await,
        503,
        "UNAVAILABLE",
    )
    .await;
}

#[tokio::test]
async fn slow_directive_paces_the_chunks() {
    let mock = start().await;
    // 5 tokens/s, "echo: hi" = 3 chunks = 2 gaps of 200 ms (the last chunk
    // is paced too)
    let started = Instant::now();
    let chunks = stream_chunks(stream(&mock, &user("[mock:slow] hi")).await).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(streamed_text(&chunks), "echo: hi");
}
