//! Key management on both backends: creation options and masked previews,
//! updates (absent versus null), soft deletion, paged listings, expiry,
//! top-up totals, and BYOK usage in key limits.

use chrono::{Duration, Utc};
use rust_decimal::Decimal;
use tollgate_store::{
    API_KEY_PREFIX, Error, GenerationRecord, KeyKind, KeyListing, KeyOptions, LimitReset,
    NewApiKey, UpdateKey,
};

use super::Ctx;
use crate::money::{TTL, at, d, funded, raw_text};

on_both_backends!(
    create_with_options_stores_settings_and_a_masked_preview,
    invalid_limit_on_create_writes_nothing,
    update_changes_only_what_is_given,
    update_is_scoped_to_the_account,
    delete_hides_the_key_and_keeps_its_history,
    listing_pages_filters_and_hides_deleted_keys,
    expiry_is_reported,
    total_top_ups_counts_only_top_ups,
    byok_usage_is_reported_and_counts_against_the_limit_when_included,
);

fn new_key(label: &str, kind: KeyKind) -> NewApiKey {
    NewApiKey {
        label: label.to_owned(),
        kind,
    }
}

/// A BYOK generation of `cost` upstream (a fee of zero) at `created_at`.
pub(crate) fn byok_generation(
    id: &str,
    account: &str,
    key: &str,
    cost: &str,
    created_at: chrono::DateTime<Utc>,
) -> GenerationRecord {
    GenerationRecord {
        is_byok: true,
        upstream_inference_cost: Some(d(cost)),
        ..crate::generations::generation(id, account, key, created_at)
    }
}

async fn create_with_options_stores_settings_and_a_masked_preview(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    let expires = at(2031, 1, 2, 3, 4, 5) + Duration::microseconds(6);
    let options = KeyOptions {
        limit: Some(d("12.5")),
        limit_reset: Some(LimitReset::Weekly),
        include_byok_in_limit: true,
        expires_at: Some(expires + Duration::nanoseconds(700)),
    };
    let (secret, key) = store
        .create_api_key_with(&account.id, new_key("ci", KeyKind::Inference), &options)
        .await
        .unwrap();
    assert_eq!(key.label, "ci");
    assert_eq!(key.limit, Some(d("12.5")));
    assert_eq!(key.limit_reset, Some(LimitReset::Weekly));
    assert!(key.include_byok_in_limit);
    assert_eq!(key.expires_at, Some(expires), "stored to the microsecond");
    let random = secret.strip_prefix(API_KEY_PREFIX).unwrap();
    let hint = format!("{API_KEY_PREFIX}{}...{}", &random[..3], &random[61..]);
    assert_eq!(key.hint.as_deref(), Some(hint.as_str()));
    assert_eq!(key.display_label(), hint);
    assert_eq!(
        store.find_api_key(&secret).await.unwrap(),
        Some(key.clone())
    );

    // The plain path has no settings, and a preview too.
    let (plain_secret, plain) = store
        .create_api_key(&account.id, new_key("plain", KeyKind::Provisioning))
        .await
        .unwrap();
    assert_eq!(
        (plain.limit, plain.limit_reset, plain.include_byok_in_limit),
        (None, None, false)
    );
    assert_eq!(plain.expires_at, None);
    assert!(plain.hint.as_deref().unwrap().starts_with(API_KEY_PREFIX));

    // An imported secret too short to mask shows its name instead.
    let imported = store
        .import_api_key(
            &account.id,
            "sk-tg-v1-dev",
            new_key("dev", KeyKind::Inference),
        )
        .await
        .unwrap();
    assert_eq!(imported.hint, None);
    assert_eq!(imported.display_label(), "dev");

    // Neither secret is stored: only hashes and six-character previews.
    let contents = ctx.raw_contents().await;
    for s in [&secret, &plain_secret] {
        let random = s.strip_prefix(API_KEY_PREFIX).unwrap();
        assert!(!contents.contains(random));
        assert!(!contents.contains(&random[..8]));
        assert!(!contents.contains(&random[56..]));
    }
    assert!(contents.contains(&hint));
}

async fn invalid_limit_on_create_writes_nothing(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    for bad in ["-1", "0.0000000000001", "1000001"] {
        let options = KeyOptions {
            limit: Some(d(bad)),
            ..KeyOptions::default()
        };
        let err = store
            .create_api_key_with(&account.id, new_key("k", KeyKind::Inference), &options)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidAmount { .. }), "{bad}: {err:?}");
    }
    assert!(store.list_api_keys(&account.id).await.unwrap().is_empty());
}

