//! The open client connections: their count against the cap, which of
//! them are idle, and the timers that close them.
//!
//! Each connection has a [`Conn`]: [`Tracked`] counts its requests in
//! flight (from the request's arrival to the end of its response body,
//! the last byte of a stream included), [`super::io::Watched`] notes its
//! first byte and the end of its HTTP/2 handshake, and [`watch`] turns
//! those into the first-byte, handshake and idle deadlines.
//!
//! **The cap and `/health`.** A file-descriptor limit reached is what took
//! `/health` down: every descriptor held by a silent socket, accept failing
//! with "too many open files". So the cap is kept below the limit
//! ([`crate::config::ServerConfig::connection_cap`]), and reaching it does
//! not refuse the newcomer: [`Connections::admit`] closes the connections
//! idle the longest (no request in flight: silent, trickling headers, or
//! kept alive between requests) to make room. An attacker's connections
//! never have a request in flight (a request starts once its head is
//! complete), so however many they hold, a health check or a client gets
//! a place, and keeps it while its request runs. Only when every open
//! connection is serving a request, which is load and not an attack, is
//! the newcomer refused. Connections are closed in batches (a sixty-fourth
//! of the cap at a time) so that finding the idlest, a scan of the open
//! connections, happens once per batch and not on every accept.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response};
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::observe::ConnectionMetrics;

/// The open connections of one accept loop.
#[derive(Debug)]
pub(super) struct Connections {
    /// `server.max_connections`.
    configured: usize,
    /// The cap in force: `configured`, or lower after the process ran out
    /// of file descriptors below it, rising back a batch a minute.
    cap: AtomicUsize,
    /// When the cap last moved below `configured` (ms since `epoch`).
    cap_moved_ms: AtomicU64,
    /// What times are counted from.
    epoch: Instant,
    next_id: AtomicU64,
    /// The connections counted against the cap; one closed to make room
    /// leaves at once, before its task has noticed.
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    metrics: ConnectionMetrics,
}

/// One client connection's state, shared by its task, its I/O and its
/// requests.
#[derive(Debug)]
pub(crate) struct Conn {
    id: u64,
    epoch: Instant,
    accepted: Instant,
    /// Requests whose response has not ended.
    in_flight: AtomicUsize,
    /// When the last request in flight ended (ms since `epoch`).
    idle_since_ms: AtomicU64,
    /// Whether any byte came in.
    got_byte: AtomicBool,
    /// Whether the protocol's opening is complete: the first byte of
    /// HTTP/1, or the preface and SETTINGS frame of HTTP/2.
    opened: AtomicBool,
    /// Wakes the task of a connection closed to make room.
    evict: Notify,
}

/// Why the gateway closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closing {
    /// It sent nothing within `first_byte_timeout_secs`.
    FirstByte,
    /// Its HTTP/2 preface and SETTINGS did not arrive in time.
    Handshake,
    /// No request in flight for `idle_timeout_secs`.
    Idle,
}

impl Closing {
    fn label(self) -> &'static str {
        match self {
            Closing::FirstByte => "first_byte_timeout",
            Closing::Handshake => "handshake_timeout",
            Closing::Idle => "idle_timeout",
        }
    }
}

/// The deadlines of [`watch`].
#[derive(Debug)]
pub(super) struct Timeouts {
    pub(super) first_byte: Duration,
    pub(super) handshake: Duration,
    pub(super) idle: Duration,
}

impl Connections {
    pub(super) fn new(cap: usize, metrics: ConnectionMetrics) -> Connections {
        Connections {
            configured: cap.max(1),
            cap: AtomicUsize::new(cap.max(1)),
            cap_moved_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Registers a new connection, first making room at the cap by
    /// closing the idlest; `None` (counted as refused) when every open
    /// connection has a request in flight.
    pub(super) fn admit(&self) -> Option<Arc<Conn>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut cap = self.cap.load(Ordering::Relaxed);
        if cap < self.configured
            && millis(self.epoch, now) >= self.cap_moved_ms.load(Ordering::Relaxed) + RECOVER_MS
        {
            // A minute without running out: try a batch more.
            cap = (cap + batch(self.configured)).min(self.configured);
            self.cap.store(cap, Ordering::Relaxed);
            self.cap_moved_ms
                .store(millis(self.epoch, now), Ordering::Relaxed);
        }
        // Back under the cap, by a batch at least (it may have come down).
        let excess = (open.len() + 1).saturating_sub(cap);
        if excess > 0 && self.evict_idlest(&mut open, excess.max(batch(cap))) == 0 {
            drop(open);
            self.metrics.refused.inc();
            tracing::warn!(
                cap,
                "connection refused: the connection cap is reached and every connection is busy"
            );
            return None;
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            epoch: self.epoch,
            accepted: now,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(millis(self.epoch, now)),
            got_byte: AtomicBool::new(false),
            opened: AtomicBool::new(false),
            evict: Notify::new(),
        });
        open.insert(conn.id, Arc::clone(&conn));
        drop(open);
        self.metrics.accepted.inc();
        self.metrics.open.inc();
        Some(conn)
    }

