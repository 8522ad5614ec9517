//! generateContent / streamGenerateContent: shapes, usage, streaming,
//! limits, thinking, countTokens, models.

use super::support::*;

#[tokio::test]
async fn base_url_is_the_v1beta_prefix() {
    let mock = start().await;
    assert_eq!(mock.dialect(), Dialect::Gemini);
    assert_eq!(mock.base_url(), format!("http://{}/v1beta", mock.addr()));
    assert_eq!(
        mock.url(&format!("/models/{MODEL}:generateContent")),
        format!("{}/models/{MODEL}:generateContent", mock.base_url())
    );
}

#[tokio::test]
async fn non_stream_has_the_gemini_shape_and_hand_counted_usage() {
    let mock = start().await;
    let response = call(&mock, "generateContent", &fixed_conversation()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock-provider"], "mock");
    let mut body: Value = response.json().await.unwrap();
    let id = body["responseId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 22);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    body["responseId"] = json!("ID");
    assert_eq!(
        body,
        json!({
            "candidates": [{
                "content": {
                    "parts": [{ "text": "echo: Hello, world! How are you?" }],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
                "safetyRatings": safety_ratings(),
            }],
            "usageMetadata": usage(20, 10),
            "modelVersion": MODEL,
            "responseId": "ID",
        })
    );
    let recorded = mock.last_request().unwrap();
    assert_eq!(
        recorded.path,
        format!("/v1beta/models/{MODEL}:generateContent")
    );

    // snake_case fields are read the same
    let snake = json!({
        "system_instruction": { "parts": [{ "text": "Be brief." }] },
        "contents": [{ "role": "user", "parts": [{ "text": "Hello, world! How are you?" }] }],
        "generation_config": { "max_output_tokens": 100 },
    });
    let response = reqwest::Client::new()
        .post(mock.url(&format!("/models/{MODEL}:generateContent")))
        .json(&snake)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["usageMetadata"], usage(20, 10));
    assert_eq!(body["modelVersion"], MODEL);
}

#[tokio::test]
async fn images_and_multi_turn_are_counted() {
    let mock = start().await;
    // "Look " + "here." = Look|here|. = 3, one image 85: 3 + 3 + 85 = 91
    // (+3 priming = 94); a non-image file is not counted
    let request = json!({ "contents": [{ "parts": [
        { "text": "Look " },
        { "inlineData": { "mimeType": "image/png", "data": "AAAA" } },
        { "fileData": { "mimeType": "application/pdf", "fileUri": "gs://x/y.pdf" } },
        { "text": "here." },
    ]}]});
    let (status, body) = generate(&mock, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{ "text": "echo: Look here." }])
    );
    // echo|:|Look|here|. = 5
    assert_eq!(body["usageMetadata"], usage(94, 5));

    // user Hi (4), model "echo: Hi" (3 + 3), user Bye (4), priming 3 = 17
    let request = json!({ "contents": [
        { "role": "user", "parts": [{ "text": "Hi" }] },
        { "role": "model", "parts": [{ "text": "echo: Hi" }] },
        { "role": "user", "parts": [{ "text": "Bye" }] },
    ]});
    let (_, body) = generate(&mock, &request).await;
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "echo: Bye"
    );
    assert_eq!(body["usageMetadata"], usage(17, 3));
}

#[tokio::test]
async fn sse_stream_chunks_are_exact() {
    let mock = start().await;
    // 3 + Hi|there + 3 = 8; echo|:|Hi|there = 4
    let chunks = stream_chunks(stream(&mock, &user("Hi there")).await).await;
    assert_eq!(chunks.len(), 4);
    let id = chunks[0]["responseId"].as_str().unwrap();
    let partial = |text: &str| {
        json!({
            "candidates": [{ "content": { "parts": [{ "text": text }], "role": "model" }, "index": 0 }],
            "usageMetadata": { "promptTokenCount": 8, "totalTokenCount": 8 },
            "modelVersion": MODEL,
            "responseId": id,
        })
    };
    assert_eq!(chunks[0], partial("echo"));
    assert_eq!(chunks[1], partial(":"));
    assert_eq!(chunks[2], partial(" Hi"));
    assert_eq!(
        chunks[3],
        json!({
            "candidates": [{
                "content": { "parts": [{ "text": " there" }], "role": "model" },
                "finishReason": "STOP",
                "index": 0,
                "safetyRatings": safety_ratings(),
            }],
            "usageMetadata": usage(8, 4),
            "modelVersion": MODEL,
            "responseId": id,
        })
    );
    assert_eq!(mock.completed_streams(), 1);
    let recorded = mock.last_request().unwrap();
    assert_eq!(recorded.query.as_deref(), Some("alt=sse"));
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let mock = start().await;
    let response = call(&mock, "streamGenerateContent", &user("Hi there")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    let chunks = body.as_array().unwrap();
    assert_eq!(chunks.len(), 4);
    assert_eq!(streamed_text(chunks), "echo: Hi there");
    assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[3]["usageMetadata"], usage(8, 4));
}

