//! Top-ups, balances, exactness and the stored form of money.

use std::time::Duration;

use chrono::Utc;
use rust_decimal::Decimal;
use tollgate_store::{Backend, Balance, Error, HoldState, LedgerKind, MAX_AMOUNT};

use super::{Ctx, TTL, balance, check_ledger, d, funded, raw_execute, raw_text};
on_both_backends!(
    top_ups_and_balance,
    amounts_are_exact,
    lifetime_sums_past_i64_picodollars,
    invalid_amounts_are_refused,
    unknown_account,
    ledger_is_append_only,
    stored_representation,
);

async fn top_ups_and_balance(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    assert_eq!(
        store.balance(&account.id).await.unwrap(),
        Balance::default()
    );
    assert!(store.ledger(&account.id).await.unwrap().is_empty());

    let first = store
        .top_up(&account.id, d("10"), Some("stripe pi_123"))
        .await
        .unwrap();
    assert_eq!(first.kind, LedgerKind::Topup);
    assert_eq!(first.amount, d("10"));
    assert_eq!(first.note.as_deref(), Some("stripe pi_123"));
    assert_eq!(first.account_id, account.id);
    assert_eq!(first.api_key_hash, None);
    store.top_up(&account.id, d("2.5"), None).await.unwrap();
    store
        .refund(&account.id, d("0.25"), Some("gen-1"), Some("bad answer"))
        .await
        .unwrap();
    store
        .adjust(&account.id, d("-0.75"), "correction")
        .await
        .unwrap();

    let (b, entries) = check_ledger(store, &account.id).await;
    // 10 + 2.5 + 0.25 − 0.75
    assert_eq!(b, balance("12", "0", "0", "12"));
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0], first, "read back exactly, timestamp included");
    assert_eq!(
        entries.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            LedgerKind::Topup,
            LedgerKind::Topup,
            LedgerKind::Refund,
            LedgerKind::Adjust
        ]
    );
    assert_eq!(entries[2].generation_id.as_deref(), Some("gen-1"));

    // Another account's ledger is its own.
    let other = store.create_account("other").await.unwrap();
    assert_eq!(store.balance(&other.id).await.unwrap(), Balance::default());
}

async fn amounts_are_exact(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "0").await;
    // 0.1 + 0.2 is 0.3 here, not 0.30000000000000004.
    for amount in ["0.1", "0.2", "0.000000000001", "999.999999999999"] {
        store.top_up(&account, d(amount), None).await.unwrap();
    }
    let b = store.balance(&account).await.unwrap();
    // 0.1 + 0.2 + 0.000000000001 + 999.999999999999
    assert_eq!(b.available, d("1000.3"));

    // Picodollar charges and holds, negative amounts included, sum exactly.
    let now = Utc::now();
    for i in 1..=7u32 {
        let hold = store
            .place_hold(&account, Some(&key), d("0.000003"), TTL, now)
            .await
            .unwrap();
        let charge = Decimal::new(i64::from(i), 12);
        store
            .settle_hold(&hold.id, charge, None, now)
            .await
            .unwrap();
    }
    let open = store
        .place_hold(&account, Some(&key), d("0.000000999999"), TTL, now)
        .await
        .unwrap();
    assert_eq!(open.amount, d("0.000000999999"));
    let (b, _) = check_ledger(store, &account).await;
    // Charges 1 + 2 + ... + 7 = 28 picodollars.
    assert_eq!(b.total_usage, d("0.000000000028"));
    assert_eq!(b.held, d("0.000000999999"));
    // 1000.3 − 0.000000999999 − 0.000000000028
    assert_eq!(b.available, d("1000.299998999973"));
    assert_eq!(
        store.get_hold(&open.id).await.unwrap().unwrap().amount,
        d("0.000000999999")
    );
}

async fn lifetime_sums_past_i64_picodollars(ctx: &Ctx) {
    // 12 top-ups of $1M are 1.2e19 picodollars, past i64::MAX (9.2e18): a
    // plain SQLite SUM() of the column would fail; the store's split sum
    // does not.
    let store = &ctx.store;
    let account = store.create_account("whale").await.unwrap();
    for _ in 0..12 {
        store.top_up(&account.id, MAX_AMOUNT, None).await.unwrap();
    }
    store
        .top_up(&account.id, d("0.000000000001"), None)
        .await
        .unwrap();
    let hold = store
        .place_hold(&account.id, None, d("0.5"), TTL, Utc::now())
        .await
        .unwrap();
    store
        .settle_hold(&hold.id, d("0.123456789012"), None, Utc::now())
        .await
        .unwrap();
    let (b, _) = check_ledger(store, &account.id).await;
    assert_eq!(b.total_credits, d("12000000.000000000001"));
    assert_eq!(b.available, d("11999999.876543210989"));
}

