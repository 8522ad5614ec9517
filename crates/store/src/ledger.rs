//! The credit ledger: append-only money movements; every balance is a sum
//! of it.
//!
//! # Signs and kinds
//!
//! Each entry carries a signed amount, so an account's available balance is
//! literally the sum of its ledger:
//!
//! | kind      | sign | meaning                                              |
//! |-----------|------|------------------------------------------------------|
//! | `topup`   | `+`  | credits bought                                       |
//! | `refund`  | `+`  | credits given back by the operator                   |
//! | `adjust`  | `±`  | an operator's correction                             |
//! | `hold`    | `−`  | a reservation for a request in flight                |
//! | `release` | `+`  | a hold's reservation returned (exactly its amount)   |
//! | `settle`  | `−`  | a request's charge (zero under insurance)            |
//! | `fee`     | `−`  | a fee (BYOK)                                         |
//!
//! A hold's life is `hold −H`, then exactly one `release +H` (when it is
//! settled, released or expired), and a `settle −C` (plus a `fee`) if it is
//! settled: settlement replaces the reservation by the actual charge. A
//! unique index allows at most one entry of each kind per hold, and
//! database triggers refuse any `UPDATE` or `DELETE` of the ledger.
//!
//! [`Balance`] groups the sums: `total_credits` = topups + refunds +
//! adjusts, `total_usage` = −(settles + fees), `held` = −(holds + releases),
//! which is the sum of the open holds; `available` = the sum of everything
//! = `total_credits − total_usage − held`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;

use crate::dialect::{transaction, with_conn};
use crate::money::{KindSum, Money, Sign, check_amount};
use crate::time::now;
use crate::{Error, Result, Store};

/// The columns of `ledger`, in [`LedgerRow`] order.
pub(crate) const LEDGER_COLUMNS: &str =
    "id, account_id, api_key_hash, kind, amount, hold_id, generation_id, created_at, note";

/// What a ledger entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    /// Credits bought (positive).
    Topup,
    /// A reservation for a request in flight (negative).
    Hold,
    /// A request's charge (negative or zero).
    Settle,
    /// A hold's reservation returned (positive or zero).
    Release,
    /// Credits given back (positive).
    Refund,
    /// A fee, such as the BYOK fee (negative or zero).
    Fee,
    /// An operator's correction (either sign).
    Adjust,
}

impl LedgerKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Topup => "topup",
            LedgerKind::Hold => "hold",
            LedgerKind::Settle => "settle",
            LedgerKind::Release => "release",
            LedgerKind::Refund => "refund",
            LedgerKind::Fee => "fee",
            LedgerKind::Adjust => "adjust",
        }
    }
}

impl fmt::Display for LedgerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LedgerKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<LedgerKind> {
        Ok(match s {
            "topup" => LedgerKind::Topup,
            "hold" => LedgerKind::Hold,
            "settle" => LedgerKind::Settle,
            "release" => LedgerKind::Release,
            "refund" => LedgerKind::Refund,
            "fee" => LedgerKind::Fee,
            "adjust" => LedgerKind::Adjust,
            other => {
                return Err(Error::Corrupt {
                    table: "ledger",
                    column: "kind",
                    reason: format!("unknown ledger kind `{other}`"),
                });
            }
        })
    }
}

/// One money movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Increasing with insertion: the ledger's order.
    pub id: i64,
    /// The account whose balance moves.
    pub account_id: String,
    /// The API key that spent, for holds, settlements and fees.
    pub api_key_hash: Option<String>,
    /// What the movement is.
    pub kind: LedgerKind,
    /// Signed, in USD: positive adds to the available balance.
    pub amount: Decimal,
    /// The hold this movement belongs to.
    pub hold_id: Option<String>,
    /// The generation charged.
    pub generation_id: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Free text (a top-up's reference, why an adjustment, `expired`).
    pub note: Option<String>,
}

/// A row of `ledger` as the database returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct LedgerRow {
    id: i64,
    account_id: String,
    api_key_hash: Option<String>,
    kind: String,
    amount: Money,
    hold_id: Option<String>,
    generation_id: Option<String>,
    created_at: DateTime<Utc>,
    note: Option<String>,
}

impl TryFrom<LedgerRow> for LedgerEntry {
    type Error = Error;

