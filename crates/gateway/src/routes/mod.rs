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
pub(crate) mod oauth;
mod openapi;

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router};

use crate::error::ApiError;
use crate::pipeline::{Attempt, attempts_header};
use crate::state::AppState;

/// The application router, built from [`table`]. The body limit
/// (`DefaultBodyLimit`, `server.max_body_bytes`) is among the middleware
/// [`crate::Gateway::router`] puts around it.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new();
    // A path routed twice merges the two method routers.
    for route in table() {
        app = app.route(route.path, route.handler);
    }
    app.fallback(not_found)
        // After every route: applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Every route of the gateway, one method of one path each: the router is
/// built from this list and the OpenAPI document (`routes::openapi`) must
/// describe each entry, which a test checks.
pub(crate) fn table() -> Vec<Route> {
    use Verb::{Delete, Get, Patch, Post};
    let mut routes = vec![
        Route::new(Post, "/api/v1/chat/completions", chat::chat_completions),
        Route::new(Post, "/api/v1/completions", completions::completions),
        Route::new(Post, "/api/v1/embeddings", embeddings::embeddings),
        Route::new(Post, "/api/v1/messages", messages::messages),
        Route::new(
            Post,
            "/api/v1/messages/count_tokens",
            messages::count_tokens,
        ),
        Route::new(Post, "/api/v1/responses", responses::responses),
        Route::new(Get, "/api/v1/models", models::list),
        Route::new(Get, "/api/v1/models/count", models::count),
        Route::new(Get, "/api/v1/models/user", models::user),
        Route::new(Get, "/api/v1/models/{author}/{slug}", models::get),
        Route::new(
            Get,
            "/api/v1/models/{author}/{slug}/endpoints",
            models::endpoints,
        ),
        Route::new(Get, "/api/v1/providers", models::providers),
        Route::new(Get, "/api/v1/credits", account::credits),
        Route::new(Get, "/api/v1/key", account::key),
        Route::new(Get, "/api/v1/auth/key", account::key),
        Route::new(Get, "/api/v1/keys", keys::list),
        Route::new(Post, "/api/v1/keys", keys::create),
        Route::new(Get, "/api/v1/keys/{hash}", keys::get),
        Route::new(Patch, "/api/v1/keys/{hash}", keys::update),
        Route::new(Delete, "/api/v1/keys/{hash}", keys::delete),
        Route::new(Get, "/api/v1/generation", generation::generation),
        Route::new(Get, "/api/v1/activity", generation::activity),
        Route::new(Get, "/api/v1/admin/accounts", admin::list_accounts),
        Route::new(Post, "/api/v1/admin/accounts", admin::create_account),
        Route::new(Get, "/api/v1/admin/accounts/{id}", admin::get_account),
        Route::new(
            Post,
            "/api/v1/admin/accounts/{id}/credits",
            admin::add_credits,
        ),
        Route::new(Post, "/api/v1/admin/catalog/reload", admin::reload_catalog),
        Route::new(Get, "/api/v1/openapi.json", openapi::serve),
        Route::new(Get, "/openapi.json", openapi::serve),
        Route::new(Get, "/health", health),
        Route::new(Get, "/ready", ready),
        Route::new(Get, "/metrics", crate::observe::scrape),
    ];
    routes.extend(oauth::routes());
    routes.extend(byok::routes());
    routes
}

/// Every method and path the router answers, as (`"GET"`,
/// `"/api/v1/models"`), paths in the `{param}` syntax.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    table().iter().map(|r| (r.verb.as_str(), r.path)).collect()
}

/// The methods routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Verb {
    /// The method's name, as in `GET`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
            Verb::Options => "OPTIONS",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
            Verb::Options => MethodFilter::OPTIONS,
        }
    }
}

/// One method of one path and its handler.
pub(crate) struct Route {
    pub(crate) verb: Verb,
    /// The full path, in axum's `{param}` syntax (also OpenAPI's).
    pub(crate) path: &'static str,
    handler: MethodRouter<Arc<AppState>>,
}

impl Route {
    /// `handler` answers `verb` on `path` (and only that method, so the
    /// documented method is the routed one).
    pub(crate) fn new<H, T>(verb: Verb, path: &'static str, handler: H) -> Route
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        Route {
            verb,
            path,
            handler: on(verb.filter(), handler),
        }
    }

    /// The route with `layer` around its handler.
    pub(crate) fn layer<L>(self, layer: L) -> Route
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<axum::extract::Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Response: IntoResponse + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Error:
            Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        Route {
            handler: self.handler.layer(layer),
            ..self
        }
    }
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