    /// The accept loop's answer to running out of file descriptors below
    /// the cap (a `max_connections` set too high, or descriptors taken by
    /// upstream connections): the cap comes down to a batch below the
    /// connections open now, so from the next accept on, room is made by
    /// closing the idlest as at any cap, and a batch of them is closed now
    /// to free descriptors for the connections waiting. The cap rises back
    /// by a batch of the configured one each minute without a recurrence.
    pub(super) fn out_of_descriptors(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let cap = self.cap.load(Ordering::Relaxed);
        let lowered = open.len().saturating_sub(batch(cap)).max(1);
        if lowered < cap {
            self.cap.store(lowered, Ordering::Relaxed);
            self.cap_moved_ms
                .store(millis(self.epoch, Instant::now()), Ordering::Relaxed);
            tracing::warn!(
                from = cap,
                to = lowered,
                "out of file descriptors: lowering the connection cap (raise the open-file limit or lower server.max_connections)"
            );
        }
        let excess = open.len().saturating_sub(self.cap.load(Ordering::Relaxed));
        self.evict_idlest(&mut open, excess.max(1));
    }

    /// Closes up to `n` of the connections idle the longest; returns how
    /// many.
    fn evict_idlest(&self, open: &mut HashMap<u64, Arc<Conn>>, n: usize) -> usize {
        let mut idle: Vec<(u64, u64)> = open
            .values()
            .filter(|c| c.in_flight.load(Ordering::Acquire) == 0)
            .map(|c| (c.idle_since_ms.load(Ordering::Relaxed), c.id))
            .collect();
        let n = n.min(idle.len());
        if n == 0 {
            return 0;
        }
        if n < idle.len() {
            idle.select_nth_unstable(n - 1);
        }
        for &(_, id) in &idle[..n] {
            if let Some(conn) = open.remove(&id) {
                conn.evict.notify_one();
                self.metrics.closed("evicted");
            }
        }
        tracing::debug!(
            closed = n,
            "closed the connections idle the longest to make room"
        );
        n
    }

    /// Counts a connection closed by its own deadline.
    pub(super) fn closed(&self, closing: Closing) {
        self.metrics.closed(closing.label());
    }

    /// Forgets a connection whose task has ended.
    pub(super) fn remove(&self, conn: &Conn) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&conn.id);
        self.metrics.open.dec();
    }
}

impl Conn {
    /// Notes bytes read.
    pub(super) fn got_byte(&self) {
        if !self.got_byte.load(Ordering::Relaxed) {
            self.got_byte.store(true, Ordering::Relaxed);
        }
    }

    /// Notes the protocol's opening complete.
    pub(super) fn opened(&self) {
        self.opened.store(true, Ordering::Relaxed);
    }

    /// Completes when the connection is closed to make room.
    pub(super) async fn evicted(&self) {
        self.evict.notified().await;
    }

    fn idle_since(&self) -> Instant {
        self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Relaxed))
    }
}

/// How long a lowered cap stays before it rises by a batch (ms).
const RECOVER_MS: u64 = 60_000;

/// How many connections are closed at once to make room under `cap`.
fn batch(cap: usize) -> usize {
    (cap / 64).max(1)
}

