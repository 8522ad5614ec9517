//! Stage 3, **hold**: money around one generation.
//!
//! Before anything is sent upstream, the most the request can cost on the
//! dearest endpoint it may be sent to is held, so parallel requests cannot
//! spend more than the balance or the key's limit: each one's hold counts
//! against both while it is in flight.
//!
//! A hold lives in a [`HoldGuard`], which ends it exactly once: settled to
//! the actual cost, or released. A guard that is dropped unsettled (the
//! client went away and the handler's future was dropped, the stream task
//! was cancelled or panicked) releases its hold, so no path can leak one.
//!
//! The charge never exceeds the hold: the hold covers each endpoint's
//! [`Bound`] (the prompt as shaped for it, its output cap times `n`), and
//! usage a provider reports beyond that bound is clamped to it before
//! billing (logged, and counted per endpoint as misreported).

use std::sync::Arc;
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
use crate::search::SearchUse;
use crate::state::AppState;

/// How long a database hold may stay open before the hold sweeper
/// releases it: longer than any request can run.
pub const HOLD_TTL: Duration = Duration::from_secs(60 * 60);

/// What one endpoint may produce for a request: the hold covers it, and
/// no charge exceeds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bound {
    /// A sure upper bound of the prompt's tokens as sent to the endpoint
    /// (after shaping: tools or JSON instructions in the prompt, names).
    pub prompt_tokens: u64,
    /// The most output tokens: the request's cap (else the endpoint's
    /// maximum output), times `n`.
    pub output_tokens: u64,
    /// Input images (priced per image where the endpoint says so).
    pub images: u64,
    /// The most web-search results the request may get (`crate::search`).
    pub web_results: u64,
    /// Their price per result (`[search] price_per_result`).
    pub web_result_price: Decimal,
}

impl Bound {
    /// The output bound of a request capped at `requested` tokens a choice
    /// (if it says) with `choices` choices, on `ep`: the request's cap,
    /// at most the endpoint's maximum output (its context length when the
    /// listing gives no maximum: no answer outgrows its context).
    pub fn output_tokens(requested: Option<u32>, choices: u64, ep: &CatalogEndpoint) -> u64 {
        let max = match ep.max_output_tokens {
            0 => ep.context_length,
            max => max,
        };
        let per_choice = requested.map_or(max, |r| u64::from(r).min(max));
        per_choice.saturating_mul(choices.max(1))
    }

    fn estimate(&self) -> HoldEstimate {
        HoldEstimate {
            prompt_tokens: self.prompt_tokens,
            max_output_tokens: self.output_tokens,
            images: self.images,
            web_searches: self.web_results,
        }
    }

    /// `usage` with its totals at most this bound's (details clamped with
    /// them), and whether anything had to be clamped.
    pub fn clamp(&self, usage: &Usage) -> (Usage, bool) {
        let over = usage.prompt_tokens > self.prompt_tokens
            || usage.completion_tokens > self.output_tokens;
        if !over {
            return (usage.clone(), false);
        }
        let mut clamped = usage.clone();
        clamped.prompt_tokens = usage.prompt_tokens.min(self.prompt_tokens);
        clamped.completion_tokens = usage.completion_tokens.min(self.output_tokens);
        clamped.total_tokens = clamped.prompt_tokens + clamped.completion_tokens;
        if let Some(d) = clamped.prompt_tokens_details.as_mut() {
            let cap = clamped.prompt_tokens;
            d.cached_tokens = d.cached_tokens.min(cap);
            d.cache_write_tokens = d.cache_write_tokens.map(|c| c.min(cap));
        }
        if let Some(d) = clamped.completion_tokens_details.as_mut() {
            let cap = clamped.completion_tokens;
            d.reasoning_tokens = d.reasoning_tokens.min(cap);
        }
        (clamped, true)
    }
}

/// What a generation was charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Credits charged: the cost, or for BYOK the fee.
    pub charge: Decimal,
    /// What the generation cost at the provider's prices (for BYOK, what
    /// the user's own key paid).
    pub upstream_cost: Decimal,
    /// The input side of that cost: prompt, cache reads and writes
    /// (`cost_details.upstream_inference_prompt_cost`).
    pub prompt_cost: Decimal,
    /// The output side: completion and reasoning
    /// (`cost_details.upstream_inference_completions_cost`).
    pub completion_cost: Decimal,
}

