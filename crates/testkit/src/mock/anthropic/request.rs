//! Reading Anthropic Messages requests from raw JSON: into the behaviour
//! core's [`Conversation`], validated the way the Messages API validates
//! them, and cut into the prefixes the prompt cache works on.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::mock::MockState;
use crate::mock::behaviour::{
    self, Conversation, Message, Reply, ResponseFormat, Role, ToolChoice, ToolIdStyle, Usage,
    count_tokens,
};

/// The smallest thinking budget the API accepts.
const MIN_THINKING_BUDGET: u64 = 1024;

/// Builds the dialect-neutral [`Conversation`] of a Messages request.
///
/// `system` (a string or text blocks) is a system message. In `messages`,
/// text blocks are concatenated, `image` blocks are counted, `tool_use`
/// blocks cost the tokens of their name and of their `input` as compact
/// JSON, and `thinking` / `redacted_thinking` blocks are not counted (the
/// API drops them from earlier turns). A user message with `tool_result`
/// blocks is a tool message whose text is the last result's text (a string
/// content, or its text blocks); its other results and text blocks only add
/// tokens.
/// Custom tools (no `type`, or `"custom"`) are offered; `tool_choice`
/// `auto` / `any` / `tool` / `none` map to auto, required, that function and
/// none, and `disable_parallel_tool_use` turns parallel calls off.
/// `thinking.type == "enabled"` asks for reasoning.
pub fn conversation(request: &Value) -> Conversation {
    let mut messages = Vec::new();
    if let Some(system) = request.get("system").filter(|s| !s.is_null()) {
        let text: String = blocks(system).iter().filter_map(block_text).collect();
        messages.push(Message::text(Role::System, text));
    }
    if let Some(list) = request.get("messages").and_then(Value::as_array) {
        messages.extend(list.iter().map(message));
    }
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter(|t| t.get("type").is_none_or(|ty| ty == "custom"))
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let choice = request.get("tool_choice");
    let tool_choice = match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => match choice.and_then(|c| c.get("name")).and_then(Value::as_str) {
            Some(name) => ToolChoice::Function(name.to_owned()),
            None => ToolChoice::Required,
        },
        _ => ToolChoice::Auto,
    };
    let parallel = choice.and_then(|c| c.get("disable_parallel_tool_use")) != Some(&json!(true));
    Conversation {
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: parallel,
        max_tokens: request
            .get("max_tokens")
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        stop: request
            .get("stop_sequences")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        thinking: thinking_enabled(request),
        tool_ids: ToolIdStyle::Anthropic,
        tool_schemas: request
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let name = t.get("name")?.as_str()?;
                Some((name.to_owned(), t.get("input_schema")?.clone()))
            })
            .collect(),
        response_format: ResponseFormat::Text,
    }
}

/// The mock's reply to a Messages request (see the crate docs), without
/// prompt caching: what a running mock sends for the same request, minus
/// ids, with every prompt token in `input_tokens`.
pub fn reply_for(request: &Value) -> Reply {
    behaviour::respond(&conversation(request))
}

fn thinking_enabled(request: &Value) -> bool {
    request.pointer("/thinking/type") == Some(&json!("enabled"))
}

/// The content blocks of a string or block-array content (a string is one
/// text block).
fn blocks(content: &Value) -> Cow<'_, [Value]> {
    match content {
        Value::String(text) => Cow::Owned(vec![json!({ "type": "text", "text": text })]),
        Value::Array(blocks) => Cow::Borrowed(blocks),
        _ => Cow::Owned(Vec::new()),
    }
}

fn block_type(block: &Value) -> Option<&str> {
    block.get("type").and_then(Value::as_str)
}

fn block_text(block: &Value) -> Option<&str> {
    (block_type(block) == Some("text"))
        .then(|| block.get("text").and_then(Value::as_str))
        .flatten()
}

fn message(value: &Value) -> Message {
    let role = value.get("role").and_then(Value::as_str).unwrap_or("user");
    let content = value.get("content").unwrap_or(&Value::Null);
    message_from(role, &blocks(content))
}

