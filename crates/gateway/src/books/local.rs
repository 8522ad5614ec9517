//! Local mode: each account's and key's headroom loaded from the store and
//! then kept in memory (see the parent module's "Why local mode is
//! exact").

use std::time::Instant;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_store::LimitReset;

use super::{Books, LocalHold, MAX_AGE, Refusal, Tables, lock};

/// An account's figures: available = `base − spent − reserved`.
#[derive(Debug, Default)]
pub(super) struct AccountBook {
    /// The available balance the store showed at the last load.
    pub(super) base: Decimal,
    /// Settled here since the load, written or not.
    pub(super) spent: Decimal,
    /// The part of `spent` (and of earlier loads' spending) not yet
    /// written.
    pub(super) unflushed: Decimal,
    /// Holds in flight.
    pub(super) reserved: Decimal,
    /// BYOK generations recorded here and not yet written.
    pub(super) byok_unflushed: u64,
    /// The account's successful BYOK generations written in one UTC
    /// month (the month's start, the count), read once under the commit
    /// lock and then kept: each write that lands adds to it (local mode
    /// only, where no one else writes generations).
    pub(super) byok_written: Option<(DateTime<Utc>, u64)>,
    /// When the figures were loaded; `None`: stale.
    pub(super) loaded: Option<Instant>,
}

impl AccountBook {
    fn available(&self) -> Decimal {
        self.base - self.spent - self.reserved
    }
}

/// A key's figures against its limit: remaining = `base − spent −
/// reserved` (only meaningful with a limit).
#[derive(Debug, Default)]
pub(super) struct KeyBook {
    pub(super) limit: Option<Decimal>,
    pub(super) reset: Option<LimitReset>,
    pub(super) period_start: Option<DateTime<Utc>>,
    pub(super) includes_byok: bool,
    pub(super) base: Decimal,
    pub(super) spent: Decimal,
    pub(super) unflushed: Decimal,
    pub(super) reserved: Decimal,
    pub(super) loaded: Option<Instant>,
}

impl KeyBook {
    fn remaining(&self) -> Decimal {
        self.base - self.spent - self.reserved
    }

    /// Loaded less than [`MAX_AGE`] ago, within the same limit period.
    fn is_fresh(&self, now: Instant, utc: DateTime<Utc>) -> bool {
        fresh(self.loaded, now) && self.reset.map(|r| r.period_start(utc)) == self.period_start
    }
}

fn fresh(loaded: Option<Instant>, now: Instant) -> bool {
    loaded.is_some_and(|at| now.saturating_duration_since(at) < MAX_AGE)
}

/// Moves a settlement of `hold` into the figures: the reservation goes,
/// the charge is spent and unwritten until the writer says otherwise.
pub(super) fn settle(t: &mut Tables, hold: &LocalHold, charged: Decimal, key_counted: Decimal) {
    if let Some(a) = t.accounts.get_mut(&hold.account_id) {
        a.reserved -= hold.amount;
        a.spent += charged;
        a.unflushed += charged;
    }
    if let Some(k) = t.keys.get_mut(&hold.api_key_hash) {
        k.reserved -= hold.amount;
        k.spent += key_counted;
        k.unflushed += key_counted;
    }
}

/// Returns `hold`'s reservation.
pub(super) fn release(t: &mut Tables, hold: &LocalHold) {
    if let Some(a) = t.accounts.get_mut(&hold.account_id) {
        a.reserved -= hold.amount;
    }
    if let Some(k) = t.keys.get_mut(&hold.api_key_hash) {
        k.reserved -= hold.amount;
    }
}

/// What a key's limit counts of its usage in the current period (its
/// holds aside).
pub(super) fn limit_counted(usage: &tollgate_store::KeyUsage) -> Decimal {
    let (period, byok) = match usage.limit_reset {
        None => (usage.usage, usage.byok_usage),
        Some(LimitReset::Daily) => (usage.usage_daily, usage.byok_usage_daily),
        Some(LimitReset::Weekly) => (usage.usage_weekly, usage.byok_usage_weekly),
        Some(LimitReset::Monthly) => (usage.usage_monthly, usage.byok_usage_monthly),
    };
    if usage.include_byok_in_limit {
        period + byok
    } else {
        period
    }
}

impl Books {
    /// Local mode's [`Books::place`]: a check and a subtraction, after a
    /// load when the figures are missing or stale.
    pub(super) async fn place_local(
        &self,
        account_id: &str,
        key_hash: &str,
        amount: Decimal,
    ) -> Result<LocalHold, Refusal> {
        for _ in 0..3 {
            {
                let (now, utc) = (self.clock.now(), self.clock.utc());
                let mut t = lock(&self.tables);
                let t = &mut *t;
                let account = t.accounts.get_mut(account_id);
                let key = t.keys.get_mut(key_hash);
                if let (Some(account), Some(key)) = (account, key)
                    && fresh(account.loaded, now)
                    && key.is_fresh(now, utc)
                {
                    let available = account.available();
                    if amount > available {
                        return Err(Refusal::Credits { available });
                    }
                    if let Some(limit) = key.limit {
                        let remaining = key.remaining();
                        if amount > remaining {
                            return Err(Refusal::KeyLimit {
                                limit,
                                remaining: remaining.max(Decimal::ZERO),
                            });
                        }
                    }
                    account.reserved += amount;
                    key.reserved += amount;
                    return Ok(self.new_hold(account_id, key_hash, amount));
                }
            }
            self.load(account_id, key_hash)
                .await
                .map_err(Refusal::Store)?;
        }
        Err(Refusal::Store(tollgate_store::Error::Corrupt {
            table: "accounts",
            column: "balance",
            reason: String::from("the books kept expiring while loading"),
        }))
    }

    /// Reads the account's and key's figures from the store, at one
    /// instant with respect to the writer.
    async fn load(&self, account_id: &str, key_hash: &str) -> Result<(), tollgate_store::Error> {
        let _commit = self.commit.lock().await;
        let (now, utc) = (self.clock.now(), self.clock.utc());
        {
            // Requests that found the same figures stale queue here
            // together: the first one loads them for all.
            let t = lock(&self.tables);
            if t.accounts
                .get(account_id)
                .is_some_and(|a| fresh(a.loaded, now))
                && t.keys.get(key_hash).is_some_and(|k| k.is_fresh(now, utc))
            {
                return Ok(());
            }
        }
        let balance = self.store.balance_at(account_id, utc).await?;
        let usage = self
            .store
            .key_usage(key_hash, utc)
            .await?
            .ok_or(tollgate_store::Error::ApiKeyNotFound)?;
        let counted = limit_counted(&usage) + usage.held;
        let mut t = lock(&self.tables);
        let account = t.accounts.entry(account_id.to_owned()).or_default();
        account.base = balance.available;
        account.spent = account.unflushed;
        account.loaded = Some(now);
        let key = t.keys.entry(key_hash.to_owned()).or_default();
        key.limit = usage.limit;
        key.reset = usage.limit_reset;
        key.period_start = usage.limit_reset.map(|r| r.period_start(utc));
        key.includes_byok = usage.include_byok_in_limit;
        key.base = usage.limit.map_or(Decimal::ZERO, |l| l - counted);
        key.spent = key.unflushed;
        key.loaded = Some(now);
        Ok(())
    }
}
