//! The Anthropic Messages ingress (`POST /messages`): Anthropic's wire in,
//! any upstream dialect out.
//!
//! # Decoding (Anthropic request → internal chat request)
//!
//! | Anthropic | internal (OpenAI-shaped) |
//! |---|---|
//! | `system` (string or text blocks) | one `system` message (blocks as text parts, `cache_control` kept) |
//! | `user` turn: `text`, `image` (base64 → `data:` URL, url), `document` (base64 PDF → `file` part with a `data:` URL, url, plain `text` source → text) | a `user` message with those parts, `cache_control` kept on each |
//! | `user` turn: `tool_result` blocks | one `tool` message each (`tool_call_id` = `tool_use_id`; string or text/image blocks; `is_error` kept in the message's extra keys, which the Anthropic adapter sends back), before the turn's other blocks |
//! | `assistant` turn: `text` | content (parts when a block has `cache_control`) |
//! | `assistant` turn: `tool_use` | `tool_calls` (`input` serialised as `arguments`) |
//! | `assistant` turn: `thinking` / `redacted_thinking` | `reasoning_details` `reasoning.text` (with its `signature`) / `reasoning.encrypted`, format `anthropic-claude-v1`, so an Anthropic upstream gets them back as they were; a `redacted_thinking` that wraps another dialect's detail (`tollgate-reasoning:` + JSON, as answers write them) becomes that detail again |
//! | `tools` (client tools) | function tools (`input_schema` → `parameters`, `cache_control` kept); server tools (a versioned `type`) only to Anthropic upstreams (below) |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `auto` / `required` / the named function / `none`; `disable_parallel_tool_use` → `parallel_tool_calls: false` |
//! | `thinking` `enabled` + `budget_tokens` / `adaptive` / `disabled` | `reasoning.max_tokens` / `reasoning.enabled: true` / `reasoning.enabled: false` |
//! | `max_tokens` (required), `stop_sequences`, `temperature`, `top_p`, `top_k`, `stream` | the same |
//! | `metadata.user_id` (else `user`) | `user` |
//! | `models`, `provider`, `transforms`, `plugins`, `route`, `usage`, `session_id` | the same (OpenRouter's routing options) |
//!
//! Other unknown top-level keys (but OpenRouter's `reasoning`, `debug`,
//! ...) and server tools ride in the internal request's `extra` under
//! [`ANTHROPIC_PASSTHROUGH`]: an Anthropic upstream gets them as they came;
//! the other dialects, which would refuse them, do not.
//!
//! # Encoding (internal answer → Anthropic message)
//!
//! `content` is the thinking (`reasoning_details`, or the plain
//! `reasoning` with an empty signature; another dialect's encrypted
//! reasoning, such as a Gemini thought signature, as a `redacted_thinking`
//! block wrapping the detail), then the text, then one
//! `tool_use` per tool call (`arguments` parsed into `input`);
//! `stop_reason` from the finish reason (`stop` → `end_turn`, or
//! `stop_sequence` / `pause_turn` when the upstream said so; `length` →
//! `max_tokens`; `tool_calls` → `tool_use`; `content_filter` →
//! `refusal`); `usage.input_tokens` is the prompt without its cached part
//! (Anthropic's convention), `cache_read_input_tokens` the cached tokens,
//! `cache_creation_input_tokens` the tokens written to the cache, and
//! `cost` the exact charge, as in `/generation`. When an Anthropic
//! upstream's answer had what the internal answer cannot hold (citations,
//! server tool blocks), its own blocks are the content (see
//! [`ANTHROPIC_CONTENT`]). The `id` is the
//! generation's (`gen-...`, also in `X-Generation-Id`).
//!
//! A stream is `message_start` (input usage estimated), then one block at
//! a time (`content_block_start`, deltas, `content_block_stop`) as the
//! chunks' reasoning, text and tool calls change, then `message_delta`
//! (stop reason and the whole usage with the cost) and `message_stop`;
//! `ping` while the upstream has not answered; a failure is `event:
//! error`. Errors are `{"type":"error","error":{"type","message"}}` with
//! the gateway's status ([`error_type`]).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{
    ChatChunk, ChatCompletion, ChatRequest, ContentPart, FileData, FilePart, FunctionCall,
    FunctionDef, ImagePart, ImageUrl, Message, MessageContent, NamedFunction, NamedToolChoice,
    ReasoningConfig, Role, Stop, TextPart, Tool, ToolCall, ToolChoice,
};
use tollgate_schema::messages::{
    ANTHROPIC_CONTENT, ANTHROPIC_PASSTHROUGH, BlockDelta, Content, ContentBlock, ErrorObject,
    ErrorResponse, Message as WireMessage, MessageDelta, MessagesRequest, MessagesUsage,
    RedactedThinkingBlock, Source, StreamEvent, TextBlock, ThinkingBlock, ToolDefinition,
    ToolUseBlock,
};
use tollgate_schema::usage::Usage;
use tollgate_schema::wire_error::ErrorBody;

