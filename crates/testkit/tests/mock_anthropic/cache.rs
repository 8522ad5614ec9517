//! Prompt caching: cache_control breakpoints write, then read, per mock.

use tollgate_testkit::anthropic::cache_prefix_tokens;

use super::support::*;

/// System "You are a helpful assistant." = You|are|a|helpful|assistant|. =
/// 6 tokens, a message of 9, cached; then the messages.
fn cached_system(messages: Value) -> Value {
    json!({
        "model": MODEL,
        "max_tokens": 100,
        "system": [{
            "type": "text",
            "text": "You are a helpful assistant.",
            "cache_control": { "type": "ephemeral" },
        }],
        "messages": messages,
    })
}

#[tokio::test]
async fn cache_is_written_then_read() {
    let mock = start().await;
    let first = cached_system(json!([{ "role": "user", "content": "Hi" }]));
    // prompt: system 9 + user (3 + Hi) 4 + priming 3 = 16; prefix 9
    assert_eq!(cache_prefix_tokens(&first), Some(9));
    let (_, body) = post_json(&mock, &first).await;
    // echo|:|Hi = 3
    assert_eq!(body["usage"], usage(7, 3, 9, 0));
    let (_, body) = post_json(&mock, &first).await;
    assert_eq!(body["usage"], usage(7, 3, 0, 9));

    // a different question after the same system prompt reads it too:
    // user 3 + Hello|there = 5: 9 + 5 + 3 = 17
    let other = cached_system(json!([{ "role": "user", "content": "Hello there" }]));
    let (_, body) = post_json(&mock, &other).await;
    assert_eq!(body["usage"], usage(8, 4, 0, 9));

    // the breakpoint moves on: the longest cached part is read, the rest
    // written. system 9, user Hi 4, assistant 3 + echo|:|Hi = 6, user
    // 3 + More|please = 5 (breakpoint: 24), priming 3: 27
    let longer = cached_system(json!([
        { "role": "user", "content": "Hi" },
        { "role": "assistant", "content": "echo: Hi" },
        { "role": "user", "content": [{
            "type": "text",
            "text": "More please",
            "cache_control": { "type": "ephemeral" },
        }]},
    ]));
    assert_eq!(cache_prefix_tokens(&longer), Some(24));
    let (_, body) = post_json(&mock, &longer).await;
    assert_eq!(body["usage"], usage(3, 4, 15, 9));
    let events = stream_events(post(&mock, &streamed(longer.clone())).await).await;
    assert_eq!(events[0].1["message"]["usage"], usage(3, 1, 0, 24));

    // another model shares nothing
    let mut elsewhere = first.clone();
    elsewhere["model"] = json!("claude-other");
    let (_, body) = post_json(&mock, &elsewhere).await;
    assert_eq!(body["usage"], usage(7, 3, 9, 0));

    // the cache belongs to the mock
    let fresh = start().await;
    let (_, body) = post_json(&fresh, &first).await;
    assert_eq!(body["usage"], usage(7, 3, 9, 0));
    mock.state().clear_prompt_cache();
    let (_, body) = post_json(&mock, &longer).await;
    assert_eq!(body["usage"], usage(3, 4, 24, 0));
}

#[tokio::test]
async fn without_breakpoints_nothing_is_cached() {
    let mock = start().await;
    let mut plain = cached_system(json!([{ "role": "user", "content": "Hi" }]));
    plain["system"][0]
        .as_object_mut()
        .unwrap()
        .remove("cache_control");
    assert_eq!(cache_prefix_tokens(&plain), None);
    for _ in 0..2 {
        let (_, body) = post_json(&mock, &plain).await;
        assert_eq!(body["usage"], usage(16, 3, 0, 0));
    }
    // a breakpoint on a tool definition covers no counted tokens
    let mut tools = with_tools(user("Hi"), &["search"]);
    tools["tools"][0]["cache_control"] = json!({ "type": "ephemeral" });
    assert_eq!(cache_prefix_tokens(&tools), Some(0));
    let (_, body) = post_json(&mock, &tools).await;
    assert_eq!(body["usage"], usage(7, 3, 0, 0));
    // a failed request caches nothing
    let failing = cached_system(json!([{ "role": "user", "content": "[mock:status=500] Hi" }]));
    assert_eq!(post(&mock, &failing).await.status(), 500);
    let mut ok = failing.clone();
    ok["messages"][0]["content"] = json!("Hi");
    let (_, body) = post_json(&mock, &ok).await;
    assert_eq!(body["usage"]["cache_creation_input_tokens"], 9);
}