async fn update_changes_only_what_is_given(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    let (_, created) = store
        .create_api_key(&account.id, new_key("before", KeyKind::Inference))
        .await
        .unwrap();
    assert_eq!(created.updated_at, None);

    // Nothing given: only `updated_at` moves.
    let same = store
        .update_api_key(&created.hash, &account.id, &UpdateKey::default())
        .await
        .unwrap()
        .unwrap();
    assert!(same.updated_at.is_some());
    assert_eq!(
        ApiKeyView::of(&same),
        ApiKeyView::of(&created),
        "no setting changed"
    );

    let all = UpdateKey {
        name: Some("after".to_owned()),
        disabled: Some(true),
        limit: Some(Some(d("3.000000000001"))),
        limit_reset: Some(Some(LimitReset::Monthly)),
        include_byok_in_limit: Some(true),
    };
    let updated = store
        .update_api_key(&created.hash, &account.id, &all)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.label, "after");
    assert!(updated.disabled);
    assert_eq!(updated.limit, Some(d("3.000000000001")));
    assert_eq!(updated.limit_reset, Some(LimitReset::Monthly));
    assert!(updated.include_byok_in_limit);
    assert_eq!(
        store.get_api_key(&created.hash).await.unwrap(),
        Some(updated.clone())
    );

    // Absent leaves the limit; null (Some(None)) clears it.
    let reenabled = store
        .update_api_key(
            &created.hash,
            &account.id,
            &UpdateKey {
                disabled: Some(false),
                ..UpdateKey::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!reenabled.disabled);
    assert_eq!(reenabled.limit, Some(d("3.000000000001")));
    assert_eq!(reenabled.label, "after");
    let cleared = store
        .update_api_key(
            &created.hash,
            &account.id,
            &UpdateKey {
                limit: Some(None),
                limit_reset: Some(None),
                include_byok_in_limit: Some(false),
                ..UpdateKey::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cleared.limit, cleared.limit_reset), (None, None));
    assert!(!cleared.include_byok_in_limit);
    assert_eq!(cleared.label, "after");

    let err = store
        .update_api_key(
            &created.hash,
            &account.id,
            &UpdateKey {
                limit: Some(Some(d("-0.01"))),
                name: Some("never".to_owned()),
                ..UpdateKey::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidAmount { .. }), "{err:?}");
    let unchanged = store.get_api_key(&created.hash).await.unwrap().unwrap();
    assert_eq!(unchanged.label, "after", "a refused update writes nothing");
}

/// The settings of a key, without its timestamps.
#[derive(Debug, PartialEq)]
struct ApiKeyView {
    label: String,
    disabled: bool,
    limit: Option<Decimal>,
    limit_reset: Option<LimitReset>,
    include_byok_in_limit: bool,
    expires_at: Option<chrono::DateTime<Utc>>,
}

impl ApiKeyView {
    fn of(k: &tollgate_store::ApiKey) -> ApiKeyView {
        ApiKeyView {
            label: k.label.clone(),
            disabled: k.disabled,
            limit: k.limit,
            limit_reset: k.limit_reset,
            include_byok_in_limit: k.include_byok_in_limit,
            expires_at: k.expires_at,
        }
    }
}

async fn update_is_scoped_to_the_account(ctx: &Ctx) {
    let store = &ctx.store;
    let a = store.create_account("a").await.unwrap();
    let b = store.create_account("b").await.unwrap();
    let (_, a_key) = store
        .create_api_key(&a.id, new_key("a", KeyKind::Inference))
        .await
        .unwrap();
    let rename = UpdateKey {
        name: Some("stolen".to_owned()),
        disabled: Some(true),
        ..UpdateKey::default()
    };
    assert_eq!(
        store
            .update_api_key(&a_key.hash, &b.id, &rename)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_api_key(&"0".repeat(64), &a.id, &rename)
            .await
            .unwrap(),
        None
    );
    assert!(!store.delete_api_key(&a_key.hash, &b.id).await.unwrap());
    assert_eq!(
        store.get_api_key(&a_key.hash).await.unwrap(),
        Some(a_key),
        "untouched by the other account"
    );
}

