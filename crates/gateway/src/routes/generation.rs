//! `GET /api/v1/generation?id=` (one generation's record) and
//! `GET /api/v1/activity` (daily usage per model and provider). Both accept
//! any key of the account, inference or provisioning: OpenRouter asks a
//! management key for `/activity`, but on a self-hosted gateway the
//! account's own keys may see its activity, and clients fetch generation
//! stats with the key they generated with.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate, NaiveTime, Utc};
use serde_json::{Value, json};
use tollgate_store::{ActivityRow, GenerationRecord};

use super::access::authenticate_any;
use super::fields::{self, usd_json, usd_json_opt};
use crate::error::ApiError;
use crate::state::AppState;

/// Completed UTC days `GET /activity` covers without a `date`.
const ACTIVITY_DAYS: u64 = 30;

/// The `data` of `GET /generation` (WIRE-NOTES §3). Fields Tollgate does
/// not track are `null` (so is `cache_discount` when the prompt used no
/// cache); `provider`, `app_title`,
/// `native_tokens_cache_write`, `attempts`, `transforms` and `error` are
/// Tollgate's additions.
pub(crate) fn generation_json(g: &GenerationRecord) -> Value {
    // In two parts: one `json!` of every field passes the macro's
    // recursion limit.
    let mut data = json!({
        "id": g.id,
        "upstream_id": g.upstream_id,
        "total_cost": usd_json(g.total_cost),
        "cache_discount": usd_json_opt(g.cache_discount),
        "upstream_inference_cost": usd_json_opt(g.upstream_inference_cost),
        "usage": usd_json(g.total_cost),
        "created_at": fields::iso(g.created_at),
        "model": g.model,
        "app_id": Value::Null,
        "streamed": g.streamed,
        "cancelled": g.cancelled,
        "provider_name": g.provider_name,
        "latency": g.latency_ms,
        "moderation_latency": g.moderation_latency_ms,
        "generation_time": g.generation_time_ms,
        "finish_reason": g.finish_reason,
        "native_finish_reason": g.native_finish_reason,
        "tokens_prompt": g.tokens_prompt,
        "tokens_completion": g.tokens_completion,
        "native_tokens_prompt": g.native_tokens_prompt,
        "native_tokens_completion": g.native_tokens_completion,
        "native_tokens_completion_images": Value::Null,
        "native_tokens_reasoning": g.native_tokens_reasoning,
        "native_tokens_cached": g.native_tokens_cached,
        "num_media_prompt": g.num_media_prompt,
        "num_input_audio_prompt": Value::Null,
        "num_media_completion": Value::Null,
        "num_search_results": g.num_search_results,
        "num_fetches": Value::Null,
    });
    let rest = json!({
        "origin": g.origin.as_deref().unwrap_or_default(),
        "is_byok": g.is_byok,
        "api_type": g.api_type.as_str(),
        "router": g.router,
        "external_user": g.external_user,
        "http_referer": g.origin,
        "user_agent": g.user_agent,
        "preset_id": Value::Null,
        "provider_responses": Value::Null,
        "data_region": "global",
        "service_tier": Value::Null,
        "web_search_engine": g.web_search_engine,
        "workspace_id": Value::Null,
        "request_id": g.request_id,
        "session_id": g.session_id,
        "response_cache_source_id": Value::Null,
        "provider": g.provider,
        "app_title": g.app_title,
        "native_tokens_cache_write": g.native_tokens_cache_write,
        "attempts": g.attempts.iter().map(|a| json!({
            "provider": a.provider,
            "outcome": a.outcome,
        })).collect::<Vec<_>>(),
        "transforms": g.transforms,
        "error": g.error,
    });
    if let (Some(data), Value::Object(rest)) = (data.as_object_mut(), rest) {
        data.extend(rest);
    }
    data
}

/// One line of `GET /activity`. Tollgate has no permaslugs or endpoint
/// ids: `model_permaslug` is the model id and `endpoint_id` is
/// `<provider slug>:<model id>`.
pub(crate) fn activity_json(r: &ActivityRow) -> Value {
    json!({
        "date": r.date.format("%Y-%m-%d").to_string(),
        "model": r.model,
        "model_permaslug": r.model,
        "endpoint_id": format!("{}:{}", r.provider, r.model),
        "provider_name": r.provider_name,
        "usage": usd_json(r.usage),
        "byok_usage_inference": usd_json(r.byok_usage_inference),
        "requests": r.requests,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "reasoning_tokens": r.reasoning_tokens,
    })
}

/// `GET /api/v1/generation?id=gen-...` → `{data: {...}}`; 404 until the
/// generation is recorded (clients retry), and for another account's.
pub(crate) async fn generation(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = authenticate_any(&state.store, &headers).await?;
    let q = fields::query(q)?;
    let id = q
        .get("id")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("id", "`id` is required: the generation id, gen-..."))?;
    if !fields::can_be_id(id) {
        return Err(ApiError::NotFound(format!("generation `{id}` not found")));
    }
    state.books.flush().await;
    let g = state
        .store
        .get_generation(id, &key.account_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("generation `{id}` not found")))?;
    Ok(Json(json!({ "data": generation_json(&g) })).into_response())
}

/// `GET /api/v1/activity?date=YYYY-MM-DD&api_key_hash=` → `{data: [...]}`:
/// the account's last 30 completed UTC days (today excluded), or the one
/// `date` given (any day up to today; today's figures are partial), per
/// day, model and provider; only one key's with `api_key_hash`.
pub(crate) async fn activity(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let key = authenticate_any(&state.store, &headers).await?;
    let q = fields::query(q)?;
    state.books.flush().await;
    let today = Utc::now().date_naive();
    let bad_date = || {
        ApiError::field(
            "date",
            "`date` must be a UTC date in the form YYYY-MM-DD, not in the future",
        )
    };
    let (first, last) = match q.get("date").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(s) => {
            let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad_date())?;
            if day > today {
                return Err(bad_date());
            }
            (day, day)
        }
        None => (
            today
                .checked_sub_days(Days::new(ACTIVITY_DAYS))
                .unwrap_or(today),
            today.pred_opt().unwrap_or(today),
        ),
    };
    let start = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
    let until = last.succ_opt().map(start).unwrap_or_else(|| start(last));
    let by_key = q
        .get("api_key_hash")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    if by_key.is_some_and(|h| !fields::can_be_id(h)) {
        return Ok(Json(json!({ "data": [] })).into_response());
    }
    let rows = state
        .store
        .activity(&key.account_id, start(first), until, by_key)
        .await?;
    let data: Vec<Value> = rows.iter().map(activity_json).collect();
    Ok(Json(json!({ "data": data })).into_response())
}
