//! Writing Gemini responses and stream chunks, with `json!` in the shapes
//! generativelanguage.googleapis.com sends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::error::ApiError;
use crate::mock::MockState;
use crate::mock::behaviour::{
    FILLER_PIECE, FinishReason, Output, Reply, ToolCall, Usage, alphanumeric_id, embedding_for,
    reasoning_pieces, split_tokens,
};
use crate::mock::stream::{Frame, FrameKind};

/// What every chunk of one response shares.
pub(super) struct Meta {
    response_id: String,
    model: String,
    include_thoughts: bool,
}

impl Meta {
    /// A response id of 22 alphanumeric characters, unique per response.
    pub(super) fn new(state: &MockState, model: &str, include_thoughts: bool) -> Self {
        let sequence = state.next_sequence();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let name = state.config().name;
        let response_id = alphanumeric_id(
            &[
                name.as_bytes(),
                &sequence.to_le_bytes(),
                &nanos.as_nanos().to_le_bytes(),
            ],
            22,
        );
        Self {
            response_id,
            model: model.to_owned(),
            include_thoughts,
        }
    }
}

/// Gemini's `finishReason` for a reply: `STOP` (also for function calls and
/// stop sequences) or `MAX_TOKENS`.
pub fn finish_reason(reply: &Reply) -> &'static str {
    match reply.finish_reason {
        FinishReason::Stop | FinishReason::ToolCalls => "STOP",
        FinishReason::Length => "MAX_TOKENS",
    }
}

/// The safety ratings of every candidate: all four categories negligible.
fn safety_ratings() -> Value {
    json!([
        { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" },
        { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" },
    ])
}

/// `usageMetadata`: prompt, candidates (without thoughts), total, and
/// `thoughtsTokenCount` when the model thought.
fn usage_json(usage: &Usage) -> Value {
    let mut metadata = json!({
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": usage.output_tokens_without_reasoning(),
        "totalTokenCount": usage.total_tokens(),
    });
    if let (true, Some(fields)) = (usage.reasoning_tokens > 0, metadata.as_object_mut()) {
        fields.insert(
            "thoughtsTokenCount".to_owned(),
            json!(usage.reasoning_tokens),
        );
    }
    metadata
}

/// The usage of the chunks before the last: the prompt only.
fn partial_usage_json(usage: &Usage) -> Value {
    json!({ "promptTokenCount": usage.prompt_tokens, "totalTokenCount": usage.prompt_tokens })
}

fn function_call(call: &ToolCall) -> Value {
    let args: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
    json!({ "functionCall": { "name": call.name, "args": args } })
}

fn thought(text: &str) -> Value {
    json!({ "text": text, "thought": true })
}

/// A `GenerateContentResponse`; without `usageMetadata` when there is no
/// usage to report (`[mock:no_usage]`).
fn response(meta: &Meta, candidate: Value, usage: Option<Value>) -> Value {
    let mut response = json!({
        "candidates": [candidate],
        "modelVersion": meta.model,
        "responseId": meta.response_id,
    });
    if let (Some(usage), Some(fields)) = (usage, response.as_object_mut()) {
        fields.insert("usageMetadata".to_owned(), usage);
    }
    response
}

fn content(parts: Vec<Value>) -> Value {
    json!({ "parts": parts, "role": "model" })
}

/// A non-streamed `GenerateContentResponse`: the thought part first (with
/// `includeThoughts`), then the text part or one `functionCall` part per
/// call.
pub(super) fn response_json(meta: &Meta, reply: &Reply) -> Value {
    let mut parts = Vec::new();
    if let (true, Some(reasoning)) = (meta.include_thoughts, &reply.reasoning) {
        parts.push(thought(reasoning));
    }
    match &reply.output {
        Output::Text(text) => parts.push(json!({ "text": text })),
        Output::Filler(filler) => parts.push(json!({ "text": filler.text() })),
        Output::ToolCalls(calls) => parts.extend(calls.iter().map(function_call)),
    }
    let candidate = json!({
        "content": content(parts),
        "finishReason": finish_reason(reply),
        "index": 0,
        "safetyRatings": safety_ratings(),
    });
    response(
        meta,
        candidate,
        reply.reported_usage().as_ref().map(usage_json),
    )
}

/// How a stream is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// `alt=sse`: `data: <json>\r\n\r\n` events.
    Sse,
    /// No `alt`: one JSON array, written element by element.
    JsonArray,
}

impl Framing {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Self::Sse => "text/event-stream",
            Self::JsonArray => "application/json",
        }
    }

    /// A chunk in this framing; `first` says whether it opens the array.
    fn chunk(self, kind: FrameKind, value: &Value, first: bool) -> Frame {
        match self {
            Self::Sse => Frame::new(kind, format!("data: {value}\r\n\r\n")),
            Self::JsonArray if first => Frame::new(kind, value.to_string()),
            Self::JsonArray => Frame::new(kind, format!(",\r\n{value}")),
        }
    }
}