use super::{StreamEncoder, StreamInfo, event_frame};
use crate::error::ApiError;

/// The keep-alive event while waiting for the upstream.
pub const PING: &[u8] = b"event: ping\ndata: {\"type\":\"ping\"}\n\n";

/// OpenRouter fields an Anthropic-shaped request may carry that are not
/// Anthropic's: never passed through to an Anthropic upstream.
const OPENROUTER_ONLY: &[&str] = &[
    "reasoning",
    "include_reasoning",
    "stream_options",
    "debug",
    "trace",
];

/// `format` of the reasoning details Anthropic thinking travels in.
const REASONING_FORMAT: &str = "anthropic-claude-v1";

/// What a `redacted_thinking` block's `data` starts with when it carries
/// another dialect's encrypted reasoning (a Gemini thought signature, say)
/// rather than Anthropic's: the whole reasoning detail follows as JSON, so
/// the client can send it back and that upstream gets it as it gave it
/// (an Anthropic upstream never sees it).
const FOREIGN_REASONING: &str = "tollgate-reasoning:";

/// The `data` of the `redacted_thinking` block for an encrypted reasoning
/// detail: Anthropic's own data, or another dialect's detail wrapped.
fn redacted_data(detail: &Value) -> String {
    let format = detail.get("format").and_then(Value::as_str);
    if format.is_none_or(|f| f == REASONING_FORMAT) {
        detail
            .get("data")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    } else {
        format!("{FOREIGN_REASONING}{detail}")
    }
}

/// The reasoning detail a wrapped `redacted_thinking` block carries.
fn unwrap_foreign(data: &str) -> Option<Value> {
    let detail: Value = serde_json::from_str(data.strip_prefix(FOREIGN_REASONING)?).ok()?;
    detail.is_object().then_some(detail)
}

/// Decodes a Messages request into the internal chat request. With
/// `require_max_tokens` (`/messages`, not `count_tokens`), a missing
/// `max_tokens` is a 400, as Anthropic answers.
pub fn decode(r: MessagesRequest, require_max_tokens: bool) -> Result<ChatRequest, ApiError> {
    if require_max_tokens && r.max_tokens.is_none() {
        return Err(ApiError::field("max_tokens", "max_tokens: Field required"));
    }
    if r.messages.is_empty() {
        return Err(ApiError::field(
            "messages",
            "messages: at least one message is required",
        ));
    }
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = r.system {
        messages.push(system_message(system)?);
    }
    for (i, m) in r.messages.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        match m.role.as_str() {
            "user" => user_turn(m.content, &at, &mut messages)?,
            "assistant" => messages.push(assistant_turn(m.content, &at)?),
            other => {
                return Err(ApiError::field(
                    format!("{at}.role"),
                    format!("{at}.role: `{other}` is not one of user, assistant"),
                ));
            }
        }
    }
    let (client_tools, server_tools): (Vec<_>, Vec<_>) = r
        .tools
        .into_iter()
        .flatten()
        .partition(ToolDefinition::is_client_tool);
    let tools: Vec<Tool> = client_tools
        .into_iter()
        .map(|t| {
            let mut extra = Extra::new();
            if let Some(cc) = t.cache_control {
                extra.insert("cache_control".into(), cc);
            }
            Tool {
                kind: String::from("function"),
                function: Some(FunctionDef {
                    name: t.name,
                    description: t.description,
                    parameters: Some(
                        t.input_schema
                            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    ),
                    strict: None,
                    extra: Extra::new(),
                }),
                extra,
            }
        })
        .collect();
    let mut parallel_tool_calls = None;
    let tool_choice = match r.tool_choice {
        None => None,
        Some(c) => {
            if c.disable_parallel_tool_use == Some(true) {
                parallel_tool_calls = Some(false);
            }
            Some(match c.kind.as_str() {
                "auto" => ToolChoice::Mode(String::from("auto")),
                "any" => ToolChoice::Mode(String::from("required")),
                "none" => ToolChoice::Mode(String::from("none")),
                "tool" => {
                    let name = c.name.filter(|n| !n.is_empty()).ok_or_else(|| {
                        ApiError::field("tool_choice.name", "tool_choice.name: Field required")
                    })?;
                    ToolChoice::Named(NamedToolChoice {
                        kind: String::from("function"),
                        function: NamedFunction { name },
                        extra: Extra::new(),
                    })
                }
                other => {
                    return Err(ApiError::field(
                        "tool_choice.type",
                        format!("tool_choice.type: `{other}` is not one of auto, any, tool, none"),
                    ));
                }
            })
        }
    };
    let reasoning = match r.thinking {
        None => None,
        Some(t) => Some(match t.kind.as_str() {
            "enabled" => {
                let budget = t.budget_tokens.ok_or_else(|| {
                    ApiError::field(
                        "thinking.budget_tokens",
                        "thinking.budget_tokens: Field required",
                    )
                })?;
                if let Some(max) = r.max_tokens
                    && budget >= max
                {
                    return Err(ApiError::field(
                        "thinking.budget_tokens",
                        "`max_tokens` must be greater than `thinking.budget_tokens`",
                    ));
                }
                ReasoningConfig {
                    max_tokens: Some(budget),
                    enabled: Some(true),
                    ..ReasoningConfig::default()
                }
            }
            "adaptive" => ReasoningConfig {
                enabled: Some(true),
                ..ReasoningConfig::default()
            },
            "disabled" => ReasoningConfig {
                enabled: Some(false),
                ..ReasoningConfig::default()
            },
            other => {
                return Err(ApiError::field(
                    "thinking.type",
                    format!("thinking.type: `{other}` is not one of enabled, disabled, adaptive"),
                ));
            }
        }),
    };
    // What only an Anthropic upstream can take: unknown top-level fields
    // (minus OpenRouter's own) and server tools.
    let mut passthrough = Extra::new();
    let fields: Extra = r
        .extra
        .into_iter()
        .filter(|(k, _)| !OPENROUTER_ONLY.contains(&k.as_str()))
        .collect();
    if !fields.is_empty() {
        passthrough.insert("fields".into(), Value::Object(fields));
    }
    if !server_tools.is_empty() {
        let tools = server_tools
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        passthrough.insert("tools".into(), Value::Array(tools));
    }
    let mut extra = Extra::new();
    if !passthrough.is_empty() {
        extra.insert(ANTHROPIC_PASSTHROUGH.into(), Value::Object(passthrough));
    }
    let user = r
        .metadata
        .and_then(|m| m.user_id)
        .filter(|u| !u.is_empty())
        .or(r.user);
    Ok(ChatRequest {
        messages: Some(messages),
        model: r.model,
        models: r.models,
        route: r.route,
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        max_tokens: r.max_tokens,
        stop: r.stop_sequences.filter(|s| !s.is_empty()).map(Stop::Many),
        stream: r.stream,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        parallel_tool_calls,
        reasoning,
        usage: r.usage,
        user,
        session_id: r.session_id,
        transforms: r.transforms,
        provider: r.provider,
        plugins: r.plugins,
        extra,
        ..ChatRequest::default()
    })
}

