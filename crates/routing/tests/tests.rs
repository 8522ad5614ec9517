//! Integration tests of `tollgate-routing`: one binary, one module per
//! concern.

// clippy.toml allows unwrap inside `#[test]` functions only; the shared
// helpers (catalog builders, plan shorthands) unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod balancing;
mod chat;
mod health;
mod preferences;
mod properties;
mod support;
mod variants;
