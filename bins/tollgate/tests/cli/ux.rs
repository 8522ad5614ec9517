//! Issue 21's CLI items, each through the real binary.

use std::process::Stdio;

use super::*;

// --- a closed stdout ----------------------------------------------------------

/// Runs `tollgate ARGS` with stdout a pipe nobody reads (closed before the
/// child writes): exit status and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env_remove("NO_COLOR")
        .env("XDG_CONFIG_HOME", "/nonexistent/tollgate-test-config")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The read end goes away before the child has written anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let gw = Gateway::start();
    for args in [
        vec!["models", "--json", "--base-url", &gw.api],
        vec!["models", "--base-url", &gw.api],
        vec![
            "chat",
            "mock/echo",
            "hi",
            "--base-url",
            &gw.api,
            "--api-key",
            &gw.key,
        ],
        vec!["completions", "bash"],
    ] {
        let (code, stderr) = with_closed_stdout(&args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }
}

// --- timeouts, retries and what the messages say -----------------------------

/// A server answering every request with `status` and `headers`.
async fn answering(status: u16, headers: &[(&str, &str)]) -> MockServer {
    let server = MockServer::start().await;
    let mut template = ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "error": {"code": status, "message": "overloaded"}
    }));
    for (k, v) in headers {
        template = template.insert_header(*k, *v);
    }
    Mock::given(method("GET"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

/// Runs `tollgate models ARGS` against `server` off the test's runtime;
/// its one-line error.
async fn models_fails(server: &MockServer, args: &[&str]) -> String {
    let base = format!("{}/api/v1", server.uri());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        tollgate()
            .arg("models")
            .args(&args)
            .args(["--base-url", &base])
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone()
    })
    .await
    .unwrap();
    one_line_error(&out)
}

#[tokio::test]
async fn timeout_is_the_total_time_retries_included() {
    // The server asks for a retry in 3 s: with a 2 s budget for the
    // whole call, no retry is started.
    let server = answering(503, &[("retry-after", "3")]).await;
    let line = models_fails(&server, &["--timeout", "2", "--retries", "3"]).await;
    assert!(
        line.contains("503") && line.contains("overloaded"),
        "{line}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn retries_counts_the_attempts_after_the_first() {
    let server = answering(503, &[("retry-after-ms", "1")]).await;
    let line = models_fails(&server, &["--retries", "2"]).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    // The retries are not silent: the error says how many were made.
    assert!(
        line.contains("503") && line.ends_with("(after 2 retries)"),
        "{line}"
    );

    let server = answering(503, &[("retry-after-ms", "1")]).await;
    let line = models_fails(&server, &["--retries", "0"]).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(!line.contains("retr"), "{line}");
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_not_a_connection_failure() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"data": []}))
                .set_delay(Duration::from_secs(50)),
        )
        .mount(&server)
        .await;
    let line = models_fails(&server, &["--timeout", "1", "--retries", "0"]).await;
    assert!(
        line.contains("timed out waiting for the answer from") && line.contains(&server.uri()),
        "{line}"
    );
    assert!(!line.contains("could not connect"), "{line}");
}

#[test]
fn retries_and_timeout_are_documented() {
    let help = tollgate()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    // Words, not lines: the help is wrapped.
    let help = String::from_utf8(help)
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("--retries <N>") && help.contains("[default: 2]"),
        "{help}"
    );
    assert!(help.contains("retries and (for chat)"), "{help}");
}

// --- hints and local errors ------------------------------------------------

#[tokio::test]
async fn a_404_from_a_base_url_without_api_v1_gets_a_hint() {
    let server = MockServer::start().await;
    let base = server.uri();
    let out = tokio::task::spawn_blocking(move || {
        tollgate()
            .args(["models", "--base-url", &base])
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone()
    })
    .await
    .unwrap();
    let line = one_line_error(&out);
    assert!(line.contains("404"), "{line}");
    assert!(
        line.contains(&format!("--base-url {}/api/v1", server.uri())),
        "{line}"
    );
    // A base URL ending in /api is completed, not doubled.
    let base = format!("{}/api", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        tollgate()
            .args(["models", "--base-url", &base])
            .assert()
            .code(1)
            .get_output()
            .stderr
            .clone()
    })
    .await
    .unwrap();
    let line = one_line_error(&out);
    assert!(
        line.contains(&format!("--base-url {}/api/v1?", server.uri())),
        "{line}"
    );
    // With /api/v1, a 404 is only a 404.
    let line = models_fails(&server, &[]).await;
    assert!(line.contains("404") && !line.contains("hint"), "{line}");
}

