//! Pure translation between Tollgate's wire types and an OpenAI-compatible
//! upstream: request bodies out; responses, stream events and error bodies
//! in. No I/O here, so every rule is unit-tested without a socket.
//!
//! # What goes upstream (chat)
//!
//! | request field | upstream |
//! |---|---|
//! | `model` | replaced by the endpoint's upstream model id |
//! | `messages` | kept; OpenRouter-only `reasoning` / `reasoning_details` and Anthropic-only `is_error` / `cache_control` on messages and `cache_control` / `prompt_cache_breakpoint` on content parts and tools are removed (OpenAI rejects unknown message keys). A request with only `prompt` becomes one user message |
//! | `temperature`, `top_p`, `frequency_penalty`, `presence_penalty`, `seed`, `logit_bias`, `logprobs`, `top_logprobs`, `max_tokens`, `max_completion_tokens`, `stop`, `response_format`, `user`, `reasoning_effort` | kept |
//! | `tools`, `tool_choice`, `parallel_tool_calls` | kept; OpenRouter server tools (`type: "openrouter:*"`) are removed, and `tool_choice` / `parallel_tool_calls` go too when no tool is left (OpenAI rejects them alone) |
//! | `n`, `prediction`, `modalities`, `audio`, `service_tier`, `verbosity`, `prompt_cache_key`, `safety_identifier` (untyped, from `extra`) | kept |
//! | `reasoning` | `reasoning.effort` becomes `reasoning_effort` when that is absent; the rest (`max_tokens`, `exclude`, `enabled`, `summary`) has no OpenAI equivalent and is dropped (`exclude` is applied to the answer instead: see below) |
//! | `top_k`, `min_p`, `top_a`, `repetition_penalty` | kept only with [`ProviderSettings::extended_sampling`](crate::ProviderSettings::extended_sampling) |
//! | `stream`, `stream_options` | set by the call: `stream: true` and `stream_options: {include_usage: true}` for streams (OpenAI sends usage only when asked), both absent otherwise |
//! | `metadata` | dropped: it tags the request for Tollgate; OpenAI accepts it only together with `store`, which we never set (a gateway must not opt its users into upstream storage) |
//! | `models`, `route`, `provider`, `transforms`, `usage`, `plugins`, `session_id`, `trace`, `debug`, `include_reasoning`, `web_search_options`, `cache_control`, any other unknown key | dropped: OpenRouter-only, and an upstream may answer 400 to keys it does not know |
//!
//! Values that are `null` are not sent.
//!
//! # What comes back
//!
//! Completions and stream chunks are passed on as they are, with the
//! provider's display name stamped on them; with `reasoning.exclude: true`
//! (or the legacy `include_reasoning: false`) the model still reasons (and
//! its `usage` still counts those tokens, so they are billed) but
//! `reasoning`, `reasoning_details` and the non-standard `reasoning_content`
//! (DeepSeek, vLLM) are removed from messages and deltas
//! ([`excludes_reasoning`], [`strip_reasoning`], [`strip_chunk_reasoning`]),
//! as the Anthropic and Gemini adapters leave them out.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tollgate_schema::chat::{ChatChunk, ChatCompletion, ChatRequest};
use tollgate_schema::completions::{CompletionRequest, TextCompletion};
use tollgate_schema::embeddings::{EmbeddingRequest, EmbeddingResponse};
use tollgate_schema::listing::ProviderListing;
use tollgate_schema::wire_error::ErrorCode;

use crate::error::{ErrorKind, ProviderError};
use crate::sse::SseEvent;

/// Parameters the OpenAI adapter translates, without extended sampling.
pub const SUPPORTED_PARAMETERS: &[&str] = &[
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "structured_outputs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "reasoning_effort",
    "prediction",
    "verbosity",
];

/// [`SUPPORTED_PARAMETERS`] plus the extended sampling parameters.
pub const SUPPORTED_PARAMETERS_EXTENDED: &[&str] = &[
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "structured_outputs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "reasoning_effort",
    "prediction",
    "verbosity",
    "top_k",
    "min_p",
    "top_a",
    "repetition_penalty",
];

/// The non-OpenAI sampling parameters many compatible servers accept.
pub const EXTENDED_SAMPLING: &[&str] = &["top_k", "min_p", "top_a", "repetition_penalty"];

/// Chat keys sent upstream as they are (typed in the schema or carried in
/// `extra`).
const CHAT_KEPT: &[&str] = &[
    "messages",
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "reasoning_effort",
    // OpenAI parameters the schema does not type (they live in `extra`).
    "n",
    "prediction",
    "modalities",
    "audio",
    "service_tier",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
];

/// Legacy completion keys sent upstream as they are.
const COMPLETION_KEPT: &[&str] = &[
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "user",
    "best_of",
    "echo",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "n",
    "suffix",
];

