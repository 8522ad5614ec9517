//! Money under concurrency: hundreds of tasks at one account, on a
//! multi-threaded runtime; the ledger must add up exactly and never overdraw.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use tollgate_store::{Error, HoldState, KeyKind, LedgerKind, LimitReset, NewApiKey, Store};

use super::{Ctx, TTL, at, balance, check_ledger, d, funded};
on_both_backends_in_parallel!(
    concurrent_hold_and_settle_sequences,
    concurrent_holds_with_partial_settlements,
    concurrent_settles_of_one_hold,
    concurrent_holds_against_a_key_limit,
    concurrent_expiry_and_settlement,
);

/// Samples the balance until `stop`, asserting the available balance and
/// the holds never go negative, and returns how many samples it took.
fn watch_balance(
    store: Store,
    account: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut samples = 0;
        while !stop.load(Ordering::Relaxed) {
            let b = store.balance(&account).await.unwrap();
            assert!(b.available >= Decimal::ZERO, "overdraft: {b:?}");
            assert!(b.held >= Decimal::ZERO, "{b:?}");
            assert_eq!(b.available, b.total_credits - b.total_usage - b.held);
            samples += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        samples
    })
}

async fn concurrent_hold_and_settle_sequences(ctx: &Ctx) {
    // $10 and 300 requests that each hold and then spend $0.10: whatever
    // the interleaving, exactly 100 can be paid for.
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_balance(store.clone(), account.clone(), stop.clone());
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let (store, account, key) = (store.clone(), account.clone(), key.clone());
            tokio::spawn(async move {
                let hold = match store
                    .place_hold(&account, Some(&key), d("0.1"), TTL, Utc::now())
                    .await
                {
                    Ok(hold) => hold,
                    Err(Error::InsufficientCredits { available, needed }) => {
                        assert!(available < needed);
                        assert!(available >= Decimal::ZERO);
                        return false;
                    }
                    Err(other) => panic!("{other:?}"),
                };
                tokio::task::yield_now().await;
                store
                    .settle_hold(&hold.id, d("0.1"), Some(&format!("gen-{i}")), Utc::now())
                    .await
                    .unwrap();
                true
            })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap() {
            succeeded += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.await.unwrap() > 0);

    assert_eq!(succeeded, 100);
    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "10", "0", "0"));
    let settles = entries
        .iter()
        .filter(|e| e.kind == LedgerKind::Settle)
        .count();
    assert_eq!(settles, 100);
    // topup + 100 × (hold, release, settle)
    assert_eq!(entries.len(), 1 + 300);
}

