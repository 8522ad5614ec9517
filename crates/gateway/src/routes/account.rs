//! What a key can learn about itself and its account: `GET /api/v1/key`
//! (and its older alias `GET /api/v1/auth/key`) and `GET /api/v1/credits`.
//! Both accept inference and provisioning keys.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};
use tollgate_store::KeyKind;

use super::access::authenticate_any;
use super::fields::{iso_opt, usd_json, usd_json_opt};
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/v1/credits` → `{data: {total_credits, total_usage}}` (USD) of
/// the key's account: what was bought (top-ups, refunds, adjustments) and
/// what was charged (settled charges and fees; requests in flight are not
/// usage yet).
pub(crate) async fn credits(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = authenticate_any(&state.store, &headers).await?;
    let balance = state.books.balance(&key.account_id).await?;
    Ok(Json(json!({
        "data": {
            "total_credits": usd_json(balance.total_credits),
            "total_usage": usd_json(balance.total_usage),
        }
    }))
    .into_response())
}

/// `GET /api/v1/key` → `{data: {...}}` of WIRE-NOTES §3: the key's limit,
/// usage per period (settled charges; BYOK usage apart), whether the
/// account ever bought credits (`is_free_tier`), the key's kind. The
/// `rate_limit` object is deprecated upstream and always `-1`.
pub(crate) async fn key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = authenticate_any(&state.store, &headers).await?;
    let usage = state
        .books
        .key_usage(&key.hash, Utc::now())
        .await?
        .ok_or_else(|| ApiError::Unauthorized(String::from("Invalid API key")))?;
    let bought = state.store.total_top_ups(&key.account_id).await?;
    let provisioning = key.kind == KeyKind::Provisioning;
    Ok(Json(json!({
        "data": {
            "label": key.display_label(),
            "limit": usd_json_opt(key.limit),
            "limit_remaining": usd_json_opt(usage.limit_remaining),
            "limit_reset": key.limit_reset.map(|r| r.as_str()),
            "usage": usd_json(usage.usage),
            "usage_daily": usd_json(usage.usage_daily),
            "usage_weekly": usd_json(usage.usage_weekly),
            "usage_monthly": usd_json(usage.usage_monthly),
            "byok_usage": usd_json(usage.byok_usage),
            "byok_usage_daily": usd_json(usage.byok_usage_daily),
            "byok_usage_weekly": usd_json(usage.byok_usage_weekly),
            "byok_usage_monthly": usd_json(usage.byok_usage_monthly),
            "include_byok_in_limit": key.include_byok_in_limit,
            "is_free_tier": bought.is_zero(),
            "is_management_key": provisioning,
            "is_provisioning_key": provisioning,
            "creator_user_id": Value::Null,
            "expires_at": iso_opt(key.expires_at),
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }
    }))
    .into_response())
}
