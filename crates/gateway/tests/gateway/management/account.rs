//! `GET /key` (and `/auth/key`) and `GET /credits`.

use std::time::Duration;

use axum::http::Method;
use chrono::{SubsecRound, Utc};
use tollgate_store::{KeyOptions, LimitReset};

use super::{bare, d};
use crate::support::{assert_error, json};

/// What `/key` answers for a key that has spent nothing, without a limit.
fn fresh(label: &str, free: bool, provisioning: bool) -> crate::support::Value {
    json!({"data": {
        "label": label,
        "limit": null,
        "limit_remaining": null,
        "limit_reset": null,
        "usage": 0.0,
        "usage_daily": 0.0,
        "usage_weekly": 0.0,
        "usage_monthly": 0.0,
        "byok_usage": 0.0,
        "byok_usage_daily": 0.0,
        "byok_usage_weekly": 0.0,
        "byok_usage_monthly": 0.0,
        "include_byok_in_limit": false,
        "is_free_tier": free,
        "is_management_key": provisioning,
        "is_provisioning_key": provisioning,
        "creator_user_id": null,
        "expires_at": null,
        "rate_limit": {
            "requests": -1,
            "interval": "10s",
            "note": "This field is deprecated and safe to ignore."
        }
    }})
}

#[tokio::test]
async fn key_describes_a_fresh_key_exactly_on_both_paths() {
    let gw = bare().await;
    let stored = gw.store().get_api_key(&gw.key_hash).await.unwrap().unwrap();
    let hint = stored.hint.clone().unwrap();
    assert!(
        hint.starts_with("sk-tg-v1-") && hint.contains("..."),
        "{hint}"
    );
    let random = gw.key.strip_prefix("sk-tg-v1-").unwrap();
    assert_eq!(
        hint,
        format!("sk-tg-v1-{}...{}", &random[..3], &random[61..])
    );

    for path in ["/api/v1/key", "/api/v1/auth/key"] {
        let reply = gw.get(path, &gw.key).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        assert_eq!(
            reply.json(),
            fresh(&hint, true, false),
            "{path}: never topped up, so free tier"
        );
    }
    // A provisioning key says so.
    let prov_hint = gw
        .store()
        .get_api_key(&gw.prov_hash)
        .await
        .unwrap()
        .unwrap()
        .hint
        .unwrap();
    let reply = gw.get("/api/v1/key", &gw.prov).await;
    assert_eq!(reply.json(), fresh(&prov_hint, true, true));

    // Once the account bought credits it is not free tier any more.
    gw.store().top_up(&gw.account, d("10"), None).await.unwrap();
    let reply = gw.get("/api/v1/key", &gw.key).await;
    assert_eq!(reply.json(), fresh(&hint, false, false));
}

#[tokio::test]
async fn key_limits_reflect_the_set_limit_settled_usage_and_holds() {
    let gw = bare().await;
    let store = gw.store();
    store.top_up(&gw.account, d("10"), None).await.unwrap();
    assert!(
        store
            .set_api_key_limit(&gw.key_hash, Some(d("5")), Some(LimitReset::Daily))
            .await
            .unwrap()
    );
    let now = Utc::now();
    let ttl = Duration::from_secs(600);
    let spent = store
        .place_hold(&gw.account, Some(&gw.key_hash), d("2"), ttl, now)
        .await
        .unwrap();
    store
        .settle_hold(&spent.id, d("1.25"), Some("gen-a"), now)
        .await
        .unwrap();
    // In flight: counts against the limit, not yet as usage.
    store
        .place_hold(&gw.account, Some(&gw.key_hash), d("0.5"), ttl, now)
        .await
        .unwrap();

    let reply = gw.get("/api/v1/key", &gw.key).await;
    assert_eq!(reply.status, 200);
    let data = &reply.json()["data"];
    assert_eq!(data["limit"], json!(5.0));
    assert_eq!(data["limit_remaining"], json!(3.25));
    assert_eq!(data["limit_reset"], json!("daily"));
    for period in ["usage", "usage_daily", "usage_weekly", "usage_monthly"] {
        assert_eq!(data[period], json!(1.25), "{period}");
    }
    assert_eq!(data["is_free_tier"], json!(false));

    // Removing the limit.
    store
        .set_api_key_limit(&gw.key_hash, None, None)
        .await
        .unwrap();
    let data = gw.get("/api/v1/key", &gw.key).await.json()["data"].clone();
    assert_eq!(data["limit"], json!(null));
    assert_eq!(data["limit_remaining"], json!(null));
    assert_eq!(data["limit_reset"], json!(null));
}

