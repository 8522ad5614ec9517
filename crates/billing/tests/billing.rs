//! `tollgate-billing` through its public API: exact costs of fixture usages
//! (expected values computed by hand from the formula, as decimal literals),
//! insurance, BYOK, and the hold-covers-cost property.

// Helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;
use tollgate_billing::{
    BillableUsage, CostBreakdown, Ending, HoldEstimate, LEDGER_SCALE, Outcome, bill, byok_fee,
    charge, cost, max_cost,
};
use tollgate_catalog::EndpointPricing;
use tollgate_schema::usage::{CompletionTokensDetails, PromptTokensDetails, Usage};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Claude-Sonnet-like: $3/M in, $15/M out, cache read $0.30/M, cache write
/// $3.75/M, no reasoning price (reasoning at the completion price).
fn sonnet() -> EndpointPricing {
    EndpointPricing {
        prompt: d("0.000003"),
        completion: d("0.000015"),
        input_cache_read: d("0.0000003"),
        input_cache_write: d("0.00000375"),
        ..Default::default()
    }
}

/// Every price set, reasoning dearer than completion, odd decimals.
fn everything() -> EndpointPricing {
    EndpointPricing {
        prompt: d("0.00000125"),
        completion: d("0.00001"),
        request: d("0.0005"),
        image: d("0.001238"),
        web_search: d("0.004"),
        internal_reasoning: d("0.0000125"),
        input_cache_read: d("0.0000003125"),
        input_cache_write: d("0.000001625"),
    }
}

/// One `check`: the breakdown item by item, and the total as their sum.
fn check(pricing: &EndpointPricing, usage: BillableUsage, expected: [&str; 8]) {
    let [
        prompt,
        completion,
        cache_read,
        cache_write,
        reasoning,
        request,
        image,
        web_search,
    ] = expected.map(d);
    let total =
        prompt + completion + cache_read + cache_write + reasoning + request + image + web_search;
    let got = cost(pricing, &usage).unwrap();
    assert_eq!(
        got,
        CostBreakdown {
            prompt,
            completion,
            cache_read,
            cache_write,
            reasoning,
            request,
            image,
            web_search,
            total,
        },
        "{usage:?}"
    );
}

#[test]
fn plain_prompt_and_completion() {
    // 1234 × 0.000003 = 0.003702; 567 × 0.000015 = 0.008505.
    check(
        &sonnet(),
        BillableUsage {
            prompt_tokens: 1234,
            completion_tokens: 567,
            ..Default::default()
        },
        ["0.003702", "0.008505", "0", "0", "0", "0", "0", "0"],
    );
    assert_eq!(
        cost(
            &sonnet(),
            &BillableUsage {
                prompt_tokens: 1234,
                completion_tokens: 567,
                ..Default::default()
            }
        )
        .unwrap()
        .total,
        d("0.012207")
    );
}

#[test]
fn cache_reads_and_writes_at_their_prices() {
    // prompt 10000 = 6000 read + 2500 written + 1500 plain.
    // 1500 × 0.000003 = 0.0045
    // 6000 × 0.0000003 = 0.0018
    // 2500 × 0.00000375 = 0.009375
    // 800 × 0.000015 = 0.012
    check(
        &sonnet(),
        BillableUsage {
            prompt_tokens: 10_000,
            completion_tokens: 800,
            cached_read_tokens: 6_000,
            cache_write_tokens: 2_500,
            ..Default::default()
        },
        ["0.0045", "0.012", "0.0018", "0.009375", "0", "0", "0", "0"],
    );
}

#[test]
fn cache_prices_fall_back_to_the_prompt_price() {
    // No cache prices: 300 read and 200 written cost like plain prompt
    // tokens: 500 × 0.000002 = 0.001, split 0.0006 / 0.0004; the other 500
    // plain = 0.001.
    let p = EndpointPricing {
        prompt: d("0.000002"),
        completion: d("0.000008"),
        ..Default::default()
    };
    check(
        &p,
        BillableUsage {
            prompt_tokens: 1_000,
            completion_tokens: 10,
            cached_read_tokens: 300,
            cache_write_tokens: 200,
            ..Default::default()
        },
        ["0.001", "0.00008", "0.0006", "0.0004", "0", "0", "0", "0"],
    );
}

