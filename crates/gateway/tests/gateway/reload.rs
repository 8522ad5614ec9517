//! Reloading the catalog without a restart (`POST
//! /api/v1/admin/catalog/reload`): a gateway whose catalog comes from a
//! real `tollgate.toml` and listing files in a temporary directory, one
//! mock provider `acme` behind them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tollgate_catalog::Catalog;
use tollgate_gateway::{AdminAuth, CatalogSource, Config, Gateway};
use tollgate_store::{KeyKind, NewApiKey, Store};
use tollgate_testkit::{MockConfig, MockHandle, MockServer};
use tower::ServiceExt as _;

/// The admin key of the gateways here.
pub(crate) const ADMIN: &str = "sk-tg-admin-reload-test";

/// A gateway over `tollgate.toml` + listing files in a temporary directory.
pub(crate) struct Rig {
    pub(crate) dir: TempDir,
    /// `<dir>/tollgate.toml`.
    pub(crate) config_path: PathBuf,
    pub(crate) gateway: Gateway,
    /// An inference key with credits.
    pub(crate) key: String,
    /// The mock behind provider `acme`.
    pub(crate) acme: MockHandle,
}

/// A listing of `models` as `(id, prompt price per token)`.
pub(crate) fn listing(models: &[(&str, &str)]) -> String {
    let data: Vec<Value> = models
        .iter()
        .map(|(id, price)| {
            json!({
                "id": id,
                "name": format!("Test: {id}"),
                "created": 1735689600,
                "input_modalities": ["text"],
                "output_modalities": ["text"],
                "quantization": "bf16",
                "context_length": 65536,
                "max_output_length": 8192,
                "pricing": { "prompt": price, "completion": price },
                "supported_sampling_parameters": ["temperature", "stop"],
                "supported_features": [],
                "datacenters": [{ "country_code": "DE" }],
                "tokenizer": "o200k"
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "data": data })).unwrap()
}

/// A `[[providers]]` table.
pub(crate) fn provider(slug: &str, base_url: &str, listing: &str) -> String {
    format!(
        "\n[[providers]]\nslug = \"{slug}\"\nname = \"{slug} inc\"\ndialect = \"openai\"\nbase_url = \"{base_url}\"\nmodels = \"{listing}\"\n"
    )
}

impl Rig {
    /// `server` is the `[server]` table's body; the config has provider
    /// `acme` (listing `acme.json`: `acme/widget`).
    pub(crate) async fn start(server: &str) -> Rig {
        let acme = MockServer::start(MockConfig {
            name: String::from("acme"),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let dir = tempfile::Builder::new()
            .prefix("tollgate-reload-test-")
            .tempdir()
            .unwrap();
        let rig_dir = dir.path().to_path_buf();
        std::fs::write(
            rig_dir.join("acme.json"),
            listing(&[("acme/widget", "0.000001")]),
        )
        .unwrap();
        let config_path = rig_dir.join("tollgate.toml");
        std::fs::write(
            &config_path,
            format!(
                "[server]\n{server}\n{}",
                provider("acme", &acme.base_url(), "acme.json")
            ),
        )
        .unwrap();
        let config = Config::load(&config_path).unwrap();
        let catalog = Catalog::load(&config.providers, &config.base_dir).unwrap();
        let url = format!("sqlite://{}", rig_dir.join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        let account = store.create_account("reload").await.unwrap();
        store
            .top_up(&account.id, rust_decimal::Decimal::from(10), None)
            .await
            .unwrap();
        let (key, _) = store
            .create_api_key(
                &account.id,
                NewApiKey {
                    label: String::from("k"),
                    kind: KeyKind::Inference,
                },
            )
            .await
            .unwrap();
        let gateway = Gateway::from_parts(&config, catalog, store)
            .unwrap()
            .with_admin(AdminAuth::new(ADMIN))
            .with_catalog_source(CatalogSource::ConfigFile(config_path.clone()));
        Rig {
            dir,
            config_path,
            gateway,
            key,
            acme,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        call(&self.gateway, method, path, key, body).await
    }

    pub(crate) async fn chat(&self, model: &str, text: &str) -> (StatusCode, HeaderMap, Value) {
        let body = json!({"model": model, "messages": [{"role": "user", "content": text}]});
        self.call(
            Method::POST,
            "/api/v1/chat/completions",
            Some(&self.key),
            Some(body),
        )
        .await
    }

    pub(crate) async fn model_ids(&self) -> Vec<String> {
        let (status, _, models) = self.call(Method::GET, "/api/v1/models", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            models["total_count"].as_u64(),
            Some(models["data"].as_array().unwrap().len() as u64)
        );
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub(crate) async fn reload(&self) -> (StatusCode, Value) {
        let (status, _, body) = self
            .call(
                Method::POST,
                "/api/v1/admin/catalog/reload",
                Some(ADMIN),
                None,
            )
            .await;
        (status, body)
    }
}

/// One call through the router; the body read as JSON.
pub(crate) async fn call(
    gateway: &Gateway,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = gateway
        .router()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (parts.status, parts.headers, value)
}

#[tokio::test]
async fn an_edited_listing_is_served_after_a_reload() {
    let rig = Rig::start("").await;
    assert_eq!(rig.model_ids().await, ["acme/widget"]);
    let (status, _, body) = rig.chat("acme/gadget", "hi").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    rig.write(
        "acme.json",
        &listing(&[("acme/widget", "0.000001"), ("acme/gadget", "0.000002")]),
    );
    // Nothing changes until the reload.
    assert_eq!(rig.model_ids().await, ["acme/widget"]);
    let (status, summary) = rig.reload().await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        summary,
        json!({"data": {
            "providers": [{"slug": "acme", "models": 2}],
            "models": 2,
            "endpoints": 2,
            "added_models": ["acme/gadget"],
            "removed_models": [],
        }})
    );

    assert_eq!(rig.model_ids().await, ["acme/gadget", "acme/widget"]);
    let (status, headers, body) = rig.chat("acme/gadget", "new model").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"], "acme/gadget");
    assert_eq!(body["choices"][0]["message"]["content"], "echo: new model");
    assert_eq!(headers["x-tollgate-provider"], "acme");
    assert_eq!(
        rig.acme.last_request().unwrap().body["model"],
        "acme/gadget"
    );
    // The endpoints API and the providers list follow.
    let (status, _, endpoints) = rig
        .call(
            Method::GET,
            "/api/v1/models/acme/gadget/endpoints",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{endpoints}");
    assert_eq!(endpoints["data"]["endpoints"][0]["tag"], "acme");

    // Removing it again takes it away.
    rig.write("acme.json", &listing(&[("acme/widget", "0.000001")]));
    let (status, summary) = rig.reload().await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["data"]["removed_models"], json!(["acme/gadget"]));
    let (status, _, _) = rig.chat("acme/gadget", "gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_bad_listing_is_refused_and_the_old_catalog_keeps_serving() {
    let rig = Rig::start("").await;
    let mut bad: Value = serde_json::from_str(&listing(&[
        ("acme/widget", "0.000001"),
        ("acme/gadget", "0.000002"),
    ]))
    .unwrap();
    bad["data"][1]["pricing"]["completion"] = json!("-0.5");
    rig.write("acme.json", &bad.to_string());

    let (status, body) = rig.reload().await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("catalog not reloaded (the previous catalog is still served): "),
        "{message}"
    );
    for part in ["acme.json", "acme", "acme/gadget", "pricing.completion"] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }

    // The old catalog still serves.
    assert_eq!(rig.model_ids().await, ["acme/widget"]);
    let (status, _, body) = rig.chat("acme/widget", "still here").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A missing file and broken JSON are named too.
    std::fs::remove_file(rig.path("acme.json")).unwrap();
    let (status, body) = rig.reload().await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("acme.json") && message.contains("file not found"),
        "{message}"
    );
    rig.write("acme.json", "{\"data\": [");
    let (status, body) = rig.reload().await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("acme.json") && message.contains("line 1"),
        "{message}"
    );
    // So is a broken config file.
    let config = std::fs::read_to_string(&rig.config_path).unwrap();
    std::fs::write(&rig.config_path, config.replace("dialect", "dialekt")).unwrap();
    let (status, body) = rig.reload().await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tollgate.toml") && message.contains("dialekt"),
        "{message}"
    );

    let (status, _, body) = rig.chat("acme/widget", "still here").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn providers_can_be_added_by_editing_the_config_file() {
    let rig = Rig::start("").await;
    let bolt = MockServer::start(MockConfig {
        name: String::from("bolt"),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    rig.write("bolt.json", &listing(&[("bolt/flash", "0.000001")]));
    let mut config = std::fs::read_to_string(&rig.config_path).unwrap();
    config.push_str(&provider("bolt", &bolt.base_url(), "bolt.json"));
    std::fs::write(&rig.config_path, config).unwrap();

    let (status, summary) = rig.reload().await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        summary["data"]["providers"],
        json!([{"slug": "acme", "models": 1}, {"slug": "bolt", "models": 1}])
    );
    let (status, headers, body) = rig.chat("bolt/flash", "zap").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["x-tollgate-provider"], "bolt");
    assert_eq!(body["provider"], "bolt inc");
    assert_eq!(bolt.request_count(), 1);
    let (_, _, providers) = rig.call(Method::GET, "/api/v1/providers", None, None).await;
    let slugs: Vec<&str> = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "bolt"], "{providers}");
}

