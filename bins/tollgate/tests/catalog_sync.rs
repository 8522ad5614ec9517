//! `tollgate catalog sync`: the real binary against wiremock serving
//! provider listings, with a temporary tollgate.toml.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `tollgate` with a clean environment and a bounded run time.
fn tollgate() -> Command {
    let mut cmd = Command::cargo_bin("tollgate").expect("the tollgate binary");
    for var in [
        "TOLLGATE_BASE_URL",
        "TOLLGATE_API_KEY",
        "OPENROUTER_API_KEY",
        "TOLLGATE_CONFIG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", "/nonexistent/tollgate-test-config");
    cmd.timeout(TIMEOUT);
    cmd
}

/// A valid listing, the shape of `fixtures/providers/mock-beta.json`.
fn valid_listing() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/providers/mock-beta.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A listing with two problems: a negative price and a missing name.
fn invalid_listing() -> Value {
    let mut listing = valid_listing();
    listing["data"][0]["pricing"]["prompt"] = json!("-1");
    listing["data"][1].as_object_mut().unwrap().remove("name");
    listing
}

/// One `[[providers]]` table: `extra` holds more `key = value` lines.
fn provider(slug: &str, models_url: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nslug = \"{slug}\"\nname = \"{slug}\"\ndialect = \"openai\"\n\
         base_url = \"https://{slug}.example/v1\"\nmodels_url = \"{models_url}\"\n{extra}\n"
    )
}

/// A tollgate.toml in a fresh directory, with the sections a real one has
/// besides `[[providers]]`.
fn config(providers: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[database]\nurl = \"sqlite://x.db\"\n\n\
         [routing]\nsort = \"price\"\n\n{}",
        providers.concat()
    );
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

async fn serve(server: &MockServer, at: &str, body: &Value) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The names in `dir` (no temporary files may be left behind).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// stderr's lines: no panic or backtrace, and the last is `error: ...`.
fn final_error(stderr: &[u8]) -> String {
    let stderr = String::from_utf8(stderr.to_vec()).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{stderr:?}");
    last.to_string()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn a_valid_listing_is_written_and_an_invalid_one_leaves_the_old_file() {
    let server = MockServer::start().await;
    serve(&server, "/alpha/models", &valid_listing()).await;
    serve(&server, "/beta/models", &invalid_listing()).await;
    let (dir, cfg) = config(&[
        provider("alpha", &format!("{}/alpha/models", server.uri()), ""),
        provider(
            "beta",
            &format!("{}/beta/models", server.uri()),
            "models = \"listings/beta.json\"",
        ),
    ]);
    let listings = dir.path().join("listings");
    std::fs::create_dir(&listings).unwrap();
    std::fs::write(listings.join("beta.json"), "OLD").unwrap();

    let out = tollgate()
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();

    // The valid listing is written next to the config, pretty-printed.
    let written = dir.path().join("alpha.json");
    assert_eq!(read_json(&written), valid_listing());
    assert!(
        std::fs::read_to_string(&written)
            .unwrap()
            .contains("\n  \"data\": [\n")
    );
    // The invalid one is not, and the previous file is as it was.
    assert_eq!(
        std::fs::read_to_string(listings.join("beta.json")).unwrap(),
        "OLD"
    );
    assert_eq!(names(&listings), ["beta.json"]);
    assert_eq!(
        names(dir.path()),
        ["alpha.json", "listings", "tollgate.toml"]
    );

    // Every problem, with its location.
    let text = stdout(&out);
    let url = format!("{}/beta/models", server.uri());
    assert!(
        text.contains(&format!(
            "{url}: provider beta, model mock/echo: field pricing.prompt"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{url}: provider beta, model mock/no-tools: field name"
        )),
        "{text}"
    );
    assert!(text.contains("invalid listing: 2 problems"), "{text}");
    assert!(text.contains("synced 1 of 2 providers, 2 models"), "{text}");
    let line = final_error(&out.stderr);
    assert!(line.contains("1 of 2 providers failed"), "{line}");
    assert!(line.contains("beta"), "{line}");
    // Without a terminal, one progress line per provider.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("[1/2] alpha: 2 models, written to"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[2/2] beta: failed: invalid listing"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_summary_and_an_unchanged_second_run() {
    let server = MockServer::start().await;
    serve(&server, "/alpha/models", &valid_listing()).await;
    serve(&server, "/beta/models", &invalid_listing()).await;
    let (dir, cfg) = config(&[
        provider("alpha", &format!("{}/alpha/models", server.uri()), ""),
        provider("beta", &format!("{}/beta/models", server.uri()), ""),
    ]);
    let out = tollgate()
        .args(["catalog", "sync", "--json", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["synced"], 1);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["models"], 2);
    let alpha = &report["providers"][0];
    assert_eq!(alpha["provider"], "alpha");
    assert_eq!(alpha["status"], "created");
    assert_eq!(alpha["written"], true);
    assert_eq!(alpha["models"], 2);
    assert_eq!(
        alpha["file"],
        dir.path().join("alpha.json").display().to_string()
    );
    let beta = &report["providers"][1];
    assert_eq!(beta["status"], "failed");
    assert_eq!(beta["error"]["kind"], "invalid_listing");
    assert_eq!(beta["problems"].as_array().unwrap().len(), 2);
    assert_eq!(beta["problems"][0]["model"], "mock/echo");
    assert_eq!(beta["problems"][0]["field"], "pricing.prompt");
    assert!(!dir.path().join("beta.json").exists());

    // Again, alpha only: the same listing leaves the file alone.
    let out = tollgate()
        .args([
            "catalog",
            "sync",
            "--json",
            "--provider",
            "alpha",
            "--config",
        ])
        .arg(&cfg)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["providers"][0]["status"], "unchanged");
    assert_eq!(report["providers"][0]["written"], false);
}

