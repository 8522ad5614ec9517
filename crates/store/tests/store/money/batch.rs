//! Write-behind batches (`Store::write_batch`): a settled hold lands as the
//! settled hold row `place_hold` + `settle_hold_with_fee` leave, with its
//! `settle` and `fee` entries (not the zero-sum `hold`/`release` pair),
//! generation records land with it, and a batch is all or nothing.

use rust_decimal::Decimal;
use tollgate_store::{
    Backend, BatchWrite, Error, GenerationRecord, HoldState, LedgerKind, LimitReset, SettledHold,
    Store,
};

use super::{Ctx, at, balance, check_ledger, d, funded};
use crate::generations::generation;
use crate::keys_admin::byok_generation;

on_both_backends!(
    a_settled_hold_lands_as_its_settle_and_fee,
    settlements_count_against_the_key_limit,
    a_batch_is_all_or_nothing,
    the_batch_writer_keeps_one_connection_on_sqlite,
    a_batch_adds_its_sums_to_the_running_totals,
    byok_costs_join_their_keys_spending_once,
);

fn settled(
    id: &str,
    account: &str,
    key: &str,
    reserved: &str,
    charge: &str,
    fee: &str,
) -> SettledHold {
    SettledHold {
        id: id.to_owned(),
        account_id: account.to_owned(),
        api_key_hash: Some(key.to_owned()),
        reserved: d(reserved),
        charge: d(charge),
        fee: d(fee),
        generation_id: Some(format!("gen-{id}")),
        placed_at: at(2026, 11, 23, 12, 0, 0),
        settled_at: at(2026, 11, 23, 12, 0, 1),
    }
}

async fn a_settled_hold_lands_as_its_settle_and_fee(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let mut record = generation("gen-hold_a", &account, &key, at(2026, 11, 23, 12, 0, 0));
    record.total_cost = d("0.25");
    store
        .write_batch(&[
            BatchWrite::Settled(settled("hold_a", &account, &key, "2", "0.25", "0.05")),
            BatchWrite::Settled(settled("hold_b", &account, &key, "1", "0", "0")),
            BatchWrite::Generation(Box::new(record.clone())),
        ])
        .await
        .unwrap();

    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "0.3", "0", "9.7"));
    let of = |hold: &str| -> Vec<(LedgerKind, Decimal)> {
        entries
            .iter()
            .filter(|e| e.hold_id.as_deref() == Some(hold))
            .map(|e| (e.kind, e.amount))
            .collect()
    };
    assert_eq!(
        of("hold_a"),
        [
            (LedgerKind::Settle, d("-0.25")),
            (LedgerKind::Fee, d("-0.05"))
        ]
    );
    // A zero charge is still recorded (the settlement's record); no fee.
    assert_eq!(of("hold_b"), [(LedgerKind::Settle, Decimal::ZERO)]);
    let hold = store.get_hold("hold_a").await.unwrap().unwrap();
    assert_eq!(hold.state, HoldState::Settled);
    assert_eq!(hold.amount, d("2"), "the hold row keeps what was reserved");
    assert_eq!(hold.settled_amount, Some(d("0.25")));
    assert_eq!(hold.generation_id.as_deref(), Some("gen-hold_a"));
    // Settling it again through the store is idempotent, as for any
    // settled hold: nothing more is charged.
    let again = store
        .settle_hold("hold_a", d("5"), None, at(2026, 11, 23, 12, 0, 2))
        .await
        .unwrap();
    assert_eq!(again.amount, d("-0.25"));
    assert_eq!(check_ledger(store, &account).await.0, b);

    let stored = store
        .get_generation("gen-hold_a", &account)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.total_cost, d("0.25"));
}

async fn settlements_count_against_the_key_limit(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    assert!(
        store
            .set_api_key_limit(&key, Some(d("1")), None)
            .await
            .unwrap()
    );
    store
        .write_batch(&[BatchWrite::Settled(settled(
            "hold_c", &account, &key, "0.5", "0.4", "0.1",
        ))])
        .await
        .unwrap();
    let usage = store
        .key_usage(&key, at(2026, 11, 23, 13, 0, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(usage.usage, d("0.5"));
    assert_eq!(usage.limit_remaining, Some(d("0.5")));
    // The next hold sees what the batch spent.
    let refused = store
        .place_hold(
            &account,
            Some(&key),
            d("0.6"),
            super::TTL,
            at(2026, 11, 23, 13, 0, 0),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::KeyLimitExceeded { .. })),
        "{refused:?}"
    );
}

