//! A `GenerateContentResponse`, its usage and its errors, read into the
//! OpenAI-shaped types (see the module docs for the rules).

use std::time::Duration;

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatCompletion, Choice, FunctionCall, ResponseMessage, ToolCall};
use tollgate_schema::usage::{CompletionTokensDetails, PromptTokensDetails, Usage};

use super::{REASONING_FORMAT, ResponseMode};
use crate::error::{ErrorKind, ProviderError};
use crate::native::convert::{str_field, u64_field};
use crate::openai::translate::excerpt;

/// The HTTP status a Google RPC status name stands for.
pub fn status_for_status_name(name: &str) -> Option<u16> {
    Some(match name {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "ALREADY_EXISTS" | "ABORTED" => 409,
        "RESOURCE_EXHAUSTED" => 429,
        "CANCELLED" => 499,
        "UNIMPLEMENTED" => 501,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => 500,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => return None,
    })
}

/// The OpenAI `finish_reason` for a Gemini `finishReason` (before the
/// `tool_calls` refinement).
pub fn finish_reason(native: &str) -> &'static str {
    match native {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "PROHIBITED_CONTENT"
        | "BLOCKLIST"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" | "TOO_MANY_TOOL_CALLS" => "error",
        // STOP, OTHER, LANGUAGE, FINISH_REASON_UNSPECIFIED, anything new.
        _ => "stop",
    }
}

/// The finish reason of a candidate that may have called functions.
pub(crate) fn candidate_finish(native: &str, called_functions: bool) -> &'static str {
    match finish_reason(native) {
        "stop" if called_functions && native == "STOP" => "tool_calls",
        other => other,
    }
}

/// Usage from `usageMetadata` (see the module docs).
pub fn usage(u: &Value) -> Usage {
    let thoughts = u64_field(u, "thoughtsTokenCount");
    Usage {
        // Saturating: the counts are the upstream's, any u64 at all.
        prompt_tokens: u64_field(u, "promptTokenCount")
            .saturating_add(u64_field(u, "toolUsePromptTokenCount")),
        completion_tokens: u64_field(u, "candidatesTokenCount").saturating_add(thoughts),
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: u64_field(u, "cachedContentTokenCount"),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: thoughts,
            ..CompletionTokensDetails::default()
        }),
        ..Usage::default()
    }
    .normalized()
}

/// What a Gemini error object says.
#[derive(Debug, Default)]
struct GoogleError {
    code: Option<u16>,
    message: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    retry_delay: Option<Duration>,
}

/// Reads `{"error": {...}}`, also inside the one-element array the
/// non-SSE streaming endpoint answers with.
fn google_error(v: &Value) -> Option<GoogleError> {
    let v = match v {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let e = v.get("error").filter(|e| e.is_object())?;
    let mut out = GoogleError {
        code: e
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..=599).contains(c)),
        message: str_field(e, "message")
            .filter(|m| !m.trim().is_empty())
            .map(str::to_owned),
        status: str_field(e, "status")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        ..GoogleError::default()
    };
    for d in e
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if out.reason.is_none() {
            out.reason = str_field(d, "reason").map(str::to_owned);
        }
        if let Some(delay) = str_field(d, "retryDelay")
            .and_then(|s| s.strip_suffix('s'))
            .and_then(|s| s.parse::<f64>().ok())
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
        {
            out.retry_delay = Some(delay);
        }
    }
    Some(out)
}

/// Whether the error is the operator's key being refused (Gemini answers
/// that with 400 `INVALID_ARGUMENT`).
fn is_bad_key(e: &GoogleError) -> bool {
    e.reason.as_deref() == Some("API_KEY_INVALID")
}

/// The error for a non-2xx answer (see the module docs: the HTTP status
/// decides, except that a refused key is 401).
pub fn error_from_status(
    slug: &str,
    name: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ProviderError {
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(google_error)
        .unwrap_or_default();
    let (status, code) = if is_bad_key(&parsed) {
        (401, parsed.reason.clone())
    } else {
        (status, parsed.status.clone())
    };
    let message = parsed.message.clone().unwrap_or_else(|| {
        let text = excerpt(body);
        if text.is_empty() {
            let reason = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("error");
            format!("HTTP {status} {reason}")
        } else {
            text
        }
    });
    let mut err = ProviderError::new(slug, name, ErrorKind::Status { status }, message)
        .with_retry_after(retry_after.or(parsed.retry_delay))
        .with_upstream_code(code);
    if !body.is_empty() {
        err = err.with_raw(String::from_utf8_lossy(body));
    }
    err
}

/// An error object inside a 2xx body or a stream event: its status (from
/// `code`, else the status name), its code and its message.
pub(crate) fn error_object(v: &Value) -> Option<(Option<u16>, Option<String>, String)> {
    let e = google_error(v)?;
    let (status, code) = if is_bad_key(&e) {
        (Some(401), e.reason.clone())
    } else {
        (
            e.code
                .or_else(|| e.status.as_deref().and_then(status_for_status_name)),
            e.status.clone(),
        )
    };
    let message = e
        .message
        .unwrap_or_else(|| String::from("upstream reported an error"));
    Some((status, code, message))
}

/// One part of a candidate's content, as the OpenAI shape sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Thought(String),
    Call(ToolCall),
    /// A `reasoning_details` entry carrying a thought signature.
    Signature(Value),
}

