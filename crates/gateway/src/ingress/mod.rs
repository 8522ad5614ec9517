//! Ingresses: the wire APIs a client can call models through.
//!
//! Every ingress runs on the one generation lifecycle (`crate::pipeline`)
//! by translating at its two edges, and nowhere else:
//!
//! * **decode**: the wire request → the internal [`ChatRequest`] (the
//!   OpenAI-shaped request every adapter translates from), with the
//!   routing options (`provider`, `models`, `transforms`, `plugins`) carried
//!   over; the lifecycle then validates, plans, admits, holds and executes
//!   it like any chat request;
//! * **encode**: the finished answer (a [`ChatCompletion`] whose usage
//!   carries the exact charge) → the wire answer; a relayed stream's
//!   chunks → the wire's events, by a [`StreamEncoder`] that
//!   `pipeline::sse` drives; errors → the wire's error shape.
//!
//! [`Wire`] names the ingress a request came through: `pipeline::sse` asks
//! it for the stream encoder and the keep-alive, `routes::chat::serve_chat`
//! for the generation's `api_type` and the JSON answer. Adding an ingress
//! (say `/responses`) is a `Wire` variant, a module here with its decode,
//! answer, stream encoder and error encoding, and a route (as
//! [`responses`] was).

#[cfg(test)]
mod golden;
pub mod messages;
pub mod responses;

use bytes::Bytes;
use tollgate_schema::chat::{ChatChunk, ChatCompletion};
use tollgate_schema::messages::{ANTHROPIC_CONTENT, ANTHROPIC_STOP_SEQUENCE};
use tollgate_store::ApiType;

use crate::error::ApiError;
use crate::pipeline::shape::{text_chunk, text_completion};

/// The wire API a request came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /chat/completions`.
    Chat,
    /// `POST /completions` (a single prompt mapped onto chat).
    Text,
    /// `POST /messages` (Anthropic Messages).
    Messages,
    /// `POST /responses` (OpenAI Responses).
    Responses,
}

/// What a stream encoder knows about its response.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The generation's id.
    pub id: String,
    /// The model as the client named it.
    pub model: String,
    /// The prompt's estimated tokens (for a wire that reports input usage
    /// before the first token, as Anthropic's `message_start` does).
    pub prompt_estimate: u64,
}

/// Turns the relayed stream of internal chunks into the wire's frames.
/// Each call returns the bytes to write (SSE frames), if any.
pub trait StreamEncoder: Send {
    /// A content chunk, already identified (id, model, provider).
    fn chunk(&mut self, chunk: Box<ChatChunk>) -> Option<Bytes>;
    /// The end of a served stream: `chunk` carries the final usage (with
    /// the cost charged) and no choices.
    fn finish(&mut self, chunk: ChatChunk) -> Bytes;
    /// A failure that ends the stream: `chunk` carries the `error`.
    fn error(&mut self, chunk: ChatChunk) -> Option<Bytes>;
}

impl Wire {
    /// The generation's `api_type` in `/generation`.
    pub fn api_type(self) -> ApiType {
        match self {
            Wire::Chat | Wire::Text => ApiType::Completions,
            Wire::Messages => ApiType::Messages,
            Wire::Responses => ApiType::Responses,
        }
    }

