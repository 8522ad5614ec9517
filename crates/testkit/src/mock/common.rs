//! HTTP plumbing shared by every dialect: recording, the key and failure
//! gate, request ids, and sending a reply (directives, pacing, streams,
//! scripted drops). Each dialect says how it reads keys and renders errors
//! by implementing [`Wire`].

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::behaviour::{self, Gate, Pacing, Reply, alphanumeric_id};
use super::conn::{ConnHandle, ConnKill};
use super::stream::{self, Frame};
use super::{Failure, MockConfig, MockState, RecordedRequest};

/// Largest request body the mock reads (images travel inline).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How one dialect reads keys and renders the errors of the shared layers.
pub(crate) trait Wire: Send + Sync + 'static {
    /// The API key the request presents, if any.
    fn presented_key(request: &Request) -> Option<String>;
    /// No key was presented but one is required.
    fn missing_key() -> Response;
    /// The presented key is wrong.
    fn wrong_key(key: &str) -> Response;
    /// The error the provider sends with this status.
    fn status(code: u16) -> Response;
    /// The dialect's content refusal (`[mock:refuse]`).
    fn content_filter() -> Response {
        Self::status(400)
    }
    /// The same error with another message.
    fn status_with_message(code: u16, message: &str) -> Response;
    /// The message of the dialect's in-stream error event.
    fn stream_error_message() -> &'static str;
    /// The body was too large or could not be read.
    fn too_large() -> Response;
    /// What a non-streamed request scripted with `[mock:stream_error]` gets:
    /// the provider's overload error.
    fn overloaded() -> Response;
    /// Response headers that carry the request id.
    fn request_id_headers() -> &'static [&'static str] {
        &["x-request-id"]
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
    static PRESENTED_KEY: Option<String>;
}

/// The id of the request being handled (for error bodies that carry it).
pub(crate) fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Records every request (before anything can reject it), hands the
/// connection's kill switch to the handlers and tags the response with the
/// request id and `x-mock-provider`.
pub(crate) async fn record<W: Wire>(
    State(state): State<MockState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return W::too_large();
    };
    let body_value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    state.record(RecordedRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: body_value,
    });
    let switch = parts
        .extensions
        .get::<ConnectInfo<ConnHandle>>()
        .map(|info| info.0.0.clone());
    parts.extensions.insert(ConnKill(switch));
    let sequence = state.next_sequence();
    let request_id = format!("req_{}", alphanumeric_id(&[&sequence.to_le_bytes()], 32));
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            next.run(Request::from_parts(parts, Body::from(bytes))),
        )
        .await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        for name in W::request_id_headers() {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
    }
    if let Ok(value) = HeaderValue::from_str(&state.config().name) {
        headers.insert("x-mock-provider", value);
    }
    response
}

/// Latency, then the configured failure and key check.
pub(crate) async fn gate<W: Wire>(
    State(state): State<MockState>,
    request: Request,
    next: Next,
) -> Response {
    let config = state.config();
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    let key = W::presented_key(&request);
    match behaviour::gate(&config, key.as_deref()) {
        Gate::Proceed => PRESENTED_KEY.scope(key, next.run(request)).await,
        Gate::Hang => std::future::pending().await,
        Gate::MissingKey => W::missing_key(),
        Gate::WrongKey(key) => W::wrong_key(&key),
        Gate::Fail(status) => W::status(status),
    }
}

/// A rendered stream, ready for [`answer`].
pub(crate) struct StreamPlan {
    /// The frames of the complete stream.
    pub(crate) frames: Vec<Frame>,
    /// The dialect's in-stream error, for `[mock:stream_error]`.
    pub(crate) error: Vec<Frame>,
    /// The response's `content-type`.
    pub(crate) content_type: &'static str,
}

/// Applies a reply's directives and pacing, then sends it as a stream (when
/// `stream` is given) or as the JSON `body`.
pub(crate) async fn answer<W: Wire>(
    state: &MockState,
    config: &MockConfig,
    kill: &ConnKill,
    reply: &Reply,
    stream: Option<StreamPlan>,
    body: impl FnOnce() -> Value,
) -> Response {
    let directives = &reply.directives;
    if let Some(sleep) = directives.sleep {
        tokio::time::sleep(sleep).await;
    }
    let mut stream = stream;
    if let Some(chars) = directives.echo_key {
        let message = echoed_key(chars);
        match (&mut stream, directives.stream_error) {
            (Some(plan), Some(_)) => {
                plan.error = echo_in(
                    std::mem::take(&mut plan.error),
                    W::stream_error_message(),
                    &message,
                );
            }
            _ => return W::status_with_message(directives.status.unwrap_or(400), &message),
        }
    }
    if directives.refuse {
        return W::content_filter();
    }
    if let Some(status) = directives.status {
        return W::status(status);
    }
    let drop_after = directives.drop_after.or(match config.failure {
        Some(Failure::DropStreamAfter(n)) => Some(n),
        _ => None,
    });
    let pacing = Pacing::new(config, directives);
    if let Some(plan) = stream {
        let frames = match directives.stream_error {
            Some(after) => stream::fail_after(plan.frames, after, plan.error),
            None => plan.frames,
        };
        let body = Body::from_stream(stream::drive(frames, pacing, drop_after, state.clone()));
        let headers = [
            (CONTENT_TYPE, HeaderValue::from_static(plan.content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        return (headers, body).into_response();
    }
    if drop_after.is_some() {
        return cut_connection(kill).await;
    }
    if directives.stream_error.is_some() {
        return W::overloaded();
    }
    let generation = pacing.generation_time(reply.usage.completion_tokens);
    if !generation.is_zero() {
        tokio::time::sleep(generation).await;
    }
    Json(body()).into_response()
}

/// What `[mock:echo_key]` says: the presented key, or its first `chars`
/// characters.
fn echoed_key(chars: usize) -> String {
    let key = PRESENTED_KEY
        .try_with(Clone::clone)
        .ok()
        .flatten()
        .unwrap_or_default();
    let shown: String = key.chars().take(chars).collect();
    format!("key {shown}... is invalid")
}

/// The error `frames` with the dialect's message `fixed` replaced by
/// `message` (both as they are written inside a JSON string).
fn echo_in(frames: Vec<Frame>, fixed: &str, message: &str) -> Vec<Frame> {
    let json_inner = |s: &str| {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        quoted.trim_matches('"').to_owned()
    };
    let (fixed, message) = (json_inner(fixed), json_inner(message));
    frames
        .into_iter()
        .map(|mut frame| {
            let text = String::from_utf8_lossy(&frame.bytes).replace(&fixed, &message);
            frame.bytes = Bytes::from(text);
            frame
        })
        .collect()
}

/// Closes the connection without a response. Without a kill switch (router
/// mounted elsewhere) the body fails at once, which makes hyper drop the
/// connection, usually before the buffered headers are written.
pub(crate) async fn cut_connection(kill: &ConnKill) -> Response {
    match &kill.0 {
        Some(switch) => {
            switch.kill();
            // the connection dies and this future is dropped with it
            std::future::pending().await
        }
        None => {
            let failed = futures::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("mock: connection dropped"))
            });
            Body::from_stream(failed).into_response()
        }
    }
}

/// Whether the configured failure is a drop (which embeddings and other
/// one-shot endpoints turn into a cut connection).
pub(crate) fn drops(config: &MockConfig) -> bool {
    matches!(config.failure, Some(Failure::DropStreamAfter(_)))
}
