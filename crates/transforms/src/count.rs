//! Counting the tokens of a chat request the way OpenAI's cookbook does
//! ("How to count tokens with tiktoken").
//!
//! Each message costs [`TOKENS_PER_MESSAGE`] (3) plus the tokens of its
//! role and content, and a `name` costs its tokens plus
//! [`TOKENS_PER_NAME`] (1); the reply is primed with [`REPLY_PRIMING`] (3)
//! more. The cookbook's function matches the prompt tokens OpenAI's API
//! reports for plain messages (129 for its example on cl100k models, 124
//! on o200k ones; both are fixtures of this crate).
//!
//! What the cookbook does not cover is counted as follows, each choice
//! erring high rather than low:
//! - images: OpenAI's documented cost ([`crate::image`]);
//! - tool definitions: the tokens of their JSON (OpenAI renders them more
//!   compactly, so this counts a little high);
//! - tool calls: name + arguments + [`TOKENS_PER_TOOL_CALL`];
//! - refusal, reasoning text: as text; `reasoning_details`: their JSON;
//! - audio, files, video: a size-based estimate
//!   ([`audio_tokens`], [`file_tokens`], [`video_tokens`]);
//! - unknown content parts: their JSON;
//! - a `json_schema` response format: the tokens of the schema's JSON;
//! - a raw `prompt` (instead of messages): its text, with no overhead.

use tollgate_schema::chat::{ChatRequest, ContentPart, Message, MessageContent, ToolCall};

use crate::image::image_url_tokens;
use crate::tokenizer::TokenCounter;

/// Tokens of chat framing around every message (`<|start|>`, role
/// separator, `<|end|>`).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra tokens when a message has a `name`.
pub const TOKENS_PER_NAME: u64 = 1;
/// Tokens priming the reply (`<|start|>assistant<|message|>`).
pub const REPLY_PRIMING: u64 = 3;
/// Framing tokens of one tool call, besides its name and arguments.
pub const TOKENS_PER_TOOL_CALL: u64 = 3;

/// Token counts of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenCount {
    /// The whole prompt: `per_message` summed, plus `overhead`.
    pub total: u64,
    /// Each message's tokens, framing included, in order.
    pub per_message: Vec<u64>,
    /// Tokens outside the messages: reply priming, tool definitions, a
    /// response schema, a raw `prompt`.
    pub overhead: u64,
}

impl TokenCount {
    /// Builds a count from per-message counts and the overhead.
    pub fn new(per_message: Vec<u64>, overhead: u64) -> Self {
        let total = per_message.iter().sum::<u64>() + overhead;
        TokenCount {
            total,
            per_message,
            overhead,
        }
    }
}

/// Tokens of a whole request (messages or prompt, tools, response schema).
pub fn count_request<C: TokenCounter + ?Sized>(request: &ChatRequest, counter: &C) -> TokenCount {
    let mut count = match &request.messages {
        Some(messages) => count_messages(messages, counter),
        None => TokenCount::default(),
    };
    let mut overhead = count.overhead;
    if let Some(prompt) = &request.prompt {
        overhead += counter.count_text(prompt);
    }
    if let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) {
        overhead += count_json(tools, counter);
    }
    if let Some(schema) = request
        .response_format
        .as_ref()
        .and_then(|f| f.json_schema.as_ref())
    {
        overhead += count_json(schema, counter);
    }
    count.total += overhead - count.overhead;
    count.overhead = overhead;
    count
}

/// Tokens of a list of messages, reply priming included (as overhead).
pub fn count_messages<C: TokenCounter + ?Sized>(messages: &[Message], counter: &C) -> TokenCount {
    let per_message = messages.iter().map(|m| count_message(m, counter)).collect();
    TokenCount::new(per_message, REPLY_PRIMING)
}

/// Tokens of one message, framing included.
pub fn count_message<C: TokenCounter + ?Sized>(message: &Message, counter: &C) -> u64 {
    let mut n = TOKENS_PER_MESSAGE + counter.count_text(message.role.as_str());
    if let Some(content) = &message.content {
        n += count_content(content, counter);
    }
    if let Some(name) = &message.name {
        n += counter.count_text(name) + TOKENS_PER_NAME;
    }
    for call in message.tool_calls.iter().flatten() {
        n += count_tool_call(call, counter);
    }
    if let Some(refusal) = &message.refusal {
        n += counter.count_text(refusal);
    }
    if let Some(reasoning) = &message.reasoning {
        n += counter.count_text(reasoning);
    }
    if let Some(details) = &message.reasoning_details {
        n += count_json(details, counter);
    }
    // The legacy `function_call` of an assistant turn, kept in `extra`.
    if let Some(call) = message.extra.get("function_call") {
        n += count_json(call, counter);
    }
    n
}

/// Tokens of a message's content.
pub fn count_content<C: TokenCounter + ?Sized>(content: &MessageContent, counter: &C) -> u64 {
    match content {
        MessageContent::Text(text) => counter.count_text(text),
        MessageContent::Parts(parts) => parts.iter().map(|p| count_part(p, counter)).sum(),
    }
}

/// Tokens of one content part.
pub fn count_part<C: TokenCounter + ?Sized>(part: &ContentPart, counter: &C) -> u64 {
    match part {
        ContentPart::Text(t) => counter.count_text(&t.text),
        ContentPart::ImageUrl(i) => {
            image_url_tokens(&i.image_url.url, i.image_url.detail.as_deref())
        }
        ContentPart::InputAudio(a) => audio_tokens(a.input_audio.data.len()),
        ContentPart::File(f) => {
            let name = f
                .file
                .filename
                .as_deref()
                .map_or(0, |n| counter.count_text(n));
            name + file_tokens(f.file.file_data.as_deref())
        }
        ContentPart::VideoUrl(v) => video_tokens(&v.video_url.url),
        ContentPart::Other(extra) => count_json(extra, counter),
    }
}

