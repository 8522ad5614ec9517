//! `tollgated --dev --config FILE`: the file's providers instead of the demo
//! catalog, with dev mode's database and keys.

use serde_json::Value;
use tollgate_testkit::{MockConfig, MockServer};

use super::daemon::{ConfigDir, DEV_API_KEY, Launch, acme_config};
use super::http::{
    BodyReader, Event, chat_body, data_events, get_json, model_ids, post_chat, streamed_text,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_with_a_config_serves_exactly_its_providers() {
    let mock = MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let config = dir.write(
        "tollgate.toml",
        &acme_config(&mock.base_url(), "acme-widget.json", ""),
    );
    // No --listen: the file's `[server] listen` (port 0) applies.
    let launch = Launch::bare()
        .env("TOLLGATE_DEV_API_KEY", DEV_API_KEY)
        .args(["--dev"])
        .config(&config);
    // The mock runs on this runtime: keep its workers free while waiting.
    let mut d = tokio::task::block_in_place(|| launch.start());
    assert_ne!(d.addr().port(), 0);
    // Dev mode's conveniences stay: the banner with the keys.
    let curl = d.wait_line("curl line", |l| l.trim_start().starts_with("curl "));
    assert!(curl.contains(DEV_API_KEY), "{curl}");

    let models = get_json(&format!("{}/models", d.api())).await;
    assert_eq!(model_ids(&models), ["acme/widget"]);
    assert_eq!(models["data"][0]["context_length"], 65536, "{models}");

    // A JSON chat goes through the binary to the mock.
    let resp = post_chat(
        &d.api(),
        DEV_API_KEY,
        &chat_body("acme/widget", "hi widget", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-provider"], "acme");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi widget");
    assert_eq!(body["provider"], "Acme");
    assert_eq!(body["model"], "acme/widget");
    let upstream = mock.last_request().expect("the mock was called");
    assert_eq!(upstream.path, "/v1/chat/completions");
    assert_eq!(upstream.body["model"], "acme/widget");

    // So does a streamed one.
    let resp = post_chat(
        &d.api(),
        DEV_API_KEY,
        &chat_body("acme/widget", "streamed widget", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let text = BodyReader::new(resp).read_to_end().await;
    let chunks: Vec<Value> = data_events(&text).iter().filter_map(Event::json).collect();
    assert_eq!(streamed_text(&chunks), "echo: streamed widget");
    assert_eq!(mock.request_count(), 2);

    // The demo models are not served.
    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", "x", false)).await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(mock.request_count(), 2);
}