/// Per-candidate counters that run across the events of a stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) calls: u32,
    pub(crate) details: usize,
}

/// The pieces of a candidate's `content.parts`.
pub(crate) fn pieces(content: Option<&Value>, counters: &mut Counters) -> Vec<Piece> {
    let parts = content
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut out = Vec::new();
    for part in parts {
        let mut call_id = None;
        if let Some(call) = part.get("functionCall") {
            let name = str_field(call, "name").unwrap_or("");
            let id = str_field(call, "id")
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("call_{}_{name}", counters.calls), str::to_owned);
            counters.calls += 1;
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            call_id = Some(id.clone());
            out.push(Piece::Call(ToolCall {
                id,
                kind: String::from("function"),
                function: FunctionCall {
                    name: name.to_string(),
                    arguments: args.to_string(),
                },
                extra: Extra::new(),
            }));
        } else if let Some(text) = str_field(part, "text") {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                if !text.is_empty() {
                    out.push(Piece::Thought(text.to_string()));
                }
            } else if !text.is_empty() {
                out.push(Piece::Text(text.to_string()));
            }
        }
        if let Some(signature) = str_field(part, "thoughtSignature").filter(|s| !s.is_empty()) {
            let mut detail = json!({
                "type": "reasoning.encrypted",
                "data": signature,
                "format": REASONING_FORMAT,
                "index": counters.details,
            });
            if let Some(id) = call_id {
                detail["id"] = Value::String(id);
            }
            counters.details += 1;
            out.push(Piece::Signature(detail));
        }
    }
    out
}

/// A choice for a blocked prompt.
pub(crate) fn block_reason(v: &Value) -> Option<&str> {
    v.get("promptFeedback")
        .and_then(|f| str_field(f, "blockReason"))
}

/// Parses a non-streamed answer into a chat completion stamped with the
/// provider's display name.
pub fn chat_completion(
    slug: &str,
    name: &str,
    body: &[u8],
    upstream_model: &str,
    mode: &ResponseMode,
    created: i64,
) -> Result<ChatCompletion, ProviderError> {
    let raw = || String::from_utf8_lossy(body).into_owned();
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        let message = if body.iter().all(u8::is_ascii_whitespace) {
            String::from("empty answer body")
        } else {
            format!("unparseable answer: {e}")
        };
        ProviderError::new(slug, name, ErrorKind::InvalidResponse, message).with_raw(raw())
    })?;
    if let Some((status, code, message)) = error_object(&v) {
        let kind = status
            .filter(|s| *s >= 400)
            .map_or(ErrorKind::InvalidResponse, |status| ErrorKind::Status {
                status,
            });
        return Err(ProviderError::new(slug, name, kind, message)
            .with_upstream_code(code)
            .with_raw(raw()));
    }
    let candidates = v
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut choices = Vec::with_capacity(candidates.len().max(1));
    for (position, candidate) in candidates.iter().enumerate() {
        let index = candidate
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(u32::try_from(position).unwrap_or(u32::MAX));
        choices.push(candidate_choice(candidate, index, mode));
    }
    if choices.is_empty() {
        let Some(reason) = block_reason(&v) else {
            return Err(ProviderError::new(
                slug,
                name,
                ErrorKind::InvalidResponse,
                "the answer has no candidates",
            )
            .with_raw(raw()));
        };
        choices.push(Choice {
            index: 0,
            message: ResponseMessage::text(String::new()),
            finish_reason: Some(String::from("content_filter")),
            native_finish_reason: Some(reason.to_string()),
            logprobs: None,
            error: None,
            extra: Extra::new(),
        });
    }
    Ok(ChatCompletion {
        id: str_field(&v, "responseId").unwrap_or("").to_string(),
        object: String::from("chat.completion"),
        created,
        model: str_field(&v, "modelVersion")
            .unwrap_or(upstream_model)
            .to_string(),
        provider: Some(name.to_string()),
        system_fingerprint: None,
        choices,
        usage: Some(usage(v.get("usageMetadata").unwrap_or(&Value::Null))),
        extra: Extra::new(),
    })
}

