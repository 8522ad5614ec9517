//! Exact money math, as pure functions over `rust_decimal`.
//!
//! This crate owns every rule that turns tokens into dollars:
//!
//! - [`cost`]: the cost of a generation from an endpoint's [pricing] and its
//!   [`BillableUsage`], itemised in a [`CostBreakdown`];
//! - [`charge`]: what is actually debited, after zero-completion insurance
//!   (see [`Outcome`] for the rule);
//! - [`BillingPolicy::byok_fee`]: the fee on a request paid with the user's
//!   own provider key;
//! - [`max_cost`]: the size of the hold placed before a request, an upper
//!   bound of any charge the request can incur, and
//!   [`affordable_output_tokens`]: the longest answer a balance can hold;
//! - [`cache_discount`]: what prompt caching saved (or, for cache writes,
//!   cost) against the plain prompt price;
//! - [`LimitReset`]: the UTC periods after which an API key's spending limit
//!   starts again.
//!
//! The store applies these amounts to the ledger; the gateway decides when.
//!
//! # Token conventions
//!
//! [`BillableUsage::prompt_tokens`] counts **every** input token, including
//! those read from the prompt cache and those written to it; the two cache
//! counters say how many of the prompt tokens are priced at the cache rates.
//! This is the OpenAI / OpenRouter convention (`prompt_tokens_details.
//! cached_tokens` is part of `prompt_tokens`). Dialects that report cache
//! tokens apart (Anthropic's `input_tokens`, `cache_read_input_tokens`,
//! `cache_creation_input_tokens`) must be converted by their adapter: sum the
//! three into `prompt_tokens`, report the second as `cached_tokens` and the
//! third as `cache_write_tokens`.
//!
//! Likewise [`BillableUsage::completion_tokens`] counts every generated token
//! and [`BillableUsage::reasoning_tokens`] says how many of them were
//! reasoning. Counters that claim more than their total are clamped to it
//! (see [`BillableUsage::clamped`]): a provider's totals are what it counted,
//! the details only say at which price.
//!
//! # Precision
//!
//! [`cost`] is exact: every product and sum is checked to have lost no digit
//! (a result that would need rounding is [`Error::Overflow`], which only
//! absurd inputs reach: billions of dollars per token or more than 2^64
//! tokens at prices with twenty-odd decimals). Amounts bound for the ledger
//! are brought to [`LEDGER_SCALE`] (12) decimal places once, at the end:
//! charges and fees round half away from zero ([`round_charge`]), holds round
//! up ([`round_hold`]) so that a hold always covers the charge it stands for.
//! Listing prices are quoted per million tokens with at most a few decimals,
//! i.e. at most ~10 decimals per token, so for every real price the rounding
//! is a no-op and charges are exact to the last digit. Display rounding (for
//! example to cents) is the presenter's business and never written back.
//!
//! Architecture Invariant: no I/O and no async runtime here (no tokio,
//! reqwest, axum or sqlx in this crate's dependency tree), and never a float
//! for money.
//!
//! [pricing]: tollgate_catalog::EndpointPricing
#![deny(missing_docs)]

mod byok;
mod charge;
mod cost;
mod hold;
mod limits;
mod money;
mod usage;

pub use byok::{BillingPolicy, byok_fee};
pub use charge::{Bill, Ending, Outcome, bill, charge};
pub use cost::{CostBreakdown, cache_discount, cost};
pub use hold::{HoldEstimate, affordable_output_tokens, max_cost};
pub use limits::{LimitReset, limit_remaining};
pub use money::{LEDGER_SCALE, round_charge, round_hold};
pub use usage::BillableUsage;

/// What can go wrong in cost math.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An amount does not fit an exact decimal (28 significant digits), so
    /// computing it would round. Only absurd prices or token counts get here.
    #[error("the {0} cost does not fit in an exact decimal")]
    Overflow(&'static str),

    /// A stored or configured limit reset period is not one this crate knows.
    #[error("unknown limit reset `{0}`, expected daily, weekly or monthly")]
    UnknownLimitReset(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
