//! The dialect-neutral behaviour core: what a mock replies, how many tokens
//! that costs, how it is paced and how it fails.
//!
//! Every dialect module (`openai`, `anthropic` and `gemini`) turns its wire
//! request into a [`Conversation`], asks [`respond`] for a [`Reply`], and
//! renders the reply in its own wire shape. Nothing here knows about
//! HTTP or JSON field names of a particular provider, so the rules below are
//! the same whichever dialect a test speaks.
//!
//! The rules are spelled out in the crate documentation; the functions here
//! are public so tests in other crates can compute expected values
//! independently of a running server.

mod directives;
mod embedding;
pub mod schema;
mod tokens;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use self::directives::{DEFAULT_ENDLESS_REPLY_BYTES, Directives};
pub use self::embedding::{DEFAULT_EMBEDDING_DIMENSIONS, embedding_for};
pub use self::schema::ResponseFormat;
pub use self::tokens::{count_tokens, split_tokens};
use super::{Failure, MockConfig};

/// Tokens charged for every message of a conversation (OpenAI cookbook).
pub const TOKENS_PER_MESSAGE: u32 = 3;
/// Tokens charged once per conversation for priming the reply.
pub const REPLY_PRIMING_TOKENS: u32 = 3;
/// Tokens charged for each image part of a message.
pub const TOKENS_PER_IMAGE: u32 = 85;
/// Tokens per second of a reply slowed down with the `[mock:slow]` directive.
pub const SLOW_TOKENS_PER_SECOND: f64 = 5.0;
/// Characters per streamed fragment of tool-call arguments.
pub const TOOL_ARGUMENT_FRAGMENT_CHARS: usize = 4;
/// What the reasoning (thinking) text of a reply starts with.
pub const THINKING_PREFIX: &str = "thinking about: ";

/// Who sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// System or developer instructions.
    System,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The result of a tool call.
    Tool,
}

/// One message of a [`Conversation`], reduced to what the mock looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Who sent it.
    pub role: Role,
    /// The text parts, concatenated.
    pub text: String,
    /// How many image parts it had (each costs [`TOKENS_PER_IMAGE`]).
    pub images: u32,
    /// Tokens of content that is not text (tool calls made by the assistant:
    /// tokens of each function name plus its arguments).
    pub extra_tokens: u32,
}

impl Message {
    /// A text-only message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            text: text.into(),
            images: 0,
            extra_tokens: 0,
        }
    }

    /// The prompt tokens this message costs, overhead included.
    pub fn prompt_tokens(&self) -> u32 {
        TOKENS_PER_MESSAGE
            + count_tokens(&self.text)
            + self.images * TOKENS_PER_IMAGE
            + self.extra_tokens
    }
}

/// How the request constrains tool use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// Never call a tool.
    None,
    /// Always call a tool.
    Required,
    /// Call this function.
    Function(String),
}

/// The form of the tool-call ids a dialect uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ToolIdStyle {
    /// `call_` + 24 alphanumeric characters (OpenAI; Gemini, which shows
    /// no ids, uses these internally).
    #[default]
    OpenAi,
    /// `toolu_01` + 22 alphanumeric characters (Anthropic).
    Anthropic,
}

/// A chat request reduced to what the behaviour core needs; each dialect
/// builds one from its wire request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversation {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
    /// Names of the function tools offered, in request order.
    pub tools: Vec<String>,
    /// The tool choice.
    pub tool_choice: ToolChoice,
    /// Whether several tools may be called at once (default true).
    pub parallel_tool_calls: bool,
    /// The completion token limit, if any.
    pub max_tokens: Option<u32>,
    /// Stop sequences (empty strings are ignored).
    pub stop: Vec<String>,
    /// Whether the request asked for reasoning (Anthropic `thinking`,
    /// Gemini `thinkingConfig`): the reply then carries a reasoning text.
    pub thinking: bool,
    /// The form of the tool-call ids.
    pub tool_ids: ToolIdStyle,
    /// The parameters schema of each tool that has one, by name: a tool
    /// whose parameters have properties but no `query` gets arguments
    /// generated from it ([`schema::generate`]).
    pub tool_schemas: BTreeMap<String, Value>,
    /// What the reply's text must be (OpenAI `response_format`, Gemini
    /// `responseMimeType` / `responseSchema`); when `Text`, a system
    /// message asking for JSON in words still counts
    /// ([`schema::format_from_instruction`]).
    pub response_format: ResponseFormat,
}

