//! The hold placed before a request: the most it can cost.

use rust_decimal::Decimal;
use tollgate_catalog::EndpointPricing;

use rust_decimal::prelude::ToPrimitive;

use crate::Result;
use crate::cost::{cache_read_price, cache_write_price, reasoning_price};
use crate::money::{round_hold, sum, times};

/// What is known of a request before it is sent, as upper bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HoldEstimate {
    /// Prompt tokens, as counted or over-estimated before sending.
    pub prompt_tokens: u64,
    /// The output cap: the request's `max_tokens` (or
    /// `max_completion_tokens`), else the endpoint's maximum output.
    pub max_output_tokens: u64,
    /// Input images.
    pub images: u64,
    /// Web searches the request may run (0 unless web search is on).
    pub web_searches: u64,
}

/// The most a request within `estimate` can cost on this endpoint, rounded
/// up to ledger precision: the size of its hold.
///
/// Every prompt token is priced at the dearest input price (prompt, cache
/// read, cache write: a cache write usually costs more than a plain prompt
/// token, 1.25× on Anthropic, so "all at the prompt price" would not be an
/// upper bound), every output token at the dearer of completion and
/// internal reasoning, plus one request, the images and the web searches.
///
/// For every usage whose totals stay within the estimate (prompt tokens,
/// completion tokens, images and web searches at most the estimate's, one
/// request), `cost(pricing, usage).total ≤ max_cost(pricing, estimate)`, and
/// so is its charge. (Tested as a property.)
pub fn max_cost(pricing: &EndpointPricing, estimate: &HoldEstimate) -> Result<Decimal> {
    let input_price = pricing
        .prompt
        .max(cache_read_price(pricing))
        .max(cache_write_price(pricing));
    let output_price = pricing.completion.max(reasoning_price(pricing));
    let total = sum(
        &[
            times(estimate.prompt_tokens, input_price, "prompt")?,
            times(estimate.max_output_tokens, output_price, "completion")?,
            pricing.request,
            times(estimate.images, pricing.image, "image")?,
            times(estimate.web_searches, pricing.web_search, "web search")?,
        ],
        "hold",
    )?;
    Ok(round_hold(total))
}

