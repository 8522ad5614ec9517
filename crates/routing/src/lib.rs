//! Tollgate's routing policy, as a pure function.
//!
//! This crate owns the decision of *which endpoints to try, in what order*
//! for one request: [`plan`] takes the request's routing parts
//! ([`RouteRequest`]), a catalog snapshot (`tollgate-catalog`), a
//! [`HealthSnapshot`] and a random source, and returns a [`Plan`]: the
//! endpoints to try, each with the reason for its place ([`Choice`]), and
//! every other endpoint with the reason it was left out ([`Exclusion`]). It
//! also owns the [`HealthTracker`], a plain struct the gateway feeds with
//! [`Outcome`]s and snapshots, and the operator's [`Policy`] (the
//! `[routing]` table of `tollgate.toml`).
//!
//! Following the plan (calling providers, retrying before the first byte,
//! recording outcomes) is the gateway's job.
//!
//! Architecture Invariant: no I/O and no async runtime here (no tokio,
//! reqwest, axum or sqlx), and no clock reads: time comes in as a
//! [`Timestamp`]. The policy can be embedded in other services,
//! property-tested and benchmarked in isolation.
//!
//! ```
//! use tollgate_routing::{HealthSnapshot, Policy, RouteRequest, plan};
//!
//! let catalog = tollgate_catalog::demo::catalog()?;
//! let request = RouteRequest::new("mock/echo").with_prompt_tokens(1000);
//! let mut rng = rand::rng();
//! let plan = plan(&request, &catalog, &HealthSnapshot::new(), &Policy::default(), &mut rng)?;
//! assert!(plan.attempts.len() >= 3); // mock-alpha, mock-beta, mock-gamma, ...
//! for a in &plan.attempts {
//!     println!("{} at {}: {}", a.model(), a.provider(), a.choice);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rules
//!
//! The per-request rules (models, variants, filters, order) are on
//! [`plan`]. The others:
//!
//! **Blended price.** Endpoints are compared by what this request is
//! expected to cost there, in USD per million tokens:
//! `P` = estimated prompt tokens, `C = min(max_tokens,
//! Policy::expected_completion_tokens)` (default 512), cost = `P * prompt +
//! C * completion + request + images * image`, blended = `cost / (P + C) *
//! 1e6` (with `P = C = 1` when both are zero). A long prompt weighs the
//! prompt price, a short one the completion price; with equal prompt and
//! completion prices the blended price is that price, so the seed's "$1 per
//! million tokens" examples hold as written.
//!
//! **Load-balancing weight.** `max(blended, Policy::free_price_floor) ^
//! -Policy::price_exponent`. With exponent 1 (the seed) a $1 endpoint is
//! 3x as likely to be drawn first as a $3 one ($1/$2/$3 give 6/11, 3/11,
//! 2/11); today's OpenRouter uses 2. A free endpoint weighs as if it cost
//! the floor (default $0.01 per million tokens: 100x a $1 endpoint).
//!
//! **`openrouter/auto` and `openrouter/free`.** A model is eligible when
//! one of its endpoints passes every filter with the request's
//! *capability* parameters required (as if `require_parameters` were set
//! for them): `tools` needs tool calling, `response_format` JSON output,
//! `reasoning` a reasoning model, image parts image input; sampling
//! parameters are not required. Only text-output models count, never the
//! routers. Models with an endpoint where the prompt fits come first
//! (others only if the prompt may be compressed). `auto` picks the first
//! eligible model of `Policy::auto_models` if set, else, among models that
//! are not entirely free, the lowest blended price at the cheapest eligible
//! endpoint, then the largest context, then by id. `free` picks, among
//! models with free endpoints (only those count), the largest context, then
//! by id. The next `Policy::router_fallback_models` (default 2) eligible
//! models follow as model fallbacks.
//!
//! **`:exacto`.** Listings cannot mark accuracy, so quality signals are:
//! providers the operator lists in `Policy::exacto_providers` first, then
//! endpoints with native tool calling, then higher weight precision (fp32 >
//! bf16 = fp16 > fp8 > fp6 = int8 > unknown > 4-bit), then higher uptime,
//! then lower price. It sorts; it never excludes.
//!
//! **Health** (see [`HealthTracker`]): an endpoint is in outage after
//! `outage_min_failures` (3) failures in the last `outage_window_secs`
//! (10), or when at least `outage_min_requests` (2) requests in the window
//! failed at a rate of `outage_failure_ratio` (50%) or more, or while a
//! provider's `Retry-After` runs. Endpoints in outage are tried last
//! (`Policy::exclude_outages` drops them instead); an endpoint recovers
//! once its failures have left the window.
//!
//! **Statuses** for errors: [`Error::status`].
#![deny(missing_docs)]

mod error;
mod exclusion;
mod health;
mod plan;
mod policy;
mod prefs;
mod price;
mod request;
mod route;
mod routers;

pub use error::Error;
pub use exclusion::{Exclusion, ExclusionReason, PriceField};
pub use health::{EndpointHealth, EndpointKey, HealthSnapshot, HealthTracker, Outcome, Timestamp};
pub use plan::{Choice, Plan, PlannedAttempt, plan};
pub use policy::Policy;
pub use prefs::SortBy;
pub use request::RouteRequest;

/// The `rand` this crate's [`plan`] takes a generator of: use it (or the
/// same version) so that your generator implements the right `Rng`.
pub use rand;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
