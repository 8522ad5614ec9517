//! BYOK routes through the router: storing, listing and deleting a user's
//! own provider keys; encryption at rest; BYOK disabled without a secret.

use axum::body::Body;
use axum::http::Method;
use tollgate_store::{ByokCipher, KeyKind, NewApiKey};

use crate::oauth::Accounts;
use crate::support::*;

const SECRET: &str = "gateway byok test secret key, at least 32 chars";
const USER_KEY: &str = "sk-user-OWN-PROVIDER-KEY-7f3a9c";

fn cipher() -> ByokCipher {
    ByokCipher::from_secret(SECRET).unwrap()
}

async fn put(h: &Accounts, provider: &str, body: &Value, bearer: Option<&str>) -> Reply {
    h.json(
        Method::PUT,
        &format!("/api/v1/byok/{provider}"),
        bearer,
        body,
    )
    .await
}

async fn list(h: &Accounts, bearer: &str) -> Reply {
    h.send(
        Method::GET,
        "/api/v1/byok",
        Some(bearer),
        None,
        Body::empty(),
    )
    .await
}

async fn delete(h: &Accounts, provider: &str, bearer: &str) -> Reply {
    h.send(
        Method::DELETE,
        &format!("/api/v1/byok/{provider}"),
        Some(bearer),
        None,
        Body::empty(),
    )
    .await
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

#[tokio::test]
async fn store_then_replace() {
    let h = Accounts::start(Some(cipher())).await;
    let reply = put(
        &h,
        "mock-alpha",
        &json!({"api_key": USER_KEY}),
        Some(&h.provisioning),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    assert!(!text(&reply).contains(USER_KEY), "{}", text(&reply));
    let data = reply.json()["data"].clone();
    assert_eq!(data["provider"], "mock-alpha");
    assert_eq!(data["provider_name"], "Mock Alpha");
    assert_eq!(data["last4"], "3a9c");
    assert_eq!(data["always_use"], false);
    assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(data["updated_at"], Value::Null);

    // Replacing answers 200 and keeps created_at.
    let reply = put(
        &h,
        "mock-alpha",
        &json!({"api_key": "sk-user-second-key-1234", "always_use": true}),
        Some(&h.provisioning),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let again = reply.json()["data"].clone();
    assert_eq!(again["last4"], "1234");
    assert_eq!(again["always_use"], true);
    assert_eq!(again["created_at"], data["created_at"]);
    assert!(again["updated_at"].is_string());

    // What the pipeline will read decrypts to the new key.
    let stored = h
        .store()
        .byok_key(&h.account_id, "mock-alpha")
        .await
        .unwrap()
        .unwrap();
    let plain = cipher()
        .decrypt(&h.account_id, "mock-alpha", &stored.sealed)
        .unwrap();
    assert_eq!(plain.expose(), "sk-user-second-key-1234");
    assert!(stored.always_use);
}

#[tokio::test]
async fn the_list_shows_only_the_last_four() {
    let h = Accounts::start(Some(cipher())).await;
    for provider in ["mock-beta", "mock-alpha"] {
        let reply = put(
            &h,
            provider,
            &json!({"api_key": USER_KEY}),
            Some(&h.provisioning),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", text(&reply));
    }
    // A provisioning key of the account sees the same.
    for bearer in [&h.key, &h.provisioning] {
        let reply = list(&h, bearer).await;
        assert_eq!(reply.status, 200, "{}", text(&reply));
        let body = text(&reply);
        assert!(!body.contains("OWN-PROVIDER"), "{body}");
        let data = reply.json()["data"].as_array().unwrap().clone();
        let providers: Vec<&str> = data
            .iter()
            .map(|d| d["provider"].as_str().unwrap())
            .collect();
        assert_eq!(providers, ["mock-alpha", "mock-beta"]);
        for d in &data {
            assert_eq!(d["last4"], "3a9c");
            let fields: Vec<&String> = d.as_object().unwrap().keys().collect();
            assert_eq!(
                fields,
                [
                    "always_use",
                    "created_at",
                    "last4",
                    "provider",
                    "provider_name",
                    "updated_at"
                ]
            );
        }
    }

    // Another account sees none of them, nor can it remove them.
    let other = h.store().create_account("other").await.unwrap();
    let (other_key, _) = h
        .store()
        .create_api_key(
            &other.id,
            NewApiKey {
                label: "o".to_owned(),
                kind: KeyKind::Provisioning,
            },
        )
        .await
        .unwrap();
    let reply = list(&h, &other_key).await;
    assert_eq!(reply.json()["data"], json!([]));
    let reply = delete(&h, "mock-alpha", &other_key).await;
    assert_error(&reply, 404);
    assert_eq!(h.count("byok_keys").await, 2);
}

#[tokio::test]
async fn delete_then_404() {
    let h = Accounts::start(Some(cipher())).await;
    put(
        &h,
        "mock-gamma",
        &json!({"api_key": USER_KEY}),
        Some(&h.provisioning),
    )
    .await;
    let reply = delete(&h, "mock-gamma", &h.provisioning).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    assert_eq!(reply.json(), json!({"deleted": true}));
    let reply = delete(&h, "mock-gamma", &h.provisioning).await;
    let error = assert_error(&reply, 404);
    assert!(error["message"].as_str().unwrap().contains("mock-gamma"));
    assert_eq!(h.count("byok_keys").await, 0);
}

#[tokio::test]
async fn keys_are_encrypted_at_rest() {
    let h = Accounts::start(Some(cipher())).await;
    let reply = put(
        &h,
        "mock-alpha",
        &json!({"api_key": USER_KEY}),
        Some(&h.provisioning),
    )
    .await;
    assert_eq!(reply.status, 201);
    assert_eq!(h.count("byok_keys").await, 1);
    let raw = h.raw_database();
    assert!(raw.contains("mock-alpha"), "the raw read sees the row");
    assert!(
        !raw.contains("OWN-PROVIDER-KEY"),
        "the key is in the database in clear"
    );
}

#[tokio::test]
async fn bad_requests() {
    let h = Accounts::start(Some(cipher())).await;
    let reply = put(
        &h,
        "no-such-provider",
        &json!({"api_key": USER_KEY}),
        Some(&h.provisioning),
    )
    .await;
    let error = assert_error(&reply, 400);
    assert_eq!(error["metadata"]["field"], "provider");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("`no-such-provider`"),
        "{error}"
    );

    for (body, field) in [
        (json!({}), None),
        (json!({"api_key": 12345678901u64}), Some("api_key")),
        (json!({"api_key": "short"}), Some("api_key")),
        (json!({"api_key": "has a space in it"}), Some("api_key")),
        (
            json!({"api_key": USER_KEY, "always_use": "yes"}),
            Some("always_use"),
        ),
    ] {
        let reply = put(&h, "mock-alpha", &body, Some(&h.provisioning)).await;
        let error = assert_error(&reply, 400);
        if let Some(field) = field {
            assert_eq!(error["metadata"]["field"], field, "{body}: {error}");
        }
        assert!(!text(&reply).contains("12345678901"), "no key value echoed");
    }
    let reply = h
        .send(
            Method::PUT,
            "/api/v1/byok/mock-alpha",
            Some(&h.provisioning),
            Some("application/json"),
            "{not json",
        )
        .await;
    assert_error(&reply, 400);

    // Authentication.
    assert_error(
        &put(&h, "mock-alpha", &json!({"api_key": USER_KEY}), None).await,
        401,
    );
    assert_error(
        &put(
            &h,
            "mock-alpha",
            &json!({"api_key": USER_KEY}),
            Some("sk-tg-v1-nope"),
        )
        .await,
        401,
    );
    assert_error(&list(&h, "sk-tg-v1-nope").await, 401);
    assert_eq!(h.count("byok_keys").await, 0, "nothing stored");
}

#[tokio::test]
async fn without_a_secret_key_byok_is_disabled() {
    let h = Accounts::start(None).await;
    for reply in [
        put(
            &h,
            "mock-alpha",
            &json!({"api_key": USER_KEY}),
            Some(&h.provisioning),
        )
        .await,
        list(&h, &h.key).await,
        delete(&h, "mock-alpha", &h.provisioning).await,
    ] {
        let error = assert_error(&reply, 503);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with("BYOK disabled: set TOLLGATE_SECRET_KEY"),
            "{message}"
        );
        assert_eq!(error["metadata"]["error_type"], "byok_disabled");
    }
    assert_eq!(h.count("byok_keys").await, 0, "nothing stored");
    // Still authenticated first.
    assert_error(&list(&h, "sk-tg-v1-nope").await, 401);
}

#[tokio::test]
async fn an_inference_key_cannot_store_or_remove_provider_keys() {
    let h = Accounts::start(Some(cipher())).await;
    let reply = put(
        &h,
        "mock-alpha",
        &json!({"api_key": USER_KEY}),
        Some(&h.key),
    )
    .await;
    let error = assert_error(&reply, 403);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Only provisioning (management) keys"),
        "{error}"
    );
    assert_eq!(h.count("byok_keys").await, 0, "nothing stored");

    // Stored with the provisioning key, it stays when the inference key
    // tries to remove it, and the inference key may still list it.
    let reply = put(
        &h,
        "mock-alpha",
        &json!({"api_key": USER_KEY}),
        Some(&h.provisioning),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", text(&reply));
    assert_error(&delete(&h, "mock-alpha", &h.key).await, 403);
    assert_eq!(h.count("byok_keys").await, 1, "still stored");
    let listed = list(&h, &h.key).await;
    assert_eq!(listed.status, 200, "{}", text(&listed));
    assert_eq!(listed.json()["data"][0]["provider"], "mock-alpha");
}