/// The running totals (balances, a key's spending per UTC day) are added
/// once per account and per key and day for the whole batch: with two
/// accounts interleaved and settlements on both sides of a UTC midnight,
/// each account's balance is still its ledger's sums, and each key's daily
/// spending only that day's charges and fees.
async fn a_batch_adds_its_sums_to_the_running_totals(ctx: &Ctx) {
    let store = &ctx.store;
    let (first, first_key) = funded(store, "10").await;
    let (second, second_key) = funded(store, "5").await;
    for key in [&first_key, &second_key] {
        assert!(
            store
                .set_api_key_limit(key, Some(d("100")), Some(LimitReset::Daily))
                .await
                .unwrap()
        );
    }
    let on = |mut s: SettledHold, day: u32, h: u32, min: u32, sec: u32| {
        s.placed_at = at(2026, 11, day, h, min, sec);
        s.settled_at = at(2026, 11, day, h, min, sec);
        BatchWrite::Settled(s)
    };
    store
        .write_batch(&[
            on(
                settled("hold_t1", &first, &first_key, "2", "0.25", "0.05"),
                23,
                23,
                59,
                59,
            ),
            on(
                settled("hold_t2", &second, &second_key, "1", "0.5", "0"),
                23,
                23,
                59,
                59,
            ),
            on(
                settled("hold_t3", &first, &first_key, "2", "1", "0.001"),
                24,
                0,
                0,
                0,
            ),
            on(
                settled("hold_t4", &second, &second_key, "1", "0.000000000001", "0"),
                24,
                0,
                0,
                1,
            ),
            on(
                settled("hold_t5", &first, &first_key, "2", "0.75", "0"),
                24,
                12,
                0,
                0,
            ),
        ])
        .await
        .unwrap();

    let (b, _) = check_ledger(store, &first).await;
    assert_eq!(b, balance("10", "2.051", "0", "7.949"));
    let (b, _) = check_ledger(store, &second).await;
    assert_eq!(b, balance("5", "0.500000000001", "0", "4.499999999999"));
    let usage = |key: &str| {
        let key = key.to_owned();
        async move {
            store
                .key_usage(&key, at(2026, 11, 24, 13, 0, 0))
                .await
                .unwrap()
                .unwrap()
        }
    };
    // Today (the 24th) only: 1 + 0.001 + 0.75, and 0.000000000001.
    let first_usage = usage(&first_key).await;
    assert_eq!(first_usage.limit_remaining, Some(d("98.249")));
    let second_usage = usage(&second_key).await;
    assert_eq!(second_usage.limit_remaining, Some(d("99.999999999999")));
    // A second batch adds to the same rows.
    store
        .write_batch(&[on(
            settled("hold_t6", &first, &first_key, "2", "0.5", "0.5"),
            24,
            13,
            0,
            0,
        )])
        .await
        .unwrap();
    assert_eq!(
        check_ledger(store, &first).await.0,
        balance("10", "3.051", "0", "6.949")
    );
    assert_eq!(usage(&first_key).await.limit_remaining, Some(d("97.249")));
}