/// An open hold, as the store or the books know it.
#[derive(Debug, Clone)]
struct OpenHold {
    id: String,
    account_id: String,
    amount: Decimal,
    /// Kept in memory by the books, not in the store.
    local: Option<LocalHold>,
}

/// An open hold that ends exactly once: by [`HoldGuard::settle`], by
/// [`HoldGuard::release`], or, when dropped unsettled, released.
#[derive(Debug)]
pub struct HoldGuard {
    state: Arc<AppState>,
    hold: Option<OpenHold>,
    /// The web-search results got, charged with the tokens.
    search: Arc<SearchUse>,
}

impl HoldGuard {
    /// Settles the hold to what a generation on `endpoint` within `bound`
    /// cost, and returns the charge.
    ///
    /// `usage` must already be clamped to `bound` (see
    /// [`super::finish`]); the charge is capped at the hold all the same.
    /// A failed or empty generation is charged nothing (zero-completion
    /// insurance is `tollgate-billing`'s). Errors are logged, not
    /// returned: the client already has its answer.
    pub async fn settle(
        mut self,
        endpoint: &CatalogEndpoint,
        usage: &Usage,
        images: u64,
        ending: Ending,
        is_byok: bool,
        generation_id: &str,
    ) -> Settled {
        let Some((amount, account_id, in_books)) = self
            .hold
            .as_ref()
            .map(|h| (h.amount, h.account_id.clone(), h.local.is_some()))
        else {
            return Settled::default();
        };
        let billable = BillableUsage::from_usage(usage, images, self.search.results());
        let pricing = self.search.pricing(&endpoint.pricing);
        let (cost, prompt_cost, completion_cost) = match bill(&pricing, &billable, ending) {
            Ok(b) => (b.charge, b.cost.prompt_side(), b.cost.completion_side()),
            Err(e) => {
                tracing::error!(generation = %generation_id, error = %e, "cost could not be computed; releasing the hold");
                self.release().await;
                return Settled::default();
            }
        };
        let now = chrono::Utc::now();
        // BYOK: the provider bills the user's own key; the account pays
        // only the fee, after the month's free BYOK requests. Read while
        // the guard still owns the hold: if this future is dropped here,
        // the hold is released.
        let charge = if is_byok {
            let before = if in_books {
                self.state
                    .books
                    .byok_requests_in_month(&account_id, now)
                    .await
            } else {
                self.state
                    .store
                    .byok_requests_in_month(&account_id, now)
                    .await
            };
            match before {
                Ok(before) => {
                    tollgate_billing::round_charge(tollgate_billing::byok_fee(cost, before))
                }
                Err(e) => {
                    tracing::error!(generation = %generation_id, error = %e, "BYOK request count unavailable; no fee charged");
                    Decimal::ZERO
                }
            }
        } else {
            cost
        };
        if charge > amount {
            // Unreachable with usage clamped to the bound the hold covers;
            // kept as the last word on "charge ≤ hold".
            tracing::error!(generation = %generation_id, %charge, held = %amount, "charge above its hold; capped");
        }
        let charge = charge.min(amount);
        let Some(hold) = self.hold.take() else {
            return Settled::default();
        };
        let state = self.state.clone();
        match hold.local {
            Some(local) => {
                // What the key's limit counts: the charge, plus what a BYOK
                // key paid upstream when the key includes BYOK usage.
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
                // The books move before the first await: a drop after this
                // point leaves a settled hold, never an open one.
                state.books.settle(&local, charged, generation_id).await;
            }
            None => {
                // A task of its own: dropping this future must not abort
                // the settlement half-way.
                let id = hold.id;
                let generation = generation_id.to_owned();
                let task = tokio::spawn(async move {
                    if let Err(e) = state
                        .store
                        .settle_hold(&id, charge, Some(&generation), chrono::Utc::now())
                        .await
                    {
                        tracing::error!(generation = %generation, hold = %id, error = %e, "settlement failed");
                    }
                });
                let _ = task.await;
            }
        }
        Settled {
            charge,
            upstream_cost: cost,
            prompt_cost,
            completion_cost,
        }
    }

    /// What web search got for this generation (counted by
    /// `crate::search`, charged by [`HoldGuard::settle`]).
    pub fn search(&self) -> &Arc<SearchUse> {
        &self.search
    }

