//! Start-up with `--config FILE` outside dev mode: every invalid input stops
//! the daemon with a non-zero status and a message naming what is wrong; a
//! valid file starts it.

use std::path::Path;

use super::daemon::{ConfigDir, Finished, Launch, acme_config};
use super::http::{chat_body, get_json, model_ids, post_chat};

/// A provider URL nothing listens on: start-up must not call providers.
const NOWHERE: &str = "http://127.0.0.1:9/v1";

fn assert_failed(out: &Finished, needles: &[&str]) {
    assert!(
        !out.status.success(),
        "tollgated succeeded:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(
        !out.stdout.contains("Tollgate listening"),
        "it started listening: {}",
        out.stdout
    );
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn an_unknown_key_names_the_file_and_the_key() {
    let dir = ConfigDir::new();
    let config = dir.write(
        "tollgate.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"127.0.0.1:1\"\n",
    );
    let out = Launch::bare().config(&config).run();
    assert_failed(&out, &[&display(&config), "lisen"]);
}

#[test]
fn an_unknown_provider_key_names_the_file_and_the_key() {
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let config = dir.write(
        "tollgate.toml",
        &acme_config(NOWHERE, "acme-widget.json", "api_key = \"sk-oops\"\n"),
    );
    let out = Launch::bare().config(&config).run();
    assert_failed(&out, &[&display(&config), "api_key"]);
}

#[test]
fn a_negative_price_names_the_provider_model_and_field() {
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget-negative-price.json", "widget.json");
    let config = dir.write("tollgate.toml", &acme_config(NOWHERE, "widget.json", ""));
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let config_text =
        std::fs::read_to_string(&config).unwrap() + &format!("\n[database]\nurl = \"{db}\"\n");
    std::fs::write(&config, config_text).unwrap();
    for launch in [
        Launch::bare().config(&config),
        Launch::bare().args(["--dev"]).config(&config),
    ] {
        let out = launch.run();
        assert_failed(
            &out,
            &["acme", "acme/widget", "pricing.completion", "negative"],
        );
    }
}

#[test]
fn no_config_at_all_says_what_to_pass() {
    let out = Launch::bare().run();
    assert_failed(&out, &["no configuration", "--config", "--dev"]);
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = ConfigDir::new();
    let missing = dir.path().join("nope").join("tollgate.toml");
    let out = Launch::bare().config(&missing).run();
    assert_failed(&out, &[&display(&missing)]);
    // The same through the environment.
    let out = Launch::bare()
        .env("TOLLGATE_CONFIG", &display(&missing))
        .run();
    assert_failed(&out, &[&display(&missing)]);
}

#[test]
fn a_missing_listing_file_is_named() {
    let dir = ConfigDir::new();
    let config = dir.write("tollgate.toml", &acme_config(NOWHERE, "absent.json", ""));
    let out = Launch::bare().config(&config).run();
    assert_failed(&out, &["acme", "absent.json"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_config_starts_and_serves() {
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let db_path = dir.path().join("t.db");
    let extra = format!("\n[database]\nurl = \"sqlite://{}\"\n", db_path.display());
    let config = dir.write(
        "tollgate.toml",
        &acme_config(NOWHERE, "acme-widget.json", &extra),
    );
    let mut d = Launch::bare().config(&config).start();
    assert_ne!(d.addr().port(), 0);
    assert!(
        !d.stdout().iter().any(|l| l.contains("dev mode")),
        "{:?}",
        d.stdout()
    );

    let health = get_json(&d.url("/health")).await;
    assert_eq!(health["status"], "ok");
    let models = get_json(&format!("{}/models", d.api())).await;
    assert_eq!(model_ids(&models), ["acme/widget"]);
    assert!(db_path.exists(), "the database was not created");

    // No key exists outside dev mode.
    let resp = post_chat(
        &d.api(),
        "sk-tg-v1-anything",
        &chat_body("acme/widget", "x", false),
    )
    .await;
    assert_eq!(resp.status(), 401);
}

/// Each problem is said once. Today error types both print their source in
/// their message and return it as `source()`, so anyhow's report repeats it
/// under "Caused by:" (the listing problem three times in dev mode).
#[test]
fn start_up_errors_say_each_problem_once() {
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget-negative-price.json", "widget.json");
    let config = dir.write("tollgate.toml", &acme_config(NOWHERE, "widget.json", ""));
    for launch in [
        Launch::bare().config(&config),
        Launch::bare().args(["--dev"]).config(&config),
    ] {
        let out = launch.run();
        assert_eq!(
            out.stderr.matches("is negative").count(),
            1,
            "{}",
            out.stderr
        );
    }
    let missing = dir.path().join("missing.toml");
    let out = Launch::bare().config(&missing).run();
    assert_eq!(
        out.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        out.stderr
    );
}
