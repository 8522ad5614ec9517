//! How money is written and summed: one type, encoded per backend.
//!
//! # Representation
//!
//! Amounts are exact decimals with at most [`LEDGER_SCALE`] (12) places:
//! picodollar resolution, which holds every cost `tollgate-billing` computes
//! from real listing prices without rounding.
//!
//! - PostgreSQL stores `NUMERIC(28,12)`, read and written as
//!   `rust_decimal::Decimal` through sqlx. 28 digits, not 30: a `Decimal`
//!   holds 28 significant digits, and a column that could hold more would
//!   hold values the store cannot read back exactly. Sums are computed by
//!   `SUM(amount)` in NUMERIC, which is exact and unbounded.
//! - SQLite has no decimal type, and TEXT would be summed as REAL by
//!   `SUM()`, so it stores INTEGER picodollars (amount × 10^12). A single
//!   value fits an i64 up to ~$9.2M, above [`MAX_AMOUNT`]. SQLite's
//!   `SUM()` of integers is exact but raises an error past i64, which would
//!   cap an account's lifetime top-ups at ~$9.2M; so sums are split in two
//!   exact integer sums, `SUM(amount / 1000000)` (whole microdollars) and
//!   `SUM(amount % 1000000)` (the picodollars below them), recombined in
//!   Rust. Both parts stay far from i64's range for any realistic ledger
//!   (the first past $9.2 trillion, the second past 9.2 trillion rows).
//!
//! Never REAL, never `f64`. Amounts with more than 12 decimals are refused
//! ([`Error::InvalidAmount`]) rather than rounded by the database (which
//! PostgreSQL would do silently on a `NUMERIC(28,12)` column): rounding is
//! `tollgate-billing`'s decision, made once and documented there.

use rust_decimal::Decimal;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgRow, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteRow, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Database, Decode, Encode, FromRow, Postgres, Row, Sqlite, Type};
pub use tollgate_billing::LEDGER_SCALE;

use crate::{Error, Result};

/// The largest amount of one ledger movement, hold or key limit: one
/// million dollars. Far beyond any single request, and well inside what
/// both representations hold exactly. A bigger top-up is several entries.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// 10^12: picodollars per dollar.
const PICO: i64 = 1_000_000_000_000;

/// What sign an amount must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sign {
    /// `> 0`.
    Positive,
    /// `>= 0`.
    NonNegative,
    /// `!= 0`.
    NonZero,
    /// Any sign (a discount that may be negative).
    Any,
}

/// Checks an amount the caller passed: representable exactly (at most 12
/// decimals, at most [`MAX_AMOUNT`] in size) and of the required sign.
pub(crate) fn check_amount(amount: Decimal, sign: Sign) -> Result<Decimal> {
    let invalid = |reason: &'static str| Error::InvalidAmount { amount, reason };
    let amount = amount.normalize();
    if amount.scale() > LEDGER_SCALE {
        return Err(invalid("more than 12 decimal places"));
    }
    if amount.abs() > MAX_AMOUNT {
        return Err(invalid("larger than 1000000"));
    }
    match sign {
        Sign::Positive if amount <= Decimal::ZERO => Err(invalid("must be positive")),
        Sign::NonNegative if amount < Decimal::ZERO => Err(invalid("must not be negative")),
        Sign::NonZero if amount.is_zero() => Err(invalid("must not be zero")),
        _ => Ok(amount),
    }
}

/// `amount` in picodollars, if it has at most 12 decimals (any `Decimal`
/// that does fits an `i128`).
pub(crate) fn pico_i128(amount: Decimal) -> Option<i128> {
    let d = amount.normalize();
    let factor = 10i128.checked_pow(LEDGER_SCALE.checked_sub(d.scale())?)?;
    d.mantissa().checked_mul(factor)
}

/// An amount of money as a query parameter or a column, on either backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Money(pub(crate) Decimal);

impl Money {
    /// The SQLite form: picodollars. Fails for more than 12 decimals or a
    /// value past i64 ([`check_amount`] refuses both before any write).
    fn to_pico(self) -> Result<i64, BoxDynError> {
        let d = self.0.normalize();
        if d.scale() > LEDGER_SCALE {
            return Err(format!("amount {d} has more than 12 decimal places").into());
        }
        let pico = pico_i128(d).ok_or_else(|| format!("amount {d} is out of range"))?;
        Ok(i64::try_from(pico).map_err(|_| format!("amount {d} is out of range"))?)
    }

    fn from_pico(pico: i64) -> Decimal {
        Decimal::new(pico, LEDGER_SCALE).normalize()
    }
}

