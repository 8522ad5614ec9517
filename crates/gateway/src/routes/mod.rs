//! The HTTP routes.

pub(crate) mod chat;
mod completions;
pub(crate) mod cors;
mod embeddings;
mod messages;
mod models;
mod responses;

pub mod access;
mod account;
mod admin;
mod fields;
mod generation;
mod keys;

pub(crate) mod byok;
pub(crate) mod dashboard;
mod oauth;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::ApiError;
use crate::pipeline::{Attempt, attempts_header};
use crate::state::AppState;

/// The application router.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.server.max_body_bytes;
    let api = Router::new()
        .route("/chat/completions", post(chat::chat_completions))
        .route("/completions", post(completions::completions))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/messages", post(messages::messages))
        .route("/messages/count_tokens", post(messages::count_tokens))
        .route("/responses", post(responses::responses))
        .route("/models", get(models::list))
        .route("/models/count", get(models::count))
        .route("/models/user", get(models::user))
        .route("/models/{author}/{slug}", get(models::get))
        .route("/providers", get(models::providers))
        .route("/credits", get(account::credits))
        .route("/key", get(account::key))
        .route("/auth/key", get(account::key))
        .route("/keys", get(keys::list).post(keys::create))
        .route(
            "/keys/{hash}",
            get(keys::get).patch(keys::update).delete(keys::delete),
        )
        .route("/generation", get(generation::generation))
        .route("/activity", get(generation::activity))
        .route(
            "/admin/accounts",
            get(admin::list_accounts).post(admin::create_account),
        )
        .route("/admin/accounts/{id}", get(admin::get_account))
        .route("/admin/accounts/{id}/credits", post(admin::add_credits))
        .route("/admin/catalog/reload", post(admin::reload_catalog))
        .route("/models/{author}/{slug}/endpoints", get(models::endpoints))
        .merge(oauth::api())
        .merge(byok::api());
    // The nested router has no fallback of its own: it inherits the outer
    // one, which sees the full path (a nested fallback sees it stripped of
    // `/api/v1`).
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(crate::observe::scrape))
        .merge(oauth::pages())
        .fallback(not_found)
        // After every route: applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// `GET /health`: liveness. The process answers; nothing else is checked
/// (no database, no upstream), so it stays cheap and a database outage
/// does not get the process restarted.
async fn health() -> Response {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

/// How long `GET /ready` waits for the database.
const READY_DB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /ready`: readiness, for a load balancer. 200 when the database
/// answers, the catalog has models and the gateway is not draining; 503
/// otherwise, naming each check. No key needed, like `/health`; it says
/// nothing about accounts or keys.
async fn ready(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    let draining = state.draining.load(std::sync::atomic::Ordering::Relaxed);
    let database = if draining {
        "skipped"
    } else {
        match tokio::time::timeout(READY_DB_TIMEOUT, state.store.ping()).await {
            Ok(Ok(())) => "ok",
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database does not answer");
                "unreachable"
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer in time");
                "timed out"
            }
        }
    };
    let models = state.routes().catalog.models().len();
    let ready = !draining && database == "ok" && models > 0;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "version": env!("CARGO_PKG_VERSION"),
        "draining": draining,
        "database": database,
        "models": models,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} `{}`", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "method {method} is not allowed for `{}`",
        uri.path()
    ))
}

/// `X-Generation-Id`: the generation's id, also its `id` field.
pub(crate) const GENERATION_ID: HeaderName = HeaderName::from_static("x-generation-id");
/// `x-tollgate-provider`: the slug of the provider that answered.
pub(crate) const PROVIDER: HeaderName = HeaderName::from_static("x-tollgate-provider");
/// `x-tollgate-attempts`: every provider tried and its outcome.
pub(crate) const ATTEMPTS: HeaderName = HeaderName::from_static("x-tollgate-attempts");

/// Sets a header whose value may not be valid header text (then skips it).
pub(crate) fn set(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The error answer once the providers were tried: it lists the attempts,
/// and, since the gateway already failed over, asks SDKs not to retry
/// (openai-python retries 5xx twice unless `x-should-retry: false`). A 429
/// stays retryable: it carries `retry-after`.
pub(crate) fn failed(e: ApiError, attempts: &[Attempt]) -> Response {
    let retryable = e.status() == StatusCode::TOO_MANY_REQUESTS;
    let mut resp = e.into_response();
    if !attempts.is_empty() {
        let h = resp.headers_mut();
        set(h, ATTEMPTS, &attempts_header(attempts));
        if !retryable {
            h.insert(
                HeaderName::from_static("x-should-retry"),
                HeaderValue::from_static("false"),
            );
        }
    }
    resp
}

/// A 200 JSON answer of a served generation, with its identifying headers.
pub(crate) fn generation_json<T: serde::Serialize>(
    value: &T,
    id: &str,
    provider: &str,
    attempts: &[Attempt],
) -> Result<Response, ApiError> {
    let json = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(generation_body(json, id, provider, attempts))
}

/// [`generation_json`] of an answer already encoded.
pub(crate) fn generation_body(
    json: Vec<u8>,
    id: &str,
    provider: &str,
    attempts: &[Attempt],
) -> Response {
    let mut resp = (StatusCode::OK, json).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(h, GENERATION_ID, id);
    set(h, PROVIDER, provider);
    set(h, ATTEMPTS, &attempts_header(attempts));
    resp
}
