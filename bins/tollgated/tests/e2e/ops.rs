//! What an operator watches and runs (issue 21): the access line of each
//! request (text and JSON), the start-up summary, `/health` and `/ready`
//! (503 while draining), `/metrics` in both text formats, `--check`, the
//! provisioning key of `--dev`, and `deploy/` as shipped.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tollgate_testkit::{MockConfig, MockServer};

use super::daemon::{ADMIN_KEY, ConfigDir, DEV_API_KEY, Daemon, Launch, acme_config};
use super::http::{
    BodyReader, chat_body, client, data_events, get_json, model_ids, post_chat, post_chat_with,
};

/// How long a log line may take to show.
const LOG_TIMEOUT: Duration = Duration::from_secs(20);
/// The provisioning key handed to `--dev`.
const DEV_PROVISIONING_KEY: &str = "sk-tg-v1-test-e2e-provisioning-0123456789";
/// The access lines' target.
const ACCESS: &str = "tollgate::access";

/// `--dev` logging as an operator's daemon does: `RUST_LOG` unset.
fn dev_default_logs() -> Launch {
    Launch::dev().without_env("RUST_LOG")
}

/// Waits until `count` lines of stderr satisfy `pred`; returns them.
fn wait_lines(d: &mut Daemon, count: usize, pred: impl Fn(&str) -> bool) -> Vec<String> {
    let began = Instant::now();
    loop {
        let stderr = d.stderr();
        let lines: Vec<String> = stderr
            .lines()
            .filter(|l| pred(l))
            .map(str::to_owned)
            .collect();
        if lines.len() >= count {
            return lines;
        }
        if began.elapsed() > LOG_TIMEOUT {
            d.fail(&format!(
                "fewer than {count} matching lines after {LOG_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `name` in a text log line (`name=value` or `name="value"`,
/// in the span or the event's fields).
fn text_field(line: &str, name: &str) -> Option<String> {
    let at = [format!("{{{name}="), format!(" {name}=")]
        .iter()
        .filter_map(|p| line.find(p.as_str()).map(|i| i + p.len()))
        .min()?;
    let rest = &line[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next().map(str::to_owned);
    }
    let end = rest.find([' ', '}']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// A header's value as text.
fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_owned()
}

/// Requests an operator's log should show: a chat, a stream, a request
/// with a wrong key and a probe. Returns (generation id, request id) of the
/// chat and the stream.
async fn traffic(d: &Daemon) -> [(String, String); 2] {
    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", "hi", false)).await;
    assert_eq!(resp.status(), 200);
    let chat = (
        header(&resp, "x-generation-id"),
        header(&resp, "x-request-id"),
    );
    let _ = resp.bytes().await.unwrap();

    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", "hi", true)).await;
    assert_eq!(resp.status(), 200);
    let request_id = header(&resp, "x-request-id");
    let text = BodyReader::new(resp).read_to_end().await;
    let first = data_events(&text)
        .iter()
        .find_map(|e| e.json())
        .expect("a chunk");
    let stream = (first["id"].as_str().unwrap().to_owned(), request_id);

    let resp = post_chat(
        &d.api(),
        "sk-tg-v1-wrong",
        &chat_body("mock/echo", "hi", false),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let resp = client().get(d.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    [chat, stream]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_has_one_info_access_line_in_text() {
    let mut d = tokio::task::block_in_place(|| dev_default_logs().start());
    let [chat, stream] = traffic(&d).await;
    let lines = tokio::task::block_in_place(|| {
        wait_lines(&mut d, 3, |l| l.contains(&format!(" {ACCESS}: ")))
    });
    let stderr = d.stderr();
    assert_eq!(lines.len(), 3, "the probe logs no INFO line:\n{stderr}");
    assert!(lines.iter().all(|l| l.contains(" INFO ")), "{stderr}");
    let line_of = |request_id: &str| {
        lines
            .iter()
            .find(|l| text_field(l, "request_id").as_deref() == Some(request_id))
            .unwrap_or_else(|| panic!("no access line of {request_id}:\n{stderr}"))
    };
    for ((generation, request_id), streamed) in [(&chat, false), (&stream, true)] {
        let line = line_of(request_id);
        let f = |name: &str| text_field(line, name).unwrap_or_else(|| panic!("no {name}: {line}"));
        assert_eq!(f("method"), "POST", "{line}");
        assert_eq!(f("path"), "/api/v1/chat/completions", "{line}");
        assert_eq!(f("status"), "200", "{line}");
        assert_eq!(f("key"), "demo", "{line}");
        assert_eq!(f("model"), "mock/echo", "{line}");
        assert!(!f("provider").is_empty(), "{line}");
        assert_eq!(&f("generation_id"), generation, "{line}");
        assert!(f("tokens_prompt").parse::<u64>().unwrap() > 0, "{line}");
        assert!(f("tokens_completion").parse::<u64>().unwrap() > 0, "{line}");
        assert!(
            f("cost").parse::<Decimal>().unwrap() > Decimal::ZERO,
            "{line}"
        );
        assert!(f("latency_ms").parse::<f64>().unwrap() >= 0.0, "{line}");
        assert_eq!(
            text_field(line, "duration_ms").is_some(),
            streamed,
            "{line}"
        );
    }
    let refused = lines
        .iter()
        .find(|l| text_field(l, "status").as_deref() == Some("401"))
        .unwrap_or_else(|| panic!("no access line of the 401:\n{stderr}"));
    assert_eq!(text_field(refused, "key"), None, "{refused}");
    assert_eq!(text_field(refused, "generation_id"), None, "{refused}");

    // Never a key; no per-query lines of sqlx; no colour into a pipe.
    assert!(!stderr.contains(DEV_API_KEY), "{stderr}");
    assert!(!stderr.contains("sk-tg-v1-wrong"), "{stderr}");
    assert!(!stderr.contains("sqlx::query"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");

    // The start-up summary, checked against what is served.
    let started = stderr
        .lines()
        .find(|l| l.contains("tollgated started"))
        .unwrap_or_else(|| panic!("no start-up summary:\n{stderr}"));
    let f = |name: &str| text_field(started, name).unwrap_or_else(|| panic!("{name}: {started}"));
    assert_eq!(f("version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(f("listen"), d.addr().to_string());
    assert_eq!(f("database"), "sqlite");
    assert!(f("database_location").starts_with("sqlite:"), "{started}");
    assert_eq!(f("redis"), "none");
    let models = model_ids(&get_json(&format!("{}/models", d.api())).await);
    assert_eq!(f("models").parse::<usize>().unwrap(), models.len());
    let providers: Value = get_json(&format!("{}/providers", d.api())).await;
    let slugs: Vec<String> = providers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_owned())
        .collect();
    let mut logged: Vec<String> = f("provider_slugs").split(',').map(str::to_owned).collect();
    let mut served = slugs;
    logged.sort();
    served.sort();
    assert_eq!(logged, served, "{started}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_lines_in_json_carry_the_same_fields() {
    let launch = dev_default_logs()
        .env("TOLLGATE_LOG_FORMAT", "json")
        .env("NO_COLOR", "1");
    let mut d = tokio::task::block_in_place(|| launch.start());
    let [chat, stream] = traffic(&d).await;
    tokio::task::block_in_place(|| wait_lines(&mut d, 3, |l| l.contains(ACCESS)));
    let stderr = d.stderr();
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access: Vec<&Value> = events.iter().filter(|e| e["target"] == ACCESS).collect();
    assert_eq!(access.len(), 3, "{stderr}");
    for ((generation, request_id), streamed) in [(&chat, false), (&stream, true)] {
        let e = access
            .iter()
            .find(|e| e["span"]["request_id"] == request_id.as_str())
            .unwrap_or_else(|| panic!("no access line of {request_id}:\n{stderr}"));
        assert_eq!(e["level"], "INFO", "{e}");
        assert_eq!(e["fields"]["status"], 200, "{e}");
        assert_eq!(e["fields"]["path"], "/api/v1/chat/completions", "{e}");
        assert!(e["fields"]["latency_ms"].is_number(), "{e}");
        assert_eq!(e["fields"]["duration_ms"].is_number(), streamed, "{e}");
        let span = &e["span"];
        assert_eq!(span["method"], "POST", "{e}");
        assert_eq!(span["key"], "demo", "{e}");
        assert_eq!(span["model"], "mock/echo", "{e}");
        assert_eq!(span["generation_id"], generation.as_str(), "{e}");
        assert!(span["tokens_prompt"].as_u64().unwrap() > 0, "{e}");
        assert!(span["tokens_completion"].as_u64().unwrap() > 0, "{e}");
        let cost: Decimal = span["cost"].as_str().unwrap().parse().unwrap();
        assert!(cost > Decimal::ZERO, "{e}");
    }
    assert!(
        access.iter().any(|e| e["fields"]["status"] == 401),
        "{stderr}"
    );
    let started = events
        .iter()
        .find(|e| e["fields"]["message"] == "tollgated started")
        .unwrap_or_else(|| panic!("no start-up summary:\n{stderr}"));
    assert_eq!(started["fields"]["database"], "sqlite", "{started}");
    assert_eq!(
        started["fields"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{started}"
    );
    assert!(!stderr.contains(DEV_API_KEY));
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_summary_names_the_database_without_its_password() {
    let db = tollgate_store::testing::fresh_postgres()
        .await
        .expect("a fresh PostgreSQL database");
    // The test server trusts local connections: the password is never
    // checked, only carried in the URL.
    let url = db
        .url()
        .replacen("://postgres@", "://postgres:s3cret-pw@", 1);
    assert!(
        url.contains("s3cret-pw"),
        "unexpected test URL {}",
        db.url()
    );
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let config = dir.write(
        "tollgate.toml",
        &acme_config(
            &mock.base_url(),
            "acme-widget.json",
            &format!("\n[database]\nurl = \"{url}\"\n"),
        ),
    );
    let launch = Launch::bare()
        .env("RUST_LOG", "info")
        .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY)
        .config(&config);
    let mut d = tokio::task::block_in_place(|| launch.start());
    let started =
        tokio::task::block_in_place(|| wait_lines(&mut d, 1, |l| l.contains("tollgated started")))
            .remove(0);
    assert_eq!(
        text_field(&started, "database").as_deref(),
        Some("postgres")
    );
    let location = text_field(&started, "database_location").unwrap();
    assert!(location.starts_with("postgres://postgres:"), "{started}");
    assert!(
        location.contains("127.0.0.1") || location.contains("localhost"),
        "{started}"
    );
    assert!(!d.stderr().contains("s3cret-pw"), "{}", d.stderr());
    assert!(!d.stdout().join("\n").contains("s3cret-pw"));
    assert_eq!(text_field(&started, "models").as_deref(), Some("1"));
    assert_eq!(
        text_field(&started, "provider_slugs").as_deref(),
        Some("acme")
    );
    drop(d);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_liveness_and_ready_checks_without_a_key() {
    let d = tokio::task::block_in_place(|| Launch::dev().start());
    let health = client().get(d.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let ready = client().get(d.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
    assert_eq!(ready["draining"], false, "{ready}");
    let models = model_ids(&get_json(&format!("{}/models", d.api())).await);
    assert_eq!(ready["models"], json!(models.len()), "{ready}");
}

/// Sends what is left of a request on `conn` and reads the answer to its
/// end (the server closes the connection: it is draining).
fn finish_request(conn: &mut TcpStream, rest: &[u8]) -> String {
    conn.set_read_timeout(Some(LOG_TIMEOUT)).unwrap();
    conn.write_all(rest).unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_answers_503_while_draining() {
    // At info: the test waits for the line saying the drain began.
    let mut d = tokio::task::block_in_place(|| dev_default_logs().start());
    // A slow stream keeps the server draining for a few seconds.
    let prompt = "[mock:slow] one two three four five six seven eight nine ten";
    let client = client();
    let resp = post_chat_with(
        &client,
        &d.api(),
        DEV_API_KEY,
        &chat_body("mock/echo", prompt, true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = BodyReader::new(resp);
    body.read_until("\"content\":\"echo\"").await;
    // A load balancer's probe, its request line sent before the signal and
    // its headers ended after it.
    // Its request line is sent before the signal and its headers ended
    // after it. The signal waits until the server has accepted the probe's
    // connection (counted by `/metrics`, scraped over one kept-alive
    // connection, already counted itself).
    let scraper = super::http::client();
    let accepted = || async {
        let text = scraper
            .get(d.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("tollgate_connections_accepted_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no accepted connections count in\n{text}"))
    };
    accepted().await;
    let before = accepted().await;
    let mut probe = TcpStream::connect(d.addr()).unwrap();
    probe
        .write_all(b"GET /ready HTTP/1.1\r\nHost: tollgate\r\n")
        .unwrap();
    let began = Instant::now();
    while accepted().await < before + 1.0 {
        assert!(began.elapsed() < LOG_TIMEOUT, "the probe was not accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment for its connection's task to read what was sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.signal("TERM");
    tokio::task::block_in_place(|| {
        wait_lines(&mut d, 1, |l| l.contains("shutdown signal received"))
    });
    let answer = tokio::task::block_in_place(|| finish_request(&mut probe, b"\r\n"));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(json["draining"], true, "{json}");
    assert_eq!(json["status"], "not ready", "{json}");
    body.drain().await;
}

/// Every line of a Prometheus 0.0.4 exposition: a comment or
/// `name{labels} value`, with the names of `# TYPE` lines.
fn assert_prometheus_text(text: &str) {
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{line}");
            }
            families.push(name.to_owned());
            continue;
        }
        assert!(
            line.starts_with("# HELP ") || !line.starts_with('#'),
            "not in 0.0.4: {line}"
        );
        if line.starts_with('#') {
            continue;
        }
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
        let name = &line[..line.find(['{', ' ']).unwrap()];
        assert!(
            families.iter().any(|f| name.starts_with(f.as_str())),
            "sample {name} outside its family: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_prometheus_text_when_asked_and_openmetrics_otherwise() {
    let d = tokio::task::block_in_place(|| Launch::dev().start());
    let resp = post_chat(&d.api(), DEV_API_KEY, &chat_body("mock/echo", "hi", false)).await;
    assert_eq!(resp.status(), 200);
    let scrape = |accept: Option<&'static str>| {
        let mut req = client().get(d.url("/metrics"));
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            (header(&resp, "content-type"), resp.text().await.unwrap())
        }
    };
    for accept in ["text/plain", "text/plain;version=0.0.4;q=1,*/*;q=0.1"] {
        let (content_type, text) = scrape(Some(accept)).await;
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{accept}: {content_type}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("# UNIT"), "{text}");
        assert!(
            text.contains("# TYPE tollgate_http_requests_total counter"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("tollgate_http_requests_total{")
                    && l.contains("route=\"/api/v1/chat/completions\"")),
            "{text}"
        );
        assert_prometheus_text(&text);
    }
    // What Prometheus itself sends prefers OpenMetrics; so does no Accept.
    let prometheus =
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";
    for accept in [Some(prometheus), None] {
        let (content_type, text) = scrape(accept).await;
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{accept:?}: {content_type}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}

#[test]
fn dev_prints_a_provisioning_key_that_manages_keys() {
    let launch = Launch::dev().env("TOLLGATE_DEV_PROVISIONING_KEY", DEV_PROVISIONING_KEY);
    let mut d = launch.start();
    let line = d.wait_line("provisioning key", |l| {
        l.trim_start().starts_with("provisioning key:")
    });
    assert_eq!(
        line.trim_start()
            .strip_prefix("provisioning key:")
            .map(str::trim),
        Some(DEV_PROVISIONING_KEY)
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let keys = client()
            .get(format!("{}/keys", d.api()))
            .bearer_auth(DEV_PROVISIONING_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(keys.status(), 200);
        let keys: Value = keys.json().await.unwrap();
        let labels: Vec<&str> = keys["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| k["name"].as_str())
            .collect();
        assert!(labels.contains(&"demo"), "{keys}");
        // It manages keys; it does not call models.
        let chat = post_chat(
            &d.api(),
            DEV_PROVISIONING_KEY,
            &chat_body("mock/echo", "hi", false),
        )
        .await;
        assert_eq!(chat.status(), 403);
    });
}

/// The repository's `deploy/` directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

#[test]
fn check_passes_the_shipped_deploy_example_from_any_directory() {
    let elsewhere = ConfigDir::new();
    let example = deploy_dir().join("tollgate.toml.example");
    let out = Launch::bare()
        .args(["--check", "--config"])
        .args([example.as_os_str()])
        .cwd(elsewhere.path())
        .run();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    for slug in ["openai", "anthropic", "google-ai-studio"] {
        assert!(out.stdout.contains(slug), "{}", out.stdout);
    }
    assert!(out.stdout.contains("providers: 3"), "{}", out.stdout);
    // The shipped listings are what it counted.
    let mut models = 0;
    for file in ["openai.json", "anthropic.json", "gemini.json"] {
        let text = std::fs::read_to_string(deploy_dir().join("providers").join(file)).unwrap();
        let listing: Value = serde_json::from_str(&text).unwrap();
        models += listing["data"].as_array().unwrap().len();
    }
    assert!(
        out.stdout.contains(&format!("models:    {models}")),
        "{}",
        out.stdout
    );
}

#[test]
fn check_reads_listings_beside_the_config_and_opens_no_database() {
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let db = dir.path().join("tollgate.db");
    dir.write(
        "tollgate.toml",
        &acme_config(
            "http://127.0.0.1:9/v1",
            "acme-widget.json",
            &format!("\n[database]\nurl = \"sqlite://{}\"\n", db.display()),
        ),
    );
    // A relative config path, from the config's parent: the listing is
    // found beside the config, not in the working directory.
    let parent = dir.path().parent().unwrap();
    let relative = Path::new(dir.path().file_name().unwrap()).join("tollgate.toml");
    let out = Launch::bare()
        .args(["--check", "--config"])
        .args([relative.as_os_str()])
        .cwd(parent)
        .run();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("providers: 1 (acme)"), "{}", out.stdout);
    assert!(out.stdout.contains("models:    1"), "{}", out.stdout);
    assert!(!db.exists(), "--check created the database");
}

#[test]
fn check_names_the_file_and_field_with_absolute_paths() {
    let dir = ConfigDir::new();
    let elsewhere = ConfigDir::new();
    let run = |config: &Path| {
        Launch::bare()
            .args(["--check", "--config"])
            .args([config.as_os_str()])
            .cwd(elsewhere.path())
            .run()
    };

    // A listing file that is not there: its absolute path.
    let config = dir.write(
        "missing.toml",
        &acme_config("http://127.0.0.1:9/v1", "providers/acme.json", ""),
    );
    let out = run(&config);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let missing = dir.path().join("providers/acme.json");
    assert!(
        out.stderr.contains(&missing.display().to_string()),
        "{}",
        out.stderr
    );

    // A listing field wrong: the file and the field.
    let mut listing: Value =
        serde_json::from_str(&super::daemon::fixture_text("acme-widget.json")).unwrap();
    listing["data"][0]
        .as_object_mut()
        .unwrap()
        .remove("context_length");
    let listing_path = dir.write("acme.json", &listing.to_string());
    let config = dir.write(
        "bad-listing.toml",
        &acme_config("http://127.0.0.1:9/v1", "acme.json", ""),
    );
    let out = run(&config);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&listing_path.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("context_length"), "{}", out.stderr);

    // A misspelt key in the config: the config file and the key.
    let config = dir.write(
        "bad-key.toml",
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = 3\n",
    );
    let out = run(&config);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains(&config.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("shutdown_grace"), "{}", out.stderr);

    // Without a config there is nothing to check.
    let out = Launch::bare().args(["--check"]).run();
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("--config"), "{}", out.stderr);
}

/// What `tollgated --dev` writes on a terminal (a pseudo-terminal from
/// util-linux `script`) up to its start-up summary, with `NO_COLOR` set or
/// not; `None` where `script` is missing.
fn on_a_terminal(no_color: bool) -> Option<String> {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    if Command::new("script").arg("--version").output().is_err() {
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_tollgated");
    let mut cmd = Command::new("script");
    cmd.args([
        "-qefc",
        &format!("'{bin}' --dev --listen 127.0.0.1:0"),
        "/dev/null",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .env_remove("RUST_LOG")
    .env_remove("NO_COLOR")
    .env_remove("TOLLGATE_CONFIG")
    .env_remove("TOLLGATE_LOG_FORMAT");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let mut child = cmd.spawn().expect("spawn script");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("tollgated started") {
                break;
            }
        }
        let _ = tx.send(seen);
    });
    let seen = rx.recv_timeout(super::daemon::START_TIMEOUT);
    // `script` passes SIGINT on to the daemon, which stops.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let began = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if began.elapsed() > super::daemon::EXIT_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.expect("no start-up summary on the terminal");
    assert!(seen.contains("tollgated started"), "{seen}");
    Some(seen)
}

#[test]
fn colours_on_a_terminal_unless_no_color() {
    let Some(coloured) = on_a_terminal(false) else {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    };
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    let plain = on_a_terminal(true).unwrap();
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}
