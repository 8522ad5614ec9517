//! A Messages API answer, its usage and its errors, read into the
//! OpenAI-shaped types (see the module docs for the rules).

use std::time::Duration;

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatCompletion, Choice, FunctionCall, ResponseMessage, ToolCall};
use tollgate_schema::messages::{ANTHROPIC_CONTENT, ANTHROPIC_STOP_SEQUENCE};
use tollgate_schema::usage::{CompletionTokensDetails, PromptTokensDetails, Usage};

use super::{REASONING_FORMAT, ResponseMode};
use crate::error::{ErrorKind, ProviderError};
use crate::native::convert::{str_field, u64_field};
use crate::openai::translate as openai;

/// The HTTP status an Anthropic error `type` stands for.
pub fn status_for_error_type(error_type: &str) -> Option<u16> {
    Some(match error_type {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => return None,
    })
}

/// The OpenAI `finish_reason` for an Anthropic `stop_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn, and anything new.
        _ => "stop",
    }
}

/// The error for a non-2xx answer. Anthropic's body
/// `{"type":"error","error":{"type","message"}}` gives the message and the
/// upstream code (the error type); the HTTP status decides the kind.
pub fn error_from_status(
    slug: &str,
    name: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ProviderError {
    openai::error_from_status(slug, name, status, retry_after, body)
}

/// Usage from a Messages `usage` object (see the module docs).
pub fn usage(u: &Value) -> Usage {
    let read = u64_field(u, "cache_read_input_tokens");
    let write = u64_field(u, "cache_creation_input_tokens");
    Usage {
        // Saturating: the counts are the upstream's, any u64 at all.
        prompt_tokens: u64_field(u, "input_tokens")
            .saturating_add(read)
            .saturating_add(write),
        completion_tokens: u64_field(u, "output_tokens"),
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: read,
            cache_write_tokens: Some(write),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails::default()),
        ..Usage::default()
    }
    .normalized()
}

/// A reasoning detail for a `thinking` block.
pub(crate) fn thinking_detail(text: &str, signature: Option<&str>, index: usize) -> Value {
    let mut d = json!({
        "type": "reasoning.text",
        "text": text,
        "format": REASONING_FORMAT,
        "index": index,
    });
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        d["signature"] = Value::String(sig.to_string());
    }
    d
}

/// A reasoning detail for a `redacted_thinking` block.
pub(crate) fn redacted_detail(data: &str, index: usize) -> Value {
    json!({
        "type": "reasoning.encrypted",
        "data": data,
        "format": REASONING_FORMAT,
        "index": index,
    })
}

/// Reads an error object in a 2xx body or a stream event: the status its
/// type stands for, the type, and the message.
pub(crate) fn error_object(v: &Value) -> Option<(Option<u16>, Option<String>, String)> {
    let e = v.get("error").filter(|e| e.is_object())?;
    let ty = str_field(e, "type").map(str::to_owned);
    let message = str_field(e, "message")
        .filter(|m| !m.is_empty())
        .map_or_else(|| String::from("upstream reported an error"), str::to_owned);
    Some((ty.as_deref().and_then(status_for_error_type), ty, message))
}

