//! Tests of the real `tollgate` binary against a real gateway (the `--dev`
//! demo catalog, started in this process on a background thread) and
//! against wiremock replaying OpenRouter-shaped answers from
//! `fixtures/e2e/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tokio::sync::oneshot;
use tollgate_gateway::dev::DevEnvironment;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Bound on every wait: a CLI run, the gateway's start and stop.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The demo gateway, served on `127.0.0.1:0` by a runtime of its own until
/// dropped.
struct Gateway {
    /// `http://127.0.0.1:PORT/api/v1`.
    api: String,
    /// The demo API key.
    key: String,
    /// The admin key.
    admin: String,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Gateway {
    fn start() -> Gateway {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("gateway runtime");
            rt.block_on(async move {
                let env = DevEnvironment::start(None).await.expect("dev environment");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("local addr");
                ready_tx
                    .send((
                        format!("http://{addr}/api/v1"),
                        env.api_key.clone(),
                        env.admin_key.clone(),
                    ))
                    .expect("report address");
                let stop = async move {
                    let _ = shutdown_rx.await;
                };
                tollgate_gateway::serve(listener, env.gateway.clone(), stop)
                    .await
                    .expect("serve");
                drop(env);
            });
            let _ = stopped_tx.send(());
        });
        let (api, key, admin) = ready_rx
            .recv_timeout(TIMEOUT)
            .expect("the gateway did not start");
        Gateway {
            api,
            key,
            admin,
            shutdown: Some(shutdown),
            stopped,
            thread: Some(thread),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Wait (bounded) so the temporary database is removed; a gateway
        // stuck draining is left behind rather than hanging the test.
        if self.stopped.recv_timeout(TIMEOUT).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

/// `tollgate` with a clean environment and a bounded run time.
fn tollgate() -> Command {
    let mut cmd = Command::cargo_bin("tollgate").expect("the tollgate binary");
    for var in [
        "TOLLGATE_BASE_URL",
        "TOLLGATE_API_KEY",
        "OPENROUTER_API_KEY",
        "TOLLGATE_PROVISIONING_KEY",
        "TOLLGATE_ADMIN_KEY",
        "TOLLGATE_CONFIG",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    // No user config file: a config home without one.
    cmd.env("XDG_CONFIG_HOME", "/nonexistent/tollgate-test-config");
    cmd.timeout(TIMEOUT);
    cmd
}

/// The text of `fixtures/e2e/<name>`.
fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/e2e")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// stderr of a failed run: one line starting `error: `, no panic or
/// backtrace.
fn one_line_error(stderr: &[u8]) -> String {
    let stderr = String::from_utf8(stderr.to_vec()).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_string()
}

// --- against the in-process demo gateway ---------------------------------

#[test]
fn models_prints_a_table_with_per_million_prices() {
    let gw = Gateway::start();
    let out = tollgate()
        .args(["models", "--base-url", &gw.api])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["MODEL", "CONTEXT", "PROMPT", "$/M", "COMPLETION", "$/M"],
        "{out}"
    );
    let row = |id: &str| {
        rows.iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no {id} row in\n{out}"))
            .clone()
    };
    // mock/echo is priced as Mock Alpha's endpoint: $0.000001 and $0.000002
    // per token, i.e. 1 and 2 per million.
    assert_eq!(row("mock/echo"), ["mock/echo", "128000", "1", "2"]);
    assert_eq!(row("mock/echo:free"), ["mock/echo:free", "32768", "0", "0"]);
    assert_eq!(row("mock/small-context")[2..], ["0.5", "1.5"]);
    assert!(
        rows.iter().all(|r| r.len() == 4 || r[0] == "MODEL"),
        "{out}"
    );
}

#[test]
fn models_json_prints_the_model_list() {
    let gw = Gateway::start();
    let out = tollgate()
        .args(["models", "--json", "--base-url", &gw.api])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let list: Value = serde_json::from_slice(&out).unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .expect("`data` array")
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"mock/echo"), "{ids:?}");
    assert!(ids.contains(&"mock/echo:free"), "{ids:?}");
}

#[test]
fn chat_streams_the_answer() {
    let gw = Gateway::start();
    tollgate()
        .args(["chat", "mock/echo", "hello cli"])
        .args(["--base-url", &gw.api, "--api-key", &gw.key])
        .assert()
        .success()
        .stdout("echo: hello cli\n")
        .stderr("");
}