fn system_message(system: Content) -> Result<Message, ApiError> {
    let blocks = match system {
        Content::Text(t) => return Ok(Message::text(Role::System, t)),
        Content::Blocks(b) => b,
    };
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, b) in blocks.into_iter().enumerate() {
        match b {
            ContentBlock::Text(t) => parts.push(text_part(t)),
            other => {
                return Err(ApiError::field(
                    format!("system[{j}]"),
                    format!(
                        "system[{j}]: blocks of type `{}` are not allowed in `system`; send text blocks",
                        other.type_name()
                    ),
                ));
            }
        }
    }
    Ok(Message {
        content: Some(MessageContent::Parts(parts)),
        ..Message::text(Role::System, "")
    })
}

fn text_part(t: TextBlock) -> ContentPart {
    ContentPart::Text(TextPart {
        text: t.text,
        cache_control: t.cache_control,
        extra: Extra::new(),
    })
}

fn with_cache_control(cache_control: Option<Value>) -> Extra {
    let mut extra = Extra::new();
    if let Some(cc) = cache_control.filter(|c| !c.is_null()) {
        extra.insert("cache_control".into(), cc);
    }
    extra
}

/// An `image` or `document` block's source as a URL (`data:` for base64).
fn source_url(source: &Source, at: &str) -> Result<String, ApiError> {
    match source.kind.as_str() {
        "base64" => {
            let media = source.media_type.as_deref().unwrap_or_default();
            let data = source.data.as_deref().unwrap_or_default();
            if media.is_empty() || data.is_empty() {
                return Err(ApiError::field(
                    format!("{at}.source"),
                    format!("{at}.source: a base64 source needs `media_type` and `data`"),
                ));
            }
            Ok(format!("data:{media};base64,{data}"))
        }
        "url" => source.url.clone().filter(|u| !u.is_empty()).ok_or_else(|| {
            ApiError::field(
                format!("{at}.source.url"),
                format!("{at}.source.url: Field required"),
            )
        }),
        other => Err(ApiError::field(
            format!("{at}.source.type"),
            format!("{at}.source.type: `{other}` sources are not supported here"),
        )),
    }
}

