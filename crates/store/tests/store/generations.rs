//! Generations on both backends: recording (idempotent, exact, scoped to
//! the account), activity summed per UTC day, model and provider, and the
//! monthly BYOK request count.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use tollgate_store::{
    ActivityRow, ApiType, Error, GenerationAttempt, GenerationRecord, KeyKind, NewApiKey,
};

use super::Ctx;
use crate::keys_admin::byok_generation;
use crate::money::{at, d, funded};

on_both_backends!(
    record_and_get_round_trip_every_field,
    recording_is_idempotent_and_scoped_to_the_account,
    record_refuses_bad_amounts_and_unknown_owners,
    activity_sums_per_day_model_and_provider,
    byok_requests_are_counted_per_calendar_month,
);

/// A successful, non-BYOK chat generation with small round figures.
pub(crate) use tollgate_store::testing::generation;

/// Every field set, odd values included.
fn full(account: &str, key: &str) -> GenerationRecord {
    GenerationRecord {
        id: "gen-1700000000-abcdefghijklmnopqrst".to_owned(),
        model: "openai/gpt-4o".to_owned(),
        provider: "mock-beta".to_owned(),
        provider_name: "Mock Beta".to_owned(),
        upstream_id: Some("chatcmpl-42".to_owned()),
        streamed: true,
        cancelled: true,
        finish_reason: Some("length".to_owned()),
        native_finish_reason: Some("max_tokens".to_owned()),
        tokens_prompt: 1_234,
        tokens_completion: 567,
        native_tokens_prompt: Some(1_300),
        native_tokens_completion: Some(600),
        native_tokens_reasoning: Some(100),
        native_tokens_cached: Some(1_000),
        native_tokens_cache_write: Some(0),
        total_cost: d("0.001234567891"),
        upstream_inference_cost: Some(d("123456.000000000001")),
        is_byok: true,
        latency_ms: Some(250),
        generation_time_ms: Some(1_200),
        attempts: vec![
            GenerationAttempt {
                provider: "mock-alpha".to_owned(),
                outcome: "503".to_owned(),
            },
            GenerationAttempt {
                provider: "mock-beta".to_owned(),
                outcome: "ok".to_owned(),
            },
        ],
        transforms: Some(json!({"middle-out": {"removed_messages": 3}})),
        request_id: Some("req-1".to_owned()),
        api_type: ApiType::Embeddings,
        origin: Some("https://app.example/".to_owned()),
        app_title: Some("Example \u{1F600}".to_owned()),
        external_user: Some("user-9".to_owned()),
        user_agent: Some("openai-python/1.0".to_owned()),
        error: Some("client went away".to_owned()),
        num_search_results: Some(5),
        web_search_engine: Some("exa".to_owned()),
        router: Some("openrouter/auto".to_owned()),
        moderation_latency_ms: Some(42),
        // Negative: cache writes cost more than reads saved.
        cache_discount: Some(d("-0.000123456789")),
        num_media_prompt: Some(3),
        session_id: Some("session-\u{1F600}".to_owned()),
        ..generation(
            "",
            account,
            key,
            at(2025, 7, 4, 23, 59, 59) + Duration::nanoseconds(123_456_789),
        )
    }
}

async fn record_and_get_round_trip_every_field(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "0").await;
    let g = full(&account, &key);
    store.record_generation(&g).await.unwrap();
    let got = store
        .get_generation(&g.id, &account)
        .await
        .unwrap()
        .unwrap();
    let expected = GenerationRecord {
        created_at: at(2025, 7, 4, 23, 59, 59) + Duration::microseconds(123_456),
        ..g.clone()
    };
    assert_eq!(got, expected, "stored at microsecond precision, else exact");

    // The minimal one too (every nullable field null).
    let minimal = GenerationRecord {
        finish_reason: None,
        native_finish_reason: None,
        attempts: Vec::new(),
        ..generation("gen-min", &account, &key, at(2025, 1, 1, 0, 0, 0))
    };
    store.record_generation(&minimal).await.unwrap();
    assert_eq!(
        store.get_generation("gen-min", &account).await.unwrap(),
        Some(minimal)
    );
}