async fn delete_hides_the_key_and_keeps_its_history(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, hash) = funded(store, "10").await;
    let (secret, other) = store
        .create_api_key(&account, new_key("other", KeyKind::Inference))
        .await
        .unwrap();

    // A request in flight when the key is deleted still settles.
    let now = Utc::now();
    let hold = store
        .place_hold(&account, Some(&hash), d("1"), TTL, now)
        .await
        .unwrap();
    assert!(store.delete_api_key(&hash, &account).await.unwrap());
    assert!(
        !store.delete_api_key(&hash, &account).await.unwrap(),
        "only once"
    );
    store
        .settle_hold(&hold.id, d("0.25"), Some("gen-x"), now)
        .await
        .unwrap();
    let entries = store.ledger(&account).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.api_key_hash.as_deref() == Some(hash.as_str()))
            .count(),
        3,
        "hold, release and settle keep the deleted key's hash"
    );
    assert_eq!(
        store.balance(&account).await.unwrap().total_usage,
        d("0.25")
    );

    // Gone for lookups, listings, updates, re-enabling and new holds.
    assert_eq!(store.get_api_key(&hash).await.unwrap(), None);
    assert_eq!(
        store.list_api_keys(&account).await.unwrap(),
        std::slice::from_ref(&other)
    );
    let page = store
        .list_api_keys_page(
            &account,
            KeyListing {
                include_disabled: true,
                ..KeyListing::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page, std::slice::from_ref(&other));
    assert_eq!(
        store
            .update_api_key(
                &hash,
                &account,
                &UpdateKey {
                    disabled: Some(false),
                    ..UpdateKey::default()
                }
            )
            .await
            .unwrap(),
        None
    );
    assert!(!store.set_api_key_disabled(&hash, false).await.unwrap());
    assert!(
        !store
            .set_api_key_limit(&hash, Some(d("1")), None)
            .await
            .unwrap()
    );
    // Its usage is still there for the record.
    let usage = store.key_usage(&hash, now).await.unwrap().unwrap();
    assert_eq!(usage.usage, d("0.25"));

    // The row stays, disabled and stamped.
    let rows = raw_text(
        ctx,
        &format!(
            "SELECT CASE WHEN deleted_at IS NOT NULL AND disabled = {} THEN 'deleted' ELSE 'live' END \
             FROM api_keys WHERE hash = '{hash}'",
            if ctx.store.backend() == tollgate_store::Backend::Sqlite {
                "1"
            } else {
                "TRUE"
            }
        ),
    )
    .await;
    assert_eq!(rows, ["deleted"]);

    // A deleted secret is never revived by an import.
    assert!(store.delete_api_key(&other.hash, &account).await.unwrap());
    assert_eq!(store.find_api_key(&secret).await.unwrap(), None);
    let err = store
        .import_api_key(&account, &secret, new_key("again", KeyKind::Inference))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApiKeyDeleted), "{err:?}");
    assert_eq!(err.to_string(), "api key was deleted");
}

