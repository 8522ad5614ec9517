//! The gateway end to end: a real `Gateway` over the demo catalog, its
//! providers pointed at three in-process mock providers (`tollgate-testkit`),
//! a temporary SQLite store and a freshly created key.
//!
//! JSON paths go through `Router` with `tower::ServiceExt::oneshot`;
//! streaming, disconnects and keep-alives go through a real socket served by
//! `tollgate_gateway::serve` and read with reqwest.
//!
//! Expected token counts are worked out by hand from the mock's documented
//! rules (a word or a punctuation character is one token; 3 per message and
//! 3 for priming the reply), never with the mock's own tokenizer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "gateway/support.rs"]
mod support;

#[path = "gateway/bad_input.rs"]
mod bad_input;
#[path = "gateway/balances.rs"]
mod balances;
#[path = "gateway/billing.rs"]
mod billing;
#[path = "gateway/byok.rs"]
mod byok;
#[path = "gateway/chat.rs"]
mod chat;
#[path = "gateway/cors.rs"]
mod cors;
#[path = "gateway/dashboard.rs"]
mod dashboard;
#[path = "gateway/dialect_options.rs"]
mod dialect_options;
#[path = "gateway/dialects.rs"]
mod dialects;
#[path = "gateway/edge.rs"]
mod edge;
#[path = "gateway/endpoints.rs"]
mod endpoints;
#[path = "gateway/errors.rs"]
mod errors;
#[path = "gateway/failover.rs"]
mod failover;
#[path = "gateway/files.rs"]
mod files;
#[path = "gateway/generation_fields.rs"]
mod generation_fields;
#[path = "gateway/hardening.rs"]
mod hardening;
#[path = "gateway/lifecycle.rs"]
mod lifecycle;
#[path = "gateway/management/mod.rs"]
mod management;
#[path = "gateway/messages.rs"]
mod messages;
#[path = "gateway/models.rs"]
mod models;
#[path = "gateway/moderation.rs"]
mod moderation;
#[path = "gateway/oauth.rs"]
mod oauth;
#[path = "gateway/openapi.rs"]
mod openapi;
#[path = "gateway/production.rs"]
mod production;
#[path = "gateway/reload.rs"]
mod reload;
#[path = "gateway/responses.rs"]
mod responses;
#[path = "gateway/routing.rs"]
mod routing;
#[path = "gateway/search.rs"]
mod search;
#[path = "gateway/stream.rs"]
mod stream;
#[path = "gateway/structured.rs"]
mod structured;
#[path = "gateway/surface.rs"]
mod surface;
#[path = "gateway/throughput.rs"]
mod throughput;
#[path = "gateway/transforms.rs"]
mod transforms;
