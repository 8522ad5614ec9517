//! The fuzz targets, one test each (see `fuzz/README.md`).
//!
//! Each test replays its corpus (`fuzz/corpus/<target>/`), then feeds its
//! target new inputs for `FUZZ_SECONDS` (unset: a quick smoke run, as
//! `cargo test` does it). A target is a function of its input bytes
//! only: split points, limits and modes are derived from the input, so a
//! saved crash reproduces.
//!
//! Beyond "no panic", the targets check invariants that are cheap to
//! check: a parsed request re-serialised parses to the same value; the
//! SSE parser and the dialects' stream decoders give the same result
//! however the bytes are split; translators never emit `cost: null` and
//! every chunk serialises to one non-empty line; middle-out's answer fits
//! the budget it was given and keeps the first and last messages.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "fuzz targets: a failed expectation is a finding"
)]

mod anthropic;
mod chat;
mod config;
mod gemini;
mod listing;
mod openai;
mod sse;
mod support;
mod transforms;
