//! Encoding a relayed stream: internal chunks → Anthropic's events
//! (`message_start`, one content block at a time, `message_delta`,
//! `message_stop`; `ping` while waiting; `error` on a failure).

use bytes::Bytes;
use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::chat::ChatChunk;
use tollgate_schema::messages::{
    ANTHROPIC_STOP_SEQUENCE, BlockDelta, ContentBlock, Message as WireMessage, MessageDelta,
    MessagesUsage, RedactedThinkingBlock, StreamEvent, TextBlock, ThinkingBlock, ToolUseBlock,
};
use tollgate_schema::usage::Usage;

use super::answer::{stop_reason, usage};
use super::error::error_object;
use super::redacted_data;
use crate::ingress::{StreamEncoder, StreamInfo, event_frame};

/// The keep-alive event while waiting for the upstream.
pub const PING: &[u8] = b"event: ping\ndata: {\"type\":\"ping\"}\n\n";

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
    /// The stop sequence an Anthropic upstream said ended the answer.
    stop_sequence: Option<String>,
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
            stop_sequence: None,
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
                    stop_sequence: self
                        .stop_sequence
                        .clone()
                        .filter(|_| stop == "stop_sequence"),
                },
                usage: usage.map(self::usage).unwrap_or_default(),
            },
        );
        Self::event(out, &StreamEvent::MessageStop);
    }
}

impl StreamEncoder for Encoder {
    fn chunk(&mut self, chunk: Box<ChatChunk>) -> Option<Bytes> {
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
                self.stop_sequence = choice
                    .extra
                    .get(ANTHROPIC_STOP_SEQUENCE)
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn finish(&mut self, chunk: ChatChunk) -> Bytes {
        let mut out = Vec::new();
        self.end_frames(chunk.usage.as_deref(), &mut out);
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
