//! Encoding a finished answer: the internal chat completion → a
//! `response` object (see the parent module for the rules).

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::ChatCompletion;
use tollgate_schema::responses::{
    FunctionCallItem, InputTokensDetails, OutputContent, OutputItem, OutputMessage,
    OutputTokensDetails, ReasoningItem, Response, ResponseUsage, SummaryPart,
};
use tollgate_schema::usage::Usage;

use super::REASONING_PREFIX;

/// Internal usage in the Responses API's terms.
pub fn usage(u: &Usage) -> ResponseUsage {
    ResponseUsage {
        input_tokens: u.prompt_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u.cached_tokens(),
        },
        output_tokens: u.completion_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.reasoning_tokens(),
        },
        total_tokens: u.prompt_tokens + u.completion_tokens,
        cost: u.cost,
    }
}

/// The status and `incomplete_details` for an internal finish reason.
pub fn status(finish: Option<&str>) -> (&'static str, Option<Value>) {
    match finish {
        Some("length") => ("incomplete", Some(json!({"reason": "max_output_tokens"}))),
        Some("content_filter") => ("incomplete", Some(json!({"reason": "content_filter"}))),
        _ => ("completed", None),
    }
}

/// A response's frame: what the request did not say echoed as the
/// Responses API's defaults (the route fills in what it said, see
/// [`super::Echo`]).
pub fn frame(id: &str, created_at: i64, model: &str, status: &str) -> Response {
    Response {
        id: id.to_string(),
        object: String::from("response"),
        created_at,
        status: status.to_string(),
        model: model.to_string(),
        output: Vec::new(),
        error: None,
        incomplete_details: None,
        instructions: None,
        metadata: json!({}),
        tools: Vec::new(),
        tool_choice: json!("auto"),
        parallel_tool_calls: true,
        temperature: None,
        top_p: None,
        max_output_tokens: None,
        usage: None,
        extra: Extra::new(),
    }
}

/// The summary text of reasoning: the plain `reasoning`, else the text of
/// its details.
pub fn summary_of(reasoning: Option<&str>, details: &[Value]) -> String {
    if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
        return r.to_string();
    }
    details
        .iter()
        .filter_map(|d| match d.get("type").and_then(Value::as_str) {
            Some("reasoning.text") => d.get("text").and_then(Value::as_str),
            Some("reasoning.summary") => d.get("summary").and_then(Value::as_str),
            _ => None,
        })
        .collect()
}

/// A reasoning item (`id` is the item's): the summary, and the upstream's reasoning details
/// (signatures, encrypted reasoning) carried in `encrypted_content` so a
/// client that sends the item back gives the upstream what it gave.
pub fn reasoning_item(id: &str, summary: String, details: &[Value]) -> ReasoningItem {
    let encrypted_content = (!details.is_empty())
        .then(|| serde_json::to_string(details).ok())
        .flatten()
        .map(|json| format!("{REASONING_PREFIX}{json}"));
    ReasoningItem {
        id: id.to_string(),
        summary: if summary.is_empty() {
            Vec::new()
        } else {
            vec![SummaryPart::new(summary)]
        },
        encrypted_content,
        status: Some(String::from("completed")),
    }
}

/// A finished answer as a `response` object.
pub fn answer(c: ChatCompletion) -> Response {
    let choice = c.choices.into_iter().find(|ch| ch.index == 0);
    let (status, incomplete) = status(choice.as_ref().and_then(|ch| ch.finish_reason.as_deref()));
    let mut response = frame(&c.id, c.created, &c.model, status);
    response.incomplete_details = incomplete;
    if let Some(choice) = choice {
        let m = choice.message;
        let details = m.reasoning_details.unwrap_or_default();
        let summary = summary_of(m.reasoning.as_deref(), &details);
        if !summary.is_empty() || !details.is_empty() {
            response.output.push(OutputItem::Reasoning(reasoning_item(
                &format!("rs_{}", c.id),
                summary,
                &details,
            )));
        }
        let mut content = Vec::new();
        if let Some(text) = m.content.filter(|t| !t.is_empty()) {
            content.push(OutputContent::OutputText {
                text,
                annotations: Vec::new(),
                logprobs: Vec::new(),
            });
        }
        if let Some(refusal) = m.refusal.filter(|r| !r.is_empty()) {
            content.push(OutputContent::Refusal { refusal });
        }
        if !content.is_empty() {
            response.output.push(OutputItem::Message(OutputMessage {
                id: format!("msg_{}", c.id),
                status: status.to_string(),
                role: String::from("assistant"),
                content,
            }));
        }
        for call in m.tool_calls.into_iter().flatten() {
            response
                .output
                .push(OutputItem::FunctionCall(FunctionCallItem {
                    id: format!("fc_{}", call.id),
                    call_id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                    status: String::from("completed"),
                }));
        }
    }
    response.usage = c.usage.as_ref().map(usage);
    if let Some(p) = c.provider {
        response.extra.insert("provider".into(), Value::String(p));
    }
    response
}
