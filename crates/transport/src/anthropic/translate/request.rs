//! The request body of `POST /v1/messages` (see the module docs for the
//! rules).

use serde_json::{Map, Value, json};
use tollgate_schema::chat::{
    ChatRequest, ContentPart, FilePart, Message, MessageContent, ResponseFormat, Role, ToolChoice,
};
use tollgate_schema::messages::ANTHROPIC_PASSTHROUGH;

use super::{REASONING_FORMAT, ResponseMode};
use crate::native::convert::{
    ReasoningMode, RequestError, data_url, is_http_url, reasoning_ask, str_field, tool_arguments,
};

/// `max_tokens` sent when the request has none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Anthropic's smallest thinking budget.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// Name of the forced tool standing in for `json_object` mode.
const JSON_OBJECT_TOOL: &str = "json_response";

/// Image types Anthropic accepts as base64.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A translated request: the body, and how its answer must be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The JSON body.
    pub body: Value,
    /// What the answer's translation must know.
    pub mode: ResponseMode,
}

/// The body of `POST /v1/messages` for `request` sent to `upstream_model`.
/// `max_output_cap` is the endpoint's largest completion, when known.
pub fn messages_body(
    request: &ChatRequest,
    upstream_model: &str,
    stream: bool,
    max_output_cap: Option<u32>,
) -> Result<Translated, RequestError> {
    let prompt_message;
    let messages: &[Message] = match (&request.messages, &request.prompt) {
        (Some(m), _) => m,
        (None, Some(prompt)) => {
            prompt_message = [Message::text(Role::User, prompt.clone())];
            &prompt_message
        }
        (None, None) => &[],
    };
    let (mut system, turns) = conversation(messages)?;

    let mut out = Map::new();
    out.insert("model".into(), Value::String(upstream_model.into()));

    let ask = reasoning_ask(request);
    let mut mode = ResponseMode {
        json_tool: None,
        exclude_reasoning: ask.as_ref().is_some_and(|a| a.exclude),
    };

    // max_tokens, and the thinking budget that must fit under it.
    let mut max_tokens = request.max_output_tokens().unwrap_or_else(|| {
        max_output_cap.map_or(DEFAULT_MAX_TOKENS, |c| c.min(DEFAULT_MAX_TOKENS))
    });
    if let Some(cap) = max_output_cap {
        max_tokens = max_tokens.min(cap);
    }
    let budget = ask.as_ref().and_then(|a| match &a.mode {
        ReasoningMode::Off => None,
        ReasoningMode::Budget(n) => Some(*n),
        ReasoningMode::Effort(e) => Some(share(max_tokens, effort_share(e))),
        ReasoningMode::Default => Some(share(max_tokens, effort_share("medium"))),
    });
    let thinking = budget.map(|b| {
        let mut budget = b.max(MIN_THINKING_BUDGET);
        if budget >= max_tokens {
            max_tokens = budget.saturating_add(max_tokens);
            if let Some(cap) = max_output_cap {
                max_tokens = max_tokens.min(cap);
            }
            if budget >= max_tokens {
                budget = max_tokens.saturating_sub(1);
            }
        }
        budget
    });
    out.insert("max_tokens".into(), json!(max_tokens));

    // Sampling: thinking forbids temperature and top_k, and low top_p.
    if thinking.is_none() {
        if let Some(t) = request.temperature {
            out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
        }
        if let Some(k) = request.top_k.filter(|k| *k > 0) {
            out.insert("top_k".into(), json!(k));
        }
    }
    if let Some(p) = request.top_p
        && (thinking.is_none() || p >= 0.95)
    {
        out.insert("top_p".into(), json!(p));
    }
    if let Some(stop) = &request.stop {
        let sequences: Vec<String> = stop
            .to_vec()
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect();
        if !sequences.is_empty() {
            out.insert("stop_sequences".into(), json!(sequences));
        }
    }

    // Tools, and JSON mode (a forced tool when nothing else needs tools).
    let passthrough = request
        .extra
        .get(ANTHROPIC_PASSTHROUGH)
        .and_then(Value::as_object);
    let mut tools = tools(request);
    tools.extend(
        passthrough
            .and_then(|p| p.get("tools"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .cloned(),
    );
    let mut tool_choice = if tools.is_empty() {
        None
    } else {
        tool_choice(request)?
    };
    if let Some((name, description, schema)) = json_mode(request.response_format.as_ref()) {
        let object_schema = schema.get("type").and_then(Value::as_str) == Some("object");
        if tools.is_empty() && thinking.is_none() && object_schema {
            tools.push(json!({
                "name": name,
                "description": description,
                "input_schema": schema,
            }));
            tool_choice = Some(json!({ "type": "tool", "name": name }));
            mode.json_tool = Some(name);
        } else {
            system.push(text_block(json_instruction(
                request.response_format.as_ref(),
            )));
        }
    }

    if let Some(system) = system_value(system) {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(turns));
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice {
            out.insert("tool_choice".into(), choice);
        }
    }
    if let Some(budget) = thinking {
        out.insert(
            "thinking".into(),
            json!({ "type": "enabled", "budget_tokens": budget }),
        );
    }
    if let Some(user) = request.user.as_ref().filter(|u| !u.is_empty()) {
        out.insert("metadata".into(), json!({ "user_id": user }));
    }
    if stream {
        out.insert("stream".into(), Value::Bool(true));
    }
    let fields = passthrough
        .and_then(|p| p.get("fields"))
        .and_then(Value::as_object);
    // Top-level `cache_control` (the chat request's, or the Messages
    // ingress's): automatic caching, a breakpoint on the last cacheable
    // block.
    if let Some(cc) = request
        .extra
        .get(CACHE_CONTROL)
        .or_else(|| fields.and_then(|f| f.get(CACHE_CONTROL)))
        .filter(|c| c.is_object())
    {
        automatic_cache_breakpoint(&mut out, cc);
    }
    // An Anthropic request's own fields (the Messages ingress), as sent.
    for (k, v) in fields
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != CACHE_CONTROL)
    {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(Translated {
        body: Value::Object(out),
        mode,
    })
}

const CACHE_CONTROL: &str = "cache_control";

/// Anthropic's limit of `cache_control` breakpoints in one request.
const MAX_CACHE_BREAKPOINTS: usize = 4;

/// Top-level `cache_control` ("automatic caching": OpenAPI
/// `AnthropicCacheControlDirective`, "applies cache breakpoints to the
/// last cacheable block in the request"): `cc` is put on the last block
/// that can carry one, in Anthropic's prefix order tools, system,
/// messages, so the whole prompt is cached — the last content block of
/// the last message (thinking blocks cannot carry one), else the last
/// system block, else the last tool. Nothing is added when that block
/// already has a breakpoint, or when the request already has the four
/// Anthropic allows (the explicit ones win; a fifth would be a 400).
fn automatic_cache_breakpoint(out: &mut Map<String, Value>, cc: &Value) {
    let marked = |blocks: Option<&Value>| {
        blocks.and_then(Value::as_array).map_or(0, |b| {
            b.iter().filter(|x| x.get(CACHE_CONTROL).is_some()).count()
        })
    };
    let mut existing = marked(out.get("system")) + marked(out.get("tools"));
    for m in out
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        existing += marked(m.get("content"));
    }
    if existing >= MAX_CACHE_BREAKPOINTS {
        return;
    }
    let cacheable = |b: &Value| {
        !matches!(
            b.get("type").and_then(Value::as_str),
            Some("thinking" | "redacted_thinking")
        )
    };
    let in_messages = out
        .get_mut("messages")
        .and_then(Value::as_array_mut)
        .and_then(|ms| {
            ms.iter_mut().rev().find_map(|m| {
                m.get_mut("content")
                    .and_then(Value::as_array_mut)
                    .and_then(|bs| bs.iter_mut().rev().find(|b| cacheable(b)))
            })
        });
    let block = match in_messages {
        Some(block) => Some(block),
        None => {
            // A system string becomes one text block, to carry it.
            if let Some(Value::String(text)) = out.get("system") {
                let block = text_block(text.clone());
                out.insert("system".into(), Value::Array(vec![block]));
            }
            let has_system = out
                .get("system")
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            let key = if has_system { "system" } else { "tools" };
            out.get_mut(key)
                .and_then(Value::as_array_mut)
                .and_then(|bs| bs.last_mut())
        }
    };
    if let Some(Value::Object(block)) = block {
        block.entry(CACHE_CONTROL).or_insert_with(|| cc.clone());
    }
}