/// A `user` block as a content part (`None`: nothing to send).
fn user_part(block: ContentBlock, at: &str) -> Result<Vec<ContentPart>, ApiError> {
    Ok(match block {
        ContentBlock::Text(t) => vec![text_part(t)],
        ContentBlock::Image(img) => vec![ContentPart::ImageUrl(ImagePart {
            image_url: ImageUrl {
                url: source_url(&img.source, at)?,
                detail: None,
                extra: Extra::new(),
            },
            extra: with_cache_control(img.cache_control),
        })],
        ContentBlock::Document(doc) => match doc.source.kind.as_str() {
            "text" => {
                let text = doc.source.data.clone().unwrap_or_default();
                vec![ContentPart::Text(TextPart {
                    text,
                    cache_control: doc.cache_control,
                    extra: Extra::new(),
                })]
            }
            "content" => {
                let mut parts = Vec::new();
                for (k, b) in doc
                    .source
                    .content
                    .clone()
                    .map(Content::into_blocks)
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                {
                    parts.extend(user_part(b, &format!("{at}.source.content[{k}]"))?);
                }
                parts
            }
            _ => {
                let filename = doc
                    .extra
                    .get("title")
                    .and_then(Value::as_str)
                    .map_or_else(|| String::from("document.pdf"), str::to_owned);
                vec![ContentPart::File(FilePart {
                    file: FileData {
                        filename: Some(filename),
                        file_data: Some(source_url(&doc.source, at)?),
                        file_id: None,
                        extra: Extra::new(),
                    },
                    extra: with_cache_control(doc.cache_control),
                })]
            }
        },
        other => {
            return Err(ApiError::field(
                at,
                format!(
                    "{at}: content blocks of type `{}` are not supported in a user turn",
                    other.type_name()
                ),
            ));
        }
    })
}

fn user_turn(content: Content, at: &str, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let blocks = match content {
        Content::Text(t) => {
            out.push(Message::text(Role::User, t));
            return Ok(());
        }
        Content::Blocks(b) => b,
    };
    let mut parts = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        match block {
            ContentBlock::ToolResult(result) => {
                let content = match result.content {
                    None => MessageContent::Text(String::new()),
                    Some(Content::Text(t)) => MessageContent::Text(t),
                    Some(Content::Blocks(blocks)) => {
                        let mut result_parts = Vec::new();
                        for (k, b) in blocks.into_iter().enumerate() {
                            result_parts.extend(user_part(b, &format!("{at}.content[{k}]"))?);
                        }
                        MessageContent::Parts(result_parts)
                    }
                };
                let mut extra = with_cache_control(result.cache_control);
                if result.is_error == Some(true) {
                    extra.insert("is_error".into(), Value::Bool(true));
                }
                out.push(Message {
                    content: Some(content),
                    tool_call_id: Some(result.tool_use_id),
                    extra,
                    ..Message::text(Role::Tool, "")
                });
            }
            // Thinking echoed in a user turn has nowhere to go.
            ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) => {}
            other => parts.extend(user_part(other, &at)?),
        }
    }
    if !parts.is_empty() {
        out.push(Message {
            content: Some(MessageContent::Parts(parts)),
            ..Message::text(Role::User, "")
        });
    }
    Ok(())
}

fn assistant_turn(content: Content, at: &str) -> Result<Message, ApiError> {
    let blocks = match content {
        Content::Text(t) => return Ok(Message::text(Role::Assistant, t)),
        Content::Blocks(b) => b,
    };
    let mut texts: Vec<TextBlock> = Vec::new();
    let mut calls = Vec::new();
    let mut details = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match block {
            ContentBlock::Text(t) => texts.push(t),
            ContentBlock::ToolUse(call) => calls.push(ToolCall {
                id: call.id,
                kind: String::from("function"),
                function: FunctionCall {
                    name: call.name,
                    arguments: if call.input.is_null() {
                        String::from("{}")
                    } else {
                        call.input.to_string()
                    },
                },
                extra: Extra::new(),
            }),
            ContentBlock::Thinking(t) => details.push(json!({
                "type": "reasoning.text",
                "text": t.thinking,
                "signature": t.signature,
                "format": REASONING_FORMAT,
                "index": details.len(),
            })),
            ContentBlock::RedactedThinking(t) => {
                details.push(unwrap_foreign(&t.data).unwrap_or_else(|| {
                    json!({
                        "type": "reasoning.encrypted",
                        "data": t.data,
                        "format": REASONING_FORMAT,
                        "index": details.len(),
                    })
                }))
            }
            other => {
                return Err(ApiError::field(
                    format!("{at}.content[{j}]"),
                    format!(
                        "{at}.content[{j}]: content blocks of type `{}` are not supported in an assistant turn",
                        other.type_name()
                    ),
                ));
            }
        }
    }
    let content = if texts.iter().any(|t| t.cache_control.is_some()) {
        Some(MessageContent::Parts(
            texts.into_iter().map(text_part).collect(),
        ))
    } else if texts.is_empty() {
        None
    } else {
        Some(MessageContent::Text(
            texts.into_iter().map(|t| t.text).collect::<String>(),
        ))
    };
    Ok(Message {
        content,
        tool_calls: (!calls.is_empty()).then_some(calls),
        reasoning_details: (!details.is_empty()).then_some(details),
        ..Message::text(Role::Assistant, "")
    })
}

