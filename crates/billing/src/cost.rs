//! The cost of a generation: pricing × usage, itemised.

use rust_decimal::Decimal;
use tollgate_catalog::EndpointPricing;

use crate::money::{sum, times};
use crate::{BillableUsage, Result};

/// The cost of one request, item by item, in USD. Exact: no item is
/// rounded (see the crate docs); `total` is the exact sum of the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CostBreakdown {
    /// Prompt tokens not read from or written to the cache, at `prompt`.
    pub prompt: Decimal,
    /// Completion tokens that are not reasoning, at `completion`.
    pub completion: Decimal,
    /// Prompt tokens read from the cache, at `input_cache_read`.
    pub cache_read: Decimal,
    /// Prompt tokens written to the cache, at `input_cache_write`.
    pub cache_write: Decimal,
    /// Reasoning tokens, at `internal_reasoning`.
    pub reasoning: Decimal,
    /// The per-request price, once per request.
    pub request: Decimal,
    /// Input images, at `image`.
    pub image: Decimal,
    /// Web searches, at `web_search`.
    pub web_search: Decimal,
    /// The sum of the above.
    pub total: Decimal,
}

impl CostBreakdown {
    /// The input side: prompt, cache reads and cache writes (what
    /// `cost_details.upstream_inference_prompt_cost` reports).
    pub fn prompt_side(&self) -> Decimal {
        self.prompt + self.cache_read + self.cache_write
    }

    /// The output side: completion and reasoning (what
    /// `cost_details.upstream_inference_completions_cost` reports).
    pub fn completion_side(&self) -> Decimal {
        self.completion + self.reasoning
    }
}

/// `price`, or `fallback` when the endpoint does not price this item apart
/// (a price the listing leaves out is zero in the catalog).
fn or_else(price: Decimal, fallback: Decimal) -> Decimal {
    if price.is_zero() { fallback } else { price }
}

/// The price of one cache-read prompt token: `input_cache_read`, or the
/// prompt price when the endpoint does not price cache reads.
pub(crate) fn cache_read_price(p: &EndpointPricing) -> Decimal {
    or_else(p.input_cache_read, p.prompt)
}

/// The price of one cache-write prompt token: `input_cache_write`, or the
/// prompt price when the endpoint does not price cache writes (they are then
/// ordinary prompt tokens; they are never free because of a missing price).
pub(crate) fn cache_write_price(p: &EndpointPricing) -> Decimal {
    or_else(p.input_cache_write, p.prompt)
}

/// The price of one reasoning token: `internal_reasoning` when non-zero,
/// else the completion price (reasoning tokens are completion tokens).
pub(crate) fn reasoning_price(p: &EndpointPricing) -> Decimal {
    or_else(p.internal_reasoning, p.completion)
}

/// The exact cost of `usage` on an endpoint with these prices:
///
/// ```text
///   (prompt − cache reads − cache writes) × prompt
/// + cache reads  × input_cache_read   (prompt price if not priced apart)
/// + cache writes × input_cache_write  (prompt price if not priced apart)
/// + (completion − reasoning) × completion
/// + reasoning    × internal_reasoning (completion price if zero)
/// + requests × request + images × image + web_searches × web_search
/// ```
///
/// Detail counters are first clamped to their totals
/// ([`BillableUsage::clamped`]). A free endpoint (every price zero) costs
/// zero. This is what the request costs, not what is charged: see
/// [`crate::charge`] for zero-completion insurance.
///
/// Fails only with [`crate::Error::Overflow`], on inputs no real request has.
pub fn cost(pricing: &EndpointPricing, usage: &BillableUsage) -> Result<CostBreakdown> {
    let u = usage.clamped();
    let prompt = times(u.uncached_prompt_tokens(), pricing.prompt, "prompt")?;
    let cache_read = times(
        u.cached_read_tokens,
        cache_read_price(pricing),
        "cache read",
    )?;
    let cache_write = times(
        u.cache_write_tokens,
        cache_write_price(pricing),
        "cache write",
    )?;
    let completion = times(u.output_tokens(), pricing.completion, "completion")?;
    let reasoning = times(u.reasoning_tokens, reasoning_price(pricing), "reasoning")?;
    let request = times(u.requests, pricing.request, "request")?;
    let image = times(u.images, pricing.image, "image")?;
    let web_search = times(u.web_searches, pricing.web_search, "web search")?;
    let total = sum(
        &[
            prompt,
            cache_read,
            cache_write,
            completion,
            reasoning,
            request,
            image,
            web_search,
        ],
        "total",
    )?;
    Ok(CostBreakdown {
        prompt,
        completion,
        cache_read,
        cache_write,
        reasoning,
        request,
        image,
        web_search,
        total,
    })
}

