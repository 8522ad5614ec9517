//! Money around one generation: a hold before anything is sent upstream,
//! then settlement to the actual cost (or release on failure).
//!
//! The hold is the most the request can cost on the dearest endpoint it
//! may be sent to, so parallel requests cannot spend more than the balance
//! or the key's limit: each one's hold counts against both while it is in
//! flight. A crash between hold and settle leaves an open hold, which
//! `Store::expire_holds` releases at the next start-up.

use std::time::Duration;

use rust_decimal::Decimal;
use tollgate_billing::{BillableUsage, Ending, HoldEstimate, bill, max_cost};
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::chat::{ChatRequest, ContentPart, MessageContent};
use tollgate_schema::usage::Usage;
use tollgate_store::ApiKey;

use super::Target;
use crate::books::{Charge, LocalHold, Refusal};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a hold may stay open before start-up reconciliation releases
/// it: longer than any request can run.
pub const HOLD_TTL: Duration = Duration::from_secs(60 * 60);

/// An open hold.
#[derive(Debug, Clone)]
pub struct OpenHold {
    /// The store's hold id.
    pub id: String,
    /// The account it reserves credit of.
    pub account_id: String,
    /// Kept in memory by the books (local mode), not yet in the store.
    local: Option<LocalHold>,
}

/// What a generation was charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Credits charged: the cost, or for BYOK the fee.
    pub charge: Decimal,
    /// What the generation cost at the provider's prices (for BYOK, what
    /// the user's own key paid).
    pub upstream_cost: Decimal,
}

/// What a hold must cover.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// An upper bound of the prompt's tokens.
    pub prompt_tokens: u64,
    /// The request's completion cap, if any (else the endpoint's).
    pub max_output_tokens: Option<u32>,
    /// Images in the prompt.
    pub images: u64,
}

impl Needs {
    /// What a chat request needs, given an upper bound of its prompt.
    pub fn chat(request: &ChatRequest, prompt_tokens: u64) -> Needs {
        Needs {
            prompt_tokens,
            max_output_tokens: request.max_output_tokens(),
            images: count_images(request),
        }
    }
}

/// Places the hold for a request or answers 402 without calling anyone.
pub async fn place(
    state: &AppState,
    key: &ApiKey,
    target: &Target,
    needs: Needs,
) -> Result<OpenHold, ApiError> {
    let Needs {
        prompt_tokens: prompt_estimate,
        images,
        ..
    } = needs;
    let mut amount = Decimal::ZERO;
    for ep in target.endpoints.iter().map(|p| &p.endpoint) {
        let max_output = needs.max_output_tokens.map_or(ep.max_output_tokens, |m| {
            u64::from(m).min(ep.max_output_tokens.max(1))
        });
        let estimate = HoldEstimate {
            prompt_tokens: prompt_estimate,
            max_output_tokens: max_output,
            images,
            web_searches: 0,
        };
        let cost = max_cost(&ep.pricing, &estimate)
            .map_err(|e| ApiError::Internal(format!("hold for {}: {e}", ep.provider)))?;
        amount = amount.max(cost);
    }
    if state.books.is_local() {
        return match state.books.place(&key.account_id, &key.hash, amount).await {
            Ok(hold) => Ok(OpenHold {
                id: hold.id.clone(),
                account_id: hold.account_id.clone(),
                local: Some(hold),
            }),
            Err(Refusal::Credits { available }) => {
                Err(refused(tollgate_store::Error::InsufficientCredits {
                    available,
                    needed: amount,
                }))
            }
            Err(Refusal::KeyLimit { limit, remaining }) => {
                Err(refused(tollgate_store::Error::KeyLimitExceeded {
                    limit,
                    remaining,
                    needed: amount,
                }))
            }
            Err(Refusal::Store(e)) => Err(e.into()),
        };
    }
    let now = chrono::Utc::now();
    match state
        .store
        .place_hold(&key.account_id, Some(&key.hash), amount, HOLD_TTL, now)
        .await
    {
        Ok(hold) => Ok(OpenHold {
            id: hold.id,
            account_id: key.account_id.clone(),
            local: None,
        }),
        Err(e) => Err(refused(e)),
    }
}

