//! Holds: the credit reserved for a request in flight, and its settlement.
//!
//! Before a request is sent, the gateway places a hold for the most it can
//! cost (`tollgate_billing::max_cost`). The hold counts against the
//! account's available balance and the key's limit until it is closed, so
//! concurrent requests cannot together spend more than there is. Afterwards
//! the hold is closed exactly once:
//!
//! - **settled** with the actual charge (lower or higher than the hold;
//!   never negative), the reservation returned and the charge debited in
//!   one transaction. Settling again returns the first settlement unchanged
//!   and charges nothing more (idempotent, so a retried settle after a lost
//!   reply is safe);
//! - **released** when nothing is charged (the request failed before
//!   reaching a provider, say): the reservation is returned;
//! - **expired** by [`Store::expire_holds`] when its `expires_at` passed
//!   while still open: the reservation is returned, like a release.
//!
//! # Crash recovery
//!
//! A process killed between hold and settle leaves the hold open. At
//! start-up the daemon calls [`Store::expire_holds`] (with a TTL longer than
//! any request may run, every hold past its expiry belongs to a request that
//! is no longer running), which **releases** such holds rather than charging
//! them: the store cannot know what, if anything, the dead request produced,
//! and the insurance rule is to charge only completions known to have
//! succeeded. This cannot create or lose money: a hold is only a
//! reservation, so releasing it appends exactly the hold's amount back
//! (`release +H` after `hold −H`, net zero) and nothing else; the state
//! change and the ledger entry commit together, and a hold leaves `open` at
//! most once (checked under the account lock, and enforced by a unique
//! index of one release per hold), so no hold is returned twice. The worst
//! case is an undercharge for a generation whose settlement was lost, never
//! an overcharge. A request that outlives its TTL and settles after expiry
//! is still charged (the charge is appended; its reservation was already
//! returned).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;

use crate::dialect::{transaction, with_conn};
use crate::ledger::{LedgerEntry, LedgerKind, NewEntry};
use crate::money::{Money, Sign, check_amount};
use crate::{Error, Result, Store};

/// The prefix of every hold id.
const HOLD_ID_PREFIX: &str = "hold_";

/// Credit leases' ids start with this instead of `hold_`, followed by the
/// replica's identity and `_` (see [`lease_prefix`]).
const LEASE_ID_PREFIX: &str = "lease_";

/// The start of every lease id of `replica`: `lease_<replica>_`. A `_` in
/// the identity becomes `-`, so no replica's prefix is the start of
/// another's (`a` and `a_b` would otherwise share `lease_a_`).
pub fn lease_prefix(replica: &str) -> String {
    format!("{LEASE_ID_PREFIX}{}_", replica.replace('_', "-"))
}

/// A new hold id: `hold_` and a UUIDv7, so ids grow with time and every
/// insert lands at the right edge of the holds' and the ledger's
/// hold-id indexes instead of on a random page (a random key costs a
/// page read and a whole page written to the WAL per row).
pub fn new_hold_id() -> String {
    time_ordered_id(HOLD_ID_PREFIX)
}

fn time_ordered_id(prefix: &str) -> String {
    // The random bits from the thread's generator: `Uuid::now_v7` asks the
    // kernel (a getrandom(2) call) for every id.
    let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let random: [u8; 10] = rand::random();
    let id = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
    format!("{prefix}{}", id.simple())
}

/// The columns of `holds`, in [`HoldRow`] order.
pub(crate) const HOLD_COLUMNS: &str = "id, account_id, api_key_hash, amount, state, created_at, \
     expires_at, closed_at, settled_amount, generation_id";

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// Reserving credit for a request in flight.
    Open,
    /// Replaced by the request's actual charge.
    Settled,
    /// Returned without a charge.
    Released,
    /// Returned by [`Store::expire_holds`] after its expiry.
    Expired,
}

