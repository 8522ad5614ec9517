//! The money paths' SQL, once per backend, and the transactions around it.
//!
//! # Concurrency
//!
//! Every money movement runs in one transaction together with the check it
//! depends on and the state it changes (hold row, ledger entries), through
//! [`transaction!`]. The two backends serialize such transactions per
//! account differently:
//!
//! - **SQLite** starts them with `BEGIN IMMEDIATE`, which takes the
//!   database's write lock before the first read. Two money transactions
//!   never interleave, so the balance read by a check is still the balance
//!   when its insert commits (a plain `BEGIN` would read under a shared lock
//!   and fail with `SQLITE_BUSY` on upgrade, or worse, read a stale
//!   snapshot). Waiting writers queue on the busy timeout.
//! - **PostgreSQL** starts them with a plain `BEGIN` (READ COMMITTED) and
//!   first locks the account row with `SELECT ... FOR NO KEY UPDATE`. Money
//!   transactions on one account queue on that lock, and each statement
//!   after it sees everything the previous holder committed. `NO KEY` is the
//!   weakest lock that excludes itself: it does not block inserts of rows
//!   that merely reference the account (new API keys take `FOR KEY SHARE`
//!   on it), and other accounts are never blocked. One lock per transaction
//!   means no lock-order deadlocks.
//!
//! The per-backend helpers are written once in `helpers!` and expanded for
//! each connection type, like `on_pool!` does for whole queries; only the
//! fragments that must differ (`LOCK_ACCOUNT`, `SUM_AMOUNT`) are written
//! twice.

/// Runs `body` (a block evaluating to `crate::Result<T>`) in a money
/// transaction on the store's backend and commits it if the body returned
/// `Ok`; on `Err` it rolls back, so a failed check or a half-done movement
/// leaves nothing behind. Inside, `$tx` is the transaction (pass `&mut $tx`
/// to the helpers) and `$d` the backend's helper module.
macro_rules! transaction {
    ($store:expr, |$tx:ident, $d:ident| $body:block) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(pool) => {
                use $crate::dialect::sqlite as $d;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out: $crate::Result<_> = async { $body }.await;
                $crate::dialect::finish($tx, out).await
            }
            $crate::store::Pool::Postgres(pool) => {
                use $crate::dialect::postgres as $d;
                let mut $tx = pool.begin().await?;
                let out: $crate::Result<_> = async { $body }.await;
                $crate::dialect::finish($tx, out).await
            }
        }
    };
}
pub(crate) use transaction;

/// Runs `body` (a block evaluating to `crate::Result<T>`) with a pooled
/// connection of the store's backend as `$conn` and its helper module as
/// `$d`, outside any explicit transaction (each statement sees committed
/// data).
macro_rules! with_conn {
    ($store:expr, |$conn:ident, $d:ident| $body:block) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(pool) => {
                use $crate::dialect::sqlite as $d;
                let mut $conn = pool.acquire().await?;
                let out: $crate::Result<_> = async { $body }.await;
                out
            }
            $crate::store::Pool::Postgres(pool) => {
                use $crate::dialect::postgres as $d;
                let mut $conn = pool.acquire().await?;
                let out: $crate::Result<_> = async { $body }.await;
                out
            }
        }
    };
}
pub(crate) use with_conn;

/// Commits on `Ok`, rolls back on `Err`.
pub(crate) async fn finish<DB: sqlx::Database, T>(
    tx: sqlx::Transaction<'_, DB>,
    out: crate::Result<T>,
) -> crate::Result<T> {
    match out {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(error) => {
            // The body's error is the one to report; if the rollback fails
            // too, the connection is closed and the transaction dies with it.
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(%rollback, "rollback after a failed money transaction failed");
            }
            Err(error)
        }
    }
}

/// The open holds whose ids start with `$1` (one replica's leases, at its
/// start). Sorted after reading, not with `ORDER BY id`: that made SQLite
/// walk the primary key over every hold ever placed (436 ms at 330,000)
/// instead of the open ones through a partial index.
pub(crate) const OPEN_HOLDS_WITH_PREFIX: &str =
    "SELECT id, account_id FROM holds WHERE state = 'open' AND substr(id, 1, length($1)) = $1";

