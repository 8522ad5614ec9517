//! embedContent and batchEmbedContents.

use tollgate_testkit::behaviour::embedding_for;

use super::support::*;

fn content(text: &str) -> Value {
    json!({ "parts": [{ "text": text }] })
}

fn values(embedding: &Value) -> Vec<f32> {
    embedding["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test]
async fn embed_content_is_deterministic() {
    let mock = start().await;
    let request = json!({ "content": content("hello world"), "taskType": "RETRIEVAL_QUERY" });
    let response = call(&mock, "embedContent", &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let vector = values(&body["embedding"]);
    assert_eq!(vector.len(), 8);
    assert_eq!(vector, embedding_for("hello world", 8));
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    let again: Value = call(&mock, "embedContent", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, body);

    let request = json!({ "content": content("hello world"), "outputDimensionality": 3 });
    let body: Value = call(&mock, "embedContent", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(values(&body["embedding"]), embedding_for("hello world", 3));

    let error = expect_error(
        call(&mock, "embedContent", &json!({})).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("content is not specified")
    );
    let request = json!({ "content": content("x"), "outputDimensionality": 0 });
    expect_error(
        call(&mock, "embedContent", &request).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
}

#[tokio::test]
async fn batch_embed_contents_matches_single_embeddings() {
    let mock = start().await;
    let model = format!("models/{MODEL}");
    let request = json!({ "requests": [
        { "model": model, "content": content("hello world") },
        { "model": model, "content": content("other"), "outputDimensionality": 4 },
    ]});
    let response = call(&mock, "batchEmbedContents", &request).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let embeddings = body["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 2);
    assert_eq!(values(&embeddings[0]), embedding_for("hello world", 8));
    assert_eq!(values(&embeddings[1]), embedding_for("other", 4));

    // every request names the model of the URL
    let missing = json!({ "requests": [{ "content": content("x") }] });
    let error = expect_error(
        call(&mock, "batchEmbedContents", &missing).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("requests[0].model")
    );
    let other = json!({ "requests": [{ "model": "models/else", "content": content("x") }] });
    expect_error(
        call(&mock, "batchEmbedContents", &other).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    let empty = json!({ "requests": [] });
    expect_error(
        call(&mock, "batchEmbedContents", &empty).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
}