impl HoldState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Open => "open",
            HoldState::Settled => "settled",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HoldState {
    type Err = Error;

    fn from_str(s: &str) -> Result<HoldState> {
        Ok(match s {
            "open" => HoldState::Open,
            "settled" => HoldState::Settled,
            "released" => HoldState::Released,
            "expired" => HoldState::Expired,
            other => {
                return Err(Error::Corrupt {
                    table: "holds",
                    column: "state",
                    reason: format!("unknown hold state `{other}`"),
                });
            }
        })
    }
}

/// Credit reserved for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// `hold_` followed by a random UUID in simple form.
    pub id: String,
    /// The account whose credit is reserved.
    pub account_id: String,
    /// The key the request came with; its limit counts the hold.
    pub api_key_hash: Option<String>,
    /// The amount reserved, USD.
    pub amount: Decimal,
    /// Where the hold is in its life.
    pub state: HoldState,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When [`Store::expire_holds`] may return it.
    pub expires_at: DateTime<Utc>,
    /// When it was settled, released or expired.
    pub closed_at: Option<DateTime<Utc>>,
    /// The charge it was settled with.
    pub settled_amount: Option<Decimal>,
    /// The generation it paid for.
    pub generation_id: Option<String>,
}

/// A row of `holds` as the database returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct HoldRow {
    id: String,
    account_id: String,
    api_key_hash: Option<String>,
    amount: Money,
    state: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    settled_amount: Option<Money>,
    generation_id: Option<String>,
}

impl TryFrom<HoldRow> for Hold {
    type Error = Error;

    fn try_from(row: HoldRow) -> Result<Hold> {
        Ok(Hold {
            id: row.id,
            account_id: row.account_id,
            api_key_hash: row.api_key_hash,
            amount: row.amount.0,
            state: row.state.parse()?,
            created_at: row.created_at,
            expires_at: row.expires_at,
            closed_at: row.closed_at,
            settled_amount: row.settled_amount.map(|m| m.0),
            generation_id: row.generation_id,
        })
    }
}

/// The ledger entries of a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The `settle` entry: the charge (its amount is minus the charge).
    pub charge: LedgerEntry,
    /// The `fee` entry, if a non-zero fee was charged with it.
    pub fee: Option<LedgerEntry>,
}

/// A caller's `now`, at the microsecond precision both backends store.
fn at_storage_precision(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(6)
}

/// `now + ttl`, or [`Error::InvalidTtl`].
fn expiry(now: DateTime<Utc>, ttl: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .ok_or(Error::InvalidTtl(ttl))
}