#[tokio::test]
async fn requests_in_flight_finish_on_the_catalog_they_started_with() {
    let rig = Rig::start("").await;
    rig.acme.set_config(MockConfig {
        name: String::from("acme"),
        latency: Duration::from_millis(400),
        ..MockConfig::default()
    });
    let gateway = rig.gateway.clone();
    let key = rig.key.clone();
    let slow = tokio::spawn(async move {
        let body =
            json!({"model": "acme/widget", "messages": [{"role": "user", "content": "slow"}]});
        call(
            &gateway,
            Method::POST,
            "/api/v1/chat/completions",
            Some(&key),
            Some(body),
        )
        .await
    });
    // Once the upstream has the request, the model goes away.
    let waited = std::time::Instant::now();
    while rig.acme.request_count() == 0 {
        assert!(waited.elapsed() < Duration::from_secs(10), "never sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rig.write("acme.json", &listing(&[("acme/other", "0.000001")]));
    let (status, summary) = rig.reload().await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["data"]["removed_models"], json!(["acme/widget"]));

    let (status, _, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "echo: slow");
    let (status, _, _) = rig.chat("acme/widget", "late").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn endpoint_health_survives_a_reload() {
    let rig = Rig::start("").await;
    let (status, _, _) = rig.chat("acme/widget", "fine").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = rig.chat("acme/widget", "[mock:status=503]").await;
    assert!(status.is_server_error(), "{status}");
    let health = |endpoints: &Value| {
        let ep = &endpoints["data"]["endpoints"][0];
        json!({"status": ep["status"], "uptime": ep["uptime_last_30m"]})
    };
    let path = "/api/v1/models/acme/widget/endpoints";
    let (_, _, before) = rig.call(Method::GET, path, None, None).await;
    let uptime = before["data"]["endpoints"][0]["uptime_last_30m"]
        .as_f64()
        .unwrap_or_else(|| panic!("no uptime: {before}"));
    assert!(uptime < 100.0, "{before}");

    rig.write(
        "acme.json",
        &listing(&[("acme/widget", "0.000001"), ("acme/gadget", "0.000002")]),
    );
    let (status, _) = rig.reload().await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, after) = rig.call(Method::GET, path, None, None).await;
    assert_eq!(health(&after), health(&before));
}

#[tokio::test]
async fn reloading_needs_the_admin_key_and_a_source() {
    let rig = Rig::start("").await;
    for key in [None, Some(rig.key.as_str()), Some("sk-tg-admin-wrong")] {
        let (status, _, body) = rig
            .call(Method::POST, "/api/v1/admin/catalog/reload", key, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}: {body}");
    }
    let (status, _, _) = rig
        .call(
            Method::GET,
            "/api/v1/admin/catalog/reload",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // Without an admin key configured, the admin API is off.
    let off = rig.gateway.clone().with_admin(AdminAuth::disabled());
    let (status, _, _) = call(
        &off,
        Method::POST,
        "/api/v1/admin/catalog/reload",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A catalog built in memory has nothing to reload from.
    let config = Config::load(&rig.config_path).unwrap();
    let catalog = Catalog::load(&config.providers, &config.base_dir).unwrap();
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let in_memory = Gateway::from_parts(&config, catalog, store)
        .unwrap()
        .with_admin(AdminAuth::new(ADMIN));
    let (status, _, body) = call(
        &in_memory,
        Method::POST,
        "/api/v1/admin/catalog/reload",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to reload"),
        "{body}"
    );
    // `Gateway::reload_catalog` is the same operation (what SIGHUP calls).
    let err = in_memory.reload_catalog().await.unwrap_err();
    assert!(err.to_string().contains("nothing to reload"), "{err}");
}

#[tokio::test]
async fn listing_sources_reload_their_files() {
    // The source `Gateway::build` uses: the start-up config's providers.
    let rig = Rig::start("").await;
    let config = Config::load(&rig.config_path).unwrap();
    let gateway = rig
        .gateway
        .clone()
        .with_catalog_source(CatalogSource::Listings {
            providers: config.providers.clone(),
            base_dir: Path::new(&config.base_dir).to_path_buf(),
        });
    rig.write(
        "acme.json",
        &listing(&[("acme/widget", "0.000001"), ("acme/gizmo", "0.000001")]),
    );
    let summary = gateway.reload_catalog().await.unwrap();
    assert_eq!(summary.models, 2);
    assert_eq!(summary.added_models, ["acme/gizmo"]);
    assert_eq!(rig.model_ids().await, ["acme/gizmo", "acme/widget"]);
}