/// What prompt caching changed in the cost of `usage` against every
/// prompt token at the plain prompt price (`/generation` `cache_discount`):
/// cache reads save `prompt − input_cache_read` a token, cache writes cost
/// `input_cache_write − prompt` more (a negative part, as on Anthropic).
/// `None` when the usage read and wrote nothing in the cache.
pub fn cache_discount(pricing: &EndpointPricing, usage: &BillableUsage) -> Result<Option<Decimal>> {
    let u = usage.clamped();
    if u.cached_read_tokens == 0 && u.cache_write_tokens == 0 {
        return Ok(None);
    }
    let saved = times(
        u.cached_read_tokens,
        pricing.prompt - cache_read_price(pricing),
        "cache discount",
    )?;
    let extra = times(
        u.cache_write_tokens,
        cache_write_price(pricing) - pricing.prompt,
        "cache discount",
    )?;
    saved
        .checked_sub(extra)
        .map(Some)
        .ok_or(crate::Error::Overflow("cache discount"))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::Error;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn fallback_prices() {
        let p = EndpointPricing {
            prompt: d("0.000003"),
            completion: d("0.000015"),
            ..Default::default()
        };
        assert_eq!(cache_read_price(&p), d("0.000003"));
        assert_eq!(cache_write_price(&p), d("0.000003"));
        assert_eq!(reasoning_price(&p), d("0.000015"));
        let apart = EndpointPricing {
            input_cache_read: d("0.0000003"),
            input_cache_write: d("0.00000375"),
            internal_reasoning: d("0.00002"),
            ..p
        };
        assert_eq!(cache_read_price(&apart), d("0.0000003"));
        assert_eq!(cache_write_price(&apart), d("0.00000375"));
        assert_eq!(reasoning_price(&apart), d("0.00002"));
    }

    #[test]
    fn sides_add_up() {
        let c = CostBreakdown {
            prompt: d("1"),
            completion: d("2"),
            cache_read: d("0.1"),
            cache_write: d("0.2"),
            reasoning: d("3"),
            request: d("0.5"),
            image: d("0.25"),
            web_search: d("0.125"),
            total: d("7.175"),
        };
        assert_eq!(c.prompt_side(), d("1.3"));
        assert_eq!(c.completion_side(), d("5"));
        assert_eq!(
            c.prompt_side() + c.completion_side() + c.request + c.image + c.web_search,
            c.total
        );
    }

    #[test]
    fn absurd_inputs_overflow_instead_of_rounding() {
        let p = EndpointPricing {
            completion: Decimal::MAX,
            ..Default::default()
        };
        let u = BillableUsage {
            completion_tokens: 2,
            ..Default::default()
        };
        assert_eq!(cost(&p, &u), Err(Error::Overflow("completion")));
        let p = EndpointPricing {
            prompt: d("10000000000000000000000000000"),
            completion: d("70000000000000000000000000000"),
            ..Default::default()
        };
        let u = BillableUsage {
            prompt_tokens: 1,
            completion_tokens: 1,
            ..Default::default()
        };
        assert_eq!(cost(&p, &u), Err(Error::Overflow("total")));
    }

    #[test]
    fn cache_discount_is_reads_saved_less_writes_paid() {
        let pricing = EndpointPricing {
            prompt: d("0.000003"),
            input_cache_read: d("0.0000003"),
            input_cache_write: d("0.00000375"),
            ..Default::default()
        };
        let usage = |read: u64, write: u64| BillableUsage {
            prompt_tokens: 10_000,
            cached_read_tokens: read,
            cache_write_tokens: write,
            ..Default::default()
        };
        // 1000 reads × (0.000003 − 0.0000003) = 0.0027
        assert_eq!(
            cache_discount(&pricing, &usage(1000, 0)).unwrap(),
            Some(d("0.0027"))
        );
        // 1000 writes × (0.000003 − 0.00000375) = −0.00075
        assert_eq!(
            cache_discount(&pricing, &usage(0, 1000)).unwrap(),
            Some(d("-0.00075"))
        );
        assert_eq!(
            cache_discount(&pricing, &usage(1000, 1000)).unwrap(),
            Some(d("0.00195"))
        );
        assert_eq!(cache_discount(&pricing, &usage(0, 0)).unwrap(), None);
        // Reads on an endpoint that does not price them apart save nothing.
        let flat = EndpointPricing {
            prompt: d("0.000003"),
            ..Default::default()
        };
        assert_eq!(
            cache_discount(&flat, &usage(1000, 0)).unwrap(),
            Some(Decimal::ZERO)
        );
    }
}
