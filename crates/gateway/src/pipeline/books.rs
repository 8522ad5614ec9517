//! The gateway's books: holds checked in memory where the gateway is the
//! database's only writer, and every settlement and generation record
//! written behind the response, in batches.
//!
//! # Two modes
//!
//! - **Local** (SQLite: one process owns the file, by its lock file). Each
//!   account's and key's headroom is read from the store once, then kept
//!   here: a hold is a subtraction under a mutex, a settlement another, and
//!   the store sees the settled hold afterwards, from the writer task. No
//!   request waits for a database write; the disk sees one commit per batch
//!   instead of three per request.
//! - **Leased** (PostgreSQL: replicas share the database). Each replica
//!   takes a *lease* per key: an ordinary open hold in the store
//!   ([`Store::renew_lease`]) of about [`LEASE_REQUESTS`] requests' worth,
//!   bounded by the account's balance and the key's limit, which every
//!   other replica's check sees. Requests reserve from the lease in memory
//!   and settle in batches as in local mode; a replica goes to the store
//!   only to renew a lease (when it runs short, after [`LEASE_RENEW`], or
//!   when money moved) and to return one that went idle
//!   ([`LEASE_IDLE`]) or at shutdown. A renewal returns the old lease and
//!   takes the new one in one transaction, carrying over what the old one
//!   still covered (holds in flight, settlements not yet written), so the
//!   balance and the key's limit hold across replicas at every instant.
//!   Balances and key usage shown through the API count, instead of the
//!   leases, what this replica has in flight or unwritten.
//! - **Direct** (`[billing] holds = "database"`). Every hold goes to the
//!   store as it is placed and settled: one transaction each, under the
//!   account's row lock. Generation records are still batched.
//!
//! # Why local mode is exact
//!
//! The figures kept per account and key are `base − spent − reserved`,
//! where `base` is what the store said at the last load, `spent` what was
//! settled here since (written or not) and `reserved` the holds in flight.
//! A load happens under the writer's commit lock, so the store's figure and
//! the `unflushed` part of `spent` are read at one instant: `spent` restarts
//! at `unflushed`, and nothing is counted twice or missed. Money that moves
//! outside the request path (top-ups, limits changed through the API) marks
//! the books stale and the next request loads again; books also reload every
//! [`MAX_AGE`], so a change made to the database behind the gateway's back
//! shows within that time.
//!
//! # Crashes and shutdown
//!
//! Shutdown drains the queue ([`Books::flush`]) after the last response.
//! A `kill -9` loses what was queued and not yet committed: at most one
//! batch: the [`GATHER`] window and its commit, a few milliseconds. Those generations are not
//! charged (an undercharge, never an overcharge) and nothing else is
//! affected: their holds were never written, so there is nothing to
//! reconcile. `[billing] durable_replies = true` makes every answer wait
//! for its own commit instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tollgate_store::{BatchWrite, GenerationRecord, LimitReset, SettledHold, Store};

use crate::observe::BooksMetrics;

/// How long loaded figures are trusted before a request reloads them
/// (exported as `BOOKS_MAX_AGE`).
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// Writes per transaction, at most.
const MAX_BATCH: usize = 512;

/// A lease is taken for about this many holds of the size that needed it.
pub const LEASE_REQUESTS: u32 = 32;
/// A lease older than this is renewed by the next request that uses it, so
/// limits and top-ups changed on another replica show within this time.
pub const LEASE_RENEW: Duration = Duration::from_secs(30);
/// A lease nothing has used for this long, with nothing in flight or
/// unwritten, is returned to the store.
pub const LEASE_IDLE: Duration = Duration::from_secs(1);
/// How long a lease is held in the store: like any hold, longer than a
/// request can run; a replica that dies without returning its leases has
/// them released by the hold sweeper after this.
const LEASE_TTL: Duration = Duration::from_secs(60 * 60);

/// Where holds are checked (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In memory against figures loaded from the store (one writer).
    Local,
    /// In memory against per-key leases held in the store (replicas).
    Leased,
    /// In the store, one transaction per hold and per settlement.
    Direct,
}

/// How long the writer gathers after the first queued write before it
/// commits (group commit), unless someone waits for the commit (a flush, a
/// balance read, a durable reply) or the batch is full. Without it a
/// lightly loaded gateway commits, and syncs the disk, once per request;
/// with it, at most once per window. It is also the most a `kill -9` can
/// lose beyond the commit in progress.
const GATHER: Duration = Duration::from_millis(5);

