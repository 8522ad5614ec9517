//! End-to-end tests of the real `tollgated` binary: each test spawns the
//! process, talks to it over a real socket and signals it, for what an
//! in-process test cannot show (the printed banner, flags and exit codes,
//! start-up errors, streaming through the real server, signal handling).
//!
//! Fixtures live in `fixtures/e2e/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The modules live in `tests/e2e/`: the inline module gives them that path.
mod e2e {
    mod daemon;
    mod http;

    mod banner;
    mod chat;
    mod config_errors;
    mod crash;
    mod dev_config;
    mod edge;
    mod flags;
    mod hardening;
    mod leases;
    mod models;
    mod ops;
    mod reload;
    mod scale_out;
    mod shutdown;
    mod telemetry;
}