/// The share of `max_tokens` an effort spends on thinking.
fn effort_share(effort: &str) -> f64 {
    match effort {
        "minimal" => 0.1,
        "low" => 0.2,
        "high" => 0.8,
        "xhigh" => 0.9,
        "max" => 0.95,
        _ => 0.5,
    }
}

fn share(max_tokens: u32, fraction: f64) -> u32 {
    // Exact for every u32 and fraction < 1: the product stays below 2^32.
    (f64::from(max_tokens) * fraction).floor() as u32
}

/// One Anthropic turn being built.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// The system blocks and the alternating turns.
fn conversation(messages: &[Message]) -> Result<(Vec<Value>, Vec<Value>), RequestError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.extend(system_blocks(m, &at)?);
                continue;
            }
            Role::User => ("user", content_blocks(m.content.as_ref(), &at)?),
            Role::Assistant => ("assistant", assistant_blocks(m, &at)?),
            Role::Tool => ("user", vec![tool_result(m, &at)?]),
            Role::Function => {
                return Err(RequestError::unsupported(format!(
                    "{at}: legacy `function` messages are not supported by the Anthropic dialect; use tool messages"
                )));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.blocks.extend(blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    // A final assistant turn is a prefill: Anthropic rejects trailing
    // whitespace in it.
    if let Some(last) = turns.last_mut()
        && last.role == "assistant"
    {
        trim_prefill(&mut last.blocks);
        if last.blocks.is_empty() {
            turns.pop();
        }
    }
    let turns = turns
        .into_iter()
        .map(|t| json!({ "role": t.role, "content": t.blocks }))
        .collect();
    Ok((system, turns))
}

fn trim_prefill(blocks: &mut Vec<Value>) {
    let Some(last) = blocks.last_mut() else {
        return;
    };
    if str_field(last, "type") != Some("text") {
        return;
    }
    let trimmed = str_field(last, "text").map(|t| t.trim_end().to_string());
    match trimmed {
        Some(t) if t.is_empty() => {
            blocks.pop();
        }
        Some(t) => last["text"] = Value::String(t),
        None => {}
    }
}

fn text_block(text: String) -> Value {
    json!({ "type": "text", "text": text })
}

/// `system`: a plain string when it is one text without cache control,
/// else the blocks.
fn system_value(blocks: Vec<Value>) -> Option<Value> {
    match blocks.as_slice() {
        [] => None,
        [one] if one.get("cache_control").is_none() => one.get("text").cloned(),
        _ => Some(Value::Array(blocks)),
    }
}

fn system_blocks(m: &Message, at: &str) -> Result<Vec<Value>, RequestError> {
    let blocks = content_blocks(m.content.as_ref(), at)?;
    if let Some(bad) = blocks.iter().find(|b| str_field(b, "type") != Some("text")) {
        return Err(RequestError::invalid(format!(
            "{at}: a {} message may only hold text, not `{}`",
            m.role.as_str(),
            str_field(bad, "type").unwrap_or("?")
        )));
    }
    Ok(blocks)
}

/// The blocks of a message's content: text, images and documents.
fn content_blocks(content: Option<&MessageContent>, at: &str) -> Result<Vec<Value>, RequestError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(MessageContent::Text(t)) if t.is_empty() => return Ok(Vec::new()),
        Some(MessageContent::Text(t)) => return Ok(vec![text_block(t.clone())]),
        Some(MessageContent::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let (mut block, cache_control) = match part {
            ContentPart::Text(t) => {
                if t.text.is_empty() {
                    continue;
                }
                (text_block(t.text.clone()), t.cache_control.clone())
            }
            ContentPart::ImageUrl(img) => (
                image_block(&img.image_url.url, &at)?,
                img.extra.get("cache_control").cloned(),
            ),
            ContentPart::File(file) => (
                document_block(file, &at)?,
                file.extra.get("cache_control").cloned(),
            ),
            other => {
                return Err(RequestError::unsupported(format!(
                    "{at}: content parts of type `{}` are not supported by the Anthropic dialect",
                    other.type_name()
                )));
            }
        };
        if let Some(cc) = cache_control.filter(|c| !c.is_null()) {
            block["cache_control"] = cc;
        }
        out.push(block);
    }
    Ok(out)
}