impl Conversation {
    /// The format the reply takes: the request's (a JSON object with the
    /// schema a system message gives, as instructor's JSON mode asks),
    /// else the one a system message asks for.
    pub fn effective_format(&self) -> ResponseFormat {
        let mut system = self.messages.iter().filter(|m| m.role == Role::System);
        match &self.response_format {
            ResponseFormat::Text => system
                .map(|m| schema::format_from_instruction(&m.text))
                .find(|f| *f != ResponseFormat::Text)
                .unwrap_or_default(),
            ResponseFormat::JsonObject => system
                .find_map(|m| schema::schema_in(&m.text))
                .map_or(ResponseFormat::JsonObject, ResponseFormat::JsonSchema),
            schema @ ResponseFormat::JsonSchema(_) => schema.clone(),
        }
    }
}

/// Why a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The reply is complete, or was cut at a stop sequence.
    Stop,
    /// The reply was cut at the token limit.
    Length,
    /// The reply is a set of tool calls.
    ToolCalls,
}

impl FinishReason {
    /// The OpenAI wire name: `stop`, `length` or `tool_calls`.
    pub fn as_openai(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
        }
    }
}

/// One tool call of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// Derived from the conversation and the call's position, in the form of
    /// [`Conversation::tool_ids`]: `call_` + 24 alphanumeric characters, or
    /// `toolu_01` + 22.
    pub id: String,
    /// The function called.
    pub name: String,
    /// The arguments, a JSON object as a string: `{"query":<user text>}`.
    pub arguments: String,
}

/// What the reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Assistant text.
    Text(String),
    /// Tool calls (the message content is null).
    ToolCalls(Vec<ToolCall>),
    /// Filler text, as a hostile upstream sends it whatever the limits
    /// (`[mock:reply_bytes=N]`, `[mock:endless]`); too long to keep, so
    /// each dialect renders it as it goes.
    Filler(Filler),
}

/// The piece a stream of [`Filler`] text repeats: one token.
pub const FILLER_PIECE: &str = "x ";

/// Filler text: `"x x x ..."`, one token per [`FILLER_PIECE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filler {
    /// Its length in bytes: of a non-streamed answer always, of a stream
    /// unless it is endless.
    pub bytes: usize,
    /// Whether a stream of it goes on until the client goes away.
    pub endless: bool,
}

impl Filler {
    /// The text of [`bytes`](Self::bytes) bytes: [`FILLER_PIECE`] repeated,
    /// then `"x"` when the length is odd.
    pub fn text(&self) -> String {
        let mut text = FILLER_PIECE.repeat(self.bytes / 2);
        if self.bytes % 2 == 1 {
            text.push('x');
        }
        text
    }

    /// The tokens of [`text`](Self::text): half the bytes, rounded up.
    pub fn tokens(&self) -> u32 {
        u32::try_from(self.bytes.div_ceil(2)).unwrap_or(u32::MAX)
    }

    /// How a stream sends it: [`FILLER_PIECE`] this many times (`None`:
    /// without end), then the odd last piece `"x"`, if any. Concatenated,
    /// the pieces of a finite filler are its [`text`](Self::text).
    pub fn stream_pieces(&self) -> (Option<u64>, Option<&'static str>) {
        if self.endless {
            return (None, None);
        }
        let odd = (self.bytes % 2 == 1).then_some("x");
        (Some((self.bytes / 2) as u64), odd)
    }
}

