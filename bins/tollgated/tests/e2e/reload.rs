//! `SIGHUP` reloads the catalog: the config file's providers and listing
//! files are read again and swapped in without a restart; a bad listing is
//! logged and the previous catalog keeps serving.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_testkit::{MockConfig, MockServer};

use super::daemon::{ADMIN_KEY, ConfigDir, Daemon, Launch, acme_config, fixture_text};
use super::http::{chat_body, client, get_json, model_ids, post_chat};

/// How long a reload may take to show.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// `acme-widget.json` with a second model, `acme/gadget`.
fn with_gadget() -> String {
    let mut listing: Value = serde_json::from_str(&fixture_text("acme-widget.json")).unwrap();
    let mut gadget = listing["data"][0].clone();
    gadget["id"] = json!("acme/gadget");
    gadget["name"] = json!("Acme: Gadget");
    listing["data"].as_array_mut().unwrap().push(gadget);
    serde_json::to_string_pretty(&listing).unwrap()
}

/// Waits until the daemon's stderr contains `needle`, or fails.
fn wait_stderr(d: &mut Daemon, needle: &str) -> String {
    let began = Instant::now();
    loop {
        let stderr = d.stderr();
        if stderr.contains(needle) {
            return stderr;
        }
        if began.elapsed() > RELOAD_TIMEOUT {
            d.fail(&format!("no {needle:?} on stderr after {RELOAD_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A new account with credits; its inference key.
async fn account(d: &Daemon) -> String {
    let admin = |path: &str, body: Value| {
        client()
            .post(format!("{}{path}", d.api()))
            .bearer_auth(ADMIN_KEY)
            .json(&body)
            .send()
    };
    let created: Value = admin("/admin/accounts", json!({"name": "reload"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap();
    let resp = admin(
        &format!("/admin/accounts/{id}/credits"),
        json!({"amount": "5"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    created["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_listings_and_keeps_serving_on_a_bad_one() {
    let mock = MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    let listing = dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let db = dir.path().join("tollgate.db");
    let config = dir.write(
        "tollgate.toml",
        &acme_config(
            &mock.base_url(),
            "acme-widget.json",
            &format!("\n[database]\nurl = \"sqlite://{}\"\n", db.display()),
        ),
    );
    let launch = Launch::bare()
        .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "info")
        .config(&config);
    // The mock runs on this runtime: keep its workers free while waiting.
    let mut d = tokio::task::block_in_place(|| launch.start());
    let key = account(&d).await;
    let models_url = format!("{}/models", d.api());
    assert_eq!(model_ids(&get_json(&models_url).await), ["acme/widget"]);

    // A new model in the listing, then SIGHUP.
    std::fs::write(&listing, with_gadget()).unwrap();
    d.signal("HUP");
    let stderr = tokio::task::block_in_place(|| wait_stderr(&mut d, "catalog reloaded"));
    assert!(stderr.contains("SIGHUP received"), "{stderr}");
    assert!(stderr.contains("acme/gadget"), "{stderr}");
    assert_eq!(
        model_ids(&get_json(&models_url).await),
        ["acme/gadget", "acme/widget"]
    );
    let resp = post_chat(&d.api(), &key, &chat_body("acme/gadget", "hi", false)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["model"], "acme/gadget");
    assert_eq!(body["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(mock.last_request().unwrap().body["model"], "acme/gadget");

    // A bad listing: logged, naming the file, model and field; the previous
    // catalog still serves.
    std::fs::write(&listing, fixture_text("acme-widget-negative-price.json")).unwrap();
    d.signal("HUP");
    let stderr = tokio::task::block_in_place(|| wait_stderr(&mut d, "catalog not reloaded"));
    let line = stderr
        .lines()
        .find(|l| l.contains("catalog not reloaded"))
        .unwrap();
    for part in ["acme-widget.json", "acme/widget", "pricing.completion"] {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
    assert_eq!(
        model_ids(&get_json(&models_url).await),
        ["acme/gadget", "acme/widget"]
    );
    let resp = post_chat(&d.api(), &key, &chat_body("acme/gadget", "still", false)).await;
    assert_eq!(resp.status(), 200);

    // The admin endpoint does the same, and answers with the problem.
    let resp = client()
        .post(format!("{}/admin/catalog/reload", d.api()))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pricing.completion"),
        "{body}"
    );
    std::fs::write(&listing, fixture_text("acme-widget.json")).unwrap();
    let resp = client()
        .post(format!("{}/admin/catalog/reload", d.api()))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"]["removed_models"],
        json!(["acme/gadget"]),
        "{body}"
    );
    assert_eq!(model_ids(&get_json(&models_url).await), ["acme/widget"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_in_bare_dev_mode_reloads_nothing_and_keeps_running() {
    let launch = Launch::dev().env("RUST_LOG", "info");
    let mut d = tokio::task::block_in_place(|| launch.start());
    d.signal("HUP");
    let stderr = tokio::task::block_in_place(|| wait_stderr(&mut d, "catalog not reloaded"));
    assert!(stderr.contains("nothing to reload"), "{stderr}");
    // Still serving the demo catalog.
    assert_eq!(get_json(&d.url("/health")).await["status"], "ok");
    let models = model_ids(&get_json(&format!("{}/models", d.api())).await);
    assert!(models.iter().any(|m| m == "mock/echo"), "{models:?}");
}
