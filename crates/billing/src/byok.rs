//! The fee on requests paid with the user's own provider key (BYOK).

use rust_decimal::Decimal;

use crate::money::round_charge;

/// The operator's billing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BillingPolicy {
    /// The BYOK fee as a fraction of what the request would have cost
    /// through the shared key: 0.05 (5%). Clamped to `0..=1` when applied.
    pub byok_fee_rate: Decimal,
    /// BYOK requests per account per calendar month (UTC) that carry no
    /// fee: 1,000,000.
    pub byok_free_requests_per_month: u64,
}

impl Default for BillingPolicy {
    /// The overview's terms: the first 1M BYOK requests of a month are free,
    /// then 5% of the upstream cost.
    fn default() -> Self {
        BillingPolicy {
            byok_fee_rate: Decimal::new(5, 2),
            byok_free_requests_per_month: 1_000_000,
        }
    }
}

impl BillingPolicy {
    /// The fee for one BYOK request.
    ///
    /// `would_cost` is what the request would have been charged without
    /// BYOK (so zero-completion insurance already applied: pass the result
    /// of [`crate::charge`]); `byok_requests_before` counts the account's
    /// BYOK requests earlier in the same calendar month (UTC, see
    /// [`crate::LimitReset::Monthly`]), so this request is number
    /// `byok_requests_before + 1`. Requests 1 through
    /// `byok_free_requests_per_month` are free; every later one pays
    /// `byok_fee_rate × would_cost`, at ledger precision ([`round_charge`]).
    /// A non-positive `would_cost` pays nothing.
    pub fn byok_fee(&self, would_cost: Decimal, byok_requests_before: u64) -> Decimal {
        if byok_requests_before < self.byok_free_requests_per_month || would_cost <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        let rate = self.byok_fee_rate.clamp(Decimal::ZERO, Decimal::ONE);
        // |would_cost × rate| ≤ |would_cost|, so the product cannot overflow;
        // at worst rust_decimal rounds past the 28th digit, far below the
        // ledger's 12 decimals.
        round_charge(would_cost * rate)
    }
}

/// [`BillingPolicy::byok_fee`] under the default policy (5% after the first
/// 1,000,000 BYOK requests of the month).
pub fn byok_fee(would_cost: Decimal, byok_requests_before: u64) -> Decimal {
    BillingPolicy::default().byok_fee(would_cost, byok_requests_before)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn threshold_edges() {
        let cost = d("0.002");
        // Requests number 1 ..= 1,000,000 are free.
        assert_eq!(byok_fee(cost, 0), Decimal::ZERO);
        assert_eq!(byok_fee(cost, 999_998), Decimal::ZERO);
        assert_eq!(byok_fee(cost, 999_999), Decimal::ZERO, "the millionth");
        // Number 1,000,001 and later pay 5%: 0.002 × 0.05 = 0.0001.
        assert_eq!(byok_fee(cost, 1_000_000), d("0.0001"));
        assert_eq!(byok_fee(cost, 1_000_001), d("0.0001"));
        assert_eq!(byok_fee(cost, u64::MAX), d("0.0001"));
    }

    #[test]
    fn fee_amounts() {
        let after = 1_000_000;
        assert_eq!(byok_fee(Decimal::ZERO, after), Decimal::ZERO);
        assert_eq!(byok_fee(d("-1"), after), Decimal::ZERO);
        // 0.000000000123 × 0.05 = 0.00000000000615 → 12 places, half up.
        assert_eq!(byok_fee(d("0.000000000123"), after), d("0.000000000006"));
        // 0.00000000001 × 0.05 = 0.0000000000005 → rounds half up to 1e-12.
        assert_eq!(byok_fee(d("0.00000000001"), after), d("0.000000000001"));
        assert_eq!(byok_fee(d("12.34"), after), d("0.617"));
    }

    #[test]
    fn custom_policy() {
        let policy = BillingPolicy {
            byok_fee_rate: d("0.1"),
            byok_free_requests_per_month: 0,
        };
        assert_eq!(policy.byok_fee(d("3"), 0), d("0.3"));
        let absurd = BillingPolicy {
            byok_fee_rate: d("7"),
            byok_free_requests_per_month: 0,
        };
        assert_eq!(
            absurd.byok_fee(Decimal::MAX, 0),
            Decimal::MAX,
            "clamped to 100%"
        );
    }
}