    /// What is sent while waiting for the upstream's first chunk.
    pub fn keepalive(self) -> &'static [u8] {
        match self {
            Wire::Chat | Wire::Text | Wire::Responses => b": OPENROUTER PROCESSING\n\n",
            Wire::Messages => messages::PING,
        }
    }

    /// A fresh encoder for one streamed response.
    pub fn encoder(self, info: StreamInfo) -> Box<dyn StreamEncoder> {
        match self {
            Wire::Chat | Wire::Text => Box::new(OpenAiEncoder {
                wire: self,
                head: None,
            }),
            Wire::Messages => Box::new(messages::Encoder::new(info)),
            Wire::Responses => Box::new(responses::Encoder::new(info)),
        }
    }

    /// The JSON answer of a finished, non-streamed generation.
    pub fn answer(self, mut completion: ChatCompletion) -> Result<Vec<u8>, ApiError> {
        if self != Wire::Messages {
            // An Anthropic upstream's own blocks are for the Messages wire.
            for choice in &mut completion.choices {
                choice.message.extra.remove(ANTHROPIC_CONTENT);
                choice.extra.remove(ANTHROPIC_STOP_SEQUENCE);
            }
        }
        let json = match self {
            Wire::Chat => serde_json::to_vec(&completion),
            Wire::Text => serde_json::to_vec(&text_completion(completion)),
            Wire::Messages => serde_json::to_vec(&messages::answer(completion)),
            Wire::Responses => serde_json::to_vec(&responses::answer(completion)),
        };
        json.map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// OpenAI's SSE: `data: <chunk>` per chunk, `data: [DONE]` at the end.
struct OpenAiEncoder {
    wire: Wire,
    /// The start the chat chunks of this response share, and what it
    /// was rendered from (see [`OpenAiEncoder::chat_frame`]).
    head: Option<Head>,
}

/// `data: {"id":…,"object":…,"created":…,"model":…,"provider":…`,
/// rendered once per response, and the values it was rendered from.
struct Head {
    id: String,
    object: String,
    created: i64,
    model: String,
    provider: String,
    bytes: Vec<u8>,
}

impl Head {
    fn of(chunk: &ChatChunk, provider: &str) -> Option<Head> {
        let mut bytes = Vec::with_capacity(160);
        bytes.extend_from_slice(b"data: {\"id\":");
        serde_json::to_writer(&mut bytes, &chunk.id).ok()?;
        bytes.extend_from_slice(b",\"object\":");
        serde_json::to_writer(&mut bytes, &chunk.object).ok()?;
        bytes.extend_from_slice(b",\"created\":");
        bytes.extend_from_slice(chunk.created.to_string().as_bytes());
        bytes.extend_from_slice(b",\"model\":");
        serde_json::to_writer(&mut bytes, &chunk.model).ok()?;
        bytes.extend_from_slice(b",\"provider\":");
        serde_json::to_writer(&mut bytes, provider).ok()?;
        Some(Head {
            id: chunk.id.clone(),
            object: chunk.object.clone(),
            created: chunk.created,
            model: chunk.model.clone(),
            provider: provider.to_owned(),
            bytes,
        })
    }

    fn fits(&self, chunk: &ChatChunk, provider: &str) -> bool {
        self.created == chunk.created
            && self.id == chunk.id
            && self.model == chunk.model
            && self.provider == provider
            && self.object == chunk.object
    }
}

/// The fields of a chat chunk after those its [`Head`] holds, in
/// [`ChatChunk`]'s order.
#[derive(serde::Serialize)]
struct ChunkTail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: &'a Option<String>,
    choices: &'a [tollgate_schema::chat::ChunkChoice],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: &'a Option<Box<tollgate_schema::usage::Usage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: &'a Option<Box<tollgate_schema::wire_error::ErrorBody>>,
    #[serde(flatten)]
    extra: &'a tollgate_schema::Extra,
}