/// Token usage of a reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens of the prompt, overheads included (cached tokens included).
    pub prompt_tokens: u32,
    /// Tokens of the reply, reasoning included.
    pub completion_tokens: u32,
    /// Tokens of the reasoning text (part of `completion_tokens`).
    pub reasoning_tokens: u32,
    /// Prompt tokens read from the prompt cache (part of `prompt_tokens`).
    pub cache_read_tokens: u32,
    /// Prompt tokens written to the prompt cache (part of `prompt_tokens`).
    pub cache_write_tokens: u32,
}

impl Usage {
    /// Prompt plus completion tokens.
    pub fn total_tokens(&self) -> u32 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Prompt tokens neither read from nor written to the cache (Anthropic's
    /// `input_tokens`).
    pub fn uncached_prompt_tokens(&self) -> u32 {
        self.prompt_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// Completion tokens that are not reasoning (Gemini's
    /// `candidatesTokenCount`).
    pub fn output_tokens_without_reasoning(&self) -> u32 {
        self.completion_tokens.saturating_sub(self.reasoning_tokens)
    }
}

/// The mock's complete answer to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Text or tool calls.
    pub output: Output,
    /// The reasoning text, when the conversation asked for thinking:
    /// [`THINKING_PREFIX`] followed by what the reply is about.
    pub reasoning: Option<String>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// The stop sequence the text was cut at, if any (the finish reason is
    /// then [`FinishReason::Stop`]).
    pub stop_sequence: Option<String>,
    /// Token usage: what the reply really cost (one choice of it). What
    /// the wire reports is [`reported_usage`](Self::reported_usage).
    pub usage: Usage,
    /// Directives found in the last user message.
    pub directives: Directives,
}

impl Reply {
    /// The reply text, if the reply is text ([`Output::Filler`] is not
    /// kept as text: see [`Filler::text`]).
    pub fn text(&self) -> Option<&str> {
        match &self.output {
            Output::Text(text) => Some(text),
            Output::ToolCalls(_) | Output::Filler(_) => None,
        }
    }

    /// The tool calls (empty when the reply is text).
    pub fn tool_calls(&self) -> &[ToolCall] {
        match &self.output {
            Output::Text(_) | Output::Filler(_) => &[],
            Output::ToolCalls(calls) => calls,
        }
    }

    /// The usage the wire reports ([`Directives::report`]): `None` with
    /// `[mock:no_usage]`, else [`usage`](Self::usage) with the counts of
    /// `[mock:usage_prompt=N]` and `[mock:usage_completion=N]`.
    pub fn reported_usage(&self) -> Option<Usage> {
        self.directives.report(self.usage)
    }
}

/// Computes the reply to a conversation (see the crate docs for the rules).
pub fn respond(conversation: &Conversation) -> Reply {
    let last_user = conversation
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User);
    let (directives, user_text) = match last_user {
        Some(m) => Directives::parse(&m.text),
        None => (Directives::default(), String::new()),
    };
    let last = conversation.messages.last();
    let prompt_tokens = conversation
        .messages
        .iter()
        .map(Message::prompt_tokens)
        .sum::<u32>()
        + REPLY_PRIMING_TOKENS;
    // what the reply is about: the echoed text after "echo: "
    let subject = match last {
        Some(m) if m.role == Role::Tool => format!("tool result: {}", m.text),
        _ => user_text.clone(),
    };
    let reasoning = conversation
        .thinking
        .then(|| format!("{THINKING_PREFIX}{subject}"));
    let reasoning_tokens = reasoning.as_deref().map(count_tokens).unwrap_or(0);

    // a hostile upstream's filler goes past every limit and tool decision
    if let Some(filler) = directives.filler() {
        return Reply {
            output: Output::Filler(filler),
            reasoning,
            finish_reason: FinishReason::Length,
            stop_sequence: None,
            usage: Usage {
                prompt_tokens,
                completion_tokens: filler.tokens().saturating_add(reasoning_tokens),
                reasoning_tokens,
                ..Usage::default()
            },
            directives,
        };
    }

