//! Per-key credit limits and their reset periods.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_store::{Error, LimitReset};

use super::{Ctx, TTL, at, balance, check_ledger, d, funded};
on_both_backends!(
    key_limits_reset_daily_weekly_monthly,
    key_must_exist_and_belong_to_the_account,
);

async fn key_limits_reset_daily_weekly_monthly(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "100").await;
    let hold = |amount: &'static str, now: DateTime<Utc>| {
        let (account, key) = (account.clone(), key.clone());
        async move {
            store
                .place_hold(&account, Some(&key), d(amount), TTL, now)
                .await
        }
    };
    let spend = |amount: &'static str, now: DateTime<Utc>| {
        let (account, key) = (account.clone(), key.clone());
        async move {
            let h = store
                .place_hold(&account, Some(&key), d(amount), TTL, now)
                .await
                .unwrap();
            store
                .settle_hold(&h.id, d(amount), None, now)
                .await
                .unwrap();
        }
    };
    let remaining = |e: Error| match e {
        Error::KeyLimitExceeded { remaining, .. } => remaining,
        other => panic!("{other:?}"),
    };

    // No limit: anything the balance allows.
    let stored = store.get_api_key(&key).await.unwrap().unwrap();
    assert_eq!((stored.limit, stored.limit_reset), (None, None));

    // Daily $1. Wednesday 2025-03-12.
    assert!(
        store
            .set_api_key_limit(&key, Some(d("1")), Some(LimitReset::Daily))
            .await
            .unwrap()
    );
    let stored = store.get_api_key(&key).await.unwrap().unwrap();
    assert_eq!(stored.limit, Some(d("1")));
    assert_eq!(stored.limit_reset, Some(LimitReset::Daily));
    assert!(stored.updated_at.is_some());

    let wed = at(2025, 3, 12, 10, 0, 0);
    spend("0.6", wed).await;
    let err = hold("0.5", wed + chrono::Duration::hours(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyLimitExceeded { limit, remaining, needed }
            if limit == d("1") && remaining == d("0.4") && needed == d("0.5")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "api key credit limit reached: 0.4 of 1 remaining, 0.5 needed"
    );
    // Open holds count against the limit too.
    let open = hold("0.4", wed + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(
        remaining(hold("0.000000000001", wed).await.unwrap_err()),
        Decimal::ZERO
    );
    let usage = store.key_usage(&key, wed).await.unwrap().unwrap();
    assert_eq!(usage.usage, d("0.6"));
    assert_eq!(usage.usage_daily, d("0.6"));
    assert_eq!(usage.held, d("0.4"));
    assert_eq!(usage.limit, Some(d("1")));
    assert_eq!(usage.limit_reset, Some(LimitReset::Daily));
    assert_eq!(usage.limit_remaining, Some(Decimal::ZERO));
    store.release_hold(&open.id, wed).await.unwrap();
    // The last microsecond of Wednesday is still Wednesday ...
    let wed_end = at(2025, 3, 12, 23, 59, 59) + chrono::Duration::microseconds(999_999);
    assert_eq!(remaining(hold("0.5", wed_end).await.unwrap_err()), d("0.4"));
    // ... and at midnight UTC the day's spending is forgotten.
    let thu = at(2025, 3, 13, 0, 0, 0);
    spend("1", thu).await;
    assert_eq!(remaining(hold("0.01", thu).await.unwrap_err()), d("0"));

    // Weekly $2: the week began Monday 2025-03-10, so 0.6 + 1 are in it.
    store
        .set_api_key_limit(&key, Some(d("2")), Some(LimitReset::Weekly))
        .await
        .unwrap();
    let sun = at(2025, 3, 16, 23, 0, 0);
    assert_eq!(remaining(hold("0.5", sun).await.unwrap_err()), d("0.4"));
    let next_mon = at(2025, 3, 17, 0, 0, 0);
    spend("1.5", next_mon).await;
    assert_eq!(
        remaining(hold("0.6", next_mon).await.unwrap_err()),
        d("0.5")
    );

    // Monthly $3: March holds 0.6 + 1 + 1.5.
    store
        .set_api_key_limit(&key, Some(d("3")), Some(LimitReset::Monthly))
        .await
        .unwrap();
    let mar_end = at(2025, 3, 31, 23, 59, 59);
    assert_eq!(remaining(hold("0.2", mar_end).await.unwrap_err()), d("0"));
    let apr = at(2025, 4, 1, 0, 0, 0);
    let h = hold("3", apr).await.unwrap();
    store.release_hold(&h.id, apr).await.unwrap();

    // No reset: a lifetime limit of $5 against 3.1 spent ever.
    store
        .set_api_key_limit(&key, Some(d("5")), None)
        .await
        .unwrap();
    assert_eq!(remaining(hold("2", apr).await.unwrap_err()), d("1.9"));
    let usage = store.key_usage(&key, next_mon).await.unwrap().unwrap();
    assert_eq!(usage.usage, d("3.1"));
    assert_eq!(usage.usage_daily, d("1.5"));
    assert_eq!(usage.usage_weekly, d("1.5"));
    assert_eq!(usage.usage_monthly, d("3.1"));
    assert_eq!(usage.held, d("0"));
    assert_eq!(usage.limit_remaining, Some(d("1.9")));

    // Limit removed: only the balance counts.
    store.set_api_key_limit(&key, None, None).await.unwrap();
    hold("50", apr).await.unwrap();
    let usage = store.key_usage(&key, apr).await.unwrap().unwrap();
    assert_eq!(usage.limit_remaining, None);
    assert_eq!(usage.held, d("50"));

    assert!(
        !store
            .set_api_key_limit(&"0".repeat(64), Some(d("1")), None)
            .await
            .unwrap()
    );
    assert_eq!(store.key_usage(&"0".repeat(64), apr).await.unwrap(), None);
    assert!(matches!(
        store
            .set_api_key_limit(&key, Some(d("-1")), None)
            .await
            .unwrap_err(),
        Error::InvalidAmount { .. }
    ));
    check_ledger(store, &account).await;
}

async fn key_must_exist_and_belong_to_the_account(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, _) = funded(store, "5").await;
    let (_, other_key) = funded(store, "5").await;
    let err = store
        .place_hold(&account, Some(&other_key), d("1"), TTL, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApiKeyAccountMismatch(_)), "{err:?}");
    assert!(!err.to_string().contains(&other_key));
    let err = store
        .place_hold(&account, Some(&"f".repeat(64)), d("1"), TTL, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApiKeyNotFound), "{err:?}");
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("5", "0", "0", "5")
    );
}