async fn recording_is_idempotent_and_scoped_to_the_account(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "0").await;
    let (other, other_key) = funded(store, "0").await;
    let first = generation("gen-1", &account, &key, at(2025, 5, 1, 12, 0, 0));
    store.record_generation(&first).await.unwrap();
    // The same id again, different content: the first record stays.
    let again = GenerationRecord {
        total_cost: d("9"),
        model: "changed".to_owned(),
        ..first.clone()
    };
    store.record_generation(&again).await.unwrap();
    store.record_generation(&first).await.unwrap();
    assert_eq!(
        store.get_generation("gen-1", &account).await.unwrap(),
        Some(first.clone())
    );
    // Another account cannot see it, nor overwrite it.
    assert_eq!(store.get_generation("gen-1", &other).await.unwrap(), None);
    let theirs = generation("gen-1", &other, &other_key, first.created_at);
    store.record_generation(&theirs).await.unwrap();
    assert_eq!(store.get_generation("gen-1", &other).await.unwrap(), None);
    assert_eq!(
        store.get_generation("gen-1", &account).await.unwrap(),
        Some(first)
    );
    assert_eq!(
        store.get_generation("gen-none", &account).await.unwrap(),
        None
    );
}

async fn record_refuses_bad_amounts_and_unknown_owners(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "0").await;
    let now = at(2025, 5, 1, 0, 0, 0);
    for (total, upstream) in [
        ("-0.01", None),
        ("0.0000000000001", None),
        ("1", Some("-1")),
        ("1", Some("1000000.1")),
    ] {
        let g = GenerationRecord {
            total_cost: d(total),
            upstream_inference_cost: upstream.map(d),
            ..generation("gen-bad", &account, &key, now)
        };
        let err = store.record_generation(&g).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidAmount { .. }),
            "{total} {upstream:?}: {err:?}"
        );
    }
    assert_eq!(
        store.get_generation("gen-bad", &account).await.unwrap(),
        None
    );

    let err = store
        .record_generation(&generation("gen-x", "acct_missing", &key, now))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AccountNotFound(ref id) if id == "acct_missing"),
        "{err:?}"
    );
    let err = store
        .record_generation(&generation("gen-x", &account, &"0".repeat(64), now))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApiKeyNotFound), "{err:?}");
}

async fn activity_sums_per_day_model_and_provider(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "0").await;
    let key2 = store
        .create_api_key(
            &account,
            NewApiKey {
                label: "second".to_owned(),
                kind: KeyKind::Inference,
            },
        )
        .await
        .unwrap()
        .1
        .hash;
    let (other, other_key) = funded(store, "0").await;

    let day1 = |h, m| at(2025, 6, 1, h, m, 0);
    let day2 = |h, m| at(2025, 6, 2, h, m, 0);
    let mut n = 0;
    let mut rec = |g: GenerationRecord| {
        n += 1;
        GenerationRecord {
            id: format!("gen-{n}"),
            ..g
        }
    };
    let echo = |when, cost: &str, key: &str| GenerationRecord {
        total_cost: d(cost),
        native_tokens_reasoning: Some(2),
        ..generation("", &account, key, when)
    };
    let records = vec![
        // Day 1, mock/echo at alpha: three, one through the second key, one
        // failed (no tokens, no cost, still a request).
        rec(echo(day1(0, 0), "0.000000000001", &key)),
        rec(echo(day1(12, 30), "1.5", &key2)),
        rec(GenerationRecord {
            tokens_prompt: 0,
            tokens_completion: 0,
            native_tokens_reasoning: None,
            error: Some("all providers failed".to_owned()),
            ..echo(day1(23, 59), "0", &key)
        }),
        // Day 1, mock/echo at beta.
        rec(GenerationRecord {
            provider: "mock-beta".to_owned(),
            provider_name: "Mock Beta".to_owned(),
            ..echo(day1(8, 0), "0.25", &key)
        }),
        // Day 1, another model at alpha, BYOK.
        rec(GenerationRecord {
            model: "mock/embed".to_owned(),
            api_type: ApiType::Embeddings,
            tokens_completion: 0,
            ..byok_generation("", &account, &key, "0.75", day1(9, 0))
        }),
        // Day 2, mock/echo at alpha: a large and a tiny amount.
        rec(echo(day2(0, 0), "999999.999999999999", &key)),
        rec(echo(day2(1, 0), "0.000000000001", &key)),
        // Out of range: the day before and the day after.
        rec(echo(at(2025, 5, 31, 23, 59, 59), "5", &key)),
        rec(echo(at(2025, 6, 3, 0, 0, 0), "5", &key)),
    ];
    for g in &records {
        store.record_generation(g).await.unwrap();
    }
    // Another account's generation on the same day is not ours.
    store
        .record_generation(&echo_of(&other, &other_key, day1(1, 0)))
        .await
        .unwrap();

    let date = |day| NaiveDate::from_ymd_opt(2025, 6, day).unwrap();
    let row = |day, model: &str, provider: &str, name: &str| ActivityRow {
        date: date(day),
        model: model.to_owned(),
        provider: provider.to_owned(),
        provider_name: name.to_owned(),
        usage: Decimal::ZERO,
        byok_usage_inference: Decimal::ZERO,
        requests: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        reasoning_tokens: 0,
    };
    let expected = vec![
        ActivityRow {
            usage: d("1.500000000001"),
            requests: 3,
            prompt_tokens: 20,
            completion_tokens: 10,
            reasoning_tokens: 4,
            ..row(1, "mock/echo", "mock-alpha", "Mock Alpha")
        },
        ActivityRow {
            usage: d("0.25"),
            requests: 1,
            prompt_tokens: 10,
            completion_tokens: 5,
            reasoning_tokens: 2,
            ..row(1, "mock/echo", "mock-beta", "Mock Beta")
        },
        ActivityRow {
            byok_usage_inference: d("0.75"),
            requests: 1,
            prompt_tokens: 10,
            ..row(1, "mock/embed", "mock-alpha", "Mock Alpha")
        },
        ActivityRow {
            usage: d("1000000"),
            requests: 2,
            prompt_tokens: 20,
            completion_tokens: 10,
            reasoning_tokens: 4,
            ..row(2, "mock/echo", "mock-alpha", "Mock Alpha")
        },
    ];
    let since = at(2025, 6, 1, 0, 0, 0);
    let until = at(2025, 6, 3, 0, 0, 0);
    assert_eq!(
        store.activity(&account, since, until, None).await.unwrap(),
        expected
    );
    // One day; one key.
    assert_eq!(
        store
            .activity(&account, since, since + Duration::days(1), None)
            .await
            .unwrap(),
        expected[..3]
    );
    assert_eq!(
        store
            .activity(&account, since, until, Some(&key2))
            .await
            .unwrap(),
        [ActivityRow {
            usage: d("1.5"),
            requests: 1,
            prompt_tokens: 10,
            completion_tokens: 5,
            reasoning_tokens: 2,
            ..row(1, "mock/echo", "mock-alpha", "Mock Alpha")
        }]
    );
    assert!(
        store
            .activity("acct_missing", since, until, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .activity(&other, since, until, None)
            .await
            .unwrap()
            .len(),
        1
    );
}

