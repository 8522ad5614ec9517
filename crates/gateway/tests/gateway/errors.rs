//! Requests the gateway refuses before calling a provider: each gets the
//! seed's error shape with the right status and, where a field is at fault,
//! `error.metadata.field`.

use axum::body::Body;
use axum::http::{Method, Request, header};

use crate::support::*;

const CHAT: &str = "/api/v1/chat/completions";

pub(crate) fn chat_request(auth: Option<&str>, body: &Value) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(CHAT)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(auth) = auth {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

/// Asserts a 400 naming `field` in `error.metadata.field`; returns the
/// message.
fn assert_field(reply: &Reply, field: &str) -> String {
    let error = assert_error(reply, 400);
    assert_eq!(error["metadata"]["field"], field, "{error}");
    error["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_request_without_a_key_is_a_401() {
    let gw = start().await;
    let body = chat_body("mock/echo", "hi");
    let reply = gw.oneshot(chat_request(None, &body)).await;
    assert_error(&reply, 401);
    for auth in ["Basic dXNlcjpwYXNz", "Bearer ", "sk-tg-v1-nobearer"] {
        let reply = gw.oneshot(chat_request(Some(auth), &body)).await;
        assert_error(&reply, 401);
    }
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn an_unknown_key_is_a_401() {
    let gw = start().await;
    let reply = gw
        .oneshot(chat_request(
            Some(
                "Bearer sk-tg-v1-0000000000000000000000000000000000000000000000000000000000000000",
            ),
            &chat_body("mock/echo", "hi"),
        ))
        .await;
    assert_error(&reply, 401);
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn a_disabled_key_is_a_401_that_says_so() {
    let gw = start().await;
    // A fresh key, disabled before its first use: the gateway caches keys it
    // has seen for a few seconds, so an already-used key would still pass.
    let (secret, hash) = gw.new_key("to-disable").await;
    assert!(
        gw.gateway
            .store()
            .set_api_key_disabled(&hash, true)
            .await
            .unwrap()
    );
    let reply = gw
        .oneshot(chat_request(
            Some(&format!("Bearer {secret}")),
            &chat_body("mock/echo", "hi"),
        ))
        .await;
    let error = assert_error(&reply, 401);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("disabled"), "{message}");
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn a_provisioning_key_cannot_call_models() {
    let gw = start().await;
    let (secret, _) = gw
        .gateway
        .store()
        .create_api_key(
            &gw.account_id,
            tollgate_store::NewApiKey {
                label: "provisioner".into(),
                kind: tollgate_store::KeyKind::Provisioning,
            },
        )
        .await
        .unwrap();
    let reply = gw
        .oneshot(chat_request(
            Some(&format!("Bearer {secret}")),
            &chat_body("mock/echo", "hi"),
        ))
        .await;
    let error = assert_error(&reply, 403);
    assert!(
        error["message"].as_str().unwrap().contains("provisioning"),
        "{error}"
    );
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn malformed_json_is_a_400_with_line_and_column() {
    let gw = start().await;
    let reply = gw
        .post_raw(CHAT, "{\n  \"model\": \"mock/echo\",\n  \"messages\": [\n")
        .await;
    let error = assert_error(&reply, 400);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("line 4") && message.contains("column"),
        "{message}"
    );
    let reply = gw.post_raw(CHAT, "{\"model\": mock}").await;
    let error = assert_error(&reply, 400);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("line 1") && message.contains("column 11"),
        "{message}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400() {
    let gw = start().await;
    let reply = gw.post_raw(CHAT, &b"\xff\xfe\x00{}"[..]).await;
    assert_error(&reply, 400);
    let mut body = br#"{"model":"mock/echo","messages":[{"role":"user","content":""#.to_vec();
    body.extend_from_slice(b"\xc3\x28\"}]}");
    let reply = gw.post_raw(CHAT, body).await;
    assert_error(&reply, 400);
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn invalid_fields_are_400s_that_name_the_field() {
    let gw = start().await;

    let reply = gw
        .chat(&json!({ "model": "mock/echo", "messages": [{ "role": "user", "content": 5 }] }))
        .await;
    assert_field(&reply, "messages[0].content");

    let reply = gw
        .chat(&json!({ "model": "mock/echo", "messages": [{ "role": "wizard", "content": "hi" }] }))
        .await;
    let message = assert_field(&reply, "messages[0].role");
    assert!(message.contains("wizard"), "{message}");

    let reply = gw.chat(&json!({ "model": "mock/echo" })).await;
    assert_field(&reply, "messages");

    let reply = gw
        .chat(&json!({ "model": "mock/echo", "messages": [] }))
        .await;
    assert_field(&reply, "messages");

    let mut body = chat_body("mock/echo", "hi");
    body["temperature"] = json!(3);
    let reply = gw.chat(&body).await;
    let message = assert_field(&reply, "temperature");
    assert!(message.contains('3'), "{message}");

    let mut body = chat_body("mock/echo", "hi");
    body["max_tokens"] = json!("many");
    let reply = gw.chat(&body).await;
    assert_field(&reply, "max_tokens");

    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn an_unknown_model_or_variant_is_a_400_naming_it() {
    let gw = start().await;

    let reply = gw.chat(&chat_body("mock/nope", "hi")).await;
    let message = assert_field(&reply, "model");
    assert!(message.contains("mock/nope"), "{message}");

    let reply = gw.chat(&chat_body("mock/echo:turbo", "hi")).await;
    let message = assert_field(&reply, "model");
    assert!(message.contains("turbo"), "{message}");

    let reply = gw.chat(&chat_body("no-slash", "hi")).await;
    let message = assert_field(&reply, "model");
    assert!(message.contains("no-slash"), "{message}");

    let reply = gw
        .chat(&json!({ "messages": [{ "role": "user", "content": "hi" }] }))
        .await;
    assert_field(&reply, "model");

    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_in_the_error_shape() {
    let gw = start().await; // max_body_bytes = 64 KiB
    let mut body = chat_body("mock/echo", &"a".repeat(80 * 1024));
    body["stream"] = json!(false);
    let reply = gw.chat(&body).await;
    let error = assert_error(&reply, 413);
    assert_eq!(error["metadata"]["error_type"], "payload_too_large");

    // Without a content-length (a chunked upload) the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20)
        .map(|_| Ok(vec![b' '; 8 * 1024]))
        .chain(std::iter::once(Ok(body.to_string().into_bytes())))
        .collect();
    let reply = gw
        .post_raw(CHAT, Body::from_stream(futures::stream::iter(chunks)))
        .await;
    assert_error(&reply, 413);
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_in_the_error_shape() {
    let gw = start().await;
    for path in ["/api/v1/nope", "/nope", "/api/v2/chat/completions"] {
        let reply = gw.get(path).await;
        let error = assert_error(&reply, 404);
        assert!(error["message"].as_str().unwrap().contains(path), "{error}");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_in_the_error_shape() {
    let gw = start().await;
    let reply = gw.get(CHAT).await;
    let error = assert_error(&reply, 405);
    assert!(
        error["message"].as_str().unwrap().contains(CHAT),
        "the message names the full path: {error}"
    );
    let allow = reply.header("allow").unwrap_or_default();
    assert!(allow.contains("POST"), "allow: {allow:?}");

    let request = Request::builder()
        .method(Method::DELETE)
        .uri("/api/v1/models")
        .body(Body::empty())
        .unwrap();
    let reply = gw.oneshot(request).await;
    assert_error(&reply, 405);
}
