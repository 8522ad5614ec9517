//! Encoding a relayed stream: internal chunks → the Responses API's
//! events, each numbered (`sequence_number`) and framed with its `event:`
//! name: `response.created` and `response.in_progress`, then one output
//! item at a time (reasoning summary, message text or refusal) or the
//! turn's function calls together (so calls an upstream interleaves by
//! index each get all their fragments before their `.done` events), then
//! `response.completed` (or `response.incomplete`) with the usage; a
//! failure is `response.failed`.

use bytes::Bytes;
use serde_json::{Value, json};
use tollgate_schema::chat::ChatChunk;
use tollgate_schema::responses::{
    FunctionCallItem, OutputContent, OutputItem, OutputMessage, Response, ResponseError,
};

use super::answer::{frame, reasoning_item, status, usage};
use crate::ingress::{StreamEncoder, StreamInfo, event_frame};

/// The item being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Reasoning,
    Text,
    /// A message whose part is a refusal.
    Refusal,
    /// The turn's function calls (`Encoder::open_calls`): they stay open
    /// together, so fragments of calls that an upstream interleaves by
    /// index each reach their own item before its `.done` events.
    Tools,
}

/// A function call streamed so far.
struct Call {
    index: u32,
    output_index: usize,
    item: FunctionCallItem,
}

/// Encodes a relayed stream as the Responses API's events (see the module
/// docs).
pub struct Encoder {
    info: StreamInfo,
    created: i64,
    started: bool,
    sequence: u64,
    /// The finished output items, in order.
    output: Vec<OutputItem>,
    open: Option<Open>,
    /// The open item's text (reasoning summary or message text).
    text: String,
    /// Reasoning details seen (for the reasoning item's
    /// `encrypted_content`).
    details: Vec<Value>,
    calls: Vec<Call>,
    /// The internal indexes of the open function calls, in output order.
    open_calls: Vec<u32>,
    finish_reason: Option<String>,
    /// The open reasoning item got its text as `reasoning` deltas: the
    /// whole details that adapters send at its end (with the signature)
    /// add no text.
    reasoning_streamed: bool,
}

impl Encoder {
    /// An encoder for one response.
    pub fn new(info: StreamInfo) -> Encoder {
        Encoder {
            info,
            created: 0,
            started: false,
            sequence: 0,
            output: Vec::new(),
            open: None,
            text: String::new(),
            details: Vec::new(),
            calls: Vec::new(),
            open_calls: Vec::new(),
            finish_reason: None,
            reasoning_streamed: false,
        }
    }

    fn event(&mut self, name: &str, mut body: Value, out: &mut Vec<u8>) {
        if let Some(o) = body.as_object_mut() {
            o.insert("type".into(), Value::String(name.to_string()));
            o.insert("sequence_number".into(), json!(self.sequence));
        }
        self.sequence += 1;
        event_frame(name, &body, out);
    }

    fn response(&self, status: &str) -> Response {
        let mut r = frame(&self.info.id, self.created, &self.info.model, status);
        r.output.clone_from(&self.output);
        r
    }

    fn start(&mut self, created: i64, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.created = created;
        let response = self.response("in_progress");
        self.event("response.created", json!({"response": response}), out);
        self.event("response.in_progress", json!({"response": response}), out);
    }

    fn message_id(&self) -> String {
        self.item_id("msg")
    }

    fn reasoning_id(&self) -> String {
        self.item_id("rs")
    }

    /// `<prefix>_<generation id>`, the answer's item id; a later item of
    /// the same type (text after a tool call, interleaved thinking) gets
    /// its output index after it, so ids stay unique.
    fn item_id(&self, prefix: &str) -> String {
        let id = format!("{prefix}_{}", self.info.id);
        let taken = self.output.iter().any(|item| match item {
            OutputItem::Message(m) => m.id == id,
            OutputItem::Reasoning(r) => r.id == id,
            OutputItem::FunctionCall(_) => false,
        });
        if taken {
            format!("{id}_{}", self.output.len())
        } else {
            id
        }
    }