/// Writes the tail of a chunk of the common shape (choices whose deltas
/// carry only a role and text; no usage, error, log probabilities or
/// unknown keys) after its head: the bytes serde writes for [`ChunkTail`],
/// strings escaped by serde_json, at a fraction of the cost (the derived
/// serializer goes through a map for the flattened `extra`). Returns
/// `false`, writing nothing, for any other chunk.
fn simple_tail(chunk: &ChatChunk, out: &mut Vec<u8>) -> bool {
    let simple = chunk.carries_only_choices()
        && chunk
            .choices
            .iter()
            .all(|c| c.carries_only_delta() && c.delta.carries_only_role_and_text());
    if !simple {
        return false;
    }
    let string = |out: &mut Vec<u8>, s: &str| {
        // Writing a `str` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    };
    if let Some(fp) = &chunk.system_fingerprint {
        out.extend_from_slice(b",\"system_fingerprint\":");
        string(out, fp);
    }
    out.extend_from_slice(b",\"choices\":[");
    for (i, c) in chunk.choices.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"index\":");
        out.extend_from_slice(c.index.to_string().as_bytes());
        out.extend_from_slice(b",\"delta\":{");
        if let Some(role) = &c.delta.role {
            out.extend_from_slice(b"\"role\":");
            string(out, role);
            if c.delta.content.is_some() {
                out.push(b',');
            }
        }
        if let Some(text) = &c.delta.content {
            out.extend_from_slice(b"\"content\":");
            string(out, text);
        }
        out.extend_from_slice(b"},\"finish_reason\":");
        match &c.finish_reason {
            Some(reason) => string(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    true
}

impl OpenAiEncoder {
    fn frame(&mut self, mut chunk: Box<ChatChunk>) -> Option<Bytes> {
        // An Anthropic upstream's stop sequence is for the Messages wire.
        for choice in &mut chunk.choices {
            if !choice.extra.is_empty() {
                choice.extra.remove(ANTHROPIC_STOP_SEQUENCE);
            }
        }
        match self.wire {
            Wire::Text => data_frame(&text_chunk(*chunk)),
            _ => self.chat_frame(&chunk),
        }
    }

    /// A chat chunk: the head its response's chunks share, rendered once,
    /// then the rest serialised (the same bytes as serialising the whole
    /// chunk, at a fraction of the cost over a 200-chunk stream).
    fn chat_frame(&mut self, chunk: &ChatChunk) -> Option<Bytes> {
        let Some(provider) = chunk.provider.as_deref() else {
            return data_frame(chunk);
        };
        if !self.head.as_ref().is_some_and(|h| h.fits(chunk, provider)) {
            self.head = Head::of(chunk, provider);
        }
        let head = &self.head.as_ref()?.bytes;
        // The tail is written after the head, in the same buffer (sized for
        // a typical token's chunk: no growth on the way): its opening `{`
        // becomes the `,` after the head's fields, or, when the tail is
        // empty (`{}`), its `}` alone closes the object.
        let mut out = Vec::with_capacity(head.len() + 192);
        out.extend_from_slice(head);
        if simple_tail(chunk, &mut out) {
            out.extend_from_slice(b"\n\n");
            return Some(Bytes::from(out));
        }
        let at = out.len();
        serde_json::to_writer(
            &mut out,
            &ChunkTail {
                system_fingerprint: &chunk.system_fingerprint,
                choices: &chunk.choices,
                usage: &chunk.usage,
                error: &chunk.error,
                extra: &chunk.extra,
            },
        )
        .ok()?;
        if out.len() == at + 2 {
            out.truncate(at);
            out.push(b'}');
        } else {
            out[at] = b',';
        }
        out.extend_from_slice(b"\n\n");
        Some(Bytes::from(out))
    }
}

impl StreamEncoder for OpenAiEncoder {
    fn chunk(&mut self, chunk: Box<ChatChunk>) -> Option<Bytes> {
        self.frame(chunk)
    }

    fn finish(&mut self, chunk: ChatChunk) -> Bytes {
        let mut out = self
            .frame(Box::new(chunk))
            .map(|b| b.to_vec())
            .unwrap_or_default();
        out.extend_from_slice(b"data: [DONE]\n\n");
        Bytes::from(out)
    }

    fn error(&mut self, chunk: ChatChunk) -> Option<Bytes> {
        self.frame(Box::new(chunk))
    }
}

/// `data: <json>\n\n`.
pub(crate) fn data_frame<T: serde::Serialize>(value: &T) -> Option<Bytes> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut out, value).ok()?;
    out.extend_from_slice(b"\n\n");
    Some(Bytes::from(out))
}

