//! `GET /models` and `GET /models/{author}/{slug}/endpoints`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Every model, in the Models API format.
pub async fn list(State(state): State<Arc<AppState>>) -> Response {
    let mut resp = state.routes().models_json.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
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