async fn concurrent_holds_with_partial_settlements(ctx: &Ctx) {
    // Holds of $0.10 settled at 0.03 to 0.10: how many fit depends on the
    // interleaving, but the ledger must add up to the cent-fraction, and
    // no hold may find less than it reserved.
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_balance(store.clone(), account.clone(), stop.clone());
    let tasks: Vec<_> = (0..300u32)
        .map(|i| {
            let (store, account, key) = (store.clone(), account.clone(), key.clone());
            tokio::spawn(async move {
                let hold = match store
                    .place_hold(&account, Some(&key), d("0.1"), TTL, Utc::now())
                    .await
                {
                    Ok(hold) => hold,
                    Err(Error::InsufficientCredits { .. }) => return None,
                    Err(other) => panic!("{other:?}"),
                };
                tokio::task::yield_now().await;
                if i % 10 == 0 {
                    // A failed request: released, not charged.
                    store.release_hold(&hold.id, Utc::now()).await.unwrap();
                    return Some(Decimal::ZERO);
                }
                // 0.03 ..= 0.10 with picodollar tails.
                let charge = Decimal::new(3 + i64::from(i % 8), 2) - Decimal::new(i64::from(i), 12);
                store
                    .settle_hold(&hold.id, charge, None, Utc::now())
                    .await
                    .unwrap();
                Some(charge)
            })
        })
        .collect();
    let mut charged = Decimal::ZERO;
    let mut succeeded = 0;
    for task in tasks {
        if let Some(charge) = task.await.unwrap() {
            charged += charge;
            succeeded += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    watcher.await.unwrap();

    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b.total_credits, d("10"));
    assert_eq!(b.total_usage, charged);
    assert_eq!(b.held, Decimal::ZERO);
    assert_eq!(b.available, d("10") - charged);
    assert!(b.available >= Decimal::ZERO);
    // A hold is refused only when usage + held > 9.90, and each admitted
    // request adds at most 0.10 to that: so if any was refused, at least
    // 100 were admitted.
    assert!(succeeded >= 100, "{succeeded}");
    let holds = entries
        .iter()
        .filter(|e| e.kind == LedgerKind::Hold)
        .count();
    assert_eq!(holds, succeeded);
}

async fn concurrent_settles_of_one_hold(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "5").await;
    let hold = store
        .place_hold(&account, Some(&key), d("2"), TTL, Utc::now())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (store, id) = (store.clone(), hold.id.clone());
            tokio::spawn(async move {
                if i % 4 == 0 {
                    store.release_hold(&id, Utc::now()).await.map(|_| None)
                } else {
                    store
                        .settle_hold(&id, d("1.5"), None, Utc::now())
                        .await
                        .map(Some)
                }
            })
        })
        .collect();
    let mut settles = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(Some(entry)) => settles.push(entry),
            Ok(None) => {}
            Err(Error::HoldClosed { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    let (b, entries) = check_ledger(store, &account).await;
    let state = store.get_hold(&hold.id).await.unwrap().unwrap().state;
    // Whoever came first decided; nobody double-charged or double-returned.
    let of_hold = entries
        .iter()
        .filter(|e| e.hold_id.as_deref() == Some(&hold.id))
        .count();
    match state {
        HoldState::Settled => {
            assert!(settles.windows(2).all(|w| w[0] == w[1]));
            assert_eq!(b, balance("5", "1.5", "0", "3.5"));
            assert_eq!(of_hold, 3);
        }
        HoldState::Released => {
            assert!(settles.is_empty());
            assert_eq!(b, balance("5", "0", "0", "5"));
            assert_eq!(of_hold, 2);
        }
        other => panic!("{other:?}"),
    }
}

async fn concurrent_holds_against_a_key_limit(ctx: &Ctx) {
    // Plenty of credit, a key limited to $1 a day, 100 parallel holds of
    // $0.05 with another key spending the same account: exactly 20 pass
    // the limit, and the other key is not limited by it.
    let store = &ctx.store;
    let (account, limited) = funded(store, "100").await;
    let (_, free) = store
        .create_api_key(
            &account,
            NewApiKey {
                label: "unlimited".to_owned(),
                kind: KeyKind::Inference,
            },
        )
        .await
        .unwrap();
    store
        .set_api_key_limit(&limited, Some(d("1")), Some(LimitReset::Daily))
        .await
        .unwrap();
    let now = at(2025, 5, 5, 12, 0, 0);
    let tasks: Vec<_> = (0..150)
        .map(|i| {
            let (store, account) = (store.clone(), account.clone());
            let key = if i % 3 == 2 {
                free.hash.clone()
            } else {
                limited.clone()
            };
            tokio::spawn(async move {
                let r = store
                    .place_hold(&account, Some(&key), d("0.05"), TTL, now)
                    .await;
                match r {
                    Ok(hold) => {
                        store
                            .settle_hold(&hold.id, d("0.05"), None, now)
                            .await
                            .unwrap();
                        (key, true)
                    }
                    Err(Error::KeyLimitExceeded { .. }) => (key, false),
                    Err(other) => panic!("{other:?}"),
                }
            })
        })
        .collect();
    let (mut limited_ok, mut free_ok) = (0, 0);
    for task in tasks {
        let (key, ok) = task.await.unwrap();
        match (key == limited, ok) {
            (true, true) => limited_ok += 1,
            (false, true) => free_ok += 1,
            (false, false) => panic!("the unlimited key was limited"),
            (true, false) => {}
        }
    }
    assert_eq!(limited_ok, 20);
    assert_eq!(free_ok, 50);
    let usage = store.key_usage(&limited, now).await.unwrap().unwrap();
    assert_eq!(usage.usage_daily, d("1"));
    assert_eq!(usage.limit_remaining, Some(Decimal::ZERO));
    let (b, _) = check_ledger(store, &account).await;
    assert_eq!(b, balance("100", "3.5", "0", "96.5"));
}

async fn concurrent_expiry_and_settlement(ctx: &Ctx) {
    // A restart's sweep racing with requests that are still settling: each
    // hold ends settled or expired (then possibly settled late), and the
    // ledger returns every reservation exactly once.
    let store = &ctx.store;
    let (account, key) = funded(store, "50").await;
    let t0 = at(2025, 7, 1, 0, 0, 0);
    let mut holds = Vec::new();
    for _ in 0..100 {
        holds.push(
            store
                .place_hold(&account, Some(&key), d("0.2"), Duration::from_secs(5), t0)
                .await
                .unwrap(),
        );
    }
    let later = t0 + chrono::Duration::seconds(10);
    let sweepers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.expire_holds(later).await.unwrap() })
        })
        .collect();
    let settlers: Vec<_> = holds
        .iter()
        .step_by(2)
        .map(|h| {
            let (store, id) = (store.clone(), h.id.clone());
            tokio::spawn(
                async move { store.settle_hold(&id, d("0.1"), None, later).await.unwrap() },
            )
        })
        .collect();
    let mut expired = 0;
    for s in sweepers {
        expired += s.await.unwrap();
    }
    for s in settlers {
        s.await.unwrap();
    }
    let (b, entries) = check_ledger(store, &account).await;
    // 50 settled at 0.1 (before or after their expiry); nothing held.
    assert_eq!(b, balance("50", "5", "0", "45"));
    let releases = entries
        .iter()
        .filter(|e| e.kind == LedgerKind::Release)
        .count();
    assert_eq!(releases, 100, "each reservation returned exactly once");
    assert!((50..=100).contains(&expired), "{expired}");
    assert_eq!(store.expire_holds(later).await.unwrap(), 0);
}
