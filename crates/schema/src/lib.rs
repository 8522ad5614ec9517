//! Wire types of the OpenRouter / OpenAI dialect that Tollgate speaks.
//!
//! This crate owns every JSON shape that crosses Tollgate's public API: the
//! chat-completions request, response and stream chunk (with usage), the
//! legacy completions and embeddings bodies, the Anthropic Messages
//! ingress (`messages`), the error envelope
//! `{"error":{"code","message","metadata"}}`, the Models API
//! (`models-api.txt`) and the provider listing format
//! (`provider-integration.txt`).
//!
//! Two rules shape every type:
//!
//! * **Accept what real clients send.** Clients spread unknown keys at the top
//!   level (`extra_body`), so each object keeps the keys it does not know in an
//!   `extra` map and writes them back out: nothing is silently lost.
//! * **Never emit what breaks a client.** Optional values are omitted rather
//!   than written as `null` where clients validate (`usage.cost`), and
//!   `prompt_tokens_details.cached_tokens` /
//!   `completion_tokens_details.reasoning_tokens` always serialise.
//!
//! Money (prices, costs) is [`rust_decimal::Decimal`], never a float: prices
//! travel as decimal strings, costs are written as JSON numbers.
//!
//! With the `openapi` feature every wire type also derives
//! `schemars::JsonSchema` (the gateway's OpenAPI document); the schema
//! describes what deserializing accepts, `extra` keys included.
//!
//! Architecture Invariant: this crate depends on no other Tollgate crate and
//! does no I/O (the typed client behind the `client` feature is the one
//! exception, and it is opt-in).
#![deny(missing_docs)]

pub mod chat;
#[cfg(feature = "client")]
pub mod client;
pub mod completions;
pub mod decimal;
pub mod embeddings;
mod error;
mod keyed;
pub mod listing;
pub mod messages;
pub mod models;
mod parse;
pub mod provider;
pub mod responses;
pub mod sse;
pub mod usage;
pub mod wire_error;

pub use error::{Error, Result};
pub use parse::from_json_slice;

/// Unknown keys of a JSON object, kept so that they round-trip.
pub type Extra = serde_json::Map<String, serde_json::Value>;
