//! Provider failures: failing over on retryable errors, stopping on the
//! request's own faults, and the errors a client gets when nothing is left.

use crate::support::*;

#[tokio::test]
async fn a_503_fails_over_to_the_next_provider() {
    let gw = start().await;
    gw.alpha.set_failure(Some(Failure::Status(503)));
    let reply = gw.chat(&chat_body("mock/echo", "Hello")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-alpha=503,mock-beta=ok")
    );
    assert_eq!(reply.header("x-tollgate-provider"), Some("mock-beta"));
    let v = reply.json();
    assert_eq!(v["provider"], "Mock Beta");
    assert_eq!(v["model"], "mock/echo");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: Hello");
    assert_eq!(gw.request_counts(), [1, 1, 0]);
    assert_eq!(
        gw.beta.last_request().unwrap().body["model"],
        "mock/echo",
        "beta is called with its own upstream id"
    );
}

#[tokio::test]
async fn a_400_from_a_provider_is_returned_without_trying_others() {
    let gw = start().await;
    let reply = gw
        .chat(&chat_body("mock/echo", "[mock:status=400] Hello"))
        .await;
    let error = assert_error(&reply, 400);
    assert_eq!(error["metadata"]["provider_name"], "Mock Alpha", "{error}");
    assert_eq!(
        gw.request_counts(),
        [1, 0, 0],
        "no other provider was called"
    );
}

#[tokio::test]
async fn every_provider_failing_is_a_502() {
    let gw = start().await;
    for mock in gw.mocks() {
        mock.set_failure(Some(Failure::Status(503)));
    }
    let reply = gw.chat(&chat_body("mock/echo", "Hello")).await;
    let error = assert_error(&reply, 502);
    assert_eq!(error["metadata"]["provider_name"], "Mock Gamma", "{error}");
    assert_eq!(gw.request_counts(), [1, 1, 1]);
    // Every provider was tried: the attempts are listed, and SDKs are told
    // not to retry (they would multiply the upstream load).
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-alpha=503,mock-beta=503,mock-gamma=503")
    );
    assert_eq!(reply.header("x-should-retry"), Some("false"));
}

#[tokio::test]
async fn an_upstream_429_is_a_429_with_retry_after() {
    let gw = start().await;
    let reply = gw
        .chat(&chat_body("mock/echo", "[mock:status=429] Hello"))
        .await;
    let error = assert_error(&reply, 429);
    assert_eq!(error["metadata"]["error_type"], "rate_limit_exceeded");
    let retry_after = reply.header("retry-after").expect("retry-after is sent");
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "retry-after is whole seconds: {retry_after:?}"
    );
    // A 429 is retryable, so every provider was asked before giving up;
    // the client may retry after `retry-after`.
    assert_eq!(gw.request_counts(), [1, 1, 1]);
    assert_eq!(reply.header("x-should-retry"), None);
}

#[tokio::test]
async fn a_streamed_request_that_fails_before_the_first_byte_gets_a_real_status() {
    let gw = start().await;
    for mock in gw.mocks() {
        mock.set_failure(Some(Failure::Status(503)));
    }
    let response = gw
        .chat_http(&streamed(chat_body("mock/echo", "Hello")))
        .await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    let reply = Reply {
        status: axum::http::StatusCode::from_u16(status).unwrap(),
        headers,
        body,
    };
    assert_error(&reply, 502);
}