    /// Releases the hold (nothing billable was produced).
    pub async fn release(mut self) {
        if let Some(hold) = self.hold.take()
            && let Some(task) = release(&self.state, hold)
        {
            let _ = task.await;
        }
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            tracing::info!(hold = %hold.id, "request dropped before it finished; hold released");
            self.state.metrics.hold_abandoned();
            // The task (database holds) runs on without us.
            drop(release(&self.state, hold));
        }
    }
}

/// Releases `hold`: in memory at once, or in the store by a task (whose
/// handle is returned). Outside a runtime the store's hold is left to the
/// hold sweeper.
fn release(state: &Arc<AppState>, hold: OpenHold) -> Option<tokio::task::JoinHandle<()>> {
    if let Some(local) = &hold.local {
        state.books.release(local);
        return None;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(hold = %hold.id, "no runtime to release the hold; the hold sweeper will");
        return None;
    };
    let state = state.clone();
    Some(runtime.spawn(async move {
        if let Err(e) = state.store.release_hold(&hold.id, chrono::Utc::now()).await {
            tracing::error!(hold = %hold.id, error = %e, "hold release failed");
        }
    }))
}

/// `X-Tollgate-Max-Tokens-Capped: N`: the request named no `max_tokens`,
/// the balance (or the key's limit) could not cover the endpoint's maximum
/// output, and the request was sent with `max_tokens: N`, the most it
/// affords, instead of being refused.
pub const MAX_TOKENS_CAPPED: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-tollgate-max-tokens-capped");

/// The hold `target` needs: the most the request can cost on its dearest
/// endpoint, each within its [`Bound`].
fn amount_for(target: &Target) -> Result<Decimal, ApiError> {
    let mut amount = Decimal::ZERO;
    for p in &target.endpoints {
        let cost = max_cost(&pricing_of(p), &p.bound.estimate())
            .map_err(|e| ApiError::Internal(format!("hold for {}: {e}", p.endpoint.provider)))?;
        amount = amount.max(cost);
    }
    Ok(amount)
}

/// The prices a hold on `p` counts: the endpoint's, with web-search
/// results at the search price when the request searches.
fn pricing_of(p: &super::Planned) -> std::borrow::Cow<'_, tollgate_catalog::EndpointPricing> {
    if p.bound.web_results > 0 {
        let mut pricing = p.endpoint.pricing.clone();
        pricing.web_search = p.bound.web_result_price;
        std::borrow::Cow::Owned(pricing)
    } else {
        std::borrow::Cow::Borrowed(&p.endpoint.pricing)
    }
}

/// Places the hold for a request on `target` (the most it can cost on its
/// dearest endpoint, each within its [`Bound`]) or answers 402 without
/// calling anyone.
pub async fn place(
    state: &Arc<AppState>,
    key: &ApiKey,
    target: &Target,
) -> Result<HoldGuard, ApiError> {
    let amount = amount_for(target)?;
    match open(state, key, amount).await? {
        Ok(hold) => Ok(guard(state, hold)),
        Err(e) => Err(refused(e, None)),
    }
}

/// [`place`] for a chat request asking for at most `requested` tokens a
/// choice (`max_tokens`, if it says) with `choices` choices. When the
/// balance or the key's limit cannot cover the bound:
///
/// * without `max_tokens`, every endpoint's output bound is lowered to the
///   most the money affords ([`tollgate_billing::affordable_output_tokens`]
///   on each planned endpoint, the least of them) and the hold placed for
///   that; the cap a choice is returned, for the request's `max_tokens`
///   and [`MAX_TOKENS_CAPPED`];
/// * with `max_tokens`, or when not even one token is affordable, the 402
///   names the largest `max_tokens` that would pass.
pub async fn place_capped(
    state: &Arc<AppState>,
    key: &ApiKey,
    target: &mut Target,
    requested: Option<u32>,
    choices: u64,
) -> Result<(HoldGuard, Option<u32>), ApiError> {
    let amount = amount_for(target)?;
    let refusal = match open(state, key, amount).await? {
        Ok(hold) => return Ok((guard(state, hold), None)),
        Err(e) => e,
    };
    let Some(budget) = budget_of(&refusal) else {
        return Err(refused(refusal, None));
    };
    let choices = choices.max(1);
    let mut affordable = u64::from(u32::MAX);
    for p in &target.endpoints {
        let total = tollgate_billing::affordable_output_tokens(
            &pricing_of(p),
            &p.bound.estimate(),
            budget,
            p.bound.output_tokens,
        )
        .map_err(|e| ApiError::Internal(format!("hold for {}: {e}", p.endpoint.provider)))?
        .unwrap_or(0);
        affordable = affordable.min(total / choices);
    }
    let cap = u32::try_from(affordable).unwrap_or(u32::MAX);
    if requested.is_some() || cap == 0 {
        return Err(refused(refusal, Some((requested, cap))));
    }
    for p in &mut target.endpoints {
        p.bound.output_tokens = p.bound.output_tokens.min(u64::from(cap) * choices);
    }
    let amount = amount_for(target)?;
    match open(state, key, amount).await? {
        Ok(hold) => {
            tracing::debug!(max_tokens = cap, %budget, "small balance: max_tokens capped to what it affords");
            Ok((guard(state, hold), Some(cap)))
        }
        // Money moved between the two tries.
        Err(e) => Err(refused(e, Some((requested, cap)))),
    }
}