#[test]
fn chat_reads_the_key_and_url_from_the_environment() {
    let gw = Gateway::start();
    tollgate()
        .args(["chat", "mock/echo", "from env"])
        .env("TOLLGATE_BASE_URL", &gw.api)
        .env("OPENROUTER_API_KEY", &gw.key)
        .assert()
        .success()
        .stdout("echo: from env\n");
}

#[test]
fn chat_json_prints_one_chunk_per_line() {
    let gw = Gateway::start();
    let out = tollgate()
        .args(["chat", "mock/echo", "hello json", "--json"])
        .args(["--base-url", &gw.api, "--api-key", &gw.key])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let chunks: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(chunks.len() >= 3, "{out}");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hello json");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("gen-"), "{id}");
    assert!(chunks.iter().all(|c| c["id"] == id), "{out}");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], serde_json::json!([]), "{last}");
    assert!(last["usage"]["total_tokens"].as_u64().is_some(), "{last}");
}

#[test]
fn chat_with_a_bad_key_fails_with_the_401() {
    let gw = Gateway::start();
    let out = tollgate()
        .args(["chat", "mock/echo", "hi"])
        .args(["--base-url", &gw.api, "--api-key", "sk-tg-v1-wrong"])
        .assert()
        .code(1)
        .stdout("")
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(line.contains("401"), "{line}");
    assert!(line.contains("Invalid API key"), "{line}");
}

#[test]
fn chat_without_a_key_is_a_local_error_naming_flag_and_variable() {
    let gw = Gateway::start();
    let out = tollgate()
        .args(["chat", "mock/echo", "hi", "--base-url", &gw.api])
        .assert()
        .code(2)
        .stdout("")
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(
        line.contains("--api-key") && line.contains("TOLLGATE_API_KEY"),
        "{line}"
    );
}

#[test]
fn chat_with_an_unknown_model_names_it() {
    let gw = Gateway::start();
    let out = tollgate()
        .args(["chat", "acme/nonexistent", "hi"])
        .args(["--base-url", &gw.api, "--api-key", &gw.key])
        .assert()
        .code(1)
        .stdout("")
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(line.contains("acme/nonexistent"), "{line}");
}

// --- without a server ----------------------------------------------------

#[test]
fn an_unreachable_server_is_named() {
    // A port that was free a moment ago and is closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    for args in [
        vec!["models"],
        vec!["chat", "mock/echo", "hi", "--api-key", "k"],
    ] {
        let out = tollgate()
            .args(&args)
            .args(["--base-url", &base])
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone();
        let line = one_line_error(&out);
        assert!(line.contains(&base), "{line}");
        assert!(line.contains("could not connect to"), "{line}");
    }
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    tollgate()
        .arg("frobnicate")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("frobnicate"));
}

#[test]
fn a_missing_prompt_is_a_usage_error() {
    tollgate()
        .args(["chat", "mock/echo"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("PROMPT"));
}

#[test]
fn help_lists_the_subcommands() {
    tollgate()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("chat").and(predicate::str::contains("models")));
}

// --- against wiremock replaying OpenRouter ----------------------------------

