//! Pure translation between Tollgate's OpenAI-shaped wire types and the
//! Anthropic Messages API (`POST /v1/messages`): the request body out; the
//! message, stream events and error bodies in. No I/O here.
//!
//! # The request
//!
//! | OpenAI-shaped request | Anthropic |
//! |---|---|
//! | `model` | the endpoint's upstream model id |
//! | `system` / `developer` messages (anywhere) | `system`, in order: a string when there is exactly one text without `cache_control`, else text blocks (with `cache_control` kept) |
//! | `user` messages | `user` turns; content always sent as blocks |
//! | consecutive messages of the same Anthropic role | merged into one turn (Anthropic requires alternating roles); empty messages are skipped first |
//! | `tool` messages | `tool_result` blocks (`tool_use_id` = `tool_call_id`; `is_error` and `cache_control` from the message's extra keys) in a `user` turn; consecutive results (and a user message right after them) share that turn |
//! | assistant `tool_calls` | `tool_use` blocks (`id` kept; `arguments` parsed: empty → `{}`, invalid JSON or not an object → HTTP 400 naming `messages[i].tool_calls[j]`) |
//! | assistant `reasoning_details` (`reasoning.text` with a `signature`, `reasoning.encrypted`; format `anthropic-claude-v1` or none) | `thinking` / `redacted_thinking` blocks first in the turn, so signed thinking round-trips; fragments with the same `index` are joined first; unsigned text and other formats are dropped |
//! | text parts | `text` blocks, `cache_control` kept; empty text is skipped (Anthropic rejects it) |
//! | `image_url` parts | `data:` URLs of png, jpeg, gif, webp → `image` with a `base64` source; http(s) URLs → `image` with a `url` source; other types → unsupported |
//! | `file` parts | a PDF `data:` URL or an http(s) URL → `document`; anything else → unsupported |
//! | audio, video, legacy `function` messages | unsupported (another endpoint may take them) |
//! | a final `assistant` message | sent as the last assistant turn: a prefill, which the model continues; its trailing whitespace is trimmed (Anthropic rejects it). The answer holds **only the continuation**, as OpenRouter's does: the prefill is not prepended |
//! | `max_completion_tokens` / `max_tokens` | `max_tokens`, capped by the endpoint's maximum when the call knows it; absent → [`DEFAULT_MAX_TOKENS`] (4096, or the endpoint's maximum when smaller): Anthropic requires it |
//! | `stop` | `stop_sequences` (whitespace-only sequences are dropped: Anthropic rejects them) |
//! | `temperature` | clamped to Anthropic's 0..1 |
//! | `top_p`, `top_k` | kept (`top_k` ≤ 0 means "off" and is not sent) |
//! | `tools` (function tools) | `{name, description, input_schema, cache_control}`; a tool without `parameters` gets an empty object schema; OpenRouter server tools are dropped |
//! | `tool_choice` | `auto` → `auto`, `required` → `any`, `none` → `none`, a named function → `tool`; dropped when no tool is left |
//! | `parallel_tool_calls: false` | `disable_parallel_tool_use: true` on `tool_choice` (`auto` when none was given) |
//! | `reasoning` / `reasoning_effort` / `include_reasoning` | `thinking: {type: enabled, budget_tokens}`: `reasoning.max_tokens` is the budget; an effort is a share of `max_tokens` (minimal 10 %, low 20 %, medium 50 %, high 80 %, xhigh 90 %, max 95 %; `enabled: true` alone is medium), never under 1024 (Anthropic's minimum). When the budget does not fit under `max_tokens`, `max_tokens` becomes budget + `max_tokens` (then the endpoint cap applies). Effort `none` / `enabled: false` sends no `thinking`. With thinking on, `temperature` and `top_k` are not sent and `top_p` only when ≥ 0.95 (Anthropic rejects other values) |
//! | `response_format` `json_object` / `json_schema` | without tools and without thinking: a forced tool (`tool_choice: {type: tool}`) named after the schema (`json_response` for `json_object`) whose `input_schema` is the schema; its input becomes the answer's `content` (a JSON text) and `finish_reason` is `stop`. With tools or thinking (where a forced tool is impossible or ambiguous), or a schema whose top level is not an object: an instruction appended to `system` |
//! | `user` | `metadata.user_id` |
//! | top-level `cache_control` (automatic caching; the chat request's, or a Messages request's) | put on the last cacheable block: the last content block of the last message (not a thinking block), else the last system block, else the last tool; not when that block has one, nor when the request already has Anthropic's maximum of 4 breakpoints; never sent top-level |
//! | `anthropic_passthrough` (kept in `extra` by the Messages ingress) | its `tools` (server tools) appended to `tools`; its `fields` (an Anthropic request's other top-level fields) added to the body as they are, where the body has no such key |
//! | `frequency_penalty`, `presence_penalty`, `repetition_penalty`, `seed`, `logit_bias`, `logprobs`, `top_logprobs`, `min_p`, `top_a`, `n`, `prediction`, and everything OpenRouter-only | dropped: Anthropic has no equivalent |
//!
//! # The answer
//!
//! | Anthropic | OpenAI-shaped |
//! |---|---|
//! | `text` blocks | `message.content`, joined; `null` when the turn is only tool calls |
//! | `thinking` blocks | `message.reasoning` (joined) and `reasoning_details` `{type: "reasoning.text", text, signature, format: "anthropic-claude-v1", index}` |
//! | `redacted_thinking` blocks | `reasoning_details` `{type: "reasoning.encrypted", data, format, index}` |
//! | `tool_use` blocks | `tool_calls` (`id` kept, `input` serialised as `arguments`) |
//! | text `citations`, server tool blocks (`server_tool_use`, `web_search_tool_result`, ...), other block types | no OpenAI equivalent: the whole `content`, as it came, in the message's extra key `anthropic_content` (outside JSON mode), which the Messages ingress answers with and the chat ingresses leave out |
//! | `stop_sequence` (when one ended the answer) | the choice's extra key `stop_sequence` (also on the stream's finish chunk), for the Messages ingress; the chat ingresses leave it out |
//! | `stop_reason` | `finish_reason`: `end_turn` → `stop`, `stop_sequence` → `stop`, `max_tokens` → `length`, `model_context_window_exceeded` → `length`, `tool_use` → `tool_calls`, `pause_turn` → `stop`, `refusal` → `content_filter`; the raw value is `native_finish_reason` |
//! | `usage` | `prompt_tokens` = `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens` (Anthropic's `input_tokens` counts only the uncached part, OpenAI's `prompt_tokens` everything); `cached_tokens` = cache reads; `cache_write_tokens` = cache writes; `completion_tokens` = `output_tokens` (thinking included; Anthropic does not count it apart, so `reasoning_tokens` is 0) |
//!
//! With `reasoning.exclude` (or `include_reasoning: false`) the model still
//! thinks but `reasoning` and `reasoning_details` are left out, so such a
//! turn cannot replay its thinking.
//!
//! # The stream
//!
//! `message_start` gives the id, model and input usage; `text_delta` →
//! `content`; a `tool_use` block start → a `tool_calls` delta with `index`
//! counting tool calls only (0, 1, ... whatever text or thinking blocks came
//! before), `id`, `type` and `name`, then each `input_json_delta` →
//! an `arguments` fragment at that index; `thinking_delta` → `reasoning`,
//! and at the thinking block's end one whole `reasoning_details` entry with
//! its signature (so a folded stream equals the non-streamed answer);
//! `message_delta` → the finish chunk (with `content: ""` when the answer
//! had neither text nor tool calls, as the non-streamed answer has), then
//! the usage chunk (`choices: []`,
//! input usage from `message_start`, output from `message_delta`);
//! `message_stop` ends; `ping` is ignored; an `error` event ends the stream
//! with its type mapped to a status. The role rides on the first chunk with
//! content, so an error before any content keeps its status and can fail
//! over. A body that ends before `message_delta` is an interruption.

mod request;
mod response;
pub(crate) mod stream;

pub use request::{DEFAULT_MAX_TOKENS, MIN_THINKING_BUDGET, Translated, messages_body};
pub use response::{
    chat_completion, error_from_status, finish_reason, status_for_error_type, usage,
};

/// `format` of the reasoning details this dialect produces and accepts.
pub const REASONING_FORMAT: &str = "anthropic-claude-v1";

/// The `anthropic-version` header sent with every request.
pub const API_VERSION: &str = "2023-06-01";

/// Parameters the Anthropic adapter translates; the rest are dropped.
pub const SUPPORTED_PARAMETERS: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "reasoning_effort",
    "include_reasoning",
    "response_format",
    "structured_outputs",
];

/// How the request was sent, which the answer's translation must know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMode {
    /// The forced tool standing in for JSON mode: its input is the answer.
    pub json_tool: Option<String>,
    /// Leave reasoning out of the answer.
    pub exclude_reasoning: bool,
}