fn image_block(url: &str, at: &str) -> Result<Value, RequestError> {
    if let Some(d) = data_url(url) {
        if !IMAGE_TYPES.contains(&d.mime.as_str()) {
            return Err(RequestError::unsupported(format!(
                "{at}: image type `{}` is not supported by the Anthropic dialect (png, jpeg, gif, webp)",
                d.mime
            )));
        }
        return Ok(json!({
            "type": "image",
            "source": { "type": "base64", "media_type": d.mime, "data": d.data }
        }));
    }
    if is_http_url(url) {
        return Ok(json!({ "type": "image", "source": { "type": "url", "url": url } }));
    }
    Err(RequestError::invalid(format!(
        "{at}.image_url.url must be an http(s) URL or a base64 data: URL"
    )))
}

fn document_block(file: &FilePart, at: &str) -> Result<Value, RequestError> {
    let data = file.file.file_data.as_deref().unwrap_or("");
    if let Some(d) = data_url(data)
        && d.mime == "application/pdf"
    {
        return Ok(json!({
            "type": "document",
            "source": { "type": "base64", "media_type": "application/pdf", "data": d.data }
        }));
    }
    if is_http_url(data) {
        return Ok(json!({ "type": "document", "source": { "type": "url", "url": data } }));
    }
    Err(RequestError::unsupported(format!(
        "{at}: only PDF files (a data: URL or an http(s) URL) are supported by the Anthropic dialect"
    )))
}

