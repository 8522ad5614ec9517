//! `/api/v1/keys`: a provisioning (management) key manages its account's
//! inference keys. `GET /keys`, `POST /keys` (the secret is shown once, in
//! the 201), `GET`, `PATCH` and `DELETE /keys/{hash}`.
//!
//! Only inference keys are listed and managed here: provisioning keys are
//! the operator's (admin API), so a provisioning key cannot disable or
//! delete itself or its peers. Another account's key, a provisioning key
//! and a deleted key are all 404.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};
use tollgate_store::{ApiKey, KeyKind, KeyListing, KeyOptions, KeyUsage, NewApiKey, UpdateKey};

use super::access::authenticate_provisioning;
use super::fields;
use crate::error::ApiError;
use crate::state::AppState;

/// Keys per page of `GET /keys`.
const PAGE_SIZE: u64 = 100;

/// The `KeyInfo` of WIRE-NOTES §3. `workspace_id` is the account's id:
/// Tollgate has one workspace per account.
pub(crate) fn key_info(key: &ApiKey, usage: Option<&KeyUsage>) -> Value {
    let zero = rust_decimal::Decimal::ZERO;
    let u = |f: fn(&KeyUsage) -> rust_decimal::Decimal| fields::usd_json(usage.map_or(zero, f));
    json!({
        "hash": key.hash,
        "name": key.label,
        "label": key.display_label(),
        "disabled": key.disabled,
        "limit": fields::usd_json_opt(key.limit),
        "limit_remaining": fields::usd_json_opt(usage.and_then(|u| u.limit_remaining)),
        "limit_reset": key.limit_reset.map(|r| r.as_str()),
        "include_byok_in_limit": key.include_byok_in_limit,
        "usage": u(|u| u.usage),
        "usage_daily": u(|u| u.usage_daily),
        "usage_weekly": u(|u| u.usage_weekly),
        "usage_monthly": u(|u| u.usage_monthly),
        "byok_usage": u(|u| u.byok_usage),
        "byok_usage_daily": u(|u| u.byok_usage_daily),
        "byok_usage_weekly": u(|u| u.byok_usage_weekly),
        "byok_usage_monthly": u(|u| u.byok_usage_monthly),
        "created_at": fields::iso(key.created_at),
        "updated_at": fields::iso_opt(key.updated_at),
        "expires_at": fields::iso_opt(key.expires_at),
        "creator_user_id": Value::Null,
        "workspace_id": key.account_id,
    })
}

/// The key's `KeyInfo` with its usage as of now.
async fn info(state: &AppState, key: &ApiKey) -> Result<Value, ApiError> {
    let usage = state.books.key_usage(&key.hash, Utc::now()).await?;
    Ok(key_info(key, usage.as_ref()))
}

/// The inference key `hash` of the caller's account, or 404.
async fn managed(state: &AppState, caller: &ApiKey, hash: &str) -> Result<ApiKey, ApiError> {
    if !fields::can_be_id(hash) {
        return Err(ApiError::NotFound(format!("API key `{hash}` not found")));
    }
    match state.store.get_api_key(hash).await? {
        Some(k) if k.account_id == caller.account_id && k.kind == KeyKind::Inference => Ok(k),
        _ => Err(ApiError::NotFound(format!("API key `{hash}` not found"))),
    }
}

/// `GET /api/v1/keys?offset=&include_disabled=` → `{data: KeyInfo[]}`,
/// oldest first, 100 per page.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate_provisioning(&state.store, &headers).await?;
    let q = fields::query(q)?;
    let offset = match q.get("offset").map(|s| s.trim()) {
        None | Some("") => 0,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::field("offset", "`offset` must be a non-negative integer"))?,
    };
    let include_disabled = match q.get("include_disabled").map(|s| s.trim()) {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            return Err(ApiError::field(
                "include_disabled",
                "`include_disabled` must be true or false",
            ));
        }
    };
    let keys = state
        .store
        .list_api_keys_page(
            &caller.account_id,
            KeyListing {
                kind: Some(KeyKind::Inference),
                include_disabled,
                offset,
                limit: PAGE_SIZE,
            },
        )
        .await?;
    let mut data = Vec::with_capacity(keys.len());
    for key in &keys {
        data.push(info(&state, key).await?);
    }
    Ok(Json(json!({ "data": data })).into_response())
}

