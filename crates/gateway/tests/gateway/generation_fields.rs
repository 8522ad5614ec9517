//! `/generation` fields that were always null (issue 20): `upstream_id`
//! (the provider's id of its response), `session_id` (the request's, else
//! its `x-session-id` header), `num_media_prompt` and `cache_discount`,
//! stored (migration 0009) and returned, on SQLite and PostgreSQL.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine as _;

use crate::support::*;

/// A 1×1 PNG.
const PIXEL_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

async fn post_chat(gw: &TestGateway, body: &Value, session_header: Option<&str>) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/chat/completions")
        .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(s) = session_header {
        request = request.header("x-session-id", s);
    }
    gw.oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
}

/// The `data` of `GET /generation?id=`, once recorded.
async fn generation(gw: &TestGateway, id: &str) -> Value {
    for _ in 0..200 {
        let reply = gw
            .oneshot(
                Request::builder()
                    .uri(format!("/api/v1/generation?id={id}"))
                    .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        if reply.status == 200 {
            return reply.json()["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("generation {id} was never recorded")
}

fn id_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["id"].as_str().unwrap().to_owned()
}

async fn check_all(postgres: bool) {
    let gw = start_with(Options {
        postgres,
        ..Options::default()
    })
    .await;

    // upstream_id: the mock's `chatcmpl-…`, not our `gen-…`; session_id:
    // the body wins over the header.
    let mut body = chat_body("mock/echo", "Hello, world!");
    body["session_id"] = json!("session-from-body");
    let reply = post_chat(&gw, &body, Some("session-from-header")).await;
    let id = id_of(&reply);
    let g = generation(&gw, &id).await;
    let upstream = g["upstream_id"].as_str().unwrap_or_default();
    assert!(upstream.starts_with("chatcmpl-"), "{g}");
    assert_ne!(upstream, id);
    assert_eq!(g["session_id"], "session-from-body");
    assert_eq!(g["num_media_prompt"], 0);
    assert_eq!(g["cache_discount"], Value::Null, "no cache used: {g}");

    // The header alone; a stream's upstream id is its chunks' id.
    let reply = post_chat(
        &gw,
        &streamed(chat_body("mock/echo", "Hi")),
        Some("session-from-header"),
    )
    .await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8_lossy(&reply.body).to_string();
    let first = chunks(&parse_sse(&text))[0].clone();
    let id = first["id"].as_str().unwrap().to_owned();
    let g = generation(&gw, &id).await;
    assert_eq!(g["session_id"], "session-from-header");
    assert!(
        g["upstream_id"]
            .as_str()
            .is_some_and(|u| u.starts_with("chatcmpl-")),
        "{g}"
    );

    // num_media_prompt: an image and a PDF to a model that reads both.
    let body = json!({
        "model": "mock/echo-anthropic",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Look"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL_PNG}")}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": format!(
                "data:application/pdf;base64,{}",
                base64::engine::general_purpose::STANDARD
                    .encode(include_bytes!("../../../../fixtures/files/hello.pdf"))
            )}},
        ]}],
    });
    let id = id_of(&post_chat(&gw, &body, None).await);
    let g = generation(&gw, &id).await;
    assert_eq!(g["num_media_prompt"], 2, "{g}");
    assert!(
        g["upstream_id"]
            .as_str()
            .is_some_and(|u| u.starts_with("msg_")),
        "{g}"
    );

    // cache_discount: the Anthropic mock caches a prefix ending at a
    // `cache_control` block. First call writes it, the second reads it.
    // mock-anthropic.json: prompt $3/M, cache reads $0.30/M, writes
    // $3.75/M, so a read saves $2.70/M and a write costs $0.75/M more.
    let cached = json!({
        "model": "mock/echo-anthropic",
        "messages": [
            {"role": "system", "content": [{"type": "text",
                "text": "You are a careful assistant who answers briefly.",
                "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "Hello"},
        ],
    });
    let discount = |g: &Value| {
        let read = g["native_tokens_cached"].as_u64().unwrap() as f64;
        let write = g["native_tokens_cache_write"].as_u64().unwrap_or(0) as f64;
        (read, write, read * 0.0000027 - write * 0.00000075)
    };
    let id = id_of(&post_chat(&gw, &cached, None).await);
    let g = generation(&gw, &id).await;
    let (read, write, expected) = discount(&g);
    assert_eq!(read, 0.0, "{g}");
    assert!(write > 0.0, "{g}");
    let got = g["cache_discount"].as_f64().unwrap();
    assert!(
        got < 0.0 && (got - expected).abs() < 1e-12,
        "{got} vs {expected}: {g}"
    );

    let id = id_of(&post_chat(&gw, &cached, None).await);
    let g = generation(&gw, &id).await;
    let (read, _, expected) = discount(&g);
    assert!(read > 0.0, "{g}");
    let got = g["cache_discount"].as_f64().unwrap();
    assert!(
        got > 0.0 && (got - expected).abs() < 1e-12,
        "{got} vs {expected}: {g}"
    );
}

#[tokio::test]
async fn generation_fields_are_stored_and_returned_on_sqlite() {
    check_all(false).await;
}

#[tokio::test]
async fn generation_fields_are_stored_and_returned_on_postgres() {
    check_all(true).await;
}