async fn openrouter(sse: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-or-v1-test"))
        .and(body_partial_json(serde_json::json!({
            "model": "openai/gpt-4o",
            "stream": true,
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(fixture(sse)),
        )
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn an_openrouter_stream_with_comments_and_usage_prints_the_text() {
    let server = openrouter("openrouter-stream.sse").await;
    let base = format!("{}/api/v1", server.uri());
    tollgate()
        .args(["chat", "openai/gpt-4o", "Say hello in French"])
        .args(["--base-url", &base, "--api-key", "sk-or-v1-test"])
        .assert()
        .success()
        .stdout("Bonjour, café ☕!\n")
        .stderr("");
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["messages"][0]["content"], "Say hello in French");
}

#[tokio::test]
async fn a_system_prompt_is_sent_first() {
    let server = openrouter("openrouter-stream.sse").await;
    let base = format!("{}/api/v1", server.uri());
    tollgate()
        .args(["chat", "openai/gpt-4o", "Hi", "--system", "Be brief"])
        .args(["--base-url", &base, "--api-key", "sk-or-v1-test"])
        .assert()
        .success();
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "Be brief");
    assert_eq!(body["messages"][1]["role"], "user");
}

#[tokio::test]
async fn an_openrouter_stream_json_prints_every_chunk() {
    let server = openrouter("openrouter-stream.sse").await;
    let base = format!("{}/api/v1", server.uri());
    let out = tollgate()
        .args(["chat", "openai/gpt-4o", "x", "--json"])
        .args(["--base-url", &base, "--api-key", "sk-or-v1-test"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let chunks: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Six data chunks; the comments and [DONE] are not chunks.
    assert_eq!(chunks.len(), 6, "{out}");
    assert_eq!(chunks[5]["usage"]["cost"], 0.000093, "{out}");
}

#[tokio::test]
async fn a_mid_stream_error_prints_the_partial_text_then_fails() {
    let server = openrouter("openrouter-stream-error.sse").await;
    let base = format!("{}/api/v1", server.uri());
    let output = tollgate()
        .args(["chat", "openai/gpt-4o", "x"])
        .args(["--base-url", &base, "--api-key", "sk-or-v1-test"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.starts_with("Partial answer"), "{stdout:?}");
    let line = one_line_error(&output.stderr);
    assert!(line.contains("Provider disconnected"), "{line}");
}

#[tokio::test]
async fn an_error_status_with_an_openrouter_body_shows_its_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(402).set_body_json(serde_json::json!({
            "error": {"code": 402, "message": "Insufficient credits. Add more using https://openrouter.ai/credits"}
        })))
        .mount(&server)
        .await;
    let base = format!("{}/api/v1", server.uri());
    let out = tollgate()
        .args(["chat", "openai/gpt-4o", "x"])
        .args(["--base-url", &base, "--api-key", "k"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(
        line.contains("402") && line.contains("Insufficient credits"),
        "{line}"
    );
}

// --- every command against the demo gateway --------------------------------

impl Gateway {
    /// `tollgate ARGS --base-url API --api-key KEY`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = tollgate();
        cmd.args(args)
            .args(["--base-url", &self.api, "--api-key", &self.key]);
        cmd
    }

    /// stdout of a successful run.
    fn ok(&self, args: &[&str]) -> String {
        let out = self
            .cmd(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }

    /// The JSON printed by a successful `ARGS --json`.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(&[args, &["--json"]].concat());
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// The one-line error of a run that exits with `code`.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self
            .cmd(args)
            .assert()
            .code(code)
            .get_output()
            .stderr
            .clone();
        one_line_error(&out)
    }

    /// A new account through the admin API: (id, provisioning key, API key).
    fn account(&self, name: &str) -> (String, String, String) {
        let created = self.json(&[
            "admin",
            "accounts",
            "create",
            name,
            "--admin-key",
            &self.admin,
        ]);
        (
            created["data"]["id"].as_str().unwrap().to_string(),
            created["provisioning_key"].as_str().unwrap().to_string(),
            created["api_key"].as_str().unwrap().to_string(),
        )
    }
}

#[test]
fn providers_and_endpoints() {
    let gw = Gateway::start();
    let providers = gw.json(&["providers"]);
    let slugs: Vec<&str> = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert!(!slugs.is_empty());
    let table = gw.ok(&["providers"]);
    assert!(table.starts_with("SLUG"), "{table}");
    for slug in &slugs {
        assert!(table.contains(slug), "{table}");
    }

    let eps = gw.json(&["endpoints", "mock/echo"]);
    assert_eq!(eps["data"]["id"], "mock/echo");
    let tags: Vec<&str> = eps["data"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert!(!tags.is_empty());
    let table = gw.ok(&["endpoints", "mock/echo"]);
    assert!(
        table.contains("PROVIDER") && table.contains(tags[0]),
        "{table}"
    );

    let line = gw.fails(&["endpoints", "acme/nonexistent"], 1);
    assert!(
        line.contains("404") && line.contains("acme/nonexistent"),
        "{line}"
    );
}

#[test]
fn models_filters_and_sorts() {
    let gw = Gateway::start();
    let ids = |args: &[&str]| -> Vec<String> {
        gw.json(&[&["models"], args].concat())["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ids(&[]);
    assert!(all.len() >= 3, "{all:?}");
    assert_eq!(ids(&["--search", "SMALL-CONTEXT"]), ["mock/small-context"]);
    let free = ids(&["--max-prompt-price", "0"]);
    assert!(free.contains(&String::from("mock/echo:free")), "{free:?}");
    assert!(!free.contains(&String::from("mock/echo")), "{free:?}");
    let big = ids(&["--min-context", "100000"]);
    assert!(big.contains(&String::from("mock/echo")), "{big:?}");
    assert!(
        !big.contains(&String::from("mock/small-context")),
        "{big:?}"
    );
    assert!(ids(&["--modality", "video"]).is_empty());
    assert_eq!(ids(&["--modality", "text"]).len(), all.len());
    let cheapest = ids(&["--sort", "price"]);
    assert!(cheapest[0].ends_with(":free"), "{cheapest:?}");
    // Every model is served by some provider; none by an unknown one.
    let slug = gw.json(&["providers"])["data"][0]["slug"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!ids(&["--provider", &slug]).is_empty());
    assert!(ids(&["--provider", "no-such-provider"]).is_empty());
    let empty = gw.ok(&["models", "--search", "zzz-nothing"]);
    assert_eq!(empty.trim(), "(none)");
}

#[test]
fn credits_and_key() {
    let gw = Gateway::start();
    let credits = gw.json(&["credits"]);
    assert_eq!(credits["data"]["total_credits"], 100.0, "{credits}");
    assert_eq!(credits["data"]["total_usage"], 0.0, "{credits}");
    let human = gw.ok(&["credits"]);
    assert!(
        human.contains("Remaining") && human.contains("$100.00"),
        "{human}"
    );

    let key = gw.json(&["key"]);
    assert_eq!(key["data"]["is_provisioning_key"], false, "{key}");
    assert_eq!(key["data"]["limit"], Value::Null, "{key}");
    assert!(
        key["data"]["rate_limit"].is_object(),
        "unknown fields kept: {key}"
    );
    let human = gw.ok(&["key"]);
    assert!(
        human.contains("inference") && human.contains("none"),
        "{human}"
    );

    let out = tollgate()
        .args([
            "credits",
            "--base-url",
            &gw.api,
            "--api-key",
            "sk-tg-v1-wrong",
        ])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(one_line_error(&out).contains("401"));
}

#[test]
fn generation_and_activity_after_a_chat() {
    let gw = Gateway::start();
    let out = gw.ok(&["chat", "mock/echo", "count me", "--json"]);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let id = first["id"].as_str().unwrap().to_string();
    // The record lands a moment after the stream ends.
    let mut generation = None;
    for _ in 0..50 {
        let run = gw.cmd(&["generation", &id, "--json"]).output().unwrap();
        if run.status.success() {
            generation = Some(serde_json::from_slice::<Value>(&run.stdout).unwrap());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let g = generation.expect("the generation was never recorded");
    assert_eq!(g["data"]["id"], id.as_str());
    assert_eq!(g["data"]["model"], "mock/echo");
    assert!(g["data"]["total_cost"].as_f64().unwrap() > 0.0, "{g}");
    let human = gw.ok(&["generation", &id]);
    assert!(
        human.contains("Cost") && human.contains("mock/echo"),
        "{human}"
    );

    let today = &g["data"]["created_at"].as_str().unwrap()[..10];
    let rows = gw.json(&["activity", "--date", today]);
    let rows = rows["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["requests"], 1);
    let table = gw.ok(&["activity", "--date", today]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("DATE"), "{table}");
    assert!(
        lines[1].starts_with(today) && lines[1].contains('█'),
        "{table}"
    );
    assert!(table.contains("total: 1 requests"), "{table}");
    let by_model = gw.ok(&["activity", "--date", today, "--by-model"]);
    assert!(by_model.contains("mock/echo"), "{by_model}");

    let line = gw.fails(&["generation", "gen-does-not-exist"], 1);
    assert!(line.contains("404"), "{line}");
    let line = gw.fails(&["activity", "--date", "yesterday"], 1);
    assert!(line.contains("400") && line.contains("date"), "{line}");
}

#[test]
fn keys_lifecycle_with_a_provisioning_key() {
    let gw = Gateway::start();
    let (_, prov, api) = gw.account("keys-test");
    let keys = |args: &[&str]| -> Value {
        gw.json(&[&["keys"], args, &["--provisioning-key", &prov]].concat())
    };

    let listed = keys(&["list"]);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

    let created = keys(&["create", "ci", "--limit", "5", "--limit-reset", "monthly"]);
    let secret = created["key"].as_str().unwrap().to_string();
    let hash = created["data"]["hash"].as_str().unwrap().to_string();
    assert_eq!(created["data"]["name"], "ci");
    assert_eq!(created["data"]["limit"], 5.0);
    assert_eq!(created["data"]["limit_reset"], "monthly");
    // The new key works.
    let own = tollgate()
        .args(["key", "--json", "--base-url", &gw.api, "--api-key", &secret])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let own: Value = serde_json::from_slice(&own).unwrap();
    assert_eq!(own["data"]["limit"], 5.0);

    assert_eq!(keys(&["get", &hash])["data"]["hash"], hash.as_str());
    let updated = keys(&["update", &hash, "--disable", "--no-limit", "--name", "ci-2"]);
    assert_eq!(updated["data"]["disabled"], true);
    assert_eq!(updated["data"]["limit"], Value::Null);
    assert_eq!(updated["data"]["name"], "ci-2");
    assert_eq!(keys(&["list"])["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        keys(&["list", "--all"])["data"].as_array().unwrap().len(),
        2
    );

    // Human output, through the environment variable this time.
    let table = tollgate()
        .args(["keys", "list", "--all", "--base-url", &gw.api])
        .env("TOLLGATE_PROVISIONING_KEY", &prov)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(table).unwrap();
    assert!(table.starts_with("HASH"), "{table}");
    assert!(
        table.contains("ci-2") && table.contains("disabled"),
        "{table}"
    );

    assert_eq!(keys(&["delete", &hash, "--yes"])["deleted"], true);
    let line = gw.fails(&["keys", "get", &hash, "--provisioning-key", &prov], 1);
    assert!(line.contains("404"), "{line}");

    // An inference key cannot manage keys; no key at all is a usage error.
    let line = gw.fails(&["keys", "list", "--provisioning-key", &api], 1);
    assert!(line.contains("40"), "{line}");
    let line = gw.fails(&["keys", "list"], 2);
    assert!(line.contains("provisioning key"), "{line}");
    let line = gw.fails(&["keys", "update", "h", "--provisioning-key", &prov], 2);
    assert!(line.contains("nothing to change"), "{line}");
}

#[test]
fn admin_accounts_and_credits() {
    let gw = Gateway::start();
    let (id, _, api) = gw.account("acme");
    let list = gw.json(&["admin", "accounts", "list", "--admin-key", &gw.admin]);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"demo") && names.contains(&"acme"),
        "{names:?}"
    );
    let table = gw.ok(&["admin", "accounts", "list", "--admin-key", &gw.admin]);
    assert!(table.starts_with("ID") && table.contains(&id), "{table}");

    let top_up = gw.json(&[
        "admin",
        "credits",
        &id,
        "12.5",
        "--note",
        "test",
        "--admin-key",
        &gw.admin,
    ]);
    assert_eq!(top_up["data"]["entry"]["amount"], "12.5", "{top_up}");
    assert_eq!(top_up["data"]["balance"]["available"], "12.5", "{top_up}");
    let human = tollgate()
        .args(["admin", "credits", &id, "0.5", "--base-url", &gw.api])
        .env("TOLLGATE_ADMIN_KEY", &gw.admin)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let human = String::from_utf8(human).unwrap();
    assert!(
        human.contains("added $0.50") && human.contains("$13.00 available"),
        "{human}"
    );
    let account = gw.json(&["admin", "accounts", "get", &id, "--admin-key", &gw.admin]);
    assert_eq!(account["data"]["balance"]["total_credits"], "13");
    // The account's own key sees the credits.
    let credits = tollgate()
        .args([
            "credits",
            "--json",
            "--base-url",
            &gw.api,
            "--api-key",
            &api,
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let credits: Value = serde_json::from_slice(&credits).unwrap();
    assert_eq!(credits["data"]["total_credits"], 13.0);

    let line = gw.fails(&["admin", "accounts", "list", "--admin-key", "wrong"], 1);
    assert!(line.contains("40"), "{line}");
    let line = gw.fails(&["admin", "accounts", "list"], 2);
    assert!(line.contains("admin key"), "{line}");
    let line = gw.fails(&["admin", "credits", &id, "0", "--admin-key", &gw.admin], 1);
    assert!(line.contains("400") && line.contains("amount"), "{line}");
    tollgate()
        .args(["admin", "credits", &id, "ten", "--admin-key", &gw.admin])
        .assert()
        .code(2);
}

#[test]
fn chat_reads_a_piped_prompt() {
    let gw = Gateway::start();
    gw.cmd(&["chat", "mock/echo"])
        .write_stdin("piped prompt\n")
        .assert()
        .success()
        .stdout("echo: piped prompt\n");
    // --model instead of the positional model.
    gw.cmd(&["chat", "--model", "mock/echo", "flag model"])
        .assert()
        .success()
        .stdout("echo: flag model\n");
    let line = gw.fails(&["chat"], 2);
    assert!(line.contains("MODEL"), "{line}");
}

#[test]
fn the_config_file_is_overridden_by_env_and_flags() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "base_url = \"{}\"\napi_key = \"{}\"\nadmin_key = \"{}\"\n",
            gw.api, gw.key, gw.admin
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    // The file alone.
    tollgate()
        .args(["credits", "--config", file])
        .assert()
        .success()
        .stdout(predicate::str::contains("$100.00"));
    tollgate()
        .args(["admin", "accounts", "list"])
        .env("TOLLGATE_CONFIG", file)
        .assert()
        .success()
        .stdout(predicate::str::contains("demo"));
    // The default location, ~/.config/tollgate/config.toml.
    let home = dir.path().join("xdg");
    std::fs::create_dir_all(home.join("tollgate")).unwrap();
    std::fs::copy(file, home.join("tollgate/config.toml")).unwrap();
    tollgate()
        .arg("credits")
        .env("XDG_CONFIG_HOME", &home)
        .assert()
        .success();
    // The environment beats the file; a flag beats the environment.
    let out = tollgate()
        .args(["credits", "--config", file])
        .env("TOLLGATE_API_KEY", "sk-tg-v1-wrong")
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(one_line_error(&out).contains("401"));
    tollgate()
        .args(["credits", "--config", file, "--api-key", &gw.key])
        .env("TOLLGATE_API_KEY", "sk-tg-v1-wrong")
        .assert()
        .success();
    // A bad file is a usage error naming it.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "base_urll = \"x\"\n").unwrap();
    let out = tollgate()
        .args(["credits", "--config", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(
        line.contains("bad.toml") && line.contains("base_urll"),
        "{line}"
    );
}

// --- without a server ----------------------------------------------------

#[test]
fn catalog_validate_reports_every_problem_with_its_location() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/e2e/acme-widget.json");
    let bad = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/e2e/acme-widget-negative-price.json");
    tollgate()
        .args(["catalog", "validate"])
        .arg(&good)
        .assert()
        .success()
        .stdout(predicate::str::contains("1 models, no problems"));
    let out = tollgate()
        .args(["catalog", "validate", "--provider", "acme"])
        .arg(&bad)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("provider acme, model acme/widget: field pricing.completion"),
        "{stdout}"
    );
    assert!(one_line_error(&out.stderr).contains("1 problem"));
    let out = tollgate()
        .args(["catalog", "validate", "--json"])
        .arg(&bad)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["model"], "acme/widget");
    assert_eq!(report["problems"][0]["field"], "pricing.completion");
    // A file that cannot be read is an I/O error (1), not usage (2).
    let out = tollgate()
        .args(["catalog", "validate", "/nonexistent/listing.json"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(line.contains("/nonexistent/listing.json"), "{line}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        tollgate()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("tollgate"));
    }
    tollgate().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn every_subcommand_has_help() {
    for cmd in [
        "chat",
        "models",
        "endpoints",
        "providers",
        "credits",
        "key",
        "keys",
        "generation",
        "activity",
        "catalog",
        "admin",
        "completions",
    ] {
        tollgate()
            .args([cmd, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage"));
    }
}

#[tokio::test]
async fn fallback_models_and_provider_preferences_are_sent() {
    let server = openrouter("openrouter-stream.sse").await;
    let base = format!("{}/api/v1", server.uri());
    tollgate()
        .args([
            "chat",
            "--model",
            "openai/gpt-4o",
            "--model",
            "mock/echo",
            "Hi",
        ])
        .args([
            "--provider-order",
            "openai,azure",
            "--provider-ignore",
            "deepinfra",
        ])
        .args([
            "--provider-only",
            "openai",
            "--provider-only",
            "azure",
            "--no-fallbacks",
        ])
        .args(["--base-url", &base, "--api-key", "sk-or-v1-test"])
        .assert()
        .success();
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body["models"],
        serde_json::json!(["openai/gpt-4o", "mock/echo"])
    );
    assert_eq!(
        body["provider"],
        serde_json::json!({"order": ["openai", "azure"], "only": ["openai", "azure"],
            "ignore": ["deepinfra"], "allow_fallbacks": false})
    );
    assert_eq!(requests[0].headers["x-title"], "tollgate-cli");
}

/// The issue-21 items: pipes, timeouts, hints, chat sessions, keys by
/// prefix, login and profiles, validated options, trimmed errors.
#[path = "cli/ux.rs"]
mod ux;
