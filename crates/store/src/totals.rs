//! The running totals (`ledger_totals`, `key_spend`), kept by the store in
//! the transaction that appends the ledger entries they sum.
//!
//! Migration 0005 kept them with triggers: two upserts per ledger row, and
//! one per BYOK generation. The batch writer appends hundreds of rows in
//! one transaction, nearly all of them for the same few accounts and keys;
//! those per-row upserts were about a fifth of SQLite's work per request
//! (issue 23), and on SQLite a table with a trigger also has every
//! multi-row `INSERT` copied into a scratch table first, even when the
//! trigger's `WHEN` never holds. Migration 0012 drops the triggers. Every
//! insert into the ledger and the generations goes through the store
//! ([`crate::dialect`]'s `insert_entry`, `Store::record_generation` and
//! the batch writer), and each adds what it appended here, in the same
//! transaction, summed per account and kind and per key and UTC day: one
//! upsert per group, not per row. The ledger stays the record, and the
//! totals stay exactly its sums: the tests compare the two after every
//! kind of write.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::ledger::{LedgerKind, NewEntry};

/// What some ledger entries add to the running totals, in key order (so
/// that concurrent transactions on PostgreSQL take the totals' row locks
/// in the same order).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TotalsDelta<'a> {
    /// `ledger_totals`: the entries' sum per account and kind.
    pub(crate) kinds: BTreeMap<(&'a str, &'static str), Decimal>,
    /// `key_spend.spent`: what each key was charged (its `settle` and `fee`
    /// entries, as a positive amount) per UTC day (`YYYY-MM-DD`).
    pub(crate) key_days: BTreeMap<(&'a str, NaiveDate), Decimal>,
    /// `key_spend.byok_spent`: the upstream cost of each key's BYOK
    /// generations per UTC day.
    pub(crate) byok_days: BTreeMap<(&'a str, NaiveDate), Decimal>,
}

impl<'a> TotalsDelta<'a> {
    /// The sums of `entries`, whose amounts are already checked (at most 12
    /// decimals and a million in size, so no sum of a batch's entries
    /// overflows a `Decimal`).
    pub(crate) fn of<'e>(entries: impl IntoIterator<Item = &'e NewEntry<'a>>) -> Self
    where
        'a: 'e,
    {
        let mut delta = TotalsDelta::default();
        for e in entries {
            *delta
                .kinds
                .entry((e.account_id, e.kind.as_str()))
                .or_default() += e.amount;
            if let Some(key) = e.api_key_hash
                && matches!(e.kind, LedgerKind::Settle | LedgerKind::Fee)
            {
                *delta
                    .key_days
                    .entry((key, e.created_at.date_naive()))
                    .or_default() -= e.amount;
            }
        }
        delta
    }

    /// Adds a BYOK generation's upstream cost (checked, ≥ 0) to its key's
    /// spending on the day it was created.
    pub(crate) fn add_byok(&mut self, key: &'a str, created_at: DateTime<Utc>, cost: Decimal) {
        *self
            .byok_days
            .entry((key, created_at.date_naive()))
            .or_default() += cost;
    }
}

/// Which running total a row of a [`TotalsDelta`] adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Total {
    /// `ledger_totals`, by account and kind.
    Kind,
    /// `key_spend`'s charges, by key and day.
    Spent,
    /// `key_spend`'s BYOK upstream cost, by key and day.
    ByokSpent,
}

impl TotalsDelta<'_> {
    /// Every row to upsert: the total, its two key columns' values (a day
    /// as `key_spend.day` spells it, `YYYY-MM-DD`) and the amount to add,
    /// in key order within each total. Days are written here, once per
    /// group, not once per entry.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (Total, &str, Cow<'static, str>, Decimal)> {
        let day = |d: &NaiveDate| Cow::Owned(d.format("%Y-%m-%d").to_string());
        let kinds = self
            .kinds
            .iter()
            .map(|((account, kind), a)| (Total::Kind, *account, Cow::Borrowed(*kind), *a));
        let spent = self
            .key_days
            .iter()
            .map(move |((key, d), a)| (Total::Spent, *key, day(d), *a));
        let byok = self
            .byok_days
            .iter()
            .map(move |((key, d), a)| (Total::ByokSpent, *key, day(d), *a));
        kinds.chain(spent).chain(byok)
    }
}