#[tokio::test]
async fn dry_run_fetches_and_checks_but_writes_nothing() {
    let server = MockServer::start().await;
    serve(&server, "/alpha/models", &valid_listing()).await;
    let (dir, cfg) = config(&[provider(
        "alpha",
        &format!("{}/alpha/models", server.uri()),
        "models = \"listings/alpha.json\"",
    )]);
    let out = tollgate()
        .args(["catalog", "sync", "--dry-run", "--config"])
        .arg(&cfg)
        .args(["--out-dir"])
        .arg(dir.path().join("out"))
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(names(dir.path()), ["tollgate.toml"]);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let text = stdout(&out);
    assert!(text.contains("checked"), "{text}");
    assert!(
        text.contains("checked 1 of 1 provider, 2 models (dry run"),
        "{text}"
    );

    let out = tollgate()
        .args(["catalog", "sync", "--dry-run", "--json", "--config"])
        .arg(&cfg)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["providers"][0]["status"], "checked");
    assert_eq!(report["providers"][0]["written"], false);
    assert_eq!(names(dir.path()), ["tollgate.toml"]);
}

#[tokio::test]
async fn provider_flags_choose_which_listings_are_fetched() {
    let server = MockServer::start().await;
    for at in ["/a/models", "/c/models"] {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_json(valid_listing()))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/b/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(valid_listing()))
        .expect(0)
        .mount(&server)
        .await;
    let (dir, cfg) = config(&[
        provider("a", &format!("{}/a/models", server.uri()), ""),
        provider("b", &format!("{}/b/models", server.uri()), ""),
        provider("c/fp8", &format!("{}/c/models", server.uri()), ""),
        // A provider with a local listing is never fetched.
        "[[providers]]\nslug = \"local\"\nname = \"L\"\ndialect = \"openai\"\n\
         base_url = \"https://l.example/v1\"\nmodels = \"local.json\"\n"
            .to_string(),
    ]);
    let out_dir = dir.path().join("out");
    let out = tollgate()
        .args(["catalog", "sync", "--provider", "c/fp8", "--provider", "a"])
        .arg("--config")
        .arg(&cfg)
        .arg("--out-dir")
        .arg(&out_dir)
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(names(&out_dir), ["a.json", "c-fp8.json"]);
    assert_eq!(read_json(&out_dir.join("c-fp8.json")), valid_listing());
    assert_eq!(names(dir.path()), ["out", "tollgate.toml"]);
    // In config order, whatever the order of the flags.
    let text = stdout(&out);
    let (a, c) = (
        text.find("a.json").unwrap(),
        text.find("c-fp8.json").unwrap(),
    );
    assert!(a < c, "{text}");
    server.verify().await;
}