fn assistant_blocks(m: &Message, at: &str) -> Result<Vec<Value>, RequestError> {
    let mut blocks = thinking_blocks(m.reasoning_details.as_deref().unwrap_or(&[]));
    blocks.extend(content_blocks(m.content.as_ref(), at)?);
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.function.name,
            "input": tool_arguments(&call.function.arguments, &at)?,
        }));
    }
    Ok(blocks)
}

/// A reasoning detail being gathered into a block.
enum Thought {
    Text {
        index: Option<i64>,
        text: String,
        signature: Option<String>,
    },
    Redacted(String),
}

/// Thinking blocks from echoed `reasoning_details`: signed
/// `reasoning.text` → `thinking`, `reasoning.encrypted` →
/// `redacted_thinking`; only this dialect's format (or none). Consecutive
/// text fragments with the same `index` are one block.
fn thinking_blocks(details: &[Value]) -> Vec<Value> {
    let mut thoughts: Vec<Thought> = Vec::new();
    for d in details {
        if let Some(format) = str_field(d, "format")
            && format != REASONING_FORMAT
        {
            continue;
        }
        match str_field(d, "type") {
            Some("reasoning.text") => {
                let index = d.get("index").and_then(Value::as_i64);
                let text = str_field(d, "text").unwrap_or("");
                let signature = str_field(d, "signature")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                if let Some(Thought::Text {
                    index: Some(last),
                    text: last_text,
                    signature: last_signature,
                }) = thoughts.last_mut()
                    && index == Some(*last)
                {
                    last_text.push_str(text);
                    if signature.is_some() {
                        *last_signature = signature;
                    }
                    continue;
                }
                thoughts.push(Thought::Text {
                    index,
                    text: text.to_string(),
                    signature,
                });
            }
            Some("reasoning.encrypted") => {
                if let Some(data) = str_field(d, "data").filter(|s| !s.is_empty()) {
                    thoughts.push(Thought::Redacted(data.to_string()));
                }
            }
            _ => {}
        }
    }
    thoughts
        .into_iter()
        .filter_map(|t| match t {
            Thought::Text {
                text,
                signature: Some(signature),
                ..
            } => Some(json!({ "type": "thinking", "thinking": text, "signature": signature })),
            Thought::Text { .. } => None,
            Thought::Redacted(data) => Some(json!({ "type": "redacted_thinking", "data": data })),
        })
        .collect()
}

