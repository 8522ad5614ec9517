//! BYOK ("bring your own key"): users store their own provider keys, and
//! requests to that provider are made with them.
//!
//! # Routes (bearer: an account key; storing and removing need a
//! provisioning key, as managing API keys does, so a leaked inference key
//! cannot swap the account's provider keys)
//!
//! - `PUT /api/v1/byok/{provider}` `{api_key, always_use?: bool}` stores
//!   (201) or replaces (200) the account's key for a provider of the
//!   catalog (an unknown slug is a 400 naming it);
//! - `GET /api/v1/byok` lists them: provider, its name, the key's last four
//!   characters, `always_use`, `created_at`, `updated_at`; never the key;
//! - `DELETE /api/v1/byok/{provider}` → `{deleted: true}` (404 if none).
//!
//! Keys are encrypted at rest with AES-256-GCM under a key derived from
//! `TOLLGATE_SECRET_KEY` ([`tollgate_store::ByokCipher`]; the choices are in
//! its docs), bound to their account and provider. Without that variable
//! BYOK is disabled: these routes answer 503 "BYOK disabled: set
//! TOLLGATE_SECRET_KEY" and nothing is stored. A key never appears in a
//! log line, an error or a `Debug` output.
//!
//! # How requests use them (overview.txt, "Bring Your Own Key")
//!
//! The pipeline asks [`crate::pipeline::byok::key_for`] for each provider it is about to call:
//!
//! - **BYOK keys are prioritized**: for a provider where the account has a
//!   key, the user's key is tried first (`ChatCall::with_api_key`, and the
//!   same for completions and embeddings), and the generation's usage says
//!   `is_byok: true`. Routing may also prefer endpoints of providers the
//!   account has keys for ([`tollgate_store::Store::list_byok_keys`] names
//!   them).
//! - **Fallback**: if the user's key fails (the provider answers 401, 403 or
//!   429, or any error the failover would retry) and `always_use` is false,
//!   the same endpoint is tried again with the gateway's shared key, billed
//!   to the account's credits as usual (`is_byok: false`). With
//!   `always_use` true the shared key is never used for that provider: the
//!   failure counts as that endpoint's failure and routing moves on.
//! - **Fees**: BYOK requests are free for the first 1,000,000 per month,
//!   then cost 5% of what the request would have cost (tollgate-billing).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_schema::wire_error::{ErrorBody, ErrorResponse};
use tollgate_store::{ByokKey, key_last4};

use super::access::{authenticate_any, authenticate_provisioning};
use super::fields;
use super::oauth::parse_json;
use super::{Route, Verb};
use crate::error::ApiError;
use crate::state::AppState;

/// The message of every BYOK route while no secret key is configured.
pub(crate) const BYOK_DISABLED: &str =
    "BYOK disabled: set TOLLGATE_SECRET_KEY to store your own provider keys";

/// The shortest and longest key accepted, in characters.
const KEY_LEN: std::ops::RangeInclusive<usize> = 8..=4096;

/// `/byok` and `/byok/{provider}`, under `/api/v1`.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Verb::Get, "/api/v1/byok", list),
        Route::new(Verb::Put, "/api/v1/byok/{provider}", store_key),
        Route::new(Verb::Delete, "/api/v1/byok/{provider}", delete_key),
    ]
}

/// The 503 of a BYOK route while BYOK is disabled, in the seed's shape.
fn disabled() -> Response {
    let mut error = ErrorBody::new(503, BYOK_DISABLED);
    let mut metadata = tollgate_schema::Extra::new();
    metadata.insert("error_type".into(), "byok_disabled".into());
    error.metadata = Some(metadata);
    let body = ErrorResponse {
        error,
        user_id: None,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// How a stored key is shown: everything but the key.
fn view(state: &AppState, key: &ByokKey) -> Value {
    json!({
        "provider": key.provider,
        "provider_name": state.routes().catalog.provider(&key.provider).map(|p| p.name.clone()),
        "last4": key.last4,
        "always_use": key.always_use,
        "created_at": fields::iso(key.created_at),
        "updated_at": fields::iso_opt(key.updated_at),
    })
}

/// `PUT /api/v1/byok/{provider}` body. Its `Debug` shows no key.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct PutBody {
    /// The provider key.
    api_key: String,
    /// Never fall back to the gateway's shared key for this provider.
    #[serde(default)]
    always_use: Option<bool>,
}

/// `PUT /api/v1/byok/{provider}`.
async fn store_key(
    State(state): State<Arc<AppState>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let account = authenticate_provisioning(&state.store, &headers)
        .await?
        .account_id;
    let Some(cipher) = &state.server.byok_cipher else {
        return Ok(disabled());
    };
    if state.routes().catalog.provider(&provider).is_none() {
        return Err(ApiError::field(
            "provider",
            format!(
                "unknown provider `{provider}`: not in this gateway's catalog (see GET /api/v1/providers)"
            ),
        ));
    }
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    // A type error on `api_key` would quote the value: answer without it.
    let req: PutBody = parse_json(&body).map_err(|e| match e {
        ApiError::BadRequest { field: Some(f), .. } if f == "api_key" => {
            ApiError::field("api_key", "api_key must be a string")
        }
        other => other,
    })?;
    let api_key = req.api_key.trim();
    if !KEY_LEN.contains(&api_key.chars().count()) || !api_key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::field(
            "api_key",
            format!(
                "api_key must be {} to {} printable ASCII characters without spaces",
                KEY_LEN.start(),
                KEY_LEN.end()
            ),
        ));
    }
    let sealed = cipher
        .encrypt(&account, &provider, api_key)
        .map_err(|e| ApiError::Internal(format!("byok encryption: {e}")))?;
    let (stored, created) = state
        .store
        .put_byok_key(
            &account,
            &provider,
            &sealed,
            &key_last4(api_key),
            req.always_use.unwrap_or(false),
        )
        .await?;
    state.byok.forget(&account);
    tracing::info!(account = %account, %provider, created, always_use = stored.always_use, "byok key stored");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "data": view(&state, &stored) }))).into_response())
}

