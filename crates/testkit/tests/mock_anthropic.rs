//! The Anthropic-dialect mock, driven over real sockets with reqwest.
//!
//! Expected token counts are worked out by hand in comments, not with the
//! crate's own tokenizer, so a tokenizer bug cannot cancel out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "mock_anthropic/support.rs"]
mod support;

#[path = "mock_anthropic/cache.rs"]
mod cache;
#[path = "mock_anthropic/failures.rs"]
mod failures;
#[path = "mock_anthropic/hostile.rs"]
mod hostile;
#[path = "mock_anthropic/messages.rs"]
mod messages;
#[path = "mock_anthropic/thinking.rs"]
mod thinking;
#[path = "mock_anthropic/tools.rs"]
mod tools;
#[path = "mock_anthropic/validation.rs"]
mod validation;
