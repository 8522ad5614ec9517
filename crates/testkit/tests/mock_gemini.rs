//! The Gemini-dialect mock, driven over real sockets with reqwest.
//!
//! Expected token counts are worked out by hand in comments, not with the
//! crate's own tokenizer, so a tokenizer bug cannot cancel out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "mock_gemini/support.rs"]
mod support;

#[path = "mock_gemini/embeddings.rs"]
mod embeddings;
#[path = "mock_gemini/failures.rs"]
mod failures;
#[path = "mock_gemini/generate.rs"]
mod generate;
#[path = "mock_gemini/hostile.rs"]
mod hostile;
#[path = "mock_gemini/tools.rs"]
mod tools;
#[path = "mock_gemini/validation.rs"]
mod validation;