/// Splits exact picodollars into the two parts SQLite's totals keep (see
/// `crate::money`): whole microdollars and the picodollars below them,
/// truncated toward zero as SQLite's integer `/` and `%` do, so that
/// `micros × 10^6 + picos` is the amount.
pub(crate) fn split_pico(pico: i128) -> Option<(i64, i64)> {
    let micros = i64::try_from(pico / 1_000_000).ok()?;
    let picos = i64::try_from(pico % 1_000_000).ok()?;
    Some((micros, picos))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn entry<'a>(
        account: &'a str,
        key: Option<&'a str>,
        kind: LedgerKind,
        amount: &str,
        at: DateTime<Utc>,
    ) -> NewEntry<'a> {
        NewEntry {
            account_id: account,
            api_key_hash: key,
            kind,
            amount: amount.parse().unwrap(),
            hold_id: None,
            generation_id: None,
            created_at: at,
            note: None,
        }
    }

    #[test]
    fn sums_per_account_and_kind_and_per_key_and_utc_day() {
        let before_midnight = Utc.with_ymd_and_hms(2026, 2, 28, 23, 59, 59).unwrap();
        let after_midnight = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let entries = [
            entry(
                "b",
                Some("k1"),
                LedgerKind::Settle,
                "-0.25",
                before_midnight,
            ),
            entry("a", None, LedgerKind::Topup, "10", before_midnight),
            entry("b", Some("k1"), LedgerKind::Settle, "-0.5", after_midnight),
            entry("b", Some("k1"), LedgerKind::Fee, "-0.01", after_midnight),
            entry("b", Some("k2"), LedgerKind::Hold, "-3", after_midnight),
            entry("b", Some("k2"), LedgerKind::Release, "3", after_midnight),
            entry(
                "a",
                Some("k3"),
                LedgerKind::Settle,
                "-0.000000000001",
                after_midnight,
            ),
        ];
        let delta = TotalsDelta::of(&entries);
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let kinds: Vec<_> = delta.kinds.clone().into_iter().collect();
        assert_eq!(
            kinds,
            [
                (("a", "settle"), d("-0.000000000001")),
                (("a", "topup"), d("10")),
                (("b", "fee"), d("-0.01")),
                (("b", "hold"), d("-3")),
                (("b", "release"), d("3")),
                (("b", "settle"), d("-0.75")),
            ]
        );
        // Holds and releases are not spending; the days are UTC days.
        let key_days: Vec<_> = delta
            .rows()
            .filter(|(total, ..)| *total == Total::Spent)
            .map(|(_, key, day, amount)| ((key, day.into_owned()), amount))
            .collect();
        assert_eq!(
            key_days,
            [
                (("k1", "2026-02-28".to_owned()), d("0.25")),
                (("k1", "2026-03-01".to_owned()), d("0.51")),
                (("k3", "2026-03-01".to_owned()), d("0.000000000001")),
            ]
        );
    }

    #[test]
    fn split_keeps_the_amount_and_truncates_toward_zero() {
        assert_eq!(split_pico(13_000_000), Some((13, 0)));
        assert_eq!(split_pico(-13_000_001), Some((-13, -1)));
        assert_eq!(split_pico(999_999), Some((0, 999_999)));
        // A batch's sum past i64 picodollars (~$9.2M) still splits.
        let big = 512 * 1_000_000 * 1_000_000_000_000_i128;
        assert_eq!(split_pico(big), Some((512_000_000_000_000, 0)));
        assert_eq!(split_pico(i128::MAX), None);
    }
}