    let calls = match last {
        Some(m) if m.role == Role::User => tool_calls_for(conversation, &user_text),
        _ => Vec::new(),
    };
    if !calls.is_empty() {
        let call_tokens: u32 = calls
            .iter()
            .map(|c| count_tokens(&c.name) + count_tokens(&c.arguments))
            .sum();
        return Reply {
            output: Output::ToolCalls(calls),
            reasoning,
            finish_reason: FinishReason::ToolCalls,
            stop_sequence: None,
            usage: Usage {
                prompt_tokens,
                completion_tokens: call_tokens + reasoning_tokens,
                reasoning_tokens,
                ..Usage::default()
            },
            directives,
        };
    }

    let full = schema::json_reply(&conversation.effective_format(), &subject)
        .unwrap_or_else(|| format!("echo: {subject}"));
    let (text, finish_reason, stop_sequence) =
        limit_text(&full, &conversation.stop, conversation.max_tokens);
    Reply {
        usage: Usage {
            prompt_tokens,
            completion_tokens: count_tokens(&text) + reasoning_tokens,
            reasoning_tokens,
            ..Usage::default()
        },
        output: Output::Text(text),
        reasoning,
        finish_reason,
        stop_sequence,
        directives,
    }
}

/// The reply to a legacy text-completion prompt: `"echo: " + prompt`
/// (directives stripped), cut by `stop` and `max_tokens` as for chat;
/// prompt tokens are the tokens of the prompt alone, without overheads.
/// The usage directives apply; `[mock:endless]` and `[mock:reply_bytes=N]`
/// are for chat replies only and ignored here.
pub fn respond_to_prompt(prompt: &str, stop: &[String], max_tokens: Option<u32>) -> Reply {
    let (directives, stripped) = Directives::parse(prompt);
    let (text, finish_reason, stop_sequence) =
        limit_text(&format!("echo: {stripped}"), stop, max_tokens);
    Reply {
        usage: Usage {
            prompt_tokens: count_tokens(prompt),
            completion_tokens: count_tokens(&text),
            ..Usage::default()
        },
        output: Output::Text(text),
        reasoning: None,
        finish_reason,
        stop_sequence,
        directives,
    }
}

/// Cuts `full` at the first stop sequence (the earliest occurrence; among
/// sequences found at the same place, the first listed), then at
/// `max_tokens` tokens. Returns the text, the finish reason and the stop
/// sequence it was cut at.
fn limit_text(
    full: &str,
    stop: &[String],
    max_tokens: Option<u32>,
) -> (String, FinishReason, Option<String>) {
    let mut found: Option<(usize, &String)> = None;
    for sequence in stop.iter().filter(|s| !s.is_empty()) {
        if let Some(at) = full.find(sequence.as_str())
            && found.is_none_or(|(best, _)| at < best)
        {
            found = Some((at, sequence));
        }
    }
    let cut = found.map_or(full.len(), |(at, _)| at);
    let text = &full[..cut];
    let pieces = split_tokens(text);
    match max_tokens {
        Some(max) if pieces.len() > max as usize => {
            (pieces[..max as usize].concat(), FinishReason::Length, None)
        }
        _ => (
            text.to_owned(),
            FinishReason::Stop,
            found.map(|(_, s)| s.clone()),
        ),
    }
}

/// Decides the tool calls for a conversation whose last message is the
/// user's (empty when the mock answers with text).
fn tool_calls_for(conversation: &Conversation, user_text: &str) -> Vec<ToolCall> {
    let tools = &conversation.tools;
    if tools.is_empty() {
        return Vec::new();
    }
    let lower = user_text.to_lowercase();
    let named = tools
        .iter()
        .find(|name| !name.is_empty() && lower.contains(&name.to_lowercase()));
    let mentions_tool = lower
        .split(|c: char| !c.is_alphanumeric())
        .any(|word| word == "tool" || word == "tools");
    let chosen: Vec<&str> = match &conversation.tool_choice {
        ToolChoice::None => Vec::new(),
        ToolChoice::Function(name) => vec![name.as_str()],
        choice => {
            let wanted = *choice == ToolChoice::Required || mentions_tool || named.is_some();
            if !wanted {
                Vec::new()
            } else if conversation.parallel_tool_calls
                && lower.contains("parallel")
                && tools.len() >= 2
            {
                vec![tools[0].as_str(), tools[1].as_str()]
            } else {
                vec![named.unwrap_or(&tools[0]).as_str()]
            }
        }
    };
    let query = serde_json::json!({ "query": user_text }).to_string();
    let arguments = |name: &str| {
        let parameters = conversation.tool_schemas.get(name);
        match parameters {
            Some(p) if !schema::takes_query(Some(p)) => schema::generate(p, user_text).to_string(),
            _ => query.clone(),
        }
    };
    let digest = conversation_digest(conversation);
    chosen
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            let seed: [&[u8]; 2] = [&digest, &index.to_le_bytes()];
            let id = match conversation.tool_ids {
                ToolIdStyle::OpenAi => format!("call_{}", alphanumeric_id(&seed, 24)),
                ToolIdStyle::Anthropic => format!("toolu_01{}", alphanumeric_id(&seed, 22)),
            };
            ToolCall {
                id,
                name: name.to_owned(),
                arguments: arguments(name),
            }
        })
        .collect()
}