#[tokio::test]
async fn a_missing_key_is_reported_before_any_request() {
    let server = MockServer::start().await;
    let base = format!("{}/api/v1", server.uri());
    for args in [vec!["chat", "a/b", "hi"], vec!["credits"], vec!["key"]] {
        let base = base.clone();
        let out = tokio::task::spawn_blocking(move || {
            tollgate()
                .args(&args)
                .args(["--base-url", &base])
                .assert()
                .code(2)
                .get_output()
                .stderr
                .clone()
        })
        .await
        .unwrap();
        let line = one_line_error(&out);
        assert!(
            line.contains("--api-key") && line.contains("TOLLGATE_API_KEY"),
            "{line}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn only_openrouter_api_key_warns_that_requests_go_to_openrouter() {
    // `chat` without a model fails before any request, after the
    // settings (and so the warning) are resolved.
    let out = tollgate()
        .arg("chat")
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with("warning:")
            && first.contains("OPENROUTER_API_KEY")
            && first.contains("https://openrouter.ai/api/v1")
            && first.contains("TOLLGATE_BASE_URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk-or-test"), "{stderr}");
    // With a base URL (or a Tollgate key) there is nothing to warn about.
    for (var, value) in [
        ("TOLLGATE_BASE_URL", "http://127.0.0.1:9/api/v1"),
        ("TOLLGATE_API_KEY", "sk-tg-v1-x"),
    ] {
        let out = tollgate()
            .arg("chat")
            .env("OPENROUTER_API_KEY", "sk-or-test")
            .env(var, value)
            .assert()
            .code(2)
            .get_output()
            .stderr
            .clone();
        assert!(
            !String::from_utf8(out).unwrap().contains("warning"),
            "{var}"
        );
    }
}

// --- interactive chat --------------------------------------------------------

#[test]
fn a_piped_interactive_session_runs_slash_commands_locally() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("chat.json");
    let script = format!(
        "first question\n/help\n/bogus\n/reset\nsecond question\n/save {}\n//slash prompt\n/exit\nnever sent\n",
        saved.display()
    );
    let out = gw
        .cmd(&["chat", "mock/echo", "--interactive"])
        .write_stdin(script)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // Three turns went to the model, no command did.
    assert_eq!(
        stdout,
        "echo: first question\necho: second question\necho: /slash prompt\n"
    );
    assert!(
        stderr.contains("/model NAME") && stderr.contains("/save FILE"),
        "{stderr}"
    );
    assert!(stderr.contains("unknown command /bogus"), "{stderr}");
    // After each answer: tokens, cost and provider.
    let summaries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("completion tokens"))
        .collect();
    assert_eq!(summaries.len(), 3, "{stderr}");
    for s in &summaries {
        assert!(
            s.contains(" prompt + ") && s.contains('$') && s.contains("gen-"),
            "{s}"
        );
        assert!(s.contains("Mock"), "no provider: {s}");
    }
    // No colour on a pipe.
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    // /reset forgot the first turn; /save wrote the rest.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let messages = doc["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{doc}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "second question");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"], "echo: second question");
}

/// A stream answering `text`, with usage.
fn answer_sse(text: &str) -> String {
    let chunk = |body: Value| format!("data: {body}\n\n");
    [
        chunk(serde_json::json!({"id": "gen-m", "object": "chat.completion.chunk", "created": 1, "model": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})),
        chunk(serde_json::json!({"id": "gen-m", "object": "chat.completion.chunk", "created": 1, "model": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})),
        String::from("data: [DONE]\n\n"),
    ]
    .concat()
}

