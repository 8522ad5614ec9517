//! The queue of writes and the writer task that commits it: many
//! requests' settlements and generation records in one transaction (group
//! commit), and each write's effect on the books applied once it landed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tollgate_store::{BatchWrite, BatchWriter, Store};

use super::lease::lease_counted;
use super::{Tables, lock};
use crate::observe::BooksMetrics;

/// Writes per transaction, at most.
pub(super) const MAX_BATCH: usize = 512;

/// How long the writer gathers after the first queued write before it
/// commits (group commit), unless someone waits for the commit (a flush, a
/// balance read, a durable reply) or the batch is full. Without it a
/// lightly loaded gateway commits, and syncs the disk, once per request;
/// with it, at most once per window. It is also the most a `kill -9` can
/// lose beyond the commit in progress.
const GATHER: Duration = Duration::from_millis(5);

/// What reaches the writer.
#[expect(
    clippy::large_enum_variant,
    reason = "nearly every message is a write; boxing it would cost an allocation per write to shrink the rare flush"
)]
pub(super) enum Msg {
    /// A write to commit.
    Write(Queued),
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// One queued write and what it does to the books once it is committed.
pub(super) struct Queued {
    /// The write.
    pub(super) write: BatchWrite,
    /// What moves out of the unwritten figures when it lands. A write
    /// that fails keeps its effect pending: the books go on counting its
    /// amount as spent, so a lost write never frees credit.
    pub(super) effect: Effect,
    /// Told when the write is committed (durable replies).
    pub(super) done: Option<oneshot::Sender<()>>,
}

/// What a committed write moves out of the books' unwritten figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Effect {
    /// Nothing (a generation record that is not a BYOK request).
    Nothing,
    /// A settlement: `charged` (charge and fee) leaves the account's
    /// unwritten spending, `key_counted` the key's, and what the lease
    /// counted of both the key's lease.
    Settlement {
        account_id: String,
        key_hash: String,
        charged: Decimal,
        key_counted: Decimal,
    },
    /// A successful BYOK generation leaves the month's unwritten count
    /// and joins the written one of its month (`month`: the UTC month's
    /// start of its `created_at`), when the books keep that month's.
    ByokRequest {
        account_id: String,
        month: DateTime<Utc>,
    },
}

impl Effect {
    /// Applies the effect of a write that landed.
    pub(super) fn landed(&self, t: &mut Tables) {
        match self {
            Effect::Nothing => {}
            Effect::Settlement {
                account_id,
                key_hash,
                charged,
                key_counted,
            } => {
                if let Some(a) = t.accounts.get_mut(account_id) {
                    a.unflushed -= *charged;
                }
                if let Some(k) = t.keys.get_mut(key_hash) {
                    k.unflushed -= *key_counted;
                }
                if let Some(l) = t.leases.get_mut(key_hash) {
                    l.unflushed -= lease_counted(*charged, *key_counted);
                }
            }
            Effect::ByokRequest { account_id, month } => {
                if let Some(a) = t.accounts.get_mut(account_id) {
                    a.byok_unflushed = a.byok_unflushed.saturating_sub(1);
                    if let Some((kept, written)) = &mut a.byok_written
                        && kept == month
                    {
                        *written += 1;
                    }
                }
            }
        }
    }
}

impl Msg {
    /// Whether a caller waits for this message's commit.
    pub(super) fn has_waiter(&self) -> bool {
        match self {
            Msg::Write(q) => q.done.is_some(),
            Msg::Flush(_) => true,
        }
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Write(q) => f
                .debug_struct("Write")
                .field("effect", &q.effect)
                .finish_non_exhaustive(),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// The writer task: takes what is queued, commits it in one transaction,
/// then applies the effects of the writes that landed.
pub(super) async fn run(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    urgent: Arc<tokio::sync::Notify>,
    tables: Arc<Mutex<Tables>>,
    commit: Arc<tokio::sync::Mutex<()>>,
    metrics: BooksMetrics,
) {
    // One connection for every batch on SQLite (see `BatchWriter`).
    let mut writer = store.batch_writer();
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        gather(&mut rx, &mut msgs, &urgent).await;
        let guard = commit.lock().await;
        let started = Instant::now();
        // `writes[i]` and `effects[i]` come from the same queued write:
        // split here only because the store takes a slice of writes.
        let mut writes = Vec::with_capacity(msgs.len());
        let mut effects = Vec::with_capacity(msgs.len());
        let mut waiters = Vec::new();
        for msg in msgs.drain(..) {
            match msg {
                Msg::Write(q) => {
                    writes.push(q.write);
                    effects.push(q.effect);
                    waiters.extend(q.done);
                }
                Msg::Flush(done) => waiters.push(done),
            }
        }
        let landed = write(&mut writer, &writes).await;
        if !writes.is_empty() {
            let ok = landed.iter().filter(|ok| **ok).count() as u64;
            metrics.queued.dec_by(writes.len() as i64);
            metrics.writes.inc_by(ok);
            metrics.failures.inc_by(writes.len() as u64 - ok);
            metrics.commit.observe(started.elapsed().as_secs_f64());
            metrics.batch_size.observe(writes.len() as f64);
        }
        {
            let mut t = lock(&tables);
            for (effect, ok) in effects.iter().zip(&landed) {
                if *ok {
                    effect.landed(&mut t);
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
/// write does not lose the others. Returns which writes landed, one flag
/// per write.
async fn write(writer: &mut BatchWriter, writes: &[BatchWrite]) -> Vec<bool> {
    if writes.is_empty() {
        return Vec::new();
    }
    match writer.write(writes).await {
        Ok(()) => vec![true; writes.len()],
        Err(e) => {
            tracing::warn!(error = %e, writes = writes.len(), "batch write failed; writing one at a time");
            let mut landed = Vec::with_capacity(writes.len());
            for w in writes {
                let ok = match writer.write(std::slice::from_ref(w)).await {
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
