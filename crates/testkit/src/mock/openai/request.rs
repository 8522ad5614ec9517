//! Reading OpenAI requests from raw JSON: into the behaviour core's
//! [`Conversation`], and validated the way the OpenAI API validates them.

use serde_json::Value;

use super::error::ApiError;
use crate::mock::behaviour::{
    self, Conversation, DEFAULT_EMBEDDING_DIMENSIONS, Message, Reply, ResponseFormat, Role,
    ToolChoice, ToolIdStyle, count_tokens, respond_to_prompt,
};

/// Largest `dimensions` an embedding request may ask for.
const MAX_EMBEDDING_DIMENSIONS: u64 = 65_536;

/// Builds the dialect-neutral [`Conversation`] of a chat request.
///
/// Content may be a string or an array of parts: text parts are
/// concatenated, `image_url` parts are counted, other parts are ignored.
/// `developer` (and any unknown role) counts as a system message,
/// `function` as a tool message. Tool calls of assistant messages count the
/// tokens of each function name and arguments string.
/// `max_completion_tokens` wins over `max_tokens`.
pub fn conversation(request: &Value) -> Conversation {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(|messages| messages.iter().map(message).collect())
        .unwrap_or_default();
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter(|t| t.get("type").is_none_or(|ty| ty == "function"))
                .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let tool_choice = match request.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Required,
        Some(choice @ Value::Object(_)) => match choice.pointer("/function/name") {
            Some(Value::String(name)) => ToolChoice::Function(name.clone()),
            _ => ToolChoice::Auto,
        },
        _ => ToolChoice::Auto,
    };
    let tool_schemas = request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let name = t.pointer("/function/name")?.as_str()?;
            let parameters = t.pointer("/function/parameters")?;
            Some((name.to_owned(), parameters.clone()))
        })
        .collect();
    Conversation {
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: request.get("parallel_tool_calls") != Some(&Value::Bool(false)),
        max_tokens: token_limit(request, &["max_completion_tokens", "max_tokens"]),
        stop: stop_sequences(request),
        thinking: thinks(request),
        tool_ids: ToolIdStyle::OpenAi,
        tool_schemas,
        response_format: response_format(request),
    }
}

/// Whether an OpenAI request gets reasoning: a model whose name contains
/// `reason` always reasons unless `reasoning_effort` is `"none"` or
/// `reasoning.enabled` is false / `reasoning.effort` is `"none"`; any other
/// model reasons when asked (`reasoning_effort` other than `"none"`, or a
/// `reasoning` object not disabled).
pub fn thinks(request: &Value) -> bool {
    let effort = request
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .or_else(|| request.pointer("/reasoning/effort").and_then(Value::as_str));
    let disabled = effort == Some("none")
        || request.pointer("/reasoning/enabled") == Some(&Value::Bool(false));
    if disabled {
        return false;
    }
    let reasoner = request
        .get("model")
        .and_then(Value::as_str)
        .is_some_and(|m| m.to_lowercase().contains("reason"));
    reasoner || effort.is_some() || request.get("reasoning").is_some_and(Value::is_object)
}

/// `response_format`: `json_object`, or `json_schema` with its
/// `json_schema.schema` (without one: any JSON object).
pub fn response_format(request: &Value) -> ResponseFormat {
    let Some(format) = request.get("response_format") else {
        return ResponseFormat::Text;
    };
    match format.get("type").and_then(Value::as_str) {
        Some("json_object") => ResponseFormat::JsonObject,
        Some("json_schema") => match format.pointer("/json_schema/schema") {
            Some(schema @ Value::Object(_)) => ResponseFormat::JsonSchema(schema.clone()),
            _ => ResponseFormat::JsonObject,
        },
        _ => ResponseFormat::Text,
    }
}

/// The mock's reply to an OpenAI chat request (see the crate docs): what a
/// running mock sends for the same request, minus ids and timestamps.
pub fn reply_for(request: &Value) -> Reply {
    behaviour::respond(&conversation(request))
}

/// The mock's replies to a legacy completions request, one per prompt
/// (none when `prompt` is missing or malformed). A token-id prompt is read
/// as its ids joined by spaces, so each id is one token.
pub fn completion_reply_for(request: &Value) -> Vec<Reply> {
    let stop = stop_sequences(request);
    let max = token_limit(request, &["max_tokens"]);
    prompts(request)
        .unwrap_or_default()
        .iter()
        .map(|p| respond_to_prompt(p, &stop, max))
        .collect()
}

fn message(value: &Value) -> Message {
    let role = match value.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool" | "function") => Role::Tool,
        _ => Role::System,
    };
    let mut out = Message::text(role, "");
    match value.get("content") {
        Some(Value::String(s)) => out.text.clone_from(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(text) = part.get("text").and_then(Value::as_str) {
                            out.text.push_str(text);
                        }
                    }
                    Some("image_url") => out.images += 1,
                    _ => {}
                }
            }
        }
        _ => {}
    }
    if let Some(calls) = value.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            for field in ["/function/name", "/function/arguments"] {
                if let Some(text) = call.pointer(field).and_then(Value::as_str) {
                    out.extra_tokens += count_tokens(text);
                }
            }
        }
    }
    out
}

