//! Request-body bounds applied as middleware: a total time to send the
//! body, and the size limit refused from `Content-Length` before any byte
//! of the body is read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::State;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::error::ApiError;

/// What bounds how long a client may take to send a request body
/// (`server.request_body_timeout_secs`; a `MapRequestLayer`'s function),
/// counted from the request's arrival: past it, reading the body fails and
/// the request is refused (400), however the bytes trickle in.
pub(crate) fn body_deadline(
    secs: f64,
) -> impl Fn(Request<Body>) -> Request<Body> + Clone + Send + Sync + 'static {
    let limit = Duration::from_secs_f64(secs);
    move |request: Request<Body>| {
        request.map(|body| {
            // Bodiless requests (GET) need no timer.
            if body.is_end_stream() {
                body
            } else {
                Body::new(DeadlineBody::new(body, limit))
            }
        })
    }
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    body: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    fn new(body: Body, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            body,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

/// The error of a body past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs_f64())]
struct BodyTimedOut(Duration);

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Middleware (state: `max_body_bytes`) refusing at once, with a 413, a
/// request whose body announces (`Content-Length`, HTTP/1 or HTTP/2) more
/// than `max_body_bytes`: the body limit of the routes (`DefaultBodyLimit`)
/// only fails while the body is read, so a client announcing 100 GB and
/// sending nothing would hold its request until the body timeout. A
/// chunked body is still counted as it arrives by `DefaultBodyLimit`.
pub(crate) async fn announced_body_limit(
    State(limit): State<usize>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let announced = request.body().size_hint().lower();
    if usize::try_from(announced).map_or(true, |n| n > limit) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    next.run(request).await
}
