//! functionCall parts: plain, forced, parallel, streamed, round trip.

use super::support::*;

fn calls(body: &Value) -> Vec<(String, Value)> {
    body["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("functionCall"))
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["args"].clone()))
        .collect()
}

#[tokio::test]
async fn function_calls_non_stream() {
    let mock = start().await;
    let text = "What is the weather in Paris? Ask get_weather.";
    let request = with_tools(user(text), &["search", "get_weather"]);
    let (status, body) = generate(&mock, &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"],
        json!({
            "parts": [{ "functionCall": { "name": "get_weather", "args": { "query": text } } }],
            "role": "model",
        })
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
    // What|is|the|weather|in|Paris|?|Ask|get|_|weather|. = 12: 3 + 12 + 3
    // = 18; get|_|weather = 3 + {"query":"<12>"} = 20: 23
    assert_eq!(body["usageMetadata"], usage(18, 23));

    let mode = |mode: &str, allowed: &[&str]| json!({ "functionCallingConfig": { "mode": mode, "allowedFunctionNames": allowed } });
    let cases = [
        ("use a tool", json!(null), Some("search")),
        ("hello", mode("ANY", &[]), Some("search")),
        ("hello", mode("ANY", &["get_weather"]), Some("get_weather")),
        (
            "hello",
            mode("ANY", &["get_weather", "search"]),
            Some("search"),
        ),
        ("use a tool", mode("NONE", &[]), None),
        ("hello", mode("AUTO", &[]), None),
    ];
    for (text, config, expected) in cases {
        let mut request = with_tools(user(text), &["search", "get_weather"]);
        if !config.is_null() {
            request["toolConfig"] = config;
        }
        let (_, body) = generate(&mock, &request).await;
        let name = calls(&body).first().map(|(name, _)| name.clone());
        assert_eq!(name.as_deref(), expected, "{request}");
    }
    // several allowed names narrow the tools: the first allowed one is used
    let mut request = with_tools(user("hello"), &["alpha", "beta", "gamma"]);
    request["toolConfig"] = mode("ANY", &["gamma", "beta"]);
    let (_, body) = generate(&mock, &request).await;
    assert_eq!(calls(&body)[0].0, "beta");
}

#[tokio::test]
async fn parallel_calls_arrive_whole_in_one_chunk() {
    let mock = start().await;
    let text = "run both tools in parallel";
    let request = with_tools(user(text), &["alpha", "beta", "gamma"]);
    let (_, plain) = generate(&mock, &request).await;
    let expected = vec![
        ("alpha".to_owned(), json!({ "query": text })),
        ("beta".to_owned(), json!({ "query": text })),
    ];
    assert_eq!(calls(&plain), expected);

    let chunks = stream_chunks(stream(&mock, &request).await).await;
    assert_eq!(chunks.len(), 1, "the calls and the finish in one chunk");
    assert_eq!(calls(&chunks[0]), expected);
    assert_eq!(chunks[0]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[0]["usageMetadata"], plain["usageMetadata"]);

    // with thoughts shown, they stream first
    let mut thinking = request;
    thinking["generationConfig"] = json!({ "thinkingConfig": { "includeThoughts": true } });
    let chunks = stream_chunks(stream(&mock, &thinking).await).await;
    assert!(chunks.len() > 1);
    assert_eq!(
        chunks[0]["candidates"][0]["content"]["parts"][0]["thought"],
        true
    );
    assert_eq!(calls(chunks.last().unwrap()), expected);
}

#[tokio::test]
async fn function_response_round_trip() {
    let mock = start().await;
    let request = |response: Value| {
        with_tools(
            json!({ "contents": [
                { "role": "user", "parts": [{ "text": "weather tool please" }] },
                { "role": "model", "parts": [
                    { "functionCall": { "name": "get_weather", "args": {} } },
                ]},
                { "role": "user", "parts": [
                    { "functionResponse": { "name": "get_weather", "response": response } },
                ]},
            ]}),
            &["get_weather"],
        )
    };
    let (status, body) = generate(&mock, &request(json!({ "output": "22C" }))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{ "text": "echo: tool result: 22C" }])
    );
    // user 3 + weather|tool|please = 6; model 3 + get|_|weather (3) + {|}
    // (2) = 8; response 3 + 22C (1) = 4; priming 3: 21.
    // echo|:|tool|result|:|22C = 6
    assert_eq!(body["usageMetadata"], usage(21, 6));

    // any other response object is echoed as compact JSON
    let (_, body) = generate(&mock, &request(json!({ "temp": 22, "unit": "C" }))).await;
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        r#"echo: tool result: {"temp":22,"unit":"C"}"#
    );
    // {|"|temp|"|:|22|,|"|unit|"|:|"|C|"|} = 15: 6 + 8 + (3 + 15) + 3 = 35
    assert_eq!(body["usageMetadata"]["promptTokenCount"], 35);
}
