//! Messages API stream events → OpenAI chunks (see the module docs for the
//! rules). Pure: the HTTP side feeds it one server-sent event at a time.

use std::collections::HashMap;

use serde_json::{Map, Value};
use tollgate_schema::chat::{ChatChunk, Delta, FunctionCallDelta, ToolCallDelta};
use tollgate_schema::messages::ANTHROPIC_STOP_SEQUENCE;

use super::ResponseMode;
use super::response::{error_object, finish_reason, redacted_detail, thinking_detail, usage};
use crate::native::convert::{chunk, chunk_choice, str_field};
use crate::native::stream::{Decoded, Decoder, Ending, StreamFailure};
use crate::openai::translate::excerpt;
use crate::sse::SseEvent;

/// What a content block (by Anthropic's block `index`) turned out to be.
#[derive(Debug)]
enum Block {
    Text,
    /// A tool call: its OpenAI `tool_calls` index.
    Tool(u32),
    /// The forced JSON-mode tool: its input is the answer's content.
    JsonTool,
    /// A thinking block being received; its detail goes out at its end.
    Thinking {
        index: usize,
        text: String,
        signature: String,
    },
    /// Server tools, redacted thinking (already sent), anything new.
    Other,
}

/// Translates one Messages stream.
#[derive(Debug)]
pub(crate) struct AnthropicDecoder {
    provider: String,
    mode: ResponseMode,
    created: i64,
    id: String,
    model: String,
    role_sent: bool,
    blocks: HashMap<u64, Block>,
    tool_calls: u32,
    reasoning_details: usize,
    json_answer: bool,
    /// Some text went out (an empty answer gets `content: ""` at its end,
    /// as the non-streamed answer has).
    content_sent: bool,
    usage: Map<String, Value>,
    /// `message_delta` came: the finish and usage chunks went out.
    finished: bool,
}

impl AnthropicDecoder {
    /// A decoder stamping `provider` (display name) and `created` on chunks.
    pub(crate) fn new(provider: &str, mode: ResponseMode, created: i64, model: &str) -> Self {
        AnthropicDecoder {
            provider: provider.to_string(),
            mode,
            created,
            id: String::new(),
            model: model.to_string(),
            role_sent: false,
            blocks: HashMap::new(),
            tool_calls: 0,
            reasoning_details: 0,
            json_answer: false,
            content_sent: false,
            usage: Map::new(),
            finished: false,
        }
    }

    fn chunk_with(&mut self, mut delta: Delta, finish: Option<(String, String)>) -> ChatChunk {
        if !self.role_sent {
            delta.role = Some(String::from("assistant"));
            self.role_sent = true;
        }
        chunk(
            &self.id,
            self.created,
            &self.model,
            &self.provider,
            vec![chunk_choice(0, delta, finish)],
            None,
        )
    }

    fn delta(&mut self, delta: Delta) -> Vec<ChatChunk> {
        vec![self.chunk_with(delta, None)]
    }

    fn text(&mut self, text: &str) -> Vec<ChatChunk> {
        if text.is_empty() {
            return Vec::new();
        }
        self.content_sent = true;
        self.delta(Delta {
            content: Some(text.to_string()),
            ..Delta::default()
        })
    }

    fn merge_usage(&mut self, u: Option<&Value>) {
        if let Some(Value::Object(u)) = u {
            for (k, v) in u {
                if !v.is_null() {
                    self.usage.insert(k.clone(), v.clone());
                }
            }
        }
    }

