//! Prompt transforms, as pure functions.
//!
//! This crate owns what is done to a prompt before it is sent to one
//! endpoint:
//! - [`Tokenizer`]: token counting with real tokenizers (o200k / cl100k via
//!   tiktoken-rs, chosen by the model's tokenizer family) and a documented
//!   estimate for other families; [`count_request`] counts a whole chat
//!   request the way OpenAI's cookbook does, images and tools included.
//! - [`middle_out()`]: fitting a conversation into an endpoint's context
//!   length and message limit ([`Limits`]), and [`check_fits`] for
//!   requests that turned it off.
//! - [`shaping`]: adapting a request to an endpoint that lacks a feature:
//!   tools described in the prompt (YAML) and tool calls parsed back from
//!   the reply, `name` prefixing, assistant prefill, JSON mode by
//!   instruction.
//! - [`files`]: files in a prompt (PDFs, text) turned into text for models
//!   without native file input.
//!
//! Architecture Invariant: no I/O and no async runtime here. Everything is
//! a function of its arguments (the tokenizers' rank tables are compiled
//! into the binary), so it can be embedded, property-tested and
//! benchmarked alone. It depends on `tollgate-schema` only: endpoint
//! limits come in as plain numbers, not catalog types.
#![deny(missing_docs)]

pub mod count;
pub mod files;
pub mod image;
pub mod middle_out;
pub mod shaping;
pub mod tokenizer;

pub use count::{TokenCount, count_message, count_messages, count_request};
pub use middle_out::{
    Limits, Outcome, Report, apply_middle_out, apply_middle_out_counted, check_fits, middle_out,
    middle_out_counted,
};
pub use tokenizer::{ByteBound, TokenCounter, Tokenizer, TokenizerFamily};

/// What can go wrong while transforming.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The prompt and the completion reserve exceed the context length,
    /// and middle-out is off.
    #[error(
        "prompt is {prompt_tokens} tokens, but this endpoint's context length is \
         {context_length} tokens, {max_output} of them reserved for the completion \
         (at most {budget} for the prompt); shorten the prompt, lower max_tokens, or \
         use the middle-out transform",
        budget = budget(.context_length, .max_output)
    )]
    PromptTooLarge {
        /// Tokens of the prompt.
        prompt_tokens: u64,
        /// The endpoint's context length.
        context_length: u64,
        /// Tokens reserved for the completion.
        max_output: u64,
    },
    /// Middle-out removed and cut all it may, and the prompt still does
    /// not fit: what must be kept (system prompts, tool definitions, images,
    /// message framing) is too large.
    #[error(
        "prompt is {prompt_tokens} tokens and cannot be compressed to fit this \
         endpoint's context length of {context_length} tokens ({max_output} reserved \
         for the completion, at most {budget} for the prompt): what must be kept \
         (system prompts, tool definitions, images, the first and last messages \
         with their text cut) is still {min_tokens} tokens",
        budget = budget(.context_length, .max_output)
    )]
    CannotFit {
        /// Tokens of the prompt before.
        prompt_tokens: u64,
        /// The smallest the prompt could be made.
        min_tokens: u64,
        /// The endpoint's context length.
        context_length: u64,
        /// Tokens reserved for the completion.
        max_output: u64,
    },
    /// More messages than the endpoint accepts, and middle-out is off.
    #[error(
        "conversation has {messages} messages but this endpoint accepts at most \
         {max_messages}; remove some or use the middle-out transform"
    )]
    TooManyMessages {
        /// Messages in the request.
        messages: usize,
        /// The endpoint's limit.
        max_messages: usize,
    },
    /// The messages middle-out must keep are more than the endpoint
    /// accepts.
    #[error(
        "conversation cannot be brought under this endpoint's limit of {max_messages} \
         messages: {required} must be kept (system prompts, the first user message, \
         the last turn with its tool results)"
    )]
    CannotFitMessages {
        /// Messages that must be kept.
        required: usize,
        /// The endpoint's limit.
        max_messages: usize,
    },
    /// A file in the prompt cannot be turned into text (bad base64, not a
    /// PDF, an unreadable PDF, a type that has no text).
    #[error("{0}")]
    InvalidFile(String),
}

fn budget(context_length: &u64, max_output: &u64) -> u64 {
    context_length.saturating_sub(*max_output)
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
