//! `streamGenerateContent?alt=sse` events → OpenAI chunks (see the module
//! docs for the rules). Pure: the HTTP side feeds it one event at a time.

use std::collections::BTreeMap;

use serde_json::Value;
use tollgate_schema::chat::{ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};

use super::ResponseMode;
use super::response::{
    Counters, Piece, block_reason, candidate_finish, error_object, pieces, usage,
};
use crate::native::convert::{chunk, chunk_choice, delta_is_empty, str_field};
use crate::native::stream::{Decoded, Decoder, Ending, StreamFailure};
use crate::openai::translate::excerpt;
use crate::sse::SseEvent;

#[derive(Debug, Default)]
struct Candidate {
    role_sent: bool,
    /// Some text went out (an empty answer gets `content: ""` with its
    /// finish reason, as the non-streamed answer has).
    content_sent: bool,
    counters: Counters,
    finished: bool,
}

/// Translates one Gemini stream.
#[derive(Debug)]
pub(crate) struct GeminiDecoder {
    provider: String,
    mode: ResponseMode,
    created: i64,
    id: String,
    model: String,
    candidates: BTreeMap<u32, Candidate>,
    usage: Option<Value>,
    blocked: bool,
}

impl GeminiDecoder {
    /// A decoder stamping `provider` (display name) and `created` on
    /// chunks; `model` until the stream names its model version.
    pub(crate) fn new(provider: &str, mode: ResponseMode, created: i64, model: &str) -> Self {
        GeminiDecoder {
            provider: provider.to_string(),
            mode,
            created,
            id: String::new(),
            model: model.to_string(),
            candidates: BTreeMap::new(),
            usage: None,
            blocked: false,
        }
    }

    fn candidate_delta(&mut self, position: usize, c: &Value) -> Option<ChunkChoice> {
        let index = c
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(u32::try_from(position).unwrap_or(u32::MAX));
        let exclude = self.mode.exclude_reasoning;
        let state = self.candidates.entry(index).or_default();
        let mut delta = Delta::default();
        let mut calls = Vec::new();
        let mut details = Vec::new();
        // Tool-call indices count the candidate's calls across events.
        let before = state.counters.calls;
        for piece in pieces(c.get("content"), &mut state.counters) {
            match piece {
                Piece::Text(t) => delta.content.get_or_insert_with(String::new).push_str(&t),
                Piece::Thought(t) if !exclude => {
                    delta.reasoning.get_or_insert_with(String::new).push_str(&t);
                }
                Piece::Thought(_) => {}
                Piece::Call(call) => calls.push(ToolCallDelta {
                    index: before + u32::try_from(calls.len()).unwrap_or(u32::MAX),
                    id: Some(call.id),
                    kind: Some(call.kind),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name),
                        arguments: Some(call.function.arguments),
                    }),
                }),
                Piece::Signature(d) if !exclude => details.push(d),
                Piece::Signature(_) => {}
            }
        }
        if !calls.is_empty() {
            delta.tool_calls = Some(calls);
        }
        if !details.is_empty() {
            delta.reasoning_details = Some(details);
        }
        if delta.content.is_some() {
            state.content_sent = true;
        }
        let finish = str_field(c, "finishReason").map(|native| {
            state.finished = true;
            let called = state.counters.calls > 0;
            (
                candidate_finish(native, called).to_string(),
                native.to_string(),
            )
        });
        if finish.is_some() && !state.content_sent && state.counters.calls == 0 {
            delta.content = Some(String::new());
        }
        if delta_is_empty(&delta) && finish.is_none() {
            return None;
        }
        if !state.role_sent {
            delta.role = Some(String::from("assistant"));
            state.role_sent = true;
        }
        Some(chunk_choice(index, delta, finish))
    }
}

impl Decoder for GeminiDecoder {
    fn event(&mut self, event: &SseEvent) -> Decoded {
        let data = event.data.trim();
        if data.is_empty() {
            return Decoded::Chunks(Vec::new());
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                return Decoded::Invalid {
                    message: format!("stream event is not JSON: {e}"),
                    raw: data.to_string(),
                };
            }
        };
        if let Some((status, code, message)) = error_object(&v) {
            return Decoded::Failure(StreamFailure {
                status,
                code,
                message,
                raw: data.to_string(),
            });
        }
        if !v.is_object() {
            return Decoded::Invalid {
                message: format!("unexpected stream event: {}", excerpt(data.as_bytes())),
                raw: data.to_string(),
            };
        }
        if let Some(id) = str_field(&v, "responseId") {
            self.id = id.to_string();
        }
        if let Some(model) = str_field(&v, "modelVersion") {
            self.model = model.to_string();
        }
        if let Some(u) = v.get("usageMetadata").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        let candidates = v
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut choices = Vec::new();
        for (position, c) in candidates.iter().enumerate() {
            if let Some(choice) = self.candidate_delta(position, c) {
                choices.push(choice);
            }
        }
        if candidates.is_empty()
            && let Some(reason) = block_reason(&v)
        {
            self.blocked = true;
            let delta = Delta {
                role: Some(String::from("assistant")),
                content: Some(String::new()),
                ..Delta::default()
            };
            choices.push(chunk_choice(
                0,
                delta,
                Some((String::from("content_filter"), reason.to_string())),
            ));
        }
        if choices.is_empty() {
            return Decoded::Chunks(Vec::new());
        }
        Decoded::Chunks(vec![chunk(
            &self.id,
            self.created,
            &self.model,
            &self.provider,
            choices,
            None,
        )])
    }

    fn end(&mut self) -> Ending {
        let finished = self.blocked
            || (!self.candidates.is_empty() && self.candidates.values().all(|c| c.finished));
        if !finished {
            return Ending::Incomplete(String::from(if self.candidates.is_empty() {
                "upstream closed the stream before any candidate"
            } else {
                "upstream closed the stream before the finish reason"
            }));
        }
        let usage = usage(self.usage.as_ref().unwrap_or(&Value::Null));
        Ending::Complete(vec![chunk(
            &self.id,
            self.created,
            &self.model,
            &self.provider,
            Vec::new(),
            Some(usage),
        )])
    }
}