fn conversation_digest(conversation: &Conversation) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for m in &conversation.messages {
        hasher.update(format!("{:?}", m.role).as_bytes());
        hasher.update([0]);
        hasher.update(m.text.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().to_vec()
}

/// `len` characters from `[A-Za-z0-9]` derived from a hash of `parts`.
pub(crate) fn alphanumeric_id(parts: &[&[u8]], len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut block = 0u32;
    while out.len() < len {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hasher.update(block.to_le_bytes());
        for byte in hasher.finalize() {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
        }
        block += 1;
    }
    out
}

/// One streamed step of a reply, before a dialect renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delta {
    /// A piece of text (one token with its leading whitespace).
    Text(String),
    /// The start of tool call `index`: its id and function name.
    ToolStart {
        /// Position of the call in the reply.
        index: usize,
        /// The call id.
        id: String,
        /// The function name.
        name: String,
    },
    /// A fragment of the arguments of tool call `index`.
    ToolArguments {
        /// Position of the call in the reply.
        index: usize,
        /// The next few characters of the arguments.
        fragment: String,
    },
}

/// The content steps of a streamed reply, in order (none for
/// [`Output::Filler`], which each dialect streams from
/// [`Filler::stream_pieces`]).
///
/// Text streams one [`Delta::Text`] per token. Tool calls stream a
/// [`Delta::ToolStart`] then argument fragments of
/// [`TOOL_ARGUMENT_FRAGMENT_CHARS`] characters; with several calls the steps
/// interleave (start 0, fragment 0, start 1, fragment 1, fragment 0, ...),
/// which real providers may do and clients must cope with.
pub fn stream_deltas(reply: &Reply) -> Vec<Delta> {
    match &reply.output {
        Output::Text(text) => split_tokens(text)
            .into_iter()
            .map(|piece| Delta::Text(piece.to_owned()))
            .collect(),
        Output::Filler(_) => Vec::new(),
        Output::ToolCalls(calls) => {
            let mut queues: Vec<Vec<Delta>> = calls
                .iter()
                .enumerate()
                .map(|(index, call)| {
                    let chars: Vec<char> = call.arguments.chars().collect();
                    let mut steps = vec![Delta::ToolStart {
                        index,
                        id: call.id.clone(),
                        name: call.name.clone(),
                    }];
                    steps.extend(chars.chunks(TOOL_ARGUMENT_FRAGMENT_CHARS).map(|c| {
                        Delta::ToolArguments {
                            index,
                            fragment: c.iter().collect(),
                        }
                    }));
                    steps.reverse(); // pop from the end
                    steps
                })
                .collect();
            let mut out = Vec::new();
            // start 0, fragment 0, then round-robin one step of each call
            if let Some(first) = queues.first_mut() {
                out.extend(first.pop());
            }
            loop {
                let mut progressed = false;
                for queue in &mut queues {
                    if let Some(step) = queue.pop() {
                        out.push(step);
                        progressed = true;
                    }
                }
                if !progressed {
                    break;
                }
            }
            out
        }
    }
}

