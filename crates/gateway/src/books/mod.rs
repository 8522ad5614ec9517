//! The gateway's books: holds checked in memory where the gateway is the
//! database's only writer, against credit leases where replicas share it,
//! and every settlement and generation record written behind the
//! response, in batches.
//!
//! - [`local`]: the in-memory account and key figures (local mode).
//! - [`lease`]: credit leases in the store (leased mode), their heartbeat
//!   and their return.
//! - [`writer`]: the queue of writes and the task that commits it in
//!   batches (group commit).
//! - [`clock`]: the time the books go by, injected.
//!
//! # Three modes ([`Mode`], resolved by the config)
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
//!   when money moved), to return one that went idle ([`LEASE_IDLE`]) or
//!   at shutdown, and for the heartbeat that keeps its leases alive (their
//!   time to live is short, `[billing] lease_ttl_secs`, 20 s by default: a
//!   dead replica's leases stop counting when they lapse). See [`lease`].
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
//! # What a balance shows
//!
//! Every balance read through the books ([`Books::balance`],
//! [`Books::key_usage`]: `/credits`, `/key`, the admin account view) is the
//! figure the next hold is checked against: the store's balance at that
//! instant, with lapsed holds left out; in leased mode this replica's own
//! leases replaced by what they carry (holds in flight, settlements not yet
//! written), while other replicas' live leases count as held, as they do
//! for admission.
//!
//! # Crashes and shutdown
//!
//! Shutdown drains the queue ([`Books::flush`]) after the last response.
//! A `kill -9` loses what was queued and not yet committed: at most one
//! batch: the gather window and its commit, a few milliseconds. Those
//! generations are not charged (an undercharge, never an overcharge) and
//! nothing else is affected: their holds were never written, so there is
//! nothing to reconcile. `[billing] durable_replies = true` makes every
//! answer wait for its own commit instead. A replica's leases left open by
//! a `kill -9` are released when it starts again under the same identity
//! (`gateway::reconcile`), or stop counting when they lapse.

pub mod clock;
mod lease;
mod local;
mod writer;

#[cfg(test)]
mod tests;

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tollgate_store::{GenerationRecord, LimitReset, SettledHold, Store};

pub use crate::config::BooksMode as Mode;
use crate::observe::BooksMetrics;
use clock::{Clock, SystemClock};
use lease::Lease;
use local::{AccountBook, KeyBook};
use writer::{Effect, Msg, Queued};

/// How long loaded figures are trusted before a request reloads them
/// (exported as `BOOKS_MAX_AGE`).
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// A lease is taken for about this many holds of the size that needed it.
pub const LEASE_REQUESTS: u32 = 32;
/// A lease older than this is renewed by the next request that uses it, so
/// limits and top-ups changed on another replica show within this time.
pub const LEASE_RENEW: Duration = Duration::from_secs(30);
/// A lease nothing has used for this long, with nothing in flight or
/// unwritten, is returned to the store.
pub const LEASE_IDLE: Duration = Duration::from_secs(1);

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

/// How the books run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where holds are checked.
    pub mode: Mode,
    /// Answers wait for their settlement's commit.
    pub durable: bool,
    /// This replica's identity: its leases' ids start with it, so a
    /// restart under the same identity finds and releases them.
    pub replica: String,
    /// How long a lease stays held in the store after its last heartbeat.
    pub lease_ttl: Duration,
}

/// The figures kept in memory, under one mutex.
#[derive(Debug, Default)]
struct Tables {
    accounts: HashMap<String, AccountBook>,
    keys: HashMap<String, KeyBook>,
    leases: HashMap<String, Lease>,
}

/// The books (see the module docs).
#[derive(Debug)]
pub struct Books {
    store: Store,
    settings: Settings,
    clock: Arc<dyn Clock>,
    tables: Arc<Mutex<Tables>>,
    queue: mpsc::UnboundedSender<Msg>,
    /// Rung when a queued message has a waiter, to end the writer's
    /// gathering early.
    urgent: Arc<tokio::sync::Notify>,
    /// Held while a batch commits, and by whatever must see the store and
    /// the unwritten figures at one instant (loads, lease renewals and
    /// returns, the heartbeat, balance reads).
    commit: Arc<tokio::sync::Mutex<()>>,
    metrics: BooksMetrics,
}

