//! Writing Anthropic Messages responses and stream events, with `json!` in
//! the shapes api.anthropic.com sends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::error::stream_error_data;
use crate::mock::MockState;
use crate::mock::behaviour::{
    FILLER_PIECE, FinishReason, Output, Reply, TOOL_ARGUMENT_FRAGMENT_CHARS, ToolCall, Usage,
    alphanumeric_id, reasoning_pieces, split_tokens, thinking_signature,
};
use crate::mock::stream::{Frame, FrameKind};

/// The `created_at` of listed models.
const MODEL_CREATED_AT: &str = "2025-01-01T00:00:00Z";

/// The id and model every event of one response shares.
pub(super) struct Ids {
    id: String,
    model: String,
}

impl Ids {
    /// `msg_01` + 22 alphanumeric characters, unique per response.
    pub(super) fn new(state: &MockState, model: &str) -> Self {
        let sequence = state.next_sequence();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let name = state.config().name;
        let suffix = alphanumeric_id(
            &[
                name.as_bytes(),
                &sequence.to_le_bytes(),
                &nanos.as_nanos().to_le_bytes(),
            ],
            22,
        );
        Self {
            id: format!("msg_01{suffix}"),
            model: model.to_owned(),
        }
    }
}

/// Anthropic's `stop_reason` for a reply.
pub fn stop_reason(reply: &Reply) -> &'static str {
    match reply.finish_reason {
        FinishReason::Stop if reply.stop_sequence.is_some() => "stop_sequence",
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
    }
}

fn usage_json(usage: &Usage, output_tokens: u32) -> Value {
    json!({
        "input_tokens": usage.uncached_prompt_tokens(),
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": output_tokens,
    })
}

/// A tool call's `input`: its arguments as a JSON object.
fn input(call: &ToolCall) -> Value {
    serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}))
}

/// The content blocks of a reply: a thinking block first (when there is
/// reasoning), then a text block (unless the text is empty) or one
/// `tool_use` block per call.
fn content(reply: &Reply) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some(reasoning) = &reply.reasoning {
        blocks.push(json!({
            "type": "thinking",
            "thinking": reasoning,
            "signature": thinking_signature(reasoning),
        }));
    }
    match &reply.output {
        Output::Text(text) if text.is_empty() => {}
        Output::Text(text) => blocks.push(json!({ "type": "text", "text": text })),
        Output::Filler(filler) if filler.bytes == 0 => {}
        Output::Filler(filler) => blocks.push(json!({ "type": "text", "text": filler.text() })),
        Output::ToolCalls(calls) => blocks.extend(calls.iter().map(|call| {
            json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": input(call) })
        })),
    }
    blocks
}

/// A message; without `usage` under `[mock:no_usage]` (the real API always
/// sends it: this is a broken upstream).
pub(super) fn message_json(ids: &Ids, reply: &Reply) -> Value {
    let mut message = json!({
        "id": ids.id,
        "type": "message",
        "role": "assistant",
        "model": ids.model,
        "content": content(reply),
        "stop_reason": stop_reason(reply),
        "stop_sequence": reply.stop_sequence,
    });
    if let (Some(usage), Some(fields)) = (reply.reported_usage(), message.as_object_mut()) {
        fields.insert(
            "usage".to_owned(),
            usage_json(&usage, usage.completion_tokens),
        );
    }
    message
}

fn event(kind: FrameKind, name: &str, data: &Value) -> Frame {
    Frame::new(kind, format!("event: {name}\ndata: {data}\n\n"))
}

fn block_start(index: usize, block: Value) -> Frame {
    let data = json!({ "type": "content_block_start", "index": index, "content_block": block });
    event(FrameKind::Marker, "content_block_start", &data)
}

fn block_delta(kind: FrameKind, index: usize, delta: Value) -> Frame {
    let data = json!({ "type": "content_block_delta", "index": index, "delta": delta });
    event(kind, "content_block_delta", &data)
}

fn block_stop(index: usize) -> Frame {
    let data = json!({ "type": "content_block_stop", "index": index });
    event(FrameKind::Marker, "content_block_stop", &data)
}