#[tokio::test]
async fn the_api_key_is_sent_when_its_variable_is_set_and_never_printed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/keyed/models"))
        .and(header("authorization", "Bearer sk-test-sync-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(valid_listing()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/keyed/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "Incorrect API key provided: sk-wrong-sync-key"}}),
        ))
        .mount(&server)
        .await;
    let (dir, cfg) = config(&[provider(
        "keyed",
        &format!("{}/keyed/models", server.uri()),
        "api_key_env = \"TOLLGATE_TEST_SYNC_KEY\"",
    )]);

    let out = tollgate()
        .env("TOLLGATE_TEST_SYNC_KEY", "sk-test-sync-key")
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(read_json(&dir.path().join("keyed.json")), valid_listing());
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains("sk-test-sync-key"));
    }

    // A wrong key: the 401's message, with the key masked.
    let out = tollgate()
        .env("TOLLGATE_TEST_SYNC_KEY", "sk-wrong-sync-key")
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let line = final_error(&out.stderr);
    assert!(line.contains("HTTP 401 Unauthorized"), "{line}");
    assert!(line.contains("Incorrect API key provided: ***"), "{line}");
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains("sk-wrong-sync-key"));
    }

    // Without the variable, no Authorization header, and the 401 says why.
    let out = tollgate()
        .env_remove("TOLLGATE_TEST_SYNC_KEY")
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let line = final_error(&out.stderr);
    assert!(
        line.contains("no key sent: $TOLLGATE_TEST_SYNC_KEY is not set"),
        "{line}"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(!requests[2].headers.contains_key("authorization"));
}

#[tokio::test]
async fn an_error_status_fails_that_provider_only() {
    let server = MockServer::start().await;
    serve(&server, "/ok/models", &valid_listing()).await;
    Mock::given(method("GET"))
        .and(path("/down/models"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream\nbusy"))
        .mount(&server)
        .await;
    let (dir, cfg) = config(&[
        provider("down", &format!("{}/down/models", server.uri()), ""),
        provider("ok", &format!("{}/ok/models", server.uri()), ""),
    ]);
    let out = tollgate()
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert_eq!(read_json(&dir.path().join("ok.json")), valid_listing());
    assert!(!dir.path().join("down.json").exists());
    let line = final_error(&out.stderr);
    assert!(
        line.contains("HTTP 503 Service Unavailable from") && line.contains("upstream busy"),
        "{line}"
    );
}

#[tokio::test]
async fn an_html_error_page_is_reported_by_its_title_not_dumped() {
    let server = MockServer::start().await;
    let page = format!(
        "<!doctype html>\n<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503</h1></center>{}</body></html>",
        "<!-- padding to look like a real error page -->\n".repeat(100)
    );
    Mock::given(method("GET"))
        .and(path("/down/models"))
        .respond_with(ResponseTemplate::new(503).set_body_string(page))
        .mount(&server)
        .await;
    let (_dir, cfg) = config(&[provider(
        "down",
        &format!("{}/down/models", server.uri()),
        "",
    )]);
    let out = tollgate()
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        !stderr.contains("<html") && !stderr.contains("padding"),
        "{stderr}"
    );
    let line = final_error(&out.stderr);
    assert!(
        line.contains("HTTP 503") && line.contains("503 Service Temporarily Unavailable"),
        "{line}"
    );
}

#[test]
fn an_unreachable_url_is_one_clear_line() {
    // A port that was free a moment ago and is closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/models");
    let (dir, cfg) = config(&[provider("gone", &url, "")]);
    let out = tollgate()
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    // The progress line and the error, each on one line.
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    let line = final_error(&out.stderr);
    assert!(line.contains(&format!("cannot reach {url}")), "{line}");
    assert!(!line.contains("os error"), "{line}");
    assert_eq!(names(dir.path()), ["tollgate.toml"]);

    let out = tollgate()
        .args(["catalog", "sync", "--json", "--config"])
        .arg(&cfg)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["providers"][0]["error"]["kind"], "unreachable");
}