    fn try_from(row: LedgerRow) -> Result<LedgerEntry> {
        Ok(LedgerEntry {
            id: row.id,
            account_id: row.account_id,
            api_key_hash: row.api_key_hash,
            kind: row.kind.parse()?,
            amount: row.amount.0,
            hold_id: row.hold_id,
            generation_id: row.generation_id,
            created_at: row.created_at,
            note: row.note,
        })
    }
}

/// An entry about to be appended.
pub(crate) struct NewEntry<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) api_key_hash: Option<&'a str>,
    pub(crate) kind: LedgerKind,
    pub(crate) amount: Decimal,
    pub(crate) hold_id: Option<&'a str>,
    pub(crate) generation_id: Option<&'a str>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) note: Option<&'a str>,
}

impl NewEntry<'_> {
    /// The entry as stored under `id`.
    pub(crate) fn to_entry(&self, id: i64) -> LedgerEntry {
        LedgerEntry {
            id,
            account_id: self.account_id.to_owned(),
            api_key_hash: self.api_key_hash.map(str::to_owned),
            kind: self.kind,
            amount: self.amount,
            hold_id: self.hold_id.map(str::to_owned),
            generation_id: self.generation_id.map(str::to_owned),
            created_at: self.created_at,
            note: self.note.map(str::to_owned),
        }
    }
}

/// The ledger's columns that [`bind_entry!`] binds, in its order.
pub(crate) const ENTRY_COLUMNS: &str =
    "account_id, api_key_hash, kind, amount, hold_id, generation_id, created_at, note";

/// Binds a [`NewEntry`]'s eight values, in [`ENTRY_COLUMNS`] order, with
/// `$bind` (`bind` on a query, `push_bind` on a `QueryBuilder`'s row).
macro_rules! bind_entry {
    ($q:expr, $bind:ident, $e:expr) => {{
        let e: &$crate::ledger::NewEntry<'_> = $e;
        $q.$bind(e.account_id)
            .$bind(e.api_key_hash)
            .$bind(e.kind.as_str())
            .$bind($crate::money::Money(e.amount))
            .$bind(e.hold_id)
            .$bind(e.generation_id)
            .$bind($crate::time::Timestamp(e.created_at))
            .$bind(e.note)
    }};
}

pub(crate) use bind_entry;

/// An account's money, summed from its ledger. All amounts in USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Top-ups, refunds and adjustments (`/credits` `total_credits`).
    pub total_credits: Decimal,
    /// Settled charges and fees (`/credits` `total_usage`).
    pub total_usage: Decimal,
    /// Open holds: requests in flight.
    pub held: Decimal,
    /// `total_credits − total_usage − held`: what a new hold may take.
    /// Negative only when a settlement exceeded its hold or an adjustment
    /// took more than was there.
    pub available: Decimal,
}

impl Balance {
    /// Folds per-kind sums into a balance.
    pub(crate) fn from_sums(sums: &[KindSum]) -> Result<Balance> {
        let mut b = Balance::default();
        for s in sums {
            match s.kind.parse::<LedgerKind>()? {
                LedgerKind::Topup | LedgerKind::Refund | LedgerKind::Adjust => {
                    b.total_credits += s.sum;
                }
                LedgerKind::Settle | LedgerKind::Fee => b.total_usage -= s.sum,
                LedgerKind::Hold | LedgerKind::Release => b.held -= s.sum,
            }
            b.available += s.sum;
        }
        Ok(b)
    }
}

impl Store {
    /// Adds credits to the account (`amount > 0`), with an optional note
    /// (a payment reference, say).
    pub async fn top_up(
        &self,
        account_id: &str,
        amount: Decimal,
        note: Option<&str>,
    ) -> Result<LedgerEntry> {
        let amount = check_amount(amount, Sign::Positive)?;
        self.credit(account_id, LedgerKind::Topup, amount, None, note)
            .await
    }

    /// Gives credits back to the account (`amount > 0`), for example for a
    /// generation the operator decides not to charge after all.
    pub async fn refund(
        &self,
        account_id: &str,
        amount: Decimal,
        generation_id: Option<&str>,
        note: Option<&str>,
    ) -> Result<LedgerEntry> {
        let amount = check_amount(amount, Sign::Positive)?;
        self.credit(account_id, LedgerKind::Refund, amount, generation_id, note)
            .await
    }

