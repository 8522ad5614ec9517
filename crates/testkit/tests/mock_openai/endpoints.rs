//! Embeddings, models, recording and configuration.

use base64::Engine as _;

use super::support::*;

#[tokio::test]
async fn embeddings_are_deterministic_with_dimensions_and_base64() {
    let mock = start().await;
    let request = json!({ "model": "text-embedding-3-small", "input": ["hello world", "other"] });
    let first: Value = post(&mock, "/embeddings", &request)
        .await
        .json()
        .await
        .unwrap();
    let second: Value = post(&mock, "/embeddings", &request)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first["object"], "list");
    assert_eq!(first["model"], "text-embedding-3-small");
    // hello|world + other = 3
    assert_eq!(
        first["usage"],
        json!({ "prompt_tokens": 3, "total_tokens": 3 })
    );
    let data = first["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let vectors: Vec<Vec<f64>> = data
        .iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(item["object"], "embedding");
            assert_eq!(item["index"], i);
            item["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(vectors[0].len(), 8);
    assert_ne!(vectors[0], vectors[1]);
    for v in &vectors {
        let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    let body: Value = post(
        &mock,
        "/embeddings",
        &json!({ "model": "e", "input": "hello world", "dimensions": 3 }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 3);

    let body: Value = post(
        &mock,
        "/embeddings",
        &json!({ "model": "e", "input": "hello world", "encoding_format": "base64" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let floats: Vec<f32> = vectors[0].iter().map(|x| *x as f32).collect();
    assert_eq!(decoded, floats);

    let response = post(
        &mock,
        "/embeddings",
        &json!({ "model": "e", "input": "x", "encoding_format": "hex" }),
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = post(&mock, "/embeddings", &json!({ "model": "e" })).await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn requests_are_recorded() {
    let mock = start().await;
    reqwest::Client::new()
        .post(mock.url("/chat/completions?trace=1"))
        .header("x-custom", "yes")
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.query.as_deref(), Some("trace=1"));
    assert_eq!(request.header("X-Custom"), Some("yes"));
    assert_eq!(request.body, chat("hi"));
    assert_eq!(mock.request_count(), 1);
    mock.state().clear_requests();
    assert!(mock.requests().is_empty());
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn models_list_is_fixed_or_learned() {
    let fixed = start_with(MockConfig {
        models: vec!["a/one".to_owned(), "b/two".to_owned()],
        name: "fixed".to_owned(),
        ..MockConfig::default()
    })
    .await;
    let body: Value = reqwest::get(fixed.url("/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a/one", "b/two"]);
    assert_eq!(body["data"][0]["object"], "model");
    assert_eq!(body["data"][0]["owned_by"], "fixed");
    let mut request = chat("hi");
    request["model"] = json!("c/three");
    let response = post(&fixed, "/chat/completions", &request).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    let response = reqwest::get(fixed.url("/models/a/one")).await.unwrap();
    assert_eq!(response.status(), 200);

    let open = start().await;
    post(&open, "/chat/completions", &chat("hi")).await;
    let body: Value = reqwest::get(open.url("/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][0]["id"], MODEL);
}

#[tokio::test]
async fn set_config_applies_to_later_requests() {
    let mock = start().await;
    let mut config = mock.config();
    config.name = "renamed".to_owned();
    config.failure = Some(Failure::Status(400));
    mock.set_config(config);
    let response = post(&mock, "/chat/completions", &chat("hi")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-mock-provider"], "renamed");
}

#[test]
fn dialect_names_parse_with_clear_errors() {
    use tollgate_testkit::Dialect;
    assert_eq!("openai".parse::<Dialect>().unwrap(), Dialect::OpenAi);
    assert_eq!("anthropic".parse::<Dialect>().unwrap(), Dialect::Anthropic);
    assert_eq!("gemini".parse::<Dialect>().unwrap(), Dialect::Gemini);
    for dialect in Dialect::ALL {
        assert_eq!(dialect.to_string().parse::<Dialect>().unwrap(), dialect);
    }
    assert_eq!(Dialect::Gemini.base_path(), "/v1beta");
    let error = "cohere".parse::<Dialect>().unwrap_err().to_string();
    assert!(error.contains("unknown dialect"), "{error}");
    assert!(error.contains("`anthropic`"), "{error}");
    assert!("OpenAI".parse::<Dialect>().is_err());
}

#[tokio::test]
async fn router_mounts_inside_another_app() {
    let state = tollgate_testkit::MockState::new(MockConfig {
        name: "inproc".to_owned(),
        ..MockConfig::default()
    });
    let app = axum::Router::new().nest("/mock/openai", MockServer::router(state.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}/mock/openai/v1");

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/chat/completions"))
        .json(&chat("Hello, world!"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-mock-provider"], "inproc");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: Hello, world!"
    );
    assert_eq!(state.request_count(), 1);
    assert_eq!(state.requests()[0].path, "/v1/chat/completions");

    // without its own listener the mock fails the body at once instead;
    // hyper then drops the connection, usually before the headers go out
    let sent = client
        .post(format!("{base}/chat/completions"))
        .json(&chat("[mock:drop_after=0] hi"))
        .send()
        .await;
    match sent {
        Err(error) => assert!(error.status().is_none(), "{error}"),
        Ok(response) => assert!(response.bytes().await.is_err()),
    }
}