/// The core message of `blocks` sent by `role` (also used for the prefix of
/// a message up to a cache breakpoint).
fn message_from(role: &str, blocks: &[Value]) -> Message {
    let is_tool = blocks.iter().any(|b| block_type(b) == Some("tool_result"));
    let role = match role {
        _ if is_tool => Role::Tool,
        "assistant" => Role::Assistant,
        _ => Role::User,
    };
    let mut out = Message::text(role, "");
    let mut other_text = String::new();
    let mut results: Vec<String> = Vec::new();
    for block in blocks {
        match block_type(block) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                if is_tool {
                    other_text.push_str(text);
                } else {
                    out.text.push_str(text);
                }
            }
            Some("image") => out.images += 1,
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                let input = block.get("input").map(Value::to_string).unwrap_or_default();
                out.extra_tokens += count_tokens(name) + count_tokens(&input);
            }
            Some("tool_result") => {
                let mut result = String::new();
                for inner in blocks_of(block.get("content")).iter() {
                    match block_type(inner) {
                        Some("text") => {
                            result
                                .push_str(inner.get("text").and_then(Value::as_str).unwrap_or(""));
                        }
                        Some("image") => out.images += 1,
                        _ => {}
                    }
                }
                results.push(result);
            }
            _ => {}
        }
    }
    // the last result is the message's text; earlier ones only add tokens
    if let Some(last) = results.pop() {
        out.text = last;
    }
    out.extra_tokens +=
        count_tokens(&other_text) + results.iter().map(|r| count_tokens(r)).sum::<u32>();
    out
}

fn blocks_of(content: Option<&Value>) -> Cow<'_, [Value]> {
    content.map_or(Cow::Owned(Vec::new()), blocks)
}

// ---------------------------------------------------------------- validation

/// The body as a JSON object.
pub(super) fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::invalid("Input should be a valid dictionary")),
        Err(e) => Err(ApiError::invalid(format!(
            "There was an issue with the format or content of your request: invalid JSON: {e}"
        ))),
    }
}

/// The requested model name.
pub(super) fn model(request: &Value) -> Result<&str, ApiError> {
    match request.get("model") {
        None | Some(Value::Null) => Err(ApiError::missing("model")),
        Some(Value::String(model)) if !model.is_empty() => Ok(model),
        Some(_) => Err(ApiError::invalid("model: Input should be a valid string")),
    }
}

/// Validates a Messages request the way the API does: required fields,
/// `max_tokens` (unless `count_only`), roles (user first, alternating),
/// `tool_use` / `tool_result` pairing and the thinking rules.
pub(super) fn validate(request: &Value, count_only: bool) -> Result<(), ApiError> {
    if !count_only {
        match request.get("max_tokens") {
            None | Some(Value::Null) => return Err(ApiError::missing("max_tokens")),
            Some(value) => match value.as_i64() {
                Some(n) if n >= 1 => {}
                Some(_) => {
                    return Err(ApiError::invalid(
                        "max_tokens: Input should be greater than or equal to 1",
                    ));
                }
                None if value.is_u64() => {}
                None => {
                    return Err(ApiError::invalid(
                        "max_tokens: Input should be a valid integer",
                    ));
                }
            },
        }
    }
    let messages = match request.get("messages") {
        None | Some(Value::Null) => return Err(ApiError::missing("messages")),
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(ApiError::invalid("messages: Input should be a valid list")),
    };
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "messages: at least one message is required",
        ));
    }
    check_roles(messages)?;
    check_tool_pairing(messages)?;
    if let Some(stop) = request.get("stop_sequences").filter(|s| !s.is_null()) {
        let valid = stop
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_string));
        if !valid {
            return Err(ApiError::invalid(
                "stop_sequences: Input should be a valid list of strings",
            ));
        }
    }
    check_thinking(request, count_only)
}

fn check_roles(messages: &[Value]) -> Result<(), ApiError> {
    let mut previous: Option<&str> = None;
    for (i, message) in messages.iter().enumerate() {
        let role = match message.get("role").and_then(Value::as_str) {
            Some(role @ ("user" | "assistant")) => role,
            None if message.get("role").is_none() => {
                return Err(ApiError::missing(&format!("messages.{i}.role")));
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                )));
            }
        };
        match message.get("content") {
            None | Some(Value::Null) => {
                return Err(ApiError::missing(&format!("messages.{i}.content")));
            }
            Some(Value::String(_) | Value::Array(_)) => {}
            Some(_) => {
                return Err(ApiError::invalid(format!(
                    "messages.{i}.content: Input should be a valid string or a valid list"
                )));
            }
        }
        if i == 0 && role != "user" {
            return Err(ApiError::invalid(
                "messages: first message must use the \"user\" role",
            ));
        }
        if previous == Some(role) {
            return Err(ApiError::invalid(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found \
                 multiple \"{role}\" roles in a row"
            )));
        }
        previous = Some(role);
    }
    Ok(())
}

