//! The Gemini dialect: `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent` (`?alt=sse`, else a streamed JSON array),
//! `:countTokens`, `:embedContent` and `:batchEmbedContents`;
//! `GET /v1beta/models` and `GET /v1beta/models/{model}`, shaped like
//! generativelanguage.googleapis.com.
//!
//! As for the other dialects, requests are read as raw JSON and responses
//! written with `json!`. `request` reads and validates, `render` writes,
//! `error` renders failures; this file wires them to routes over the shared
//! behaviour core.

mod error;
mod render;
mod request;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use self::error::ApiError;
pub use self::render::finish_reason;
use self::render::{Framing, Meta};
pub use self::request::{conversation, reply_for};
use super::common::{self, StreamPlan, Wire};
use super::conn::ConnKill;
use super::stream;
use super::{MockConfig, MockState};

/// How the Gemini dialect reads keys and renders the shared layers' errors.
struct Gemini;

impl Wire for Gemini {
    fn presented_key(request: &Request) -> Option<String> {
        if let Some(key) = request.headers().get("x-goog-api-key") {
            return key.to_str().ok().map(|k| k.trim().to_owned());
        }
        let query = Query::<HashMap<String, String>>::try_from_uri(request.uri()).ok()?;
        query.0.get("key").cloned()
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

    fn stream_error_message() -> &'static str {
        "The model is overloaded. Please try again later."
    }

    fn too_large() -> Response {
        ApiError::too_large().into_response()
    }

    fn overloaded() -> Response {
        ApiError::status(503).into_response()
    }
}

/// The router of the Gemini dialect.
pub(crate) fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1beta/models", get(list_models))
        .route("/v1beta/models/{name}", get(get_model).post(model_action))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::gate::<Gemini>,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::record::<Gemini>,
        ))
        .with_state(state)
}

/// `POST /v1beta/models/{model}:{method}`.
async fn model_action(
    State(state): State<MockState>,
    Extension(kill): Extension<ConnKill>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some((model, method)) = name.rsplit_once(':') else {
        return Err(not_found().await);
    };
    match method {
        "generateContent" => generate(&state, &kill, model, None, &body).await,
        "streamGenerateContent" => {
            let framing = match query.get("alt").map(String::as_str) {
                Some("sse") => Framing::Sse,
                _ => Framing::JsonArray,
            };
            generate(&state, &kill, model, Some(framing), &body).await
        }
        "countTokens" => count_tokens(&state, model, &body),
        "embedContent" => embed(&state, &kill, model, &body, false).await,
        "batchEmbedContents" => embed(&state, &kill, model, &body, true).await,
        _ => Err(not_found().await),
    }
}

async fn generate(
    state: &MockState,
    kill: &ConnKill,
    model: &str,
    framing: Option<Framing>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(body)?;
    request::validate(&request)?;
    let method = if framing.is_some() {
        "streamGenerateContent"
    } else {
        "generateContent"
    };
    let model = check_model(state, &config, model, method)?;
    let reply = reply_for(&request);
    if let Some(limit) = config.context_length
        && reply.usage.prompt_tokens > limit
    {
        return Err(ApiError::invalid(format!(
            "The input token count ({}) exceeds the maximum number of tokens allowed ({limit}).",
            reply.usage.prompt_tokens
        )));
    }
    let meta = Meta::new(state, &model, request::include_thoughts(&request));
    let stream = framing.map(|framing| {
        let frames = render::frames(&meta, &reply, framing);
        let chunks = stream::content_count(&frames);
        let before_error = reply
            .directives
            .stream_error
            .map_or(0, |n| (n as u64).min(chunks));
        StreamPlan {
            frames,
            error: render::stream_error(framing, before_error == 0),
            content_type: framing.content_type(),
        }
    });
    Ok(
        common::answer::<Gemini>(state, &config, kill, &reply, stream, || {
            render::response_json(&meta, &reply)
        })
        .await,
    )
}

/// `countTokens` takes `contents` or a whole `generateContentRequest`.
fn count_tokens(state: &MockState, model: &str, body: &[u8]) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(body)?;
    let inner = request::field(&request, "generateContentRequest").unwrap_or(&request);
    request::validate(inner)?;
    check_model(state, &config, model, "countTokens")?;
    let reply = reply_for(inner);
    Ok(Json(json!({ "totalTokens": reply.usage.prompt_tokens })).into_response())
}

async fn embed(
    state: &MockState,
    kill: &ConnKill,
    model: &str,
    body: &[u8],
    batch: bool,
) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(body)?;
    let body = if batch {
        let requests = request::batch_requests(&request, model)?;
        let mut embeddings = Vec::with_capacity(requests.len());
        for (i, item) in requests.iter().enumerate() {
            let at = format!("BatchEmbedContentsRequest.requests[{i}]");
            let (text, dimensions) = request::embed_request(item, &at)?;
            embeddings.push(render::embedding_json(&text, dimensions));
        }
        json!({ "embeddings": embeddings })
    } else {
        let (text, dimensions) = request::embed_request(&request, "EmbedContentRequest")?;
        json!({ "embedding": render::embedding_json(&text, dimensions) })
    };
    let method = if batch {
        "batchEmbedContents"
    } else {
        "embedContent"
    };
    check_model(state, &config, model, method)?;
    if common::drops(&config) {
        return Ok(common::cut_connection(kill).await);
    }
    Ok(Json(body).into_response())
}

async fn list_models(State(state): State<MockState>) -> Json<Value> {
    let models: Vec<Value> = state
        .listed_models()
        .iter()
        .map(|id| render::model_json(bare(id)))
        .collect();
    Json(json!({ "models": models }))
}

async fn get_model(
    State(state): State<MockState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    let model = bare(&name);
    if config.models.is_empty() || config.models.iter().any(|m| bare(m) == model) {
        Ok(Json(render::model_json(model)))
    } else {
        Err(ApiError::not_found(format!("models/{model} is not found")))
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("The requested URL was not found on this server.")
}

/// A model name without its `models/` prefix.
fn bare(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

/// The requested model; must be one of the configured models (with or
/// without `models/`), if any. Remembered for the model list of a mock
/// without a fixed one.
fn check_model(
    state: &MockState,
    config: &MockConfig,
    model: &str,
    method: &str,
) -> Result<String, ApiError> {
    if !config.models.is_empty() && !config.models.iter().any(|m| bare(m) == model) {
        return Err(ApiError::model_not_found(model, method));
    }
    state.note_model(model);
    Ok(model.to_owned())
}