/// The most output tokens, at most `cap`, that a request within `estimate`
/// (its `max_output_tokens` ignored) may be given on this endpoint while its
/// hold ([`max_cost`]) stays within `budget`: the largest `t ≤ cap` with
/// `max_cost(estimate with t output tokens) ≤ budget`.
///
/// `None` when not even the rest of the request (prompt, request price,
/// images, searches) fits the budget. Output that costs nothing on this
/// endpoint is always affordable: `Some(cap)`.
///
/// A small balance thus buys a shorter answer instead of a refusal
/// (issue 20, "Small balances").
pub fn affordable_output_tokens(
    pricing: &EndpointPricing,
    estimate: &HoldEstimate,
    budget: Decimal,
    cap: u64,
) -> Result<Option<u64>> {
    let with = |tokens: u64| {
        max_cost(
            pricing,
            &HoldEstimate {
                max_output_tokens: tokens,
                ..*estimate
            },
        )
    };
    let fixed = with(0)?;
    if fixed > budget {
        return Ok(None);
    }
    let output_price = pricing.completion.max(reasoning_price(pricing));
    if output_price <= Decimal::ZERO {
        return Ok(Some(cap));
    }
    // (budget − fixed) / price, floored: `fixed` is rounded up, so this is
    // at most one token short of the exact answer, which the steps below
    // settle against `max_cost` itself.
    let mut tokens = (budget - fixed)
        .checked_div(output_price)
        .and_then(|q| q.floor().to_u64())
        .unwrap_or(u64::MAX)
        .min(cap);
    while tokens > 0 && with(tokens)? > budget {
        tokens -= 1;
    }
    while tokens < cap && with(tokens + 1)? <= budget {
        tokens += 1;
    }
    Ok(Some(tokens))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn hold_prices_every_token_at_its_dearest() {
        let pricing = EndpointPricing {
            prompt: d("0.000003"),
            completion: d("0.000015"),
            request: d("0.001"),
            image: d("0.0048"),
            web_search: d("0.004"),
            internal_reasoning: d("0.00002"),
            input_cache_read: d("0.0000003"),
            input_cache_write: d("0.00000375"),
        };
        let estimate = HoldEstimate {
            prompt_tokens: 2_000,
            max_output_tokens: 1_000,
            images: 2,
            web_searches: 5,
        };
        // 2000 × 0.00000375 = 0.0075      (cache write is the dearest input)
        // 1000 × 0.00002    = 0.02        (reasoning is the dearest output)
        //                   + 0.001       (request)
        // 2 × 0.0048        = 0.0096
        // 5 × 0.004         = 0.02
        assert_eq!(max_cost(&pricing, &estimate).unwrap(), d("0.0581"));
    }

    #[test]
    fn free_endpoints_hold_nothing() {
        let estimate = HoldEstimate {
            prompt_tokens: 100_000,
            max_output_tokens: 100_000,
            images: 3,
            web_searches: 3,
        };
        assert_eq!(
            max_cost(&EndpointPricing::default(), &estimate).unwrap(),
            Decimal::ZERO
        );
    }

    #[test]
    fn holds_round_up() {
        let pricing = EndpointPricing {
            prompt: d("0.0000000000001"),
            ..Default::default()
        };
        let estimate = HoldEstimate {
            prompt_tokens: 1,
            ..Default::default()
        };
        assert_eq!(max_cost(&pricing, &estimate).unwrap(), d("0.000000000001"));
    }

    fn echo_pricing() -> EndpointPricing {
        EndpointPricing {
            prompt: d("0.000003"),
            completion: d("0.000006"),
            input_cache_write: d("0.00000375"),
            ..Default::default()
        }
    }

    #[test]
    fn a_small_budget_buys_the_output_it_covers() {
        let estimate = HoldEstimate {
            prompt_tokens: 100,
            ..Default::default()
        };
        // 100 prompt tokens at the dearest input price (cache write):
        // 0.000375; $0.05 leaves 0.049625, i.e. 8270.83 tokens at 0.000006.
        let t = affordable_output_tokens(&echo_pricing(), &estimate, d("0.05"), 16_384)
            .unwrap()
            .unwrap();
        assert_eq!(t, 8270);
        let hold = |t| {
            max_cost(
                &echo_pricing(),
                &HoldEstimate {
                    max_output_tokens: t,
                    ..estimate
                },
            )
            .unwrap()
        };
        assert!(hold(t) <= d("0.05"));
        assert!(hold(t + 1) > d("0.05"));
    }

    #[test]
    fn an_exact_budget_is_affordable() {
        let estimate = HoldEstimate::default();
        // 1000 tokens at 0.000006 = 0.006 exactly.
        let t = affordable_output_tokens(&echo_pricing(), &estimate, d("0.006"), 5_000).unwrap();
        assert_eq!(t, Some(1000));
    }

    #[test]
    fn the_cap_bounds_what_a_large_budget_buys() {
        let t =
            affordable_output_tokens(&echo_pricing(), &HoldEstimate::default(), d("1000"), 16_384)
                .unwrap();
        assert_eq!(t, Some(16_384));
        // Free output: always the cap.
        let free_output = EndpointPricing {
            prompt: d("0.000001"),
            ..Default::default()
        };
        let t =
            affordable_output_tokens(&free_output, &HoldEstimate::default(), d("0"), 77).unwrap();
        assert_eq!(t, Some(77));
    }

    #[test]
    fn a_budget_below_the_prompt_buys_nothing() {
        let estimate = HoldEstimate {
            prompt_tokens: 1_000,
            ..Default::default()
        };
        // The prompt alone holds 0.00375.
        assert_eq!(
            affordable_output_tokens(&echo_pricing(), &estimate, d("0.003"), 100).unwrap(),
            None
        );
        // Exactly the prompt: the prompt fits, no output does.
        assert_eq!(
            affordable_output_tokens(&echo_pricing(), &estimate, d("0.00375"), 100).unwrap(),
            Some(0)
        );
    }
}
