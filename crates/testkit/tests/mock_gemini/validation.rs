//! Requests the Gemini API refuses, refused the same way; API keys.

use super::support::*;

async fn refused(mock: &MockHandle, request: &Value) -> String {
    let error = expect_error(
        call(mock, "generateContent", request).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    error["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn contents_and_roles() {
    let mock = start().await;
    let message = refused(&mock, &json!({ "contents": [] })).await;
    assert_eq!(
        message,
        "* GenerateContentRequest.contents: contents is not specified\n"
    );
    let message = refused(&mock, &json!({})).await;
    assert!(message.contains("contents is not specified"));
    for role in ["assistant", "system", "function"] {
        let request = json!({ "contents": [{ "role": role, "parts": [{ "text": "x" }] }] });
        assert_eq!(
            refused(&mock, &request).await,
            "Please use a valid role: user, model."
        );
    }
    let request = json!({ "contents": [{ "role": "user", "parts": [] }] });
    assert!(
        refused(&mock, &request)
            .await
            .contains("contents.parts must not be empty")
    );
    let response = reqwest::Client::new()
        .post(mock.url(&format!("/models/{MODEL}:generateContent")))
        .header("content-type", "application/json")
        .body("{\"contents\": ")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "INVALID_ARGUMENT").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON payload received.")
    );
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let mock = start().await;
    let mut request = user("hi");
    request["temperature"] = json!(0.5);
    assert_eq!(
        refused(&mock, &request).await,
        "Invalid JSON payload received. Unknown name \"temperature\": Cannot find field."
    );
    let mut request = user("hi");
    request["generationConfig"] = json!({ "max_tokens": 5 });
    assert_eq!(
        refused(&mock, &request).await,
        "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': \
         Cannot find field."
    );
    let mut request = user("hi");
    request["generationConfig"] = json!({ "thinkingConfig": { "budget": 5 } });
    assert!(
        refused(&mock, &request)
            .await
            .contains("generation_config.thinking_config")
    );
    // both spellings of known fields pass
    let mut request = user("hi");
    request["generationConfig"] =
        json!({ "temperature": 0.5, "top_p": 0.9, "topK": 3, "response_mime_type": "text/plain" });
    request["safety_settings"] = json!([]);
    let (status, body) = generate(&mock, &request).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn function_turns_must_pair() {
    let mock = start().await;
    let call = json!({ "functionCall": { "name": "f", "args": {} } });
    let response = json!({ "functionResponse": { "name": "f", "response": { "output": "ok" } } });
    let conversation = |turns: Vec<(&str, Vec<Value>)>| {
        let contents: Vec<Value> = turns
            .into_iter()
            .map(|(role, parts)| json!({ "role": role, "parts": parts }))
            .collect();
        with_tools(json!({ "contents": contents }), &["f"])
    };
    let text = |t: &str| json!({ "text": t });
    let message = refused(
        &mock,
        &conversation(vec![
            ("user", vec![text("hi")]),
            ("user", vec![response.clone()]),
        ]),
    )
    .await;
    assert_eq!(
        message,
        "Please ensure that function response turn comes immediately after a function call turn."
    );
    let message = refused(
        &mock,
        &conversation(vec![
            ("user", vec![text("hi")]),
            ("model", vec![text("let me see")]),
            ("model", vec![call.clone()]),
        ]),
    )
    .await;
    assert_eq!(
        message,
        "Please ensure that function call turn comes immediately after a user turn or after a \
         function response turn."
    );
    let message = refused(
        &mock,
        &conversation(vec![
            ("user", vec![text("hi")]),
            ("model", vec![call.clone(), call.clone()]),
            ("user", vec![response.clone()]),
        ]),
    )
    .await;
    assert!(
        message.contains("number of function response parts"),
        "{message}"
    );
    let (status, body) = generate(
        &mock,
        &conversation(vec![
            ("user", vec![text("hi")]),
            ("model", vec![call.clone(), call]),
            ("user", vec![response.clone(), response]),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "echo: tool result: ok"
    );
}

#[tokio::test]
async fn api_key_in_header_or_query() {
    let mock = start_with(MockConfig {
        api_key: Some("AIza-mock-key".to_owned()),
        ..MockConfig::default()
    })
    .await;
    let url = mock.url(&format!("/models/{MODEL}:generateContent"));
    let client = reqwest::Client::new();
    let response = client.post(&url).json(&user("hi")).send().await.unwrap();
    let error = expect_error(response, 403, "PERMISSION_DENIED").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Method doesn't allow unregistered callers")
    );
    let response = client
        .post(&url)
        .header("x-goog-api-key", "AIza-wrong")
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "INVALID_ARGUMENT").await;
    assert_eq!(
        error["message"],
        "API key not valid. Please pass a valid API key."
    );
    assert_eq!(error["details"][0]["reason"], "API_KEY_INVALID");
    assert_eq!(
        error["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    let response = client
        .post(&url)
        .header("x-goog-api-key", "AIza-mock-key")
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .post(format!("{url}?key=AIza-mock-key"))
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client
        .post(format!("{url}?key=nope"))
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // a bearer key is not Gemini's way
    let response = client
        .post(&url)
        .bearer_auth("AIza-mock-key")
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn unknown_methods_and_paths_are_404s() {
    let mock = start().await;
    expect_error(
        call(&mock, "frobnicate", &user("hi")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    let response = reqwest::Client::new()
        .post(mock.url("/chat/completions"))
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    expect_error(response, 404, "NOT_FOUND").await;
}
