//! The OpenAI Responses ingress (`POST /responses`, stateless as
//! OpenRouter serves it): the Responses wire in, any upstream dialect out.
//!
//! # Decoding (Responses request → internal chat request)
//!
//! | Responses | internal (OpenAI chat-shaped) |
//! |---|---|
//! | `instructions` | a `system` message first |
//! | `input` string | one `user` message |
//! | `message` item, role `user` / `system` / `developer` (string or `input_text`, `input_image`, `input_file` parts) | a `user` / `system` message with text, `image_url`, `file` parts |
//! | consecutive `reasoning`, assistant `message`, `function_call` items | one `assistant` message: `reasoning_details` (from `encrypted_content`, see below, else the summary), content, `tool_calls` (`call_id` as the call's id) |
//! | `function_call_output` item | a `tool` message (`tool_call_id` = `call_id`) |
//! | `tools` (`{type: "function", name, description, parameters, strict}`) | function tools |
//! | `tool_choice` (`auto` / `none` / `required` / `{type: "function", name}`), `parallel_tool_calls` | the same |
//! | `text.format` `json_schema` (`name`, `schema`, `strict`) / `json_object` | `response_format` |
//! | `reasoning` `effort`, `summary` (and OpenRouter's `max_tokens`, `enabled`, `exclude`) | `reasoning` |
//! | `max_output_tokens`, `temperature`, `top_p`, `user`, `stream` | `max_tokens` and the same |
//! | `models`, `provider`, `transforms`, `plugins`, `route`, `usage`, `session_id` | the same (OpenRouter's routing options) |
//!
//! `previous_response_id` and `store: true` are a 400: nothing is stored.
//! Other unknown fields are dropped (they are not sent upstream).
//!
//! # Encoding (internal answer → `response` object)
//!
//! `output` is a `reasoning` item (summary from the reasoning text; the
//! upstream's `reasoning_details`, signatures included, in
//! `encrypted_content` as [`REASONING_PREFIX`] + JSON, so sending the item
//! back returns them to the upstream), a `message` item with an
//! `output_text` part (and a `refusal` part when the model refused), then one `function_call` item per tool call.
//! `status` is `completed`, or `incomplete` with
//! `incomplete_details.reason` `max_output_tokens` (finish `length`) or
//! `content_filter`. `usage` has `input_tokens` (cached included, with
//! `input_tokens_details.cached_tokens`), `output_tokens` (with
//! `output_tokens_details.reasoning_tokens`), `total_tokens` and `cost`,
//! the exact charge as in `/generation`. The request's `instructions`,
//! `tools`, `tool_choice`, `parallel_tool_calls`, `temperature`, `top_p`,
//! `metadata`, `max_output_tokens`, `text`, `reasoning` and `user` are
//! echoed in the answer and in a stream's `response` objects ([`Echo`],
//! which the route applies). The `id` is the
//! generation's (`gen-...`, also in `X-Generation-Id`).
//!
//! A stream is the events of [`stream`]: `response.created`,
//! `response.in_progress`, one output item at a time (consecutive
//! function calls stay open together: an upstream may interleave their
//! fragments by index, and each call's `.done` events carry all of its
//! arguments) (`response.output_item.added`, `response.content_part.added`,
//! `response.output_text.delta` / `.done` (or `response.refusal.delta` /
//! `.done`), `response.content_part.done`;
//! `response.reasoning_summary_part.added`,
//! `response.reasoning_summary_text.delta` / `.done`;
//! `response.function_call_arguments.delta` / `.done`;
//! `response.output_item.done`), then `response.completed` (or
//! `response.incomplete`) with the usage; a failure after the first byte
//! is `response.failed` with `response.error`. Errors before the stream
//! are the gateway's (OpenAI's shape).

mod answer;
mod decode;
mod stream;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use serde_json::{Value, json};
use tollgate_schema::responses::{Response, ResponsesRequest, ToolDef};