    /// Corrects the account's credits by a signed, non-zero amount. A
    /// negative adjustment may take the available balance below zero; the
    /// next hold then fails until credits are added.
    pub async fn adjust(
        &self,
        account_id: &str,
        amount: Decimal,
        note: &str,
    ) -> Result<LedgerEntry> {
        let amount = check_amount(amount, Sign::NonZero)?;
        self.credit(account_id, LedgerKind::Adjust, amount, None, Some(note))
            .await
    }

    async fn credit(
        &self,
        account_id: &str,
        kind: LedgerKind,
        amount: Decimal,
        generation_id: Option<&str>,
        note: Option<&str>,
    ) -> Result<LedgerEntry> {
        let entry = NewEntry {
            account_id,
            api_key_hash: None,
            kind,
            amount,
            hold_id: None,
            generation_id,
            created_at: now(),
            note,
        };
        transaction!(self, |tx, d| {
            d::lock_account(&mut tx, account_id).await?;
            d::insert_entry(&mut tx, &entry).await
        })
    }

    /// The account's balance at `now`, as a hold would see it: like
    /// [`Store::balance`], except that open holds past their expiry (a
    /// dead replica's credit lease, a request that died) are no longer
    /// held, whether or not the sweeper ([`Store::expire_holds`]) has
    /// closed them yet.
    pub async fn balance_at(&self, account_id: &str, now: DateTime<Utc>) -> Result<Balance> {
        let now = now.trunc_subsecs(6);
        with_conn!(self, |conn, d| {
            if !d::account_exists(&mut conn, account_id).await? {
                return Err(Error::AccountNotFound(account_id.to_owned()));
            }
            d::balance_at(&mut conn, account_id, now).await
        })
    }

    /// The account's balance, summed from its ledger by the database:
    /// every open hold counts as held, lapsed or not (see
    /// [`Store::balance_at`]).
    pub async fn balance(&self, account_id: &str) -> Result<Balance> {
        with_conn!(self, |conn, d| {
            if !d::account_exists(&mut conn, account_id).await? {
                return Err(Error::AccountNotFound(account_id.to_owned()));
            }
            d::balance(&mut conn, account_id).await
        })
    }

    /// What the account was ever topped up with (the sum of its `topup`
    /// entries; refunds and adjustments are not purchases). Zero means the
    /// account never bought credits: `is_free_tier` on `GET /key`.
    pub async fn total_top_ups(&self, account_id: &str) -> Result<Decimal> {
        with_conn!(self, |conn, d| {
            if !d::account_exists(&mut conn, account_id).await? {
                return Err(Error::AccountNotFound(account_id.to_owned()));
            }
            d::kind_sum(&mut conn, account_id, LedgerKind::Topup).await
        })
    }

    /// The account's ledger, oldest first.
    pub async fn ledger(&self, account_id: &str) -> Result<Vec<LedgerEntry>> {
        with_conn!(self, |conn, d| {
            if !d::account_exists(&mut conn, account_id).await? {
                return Err(Error::AccountNotFound(account_id.to_owned()));
            }
            d::ledger(&mut conn, account_id).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            LedgerKind::Topup,
            LedgerKind::Hold,
            LedgerKind::Settle,
            LedgerKind::Release,
            LedgerKind::Refund,
            LedgerKind::Fee,
            LedgerKind::Adjust,
        ] {
            assert_eq!(kind.as_str().parse::<LedgerKind>().unwrap(), kind);
        }
        assert!("withdrawal".parse::<LedgerKind>().is_err());
    }

    #[test]
    fn balance_from_sums() {
        let s = |kind: &str, sum: i64| KindSum {
            kind: kind.to_owned(),
            sum: Decimal::from(sum),
        };
        let b = Balance::from_sums(&[
            s("topup", 100),
            s("refund", 5),
            s("adjust", -3),
            s("hold", -50),
            s("release", 30),
            s("settle", -12),
            s("fee", -1),
        ])
        .unwrap();
        assert_eq!(
            b,
            Balance {
                total_credits: Decimal::from(102),
                total_usage: Decimal::from(13),
                held: Decimal::from(20),
                available: Decimal::from(69),
            }
        );
        assert_eq!(b.available, b.total_credits - b.total_usage - b.held);
    }
}
