//! Leased mode: per-key credit leases held in the store, which requests
//! reserve from in memory.
//!
//! A lease is an ordinary open hold (`lease_<replica>_<uuidv7>`) that
//! every replica's admission counts. [`Store::renew_lease`] returns the old
//! lease and takes the new one in one transaction, carrying over what the
//! old one still covered (holds in flight, settlements not yet written), so
//! the balance and the key's limit hold across replicas at every instant.
//!
//! # Liveness
//!
//! A lease is held in the store for a short time to live (`[billing]
//! lease_ttl_secs`, 20 s by default), and
//! a heartbeat moves the expiry of this replica's live leases forward
//! every quarter of it ([`Store::extend_leases`], one statement). A
//! replica that dies stops beating; its leases lapse within the TTL, and
//! from that instant every admission and every balance read leaves them
//! out (the sweeper closes them later). A restart under the same replica
//! identity releases them at once (`gateway::reconcile`).
//!
//! The holder stops taking new reservations from a lease once less than
//! half its TTL is left by its own monotonic clock (a heartbeat that keeps
//! failing, say), and a beat that finds a lease lapsed closes it, so a
//! replica never spends from a lease the others have stopped counting;
//! the next request renews it. Replicas' wall clocks must agree to well
//! within the TTL (NTP does): the expiry is compared with each replica's
//! own `now`.
//!
//! [`Store::renew_lease`]: tollgate_store::Store::renew_lease
//! [`Store::extend_leases`]: tollgate_store::Store::extend_leases

use std::sync::Weak;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::local::limit_counted;
use super::{Books, LEASE_IDLE, LEASE_RENEW, LEASE_REQUESTS, LocalHold, Refusal, Tables, lock};

/// A key's lease: `amount` held in the store, of which `spent` was settled
/// here (`unflushed` of it not yet written) and `reserved` is in flight.
#[derive(Debug)]
pub(super) struct Lease {
    pub(super) account_id: String,
    pub(super) hold_id: Option<String>,
    pub(super) amount: Decimal,
    pub(super) spent: Decimal,
    pub(super) unflushed: Decimal,
    pub(super) reserved: Decimal,
    /// When the lease was taken; `None` while it is being renewed or when
    /// money moved (the next request renews it).
    pub(super) taken: Option<Instant>,
    /// Until when the store holds it, as far as this replica knows (from
    /// before the store call that took or extended it); `None`: lapsed.
    pub(super) valid_until: Option<Instant>,
    pub(super) used: Instant,
}

impl Lease {
    fn new(account_id: &str, now: Instant) -> Lease {
        Lease {
            account_id: account_id.to_owned(),
            hold_id: None,
            amount: Decimal::ZERO,
            spent: Decimal::ZERO,
            unflushed: Decimal::ZERO,
            reserved: Decimal::ZERO,
            taken: None,
            valid_until: None,
            used: now,
        }
    }

    fn available(&self) -> Decimal {
        self.amount - self.spent - self.reserved
    }

    /// Whether `amount` can be reserved from the lease at `now`: taken
    /// less than [`LEASE_RENEW`] ago, more than half of `ttl` left before
    /// it lapses, and room for it.
    fn covers(&self, amount: Decimal, now: Instant, ttl: Duration) -> bool {
        self.taken
            .is_some_and(|at| now.saturating_duration_since(at) < LEASE_RENEW)
            && self
                .valid_until
                .is_some_and(|until| until.saturating_duration_since(now) > ttl / 2)
            && amount <= self.available()
    }

    /// What a renewal must carry over: holds in flight and settlements not
    /// yet written.
    pub(super) fn carried(&self) -> Decimal {
        self.reserved + self.unflushed
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.reserved.is_zero()
            && self.unflushed.is_zero()
            && now.saturating_duration_since(self.used) >= LEASE_IDLE
    }
}