/// Anthropic's `stop_reason` for an internal finish reason (and the
/// upstream's own reason, when it was Anthropic's).
pub fn stop_reason(finish: Option<&str>, native: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => match native {
            Some("stop_sequence") => "stop_sequence",
            Some("pause_turn") => "pause_turn",
            _ => "end_turn",
        },
    }
}

/// Internal usage in Anthropic's terms: `input_tokens` excludes what was
/// read from or written to the cache.
pub fn usage(u: &Usage) -> MessagesUsage {
    let cached = u.cached_tokens();
    let written = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cache_write_tokens)
        .unwrap_or(0);
    MessagesUsage {
        input_tokens: u.prompt_tokens.saturating_sub(cached + written),
        output_tokens: u.completion_tokens,
        cache_creation_input_tokens: written,
        cache_read_input_tokens: cached,
        cost: u.cost,
        extra: Extra::new(),
    }
}

/// A tool call's arguments as Anthropic's `input` object (arguments that
/// are not a JSON object are kept as a string under `arguments`, rather
/// than lost).
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "arguments": arguments }),
    }
}

/// Thinking blocks from `reasoning_details` (fragments with the same
/// `index` joined).
fn thinking_blocks(details: &[Value]) -> Vec<ContentBlock> {
    let mut out: Vec<(Option<i64>, ContentBlock)> = Vec::new();
    for d in details {
        let index = d.get("index").and_then(Value::as_i64);
        let text_of = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match d.get("type").and_then(Value::as_str) {
            Some("reasoning.text" | "reasoning.summary") => {
                let text = if d.get("type").and_then(Value::as_str) == Some("reasoning.summary") {
                    text_of("summary")
                } else {
                    text_of("text")
                };
                let signature = text_of("signature");
                if let Some((Some(last), ContentBlock::Thinking(t))) = out.last_mut()
                    && index == Some(*last)
                {
                    t.thinking.push_str(&text);
                    if !signature.is_empty() {
                        t.signature = signature;
                    }
                    continue;
                }
                out.push((
                    index,
                    ContentBlock::Thinking(ThinkingBlock {
                        thinking: text,
                        signature,
                        extra: Extra::new(),
                    }),
                ));
            }
            Some("reasoning.encrypted") => out.push((
                index,
                ContentBlock::RedactedThinking(RedactedThinkingBlock {
                    data: redacted_data(d),
                    extra: Extra::new(),
                }),
            )),
            _ => {}
        }
    }
    out.into_iter().map(|(_, b)| b).collect()
}

/// An Anthropic upstream's own content blocks, kept by its adapter when
/// the translation lost something (citations, server tool blocks): used
/// as they came when they still say what the finished answer says (its
/// text was not cut at the output bound meanwhile).
fn upstream_blocks(m: &mut tollgate_schema::chat::ResponseMessage) -> Option<Vec<ContentBlock>> {
    let raw = m.extra.remove(ANTHROPIC_CONTENT)?;
    let blocks: Vec<ContentBlock> = serde_json::from_value(raw).ok()?;
    let text: String = blocks
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text(t) => Some(t.text.as_str()),
            _ => None,
        })
        .collect();
    let calls = blocks
        .iter()
        .filter(|b| matches!(b, ContentBlock::ToolUse(_)))
        .count();
    let same = text == m.content.as_deref().unwrap_or_default()
        && calls == m.tool_calls.as_ref().map_or(0, Vec::len);
    same.then_some(blocks)
}

/// A finished chat completion as an Anthropic message.
pub fn answer(c: ChatCompletion) -> WireMessage {
    let usage = c.usage.as_ref().map(usage).unwrap_or_default();
    let mut stop = "end_turn";
    let mut content = Vec::new();
    if let Some(choice) = c.choices.into_iter().next() {
        stop = stop_reason(
            choice.finish_reason.as_deref(),
            choice.native_finish_reason.as_deref(),
        );
        let mut m = choice.message;
        content = match upstream_blocks(&mut m) {
            Some(blocks) => blocks,
            None => blocks_of(m),
        };
    }
    WireMessage {
        id: c.id,
        kind: String::from("message"),
        role: String::from("assistant"),
        model: c.model,
        content,
        stop_reason: Some(stop.to_string()),
        stop_sequence: None,
        usage,
        extra: Extra::new(),
    }
}