/// Milliseconds from `epoch` to `t`.
fn millis(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// Completes when `conn` passes one of its deadlines, with which: the
/// first byte's, the protocol opening's, or the idle one. A connection
/// closed before its first byte is counted as silent whichever deadline
/// came first.
pub(super) async fn watch(conn: &Conn, t: &Timeouts) -> Closing {
    let first_byte_by = conn.accepted + t.first_byte;
    let handshake_by = conn.accepted + t.handshake;
    loop {
        let now = Instant::now();
        let spoke = conn.got_byte.load(Ordering::Relaxed);
        let opened = conn.opened.load(Ordering::Relaxed);
        let idle_by = if conn.in_flight.load(Ordering::Acquire) > 0 {
            // Busy: look again later; the idle clock restarts when the
            // last request ends.
            None
        } else {
            Some(conn.idle_since() + t.idle)
        };
        let passed = |by: Instant| now >= by;
        if !spoke && (passed(first_byte_by) || passed(handshake_by) || idle_by.is_some_and(passed))
        {
            return Closing::FirstByte;
        }
        if !opened && passed(handshake_by) {
            return Closing::Handshake;
        }
        if idle_by.is_some_and(passed) {
            return Closing::Idle;
        }
        let mut next = idle_by.unwrap_or(now + t.idle);
        if !spoke {
            next = next.min(first_byte_by);
        }
        if !opened {
            next = next.min(handshake_by);
        }
        tokio::time::sleep_until(next).await;
    }
}

/// The router as one connection's service: counts the connection's
/// requests in flight, from the request's arrival to the end of its
/// response body.
#[derive(Clone)]
pub(super) struct Tracked {
    app: Router,
    conn: Arc<Conn>,
}

impl Tracked {
    pub(super) fn new(app: Router, conn: Arc<Conn>) -> Tracked {
        Tracked { app, conn }
    }
}

impl<B> tower::Service<Request<B>> for Tracked
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let busy = Busy::enter(Arc::clone(&self.conn));
        let answer = self.app.clone().oneshot(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| Body::new(BusyBody { body, _busy: busy })))
        })
    }
}

/// A request in flight on its connection; its end restarts the
/// connection's idle clock.
struct Busy(Arc<Conn>);

impl Busy {
    fn enter(conn: Arc<Conn>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let conn = &self.0;
        if conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.idle_since_ms
                .store(millis(conn.epoch, Instant::now()), Ordering::Relaxed);
        }
    }
}

/// A response body that keeps its request in flight until it ends.
struct BusyBody {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(conns: &Connections) -> Vec<u64> {
        let mut ids: Vec<u64> = conns.open.lock().unwrap().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Marks `conn` idle since `ms` after the epoch.
    fn idle_since(conn: &Conn, ms: u64) {
        conn.idle_since_ms.store(ms, Ordering::Relaxed);
    }

    #[tokio::test]
    async fn at_the_cap_the_idlest_makes_room_and_busy_ones_stay() {
        let conns = Connections::new(3, ConnectionMetrics::default());
        let a = conns.admit().unwrap();
        let b = conns.admit().unwrap();
        let c = conns.admit().unwrap();
        idle_since(&a, 30);
        idle_since(&b, 10);
        idle_since(&c, 20);
        // b is the idlest but has a request in flight: c goes.
        let busy = Busy::enter(Arc::clone(&b));
        let d = conns.admit().unwrap();
        assert_eq!(ids(&conns), [a.id, b.id, d.id]);
        // Its task is told (the permit waits for it).
        tokio::time::timeout(Duration::from_secs(5), c.evicted())
            .await
            .unwrap();
        // Every connection busy: the newcomer is refused.
        let _a = Busy::enter(Arc::clone(&a));
        let _d = Busy::enter(Arc::clone(&d));
        assert!(conns.admit().is_none());
        assert_eq!(conns.metrics.refused.get(), 1);
        // A request ending frees its connection for eviction.
        drop(busy);
        let e = conns.admit().unwrap();
        assert_eq!(ids(&conns), [a.id, d.id, e.id]);
        assert_eq!(conns.metrics.open.get(), 5, "tasks not ended yet");
    }

    #[tokio::test]
    async fn out_of_descriptors_the_cap_comes_down_below_the_open_connections() {
        let conns = Connections::new(1000, ConnectionMetrics::default());
        let open: Vec<_> = (0..100).map(|_| conns.admit().unwrap()).collect();
        conns.out_of_descriptors();
        // A batch (1000 / 64 = 15) below the 100 open, and those closed.
        assert_eq!(conns.cap.load(Ordering::Relaxed), 85);
        assert_eq!(ids(&conns).len(), 85);
        // The oldest went: the first 15 admitted (idle since their accept).
        let gone: Vec<u64> = open[..15].iter().map(|c| c.id).collect();
        assert!(ids(&conns).iter().all(|id| !gone.contains(id)));
        // From now on each newcomer makes room.
        conns.admit().unwrap();
        assert!(ids(&conns).len() <= 85);
        drop(open);
    }
}
