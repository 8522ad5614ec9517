//! Folding a chat stream back into one completion: what the gateway records
//! and bills for a streamed generation (also what was produced before an
//! interruption), and how tests check a stream's content.

use std::collections::BTreeMap;

use serde_json::Value;
use tollgate_schema::Extra;
use tollgate_schema::chat::{
    ChatChunk, ChatCompletion, Choice, FunctionCall, ResponseMessage, ToolCall,
};
use tollgate_schema::usage::Usage;

/// Accumulates [`ChatChunk`]s into a [`ChatCompletion`].
///
/// Text, reasoning and refusal fragments are concatenated per choice; tool
/// call fragments are joined per `index` (the id, type and name come from
/// the first fragment that has them, arguments are concatenated); the last
/// `usage` and `finish_reason` seen win.
#[derive(Debug, Clone, Default)]
pub struct StreamAccumulator {
    id: Option<String>,
    created: i64,
    model: String,
    provider: Option<String>,
    system_fingerprint: Option<String>,
    choices: BTreeMap<u32, ChoiceParts>,
    usage: Option<Usage>,
    chunks: u64,
}

#[derive(Debug, Clone, Default)]
struct ChoiceParts {
    content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    reasoning_details: Vec<Value>,
    tool_calls: BTreeMap<u32, ToolCallParts>,
    finish_reason: Option<String>,
    native_finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct ToolCallParts {
    id: Option<String>,
    kind: Option<String>,
    name: String,
    arguments: String,
}

fn append(slot: &mut Option<String>, fragment: Option<&String>) {
    if let Some(fragment) = fragment {
        slot.get_or_insert_with(String::new).push_str(fragment);
    }
}

impl StreamAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        StreamAccumulator::default()
    }

    /// Takes in one chunk.
    pub fn push(&mut self, chunk: &ChatChunk) {
        self.chunks += 1;
        if self.id.is_none() && !chunk.id.is_empty() {
            self.id = Some(chunk.id.clone());
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        if self.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        if chunk.provider.is_some() {
            self.provider.clone_from(&chunk.provider);
        }
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint
                .clone_from(&chunk.system_fingerprint);
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(Usage::clone(usage));
        }
        for choice in &chunk.choices {
            let parts = self.choices.entry(choice.index).or_default();
            let delta = &choice.delta;
            append(&mut parts.content, delta.content.as_ref());
            append(&mut parts.reasoning, delta.reasoning.as_ref());
            append(&mut parts.refusal, delta.refusal.as_ref());
            if let Some(details) = &delta.reasoning_details {
                parts.reasoning_details.extend(details.iter().cloned());
            }
            for call in delta.tool_calls.iter().flatten() {
                let slot = parts.tool_calls.entry(call.index).or_default();
                if slot.id.is_none() {
                    slot.id.clone_from(&call.id);
                }
                if slot.kind.is_none() {
                    slot.kind.clone_from(&call.kind);
                }
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        slot.name.push_str(name);
                    }
                    if let Some(arguments) = &f.arguments {
                        slot.arguments.push_str(arguments);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                parts.finish_reason.clone_from(&choice.finish_reason);
            }
            if choice.native_finish_reason.is_some() {
                parts
                    .native_finish_reason
                    .clone_from(&choice.native_finish_reason);
            }
        }
    }

    /// How many chunks were taken in.
    pub fn chunk_count(&self) -> u64 {
        self.chunks
    }

    /// The last usage seen.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The text of choice `index` so far.
    pub fn content(&self, index: u32) -> Option<&str> {
        self.choices.get(&index)?.content.as_deref()
    }

    /// The finish reason of choice `index`, once it came.
    pub fn finish_reason(&self, index: u32) -> Option<&str> {
        self.choices.get(&index)?.finish_reason.as_deref()
    }

    /// The completion the chunks add up to.
    pub fn finish(self) -> ChatCompletion {
        let choices = self
            .choices
            .into_iter()
            .map(|(index, parts)| {
                let tool_calls: Vec<ToolCall> = parts
                    .tool_calls
                    .into_values()
                    .map(|c| ToolCall {
                        id: c.id.unwrap_or_default(),
                        kind: c.kind.unwrap_or_else(|| String::from("function")),
                        function: FunctionCall {
                            name: c.name,
                            arguments: c.arguments,
                        },
                        extra: Extra::new(),
                    })
                    .collect();
                let mut message = ResponseMessage::text(String::new());
                message.content = parts.content;
                message.reasoning = parts.reasoning;
                message.refusal = parts.refusal;
                message.reasoning_details =
                    (!parts.reasoning_details.is_empty()).then_some(parts.reasoning_details);
                message.tool_calls = (!tool_calls.is_empty()).then_some(tool_calls);
                Choice {
                    index,
                    message,
                    finish_reason: parts.finish_reason,
                    native_finish_reason: parts.native_finish_reason,
                    logprobs: None,
                    error: None,
                    extra: Extra::new(),
                }
            })
            .collect();
        ChatCompletion {
            id: self.id.unwrap_or_default(),
            object: String::from("chat.completion"),
            created: self.created,
            model: self.model,
            provider: self.provider,
            system_fingerprint: self.system_fingerprint,
            choices,
            usage: self.usage,
            extra: Extra::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(v: Value) -> ChatChunk {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn joins_text_tool_calls_and_usage() {
        let mut acc = StreamAccumulator::new();
        for c in [
            json!({"id":"a","created":5,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}),
            json!({"id":"a","choices":[{"index":0,"delta":{"content":"lo","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]}),
            json!({"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}),
            json!({"id":"a","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}),
        ] {
            acc.push(&chunk(c));
        }
        assert_eq!(acc.chunk_count(), 4);
        assert_eq!(acc.content(0), Some("Hello"));
        let done = acc.finish();
        assert_eq!(done.id, "a");
        assert_eq!(done.created, 5);
        let choice = &done.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let calls = choice.message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "call_1");
        assert_eq!(calls[0].function.arguments, "{\"a\":1}");
        assert_eq!(done.usage.unwrap().total_tokens, 7);
    }
}
