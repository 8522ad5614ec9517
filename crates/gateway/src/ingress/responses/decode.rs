//! Decoding: a Responses request → the internal chat request (see the
//! parent module for the rules).

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{
    ChatRequest, ContentPart as ChatPart, FileData, FilePart, FunctionCall, FunctionDef, ImagePart,
    ImageUrl, JsonSchemaFormat, Message, MessageContent, NamedFunction, NamedToolChoice,
    ReasoningConfig, ResponseFormat, Role, TextPart, Tool, ToolCall, ToolChoice,
};
use tollgate_schema::responses::{
    ContentPart, Input, InputItem, ItemContent, ResponsesRequest, TextFormat,
};

use super::{REASONING_PREFIX, RESPONSES_REASONING_FORMAT};
use crate::error::ApiError;

/// Decodes a Responses request into the internal chat request.
pub fn decode(r: ResponsesRequest) -> Result<ChatRequest, ApiError> {
    if r.previous_response_id.is_some() {
        return Err(ApiError::field(
            "previous_response_id",
            "previous_response_id: this gateway is stateless and stores no responses; send the whole conversation in `input`",
        ));
    }
    if r.store == Some(true) {
        return Err(ApiError::field(
            "store",
            "store: this gateway is stateless and stores no responses; send `store: false` or leave it out",
        ));
    }
    let mut messages = Vec::new();
    if let Some(instructions) = r.instructions.filter(|i| !i.is_empty()) {
        messages.push(Message::text(Role::System, instructions));
    }
    match r.input {
        None => {}
        Some(Input::Text(t)) => messages.push(Message::text(Role::User, t)),
        Some(Input::Items(items)) => items_into(items, &mut messages)?,
    }
    if !messages.iter().any(|m| m.role != Role::System) {
        return Err(ApiError::field(
            "input",
            "input: at least one input item is required",
        ));
    }
    let mut tools = Vec::new();
    for (i, t) in r.tools.into_iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(ApiError::field(
                format!("tools[{i}].type"),
                format!(
                    "tools[{i}].type: `{}` tools are not supported here; send function tools",
                    t.kind
                ),
            ));
        }
        let name = t.name.filter(|n| !n.is_empty()).ok_or_else(|| {
            ApiError::field(
                format!("tools[{i}].name"),
                format!("tools[{i}].name: Field required"),
            )
        })?;
        tools.push(Tool {
            kind: String::from("function"),
            function: Some(FunctionDef {
                name,
                description: t.description,
                parameters: Some(
                    t.parameters
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                ),
                strict: t.strict,
                extra: Extra::new(),
            }),
            extra: Extra::new(),
        });
    }
    let tool_choice = r.tool_choice.map(tool_choice).transpose()?;
    let response_format = r
        .text
        .and_then(|t| t.format)
        .map(response_format)
        .transpose()?
        .flatten();
    let reasoning = r.reasoning.map(|p| {
        let num = |k: &str| {
            p.extra
                .get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        let flag = |k: &str| p.extra.get(k).and_then(Value::as_bool);
        ReasoningConfig {
            effort: p.effort.clone(),
            summary: p.summary.clone(),
            max_tokens: num("max_tokens"),
            enabled: flag("enabled"),
            exclude: flag("exclude"),
            extra: Extra::new(),
        }
    });
    Ok(ChatRequest {
        messages: Some(messages),
        model: r.model,
        models: r.models,
        route: r.route,
        temperature: r.temperature,
        top_p: r.top_p,
        max_tokens: r.max_output_tokens,
        stream: r.stream,
        response_format,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        parallel_tool_calls: r.parallel_tool_calls,
        reasoning,
        usage: r.usage,
        user: r.user,
        session_id: r.session_id,
        transforms: r.transforms,
        provider: r.provider,
        plugins: r.plugins,
        ..ChatRequest::default()
    })
}