/// An answer message's thinking, text and tool calls as content blocks.
fn blocks_of(m: tollgate_schema::chat::ResponseMessage) -> Vec<ContentBlock> {
    let mut content = Vec::new();
    let thinking = thinking_blocks(m.reasoning_details.as_deref().unwrap_or(&[]));
    if thinking.is_empty() {
        if let Some(r) = m.reasoning.filter(|r| !r.is_empty()) {
            content.push(ContentBlock::Thinking(ThinkingBlock {
                thinking: r,
                ..ThinkingBlock::default()
            }));
        }
    } else {
        content.extend(thinking);
    }
    if let Some(text) = m.content.filter(|t| !t.is_empty()) {
        content.push(ContentBlock::Text(TextBlock::new(text)));
    }
    for call in m.tool_calls.into_iter().flatten() {
        content.push(ContentBlock::ToolUse(ToolUseBlock {
            input: tool_input(&call.function.arguments),
            id: call.id,
            name: call.function.name,
            cache_control: None,
            extra: Extra::new(),
        }));
    }
    content
}

/// Anthropic's error `type` for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if (400..500).contains(&s) => "invalid_request_error",
        _ => "api_error",
    }
}

/// The gateway's error object in Anthropic's shape; its `metadata`
/// (provider name, raw upstream error) is kept beside `type` and
/// `message`.
pub fn error_object(status: u16, body: &ErrorBody) -> ErrorObject {
    let mut extra = Extra::new();
    if let Some(m) = &body.metadata {
        extra.insert("metadata".into(), Value::Object(m.clone()));
    }
    ErrorObject {
        kind: error_type(status).to_string(),
        message: body.message.clone(),
        extra,
    }
}

/// Rewrites an error answer of the gateway (`{"error":{"code",...}}`)
/// into Anthropic's shape, keeping its status and headers
/// (`retry-after`, `x-should-retry`, `x-tollgate-attempts`); successful
/// answers pass unchanged.
pub async fn error_response(resp: Response) -> Response {
    let status = resp.status();
    if status.is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let error = serde_json::from_slice::<tollgate_schema::wire_error::ErrorResponse>(&bytes)
        .map(|e| e.error)
        .unwrap_or_else(|_| {
            ErrorBody::new(
                status.as_u16(),
                status.canonical_reason().unwrap_or("error"),
            )
        });
    let wire = ErrorResponse {
        kind: String::from("error"),
        error: error_object(status.as_u16(), &error),
    };
    let json = serde_json::to_vec(&wire).unwrap_or_else(|_| {
        br#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#
            .to_vec()
    });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(json))
}

/// An error answered before anything else, in Anthropic's shape.
pub async fn error(e: ApiError) -> Response {
    use axum::response::IntoResponse;
    error_response(e.into_response()).await
}

/// The block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// A tool call, by its internal index.
    Tool(u32),
}

/// Encodes a relayed stream as Anthropic's events (see the module docs).
pub struct Encoder {
    info: StreamInfo,
    started: bool,
    open: Option<Open>,
    /// The index of the open block (or of the next one).
    index: u32,
    finish_reason: Option<String>,
    native_finish_reason: Option<String>,
    /// Tool calls' ids and names by internal index, for a block that must
    /// be reopened.
    tools: Vec<(u32, String, String)>,
    /// The open thinking block got its text as `reasoning` deltas: a
    /// whole `reasoning_details` entry at its end (how adapters deliver
    /// the signature) adds only the signature.
    thinking_streamed: bool,
}

impl Encoder {
    /// An encoder for one response.
    pub fn new(info: StreamInfo) -> Encoder {
        Encoder {
            info,
            started: false,
            open: None,
            index: 0,
            finish_reason: None,
            native_finish_reason: None,
            tools: Vec::new(),
            thinking_streamed: false,
        }
    }

