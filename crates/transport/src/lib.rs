//! Talking to model providers.
//!
//! This crate owns the [`Provider`] trait (chat, streamed chat, legacy
//! completions, embeddings, model listing), the dialect adapters that
//! implement it ([`OpenAiProvider`] for OpenAI-compatible APIs,
//! [`AnthropicProvider`] for Anthropic Messages, [`GeminiProvider`] for
//! Gemini `generateContent`), the shared
//! pooled [`HttpClient`], the incremental SSE parser ([`sse`]), and the
//! classification of provider failures ([`ProviderError`]: retryable or not,
//! which status the client gets, which `error_type`).
//!
//! Each dialect keeps its pure translation (request body out; response,
//! stream event and error body in) in a `translate` module apart from the
//! HTTP code, so every rule is tested without a socket.
//!
//! Streams are lazy and cancellation-safe: nothing is read until polled,
//! and dropping a [`ChunkStream`] drops the upstream response, closing its
//! connection. `chat_stream` answers `Ok` only once the upstream sent a 2xx
//! event stream, so the gateway can fail over on any earlier failure.
//!
//! No provider API key ever appears in an error, a `Debug` output or a log.
//!
//! Architecture Invariant: this crate depends only on `tollgate-schema`
//! (and `tollgate-catalog`) among Tollgate crates; it must not depend on
//! `tollgate-store` or `tollgate-gateway`. It holds no global state.
#![deny(missing_docs)]

pub mod accumulate;
pub mod anthropic;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gemini;
mod h1;
pub mod http;
pub mod moderation;
mod native;
pub mod openai;
pub mod provider;
pub mod redact;
pub mod settings;
/// The SSE parser, shared with the typed client in `tollgate-schema`.
pub use tollgate_schema::sse;

pub use accumulate::StreamAccumulator;
pub use anthropic::AnthropicProvider;
pub use error::{Error, ErrorKind, ProviderError, Refusal, Result};
pub use gemini::GeminiProvider;
pub use h1::set_connection_lane;
pub use http::{HttpClient, HttpClientConfig};
pub use moderation::{ModerationClient, ModerationResult};
pub use native::convert::RequestError;
pub use openai::OpenAiProvider;
pub use provider::{Call, ChatCall, ChunkStream, CompletionCall, EmbedCall, Provider};
pub use redact::Secrets;
pub use settings::ProviderSettings;
