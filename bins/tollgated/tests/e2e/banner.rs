//! What `tollgated --dev` prints, and that the printed keys work.

use serde_json::Value;

use super::daemon::{ADMIN_KEY, DEV_API_KEY, Launch};
use super::http::{chat_body, client, post_chat};

/// The value after `label` on the banner line that carries it.
fn banner_value(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no `{label}` line in {lines:#?}"))
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_prints_the_keys_from_the_environment_and_a_working_curl_line() {
    let mut d = Launch::dev().start();
    let curl = d.wait_line("curl line", |l| l.trim_start().starts_with("curl "));
    let lines = d.stdout().to_vec();
    assert_eq!(banner_value(&lines, "admin key:"), ADMIN_KEY, "{lines:#?}");
    assert_eq!(
        banner_value(&lines, "demo API key:"),
        DEV_API_KEY,
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("dev mode")),
        "banner does not say it is dev mode: {lines:#?}"
    );

    // The curl line targets this server with the demo key, and its body is a
    // request the server accepts.
    let url = format!("{}/chat/completions", d.api());
    assert!(curl.contains(&format!("curl {url} ")), "{curl}");
    assert!(
        curl.contains(&format!("Authorization: Bearer {DEV_API_KEY}")),
        "{curl}"
    );
    let body = curl
        .split_once("-d '")
        .and_then(|(_, rest)| rest.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no -d '...' body in {curl}"));
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let resp = client()
        .post(&url)
        .bearer_auth(DEV_API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "echo: Hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_env_keys_generated_keys_are_printed_and_work() {
    let mut d = Launch::dev()
        .without_env("TOLLGATE_DEV_API_KEY")
        .without_env("TOLLGATE_ADMIN_KEY")
        .start();
    d.wait_line("curl line", |l| l.trim_start().starts_with("curl "));
    let lines = d.stdout().to_vec();
    let api_key = banner_value(&lines, "demo API key:");
    let admin_key = banner_value(&lines, "admin key:");
    let hex = api_key
        .strip_prefix("sk-tg-v1-")
        .unwrap_or_else(|| panic!("API key {api_key:?} lacks the sk-tg-v1- prefix"));
    assert!(is_lower_hex(hex, 64), "API key {api_key:?}");
    let admin_hex = admin_key
        .strip_prefix("sk-tg-admin-")
        .unwrap_or_else(|| panic!("admin key {admin_key:?} lacks the sk-tg-admin- prefix"));
    assert!(is_lower_hex(admin_hex, 64), "admin key {admin_key:?}");
    assert_ne!(api_key, DEV_API_KEY);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("Bearer {api_key}")))
    );

    let resp = post_chat(
        &d.api(),
        &api_key,
        &chat_body("mock/echo", "generated", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "echo: generated"
    );

    // A key the server never printed is refused.
    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", "x", false)).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blank_env_key_counts_as_absent() {
    let mut d = Launch::dev().env("TOLLGATE_DEV_API_KEY", "   ").start();
    d.wait_line("curl line", |l| l.trim_start().starts_with("curl "));
    let api_key = banner_value(d.stdout(), "demo API key:");
    assert!(api_key.starts_with("sk-tg-v1-"), "{api_key:?}");
    let resp = post_chat(&d.api(), &api_key, &chat_body("mock/echo", "blank", false)).await;
    assert_eq!(resp.status(), 200);
}