fn ids_of<'a>(message: &'a Value, kind: &str, field: &str) -> Vec<(usize, &'a str)> {
    message
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| {
            blocks
                .iter()
                .enumerate()
                .filter(|(_, b)| block_type(b) == Some(kind))
                .filter_map(|(j, b)| b.get(field).and_then(Value::as_str).map(|id| (j, id)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every `tool_result` answers a `tool_use` of the message before it, and
/// every `tool_use` is answered in the message after it (when there is one).
fn check_tool_pairing(messages: &[Value]) -> Result<(), ApiError> {
    for (i, message) in messages.iter().enumerate() {
        let results = ids_of(message, "tool_result", "tool_use_id");
        if !results.is_empty() {
            let uses: HashSet<&str> = match i.checked_sub(1) {
                Some(p) => ids_of(&messages[p], "tool_use", "id")
                    .into_iter()
                    .map(|(_, id)| id)
                    .collect(),
                None => HashSet::new(),
            };
            if let Some((j, id)) = results.iter().find(|(_, id)| !uses.contains(id)) {
                return Err(ApiError::invalid(format!(
                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` \
                     blocks: {id}. Each `tool_result` block must have a corresponding \
                     `tool_use` block in the previous message."
                )));
            }
        }
        let uses = ids_of(message, "tool_use", "id");
        if let (false, Some(next)) = (uses.is_empty(), messages.get(i + 1)) {
            let answered: HashSet<&str> = ids_of(next, "tool_result", "tool_use_id")
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            let missing: Vec<&str> = uses
                .iter()
                .map(|(_, id)| *id)
                .filter(|id| !answered.contains(id))
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::invalid(format!(
                    "messages.{i}: `tool_use` ids were found without `tool_result` blocks \
                     immediately after: {}. Each `tool_use` block must have a corresponding \
                     `tool_result` block in the next message.",
                    missing.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// With `thinking.type == "enabled"`: `budget_tokens` of at least 1024 and
/// below `max_tokens`, no forced tool use, and `temperature` only 1.
fn check_thinking(request: &Value, count_only: bool) -> Result<(), ApiError> {
    let Some(thinking) = request.get("thinking").filter(|t| !t.is_null()) else {
        return Ok(());
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => {}
        Some("disabled") => return Ok(()),
        None => return Err(ApiError::missing("thinking.type")),
        Some(_) => {
            return Err(ApiError::invalid(
                "thinking: Input tag found using 'type' does not match any of the expected \
                 tags: 'enabled', 'disabled'",
            ));
        }
    }
    let budget = match thinking.get("budget_tokens") {
        None | Some(Value::Null) => {
            return Err(ApiError::missing("thinking.enabled.budget_tokens"));
        }
        Some(value) => value
            .as_u64()
            .filter(|b| *b >= MIN_THINKING_BUDGET)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to \
                 {MIN_THINKING_BUDGET}"
                ))
            })?,
    };
    let max_tokens = request.get("max_tokens").and_then(Value::as_u64);
    if !count_only && max_tokens.is_some_and(|max| max <= budget) {
        return Err(ApiError::invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our \
             documentation at https://docs.claude.com/en/docs/build-with-claude/\
             extended-thinking#max-tokens-and-context-window-size",
        ));
    }
    let forced = matches!(
        request.pointer("/tool_choice/type").and_then(Value::as_str),
        Some("any" | "tool")
    );
    if forced {
        return Err(ApiError::invalid(
            "Thinking may not be enabled when tool_choice forces tool use.",
        ));
    }
    if let Some(temperature) = request.get("temperature").and_then(Value::as_f64)
        && (temperature - 1.0).abs() > f64::EPSILON
    {
        return Err(ApiError::invalid(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our \
             documentation at https://docs.claude.com/en/docs/build-with-claude/\
             extended-thinking#feature-compatibility",
        ));
    }
    Ok(())
}

pub(super) fn is_stream(request: &Value) -> bool {
    request.get("stream") == Some(&Value::Bool(true))
}

// -------------------------------------------------------------- prompt cache

/// One block boundary of a request, in the cache's order (tools, system,
/// messages): the key of everything up to it, the prompt tokens up to it,
/// and whether the block carries `cache_control`.
struct Boundary {
    key: [u8; 32],
    tokens: u32,
    breakpoint: bool,
}

fn chain(key: &[u8; 32], tag: &str, block: &Value) -> [u8; 32] {
    let mut block = block.clone();
    if let Some(fields) = block.as_object_mut() {
        fields.remove("cache_control");
    }
    Sha256::new()
        .chain_update(key)
        .chain_update(tag.as_bytes())
        .chain_update([0])
        .chain_update(block.to_string().as_bytes())
        .finalize()
        .into()
}

fn has_cache_control(block: &Value) -> bool {
    block.get("cache_control").is_some_and(|c| !c.is_null())
}

fn boundaries(request: &Value) -> Vec<Boundary> {
    let model = request.get("model").and_then(Value::as_str).unwrap_or("");
    let mut key: [u8; 32] = Sha256::digest(format!("model\0{model}").as_bytes()).into();
    let mut out = Vec::new();
    for tool in request
        .get("tools")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        key = chain(&key, "tool", tool);
        out.push(Boundary {
            key,
            tokens: 0,
            breakpoint: has_cache_control(tool),
        });
    }
    let mut base = 0;
    if let Some(system) = request.get("system").filter(|s| !s.is_null()) {
        let system = blocks(system);
        let mut text = String::new();
        for block in system.iter() {
            key = chain(&key, "system", block);
            text.push_str(block_text(block).unwrap_or(""));
            out.push(Boundary {
                key,
                tokens: Message::text(Role::System, text.as_str()).prompt_tokens(),
                breakpoint: has_cache_control(block),
            });
        }
        base = Message::text(Role::System, text).prompt_tokens();
    }
    for message in request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let content = blocks(message.get("content").unwrap_or(&Value::Null));
        for (j, block) in content.iter().enumerate() {
            let tag = if j == 0 {
                format!("message\0{role}")
            } else {
                "block".to_owned()
            };
            key = chain(&key, &tag, block);
            out.push(Boundary {
                key,
                tokens: base + message_from(role, &content[..=j]).prompt_tokens(),
                breakpoint: has_cache_control(block),
            });
        }
        base += message_from(role, &content).prompt_tokens();
    }
    out
}

/// Tokens up to the last `cache_control` breakpoint of a Messages request
/// (tools, then system, then messages; see the crate docs), or `None`
/// without breakpoints.
pub fn cache_prefix_tokens(request: &Value) -> Option<u32> {
    boundaries(request)
        .iter()
        .rev()
        .find(|b| b.breakpoint)
        .map(|b| b.tokens)
}

/// What the prompt cache does for one request.
pub(super) struct CacheUse {
    /// Tokens read from the cache.
    pub(super) read: u32,
    /// Tokens written to the cache.
    pub(super) write: u32,
    /// The prefixes to remember once the request succeeds.
    keys: Vec<[u8; 32]>,
}

impl CacheUse {
    /// Looks the request's prefixes up in the mock's cache (without
    /// changing it).
    pub(super) fn look_up(state: &MockState, request: &Value) -> Self {
        let all = boundaries(request);
        let Some(last) = all.iter().rposition(|b| b.breakpoint) else {
            return Self {
                read: 0,
                write: 0,
                keys: Vec::new(),
            };
        };
        let read = all[..=last]
            .iter()
            .rev()
            .find(|b| state.is_cached(&b.key))
            .map_or(0, |b| b.tokens);
        Self {
            read,
            write: all[last].tokens.saturating_sub(read),
            keys: all.iter().filter(|b| b.breakpoint).map(|b| b.key).collect(),
        }
    }

    /// Applies the cache tokens to a usage.
    pub(super) fn apply(&self, usage: &mut Usage) {
        usage.cache_read_tokens = self.read;
        usage.cache_write_tokens = self.write;
    }

    /// Remembers the request's breakpoint prefixes.
    pub(super) fn commit(self, state: &MockState) {
        state.cache_prefixes(self.keys);
    }
}
