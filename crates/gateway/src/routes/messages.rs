//! `POST /messages` and `POST /messages/count_tokens`: the Anthropic
//! Messages ingress. The request is decoded into a chat request and served
//! by the one lifecycle (`serve_chat`, wire [`Wire::Messages`]); every
//! error answer, whichever stage produced it, is rewritten into
//! Anthropic's shape (see [`crate::ingress::messages`]).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tollgate_catalog::ModelId;
use tollgate_schema::from_json_slice;
use tollgate_schema::messages::{MessagesRequest, TokenCount};
use tollgate_transforms::{Tokenizer, count_request};

use super::chat::serve_chat;
use crate::auth;
use crate::error::ApiError;
use crate::ingress::Wire;
use crate::ingress::messages::{decode, error, error_response};
use crate::pipeline::record::RequestContext;
use crate::state::AppState;

/// Anthropic's SDKs authenticate with `x-api-key`; the gateway's keys work
/// there as well as in `Authorization: Bearer`, which wins when both are
/// sent.
fn with_api_key(mut headers: HeaderMap) -> HeaderMap {
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(key) = headers
            .get(HeaderName::from_static("x-api-key"))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
        && let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}"))
    {
        headers.insert(header::AUTHORIZATION, v);
    }
    headers
}

/// Handles a Messages request, streamed or not.
pub async fn messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let served = async {
        let headers = with_api_key(headers);
        let key = auth::authenticate(&state.store, &state.keys, &headers).await?;
        let body =
            body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
        let request: MessagesRequest = from_json_slice(&body)?;
        let request = decode(request, true)?;
        let ctx = RequestContext::new(&key, &headers);
        // The body and the headers are slices of the connection's first
        // read buffer: released here, not held as long as the answer.
        drop((headers, body));
        serve_chat(state.clone(), key, ctx, request, Wire::Messages).await
    }
    .await;
    match served {
        Ok(resp) => error_response(resp).await,
        Err(e) => error(e).await,
    }
}

/// Counts a Messages request's prompt tokens with the model family's
/// tokenizer (the count the gateway's own context checks use).
pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let counted = async {
        let headers = with_api_key(headers);
        auth::authenticate(&state.store, &state.keys, &headers).await?;
        let body =
            body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
        let request: MessagesRequest = from_json_slice(&body)?;
        let request = decode(request, false)?;
        let name = request
            .model
            .clone()
            .or_else(|| request.models.as_ref().and_then(|m| m.first().cloned()))
            .ok_or_else(|| ApiError::field("model", "model: Field required"))?;
        let id = ModelId::parse(&name).map_err(|e| ApiError::field("model", e.to_string()))?;
        let routes = state.routes();
        let model = routes.catalog.resolve(&id).ok_or_else(|| {
            ApiError::NotFound(format!("model: `{name}` is not a valid model ID"))
        })?;
        let tokenizer = Tokenizer::for_family(model.tokenizer.as_deref());
        let input_tokens = count_request(&request, &tokenizer).total;
        Ok::<_, ApiError>(Json(TokenCount { input_tokens }).into_response())
    }
    .await;
    match counted {
        Ok(resp) => resp,
        Err(e) => error(e).await,
    }
}
