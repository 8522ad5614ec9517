//! Observability: Prometheus metrics, request ids and the request span.
//!
//! - **`GET /metrics`** renders this gateway's [`Metrics`] in the OpenMetrics
//!   text format (which Prometheus scrapes natively), plus provider health
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
//!   An access line per request is logged at DEBUG
//!   (`RUST_LOG=info,tollgate_gateway::observe=debug`), off by default: the
//!   metrics and generation records already count every request, and a
//!   synchronous stderr write per request would cost more than everything
//!   else this layer does.
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
pub mod request_id;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use metrics::{BooksMetrics, ConnectionMetrics, Finished, Metrics};
pub use request_id::request_id;

use crate::state::AppState;

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Wraps `router` in the observing middleware (request id, request span,
/// HTTP metrics into `metrics`). Apply it last, so it sees every request,
/// including those answered by other layers.
pub fn instrument(router: Router, metrics: Arc<Metrics>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(metrics, layer::track))
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<Arc<AppState>>) -> Response {
    match render(&state) {
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