impl Type<Sqlite> for Money {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Money {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(self.to_pico()?, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Money {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Money(Money::from_pico(<i64 as Decode<Sqlite>>::decode(
            value,
        )?)))
    }
}

impl Type<Postgres> for Money {
    fn type_info() -> PgTypeInfo {
        <Decimal as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Decimal as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Money {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'_>,
    ) -> Result<IsNull, BoxDynError> {
        <Decimal as Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Money {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Money(
            <Decimal as Decode<Postgres>>::decode(value)?.normalize(),
        ))
    }
}

/// Reads the sum a dialect's `SUM_AMOUNT` fragment selected.
pub(crate) trait ReadSum: Row {
    /// The exact sum in the row's `hi` (and, on SQLite, `lo`) columns.
    fn read_sum(&self) -> Result<Decimal, sqlx::Error> {
        self.read_sum_of("")
    }

    /// The exact sum in the row's `{prefix}hi` (and, on SQLite,
    /// `{prefix}lo`) columns, for rows with several sums.
    fn read_sum_of(&self, prefix: &str) -> Result<Decimal, sqlx::Error>;
}

impl ReadSum for SqliteRow {
    fn read_sum_of(&self, prefix: &str) -> Result<Decimal, sqlx::Error> {
        let hi: i64 = self.try_get(format!("{prefix}hi").as_str())?;
        let lo: i64 = self.try_get(format!("{prefix}lo").as_str())?;
        // hi counts microdollars, lo picodollars: hi × 10^6 + lo picodollars.
        let pico = i128::from(hi) * i128::from(PICO / 1_000_000) + i128::from(lo);
        Decimal::try_from_i128_with_scale(pico, LEDGER_SCALE)
            .map(|d| d.normalize())
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

impl ReadSum for PgRow {
    fn read_sum_of(&self, prefix: &str) -> Result<Decimal, sqlx::Error> {
        Ok(self
            .try_get::<Decimal, _>(format!("{prefix}hi").as_str())?
            .normalize())
    }
}

/// One exact sum of amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MoneySum(pub(crate) Decimal);

impl<'r, R: ReadSum> FromRow<'r, R> for MoneySum {
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(MoneySum(row.read_sum()?))
    }
}

/// A sum of amounts grouped by a text column named `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindSum {
    pub(crate) kind: String,
    pub(crate) sum: Decimal,
}

impl<'r> FromRow<'r, SqliteRow> for KindSum {
    fn from_row(row: &'r SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(KindSum {
            kind: row.try_get("kind")?,
            sum: row.read_sum()?,
        })
    }
}

impl<'r> FromRow<'r, PgRow> for KindSum {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(KindSum {
            kind: row.try_get("kind")?,
            sum: row.read_sum()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn pico_round_trip() {
        for s in [
            "0",
            "1",
            "-1",
            "0.000000000001",
            "-0.000000000001",
            "123.456",
            "999999.999999999999",
            "1000000",
        ] {
            let pico = Money(d(s)).to_pico().unwrap();
            assert_eq!(Money::from_pico(pico), d(s), "{s}");
        }
        assert_eq!(Money(d("1.5")).to_pico().unwrap(), 1_500_000_000_000);
        assert!(Money(d("0.0000000000001")).to_pico().is_err());
        assert!(Money(d("10000000")).to_pico().is_err(), "past i64");
        // Trailing zeros past 12 places are not extra precision.
        assert_eq!(
            Money(d("2.50000000000000")).to_pico().unwrap(),
            2_500_000_000_000
        );
    }

    #[test]
    fn amounts_are_checked() {
        assert_eq!(check_amount(d("1.50"), Sign::Positive).unwrap(), d("1.5"));
        assert_eq!(
            check_amount(d("0"), Sign::NonNegative).unwrap(),
            Decimal::ZERO
        );
        assert_eq!(
            check_amount(d("-3"), Sign::NonZero).unwrap(),
            Decimal::from(-3)
        );
        let msg = |a: &str, s| check_amount(d(a), s).unwrap_err().to_string();
        assert_eq!(
            msg("0", Sign::Positive),
            "invalid amount 0: must be positive"
        );
        assert_eq!(
            msg("-0.01", Sign::NonNegative),
            "invalid amount -0.01: must not be negative"
        );
        assert_eq!(
            msg("0", Sign::NonZero),
            "invalid amount 0: must not be zero"
        );
        assert_eq!(
            msg("0.0000000000001", Sign::Positive),
            "invalid amount 0.0000000000001: more than 12 decimal places"
        );
        assert_eq!(
            msg("1000000.000000000001", Sign::Positive),
            "invalid amount 1000000.000000000001: larger than 1000000"
        );
        assert!(check_amount(MAX_AMOUNT, Sign::Positive).is_ok());
        assert!(check_amount(-MAX_AMOUNT, Sign::NonZero).is_ok());
    }
}
