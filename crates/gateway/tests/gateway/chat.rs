//! Non-streamed chat completions: the response the client sees and the
//! request the provider saw.

use crate::support::*;

#[tokio::test]
async fn a_completion_has_the_openrouter_shape() {
    let gw = start().await;
    let reply = gw
        .chat(&json!({
            "model": "mock/echo",
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Hello, world!" }
            ]
        }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = reply.json();

    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("gen-"), "{id}");
    assert_eq!(reply.header("x-generation-id"), Some(id));
    assert_eq!(v["object"], "chat.completion");
    let created = v["created"].as_i64().expect("created is an integer");
    assert!(
        (created - now_unix()).abs() <= 60,
        "created {created} is unix seconds close to now"
    );
    assert_eq!(v["model"], "mock/echo");
    assert_eq!(v["provider"], "Mock Alpha");
    assert_eq!(reply.header("x-tollgate-provider"), Some("mock-alpha"));
    // Mock Alpha's listing says fp8.
    assert_eq!(reply.header("x-tollgate-quantization"), Some("fp8"));
    assert_eq!(reply.header("x-tollgate-attempts"), Some("mock-alpha=ok"));

    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["index"], 0);
    assert_eq!(choices[0]["message"]["role"], "assistant");
    assert_eq!(choices[0]["message"]["content"], "echo: Hello, world!");
    assert_eq!(choices[0]["finish_reason"], "stop");

    // prompt: system "Be brief." = Be, brief, "." = 3 (+3 per message) = 6;
    // user "Hello, world!" = Hello, ",", world, "!" = 4 (+3) = 7;
    // +3 for priming the reply = 16.
    // completion: "echo: Hello, world!" = echo, ":", Hello, ",", world, "!" = 6.
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], 16);
    assert_eq!(usage["completion_tokens"], 6);
    assert_eq!(usage["total_tokens"], 22);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
    // Served by Mock Alpha at $1 / $2 per million prompt / completion
    // tokens: 16 x 0.000001 + 6 x 0.000002 = 0.000028, a number (never null).
    assert_eq!(usage["cost"].as_f64(), Some(0.000028), "{usage}");
}

#[tokio::test]
async fn the_provider_gets_the_upstream_model_and_no_credentials() {
    let gw = start().await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200);

    assert_eq!(gw.request_counts(), [1, 0, 0]);
    let seen = gw.alpha.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.body["model"], "mock/echo");
    assert_eq!(
        seen.body["messages"],
        json!([{ "role": "user", "content": "Hello, world!" }])
    );
    assert!(
        seen.body.get("stream").is_none(),
        "a non-streamed call sends no `stream`: {}",
        seen.body
    );
    assert_eq!(
        seen.header("authorization"),
        None,
        "no provider key is configured, so no Authorization goes upstream"
    );
    // The client's gateway key must never reach a provider.
    let raw = format!("{:?}", seen.headers);
    assert!(!raw.contains(&gw.key), "the client key leaked upstream");
}

#[tokio::test]
async fn a_variant_keeps_the_requested_id_and_calls_the_upstream_id() {
    let gw = start().await;
    let reply = gw.chat(&chat_body("mock/echo:free", "Hi there")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["model"], "mock/echo:free");
    assert_eq!(v["provider"], "Mock Alpha");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: Hi there");
    // prompt 3 + 2 + 3 = 8; completion echo, ":", Hi, there = 4.
    assert_eq!(v["usage"]["prompt_tokens"], 8);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["total_tokens"], 12);

    let seen = gw.alpha.last_request().unwrap();
    assert_eq!(seen.body["model"], "mock/echo-free");
}

#[tokio::test]
async fn openrouter_only_fields_are_not_sent_upstream() {
    let gw = start().await;
    let reply = gw
        .chat(&json!({
            "model": "mock/echo",
            "models": ["mock/echo", "mock/no-tools"],
            "messages": [{ "role": "user", "content": "Hello" }],
            "provider": { "order": ["mock-alpha"], "allow_fallbacks": true },
            "transforms": ["middle-out"],
            "usage": { "include": true },
            "route": "fallback",
            "some_sdk_extra": { "nested": [1, 2, 3] },
            "temperature": 0.5,
            "max_tokens": 50
        }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "echo: Hello"
    );

    let body = gw.alpha.last_request().unwrap().body;
    for key in [
        "provider",
        "models",
        "transforms",
        "usage",
        "route",
        "some_sdk_extra",
    ] {
        assert!(body.get(key).is_none(), "`{key}` was sent upstream: {body}");
    }
    assert_eq!(body["temperature"], 0.5, "{body}");
    assert_eq!(body["max_tokens"], 50, "{body}");
    assert_eq!(body["model"], "mock/echo");
}

#[tokio::test]
async fn a_prompt_becomes_a_user_message() {
    let gw = start().await;
    let reply = gw
        .chat(&json!({ "model": "mock/echo", "prompt": "Say hi" }))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: Say hi");
    // prompt 3 + Say, hi (2) + 3 = 8; completion echo, ":", Say, hi = 4.
    assert_eq!(v["usage"]["prompt_tokens"], 8);
    assert_eq!(v["usage"]["completion_tokens"], 4);

    let body = gw.alpha.last_request().unwrap().body;
    assert_eq!(
        body["messages"],
        json!([{ "role": "user", "content": "Say hi" }])
    );
    assert!(body.get("prompt").is_none(), "{body}");
}

#[tokio::test]
async fn each_response_gets_its_own_generation_id() {
    let gw = start().await;
    let a = gw.chat(&chat_body("mock/echo", "one")).await.json();
    let b = gw.chat(&chat_body("mock/echo", "two")).await.json();
    assert_ne!(a["id"], b["id"]);
}