#[tokio::test]
async fn slash_model_switches_the_model_for_the_next_turns() {
    let server = MockServer::start().await;
    for (model, prompt) in [("a/one", "first"), ("b/two", "second")] {
        Mock::given(method("POST"))
            .and(path("/api/v1/chat/completions"))
            .and(body_partial_json(serde_json::json!({"model": model})))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "text/event-stream")
                    .set_body_string(answer_sse(&format!("{model} got {prompt}"))),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let base = format!("{}/api/v1", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        tollgate()
            .args(["chat", "a/one", "-i", "--base-url", &base, "--api-key", "k"])
            .write_stdin("first\n/model b/two\nsecond\n")
            .assert()
            .success()
            .get_output()
            .clone()
    })
    .await
    .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "a/one got first\nb/two got second\n"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("now talking to b/two"), "{stderr}");
    // Without usage cost, the summary says what it has.
    assert!(
        stderr.contains("1 prompt + 1 completion tokens"),
        "{stderr}"
    );
}

#[tokio::test]
async fn reasoning_is_asked_for_and_shown_apart_from_the_answer() {
    let sse = concat!(
        "data: {\"id\":\"gen-r\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"x/r\",\"provider\":\"Acme\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"reasoning\":\"Rayleigh scattering.\"}}]}\n\n",
        "data: {\"id\":\"gen-r\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"x/r\",\"provider\":\"Acme\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Blue light scatters.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"gen-r\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"x/r\",\"provider\":\"Acme\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":4,\"total_tokens\":11,\"cost\":0.0000123}}\n\n",
        "data: [DONE]\n\n",
    );
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .and(body_partial_json(serde_json::json!({
            "reasoning": {"effort": "high"},
            "usage": {"include": true},
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_string(sse),
        )
        .expect(1)
        .mount(&server)
        .await;
    let base = format!("{}/api/v1", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        tollgate()
            .args(["chat", "x/r", "-i", "--reasoning", "high"])
            .args(["--base-url", &base, "--api-key", "k"])
            .write_stdin("why blue?\n")
            .assert()
            .success()
            .get_output()
            .clone()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stdout, "Blue light scatters.\n");
    assert!(stderr.contains("Rayleigh scattering.\n"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    let summary = stderr.lines().find(|l| l.contains("tokens")).unwrap();
    assert!(
        summary.contains("7 prompt + 4 completion tokens"),
        "{summary}"
    );
    assert!(
        summary.contains("$0.000012") && summary.contains("Acme"),
        "{summary}"
    );
    assert!(summary.contains("gen-r"), "{summary}");

    // An effort that does not exist is a usage error.
    tollgate()
        .args(["chat", "x/r", "hi", "--reasoning", "lots"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values"));
}

// --- keys by prefix or name, confirmation ------------------------------------

#[test]
fn keys_are_found_by_hash_prefix_or_name_and_deletion_is_confirmed() {
    let gw = Gateway::start();
    let (_, prov, _) = gw.account("prefix-test");
    let keys = |args: &[&str]| -> Value {
        gw.json(&[&["keys"], args, &["--provisioning-key", &prov]].concat())
    };
    let a = keys(&["create", "alpha"])["data"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    keys(&["create", "twin"]);
    keys(&["create", "twin"]);

    assert_eq!(keys(&["get", "alpha"])["data"]["hash"], a.as_str());
    assert_eq!(keys(&["get", &a[..8]])["data"]["hash"], a.as_str());
    let renamed = keys(&["update", &a[..10], "--name", "alpha-2"]);
    assert_eq!(renamed["data"]["hash"], a.as_str());
    assert_eq!(renamed["data"]["name"], "alpha-2");

    // Ambiguous: every match is listed.
    let line = gw.fails(&["keys", "get", "twin", "--provisioning-key", &prov], 2);
    assert!(line.contains("matches 2 keys"), "{line}");
    let listed = keys(&["list"]);
    for k in listed["data"].as_array().unwrap() {
        if k["name"] == "twin" {
            assert!(line.contains(k["hash"].as_str().unwrap()), "{line}");
        }
    }
    let line = gw.fails(&["keys", "get", "nosuch", "--provisioning-key", &prov], 1);
    assert!(line.contains("nosuch"), "{line}");

    // No terminal to ask on: refused without --yes, and nothing deleted.
    let out = gw
        .cmd(&["keys", "delete", "alpha-2", "--provisioning-key", &prov])
        .write_stdin("y\n")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(
        line.contains("--yes") && line.contains("not a terminal"),
        "{line}"
    );
    assert_eq!(keys(&["get", &a])["data"]["hash"], a.as_str());
    assert_eq!(keys(&["delete", &a[..12], "--yes"])["deleted"], true);
    let line = gw.fails(&["keys", "get", &a, "--provisioning-key", &prov], 1);
    assert!(line.contains("404"), "{line}");
    // A prefix of a deleted key matches nothing.
    let line = gw.fails(&["keys", "get", &a[..12], "--provisioning-key", &prov], 1);
    assert!(line.contains("no key") && line.contains(&a[..12]), "{line}");
}

// --- login and profiles ------------------------------------------------------

#[test]
fn login_stores_the_key_privately_in_named_profiles() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub").join("config.toml");
    let file_arg = file.to_str().unwrap();

    // The default profile, the key read from stdin and checked.
    tollgate()
        .args(["login", "--base-url", &gw.api, "--config", file_arg])
        .write_stdin(format!("{}\n", gw.key))
        .assert()
        .success()
        .stdout("");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let credits = tollgate()
        .args(["credits", "--json", "--config", file_arg])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let credits: Value = serde_json::from_slice(&credits).unwrap();
    assert!(credits["data"]["total_credits"].is_number(), "{credits}");

    // A wrong key is refused and not stored.
    let before = std::fs::read_to_string(&file).unwrap();
    let out = tollgate()
        .args(["login", "--profile", "bad", "--base-url", &gw.api])
        .args(["--api-key", "sk-tg-v1-wrong", "--config", file_arg])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    assert!(one_line_error(&out).contains("--no-verify"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // A named profile, beside the default one.
    tollgate()
        .args([
            "login",
            "--profile",
            "work",
            "--base-url",
            "http://127.0.0.1:9/api/v1",
        ])
        .args([
            "--api-key",
            "sk-tg-v1-work",
            "--no-verify",
            "--config",
            file_arg,
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(&file).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    assert_eq!(doc["api_key"].as_str(), Some(gw.key.as_str()));
    assert_eq!(
        doc["profiles"]["work"]["api_key"].as_str(),
        Some("sk-tg-v1-work")
    );
    // The profile is chosen by flag or variable: its base URL is used.
    for via_env in [false, true] {
        let mut cmd = tollgate();
        cmd.args(["models", "--retries", "0", "--config", file_arg]);
        if via_env {
            cmd.env("TOLLGATE_PROFILE", "work");
        } else {
            cmd.args(["--profile", "work"]);
        }
        let out = cmd.assert().code(1).get_output().stderr.clone();
        assert!(one_line_error(&out).contains("127.0.0.1:9"));
    }
    let out = tollgate()
        .args(["models", "--profile", "home", "--config", file_arg])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let line = one_line_error(&out);
    assert!(line.contains("`home`") && line.contains("work"), "{line}");
}

// --- validated options, exit codes, trimmed bodies ---------------------------

#[test]
fn enumerated_options_are_validated() {
    let out = tollgate()
        .args(["models", "--modality", "smell"])
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert!(
        stderr.contains("smell") && stderr.contains("embeddings"),
        "{stderr}"
    );
    let gw = Gateway::start();
    let embed = gw.json(&["models", "--modality", "embeddings"]);
    let ids: Vec<&str> = embed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["mock/embed"]);
}

#[tokio::test]
async fn an_html_error_page_is_cut_to_its_title() {
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title><style>body {{ color: red }}</style></head>\n<body><h1>Bad Gateway</h1>{}</body></html>",
        "<p>The upstream server sent an invalid response.</p>".repeat(200)
    );
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502).set_body_string(page))
        .mount(&server)
        .await;
    let line = models_fails(&server, &["--retries", "0"]).await;
    assert!(
        line.contains("502") && line.contains("Bad Gateway"),
        "{line}"
    );
    assert!(!line.contains('<') && line.len() < 300, "{line}");
}
