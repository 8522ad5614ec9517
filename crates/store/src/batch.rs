//! Write-behind: many requests' settlements and generation records
//! committed in one transaction.
//!
//! A gateway that is the database's only writer (SQLite: one process, by
//! its lock file) checks holds against balances it keeps in memory and
//! hands the outcome here afterwards, in batches, so a request waits for
//! no database write and the disk sees one commit per batch instead of
//! three per request. What lands is the settled hold (the same row
//! [`Store::place_hold`] and [`Store::settle_hold_with_fee`] leave) and its
//! `settle` and `fee` entries. The `hold` and `release` pair those two would
//! also write is left out: it sums to zero, it was never visible to another
//! reader (the reservation lived in the gateway's memory), and writing it
//! was two of every request's ledger rows. Balances, key limits and the
//! ledger's invariants read the same either way.

use std::fmt::Write as _;
use std::sync::LazyLock;

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;

use crate::dialect::transaction;
use crate::generations::{COLUMNS, GenerationInsert, GenerationRecord, bind_generation};
use crate::holds::{HOLD_COLUMNS, HoldState};
use crate::ledger::{ENTRY_COLUMNS, LedgerKind, NewEntry, bind_entry};
use crate::money::{Money, Sign, check_amount};
use crate::store::Pool;
use crate::time::Timestamp;
use crate::totals::TotalsDelta;
use crate::{Result, Store};

/// Rows per multi-row `INSERT`, largest first: a batch of n rows is written
/// as n's decomposition into these (100 = 64 + 16 + 16 + 4), so each table
/// has four statement shapes, parsed once and then served from the
/// connection's statement cache, whatever the batch sizes. 64 generations
/// of 40 columns bind 2,560 values, well under SQLite's 32,766 and
/// PostgreSQL's 65,535.
const SHAPES: [usize; 4] = [64, 16, 4, 1];

/// `rows` cut into chunks of [`SHAPES`]' sizes, each with its shape's
/// index in [`SHAPES`].
fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = (usize, &[T])> {
    std::iter::from_fn(move || {
        let shape = SHAPES.iter().position(|&s| s <= rows.len())?;
        let (chunk, rest) = rows.split_at(SHAPES[shape]);
        rows = rest;
        Some((shape, chunk))
    })
}

/// One table's multi-row `INSERT`, written out once for each of
/// [`SHAPES`] and each backend: a batch binds its values straight into the
/// statement the connection has cached, instead of writing a statement of
/// thousands of placeholders for every chunk (and hashing it to find the
/// cached one).
struct Inserts {
    /// `?` placeholders: sqlx binds `$n` on SQLite by looking up each
    /// parameter's name, a walk of the statement's parameter list per
    /// value (quadratic in a 2,560-value statement).
    sqlite: [String; SHAPES.len()],
    /// `$n` placeholders, which PostgreSQL requires.
    postgres: [String; SHAPES.len()],
}

impl Inserts {
    /// `INSERT INTO {table} ({columns}) VALUES (...), ... {tail}` for each
    /// shape.
    fn new(table: &str, columns: &str, tail: &str) -> Inserts {
        let width = columns.split(',').count();
        let text = |rows: usize, numbered: bool| {
            let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
            let mut n = 0;
            for row in 0..rows {
                sql.push_str(if row == 0 { "(" } else { ", (" });
                for column in 0..width {
                    n += 1;
                    let sep = if column == 0 { "" } else { ", " };
                    let _ = if numbered {
                        write!(sql, "{sep}${n}")
                    } else {
                        write!(sql, "{sep}?")
                    };
                }
                sql.push(')');
            }
            sql.push_str(tail);
            sql
        };
        Inserts {
            sqlite: SHAPES.map(|rows| text(rows, false)),
            postgres: SHAPES.map(|rows| text(rows, true)),
        }
    }

    /// The statement for a chunk of shape `shape` (see [`chunks`]);
    /// `numbered`: the backend's `NUMBERED_PLACEHOLDERS`.
    fn sql(&self, shape: usize, numbered: bool) -> &str {
        if numbered {
            &self.postgres[shape]
        } else {
            &self.sqlite[shape]
        }
    }
}

static HOLD_INSERTS: LazyLock<Inserts> = LazyLock::new(|| Inserts::new("holds", HOLD_COLUMNS, ""));
static ENTRY_INSERTS: LazyLock<Inserts> =
    LazyLock::new(|| Inserts::new("ledger", ENTRY_COLUMNS, ""));
static GENERATION_INSERTS: LazyLock<Inserts> =
    LazyLock::new(|| Inserts::new("generations", COLUMNS, " ON CONFLICT (id) DO NOTHING"));