fn tool_choice(v: Value) -> Result<ToolChoice, ApiError> {
    match &v {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {
            Ok(ToolChoice::Mode(s.clone()))
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    ApiError::field("tool_choice.name", "tool_choice.name: Field required")
                })?;
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: String::from("function"),
                function: NamedFunction {
                    name: name.to_string(),
                },
                extra: Extra::new(),
            }))
        }
        _ => Err(ApiError::field(
            "tool_choice",
            "tool_choice: send `auto`, `none`, `required` or {\"type\": \"function\", \"name\": ...}",
        )),
    }
}

/// `text.format` as the internal `response_format` (`None` for plain
/// text).
fn response_format(f: TextFormat) -> Result<Option<ResponseFormat>, ApiError> {
    Ok(match f.kind.as_str() {
        "text" => None,
        "json_object" => Some(ResponseFormat {
            kind: f.kind,
            json_schema: None,
            grammar: None,
            extra: Extra::new(),
        }),
        "json_schema" => {
            let name = f.name.filter(|n| !n.is_empty()).ok_or_else(|| {
                ApiError::field("text.format.name", "text.format.name: Field required")
            })?;
            Some(ResponseFormat {
                kind: f.kind,
                json_schema: Some(JsonSchemaFormat {
                    name,
                    description: f.description,
                    schema: f.schema,
                    strict: f.strict,
                    extra: Extra::new(),
                }),
                grammar: None,
                extra: Extra::new(),
            })
        }
        other => {
            return Err(ApiError::field(
                "text.format.type",
                format!("text.format.type: `{other}` is not one of text, json_object, json_schema"),
            ));
        }
    })
}

/// The assistant message being assembled from consecutive assistant-side
/// items (reasoning, the message, function calls).
fn assistant(pending: &mut Option<Message>) -> &mut Message {
    pending.get_or_insert_with(|| Message {
        content: None,
        ..Message::text(Role::Assistant, "")
    })
}

fn items_into(items: Vec<InputItem>, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let mut pending: Option<Message> = None;
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        let kind = item.kind.clone().unwrap_or_else(|| String::from("message"));
        match kind.as_str() {
            "message" => {
                let role = item.role.as_deref().unwrap_or_default();
                let content = item.content.unwrap_or(ItemContent::Text(String::new()));
                match role {
                    "assistant" => {
                        let m = assistant(&mut pending);
                        let text = assistant_text(content);
                        let joined = match m.content.take() {
                            Some(MessageContent::Text(t)) => t + &text,
                            _ => text,
                        };
                        m.content = Some(MessageContent::Text(joined));
                    }
                    "user" | "system" | "developer" => {
                        out.extend(pending.take());
                        let role = match role {
                            "user" => Role::User,
                            _ => Role::System,
                        };
                        out.push(Message {
                            content: Some(user_content(content, &at)?),
                            ..Message::text(role, "")
                        });
                    }
                    other => {
                        return Err(ApiError::field(
                            format!("{at}.role"),
                            format!(
                                "{at}.role: `{other}` is not one of user, assistant, system, developer"
                            ),
                        ));
                    }
                }
            }
            "function_call" => {
                let call_id = item
                    .call_id
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| required(&at, "call_id"))?;
                let name = item
                    .name
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| required(&at, "name"))?;
                let m = assistant(&mut pending);
                m.tool_calls.get_or_insert_with(Vec::new).push(ToolCall {
                    id: call_id,
                    kind: String::from("function"),
                    function: FunctionCall {
                        name,
                        arguments: item.arguments.unwrap_or_default(),
                    },
                    extra: Extra::new(),
                });
            }
            "function_call_output" => {
                out.extend(pending.take());
                let call_id = item
                    .call_id
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| required(&at, "call_id"))?;
                let content = match item.output {
                    None => MessageContent::Text(String::new()),
                    Some(ItemContent::Text(t)) => MessageContent::Text(t),
                    Some(parts) => user_content(parts, &format!("{at}.output"))?,
                };
                out.push(Message {
                    content: Some(content),
                    tool_call_id: Some(call_id),
                    ..Message::text(Role::Tool, "")
                });
            }
            "reasoning" => {
                let details = reasoning_details(&item);
                if !details.is_empty() {
                    assistant(&mut pending)
                        .reasoning_details
                        .get_or_insert_with(Vec::new)
                        .extend(details);
                }
            }
            other => {
                return Err(ApiError::field(
                    format!("{at}.type"),
                    format!(
                        "{at}.type: `{other}` items are not supported here; send message, function_call, function_call_output or reasoning items"
                    ),
                ));
            }
        }
    }
    out.extend(pending);
    Ok(())
}

