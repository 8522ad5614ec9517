//! PDFs in a chat prompt and the `file-parser` plugin (issue 20, "Files"):
//! text for a model without native file input, the file itself for one with
//! it (`mock/echo-anthropic` lists `file`), the engines, and bad files.
//!
//! `fixtures/files/hello.pdf` is written by `fixtures/files/make_pdf.py`:
//! two pages, "Tollgate reads PDFs." and "Page two says hello.".

use base64::Engine as _;

use crate::support::*;

const HELLO_PDF: &[u8] = include_bytes!("../../../../fixtures/files/hello.pdf");

fn pdf_url() -> String {
    format!(
        "data:application/pdf;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(HELLO_PDF)
    )
}

/// A user message with a question and a file part, the content-part shape
/// of WIRE-NOTES.md: `{"type":"file","file":{"filename","file_data"}}`.
fn with_file(model: &str, file_data: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What does it say?"},
            {"type": "file", "file": {"filename": "hello.pdf", "file_data": file_data}},
        ]}],
    })
}

/// The text of every part of the last user message an OpenAI-dialect mock
/// received, and the types of its parts.
fn sent_parts(body: &Value) -> (String, Vec<String>) {
    let content = &body["messages"].as_array().unwrap().last().unwrap()["content"];
    match content {
        Value::String(s) => (s.clone(), vec![String::from("text")]),
        Value::Array(parts) => (
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            parts
                .iter()
                .map(|p| p["type"].as_str().unwrap().to_owned())
                .collect(),
        ),
        other => panic!("content: {other}"),
    }
}

#[tokio::test]
async fn a_pdf_to_a_text_only_model_arrives_as_its_text() {
    let gw = start().await;
    let reply = gw.chat(&with_file("mock/echo", &pdf_url())).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let (text, types) = sent_parts(&gw.alpha.last_request().unwrap().body);
    assert!(!types.iter().any(|t| t == "file"), "{types:?}");
    assert!(text.contains("What does it say?"), "{text}");
    assert!(text.contains("hello.pdf"), "{text}");
    assert!(text.contains("Tollgate reads PDFs."), "{text}");
    assert!(text.contains("Page two says hello."), "{text}");
    // The echo model repeats what it read.
    let answer = reply.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(answer.contains("Tollgate reads PDFs."), "{answer}");

    // The engine named explicitly does the same.
    let mut body = with_file("mock/echo", &pdf_url());
    body["plugins"] = json!([{"id": "file-parser", "pdf": {"engine": "pdf-text"}}]);
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let (text, _) = sent_parts(&gw.alpha.last_request().unwrap().body);
    assert!(text.contains("Page two says hello."), "{text}");
}

/// The Anthropic mock's last user message content blocks.
fn anthropic_blocks(gw: &TestGateway) -> Vec<Value> {
    let body = gw.anthropic.last_request().unwrap().body;
    body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_model_with_file_input_gets_the_file_unless_text_is_asked_for() {
    let gw = start().await;
    let reply = gw.chat(&with_file("mock/echo-anthropic", &pdf_url())).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let blocks = anthropic_blocks(&gw);
    let document = blocks
        .iter()
        .find(|b| b["type"] == "document")
        .unwrap_or_else(|| panic!("the PDF is passed through: {blocks:?}"));
    let sent = document["source"]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(sent)
            .unwrap(),
        HELLO_PDF
    );

    // `native` on it: the same.
    let mut body = with_file("mock/echo-anthropic", &pdf_url());
    body["plugins"] = json!([{"id": "file-parser", "pdf": {"engine": "native"}}]);
    assert_eq!(gw.chat(&body).await.status, 200);
    assert!(
        anthropic_blocks(&gw)
            .iter()
            .any(|b| b["type"] == "document")
    );

    // `pdf-text`: text, even for a model that reads files.
    body["plugins"] = json!([{"id": "file-parser", "pdf": {"engine": "pdf-text"}}]);
    assert_eq!(gw.chat(&body).await.status, 200);
    let blocks = anthropic_blocks(&gw);
    assert!(
        !blocks.iter().any(|b| b["type"] == "document"),
        "{blocks:?}"
    );
    assert!(
        blocks.iter().any(|b| b["text"]
            .as_str()
            .is_some_and(|t| t.contains("Tollgate reads PDFs."))),
        "{blocks:?}"
    );
}

#[tokio::test]
async fn engines_this_gateway_lacks_are_a_400_naming_the_field() {
    let gw = start().await;
    for (engine, model, says) in [
        ("native", "mock/echo", "native file input"),
        ("mistral-ocr", "mock/echo", "mistral-ocr"),
        ("tesseract", "mock/echo", "unknown pdf engine"),
    ] {
        let mut body = with_file(model, &pdf_url());
        body["plugins"] = json!([
            {"id": "web", "enabled": false},
            {"id": "file-parser", "pdf": {"engine": engine}},
        ]);
        let reply = gw.chat(&body).await;
        let error = assert_error(&reply, 400);
        assert_eq!(
            error["metadata"]["field"], "plugins[1].pdf.engine",
            "{error}"
        );
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{engine}: {error}"
        );
    }
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn a_bad_file_is_a_400_naming_its_field() {
    let gw = start().await;
    for (data, says) in [
        ("data:application/pdf;base64,%%%not-base64%%%", "base64"),
        // "hello" is no PDF.
        ("data:application/pdf;base64,aGVsbG8=", "not a PDF"),
        // A PDF header and garbage.
        (
            "data:application/pdf;base64,JVBERi0xLjQKZ2FyYmFnZQo=",
            "cannot be read",
        ),
        ("https://example.com/a.pdf", "data: URL"),
    ] {
        let reply = gw.chat(&with_file("mock/echo", data)).await;
        let error = assert_error(&reply, 400);
        assert_eq!(
            error["metadata"]["field"], "messages[0].content[1].file.file_data",
            "{data}: {error}"
        );
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{data}: {error}"
        );
    }
    assert_eq!(gw.request_counts(), [0, 0, 0], "nothing reached a provider");
}

/// `enabled: false` leaves the file alone.
#[tokio::test]
async fn a_disabled_parser_leaves_files_alone() {
    let gw = start().await;
    let mut body = with_file("mock/echo", &pdf_url());
    body["plugins"] = json!([{"id": "file-parser", "enabled": false}]);
    let _ = gw.chat(&body).await;
    let (_, types) = sent_parts(&gw.alpha.last_request().unwrap().body);
    assert!(types.iter().any(|t| t == "file"), "{types:?}");
}
