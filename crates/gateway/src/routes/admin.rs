//! The operator's admin API, authenticated by the admin key
//! (`Authorization: Bearer $TOLLGATE_ADMIN_KEY`, see [`AdminAuth`]):
//!
//! - `POST /api/v1/admin/accounts` `{name}` → 201 `{data: {id, name,
//!   created_at}, provisioning_key, api_key}`: a new account with one
//!   provisioning and one inference key (secrets shown once);
//! - `GET /api/v1/admin/accounts` → `{data: [{id, name, created_at}]}`;
//! - `GET /api/v1/admin/accounts/{id}` → `{data: {id, name, created_at,
//!   balance}}`;
//! - `POST /api/v1/admin/accounts/{id}/credits` `{amount, note?}` →
//!   `{data: {entry, balance}}`: a top-up;
//! - `POST /api/v1/admin/catalog/reload` → `{data: {providers: [{slug,
//!   models}], models, endpoints, added_models, removed_models}}`: the
//!   providers and listings read again and swapped in (see
//!   [`crate::reload`]); 400 naming the file, provider, model and field
//!   when something is invalid, the previous catalog still serving.
//!
//! This API is Tollgate's own, so money is written exactly, as decimal
//! strings (`"10.5"`), and amounts are accepted as strings or numbers.
//!
//! The [`AdminAuth`] comes from a request extension the gateway layers on
//! its router; without one the admin API answers 403, as it does when no
//! admin key is configured.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tollgate_store::{Account, Balance, KeyKind, LedgerEntry, NewApiKey};

use super::access::AdminAuth;
use super::fields;
use crate::error::ApiError;
use crate::state::AppState;

/// Admits the request if it bears the admin key.
fn admit(admin: Option<&Extension<Arc<AdminAuth>>>, headers: &HeaderMap) -> Result<(), ApiError> {
    match admin {
        Some(Extension(admin)) => admin.check(headers),
        None => AdminAuth::disabled().check(headers),
    }
}

fn account_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "created_at": fields::iso(a.created_at),
    })
}

fn balance_json(b: &Balance) -> Value {
    json!({
        "total_credits": b.total_credits.to_string(),
        "total_usage": b.total_usage.to_string(),
        "held": b.held.to_string(),
        "available": b.available.to_string(),
    })
}

fn entry_json(e: &LedgerEntry) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind.as_str(),
        "amount": e.amount.to_string(),
        "note": e.note,
        "created_at": fields::iso(e.created_at),
    })
}

/// The account `id`, or 404.
async fn account(state: &AppState, id: &str) -> Result<Account, ApiError> {
    if !super::fields::can_be_id(id) {
        return Err(ApiError::NotFound(format!("account `{id}` not found")));
    }
    state
        .store
        .get_account(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account `{id}` not found")))
}

/// `POST /api/v1/admin/accounts` `{name}`.
pub(crate) async fn create_account(
    State(state): State<Arc<AppState>>,
    admin: Option<Extension<Arc<AdminAuth>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    admit(admin.as_ref(), &headers)?;
    let map = fields::object(body, state.server.max_body_bytes)?;
    let name = fields::name(&map, "name")?;
    let account = state.store.create_account(&name).await?;
    let key = |label: &str, kind| NewApiKey {
        label: label.to_owned(),
        kind,
    };
    let (provisioning, _) = state
        .store
        .create_api_key(&account.id, key("provisioning", KeyKind::Provisioning))
        .await?;
    let (inference, _) = state
        .store
        .create_api_key(&account.id, key("default", KeyKind::Inference))
        .await?;
    tracing::info!(account = %account.id, "account created through the admin API");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "data": account_json(&account),
            "provisioning_key": provisioning,
            "api_key": inference,
        })),
    )
        .into_response())
}

/// `GET /api/v1/admin/accounts`, oldest first.
pub(crate) async fn list_accounts(
    State(state): State<Arc<AppState>>,
    admin: Option<Extension<Arc<AdminAuth>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admit(admin.as_ref(), &headers)?;
    let accounts = state.store.list_accounts().await?;
    let data: Vec<Value> = accounts.iter().map(account_json).collect();
    Ok(Json(json!({ "data": data })).into_response())
}

