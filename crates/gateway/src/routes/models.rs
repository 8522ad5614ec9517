//! The Models API: `GET /models` (filters, sort, pagination),
//! `GET /models/count`, `GET /models/user`, `GET /models/{author}/{slug}`
//! and `GET /models/{author}/{slug}/endpoints`, and `GET /providers`.

use std::cmp::{Ordering, Reverse};
use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::models::{Model, PerRequestLimits};

use super::access::authenticate_any;
use super::fields;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest `limit` (the OpenAPI document's maximum).
const MAX_LIMIT: usize = 1000;
/// `limit` when only `offset` is given.
const DEFAULT_LIMIT: usize = 500;

/// `GET /models`: every model in the Models API format; with query
/// parameters, filtered, sorted and paginated (see [`ModelQuery`]). With a
/// valid key, `per_request_limits` says what the caller can afford.
pub async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = fields::query(q)?;
    let budget = optional_budget(&state, &headers).await?;
    if q.is_empty() && budget.is_none() {
        // The common case, served from the list built at (re)load.
        let mut resp = state.routes().models_json.clone().into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(resp);
    }
    let query = ModelQuery::parse(&q, true)?;
    Ok(Json(listing(&state, &query, budget, "/api/v1/models")).into_response())
}

/// `GET /models/user`: the models the caller's key can use, filtered by the
/// account's provider preferences (Tollgate keeps none per account, so it
/// is `/models` for an authenticated caller), with `per_request_limits`.
pub async fn user(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let budget = caller_budget(&state, &headers).await?;
    let q = fields::query(q)?;
    let query = ModelQuery::parse(&q, true)?;
    Ok(Json(listing(&state, &query, Some(budget), "/api/v1/models/user")).into_response())
}

/// `GET /models/count` → `{data: {count}}`, with the same filters as
/// `/models` (`output_modalities` and the others; no pagination).
pub async fn count(
    State(state): State<Arc<AppState>>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = fields::query(q)?;
    let query = ModelQuery::parse(&q, false)?;
    let routes = state.routes();
    let count = routes
        .catalog
        .models_api()
        .data
        .iter()
        .filter(|m| query.matches(m))
        .count();
    Ok(Json(json!({ "data": { "count": count } })).into_response())
}

/// `GET /models/{author}/{slug}` → `{data: <model>}`, the entry `/models`
/// lists for it (openai-python's `models.retrieve("author/slug")` calls
/// this path); 404 for an unknown model.
pub async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((author, slug)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = format!("{author}/{slug}");
    let model = state
        .routes()
        .catalog
        .model(&id)
        .map(tollgate_catalog::CatalogModel::to_api)
        .ok_or_else(|| ApiError::NotFound(format!("model `{id}` not found")))?;
    let mut model = model;
    if let Some(budget) = optional_budget(&state, &headers).await? {
        model.per_request_limits = per_request_limits(&model, budget);
    }
    Ok(Json(json!({ "data": model })).into_response())
}