    fn block_start(&mut self, index: u64, block: &Value) -> Vec<ChatChunk> {
        match str_field(block, "type") {
            Some("text") => {
                self.blocks.insert(index, Block::Text);
                self.text(str_field(block, "text").unwrap_or(""))
            }
            Some("tool_use") => {
                let name = str_field(block, "name").unwrap_or("");
                if self.mode.json_tool.as_deref() == Some(name) {
                    self.blocks.insert(index, Block::JsonTool);
                    self.json_answer = true;
                    return Vec::new();
                }
                let k = self.tool_calls;
                self.tool_calls += 1;
                self.blocks.insert(index, Block::Tool(k));
                self.delta(Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: k,
                        id: Some(str_field(block, "id").unwrap_or("").to_string()),
                        kind: Some(String::from("function")),
                        function: Some(FunctionCallDelta {
                            name: Some(name.to_string()),
                            arguments: Some(String::new()),
                        }),
                    }]),
                    ..Delta::default()
                })
            }
            Some("thinking") => {
                let text = str_field(block, "thinking").unwrap_or("").to_string();
                let signature = str_field(block, "signature").unwrap_or("").to_string();
                let detail_index = self.reasoning_details;
                self.reasoning_details += 1;
                let out = self.reasoning(&text);
                self.blocks.insert(
                    index,
                    Block::Thinking {
                        index: detail_index,
                        text,
                        signature,
                    },
                );
                out
            }
            Some("redacted_thinking") => {
                let detail_index = self.reasoning_details;
                self.reasoning_details += 1;
                self.blocks.insert(index, Block::Other);
                if self.mode.exclude_reasoning {
                    return Vec::new();
                }
                let detail = redacted_detail(str_field(block, "data").unwrap_or(""), detail_index);
                self.delta(Delta {
                    reasoning_details: Some(vec![detail]),
                    ..Delta::default()
                })
            }
            _ => {
                self.blocks.insert(index, Block::Other);
                Vec::new()
            }
        }
    }

    fn reasoning(&mut self, text: &str) -> Vec<ChatChunk> {
        if text.is_empty() || self.mode.exclude_reasoning {
            return Vec::new();
        }
        self.delta(Delta {
            reasoning: Some(text.to_string()),
            ..Delta::default()
        })
    }

    fn block_delta(&mut self, index: u64, delta: &Value) -> Vec<ChatChunk> {
        let ty = str_field(delta, "type");
        match (self.blocks.get_mut(&index), ty) {
            (Some(Block::Text), Some("text_delta")) => {
                let text = str_field(delta, "text").unwrap_or("").to_string();
                self.text(&text)
            }
            (Some(Block::Tool(k)), Some("input_json_delta")) => {
                let k = *k;
                let fragment = str_field(delta, "partial_json").unwrap_or("");
                if fragment.is_empty() {
                    return Vec::new();
                }
                let fragment = fragment.to_string();
                self.delta(Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: k,
                        id: None,
                        kind: None,
                        function: Some(FunctionCallDelta {
                            name: None,
                            arguments: Some(fragment),
                        }),
                    }]),
                    ..Delta::default()
                })
            }
            (Some(Block::JsonTool), Some("input_json_delta")) => {
                let fragment = str_field(delta, "partial_json").unwrap_or("").to_string();
                self.text(&fragment)
            }
            (Some(Block::Thinking { text, .. }), Some("thinking_delta")) => {
                let fragment = str_field(delta, "thinking").unwrap_or("");
                text.push_str(fragment);
                let fragment = fragment.to_string();
                self.reasoning(&fragment)
            }
            (Some(Block::Thinking { signature, .. }), Some("signature_delta")) => {
                signature.push_str(str_field(delta, "signature").unwrap_or(""));
                Vec::new()
            }
            // Citations, server tools, deltas for unknown blocks.
            _ => Vec::new(),
        }
    }

    fn block_stop(&mut self, index: u64) -> Vec<ChatChunk> {
        match self.blocks.remove(&index) {
            Some(Block::Thinking {
                index,
                text,
                signature,
            }) if !self.mode.exclude_reasoning => {
                let detail = thinking_detail(&text, Some(&signature), index);
                self.delta(Delta {
                    reasoning_details: Some(vec![detail]),
                    ..Delta::default()
                })
            }
            _ => Vec::new(),
        }
    }

    fn message_delta(&mut self, v: &Value) -> Vec<ChatChunk> {
        self.merge_usage(v.get("usage"));
        self.finished = true;
        let mut out = Vec::new();
        if let Some(native) = v.get("delta").and_then(|d| str_field(d, "stop_reason")) {
            let reason = if self.json_answer && native == "tool_use" {
                "stop"
            } else {
                finish_reason(native)
            };
            // An answer with neither text nor tool calls has empty content,
            // streamed or not.
            let delta = Delta {
                content: (!self.content_sent && self.tool_calls == 0).then(String::new),
                ..Delta::default()
            };
            let mut finish = self.chunk_with(delta, Some((reason.to_string(), native.to_string())));
            let sequence = v.get("delta").and_then(|d| str_field(d, "stop_sequence"));
            if let (Some(sequence), Some(choice)) = (sequence, finish.choices.first_mut()) {
                choice
                    .extra
                    .insert(ANTHROPIC_STOP_SEQUENCE.into(), sequence.into());
            }
            out.push(finish);
        }
        out.push(self.usage_chunk());
        out
    }

    fn usage_chunk(&self) -> ChatChunk {
        chunk(
            &self.id,
            self.created,
            &self.model,
            &self.provider,
            Vec::new(),
            Some(usage(&Value::Object(self.usage.clone()))),
        )
    }
}