use crate::ingress::event_frame;

pub use answer::answer;
pub use decode::decode;
pub use stream::Encoder;

/// What a reasoning item's `encrypted_content` starts with when it carries
/// the upstream's reasoning details (JSON follows).
pub const REASONING_PREFIX: &str = "tollgate-reasoning:";

/// `format` of an opaque `encrypted_content` sent back that this gateway
/// did not write (OpenAI's own).
const RESPONSES_REASONING_FORMAT: &str = "openai-responses-v1";

/// The request fields a `response` object echoes.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    instructions: Option<String>,
    metadata: Option<Value>,
    tools: Vec<ToolDef>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_output_tokens: Option<u32>,
    text: Option<Value>,
    reasoning: Option<Value>,
    user: Option<String>,
}

impl Echo {
    /// What `r` says that the answer echoes.
    pub fn of(r: &ResponsesRequest) -> Echo {
        Echo {
            instructions: r.instructions.clone(),
            metadata: r.metadata.clone(),
            tools: r.tools.clone().unwrap_or_default(),
            tool_choice: r.tool_choice.clone(),
            parallel_tool_calls: r.parallel_tool_calls,
            temperature: r.temperature,
            top_p: r.top_p,
            max_output_tokens: r.max_output_tokens,
            text: r.text.as_ref().and_then(|t| serde_json::to_value(t).ok()),
            reasoning: r
                .reasoning
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok()),
            user: r.user.clone(),
        }
    }

    /// Writes the echoed fields into `r`.
    pub fn apply(&self, r: &mut Response) {
        r.instructions.clone_from(&self.instructions);
        r.metadata = self.metadata.clone().unwrap_or_else(|| json!({}));
        r.tools.clone_from(&self.tools);
        if let Some(c) = &self.tool_choice {
            r.tool_choice = c.clone();
        }
        r.parallel_tool_calls = self.parallel_tool_calls.unwrap_or(true);
        r.temperature = self.temperature;
        r.top_p = self.top_p;
        r.max_output_tokens = self.max_output_tokens;
        for (k, v) in [("text", &self.text), ("reasoning", &self.reasoning)] {
            if let Some(v) = v {
                r.extra.insert(k.into(), v.clone());
            }
        }
        if let Some(u) = &self.user {
            r.extra.insert("user".into(), Value::String(u.clone()));
        }
    }

    /// Writes the echoed fields into the `response` objects of a stream's
    /// frames (`response.created`, `response.in_progress` and the last
    /// event); other frames, and frames that are not the encoder's, pass
    /// as they are. `bytes` holds whole frames, as the relay sends them.
    pub fn frames(&self, bytes: Bytes) -> Bytes {
        // JSON escapes quotes inside strings: only a `response` object
        // has this.
        const MARK: &[u8] = b"\"response\":{";
        if !bytes.windows(MARK.len()).any(|w| w == MARK) {
            return bytes;
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return bytes;
        };
        let mut out = Vec::with_capacity(bytes.len() + 256);
        for frame in text.split_inclusive("\n\n") {
            match self.echo_frame(frame) {
                Some(rewritten) => out.extend_from_slice(&rewritten),
                None => out.extend_from_slice(frame.as_bytes()),
            }
        }
        Bytes::from(out)
    }

    fn echo_frame(&self, frame: &str) -> Option<Vec<u8>> {
        let (event, rest) = frame.split_once('\n')?;
        let name = event.strip_prefix("event: ")?;
        let data = rest.strip_prefix("data: ")?.trim_end_matches('\n');
        let mut body: Value = serde_json::from_str(data).ok()?;
        let mut response: Response =
            serde_json::from_value(body.get_mut("response")?.take()).ok()?;
        self.apply(&mut response);
        body["response"] = serde_json::to_value(&response).ok()?;
        let mut out = Vec::with_capacity(frame.len() + 256);
        event_frame(name, &body, &mut out);
        Some(out)
    }
}