/// What a hold was refused for.
#[derive(Debug)]
pub enum Refusal {
    /// The account's available balance is below the hold.
    Credits {
        /// What is available.
        available: Decimal,
    },
    /// The key's limit has less left than the hold.
    KeyLimit {
        /// The limit.
        limit: Decimal,
        /// What is left of it (≥ 0).
        remaining: Decimal,
    },
    /// The store failed.
    Store(tollgate_store::Error),
}

/// A hold placed in memory.
#[derive(Debug, Clone)]
pub struct LocalHold {
    /// Its id, `hold_` and a UUID.
    pub id: String,
    /// The account.
    pub account_id: String,
    /// The key.
    pub api_key_hash: String,
    /// The amount reserved.
    pub amount: Decimal,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
}

/// A settlement of a [`LocalHold`].
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    /// The charge.
    pub charge: Decimal,
    /// A fee with it (BYOK).
    pub fee: Decimal,
    /// What the key's limit counts (the charge and fee, plus the upstream
    /// cost of a BYOK generation when the key includes BYOK usage).
    pub key_counted: Decimal,
}

#[derive(Debug, Default)]
struct AccountBook {
    base: Decimal,
    spent: Decimal,
    unflushed: Decimal,
    reserved: Decimal,
    byok_unflushed: u64,
    loaded: Option<Instant>,
}

impl AccountBook {
    fn available(&self) -> Decimal {
        self.base - self.spent - self.reserved
    }
}

#[derive(Debug, Default)]
struct KeyBook {
    limit: Option<Decimal>,
    reset: Option<LimitReset>,
    period_start: Option<DateTime<Utc>>,
    includes_byok: bool,
    base: Decimal,
    spent: Decimal,
    unflushed: Decimal,
    reserved: Decimal,
    loaded: Option<Instant>,
}

impl KeyBook {
    fn remaining(&self) -> Decimal {
        self.base - self.spent - self.reserved
    }

    fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.loaded.is_some_and(|at| at.elapsed() < MAX_AGE)
            && self.reset.map(|r| r.period_start(now)) == self.period_start
    }
}

/// A key's lease (leased mode): `amount` held in the store, of which
/// `spent` was settled here (`unflushed` of it not yet written) and
/// `reserved` is in flight.
#[derive(Debug)]
struct Lease {
    account_id: String,
    hold_id: Option<String>,
    amount: Decimal,
    spent: Decimal,
    unflushed: Decimal,
    reserved: Decimal,
    /// When the lease was taken; `None` while it is being renewed or when
    /// money moved (the next request renews it).
    taken: Option<Instant>,
    used: Instant,
}

impl Lease {
    fn new(account_id: &str) -> Lease {
        Lease {
            account_id: account_id.to_owned(),
            hold_id: None,
            amount: Decimal::ZERO,
            spent: Decimal::ZERO,
            unflushed: Decimal::ZERO,
            reserved: Decimal::ZERO,
            taken: None,
            used: Instant::now(),
        }
    }

    fn available(&self) -> Decimal {
        self.amount - self.spent - self.reserved
    }

    fn covers(&self, amount: Decimal) -> bool {
        self.taken.is_some_and(|at| at.elapsed() < LEASE_RENEW) && amount <= self.available()
    }

    /// What a renewal must carry over: holds in flight and settlements not
    /// yet written.
    fn carried(&self) -> Decimal {
        self.reserved + self.unflushed
    }

    fn is_idle(&self) -> bool {
        self.reserved.is_zero() && self.unflushed.is_zero() && self.used.elapsed() >= LEASE_IDLE
    }
}

/// What leased books count for a settlement: the charge against the
/// balance and what the key's limit counts, whichever is more.
fn lease_counted(charge: Decimal, key_counted: Decimal) -> Decimal {
    charge.max(key_counted)
}

fn fresh(loaded: Option<Instant>) -> bool {
    loaded.is_some_and(|at| at.elapsed() < MAX_AGE)
}

#[derive(Debug, Default)]
struct Tables {
    accounts: HashMap<String, AccountBook>,
    keys: HashMap<String, KeyBook>,
    leases: HashMap<String, Lease>,
}

