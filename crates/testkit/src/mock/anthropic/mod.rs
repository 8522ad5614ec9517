//! The Anthropic dialect: `POST /v1/messages` (streamed and not),
//! `POST /v1/messages/count_tokens`, `GET /v1/models` and
//! `GET /v1/models/{id}`, shaped like api.anthropic.com.
//!
//! As for the other dialects, requests are read as raw JSON and responses
//! written with `json!`. `request` reads and validates, `render` writes,
//! `error` renders failures; this file wires them to routes over the shared
//! behaviour core.

mod error;
mod render;
mod request;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use self::error::ApiError;
pub use self::render::stop_reason;
use self::request::CacheUse;
pub use self::request::{cache_prefix_tokens, conversation, reply_for};
use super::common::{self, StreamPlan, Wire};
use super::conn::ConnKill;
use super::{MockConfig, MockState};

/// The content type of Anthropic streams.
const SSE: &str = "text/event-stream; charset=utf-8";

/// How the Anthropic dialect reads keys and renders the shared layers'
/// errors.
struct Anthropic;

impl Wire for Anthropic {
    fn presented_key(request: &Request) -> Option<String> {
        let key = request.headers().get("x-api-key")?.to_str().ok()?;
        Some(key.trim().to_owned())
    }

    fn missing_key() -> Response {
        ApiError::missing_key().into_response()
    }

    fn wrong_key(_key: &str) -> Response {
        ApiError::wrong_key().into_response()
    }

    fn status(code: u16) -> Response {
        ApiError::status(code).into_response()
    }

    fn status_with_message(code: u16, message: &str) -> Response {
        ApiError::status(code).with_message(message).into_response()
    }

    /// Anthropic's content filtering refusal.
    fn content_filter() -> Response {
        ApiError::status(400)
            .with_message("Output blocked by content filtering policy")
            .into_response()
    }

    fn stream_error_message() -> &'static str {
        "Overloaded"
    }

    fn too_large() -> Response {
        ApiError::too_large().into_response()
    }

    fn overloaded() -> Response {
        ApiError::status(error::OVERLOADED).into_response()
    }

    fn request_id_headers() -> &'static [&'static str] {
        &["request-id", "x-request-id"]
    }
}

/// The router of the Anthropic dialect.
pub(crate) fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn(require_version))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::gate::<Anthropic>,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::record::<Anthropic>,
        ))
        .with_state(state)
}

/// Every request must name an API version in `anthropic-version`.
async fn require_version(request: Request, next: Next) -> Response {
    if request.headers().contains_key("anthropic-version") {
        next.run(request).await
    } else {
        ApiError::missing_version().into_response()
    }
}

async fn messages(
    State(state): State<MockState>,
    Extension(kill): Extension<ConnKill>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(&body)?;
    let model = request::model(&request)?;
    request::validate(&request, false)?;
    let model = check_model(&state, &config, model)?;
    let mut reply = reply_for(&request);
    if let Some(limit) = config.context_length
        && reply.usage.prompt_tokens > limit
    {
        return Err(ApiError::invalid(format!(
            "prompt is too long: {} tokens > {limit} maximum",
            reply.usage.prompt_tokens
        )));
    }
    let cache = CacheUse::look_up(&state, &request);
    cache.apply(&mut reply.usage);
    if reply.directives.status.is_none() {
        cache.commit(&state);
    }
    let ids = render::Ids::new(&state, &model);
    let stream = request::is_stream(&request).then(|| StreamPlan {
        frames: render::frames(&ids, &reply),
        error: vec![render::stream_error()],
        content_type: SSE,
    });
    Ok(
        common::answer::<Anthropic>(&state, &config, &kill, &reply, stream, || {
            render::message_json(&ids, &reply)
        })
        .await,
    )
}

async fn count_tokens(
    State(state): State<MockState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    let request = request::parse_object(&body)?;
    let model = request::model(&request)?;
    request::validate(&request, true)?;
    check_model(&state, &config, model)?;
    let reply = reply_for(&request);
    Ok(Json(json!({ "input_tokens": reply.usage.prompt_tokens })))
}

async fn list_models(State(state): State<MockState>) -> Json<Value> {
    let models = state.listed_models();
    let data: Vec<Value> = models.iter().map(|id| render::model_json(id)).collect();
    Json(json!({
        "data": data,
        "has_more": false,
        "first_id": models.first(),
        "last_id": models.last(),
    }))
}

async fn get_model(
    State(state): State<MockState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    if config.models.is_empty() || config.models.contains(&id) {
        Ok(Json(render::model_json(&id)))
    } else {
        Err(ApiError::not_found(format!("model: {id}")))
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

/// The requested model; must be one of the configured models, if any.
/// Remembered for the model list of a mock without a fixed one.
fn check_model(state: &MockState, config: &MockConfig, model: &str) -> Result<String, ApiError> {
    if !config.models.is_empty() && !config.models.iter().any(|m| m == model) {
        return Err(ApiError::not_found(format!("model: {model}")));
    }
    state.note_model(model);
    Ok(model.to_owned())
}
