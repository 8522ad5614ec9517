//! Requests the Messages API refuses, refused the same way.

use super::support::*;

async fn refused(mock: &MockHandle, request: &Value) -> String {
    expect_error(post(mock, request).await, 400, "invalid_request_error").await
}

#[tokio::test]
async fn required_fields() {
    let mock = start().await;
    let mut request = user("hi");
    request.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(refused(&mock, &request).await, "max_tokens: Field required");
    request["max_tokens"] = json!(0);
    assert!(refused(&mock, &request).await.starts_with("max_tokens:"));
    request["max_tokens"] = json!("many");
    assert!(refused(&mock, &request).await.starts_with("max_tokens:"));

    let mut request = user("hi");
    request.as_object_mut().unwrap().remove("model");
    assert_eq!(refused(&mock, &request).await, "model: Field required");

    let request = json!({ "model": MODEL, "max_tokens": 10 });
    assert_eq!(refused(&mock, &request).await, "messages: Field required");
    let request = json!({ "model": MODEL, "max_tokens": 10, "messages": [] });
    assert!(
        refused(&mock, &request)
            .await
            .contains("at least one message")
    );

    let response = reqwest::Client::new()
        .post(mock.url("/messages"))
        .header("anthropic-version", VERSION)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "invalid_request_error").await;
}

#[tokio::test]
async fn anthropic_version_header_is_required() {
    let mock = start().await;
    let response = reqwest::Client::new()
        .post(mock.url("/messages"))
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    let message = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(message, "anthropic-version: header is required");
    let response = reqwest::Client::new()
        .get(mock.url("/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn roles_must_start_with_user_and_alternate() {
    let mock = start().await;
    let conversation = |roles: &[&str]| {
        let messages: Vec<Value> = roles
            .iter()
            .map(|role| json!({ "role": role, "content": "text" }))
            .collect();
        json!({ "model": MODEL, "max_tokens": 10, "messages": messages })
    };
    let message = refused(&mock, &conversation(&["user", "user"])).await;
    assert_eq!(
        message,
        "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \
         \"user\" roles in a row"
    );
    let message = refused(&mock, &conversation(&["user", "assistant", "assistant"])).await;
    assert!(
        message.contains("multiple \"assistant\" roles"),
        "{message}"
    );
    let message = refused(&mock, &conversation(&["assistant", "user"])).await;
    assert_eq!(
        message,
        "messages: first message must use the \"user\" role"
    );
    let message = refused(&mock, &conversation(&["system", "user"])).await;
    assert_eq!(
        message,
        "messages.0.role: Input should be 'user' or 'assistant'"
    );
    let (status, _) = post_json(&mock, &conversation(&["user", "assistant", "user"])).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tool_results_must_answer_the_tool_uses_just_before() {
    let mock = start().await;
    let request = |assistant: Value, results: Value| {
        json!({
            "model": MODEL,
            "max_tokens": 10,
            "messages": [
                { "role": "user", "content": "weather?" },
                { "role": "assistant", "content": assistant },
                { "role": "user", "content": results },
            ],
        })
    };
    let tool_use = |id: &str| json!({ "type": "tool_use", "id": id, "name": "w", "input": {} });
    let result = |id: &str| json!({ "type": "tool_result", "tool_use_id": id, "content": "ok" });

    let message = refused(
        &mock,
        &request(json!("no tools here"), json!([result("toolu_x")])),
    )
    .await;
    assert_eq!(
        message,
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x. \
         Each `tool_result` block must have a corresponding `tool_use` block in the previous \
         message."
    );
    let message = refused(
        &mock,
        &request(
            json!([tool_use("toolu_a"), tool_use("toolu_b")]),
            json!([result("toolu_a")]),
        ),
    )
    .await;
    assert_eq!(
        message,
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: \
         toolu_b. Each `tool_use` block must have a corresponding `tool_result` block in the \
         next message."
    );
    let (status, body) = post_json(
        &mock,
        &request(
            json!([tool_use("toolu_a"), tool_use("toolu_b")]),
            json!([result("toolu_a"), result("toolu_b")]),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // the last result is echoed
    assert_eq!(body["content"][0]["text"], "echo: tool result: ok");
}

#[tokio::test]
async fn thinking_rules() {
    let mock = start().await;
    let thinking = |budget: u64, max_tokens: u64| {
        let mut request = user("hi");
        request["max_tokens"] = json!(max_tokens);
        request["thinking"] = json!({ "type": "enabled", "budget_tokens": budget });
        request
    };
    let message = refused(&mock, &thinking(500, 2048)).await;
    assert_eq!(
        message,
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    );
    let message = refused(&mock, &thinking(1024, 1024)).await;
    assert!(message.starts_with("`max_tokens` must be greater than `thinking.budget_tokens`"));
    let mut forced = with_tools(thinking(1024, 2048), &["search"]);
    forced["tool_choice"] = json!({ "type": "any" });
    let message = refused(&mock, &forced).await;
    assert_eq!(
        message,
        "Thinking may not be enabled when tool_choice forces tool use."
    );
    let mut cold = thinking(1024, 2048);
    cold["temperature"] = json!(0.2);
    let message = refused(&mock, &cold).await;
    assert!(
        message.starts_with("`temperature` may only be set to 1"),
        "{message}"
    );
    cold["temperature"] = json!(1.0);
    assert_eq!(post(&mock, &cold).await.status(), 200);
    let mut missing = user("hi");
    missing["thinking"] = json!({ "type": "enabled" });
    assert_eq!(
        refused(&mock, &missing).await,
        "thinking.enabled.budget_tokens: Field required"
    );
}

#[tokio::test]
async fn api_key_is_required_when_configured() {
    let mock = start_with(MockConfig {
        api_key: Some("sk-ant-secret".to_owned()),
        ..MockConfig::default()
    })
    .await;
    let send = |key: Option<&'static str>, bearer: bool| {
        let mut builder = request(&mock, "/messages", &user("hi"));
        if let Some(key) = key {
            builder = if bearer {
                builder.bearer_auth(key)
            } else {
                builder.header("x-api-key", key)
            };
        }
        builder.send()
    };
    let message = expect_error(
        send(None, false).await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    assert_eq!(message, "x-api-key header is required");
    let message = expect_error(
        send(Some("sk-ant-wrong"), false).await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    assert_eq!(message, "invalid x-api-key");
    // an OpenAI-style bearer key is not Anthropic's header
    let response = send(Some("sk-ant-secret"), true).await.unwrap();
    assert_eq!(response.status(), 401);
    let response = send(Some("sk-ant-secret"), false).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.request_count(), 4);
}

#[tokio::test]
async fn unknown_paths_are_anthropic_404s() {
    let mock = start().await;
    let response = request(&mock, "/chat/completions", &user("hi"))
        .send()
        .await
        .unwrap();
    let message = expect_error(response, 404, "not_found_error").await;
    assert_eq!(message, "Not Found");
}
