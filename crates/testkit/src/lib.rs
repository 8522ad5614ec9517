//! Test kit for Tollgate: mock upstream model providers that speak the real
//! provider wire dialects, for end-to-end tests, the gateway's `--dev` mode,
//! demos and benchmarks.
//!
//! This crate owns the mocks. It deliberately does **not** depend on
//! `tollgate-schema` or any other Tollgate crate: requests are read as raw
//! JSON and responses written as raw JSON in the provider's own shape, so a
//! bug in the gateway's wire types cannot hide behind the same bug in the
//! mock.
//!
//! # Running a mock
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use tollgate_testkit::{Dialect, Failure, MockConfig, MockServer};
//! let mock = MockServer::start(MockConfig::default()).await?;
//! let base_url = mock.base_url(); // http://127.0.0.1:PORT/v1
//! // ... point a client at base_url ...
//! mock.set_failure(Some(Failure::Status(503)));
//! assert_eq!(mock.request_count(), 0);
//! mock.shutdown().await?;
//!
//! let gemini = MockServer::start(MockConfig {
//!     dialect: Dialect::Gemini,
//!     ..MockConfig::default()
//! })
//! .await?;
//! let base_url = gemini.base_url(); // http://127.0.0.1:PORT/v1beta
//! # Ok(())
//! # }
//! ```
//!
//! [`MockServer::serve`] runs a mock on a listener you bound, until a
//! shutdown future completes; [`MockServer::router`] gives the bare axum
//! router to mount in another app. The `mock-provider` binary wraps
//! `serve` for use outside Rust.
//!
//! # Dialects, endpoints and base URLs
//!
//! [`MockConfig::dialect`] picks the wire format; [`MockHandle::base_url`]
//! is what a provider configuration's `base_url` should be: the origin plus
//! the API version segment, so a client appends only the endpoint path.
//!
//! | Dialect | `base_url()` | Endpoints |
//! |---|---|---|
//! | [`Dialect::OpenAi`] | `http://127.0.0.1:PORT/v1` | `POST /chat/completions`, `POST /completions`, `POST /embeddings`, `GET /models`, `GET /models/{id}` |
//! | [`Dialect::Anthropic`] | `http://127.0.0.1:PORT/v1` | `POST /messages`, `POST /messages/count_tokens`, `GET /models`, `GET /models/{id}` |
//! | [`Dialect::Gemini`] | `http://127.0.0.1:PORT/v1beta` | `POST /models/{model}:generateContent`, `:streamGenerateContent` (`?alt=sse`: SSE; without: a streamed JSON array), `:countTokens`, `:embedContent`, `:batchEmbedContents`; `GET /models`, `GET /models/{model}` |
//!
//! (Anthropic's own SDKs take the bare origin and add `/v1/messages`;
//! [`MockHandle::origin`] gives `http://127.0.0.1:PORT`.) Unknown paths get
//! the dialect's 404 error. Every response carries `x-request-id` (and
//! Anthropic's also `request-id`) and `x-mock-provider: <config name>`.
//!
//! # Deterministic behaviour (every dialect)
//!
//! Tests in other crates rely on these rules; [`count_tokens`],
//! [`reply_for`], [`anthropic::reply_for`], [`gemini::reply_for`] and the
//! [`behaviour`] module compute the same values without a server. Each
//! dialect reduces its request to a [`behaviour::Conversation`] (see
//! [`openai::conversation`], [`anthropic::conversation`],
//! [`gemini::conversation`] for how), so the same conversation gets the
//! same reply, token counts and tool decision in all three.
//!
//! **Reply.** `"echo: "` followed by the text of the last user message
//! (content parts: the text parts concatenated; images are counted, not
//! echoed). No user message: `"echo: "`. If the last message is a tool
//! result (OpenAI `tool` message, Anthropic user message with
//! `tool_result` blocks, Gemini content with `functionResponse` parts), the
//! reply is `"echo: tool result: <its content>"` (of the last result, when
//! one message carries several). A final assistant message (prefill) does
//! not change the reply.
//!
//! **Tokens.** A word (maximal run of alphanumeric characters) is one
//! token, every other non-whitespace character is one token, whitespace is
//! free: `"Hello, world!"` is 4 tokens. Prompt tokens = for each message
//! 3 + tokens of its text + 85 per image (+ tokens of the function names and
//! argument strings of an assistant's tool calls), plus 3 for priming the
//! reply. A system prompt (Anthropic `system`, Gemini `systemInstruction`)
//! is a message. Tool definitions, message names and earlier thinking
//! blocks are not counted. Completion tokens = tokens of the reply as sent
//! (after cutting), or, for tool calls, the tokens of each function name
//! plus its arguments (as compact JSON), plus the reasoning tokens.
//!
//! **Limits.** Stop sequences (OpenAI `stop`, Anthropic `stop_sequences`,
//! Gemini `stopSequences`) cut the reply before the earliest occurrence of
//! any of them (Anthropic then reports `stop_reason: "stop_sequence"` and
//! the sequence). Then, if the reply has more tokens than the limit
//! (`max_completion_tokens` or else `max_tokens`; Anthropic `max_tokens`;
//! Gemini `maxOutputTokens`) allows, it is cut to that many tokens with the
//! finish reason `length` / `max_tokens` / `MAX_TOKENS`. Tool calls and
//! reasoning are never cut, and reasoning does not count against the limit.
//!
//! **Tools.** With tools and a user message last, the mock calls a tool
//! when the choice forces one (OpenAI `"required"` or a named function,
//! Anthropic `any` / `tool`, Gemini `ANY`), or (choice auto or absent)
//! when the user text has the word `tool` or `tools` or contains a tool's
//! name (case-insensitive); never with choice none. It calls the named
//! function, else the first tool whose name the text contains, else the
//! first tool. If parallel calls are allowed (OpenAI `parallel_tool_calls`
//! not `false`, Anthropic no `disable_parallel_tool_use`, Gemini always),
//! the text contains `parallel`, at least two tools exist and no function is
//! forced, it calls the first two tools instead. Arguments are
//! `{"query":<user text>}` (or, for a tool whose parameters have properties
//! but no `query`, or require another one, generated from them: see
//! Structured output). Each call has an id derived from the
//! conversation and the call's position: OpenAI `call_` + 24 alphanumeric
//! characters, Anthropic `toolu_01` + 22 (Gemini shows no ids).
//!
//! **Thinking.** When the request asks for it (Anthropic
//! `thinking: {"type": "enabled", ...}`; Gemini
//! `thinkingConfig.includeThoughts: true` or a non-zero `thinkingBudget`)
//! the reply has a reasoning text: `"thinking about: "` followed by what
//! the reply echoes (the user text, or `tool result: ...`). Its tokens are
//! completion tokens (Gemini reports them as `thoughtsTokenCount`, apart
//! from `candidatesTokenCount`). Anthropic's thinking block carries the
//! signature [`behaviour::thinking_signature`] (base64 of SHA-256); Gemini
//! sends the thought part only with `includeThoughts: true`. The OpenAI
//! dialect thinks for a model whose name contains `reason` (`mock/reasoner`)
//! unless `reasoning_effort` (or `reasoning.effort`) is `"none"` or
//! `reasoning.enabled` is false, and for any model asked for it
//! (`reasoning_effort`, or a `reasoning` object); the reasoning goes in the
//! message's `reasoning` and `reasoning_content` (OpenRouter's and
//! DeepSeek's names), in deltas of both names before the content, and in
//! `completion_tokens_details.reasoning_tokens`.
//!
//! **Structured output.** A request asking for JSON (OpenAI
//! `response_format` `json_object` / `json_schema`; Gemini
//! `responseMimeType: "application/json"` with `responseSchema` or
//! `responseJsonSchema`; in any dialect, a system message saying to answer
//! only with JSON (`only with a JSON`, `single valid JSON`, ...: see
//! [`behaviour::schema::format_from_instruction`]), with the schema as the
//! JSON object after the word `schema`, as gateways write JSON mode into
//! the prompt)
//! gets compact JSON instead of the echo: `{"echo": <user text>}` for a
//! JSON object (unless a system message gives a schema, the first JSON
//! object after the word `schema`, as instructor's JSON mode does), else a
//! value generated from the schema
//! ([`behaviour::schema::generate`]): an object without `properties`
//! (nor `required`, nor `additionalProperties: false`) is
//! `{"echo": <user text>}`, else every property of an object
//! (required ones always; optional ones until 8 levels deep), the first
//! `enum` value, `const`, the first branch of `anyOf` / `oneOf` / `allOf`,
//! `$ref`s within the schema (`#/$defs/...`), integers and numbers from
//! the prompt's word count clamped into their bounds, `true` for booleans,
//! `max(minItems, 1)` items (at most `maxItems`), and strings that are the
//! prompt's words in turn (fit to `minLength` / `maxLength`; `format`s
//! `date-time`, `date`, `email`, `uri`, `uuid` get a fitting value). Type
//! names are case-insensitive (Gemini's `STRING`). The JSON is then cut by
//! stop sequences and the token limit like any reply. Tool calls use the
//! same generator: a tool whose parameters have properties but no `query`,
//! or require another one (Anthropic's forced JSON tool, instructor's function),
//! gets arguments generated from them.
//!
//! **Directives** in the last user message (or the legacy prompt) script
//! failures in end-to-end tests, and are stripped from the echoed text (the
//! text around them is trimmed and joined with single spaces):
//! `[mock:status=N]` (400..=599) answers with that status and the dialect's
//! error body; `[mock:drop_after=N]` drops the stream after N content chunks
//! (a non-streamed request loses its connection without a response);
//! `[mock:stream_error]` / `[mock:stream_error=N]` sends the dialect's
//! in-stream error after 1 / N content chunks and ends the stream without
//! its end marker (OpenAI: a `data: {"error": {... "type": "server_error"}}`
//! chunk, no `[DONE]`; Anthropic: `event: error` with
//! `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
//! no `message_stop`; Gemini: a `{"error": {"code": 503, ..., "status":
//! "UNAVAILABLE"}}` chunk) — a non-streamed request gets the matching error
//! status instead (500, 529, 503); `[mock:sleep_ms=N]` waits N ms before
//! answering; `[mock:slow]` streams at 5 tokens per second. Prompt tokens
//! count the message as sent, directives included. Other `[mock:...]` text
//! (and a directive whose number does not parse) is left alone.
//!
//! `[mock:refuse]` answers with the dialect's content refusal instead of a
//! reply: OpenAI (Azure OpenAI's content filter) a 400 with `code:
//! "content_filter"` and `innererror.content_filter_result` marking
//! `violence` filtered; Anthropic a 400 `invalid_request_error` "Output
//! blocked by content filtering policy"; Gemini a 400 `INVALID_ARGUMENT`.
//!
//! A mock moderation backend ([`MockModeration`], OpenAI's moderation API)
//! flags any input containing `[mock:flag=CATEGORY]` with that category.
//!
//! **Hostile directives** script an upstream that misbehaves, to test that a
//! gateway bounds what it relays and charges:
//!
//! * `[mock:usage_prompt=N]` / `[mock:usage_completion=N]`: the usage
//!   reports N prompt (input) / completion (output) tokens, whatever the
//!   request and the reply really cost (OpenAI `prompt_tokens` /
//!   `completion_tokens` and `total_tokens`; Anthropic `input_tokens` (N
//!   minus cached tokens) / `output_tokens` of the message and of
//!   `message_delta`, while `message_start` keeps `output_tokens: 1`;
//!   Gemini `promptTokenCount` / `candidatesTokenCount` (N minus thoughts)
//!   and `totalTokenCount`). Streamed or not.
//! * `[mock:no_usage]`: no usage at all: no `usage` in an OpenAI answer, no
//!   usage chunk and no `usage: null` in its stream even with
//!   `stream_options.include_usage`; no `usage` in an Anthropic message nor
//!   in its `message_start` and `message_delta` events (the real API always
//!   sends both); no `usageMetadata` in any Gemini answer or chunk.
//! * `[mock:reply_bytes=N]`: the reply is N bytes of filler text,
//!   `"x x x ..."` (one token per `"x "`, `"x"` last when N is odd: N/2
//!   tokens rounded up), whatever `max_tokens`, stop sequences and tools say,
//!   with the finish reason `length` / `max_tokens` / `MAX_TOKENS`; a stream
//!   sends one `"x "` per content chunk.
//! * `[mock:endless]`: a stream of filler content chunks (`"x "`, paced
//!   like any stream: `[mock:slow]`, `tokens_per_second`) that never ends
//!   until the client goes away (counted in
//!   [`MockHandle::cancelled_streams`]); a non-streamed request gets
//!   `[mock:reply_bytes=N]` bytes of filler, 1 MiB
//!   ([`behaviour::DEFAULT_ENDLESS_REPLY_BYTES`]) without it.
//! * `[mock:echo_key]`, `[mock:echo_key=N]`: a careless upstream echoing
//!   the key it was called with (`Authorization`, `x-api-key`,
//!   `x-goog-api-key`), whole or its first N characters, as
//!   `"key <key>... is invalid"`: the message of an error with the status
//!   of `[mock:status=N]` (400 without it), or, with
//!   `[mock:stream_error]`, of the stream's error event.
//!
//! The usage directives also apply to the OpenAI legacy `/completions`
//! (through the first prompt's directives); filler is for chat replies only.
//! [`behaviour::Reply::usage`] stays what the reply really cost;
//! [`behaviour::Reply::reported_usage`] is what the wire says.
//!
//! **Choices.** The OpenAI chat endpoint honours `n` (1..=128, else 400):
//! `n` identical choices with `index` 0..n, usage counting the prompt once
//! and the completion of every choice. A stream sends each step (role,
//! every content chunk, finish) as one chunk per choice in index order,
//! and counts steps for pacing, `drop_after` and `stream_error`.
//!
//! **Pacing.** A non-streamed reply is sent after `latency + ttft +
//! (completion_tokens - 1) / tokens_per_second`, the time a stream would
//! have taken. In a stream, the events before the content go at once, the
//! first content chunk after `ttft`, the next ones `1 / tokens_per_second`
//! apart. Content chunks are produced only as the client reads them, so a
//! client that goes away stops the generation;
//! [`MockHandle::cancelled_streams`] counts that.
//!
//! **Embeddings** are unit vectors of 8 dimensions (or `dimensions` /
//! `outputDimensionality`) drawn from SHA-256 of each input text
//! ([`behaviour::embedding_for`]).
//!
//! **Context.** With [`MockConfig::context_length`], a chat request whose
//! prompt tokens exceed it is refused with the dialect's error: OpenAI a
//! 400 `{"error": {"message": "This model's maximum context length is N
//! tokens. However, your messages resulted in M tokens. ...", "type":
//! "invalid_request_error", "param": "messages", "code":
//! "context_length_exceeded"}}`; Anthropic a 400 `invalid_request_error`
//! `prompt is too long: M tokens > N maximum`; Gemini a 400
//! `INVALID_ARGUMENT` `The input token count (M) exceeds the maximum number
//! of tokens allowed (N).`
//!
//! **Models.** The model list shows [`MockConfig::models`]; when that is
//! empty any model is accepted and the list shows the models asked about so
//! far. A request for a model outside a non-empty list gets the dialect's
//! 404.
//!
//! # OpenAI wire format
//!
//! **Non-streamed chat** is exactly OpenAI's shape: `id` `chatcmpl-…`,
//! `object` `chat.completion`, `created` (unix seconds), the requested
//! `model`, `system_fingerprint` `fp_mock`, one choice with
//! `message {role, content, refusal: null, tool_calls?}`, `logprobs: null`,
//! `finish_reason`, and `usage` with `prompt_tokens_details {cached_tokens:
//! 0, audio_tokens: 0}` and `completion_tokens_details {reasoning_tokens,
//! audio_tokens, accepted_prediction_tokens, rejected_prediction_tokens}`
//! all 0.
//!
//! **Streams** (`"stream": true`) are `text/event-stream` with events
//! `data: <json>\n\n`: a role chunk (`delta {role: "assistant", content:
//! ""}`, or `content: null` before tool calls), one chunk per token (the
//! token with its leading whitespace), a chunk with an empty delta and the
//! finish reason, then — only if `stream_options.include_usage` is true — a
//! usage chunk with `choices: []` (and then every earlier chunk carries
//! `usage: null`), then `data: [DONE]`. Tool calls stream like OpenAI's: a
//! first chunk per call with `index`, `id`, `type`, `function.name` and
//! empty `arguments`, then argument fragments of 4 characters; parallel
//! calls interleave (call 0 start, fragment, call 1 start, fragment, then
//! alternating). Legacy completions stream `text_completion` chunks with
//! `choices[].text` the same way (no role chunk).
//!
//! **Embeddings**: `encoding_format: "base64"` sends the little-endian `f32`
//! bytes in standard base64. Usage counts the tokens of the inputs.
//!
//! **Errors** are `{"error":{"message","type","param","code"}}`; 429 and
//! 503 add `retry-after: 1` (429 has type `requests`, code
//! `rate_limit_exceeded`; 5xx have type `server_error`). A missing or wrong
//! `Authorization: Bearer` key (when [`MockConfig::api_key`] is set) is a
//! 401. Malformed JSON, a missing `messages` (`prompt`, `input`) or
//! `model`, and wrongly typed limits are 400s.
//!
//! # Anthropic wire format
//!
//! **Requests** need `anthropic-version` (else 400 `anthropic-version:
//! header is required`) and, when [`MockConfig::api_key`] is set,
//! `x-api-key` (missing: 401 `x-api-key header is required`, wrong: 401
//! `invalid x-api-key`, both `authentication_error`). The body is
//! validated like the Messages API does, each failure a 400
//! `invalid_request_error`: `model`, `max_tokens` (≥ 1) and `messages`
//! (non-empty) are required; roles are `user` / `assistant`; the first
//! message is the user's; roles alternate (the current API documentation
//! says consecutive same-role turns are merged: the mock is deliberately
//! stricter, so a client that does not merge them is caught); every
//! `tool_result` answers a `tool_use` id of the message just before, and
//! every `tool_use` is answered in the message just after (when there is
//! one); with `thinking.type == "enabled"`, `budget_tokens` ≥ 1024 and
//! `max_tokens` > `budget_tokens`, no forced `tool_choice` (`any` / `tool`),
//! and `temperature` only 1. `count_tokens` takes the same body without
//! `max_tokens` and answers `{"input_tokens": <prompt tokens>}`.
//!
//! **Non-streamed** replies are `{"id": "msg_01…", "type": "message",
//! "role": "assistant", "model", "content", "stop_reason", "stop_sequence",
//! "usage": {"input_tokens", "cache_creation_input_tokens",
//! "cache_read_input_tokens", "output_tokens"}}`. `content` is a `thinking`
//! block (`thinking`, `signature`) when thinking, then a `text` block
//! (omitted when the text is empty) or one `tool_use` block (`id`, `name`,
//! `input` object) per call. `stop_reason` is `end_turn`, `stop_sequence`,
//! `max_tokens` or `tool_use`. `output_tokens` includes thinking.
//!
//! **Streams** are `text/event-stream; charset=utf-8` with events
//! `event: <type>\ndata: <json>\n\n`: `message_start` (the message with
//! empty `content`, null stop fields and the usage with `output_tokens:
//! 1`), `ping`, then per block `content_block_start` (`index`, the empty
//! block: `thinking` with empty `thinking` and `signature`, `text` with
//! empty `text`, `tool_use` with `id`, `name` and `input: {}`), its
//! `content_block_delta`s (`thinking_delta` / `text_delta` per token, then a
//! `signature_delta` for thinking; `input_json_delta` with `partial_json`
//! fragments of 4 characters for tools, one call after the other) and
//! `content_block_stop`; then `message_delta` (`delta {stop_reason,
//! stop_sequence}`, `usage {output_tokens}`) and `message_stop`. Drops and
//! `[mock:stream_error=N]` count the `thinking_delta`, `text_delta` and
//! `input_json_delta` events.
//!
//! **Prompt cache.** A request's cacheable prefix ends at the last block
//! carrying `cache_control` (a tool definition, a `system` block or a
//! message content block; the order is tools, system, messages). Its token
//! count follows the prompt rules: tools count 0, the system prompt and
//! every earlier message count in full, the breakpoint's message counts 3
//! plus its blocks up to and including the breakpoint (no priming).
//! `cache_read_input_tokens` is the count up to the end of the longest part
//! of that prefix that an earlier request to the same mock ([`MockState`])
//! cached — ending at one of that request's breakpoints, with the same
//! model, tools, system and messages up to there (`cache_control` markers
//! aside); `cache_creation_input_tokens` is the prefix count minus what was
//! read; `input_tokens` is the rest of the prompt. Every breakpoint prefix
//! of a successful request is then cached. There is no minimum length and
//! no expiry; [`MockState::clear_prompt_cache`] forgets everything.
//! [`anthropic::cache_prefix_tokens`] gives the prefix count of a request.
//!
//! **Errors** are `{"type": "error", "error": {"type", "message"},
//! "request_id"}` with Anthropic's types per status (400
//! `invalid_request_error`, 401 `authentication_error`, 402
//! `billing_error`, 403 `permission_error`, 404 `not_found_error`, 413
//! `request_too_large`, 429 `rate_limit_error`, 500 `api_error`, 529
//! `overloaded_error`); 429, 503 and 529 add `retry-after: 1`.
//!
//! # Gemini wire format
//!
//! **Requests** present the key (when [`MockConfig::api_key`] is set) in
//! `x-goog-api-key` or `?key=`: none is a 403 `PERMISSION_DENIED`, a wrong
//! one a 400 `INVALID_ARGUMENT` with an `ErrorInfo` detail of reason
//! `API_KEY_INVALID`, as Google answers. Fields may be camelCase or
//! snake_case. Validation, each failure a 400 `INVALID_ARGUMENT`: unknown
//! fields at the top level, in `generationConfig` or in `thinkingConfig`
//! (`Unknown name "…": Cannot find field.`); empty `contents`; a role other
//! than `user` / `model` (absent is user); empty `parts`; a `functionCall`
//! turn not right after a user turn, a `functionResponse` turn not right
//! after a `functionCall` turn or answering a different number of calls.
//! `countTokens` (with `contents` or a `generateContentRequest`) answers
//! `{"totalTokens": <prompt tokens>}`.
//!
//! **Non-streamed** replies are `{"candidates": [{"content": {"parts",
//! "role": "model"}, "finishReason", "index": 0, "safetyRatings"}],
//! "usageMetadata": {"promptTokenCount", "candidatesTokenCount",
//! "totalTokenCount", "thoughtsTokenCount"?}, "modelVersion": <model>,
//! "responseId"}`. Parts: a `{"text", "thought": true}` part first (with
//! `includeThoughts`), then a `text` part, or one `functionCall` part
//! (`name`, `args` object; no id) per call. `finishReason` is `STOP` (also
//! for function calls and stop sequences) or `MAX_TOKENS`. The safety
//! ratings are the four usual categories, all `NEGLIGIBLE`. No
//! `cachedContentTokenCount`: the mock has no Gemini cache.
//!
//! **Streams** (`:streamGenerateContent?alt=sse`) are `text/event-stream`
//! with events `data: <GenerateContentResponse>\r\n\r\n` and no end
//! marker: one chunk per thought token (with `includeThoughts`), one per
//! text token, or one chunk with every function call, whole. The last
//! chunk carries the last piece together with `finishReason`, the safety
//! ratings and the full `usageMetadata`; earlier chunks carry
//! `usageMetadata {promptTokenCount, totalTokenCount}` (the prompt only).
//! Without `alt=sse` the same chunks form one JSON array
//! (`application/json`). A scripted drop or stream error never lets the
//! last chunk through.
//!
//! **Embeddings.** `:embedContent` (`{"content": {"parts"}, ...}`) answers
//! `{"embedding": {"values"}}`; `:batchEmbedContents` (`{"requests": [...]}`,
//! each naming `"model": "models/<model>"` of the URL, else 400) answers
//! `{"embeddings": [{"values"}, ...]}`. The text is the parts' text
//! concatenated.
//!
//! **Errors** are `{"error": {"code", "message", "status", "details"?}}`
//! with Google's status names (400 `INVALID_ARGUMENT`, 403
//! `PERMISSION_DENIED`, 404 `NOT_FOUND`, 429 `RESOURCE_EXHAUSTED` with a
//! `RetryInfo` detail, 500 `INTERNAL`, 503 `UNAVAILABLE`, 504
//! `DEADLINE_EXCEEDED`, ...).
//!
//! # Failures (every dialect)
//!
//! Before its body is read a request waits [`MockConfig::latency`], then:
//! [`Failure::Timeout`] never answers; a missing or wrong key (when
//! [`MockConfig::api_key`] is set) gets the dialect's error; then
//! [`Failure::Status`] answers with that status and the dialect's error
//! body. [`Failure::DropStreamAfter`] applies to the generating endpoints
//! (chat, completions, messages, generateContent, embeddings): streams are
//! cut after that many content chunks, other requests lose their
//! connection.

#![deny(missing_docs)]

mod error;
pub mod mock;
pub mod moderation;
pub mod search;

pub use error::{Error, Result};
pub use mock::behaviour::{self, Reply, count_tokens};
pub use mock::openai::reply_for;
pub use mock::{
    Dialect, Failure, MockConfig, MockHandle, MockServer, MockState, RecordedRequest,
    SHUTDOWN_GRACE, anthropic, gemini, openai,
};
pub use moderation::MockModeration;
pub use search::{MockSearch, SearchDialect, SearchHandle};