fn echo_of(account: &str, key: &str, when: DateTime<Utc>) -> GenerationRecord {
    GenerationRecord {
        total_cost: d("100"),
        ..generation("gen-other", account, key, when)
    }
}

async fn byok_requests_are_counted_per_calendar_month(ctx: &Ctx) {
    let store = &ctx.store;
    let (account, key) = funded(store, "0").await;
    let (other, other_key) = funded(store, "0").await;
    let byok = |id: &str, when| byok_generation(id, &account, &key, "0.1", when);
    for g in [
        byok("gen-feb-last", at(2024, 2, 29, 23, 59, 59)),
        byok("gen-mar-first", at(2024, 3, 1, 0, 0, 0)),
        byok("gen-mar-mid", at(2024, 3, 15, 12, 0, 0)),
        byok("gen-mar-last", at(2024, 3, 31, 23, 59, 59)),
        byok("gen-apr-first", at(2024, 4, 1, 0, 0, 0)),
        // Failed BYOK requests and paid ones do not count.
        GenerationRecord {
            error: Some("upstream 500".to_owned()),
            ..byok("gen-mar-failed", at(2024, 3, 2, 0, 0, 0))
        },
        generation("gen-mar-paid", &account, &key, at(2024, 3, 3, 0, 0, 0)),
        byok_generation(
            "gen-other",
            &other,
            &other_key,
            "0.1",
            at(2024, 3, 4, 0, 0, 0),
        ),
    ] {
        store.record_generation(&g).await.unwrap();
    }
    let count = |now| store.byok_requests_in_month(&account, now);
    assert_eq!(count(at(2024, 3, 1, 0, 0, 0)).await.unwrap(), 3);
    assert_eq!(count(at(2024, 3, 31, 23, 59, 59)).await.unwrap(), 3);
    assert_eq!(count(at(2024, 2, 10, 0, 0, 0)).await.unwrap(), 1);
    assert_eq!(count(at(2024, 4, 30, 0, 0, 0)).await.unwrap(), 1);
    assert_eq!(count(at(2024, 5, 1, 0, 0, 0)).await.unwrap(), 0);
    assert_eq!(
        store
            .byok_requests_in_month(&other, at(2024, 3, 9, 0, 0, 0))
            .await
            .unwrap(),
        1
    );
}