#[test]
fn reasoning_at_internal_reasoning_when_priced() {
    // completion 2000 = 1500 reasoning + 500 answer.
    // 500 × 0.00001 = 0.005; 1500 × 0.0000125 = 0.01875.
    // prompt 100 × 0.00000125 = 0.000125; request 0.0005.
    check(
        &everything(),
        BillableUsage {
            prompt_tokens: 100,
            completion_tokens: 2_000,
            reasoning_tokens: 1_500,
            ..Default::default()
        },
        ["0.000125", "0.005", "0", "0", "0.01875", "0.0005", "0", "0"],
    );
}

#[test]
fn reasoning_at_the_completion_price_otherwise() {
    // 1500 reasoning × 0.000015 = 0.0225; 500 × 0.000015 = 0.0075.
    check(
        &sonnet(),
        BillableUsage {
            prompt_tokens: 0,
            completion_tokens: 2_000,
            reasoning_tokens: 1_500,
            ..Default::default()
        },
        ["0", "0.0075", "0", "0", "0.0225", "0", "0", "0"],
    );
}

#[test]
fn every_item_at_once() {
    // prompt 50000 = 30000 read + 8000 written + 12000 plain
    //   12000 × 0.00000125   = 0.015
    //   30000 × 0.0000003125 = 0.009375
    //    8000 × 0.000001625  = 0.013
    // completion 4096 = 1024 reasoning + 3072
    //    3072 × 0.00001      = 0.03072
    //    1024 × 0.0000125    = 0.0128
    // request 0.0005; 3 images × 0.001238 = 0.003714; 2 searches × 0.004 = 0.008
    let usage = BillableUsage {
        prompt_tokens: 50_000,
        completion_tokens: 4_096,
        cached_read_tokens: 30_000,
        cache_write_tokens: 8_000,
        reasoning_tokens: 1_024,
        images: 3,
        web_searches: 2,
        requests: 1,
    };
    check(
        &everything(),
        usage,
        [
            "0.015", "0.03072", "0.009375", "0.013", "0.0128", "0.0005", "0.003714", "0.008",
        ],
    );
    // 0.015 + 0.03072 + 0.009375 + 0.013 + 0.0128 + 0.0005 + 0.003714 + 0.008
    assert_eq!(cost(&everything(), &usage).unwrap().total, d("0.093109"));
    let b = bill(&everything(), &usage, Ending::Succeeded).unwrap();
    assert_eq!(b.charge, d("0.093109"));
}

#[test]
fn from_wire_usage() {
    // An OpenRouter usage object as a client sees it.
    let usage: Usage = serde_json::from_str(
        r#"{"prompt_tokens":2000,"completion_tokens":300,"total_tokens":2300,
            "prompt_tokens_details":{"cached_tokens":1200,"cache_write_tokens":500},
            "completion_tokens_details":{"reasoning_tokens":100}}"#,
    )
    .unwrap();
    let billable = BillableUsage::from_usage(&usage, 0, 1);
    // 300 plain × 0.000003 = 0.0009; 1200 × 0.0000003 = 0.00036;
    // 500 × 0.00000375 = 0.001875; 200 × 0.000015 = 0.003;
    // 100 reasoning × 0.000015 = 0.0015; web search price 0.
    check(
        &sonnet(),
        billable,
        [
            "0.0009", "0.003", "0.00036", "0.001875", "0.0015", "0", "0", "0",
        ],
    );
    let with_details = Usage {
        prompt_tokens_details: Some(PromptTokensDetails::default()),
        completion_tokens_details: Some(CompletionTokensDetails::default()),
        ..Usage::new(10, 0)
    };
    assert_eq!(
        BillableUsage::from_usage(&with_details, 0, 0).prompt_tokens,
        10
    );
}

