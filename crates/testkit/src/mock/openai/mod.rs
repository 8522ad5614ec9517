//! The OpenAI dialect: `/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings` and `/v1/models`, shaped like api.openai.com.
//!
//! Requests are read as raw JSON (`serde_json::Value`) and responses written
//! with `json!`, on purpose: the mock must not share the gateway's types, so
//! a bug in those types shows up as a mismatch instead of cancelling out.
//! `request` reads, `render` writes, `error` renders failures; this file
//! wires them to routes over the shared behaviour core.

mod error;
mod render;
mod request;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use self::error::ApiError;
use self::render::Ids;
pub use self::request::{completion_reply_for, conversation, reply_for};
use super::behaviour::{Reply, Usage};
use super::common::{self, StreamPlan, Wire};
use super::conn::ConnKill;
use super::{MockConfig, MockState};

/// The content type of OpenAI streams.
const SSE: &str = "text/event-stream";

/// How the OpenAI dialect reads keys and renders the shared layers' errors.
struct OpenAi;

impl Wire for OpenAi {
    fn presented_key(request: &Request) -> Option<String> {
        let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, key) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| key.trim().to_owned())
    }

    fn missing_key() -> Response {
        ApiError::missing_key().into_response()
    }

    fn wrong_key(key: &str) -> Response {
        ApiError::wrong_key(key).into_response()
    }

    fn status(code: u16) -> Response {
        ApiError::status(code).into_response()
    }

    fn status_with_message(code: u16, message: &str) -> Response {
        ApiError::status(code).with_message(message).into_response()
    }

    /// Azure OpenAI's content filter: a 400 naming the filtered categories.
    fn content_filter() -> Response {
        let severity = |filtered: bool, severity: &str| serde_json::json!({"filtered": filtered, "severity": severity});
        let body = serde_json::json!({"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
            "type": null,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": severity(false, "safe"),
                    "self_harm": severity(false, "safe"),
                    "sexual": severity(false, "safe"),
                    "violence": severity(true, "medium"),
                },
            },
        }});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }

    fn stream_error_message() -> &'static str {
        "The server had an error while processing your request. Sorry about that!"
    }

    fn too_large() -> Response {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large or could not be read.",
            "invalid_request_error",
            None,
        )
        .into_response()
    }

    fn overloaded() -> Response {
        ApiError::status(500).into_response()
    }
}

/// The router of the OpenAI dialect.
pub(crate) fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .fallback(invalid_url)
        .method_not_allowed_fallback(invalid_url)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::gate::<OpenAi>,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common::record::<OpenAi>,
        ))
        .with_state(state)
}

// ------------------------------------------------------------------ handlers

async fn chat_completions(
    State(state): State<MockState>,
    Extension(kill): Extension<ConnKill>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(&body)?;
    request::check_messages(&request)?;
    let model = check_model(&state, &config, &request)?;
    request::check_limit(&request, "max_tokens")?;
    request::check_limit(&request, "max_completion_tokens")?;
    let choices = request::choices(&request)?;
    let reply = reply_for(&request);
    if let Some(limit) = config.context_length
        && reply.usage.prompt_tokens > limit
    {
        return Err(ApiError::invalid(
            format!(
                "This model's maximum context length is {limit} tokens. However, your \
                 messages resulted in {} tokens. Please reduce the length of the messages.",
                reply.usage.prompt_tokens
            ),
            "messages",
            "context_length_exceeded",
        ));
    }
    let ids = Ids::new(&state, "chatcmpl", &model);
    let stream = request::is_stream(&request).then(|| StreamPlan {
        frames: render::chat_frames(&ids, request::include_usage(&request), &reply, choices),
        error: vec![render::stream_error()],
        content_type: SSE,
    });
    Ok(
        common::answer::<OpenAi>(&state, &config, &kill, &reply, stream, || {
            render::chat_completion_json(&ids, &reply, choices)
        })
        .await,
    )
}

async fn completions(
    State(state): State<MockState>,
    Extension(kill): Extension<ConnKill>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(&body)?;
    request::prompts(&request)?;
    let model = check_model(&state, &config, &request)?;
    request::check_limit(&request, "max_tokens")?;
    let replies = completion_reply_for(&request);
    // directives, pacing and failures follow the first prompt; usage is
    // summed, then reported as the first prompt's directives say
    let first = replies
        .first()
        .ok_or_else(|| ApiError::wrong_type("prompt", "a string or an array"))?;
    let usage = Usage {
        prompt_tokens: replies.iter().map(|r| r.usage.prompt_tokens).sum(),
        completion_tokens: replies.iter().map(|r| r.usage.completion_tokens).sum(),
        ..Usage::default()
    };
    let summary = Reply {
        usage,
        ..first.clone()
    };
    let reported = summary.reported_usage();
    let ids = Ids::new(&state, "cmpl", &model);
    let stream = request::is_stream(&request).then(|| StreamPlan {
        frames: render::completion_frames(
            &ids,
            request::include_usage(&request),
            &replies,
            reported.as_ref(),
        ),
        error: vec![render::stream_error()],
        content_type: SSE,
    });
    Ok(
        common::answer::<OpenAi>(&state, &config, &kill, &summary, stream, || {
            render::completion_json(&ids, &replies, reported.as_ref())
        })
        .await,
    )
}

async fn embeddings(
    State(state): State<MockState>,
    Extension(kill): Extension<ConnKill>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = state.config();
    let request = request::parse_object(&body)?;
    let texts = request::embedding_inputs(&request)?;
    let model = check_model(&state, &config, &request)?;
    let format = request::embedding_format(&request)?;
    if common::drops(&config) {
        return Ok(common::cut_connection(&kill).await);
    }
    let body = render::embeddings_json(&texts, &model, format.dimensions, format.base64);
    Ok(Json(body).into_response())
}

async fn list_models(State(state): State<MockState>) -> Json<Value> {
    let owner = state.config().name;
    let data: Vec<Value> = state
        .listed_models()
        .iter()
        .map(|id| render::model_json(id, &owner))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

async fn get_model(
    State(state): State<MockState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = state.config();
    if config.models.is_empty() || config.models.contains(&id) {
        Ok(Json(render::model_json(&id, &config.name)))
    } else {
        Err(ApiError::model_not_found(&id))
    }
}

async fn invalid_url(request: Request) -> ApiError {
    let message = format!(
        "Invalid URL ({} {})",
        request.method(),
        request.uri().path()
    );
    ApiError::new(
        StatusCode::NOT_FOUND,
        message,
        "invalid_request_error",
        None,
    )
}

/// The requested model; must be one of the configured models, if any.
/// Remembered for the model list of a mock without a fixed one.
fn check_model(
    state: &MockState,
    config: &MockConfig,
    request: &Value,
) -> Result<String, ApiError> {
    let model = request::model(request)?;
    if !config.models.is_empty() && !config.models.iter().any(|m| m == model) {
        return Err(ApiError::model_not_found(model));
    }
    state.note_model(model);
    Ok(model.to_owned())
}