async fn listing_pages_filters_and_hides_deleted_keys(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    let other = store.create_account("other").await.unwrap();
    store
        .create_api_key(&other.id, new_key("theirs", KeyKind::Inference))
        .await
        .unwrap();
    let mut made = Vec::new();
    for (i, kind) in [
        KeyKind::Inference,
        KeyKind::Provisioning,
        KeyKind::Inference,
        KeyKind::Inference,
        KeyKind::Inference,
    ]
    .into_iter()
    .enumerate()
    {
        let (_, k) = store
            .create_api_key(&account.id, new_key(&format!("k{i}"), kind))
            .await
            .unwrap();
        made.push(k);
        // Distinct creation times keep the expected order obvious.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    store
        .set_api_key_disabled(&made[2].hash, true)
        .await
        .unwrap();
    store
        .delete_api_key(&made[3].hash, &account.id)
        .await
        .unwrap();
    let labels =
        |keys: Vec<tollgate_store::ApiKey>| keys.into_iter().map(|k| k.label).collect::<Vec<_>>();
    let page = |listing: KeyListing| {
        let id = account.id.clone();
        async move { labels(store.list_api_keys_page(&id, listing).await.unwrap()) }
    };

    assert_eq!(
        page(KeyListing::default()).await,
        ["k0", "k1", "k4"],
        "enabled keys of every kind, deleted never"
    );
    let all = KeyListing {
        include_disabled: true,
        ..KeyListing::default()
    };
    assert_eq!(page(all).await, ["k0", "k1", "k2", "k4"]);
    let inference = KeyListing {
        kind: Some(KeyKind::Inference),
        ..all
    };
    assert_eq!(page(inference).await, ["k0", "k2", "k4"]);
    assert_eq!(
        page(KeyListing {
            offset: 1,
            limit: 1,
            ..inference
        })
        .await,
        ["k2"]
    );
    assert_eq!(
        page(KeyListing {
            offset: 3,
            ..inference
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        page(KeyListing {
            kind: Some(KeyKind::Provisioning),
            ..all
        })
        .await,
        ["k1"]
    );
    assert!(
        store
            .list_api_keys_page("acct_missing", all)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn expiry_is_reported(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    let expires = at(2030, 6, 1, 0, 0, 0);
    let (secret, key) = store
        .create_api_key_with(
            &account.id,
            new_key("temp", KeyKind::Inference),
            &KeyOptions {
                expires_at: Some(expires),
                ..KeyOptions::default()
            },
        )
        .await
        .unwrap();
    // The store still finds an expired key; authenticating refuses it.
    let found = store.find_api_key(&secret).await.unwrap().unwrap();
    assert_eq!(found.expires_at, Some(expires));
    assert!(!key.is_expired(expires - Duration::microseconds(1)));
    assert!(key.is_expired(expires));
    assert!(key.is_expired(expires + Duration::days(1)));
    let (_, forever) = store
        .create_api_key(&account.id, self::new_key("forever", KeyKind::Inference))
        .await
        .unwrap();
    assert!(!forever.is_expired(at(9999, 1, 1, 0, 0, 0)));
}

async fn total_top_ups_counts_only_top_ups(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("acme").await.unwrap();
    assert_eq!(
        store.total_top_ups(&account.id).await.unwrap(),
        Decimal::ZERO
    );
    store
        .refund(&account.id, d("1"), None, Some("goodwill"))
        .await
        .unwrap();
    store.adjust(&account.id, d("2"), "fix").await.unwrap();
    assert_eq!(
        store.total_top_ups(&account.id).await.unwrap(),
        Decimal::ZERO,
        "refunds and adjustments are not purchases"
    );
    store.top_up(&account.id, d("10"), None).await.unwrap();
    store
        .top_up(&account.id, d("0.000000000001"), None)
        .await
        .unwrap();
    assert_eq!(
        store.total_top_ups(&account.id).await.unwrap(),
        d("10.000000000001")
    );
    assert!(matches!(
        store.total_top_ups("acct_missing").await.unwrap_err(),
        Error::AccountNotFound(_)
    ));
}

async fn byok_usage_is_reported_and_counts_against_the_limit_when_included(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, hash) = funded(store, "100").await;
    // Wednesday 2025-03-12; the month began on Saturday the 1st, the week
    // on Monday the 10th.
    let now = at(2025, 3, 12, 12, 0, 0);
    let record = |id: &str, cost: &str, when| {
        let g = byok_generation(id, &account, &hash, cost, when);
        async move { store.record_generation(&g).await.unwrap() }
    };
    record("gen-feb", "0.5", at(2025, 2, 20, 0, 0, 0)).await;
    record("gen-mon", "0.25", at(2025, 3, 10, 1, 0, 0)).await;
    record("gen-today", "0.125", at(2025, 3, 12, 0, 0, 0)).await;
    record("gen-today2", "0.000000000001", at(2025, 3, 12, 11, 0, 0)).await;
    // Not BYOK: no BYOK usage, whatever its upstream cost.
    let paid = GenerationRecord {
        upstream_inference_cost: Some(d("7")),
        ..crate::generations::generation("gen-paid", &account, &hash, now)
    };
    store.record_generation(&paid).await.unwrap();

    let usage = store.key_usage(&hash, now).await.unwrap().unwrap();
    assert_eq!(usage.byok_usage, d("0.875000000001"));
    assert_eq!(usage.byok_usage_monthly, d("0.375000000001"));
    assert_eq!(usage.byok_usage_weekly, d("0.375000000001"));
    assert_eq!(usage.byok_usage_daily, d("0.125000000001"));
    assert_eq!(usage.usage, Decimal::ZERO, "BYOK is not paid from credits");
    assert!(!usage.include_byok_in_limit);

    // A daily limit of 1: BYOK usage does not count until included.
    store
        .set_api_key_limit(&hash, Some(d("1")), Some(LimitReset::Daily))
        .await
        .unwrap();
    let usage = store.key_usage(&hash, now).await.unwrap().unwrap();
    assert_eq!(usage.limit_remaining, Some(d("1")));
    store
        .update_api_key(
            &hash,
            &account,
            &UpdateKey {
                include_byok_in_limit: Some(true),
                ..UpdateKey::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    let usage = store.key_usage(&hash, now).await.unwrap().unwrap();
    assert!(usage.include_byok_in_limit);
    assert_eq!(usage.limit_remaining, Some(d("0.874999999999")));
    // And the hold path enforces the same figure.
    let err = store
        .place_hold(&account, Some(&hash), d("0.875"), TTL, now)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::KeyLimitExceeded { remaining, .. } if remaining == d("0.874999999999")),
        "{err:?}"
    );
    // A hold that outlives the day (a hold past its expiry no longer
    // counts).
    store
        .place_hold(
            &account,
            Some(&hash),
            d("0.874999999999"),
            std::time::Duration::from_secs(3 * 86_400),
            now,
        )
        .await
        .unwrap();
    // Tomorrow the daily period starts again.
    let tomorrow = now + Duration::days(1);
    let usage = store.key_usage(&hash, tomorrow).await.unwrap().unwrap();
    assert_eq!(usage.byok_usage_daily, Decimal::ZERO);
    assert_eq!(
        usage.limit_remaining,
        Some(d("0.125000000001")),
        "only the open hold counts"
    );
}