static BYOK_GENERATION_INSERTS: LazyLock<Inserts> = LazyLock::new(|| {
    Inserts::new(
        "generations",
        COLUMNS,
        " ON CONFLICT (id) DO NOTHING RETURNING id",
    )
});

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

/// The rows a batch inserts, checked and in the order they go in.
struct Rows<'a> {
    holds: Vec<(&'a SettledHold, DateTime<Utc>, DateTime<Utc>)>,
    entries: Vec<NewEntry<'a>>,
    generations: Vec<GenerationInsert<'a>>,
    /// BYOK generations with an upstream cost, which adds to their keys'
    /// spending if the row is new: written apart, answering their ids.
    byok_generations: Vec<GenerationInsert<'a>>,
}

impl<'a> Rows<'a> {
    /// Checks every amount and generation and lays out the rows: an
    /// invalid one fails the batch before anything is written.
    fn of(writes: &'a [BatchWrite]) -> Result<Rows<'a>> {
        let mut generations = Vec::new();
        let mut byok_generations = Vec::new();
        for write in writes {
            match write {
                BatchWrite::Settled(s) => {
                    check_amount(s.reserved, Sign::NonNegative)?;
                    check_amount(s.charge, Sign::NonNegative)?;
                    check_amount(s.fee, Sign::NonNegative)?;
                }
                BatchWrite::Generation(g) => {
                    let row = GenerationInsert::of(g)?;
                    match row.byok_spend() {
                        None => generations.push(row),
                        Some(_) => byok_generations.push(row),
                    }
                }
            }
        }
        let mut holds = Vec::new();
        let mut entries = Vec::new();
        for write in writes {
            let BatchWrite::Settled(s) = write else {
                continue;
            };
            let placed_at = s.placed_at.trunc_subsecs(6);
            let settled_at = s.settled_at.trunc_subsecs(6);
            holds.push((s, placed_at, settled_at));
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
            entries.push(entry(LedgerKind::Settle, -s.charge, settled_at, None));
            if !s.fee.is_zero() {
                entries.push(entry(LedgerKind::Fee, -s.fee, settled_at, None));
            }
        }
        Ok(Rows {
            holds,
            entries,
            generations,
            byok_generations,
        })
    }
}

/// Inserts `$rows` ([`Rows`]) through `$tx`, a transaction of either
/// backend (`$d`: its helper module): multi-row INSERTs (see [`SHAPES`]),
/// since a statement is a round trip to SQLite's worker thread, so a batch
/// of N settlements costs a handful of statements rather than 7 × N; then
/// the running totals, once per account and per key and day.
macro_rules! insert_rows {
    ($tx:ident, $rows:expr, $d:ident) => {{
        let rows: &Rows<'_> = $rows;
        // Holds go in already settled (the state a hold placed and settled
        // in one transaction ends in), before the ledger rows that
        // reference them.
        for (shape, chunk) in chunks(&rows.holds) {
            let mut q = sqlx::query(HOLD_INSERTS.sql(shape, $d::NUMBERED_PLACEHOLDERS));
            for (s, placed_at, settled_at) in chunk {
                q = q
                    .bind(&s.id)
                    .bind(&s.account_id)
                    .bind(&s.api_key_hash)
                    .bind(Money(s.reserved))
                    .bind(HoldState::Settled.as_str())
                    .bind(Timestamp(*placed_at))
                    .bind(Timestamp(*settled_at))
                    .bind(Timestamp(*settled_at))
                    .bind(Money(s.charge))
                    .bind(&s.generation_id);
            }
            q.execute(&mut *$tx).await?;
        }
        for (shape, chunk) in chunks(&rows.entries) {
            let mut q = sqlx::query(ENTRY_INSERTS.sql(shape, $d::NUMBERED_PLACEHOLDERS));
            for e in chunk {
                q = bind_entry!(q, bind, e);
            }
            q.execute(&mut *$tx).await?;
        }
        let mut totals = TotalsDelta::of(&rows.entries);
        for (shape, chunk) in chunks(&rows.generations) {
            let mut q = sqlx::query(GENERATION_INSERTS.sql(shape, $d::NUMBERED_PLACEHOLDERS));
            for g in chunk {
                q = bind_generation!(q, bind, g);
            }
            q.execute(&mut *$tx).await?;
        }
        for (shape, chunk) in chunks(&rows.byok_generations) {
            let mut q =
                sqlx::query_scalar(BYOK_GENERATION_INSERTS.sql(shape, $d::NUMBERED_PLACEHOLDERS));
            for g in chunk {
                q = bind_generation!(q, bind, g);
            }
            let mut new: std::collections::HashSet<String> =
                q.fetch_all(&mut *$tx).await?.into_iter().collect();
            // An id twice in one batch was inserted once: counted once.
            for g in chunk.iter().filter(|g| new.remove(&g.g.id)) {
                if let Some(cost) = g.byok_spend() {
                    totals.add_byok(&g.g.api_key_hash, g.created_at.0, cost);
                }
            }
        }
        $d::add_totals(&mut $tx, &totals).await?;
        Ok(())
    }};
}

impl Store {
    /// Writes `writes` in one transaction: all or nothing. An invalid
    /// amount or a missing account fails the whole batch; callers that
    /// must not lose the rest retry the writes one by one.
    pub async fn write_batch(&self, writes: &[BatchWrite]) -> Result<()> {
        let rows = Rows::of(writes)?;
        transaction!(self, |tx, d| { insert_rows!(tx, &rows, d) })
    }