#[test]
fn free_endpoints_cost_and_charge_nothing() {
    let free = EndpointPricing::default();
    let usage = BillableUsage {
        prompt_tokens: 100_000,
        completion_tokens: 50_000,
        cached_read_tokens: 1_000,
        cache_write_tokens: 1_000,
        reasoning_tokens: 10_000,
        images: 4,
        web_searches: 2,
        requests: 1,
    };
    assert_eq!(cost(&free, &usage).unwrap(), CostBreakdown::default());
    for ending in [
        Ending::Succeeded,
        Ending::Cancelled,
        Ending::Failed,
        Ending::Embedded,
    ] {
        assert_eq!(bill(&free, &usage, ending).unwrap().charge, Decimal::ZERO);
    }
}

#[test]
fn insurance_and_cancellation() {
    let usage = BillableUsage {
        prompt_tokens: 1_000,
        completion_tokens: 40,
        ..Default::default()
    };
    // 1000 × 0.000003 + 40 × 0.000015 = 0.003 + 0.0006
    let full = d("0.0036");
    assert_eq!(
        bill(&sonnet(), &usage, Ending::Succeeded).unwrap().charge,
        full
    );
    assert_eq!(
        bill(&sonnet(), &usage, Ending::Cancelled).unwrap().charge,
        full,
        "a stream cancelled half-way pays what was produced"
    );
    assert_eq!(
        bill(&sonnet(), &usage, Ending::Failed).unwrap().charge,
        Decimal::ZERO,
        "a provider failure is never charged, even mid-stream"
    );
    let empty = BillableUsage {
        completion_tokens: 0,
        ..usage
    };
    let b = bill(&sonnet(), &empty, Ending::Succeeded).unwrap();
    assert_eq!(b.cost.total, d("0.003"), "the cost is still recorded");
    assert_eq!(b.charge, Decimal::ZERO, "zero-completion insurance");
    assert_eq!(
        charge(&Outcome::Cancelled {
            completion_tokens: 0,
            cost: d("0.003")
        }),
        Decimal::ZERO
    );
}

#[test]
fn byok_fee_on_what_it_would_have_cost() {
    let usage = BillableUsage {
        prompt_tokens: 10_000,
        completion_tokens: 1_000,
        ..Default::default()
    };
    // 10000 × 0.000003 + 1000 × 0.000015 = 0.03 + 0.015 = 0.045; 5% = 0.00225.
    let would = bill(&sonnet(), &usage, Ending::Succeeded).unwrap().charge;
    assert_eq!(would, d("0.045"));
    assert_eq!(byok_fee(would, 999_999), Decimal::ZERO);
    assert_eq!(byok_fee(would, 1_000_000), d("0.00225"));
    // A failed BYOK request would have cost nothing, so no fee.
    let failed = bill(&sonnet(), &usage, Ending::Failed).unwrap().charge;
    assert_eq!(byok_fee(failed, 5_000_000), Decimal::ZERO);
}