/// What leased books count for a settlement: the charge against the
/// balance and what the key's limit counts, whichever is more.
pub(super) fn lease_counted(charged: Decimal, key_counted: Decimal) -> Decimal {
    charged.max(key_counted)
}

impl Books {
    /// Reserves `amount` from the key's lease, renewing it first when it
    /// is stale, lapsing or too small.
    pub(super) async fn place_leased(
        &self,
        account_id: &str,
        key_hash: &str,
        amount: Decimal,
    ) -> Result<LocalHold, Refusal> {
        if let Some(hold) = self.reserve(account_id, key_hash, amount) {
            return Ok(hold);
        }
        self.renew(account_id, key_hash, amount).await
    }

    /// Reserves `amount` from the key's lease if it covers it.
    fn reserve(&self, account_id: &str, key_hash: &str, amount: Decimal) -> Option<LocalHold> {
        let now = self.clock.now();
        let ttl = self.settings.lease_ttl;
        let mut t = lock(&self.tables);
        let lease = t
            .leases
            .get_mut(key_hash)
            .filter(|l| l.covers(amount, now, ttl))?;
        lease.reserved += amount;
        lease.used = now;
        drop(t);
        Some(self.new_hold(account_id, key_hash, amount))
    }

    /// A settlement in leased mode: the reservation leaves the lease, what
    /// the lease counts of the charge is spent and unwritten.
    pub(super) fn settle_leased(
        &self,
        t: &mut Tables,
        hold: &LocalHold,
        charged: Decimal,
        key_counted: Decimal,
    ) {
        if let Some(l) = t.leases.get_mut(&hold.api_key_hash) {
            let counted = lease_counted(charged, key_counted);
            l.reserved -= hold.amount;
            l.spent += counted;
            l.unflushed += counted;
            l.used = self.clock.now();
        }
    }

    /// Renews the key's lease so that it covers `amount` more, and reserves
    /// it: the old lease is returned and a new one taken in one
    /// transaction, under the writer's lock (so what is unwritten stays
    /// put) and with the lease closed to new reservations meanwhile (so
    /// what is in flight only shrinks and the new lease surely covers
    /// `amount`). A failed renewal leaves the lease closed: the next
    /// request tries again, so a lease that money moved under (a lowered
    /// limit) never serves on.
    ///
    /// Refused for credits while this replica holds other keys' leases of
    /// the account with room in them, it shrinks those to what they carry
    /// and tries once more: the shown balance counts this replica's leases
    /// only by what they carry, and admission must agree with it.
    async fn renew(
        &self,
        account_id: &str,
        key_hash: &str,
        amount: Decimal,
    ) -> Result<LocalHold, Refusal> {
        let _commit = self.commit.lock().await;
        // Renewed by a request that queued here first?
        if let Some(hold) = self.reserve(account_id, key_hash, amount) {
            return Ok(hold);
        }
        match self.take(account_id, key_hash, amount).await {
            Err(Refusal::Credits { .. }) if self.shrink_others(account_id, key_hash).await => {
                self.take(account_id, key_hash, amount).await
            }
            taken => taken,
        }
    }