/// The 402 for a hold the balance or the key's limit cannot cover; other
/// store errors as they are.
fn refused(e: tollgate_store::Error) -> ApiError {
    match e {
        tollgate_store::Error::InsufficientCredits { available, needed } => {
            ApiError::PaymentRequired(format!(
                "Insufficient credits: this request may cost up to ${} and the account has ${} available. Add credits or lower max_tokens.",
                needed.round_dp(6).normalize(),
                available.round_dp(6).normalize()
            ))
        }
        tollgate_store::Error::KeyLimitExceeded {
            limit,
            remaining,
            needed,
        } => ApiError::PaymentRequired(format!(
            "API key limit reached: this request may cost up to ${} and the key has ${} left of its ${} limit.",
            needed.round_dp(6).normalize(),
            remaining.round_dp(6).normalize(),
            limit.normalize()
        )),
        e => e.into(),
    }
}

/// Settles `hold` to what the generation cost and returns that cost.
///
/// Zero-completion insurance and failure rules are `tollgate-billing`'s:
/// a failed or empty generation is charged nothing. Errors are logged, not
/// returned: the client already has its answer, and an unsettled hold is
/// released by start-up reconciliation.
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    state: &AppState,
    hold: &OpenHold,
    endpoint: &CatalogEndpoint,
    usage: &Usage,
    images: u64,
    ending: Ending,
    is_byok: bool,
    generation_id: &str,
) -> Settled {
    let billable = BillableUsage::from_usage(usage, images, 0);
    let cost = match bill(&endpoint.pricing, &billable, ending) {
        Ok(b) => b.charge,
        Err(e) => {
            tracing::error!(generation = %generation_id, error = %e, "cost could not be computed; releasing the hold");
            release(state, hold).await;
            return Settled::default();
        }
    };
    let now = chrono::Utc::now();
    // BYOK: the provider bills the user's own key; the account pays only
    // the fee, after the month's free BYOK requests.
    let charge = if is_byok {
        let before = match &hold.local {
            Some(_) => {
                state
                    .books
                    .byok_requests_in_month(&hold.account_id, now)
                    .await
            }
            None => {
                state
                    .store
                    .byok_requests_in_month(&hold.account_id, now)
                    .await
            }
        };
        match before {
            Ok(before) => tollgate_billing::round_charge(tollgate_billing::byok_fee(cost, before)),
            Err(e) => {
                tracing::error!(generation = %generation_id, error = %e, "BYOK request count unavailable; no fee charged");
                Decimal::ZERO
            }
        }
    } else {
        cost
    };
    if let Some(local) = &hold.local {
        // What the key's limit counts: the charge, plus what a BYOK key
        // paid upstream when the key includes BYOK usage.
        let key_counted = if is_byok && state.books.key_includes_byok(&local.api_key_hash) {
            charge + cost
        } else {
            charge
        };
        let charged = Charge {
            charge,
            fee: Decimal::ZERO,
            key_counted,
        };
        state.books.settle(local, charged, generation_id).await;
    } else if let Err(e) = state
        .store
        .settle_hold(&hold.id, charge, Some(generation_id), now)
        .await
    {
        tracing::error!(generation = %generation_id, hold = %hold.id, error = %e, "settlement failed");
    }
    Settled {
        charge,
        upstream_cost: cost,
    }
}

/// Releases `hold` (nothing was produced).
pub async fn release(state: &AppState, hold: &OpenHold) {
    if let Some(local) = &hold.local {
        state.books.release(local);
        return;
    }
    if let Err(e) = state.store.release_hold(&hold.id, chrono::Utc::now()).await {
        tracing::error!(hold = %hold.id, error = %e, "hold release failed");
    }
}

/// Images in the prompt, each priced per image where the endpoint says so.
pub fn count_images(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .flatten()
        .filter_map(|m| match &m.content {
            Some(MessageContent::Parts(parts)) => Some(parts),
            _ => None,
        })
        .flatten()
        .filter(|p| matches!(p, ContentPart::ImageUrl(_)))
        .count() as u64
}
