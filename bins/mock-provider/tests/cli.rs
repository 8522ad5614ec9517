//! The real `mock-provider` binary: readiness line, serving, signals, flags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mock-provider");

/// Starts the binary and returns it with its base URL's `host:port`.
fn spawn(args: &[&str]) -> (Child, String) {
    spawn_dialect("openai", "/v1", args)
}

/// Starts the binary with `--dialect`; checks the ready line names the
/// dialect and ends with `base_path`.
fn spawn_dialect(dialect: &str, base_path: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--dialect", dialect])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let prefix = format!("mock-provider ({dialect}) listening on http://");
    let addr = line
        .trim()
        .strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_suffix(base_path))
        .map(str::to_owned);
    if addr.is_none() {
        let _ = child.kill();
    }
    let addr = addr.unwrap_or_else(|| format!("unexpected ready line: {line:?}"));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    (child, addr)
}

/// A minimal HTTP/1.1 exchange; returns the raw response.
fn http(addr: &str, request_line: &str, headers: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        assert!(Instant::now() <= deadline, "mock-provider stops on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_chat_and_stops_on_sigterm() {
    let (mut child, addr) = spawn(&["--model", "m/one", "--name", "cli"]);
    let body = r#"{"model":"m/one","messages":[{"role":"user","content":"Hi there."}]}"#;
    let response = http(&addr, "POST /v1/chat/completions", "", body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-mock-provider: cli"), "{response}");
    assert!(
        response.contains(r#""content":"echo: Hi there.""#),
        "{response}"
    );
    let response = http(&addr, "GET /v1/models", "", "");
    assert!(response.contains(r#""id":"m/one""#), "{response}");
    assert!(terminate(&mut child).success());
}

#[test]
fn flags_configure_failures_and_keys() {
    let (mut child, addr) = spawn(&["--fail-status", "503"]);
    let body = r#"{"model":"m","messages":[]}"#;
    let response = http(&addr, "POST /v1/chat/completions", "", body);
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("retry-after: 1"), "{response}");
    assert!(terminate(&mut child).success());

    let (mut child, addr) = spawn(&["--api-key", "sk-cli"]);
    let response = http(&addr, "POST /v1/chat/completions", "", body);
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    let auth = "Authorization: Bearer sk-cli\r\n";
    let response = http(&addr, "POST /v1/chat/completions", auth, body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(terminate(&mut child).success());
}

#[test]
fn serves_anthropic_messages() {
    let (mut child, addr) = spawn_dialect("anthropic", "/v1", &["--api-key", "sk-ant-cli"]);
    let body = r#"{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"Hi there."}]}"#;
    let headers = "x-api-key: sk-ant-cli\r\nanthropic-version: 2023-06-01\r\n";
    let response = http(&addr, "POST /v1/messages", headers, body);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""content":[{"text":"echo: Hi there.","type":"text"}]"#)
            || response.contains(r#""content":[{"type":"text","text":"echo: Hi there."}]"#),
        "{response}"
    );
    assert!(response.contains(r#""type":"message""#), "{response}");
    let response = http(
        &addr,
        "POST /v1/messages",
        "anthropic-version: 2023-06-01\r\n",
        body,
    );
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    assert!(response.contains("authentication_error"), "{response}");
    assert!(terminate(&mut child).success());
}

#[test]
fn serves_gemini_generate_content() {
    let (mut child, addr) = spawn_dialect("gemini", "/v1beta", &["--fail-status", "429"]);
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"Hi there."}]}]}"#;
    let response = http(
        &addr,
        "POST /v1beta/models/gemini-x:generateContent",
        "",
        body,
    );
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert!(response.contains("RESOURCE_EXHAUSTED"), "{response}");
    assert!(terminate(&mut child).success());

    let (mut child, addr) = spawn_dialect("gemini", "/v1beta", &[]);
    let response = http(
        &addr,
        "POST /v1beta/models/gemini-x:generateContent?key=anything",
        "",
        body,
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""text":"echo: Hi there.""#),
        "{response}"
    );
    assert!(response.contains(r#""finishReason":"STOP""#), "{response}");
    assert!(terminate(&mut child).success());
}

#[test]
fn unknown_dialects_are_refused_clearly() {
    for dialect in ["cohere", "OpenAI", ""] {
        let output = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--dialect", dialect])
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("unknown dialect"), "{dialect}: {stderr}");
        assert!(stderr.contains("`gemini`"), "{dialect}: {stderr}");
    }
}
