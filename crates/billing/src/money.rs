//! Exact arithmetic and the one place amounts are rounded.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::{Error, Result};

/// Decimal places the ledger keeps: 10^-12 USD (a picodollar).
///
/// Per-token prices of real listings have at most ~10 decimals, so costs
/// computed from them fit without rounding; the two spare digits cover
/// percentage fees (5% adds two decimals).
pub const LEDGER_SCALE: u32 = 12;

/// Brings a charge or fee to [`LEDGER_SCALE`], rounding half away from zero.
/// A no-op for amounts with 12 decimals or fewer.
pub fn round_charge(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(LEDGER_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// Brings a hold to [`LEDGER_SCALE`], rounding up (towards +infinity), so a
/// hold of at least the exact maximum cost covers any charge
/// [`round_charge`] can produce from a cost up to that maximum.
pub fn round_hold(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(LEDGER_SCALE, RoundingStrategy::ToPositiveInfinity)
}

/// `count × price`, exactly, or [`Error::Overflow`] naming `what`.
///
/// `rust_decimal` keeps the scale of an exact product (`0 + price.scale()`)
/// and lowers it only when it has to round, so comparing scales detects any
/// lost digit.
pub(crate) fn times(count: u64, price: Decimal, what: &'static str) -> Result<Decimal> {
    let product = Decimal::from(count)
        .checked_mul(price)
        .ok_or(Error::Overflow(what))?;
    if product.scale() != price.scale() && !product.is_zero() {
        return Err(Error::Overflow(what));
    }
    Ok(product)
}

/// `a + b`, exactly, or [`Error::Overflow`] naming `what`.
///
/// An exact sum has the larger of the two scales; `rust_decimal` lowers it
/// only when the aligned mantissa overflows and it must round.
pub(crate) fn plus(a: Decimal, b: Decimal, what: &'static str) -> Result<Decimal> {
    let sum = a.checked_add(b).ok_or(Error::Overflow(what))?;
    if sum.scale() < a.scale().max(b.scale()) && !sum.is_zero() {
        return Err(Error::Overflow(what));
    }
    Ok(sum)
}

/// The sum of `parts`, exactly.
pub(crate) fn sum(parts: &[Decimal], what: &'static str) -> Result<Decimal> {
    parts
        .iter()
        .try_fold(Decimal::ZERO, |acc, part| plus(acc, *part, what))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn products_are_exact_or_refused() {
        assert_eq!(times(3, d("0.000000075"), "x").unwrap(), d("0.000000225"));
        assert_eq!(times(0, d("0.5"), "x").unwrap(), Decimal::ZERO);
        assert_eq!(
            times(u64::MAX, d("0.000001"), "x").unwrap(),
            d("18446744073709.551615")
        );
        // 2^64 × a 24-decimal price needs ~43 digits: rust_decimal would
        // round, so the product is refused rather than approximated.
        assert_eq!(
            times(u64::MAX, d("0.000000000001234567890123"), "prompt"),
            Err(Error::Overflow("prompt"))
        );
        assert_eq!(
            times(u64::MAX, Decimal::MAX, "completion"),
            Err(Error::Overflow("completion"))
        );
    }

    #[test]
    fn sums_are_exact_or_refused() {
        assert_eq!(plus(d("0.1"), d("0.02"), "x").unwrap(), d("0.12"));
        assert_eq!(plus(d("1.5"), d("-1.5"), "x").unwrap(), Decimal::ZERO);
        assert_eq!(
            plus(Decimal::MAX, Decimal::ONE, "total"),
            Err(Error::Overflow("total"))
        );
        // 29 integer digits plus a decimal: the sum needs more significant
        // digits than a Decimal holds.
        assert_eq!(
            plus(d("10000000000000000000000000000"), d("0.1"), "total"),
            Err(Error::Overflow("total"))
        );
        assert_eq!(sum(&[d("1"), d("2.5"), d("0.25")], "x").unwrap(), d("3.75"));
    }

    #[test]
    fn charges_round_half_away_holds_round_up() {
        assert_eq!(round_charge(d("0.0000000000005")), d("0.000000000001"));
        assert_eq!(round_charge(d("0.0000000000004999")), Decimal::ZERO);
        assert_eq!(round_hold(d("0.0000000000000001")), d("0.000000000001"));
        assert_eq!(round_hold(d("1.25")), d("1.25"));
        assert_eq!(round_charge(d("1.25")), d("1.25"));
    }
}
