//! The outermost middleware: every request gets a sane request id (echoed
//! in `x-request-id`), runs inside a `request` span carrying it, and is
//! counted; a streamed response is counted in flight until its body ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::Stream;
use tracing::Instrument as _;
use tracing::field::Empty;

use super::metrics::{InFlight, Metrics, UNMATCHED, method_label};
use super::request_id::{self, HEADER};

/// The middleware itself (see the module docs).
pub(super) async fn track(
    State(metrics): State<Arc<Metrics>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id::ensure(req.headers_mut());
    let method = method_label(req.method());
    let route = metrics.route(
        req.extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED, MatchedPath::as_str),
    );
    // `model` and `provider` are filled in by the pipeline once known
    // (`observe::span_model`, `observe::span_provider`).
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method,
        route = &*route.route,
        model = Empty,
        provider = Empty,
    );
    let in_flight = metrics.request_started();
    let mut resp = next.run(req).instrument(span.clone()).await;
    drop(in_flight);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    metrics.http_request(&route, method, status, elapsed);
    tracing::debug!(parent: &span, status, latency_us = elapsed.as_micros() as u64, "answered");
    resp.headers_mut().insert(HEADER, id);
    if is_event_stream(&resp) {
        let guard = metrics.stream_started();
        resp = resp.map(|body| {
            Body::from_stream(Streaming {
                body: body.into_data_stream(),
                _guard: guard,
            })
        });
    }
    resp
}

fn is_event_stream(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .is_some_and(|v| v.starts_with(b"text/event-stream"))
}

/// A streamed body that holds its in-flight guard until the body is dropped
/// (finished, or the client went away).
struct Streaming {
    body: BodyDataStream,
    _guard: InFlight,
}

impl Stream for Streaming {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.body).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.body.size_hint()
    }
}