/// The streamed pieces of a reply's reasoning text, one per token (empty
/// when the reply has no reasoning).
pub fn reasoning_pieces(reply: &Reply) -> Vec<&str> {
    reply
        .reasoning
        .as_deref()
        .map(split_tokens)
        .unwrap_or_default()
}

/// The deterministic signature of a reasoning text (Anthropic's thinking
/// `signature`): the standard base64 of SHA-256 of `"mock-thinking:"`
/// followed by the text.
pub fn thinking_signature(reasoning: &str) -> String {
    use base64::Engine as _;
    let digest = Sha256::new()
        .chain_update(b"mock-thinking:")
        .chain_update(reasoning.as_bytes())
        .finalize();
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// How a reply is paced in time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pacing {
    /// Wait before the first content chunk.
    pub ttft: Duration,
    /// Wait between content chunks (`None`: as fast as possible).
    pub per_token: Option<Duration>,
}

impl Pacing {
    /// The pacing of `config`, slowed to [`SLOW_TOKENS_PER_SECOND`] by the
    /// `[mock:slow]` directive.
    pub fn new(config: &MockConfig, directives: &Directives) -> Self {
        let tps = if directives.slow {
            Some(SLOW_TOKENS_PER_SECOND)
        } else {
            config.tokens_per_second
        };
        Self {
            ttft: config.ttft,
            per_token: tps
                .filter(|t| *t > 0.0)
                .and_then(|t| Duration::try_from_secs_f64(1.0 / t).ok()),
        }
    }

    /// How long a non-streamed reply of `tokens` takes to generate: the
    /// time a stream of it would take (`ttft + (tokens - 1) * per_token`).
    pub fn generation_time(&self, tokens: u32) -> Duration {
        let between = self
            .per_token
            .map(|d| d.saturating_mul(tokens.saturating_sub(1)))
            .unwrap_or_default();
        self.ttft.saturating_add(between)
    }
}

/// What to do with a request before its body is looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Go on.
    Proceed,
    /// Never answer ([`Failure::Timeout`]).
    Hang,
    /// No key was presented but one is required.
    MissingKey,
    /// The presented key is wrong.
    WrongKey(String),
    /// Answer with this status ([`Failure::Status`]).
    Fail(u16),
}

