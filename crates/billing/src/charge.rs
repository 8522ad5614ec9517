//! What is debited: the cost after zero-completion insurance.

use rust_decimal::Decimal;
use tollgate_catalog::EndpointPricing;

use crate::money::round_charge;
use crate::{BillableUsage, CostBreakdown, Result, cost};

/// How a request ended, with what billing needs to know about it.
///
/// Zero-completion insurance (overview.txt: "if a model returns an empty or
/// failed completion, you're not charged"), as [`charge`] applies it:
///
/// - only a completion the provider delivered is charged: [`Succeeded`]
///   with at least one completion token;
/// - [`Failed`] is never charged, whatever the provider counted, including a
///   provider error in the middle of a stream after some tokens: the user
///   did not get the completion they asked for;
/// - a completion with zero completion tokens is never charged, whether it
///   succeeded (an empty answer) or was cancelled;
/// - [`Cancelled`], a stream the client abandoned half-way, is charged for
///   what was produced: the provider did the work and the client chose to
///   stop; so it counts as successful for as far as it went, and its cost
///   is that of the tokens produced until the cancellation;
/// - [`Embedded`] is for requests that produce no completion by nature
///   (embeddings): charged whenever they succeeded.
///
/// Free endpoints cost zero, so they charge zero in every case.
///
/// [`Succeeded`]: Outcome::Succeeded
/// [`Failed`]: Outcome::Failed
/// [`Cancelled`]: Outcome::Cancelled
/// [`Embedded`]: Outcome::Embedded
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The provider finished the completion (any finish reason but an
    /// error).
    Succeeded {
        /// Completion tokens produced.
        completion_tokens: u64,
        /// The request's cost, [`CostBreakdown::total`].
        cost: Decimal,
    },
    /// The client disconnected mid-stream and the upstream request was
    /// cancelled.
    Cancelled {
        /// Completion tokens produced before the cancellation.
        completion_tokens: u64,
        /// The cost of what was produced, [`CostBreakdown::total`].
        cost: Decimal,
    },
    /// The provider failed, before the first token or mid-stream.
    Failed,
    /// A successful request without a completion by nature (embeddings).
    Embedded {
        /// The request's cost, [`CostBreakdown::total`].
        cost: Decimal,
    },
}

/// What the request is charged, at ledger precision ([`round_charge`]),
/// never negative. See [`Outcome`] for the insurance rule.
pub fn charge(outcome: &Outcome) -> Decimal {
    let cost = match *outcome {
        Outcome::Failed => return Decimal::ZERO,
        Outcome::Succeeded {
            completion_tokens: 0,
            ..
        }
        | Outcome::Cancelled {
            completion_tokens: 0,
            ..
        } => return Decimal::ZERO,
        Outcome::Succeeded { cost, .. }
        | Outcome::Cancelled { cost, .. }
        | Outcome::Embedded { cost } => cost,
    };
    round_charge(cost.max(Decimal::ZERO))
}

/// The bill of one request: its cost and what it is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bill {
    /// What the request cost, itemised (for the generation record and
    /// `cost_details`).
    pub cost: CostBreakdown,
    /// What is debited (for `usage.cost` and the settlement).
    pub charge: Decimal,
}

/// How a request that produced `usage` ended, for [`bill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// See [`Outcome::Succeeded`].
    Succeeded,
    /// See [`Outcome::Cancelled`].
    Cancelled,
    /// See [`Outcome::Failed`].
    Failed,
    /// See [`Outcome::Embedded`].
    Embedded,
}

/// [`cost`] and [`charge`] in one step, for a request that ended as
/// `ending` after producing `usage`.
pub fn bill(pricing: &EndpointPricing, usage: &BillableUsage, ending: Ending) -> Result<Bill> {
    let cost = cost(pricing, usage)?;
    let completion_tokens = usage.completion_tokens;
    let outcome = match ending {
        Ending::Succeeded => Outcome::Succeeded {
            completion_tokens,
            cost: cost.total,
        },
        Ending::Cancelled => Outcome::Cancelled {
            completion_tokens,
            cost: cost.total,
        },
        Ending::Failed => Outcome::Failed,
        Ending::Embedded => Outcome::Embedded { cost: cost.total },
    };
    Ok(Bill {
        cost,
        charge: charge(&outcome),
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn insurance() {
        let cost = d("0.0042");
        let ok = |completion_tokens| Outcome::Succeeded {
            completion_tokens,
            cost,
        };
        let cancelled = |completion_tokens| Outcome::Cancelled {
            completion_tokens,
            cost,
        };
        assert_eq!(charge(&ok(10)), cost);
        assert_eq!(charge(&ok(0)), Decimal::ZERO, "empty completion");
        assert_eq!(charge(&cancelled(3)), cost, "billed for what was produced");
        assert_eq!(charge(&cancelled(0)), Decimal::ZERO);
        assert_eq!(charge(&Outcome::Failed), Decimal::ZERO);
        assert_eq!(charge(&Outcome::Embedded { cost }), cost);
        // Free: zero cost, zero charge.
        assert_eq!(
            charge(&Outcome::Succeeded {
                completion_tokens: 500,
                cost: Decimal::ZERO
            }),
            Decimal::ZERO
        );
    }

    #[test]
    fn charge_is_at_ledger_precision_and_never_negative() {
        let tiny = Outcome::Succeeded {
            completion_tokens: 1,
            cost: d("0.00000000000049"),
        };
        assert_eq!(charge(&tiny), Decimal::ZERO);
        let half = Outcome::Succeeded {
            completion_tokens: 1,
            cost: d("0.0000000000015"),
        };
        assert_eq!(charge(&half), d("0.000000000002"));
        let negative = Outcome::Embedded { cost: d("-1") };
        assert_eq!(charge(&negative), Decimal::ZERO);
    }

    #[test]
    fn bill_applies_the_ending() {
        let pricing = EndpointPricing {
            prompt: d("0.000001"),
            completion: d("0.000002"),
            ..Default::default()
        };
        let usage = BillableUsage {
            prompt_tokens: 100,
            completion_tokens: 50,
            ..Default::default()
        };
        // 100 × 0.000001 + 50 × 0.000002 = 0.0001 + 0.0001
        let cost = d("0.0002");
        for (ending, charged) in [
            (Ending::Succeeded, cost),
            (Ending::Cancelled, cost),
            (Ending::Failed, Decimal::ZERO),
            (Ending::Embedded, cost),
        ] {
            let b = bill(&pricing, &usage, ending).unwrap();
            assert_eq!(b.cost.total, cost, "{ending:?}");
            assert_eq!(b.charge, charged, "{ending:?}");
        }
        let empty = BillableUsage {
            completion_tokens: 0,
            ..usage
        };
        assert_eq!(
            bill(&pricing, &empty, Ending::Succeeded).unwrap().charge,
            Decimal::ZERO
        );
    }
}