impl Store {
    /// Reserves `amount` (≥ 0) of the account's credit for a request made
    /// with the key `key_hash` (if any), until `now + ttl`.
    ///
    /// In one transaction, serialized with every other money movement of
    /// the account: fails with [`Error::InsufficientCredits`] if `amount`
    /// exceeds the available balance (which already counts the other open
    /// holds), and with [`Error::KeyLimitExceeded`] if the key has a limit
    /// and `amount` exceeds what is left of it: the limit minus the key's
    /// charges since the start of its reset period (in UTC, from `now`; ever,
    /// without a reset period; plus its BYOK usage in that period when the
    /// key includes BYOK in its limit) minus its open holds. Nothing is written when
    /// it fails. An unknown key is [`Error::ApiKeyNotFound`], another
    /// account's key [`Error::ApiKeyAccountMismatch`].
    pub async fn place_hold(
        &self,
        account_id: &str,
        key_hash: Option<&str>,
        amount: Decimal,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Hold> {
        let id = new_hold_id();
        self.hold_between(id, account_id, key_hash, None, amount, amount, ttl, now)
            .await
    }

    /// A credit lease of `replica` (its id is [`lease_prefix`] and a
    /// UUIDv7, so the replica finds its leases again after a restart, see
    /// [`Store::release_leases`]): replaces `previous`
    /// (an open hold of the account, if it is still open) with a new open hold of as much of `want` as
    /// the account's balance and the key's limit allow, and at least
    /// `need` (≤ `want`), in one transaction.
    ///
    /// A gateway replica sharing the database with others takes a lease
    /// per key and checks its requests' holds against it in memory: the
    /// lease is an ordinary hold, so every other replica's check sees it,
    /// and the account's balance and the key's limit cannot be overspent
    /// between them. The previous lease is returned and the new one taken
    /// at one instant, so what the previous one still covered (requests in
    /// flight, settlements not yet written) can be carried over in `need`.
    /// Fails like [`Store::place_hold`] when not even `need` fits (the
    /// errors' `needed` is `need`), and then changes nothing: `previous`
    /// stays open.
    #[allow(clippy::too_many_arguments)]
    pub async fn renew_lease(
        &self,
        replica: &str,
        account_id: &str,
        key_hash: &str,
        previous: Option<&str>,
        need: Decimal,
        want: Decimal,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Hold> {
        self.hold_between(
            time_ordered_id(&lease_prefix(replica)),
            account_id,
            Some(key_hash),
            previous,
            need,
            want.max(need),
            ttl,
            now,
        )
        .await
    }

    /// What `replica`'s open credit leases of the account, or of the key,
    /// that have not lapsed at `now` hold: the part of `held`
    /// ([`Store::balance_at`], [`Store::key_usage`]) that this replica
    /// has leased rather than spent or reserved for requests in flight.
    /// Other replicas' leases are not in it.
    pub async fn leased(
        &self,
        replica: &str,
        account_id: Option<&str>,
        key_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Decimal> {
        let prefix = lease_prefix(replica);
        let now = at_storage_precision(now);
        with_conn!(self, |conn, d| {
            d::leased(&mut conn, account_id, key_hash, &prefix, now).await
        })
    }

    /// The heartbeat of `replica`'s credit leases: moves the expiry of
    /// each of its open leases that has not lapsed at `now` to `now +
    /// ttl`, in one statement, and returns their ids. A replica that dies
    /// stops beating, and its leases stop counting against the balance
    /// and the key's limit once they lapse (reads and admission skip
    /// lapsed holds; the sweeper closes them later). A lease that already
    /// lapsed is not revived: other replicas may have spent what it held,
    /// so its owner must take a new one.
    pub async fn extend_leases(
        &self,
        replica: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let prefix = lease_prefix(replica);
        let now = at_storage_precision(now);
        let until = expiry(now, ttl)?;
        with_conn!(self, |conn, d| {
            d::extend_holds(&mut conn, &prefix, now, until).await
        })
    }

    /// Releases every open credit lease of `replica`, lapsed or not, and
    /// returns how many: at the start of a replica, whose predecessor
    /// under the same identity died (`kill -9`, a crash) without
    /// returning them. Nothing of them can be in use: leases belong to a
    /// process, and a replica's identity to one process at a time.
    pub async fn release_leases(&self, replica: &str, now: DateTime<Utc>) -> Result<u64> {
        let prefix = lease_prefix(replica);
        let now = at_storage_precision(now);
        let open = with_conn!(self, |conn, d| {
            d::open_holds_with_prefix(&mut conn, &prefix).await
        })?;
        let mut released = 0;
        for (hold_id, account_id) in open {
            let done = self
                .close_open_hold(&account_id, &hold_id, HoldState::Released, now, None)
                .await?;
            if done.is_some() {
                released += 1;
            }
        }
        Ok(released)
    }

    /// [`Store::place_hold`] and [`Store::renew_lease`]: closes `previous`,
    /// then holds between `need` and `want`.
    #[allow(clippy::too_many_arguments)]
    async fn hold_between(
        &self,
        id: String,
        account_id: &str,
        key_hash: Option<&str>,
        previous: Option<&str>,
        need: Decimal,
        want: Decimal,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Hold> {
        let need = check_amount(need, Sign::NonNegative)?;
        let want = check_amount(want, Sign::NonNegative)?;
        let now = at_storage_precision(now);
        let expires_at = expiry(now, ttl)?;
        transaction!(self, |tx, d| {
            d::lock_account(&mut tx, account_id).await?;
            if let Some(previous) = previous
                && let Some(open) = d::hold(&mut tx, previous).await?
                && open.state == HoldState::Open
                && open.account_id == account_id
            {
                d::insert_entry(
                    &mut tx,
                    &NewEntry {
                        account_id,
                        api_key_hash: open.api_key_hash.as_deref(),
                        kind: LedgerKind::Release,
                        amount: open.amount,
                        hold_id: Some(previous),
                        generation_id: None,
                        created_at: now,
                        note: Some("renewed"),
                    },
                )
                .await?;
                let closed = Hold {
                    state: HoldState::Released,
                    closed_at: Some(now),
                    ..open.clone()
                };
                d::close_hold(&mut tx, previous, HoldState::Open, &closed).await?;
            }
            // Lapsed holds (a dead replica's lease) no longer count.
            let balance = d::balance_at(&mut tx, account_id, now).await?;
            if need > balance.available {
                return Err(Error::InsufficientCredits {
                    available: balance.available,
                    needed: need,
                });
            }
            let mut amount = want.min(balance.available);
            if let Some(hash) = key_hash {
                let key = d::key_limit(&mut tx, hash)
                    .await?
                    .ok_or(Error::ApiKeyNotFound)?;
                if key.account_id != account_id {
                    return Err(Error::ApiKeyAccountMismatch(account_id.to_owned()));
                }
                if let Some(limit) = key.limit() {
                    let since = key.reset()?.map(|r| r.period_start(now));
                    let mut spent = d::key_spent(&mut tx, hash, since).await?;
                    if key.includes_byok() {
                        spent += d::key_byok_spent(&mut tx, hash, since).await?;
                    }
                    let held = d::key_held(&mut tx, hash, now).await?;
                    let remaining = limit - spent - held;
                    if need > remaining {
                        return Err(Error::KeyLimitExceeded {
                            limit,
                            remaining: remaining.max(Decimal::ZERO),
                            needed: need,
                        });
                    }
                    amount = amount.min(remaining);
                }
            }
            let hold = Hold {
                id: id.clone(),
                account_id: account_id.to_owned(),
                api_key_hash: key_hash.map(str::to_owned),
                amount,
                state: HoldState::Open,
                created_at: now,
                expires_at,
                closed_at: None,
                settled_amount: None,
                generation_id: None,
            };
            d::insert_hold(&mut tx, &hold).await?;
            d::insert_entry(
                &mut tx,
                &NewEntry {
                    account_id,
                    api_key_hash: key_hash,
                    kind: LedgerKind::Hold,
                    amount: -amount,
                    hold_id: Some(&hold.id),
                    generation_id: None,
                    created_at: now,
                    note: None,
                },
            )
            .await?;
            Ok(hold)
        })
    }

    /// Settles the hold with the request's actual charge (≥ 0; may exceed
    /// the hold, see below), recording the generation it paid for. Returns
    /// the `settle` entry. See [`Store::settle_hold_with_fee`].
    pub async fn settle_hold(
        &self,
        hold_id: &str,
        actual_cost: Decimal,
        generation_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry> {
        let settlement = self
            .settle_hold_with_fee(hold_id, actual_cost, Decimal::ZERO, generation_id, now)
            .await?;
        Ok(settlement.charge)
    }

    /// Settles the hold: in one transaction, returns its reservation
    /// (`release`), debits `actual_cost` (`settle`, written even when zero,
    /// as the record of the settlement) and `fee` (`fee`, when non-zero),
    /// and marks the hold settled.
    ///
    /// - Idempotent: settling a settled hold returns its first settlement
    ///   and writes nothing (whatever amounts are passed the second time).
    /// - A charge above the hold is debited in full (the provider did the
    ///   work); the available balance, and the key's remaining limit, may
    ///   then go below zero by the excess, and the next hold fails until
    ///   credits are added. Holds sized by `tollgate_billing::max_cost` are
    ///   never exceeded.
    /// - An expired hold can still be settled (a request that outlived its
    ///   TTL): the charge is debited; the reservation was already returned.
    /// - A released hold cannot: [`Error::HoldClosed`].
    pub async fn settle_hold_with_fee(
        &self,
        hold_id: &str,
        actual_cost: Decimal,
        fee: Decimal,
        generation_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Settlement> {
        let actual_cost = check_amount(actual_cost, Sign::NonNegative)?;
        let fee = check_amount(fee, Sign::NonNegative)?;
        let now = at_storage_precision(now);
        let account_id = self.hold_account(hold_id).await?;
        transaction!(self, |tx, d| {
            d::lock_account(&mut tx, &account_id).await?;
            let hold = d::hold(&mut tx, hold_id)
                .await?
                .ok_or_else(|| Error::HoldNotFound(hold_id.to_owned()))?;
            match hold.state {
                HoldState::Settled => {
                    let entries = d::entries_of_hold(&mut tx, hold_id).await?;
                    return previous_settlement(hold_id, entries);
                }
                HoldState::Released => {
                    return Err(Error::HoldClosed {
                        id: hold_id.to_owned(),
                        state: hold.state,
                    });
                }
                HoldState::Open | HoldState::Expired => {}
            }
            let entry = |kind, amount, note| NewEntry {
                account_id: &hold.account_id,
                api_key_hash: hold.api_key_hash.as_deref(),
                kind,
                amount,
                hold_id: Some(hold_id),
                generation_id,
                created_at: now,
                note,
            };
            if hold.state == HoldState::Open {
                d::insert_entry(
                    &mut tx,
                    &entry(LedgerKind::Release, hold.amount, Some("settled")),
                )
                .await?;
            }
            let charge =
                d::insert_entry(&mut tx, &entry(LedgerKind::Settle, -actual_cost, None)).await?;
            let fee = if fee.is_zero() {
                None
            } else {
                Some(d::insert_entry(&mut tx, &entry(LedgerKind::Fee, -fee, None)).await?)
            };
            let settled = Hold {
                state: HoldState::Settled,
                closed_at: Some(now),
                settled_amount: Some(actual_cost),
                generation_id: generation_id.map(str::to_owned),
                ..hold.clone()
            };
            d::close_hold(&mut tx, hold_id, hold.state, &settled).await?;
            Ok(Settlement { charge, fee })
        })
    }

    /// Returns an open hold's reservation without a charge (the request
    /// failed or was never sent). Returns the `release` entry, or `None` if
    /// the hold was already closed (releasing twice, or after a settlement
    /// or an expiry, changes nothing).
    pub async fn release_hold(
        &self,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LedgerEntry>> {
        let now = at_storage_precision(now);
        let account_id = self.hold_account(hold_id).await?;
        self.close_open_hold(&account_id, hold_id, HoldState::Released, now, None)
            .await
    }

    /// Releases every open hold whose `expires_at` is at or before `now`,
    /// marking it expired, and returns how many. For crash recovery at
    /// start-up (see the module docs); safe to run at any time and from
    /// several replicas at once (each hold is returned once).
    pub async fn expire_holds(&self, now: DateTime<Utc>) -> Result<u64> {
        let now = at_storage_precision(now);
        let stale = with_conn!(self, |conn, d| { d::stale_holds(&mut conn, now).await })?;
        let mut expired = 0;
        for (hold_id, account_id) in stale {
            let done = self
                .close_open_hold(&account_id, &hold_id, HoldState::Expired, now, Some(now))
                .await?;
            if done.is_some() {
                expired += 1;
            }
        }
        if expired > 0 {
            tracing::info!(expired, "released expired credit holds");
        }
        Ok(expired)
    }

    /// Expires every open hold, due or not: for the start-up of the only
    /// process using the database, when no request can be in flight.
    pub async fn expire_open_holds(&self, now: DateTime<Utc>) -> Result<u64> {
        let now = at_storage_precision(now);
        let open = with_conn!(self, |conn, d| { d::open_holds(&mut conn).await })?;
        let mut expired = 0;
        for (hold_id, account_id) in open {
            let done = self
                .close_open_hold(&account_id, &hold_id, HoldState::Expired, now, None)
                .await?;
            if done.is_some() {
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// The hold with this id, if any.
    pub async fn get_hold(&self, hold_id: &str) -> Result<Option<Hold>> {
        with_conn!(self, |conn, d| { d::hold(&mut conn, hold_id).await })
    }

    /// The account of a hold (which never changes), to lock before
    /// touching the hold.
    async fn hold_account(&self, hold_id: &str) -> Result<String> {
        self.get_hold(hold_id)
            .await?
            .map(|h| h.account_id)
            .ok_or_else(|| Error::HoldNotFound(hold_id.to_owned()))
    }

    /// Returns an open hold's reservation and moves it to `to` (released or
    /// expired); `None` if it is no longer open, or (with `expired_by`) not
    /// yet expired at that instant.
    async fn close_open_hold(
        &self,
        account_id: &str,
        hold_id: &str,
        to: HoldState,
        now: DateTime<Utc>,
        expired_by: Option<DateTime<Utc>>,
    ) -> Result<Option<LedgerEntry>> {
        transaction!(self, |tx, d| {
            d::lock_account(&mut tx, account_id).await?;
            let hold = d::hold(&mut tx, hold_id)
                .await?
                .ok_or_else(|| Error::HoldNotFound(hold_id.to_owned()))?;
            let still_due = expired_by.is_none_or(|t| hold.expires_at <= t);
            if hold.state != HoldState::Open || !still_due {
                return Ok(None);
            }
            let entry = d::insert_entry(
                &mut tx,
                &NewEntry {
                    account_id,
                    api_key_hash: hold.api_key_hash.as_deref(),
                    kind: LedgerKind::Release,
                    amount: hold.amount,
                    hold_id: Some(hold_id),
                    generation_id: None,
                    created_at: now,
                    note: Some(to.as_str()),
                },
            )
            .await?;
            let closed = Hold {
                state: to,
                closed_at: Some(now),
                ..hold.clone()
            };
            d::close_hold(&mut tx, hold_id, HoldState::Open, &closed).await?;
            Ok(Some(entry))
        })
    }
}

/// The settlement already recorded for a settled hold.
fn previous_settlement(hold_id: &str, entries: Vec<LedgerEntry>) -> Result<Settlement> {
    let mut charge = None;
    let mut fee = None;
    for entry in entries {
        match entry.kind {
            LedgerKind::Settle => charge = Some(entry),
            LedgerKind::Fee => fee = Some(entry),
            _ => {}
        }
    }
    let charge = charge.ok_or_else(|| Error::Corrupt {
        table: "ledger",
        column: "hold_id",
        reason: format!("settled hold `{hold_id}` has no settle entry"),
    })?;
    Ok(Settlement { charge, fee })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for state in [
            HoldState::Open,
            HoldState::Settled,
            HoldState::Released,
            HoldState::Expired,
        ] {
            assert_eq!(state.as_str().parse::<HoldState>().unwrap(), state);
        }
        assert!("pending".parse::<HoldState>().is_err());
    }

    #[test]
    fn hold_ids_are_unique_and_grow_with_time() {
        let first = new_hold_id();
        let same_ms: Vec<String> = (0..1000).map(|_| new_hold_id()).collect();
        let mut distinct = same_ms.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), same_ms.len());
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = new_hold_id();
        assert!(first < later, "{first} !< {later}");
        for id in [&first, &later] {
            let hex = id.strip_prefix("hold_").expect("hold_ prefix");
            let uuid = uuid::Uuid::parse_str(hex).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 7, "{id}");
        }
    }
}
