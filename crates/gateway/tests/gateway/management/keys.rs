//! `/keys`: provisioning keys manage their account's inference keys.

use axum::http::Method;
use chrono::{SubsecRound, Utc};
use tollgate_store::{KeyKind, hash_api_key};

use super::{Bare, bare, d};
use crate::support::{Value, assert_error, chat_body, json};

const KEYS: &str = "/api/v1/keys";

fn key_path(hash: &str) -> String {
    format!("{KEYS}/{hash}")
}

impl Bare {
    async fn create(&self, body: Value) -> crate::support::Reply {
        self.call(Method::POST, KEYS, Some(&self.prov), Some(&body))
            .await
    }

    async fn patch(&self, hash: &str, body: Value) -> crate::support::Reply {
        self.call(
            Method::PATCH,
            &key_path(hash),
            Some(&self.prov),
            Some(&body),
        )
        .await
    }

    async fn names(&self, query: &str) -> Vec<String> {
        let reply = self.get(&format!("{KEYS}{query}"), &self.prov).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Whether `secret` authenticates `GET /key`.
    async fn works(&self, secret: &str) -> bool {
        let reply = self.get("/api/v1/key", secret).await;
        match reply.status.as_u16() {
            200 => true,
            401 => false,
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
}

#[tokio::test]
async fn create_shows_the_secret_once_and_stores_only_its_hash() {
    let gw = bare().await;
    let expires = (Utc::now() + chrono::Duration::days(7)).trunc_subsecs(0);
    let expires_text = expires.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let reply = gw
        .create(json!({
            "name": "  CI runner ",
            "limit": 12.5,
            "limit_reset": "weekly",
            "include_byok_in_limit": true,
            "expires_at": expires_text,
            "workspace_id": "ignored",
        }))
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let body = reply.json();
    let secret = body["key"].as_str().unwrap().to_owned();
    let random = secret.strip_prefix("sk-tg-v1-").unwrap();
    assert_eq!(random.len(), 64);
    let hash = hash_api_key(&secret);
    let data = &body["data"];
    let created_at = data["created_at"].as_str().unwrap().to_owned();
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert_eq!(
        *data,
        json!({
            "hash": hash,
            "name": "CI runner",
            "label": format!("sk-tg-v1-{}...{}", &random[..3], &random[61..]),
            "disabled": false,
            "limit": 12.5,
            "limit_remaining": 12.5,
            "limit_reset": "weekly",
            "include_byok_in_limit": true,
            "usage": 0.0,
            "usage_daily": 0.0,
            "usage_weekly": 0.0,
            "usage_monthly": 0.0,
            "byok_usage": 0.0,
            "byok_usage_daily": 0.0,
            "byok_usage_weekly": 0.0,
            "byok_usage_monthly": 0.0,
            "created_at": created_at,
            "updated_at": null,
            "expires_at": expires_text,
            "creator_user_id": null,
            "workspace_id": gw.account,
        })
    );

    // The secret authenticates, as an inference key of the account.
    let key = gw.get("/api/v1/key", &secret).await.json();
    assert_eq!(key["data"]["is_provisioning_key"], json!(false));
    assert_eq!(key["data"]["limit"], json!(12.5));
    let stored = gw.store().find_api_key(&secret).await.unwrap().unwrap();
    assert_eq!(stored.account_id, gw.account);
    assert_eq!(stored.kind, KeyKind::Inference);

    // It is not stored in clear: the database files hold its hash and a
    // six-character preview, never the secret nor any long part of it.
    let raw = gw.raw_database();
    assert!(raw.contains(&hash));
    assert!(!raw.contains(random));
    assert!(!raw.contains(&random[..12]));
    assert!(!raw.contains(&random[52..]));

    // Shown once: reading it back never includes a secret.
    let again = gw.get(&key_path(&hash), &gw.prov).await;
    assert_eq!(again.json()["data"], *data);
    assert!(!String::from_utf8_lossy(&again.body).contains(random));
    let listed = gw.get(KEYS, &gw.prov).await;
    assert!(!String::from_utf8_lossy(&listed.body).contains(random));
}

#[tokio::test]
async fn create_with_only_a_name_has_no_limit() {
    let gw = bare().await;
    let reply = gw.create(json!({"name": "plain", "limit": null})).await;
    assert_eq!(reply.status, 201);
    let data = &reply.json()["data"];
    assert_eq!(data["limit"], json!(null));
    assert_eq!(data["limit_remaining"], json!(null));
    assert_eq!(data["limit_reset"], json!(null));
    assert_eq!(data["include_byok_in_limit"], json!(false));
    assert_eq!(data["expires_at"], json!(null));
}

#[tokio::test]
async fn create_refuses_bad_fields_naming_them() {
    let gw = bare().await;
    let cases = [
        (json!({}), "name", "`name` is required"),
        (json!({"name": null}), "name", "`name` is required"),
        (json!({"name": "  "}), "name", "`name` must not be empty"),
        (json!({"name": 7}), "name", "`name` must be a string"),
        (
            json!({"name": "x".repeat(257)}),
            "name",
            "`name` must be at most 256 characters",
        ),
        (
            json!({"name": "k", "limit": -1}),
            "limit",
            "`limit` must not be negative",
        ),
        (
            json!({"name": "k", "limit": "5"}),
            "limit",
            "`limit` must be a number",
        ),
        (
            json!({"name": "k", "limit": 0.0000000000001}),
            "limit",
            "`limit` must have at most 12 decimal places",
        ),
        (
            json!({"name": "k", "limit_reset": "hourly"}),
            "limit_reset",
            "`limit_reset` must be \"daily\", \"weekly\", \"monthly\" or null",
        ),
        (
            json!({"name": "k", "include_byok_in_limit": "yes"}),
            "include_byok_in_limit",
            "`include_byok_in_limit` must be true or false",
        ),
        (
            json!({"name": "k", "expires_at": "next week"}),
            "expires_at",
            "`expires_at` must be an ISO 8601 timestamp such as 2030-01-31T00:00:00Z, or null",
        ),
        (
            json!({"name": "k", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
            "`expires_at` must be in the future",
        ),
    ];
    for (body, field, message) in cases {
        let reply = gw.create(body.clone()).await;
        let error = assert_error(&reply, 400);
        assert_eq!(error["metadata"]["field"], field, "{body}");
        assert_eq!(error["message"], message, "{body}");
    }
    for raw in ["not json", "[1]", ""] {
        let request = axum::http::Request::builder()
            .method(Method::POST)
            .uri(KEYS)
            .header("authorization", format!("Bearer {}", gw.prov))
            .body(axum::body::Body::from(raw))
            .unwrap();
        assert_error(&gw.raw(request).await, 400);
    }
    // Nothing was created.
    assert_eq!(gw.names("?include_disabled=true").await, ["default"]);
}

#[tokio::test]
async fn inference_keys_cannot_manage_keys() {
    let gw = bare().await;
    let routes = [
        (Method::GET, KEYS.to_owned(), None),
        (Method::POST, KEYS.to_owned(), Some(json!({"name": "x"}))),
        (Method::GET, key_path(&gw.key_hash), None),
        (
            Method::PATCH,
            key_path(&gw.key_hash),
            Some(json!({"disabled": true})),
        ),
        (Method::DELETE, key_path(&gw.key_hash), None),
    ];
    for (method, path, body) in routes {
        let reply = gw
            .call(method.clone(), &path, Some(&gw.key), body.as_ref())
            .await;
        let error = assert_error(&reply, 403);
        assert_eq!(
            error["message"],
            "Only provisioning (management) keys can manage API keys and BYOK provider keys; this is an inference key",
            "{method} {path}"
        );
        assert_eq!(error["metadata"]["error_type"], "permission_denied");
        assert_error(&gw.call(method, &path, None, body.as_ref()).await, 401);
    }
    assert!(gw.works(&gw.key).await, "untouched");
}

#[tokio::test]
async fn other_accounts_and_provisioning_keys_are_not_found() {
    let gw = bare().await;
    let other = gw.other().await;
    let missing = "0".repeat(64);
    for hash in [
        other.key_hash.as_str(),
        gw.prov_hash.as_str(),
        missing.as_str(),
    ] {
        let message = format!("API key `{hash}` not found");
        let error = assert_error(&gw.get(&key_path(hash), &gw.prov).await, 404);
        assert_eq!(error["message"], message);
        let error = assert_error(&gw.patch(hash, json!({"disabled": true})).await, 404);
        assert_eq!(error["message"], message);
        let reply = gw
            .call(Method::DELETE, &key_path(hash), Some(&gw.prov), None)
            .await;
        assert_error(&reply, 404);
    }
    // The other account's key still works; and it cannot reach ours.
    assert!(gw.works(&other.key).await);
    assert!(gw.works(&gw.prov).await);
    let reply = gw.get(&key_path(&gw.key_hash), &other.prov).await;
    assert_error(&reply, 404);
}

#[tokio::test]
async fn list_pages_and_filters() {
    let gw = bare().await;
    // Another account's keys are never listed.
    let _other = gw.other().await;
    for name in ["b", "c", "d"] {
        assert_eq!(gw.create(json!({ "name": name })).await.status, 201);
    }
    let c = gw.store().list_api_keys(&gw.account).await.unwrap();
    let c = c.iter().find(|k| k.label == "c").unwrap().hash.clone();
    assert_eq!(gw.patch(&c, json!({"disabled": true})).await.status, 200);

    // Inference keys only (not "ops"), enabled ones unless asked, oldest
    // first, never another account's.
    assert_eq!(gw.names("").await, ["default", "b", "d"]);
    assert_eq!(
        gw.names("?include_disabled=true").await,
        ["default", "b", "c", "d"]
    );
    assert_eq!(
        gw.names("?include_disabled=true&offset=2").await,
        ["c", "d"]
    );
    assert_eq!(gw.names("?offset=9").await, Vec::<String>::new());
    assert_eq!(
        gw.names("?include_disabled=false&offset=0").await,
        ["default", "b", "d"]
    );

    let listed = gw.get(KEYS, &gw.prov).await.json();
    let first = &listed["data"][0];
    assert_eq!(first["hash"], json!(gw.key_hash));
    assert_eq!(first["workspace_id"], json!(gw.account));

    for (query, field) in [
        ("?offset=-1", "offset"),
        ("?offset=abc", "offset"),
        ("?include_disabled=maybe", "include_disabled"),
    ] {
        let error = assert_error(&gw.get(&format!("{KEYS}{query}"), &gw.prov).await, 400);
        assert_eq!(error["metadata"]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn patch_changes_what_is_given_and_null_clears() {
    let gw = bare().await;
    let created = gw
        .create(json!({"name": "k", "limit": 3, "limit_reset": "daily"}))
        .await
        .json();
    let secret = created["key"].as_str().unwrap().to_owned();
    let hash = created["data"]["hash"].as_str().unwrap().to_owned();

    let reply = gw
        .patch(&hash, json!({"name": "renamed", "limit": 4.5}))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let data = &reply.json()["data"];
    assert_eq!(data["name"], "renamed");
    assert_eq!(data["limit"], json!(4.5));
    assert_eq!(data["limit_remaining"], json!(4.5));
    assert_eq!(data["limit_reset"], "daily", "absent: unchanged");
    assert!(data["updated_at"].is_string());
    assert_eq!(data["disabled"], json!(false));

    let data = gw
        .patch(
            &hash,
            json!({"limit": null, "limit_reset": null, "include_byok_in_limit": true}),
        )
        .await
        .json()["data"]
        .clone();
    assert_eq!(data["limit"], json!(null));
    assert_eq!(data["limit_remaining"], json!(null));
    assert_eq!(data["limit_reset"], json!(null));
    assert_eq!(data["include_byok_in_limit"], json!(true));
    assert_eq!(data["name"], "renamed");

    // Disabling stops the key at once; re-enabling restores it.
    assert!(gw.works(&secret).await);
    let data = gw.patch(&hash, json!({"disabled": true})).await.json()["data"].clone();
    assert_eq!(data["disabled"], json!(true));
    assert!(!gw.works(&secret).await);
    let error = assert_error(
        &gw.call(
            Method::POST,
            "/api/v1/chat/completions",
            Some(&secret),
            Some(&chat_body("mock/echo", "hi")),
        )
        .await,
        401,
    );
    assert_eq!(error["message"], "API key `renamed` is disabled");
    gw.patch(&hash, json!({"disabled": false})).await;
    assert!(gw.works(&secret).await);

    for (body, field) in [
        (json!({"limit": -0.5}), "limit"),
        (json!({"limit_reset": "yearly"}), "limit_reset"),
        (json!({"name": ""}), "name"),
        (json!({"name": null}), "name"),
        (json!({"disabled": null}), "disabled"),
        (json!({"disabled": "true"}), "disabled"),
        (json!({"expires_at": "2040-01-01T00:00:00Z"}), "expires_at"),
    ] {
        let error = assert_error(&gw.patch(&hash, body.clone()).await, 400);
        assert_eq!(error["metadata"]["field"], field, "{body}");
    }
    let stored = gw.store().get_api_key(&hash).await.unwrap().unwrap();
    assert_eq!(stored.label, "renamed", "refused patches change nothing");
    assert_eq!(stored.limit, None);
}

#[tokio::test]
async fn delete_stops_the_key_and_keeps_its_history() {
    let gw = bare().await;
    let store = gw.store();
    store.top_up(&gw.account, d("5"), None).await.unwrap();
    let created = gw.create(json!({"name": "doomed"})).await.json();
    let secret = created["key"].as_str().unwrap().to_owned();
    let hash = created["data"]["hash"].as_str().unwrap().to_owned();
    // Some history: a settled charge.
    let now = Utc::now();
    let hold = store
        .place_hold(
            &gw.account,
            Some(&hash),
            d("1"),
            std::time::Duration::from_secs(60),
            now,
        )
        .await
        .unwrap();
    store
        .settle_hold(&hold.id, d("0.5"), None, now)
        .await
        .unwrap();
    assert!(gw.works(&secret).await);

    let reply = gw
        .call(Method::DELETE, &key_path(&hash), Some(&gw.prov), None)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"deleted": true}));

    assert!(!gw.works(&secret).await);
    let error = assert_error(
        &gw.call(
            Method::POST,
            "/api/v1/chat/completions",
            Some(&secret),
            Some(&chat_body("mock/echo", "hi")),
        )
        .await,
        401,
    );
    assert_eq!(error["message"], "Invalid API key");
    assert_error(&gw.get(&key_path(&hash), &gw.prov).await, 404);
    assert_error(&gw.patch(&hash, json!({"disabled": false})).await, 404);
    assert_error(
        &gw.call(Method::DELETE, &key_path(&hash), Some(&gw.prov), None)
            .await,
        404,
    );
    assert_eq!(gw.names("?include_disabled=true").await, ["default"]);
    // The money it spent is still the account's usage, in the ledger.
    assert_eq!(
        store.balance(&gw.account).await.unwrap().total_usage,
        d("0.5")
    );
    assert!(
        store
            .ledger(&gw.account)
            .await
            .unwrap()
            .iter()
            .any(|e| e.api_key_hash.as_deref() == Some(hash.as_str()))
    );
}
