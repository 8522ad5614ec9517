//! The edge, hardened (issue 18), as the operator sees it in the daemon's
//! log: a provider key echoed by an upstream reaches neither the client nor
//! the log; a provider's address reaches the log, not the client; and no
//! input forges a log line.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_testkit::{MockConfig, MockServer};

use super::daemon::{ADMIN_KEY, ConfigDir, Daemon, Launch, acme_config};
use super::http::{chat_body, client, post_chat};

/// The operator's key for `acme`, set in the daemon's environment.
const PROVIDER_KEY: &str = "sk-op-PROVIDERSECRET-00-e2e-0123456789";

/// How long a log line may take to show.
const LOG_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits until the daemon's stderr contains `needle`, or fails.
fn wait_stderr(d: &mut Daemon, needle: &str) -> String {
    let began = Instant::now();
    loop {
        let stderr = d.stderr();
        if stderr.contains(needle) {
            return stderr;
        }
        if began.elapsed() > LOG_TIMEOUT {
            d.fail(&format!("no {needle:?} on stderr after {LOG_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A daemon serving `acme/widget` from `base_url`, with the operator's key
/// in `ACME_API_KEY`, logging the gateway at debug.
fn daemon(dir: &ConfigDir, base_url: &str) -> Daemon {
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let db = dir.path().join("tollgate.db");
    let config = dir.write(
        "tollgate.toml",
        &acme_config(
            base_url,
            "acme-widget.json",
            &format!(
                "api_key_env = \"ACME_API_KEY\"\n\n[database]\nurl = \"sqlite://{}\"\n",
                db.display()
            ),
        ),
    );
    let launch = Launch::bare()
        .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY)
        .env("ACME_API_KEY", PROVIDER_KEY)
        .env("RUST_LOG", "info,tollgate_gateway=debug")
        .config(&config);
    tokio::task::block_in_place(|| launch.start())
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
    let created: Value = admin("/admin/accounts", json!({"name": "hardening"}))
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

fn assert_no_run(text: &str, what: &str) {
    for run in PROVIDER_KEY.as_bytes().windows(8) {
        let run = std::str::from_utf8(run).unwrap();
        assert!(!text.contains(run), "{what}: {run:?} of the key in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_provider_key_reaches_neither_client_nor_log() {
    let mock = MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        api_key: Some(PROVIDER_KEY.to_owned()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    let mut d = daemon(&dir, &mock.base_url());
    let key = account(&d).await;

    // The key is used (the mock checks it), then echoed in an error.
    let ok = post_chat(&d.api(), &key, &chat_body("acme/widget", "hi", false)).await;
    assert_eq!(ok.status(), 200);
    for (text, stream) in [
        ("hi [mock:echo_key=23]", false),
        ("hi [mock:echo_key] [mock:status=422]", false),
        ("hi [mock:echo_key]", true),
        ("hi [mock:echo_key] [mock:stream_error]", true),
    ] {
        let resp = post_chat(&d.api(), &key, &chat_body("acme/widget", text, stream)).await;
        let body = resp.text().await.unwrap();
        assert!(body.contains("[REDACTED]"), "{text}: {body}");
        assert_no_run(&body, text);
    }
    let stderr = tokio::task::block_in_place(|| wait_stderr(&mut d, "upstream failed mid-stream"));
    assert!(stderr.contains("[REDACTED]"), "{stderr}");
    assert_no_run(&stderr, "the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_address_goes_to_the_log_not_the_client() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let dir = ConfigDir::new();
    let mut d = daemon(&dir, &format!("http://{addr}/v1"));
    let key = account(&d).await;
    for stream in [false, true] {
        let resp = post_chat(&d.api(), &key, &chat_body("acme/widget", "hi", stream)).await;
        assert_eq!(resp.status(), 502);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["error"]["message"], "Acme: connection failed",
            "{body}"
        );
        assert!(!body.to_string().contains(&addr.to_string()), "{body}");
    }
    let url = format!("http://{addr}/v1/chat/completions");
    let stderr = tokio::task::block_in_place(|| wait_stderr(&mut d, &url));
    let line = stderr.lines().find(|l| l.contains(&url)).unwrap();
    assert!(line.contains("attempt failed"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_forges_no_log_line() {
    let dir = ConfigDir::new();
    let mut d = daemon(&dir, "http://127.0.0.1:9/v1");
    let path =
        "/models/mock/x%0AINFO%20tollgate_gateway:%20forged%20admin%20login%00%1B[2J/endpoints";
    let resp = client()
        .get(format!("{}{path}", d.api()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let stderr = tokio::task::block_in_place(|| wait_stderr(&mut d, "forged admin login"));
    for line in stderr.lines() {
        assert!(
            !line
                .trim_start()
                .starts_with("INFO tollgate_gateway: forged"),
            "{line}"
        );
    }
    assert!(!stderr.contains('\0'), "a NUL byte in the log");
    assert!(!stderr.contains('\u{1b}'), "an escape sequence in the log");
    let line = stderr.lines().find(|l| l.contains("forged")).unwrap();
    assert!(line.contains("mock/x\\nINFO"), "{line}");
}