/// A BYOK generation's upstream cost joins its key's spending when its
/// row is new, whether it came alone (`record_generation`) or in a batch:
/// a batch that repeats an id, or an id already recorded, counts it once.
async fn byok_costs_join_their_keys_spending_once(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let now = at(2026, 11, 24, 12, 0, 0);
    let byok = |id: &str, cost: &str| byok_generation(id, &account, &key, cost, now);
    store
        .record_generation(&byok("gen-alone", "0.5"))
        .await
        .unwrap();
    store
        .record_generation(&byok("gen-alone", "0.5"))
        .await
        .unwrap();
    let batch = |g: GenerationRecord| BatchWrite::Generation(Box::new(g));
    store
        .write_batch(&[
            batch(byok("gen-b1", "0.25")),
            batch(byok("gen-b1", "0.25")),
            batch(byok("gen-alone", "0.5")),
            batch(generation("gen-paid", &account, &key, now)),
            batch(byok("gen-b2", "0.000000000001")),
        ])
        .await
        .unwrap();
    let usage = store.key_usage(&key, now).await.unwrap().unwrap();
    assert_eq!(usage.byok_usage_daily, d("0.750000000001"));
    assert_eq!(usage.byok_usage, d("0.750000000001"));
    assert_eq!(usage.usage, Decimal::ZERO);
    // The next day's batch is the next day's spending.
    store
        .write_batch(&[batch(byok_generation(
            "gen-tomorrow",
            &account,
            &key,
            "1",
            at(2026, 11, 25, 0, 0, 0),
        ))])
        .await
        .unwrap();
    let usage = store
        .key_usage(&key, at(2026, 11, 25, 1, 0, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(usage.byok_usage_daily, d("1"));
    assert_eq!(usage.byok_usage, d("1.750000000001"));
}

async fn a_batch_is_all_or_nothing(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let before = check_ledger(store, &account).await.0;
    // The second write names an account that does not exist: the batch
    // fails, and the first write is not left behind.
    let result = store
        .write_batch(&[
            BatchWrite::Settled(settled("hold_d", &account, &key, "1", "0.5", "0")),
            BatchWrite::Settled(settled("hold_e", "acct_missing", &key, "1", "0.5", "0")),
        ])
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(check_ledger(store, &account).await.0, before);
    assert!(store.get_hold("hold_d").await.unwrap().is_none());
    // A negative charge is refused before anything is written.
    let bad = store
        .write_batch(&[BatchWrite::Settled(settled(
            "hold_f", &account, &key, "1", "-0.5", "0",
        ))])
        .await;
    assert!(matches!(bad, Err(Error::InvalidAmount { .. })), "{bad:?}");
    assert!(store.get_hold("hold_f").await.unwrap().is_none());
}

async fn the_batch_writer_keeps_one_connection_on_sqlite(ctx: &Ctx) {
    let store = &ctx.store;
    let sqlite = store.backend() == Backend::Sqlite;
    let (account, key) = funded(store, "10").await;
    let mut writer = store.batch_writer();
    writer
        .write(&[BatchWrite::Settled(settled(
            "hold_g", &account, &key, "1", "0.5", "0",
        ))])
        .await
        .unwrap();
    assert_eq!(writer.holds_connection(), sqlite);
    // Others read and write beside it.
    assert_eq!(check_ledger(store, &account).await.0.available, d("9.5"));
    store
        .write_batch(&[BatchWrite::Settled(settled(
            "hold_h", &account, &key, "1", "0.25", "0",
        ))])
        .await
        .unwrap();
    // A batch that fails is rolled back and gives the connection up ...
    let failed = writer
        .write(&[
            BatchWrite::Settled(settled("hold_i", &account, &key, "1", "0.5", "0")),
            BatchWrite::Settled(settled("hold_j", "acct_missing", &key, "1", "0.5", "0")),
        ])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert!(!writer.holds_connection());
    assert!(store.get_hold("hold_i").await.unwrap().is_none());
    // ... and the next one lands, on a connection in no transaction: a
    // batch written into a transaction left open would not be visible.
    writer
        .write(&[BatchWrite::Settled(settled(
            "hold_k", &account, &key, "1", "1", "0",
        ))])
        .await
        .unwrap();
    assert_eq!(writer.holds_connection(), sqlite);
    let (b, _) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "1.75", "0", "8.25"));
}

/// An in-memory database is one connection in all: a writer that kept it
/// would leave every other query waiting for the pool.
#[tokio::test]
async fn the_batch_writer_leaves_an_in_memory_databases_one_connection() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let (account, key) = funded(&store, "10").await;
    let mut writer = store.batch_writer();
    writer
        .write(&[BatchWrite::Settled(settled(
            "hold_l", &account, &key, "1", "0.5", "0",
        ))])
        .await
        .unwrap();
    assert!(!writer.holds_connection());
    let hold = tokio::time::timeout(std::time::Duration::from_secs(5), store.get_hold("hold_l"))
        .await
        .expect("the pool's one connection is free")
        .unwrap();
    assert_eq!(hold.map(|h| h.state), Some(HoldState::Settled));
}