    /// One renewal attempt (under the commit lock).
    async fn take(
        &self,
        account_id: &str,
        key_hash: &str,
        amount: Decimal,
    ) -> Result<LocalHold, Refusal> {
        let started = self.clock.now();
        let (previous, carried) = {
            let mut t = lock(&self.tables);
            let lease = t
                .leases
                .entry(key_hash.to_owned())
                .or_insert_with(|| Lease::new(account_id, started));
            lease.taken = None;
            (lease.hold_id.clone(), lease.carried())
        };
        let need = carried + amount;
        let want = carried + amount * Decimal::from(LEASE_REQUESTS);
        let renewed = self
            .store
            .renew_lease(
                &self.settings.replica,
                account_id,
                key_hash,
                previous.as_deref(),
                need,
                want,
                self.settings.lease_ttl,
                self.clock.utc(),
            )
            .await;
        let hold = match renewed {
            Ok(hold) => hold,
            Err(tollgate_store::Error::InsufficientCredits { available, .. }) => {
                return Err(Refusal::Credits {
                    available: (available - carried).max(Decimal::ZERO),
                });
            }
            Err(tollgate_store::Error::KeyLimitExceeded {
                limit, remaining, ..
            }) => {
                return Err(Refusal::KeyLimit {
                    limit,
                    remaining: (remaining - carried).max(Decimal::ZERO),
                });
            }
            Err(other) => return Err(Refusal::Store(other)),
        };
        tracing::debug!(key_hash, amount = %hold.amount, "credit lease renewed");
        let now = self.clock.now();
        let mut t = lock(&self.tables);
        let lease = t
            .leases
            .entry(key_hash.to_owned())
            .or_insert_with(|| Lease::new(account_id, now));
        lease.hold_id = Some(hold.id);
        lease.amount = hold.amount;
        lease.spent = lease.unflushed;
        lease.taken = Some(now);
        lease.valid_until = Some(started + self.settings.lease_ttl);
        lease.reserved += amount;
        lease.used = now;
        drop(t);
        Ok(self.new_hold(account_id, key_hash, amount))
    }

    /// Shrinks this replica's other leases of the account to what they
    /// carry (under the commit lock); whether any gave something back.
    async fn shrink_others(&self, account_id: &str, key_hash: &str) -> bool {
        let spare: Vec<(String, Option<String>, Decimal)> = {
            let mut t = lock(&self.tables);
            t.leases
                .iter_mut()
                .filter(|(k, l)| {
                    k.as_str() != key_hash
                        && l.account_id == account_id
                        && l.available() > Decimal::ZERO
                })
                .map(|(k, l)| {
                    l.taken = None;
                    (k.clone(), l.hold_id.clone(), l.carried())
                })
                .collect()
        };
        let mut shrunk = false;
        for (key, previous, carried) in spare {
            let started = self.clock.now();
            let renewed = self
                .store
                .renew_lease(
                    &self.settings.replica,
                    account_id,
                    &key,
                    previous.as_deref(),
                    carried,
                    carried,
                    self.settings.lease_ttl,
                    self.clock.utc(),
                )
                .await;
            match renewed {
                Ok(hold) => {
                    let mut t = lock(&self.tables);
                    if let Some(l) = t.leases.get_mut(&key) {
                        l.hold_id = Some(hold.id);
                        l.amount = hold.amount;
                        l.spent = l.unflushed;
                        l.taken = Some(started);
                        l.valid_until = Some(started + self.settings.lease_ttl);
                    }
                    shrunk = true;
                }
                // Left closed: its next request renews it.
                Err(e) => tracing::warn!(error = %e, "shrinking a credit lease failed"),
            }
        }
        shrunk
    }