impl Decoder for AnthropicDecoder {
    fn event(&mut self, event: &SseEvent) -> Decoded {
        let data = event.data.trim();
        if data.is_empty() {
            return Decoded::Chunks(Vec::new());
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if event.event.as_deref() == Some("error") => {
                return Decoded::Failure(StreamFailure {
                    status: None,
                    code: None,
                    message: excerpt(data.as_bytes()),
                    raw: data.to_string(),
                });
            }
            Err(e) => {
                return Decoded::Invalid {
                    message: format!("stream event is not JSON: {e}"),
                    raw: data.to_string(),
                };
            }
        };
        let ty = str_field(&v, "type")
            .or(event.event.as_deref())
            .unwrap_or("");
        if ty == "error" || event.event.as_deref() == Some("error") {
            let (status, code, message) =
                error_object(&v).unwrap_or_else(|| (None, None, excerpt(data.as_bytes())));
            return Decoded::Failure(StreamFailure {
                status,
                code,
                message,
                raw: data.to_string(),
            });
        }
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let chunks = match ty {
            "message_start" => {
                let message = v.get("message").unwrap_or(&Value::Null);
                if let Some(id) = str_field(message, "id") {
                    self.id = id.to_string();
                }
                if let Some(model) = str_field(message, "model") {
                    self.model = model.to_string();
                }
                self.merge_usage(message.get("usage"));
                Vec::new()
            }
            "content_block_start" => {
                let block = v.get("content_block").cloned().unwrap_or(Value::Null);
                self.block_start(index, &block)
            }
            "content_block_delta" => {
                let delta = v.get("delta").cloned().unwrap_or(Value::Null);
                self.block_delta(index, &delta)
            }
            "content_block_stop" => self.block_stop(index),
            "message_delta" => self.message_delta(&v),
            "message_stop" => {
                let last = if self.finished {
                    Vec::new()
                } else {
                    self.finished = true;
                    vec![self.usage_chunk()]
                };
                return Decoded::Done(last);
            }
            // `ping` and anything new.
            _ => Vec::new(),
        };
        Decoded::Chunks(chunks)
    }

    fn end(&mut self) -> Ending {
        if self.finished {
            // Everything but `message_stop` came: the answer is whole.
            Ending::Complete(Vec::new())
        } else if self.id.is_empty() {
            Ending::Incomplete(String::from(
                "upstream closed the stream before message_start",
            ))
        } else {
            Ending::Incomplete(String::from(
                "upstream closed the stream before message_stop",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulate::StreamAccumulator;
    use serde_json::json;

    fn feed(decoder: &mut AnthropicDecoder, events: &[Value]) -> (Vec<ChatChunk>, bool) {
        let mut out = Vec::new();
        for e in events {
            let event = SseEvent {
                event: str_field(e, "type").map(str::to_owned),
                data: e.to_string(),
                id: None,
            };
            match decoder.event(&event) {
                Decoded::Chunks(c) => out.extend(c),
                Decoded::Done(c) => {
                    out.extend(c);
                    return (out, true);
                }
                other => panic!("{other:?}"),
            }
        }
        (out, false)
    }

    #[test]
    fn tool_indices_count_tool_calls_only() {
        let mut d = AnthropicDecoder::new("A", ResponseMode::default(), 7, "m");
        let (chunks, done) = feed(
            &mut d,
            &[
                json!({"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":5,"output_tokens":1}}}),
                json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
                json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}),
                json!({"type":"content_block_stop","index":0}),
                json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"a","input":{}}}),
                json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"b","input":{}}}),
                json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"y\":"}}),
                json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"}}),
                json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"2}"}}),
                json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}}),
                json!({"type":"message_stop"}),
            ],
        );
        assert!(done);
        let mut acc = StreamAccumulator::new();
        for c in &chunks {
            acc.push(c);
        }
        let done = acc.finish();
        let calls = done.choices[0].message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "toolu_a");
        assert_eq!(calls[0].function.arguments, "{\"x\":1}");
        assert_eq!(calls[1].id, "toolu_b");
        assert_eq!(calls[1].function.arguments, "{\"y\":2}");
        assert_eq!(done.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(done.usage.unwrap().total_tokens, 25);
        // The role rides on the first chunk, which has content.
        assert_eq!(
            chunks[0].choices[0].delta.role.as_deref(),
            Some("assistant")
        );
        assert_eq!(
            chunks[0].choices[0].delta.content.as_deref(),
            Some("Checking.")
        );
    }

    #[test]
    fn ending_before_message_delta_is_incomplete() {
        let mut d = AnthropicDecoder::new("A", ResponseMode::default(), 7, "m");
        feed(
            &mut d,
            &[json!({"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{}}})],
        );
        assert!(matches!(d.end(), Ending::Incomplete(m) if m.contains("message_stop")));
    }

    #[test]
    fn error_events_map_their_type() {
        let mut d = AnthropicDecoder::new("A", ResponseMode::default(), 7, "m");
        let event = SseEvent {
            event: Some("error".into()),
            data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                .into(),
            id: None,
        };
        match d.event(&event) {
            Decoded::Failure(f) => {
                assert_eq!(f.status, Some(529));
                assert_eq!(f.code.as_deref(), Some("overloaded_error"));
                assert_eq!(f.message, "Overloaded");
            }
            other => panic!("{other:?}"),
        }
    }
}
