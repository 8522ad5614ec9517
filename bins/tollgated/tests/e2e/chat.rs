//! Chat completions through the real binary, JSON and streamed.

use serde_json::{Value, json};
use tollgate_testkit::count_tokens;

use super::daemon::{DEV_API_KEY, Launch};
use super::http::{BodyReader, Event, chat_body, data_events, events, post_chat, streamed_text};

/// The mock's prompt tokens for one user message (3 per message, 3 for
/// priming the reply).
fn prompt_tokens(text: &str) -> u64 {
    3 + count_tokens(text) as u64 + 3
}

fn assert_usage(usage: &Value, prompt: u64, completion: u64) {
    assert_eq!(usage["prompt_tokens"], prompt, "{usage}");
    assert_eq!(usage["completion_tokens"], completion, "{usage}");
    assert_eq!(usage["total_tokens"], prompt + completion, "{usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streamed_chat_has_the_openrouter_shape() {
    let d = Launch::dev().start();
    let text = "hello e2e";
    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", text, false)).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/json");
    let generation = h["x-generation-id"].to_str().unwrap().to_string();
    let slug = h["x-tollgate-provider"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();

    assert!(generation.starts_with("gen-"), "{generation}");
    assert_eq!(body["id"], generation.as_str());
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mock/echo");
    assert!(body["created"].as_i64().is_some_and(|c| c > 0), "{body}");
    let provider = body["provider"].as_str().expect("provider name");
    assert!(
        slug.starts_with("mock-") && provider.starts_with("Mock "),
        "slug {slug:?}, provider {provider:?}"
    );
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: hello e2e");
    assert_eq!(choice["finish_reason"], "stop");
    assert_usage(
        &body["usage"],
        prompt_tokens(text),
        count_tokens("echo: hello e2e") as u64,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chat_ends_with_a_usage_chunk_then_done() {
    let d = Launch::dev().start();
    let text = "hello stream";
    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", text, true)).await;
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let generation = resp.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(generation.starts_with("gen-"), "{generation}");
    let body = BodyReader::new(resp).read_to_end().await;

    let data = data_events(&body);
    assert_eq!(data.last(), Some(&Event::Data("[DONE]".into())), "{body}");
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "the stream must end with `data: [DONE]`: {body:?}"
    );
    let chunks: Vec<Value> = data.iter().filter_map(Event::json).collect();
    assert!(chunks.len() >= 3, "{body}");
    for c in &chunks {
        assert_eq!(c["id"], generation.as_str(), "{c}");
        assert_eq!(c["object"], "chat.completion.chunk", "{c}");
        assert_eq!(c["model"], "mock/echo", "{c}");
        assert!(
            c["provider"]
                .as_str()
                .is_some_and(|p| p.starts_with("Mock ")),
            "{c}"
        );
    }
    assert_eq!(streamed_text(&chunks), "echo: hello stream");

    // The last chunk before [DONE] carries the usage and no choices; no
    // other chunk has usage.
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]), "{last}");
    assert_usage(
        &last["usage"],
        prompt_tokens(text),
        count_tokens("echo: hello stream") as u64,
    );
    assert!(
        rest.iter().all(|c| c["usage"].is_null()),
        "usage before the final chunk: {body}"
    );
    let finish: Vec<&Value> = rest
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str().map(|_| c))
        .collect();
    assert_eq!(finish.len(), 1, "{body}");
    assert_eq!(finish[0]["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_waiting_for_its_first_byte_is_kept_alive_with_comments() {
    // The mock waits before answering: longer than the gateway's keep-alive
    // interval (2 s by default), so the gateway commits to 200 and sends
    // `: OPENROUTER PROCESSING` comments until the first chunk comes.
    let d = Launch::dev().start();
    let resp = post_chat(
        &d.api(),
        DEV_API_KEY,
        &chat_body("mock/echo", "[mock:sleep_ms=4500] patience", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body = BodyReader::new(resp).read_to_end().await;
    let all = events(&body);
    let first_data = all
        .iter()
        .position(|e| matches!(e, Event::Data(_)))
        .unwrap_or_else(|| panic!("no data: {body}"));
    assert!(
        all[..first_data]
            .iter()
            .any(|e| *e == Event::Comment("OPENROUTER PROCESSING".into())),
        "no keep-alive comment before the first chunk: {body:?}"
    );
    let chunks: Vec<Value> = data_events(&body).iter().filter_map(Event::json).collect();
    assert_eq!(streamed_text(&chunks), "echo: patience");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_openrouter_shaped() {
    let d = Launch::dev().start();
    let resp = post_chat(
        &d.api(),
        "sk-tg-v1-wrong",
        &chat_body("mock/echo", "x", false),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 401, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");

    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("acme/nothing", "x", true)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("acme/nothing")),
        "{body}"
    );
}
