//! The outermost middleware: every request gets a sane request id (echoed
//! in `x-request-id`), runs inside a `request` span carrying it, and is
//! counted; a streamed response is counted in flight until its body ends.
//! Each request ends with one access line (target `tollgate::access`):
//! when its response is handed over, or, for a stream, when its body ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id::ensure(req.headers_mut());
    let method = method_label(req.method());
    // The path only: a query string may carry a secret (an OAuth code).
    let path = req.uri().path().to_owned();
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
        key = Empty,
        generation_id = Empty,
        tokens_prompt = Empty,
        tokens_completion = Empty,
        cost = Empty,
    );
    let in_flight = metrics.request_started();
    let mut resp = next.run(req).instrument(span.clone()).await;
    drop(in_flight);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    metrics.http_request(&route, method, status, elapsed);
    resp.headers_mut().insert(HEADER, id);
    let access = Access {
        span,
        path,
        status,
        started,
        latency: elapsed,
    };
    if is_event_stream(&resp) {
        let guard = metrics.stream_started();
        resp = resp.map(|body| {
            Body::from_stream(Streaming {
                body: body.into_data_stream(),
                _guard: guard,
                access: Some(access),
            })
        });
    } else {
        access.log(false);
    }
    resp
}

/// Routes probed by load balancers and scrapers every few seconds: their
/// access lines are at DEBUG, so they do not bury the traffic.
const PROBES: [&str; 3] = ["/health", "/ready", "/metrics"];

/// What the access line of a request says beside its span's fields
/// (`request_id`, `method`, `route`, `model`, `provider`, `key`,
/// `generation_id`, `tokens_prompt`, `tokens_completion`, `cost`).
struct Access {
    span: tracing::Span,
    path: String,
    status: u16,
    started: Instant,
    /// Until the response (its headers, for a stream) was handed over.
    latency: Duration,
}

impl Access {
    /// Logs the access line; `streamed`: the body has ended, and the line
    /// also gives the time to its end.
    fn log(self, streamed: bool) {
        let latency_ms = millis(self.latency);
        let duration_ms = streamed.then(|| millis(self.started.elapsed()));
        let (span, path, status) = (&self.span, self.path.as_str(), self.status);
        if PROBES.contains(&path) {
            tracing::debug!(target: "tollgate::access", parent: span, path, status, latency_ms, duration_ms, "request");
        } else {
            tracing::info!(target: "tollgate::access", parent: span, path, status, latency_ms, duration_ms, "request");
        }
    }
}

/// Milliseconds, to the microsecond.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
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
    /// Logged when the body is dropped: by then the stream's task has
    /// recorded its usage on the span (unless the client left first).
    access: Option<Access>,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        if let Some(access) = self.access.take() {
            access.log(true);
        }
    }
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
