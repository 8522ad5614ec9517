//! Credit leases (`Store::renew_lease`): a replica's open hold of up to
//! what it wants, bounded by the balance and the key's limit, replaced at
//! one instant with the previous one returned.

use std::time::Duration;

use chrono::Duration as Span;
use tollgate_store::{Error, HoldState, KeyKind, LedgerKind, NewApiKey, lease_prefix};

use super::{Ctx, TTL, at, balance, check_ledger, d, funded};

/// The replica taking the leases.
const R: &str = "r1";

/// A credit lease's short time to live, kept up by a heartbeat.
const SHORT: Duration = Duration::from_secs(20);

on_both_backends!(
    a_lease_takes_what_it_wants_up_to_the_balance,
    a_lease_that_cannot_cover_its_need_changes_nothing,
    a_lease_stays_within_the_key_limit,
    a_lapsed_lease_stops_counting_at_once,
    the_heartbeat_extends_live_leases_of_its_replica_only,
    a_restarted_replica_releases_its_own_leases,
);

async fn a_lease_takes_what_it_wants_up_to_the_balance(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let now = at(2026, 11, 23, 12, 0, 0);
    let first = store
        .renew_lease(R, &account, &key, None, d("1"), d("4"), TTL, now)
        .await
        .unwrap();
    assert_eq!(first.amount, d("4"));
    assert_eq!(first.state, HoldState::Open);
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "4", "6")
    );
    assert!(first.id.starts_with("lease_r1_"), "{}", first.id);
    // Of what is held, the leases' part: not a request's hold.
    let request = store
        .place_hold(&account, Some(&key), d("1"), TTL, now)
        .await
        .unwrap();
    assert_eq!(store.balance(&account).await.unwrap().held, d("5"));
    assert_eq!(
        store.leased(R, Some(&account), None, now).await.unwrap(),
        d("4")
    );
    assert_eq!(
        store.leased(R, None, Some(&key), now).await.unwrap(),
        d("4")
    );
    assert_eq!(
        store
            .leased(R, Some("acct_other"), None, now)
            .await
            .unwrap(),
        d("0")
    );
    store.release_hold(&request.id, now).await.unwrap();

    // Renewed: the first lease is returned in the same transaction, so the
    // new one may take the whole balance, but no more.
    let second = store
        .renew_lease(
            R,
            &account,
            &key,
            Some(&first.id),
            d("1"),
            d("25"),
            TTL,
            now,
        )
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
        .renew_lease(
            R,
            &account,
            &key,
            Some(&second.id),
            d("2"),
            d("3"),
            TTL,
            now,
        )
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
        .renew_lease(R, &account, &key, None, d("8"), d("8"), TTL, now)
        .await
        .unwrap();
    let other = store
        .place_hold(&account, None, d("1.5"), TTL, now)
        .await
        .unwrap();
    // 10 - 1.5 is all a renewal could take: 9 is refused, and the old
    // lease stays as it was.
    let refused = store
        .renew_lease(
            R,
            &account,
            &key,
            Some(&lease.id),
            d("9"),
            d("20"),
            TTL,
            now,
        )
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
        .renew_lease(R, &account, &key, None, d("0.1"), d("5"), TTL, now)
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
        .renew_lease(
            R,
            &account,
            &key,
            Some(&lease.id),
            d("1.5"),
            d("2"),
            TTL,
            now,
        )
        .await;
    match refused {
        Err(Error::KeyLimitExceeded { limit, needed, .. }) => {
            assert_eq!((limit, needed), (d("1"), d("1.5")));
        }
        other => panic!("expected KeyLimitExceeded, got {other:?}"),
    }
}

async fn a_lapsed_lease_stops_counting_at_once(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    assert!(
        store
            .set_api_key_limit(&key, Some(d("8")), None)
            .await
            .unwrap()
    );
    let t0 = at(2026, 11, 23, 12, 0, 0);
    let dead = store
        .renew_lease("dead", &account, &key, None, d("4"), d("4"), SHORT, t0)
        .await
        .unwrap();
    assert_eq!(dead.expires_at, t0 + Span::seconds(20));
    // Until it lapses the lease is held: by balances, key usage and the
    // next lease alike.
    let before = t0 + Span::seconds(19);
    let b = store.balance_at(&account, before).await.unwrap();
    assert_eq!(b, balance("10", "0", "4", "6"));
    assert_eq!(
        store.key_usage(&key, before).await.unwrap().unwrap().held,
        d("4")
    );
    match store
        .renew_lease("alive", &account, &key, None, d("7"), d("7"), SHORT, before)
        .await
    {
        Err(Error::InsufficientCredits { available, needed }) => {
            assert_eq!((available, needed), (d("6"), d("7")));
        }
        other => panic!("expected InsufficientCredits, got {other:?}"),
    }
    // The instant it lapses it no longer counts, though the sweeper has
    // not closed it: the whole balance and limit are there again.
    let lapsed = t0 + Span::seconds(20);
    assert_eq!(
        store.balance_at(&account, lapsed).await.unwrap(),
        balance("10", "0", "0", "10")
    );
    let usage = store.key_usage(&key, lapsed).await.unwrap().unwrap();
    assert_eq!((usage.held, usage.limit_remaining), (d("0"), Some(d("8"))));
    assert_eq!(
        store
            .leased("dead", Some(&account), None, lapsed)
            .await
            .unwrap(),
        d("0")
    );
    let taken = store
        .renew_lease("alive", &account, &key, None, d("8"), d("8"), SHORT, lapsed)
        .await
        .unwrap();
    assert_eq!(taken.amount, d("8"));
    // The ledger still holds both until the sweeper closes the lapsed one.
    assert_eq!(check_ledger(store, &account).await.0.held, d("12"));
    assert_eq!(store.expire_holds(lapsed).await.unwrap(), 1);
    assert_eq!(
        store.get_hold(&dead.id).await.unwrap().unwrap().state,
        HoldState::Expired
    );
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "8", "2")
    );
    assert_eq!(
        store.balance_at(&account, lapsed).await.unwrap(),
        balance("10", "0", "8", "2")
    );
}

