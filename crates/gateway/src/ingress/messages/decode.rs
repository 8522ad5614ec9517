//! Decoding: an Anthropic Messages request → the internal chat request
//! (see the parent module for the rules).

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{
    ChatRequest, ContentPart, FileData, FilePart, FunctionCall, FunctionDef, ImagePart, ImageUrl,
    Message, MessageContent, NamedFunction, NamedToolChoice, ReasoningConfig, Role, Stop, TextPart,
    Tool, ToolCall, ToolChoice,
};
use tollgate_schema::messages::{
    ANTHROPIC_PASSTHROUGH, Content, ContentBlock, MessagesRequest, Source, TextBlock,
    ToolDefinition,
};

use super::{REASONING_FORMAT, unwrap_foreign};
use crate::error::ApiError;

/// OpenRouter fields an Anthropic-shaped request may carry that are not
/// Anthropic's: never passed through to an Anthropic upstream.
const OPENROUTER_ONLY: &[&str] = &[
    "reasoning",
    "include_reasoning",
    "stream_options",
    "debug",
    "trace",
];

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
