//! `POST /responses`: the OpenAI Responses ingress. The request is decoded
//! into a chat request and served by the one lifecycle (`serve_chat`, wire
//! [`Wire::Responses`]); the answer, or the stream's `response` objects,
//! then get the request's echoed fields (see [`crate::ingress::responses`]). Errors keep the
//! gateway's (OpenAI's) shape.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures::StreamExt;
use tollgate_schema::from_json_slice;
use tollgate_schema::responses::{Response as WireResponse, ResponsesRequest};

use super::chat::serve_chat;
use crate::auth;
use crate::error::ApiError;
use crate::ingress::Wire;
use crate::ingress::responses::{Echo, decode};
use crate::pipeline::record::RequestContext;
use crate::state::AppState;

/// The largest answer body the echo is written into.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Handles a Responses request, streamed or not.
pub async fn responses(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = auth::authenticate(&state.store, &state.keys, &headers).await?;
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    let request: ResponsesRequest = from_json_slice(&body)?;
    let echo = Echo::of(&request);
    let stream = request.stream == Some(true);
    let request = decode(request)?;
    let ctx = RequestContext::new(&key, &headers);
    // The body and the headers are slices of the connection's first read
    // buffer: released here, not held as long as the answer (a stream's
    // whole life), they leave hyper one buffer per connection, not two.
    drop((headers, body));
    let resp = serve_chat(state, key, ctx, request, Wire::Responses).await?;
    if !resp.status().is_success() {
        return Ok(resp);
    }
    if stream {
        return Ok(with_stream_echo(resp, echo));
    }
    with_echo(resp, echo).await
}

/// A streamed answer whose `response` objects get the request's echoed
/// fields (the relay sends whole frames).
fn with_stream_echo(resp: Response, echo: Echo) -> Response {
    let (parts, body) = resp.into_parts();
    let frames = body
        .into_data_stream()
        .map(move |item| item.map(|bytes| echo.frames(bytes)));
    Response::from_parts(parts, Body::from_stream(frames))
}

/// A finished answer with the request's echoed fields written in.
async fn with_echo(resp: Response, echo: Echo) -> Result<Response, ApiError> {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut answer: WireResponse = from_json_slice(&bytes)
        .map_err(|e| ApiError::Internal(format!("responses answer: {e}")))?;
    echo.apply(&mut answer);
    let json = serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(e.to_string()))?;
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(parts, Body::from(json)))
}
