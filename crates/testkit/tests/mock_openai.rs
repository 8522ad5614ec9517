//! The OpenAI-dialect mock, driven over real sockets with reqwest.
//!
//! Expected token counts are worked out by hand in comments, not with the
//! crate's own tokenizer, so a tokenizer bug cannot cancel out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "mock_openai/support.rs"]
mod support;

#[path = "mock_openai/chat.rs"]
mod chat;
#[path = "mock_openai/endpoints.rs"]
mod endpoints;
#[path = "mock_openai/failures.rs"]
mod failures;
#[path = "mock_openai/hostile.rs"]
mod hostile;
#[path = "mock_openai/tools.rs"]
mod tools;