/// `GET /api/v1/admin/accounts/{id}`, with its balance.
pub(crate) async fn get_account(
    State(state): State<Arc<AppState>>,
    admin: Option<Extension<Arc<AdminAuth>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admit(admin.as_ref(), &headers)?;
    let account = account(&state, &id).await?;
    let balance = state.books.balance(&account.id).await?;
    let mut data = account_json(&account);
    data["balance"] = balance_json(&balance);
    Ok(Json(json!({ "data": data })).into_response())
}

/// `POST /api/v1/admin/accounts/{id}/credits` `{amount, note?}`: tops the
/// account up by `amount` (> 0, at most 12 decimals and 1,000,000).
pub(crate) async fn add_credits(
    State(state): State<Arc<AppState>>,
    admin: Option<Extension<Arc<AdminAuth>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    admit(admin.as_ref(), &headers)?;
    let map = fields::object(body, state.server.max_body_bytes)?;
    let amount = match map.get("amount") {
        None | Some(Value::Null) => {
            return Err(ApiError::field("amount", "`amount` is required"));
        }
        Some(v) => fields::usd("amount", v, true, true)?,
    };
    let note = match map.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::field("note", "`note` must be a string")),
    };
    let account = account(&state, &id).await?;
    let entry = state
        .store
        .top_up(&account.id, amount, note.as_deref())
        .await?;
    state.books.invalidate();
    state.credit_tiers.forget(&account.id);
    let balance = state.books.balance(&account.id).await?;
    tracing::info!(account = %account.id, amount = %amount, "credits added through the admin API");
    Ok(Json(json!({
        "data": {
            "entry": entry_json(&entry),
            "balance": balance_json(&balance),
        }
    }))
    .into_response())
}