fn candidate_choice(candidate: &Value, index: u32, mode: &ResponseMode) -> Choice {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut details = Vec::new();
    let mut calls = Vec::new();
    for piece in pieces(candidate.get("content"), &mut Counters::default()) {
        match piece {
            Piece::Text(t) => text.push_str(&t),
            Piece::Thought(t) => reasoning.push_str(&t),
            Piece::Call(c) => calls.push(c),
            Piece::Signature(d) => details.push(d),
        }
    }
    let native = str_field(candidate, "finishReason");
    let mut message = ResponseMessage::text(String::new());
    message.content = (!text.is_empty() || calls.is_empty()).then_some(text);
    if !mode.exclude_reasoning {
        message.reasoning = (!reasoning.is_empty()).then_some(reasoning);
        message.reasoning_details = (!details.is_empty()).then_some(details);
    }
    let called = !calls.is_empty();
    message.tool_calls = called.then_some(calls);
    Choice {
        index,
        message,
        finish_reason: native.map(|n| candidate_finish(n, called).to_string()),
        native_finish_reason: native.map(str::to_owned),
        logprobs: None,
        error: None,
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `gemini_response` and `gemini_stream` fuzz targets
    /// (`fuzz/corpus/gemini_response/crash-e519b3638428b288`,
    /// `fuzz/corpus/gemini_stream/crash-4bfebcc306258fd2`): a
    /// `promptTokenCount` of `u64::MAX` overflowed the sums.
    #[test]
    fn usage_counts_near_u64_max_saturate() {
        let u = usage(&serde_json::json!({
            "promptTokenCount": u64::MAX,
            "toolUsePromptTokenCount": 3,
            "candidatesTokenCount": u64::MAX,
            "thoughtsTokenCount": 2
        }));
        assert_eq!(u.prompt_tokens, u64::MAX);
        assert_eq!(u.completion_tokens, u64::MAX);
        assert_eq!(u.total_tokens, u64::MAX);
        assert_eq!(u.reasoning_tokens(), 2);
    }

    #[test]
    fn finish_reasons() {
        for (native, finish) in [
            ("STOP", "stop"),
            ("MAX_TOKENS", "length"),
            ("SAFETY", "content_filter"),
            ("RECITATION", "content_filter"),
            ("PROHIBITED_CONTENT", "content_filter"),
            ("BLOCKLIST", "content_filter"),
            ("SPII", "content_filter"),
            ("MALFORMED_FUNCTION_CALL", "error"),
            ("OTHER", "stop"),
        ] {
            assert_eq!(finish_reason(native), finish, "{native}");
        }
        assert_eq!(candidate_finish("STOP", true), "tool_calls");
        assert_eq!(candidate_finish("MAX_TOKENS", true), "length");
    }

    #[test]
    fn status_names() {
        for (name, status) in [
            ("INVALID_ARGUMENT", 400),
            ("PERMISSION_DENIED", 403),
            ("NOT_FOUND", 404),
            ("RESOURCE_EXHAUSTED", 429),
            ("INTERNAL", 500),
            ("UNAVAILABLE", 503),
            ("DEADLINE_EXCEEDED", 504),
        ] {
            assert_eq!(status_for_status_name(name), Some(status), "{name}");
        }
    }

    #[test]
    fn usage_counts_thoughts_as_completion() {
        let u = usage(&json!({
            "promptTokenCount": 100,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 64,
            "totalTokenCount": 150
        }));
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (100, 50, 150)
        );
        assert_eq!(u.reasoning_tokens(), 30);
        assert_eq!(u.cached_tokens(), 64);
    }

    #[test]
    fn a_refused_key_is_401_and_retry_info_is_read() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        let e = error_from_status("g", "G", 400, None, body);
        assert_eq!(e.kind(), ErrorKind::Status { status: 401 });
        assert_eq!(e.upstream_code(), Some("API_KEY_INVALID"));
        assert!(e.is_retryable());
        let body = br#"[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}]"#;
        let e = error_from_status("g", "G", 429, None, body);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(37)));
        assert_eq!(e.upstream_code(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(e.message(), "Quota exceeded");
    }

    #[test]
    fn no_candidates_without_a_block_is_invalid() {
        let err = chat_completion("g", "G", b"{}", "m", &ResponseMode::default(), 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }
}