#[tokio::test]
async fn reassembled_stream_equals_non_stream_and_reply_for() {
    let mock = start().await;
    for text in ["Hello, world!", "  spaced   out  ", "naïve café — ok?"] {
        let request = user(text);
        let (_, plain) = generate(&mock, &request).await;
        let chunks = stream_chunks(stream(&mock, &request).await).await;
        let expected = plain["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(expected, format!("echo: {text}"));
        assert_eq!(streamed_text(&chunks), expected);
        assert_eq!(
            chunks.last().unwrap()["usageMetadata"],
            plain["usageMetadata"]
        );
        let reply = tollgate_testkit::gemini::reply_for(&request);
        assert_eq!(reply.text(), Some(expected));
    }
}

#[tokio::test]
async fn max_output_tokens_and_stop_sequences() {
    let mock = start().await;
    let mut request = user("Hello, world! Bye.");
    request["generationConfig"] = json!({ "maxOutputTokens": 3 });
    let (_, body) = generate(&mock, &request).await;
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["parts"][0]["text"], "echo: Hello");
    assert_eq!(candidate["finishReason"], "MAX_TOKENS");
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 3);
    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(streamed_text(&chunks), "echo: Hello");
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "MAX_TOKENS"
    );

    request["generationConfig"] = json!({ "stopSequences": ["world"] });
    let (_, body) = generate(&mock, &request).await;
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["parts"][0]["text"], "echo: Hello, ");
    assert_eq!(candidate["finishReason"], "STOP");
    // echo|:|Hello|, = 4
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 4);
}

#[tokio::test]
async fn thoughts_are_counted_and_shown_with_include_thoughts() {
    let mock = start().await;
    let mut request = user("Hi there");
    request["generationConfig"] = json!({ "thinkingConfig": { "includeThoughts": true } });
    let (_, body) = generate(&mock, &request).await;
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([
            { "text": "thinking about: Hi there", "thought": true },
            { "text": "echo: Hi there" },
        ])
    );
    // thinking|about|:|Hi|there = 5 thoughts; echo|:|Hi|there = 4
    assert_eq!(
        body["usageMetadata"],
        json!({
            "promptTokenCount": 8,
            "candidatesTokenCount": 4,
            "totalTokenCount": 17,
            "thoughtsTokenCount": 5,
        })
    );

    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(chunks.len(), 5 + 4);
    let thoughts: Vec<&str> = chunks[..5]
        .iter()
        .map(|c| {
            let part = &c["candidates"][0]["content"]["parts"][0];
            assert_eq!(part["thought"], true);
            part["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(thoughts, ["thinking", " about", ":", " Hi", " there"]);
    assert_eq!(streamed_text(&chunks), "echo: Hi there");
    assert_eq!(
        chunks[8]["usageMetadata"], body["usageMetadata"],
        "the last chunk has the full usage"
    );

    // a budget without includeThoughts: thoughts are counted, not shown
    request["generationConfig"] = json!({ "thinkingConfig": { "thinkingBudget": 1024 } });
    let (_, body) = generate(&mock, &request).await;
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{ "text": "echo: Hi there" }])
    );
    assert_eq!(body["usageMetadata"]["thoughtsTokenCount"], 5);
    assert_eq!(body["usageMetadata"]["totalTokenCount"], 17);
    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(chunks.len(), 4);

    // a zero budget turns thinking off
    request["generationConfig"] = json!({ "thinkingConfig": { "thinkingBudget": 0 } });
    let (_, body) = generate(&mock, &request).await;
    assert_eq!(body["usageMetadata"], usage(8, 4));
}

#[tokio::test]
async fn count_tokens_and_models() {
    let mock = start_with(MockConfig {
        models: vec!["gemini-a".to_owned(), "models/gemini-b".to_owned()],
        ..MockConfig::default()
    })
    .await;
    let post = |path: &str, body: &Value| {
        reqwest::Client::new()
            .post(mock.url(path))
            .json(body)
            .send()
    };
    let body: Value = post("/models/gemini-a:countTokens", &fixed_conversation())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({ "totalTokens": 20 }));
    let mut inner = fixed_conversation();
    inner["model"] = json!("models/gemini-a");
    let wrapped = json!({ "generateContentRequest": inner });
    let body: Value = post("/models/gemini-a:countTokens", &wrapped)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({ "totalTokens": 20 }));

    let body: Value = reqwest::get(mock.url("/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = body["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["models/gemini-a", "models/gemini-b"]);
    let methods = &body["models"][0]["supportedGenerationMethods"];
    assert!(
        methods
            .as_array()
            .unwrap()
            .contains(&json!("generateContent"))
    );
    let model: Value = reqwest::get(mock.url("/models/gemini-b"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(model["name"], "models/gemini-b");
    let response = reqwest::get(mock.url("/models/gemini-z")).await.unwrap();
    expect_error(response, 404, "NOT_FOUND").await;

    let (status, _) = generate(&mock, &user("hi")).await;
    assert_eq!(status, 404);
    let error = expect_error(
        call(&mock, "generateContent", &user("hi")).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(
        error["message"],
        format!(
            "models/{MODEL} is not found for API version v1beta, or is not supported for \
             generateContent. Call ListModels to see the list of available models and their \
             supported methods."
        )
    );

    let open = start().await;
    generate(&open, &user("hi")).await;
    let body: Value = reqwest::get(open.url("/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["models"][0]["name"], format!("models/{MODEL}"));
}