/// Applies the configured failure and key check, in that order: a hang
/// comes first (the network never answers), then the key, then a scripted
/// status.
pub(crate) fn gate(config: &MockConfig, presented_key: Option<&str>) -> Gate {
    if config.failure == Some(Failure::Timeout) {
        return Gate::Hang;
    }
    if let Some(expected) = &config.api_key {
        match presented_key {
            None => return Gate::MissingKey,
            Some(key) if key != expected => return Gate::WrongKey(key.to_owned()),
            Some(_) => {}
        }
    }
    match config.failure {
        Some(Failure::Status(status)) => Gate::Fail(status),
        _ => Gate::Proceed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_then_length() {
        let stop = vec!["there".to_owned()];
        assert_eq!(
            limit_text("echo: hi there", &stop, None),
            (
                "echo: hi ".to_owned(),
                FinishReason::Stop,
                Some("there".to_owned())
            )
        );
        assert_eq!(
            limit_text("echo: hi there", &[], Some(3)),
            ("echo: hi".to_owned(), FinishReason::Length, None)
        );
        assert_eq!(
            limit_text("echo: hi", &[], Some(3)),
            ("echo: hi".to_owned(), FinishReason::Stop, None)
        );
        // earliest occurrence wins; at the same place, the first listed
        let stop = vec!["there".to_owned(), "hi".to_owned(), "hi t".to_owned()];
        assert_eq!(
            limit_text("echo: hi there", &stop, None).2.as_deref(),
            Some("hi")
        );
        // a cut by length reports no stop sequence
        let stop = vec!["there".to_owned()];
        assert_eq!(limit_text("echo: hi there", &stop, Some(2)).2, None);
    }

    #[test]
    fn thinking_adds_reasoning_tokens() {
        let conv = Conversation {
            messages: vec![Message::text(Role::User, "Hi there")],
            thinking: true,
            ..Conversation::default()
        };
        let reply = respond(&conv);
        assert_eq!(reply.reasoning.as_deref(), Some("thinking about: Hi there"));
        assert_eq!(reply.text(), Some("echo: Hi there"));
        // thinking|about|:|Hi|there = 5, echo|:|Hi|there = 4
        assert_eq!(reply.usage.reasoning_tokens, 5);
        assert_eq!(reply.usage.completion_tokens, 9);
        assert_eq!(reply.usage.output_tokens_without_reasoning(), 4);
        assert_eq!(
            reasoning_pieces(&reply).concat(),
            "thinking about: Hi there"
        );
        let signature = thinking_signature("thinking about: Hi there");
        assert_eq!(signature.len(), 44);
        assert_ne!(signature, thinking_signature("thinking about: Hi"));
    }

    #[test]
    fn filler_goes_past_limits_and_tools() {
        let conv = Conversation {
            messages: vec![Message::text(Role::User, "use a tool [mock:reply_bytes=7]")],
            tools: vec!["a".into()],
            max_tokens: Some(1),
            stop: vec!["x".into()],
            ..Conversation::default()
        };
        let reply = respond(&conv);
        let filler = Filler {
            bytes: 7,
            endless: false,
        };
        assert_eq!(reply.output, Output::Filler(filler));
        assert_eq!(reply.finish_reason, FinishReason::Length);
        assert_eq!(reply.usage.completion_tokens, 4);
        assert_eq!(reply.text(), None);
        assert!(stream_deltas(&reply).is_empty());
        assert_eq!(filler.text(), "x x x x");
        assert_eq!(count_tokens(&filler.text()), filler.tokens());
        assert_eq!(filler.stream_pieces(), (Some(3), Some("x")));
        let even = Filler {
            bytes: 6,
            endless: false,
        };
        assert_eq!((even.text().as_str(), even.tokens()), ("x x x ", 3));
        assert_eq!(even.stream_pieces(), (Some(3), None));
        let endless = Filler {
            bytes: 6,
            endless: true,
        };
        assert_eq!(endless.stream_pieces(), (None, None));
        // reported usage follows the directives, the real usage stays
        let conv = Conversation {
            messages: vec![Message::text(Role::User, "hi [mock:usage_completion=99]")],
            ..Conversation::default()
        };
        let reply = respond(&conv);
        assert_eq!(reply.usage.completion_tokens, 3);
        assert_eq!(reply.reported_usage().unwrap().completion_tokens, 99);
    }

    #[test]
    fn anthropic_tool_ids_share_the_decision() {
        let mut conv = Conversation {
            messages: vec![Message::text(Role::User, "use a tool")],
            tools: vec!["a".into()],
            ..Conversation::default()
        };
        let openai = respond(&conv);
        conv.tool_ids = ToolIdStyle::Anthropic;
        let anthropic = respond(&conv);
        let (a, b) = (&openai.tool_calls()[0], &anthropic.tool_calls()[0]);
        assert!(a.id.starts_with("call_") && a.id.len() == 29);
        assert!(b.id.starts_with("toolu_01") && b.id.len() == 30);
        assert_eq!((&a.name, &a.arguments), (&b.name, &b.arguments));
    }

    #[test]
    fn parallel_deltas_interleave() {
        let conv = Conversation {
            messages: vec![Message::text(Role::User, "use tools in parallel")],
            tools: vec!["a".into(), "b".into()],
            parallel_tool_calls: true,
            ..Conversation::default()
        };
        let reply = respond(&conv);
        assert_eq!(reply.tool_calls().len(), 2);
        let order: Vec<usize> = stream_deltas(&reply)
            .iter()
            .map(|d| match d {
                Delta::ToolStart { index, .. } | Delta::ToolArguments { index, .. } => *index,
                Delta::Text(_) => usize::MAX,
            })
            .collect();
        assert_eq!(&order[..4], &[0, 0, 1, 0]);
        assert!(order.windows(2).filter(|w| w[0] != w[1]).count() > 4);
    }
}