async fn invalid_amounts_are_refused(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, _) = funded(store, "5").await;
    let msg = |e: Error| e.to_string();
    assert_eq!(
        msg(store.top_up(&account, d("0"), None).await.unwrap_err()),
        "invalid amount 0: must be positive"
    );
    assert_eq!(
        msg(store.top_up(&account, d("-1"), None).await.unwrap_err()),
        "invalid amount -1: must be positive"
    );
    assert_eq!(
        msg(store
            .top_up(&account, d("0.0000000000001"), None)
            .await
            .unwrap_err()),
        "invalid amount 0.0000000000001: more than 12 decimal places"
    );
    assert!(matches!(
        store
            .top_up(&account, MAX_AMOUNT + d("0.01"), None)
            .await
            .unwrap_err(),
        Error::InvalidAmount { .. }
    ));
    assert!(matches!(
        store.adjust(&account, d("0"), "nothing").await.unwrap_err(),
        Error::InvalidAmount { .. }
    ));
    assert!(matches!(
        store
            .place_hold(&account, None, d("-0.01"), TTL, Utc::now())
            .await
            .unwrap_err(),
        Error::InvalidAmount { .. }
    ));
    let hold = store
        .place_hold(&account, None, d("1"), TTL, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        msg(store
            .settle_hold(&hold.id, d("-0.5"), None, Utc::now())
            .await
            .unwrap_err()),
        "invalid amount -0.5: must not be negative"
    );
    assert!(matches!(
        store
            .place_hold(&account, None, d("1"), Duration::MAX, Utc::now())
            .await
            .unwrap_err(),
        Error::InvalidTtl(_)
    ));
    // Nothing was written by the refusals.
    let (b, entries) = check_ledger(store, &account).await;
    assert_eq!(b, balance("5", "0", "1", "4"));
    assert_eq!(entries.len(), 2);
    assert_eq!(
        store.get_hold(&hold.id).await.unwrap().unwrap().state,
        HoldState::Open
    );
}

async fn unknown_account(ctx: &Ctx) {
    let store = &ctx.store;
    let missing = "acct_missing";
    let is_missing = |e: Error| matches!(e, Error::AccountNotFound(ref id) if id == missing);
    assert!(is_missing(store.balance(missing).await.unwrap_err()));
    assert!(is_missing(store.ledger(missing).await.unwrap_err()));
    assert!(is_missing(
        store.top_up(missing, d("1"), None).await.unwrap_err()
    ));
    assert!(is_missing(
        store
            .place_hold(missing, None, d("0"), TTL, Utc::now())
            .await
            .unwrap_err()
    ));
    let err = store
        .settle_hold("hold_missing", d("1"), None, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "hold `hold_missing` not found");
    assert!(matches!(
        store
            .release_hold("hold_missing", Utc::now())
            .await
            .unwrap_err(),
        Error::HoldNotFound(_)
    ));
    assert_eq!(store.get_hold("hold_missing").await.unwrap(), None);
}

async fn ledger_is_append_only(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, _) = funded(store, "5").await;
    for sql in [
        "UPDATE ledger SET amount = amount * 2",
        "DELETE FROM ledger",
    ] {
        let err = raw_execute(ctx, sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if store.backend() == Backend::Postgres {
        let err = raw_execute(ctx, "TRUNCATE ledger CASCADE")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    // The database itself refuses a second release of one hold, and a
    // top-up of the wrong sign.
    let hold = store
        .place_hold(&account, None, d("1"), TTL, Utc::now())
        .await
        .unwrap();
    store.release_hold(&hold.id, Utc::now()).await.unwrap();
    let now = if store.backend() == Backend::Sqlite {
        "'2025-01-01T00:00:00.000000Z'"
    } else {
        "now()"
    };
    let second_release = format!(
        "INSERT INTO ledger (account_id, kind, amount, hold_id, created_at) \
         VALUES ('{account}', 'release', 1, '{}', {now})",
        hold.id
    );
    assert!(raw_execute(ctx, &second_release).await.is_err());
    let negative_topup = format!(
        "INSERT INTO ledger (account_id, kind, amount, created_at) \
         VALUES ('{account}', 'topup', -1, {now})"
    );
    assert!(raw_execute(ctx, &negative_topup).await.is_err());
    assert_eq!(
        check_ledger(store, &account).await.0,
        balance("5", "0", "0", "5")
    );
}

async fn stored_representation(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, _) = funded(store, "0").await;
    store.top_up(&account, d("1.5"), None).await.unwrap();
    store
        .top_up(&account, d("0.000000000001"), None)
        .await
        .unwrap();
    if store.backend() == Backend::Sqlite {
        // INTEGER picodollars, never REAL or TEXT.
        let stored = raw_text(
            ctx,
            "SELECT typeof(amount) || ':' || amount FROM ledger ORDER BY id",
        )
        .await;
        assert_eq!(stored, ["integer:1500000000000", "integer:1"]);
    } else {
        let stored = raw_text(
            ctx,
            "SELECT pg_typeof(amount)::text || ':' || amount::text FROM ledger ORDER BY id",
        )
        .await;
        assert_eq!(stored, ["numeric:1.500000000000", "numeric:0.000000000001"]);
    }
}
