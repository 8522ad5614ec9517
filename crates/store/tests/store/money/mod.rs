//! Credits on both backends: the ledger and balances, holds and their
//! settlement, crash recovery, key limits, and money under concurrency.
//! Shared helpers here; one submodule per concept.

// Helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances.
#![allow(clippy::panic)]

mod batch;
mod concurrency;
mod holds;
mod leases;
mod ledger;
mod limits;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::Connection;
use tollgate_store::{Balance, KeyKind, LedgerEntry, LedgerKind, NewApiKey, Store};

use super::Ctx;

pub(super) const TTL: Duration = Duration::from_secs(600);

pub(super) fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub(super) fn at(y: i32, m: u32, day: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, h, min, s).unwrap()
}

pub(super) fn balance(credits: &str, usage: &str, held: &str, available: &str) -> Balance {
    Balance {
        total_credits: d(credits),
        total_usage: d(usage),
        held: d(held),
        available: d(available),
    }
}

/// An account with `credits` topped up and an inference key.
pub(super) async fn funded(store: &Store, credits: &str) -> (String, String) {
    let account = store.create_account("acme").await.unwrap();
    if Decimal::from_str(credits).unwrap() > Decimal::ZERO {
        store
            .top_up(&account.id, d(credits), Some("initial"))
            .await
            .unwrap();
    }
    let (_, key) = store
        .create_api_key(
            &account.id,
            NewApiKey {
                label: "k".to_owned(),
                kind: KeyKind::Inference,
            },
        )
        .await
        .unwrap();
    (account.id, key.hash)
}

/// The ledger's invariants, from its entries alone: the balance is their
/// sum grouped as documented, and every hold is returned at most once.
pub(super) async fn check_ledger(store: &Store, account: &str) -> (Balance, Vec<LedgerEntry>) {
    let b = store.balance(account).await.unwrap();
    let entries = store.ledger(account).await.unwrap();
    let sum = |kinds: &[LedgerKind]| -> Decimal {
        entries
            .iter()
            .filter(|e| kinds.contains(&e.kind))
            .map(|e| e.amount)
            .sum()
    };
    use LedgerKind::*;
    assert_eq!(b.total_credits, sum(&[Topup, Refund, Adjust]));
    assert_eq!(b.total_usage, -sum(&[Settle, Fee]));
    assert_eq!(b.held, -sum(&[Hold, Release]));
    assert_eq!(
        b.available,
        entries.iter().map(|e| e.amount).sum::<Decimal>()
    );
    assert_eq!(b.available, b.total_credits - b.total_usage - b.held);
    assert!(entries.windows(2).all(|w| w[0].id < w[1].id));
    for e in &entries {
        match e.kind {
            Topup | Refund => assert!(e.amount > Decimal::ZERO, "{e:?}"),
            Release => assert!(e.amount >= Decimal::ZERO, "{e:?}"),
            Hold | Settle | Fee => assert!(e.amount <= Decimal::ZERO, "{e:?}"),
            Adjust => assert!(!e.amount.is_zero()),
        }
    }
    (b, entries)
}

/// Runs `sql` on a separate raw connection to the test database.
pub(super) async fn raw_execute(ctx: &Ctx, sql: &str) -> Result<u64, sqlx::Error> {
    if ctx.store.backend() == tollgate_store::Backend::Sqlite {
        let mut conn = sqlx::SqliteConnection::connect(&ctx.url).await?;
        let r = sqlx::query(sql).execute(&mut conn).await;
        conn.close().await?;
        r.map(|r| r.rows_affected())
    } else {
        let mut conn = sqlx::PgConnection::connect(&ctx.url).await?;
        let r = sqlx::query(sql).execute(&mut conn).await;
        conn.close().await?;
        r.map(|r| r.rows_affected())
    }
}

pub(super) async fn raw_text(ctx: &Ctx, sql: &str) -> Vec<String> {
    if ctx.store.backend() == tollgate_store::Backend::Sqlite {
        let mut conn = sqlx::SqliteConnection::connect(&ctx.url).await.unwrap();
        let rows = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        rows
    } else {
        let mut conn = sqlx::PgConnection::connect(&ctx.url).await.unwrap();
        let rows = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        rows
    }
}
