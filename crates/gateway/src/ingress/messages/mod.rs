//! The Anthropic Messages ingress (`POST /messages`): Anthropic's wire in,
//! any upstream dialect out.
//!
//! # Decoding (Anthropic request → internal chat request)
//!
//! | Anthropic | internal (OpenAI-shaped) |
//! |---|---|
//! | `system` (string or text blocks) | one `system` message (blocks as text parts, `cache_control` kept) |
//! | `user` turn: `text`, `image` (base64 → `data:` URL, url), `document` (base64 PDF → `file` part with a `data:` URL, url, plain `text` source → text) | a `user` message with those parts, `cache_control` kept on each |
//! | `user` turn: `tool_result` blocks | one `tool` message each (`tool_call_id` = `tool_use_id`; string or text/image blocks; `is_error` kept in the message's extra keys, which the Anthropic adapter sends back), before the turn's other blocks |
//! | `assistant` turn: `text` | content (parts when a block has `cache_control`) |
//! | `assistant` turn: `tool_use` | `tool_calls` (`input` serialised as `arguments`) |
//! | `assistant` turn: `thinking` / `redacted_thinking` | `reasoning_details` `reasoning.text` (with its `signature`) / `reasoning.encrypted`, format `anthropic-claude-v1`, so an Anthropic upstream gets them back as they were; a `redacted_thinking` that wraps another dialect's detail (`tollgate-reasoning:` + JSON, as answers write them) becomes that detail again |
//! | `tools` (client tools) | function tools (`input_schema` → `parameters`, `cache_control` kept); server tools (a versioned `type`) only to Anthropic upstreams (below) |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `auto` / `required` / the named function / `none`; `disable_parallel_tool_use` → `parallel_tool_calls: false` |
//! | `thinking` `enabled` + `budget_tokens` / `adaptive` / `disabled` | `reasoning.max_tokens` / `reasoning.enabled: true` / `reasoning.enabled: false` |
//! | `max_tokens` (required), `stop_sequences`, `temperature`, `top_p`, `top_k`, `stream` | the same |
//! | `metadata.user_id` (else `user`) | `user` |
//! | `models`, `provider`, `transforms`, `plugins`, `route`, `usage`, `session_id` | the same (OpenRouter's routing options) |
//!
//! Other unknown top-level keys (but OpenRouter's `reasoning`, `debug`,
//! ...) and server tools ride in the internal request's `extra` under
//! [`ANTHROPIC_PASSTHROUGH`](tollgate_schema::messages::ANTHROPIC_PASSTHROUGH):
//! an Anthropic upstream gets them as they came; the other dialects, which
//! would refuse them, do not.
//!
//! # Encoding (internal answer → Anthropic message)
//!
//! `content` is the thinking (`reasoning_details`, or the plain
//! `reasoning` with an empty signature; another dialect's encrypted
//! reasoning, such as a Gemini thought signature, as a `redacted_thinking`
//! block wrapping the detail), then the text, then one
//! `tool_use` per tool call (`arguments` parsed into `input`);
//! `stop_reason` from the finish reason (`stop` → `end_turn`, or
//! `stop_sequence` / `pause_turn` when the upstream said so; `length` →
//! `max_tokens`; `tool_calls` → `tool_use`; `content_filter` →
//! `refusal`); `usage.input_tokens` is the prompt without its cached part
//! (Anthropic's convention), `cache_read_input_tokens` the cached tokens,
//! `cache_creation_input_tokens` the tokens written to the cache, and
//! `cost` the exact charge, as in `/generation`. When an Anthropic
//! upstream's answer had what the internal answer cannot hold (citations,
//! server tool blocks), its own blocks are the content (see
//! [`ANTHROPIC_CONTENT`](tollgate_schema::messages::ANTHROPIC_CONTENT)).
//! The `id` is the generation's (`gen-...`, also in `X-Generation-Id`).
//!
//! A stream is `message_start` (input usage estimated), then one block at
//! a time (`content_block_start`, deltas, `content_block_stop`) as the
//! chunks' reasoning, text and tool calls change, then `message_delta`
//! (stop reason and the whole usage with the cost) and `message_stop`;
//! `ping` while the upstream has not answered; a failure is `event:
//! error`. Errors are `{"type":"error","error":{"type","message"}}` with
//! the gateway's status ([`error::error_type`]).

mod answer;
mod decode;
mod error;
mod stream;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use answer::answer;
pub use decode::decode;
pub use error::{error, error_response};
pub use stream::{Encoder, PING};

/// `format` of the reasoning details Anthropic thinking travels in.
const REASONING_FORMAT: &str = "anthropic-claude-v1";

/// What a `redacted_thinking` block's `data` starts with when it carries
/// another dialect's encrypted reasoning (a Gemini thought signature, say)
/// rather than Anthropic's: the whole reasoning detail follows as JSON, so
/// the client can send it back and that upstream gets it as it gave it
/// (an Anthropic upstream never sees it).
const FOREIGN_REASONING: &str = "tollgate-reasoning:";

/// The `data` of the `redacted_thinking` block for an encrypted reasoning
/// detail: Anthropic's own data, or another dialect's detail wrapped.
fn redacted_data(detail: &Value) -> String {
    let format = detail.get("format").and_then(Value::as_str);
    if format.is_none_or(|f| f == REASONING_FORMAT) {
        detail
            .get("data")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    } else {
        format!("{FOREIGN_REASONING}{detail}")
    }
}

/// The reasoning detail a wrapped `redacted_thinking` block carries.
fn unwrap_foreign(data: &str) -> Option<Value> {
    let detail: Value = serde_json::from_str(data.strip_prefix(FOREIGN_REASONING)?).ok()?;
    detail.is_object().then_some(detail)
}
