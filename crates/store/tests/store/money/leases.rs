//! Credit leases (`Store::renew_lease`): a replica's open hold of up to
//! what it wants, bounded by the balance and the key's limit, replaced at
//! one instant with the previous one returned.

use tollgate_store::{Error, HoldState, LedgerKind};

use super::{Ctx, TTL, at, balance, check_ledger, d, funded};

on_both_backends!(
    a_lease_takes_what_it_wants_up_to_the_balance,
    a_lease_that_cannot_cover_its_need_changes_nothing,
    a_lease_stays_within_the_key_limit,
);

async fn a_lease_takes_what_it_wants_up_to_the_balance(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let now = at(2026, 11, 23, 12, 0, 0);
    let first = store
        .renew_lease(&account, &key, None, d("1"), d("4"), TTL, now)
        .await
        .unwrap();
    assert_eq!(first.amount, d("4"));
    assert_eq!(first.state, HoldState::Open);
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "4", "6")
    );
    assert!(first.id.starts_with("lease_"), "{}", first.id);
    // Of what is held, the leases' part: not a request's hold.
    let request = store
        .place_hold(&account, Some(&key), d("1"), TTL, now)
        .await
        .unwrap();
    assert_eq!(store.balance(&account).await.unwrap().held, d("5"));
    assert_eq!(store.leased(Some(&account), None).await.unwrap(), d("4"));
    assert_eq!(store.leased(None, Some(&key)).await.unwrap(), d("4"));
    assert_eq!(
        store.leased(Some("acct_other"), None).await.unwrap(),
        d("0")
    );
    store.release_hold(&request.id, now).await.unwrap();

    // Renewed: the first lease is returned in the same transaction, so the
    // new one may take the whole balance, but no more.
    let second = store
        .renew_lease(&account, &key, Some(&first.id), d("1"), d("25"), TTL, now)
        .await
        .unwrap();
    assert_eq!(second.amount, d("10"));
    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("10", "0", "10", "0"));
    let returned = store.get_hold(&first.id).await.unwrap().unwrap();
    assert_eq!(returned.state, HoldState::Released);
    let release: Vec<_> = entries
        .iter()
        .filter(|e| {
            e.hold_id.as_deref() == Some(first.id.as_str()) && e.kind == LedgerKind::Release
        })
        .collect();
    assert_eq!(release.len(), 1, "{entries:?}");
    assert_eq!(release[0].amount, d("4"));

    // Renewing from a lease that is no longer open (expired, released)
    // just takes a new one.
    store.release_hold(&second.id, now).await.unwrap();
    let third = store
        .renew_lease(&account, &key, Some(&second.id), d("2"), d("3"), TTL, now)
        .await
        .unwrap();
    assert_eq!(third.amount, d("3"));
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "3", "7")
    );
}

async fn a_lease_that_cannot_cover_its_need_changes_nothing(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let now = at(2026, 11, 23, 12, 0, 0);
    let lease = store
        .renew_lease(&account, &key, None, d("8"), d("8"), TTL, now)
        .await
        .unwrap();
    let other = store
        .place_hold(&account, None, d("1.5"), TTL, now)
        .await
        .unwrap();
    // 10 - 1.5 is all a renewal could take: 9 is refused, and the old
    // lease stays as it was.
    let refused = store
        .renew_lease(&account, &key, Some(&lease.id), d("9"), d("20"), TTL, now)
        .await;
    match refused {
        Err(Error::InsufficientCredits { available, needed }) => {
            assert_eq!((available, needed), (d("8.5"), d("9")));
        }
        other => panic!("expected InsufficientCredits, got {other:?}"),
    }
    let kept = store.get_hold(&lease.id).await.unwrap().unwrap();
    assert_eq!(kept.state, HoldState::Open);
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "9.5", "0.5")
    );
    store.release_hold(&other.id, now).await.unwrap();
}

async fn a_lease_stays_within_the_key_limit(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    assert!(
        store
            .set_api_key_limit(&key, Some(d("1")), None)
            .await
            .unwrap()
    );
    let now = at(2026, 11, 23, 12, 0, 0);
    let lease = store
        .renew_lease(&account, &key, None, d("0.1"), d("5"), TTL, now)
        .await
        .unwrap();
    assert_eq!(lease.amount, d("1"));
    // The lease is the key's: nothing is left of its limit for anyone else.
    let refused = store
        .place_hold(&account, Some(&key), d("0.01"), TTL, now)
        .await;
    assert!(
        matches!(refused, Err(Error::KeyLimitExceeded { .. })),
        "{refused:?}"
    );
    let refused = store
        .renew_lease(&account, &key, Some(&lease.id), d("1.5"), d("2"), TTL, now)
        .await;
    match refused {
        Err(Error::KeyLimitExceeded { limit, needed, .. }) => {
            assert_eq!((limit, needed), (d("1"), d("1.5")));
        }
        other => panic!("expected KeyLimitExceeded, got {other:?}"),
    }
}