    /// A writer of batches that keeps one connection of its own on SQLite
    /// (see [`BatchWriter`]).
    pub fn batch_writer(&self) -> BatchWriter {
        BatchWriter {
            store: self.clone(),
            sqlite: None,
        }
    }
}

/// Writes batches like [`Store::write_batch`], on SQLite always through
/// the same connection, taken from the pool at the first batch and kept.
///
/// A SQLite connection keeps a cache of pages, and starting a transaction
/// after another connection committed discards all of it. Through the
/// pool, batch after batch went to whichever connection was idle, and
/// each found its cache stale and read the index pages it was about to
/// write again. One connection for the writer, usually the database's only
/// writer, keeps them. A batch that fails gives the connection back to the
/// pool (the next batch takes one again), so a connection left broken by
/// an I/O error is not kept. On PostgreSQL each batch takes a pooled connection, as
/// [`Store::write_batch`] does.
#[derive(Debug)]
pub struct BatchWriter {
    store: Store,
    sqlite: Option<PoolConnection<Sqlite>>,
}

impl BatchWriter {
    /// Writes `writes` in one transaction: all or nothing (see
    /// [`Store::write_batch`]).
    pub async fn write(&mut self, writes: &[BatchWrite]) -> Result<()> {
        let pool = match &self.store.pool {
            Pool::Sqlite(pool) => pool,
            Pool::Postgres(_) => return self.store.write_batch(writes).await,
        };
        // An in-memory database has one connection in all: kept here, no
        // other query could run.
        if pool.options().get_max_connections() < 2 {
            return self.store.write_batch(writes).await;
        }
        let rows = Rows::of(writes)?;
        let conn = match &mut self.sqlite {
            Some(conn) => conn,
            None => self.sqlite.insert(pool.acquire().await?),
        };
        let out = async {
            let mut tx = sqlx::Connection::begin_with(&mut **conn, "BEGIN IMMEDIATE").await?;
            use crate::dialect::sqlite as d;
            let out: Result<()> = insert_rows!(tx, &rows, d);
            crate::dialect::finish(tx, out).await
        }
        .await;
        if out.is_err() {
            self.sqlite = None;
        }
        out
    }

    /// Whether a connection is kept (SQLite on a file, after a batch
    /// landed).
    pub fn holds_connection(&self) -> bool {
        self.sqlite.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_use_the_fixed_shapes_and_cover_every_row() {
        for n in 0..300 {
            let rows: Vec<usize> = (0..n).collect();
            let cut: Vec<(usize, &[usize])> = chunks(&rows).collect();
            assert!(cut.iter().all(|(s, c)| SHAPES[*s] == c.len()), "{n}");
            let joined: Vec<usize> = cut.iter().flat_map(|(_, c)| c.iter().copied()).collect();
            assert_eq!(joined, rows, "{n}");
        }
        let sizes: Vec<usize> = chunks(&[0; 100]).map(|(_, c)| c.len()).collect();
        assert_eq!(sizes, [64, 16, 16, 4]);
    }

    #[test]
    fn inserts_number_every_placeholder_once_per_row() {
        let inserts = Inserts::new("t", "a, b,\n c", " TAIL");
        let pg = |shape| inserts.sql(shape, true);
        assert_eq!(pg(3), "INSERT INTO t (a, b,\n c) VALUES ($1, $2, $3) TAIL");
        assert!(pg(2).starts_with(
            "INSERT INTO t (a, b,\n c) VALUES ($1, $2, $3), ($4, $5, $6), ($7, $8, $9), ("
        ));
        assert!(pg(2).ends_with("($10, $11, $12) TAIL"));
        assert!(pg(0).ends_with(", ($190, $191, $192) TAIL"));
        let sqlite = |shape| inserts.sql(shape, false);
        assert_eq!(sqlite(3), "INSERT INTO t (a, b,\n c) VALUES (?, ?, ?) TAIL");
        assert_eq!(sqlite(2).matches("(?, ?, ?)").count(), 4);
        assert_eq!(sqlite(0).matches('?').count(), 192);
    }
}
