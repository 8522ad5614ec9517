//! Encoding a finished answer: the internal chat completion → an
//! Anthropic message (see the parent module for the rules).

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatCompletion, ResponseMessage};
use tollgate_schema::messages::{
    ANTHROPIC_CONTENT, ANTHROPIC_STOP_SEQUENCE, ContentBlock, Message as WireMessage,
    MessagesUsage, RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolUseBlock,
};
use tollgate_schema::usage::Usage;

use super::redacted_data;

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

/// The stop sequence that ended the answer, as an Anthropic upstream said
/// (kept in the choice's extra keys), when the stop reason is still
/// `stop_sequence`.
pub(super) fn sequence_of(stop: &str, extra: &Extra) -> Option<String> {
    extra
        .get(ANTHROPIC_STOP_SEQUENCE)
        .and_then(Value::as_str)
        .filter(|_| stop == "stop_sequence")
        .map(str::to_owned)
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
fn upstream_blocks(m: &mut ResponseMessage) -> Option<Vec<ContentBlock>> {
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
    let mut stop_sequence = None;
    let mut content = Vec::new();
    if let Some(choice) = c.choices.into_iter().next() {
        stop = stop_reason(
            choice.finish_reason.as_deref(),
            choice.native_finish_reason.as_deref(),
        );
        stop_sequence = sequence_of(stop, &choice.extra);
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
        stop_sequence,
        usage,
        extra: Extra::new(),
    }
}

/// An answer message's thinking, text and tool calls as content blocks.
fn blocks_of(m: ResponseMessage) -> Vec<ContentBlock> {
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