/// `POST /api/v1/admin/catalog/reload`: reads the catalog again from the
/// gateway's source and swaps it in; a 400 naming the problem leaves the
/// previous catalog serving.
pub(crate) async fn reload_catalog(
    State(state): State<Arc<AppState>>,
    admin: Option<Extension<Arc<AdminAuth>>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admit(admin.as_ref(), &headers)?;
    match crate::reload::reload(&state).await {
        Ok(summary) => {
            tracing::info!(
                providers = summary.providers.len(),
                models = summary.models,
                endpoints = summary.endpoints,
                added = ?summary.added_models,
                removed = ?summary.removed_models,
                "catalog reloaded through the admin API"
            );
            Ok(Json(json!({ "data": summary })).into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, "catalog not reloaded; the previous catalog is still served");
            Err(ApiError::bad_request(format!(
                "catalog not reloaded (the previous catalog is still served): {e}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The enabled admin API, through the router with an admin key layered
    //! on it as the gateway does. (The disabled API is covered by the
    //! integration tests.)

    use std::path::{Path, PathBuf};

    use axum::body::Body;
    use axum::http::{Method, Request};
    use rust_decimal::Decimal;
    use tollgate_catalog::{Catalog, demo};
    use tower::ServiceExt as _;

    use super::*;
    use crate::{Config, Gateway};

    const ADMIN: &str = "tg-admin-test-key";

    struct Admin {
        gateway: Gateway,
        router: axum::Router,
        _dir: tempfile::TempDir,
    }

    async fn admin() -> Admin {
        let dir = tempfile::tempdir().unwrap();
        let pairs = demo::listings().unwrap();
        let mut config = Config::parse("", Path::new("admin-test"), PathBuf::new()).unwrap();
        config.providers = pairs.iter().map(|(p, _)| p.clone()).collect();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = tollgate_store::Store::connect(&url).await.unwrap();
        let gateway = Gateway::from_parts(&config, Catalog::build(pairs).unwrap(), store)
            .unwrap()
            .with_admin(AdminAuth::new(ADMIN));
        let router = gateway.router();
        Admin {
            gateway,
            router,
            _dir: dir,
        }
    }

    impl Admin {
        async fn call(
            &self,
            method: Method,
            path: &str,
            key: Option<&str>,
            body: Option<Value>,
        ) -> (StatusCode, Value) {
            let mut request = Request::builder().method(method).uri(path);
            if let Some(key) = key {
                request = request.header("authorization", format!("Bearer {key}"));
            }
            let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
            let response = self
                .router
                .clone()
                .oneshot(request.body(body).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, serde_json::from_slice(&bytes).unwrap())
        }

        async fn admin(
            &self,
            method: Method,
            path: &str,
            body: Option<Value>,
        ) -> (StatusCode, Value) {
            self.call(method, path, Some(ADMIN), body).await
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn credits_added_through_the_api_count_for_the_next_request_at_once() {
        // On SQLite the gateway checks holds against balances it keeps in
        // memory; a top-up must reach them before the next request.
        let a = admin().await;
        let (_, body) = a
            .admin(
                Method::POST,
                "/api/v1/admin/accounts",
                Some(json!({"name": "late payer"})),
            )
            .await;
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        let api = body["api_key"].as_str().unwrap().to_owned();
        let chat = json!({"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]});
        let (status, body) = a
            .call(
                Method::POST,
                "/api/v1/chat/completions",
                Some(&api),
                Some(chat.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        let (status, body) = a
            .admin(
                Method::POST,
                &format!("/api/v1/admin/accounts/{id}/credits"),
                Some(json!({"amount": "5"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // The demo's upstreams are placeholders nobody listens on: the hold
        // is placed and the call fails upstream instead of a 402.
        let (status, body) = a
            .call(
                Method::POST,
                "/api/v1/chat/completions",
                Some(&api),
                Some(chat),
            )
            .await;
        assert_ne!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
        assert!(status.is_server_error(), "{status}: {body}");
        // The failed request was charged nothing and holds nothing.
        let (_, body) = a
            .admin(Method::GET, &format!("/api/v1/admin/accounts/{id}"), None)
            .await;
        assert_eq!(body["data"]["balance"]["available"], json!("5"), "{body}");
        assert_eq!(body["data"]["balance"]["held"], json!("0"), "{body}");
    }

    #[tokio::test]
    async fn create_account_returns_working_keys_once() {
        let a = admin().await;
        let (status, body) = a
            .admin(
                Method::POST,
                "/api/v1/admin/accounts",
                Some(json!({"name": " Acme "})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["data"]["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("acct_"));
        assert_eq!(body["data"]["name"], "Acme");
        let created_at = body["data"]["created_at"].as_str().unwrap();
        assert!(created_at.ends_with('Z'));
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 3, "{body}");

        let store = a.gateway.store();
        let prov = body["provisioning_key"].as_str().unwrap();
        let api = body["api_key"].as_str().unwrap();
        let prov_key = store.find_api_key(prov).await.unwrap().unwrap();
        let api_key = store.find_api_key(api).await.unwrap().unwrap();
        assert_eq!(
            (prov_key.kind, prov_key.account_id.as_str()),
            (KeyKind::Provisioning, id.as_str())
        );
        assert_eq!(
            (api_key.kind, api_key.account_id.as_str()),
            (KeyKind::Inference, id.as_str())
        );
        // Both keys work at once: the provisioning key manages keys, the
        // inference key reads its account.
        let (status, keys) = a.call(Method::GET, "/api/v1/keys", Some(prov), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(keys["data"].as_array().unwrap().len(), 1);
        let (status, key) = a.call(Method::GET, "/api/v1/key", Some(api), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(key["data"]["is_free_tier"], json!(true));

        // Listed, and shown with a zero balance.
        let (status, list) = a.admin(Method::GET, "/api/v1/admin/accounts", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list, json!({"data": [body["data"].clone()]}));
        let (status, one) = a
            .admin(Method::GET, &format!("/api/v1/admin/accounts/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            one["data"]["balance"],
            json!({"total_credits": "0", "total_usage": "0", "held": "0", "available": "0"})
        );
        assert_eq!(one["data"]["id"], json!(id));
    }

    #[tokio::test]
    async fn credits_are_added_exactly() {
        let a = admin().await;
        let account = a.gateway.store().create_account("acme").await.unwrap();
        let path = format!("/api/v1/admin/accounts/{}/credits", account.id);
        let (status, body) = a
            .admin(
                Method::POST,
                &path,
                Some(json!({"amount": "10.000000000001", "note": "invoice 42"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entry = &body["data"]["entry"];
        assert_eq!(entry["kind"], "topup");
        assert_eq!(entry["amount"], "10.000000000001");
        assert_eq!(entry["note"], "invoice 42");
        assert!(entry["id"].is_i64());
        assert_eq!(
            body["data"]["balance"],
            json!({
                "total_credits": "10.000000000001",
                "total_usage": "0",
                "held": "0",
                "available": "10.000000000001"
            })
        );
        // A number works too, and adds up.
        let (status, body) = a
            .admin(Method::POST, &path, Some(json!({"amount": 2.5})))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["entry"]["note"], json!(null));
        assert_eq!(body["data"]["balance"]["total_credits"], "12.500000000001");
        assert_eq!(
            a.gateway
                .store()
                .balance(&account.id)
                .await
                .unwrap()
                .total_credits,
            d("12.500000000001")
        );
        assert_eq!(
            a.gateway.store().total_top_ups(&account.id).await.unwrap(),
            d("12.500000000001")
        );

        for (body, message) in [
            (json!({}), "`amount` is required"),
            (json!({"amount": 0}), "`amount` must be greater than 0"),
            (json!({"amount": "-5"}), "`amount` must not be negative"),
            (
                json!({"amount": "lots"}),
                "`amount` must be a number or a decimal string of USD",
            ),
            (
                json!({"amount": "0.0000000000001"}),
                "`amount` must have at most 12 decimal places",
            ),
            (
                json!({"amount": 2000000}),
                "`amount` must be at most 1000000",
            ),
        ] {
            let (status, reply) = a.admin(Method::POST, &path, Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(reply["error"]["message"], message, "{body}");
            assert_eq!(reply["error"]["metadata"]["field"], "amount");
        }
        let (status, reply) = a
            .admin(Method::POST, &path, Some(json!({"amount": 1, "note": 5})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(reply["error"]["metadata"]["field"], "note");
        // None of the refused ones wrote anything.
        assert_eq!(
            a.gateway.store().ledger(&account.id).await.unwrap().len(),
            2
        );
    }

    #[tokio::test]
    async fn unknown_accounts_are_404() {
        let a = admin().await;
        let (status, body) = a
            .admin(Method::GET, "/api/v1/admin/accounts/acct_nope", None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["message"], "account `acct_nope` not found");
        let (status, _) = a
            .admin(
                Method::POST,
                "/api/v1/admin/accounts/acct_nope/credits",
                Some(json!({"amount": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn wrong_or_missing_admin_key_is_401_and_bad_names_400() {
        let a = admin().await;
        let store = a.gateway.store();
        let account = store.create_account("acme").await.unwrap();
        let (api_key, _) = store
            .create_api_key(
                &account.id,
                NewApiKey {
                    label: "k".to_owned(),
                    kind: KeyKind::Provisioning,
                },
            )
            .await
            .unwrap();
        let credits = format!("/api/v1/admin/accounts/{}/credits", account.id);
        for key in [None, Some("tg-admin-test-keY"), Some(api_key.as_str())] {
            for (method, path, body) in [
                (Method::GET, "/api/v1/admin/accounts", None),
                (
                    Method::POST,
                    "/api/v1/admin/accounts",
                    Some(json!({"name": "x"})),
                ),
                (Method::POST, credits.as_str(), Some(json!({"amount": 1}))),
            ] {
                let (status, reply) = a.call(method, path, key, body).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?} {path}");
                assert_eq!(reply["error"]["code"], 401);
                assert_eq!(reply["error"]["metadata"]["error_type"], "authentication");
            }
        }
        assert!(store.ledger(&account.id).await.unwrap().is_empty());
        assert_eq!(store.list_accounts().await.unwrap().len(), 1);

        for body in [json!({}), json!({"name": ""}), json!({"name": 1})] {
            let (status, reply) = a
                .admin(Method::POST, "/api/v1/admin/accounts", Some(body.clone()))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(reply["error"]["metadata"]["field"], "name");
        }
    }
}
