//! What the ingresses' golden-case tests share: reading the cases of
//! `fixtures/ingress/<wire>/`, the bodies each upstream dialect's adapter
//! sends for an internal request, and SSE frames read back as events.

use serde_json::{Value, json};
use tollgate_schema::chat::ChatRequest;
use tollgate_transport::{anthropic, gemini, openai};

/// The cases of `fixtures/ingress/<wire>/`, by name, at least `min`.
pub(super) fn cases(wire: &str, min: usize) -> Vec<(String, Value)> {
    let dir = format!(
        "{}/../../fixtures/ingress/{wire}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cases: Vec<(String, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(cases.len() >= min, "{cases:?}");
    cases
}

/// The body the `dialect` adapter (`openai`, `anthropic`, `gemini`) sends
/// for `internal`, to the upstream models the fixtures name (`gpt-up`,
/// `claude-up`).
pub(super) fn upstream_body(dialect: &str, internal: &ChatRequest) -> Value {
    match dialect {
        "openai" => openai::translate::chat_body(internal, "gpt-up", false, false).unwrap(),
        "anthropic" => {
            anthropic::translate::messages_body(internal, "claude-up", false, None)
                .unwrap()
                .body
        }
        "gemini" => gemini::translate::generate_body(internal).unwrap().body,
        other => panic!("no upstream dialect `{other}`"),
    }
}

/// `event: <name>\ndata: <json>` frames as `{"event", "data"}`.
pub(super) fn parse_events(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split_terminator("\n\n")
        .map(|frame| {
            let (event, data) = frame.split_once('\n').unwrap();
            let event = event.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            json!({ "event": event, "data": data })
        })
        .collect()
}
