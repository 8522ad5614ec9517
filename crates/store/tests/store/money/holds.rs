//! Holds: placing, settling, releasing, and expiring them.

use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use tollgate_store::{Error, HoldState, LedgerKind};

use super::{Ctx, TTL, at, balance, check_ledger, d, funded};
on_both_backends!(
    hold_then_settle_lower,
    hold_then_release,
    settle_is_idempotent,
    settle_with_fee,
    settle_above_the_hold_charges_in_full,
    insufficient_credits_at_the_edge,
    expire_holds_releases_exactly_the_stale_ones,
);

async fn hold_then_settle_lower(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let now = Utc::now();
    let hold = store
        .place_hold(&account, Some(&key), d("1.5"), TTL, now)
        .await
        .unwrap();
    assert!(hold.id.starts_with("hold_"), "{}", hold.id);
    assert_eq!(hold.state, HoldState::Open);
    assert_eq!(hold.amount, d("1.5"));
    assert_eq!(hold.api_key_hash.as_deref(), Some(key.as_str()));
    assert_eq!(
        hold.expires_at - hold.created_at,
        chrono::Duration::seconds(600)
    );
    assert_eq!(store.get_hold(&hold.id).await.unwrap(), Some(hold.clone()));
    let (b, _) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "0", "1.5", "8.5"));

    let later = now + chrono::Duration::seconds(3);
    let charge = store
        .settle_hold(&hold.id, d("0.42"), Some("gen-abc"), later)
        .await
        .unwrap();
    assert_eq!(charge.kind, LedgerKind::Settle);
    assert_eq!(charge.amount, d("-0.42"));
    assert_eq!(charge.hold_id.as_deref(), Some(hold.id.as_str()));
    assert_eq!(charge.generation_id.as_deref(), Some("gen-abc"));
    assert_eq!(charge.api_key_hash.as_deref(), Some(key.as_str()));

    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "0.42", "0", "9.58"));
    let of_hold: Vec<_> = entries
        .iter()
        .filter(|e| e.hold_id.as_deref() == Some(&hold.id))
        .map(|e| (e.kind, e.amount))
        .collect();
    assert_eq!(
        of_hold,
        [
            (LedgerKind::Hold, d("-1.5")),
            (LedgerKind::Release, d("1.5")),
            (LedgerKind::Settle, d("-0.42")),
        ]
    );
    let settled = store.get_hold(&hold.id).await.unwrap().unwrap();
    assert_eq!(settled.state, HoldState::Settled);
    assert_eq!(settled.settled_amount, Some(d("0.42")));
    assert_eq!(settled.generation_id.as_deref(), Some("gen-abc"));
    assert!(settled.closed_at.is_some());
}

async fn hold_then_release(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "3").await;
    let hold = store
        .place_hold(&account, Some(&key), d("2"), TTL, Utc::now())
        .await
        .unwrap();
    let released = store
        .release_hold(&hold.id, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.kind, LedgerKind::Release);
    assert_eq!(released.amount, d("2"));
    // Releasing again changes nothing.
    assert_eq!(
        store.release_hold(&hold.id, Utc::now()).await.unwrap(),
        None
    );
    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("3", "0", "0", "3"));
    assert_eq!(entries.len(), 3);
    assert_eq!(
        store.get_hold(&hold.id).await.unwrap().unwrap().state,
        HoldState::Released
    );
    // A released hold is never charged afterwards.
    let err = store
        .settle_hold(&hold.id, d("1"), None, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::HoldClosed {
                state: HoldState::Released,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("hold `{}` is already released", hold.id)
    );
    assert_eq!(check_ledger(store, &account).await.0, b);
}

async fn settle_is_idempotent(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "5").await;
    let hold = store
        .place_hold(&account, Some(&key), d("1"), TTL, Utc::now())
        .await
        .unwrap();
    let first = store
        .settle_hold(&hold.id, d("0.3"), Some("gen-1"), Utc::now())
        .await
        .unwrap();
    let after_first = check_ledger(store, &account).await;
    // Again, even with other amounts: the first settlement is returned.
    for amount in ["0.3", "0.9", "0"] {
        let again = store
            .settle_hold(&hold.id, d(amount), Some("gen-2"), Utc::now())
            .await
            .unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(check_ledger(store, &account).await, after_first);
    assert_eq!(after_first.0, balance("5", "0.3", "0", "4.7"));
    // Releasing a settled hold changes nothing either.
    assert_eq!(
        store.release_hold(&hold.id, Utc::now()).await.unwrap(),
        None
    );
    assert_eq!(check_ledger(store, &account).await, after_first);
    let settled = store.get_hold(&hold.id).await.unwrap().unwrap();
    assert_eq!(settled.generation_id.as_deref(), Some("gen-1"));
}

async fn settle_with_fee(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "5").await;
    let hold = store
        .place_hold(&account, Some(&key), d("0.01"), TTL, Utc::now())
        .await
        .unwrap();
    // A BYOK request: no charge of ours, a 5% fee on 0.045.
    let s = store
        .settle_hold_with_fee(&hold.id, d("0"), d("0.00225"), Some("gen-b"), Utc::now())
        .await
        .unwrap();
    assert_eq!(s.charge.amount, Decimal::ZERO);
    let fee = s.fee.clone().unwrap();
    assert_eq!(fee.kind, LedgerKind::Fee);
    assert_eq!(fee.amount, d("-0.00225"));
    assert_eq!(fee.generation_id.as_deref(), Some("gen-b"));
    let again = store
        .settle_hold_with_fee(&hold.id, d("0"), d("0.00225"), Some("gen-b"), Utc::now())
        .await
        .unwrap();
    assert_eq!(again, s);
    let (b, _) = check_ledger(store, &account).await;
    assert_eq!(b, balance("5", "0.00225", "0", "4.99775"));
    // Without a fee, no fee entry.
    let plain = store
        .place_hold(&account, Some(&key), d("0.01"), TTL, Utc::now())
        .await
        .unwrap();
    let s = store
        .settle_hold_with_fee(&plain.id, d("0.001"), d("0"), None, Utc::now())
        .await
        .unwrap();
    assert_eq!(s.fee, None);
}