#[test]
fn hold_for_a_typical_request() {
    // 3000 prompt at the dearest input (cache write 0.00000375) = 0.01125
    // 1024 output at 0.000015 = 0.01536
    let hold = max_cost(
        &sonnet(),
        &HoldEstimate {
            prompt_tokens: 3_000,
            max_output_tokens: 1_024,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(hold, d("0.02661"));
}

// ---- properties ----

/// A price as listings quote them: up to $100 per million tokens with up to
/// 4 decimals per million, i.e. at most 10 decimals per token; often zero.
fn price() -> impl Strategy<Value = Decimal> + Clone {
    prop_oneof![
        1 => Just(Decimal::ZERO),
        4 => (0i64..=1_000_000).prop_map(|per_m_e4| Decimal::new(per_m_e4, 10)),
    ]
}

/// Any price at all, up to 28 decimals: the hold property must not depend
/// on realistic listings.
fn any_price() -> impl Strategy<Value = Decimal> + Clone {
    (0i64..=i64::MAX, 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s))
}

fn pricing(
    price: impl Strategy<Value = Decimal> + Clone,
) -> impl Strategy<Value = EndpointPricing> {
    (
        (price.clone(), price.clone(), price.clone(), price.clone()),
        (price.clone(), price.clone(), price.clone(), price),
    )
        .prop_map(
            |(
                (prompt, completion, request, image),
                (web_search, internal_reasoning, input_cache_read, input_cache_write),
            )| EndpointPricing {
                prompt,
                completion,
                request,
                image,
                web_search,
                internal_reasoning,
                input_cache_read,
                input_cache_write,
            },
        )
}

/// An estimate and a usage within it (details may exceed their totals: the
/// cost clamps them).
fn estimate_and_usage() -> impl Strategy<Value = (HoldEstimate, BillableUsage)> {
    (0u64..2_000_000, 0u64..200_000, 0u64..8, 0u64..8).prop_flat_map(
        |(prompt, output, images, searches)| {
            let estimate = HoldEstimate {
                prompt_tokens: prompt,
                max_output_tokens: output,
                images,
                web_searches: searches,
            };
            (
                Just(estimate),
                (
                    0..=prompt,
                    0..=output,
                    0..=prompt,
                    0..=prompt,
                    0..=output,
                    0..=images,
                    0..=searches,
                )
                    .prop_map(|(p, c, read, write, reasoning, i, w)| {
                        BillableUsage {
                            prompt_tokens: p,
                            completion_tokens: c,
                            cached_read_tokens: read,
                            cache_write_tokens: write,
                            reasoning_tokens: reasoning,
                            images: i,
                            web_searches: w,
                            requests: 1,
                        }
                    }),
            )
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn hold_covers_every_usage_within_it(
        pricing in pricing(price()),
        (estimate, usage) in estimate_and_usage(),
    ) {
        let hold = max_cost(&pricing, &estimate).unwrap();
        let b = bill(&pricing, &usage, Ending::Succeeded).unwrap();
        prop_assert!(b.cost.total <= hold, "cost {} > hold {}", b.cost.total, hold);
        prop_assert!(b.charge <= hold, "charge {} > hold {}", b.charge, hold);
        prop_assert!(hold.scale() <= LEDGER_SCALE);
    }

    #[test]
    fn hold_covers_cost_at_any_price(
        pricing in pricing(any_price()),
        (estimate, usage) in estimate_and_usage(),
    ) {
        // With 28-decimal prices and millions of tokens an exact product can
        // need more than 28 digits: then both refuse, never approximate.
        if let (Ok(hold), Ok(b)) = (
            max_cost(&pricing, &estimate),
            bill(&pricing, &usage, Ending::Succeeded),
        ) {
            prop_assert!(b.cost.total <= hold, "cost {} > hold {}", b.cost.total, hold);
            prop_assert!(b.charge <= hold);
        }
    }

    #[test]
    fn realistic_costs_are_exact_at_ledger_precision(
        pricing in pricing(price()),
        (_, usage) in estimate_and_usage(),
    ) {
        let b = bill(&pricing, &usage, Ending::Succeeded).unwrap();
        let c = b.cost;
        prop_assert_eq!(
            c.total,
            c.prompt + c.completion + c.cache_read + c.cache_write + c.reasoning
                + c.request + c.image + c.web_search
        );
        // Listing prices have ≤ 10 decimals per token: the charge is the
        // cost itself, not a rounding of it.
        if usage.completion_tokens > 0 {
            prop_assert_eq!(b.charge, c.total);
        }
        prop_assert!(c.total >= Decimal::ZERO);
    }

    #[test]
    fn cost_is_monotonic_in_tokens(
        pricing in pricing(price()),
        (_, usage) in estimate_and_usage(),
        extra_prompt in 0u64..1000,
        extra_completion in 0u64..1000,
    ) {
        let more = BillableUsage {
            prompt_tokens: usage.prompt_tokens + extra_prompt,
            completion_tokens: usage.completion_tokens + extra_completion,
            ..usage
        };
        prop_assert!(cost(&pricing, &usage).unwrap().total <= cost(&pricing, &more).unwrap().total);
    }
}