fn token_limit(request: &Value, fields: &[&str]) -> Option<u32> {
    fields
        .iter()
        .find_map(|f| request.get(*f).and_then(Value::as_u64))
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn stop_sequences(request: &Value) -> Vec<String> {
    match request.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Token ids joined by spaces; `None` unless all are non-negative integers.
fn token_ids(items: &[Value]) -> Option<String> {
    let ids: Option<Vec<String>> = items
        .iter()
        .map(|v| v.as_u64().map(|n| n.to_string()))
        .collect();
    ids.map(|ids| ids.join(" "))
}

/// The prompts of a legacy completions request: a string, strings, token
/// ids or arrays of token ids.
pub(super) fn prompts(request: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::wrong_type("prompt", "a string or an array");
    match request.get("prompt") {
        None | Some(Value::Null) => Err(ApiError::missing("prompt")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if items.is_empty() => Err(invalid()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            token_ids(items).map(|p| vec![p]).ok_or_else(invalid)
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_array()
                    .and_then(|a| token_ids(a))
                    .ok_or_else(invalid)
            })
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// The texts of an embeddings request: a string, strings, token ids (joined
/// by spaces) or arrays of token ids; objects contribute their text parts.
/// Empty inputs are rejected, as OpenAI does.
pub(super) fn embedding_inputs(request: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "'$.input' is invalid. Please check the API reference: \
             https://platform.openai.com/docs/api-reference.",
            "input",
            "invalid_value",
        )
    };
    let item_text = |item: &Value| -> Option<String> {
        match item {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Array(ids) if !ids.is_empty() => token_ids(ids),
            Value::Object(_) => Some(message(item).text),
            _ => None,
        }
    };
    match request.get("input") {
        None | Some(Value::Null) => Err(ApiError::missing("input")),
        Some(Value::Array(items)) if items.is_empty() => Err(invalid()),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            token_ids(items).map(|t| vec![t]).ok_or_else(invalid)
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item_text(item).ok_or_else(invalid))
            .collect(),
        Some(item @ Value::String(_)) => item_text(item).map(|t| vec![t]).ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// How an embeddings request wants its vectors.
pub(super) struct EmbeddingFormat {
    pub(super) dimensions: usize,
    pub(super) base64: bool,
}

pub(super) fn embedding_format(request: &Value) -> Result<EmbeddingFormat, ApiError> {
    let dimensions = match request.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_EMBEDDING_DIMENSIONS,
        Some(value) => match value.as_u64() {
            Some(n @ 1..=MAX_EMBEDDING_DIMENSIONS) => usize::try_from(n).unwrap_or(1),
            _ => {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid 'dimensions': expected an integer in 1..={MAX_EMBEDDING_DIMENSIONS}."
                    ),
                    "dimensions",
                    "invalid_value",
                ));
            }
        },
    };
    let base64 = match request.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) if s == "float" => false,
        Some(Value::String(s)) if s == "base64" => true,
        Some(_) => {
            return Err(ApiError::invalid(
                "Invalid 'encoding_format': expected 'float' or 'base64'.",
                "encoding_format",
                "invalid_value",
            ));
        }
    };
    Ok(EmbeddingFormat { dimensions, base64 })
}

/// The body as a JSON object.
pub(super) fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::invalid(
            "The request body must be a JSON object.",
            "body",
            "invalid_type",
        )),
        Err(_) => Err(ApiError::malformed_json()),
    }
}

/// The chat `messages` must be an array (it may be empty).
pub(super) fn check_messages(request: &Value) -> Result<(), ApiError> {
    match request.get("messages") {
        Some(Value::Array(_)) => Ok(()),
        None | Some(Value::Null) => Err(ApiError::missing("messages")),
        Some(_) => Err(ApiError::wrong_type("messages", "an array")),
    }
}

/// A token limit, if given, must be an integer of at least 1.
pub(super) fn check_limit(request: &Value, field: &str) -> Result<(), ApiError> {
    match request.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(value) => match value.as_i64() {
            Some(n) if n >= 1 => Ok(()),
            Some(_) => Err(ApiError::invalid(
                format!(
                    "Invalid '{field}': integer below minimum value. Expected a value >= 1, \
                     but got {value} instead."
                ),
                field,
                "integer_below_min_value",
            )),
            None if value.is_u64() => Ok(()),
            None => Err(ApiError::wrong_type(field, "an integer")),
        },
    }
}

/// Most choices a chat request may ask for with `n`.
pub(super) const MAX_CHOICES: u32 = 128;

/// How many choices a chat request asks for: `n`, 1 when absent or null;
/// an integer in 1..=128 as OpenAI requires.
pub(super) fn choices(request: &Value) -> Result<u32, ApiError> {
    check_limit(request, "n")?;
    match request.get("n").and_then(Value::as_u64) {
        None => Ok(1),
        Some(n) => match u32::try_from(n) {
            Ok(n) if n <= MAX_CHOICES => Ok(n),
            _ => Err(ApiError::invalid(
                format!(
                    "Invalid 'n': integer above maximum value. Expected a value <= \
                     {MAX_CHOICES}, but got {n} instead."
                ),
                "n",
                "integer_above_max_value",
            )),
        },
    }
}

/// The requested model name.
pub(super) fn model(request: &Value) -> Result<&str, ApiError> {
    request
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(ApiError::no_model)
}

pub(super) fn is_stream(request: &Value) -> bool {
    request.get("stream") == Some(&Value::Bool(true))
}

pub(super) fn include_usage(request: &Value) -> bool {
    request.pointer("/stream_options/include_usage") == Some(&Value::Bool(true))
}