/// Embedding keys sent upstream as they are.
const EMBEDDING_KEPT: &[&str] = &["input", "encoding_format", "dimensions", "user"];

/// The JSON body of `POST /chat/completions` for `request` sent to
/// `upstream_model` (see the module docs for what is kept).
pub fn chat_body(
    request: &ChatRequest,
    upstream_model: &str,
    stream: bool,
    extended_sampling: bool,
) -> Result<Value, serde_json::Error> {
    let src = as_object(serde_json::to_value(request)?);
    let mut out = Map::new();
    out.insert("model".into(), Value::String(upstream_model.into()));
    let kept: &[&[&str]] = if extended_sampling {
        &[CHAT_KEPT, EXTENDED_SAMPLING]
    } else {
        &[CHAT_KEPT]
    };
    take_keys(src, &mut out, kept);

    if !out.contains_key("messages")
        && let Some(prompt) = &request.prompt
    {
        out.insert(
            "messages".into(),
            json!([{ "role": "user", "content": prompt }]),
        );
    }
    if let Some(messages) = out.get_mut("messages") {
        strip_message_extensions(messages);
    }
    tidy_tools(&mut out);

    if !out.contains_key("reasoning_effort")
        && let Some(effort) = request.reasoning.as_ref().and_then(|r| r.effort.as_ref())
    {
        out.insert("reasoning_effort".into(), Value::String(effort.clone()));
    }

    if stream {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(Value::Object(out))
}

/// The JSON body of `POST /completions` (never streamed).
pub fn completion_body(
    request: &CompletionRequest,
    upstream_model: &str,
    extended_sampling: bool,
) -> Result<Value, serde_json::Error> {
    let src = as_object(serde_json::to_value(request)?);
    let mut out = Map::new();
    out.insert("model".into(), Value::String(upstream_model.into()));
    let kept: &[&[&str]] = if extended_sampling {
        &[COMPLETION_KEPT, EXTENDED_SAMPLING]
    } else {
        &[COMPLETION_KEPT]
    };
    take_keys(src, &mut out, kept);
    Ok(Value::Object(out))
}

/// The JSON body of `POST /embeddings`. `provider` and `input_type` (not an
/// OpenAI parameter) are dropped.
pub fn embedding_body(
    request: &EmbeddingRequest,
    upstream_model: &str,
) -> Result<Value, serde_json::Error> {
    let src = as_object(serde_json::to_value(request)?);
    let mut out = Map::new();
    out.insert("model".into(), Value::String(upstream_model.into()));
    take_keys(src, &mut out, &[EMBEDDING_KEPT]);
    Ok(Value::Object(out))
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Moves `src`'s non-null values whose keys are in one of `kept` into
/// `out`, and drops the rest. (A request has a handful of keys and the
/// lists dozens: walking the request once beats a map lookup per listed
/// key.)
fn take_keys(src: Map<String, Value>, out: &mut Map<String, Value>, kept: &[&[&str]]) {
    for (key, value) in src {
        if !value.is_null() && kept.iter().any(|keys| keys.contains(&key.as_str())) {
            out.insert(key, value);
        }
    }
}

/// Removes OpenRouter-only keys from messages and their content parts.
fn strip_message_extensions(messages: &mut Value) {
    let Value::Array(messages) = messages else {
        return;
    };
    for message in messages {
        let Value::Object(message) = message else {
            continue;
        };
        message.remove("reasoning");
        message.remove("reasoning_details");
        // Anthropic's tool-result flags, kept for Anthropic upstreams (the
        // Messages ingress); OpenAI rejects unknown message keys.
        message.remove("is_error");
        message.remove("cache_control");
        if let Some(Value::Array(parts)) = message.get_mut("content") {
            for part in parts {
                if let Value::Object(part) = part {
                    part.remove("cache_control");
                    part.remove("prompt_cache_breakpoint");
                }
            }
        }
    }
}

/// Drops OpenRouter server tools and `cache_control` on tools, and the tool
/// settings OpenAI refuses without tools.
fn tidy_tools(out: &mut Map<String, Value>) {
    if let Some(Value::Array(tools)) = out.get_mut("tools") {
        tools.retain(|t| {
            !t.get("type")
                .and_then(Value::as_str)
                .is_some_and(|ty| ty.starts_with("openrouter:"))
        });
        for tool in tools.iter_mut() {
            if let Value::Object(tool) = tool {
                tool.remove("cache_control");
            }
        }
        if tools.is_empty() {
            out.remove("tools");
        }
    }
    if !out.contains_key("tools") {
        out.remove("tool_choice");
        out.remove("parallel_tool_calls");
    }
}

/// What an upstream error body says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamError {
    /// `error.message` (or `error` when it is a string, or a top-level
    /// `message` / `detail`).
    pub message: Option<String>,
    /// `error.code` when textual, else `error.type`.
    pub code: Option<String>,
    /// `error.code` when it is an HTTP status (OpenRouter-shaped bodies).
    pub status: Option<u16>,
}

/// Reads an error body: OpenAI-shaped `{"error":{"message","type","code"}}`
/// (which Anthropic, Gemini and OpenRouter bodies also match), `{"error":
/// "text"}`, or FastAPI-style `{"detail": ...}` (vLLM) / `{"message": ...}`.
pub fn upstream_error(body: &[u8]) -> UpstreamError {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return UpstreamError::default();
    };
    upstream_error_value(&v)
}