/// `GET /api/v1/byok`.
async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let account = authenticate_any(&state.store, &headers).await?.account_id;
    if state.server.byok_cipher.is_none() {
        return Ok(disabled());
    }
    let keys = state.store.list_byok_keys(&account).await?;
    let data: Vec<Value> = keys.iter().map(|k| view(&state, k)).collect();
    Ok(Json(json!({ "data": data })).into_response())
}

/// `DELETE /api/v1/byok/{provider}`.
async fn delete_key(
    State(state): State<Arc<AppState>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let account = authenticate_provisioning(&state.store, &headers)
        .await?
        .account_id;
    if state.server.byok_cipher.is_none() {
        return Ok(disabled());
    }
    if !super::fields::can_be_id(&provider)
        || !state.store.delete_byok_key(&account, &provider).await?
    {
        return Err(ApiError::NotFound(format!(
            "no BYOK key stored for provider `{provider}`"
        )));
    }
    state.byok.forget(&account);
    tracing::info!(account = %account, %provider, "byok key deleted");
    Ok(Json(json!({ "deleted": true })).into_response())
}

#[cfg(test)]
mod tests {
    use std::path::{Path as FsPath, PathBuf};

    use tollgate_catalog::{Catalog, demo};
    use tollgate_store::{ByokCipher, Store};

    use super::*;
    use crate::pipeline::byok::key_for;
    use crate::{Config, Gateway};

    /// A gateway over the demo catalog and a fresh SQLite store, with or
    /// without a cipher.
    async fn gateway(cipher: Option<ByokCipher>) -> (Gateway, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let pairs = demo::listings().unwrap();
        let mut config = Config::parse("", FsPath::new("t.toml"), PathBuf::new()).unwrap();
        config.providers = pairs.iter().map(|(p, _)| p.clone()).collect();
        config.server.byok_cipher = cipher;
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.unwrap();
        let gateway = Gateway::from_parts(&config, Catalog::build(pairs).unwrap(), store).unwrap();
        (gateway, dir)
    }

    fn test_cipher() -> ByokCipher {
        ByokCipher::from_secret("unit test secret key for the byok module").unwrap()
    }

    async fn put(gateway: &Gateway, account: &str, provider: &str, key: &str, always: bool) {
        let cipher = test_cipher();
        let sealed = cipher.encrypt(account, provider, key).unwrap();
        gateway
            .store()
            .put_byok_key(account, provider, &sealed, &key_last4(key), always)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn key_for_decrypts_the_accounts_key() {
        let (gw, _dir) = gateway(Some(test_cipher())).await;
        let account = gw.store().create_account("a").await.unwrap().id;
        let other = gw.store().create_account("b").await.unwrap().id;
        assert_eq!(
            key_for(&gw.state, &account, "mock-alpha").await.unwrap(),
            None
        );
        put(&gw, &account, "mock-alpha", "sk-user-alpha-key", false).await;
        let got = key_for(&gw.state, &account, "mock-alpha")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.key.expose(), "sk-user-alpha-key");
        assert!(!got.always_use);
        assert!(!format!("{got:?}").contains("sk-user-alpha-key"));
        // Per account and per provider.
        assert_eq!(
            key_for(&gw.state, &other, "mock-alpha").await.unwrap(),
            None
        );
        assert_eq!(
            key_for(&gw.state, &account, "mock-beta").await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn unusable_key_falls_back_unless_always_use() {
        // Keys stored under one secret, read by a server with another.
        let other = ByokCipher::from_secret("a different secret key, also long enough").unwrap();
        let (gw, _dir) = gateway(Some(other)).await;
        let account = gw.store().create_account("a").await.unwrap().id;
        put(&gw, &account, "mock-alpha", "sk-user-alpha-key", false).await;
        put(&gw, &account, "mock-beta", "sk-user-beta-key", true).await;
        assert_eq!(
            key_for(&gw.state, &account, "mock-alpha").await.unwrap(),
            None
        );
        let err = key_for(&gw.state, &account, "mock-beta").await.unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        assert!(err.to_string().contains("mock-beta"), "{err}");
        assert!(!err.to_string().contains("sk-user"), "{err}");

        // BYOK disabled entirely: the same.
        let (gw, _dir) = gateway(None).await;
        let account = gw.store().create_account("a").await.unwrap().id;
        put(&gw, &account, "mock-alpha", "sk-user-alpha-key", false).await;
        put(&gw, &account, "mock-beta", "sk-user-beta-key", true).await;
        assert_eq!(
            key_for(&gw.state, &account, "mock-alpha").await.unwrap(),
            None
        );
        assert!(key_for(&gw.state, &account, "mock-beta").await.is_err());
    }
}