/// `event: <name>\ndata: <json>\n\n` (Anthropic's framing).
pub(crate) fn event_frame<T: serde::Serialize>(name: &str, value: &T, out: &mut Vec<u8>) {
    if let Ok(json) = serde_json::to_vec(value) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(&json);
        out.extend_from_slice(b"\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schema::from_json_slice;

    #[test]
    fn a_chat_chunk_framed_from_its_head_is_the_chunk_serialised() {
        let mut encoder = OpenAiEncoder {
            wire: Wire::Chat,
            head: None,
        };
        let chunks = [
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","provider":"Mock \"A\"","choices":[{"index":0,"delta":{"role":"assistant","content":"h\u00e9","obfuscation":"zz"},"finish_reason":null}],"service_tier":"default"}"#,
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","provider":"Mock \"A\"","system_fingerprint":"fp","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
            // A new model mid-stream (never in practice): a new head.
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/other","provider":"B","choices":[]}"#,
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","choices":[{"index":0,"delta":{}}]}"#,
            // The common shapes, written by `simple_tail`.
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","provider":"A","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","provider":"A","system_fingerprint":"fp_\"x\"","choices":[{"index":0,"delta":{"content":"h\u00e9 \"q\"\n\t\u0001 </ \ud83d\ude00"},"finish_reason":null}]}"#,
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","provider":"A","choices":[{"index":0,"delta":{"role":"assistant"}},{"index":12,"delta":{"content":"b"},"finish_reason":"stop"}]}"#,
            r#"{"id":"gen-1","object":"chat.completion.chunk","created":7,"model":"mock/echo","provider":"A","choices":[]}"#,
        ];
        for text in chunks {
            let chunk: ChatChunk = from_json_slice(text.as_bytes()).unwrap();
            let expected = data_frame(&chunk).unwrap();
            let got = encoder.chunk(Box::new(chunk)).unwrap();
            assert_eq!(
                std::str::from_utf8(&got).unwrap(),
                std::str::from_utf8(&expected).unwrap()
            );
        }
    }

    #[test]
    fn only_the_common_shape_takes_the_hand_written_tail() {
        let simple: ChatChunk = from_json_slice(
            br#"{"id":"g","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        assert!(simple_tail(&simple, &mut out));
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}"#
        );
        for other in [
            r#"{"id":"g","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
            r#"{"id":"g","choices":[],"service_tier":"default"}"#,
            r#"{"id":"g","choices":[{"index":0,"delta":{"content":"a","obfuscation":"x"}}]}"#,
            r#"{"id":"g","choices":[{"index":0,"delta":{"reasoning":"r"}}]}"#,
            r#"{"id":"g","choices":[{"index":0,"delta":{},"finish_reason":"stop","native_finish_reason":"end_turn"}]}"#,
            r#"{"id":"g","choices":[{"index":0,"delta":{},"logprobs":{"content":[]}}]}"#,
        ] {
            let chunk: ChatChunk = from_json_slice(other.as_bytes()).unwrap();
            let mut out = Vec::new();
            assert!(!simple_tail(&chunk, &mut out), "{other}");
            assert!(out.is_empty(), "{other}");
        }
    }

    #[test]
    fn an_anthropic_upstreams_own_blocks_reach_only_the_messages_wire() {
        let completion: ChatCompletion = from_json_slice(
            br#"{"id":"gen-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,
                "message":{"role":"assistant","content":"Paris.","anthropic_content":[
                    {"type":"text","text":"Paris.","citations":[{"type":"char_location","cited_text":"Paris"}]}]},
                "finish_reason":"stop"}]}"#,
        )
        .unwrap();
        for wire in [Wire::Chat, Wire::Text] {
            let v: serde_json::Value =
                serde_json::from_slice(&wire.answer(completion.clone()).unwrap()).unwrap();
            assert!(
                !v.to_string().contains("anthropic_content"),
                "{wire:?}: {v}"
            );
            assert!(!v.to_string().contains("citations"), "{wire:?}: {v}");
        }
        let v: serde_json::Value =
            serde_json::from_slice(&Wire::Messages.answer(completion).unwrap()).unwrap();
        assert_eq!(
            v["content"][0]["citations"][0]["cited_text"], "Paris",
            "{v}"
        );
    }
}