fn upstream_error_value(v: &Value) -> UpstreamError {
    let mut out = UpstreamError::default();
    match v.get("error") {
        Some(Value::Object(e)) => {
            out.message = e.get("message").and_then(non_empty_str);
            match e.get("code") {
                Some(Value::Number(n)) => {
                    out.status = n.as_u64().and_then(|n| u16::try_from(n).ok());
                }
                Some(Value::String(s)) if !s.is_empty() => match s.parse::<u16>() {
                    Ok(n) => out.status = Some(n),
                    Err(_) => out.code = Some(s.clone()),
                },
                _ => {}
            }
            if out.code.is_none() {
                out.code = e.get("type").and_then(non_empty_str);
            }
        }
        Some(Value::String(s)) if !s.is_empty() => out.message = Some(s.clone()),
        _ => {
            out.message =
                v.get("message")
                    .and_then(non_empty_str)
                    .or_else(|| match v.get("detail") {
                        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                        Some(d @ (Value::Array(_) | Value::Object(_))) => Some(d.to_string()),
                        _ => None,
                    });
        }
    }
    out.status = out.status.filter(|s| (100..=599).contains(s));
    out
}

fn non_empty_str(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// A short, one-line excerpt of a body for messages.
pub fn excerpt(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(body);
    let collapsed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX_CHARS {
        let cut: String = collapsed.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

/// The error for a non-2xx answer: kind `Status`, the upstream's message (or
/// an excerpt of its body, or the status's reason), raw body, code and
/// `retry_after`.
pub fn error_from_status(
    slug: &str,
    name: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ProviderError {
    let up = upstream_error(body);
    let message = up.message.unwrap_or_else(|| {
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
        .with_retry_after(retry_after)
        .with_upstream_code(up.code);
    if !body.is_empty() {
        err = err.with_raw(String::from_utf8_lossy(body));
    }
    err
}

/// Parses a 2xx body as `T` (`what` names it in messages). A 2xx carrying
/// an error object becomes that error (kind `Status` when it names an HTTP
/// status, else `InvalidResponse`); anything else unparseable is
/// `InvalidResponse` with the field at fault named.
pub fn parse_success<T: DeserializeOwned>(
    slug: &str,
    name: &str,
    what: &str,
    body: &[u8],
) -> Result<T, ProviderError> {
    match tollgate_schema::from_json_slice::<T>(body) {
        Ok(v) => Ok(v),
        Err(parse_err) => {
            let up = upstream_error(body);
            let is_error_object = serde_json::from_slice::<Value>(body)
                .ok()
                .is_some_and(|v| v.get("error").is_some_and(is_truthy));
            let (kind, message) = match (is_error_object, up.message) {
                (true, Some(message)) => {
                    let kind = match up.status.filter(|s| *s >= 400) {
                        Some(status) => ErrorKind::Status { status },
                        None => ErrorKind::InvalidResponse,
                    };
                    (kind, message)
                }
                _ if body.iter().all(u8::is_ascii_whitespace) => {
                    (ErrorKind::InvalidResponse, format!("empty {what} body"))
                }
                _ => (
                    ErrorKind::InvalidResponse,
                    format!("unparseable {what}: {parse_err}"),
                ),
            };
            let mut err = ProviderError::new(slug, name, kind, message).with_upstream_code(up.code);
            if !body.is_empty() {
                err = err.with_raw(String::from_utf8_lossy(body));
            }
            Err(err)
        }
    }
}

/// Parses a non-streamed chat completion and stamps the provider's display
/// name on it.
pub fn chat_completion(
    slug: &str,
    name: &str,
    body: &[u8],
) -> Result<ChatCompletion, ProviderError> {
    let mut completion: ChatCompletion = parse_success(slug, name, "chat completion", body)?;
    completion.provider = Some(name.into());
    Ok(completion)
}

/// Whether `request` asks for the reasoning to be left out of the answer:
/// `reasoning.exclude: true` or `include_reasoning: false`.
pub fn excludes_reasoning(request: &ChatRequest) -> bool {
    request.reasoning.as_ref().and_then(|r| r.exclude) == Some(true)
        || request.include_reasoning == Some(false)
}

/// Keys of a message or delta that carry reasoning.
const REASONING_EXTRA: &[&str] = &["reasoning_content"];

/// Removes the reasoning from every message of `completion` (its usage is
/// kept: the tokens were produced and are billed).
pub fn strip_reasoning(completion: &mut ChatCompletion) {
    for choice in &mut completion.choices {
        let m = &mut choice.message;
        m.reasoning = None;
        m.reasoning_details = None;
        for key in REASONING_EXTRA {
            m.extra.remove(*key);
        }
    }
}

/// Removes the reasoning from every delta of `chunk` (a chunk left empty
/// is still passed on: it may carry the finish reason or usage).
pub fn strip_chunk_reasoning(chunk: &mut ChatChunk) {
    for choice in &mut chunk.choices {
        let d = &mut choice.delta;
        d.reasoning = None;
        d.reasoning_details = None;
        for key in REASONING_EXTRA {
            d.extra.remove(*key);
        }
    }
}

/// Parses a legacy text completion and stamps the provider's name on it.
pub fn text_completion(
    slug: &str,
    name: &str,
    body: &[u8],
) -> Result<TextCompletion, ProviderError> {
    let mut completion: TextCompletion = parse_success(slug, name, "text completion", body)?;
    completion.provider = Some(name.into());
    Ok(completion)
}

/// Parses an embeddings response.
pub fn embeddings(slug: &str, name: &str, body: &[u8]) -> Result<EmbeddingResponse, ProviderError> {
    parse_success(slug, name, "embeddings response", body)
}

/// Parses a provider listing fetched from `url` (named in errors).
pub fn listing(
    slug: &str,
    name: &str,
    url: &str,
    body: &[u8],
) -> Result<ProviderListing, ProviderError> {
    parse_success(slug, name, &format!("provider listing from {url}"), body)
}

/// What one server-sent event of an OpenAI-compatible stream means.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A chunk, with the provider's display name stamped on it.
    Chunk(Box<ChatChunk>),
    /// `data: [DONE]`: the stream is complete.
    Done,
    /// Nothing to pass on (empty data).
    Skip,
    /// The upstream reported an error: a top-level `error` in the data, or
    /// an `event: error`.
    Error {
        /// What the error object says.
        error: UpstreamError,
        /// The event's data.
        raw: String,
    },
    /// Data that is not a chunk.
    Invalid {
        /// Why.
        message: String,
        /// The event's data.
        raw: String,
    },
}

/// Interprets one SSE event (the OpenAI stream format).
pub fn stream_event(event: &SseEvent, provider_name: &str) -> StreamEvent {
    let data = event.data.trim();
    if data.is_empty() {
        return StreamEvent::Skip;
    }
    if data.starts_with("[DONE]") {
        return StreamEvent::Done;
    }
    let is_error_event = event.event.as_deref() == Some("error");
    if !is_error_event {
        // Fast path: a well-formed chunk.
        if let Ok(mut chunk) = serde_json::from_str::<ChatChunk>(data) {
            return match chunk.error.take().map(|b| *b) {
                None => {
                    chunk.provider = Some(provider_name.into());
                    StreamEvent::Chunk(Box::new(chunk))
                }
                Some(body) => StreamEvent::Error {
                    // (Moved out of its box: its fields are taken apart.)
                    error: UpstreamError {
                        message: Some(body.message).filter(|m| !m.is_empty()),
                        status: body.code.status().filter(|s| (100..=599).contains(s)),
                        code: match body.code {
                            ErrorCode::Text(t) if t.parse::<u16>().is_err() => Some(t),
                            _ => None,
                        },
                    },
                    raw: data.into(),
                },
            };
        }
    }
    match serde_json::from_str::<Value>(data) {
        Ok(v) if is_error_event || v.get("error").is_some_and(is_truthy) => {
            let mut error = upstream_error_value(&v);
            if error.message.is_none() {
                error.message = Some(excerpt(data.as_bytes()));
            }
            StreamEvent::Error {
                error,
                raw: data.into(),
            }
        }
        Ok(v) => {
            let message = match serde_json::from_value::<ChatChunk>(v) {
                Err(e) => format!("unparseable stream chunk: {e}"),
                Ok(_) => String::from("unparseable stream chunk"),
            };
            StreamEvent::Invalid {
                message,
                raw: data.into(),
            }
        }
        Err(_) if is_error_event => StreamEvent::Error {
            error: UpstreamError {
                message: Some(excerpt(data.as_bytes())),
                ..UpstreamError::default()
            },
            raw: data.into(),
        },
        Err(e) => StreamEvent::Invalid {
            message: format!("stream event is not JSON: {e}"),
            raw: data.into(),
        },
    }
}

fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests;