/// The endpoints of one model.
pub async fn endpoints(
    State(state): State<Arc<AppState>>,
    Path((author, slug)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = format!("{author}/{slug}");
    let list = state
        .routes()
        .catalog
        .endpoints_api_with(&id, |ep| state.api_health(ep))
        .ok_or_else(|| ApiError::NotFound(format!("model `{id}` not found")))?;
    Ok(Json(list).into_response())
}

/// The configured providers and their data policies.
pub async fn providers(State(state): State<Arc<AppState>>) -> Response {
    Json(state.routes().catalog.providers_api()).into_response()
}

/// What the caller may spend on one request: the account's available
/// balance, capped by what remains of the key's limit.
async fn caller_budget(state: &AppState, headers: &HeaderMap) -> Result<Decimal, ApiError> {
    let key = authenticate_any(&state.store, headers).await?;
    let balance = state.books.balance(&key.account_id).await?;
    let mut budget = balance.available.max(Decimal::ZERO);
    if let Some(usage) = state.books.key_usage(&key.hash, Utc::now()).await?
        && let Some(remaining) = usage.limit_remaining
    {
        budget = budget.min(remaining.max(Decimal::ZERO));
    }
    Ok(budget)
}

/// [`caller_budget`] on the public listings: `None` without a key, and
/// with one that does not authenticate (SDKs send whatever key they were
/// given, even to public routes), so the listing still answers.
async fn optional_budget(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Decimal>, ApiError> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    match caller_budget(state, headers).await {
        Ok(budget) => Ok(Some(budget)),
        Err(ApiError::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The largest prompt and completion `budget` pays for at the model's
/// listed prices (each alone); `None` for a free model (no limit).
fn per_request_limits(model: &Model, budget: Decimal) -> Option<PerRequestLimits> {
    let afford = |price: Decimal, otherwise: u64| -> u64 {
        if price <= Decimal::ZERO {
            return otherwise;
        }
        (budget / price).floor().to_u64().unwrap_or(u64::MAX)
    };
    let (prompt, completion) = (model.pricing.prompt, model.pricing.completion);
    if prompt <= Decimal::ZERO && completion <= Decimal::ZERO {
        return None;
    }
    Some(PerRequestLimits {
        prompt_tokens: afford(prompt, model.context_length),
        completion_tokens: afford(
            completion,
            model
                .top_provider
                .max_completion_tokens
                .unwrap_or(model.context_length),
        ),
        extra: Extra::new(),
    })
}

/// The `/models` list for `query`: filtered, sorted, paginated, with
/// `total_count` (models matching, before pagination) and `links.next`.
fn listing(state: &AppState, query: &ModelQuery, budget: Option<Decimal>, path: &str) -> Value {
    let routes = state.routes();
    let catalog = &routes.catalog;
    let mut models: Vec<Model> = catalog
        .models_api()
        .data
        .into_iter()
        .filter(|m| query.matches(m))
        .collect();
    match query.sort {
        Sort::Default => {}
        Sort::PriceLowToHigh => models.sort_by_key(average_price),
        Sort::PriceHighToLow => models.sort_by_key(|m| Reverse(average_price(m))),
        Sort::ContextHighToLow => models.sort_by_key(|m| Reverse(m.context_length)),
        Sort::Newest => models.sort_by_key(|m| Reverse(m.created)),
        Sort::ThroughputHighToLow | Sort::LatencyLowToHigh => {
            let throughput = query.sort == Sort::ThroughputHighToLow;
            // The best median of the model's endpoints; models with no
            // measurement go last.
            let measure = |m: &Model| -> Option<f64> {
                let model = catalog.model(&m.id)?;
                model
                    .endpoints
                    .iter()
                    .filter_map(|ep| {
                        let h = state.api_health(ep);
                        let p = if throughput {
                            h.throughput_last_30m
                        } else {
                            h.latency_last_30m
                        };
                        p.map(|p| if throughput { -p.p50 } else { p.p50 })
                    })
                    .filter(|v| v.is_finite())
                    .min_by(f64::total_cmp)
            };
            let mut keyed: Vec<(Option<f64>, Model)> =
                models.into_iter().map(|m| (measure(&m), m)).collect();
            keyed.sort_by(|(a, _), (b, _)| match (a, b) {
                (Some(a), Some(b)) => a.total_cmp(b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            });
            models = keyed.into_iter().map(|(_, m)| m).collect();
        }
    }
    let total = models.len();
    let (page, next) = match query.page {
        None => (models, None),
        Some((offset, limit)) => {
            let next = (offset.saturating_add(limit) < total)
                .then(|| query.next_link(path, offset.saturating_add(limit), limit));
            let page = models.into_iter().skip(offset).take(limit).collect();
            (page, next)
        }
    };
    let data: Vec<Model> = page
        .into_iter()
        .map(|mut m| {
            if let Some(budget) = budget {
                m.per_request_limits = per_request_limits(&m, budget);
            }
            m
        })
        .collect();
    json!({
        "data": data,
        "total_count": total,
        "links": { "next": next },
    })
}

/// Prompt plus completion price (the order of their average).
fn average_price(m: &Model) -> Decimal {
    m.pricing.prompt + m.pricing.completion
}

/// `sort` of `/models`. The popularity and benchmark orders have no data in
/// a self-hosted catalog: every model is "without a score", so they keep
/// the default order (by id), as the OpenAPI document says of unscored
/// models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Sort {
    #[default]
    Default,
    PriceLowToHigh,
    PriceHighToLow,
    ContextHighToLow,
    ThroughputHighToLow,
    LatencyLowToHigh,
    Newest,
}

/// The use-case categories the OpenAPI document lists for `category`.
const CATEGORIES: [&str; 12] = [
    "programming",
    "roleplay",
    "marketing",
    "marketing/seo",
    "technology",
    "science",
    "translation",
    "legal",
    "finance",
    "health",
    "trivia",
    "academia",
];

/// The query of `/models`, `/models/user` and `/models/count`.
#[derive(Debug, Default)]
struct ModelQuery {
    /// `supported_parameters`: every one must be supported.
    supported_parameters: Vec<String>,
    /// `input_modalities`: every one must be accepted.
    input_modalities: Vec<String>,
    /// `output_modalities`: the model must produce one of them; `None`
    /// (absent or `all`) for every model.
    output_modalities: Option<Vec<String>>,
    /// `q`: a case-insensitive substring of the id or name.
    text: Option<String>,
    /// `category`: the catalog classifies no model, so none matches.
    category: Option<String>,
    sort: Sort,
    /// `offset` and `limit`; `None` when both are absent (the whole list).
    page: Option<(usize, usize)>,
    /// The query as given, for `links.next`.
    raw: Vec<(String, String)>,
}

/// A comma-separated list, trimmed, lowercased, empties dropped.
fn list_param(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

impl ModelQuery {
    fn parse(q: &HashMap<String, String>, paginated: bool) -> Result<ModelQuery, ApiError> {
        let mut query = ModelQuery::default();
        if let Some(v) = q.get("supported_parameters") {
            query.supported_parameters = list_param(v);
        }
        if let Some(v) = q.get("input_modalities") {
            query.input_modalities = list_param(v);
        }
        if let Some(v) = q.get("output_modalities") {
            let list = list_param(v);
            if !list.iter().any(|m| m == "all") && !list.is_empty() {
                query.output_modalities = Some(list);
            }
        }
        query.text = q
            .get("q")
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        if let Some(c) = q.get("category").filter(|c| !c.is_empty()) {
            if !CATEGORIES.contains(&c.as_str()) {
                return Err(ApiError::field(
                    "category",
                    format!("`category` must be one of {}", CATEGORIES.join(", ")),
                ));
            }
            query.category = Some(c.clone());
        }
        query.sort = match q.get("sort").map(String::as_str) {
            None | Some("") => Sort::Default,
            Some("pricing-low-to-high") => Sort::PriceLowToHigh,
            Some("pricing-high-to-low") => Sort::PriceHighToLow,
            Some("context-high-to-low") => Sort::ContextHighToLow,
            Some("throughput-high-to-low") => Sort::ThroughputHighToLow,
            Some("latency-low-to-high") => Sort::LatencyLowToHigh,
            Some("newest") => Sort::Newest,
            Some(
                "most-popular"
                | "top-weekly"
                | "intelligence-high-to-low"
                | "coding-high-to-low"
                | "agentic-high-to-low"
                | "design-arena-elo-high-to-low",
            ) => Sort::Default,
            Some(other) => {
                return Err(ApiError::field(
                    "sort",
                    format!(
                        "`sort` `{other}` is not a known order (pricing-low-to-high, newest, ...)"
                    ),
                ));
            }
        };
        if paginated {
            let offset = q.get("offset").filter(|s| !s.is_empty());
            let limit = q.get("limit").filter(|s| !s.is_empty());
            if offset.is_some() || limit.is_some() {
                let offset = match offset {
                    None => 0,
                    Some(s) => s.parse::<usize>().map_err(|_| {
                        ApiError::field("offset", "`offset` must be a whole number, 0 or more")
                    })?,
                };
                let limit = match limit {
                    None => DEFAULT_LIMIT,
                    Some(s) => s
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::field("limit", "`limit` must be between 1 and 1000")
                        })?,
                };
                query.page = Some((offset, limit));
            }
        }
        let mut raw: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "offset" && k.as_str() != "limit")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        raw.sort();
        query.raw = raw;
        Ok(query)
    }

    fn matches(&self, m: &Model) -> bool {
        if self.category.is_some() {
            return false;
        }
        let has = |list: &[String], want: &str| list.iter().any(|x| x.eq_ignore_ascii_case(want));
        self.supported_parameters
            .iter()
            .all(|p| has(&m.supported_parameters, p))
            && self
                .input_modalities
                .iter()
                .all(|i| has(&m.architecture.input_modalities, i))
            && self.output_modalities.as_ref().is_none_or(|outs| {
                outs.iter()
                    .any(|o| has(&m.architecture.output_modalities, o))
            })
            && self.text.as_ref().is_none_or(|t| {
                m.id.to_lowercase().contains(t) || m.name.to_lowercase().contains(t)
            })
    }

    /// `path?<the same filters>&offset=..&limit=..`.
    fn next_link(&self, path: &str, offset: usize, limit: usize) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.raw {
            ser.append_pair(k, v);
        }
        ser.append_pair("offset", &offset.to_string());
        ser.append_pair("limit", &limit.to_string());
        format!("{path}?{}", ser.finish())
    }
}