#[test]
fn config_and_usage_errors_exit_2_and_io_errors_1_before_any_request() {
    let url = "http://127.0.0.1:9/never";
    let fails = |args: &[&str], cfg: Option<&Path>| -> String {
        let mut cmd = tollgate();
        cmd.args(["catalog", "sync"]).args(args);
        if let Some(cfg) = cfg {
            cmd.arg("--config").arg(cfg);
        }
        let out = cmd.assert().code(2).get_output().clone();
        assert!(out.stdout.is_empty());
        final_error(&out.stderr)
    };

    let line = fails(&[], None);
    assert!(line.contains("--config"), "{line}");
    // A file that cannot be read is an I/O error: exit 1, not 2.
    let out = tollgate()
        .args(["catalog", "sync", "--config", "/nonexistent/tollgate.toml"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let line = final_error(&out.stderr);
    assert!(
        line.contains("cannot read config file /nonexistent/tollgate.toml"),
        "{line}"
    );

    // A wrong type: the file, the line and the key.
    let (_dir, cfg) = config(&[provider("a", url, "zdr = \"yes\"")]);
    let line = fails(&[], Some(&cfg));
    assert!(line.contains(&cfg.display().to_string()), "{line}");
    assert!(line.contains("line 16"), "{line}");
    assert!(line.contains("key `providers[0].zdr`"), "{line}");

    // An unknown key in a provider table.
    let (_dir, cfg) = config(&[provider("a", url, "modles = \"x.json\"")]);
    let line = fails(&[], Some(&cfg));
    assert!(line.contains("unknown field `modles`"), "{line}");

    // A TOML syntax error.
    let (_dir, cfg) = config(&[provider("a", url, "name2 = [")]);
    let line = fails(&[], Some(&cfg));
    assert!(line.contains("line 1"), "{line}");

    // Every problem of the tables, one line each, naming provider and key.
    let (_dir, cfg) = config(&[
        provider("a", url, "headquarters = \"usa\""),
        provider("b", "ftp://x.example/models", ""),
    ]);
    let mut cmd = tollgate();
    let out = cmd
        .args(["catalog", "sync", "--config"])
        .arg(&cfg)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].contains("provider `a`: key `headquarters`"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("provider `b`: key `models_url`"),
        "{stderr}"
    );

    // --provider naming an unknown slug, or one without a models_url.
    let (_dir, cfg) = config(&[
        provider("a", url, ""),
        "[[providers]]\nslug = \"local\"\nname = \"L\"\ndialect = \"openai\"\n\
         base_url = \"https://l.example/v1\"\nmodels = \"local.json\"\n"
            .to_string(),
    ]);
    let line = fails(&["--provider", "nope"], Some(&cfg));
    assert!(line.contains("no provider `nope`"), "{line}");
    assert!(line.contains("a, local"), "{line}");
    let line = fails(&["--provider", "local"], Some(&cfg));
    assert!(line.contains("has no models_url"), "{line}");

    // Nothing to sync.
    let (_dir, cfg) = config(&[]);
    let line = fails(&[], Some(&cfg));
    assert!(line.contains("no provider"), "{line}");
    assert!(line.contains("models_url"), "{line}");

    // Two providers written to the same file.
    let (_dir, cfg) = config(&[
        provider("a", url, "models = \"same.json\""),
        provider("b", url, "models = \"same.json\""),
    ]);
    let line = fails(&[], Some(&cfg));
    assert!(line.contains("would both be written to"), "{line}");
}

#[test]
fn sync_has_help() {
    let out = tollgate()
        .args(["catalog", "sync", "--help"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for flag in ["--config", "--out-dir", "--provider", "--dry-run", "--json"] {
        assert!(text.contains(flag), "{flag}: {text}");
    }
}