enum Msg {
    Settled {
        hold: SettledHold,
        key_counted: Decimal,
        done: Option<oneshot::Sender<()>>,
    },
    Generation {
        record: Box<GenerationRecord>,
        done: Option<oneshot::Sender<()>>,
    },
    Flush(oneshot::Sender<()>),
}

impl Msg {
    /// Whether a caller waits for this message's commit.
    fn has_waiter(&self) -> bool {
        match self {
            Msg::Settled { done, .. } | Msg::Generation { done, .. } => done.is_some(),
            Msg::Flush(_) => true,
        }
    }
}

/// The books (see the module docs).
#[derive(Debug)]
pub struct Books {
    store: Store,
    mode: Mode,
    durable: bool,
    tables: Arc<Mutex<Tables>>,
    queue: mpsc::UnboundedSender<Msg>,
    /// Rung when a queued message has a waiter, to end the writer's
    /// gathering early (see [`gather`]).
    urgent: Arc<tokio::sync::Notify>,
    commit: Arc<tokio::sync::Mutex<()>>,
    metrics: BooksMetrics,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Settled { .. } => "Settled",
            Msg::Generation { .. } => "Generation",
            Msg::Flush(_) => "Flush",
        })
    }
}

fn lock(tables: &Mutex<Tables>) -> MutexGuard<'_, Tables> {
    match tables.lock() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Books {
    /// Books over `store`, with its writer task (and in leased mode the
    /// task returning idle leases) spawned on the current Tokio runtime.
    /// `durable`: answers wait for their settlement's commit.
    pub fn start(store: Store, mode: Mode, durable: bool, metrics: BooksMetrics) -> Arc<Books> {
        let (queue, rx) = mpsc::unbounded_channel();
        let tables = Arc::new(Mutex::new(Tables::default()));
        let commit = Arc::new(tokio::sync::Mutex::new(()));
        let urgent = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(writer(
            store.clone(),
            rx,
            urgent.clone(),
            tables.clone(),
            commit.clone(),
            metrics.clone(),
        ));
        let books = Arc::new(Books {
            store,
            mode,
            durable,
            tables,
            queue,
            urgent,
            commit,
            metrics,
        });
        if mode == Mode::Leased {
            tokio::spawn(return_idle_leases(Arc::downgrade(&books)));
        }
        books
    }

    /// Whether holds are checked in memory (local or leased mode).
    pub fn is_local(&self) -> bool {
        self.mode != Mode::Direct
    }

    /// Reserves `amount` for a request of `key_hash` on `account_id`, in
    /// memory. Local mode only.
    pub async fn place(
        &self,
        account_id: &str,
        key_hash: &str,
        amount: Decimal,
    ) -> Result<LocalHold, Refusal> {
        if self.mode == Mode::Leased {
            return self.place_leased(account_id, key_hash, amount).await;
        }
        let now = Utc::now();
        for _ in 0..3 {
            {
                let mut t = lock(&self.tables);
                let t = &mut *t;
                let account = t.accounts.get_mut(account_id);
                let key = t.keys.get_mut(key_hash);
                if let (Some(account), Some(key)) = (account, key)
                    && fresh(account.loaded)
                    && key.is_fresh(now)
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
                    return Ok(LocalHold {
                        id: tollgate_store::new_hold_id(),
                        account_id: account_id.to_owned(),
                        api_key_hash: key_hash.to_owned(),
                        amount,
                        placed_at: now,
                    });
                }
            }
            self.load(account_id, key_hash, now)
                .await
                .map_err(Refusal::Store)?;
        }
        Err(Refusal::Store(tollgate_store::Error::Corrupt {
            table: "accounts",
            column: "balance",
            reason: String::from("the books kept expiring while loading"),
        }))
    }

    /// Reserves `amount` from the key's lease, renewing it first when it
    /// is stale or too small.
    async fn place_leased(
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

    /// Reserves `amount` from the key's lease if it is fresh and covers it.
    fn reserve(&self, account_id: &str, key_hash: &str, amount: Decimal) -> Option<LocalHold> {
        let mut t = lock(&self.tables);
        let lease = t.leases.get_mut(key_hash).filter(|l| l.covers(amount))?;
        lease.reserved += amount;
        lease.used = Instant::now();
        Some(LocalHold {
            id: tollgate_store::new_hold_id(),
            account_id: account_id.to_owned(),
            api_key_hash: key_hash.to_owned(),
            amount,
            placed_at: Utc::now(),
        })
    }

    /// Renews the key's lease so that it covers `amount` more, and reserves
    /// it: the old lease is returned and a new one taken in one
    /// transaction, under the writer's lock (so what is unwritten stays
    /// put) and with the lease closed to new reservations meanwhile (so
    /// what is in flight only shrinks and the new lease surely covers
    /// `amount`). A failed renewal leaves the lease closed: the next
    /// request tries again, so a lease that money moved under (a lowered
    /// limit) never serves on.
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
        let (previous, carried) = {
            let mut t = lock(&self.tables);
            let lease = t
                .leases
                .entry(key_hash.to_owned())
                .or_insert_with(|| Lease::new(account_id));
            lease.taken = None;
            (lease.hold_id.clone(), lease.carried())
        };
        let need = carried + amount;
        let want = carried + amount * Decimal::from(LEASE_REQUESTS);
        let renewed = self
            .store
            .renew_lease(
                account_id,
                key_hash,
                previous.as_deref(),
                need,
                want,
                LEASE_TTL,
                Utc::now(),
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
        let mut t = lock(&self.tables);
        let lease = t
            .leases
            .entry(key_hash.to_owned())
            .or_insert_with(|| Lease::new(account_id));
        lease.hold_id = Some(hold.id);
        lease.amount = hold.amount;
        lease.spent = lease.unflushed;
        lease.taken = Some(Instant::now());
        lease.reserved += amount;
        lease.used = Instant::now();
        Ok(LocalHold {
            id: tollgate_store::new_hold_id(),
            account_id: account_id.to_owned(),
            api_key_hash: key_hash.to_owned(),
            amount,
            placed_at: Utc::now(),
        })
    }

    /// Returns the leases nothing uses (`all`: every lease with nothing in
    /// flight, at shutdown) to the store.
    async fn return_leases(&self, all: bool) {
        let _commit = self.commit.lock().await;
        let idle: Vec<(String, String)> = {
            let mut t = lock(&self.tables);
            let keys: Vec<String> = t
                .leases
                .iter()
                .filter(|(_, l)| {
                    if all {
                        l.reserved.is_zero() && l.unflushed.is_zero()
                    } else {
                        l.is_idle()
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
            if let Err(e) = self.store.release_hold(&hold_id, Utc::now()).await {
                // Left to the hold sweeper (LEASE_TTL).
                tracing::warn!(key_hash, hold = %hold_id, error = %e, "returning a credit lease failed");
            }
        }
    }

    /// Writes everything queued and, in leased mode, returns the leases
    /// with nothing in flight: at shutdown, after the last response, and
    /// before money is read from the store directly.
    pub async fn close(&self) {
        self.flush().await;
        if self.mode == Mode::Leased {
            self.return_leases(true).await;
        }
    }

    /// Reads the account's and key's figures from the store, at one
    /// instant with respect to the writer.
    async fn load(
        &self,
        account_id: &str,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), tollgate_store::Error> {
        let _commit = self.commit.lock().await;
        {
            // Requests that found the same figures stale queue here
            // together: the first one loads them for all.
            let t = lock(&self.tables);
            if t.accounts.get(account_id).is_some_and(|a| fresh(a.loaded))
                && t.keys.get(key_hash).is_some_and(|k| k.is_fresh(now))
            {
                return Ok(());
            }
        }
        let balance = self.store.balance(account_id).await?;
        let usage = self
            .store
            .key_usage(key_hash, now)
            .await?
            .ok_or(tollgate_store::Error::ApiKeyNotFound)?;
        let counted = limit_counted(&usage) + usage.held;
        let mut t = lock(&self.tables);
        let account = t.accounts.entry(account_id.to_owned()).or_default();
        account.base = balance.available;
        account.spent = account.unflushed;
        account.loaded = Some(Instant::now());
        let key = t.keys.entry(key_hash.to_owned()).or_default();
        key.limit = usage.limit;
        key.reset = usage.limit_reset;
        key.period_start = usage.limit_reset.map(|r| r.period_start(now));
        key.includes_byok = usage.include_byok_in_limit;
        key.base = usage.limit.map_or(Decimal::ZERO, |l| l - counted);
        key.spent = key.unflushed;
        key.loaded = Some(Instant::now());
        Ok(())
    }

    /// Whether the key's limit counts BYOK usage (as last loaded).
    pub fn key_includes_byok(&self, key_hash: &str) -> bool {
        lock(&self.tables)
            .keys
            .get(key_hash)
            .is_some_and(|k| k.includes_byok)
    }

    /// BYOK generations of the account this month, counting those not yet
    /// written.
    pub async fn byok_requests_in_month(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, tollgate_store::Error> {
        let _commit = self.commit.lock().await;
        let stored = self.store.byok_requests_in_month(account_id, now).await?;
        let pending = lock(&self.tables)
            .accounts
            .get(account_id)
            .map_or(0, |a| a.byok_unflushed);
        Ok(stored + pending)
    }

    /// Settles a local hold: the books move now, the store follows. Waits
    /// for the commit only with `durable_replies`.
    pub async fn settle(&self, hold: &LocalHold, charge: Charge, generation_id: &str) {
        {
            let mut t = lock(&self.tables);
            let t = &mut *t;
            if self.mode == Mode::Local {
                if let Some(a) = t.accounts.get_mut(&hold.account_id) {
                    a.reserved -= hold.amount;
                    a.spent += charge.charge + charge.fee;
                    a.unflushed += charge.charge + charge.fee;
                }
                if let Some(k) = t.keys.get_mut(&hold.api_key_hash) {
                    k.reserved -= hold.amount;
                    k.spent += charge.key_counted;
                    k.unflushed += charge.key_counted;
                }
            } else if let Some(l) = t.leases.get_mut(&hold.api_key_hash) {
                let counted = lease_counted(charge.charge + charge.fee, charge.key_counted);
                l.reserved -= hold.amount;
                l.spent += counted;
                l.unflushed += counted;
                l.used = Instant::now();
            }
        }
        let settled = SettledHold {
            id: hold.id.clone(),
            account_id: hold.account_id.clone(),
            api_key_hash: Some(hold.api_key_hash.clone()),
            reserved: hold.amount,
            charge: charge.charge,
            fee: charge.fee,
            generation_id: Some(generation_id.to_owned()),
            placed_at: hold.placed_at,
            settled_at: Utc::now(),
        };
        let (done, wait) = self.waiter();
        self.send(Msg::Settled {
            hold: settled,
            key_counted: charge.key_counted,
            done,
        });
        if let Some(wait) = wait {
            let _ = wait.await;
        }
    }

    /// Returns a local hold's reservation; nothing is written.
    pub fn release(&self, hold: &LocalHold) {
        let mut t = lock(&self.tables);
        if self.mode == Mode::Leased {
            if let Some(l) = t.leases.get_mut(&hold.api_key_hash) {
                l.reserved -= hold.amount;
            }
            return;
        }
        if let Some(a) = t.accounts.get_mut(&hold.account_id) {
            a.reserved -= hold.amount;
        }
        if let Some(k) = t.keys.get_mut(&hold.api_key_hash) {
            k.reserved -= hold.amount;
        }
    }

    /// Queues a generation record.
    pub fn record(&self, record: GenerationRecord) {
        if record.is_byok && record.error.is_none() {
            let mut t = lock(&self.tables);
            t.accounts
                .entry(record.account_id.clone())
                .or_default()
                .byok_unflushed += 1;
        }
        self.send(Msg::Generation {
            record: Box::new(record),
            done: None,
        });
    }

    /// Waits until everything queued before the call is written: for
    /// reads that must see this gateway's own settlements, and shutdown.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Flush(tx));
        let _ = rx.await;
    }

    /// The account's balance with this gateway's settlements written and
    /// its holds in flight counted as held.
    pub async fn balance(
        &self,
        account_id: &str,
    ) -> Result<tollgate_store::Balance, tollgate_store::Error> {
        self.flush().await;
        if self.mode == Mode::Leased {
            // Leases are not holds of requests: what this replica has in
            // flight or unwritten counts instead (other replicas' requests in
            // flight, for the few milliseconds they run, do not show).
            let _commit = self.commit.lock().await;
            let mut balance = self.store.balance(account_id).await?;
            let leased = self.store.leased(Some(account_id), None).await?;
            let own: Decimal = lock(&self.tables)
                .leases
                .values()
                .filter(|l| l.account_id == account_id)
                .map(Lease::carried)
                .sum();
            let held = balance.held - leased + own;
            balance.available += balance.held - held;
            balance.held = held;
            return Ok(balance);
        }
        let mut balance = self.store.balance(account_id).await?;
        let held = lock(&self.tables)
            .accounts
            .get(account_id)
            .map_or(Decimal::ZERO, |a| a.reserved);
        if !held.is_zero() {
            balance.held += held;
            balance.available -= held;
        }
        Ok(balance)
    }

    /// The key's usage with this gateway's settlements written and its
    /// holds in flight counted as held.
    pub async fn key_usage(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<tollgate_store::KeyUsage>, tollgate_store::Error> {
        self.flush().await;
        if self.mode == Mode::Leased {
            let _commit = self.commit.lock().await;
            let mut usage = self.store.key_usage(key_hash, now).await?;
            let leased = self.store.leased(None, Some(key_hash)).await?;
            let own = lock(&self.tables)
                .leases
                .get(key_hash)
                .map_or(Decimal::ZERO, Lease::carried);
            if let Some(u) = usage.as_mut() {
                u.held = u.held - leased + own;
                let counted = limit_counted(u) + u.held;
                u.limit_remaining = u.limit.map(|l| (l - counted).max(Decimal::ZERO));
            }
            return Ok(usage);
        }
        let mut usage = self.store.key_usage(key_hash, now).await?;
        let held = lock(&self.tables)
            .keys
            .get(key_hash)
            .map_or(Decimal::ZERO, |k| k.reserved);
        if let Some(u) = usage.as_mut().filter(|_| !held.is_zero()) {
            u.held += held;
            u.limit_remaining = u.limit_remaining.map(|r| (r - held).max(Decimal::ZERO));
        }
        Ok(usage)
    }

    /// Forgets the loaded figures, so the next request reads them again:
    /// after money moved or a limit changed outside the request path.
    pub fn invalidate(&self) {
        let mut t = lock(&self.tables);
        for a in t.accounts.values_mut() {
            a.loaded = None;
        }
        for k in t.keys.values_mut() {
            k.loaded = None;
        }
        for l in t.leases.values_mut() {
            l.taken = None;
        }
    }

    fn waiter(&self) -> (Option<oneshot::Sender<()>>, Option<oneshot::Receiver<()>>) {
        if self.durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        }
    }

    fn send(&self, msg: Msg) {
        if !matches!(msg, Msg::Flush(_)) {
            self.metrics.queued.inc();
        }
        let urgent = msg.has_waiter();
        if let Err(e) = self.queue.send(msg) {
            tracing::error!(write = ?e.0, "the books' writer has stopped; a write is lost");
        }
        if urgent {
            self.urgent.notify_one();
        }
    }
}

/// What a key's limit counts of its usage in the current period (its
/// holds aside).
fn limit_counted(usage: &tollgate_store::KeyUsage) -> Decimal {
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

/// Leased mode: returns the leases that went idle, twice a second, for as
/// long as the books exist.
async fn return_idle_leases(books: std::sync::Weak<Books>) {
    let mut tick = tokio::time::interval(LEASE_IDLE / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(books) = books.upgrade() else {
            return;
        };
        let idle = lock(&books.tables).leases.values().any(Lease::is_idle);
        if idle {
            books.return_leases(false).await;
        }
    }
}

/// The writer task: takes what is queued, commits it in one transaction,
/// then moves the committed amounts out of `unflushed`.
async fn writer(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    urgent: Arc<tokio::sync::Notify>,
    tables: Arc<Mutex<Tables>>,
    commit: Arc<tokio::sync::Mutex<()>>,
    metrics: BooksMetrics,
) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        gather(&mut rx, &mut msgs, &urgent).await;
        let guard = commit.lock().await;
        let started = Instant::now();
        let mut writes = Vec::with_capacity(msgs.len());
        let mut waiters = Vec::new();
        let mut moved = Vec::new();
        for msg in msgs.drain(..) {
            match msg {
                Msg::Settled {
                    hold,
                    key_counted,
                    done,
                } => {
                    moved.push((
                        hold.account_id.clone(),
                        hold.api_key_hash.clone(),
                        hold.charge + hold.fee,
                        key_counted,
                        false,
                    ));
                    writes.push(BatchWrite::Settled(hold));
                    waiters.extend(done);
                }
                Msg::Generation { record, done } => {
                    if record.is_byok && record.error.is_none() {
                        moved.push((
                            record.account_id.clone(),
                            None,
                            Decimal::ZERO,
                            Decimal::ZERO,
                            true,
                        ));
                    }
                    writes.push(BatchWrite::Generation(record));
                    waiters.extend(done);
                }
                Msg::Flush(done) => waiters.push(done),
            }
        }
        let written = write(&store, &writes).await;
        if !writes.is_empty() {
            let landed = written.iter().filter(|ok| **ok).count() as u64;
            metrics.queued.dec_by(writes.len() as i64);
            metrics.writes.inc_by(landed);
            metrics.failures.inc_by(writes.len() as u64 - landed);
            metrics.commit.observe(started.elapsed().as_secs_f64());
            metrics.batch_size.observe(writes.len() as f64);
        }
        {
            let mut t = lock(&tables);
            let t = &mut *t;
            for ((account_id, key_hash, amount, key_counted, byok), ok) in
                moved.into_iter().zip(written_flags(&writes, &written))
            {
                // What failed stays unflushed: the books keep counting it,
                // so a lost write never frees credit.
                if !ok {
                    continue;
                }
                if let Some(a) = t.accounts.get_mut(&account_id) {
                    a.unflushed -= amount;
                    if byok {
                        a.byok_unflushed = a.byok_unflushed.saturating_sub(1);
                    }
                }
                if let Some(h) = key_hash {
                    if let Some(k) = t.keys.get_mut(&h) {
                        k.unflushed -= key_counted;
                    }
                    if let Some(l) = t.leases.get_mut(&h) {
                        l.unflushed -= lease_counted(amount, key_counted);
                    }
                }
            }
        }
        drop(guard);
        for done in waiters {
            let _ = done.send(());
        }
    }
}

/// Group commit: waits out [`GATHER`] (or until `urgent` rings: someone
/// waits for a commit) and then takes what was queued meanwhile, up to
/// [`MAX_BATCH`]. The writer sleeps rather than receiving message by
/// message, so a busy gateway wakes it once per batch, not twice per
/// request.
async fn gather(
    rx: &mut mpsc::UnboundedReceiver<Msg>,
    msgs: &mut Vec<Msg>,
    urgent: &tokio::sync::Notify,
) {
    if msgs.len() < MAX_BATCH && !msgs.iter().any(Msg::has_waiter) {
        tokio::select! {
            () = tokio::time::sleep(GATHER) => {}
            () = urgent.notified() => {}
        }
    }
    while msgs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(msg) => msgs.push(msg),
            Err(_) => break,
        }
    }
}