    fn event(out: &mut Vec<u8>, e: &StreamEvent) {
        event_frame(e.name(), e, out);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = WireMessage {
            id: self.info.id.clone(),
            kind: String::from("message"),
            role: String::from("assistant"),
            model: self.info.model.clone(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: MessagesUsage {
                input_tokens: self.info.prompt_estimate,
                ..MessagesUsage::default()
            },
            extra: Extra::new(),
        };
        Self::event(out, &StreamEvent::MessageStart { message });
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        self.thinking_streamed = false;
        if self.open.take().is_some() {
            Self::event(out, &StreamEvent::ContentBlockStop { index: self.index });
            self.index += 1;
        }
    }

    /// Makes `want` the open block, closing another one first.
    fn open(&mut self, want: Open, out: &mut Vec<u8>) {
        if self.open == Some(want) {
            return;
        }
        self.close(out);
        let block = match want {
            Open::Thinking => ContentBlock::Thinking(ThinkingBlock::default()),
            Open::Text => ContentBlock::Text(TextBlock::new("")),
            Open::Tool(i) => {
                let (id, name) = self
                    .tools
                    .iter()
                    .find(|t| t.0 == i)
                    .map(|t| (t.1.clone(), t.2.clone()))
                    .unwrap_or_default();
                ContentBlock::ToolUse(ToolUseBlock {
                    id,
                    name,
                    input: json!({}),
                    cache_control: None,
                    extra: Extra::new(),
                })
            }
        };
        Self::event(
            out,
            &StreamEvent::ContentBlockStart {
                index: self.index,
                content_block: block,
            },
        );
        self.open = Some(want);
    }

    fn delta(&self, delta: BlockDelta, out: &mut Vec<u8>) {
        Self::event(
            out,
            &StreamEvent::ContentBlockDelta {
                index: self.index,
                delta,
            },
        );
    }

    fn thinking_details(&mut self, details: &[Value], streamed_text: bool, out: &mut Vec<u8>) {
        for d in details {
            let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
            match text("type") {
                "reasoning.text" | "reasoning.summary" => {
                    let body = if text("type") == "reasoning.summary" {
                        text("summary")
                    } else {
                        text("text")
                    };
                    let signature = text("signature");
                    let already = streamed_text
                        || (self.open == Some(Open::Thinking) && self.thinking_streamed);
                    if !already && !body.is_empty() {
                        self.open(Open::Thinking, out);
                        self.delta(
                            BlockDelta::ThinkingDelta {
                                thinking: body.to_string(),
                            },
                            out,
                        );
                    }
                    if !signature.is_empty() {
                        self.open(Open::Thinking, out);
                        self.delta(
                            BlockDelta::SignatureDelta {
                                signature: signature.to_string(),
                            },
                            out,
                        );
                    }
                }
                "reasoning.encrypted" => {
                    self.close(out);
                    Self::event(
                        out,
                        &StreamEvent::ContentBlockStart {
                            index: self.index,
                            content_block: ContentBlock::RedactedThinking(RedactedThinkingBlock {
                                data: redacted_data(d),
                                extra: Extra::new(),
                            }),
                        },
                    );
                    Self::event(out, &StreamEvent::ContentBlockStop { index: self.index });
                    self.index += 1;
                }
                _ => {}
            }
        }
    }

    fn end_frames(&mut self, usage: Option<&Usage>, out: &mut Vec<u8>) {
        self.start(out);
        self.close(out);
        let stop = stop_reason(
            self.finish_reason.as_deref(),
            self.native_finish_reason.as_deref(),
        );
        Self::event(
            out,
            &StreamEvent::MessageDelta {
                delta: MessageDelta {
                    stop_reason: Some(stop.to_string()),
                    stop_sequence: None,
                },
                usage: usage.map(self::usage).unwrap_or_default(),
            },
        );
        Self::event(out, &StreamEvent::MessageStop);
    }
}

impl StreamEncoder for Encoder {
    fn chunk(&mut self, chunk: ChatChunk) -> Option<Bytes> {
        let mut out = Vec::new();
        self.start(&mut out);
        // Anthropic answers have one choice.
        if let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) {
            let d = choice.delta;
            let reasoning = d.reasoning.filter(|r| !r.is_empty());
            if let Some(r) = &reasoning {
                self.open(Open::Thinking, &mut out);
                self.thinking_streamed = true;
                self.delta(
                    BlockDelta::ThinkingDelta {
                        thinking: r.clone(),
                    },
                    &mut out,
                );
            }
            if let Some(details) = &d.reasoning_details {
                self.thinking_details(details, reasoning.is_some(), &mut out);
            }
            if let Some(text) = d.content.filter(|t| !t.is_empty()) {
                self.open(Open::Text, &mut out);
                self.delta(BlockDelta::TextDelta { text }, &mut out);
            }
            for call in d.tool_calls.into_iter().flatten() {
                let f = call.function.unwrap_or_default();
                if call.id.is_some() || f.name.is_some() {
                    self.tools.retain(|t| t.0 != call.index);
                    self.tools.push((
                        call.index,
                        call.id.unwrap_or_default(),
                        f.name.unwrap_or_default(),
                    ));
                    // A new call starts a new block.
                    self.close(&mut out);
                }
                self.open(Open::Tool(call.index), &mut out);
                if let Some(args) = f.arguments.filter(|a| !a.is_empty()) {
                    self.delta(BlockDelta::InputJsonDelta { partial_json: args }, &mut out);
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
                self.native_finish_reason = choice.native_finish_reason;
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn finish(&mut self, chunk: ChatChunk) -> Bytes {
        let mut out = Vec::new();
        self.end_frames(chunk.usage.as_ref(), &mut out);
        Bytes::from(out)
    }

    fn error(&mut self, chunk: ChatChunk) -> Option<Bytes> {
        let body = chunk.error?;
        let status = body.code.status().unwrap_or(502);
        let mut out = Vec::new();
        Self::event(
            &mut out,
            &StreamEvent::Error {
                error: error_object(status, &body),
            },
        );
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    //! The golden cases of `fixtures/ingress/messages/` (see its README):
    //! each Anthropic request decoded, then sent by each upstream dialect's
    //! adapter; each finished answer and relayed stream encoded.

    use super::*;
    use tollgate_schema::from_json_slice;
    use tollgate_transport::{anthropic, gemini, openai};

    fn cases() -> Vec<(String, Value)> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/ingress/messages"
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
        assert!(cases.len() >= 8, "{cases:?}");
        cases
    }

    fn decoded(request: &Value) -> Result<ChatRequest, ApiError> {
        let r: MessagesRequest = from_json_slice(request.to_string().as_bytes())?;
        decode(r, true)
    }

    #[test]
    fn requests_decode_and_reach_each_dialect_as_the_cases_say() {
        let mut checked = 0;
        for (name, case) in cases() {
            let Some(request) = case.get("request") else {
                continue;
            };
            let internal = decoded(request).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                serde_json::to_value(&internal).unwrap(),
                case["internal"],
                "{name}: the internal request"
            );
            let upstream = &case["upstream"];
            assert_eq!(
                openai::translate::chat_body(&internal, "gpt-up", false, false).unwrap(),
                upstream["openai"],
                "{name}: to an OpenAI upstream"
            );
            assert_eq!(
                anthropic::translate::messages_body(&internal, "claude-up", false, None)
                    .unwrap()
                    .body,
                upstream["anthropic"],
                "{name}: to an Anthropic upstream"
            );
            assert_eq!(
                gemini::translate::generate_body(&internal).unwrap().body,
                upstream["gemini"],
                "{name}: to a Gemini upstream"
            );
            checked += 1;
        }
        assert!(checked >= 4);
    }

    #[test]
    fn answers_encode_as_the_cases_say() {
        let mut checked = 0;
        for (name, case) in cases() {
            let Some(completion) = case.get("completion") else {
                continue;
            };
            let c: ChatCompletion = from_json_slice(completion.to_string().as_bytes()).unwrap();
            assert_eq!(
                serde_json::to_value(answer(c)).unwrap(),
                case["expected"],
                "{name}"
            );
            checked += 1;
        }
        assert!(checked >= 5);
    }

    /// `event: <name>\ndata: <json>` frames as `{"event", "data"}`.
    fn parse_events(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.split_terminator("\n\n")
            .map(|frame| {
                let (event, data) = frame.split_once('\n').unwrap();
                let event = event.strip_prefix("event: ").unwrap();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                json!({ "event": event, "data": data })
            })
            .collect()
    }

    #[test]
    fn streams_encode_as_the_cases_say() {
        let mut checked = 0;
        for (name, case) in cases() {
            let Some(stream) = case.get("stream") else {
                continue;
            };
            let mut encoder = Encoder::new(StreamInfo {
                id: String::from("gen-1-abc"),
                model: String::from("m"),
                prompt_estimate: stream["prompt_estimate"].as_u64().unwrap(),
            });
            let mut out = Vec::new();
            for c in stream["chunks"].as_array().unwrap() {
                let c: ChatChunk = from_json_slice(c.to_string().as_bytes()).unwrap();
                out.extend(encoder.chunk(c).unwrap_or_default());
            }
            let end = ChatChunk {
                id: String::from("gen-1-abc"),
                object: String::from("chat.completion.chunk"),
                created: 1,
                model: String::from("m"),
                provider: None,
                system_fingerprint: None,
                choices: Vec::new(),
                usage: None,
                error: None,
                extra: Extra::new(),
            };
            if let Some(error) = stream.get("error") {
                let error: ErrorBody = serde_json::from_value(error.clone()).unwrap();
                let c = ChatChunk {
                    error: Some(error),
                    ..end
                };
                out.extend(encoder.error(c).unwrap());
            } else {
                let usage: Usage = serde_json::from_value(stream["usage"].clone()).unwrap();
                let c = ChatChunk {
                    usage: Some(usage),
                    ..end
                };
                out.extend(encoder.finish(c));
            }
            assert_eq!(
                Value::Array(parse_events(&out)),
                stream["expected_events"],
                "{name}: {}",
                String::from_utf8_lossy(&out)
            );
            checked += 1;
        }
        assert!(checked >= 4);
    }

    #[test]
    fn invalid_requests_are_400s_naming_the_field() {
        let (_, case) = cases().into_iter().find(|c| c.0 == "errors").unwrap();
        for invalid in case["invalid"].as_array().unwrap() {
            match decoded(&invalid["request"]) {
                Err(ApiError::BadRequest { field, .. }) => {
                    assert_eq!(field.as_deref(), invalid["field"].as_str(), "{invalid}");
                }
                other => panic!("{invalid}: {other:?}"),
            }
        }
        for pair in case["statuses"].as_array().unwrap() {
            let status = u16::try_from(pair[0].as_u64().unwrap()).unwrap();
            assert_eq!(error_type(status), pair[1], "{pair}");
        }
    }
}
