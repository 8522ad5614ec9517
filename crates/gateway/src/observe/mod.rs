//! Observability: Prometheus metrics, request ids and the request span.
//!
//! - **`GET /metrics`** renders this gateway's [`Metrics`] in the OpenMetrics
//!   text format (which Prometheus scrapes natively; a client asking for
//!   `text/plain` and not for OpenMetrics gets the Prometheus text format
//!   0.0.4 instead, see [the `prometheus_text` module](mod@prometheus_text)),
//!   plus provider health
//!   read from the health tracker at scrape time. It needs no API key, like
//!   `/health`: it exposes aggregate counts per route, model and provider,
//!   never an account, a key or a prompt. Operators should still keep it
//!   off the public internet (firewall it, or have the load balancer refuse
//!   `/metrics` from outside).
//! - **Request ids**: every response carries `x-request-id`, the client's
//!   own when it is sane (see [the `request_id` module](mod@request_id)),
//!   a fresh UUID otherwise. The request headers are rewritten to carry the
//!   same id, so handlers read it with [`request_id()`] (the generation
//!   record stores it).
//! - **The request span**: each request runs in an INFO `request` span with
//!   `request_id`, `method`, `route`, and `model` / `provider` once the
//!   pipeline knows them ([`span_model`], [`span_provider`]), so every log
//!   line of a request names it (`--log-format json` puts them in `span`).
//!   The span also carries `key` (the key's label, never the key) once
//!   authenticated ([`span_key`]), and `generation_id`, `tokens_prompt`,
//!   `tokens_completion` and `cost` once a generation is finished
//!   ([`span_generation`]).
//! - **The access line**: one INFO event per request, target
//!   `tollgate::access`, message `request`, with `path`, `status`,
//!   `latency_ms` (to the response headers) and, for a stream,
//!   `duration_ms` (to the end of its body), in the request span (so with
//!   all of the span's fields). It is logged when the response is handed
//!   over, or when a stream's body ends. `/health`, `/ready` and
//!   `/metrics` log theirs at DEBUG; `RUST_LOG=info,tollgate::access=off`
//!   silences them all.
//!
//! The middleware ([`instrument`]) records the HTTP-level series itself;
//! the pipeline reports provider attempts, fallbacks and finished
//! generations through [`Metrics`]' methods.
//!
//! Architecture Invariant: metric labels are bounded by the catalog and
//! the route table; nothing a client sends becomes a label.

mod health;
mod layer;
mod metrics;
mod prometheus_text;
pub mod request_id;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;

pub(crate) use layer::track;
pub use metrics::{BooksMetrics, ConnectionMetrics, Finished, Metrics};
pub use request_id::request_id;

use crate::state::AppState;

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Wraps `router` in the observing middleware (request id, request span,
/// HTTP metrics into `metrics`). Apply it last, so it sees every request,
/// including those answered by other layers.
pub fn instrument(router: Router, metrics: Arc<Metrics>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(metrics, track))
}

/// The content type of `/metrics` in the Prometheus text format 0.0.4.
pub const CONTENT_TYPE_PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: OpenMetrics text, or the Prometheus text format 0.0.4
/// when the client asks for `text/plain` and not for OpenMetrics.
pub async fn scrape(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let classic = accept.contains("text/plain") && !accept.contains("application/openmetrics-text");
    match render(&state) {
        Ok(text) if classic => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_PROMETHEUS),
            )],
            prometheus_text::from_openmetrics(&text),
        )
            .into_response(),
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(_) => {
            tracing::error!("rendering the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The whole exposition: the registry, scrape-time health, `# EOF`.
fn render(state: &AppState) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(16 * 1024);
    state.metrics.encode(&mut out)?;
    health::encode(state, &mut out)?;
    prometheus_client::encoding::text::encode_eof(&mut out)?;
    Ok(out)
}

/// Names the model asked for on the current request span.
pub fn span_model(model: &str) {
    tracing::Span::current().record("model", model);
}

/// Names the provider that served on the current request span.
pub fn span_provider(provider: &str) {
    tracing::Span::current().record("provider", provider);
}

/// Names the authenticated key, by its label, on the current request span.
pub fn span_key(label: &str) {
    tracing::Span::current().record("key", label);
}

/// Records a finished generation on the current request span: its id,
/// tokens and charge (USD).
///
/// The four are recorded in one call: a log layer formats what a span
/// records at each call, so one call does its work once rather than four
/// times.
pub fn span_generation(id: &str, prompt_tokens: u64, completion_tokens: u64, cost: &Decimal) {
    use tracing::field::Value;
    let span = tracing::Span::current();
    let Some(fields) = span.metadata().map(tracing::Metadata::fields) else {
        return;
    };
    let (Some(generation), Some(prompt), Some(completion), Some(charged)) = (
        fields.field("generation_id"),
        fields.field("tokens_prompt"),
        fields.field("tokens_completion"),
        fields.field("cost"),
    ) else {
        return;
    };
    let cost = tracing::field::display(cost);
    span.record_all(&fields.value_set(&[
        (&generation, Some(&id as &dyn Value)),
        (&prompt, Some(&prompt_tokens as &dyn Value)),
        (&completion, Some(&completion_tokens as &dyn Value)),
        (&charged, Some(&cost as &dyn Value)),
    ]));
}