fn guard(state: &Arc<AppState>, hold: OpenHold) -> HoldGuard {
    HoldGuard {
        state: state.clone(),
        hold: Some(hold),
        search: Arc::default(),
    }
}

/// Opens a hold of `amount`: `Ok(Err(_))` is a refusal for want of money
/// (insufficient credits or key limit), `Err` any other failure.
async fn open(
    state: &Arc<AppState>,
    key: &ApiKey,
    amount: Decimal,
) -> Result<Result<OpenHold, tollgate_store::Error>, ApiError> {
    if state.books.is_local() {
        return match state.books.place(&key.account_id, &key.hash, amount).await {
            Ok(hold) => Ok(Ok(OpenHold {
                id: hold.id.clone(),
                account_id: hold.account_id.clone(),
                amount,
                local: Some(hold),
            })),
            Err(Refusal::Credits { available }) => {
                Ok(Err(tollgate_store::Error::InsufficientCredits {
                    available,
                    needed: amount,
                }))
            }
            Err(Refusal::KeyLimit { limit, remaining }) => {
                Ok(Err(tollgate_store::Error::KeyLimitExceeded {
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
        Ok(hold) => Ok(Ok(OpenHold {
            id: hold.id,
            account_id: key.account_id.clone(),
            amount,
            local: None,
        })),
        Err(
            e @ (tollgate_store::Error::InsufficientCredits { .. }
            | tollgate_store::Error::KeyLimitExceeded { .. }),
        ) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// What a refused hold could have had: the balance available or what is
/// left of the key's limit.
fn budget_of(e: &tollgate_store::Error) -> Option<Decimal> {
    match e {
        tollgate_store::Error::InsufficientCredits { available, .. } => {
            Some((*available).max(Decimal::ZERO))
        }
        tollgate_store::Error::KeyLimitExceeded { remaining, .. } => {
            Some((*remaining).max(Decimal::ZERO))
        }
        _ => None,
    }
}

/// The 402 for a hold the balance or the key's limit cannot cover, naming
/// the largest affordable `max_tokens` when it is known (`(requested,
/// affordable)`); other store errors as they are.
fn refused(e: tollgate_store::Error, tokens: Option<(Option<u32>, u32)>) -> ApiError {
    let advice = match tokens {
        Some((Some(requested), affordable)) => format!(
            " You requested up to {requested} tokens, but can only afford {affordable}: set max_tokens to at most {affordable} or add credits."
        ),
        Some((None, affordable)) => format!(" It can only afford {affordable} output tokens."),
        None => String::new(),
    };
    match e {
        tollgate_store::Error::InsufficientCredits { available, needed } => {
            ApiError::PaymentRequired(format!(
                "Insufficient credits: this request may cost up to ${} and the account has ${} available.{}",
                needed.normalize(),
                available.normalize(),
                if advice.is_empty() {
                    String::from(" Add credits or lower max_tokens.")
                } else {
                    advice
                }
            ))
        }
        tollgate_store::Error::KeyLimitExceeded {
            limit,
            remaining,
            needed,
        } => ApiError::PaymentRequired(format!(
            "API key limit reached: this request may cost up to ${} and the key has ${} left of its ${} limit.{advice}",
            needed.normalize(),
            remaining.normalize(),
            limit.normalize()
        )),
        e => e.into(),
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
