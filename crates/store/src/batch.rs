//! Write-behind: many requests' settlements and generation records
//! committed in one transaction.
//!
//! A gateway that is the database's only writer (SQLite: one process, by
//! its lock file) checks holds against balances it keeps in memory and
//! hands the outcome here afterwards, in batches, so a request waits for
//! no database write and the disk sees one commit per batch instead of
//! three per request. What lands is exactly what [`Store::place_hold`] and
//! [`Store::settle_hold_with_fee`] would have written for the same request
//! (a settled hold with its `hold`, `release`, `settle` and `fee` entries),
//! so balances, key limits and the ledger's invariants read the same
//! either way.

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;

use crate::dialect::transaction;
use crate::generations::{GenerationInsert, GenerationRecord, insert_generation};
use crate::holds::{Hold, HoldState};
use crate::ledger::{LedgerKind, NewEntry};
use crate::money::{Sign, check_amount};
use crate::{Result, Store};

/// A hold that was placed and settled in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledHold {
    /// `hold_` and a random UUID, as [`Store::place_hold`] makes them.
    pub id: String,
    /// The account charged.
    pub account_id: String,
    /// The key that spent.
    pub api_key_hash: Option<String>,
    /// What was reserved (≥ 0).
    pub reserved: Decimal,
    /// The charge (≥ 0).
    pub charge: Decimal,
    /// A fee charged with it (≥ 0; BYOK).
    pub fee: Decimal,
    /// The generation it paid for.
    pub generation_id: Option<String>,
    /// When the hold was placed.
    pub placed_at: DateTime<Utc>,
    /// When it was settled.
    pub settled_at: DateTime<Utc>,
}

/// One write of a batch.
#[derive(Debug, Clone)]
pub enum BatchWrite {
    /// A settlement.
    Settled(SettledHold),
    /// A generation record (idempotent on its id, like
    /// [`Store::record_generation`]).
    Generation(Box<GenerationRecord>),
}

impl Store {
    /// Writes `writes` in one transaction: all or nothing. An invalid
    /// amount or a missing account fails the whole batch; callers that
    /// must not lose the rest retry the writes one by one.
    pub async fn write_batch(&self, writes: &[BatchWrite]) -> Result<()> {
        let mut generations = Vec::new();
        for write in writes {
            match write {
                BatchWrite::Settled(s) => {
                    check_amount(s.reserved, Sign::NonNegative)?;
                    check_amount(s.charge, Sign::NonNegative)?;
                    check_amount(s.fee, Sign::NonNegative)?;
                }
                BatchWrite::Generation(g) => generations.push(GenerationInsert::of(g)?),
            }
        }
        transaction!(self, |tx, d| {
            for write in writes {
                let BatchWrite::Settled(s) = write else {
                    continue;
                };
                let placed_at = s.placed_at.trunc_subsecs(6);
                let settled_at = s.settled_at.trunc_subsecs(6);
                let open = Hold {
                    id: s.id.clone(),
                    account_id: s.account_id.clone(),
                    api_key_hash: s.api_key_hash.clone(),
                    amount: s.reserved,
                    state: HoldState::Open,
                    created_at: placed_at,
                    expires_at: settled_at,
                    closed_at: None,
                    settled_amount: None,
                    generation_id: None,
                };
                d::insert_hold(&mut tx, &open).await?;
                let entry = |kind, amount, at, note| NewEntry {
                    account_id: &s.account_id,
                    api_key_hash: s.api_key_hash.as_deref(),
                    kind,
                    amount,
                    hold_id: Some(&s.id),
                    generation_id: s.generation_id.as_deref(),
                    created_at: at,
                    note,
                };
                d::insert_entry(
                    &mut tx,
                    &NewEntry {
                        generation_id: None,
                        ..entry(LedgerKind::Hold, -s.reserved, placed_at, None)
                    },
                )
                .await?;
                d::insert_entry(
                    &mut tx,
                    &entry(LedgerKind::Release, s.reserved, settled_at, Some("settled")),
                )
                .await?;
                d::insert_entry(
                    &mut tx,
                    &entry(LedgerKind::Settle, -s.charge, settled_at, None),
                )
                .await?;
                if !s.fee.is_zero() {
                    d::insert_entry(&mut tx, &entry(LedgerKind::Fee, -s.fee, settled_at, None))
                        .await?;
                }
                let settled = Hold {
                    state: HoldState::Settled,
                    closed_at: Some(settled_at),
                    settled_amount: Some(s.charge),
                    generation_id: s.generation_id.clone(),
                    ..open
                };
                d::close_hold(&mut tx, &s.id, HoldState::Open, &settled).await?;
            }
            for row in &generations {
                insert_generation!(&mut *tx, row)?;
            }
            Ok(())
        })
    }
}