    /// Closes the open item: its `.done` events and `output_item.done`.
    fn close(&mut self, out: &mut Vec<u8>) {
        self.reasoning_streamed = false;
        let Some(open) = self.open.take() else {
            return;
        };
        if open == Open::Tools {
            self.close_calls(out);
            return;
        }
        let output_index = self.output.len();
        let text = std::mem::take(&mut self.text);
        let item = match open {
            Open::Reasoning => {
                let item_id = self.reasoning_id();
                if !text.is_empty() {
                    let part = json!({"type": "summary_text", "text": text});
                    let at = json!({"item_id": item_id, "output_index": output_index, "summary_index": 0});
                    self.event(
                        "response.reasoning_summary_text.done",
                        merge(&at, json!({"text": text})),
                        out,
                    );
                    self.event(
                        "response.reasoning_summary_part.done",
                        merge(&at, json!({"part": part})),
                        out,
                    );
                }
                OutputItem::Reasoning(reasoning_item(
                    &item_id,
                    text,
                    &std::mem::take(&mut self.details),
                ))
            }
            Open::Text => {
                let item_id = self.message_id();
                let part = OutputContent::OutputText {
                    text: text.clone(),
                    annotations: Vec::new(),
                    logprobs: Vec::new(),
                };
                let at =
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0});
                self.event(
                    "response.output_text.done",
                    merge(&at, json!({"text": text, "logprobs": []})),
                    out,
                );
                self.event(
                    "response.content_part.done",
                    merge(&at, json!({"part": part})),
                    out,
                );
                let (status, _) = status(self.finish_reason.as_deref());
                OutputItem::Message(OutputMessage {
                    id: item_id,
                    status: status.to_string(),
                    role: String::from("assistant"),
                    content: vec![part],
                })
            }
            Open::Refusal => {
                let item_id = self.message_id();
                let part = OutputContent::Refusal {
                    refusal: text.clone(),
                };
                let at =
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0});
                self.event(
                    "response.refusal.done",
                    merge(&at, json!({"refusal": text})),
                    out,
                );
                self.event(
                    "response.content_part.done",
                    merge(&at, json!({"part": part})),
                    out,
                );
                OutputItem::Message(OutputMessage {
                    id: item_id,
                    status: String::from("completed"),
                    role: String::from("assistant"),
                    content: vec![part],
                })
            }
            Open::Tools => return,
        };
        self.event(
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
            out,
        );
        self.output.push(item);
    }

    /// Closes the open function calls, in output order: each one's
    /// `function_call_arguments.done` and `output_item.done`.
    fn close_calls(&mut self, out: &mut Vec<u8>) {
        for i in std::mem::take(&mut self.open_calls) {
            let Some(call) = self.calls.iter_mut().find(|c| c.index == i) else {
                continue;
            };
            call.item.status = String::from("completed");
            let (item, output_index) = (call.item.clone(), call.output_index);
            self.event(
                "response.function_call_arguments.done",
                json!({"item_id": item.id, "output_index": output_index, "name": item.name, "arguments": item.arguments}),
                out,
            );
            let item = OutputItem::FunctionCall(item);
            self.event(
                "response.output_item.done",
                json!({"output_index": output_index, "item": item}),
                out,
            );
            self.output.push(item);
        }
    }

    /// Opens function call `index` (the calls' group opened first, closing
    /// another item): its `output_item.added`, at the next output index.
    fn open_call(&mut self, index: u32, out: &mut Vec<u8>) {
        self.open(Open::Tools, out);
        let output_index = self.output.len() + self.open_calls.len();
        let Some(call) = self.calls.iter_mut().find(|c| c.index == index) else {
            return;
        };
        call.output_index = output_index;
        let item = OutputItem::FunctionCall(call.item.clone());
        self.open_calls.push(index);
        self.event(
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
            out,
        );
    }

    /// Makes `want` the open item, closing another one first.
    fn open(&mut self, want: Open, out: &mut Vec<u8>) {
        if self.open == Some(want) {
            return;
        }
        self.close(out);
        let output_index = self.output.len();
        match want {
            Open::Reasoning => {
                let item_id = self.reasoning_id();
                let item = json!({"type": "reasoning", "id": item_id, "summary": [], "status": "in_progress"});
                self.event(
                    "response.output_item.added",
                    json!({"output_index": output_index, "item": item}),
                    out,
                );
                self.event(
                    "response.reasoning_summary_part.added",
                    json!({"item_id": item_id, "output_index": output_index, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
                    out,
                );
            }
            Open::Text => {
                let item_id = self.message_id();
                let item = json!({"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []});
                self.event(
                    "response.output_item.added",
                    json!({"output_index": output_index, "item": item}),
                    out,
                );
                self.event(
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                        "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
                    out,
                );
            }
            Open::Refusal => {
                let item_id = self.message_id();
                let item = json!({"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []});
                self.event(
                    "response.output_item.added",
                    json!({"output_index": output_index, "item": item}),
                    out,
                );
                self.event(
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                        "part": {"type": "refusal", "refusal": ""}}),
                    out,
                );
            }
            // Each call's `output_item.added` is `open_call`'s.
            Open::Tools => {}
        }
        self.open = Some(want);
    }

    fn reasoning_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        self.open(Open::Reasoning, out);
        self.text.push_str(delta);
        let item_id = self.reasoning_id();
        let output_index = self.output.len();
        self.event(
            "response.reasoning_summary_text.delta",
            json!({"item_id": item_id, "output_index": output_index, "summary_index": 0, "delta": delta}),
            out,
        );
    }

    fn end(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        self.start(chunk.created, out);
        self.close(out);
        let (status, incomplete) = status(self.finish_reason.as_deref());
        let mut response = self.response(status);
        response.incomplete_details = incomplete;
        response.usage = chunk.usage.as_deref().map(usage);
        if let Some(p) = &chunk.provider {
            response
                .extra
                .insert("provider".into(), Value::String(p.clone()));
        }
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.event(name, json!({"response": response}), out);
    }
}

/// `base`'s keys with `more`'s.
fn merge(base: &Value, more: Value) -> Value {
    let mut v = base.clone();
    if let (Some(o), Value::Object(m)) = (v.as_object_mut(), more) {
        o.extend(m);
    }
    v
}

impl StreamEncoder for Encoder {
    fn chunk(&mut self, chunk: Box<ChatChunk>) -> Option<Bytes> {
        let mut out = Vec::new();
        self.start(chunk.created, &mut out);
        if let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) {
            let d = choice.delta;
            let reasoning = d.reasoning.filter(|r| !r.is_empty());
            if let Some(r) = &reasoning {
                self.reasoning_delta(r, &mut out);
                self.reasoning_streamed = true;
            }
            for detail in d.reasoning_details.into_iter().flatten() {
                let streamed = self.open == Some(Open::Reasoning) && self.reasoning_streamed;
                if reasoning.is_none() && !streamed {
                    let text = match detail.get("type").and_then(Value::as_str) {
                        Some("reasoning.text") => detail.get("text"),
                        Some("reasoning.summary") => detail.get("summary"),
                        _ => None,
                    };
                    if let Some(t) = text.and_then(Value::as_str).filter(|t| !t.is_empty()) {
                        let t = t.to_string();
                        self.reasoning_delta(&t, &mut out);
                    }
                }
                // The details travel in the reasoning item (opened if the
                // upstream sent only an opaque one).
                self.open(Open::Reasoning, &mut out);
                self.details.push(detail);
            }
            if let Some(text) = d.content.filter(|t| !t.is_empty()) {
                self.open(Open::Text, &mut out);
                self.text.push_str(&text);
                let item_id = self.message_id();
                let output_index = self.output.len();
                self.event(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0, "delta": text, "logprobs": []}),
                    &mut out,
                );
            }
            if let Some(refusal) = d.refusal.filter(|t| !t.is_empty()) {
                self.open(Open::Refusal, &mut out);
                self.text.push_str(&refusal);
                let item_id = self.message_id();
                let output_index = self.output.len();
                self.event(
                    "response.refusal.delta",
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0, "delta": refusal}),
                    &mut out,
                );
            }
            for call in d.tool_calls.into_iter().flatten() {
                let f = call.function.unwrap_or_default();
                if !self.calls.iter().any(|c| c.index == call.index) {
                    let call_id = call.id.clone().unwrap_or_default();
                    self.calls.push(Call {
                        index: call.index,
                        output_index: 0,
                        item: FunctionCallItem {
                            id: format!("fc_{call_id}"),
                            call_id,
                            name: f.name.clone().unwrap_or_default(),
                            arguments: String::new(),
                            status: String::from("in_progress"),
                        },
                    });
                }
                let closed = self
                    .calls
                    .iter()
                    .any(|c| c.index == call.index && c.item.status == "completed");
                if !closed && !self.open_calls.contains(&call.index) {
                    self.open_call(call.index, &mut out);
                }
                if let Some(args) = f.arguments.filter(|a| !a.is_empty()) {
                    let Some(c) = self.calls.iter_mut().find(|c| c.index == call.index) else {
                        continue;
                    };
                    c.item.arguments.push_str(&args);
                    let (item_id, output_index) = (c.item.id.clone(), c.output_index);
                    if closed {
                        // A late fragment of a finished call: kept in the
                        // finished item.
                        let item = OutputItem::FunctionCall(c.item.clone());
                        if let Some(slot) = self.output.get_mut(output_index) {
                            *slot = item;
                        }
                    }
                    self.event(
                        "response.function_call_arguments.delta",
                        json!({"item_id": item_id, "output_index": output_index, "delta": args}),
                        &mut out,
                    );
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn finish(&mut self, chunk: ChatChunk) -> Bytes {
        let mut out = Vec::new();
        self.end(&chunk, &mut out);
        Bytes::from(out)
    }

    fn error(&mut self, chunk: ChatChunk) -> Option<Bytes> {
        let body = chunk.error.clone()?;
        let mut out = Vec::new();
        self.start(chunk.created, &mut out);
        self.close(&mut out);
        let mut response = self.response("failed");
        let code = match body.code.status() {
            Some(429) => "rate_limit_exceeded",
            _ => "server_error",
        };
        response.error = Some(ResponseError {
            code: code.to_string(),
            message: body.message,
        });
        self.event("response.failed", json!({"response": response}), &mut out);
        Some(Bytes::from(out))
    }
}