async fn the_heartbeat_extends_live_leases_of_its_replica_only(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "100").await;
    let t0 = at(2026, 11, 23, 12, 0, 0);
    let lease = |replica: &'static str, at| {
        let (account, key) = (account.clone(), key.clone());
        async move {
            store
                .renew_lease(replica, &account, &key, None, d("1"), d("1"), SHORT, at)
                .await
                .unwrap()
        }
    };
    let live = lease(R, t0).await;
    let lapsed = lease(R, t0 - Span::seconds(30)).await;
    let other = lease("r2", t0).await;
    // `r1_b` is not `r1`: its ids start `lease_r1-b_`.
    let lookalike = lease("r1_b", t0).await;
    assert!(lookalike.id.starts_with(&lease_prefix("r1_b")));
    assert!(
        !lookalike.id.starts_with(&lease_prefix(R)),
        "{}",
        lookalike.id
    );
    let request = store
        .place_hold(&account, Some(&key), d("1"), SHORT, t0)
        .await
        .unwrap();

    let beat = t0 + Span::seconds(10);
    let extended = store.extend_leases(R, SHORT, beat).await.unwrap();
    assert_eq!(extended, vec![live.id.clone()]);
    let expiry = |id: String| async move { store.get_hold(&id).await.unwrap().unwrap().expires_at };
    assert_eq!(expiry(live.id.clone()).await, beat + Span::seconds(20));
    assert_eq!(expiry(lapsed.id.clone()).await, lapsed.expires_at);
    assert_eq!(expiry(other.id.clone()).await, other.expires_at);
    assert_eq!(expiry(lookalike.id.clone()).await, lookalike.expires_at);
    assert_eq!(expiry(request.id.clone()).await, request.expires_at);
    // At t0 + 25 s only the extended lease still counts.
    let later = t0 + Span::seconds(25);
    assert_eq!(
        store.balance_at(&account, later).await.unwrap().held,
        d("1")
    );
    assert_eq!(
        store.leased(R, Some(&account), None, later).await.unwrap(),
        d("1")
    );
    // A lapsed lease is not revived by a later beat.
    let extended = store.extend_leases(R, SHORT, later).await.unwrap();
    assert_eq!(extended, vec![live.id.clone()]);
    assert_eq!(
        store.extend_leases("r3", SHORT, later).await.unwrap(),
        Vec::<String>::new()
    );
}

async fn a_restarted_replica_releases_its_own_leases(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "10").await;
    let (_, second) = store
        .create_api_key(
            &account,
            NewApiKey {
                label: "second".to_owned(),
                kind: KeyKind::Inference,
            },
        )
        .await
        .unwrap();
    let t0 = at(2026, 11, 23, 12, 0, 0);
    let mine = store
        .renew_lease(R, &account, &key, None, d("3"), d("3"), TTL, t0)
        .await
        .unwrap();
    let mine_too = store
        .renew_lease(R, &account, &second.hash, None, d("2"), d("2"), TTL, t0)
        .await
        .unwrap();
    let theirs = store
        .renew_lease("r2", &account, &key, None, d("1"), d("1"), TTL, t0)
        .await
        .unwrap();
    let request = store
        .place_hold(&account, Some(&key), d("0.5"), TTL, t0)
        .await
        .unwrap();
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "6.5", "3.5")
    );

    let restart = t0 + Span::seconds(5);
    assert_eq!(store.release_leases(R, restart).await.unwrap(), 2);
    for id in [&mine.id, &mine_too.id] {
        assert_eq!(
            store.get_hold(id).await.unwrap().unwrap().state,
            HoldState::Released
        );
    }
    for id in [&theirs.id, &request.id] {
        assert_eq!(
            store.get_hold(id).await.unwrap().unwrap().state,
            HoldState::Open
        );
    }
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("10", "0", "1.5", "8.5")
    );
    // Nothing left to release.
    assert_eq!(store.release_leases(R, restart).await.unwrap(), 0);
}