fn tool_result(m: &Message, at: &str) -> Result<Value, RequestError> {
    let id = m
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| RequestError::invalid(format!("{at}.tool_call_id is required")))?;
    let mut block = json!({ "type": "tool_result", "tool_use_id": id });
    match &m.content {
        Some(MessageContent::Text(t)) if !t.is_empty() => {
            block["content"] = Value::String(t.clone());
        }
        Some(content @ MessageContent::Parts(_)) => {
            let blocks = content_blocks(Some(content), at)?;
            if !blocks.is_empty() {
                block["content"] = Value::Array(blocks);
            }
        }
        _ => {}
    }
    // Kept from an Anthropic-shaped request (the Messages ingress).
    if m.extra.get("is_error") == Some(&Value::Bool(true)) {
        block["is_error"] = Value::Bool(true);
    }
    if let Some(cc) = m.extra.get("cache_control").filter(|c| !c.is_null()) {
        block["cache_control"] = cc.clone();
    }
    Ok(block)
}

/// Function tools as Anthropic tools; other tool types are dropped.
fn tools(request: &ChatRequest) -> Vec<Value> {
    request
        .tools
        .iter()
        .flatten()
        .filter(|t| t.kind == "function")
        .filter_map(|t| {
            let f = t.function.as_ref()?;
            let mut tool = json!({
                "name": f.name,
                "input_schema": f
                    .parameters
                    .clone()
                    .filter(|p| !p.is_null())
                    .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
            });
            if let Some(d) = f.description.as_ref().filter(|d| !d.is_empty()) {
                tool["description"] = Value::String(d.clone());
            }
            let cache_control = t
                .extra
                .get("cache_control")
                .or_else(|| f.extra.get("cache_control"))
                .filter(|c| !c.is_null());
            if let Some(cc) = cache_control {
                tool["cache_control"] = cc.clone();
            }
            Some(tool)
        })
        .collect()
}

