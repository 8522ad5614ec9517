//! Pure translation between Tollgate's OpenAI-shaped wire types and the
//! Gemini API (`models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse`, `:batchEmbedContents`): request bodies
//! out; answers, stream events and error bodies in. No I/O here.
//!
//! # The request
//!
//! | OpenAI-shaped request | Gemini |
//! |---|---|
//! | `system` / `developer` messages (anywhere) | `systemInstruction.parts`, in order (text only) |
//! | `user` messages | `user` contents |
//! | `assistant` messages | `model` contents: text parts, then a `functionCall {name, args}` per tool call (`arguments` parsed: empty → `{}`, invalid JSON or not an object → HTTP 400 naming `messages[i].tool_calls[j]`) |
//! | `tool` messages | a `functionResponse {name, response}` part in a `user` content. Gemini has no call ids: the `name` is recovered from the nearest earlier assistant tool call with that `tool_call_id` (else the message's legacy `name`; else HTTP 400). `response` is the content when it is a JSON object, else `{"content": <the text>}` |
//! | consecutive contents of the same role | merged (parallel function responses share one turn, as Gemini wants) |
//! | a final `assistant` message | sent as the last `model` content (a prefill); models differ in whether they continue it. The answer holds only what the model generated |
//! | text parts | `{text}`; `cache_control` is dropped (Gemini caches implicitly) |
//! | `image_url` parts | `data:` URLs → `inlineData {mimeType, data}`; http(s) URLs → `fileData {mimeType, fileUri}` with the type guessed from the URL's extension (png, jpg/jpeg, webp, gif, heic, heif; `image/jpeg` when unknown). Gemini fetches only some URLs (its Files API, YouTube, and public URLs on recent models) |
//! | `input_audio` parts | `inlineData` with `audio/<format>` (`m4a` → `audio/mp4`) |
//! | `file` / `video_url` parts | `data:` URLs → `inlineData`; http(s) URLs → `fileData` (type from the extension; `application/pdf` / `video/mp4` when unknown); uploaded file ids → unsupported |
//! | `tools` (function tools) | one `{functionDeclarations: [{name, description, parameters}]}`. `parameters` is cut down to the OpenAPI subset Gemini accepts (type, format, title, description, nullable, enum, properties, required, items, anyOf, min/max bounds, pattern, default, example, propertyOrdering; `oneOf` → `anyOf`; `type: [T, "null"]` → `type: T, nullable: true`; `const` → a one-value `enum`; every other keyword, e.g. `additionalProperties`, `$schema`, `$ref`, is dropped); a schema without properties is left out (Gemini rejects an empty OBJECT) |
//! | `tool_choice` | `toolConfig.functionCallingConfig.mode`: `auto` → `AUTO`, `required` → `ANY`, `none` → `NONE`, a named function → `ANY` with `allowedFunctionNames: [name]` |
//! | `temperature`, `top_p`, `top_k` (> 0), `seed`, `presence_penalty`, `frequency_penalty` | `generationConfig.temperature`, `topP`, `topK`, `seed`, `presencePenalty`, `frequencyPenalty` |
//! | `max_completion_tokens` / `max_tokens` | `generationConfig.maxOutputTokens` |
//! | `stop` | `generationConfig.stopSequences` |
//! | `n` (> 1) | `generationConfig.candidateCount`; each candidate is a choice |
//! | `response_format` | `json_object` → `responseMimeType: "application/json"`; `json_schema` → that and `responseSchema` (the schema cut down as for tools) |
//! | `reasoning` / `reasoning_effort` / `include_reasoning` | `generationConfig.thinkingConfig`: `reasoning.max_tokens` → `thinkingBudget`; effort minimal 512, low 1024, medium 8192, high / xhigh / max 24576 (the largest budget every 2.5 model takes); `enabled: true` alone → `-1` (dynamic); effort `none` / `enabled: false` → `thinkingBudget: 0` (models that cannot stop thinking, such as 2.5 Pro, answer 400 to it). `includeThoughts: true` unless `reasoning.exclude` |
//! | `parallel_tool_calls`, `logit_bias`, `logprobs`, `top_logprobs`, `repetition_penalty`, `min_p`, `top_a`, `user`, and everything OpenRouter-only | dropped |
//!
//! # The answer
//!
//! | Gemini | OpenAI-shaped |
//! |---|---|
//! | text parts | `content`, joined; `null` when the candidate is only function calls |
//! | `thought: true` parts | `reasoning` (thought summaries; not sent back, as Gemini ignores them) |
//! | `functionCall` parts | `tool_calls` with a synthesized id `call_<k>_<name>` (`k` counts the candidate's calls from 0), or Gemini's own `id` when it sends one; ids are unique within one answer, and a tool result is matched to the nearest earlier call with its id |
//! | `thoughtSignature` on a part | `reasoning_details` `{type: "reasoning.encrypted", data, format: "google-gemini-v1", index}`, with `id` = the call's id on a `functionCall` part. Sent back, it returns to that call's part (Gemini 3 requires it), or to the turn's first part when it has no id |
//! | `finishReason` | `STOP` → `stop` (`tool_calls` when the candidate called functions), `MAX_TOKENS` → `length`, `SAFETY` / `RECITATION` / `PROHIBITED_CONTENT` / `BLOCKLIST` / `SPII` / `IMAGE_SAFETY` → `content_filter`, `MALFORMED_FUNCTION_CALL` / `UNEXPECTED_TOOL_CALL` → `error` (the model produced a call that cannot be used: "stop" would make an agent take the empty turn as an answer), anything else (`OTHER`, `LANGUAGE`, ...) → `stop`; the raw value is `native_finish_reason` |
//! | no candidates and `promptFeedback.blockReason` | one choice with empty `content`, `finish_reason: content_filter`, `native_finish_reason` = the block reason |
//! | `usageMetadata` | `prompt_tokens` = `promptTokenCount` + `toolUsePromptTokenCount`; `completion_tokens` = `candidatesTokenCount` + `thoughtsTokenCount` (OpenAI counts reasoning as completion); `reasoning_tokens` = `thoughtsTokenCount`; `cached_tokens` = `cachedContentTokenCount` |
//! | `responseId`, `modelVersion` | `id`, `model` (the upstream model id when absent) |
//!
//! # The stream
//!
//! Each server-sent event is a whole `GenerateContentResponse` with the new
//! parts only; function calls arrive whole, so each is one `tool_calls`
//! delta with id, name and all arguments. The role rides on a choice's
//! first chunk; a candidate that finishes with neither text nor calls gets
//! `content: ""` with its finish reason, as the non-streamed answer has. The stream has no end marker: it is complete when the body
//! ends after every candidate sent its `finishReason` (or the prompt was
//! blocked); then the usage chunk (`choices: []`, the last `usageMetadata`)
//! closes it. A body that ends earlier is an interruption.
//!
//! # Errors
//!
//! `{"error": {"code", "message", "status", "details"}}`: the HTTP status
//! decides the kind, `status` (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`,
//! ...) is the upstream code. A 400 whose details carry the reason
//! `API_KEY_INVALID` is classified as 401 (the operator's key is wrong: try
//! another provider), with that reason as the code. Without a
//! `Retry-After` header, a `RetryInfo.retryDelay` detail gives the wait. In
//! a stream, the status name maps to an HTTP status (`INVALID_ARGUMENT`
//! 400, `UNAUTHENTICATED` 401, `PERMISSION_DENIED` 403, `NOT_FOUND` 404,
//! `RESOURCE_EXHAUSTED` 429, `INTERNAL` 500, `UNAVAILABLE` 503,
//! `DEADLINE_EXCEEDED` 504).
//!
//! # Embeddings
//!
//! `batchEmbedContents` with one request per input text (`input` a string
//! or strings; token ids and multimodal inputs are unsupported):
//! `dimensions` → `outputDimensionality`; `input_type` → `taskType`
//! (`search_query` / `query` → `RETRIEVAL_QUERY`, `search_document` /
//! `document` / `passage` → `RETRIEVAL_DOCUMENT`, `classification`,
//! `clustering`, `semantic_similarity`, or a Gemini task name as is).
//! `encoding_format: "base64"` is done here, from the floats (little-endian
//! f32). Gemini reports no token usage for embeddings, so `usage` is
//! absent.

mod embeddings;
mod request;
mod response;
mod schema;
pub(crate) mod stream;

pub use embeddings::{embed_body, embeddings};
pub use request::{Translated, generate_body, model_path};
pub use response::{
    chat_completion, error_from_status, finish_reason, status_for_status_name, usage,
};
pub use schema::gemini_schema;

/// `format` of the reasoning details this dialect produces and accepts.
pub const REASONING_FORMAT: &str = "google-gemini-v1";

/// Parameters the Gemini adapter translates; the rest are dropped.
pub const SUPPORTED_PARAMETERS: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "tools",
    "tool_choice",
    "reasoning",
    "reasoning_effort",
    "include_reasoning",
    "response_format",
    "structured_outputs",
];

/// How the request was sent, which the answer's translation must know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMode {
    /// Leave reasoning out of the answer.
    pub exclude_reasoning: bool,
}