    /// Returns the leases nothing uses (`all`: every lease with nothing in
    /// flight, at shutdown) to the store.
    pub(super) async fn return_leases(&self, all: bool) {
        let _commit = self.commit.lock().await;
        let now = self.clock.now();
        let idle: Vec<(String, String)> = {
            let mut t = lock(&self.tables);
            let keys: Vec<String> = t
                .leases
                .iter()
                .filter(|(_, l)| {
                    if all {
                        l.reserved.is_zero() && l.unflushed.is_zero()
                    } else {
                        l.is_idle(now)
                    }
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| {
                    let lease = t.leases.remove(&k)?;
                    Some((k, lease.hold_id?))
                })
                .collect()
        };
        for (key_hash, hold_id) in idle {
            if let Err(e) = self.store.release_hold(&hold_id, self.clock.utc()).await {
                // The next heartbeat finds it open and releases it; failing
                // that, it lapses.
                tracing::warn!(key_hash, hold = %hold_id, error = %e, "returning a credit lease failed");
            }
        }
    }

    /// Whether a lease went idle (checked twice a second).
    pub(super) fn has_idle_lease(&self) -> bool {
        let now = self.clock.now();
        lock(&self.tables).leases.values().any(|l| l.is_idle(now))
    }

    /// One heartbeat: extends this replica's live leases in the store, and
    /// closes to new reservations those the store no longer holds (they
    /// lapsed; the next request renews them). An open lease of this
    /// replica's identity that the books do not know (a return that
    /// failed) is released.
    pub(super) async fn beat(&self) -> Result<(), tollgate_store::Error> {
        let _commit = self.commit.lock().await;
        let started = self.clock.now();
        let ttl = self.settings.lease_ttl;
        let extended = self
            .store
            .extend_leases(&self.settings.replica, ttl, self.clock.utc())
            .await?;
        let orphans: Vec<String> = {
            let mut t = lock(&self.tables);
            for lease in t.leases.values_mut() {
                let alive = lease
                    .hold_id
                    .as_ref()
                    .is_some_and(|id| extended.contains(id));
                if alive {
                    lease.valid_until = Some(started + ttl);
                } else if lease.hold_id.is_some() {
                    tracing::warn!(
                        hold = ?lease.hold_id,
                        "a credit lease lapsed before its heartbeat; it will be renewed"
                    );
                    lease.valid_until = None;
                }
            }
            extended
                .into_iter()
                .filter(|id| !t.leases.values().any(|l| l.hold_id.as_ref() == Some(id)))
                .collect()
        };
        for id in orphans {
            tracing::warn!(hold = %id, "releasing a credit lease of this replica that the books do not hold");
            self.store.release_hold(&id, self.clock.utc()).await?;
        }
        Ok(())
    }

    /// The balance in leased mode (see the parent module's "What a balance
    /// shows").
    pub(super) async fn leased_balance(
        &self,
        account_id: &str,
    ) -> Result<tollgate_store::Balance, tollgate_store::Error> {
        let _commit = self.commit.lock().await;
        let now = self.clock.utc();
        let mut balance = self.store.balance_at(account_id, now).await?;
        let own = self
            .store
            .leased(&self.settings.replica, Some(account_id), None, now)
            .await?;
        let carried: Decimal = lock(&self.tables)
            .leases
            .values()
            .filter(|l| l.account_id == account_id)
            .map(Lease::carried)
            .sum();
        let held = balance.held - own + carried;
        balance.available += balance.held - held;
        balance.held = held;
        Ok(balance)
    }

    /// The key's usage in leased mode, counted like [`Books::leased_balance`].
    pub(super) async fn leased_key_usage(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<tollgate_store::KeyUsage>, tollgate_store::Error> {
        let _commit = self.commit.lock().await;
        let mut usage = self.store.key_usage(key_hash, now).await?;
        let own = self
            .store
            .leased(&self.settings.replica, None, Some(key_hash), now)
            .await?;
        let carried = lock(&self.tables)
            .leases
            .get(key_hash)
            .map_or(Decimal::ZERO, Lease::carried);
        if let Some(u) = usage.as_mut() {
            u.held = u.held - own + carried;
            let counted = limit_counted(u) + u.held;
            u.limit_remaining = u.limit.map(|l| (l - counted).max(Decimal::ZERO));
        }
        Ok(usage)
    }
}

/// Returns the leases that went idle, twice a second, for as long as the
/// books exist.
pub(super) async fn return_idle_leases(books: Weak<Books>) {
    let mut tick = tokio::time::interval(LEASE_IDLE / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(books) = books.upgrade() else {
            return;
        };
        if books.has_idle_lease() {
            books.return_leases(false).await;
        }
    }
}

/// Beats every quarter of `ttl`, for as long as the books exist.
pub(super) async fn heartbeat(books: Weak<Books>, ttl: Duration) {
    let period = ttl / 4;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(books) = books.upgrade() else {
            return;
        };
        if let Err(e) = books.beat().await {
            tracing::warn!(error = %e, "credit lease heartbeat failed");
        }
    }
}
