//! Signals: SIGTERM and SIGINT stop the daemon with status 0, letting
//! in-flight streams finish first.

use serde_json::Value;

use super::daemon::{DEV_API_KEY, EXIT_TIMEOUT, Launch};
use super::http::{
    BodyReader, Event, chat_body, data_events, post_chat, post_chat_with, streamed_text,
    unbounded_client,
};

/// A prompt the mock streams at 5 tokens a second: the answer (`echo:` and
/// the words) takes a few seconds, long enough to signal mid-stream.
const SLOW_WORDS: &str = "one two three four five six seven eight nine ten";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_stream_lets_it_finish_then_exits_0() {
    let mut d = Launch::dev().start();
    let prompt = format!("[mock:slow] {SLOW_WORDS}");
    let resp = post_chat(
        &d.api(),
        DEV_API_KEY,
        &chat_body("mock/echo", &prompt, true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = BodyReader::new(resp);
    // The stream is under way: the first content token has arrived.
    body.read_until("\"content\":\"echo\"").await;
    assert!(!body.text().contains("[DONE]"), "too late to test draining");

    d.signal("TERM");

    // The in-flight stream is drained to its end, not cut.
    let text = body.read_to_end().await;
    let data = data_events(&text);
    assert_eq!(data.last(), Some(&Event::Data("[DONE]".into())), "{text}");
    let chunks: Vec<Value> = data.iter().filter_map(Event::json).collect();
    assert_eq!(streamed_text(&chunks), format!("echo: {SLOW_WORDS}"));
    assert!(chunks.last().unwrap()["usage"].is_object(), "{text}");

    let status = d.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{status}\n{}", d.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_on_an_idle_server_exits_0() {
    let mut d = Launch::dev().start();
    d.signal("INT");
    let status = d.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{status}\n{}", d.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_the_listening_line_exits_0() {
    // A supervisor may signal as soon as it sees the address. Repeat a few
    // times: the signal handlers must be in place before the line is out.
    for _ in 0..5 {
        let mut d = Launch::dev().start();
        d.signal("TERM");
        let status = d.wait_exit(EXIT_TIMEOUT);
        assert_eq!(status.code(), Some(0), "{status}\n{}", d.stderr());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_idle_keep_alive_connection_exits_0() {
    let mut d = Launch::dev().start();
    // reqwest keeps the connection open after this request.
    let client = super::http::client();
    let resp = client
        .post(format!("{}/chat/completions", d.api()))
        .bearer_auth(DEV_API_KEY)
        .json(&chat_body("mock/echo", "keep me", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.unwrap();
    d.signal("TERM");
    let status = d.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "{status}\n{}", d.stderr());
    drop(client);
}

/// Shutdown should not wait without bound for a stream that runs for
/// minutes: a drain deadline should cut it and exit. Today `serve` waits
/// for every in-flight response, so this hangs until the stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_for_a_stream_of_minutes() {
    // The drain deadline cuts the stream still running after it.
    let mut d = Launch::dev().args(["--shutdown-grace", "2"]).start();
    let words = vec!["w"; 1500].join(" "); // about 5 minutes at 5 tokens/s
    let prompt = format!("[mock:slow] {words}");
    // A client that reads as long as the server sends, as a live one would.
    let client = unbounded_client();
    let body = chat_body("mock/echo", &prompt, true);
    let resp = post_chat_with(&client, &d.api(), DEV_API_KEY, &body).await;
    assert_eq!(resp.status(), 200);
    let mut body = BodyReader::new(resp);
    body.read_until("\"content\":\"echo\"").await;
    d.signal("TERM");
    let reader = tokio::spawn(body.drain());
    let status = tokio::task::block_in_place(|| d.wait_exit(EXIT_TIMEOUT * 2));
    assert_eq!(status.code(), Some(0), "{status}\n{}", d.stderr());
    reader.abort();
}