async fn settle_above_the_hold_charges_in_full(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "1").await;
    let hold = store
        .place_hold(&account, Some(&key), d("0.9"), TTL, Utc::now())
        .await
        .unwrap();
    store
        .settle_hold(&hold.id, d("1.25"), None, Utc::now())
        .await
        .unwrap();
    let (b, _) = check_ledger(store, &account).await;
    assert_eq!(b, balance("1", "1.25", "0", "-0.25"));
    // Overdrawn: even a zero hold (a free model) waits for a top-up.
    let err = store
        .place_hold(&account, Some(&key), d("0"), TTL, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InsufficientCredits { available, needed }
            if available == d("-0.25") && needed.is_zero()),
        "{err:?}"
    );
    store.top_up(&account, d("0.25"), None).await.unwrap();
    store
        .place_hold(&account, Some(&key), d("0"), TTL, Utc::now())
        .await
        .unwrap();
}

async fn insufficient_credits_at_the_edge(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "1").await;
    let a = store
        .place_hold(&account, Some(&key), d("0.6"), TTL, Utc::now())
        .await
        .unwrap();
    // 0.4 left: one picodollar more is refused, exactly 0.4 is not.
    let err = store
        .place_hold(&account, Some(&key), d("0.400000000001"), TTL, Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InsufficientCredits { available, needed }
            if available == d("0.4") && needed == d("0.400000000001")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "insufficient credits: 0.4 available, 0.400000000001 needed"
    );
    let b = store
        .place_hold(&account, Some(&key), d("0.4"), TTL, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("1", "0", "1", "0")
    );
    // A zero hold (a free model) still fits in a zero balance.
    store
        .place_hold(&account, Some(&key), d("0"), TTL, Utc::now())
        .await
        .unwrap();
    assert!(matches!(
        store
            .place_hold(&account, None, d("0.000000000001"), TTL, Utc::now())
            .await
            .unwrap_err(),
        Error::InsufficientCredits { .. }
    ));
    // Releasing one hold makes room again.
    store.release_hold(&a.id, Utc::now()).await.unwrap();
    store
        .place_hold(&account, None, d("0.6"), TTL, Utc::now())
        .await
        .unwrap();
    store
        .settle_hold(&b.id, d("0.4"), None, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("1", "0.4", "0.6", "0")
    );
}

async fn expire_holds_releases_exactly_the_stale_ones(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let t0 = at(2025, 6, 1, 12, 0, 0);
    let hold = |ttl_secs: u64, amount: &'static str| {
        let account = account.clone();
        let key = key.clone();
        async move {
            store
                .place_hold(
                    &account,
                    Some(&key),
                    d(amount),
                    Duration::from_secs(ttl_secs),
                    t0,
                )
                .await
                .unwrap()
        }
    };
    let zero = hold(0, "0.1").await;
    let at_60 = hold(60, "0.2").await;
    let at_61 = hold(61, "0.4").await;
    let settled = hold(30, "0.8").await;
    let released = hold(30, "1.6").await;
    store
        .settle_hold(&settled.id, d("0.5"), None, t0)
        .await
        .unwrap();
    store.release_hold(&released.id, t0).await.unwrap();
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0.5", "0.7", "8.8")
    );

    // Nothing is stale before its expiry.
    assert_eq!(
        store
            .expire_holds(t0 - chrono::Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    // At t0 + 60 s: the 0 s and the 60 s holds (expiry inclusive), not the
    // 61 s one, nor the closed ones.
    let t60 = t0 + chrono::Duration::seconds(60);
    assert_eq!(store.expire_holds(t60).await.unwrap(), 2);
    assert_eq!(store.expire_holds(t60).await.unwrap(), 0, "only once");
    let state = |id: String| async move { store.get_hold(&id).await.unwrap().unwrap().state };
    assert_eq!(state(zero.id.clone()).await, HoldState::Expired);
    assert_eq!(state(at_60.id.clone()).await, HoldState::Expired);
    assert_eq!(state(at_61.id.clone()).await, HoldState::Open);
    assert_eq!(state(settled.id.clone()).await, HoldState::Settled);
    assert_eq!(state(released.id.clone()).await, HoldState::Released);
    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "0.5", "0.4", "9.1"));
    let expired_notes = entries
        .iter()
        .filter(|e| e.note.as_deref() == Some("expired"))
        .count();
    assert_eq!(expired_notes, 2);

    // An expired hold is returned, not charged; if its request does finish
    // after all, its charge still lands (and only once).
    store
        .settle_hold(&at_60.id, d("0.15"), Some("late"), t60)
        .await
        .unwrap();
    store
        .settle_hold(&at_60.id, d("0.15"), Some("late"), t60)
        .await
        .unwrap();
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0.65", "0.4", "8.95")
    );
    // Another account's stale holds are recovered by the same sweep.
    let (other, _) = funded(store, "1").await;
    store
        .place_hold(&other, None, d("1"), Duration::from_secs(1), t0)
        .await
        .unwrap();
    let t2h = t0 + chrono::Duration::hours(2);
    assert_eq!(store.expire_holds(t2h).await.unwrap(), 2);
    assert_eq!(
        check_ledger(store, &other).await.0,
        balance("1", "0", "0", "1")
    );
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0.65", "0", "9.35")
    );
}
