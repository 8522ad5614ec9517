//! What the native (non-OpenAI) dialects share: the HTTP exchange
//! ([`http::Upstream`]), the event-stream driver ([`stream`]) and the pure
//! conversions both Anthropic and Gemini need ([`convert`]: data URLs, tool
//! arguments, reasoning settings).
//!
//! The OpenAI adapter predates this module and keeps its own copy of the
//! HTTP plumbing; it can move onto [`http::Upstream`] without changing
//! behaviour.

pub(crate) mod convert;
pub(crate) mod http;
pub(crate) mod stream;