fn required(at: &str, field: &str) -> ApiError {
    ApiError::field(
        format!("{at}.{field}"),
        format!("{at}.{field}: Field required"),
    )
}

/// A reasoning item as internal reasoning details: what an answer wrote
/// in `encrypted_content` (the upstream's own details), else the item's
/// opaque content, else its summary.
fn reasoning_details(item: &InputItem) -> Vec<Value> {
    if let Some(enc) = item.encrypted_content.as_deref().filter(|e| !e.is_empty()) {
        if let Some(json) = enc.strip_prefix(REASONING_PREFIX)
            && let Ok(Value::Array(details)) = serde_json::from_str::<Value>(json)
        {
            return details;
        }
        return vec![json!({
            "type": "reasoning.encrypted",
            "data": enc,
            "format": RESPONSES_REASONING_FORMAT,
        })];
    }
    let summary: String = item
        .summary
        .iter()
        .flatten()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    if summary.is_empty() {
        return Vec::new();
    }
    vec![json!({"type": "reasoning.summary", "summary": summary})]
}

/// An assistant message sent back: its text (`output_text` parts joined).
fn assistant_text(content: ItemContent) -> String {
    match content {
        ItemContent::Text(t) => t,
        ItemContent::Parts(parts) => parts
            .into_iter()
            .filter_map(|p| p.text.or(p.refusal))
            .collect(),
    }
}

/// A user-side message's content (also a function call's output parts).
fn user_content(content: ItemContent, at: &str) -> Result<MessageContent, ApiError> {
    let parts = match content {
        ItemContent::Text(t) => return Ok(MessageContent::Text(t)),
        ItemContent::Parts(p) => p,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        out.push(part(p, &format!("{at}.content[{j}]"))?);
    }
    Ok(MessageContent::Parts(out))
}

fn part(p: ContentPart, at: &str) -> Result<ChatPart, ApiError> {
    Ok(match p.kind.as_str() {
        "input_text" | "output_text" | "text" => ChatPart::Text(TextPart {
            text: p.text.unwrap_or_default(),
            cache_control: p.extra.get("cache_control").cloned(),
            extra: Extra::new(),
        }),
        "input_image" => {
            let url = p
                .image_url
                .filter(|u| !u.is_empty())
                .ok_or_else(|| uploaded(at, p.file_id.is_some(), "image_url"))?;
            ChatPart::ImageUrl(ImagePart {
                image_url: ImageUrl {
                    url,
                    detail: p.detail,
                    extra: Extra::new(),
                },
                extra: Extra::new(),
            })
        }
        "input_file" => {
            let data = p
                .file_data
                .or(p.file_url)
                .filter(|d| !d.is_empty())
                .ok_or_else(|| uploaded(at, p.file_id.is_some(), "file_data"))?;
            ChatPart::File(FilePart {
                file: FileData {
                    filename: p.filename.or_else(|| Some(String::from("document.pdf"))),
                    file_data: Some(data),
                    file_id: None,
                    extra: Extra::new(),
                },
                extra: Extra::new(),
            })
        }
        other => {
            return Err(ApiError::field(
                format!("{at}.type"),
                format!(
                    "{at}.type: `{other}` parts are not supported here; send input_text, input_image or input_file"
                ),
            ));
        }
    })
}

/// A part without its data: uploaded files (`file_id`) are not stored
/// here.
fn uploaded(at: &str, has_file_id: bool, field: &str) -> ApiError {
    if has_file_id {
        ApiError::field(
            format!("{at}.file_id"),
            format!(
                "{at}.file_id: this gateway stores no files; send the content inline (`{field}`)"
            ),
        )
    } else {
        required(at, field)
    }
}