/// The events of a streamed reply: `message_start` (empty content, the
/// input usage and `output_tokens: 1`), `ping`, then per content block a
/// `content_block_start`, its deltas (one `thinking_delta` / `text_delta`
/// per token, `input_json_delta` fragments of a few characters, a
/// `signature_delta` closing a thinking block) and `content_block_stop`;
/// then `message_delta` with the stop reason and the output tokens, and
/// `message_stop`. Filler text is one `text_delta` of `"x "` per token,
/// without end when endless. With `[mock:no_usage]` neither
/// `message_start` nor `message_delta` has a `usage` (the real API always
/// sends both).
pub(super) fn frames(ids: &Ids, reply: &Reply) -> Vec<Frame> {
    let usage = reply.reported_usage();
    let mut message = json!({
        "id": ids.id,
        "type": "message",
        "role": "assistant",
        "model": ids.model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if let (Some(usage), Some(fields)) = (usage, message.as_object_mut()) {
        fields.insert("usage".to_owned(), usage_json(&usage, 1));
    }
    let start = json!({ "type": "message_start", "message": message });
    let mut frames = vec![
        event(FrameKind::Lead, "message_start", &start),
        event(FrameKind::Lead, "ping", &json!({ "type": "ping" })),
    ];
    let mut index = 0;
    if let Some(reasoning) = &reply.reasoning {
        frames.push(block_start(
            index,
            json!({ "type": "thinking", "thinking": "", "signature": "" }),
        ));
        for piece in reasoning_pieces(reply) {
            let delta = json!({ "type": "thinking_delta", "thinking": piece });
            frames.push(block_delta(FrameKind::Content, index, delta));
        }
        let signature =
            json!({ "type": "signature_delta", "signature": thinking_signature(reasoning) });
        frames.push(block_delta(FrameKind::Marker, index, signature));
        frames.push(block_stop(index));
        index += 1;
    }
    match &reply.output {
        Output::Text(text) if text.is_empty() => {}
        Output::Text(text) => {
            frames.push(block_start(index, json!({ "type": "text", "text": "" })));
            for piece in split_tokens(text) {
                let delta = json!({ "type": "text_delta", "text": piece });
                frames.push(block_delta(FrameKind::Content, index, delta));
            }
            frames.push(block_stop(index));
        }
        Output::Filler(filler) if filler.bytes == 0 && !filler.endless => {}
        Output::Filler(filler) => {
            frames.push(block_start(index, json!({ "type": "text", "text": "" })));
            let delta = |piece: &str| {
                let delta = json!({ "type": "text_delta", "text": piece });
                block_delta(FrameKind::Content, index, delta)
            };
            let (times, odd) = filler.stream_pieces();
            frames.push(delta(FILLER_PIECE).repeat(times));
            frames.extend(odd.map(delta));
            frames.push(block_stop(index));
        }
        Output::ToolCalls(calls) => {
            for call in calls {
                let block =
                    json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": {} });
                frames.push(block_start(index, block));
                let chars: Vec<char> = call.arguments.chars().collect();
                for fragment in chars.chunks(TOOL_ARGUMENT_FRAGMENT_CHARS) {
                    let partial: String = fragment.iter().collect();
                    let delta = json!({ "type": "input_json_delta", "partial_json": partial });
                    frames.push(block_delta(FrameKind::Content, index, delta));
                }
                frames.push(block_stop(index));
                index += 1;
            }
        }
    }
    let mut delta = json!({
        "type": "message_delta",
        "delta": { "stop_reason": stop_reason(reply), "stop_sequence": reply.stop_sequence },
    });
    if let (Some(usage), Some(fields)) = (usage, delta.as_object_mut()) {
        let output = json!({ "output_tokens": usage.completion_tokens });
        fields.insert("usage".to_owned(), output);
    }
    frames.push(event(FrameKind::Tail, "message_delta", &delta));
    frames.push(event(
        FrameKind::Tail,
        "message_stop",
        &json!({ "type": "message_stop" }),
    ));
    frames
}

/// The `error` event Anthropic sends when a stream fails mid-way.
pub(super) fn stream_error() -> Frame {
    event(FrameKind::Tail, "error", &stream_error_data())
}

/// One entry of the model list.
pub(super) fn model_json(id: &str) -> Value {
    json!({ "type": "model", "id": id, "display_name": id, "created_at": MODEL_CREATED_AT })
}