/// The pseudo-kind under which [`balance_at`](sqlite::balance_at) reads
/// the lapsed open holds beside the ledger's totals.
const LAPSED: &str = "lapsed";

/// The helpers of one backend, for its connection type. The invoking module
/// defines `LOCK_ACCOUNT`, `SUM_AMOUNT`, `TOTAL`, `SUM_SPENT` and
/// `SUM_BYOK_SPENT`.
macro_rules! helpers {
    ($Conn:ty) => {
        use super::LAPSED;
        use chrono::{DateTime, Utc};
        use rust_decimal::Decimal;

        use crate::holds::{Hold, HoldRow, HoldState};
        use crate::ledger::{Balance, LEDGER_COLUMNS, LedgerEntry, LedgerRow, NewEntry};
        use crate::limits::KeyLimitRow;
        use crate::money::{KindSum, Money, MoneySum};
        use crate::time::Timestamp;
        use crate::{Error, Result};

        /// Locks the account for this transaction's money movements
        /// (a no-op read under SQLite's `BEGIN IMMEDIATE`).
        pub(crate) async fn lock_account(conn: &mut $Conn, account_id: &str) -> Result<()> {
            let found: Option<String> = sqlx::query_scalar(LOCK_ACCOUNT)
                .bind(account_id)
                .fetch_optional(&mut *conn)
                .await?;
            match found {
                Some(_) => Ok(()),
                None => Err(Error::AccountNotFound(account_id.to_owned())),
            }
        }

        /// Whether the account exists (no lock).
        pub(crate) async fn account_exists(conn: &mut $Conn, account_id: &str) -> Result<bool> {
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(found.is_some())
        }

        /// The account's balance: the ledger's running totals per kind
        /// (kept by the store, `crate::totals`), in one statement. Every
        /// open hold counts as held, lapsed or not (see [`balance_at`]).
        pub(crate) async fn balance(conn: &mut $Conn, account_id: &str) -> Result<Balance> {
            let sql = format!(
                "SELECT kind, {TOTAL} FROM ledger_totals WHERE account_id = $1"
            );
            let sums: Vec<KindSum> = sqlx::query_as(&sql)
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?;
            Balance::from_sums(&sums)
        }

        /// The account's balance at `now`: [`balance`] without the open
        /// holds whose `expires_at` passed (a dead replica's lease, a
        /// request that died), in one statement.
        ///
        /// Lapsed holds are inside the running totals until the sweeper
        /// closes them (`Store::expire_holds`), so they are subtracted
        /// here at read time rather than waited for: the figure is exact
        /// the instant a hold lapses, and the extra part reads only the
        /// open holds already past their expiry through the partial index
        /// `holds_open_by_expiry`, a handful of rows between two sweeps.
        pub(crate) async fn balance_at(
            conn: &mut $Conn,
            account_id: &str,
            now: DateTime<Utc>,
        ) -> Result<Balance> {
            let sql = balance_at_sql();
            let mut sums: Vec<KindSum> = sqlx::query_as(&sql)
                .bind(account_id)
                .bind(Timestamp(now))
                .fetch_all(&mut *conn)
                .await?;
            let lapsed: Decimal = sums.iter().filter(|s| s.kind == LAPSED).map(|s| s.sum).sum();
            sums.retain(|s| s.kind != LAPSED);
            let mut balance = Balance::from_sums(&sums)?;
            balance.held -= lapsed;
            balance.available += lapsed;
            Ok(balance)
        }

        /// [`balance_at`]'s query (`$1` the account, `$2` now). The lapsed
        /// holds are found through `holds_open_by_account`, the account's
        /// open holds only, never through every hold it ever had.
        pub(crate) fn balance_at_sql() -> String {
            format!(
                "SELECT kind, {TOTAL} FROM ledger_totals WHERE account_id = $1 \
                 UNION ALL SELECT '{LAPSED}' AS kind, {SUM_AMOUNT} FROM holds \
                 WHERE state = 'open' AND expires_at <= $2 AND account_id = $1"
            )
        }

        /// The sum of the account's ledger entries of one kind (signed).
        pub(crate) async fn kind_sum(
            conn: &mut $Conn,
            account_id: &str,
            kind: crate::ledger::LedgerKind,
        ) -> Result<Decimal> {
            let sql =
                format!("SELECT {TOTAL} FROM ledger_totals WHERE account_id = $1 AND kind = $2");
            let sum: Option<MoneySum> = sqlx::query_as(&sql)
                .bind(account_id)
                .bind(kind.as_str())
                .fetch_optional(&mut *conn)
                .await?;
            Ok(sum.map_or(Decimal::ZERO, |MoneySum(sum)| sum))
        }

        /// What the key was charged (settlements and fees, as a positive
        /// amount) from `since`'s UTC day on (limit periods start at UTC
        /// midnight), or ever.
        pub(crate) async fn key_spent(
            conn: &mut $Conn,
            key_hash: &str,
            since: Option<DateTime<Utc>>,
        ) -> Result<Decimal> {
            spend_since(conn, SUM_SPENT, key_hash, since).await
        }

        /// The upstream cost of the key's BYOK generations, since `since`
        /// (a UTC midnight) or ever.
        pub(crate) async fn key_byok_spent(
            conn: &mut $Conn,
            key_hash: &str,
            since: Option<DateTime<Utc>>,
        ) -> Result<Decimal> {
            spend_since(conn, SUM_BYOK_SPENT, key_hash, since).await
        }

        /// Sums one of `key_spend`'s per-day columns (`sum`: a `SUM_*`
        /// fragment). Every limit period starts at a UTC midnight, so the
        /// days from `since`'s on are exactly the period.
        async fn spend_since(
            conn: &mut $Conn,
            sum: &str,
            key_hash: &str,
            since: Option<DateTime<Utc>>,
        ) -> Result<Decimal> {
            let base = format!("SELECT {sum} FROM key_spend WHERE api_key_hash = $1");
            let MoneySum(spent) = match since {
                Some(since) => {
                    sqlx::query_as(&format!("{base} AND day >= $2"))
                        .bind(key_hash)
                        .bind(since.format("%Y-%m-%d").to_string())
                        .fetch_one(&mut *conn)
                        .await?
                }
                None => {
                    sqlx::query_as(&base)
                        .bind(key_hash)
                        .fetch_one(&mut *conn)
                        .await?
                }
            };
            Ok(spent)
        }

        /// What the key's open holds not yet past their expiry at `now`
        /// reserve.
        pub(crate) async fn key_held(
            conn: &mut $Conn,
            key_hash: &str,
            now: DateTime<Utc>,
        ) -> Result<Decimal> {
            let sql = format!(
                "SELECT {SUM_AMOUNT} FROM holds WHERE api_key_hash = $1 AND state = 'open' \
                 AND expires_at > $2"
            );
            let MoneySum(sum) = sqlx::query_as(&sql)
                .bind(key_hash)
                .bind(Timestamp(now))
                .fetch_one(&mut *conn)
                .await?;
            Ok(sum)
        }

        /// What the open credit leases whose ids start with `prefix` (one
        /// replica's) and that have not lapsed at `now` hold: of the
        /// account, of the key, or both.
        pub(crate) async fn leased(
            conn: &mut $Conn,
            account_id: Option<&str>,
            key_hash: Option<&str>,
            prefix: &str,
            now: DateTime<Utc>,
        ) -> Result<Decimal> {
            let sql = format!(
                "SELECT {SUM_AMOUNT} FROM holds WHERE ($1 IS NULL OR account_id = $1) \
                 AND ($2 IS NULL OR api_key_hash = $2) AND state = 'open' \
                 AND expires_at > $4 AND substr(id, 1, length($3)) = $3"
            );
            let MoneySum(sum) = sqlx::query_as(&sql)
                .bind(account_id)
                .bind(key_hash)
                .bind(prefix)
                .bind(Timestamp(now))
                .fetch_one(&mut *conn)
                .await?;
            Ok(sum)
        }

        /// Moves `expires_at` of the open holds whose ids start with
        /// `prefix` and that have not lapsed at `now` to `until`, in one
        /// statement; returns their ids. A lapsed one is left alone: other
        /// replicas may already have stopped counting it.
        pub(crate) async fn extend_holds(
            conn: &mut $Conn,
            prefix: &str,
            now: DateTime<Utc>,
            until: DateTime<Utc>,
        ) -> Result<Vec<String>> {
            Ok(sqlx::query_scalar(
                "UPDATE holds SET expires_at = $1 WHERE state = 'open' AND expires_at > $2 \
                 AND substr(id, 1, length($3)) = $3 RETURNING id",
            )
            .bind(Timestamp(until))
            .bind(Timestamp(now))
            .bind(prefix)
            .fetch_all(&mut *conn)
            .await?)
        }

        /// Open holds whose ids start with `prefix`: (id, account), by id.
        pub(crate) async fn open_holds_with_prefix(
            conn: &mut $Conn,
            prefix: &str,
        ) -> Result<Vec<(String, String)>> {
            let mut holds: Vec<(String, String)> = sqlx::query_as(super::OPEN_HOLDS_WITH_PREFIX)
                .bind(prefix)
                .fetch_all(&mut *conn)
                .await?;
            holds.sort_unstable();
            Ok(holds)
        }

        /// The key's owner and limit, if the key exists.
        pub(crate) async fn key_limit(
            conn: &mut $Conn,
            key_hash: &str,
        ) -> Result<Option<KeyLimitRow>> {
            Ok(sqlx::query_as(
                "SELECT account_id, credit_limit, limit_reset, include_byok_in_limit \
                 FROM api_keys WHERE hash = $1",
            )
            .bind(key_hash)
            .fetch_optional(&mut *conn)
            .await?)
        }

        /// Appends one entry to the ledger.
        pub(crate) async fn insert_entry(
            conn: &mut $Conn,
            e: &NewEntry<'_>,
        ) -> Result<LedgerEntry> {
            let sql = format!(
                "INSERT INTO ledger ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                crate::ledger::ENTRY_COLUMNS
            );
            let id: i64 = crate::ledger::bind_entry!(sqlx::query_scalar(&sql), bind, e)
                .fetch_one(&mut *conn)
                .await?;
            add_totals(conn, &crate::totals::TotalsDelta::of([e])).await?;
            Ok(e.to_entry(id))
        }

        /// The account's ledger, oldest first.
        pub(crate) async fn ledger(conn: &mut $Conn, account_id: &str) -> Result<Vec<LedgerEntry>> {
            let sql = format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE account_id = $1 ORDER BY id");
            let rows: Vec<LedgerRow> = sqlx::query_as(&sql)
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?;
            rows.into_iter().map(LedgerEntry::try_from).collect()
        }

        /// The ledger entries that reference a hold, oldest first.
        pub(crate) async fn entries_of_hold(
            conn: &mut $Conn,
            hold_id: &str,
        ) -> Result<Vec<LedgerEntry>> {
            let sql = format!("SELECT {LEDGER_COLUMNS} FROM ledger WHERE hold_id = $1 ORDER BY id");
            let rows: Vec<LedgerRow> = sqlx::query_as(&sql)
                .bind(hold_id)
                .fetch_all(&mut *conn)
                .await?;
            rows.into_iter().map(LedgerEntry::try_from).collect()
        }

        /// The hold with this id, if any.
        pub(crate) async fn hold(conn: &mut $Conn, hold_id: &str) -> Result<Option<Hold>> {
            let sql = format!("SELECT {} FROM holds WHERE id = $1", crate::holds::HOLD_COLUMNS);
            let row: Option<HoldRow> = sqlx::query_as(&sql)
                .bind(hold_id)
                .fetch_optional(&mut *conn)
                .await?;
            row.map(Hold::try_from).transpose()
        }

        /// Open holds whose expiry is at or before `now`: (id, account).
        pub(crate) async fn stale_holds(
            conn: &mut $Conn,
            now: DateTime<Utc>,
        ) -> Result<Vec<(String, String)>> {
            Ok(sqlx::query_as(
                "SELECT id, account_id FROM holds \
                 WHERE state = 'open' AND expires_at <= $1 ORDER BY expires_at, id",
            )
            .bind(Timestamp(now))
            .fetch_all(&mut *conn)
            .await?)
        }

        /// Every open hold: (id, account).
        pub(crate) async fn open_holds(conn: &mut $Conn) -> Result<Vec<(String, String)>> {
            Ok(sqlx::query_as(
                "SELECT id, account_id FROM holds WHERE state = 'open' ORDER BY expires_at, id",
            )
            .fetch_all(&mut *conn)
            .await?)
        }

        /// Inserts a new (open) hold.
        pub(crate) async fn insert_hold(conn: &mut $Conn, h: &Hold) -> Result<()> {
            sqlx::query(
                "INSERT INTO holds (id, account_id, api_key_hash, amount, state, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&h.id)
            .bind(&h.account_id)
            .bind(&h.api_key_hash)
            .bind(Money(h.amount))
            .bind(h.state.as_str())
            .bind(Timestamp(h.created_at))
            .bind(Timestamp(h.expires_at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Moves a hold from state `from` to `to` with its closing details.
        /// The compare-and-set is a second line of defence behind the
        /// account lock: a hold leaves a state at most once.
        pub(crate) async fn close_hold(
            conn: &mut $Conn,
            id: &str,
            from: HoldState,
            to: &Hold,
        ) -> Result<()> {
            let done = sqlx::query(
                "UPDATE holds SET state = $1, closed_at = $2, settled_amount = $3, generation_id = $4 \
                 WHERE id = $5 AND state = $6",
            )
            .bind(to.state.as_str())
            .bind(to.closed_at.map(Timestamp))
            .bind(to.settled_amount.map(Money))
            .bind(&to.generation_id)
            .bind(id)
            .bind(from.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if done == 1 {
                Ok(())
            } else {
                Err(Error::Corrupt {
                    table: "holds",
                    column: "state",
                    reason: format!("hold `{id}` left state {from} concurrently"),
                })
            }
        }
    };
}

/// SQLite: serialized by `BEGIN IMMEDIATE`; integer picodollars summed in
/// two exact parts (see `crate::money`).
pub(crate) mod sqlite {
    /// Under `BEGIN IMMEDIATE` the transaction already holds the write lock.
    const LOCK_ACCOUNT: &str = "SELECT id FROM accounts WHERE id = $1";
    /// Large statements are written with `?` (see `crate::batch`).
    pub(crate) const NUMBERED_PLACEHOLDERS: bool = false;
    /// Whole microdollars and the picodollars below them.
    const SUM_AMOUNT: &str =
        "COALESCE(SUM(amount / 1000000), 0) AS hi, COALESCE(SUM(amount % 1000000), 0) AS lo";
    /// A `ledger_totals` row's total, split the same way.
    const TOTAL: &str = "micros AS hi, picos AS lo";
    /// `key_spend`'s charges over days.
    const SUM_SPENT: &str = "COALESCE(SUM(micros), 0) AS hi, COALESCE(SUM(picos), 0) AS lo";
    /// `key_spend`'s BYOK upstream cost over days.
    const SUM_BYOK_SPENT: &str =
        "COALESCE(SUM(byok_micros), 0) AS hi, COALESCE(SUM(byok_picos), 0) AS lo";

    helpers!(sqlx::SqliteConnection);

    /// Adds what ledger entries just appended in this transaction add to
    /// the running totals (see `crate::totals`): one upsert per group.
    pub(crate) async fn add_totals(
        conn: &mut sqlx::SqliteConnection,
        delta: &crate::totals::TotalsDelta<'_>,
    ) -> crate::Result<()> {
        use crate::totals::Total;
        for (total, key, sub, amount) in delta.rows() {
            let sql = match total {
                Total::Kind => {
                    "INSERT INTO ledger_totals (account_id, kind, micros, picos) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, kind) DO UPDATE SET \
                     micros = micros + excluded.micros, picos = picos + excluded.picos"
                }
                Total::Spent => {
                    "INSERT INTO key_spend (api_key_hash, day, micros, picos) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (api_key_hash, day) DO UPDATE SET \
                     micros = micros + excluded.micros, picos = picos + excluded.picos"
                }
                Total::ByokSpent => {
                    "INSERT INTO key_spend (api_key_hash, day, byok_micros, byok_picos) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (api_key_hash, day) DO UPDATE SET \
                     byok_micros = byok_micros + excluded.byok_micros, \
                     byok_picos = byok_picos + excluded.byok_picos"
                }
            };
            let (hi, lo) = split(amount)?;
            sqlx::query(sql)
                .bind(key)
                .bind(sub.as_ref())
                .bind(hi)
                .bind(lo)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// A total's two stored parts (see `crate::money`).
    fn split(amount: rust_decimal::Decimal) -> crate::Result<(i64, i64)> {
        crate::money::pico_i128(amount)
            .and_then(crate::totals::split_pico)
            .ok_or(crate::Error::InvalidAmount {
                amount,
                reason: "a running total out of range",
            })
    }
}

/// PostgreSQL: serialized per account by a row lock; NUMERIC sums.
pub(crate) mod postgres {
    /// Serializes money transactions on one account (see the module docs).
    const LOCK_ACCOUNT: &str = "SELECT id FROM accounts WHERE id = $1 FOR NO KEY UPDATE";
    /// PostgreSQL's placeholders are `$n`.
    pub(crate) const NUMBERED_PLACEHOLDERS: bool = true;
    /// Exact NUMERIC sum.
    const SUM_AMOUNT: &str = "COALESCE(SUM(amount), 0) AS hi";
    /// A `ledger_totals` row's total.
    const TOTAL: &str = "amount AS hi";
    /// `key_spend`'s charges over days.
    const SUM_SPENT: &str = "COALESCE(SUM(spent), 0) AS hi";
    /// `key_spend`'s BYOK upstream cost over days.
    const SUM_BYOK_SPENT: &str = "COALESCE(SUM(byok_spent), 0) AS hi";

    helpers!(sqlx::PgConnection);

    /// Adds what ledger entries just appended in this transaction add to
    /// the running totals (see `crate::totals`): one upsert per group, in
    /// key order.
    pub(crate) async fn add_totals(
        conn: &mut sqlx::PgConnection,
        delta: &crate::totals::TotalsDelta<'_>,
    ) -> crate::Result<()> {
        use crate::totals::Total;
        for (total, key, sub, amount) in delta.rows() {
            let sql = match total {
                Total::Kind => {
                    "INSERT INTO ledger_totals (account_id, kind, amount) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id, kind) DO UPDATE SET \
                     amount = ledger_totals.amount + EXCLUDED.amount"
                }
                Total::Spent => {
                    "INSERT INTO key_spend (api_key_hash, day, spent) VALUES ($1, $2, $3) \
                     ON CONFLICT (api_key_hash, day) DO UPDATE SET \
                     spent = key_spend.spent + EXCLUDED.spent"
                }
                Total::ByokSpent => {
                    "INSERT INTO key_spend (api_key_hash, day, byok_spent) VALUES ($1, $2, $3) \
                     ON CONFLICT (api_key_hash, day) DO UPDATE SET \
                     byok_spent = key_spend.byok_spent + EXCLUDED.byok_spent"
                }
            };
            sqlx::query(sql)
                .bind(key)
                .bind(sub.as_ref())
                .bind(Money(amount))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}