fn lock(tables: &Mutex<Tables>) -> MutexGuard<'_, Tables> {
    match tables.lock() {
        Ok(t) => t,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Books {
    /// Books over `store`, with the system clock, and their tasks spawned
    /// on the current Tokio runtime: the writer and, in leased mode, the
    /// heartbeat of the leases and the return of idle ones.
    pub fn start(store: Store, settings: Settings, metrics: BooksMetrics) -> Arc<Books> {
        let books = Books::with_clock(store, settings, Arc::new(SystemClock), metrics);
        if books.settings.mode == Mode::Leased {
            tokio::spawn(lease::return_idle_leases(Arc::downgrade(&books)));
            tokio::spawn(lease::heartbeat(
                Arc::downgrade(&books),
                books.settings.lease_ttl,
            ));
        }
        books
    }

    /// Books going by `clock`, with only the writer task spawned: the
    /// lease tasks are [`Books::start`]'s (tests call their steps).
    fn with_clock(
        store: Store,
        settings: Settings,
        clock: Arc<dyn Clock>,
        metrics: BooksMetrics,
    ) -> Arc<Books> {
        let (queue, rx) = mpsc::unbounded_channel();
        let tables = Arc::new(Mutex::new(Tables::default()));
        let commit = Arc::new(tokio::sync::Mutex::new(()));
        let urgent = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(writer::run(
            store.clone(),
            rx,
            urgent.clone(),
            tables.clone(),
            commit.clone(),
            metrics.clone(),
        ));
        Arc::new(Books {
            store,
            settings,
            clock,
            tables,
            queue,
            urgent,
            commit,
            metrics,
        })
    }

    /// Whether holds are checked in memory (local or leased mode).
    pub fn is_local(&self) -> bool {
        self.settings.mode != Mode::Direct
    }

    /// Reserves `amount` for a request of `key_hash` on `account_id`, in
    /// memory (local or leased mode).
    pub async fn place(
        &self,
        account_id: &str,
        key_hash: &str,
        amount: Decimal,
    ) -> Result<LocalHold, Refusal> {
        if self.settings.mode == Mode::Leased {
            return self.place_leased(account_id, key_hash, amount).await;
        }
        self.place_local(account_id, key_hash, amount).await
    }

    /// A hold of `amount` placed now.
    fn new_hold(&self, account_id: &str, key_hash: &str, amount: Decimal) -> LocalHold {
        LocalHold {
            id: tollgate_store::new_hold_id(),
            account_id: account_id.to_owned(),
            api_key_hash: key_hash.to_owned(),
            amount,
            placed_at: self.clock.utc(),
        }
    }

    /// Settles a local hold: the books move now, the store follows. Waits
    /// for the commit only with `durable_replies`.
    pub async fn settle(&self, hold: &LocalHold, charge: Charge, generation_id: &str) {
        let charged = charge.charge + charge.fee;
        {
            let mut t = lock(&self.tables);
            if self.settings.mode == Mode::Leased {
                self.settle_leased(&mut t, hold, charged, charge.key_counted);
            } else {
                local::settle(&mut t, hold, charged, charge.key_counted);
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
            settled_at: self.clock.utc(),
        };
        let (done, wait) = self.waiter();
        self.send(Msg::Write(Queued {
            effect: Effect::Settlement {
                account_id: hold.account_id.clone(),
                key_hash: hold.api_key_hash.clone(),
                charged,
                key_counted: charge.key_counted,
            },
            write: tollgate_store::BatchWrite::Settled(settled),
            done,
        }));
        if let Some(wait) = wait {
            let _ = wait.await;
        }
    }

    /// Returns a local hold's reservation; nothing is written.
    pub fn release(&self, hold: &LocalHold) {
        let mut t = lock(&self.tables);
        if self.settings.mode == Mode::Leased {
            if let Some(l) = t.leases.get_mut(&hold.api_key_hash) {
                l.reserved -= hold.amount;
            }
            return;
        }
        local::release(&mut t, hold);
    }

    /// Queues a generation record.
    pub fn record(&self, record: GenerationRecord) {
        let effect = if record.is_byok && record.error.is_none() {
            let mut t = lock(&self.tables);
            t.accounts
                .entry(record.account_id.clone())
                .or_default()
                .byok_unflushed += 1;
            Effect::ByokRequest {
                account_id: record.account_id.clone(),
                month: LimitReset::Monthly.period_start(record.created_at),
            }
        } else {
            Effect::Nothing
        };
        self.send(Msg::Write(Queued {
            write: tollgate_store::BatchWrite::Generation(Box::new(record)),
            effect,
            done: None,
        }));
    }

    /// Waits until everything queued before the call is written: for
    /// reads that must see this gateway's own settlements, and shutdown.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Flush(tx));
        let _ = rx.await;
    }

    /// The account's balance as the next hold is checked against it (see
    /// the module docs): this gateway's settlements written, its holds in
    /// flight counted as held, lapsed holds not, and in leased mode its
    /// own leases replaced by what they carry.
    pub async fn balance(
        &self,
        account_id: &str,
    ) -> Result<tollgate_store::Balance, tollgate_store::Error> {
        self.flush().await;
        if self.settings.mode == Mode::Leased {
            return self.leased_balance(account_id).await;
        }
        let mut balance = self.store.balance_at(account_id, self.clock.utc()).await?;
        // In flight, and settled here but not written (a write that
        // failed): both count for the next hold, so both show.
        let (held, unwritten) = lock(&self.tables)
            .accounts
            .get(account_id)
            .map_or((Decimal::ZERO, Decimal::ZERO), |a| {
                (a.reserved, a.unflushed)
            });
        // Only when there is something to add: a sum with a zero of another
        // scale would change how the figures are written ("0.00000000").
        if !held.is_zero() {
            balance.held += held;
            balance.available -= held;
        }
        if !unwritten.is_zero() {
            balance.total_usage += unwritten;
            balance.available -= unwritten;
        }
        Ok(balance)
    }

    /// The key's usage with this gateway's settlements written and its
    /// holds in flight counted as held (leases as in [`Books::balance`]).
    pub async fn key_usage(
        &self,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<tollgate_store::KeyUsage>, tollgate_store::Error> {
        self.flush().await;
        if self.settings.mode == Mode::Leased {
            return self.leased_key_usage(key_hash, now).await;
        }
        let mut usage = self.store.key_usage(key_hash, now).await?;
        let (held, unwritten) = lock(&self.tables)
            .keys
            .get(key_hash)
            .map_or((Decimal::ZERO, Decimal::ZERO), |k| {
                (k.reserved, k.unflushed)
            });
        if let Some(u) = usage
            .as_mut()
            .filter(|_| !(held.is_zero() && unwritten.is_zero()))
        {
            u.held += held;
            u.limit_remaining = u
                .limit_remaining
                .map(|r| (r - held - unwritten).max(Decimal::ZERO));
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

    /// Writes everything queued and, in leased mode, returns the leases
    /// with nothing in flight: at shutdown, after the last response, and
    /// before money is read from the store directly.
    pub async fn close(&self) {
        self.flush().await;
        if self.settings.mode == Mode::Leased {
            self.return_leases(true).await;
        }
    }

    /// Whether the key's limit counts BYOK usage (as last loaded).
    pub fn key_includes_byok(&self, key_hash: &str) -> bool {
        lock(&self.tables)
            .keys
            .get(key_hash)
            .is_some_and(|k| k.includes_byok)
    }

    /// BYOK generations of the account this month, counting those not yet
    /// written. In local mode the written count is read from the store
    /// once a month per account and then kept (each BYOK write that lands
    /// adds to it), so a BYOK request does not count the month's
    /// generations again under the commit lock; leased replicas read it
    /// every time, since the others write too.
    pub async fn byok_requests_in_month(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, tollgate_store::Error> {
        let month = LimitReset::Monthly.period_start(now);
        let local = self.settings.mode == Mode::Local;
        if local && let Some(n) = kept_byok_count(&lock(&self.tables), account_id, month) {
            return Ok(n);
        }
        let _commit = self.commit.lock().await;
        let written = self.store.byok_requests_in_month(account_id, now).await?;
        let mut t = lock(&self.tables);
        let account = t.accounts.entry(account_id.to_owned()).or_default();
        if local {
            account.byok_written = Some((month, written));
        }
        Ok(written + account.byok_unflushed)
    }

    fn waiter(&self) -> (Option<oneshot::Sender<()>>, Option<oneshot::Receiver<()>>) {
        if self.settings.durable {
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

/// The month's BYOK count, written and not, when the books keep the
/// written part for `month`.
fn kept_byok_count(t: &Tables, account_id: &str, month: DateTime<Utc>) -> Option<u64> {
    let a = t.accounts.get(account_id)?;
    match a.byok_written {
        Some((kept, written)) if kept == month => Some(written + a.byok_unflushed),
        _ => None,
    }
}
