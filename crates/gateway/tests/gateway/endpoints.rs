//! `POST /embeddings` and the legacy `POST /completions`.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::*;

async fn post(gw: &TestGateway, path: &str, body: &Value) -> Reply {
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {}", gw.key))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    gw.oneshot(request).await
}

#[tokio::test]
async fn embeddings_come_back_one_per_input_with_usage() {
    let gw = start().await;
    let reply = post(
        &gw,
        "/api/v1/embeddings",
        &json!({"model": "mock/embed", "input": ["red", "green"]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "mock/embed");
    assert!(v["id"].as_str().unwrap().starts_with("gen-"));
    assert_eq!(reply.header("x-generation-id"), v["id"].as_str());
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["index"], 0);
    assert_eq!(data[1]["index"], 1);
    let a: Vec<f64> = data[0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let b: Vec<f64> = data[1]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(a.len(), 8, "the mock's default dimensions");
    assert_ne!(a, b, "different inputs, different vectors");
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "unit vectors: {norm}");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    // The upstream got the listing's model id and the inputs.
    let sent = gw.alpha.last_request().unwrap();
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.body["input"], json!(["red", "green"]));
}

#[tokio::test]
async fn embeddings_honour_dimensions_and_base64() {
    let gw = start().await;
    let floats = post(
        &gw,
        "/api/v1/embeddings",
        &json!({"model": "mock/embed", "input": "blue", "dimensions": 4}),
    )
    .await
    .json();
    let floats: Vec<f32> = floats["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(floats.len(), 4);
    let b64 = post(
        &gw,
        "/api/v1/embeddings",
        &json!({"model": "mock/embed", "input": "blue", "dimensions": 4, "encoding_format": "base64"}),
    )
    .await
    .json();
    let text = b64["data"][0]["embedding"]
        .as_str()
        .expect("base64 is a string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(decoded.len(), 4);
    for (x, y) in decoded.iter().zip(&floats) {
        assert!((x - y).abs() < 1e-6, "{decoded:?} vs {floats:?}");
    }
}

#[tokio::test]
async fn embeddings_reject_bad_input_naming_the_field() {
    let gw = start().await;
    let cases = [
        (json!({"model": "mock/echo", "input": "x"}), "model"),
        (json!({"model": "mock/embed", "input": []}), "input"),
        (json!({"model": "mock/embed", "input": ""}), "input"),
        (
            json!({"model": "mock/embed", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (
            json!({"model": "mock/embed", "input": "x", "dimensions": 0}),
            "dimensions",
        ),
        (json!({"model": "mock/embed"}), "input"),
    ];
    for (body, field) in cases {
        let reply = post(&gw, "/api/v1/embeddings", &body).await;
        let error = assert_error(&reply, 400);
        assert_eq!(error["metadata"]["field"], field, "{body}: {error}");
    }
    assert_eq!(gw.alpha.request_count(), 0, "nothing was sent upstream");
}

#[tokio::test]
async fn a_text_prompt_is_served_through_chat_as_a_text_completion() {
    let gw = start().await;
    for model in ["mock/echo", "mock/echo-anthropic"] {
        let reply = post(
            &gw,
            "/api/v1/completions",
            &json!({"model": model, "prompt": "Once upon a time"}),
        )
        .await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        let v = reply.json();
        assert_eq!(v["object"], "text_completion", "{model}");
        assert_eq!(v["model"], model);
        assert_eq!(v["choices"][0]["text"], "echo: Once upon a time", "{model}");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        // 4 words + 3 + 3 = 10 prompt tokens; echo : Once upon a time = 6.
        assert_eq!(v["usage"]["prompt_tokens"], 10, "{model}: {v}");
        assert_eq!(v["usage"]["completion_tokens"], 6, "{model}: {v}");
    }
}

#[tokio::test]
async fn a_streamed_text_completion_has_text_chunks_and_usage_last() {
    let gw = start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/completions", gw.url))
        .bearer_auth(&gw.key)
        .json(&json!({"model": "mock/echo", "prompt": "Tell me", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let events = parse_sse(&body);
    assert_eq!(events.last(), Some(&Event::Done));
    let chunks = chunks(&events);
    let text: String = chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(text, "echo: Tell me");
    for c in &chunks {
        assert_eq!(c["object"], "text_completion", "{c}");
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 4, "{last}");
}

#[tokio::test]
async fn several_prompts_pass_through_to_openai_dialect_endpoints() {
    let gw = start().await;
    let reply = post(
        &gw,
        "/api/v1/completions",
        &json!({"model": "mock/echo", "prompt": ["one", "two"]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"].as_array().unwrap().len(), 2, "{v}");
    let sent = gw.alpha.last_request().unwrap();
    assert_eq!(sent.path, "/v1/completions");
    assert_eq!(sent.body["prompt"], json!(["one", "two"]));

    // Streaming needs a single text prompt; the Anthropic-only model has no
    // endpoint that takes several.
    let reply = post(
        &gw,
        "/api/v1/completions",
        &json!({"model": "mock/echo", "prompt": ["a", "b"], "stream": true}),
    )
    .await;
    assert_eq!(assert_error(&reply, 400)["metadata"]["field"], "prompt");
    let reply = post(
        &gw,
        "/api/v1/completions",
        &json!({"model": "mock/echo-anthropic", "prompt": [1, 2, 3]}),
    )
    .await;
    assert_eq!(assert_error(&reply, 400)["metadata"]["field"], "prompt");
}