/// The chunks of a streamed reply, each a complete
/// `GenerateContentResponse`: thought pieces (with `includeThoughts`), then
/// one chunk per token of text, or one chunk with every function call. The
/// last chunk carries the last piece with `finishReason`, the safety ratings
/// and the full `usageMetadata`; earlier chunks report the prompt tokens
/// only (no chunk has `usageMetadata` with `[mock:no_usage]`). No end
/// marker. Filler text is one `"x "` chunk per token, without end when
/// endless.
pub(super) fn frames(meta: &Meta, reply: &Reply, framing: Framing) -> Vec<Frame> {
    let usage = reply.reported_usage();
    // the parts of each chunk, and how often it is sent (`None`: forever)
    let mut steps: Vec<(Vec<Value>, Option<u64>)> = Vec::new();
    if meta.include_thoughts {
        steps.extend(
            reasoning_pieces(reply)
                .into_iter()
                .map(|p| (vec![thought(p)], Some(1))),
        );
    }
    let text = |piece: &str| vec![json!({ "text": piece })];
    let mut endless = false;
    match &reply.output {
        Output::Text(t) => {
            let pieces = split_tokens(t);
            if pieces.is_empty() {
                steps.push((text(""), Some(1)));
            }
            steps.extend(pieces.into_iter().map(|p| (text(p), Some(1))));
        }
        Output::Filler(filler) => match filler.stream_pieces() {
            (None, _) => {
                endless = true;
                steps.push((text(FILLER_PIECE), None));
            }
            // the last piece goes alone, in the chunk with the finish
            (Some(times), Some(odd)) => {
                steps.push((text(FILLER_PIECE), Some(times)));
                steps.push((text(odd), Some(1)));
            }
            (Some(0), None) => steps.push((text(""), Some(1))),
            (Some(times), None) => {
                steps.push((text(FILLER_PIECE), Some(times - 1)));
                steps.push((text(FILLER_PIECE), Some(1)));
            }
        },
        Output::ToolCalls(calls) => {
            steps.push((calls.iter().map(function_call).collect(), Some(1)));
        }
    }
    let mut frames = Vec::new();
    if framing == Framing::JsonArray {
        frames.push(Frame::new(FrameKind::Lead, "["));
    }
    // an endless stream never gets to a last chunk
    let last = if endless {
        usize::MAX
    } else {
        steps.len().saturating_sub(1)
    };
    let mut first = true;
    for (i, (parts, times)) in steps.into_iter().enumerate() {
        if times == Some(0) {
            continue;
        }
        if i == last {
            let candidate = json!({
                "content": content(parts),
                "finishReason": finish_reason(reply),
                "index": 0,
                "safetyRatings": safety_ratings(),
            });
            let value = response(meta, candidate, usage.as_ref().map(usage_json));
            frames.push(framing.chunk(FrameKind::Last, &value, first));
            break;
        }
        let candidate = json!({ "content": content(parts), "index": 0 });
        let value = response(meta, candidate, usage.as_ref().map(partial_usage_json));
        if first {
            // the first chunk of a JSON array has no separator before it
            frames.push(framing.chunk(FrameKind::Content, &value, true));
            first = false;
            let rest = times.map(|n| n - 1);
            frames.push(
                framing
                    .chunk(FrameKind::Content, &value, false)
                    .repeat(rest),
            );
        } else {
            frames.push(
                framing
                    .chunk(FrameKind::Content, &value, false)
                    .repeat(times),
            );
        }
    }
    if framing == Framing::JsonArray {
        frames.push(Frame::new(FrameKind::Tail, "]"));
    }
    frames
}

/// The error chunk Gemini sends when a stream fails mid-way (503
/// `UNAVAILABLE`); `first` says whether no chunk came before it.
pub(super) fn stream_error(framing: Framing, first: bool) -> Vec<Frame> {
    let error = ApiError::status(503).body();
    let mut frames = vec![framing.chunk(FrameKind::Tail, &error, first)];
    if framing == Framing::JsonArray {
        frames.push(Frame::new(FrameKind::Tail, "]"));
    }
    frames
}

/// An `{"values": [...]}` embedding.
pub(super) fn embedding_json(text: &str, dimensions: usize) -> Value {
    json!({ "values": embedding_for(text, dimensions) })
}

/// One entry of the model list.
pub(super) fn model_json(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "version": "001",
        "displayName": id,
        "description": format!("Mock model {id}"),
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "embedContent",
            "batchEmbedContents",
        ],
    })
}
