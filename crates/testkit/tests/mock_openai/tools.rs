//! Tool calls, plain, streamed and parallel.

use super::support::*;

#[tokio::test]
async fn tool_calls_non_stream() {
    let mock = start().await;
    let text = "What is the weather in Paris? Ask get_weather.";
    let request = with_tools(chat(text), &["search", "get_weather"]);
    let body: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(choice["message"]["refusal"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(is_alphanumeric_id(
        call["id"].as_str().unwrap(),
        "call_",
        24
    ));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({ "query": text }));

    // the id is a function of the conversation
    let again: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["choices"][0]["message"]["tool_calls"][0]["id"],
        call["id"]
    );

    // "tool" as a word picks the first tool; "required" forces one; a named
    // choice picks that one; "none" never calls
    let cases = [
        (chat("use a tool"), json!(null), Some("search")),
        (chat("hello"), json!("required"), Some("search")),
        (
            chat("hello"),
            json!({ "type": "function", "function": { "name": "get_weather" } }),
            Some("get_weather"),
        ),
        (chat("use a tool"), json!("none"), None),
        (chat("hello"), json!("auto"), None),
        (chat("toolbox"), json!(null), None),
    ];
    for (request, choice, expected) in cases {
        let mut request = with_tools(request, &["search", "get_weather"]);
        if !choice.is_null() {
            request["tool_choice"] = choice;
        }
        let body: Value = post(&mock, "/chat/completions", &request)
            .await
            .json()
            .await
            .unwrap();
        let name = body.pointer("/choices/0/message/tool_calls/0/function/name");
        assert_eq!(name.and_then(Value::as_str), expected, "{request}");
    }
}

#[tokio::test]
async fn tool_calls_stream_like_openai() {
    let mock = start().await;
    let request = with_tools(chat("call the search tool"), &["search", "other"]);
    let plain: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    let chunks =
        stream_chunks(post(&mock, "/chat/completions", &streamed(request, true)).await).await;

    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({ "role": "assistant", "content": null })
    );
    let first = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "search");
    assert_eq!(first["function"]["arguments"], "");
    assert!(first["id"].is_string());
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks.last().unwrap()["usage"], plain["usage"]);

    let calls = reassemble_tool_calls(&chunks);
    assert_eq!(calls.len(), 1);
    let (id, name, arguments) = &calls[&0];
    let expected = &plain["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(id, expected["id"].as_str().unwrap());
    assert_eq!(name, "search");
    let arguments: Value = serde_json::from_str(arguments).unwrap();
    assert_eq!(arguments, json!({ "query": "call the search tool" }));
    // fragments are a few characters each
    let fragments: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0/function/arguments"))
        .filter_map(Value::as_str)
        .filter(|a| !a.is_empty())
        .collect();
    assert!(fragments.len() > 3);
    assert!(fragments.iter().all(|f| f.chars().count() <= 4));
}

#[tokio::test]
async fn parallel_tool_calls_interleave() {
    let mock = start().await;
    let text = "run both tools in parallel";
    let request = with_tools(chat(text), &["alpha", "beta", "gamma"]);
    let plain: Value = post(&mock, "/chat/completions", &request)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = plain["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let ids = &plain["choices"][0]["message"]["tool_calls"];
    assert_ne!(ids[0]["id"], ids[1]["id"]);

    let chunks = stream_chunks(
        post(
            &mock,
            "/chat/completions",
            &streamed(request.clone(), false),
        )
        .await,
    )
    .await;
    let order: Vec<u64> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0/index"))
        .filter_map(Value::as_u64)
        .collect();
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 4, "fragments interleave: {order:?}");
    let calls = reassemble_tool_calls(&chunks);
    assert_eq!(calls.len(), 2);
    for (index, (id, name, arguments)) in &calls {
        let expected = &plain["choices"][0]["message"]["tool_calls"][*index as usize];
        assert_eq!(id, expected["id"].as_str().unwrap());
        assert_eq!(name, expected["function"]["name"].as_str().unwrap());
        let arguments: Value = serde_json::from_str(arguments).unwrap();
        assert_eq!(arguments, json!({ "query": text }));
    }

    let mut single = request;
    single["parallel_tool_calls"] = json!(false);
    let body: Value = post(&mock, "/chat/completions", &single)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
