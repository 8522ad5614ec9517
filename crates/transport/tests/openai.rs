//! The OpenAI-compatible adapter against a real socket: wiremock for
//! request/response exchanges, a hand-rolled TCP server where the test needs
//! to see the connection itself (stalls, cancellation).

// Helpers outside `#[test]` functions unwrap too; clippy.toml only covers the latter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tollgate_schema::chat::{ChatChunk, ChatRequest};
use tollgate_schema::completions::CompletionRequest;
use tollgate_schema::embeddings::{EmbeddingRequest, EmbeddingVector};
use tollgate_transport::{
    ChatCall, CompletionCall, EmbedCall, ErrorKind, HttpClient, HttpClientConfig, OpenAiProvider,
    Provider, ProviderError, ProviderSettings, StreamAccumulator,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-provider-secret-0123456789";

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/fixtures/openai/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn client() -> HttpClient {
    HttpClient::new(HttpClientConfig::default()).unwrap()
}

fn provider_at(base_url: &str) -> OpenAiProvider {
    let settings = ProviderSettings::new("mock-alpha", "Mock Alpha", base_url).with_api_key(KEY);
    OpenAiProvider::new(settings, client())
}

fn hello() -> Arc<ChatRequest> {
    Arc::new(
        serde_json::from_value(json!({
            "model": "mock/echo",
            "messages": [{ "role": "user", "content": "Hello" }],
            "provider": { "sort": "price" }
        }))
        .unwrap(),
    )
}

async fn collect(stream: tollgate_transport::ChunkStream) -> Vec<Result<ChatChunk, ProviderError>> {
    stream.map(|r| r.map(|c| *c)).collect().await
}

fn sse(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

// ---- non-streamed ------------------------------------------------------

#[tokio::test]
async fn chat_sends_the_translated_body_and_parses_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("chat_completion.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;

    let provider = provider_at(&format!("{}/v1/", server.uri()));
    let request: ChatRequest = serde_json::from_slice(&fixture("chat_request_full.json")).unwrap();
    let completion = provider
        .chat(ChatCall::new("gpt-4o-2024-08-06", request))
        .await
        .unwrap();

    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let sent: Value = received[0].body_json().unwrap();
    assert_eq!(sent, fixture_json("chat_request_full.upstream.json"));

    assert_eq!(completion.provider.as_deref(), Some("Mock Alpha"));
    assert_eq!(completion.id, "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG");
    assert_eq!(
        completion.choices[0].message.content.as_deref(),
        Some("It is 18C and cloudy in Paris.")
    );
    assert_eq!(completion.choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = completion.usage.unwrap();
    assert_eq!(usage.total_tokens, 1163);
    assert_eq!(usage.cached_tokens(), 1024);
}

#[tokio::test]
async fn no_key_means_no_authorization_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("chat_completion.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let provider = OpenAiProvider::new(
        ProviderSettings::new("local", "Local", server.uri()),
        client(),
    );
    provider.chat(ChatCall::new("m", hello())).await.unwrap();
    let received = server.received_requests().await.unwrap();
    assert!(received[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn byok_key_replaces_the_providers_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer sk-caller-own-key-123"))
        .respond_with(
            ResponseTemplate::new(401).set_body_raw(fixture("error_401.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let provider = provider_at(&server.uri());
    let err = provider
        .chat(ChatCall::new("m", hello()).with_api_key("sk-caller-own-key-123"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status { status: 401 });
    assert!(err.is_byok());
    assert_eq!(err.error_type(), "authentication");
    assert_eq!(
        err.to_error_body().metadata.unwrap()["is_byok"],
        json!(true)
    );
}

#[tokio::test]
async fn two_xx_with_garbage_is_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>hi</html>", "text/html"))
        .mount(&server)
        .await;
    let err = provider_at(&server.uri())
        .chat(ChatCall::new("m", hello()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.is_retryable());
    assert_eq!(err.client_status(), 502);
    assert_eq!(err.raw(), Some("<html>hi</html>"));
}

// ---- upstream errors ---------------------------------------------------

struct Case {
    status: u16,
    body: Vec<u8>,
    content_type: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    retryable: bool,
    client_status: u16,
    error_type: &'static str,
    message_starts: &'static str,
    retry_after: Option<Duration>,
}

async fn check_status_case(case: Case, stream: bool) {
    let server = MockServer::start().await;
    let mut response =
        ResponseTemplate::new(case.status).set_body_raw(case.body.clone(), case.content_type);
    for (k, v) in &case.headers {
        response = response.insert_header(*k, *v);
    }
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(response)
        .mount(&server)
        .await;
    let provider = provider_at(&format!("{}/v1", server.uri()));
    let call = ChatCall::new("m", hello());
    let err = if stream {
        match provider.chat_stream(call).await {
            Ok(_) => panic!("{}: a stream for an error status", case.status),
            Err(e) => e,
        }
    } else {
        provider.chat(call).await.unwrap_err()
    };
    let s = case.status;
    assert_eq!(err.kind(), ErrorKind::Status { status: s }, "{s}");
    assert_eq!(err.is_retryable(), case.retryable, "{s} retryable");
    assert_eq!(err.client_status(), case.client_status, "{s} client status");
    assert_eq!(err.error_type(), case.error_type, "{s} error type");
    assert!(
        err.message().starts_with(case.message_starts),
        "{s}: {}",
        err.message()
    );
    // The 401 body shows the key as OpenAI does (`sk-test-****cret`): its
    // first 8 characters are a run of the key, so they are masked.
    let want_raw = String::from_utf8_lossy(&case.body).replace(&KEY[..8], "[REDACTED]");
    assert_eq!(err.raw(), Some(want_raw.as_str()), "{s} raw");
    assert_eq!(err.retry_after(), case.retry_after, "{s} retry after");
    assert_eq!(err.provider_slug(), "mock-alpha");
    assert_eq!(err.provider_name(), "Mock Alpha");

    let body = err.to_error_body();
    assert_eq!(body.code.status(), Some(case.client_status));
    let meta = body.metadata.unwrap();
    assert_eq!(meta["provider_name"], json!("Mock Alpha"));
    // The operator's credential failures are not shown to the caller.
    let shown_raw = if matches!(s, 401 | 403) {
        Value::Null
    } else {
        json!(String::from_utf8_lossy(&case.body))
    };
    assert_eq!(meta["raw"], shown_raw, "{s} raw shown");
    assert_eq!(meta["error_type"], json!(case.error_type));

    for shown in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{provider:?}"),
    ] {
        assert!(!shown.contains(KEY), "key leaked: {shown}");
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            status: 400,
            body: fixture("error_400_context_length.json"),
            content_type: "application/json",
            headers: vec![],
            retryable: false,
            client_status: 400,
            error_type: "context_length_exceeded",
            message_starts: "This model's maximum context length is 128000 tokens.",
            retry_after: None,
        },
        Case {
            status: 401,
            body: fixture("error_401.json"),
            content_type: "application/json",
            headers: vec![],
            retryable: true,
            client_status: 502,
            error_type: "provider_unavailable",
            message_starts: "Incorrect API key provided",
            retry_after: None,
        },
        Case {
            status: 429,
            body: fixture("error_429.json"),
            content_type: "application/json",
            headers: vec![("retry-after", "2")],
            retryable: true,
            client_status: 429,
            error_type: "rate_limit_exceeded",
            message_starts: "Rate limit reached for gpt-4o",
            retry_after: Some(Duration::from_secs(2)),
        },
        Case {
            status: 500,
            body: fixture("error_500.json"),
            content_type: "application/json",
            headers: vec![],
            retryable: true,
            client_status: 502,
            error_type: "provider_unavailable",
            message_starts: "The server had an error",
            retry_after: None,
        },
        Case {
            status: 503,
            body: fixture("error_503.html"),
            content_type: "text/html",
            headers: vec![("retry-after-ms", "1500"), ("retry-after", "2")],
            retryable: true,
            client_status: 502,
            error_type: "provider_unavailable",
            message_starts: "<html> <head><title>503 Service Temporarily Unavailable",
            retry_after: Some(Duration::from_millis(1500)),
        },
    ]
}

#[tokio::test]
async fn upstream_error_statuses_are_classified() {
    for case in cases() {
        check_status_case(case, false).await;
    }
}

#[tokio::test]
async fn upstream_error_statuses_fail_a_stream_before_it_starts() {
    for case in cases() {
        check_status_case(case, true).await;
    }
}

#[tokio::test]
async fn a_key_echoed_by_the_upstream_is_redacted() {
    let server = MockServer::start().await;
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","code":"invalid_api_key"}}}}"#
    );
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let err = provider_at(&server.uri())
        .chat(ChatCall::new("m", hello()))
        .await
        .unwrap_err();
    let everything = format!(
        "{err} {err:?} {}",
        serde_json::to_string(&err.to_error_body()).unwrap()
    );
    assert!(!everything.contains(KEY), "{everything}");
    assert!(err.message().contains("[REDACTED]"));
}

#[tokio::test]
async fn part_of_a_key_echoed_by_the_upstream_is_redacted() {
    // An upstream that echoes the first 23 characters of the key, in a 400
    // (which reaches the client with its message and raw body).
    let server = MockServer::start().await;
    let partial = &KEY[..23];
    let body = format!(r#"{{"error":{{"message":"key {partial}... is invalid"}}}}"#);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    let err = provider_at(&server.uri())
        .chat(ChatCall::new("m", hello()))
        .await
        .unwrap_err();
    let everything = format!(
        "{err} {err:?} {}",
        serde_json::to_string(&err.to_error_body()).unwrap()
    );
    for run in partial.as_bytes().windows(8) {
        let run = std::str::from_utf8(run).unwrap();
        // (the word is also in `provider_name` and the error's Display)
        if run != "provider" {
            assert!(!everything.contains(run), "{run:?} in {everything}");
        }
    }
    assert_eq!(err.message(), "key [REDACTED]... is invalid");
}

// ---- streaming ---------------------------------------------------------

#[tokio::test]
async fn streaming_success_assembles_text_and_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("accept", "text/event-stream"))
        .respond_with(sse(fixture("chat_stream.sse")))
        .mount(&server)
        .await;
    let provider = provider_at(&format!("{}/v1", server.uri()));
    let stream = provider
        .chat_stream(ChatCall::new("gpt-4o-2024-08-06", hello()))
        .await
        .unwrap();
    let items = collect(stream).await;

    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(
        sent,
        json!({
            "model": "gpt-4o-2024-08-06",
            "messages": [{ "role": "user", "content": "Hello" }],
            "stream": true,
            "stream_options": { "include_usage": true }
        })
    );

    assert_eq!(items.len(), 7, "{items:?}");
    let mut acc = StreamAccumulator::new();
    for item in &items {
        let chunk = item.as_ref().unwrap();
        assert_eq!(chunk.provider.as_deref(), Some("Mock Alpha"));
        acc.push(chunk);
    }
    assert_eq!(acc.content(0), Some("It is 18°C and cloudy ☁️."));
    assert_eq!(acc.finish_reason(0), Some("stop"));
    let usage = acc.usage().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (19, 7, 26)
    );
    // The usage chunk is the last one and has no choices.
    assert!(items[6].as_ref().unwrap().choices.is_empty());
}

#[tokio::test]
async fn streamed_tool_calls_reassemble_per_index() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(fixture("chat_stream_tools.sse")))
        .mount(&server)
        .await;
    let stream = provider_at(&server.uri())
        .chat_stream(ChatCall::new("m", hello()))
        .await
        .unwrap();
    let mut acc = StreamAccumulator::new();
    for item in collect(stream).await {
        acc.push(&item.unwrap());
    }
    let done = acc.finish();
    let choice = &done.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let calls = choice.message.tool_calls.as_ref().unwrap();
    let got: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.function.name.as_str(),
                c.function.arguments.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("call_a", "get_weather", r#"{"city": "Paris"}"#),
            ("call_b", "get_time", r#"{"tz": "Europe/Paris"}"#),
        ]
    );
    for c in calls {
        let _: Value = serde_json::from_str(&c.function.arguments).unwrap();
    }
    assert_eq!(done.usage.unwrap().total_tokens, 123);
}

#[tokio::test]
async fn stream_ending_without_done_ends_with_interrupted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(fixture("chat_stream_truncated.sse")))
        .mount(&server)
        .await;
    let stream = provider_at(&server.uri())
        .chat_stream(ChatCall::new("m", hello()))
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(items[..3].iter().all(Result::is_ok));
    let err = items[3].as_ref().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::StreamInterrupted { after_output: true }
    );
    assert!(!err.is_retryable());
    assert_eq!(err.client_status(), 502);
    let mut acc = StreamAccumulator::new();
    for item in items.iter().flatten() {
        acc.push(item);
    }
    assert_eq!(acc.content(0), Some("Once upon a time"));
}