fn tool_choice(request: &ChatRequest) -> Result<Option<Value>, RequestError> {
    let mut choice = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Mode(mode)) => Some(match mode.as_str() {
            "auto" => json!({ "type": "auto" }),
            "required" => json!({ "type": "any" }),
            "none" => json!({ "type": "none" }),
            other => {
                return Err(RequestError::invalid(format!(
                    "tool_choice `{other}` is not one of none, auto, required"
                )));
            }
        }),
        Some(ToolChoice::Named(named)) => {
            Some(json!({ "type": "tool", "name": named.function.name }))
        }
    };
    if request.parallel_tool_calls == Some(false) {
        let c = choice.get_or_insert_with(|| json!({ "type": "auto" }));
        if str_field(c, "type") != Some("none") {
            c["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    Ok(choice)
}

/// JSON mode: the forced tool's name, description and schema.
fn json_mode(format: Option<&ResponseFormat>) -> Option<(String, String, Value)> {
    let format = format?;
    match format.kind.as_str() {
        "json_object" => Some((
            JSON_OBJECT_TOOL.to_string(),
            String::from("Return the answer as a JSON object."),
            json!({ "type": "object" }),
        )),
        "json_schema" => {
            let js = format.json_schema.as_ref();
            let name = js
                .map(|j| j.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| JSON_OBJECT_TOOL.to_string());
            let description = js
                .and_then(|j| j.description.clone())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| {
                    String::from("Return the answer as JSON matching the input schema.")
                });
            let schema = js
                .and_then(|j| j.schema.clone())
                .filter(|s| !s.is_null())
                .unwrap_or_else(|| json!({ "type": "object" }));
            Some((name, description, schema))
        }
        _ => None,
    }
}

fn json_instruction(format: Option<&ResponseFormat>) -> String {
    let schema = format
        .and_then(|f| f.json_schema.as_ref())
        .and_then(|j| j.schema.as_ref())
        .filter(|s| !s.is_null());
    match schema {
        Some(schema) => format!(
            "Respond only with a JSON value that matches this JSON schema, with no other text and no Markdown code fence:\n{schema}"
        ),
        None => String::from(
            "Respond only with a JSON object, with no other text and no Markdown code fence.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Value {
        let request: ChatRequest = serde_json::from_value(v).unwrap();
        messages_body(&request, "claude-test", false, None)
            .unwrap()
            .body
    }

    #[test]
    fn top_level_cache_control_marks_the_last_cacheable_block() {
        let cc = json!({ "type": "ephemeral", "ttl": "1h" });
        // The last block of the last message; never sent top-level.
        let b = body(json!({
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello" },
                { "role": "user", "content": [
                    { "type": "text", "text": "first" },
                    { "type": "text", "text": "last" }
                ] }
            ],
            "cache_control": cc
        }));
        assert!(b.get("cache_control").is_none());
        assert_eq!(b["system"], json!("Be brief."));
        let turns = b["messages"].as_array().unwrap();
        let last = turns.last().unwrap()["content"].as_array().unwrap();
        assert_eq!(
            last[1],
            json!({ "type": "text", "text": "last", "cache_control": cc })
        );
        assert!(last[0].get("cache_control").is_none());
        let marks = b.to_string().matches("cache_control").count();
        assert_eq!(marks, 1, "{b}");

        // Only a system prompt: its string becomes a block carrying it.
        let b = body(json!({
            "messages": [{ "role": "system", "content": "Be brief." }],
            "cache_control": { "type": "ephemeral" }
        }));
        assert_eq!(
            b["system"],
            json!([{ "type": "text", "text": "Be brief.", "cache_control": { "type": "ephemeral" } }])
        );

        // An explicit breakpoint on that block is kept as it is.
        let b = body(json!({
            "messages": [{ "role": "user", "content": [
                { "type": "text", "text": "x", "cache_control": { "type": "ephemeral", "ttl": "5m" } }
            ] }],
            "cache_control": { "type": "ephemeral", "ttl": "1h" }
        }));
        assert_eq!(
            b["messages"][0]["content"][0]["cache_control"],
            json!({ "type": "ephemeral", "ttl": "5m" })
        );

        // Four explicit breakpoints already: no fifth (Anthropic's limit).
        let part = |t: &str| json!({ "type": "text", "text": t, "cache_control": { "type": "ephemeral" } });
        let b = body(json!({
            "messages": [{ "role": "user", "content": [
                part("a"), part("b"), part("c"), part("d"), { "type": "text", "text": "e" }
            ] }],
            "cache_control": { "type": "ephemeral" }
        }));
        assert!(
            b["messages"][0]["content"][4]
                .get("cache_control")
                .is_none()
        );
    }

    #[test]
    fn budget_from_effort_is_a_share_of_max_tokens() {
        let b = body(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "max_tokens": 10000,
            "reasoning": { "effort": "high" },
            "temperature": 0.3,
            "top_k": 5,
            "top_p": 0.5
        }));
        assert_eq!(b["max_tokens"], json!(10000));
        assert_eq!(
            b["thinking"],
            json!({ "type": "enabled", "budget_tokens": 8000 })
        );
        assert!(b.get("temperature").is_none());
        assert!(b.get("top_k").is_none());
        assert!(b.get("top_p").is_none());
    }

    #[test]
    fn budget_that_does_not_fit_raises_max_tokens_within_the_cap() {
        let request: ChatRequest = serde_json::from_value(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "reasoning": { "max_tokens": 6000 }
        }))
        .unwrap();
        let b = messages_body(&request, "m", false, None).unwrap().body;
        assert_eq!(b["max_tokens"], json!(6000 + DEFAULT_MAX_TOKENS));
        assert_eq!(b["thinking"]["budget_tokens"], json!(6000));
        let b = messages_body(&request, "m", false, Some(8000))
            .unwrap()
            .body;
        assert_eq!(b["max_tokens"], json!(8000));
        assert_eq!(b["thinking"]["budget_tokens"], json!(6000));
        let b = messages_body(&request, "m", false, Some(5000))
            .unwrap()
            .body;
        assert_eq!(b["max_tokens"], json!(5000));
        assert_eq!(b["thinking"]["budget_tokens"], json!(4999));
    }

    #[test]
    fn small_budgets_are_raised_to_the_minimum() {
        let b = body(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "reasoning_effort": "low"
        }));
        // 20 % of 4096 is 819, under Anthropic's 1024.
        assert_eq!(b["thinking"]["budget_tokens"], json!(1024));
        assert_eq!(b["max_tokens"], json!(4096));
    }

    #[test]
    fn default_max_tokens_respects_a_smaller_endpoint_cap() {
        let request: ChatRequest = serde_json::from_value(json!({
            "messages": [{ "role": "user", "content": "Hi" }]
        }))
        .unwrap();
        let b = messages_body(&request, "m", false, Some(1000))
            .unwrap()
            .body;
        assert_eq!(b["max_tokens"], json!(1000));
    }

    #[test]
    fn reasoning_off_sends_no_thinking_and_keeps_sampling() {
        let b = body(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "reasoning": { "effort": "none" },
            "temperature": 1.7,
            "top_k": 0
        }));
        assert!(b.get("thinking").is_none());
        assert_eq!(b["temperature"], json!(1.0));
        assert!(b.get("top_k").is_none());
    }

    #[test]
    fn invalid_tool_arguments_name_the_message() {
        let request: ChatRequest = serde_json::from_value(json!({
            "messages": [
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "tool_calls": [
                    { "id": "t1", "type": "function", "function": { "name": "f", "arguments": "{oops" } }
                ] }
            ]
        }))
        .unwrap();
        let err = messages_body(&request, "m", false, None).unwrap_err();
        assert!(err.invalid);
        assert!(
            err.message
                .starts_with("messages[1].tool_calls[0].function.arguments is not valid JSON"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unsupported_parts_and_images_are_reported() {
        let request: ChatRequest = serde_json::from_value(json!({
            "messages": [{ "role": "user", "content": [
                { "type": "input_audio", "input_audio": { "data": "AAA=", "format": "wav" } }
            ] }]
        }))
        .unwrap();
        let err = messages_body(&request, "m", false, None).unwrap_err();
        assert!(!err.invalid);
        assert!(
            err.message.starts_with("messages[0].content[0]"),
            "{}",
            err.message
        );
        let request: ChatRequest = serde_json::from_value(json!({
            "messages": [{ "role": "user", "content": [
                { "type": "image_url", "image_url": { "url": "data:image/bmp;base64,Qk0=" } }
            ] }]
        }))
        .unwrap();
        let err = messages_body(&request, "m", false, None).unwrap_err();
        assert!(err.message.contains("image/bmp"), "{}", err.message);
    }

    #[test]
    fn thinking_fragments_with_one_index_are_one_block() {
        let blocks = thinking_blocks(&[
            json!({ "type": "reasoning.text", "text": "Let me ", "index": 0, "format": "anthropic-claude-v1" }),
            json!({ "type": "reasoning.text", "text": "think.", "index": 0 }),
            json!({ "type": "reasoning.text", "signature": "sig-a", "index": 0 }),
            json!({ "type": "reasoning.text", "text": "unsigned", "index": 1 }),
            json!({ "type": "reasoning.encrypted", "data": "opaque", "format": "anthropic-claude-v1" }),
            json!({ "type": "reasoning.encrypted", "data": "gemini", "format": "google-gemini-v1" }),
        ]);
        assert_eq!(
            blocks,
            [
                json!({ "type": "thinking", "thinking": "Let me think.", "signature": "sig-a" }),
                json!({ "type": "redacted_thinking", "data": "opaque" }),
            ]
        );
    }

    #[test]
    fn parallel_tool_calls_false_without_tool_choice() {
        let b = body(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "tools": [{ "type": "function", "function": { "name": "f" } }],
            "parallel_tool_calls": false
        }));
        assert_eq!(
            b["tool_choice"],
            json!({ "type": "auto", "disable_parallel_tool_use": true })
        );
        assert_eq!(
            b["tools"],
            json!([{ "name": "f", "input_schema": { "type": "object", "properties": {} } }])
        );
    }

    #[test]
    fn json_mode_with_tools_becomes_an_instruction() {
        let b = body(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "tools": [{ "type": "function", "function": { "name": "f" } }],
            "response_format": { "type": "json_object" }
        }));
        assert_eq!(
            b["system"],
            json!(
                "Respond only with a JSON object, with no other text and no Markdown code fence."
            )
        );
        assert!(b.get("tool_choice").is_none());
    }

    #[test]
    fn whitespace_stop_sequences_are_dropped() {
        let b = body(json!({
            "messages": [{ "role": "user", "content": "Hi" }],
            "stop": ["\n", "END"]
        }));
        assert_eq!(b["stop_sequences"], json!(["END"]));
    }
}