/// Tokens of a tool call: its name, its arguments and
/// [`TOKENS_PER_TOOL_CALL`].
pub fn count_tool_call<C: TokenCounter + ?Sized>(call: &ToolCall, counter: &C) -> u64 {
    TOKENS_PER_TOOL_CALL
        + counter.count_text(&call.function.name)
        + counter.count_text(&call.function.arguments)
}

/// Tokens of a value's compact JSON.
pub fn count_json<T: serde::Serialize + ?Sized, C: TokenCounter + ?Sized>(
    value: &T,
    counter: &C,
) -> u64 {
    match serde_json::to_string(value) {
        Ok(json) => counter.count_text(&json),
        Err(_) => 0,
    }
}

/// Audio input estimate: 10 tokens a second (OpenAI's audio models bill
/// roughly that), with the duration taken from the size of the base64 data
/// at 128 kbit/s. So 1 token per 1,600 decoded bytes, at least 1.
pub fn audio_tokens(base64_len: usize) -> u64 {
    let bytes = base64_len as u64 * 3 / 4;
    bytes.div_ceil(1600).max(1)
}

/// Bytes of file per token: PDFs sent as files are read as text plus page
/// images, which comes to about 1,500 tokens for a 100 KB page.
const FILE_BYTES_PER_TOKEN: u64 = 64;
/// Tokens of a file given by id or URL only (its size unknown): a few
/// pages.
pub const UNKNOWN_FILE_TOKENS: u64 = 4_000;

/// File estimate: 1 token per 64 bytes of a `data:` URL's decoded payload,
/// or [`UNKNOWN_FILE_TOKENS`] when the data is not inline.
pub fn file_tokens(file_data: Option<&str>) -> u64 {
    match file_data.and_then(|d| d.strip_prefix("data:")?.split_once(',')) {
        Some((_, payload)) => (payload.len() as u64 * 3 / 4)
            .div_ceil(FILE_BYTES_PER_TOKEN)
            .max(1),
        None => UNKNOWN_FILE_TOKENS,
    }
}

/// Tokens of a video given by URL: one minute at Gemini's documented 263
/// tokens a second.
pub const UNKNOWN_VIDEO_TOKENS: u64 = 263 * 60;

/// Video estimate: for a `data:` URL, 1 token per 512 decoded bytes (about
/// 263 tokens a second at 1 Mbit/s); otherwise [`UNKNOWN_VIDEO_TOKENS`].
pub fn video_tokens(url: &str) -> u64 {
    match url.strip_prefix("data:").and_then(|r| r.split_once(',')) {
        Some((_, payload)) => (payload.len() as u64 * 3 / 4).div_ceil(512).max(1),
        None => UNKNOWN_VIDEO_TOKENS,
    }
}

#[cfg(test)]
mod tests {
    use tollgate_schema::chat::Role;

    use super::*;
    use crate::Tokenizer;

    /// One token per whitespace-separated word: easy to reason about.
    struct Words;
    impl TokenCounter for Words {
        fn count_text(&self, text: &str) -> u64 {
            text.split_whitespace().count() as u64
        }
    }

    #[test]
    fn message_overhead_follows_the_cookbook() {
        let mut m = Message::text(Role::User, "a b c");
        assert_eq!(count_message(&m, &Words), 3 + 1 + 3);
        m.name = Some("bob".into());
        assert_eq!(count_message(&m, &Words), 3 + 1 + 3 + 1 + 1);
        let count = count_messages(&[m.clone(), m], &Words);
        assert_eq!(count.per_message, vec![9, 9]);
        assert_eq!(count.overhead, 3);
        assert_eq!(count.total, 21);
    }

    #[test]
    fn request_overhead_includes_tools_and_prompt() {
        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        }))
        .unwrap();
        let t = Tokenizer::o200k();
        let count = count_request(&req, &t);
        let tools = count_json(req.tools.as_ref().unwrap(), &t);
        assert!(tools > 5);
        assert_eq!(count.overhead, REPLY_PRIMING + tools);
        assert_eq!(count.total, count.per_message[0] + count.overhead);

        let prompt = ChatRequest {
            prompt: Some("hello world".into()),
            ..ChatRequest::default()
        };
        let count = count_request(&prompt, &t);
        assert_eq!(count.total, 2);
        assert!(count.per_message.is_empty());
    }

    #[test]
    fn tool_calls_and_parts_are_counted() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]
        }))
        .unwrap();
        assert_eq!(count_message(&m, &Words), 3 + 1 + 3 + 1 + 2);
        let m: Message = serde_json::from_value(serde_json::json!({
            "role": "user",
            "content": [
                {"type": "text", "text": "look at this"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]
        }))
        .unwrap();
        assert_eq!(count_message(&m, &Words), 3 + 1 + 3 + 85 + 1445);
    }

    #[test]
    fn media_estimates_are_positive() {
        assert_eq!(audio_tokens(0), 1);
        assert_eq!(audio_tokens(16_000 * 4 / 3), 10);
        assert_eq!(file_tokens(None), UNKNOWN_FILE_TOKENS);
        assert_eq!(file_tokens(Some("data:application/pdf;base64,AAAA")), 1);
        assert_eq!(video_tokens("https://v"), UNKNOWN_VIDEO_TOKENS);
    }
}