#[tokio::test]
async fn stream_with_json_content_type_is_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("chat_completion.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let err = match provider_at(&server.uri())
        .chat_stream(ChatCall::new("m", hello()))
        .await
    {
        Ok(_) => panic!("a JSON answer is not a stream"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(
        err.message().contains("application/json"),
        "{}",
        err.message()
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn error_event_before_any_chunk_keeps_its_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(
            b": OPENROUTER PROCESSING\n\ndata: {\"error\":{\"code\":429,\"message\":\"Upstream rate limited\"}}\n\n"
                .to_vec(),
        ))
        .mount(&server)
        .await;
    let stream = provider_at(&server.uri())
        .chat_stream(ChatCall::new("m", hello()))
        .await
        .unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status { status: 429 });
    assert!(err.is_retryable());
    assert_eq!(err.message(), "Upstream rate limited");
}

// ---- timeouts and connection failures -----------------------------------

#[tokio::test]
async fn slow_upstream_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("chat_completion.json"), "application/json")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let settings = ProviderSettings::new("slow", "Slow", server.uri())
        .with_timeout(Duration::from_millis(300));
    let provider = OpenAiProvider::new(settings, client());

    let err = provider
        .chat(ChatCall::new("m", hello()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
    assert_eq!(err.client_status(), 408);
    assert_eq!(err.error_type(), "timeout");

    // A stream's head is bounded the same way.
    let err = match provider.chat_stream(ChatCall::new("m", hello())).await {
        Ok(_) => panic!("no head arrived in time"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Timeout);

    // And a call's own deadline is honoured when shorter.
    let provider = provider_at(&server.uri());
    let started = std::time::Instant::now();
    let err = provider
        .chat(ChatCall::new("m", hello()).with_deadline(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn refused_connection_is_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = provider_at(&format!("http://{addr}/v1"));
    let err = provider
        .chat(ChatCall::new("m", hello()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.client_status(), 502);
    assert_eq!(err.error_type(), "provider_unavailable");
    // The URL is for the log (the detail), never for the client.
    let url = format!("http://{addr}/v1/chat/completions");
    assert!(err.detail().unwrap().contains(&url), "{err:?}");
    let body = serde_json::to_string(&err.to_error_body()).unwrap();
    assert!(!body.contains(&addr.to_string()), "{body}");
    assert!(!err.to_string().contains(&addr.to_string()), "{err}");
    assert!(!format!("{err:?}").contains(KEY));

    let err = match provider.chat_stream(ChatCall::new("m", hello())).await {
        Ok(_) => panic!("nothing listens"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert!(err.detail().unwrap().contains(&url), "{err:?}");
    assert!(!err.message().contains(&addr.to_string()), "{err}");
}

/// A server that answers one request with `head`, then `chunks` (each
/// followed by a pause), then keeps the connection open writing keep-alive
/// comments every 20 ms until the peer goes away; it reports when the
/// connection closes.
async fn streaming_server(
    first_chunks: Vec<&'static str>,
    keep_alive: bool,
) -> (String, tokio::sync::oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        // Read the request head and body (content-length bytes).
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        loop {
            let n = sock.read(&mut tmp).await.unwrap();
            buf.extend_from_slice(&tmp[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        sock.write_all(head.as_bytes()).await.unwrap();
        let write_chunk = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
        for c in first_chunks {
            sock.write_all(write_chunk(c).as_bytes()).await.unwrap();
        }
        if keep_alive {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if sock
                    .write_all(write_chunk(": ping\n\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        } else {
            // Stall: say nothing, but notice when the peer hangs up.
            let mut one = [0u8; 1];
            let _ = sock.read(&mut one).await;
        }
        let _ = closed_tx.send(());
    });
    (format!("http://{addr}"), closed_rx)
}

const ONE_CHUNK: &str =
    "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let (base, closed) = streaming_server(vec![ONE_CHUNK], true).await;
    let provider = provider_at(&base);
    let mut stream = provider
        .chat_stream(ChatCall::new("m", hello()))
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.choices[0].delta.content.as_deref(), Some("Hi"));
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("upstream connection still open after the stream was dropped")
        .unwrap();
}

#[tokio::test]
async fn idle_upstream_stream_is_cut() {
    let config = HttpClientConfig {
        read_timeout: Duration::from_millis(300),
        ..HttpClientConfig::default()
    };
    let client = HttpClient::new(config).unwrap();

    // Silence after a chunk: interrupted, not retryable.
    let (base, _closed) = streaming_server(vec![ONE_CHUNK], false).await;
    let provider = OpenAiProvider::new(ProviderSettings::new("a", "A", base), client.clone());
    let items = collect(
        provider
            .chat_stream(ChatCall::new("m", hello()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(items.len(), 2);
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::StreamInterrupted { after_output: true }
    );
    assert!(!err.is_retryable());

    // Silence before any chunk: a timeout, retryable.
    let (base, _closed) = streaming_server(vec![": hello\n\n"], false).await;
    let provider = OpenAiProvider::new(ProviderSettings::new("a", "A", base), client);
    let items = collect(
        provider
            .chat_stream(ChatCall::new("m", hello()))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(items.len(), 1);
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.is_retryable());
}

// ---- other endpoints ---------------------------------------------------

#[tokio::test]
async fn list_models_parses_a_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("listing.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let listing = provider_at(&format!("{}/v1", server.uri()))
        .list_models()
        .await
        .unwrap();
    assert_eq!(listing.data.len(), 2);
    assert_eq!(listing.data[0].id, "acme/chat-large");
    assert_eq!(listing.data[0].pricing.prompt.to_string(), "0.0000025");
    assert_eq!(listing.data[1].output_modalities, ["embeddings"]);
}

#[tokio::test]
async fn list_models_errors_name_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{ "id": "gpt-4o", "object": "model", "created": 1, "owned_by": "openai" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/broken/models"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let url = format!("{}/v1/models", server.uri());
    let err = provider_at(&format!("{}/v1", server.uri()))
        .list_models()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    assert!(err.message().contains(&url), "{}", err.message());

    let url = format!("{}/broken/models", server.uri());
    let err = provider_at(&format!("{}/broken", server.uri()))
        .list_models()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status { status: 404 });
    assert!(err.message().contains(&url), "{}", err.message());
}

#[tokio::test]
async fn embeddings_round_trip() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("embeddings.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let request: EmbeddingRequest = serde_json::from_value(json!({
        "model": "openai/text-embedding-3-small",
        "input": ["hello", "world"],
        "provider": { "only": ["openai"] }
    }))
    .unwrap();
    let response = provider_at(&format!("{}/v1", server.uri()))
        .embed(EmbedCall::new("text-embedding-3-small", request))
        .await
        .unwrap();
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(
        sent,
        json!({ "model": "text-embedding-3-small", "input": ["hello", "world"] })
    );
    assert_eq!(response.data.len(), 2);
    assert!(matches!(&response.data[0].embedding, EmbeddingVector::Float(v) if v.len() == 3));
    assert_eq!(response.usage.unwrap().prompt_tokens, 8);
}

#[tokio::test]
async fn legacy_completion_passes_through() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/completions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("completion.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let request: CompletionRequest = serde_json::from_value(json!({
        "model": "openai/gpt-3.5-turbo-instruct",
        "prompt": "Say this is a test",
        "max_tokens": 7,
        "stream": true,
        "transforms": []
    }))
    .unwrap();
    let response = provider_at(&format!("{}/v1", server.uri()))
        .completion(CompletionCall::new("gpt-3.5-turbo-instruct", request))
        .await
        .unwrap();
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(
        sent,
        json!({ "model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7 })
    );
    assert_eq!(response.provider.as_deref(), Some("Mock Alpha"));
    assert_eq!(response.choices[0].text, "\n\nThis is indeed a test");
}

#[tokio::test]
async fn adapter_reports_its_identity_and_parameters() {
    let provider = provider_at("http://127.0.0.1:9/v1");
    assert_eq!(provider.slug(), "mock-alpha");
    assert_eq!(provider.name(), "Mock Alpha");
    assert_eq!(provider.dialect(), "openai");
    assert!(provider.supported_parameters().contains(&"top_k"));
    let plain = OpenAiProvider::new(
        ProviderSettings::new("openai", "OpenAI", "https://api.openai.com/v1")
            .with_extended_sampling(false),
        client(),
    );
    assert!(!plain.supported_parameters().contains(&"top_k"));
    assert!(plain.supported_parameters().contains(&"tools"));
    let as_dyn: Arc<dyn Provider> = Arc::new(plain);
    assert!(!format!("{as_dyn:?}").contains(KEY));
    assert!(format!("{provider:?}").contains("<redacted>"));
    assert!(!format!("{provider:?}").contains(KEY));
}