#[tokio::test]
async fn expiry_is_shown_and_an_expired_key_stops_working() {
    let gw = bare().await;
    let later = (Utc::now() + chrono::Duration::days(30)).trunc_subsecs(0);
    let (secret, _) = gw
        .key_with(
            "temp",
            KeyOptions {
                expires_at: Some(later),
                ..KeyOptions::default()
            },
        )
        .await;
    let reply = gw.get("/api/v1/key", &secret).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["data"]["expires_at"],
        json!(later.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    );

    let (expired, _) = gw
        .key_with(
            "old",
            KeyOptions {
                expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
                ..KeyOptions::default()
            },
        )
        .await;
    for path in ["/api/v1/key", "/api/v1/credits", "/api/v1/activity"] {
        let error = assert_error(&gw.get(path, &expired).await, 401);
        assert_eq!(error["message"], "API key `old` has expired", "{path}");
    }
}

#[tokio::test]
async fn disabled_unknown_and_missing_keys_are_401() {
    let gw = bare().await;
    gw.store()
        .set_api_key_disabled(&gw.key_hash, true)
        .await
        .unwrap();
    for path in ["/api/v1/key", "/api/v1/credits"] {
        let error = assert_error(&gw.get(path, &gw.key).await, 401);
        assert_eq!(error["message"], "API key `default` is disabled");
        assert_eq!(error["metadata"]["error_type"], "authentication");
        let error = assert_error(&gw.get(path, "sk-tg-v1-nope").await, 401);
        assert_eq!(error["message"], "Invalid API key");
        assert_error(&gw.call(Method::GET, path, None, None).await, 401);
    }
}

#[tokio::test]
async fn credits_are_what_was_bought_and_what_was_charged() {
    let gw = bare().await;
    let store = gw.store();
    let zero = json!({"data": {"total_credits": 0.0, "total_usage": 0.0}});
    assert_eq!(gw.get("/api/v1/credits", &gw.key).await.json(), zero);

    store.top_up(&gw.account, d("10"), None).await.unwrap();
    store
        .top_up(&gw.account, d("2.5"), Some("invoice 7"))
        .await
        .unwrap();
    let now = Utc::now();
    let ttl = Duration::from_secs(600);
    let hold = store
        .place_hold(&gw.account, Some(&gw.key_hash), d("1"), ttl, now)
        .await
        .unwrap();
    store
        .settle_hold(&hold.id, d("0.75"), None, now)
        .await
        .unwrap();
    // An open hold is not usage.
    store
        .place_hold(&gw.account, Some(&gw.key_hash), d("3"), ttl, now)
        .await
        .unwrap();
    let expected = json!({"data": {"total_credits": 12.5, "total_usage": 0.75}});
    assert_eq!(gw.get("/api/v1/credits", &gw.key).await.json(), expected);
    // Any key of the account, provisioning included; never another's.
    assert_eq!(gw.get("/api/v1/credits", &gw.prov).await.json(), expected);
    let other = gw.other().await;
    assert_eq!(gw.get("/api/v1/credits", &other.key).await.json(), zero);
}

/// The inference path (`auth::authenticate`, the lead's) must refuse an
/// expired key too; enable this once it checks `ApiKey::is_expired`.
#[tokio::test]
async fn an_expired_key_cannot_call_models() {
    let gw = bare().await;
    let (expired, _) = gw
        .key_with(
            "old",
            KeyOptions {
                expires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
                ..KeyOptions::default()
            },
        )
        .await;
    let reply = gw
        .call(
            Method::POST,
            "/api/v1/chat/completions",
            Some(&expired),
            Some(&crate::support::chat_body("mock/echo", "hi")),
        )
        .await;
    assert_error(&reply, 401);
}