/// `POST /api/v1/keys` `{name, limit?, limit_reset?, include_byok_in_limit?,
/// expires_at?}` → 201 `{data: KeyInfo, key: "sk-tg-v1-..."}`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate_provisioning(&state.store, &headers).await?;
    let map = fields::object(body, state.server.max_body_bytes)?;
    let name = fields::name(&map, "name")?;
    let options = KeyOptions {
        limit: limit(&map)?.flatten(),
        limit_reset: reset(&map)?.flatten(),
        include_byok_in_limit: fields::boolean(&map, "include_byok_in_limit")?.unwrap_or(false),
        expires_at: match fields::nullable(&map, "expires_at").flatten() {
            None => None,
            Some(v) => {
                let at = fields::timestamp("expires_at", v)?;
                if at <= Utc::now() {
                    return Err(ApiError::field(
                        "expires_at",
                        "`expires_at` must be in the future",
                    ));
                }
                Some(at)
            }
        },
    };
    let (secret, key) = state
        .store
        .create_api_key_with(
            &caller.account_id,
            NewApiKey {
                label: name,
                kind: KeyKind::Inference,
            },
            &options,
        )
        .await?;
    let data = info(&state, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": data, "key": secret })),
    )
        .into_response())
}

/// `GET /api/v1/keys/{hash}` → `{data: KeyInfo}`.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authenticate_provisioning(&state.store, &headers).await?;
    let key = managed(&state, &caller, &hash).await?;
    let data = info(&state, &key).await?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `PATCH /api/v1/keys/{hash}` `{name?, disabled?, limit?, limit_reset?,
/// include_byok_in_limit?}` → `{data: KeyInfo}`. `null` clears `limit` and
/// `limit_reset`; an absent field is left as it is.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate_provisioning(&state.store, &headers).await?;
    let map = fields::object(body, state.server.max_body_bytes)?;
    if map.contains_key("expires_at") {
        return Err(ApiError::field(
            "expires_at",
            "`expires_at` is set when a key is created and cannot be changed",
        ));
    }
    let update = UpdateKey {
        name: map
            .get("name")
            .map(|v| fields::name_value("name", v))
            .transpose()?,
        disabled: fields::boolean(&map, "disabled")?,
        limit: limit(&map)?,
        limit_reset: reset(&map)?,
        include_byok_in_limit: fields::boolean(&map, "include_byok_in_limit")?,
    };
    let key = managed(&state, &caller, &hash).await?;
    let key = state
        .store
        .update_api_key(&key.hash, &caller.account_id, &update)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("API key `{hash}` not found")))?;
    // This instance stops trusting its cached copy at once (others within
    // the cache's TTL).
    state.keys.forget(&key.hash);
    state.books.invalidate();
    let data = info(&state, &key).await?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `DELETE /api/v1/keys/{hash}` → `{deleted: true}`. The key stops
/// authenticating; its history (ledger, generations) stays.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let caller = authenticate_provisioning(&state.store, &headers).await?;
    let key = managed(&state, &caller, &hash).await?;
    if !state
        .store
        .delete_api_key(&key.hash, &caller.account_id)
        .await?
    {
        return Err(ApiError::NotFound(format!("API key `{hash}` not found")));
    }
    state.keys.forget(&key.hash);
    Ok(Json(json!({ "deleted": true })).into_response())
}

/// `limit`: absent, `null` (no limit) or a non-negative number of USD.
fn limit(map: &Map<String, Value>) -> Result<Option<Option<rust_decimal::Decimal>>, ApiError> {
    fields::nullable(map, "limit")
        .map(|v| v.map(|v| fields::usd("limit", v, false, false)).transpose())
        .transpose()
}

/// `limit_reset`: absent, `null` (never) or a period.
fn reset(map: &Map<String, Value>) -> Result<Option<Option<tollgate_store::LimitReset>>, ApiError> {
    fields::nullable(map, "limit_reset")
        .map(|v| v.map(|v| fields::limit_reset("limit_reset", v)).transpose())
        .transpose()
}