/// Writes a batch; if the transaction fails, each write alone, so one bad
/// write does not lose the others. Returns which writes landed.
async fn write(store: &Store, writes: &[BatchWrite]) -> Vec<bool> {
    if writes.is_empty() {
        return Vec::new();
    }
    match store.write_batch(writes).await {
        Ok(()) => vec![true; writes.len()],
        Err(e) => {
            tracing::warn!(error = %e, writes = writes.len(), "batch write failed; writing one at a time");
            let mut landed = Vec::with_capacity(writes.len());
            for w in writes {
                let ok = match store.write_batch(std::slice::from_ref(w)).await {
                    Ok(()) => true,
                    Err(e) => {
                        match w {
                            BatchWrite::Settled(s) => tracing::error!(
                                hold = %s.id, account = %s.account_id, charge = %s.charge,
                                generation = ?s.generation_id, error = %e,
                                "settlement could not be written"
                            ),
                            BatchWrite::Generation(g) => tracing::error!(
                                generation = %g.id, error = %e,
                                "generation record could not be written"
                            ),
                        }
                        false
                    }
                };
                landed.push(ok);
            }
            landed
        }
    }
}

/// The landing flags of the writes that move book figures, in the order
/// the writer collected them (settlements, and BYOK generation records).
fn written_flags(writes: &[BatchWrite], landed: &[bool]) -> Vec<bool> {
    writes
        .iter()
        .zip(landed)
        .filter(|(w, _)| match w {
            BatchWrite::Settled(_) => true,
            BatchWrite::Generation(g) => g.is_byok && g.error.is_none(),
        })
        .map(|(_, ok)| *ok)
        .collect()
}