/// Parses a non-streamed Messages answer into a chat completion stamped
/// with the provider's display name. `created` is the answer's time (the
/// Messages API has none).
pub fn chat_completion(
    slug: &str,
    name: &str,
    body: &[u8],
    mode: &ResponseMode,
    created: i64,
) -> Result<ChatCompletion, ProviderError> {
    let raw = || String::from_utf8_lossy(body).into_owned();
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let message = if body.iter().all(u8::is_ascii_whitespace) {
            String::from("empty message body")
        } else {
            format!("unparseable message: {e}")
        };
        ProviderError::new(slug, name, ErrorKind::InvalidResponse, message).with_raw(raw())
    })?;
    if let Some((status, code, message)) = error_object(&v) {
        let kind = status.map_or(ErrorKind::InvalidResponse, |status| ErrorKind::Status {
            status,
        });
        return Err(ProviderError::new(slug, name, kind, message)
            .with_upstream_code(code)
            .with_raw(raw()));
    }
    let Some(blocks) = v.get("content").and_then(Value::as_array) else {
        return Err(ProviderError::new(
            slug,
            name,
            ErrorKind::InvalidResponse,
            "unparseable message: no `content` array",
        )
        .with_raw(raw()));
    };

    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut details = Vec::new();
    let mut tool_calls = Vec::new();
    let mut json_answer = false;
    for block in blocks {
        match str_field(block, "type") {
            Some("text") => {
                text.push_str(str_field(block, "text").unwrap_or(""));
                has_text = true;
            }
            Some("thinking") => {
                let thought = str_field(block, "thinking").unwrap_or("");
                reasoning.push_str(thought);
                let signature = str_field(block, "signature");
                details.push(thinking_detail(thought, signature, details.len()));
            }
            Some("redacted_thinking") => {
                let data = str_field(block, "data").unwrap_or("");
                details.push(redacted_detail(data, details.len()));
            }
            Some("tool_use") => {
                let tool = str_field(block, "name").unwrap_or("");
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                if mode.json_tool.as_deref() == Some(tool) {
                    text.push_str(&input.to_string());
                    has_text = true;
                    json_answer = true;
                } else {
                    tool_calls.push(ToolCall {
                        id: str_field(block, "id").unwrap_or("").to_string(),
                        kind: String::from("function"),
                        function: FunctionCall {
                            name: tool.to_string(),
                            arguments: input.to_string(),
                        },
                        extra: Extra::new(),
                    });
                }
            }
            // Server tool blocks and anything new: no OpenAI equivalent.
            _ => {}
        }
    }

    let stop_reason = str_field(&v, "stop_reason");
    let finish = stop_reason.map(|r| {
        if json_answer && r == "tool_use" {
            "stop"
        } else {
            finish_reason(r)
        }
    });
    let mut message = ResponseMessage::text(String::new());
    message.content = (has_text || tool_calls.is_empty()).then_some(text);
    if !mode.exclude_reasoning {
        message.reasoning = (!reasoning.is_empty()).then_some(reasoning);
        message.reasoning_details = (!details.is_empty()).then_some(details);
    }
    message.tool_calls = (!tool_calls.is_empty()).then_some(tool_calls);
    let lossy = blocks.iter().any(|b| match str_field(b, "type") {
        Some("text") => b.get("citations").is_some_and(|c| !c.is_null()),
        Some("thinking" | "redacted_thinking" | "tool_use") => false,
        _ => true,
    });
    if lossy && mode.json_tool.is_none() {
        message
            .extra
            .insert(ANTHROPIC_CONTENT.into(), Value::Array(blocks.clone()));
    }

    let mut choice_extra = Extra::new();
    if let Some(sequence) = str_field(&v, "stop_sequence") {
        choice_extra.insert(ANTHROPIC_STOP_SEQUENCE.into(), sequence.into());
    }

    Ok(ChatCompletion {
        id: str_field(&v, "id").unwrap_or("").to_string(),
        object: String::from("chat.completion"),
        created,
        model: str_field(&v, "model").unwrap_or("").to_string(),
        provider: Some(name.to_string()),
        system_fingerprint: None,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: finish.map(str::to_owned),
            native_finish_reason: stop_reason.map(str::to_owned),
            logprobs: None,
            error: None,
            extra: choice_extra,
        }],
        usage: Some(usage(v.get("usage").unwrap_or(&Value::Null))),
        extra: Extra::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_map_to_statuses() {
        for (ty, status) in [
            ("invalid_request_error", 400),
            ("authentication_error", 401),
            ("permission_error", 403),
            ("not_found_error", 404),
            ("request_too_large", 413),
            ("rate_limit_error", 429),
            ("api_error", 500),
            ("overloaded_error", 529),
        ] {
            assert_eq!(status_for_error_type(ty), Some(status), "{ty}");
        }
        assert_eq!(status_for_error_type("something_new"), None);
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        for (native, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("pause_turn", "stop"),
            ("refusal", "content_filter"),
        ] {
            assert_eq!(finish_reason(native), finish, "{native}");
        }
    }

    /// Found by the `anthropic_stream` fuzz target
    /// (`fuzz/corpus/anthropic_stream/crash-7c1fa35d1d07e16c`): counts
    /// near `u64::MAX` overflowed the prompt and total token sums.
    #[test]
    fn usage_counts_near_u64_max_saturate() {
        let u = usage(&json!({
            "input_tokens": u64::MAX,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 6,
            "output_tokens": u64::MAX
        }));
        assert_eq!(u.prompt_tokens, u64::MAX);
        assert_eq!(u.completion_tokens, u64::MAX);
        assert_eq!(u.total_tokens, u64::MAX);
        assert_eq!(u.cached_tokens(), 5);
    }

    #[test]
    fn usage_counts_cached_prompt_tokens() {
        let u = usage(&json!({
            "input_tokens": 10,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 30
        }));
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (1210, 30, 1240)
        );
        assert_eq!(u.cached_tokens(), 1000);
        assert_eq!(
            u.prompt_tokens_details.unwrap().cache_write_tokens,
            Some(200)
        );
    }

    #[test]
    fn an_error_object_in_a_2xx_body_is_classified() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let err = chat_completion("p", "P", body, &ResponseMode::default(), 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status { status: 529 });
        assert_eq!(err.upstream_code(), Some("overloaded_error"));
        assert_eq!(err.message(), "Overloaded");
    }

    #[test]
    fn garbage_is_an_invalid_response() {
        let err = chat_completion("p", "P", b"<html>", &ResponseMode::default(), 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert_eq!(err.raw(), Some("<html>"));
        let err = chat_completion("p", "P", b"{}", &ResponseMode::default(), 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }
}
