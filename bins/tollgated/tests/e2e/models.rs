//! `GET /api/v1/models` and `/health` of the demo gateway.

use super::daemon::Launch;
use super::http::{get_json, model_ids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_the_demo_catalog() {
    let d = Launch::dev().start();
    let models = get_json(&format!("{}/models", d.api())).await;
    let ids = model_ids(&models);
    for id in [
        "mock/echo",
        "mock/echo:free",
        "mock/small-context",
        "mock/embed",
        "mock/no-tools",
        "mock/reasoner",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} is not listed: {ids:?}");
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "a model is listed twice");
    let echo = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock/echo")
        .unwrap();
    assert_eq!(echo["context_length"], 128000, "{echo}");
    assert!(echo["pricing"]["prompt"].is_string(), "{echo}");

    let health = get_json(&d.url("/health")).await;
    assert_eq!(health["status"], "ok");
}
