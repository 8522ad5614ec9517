//! The accept loop of [`crate::serve`] and the client-side limits: time
//! limits on what a connection sends, a cap on how many are open, and the
//! request-body bounds.
//!
//! `axum::serve` sets no timer on hyper's connection builder and no limit
//! of its own, so a client trickling its headers, or sending nothing at
//! all, holds a connection (and a file descriptor) forever. This loop
//! serves the same router on hyper-util's HTTP/1 + HTTP/2 builder and
//! bounds every stage of a connection:
//!
//! - **First byte** (`server.first_byte_timeout_secs`): a connection that
//!   sends nothing is closed. hyper's own header timeout only starts at a
//!   request's first byte.
//! - **Request head** (`server.header_read_timeout_secs`): hyper's HTTP/1
//!   header-read timeout, from the first byte; an HTTP/2 client has as long
//!   from connecting to send its preface and SETTINGS frame, which
//!   [`io::Watched`] follows on the bytes read.
//! - **Idle** (`server.idle_timeout_secs`): a connection with no request
//!   in flight (keep-alive between requests, HTTP/2 with no stream) is
//!   closed; one that sends a request and then falls silent would
//!   otherwise be a silent connection that escaped the first-byte bound.
//! - **Count** (`server.max_connections`, see [`conns::Connections`]): at
//!   the cap a new connection makes room by closing the one idle the
//!   longest, so `/health` and real clients still get in while an attacker
//!   holds thousands of silent or trickling sockets; it is refused only
//!   when every open connection has a request in flight. The cap defaults
//!   to below the open-file limit; an accept that fails anyway (too many
//!   open files) backs off instead of spinning, lowers the cap below the
//!   connections open and closes the idlest, while the open connections
//!   keep being served.
//!
//! Errors hyper answers itself, before any service sees the request (a
//! request line over 64 KB, too many headers, a malformed
//! `Content-Length`), get the gateway's JSON error body from
//! [`io::Watched`] too; hyper would send them with an empty body.
//!
//! Shutdown is `axum::serve`'s graceful shutdown: on the signal the loop
//! stops accepting, asks every connection to finish its in-flight requests
//! and waits for them (the caller bounds that wait).
//!
//! A slow request body is bounded separately by [`body_deadline`]: a
//! total time from the request's arrival, not an idle time between reads;
//! a body announced larger than the limit is refused before it is read
//! ([`announced_body_limit`]).

mod body;
mod conns;
mod io;
mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub(crate) use body::{announced_body_limit, body_deadline};
use conns::{Closing, Connections, Timeouts};
pub(crate) use workers::{Workers, pace};

use crate::observe::ConnectionMetrics;

/// The limits [`serve`] applies to client connections.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// To send a request's headers (HTTP/1, from its first byte), or the
    /// preface and SETTINGS (HTTP/2, from connecting).
    pub(crate) header_read: Duration,
    /// To send the first byte.
    pub(crate) first_byte: Duration,
    /// With no request in flight.
    pub(crate) idle: Duration,
    /// Open client connections at most.
    pub(crate) max_connections: usize,
}

/// The longest pause between failed accepts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The first pause after a failed accept.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// The shortest time between two logs of failed accepts.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then drains the
/// open connections, within `limits`.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    metrics: ConnectionMetrics,
    workers: Option<&Workers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    builder.http2().timer(TokioTimer::new());
    // A connection whose first bytes already show HTTP/1 skips the
    // builder's version sniffing (see [`first_bytes`]).
    let builders = Arc::new(Builders {
        http1: builder.clone().http1_only(),
        sniffing: builder,
    });
    let timeouts = Arc::new(Timeouts {
        first_byte: limits.first_byte,
        handshake: limits.header_read,
        idle: limits.idle,
    });
    tracing::info!(
        max_connections = limits.max_connections,
        first_byte_timeout_secs = limits.first_byte.as_secs_f64(),
        idle_timeout_secs = limits.idle.as_secs_f64(),
        "accepting client connections"
    );
    let conns = Arc::new(Connections::new(limits.max_connections, metrics.clone()));
    // Every connection task holds a clone of `done`; the receiver sees the
    // channel close when the last one has ended.
    let (done, mut all_done) = mpsc::channel::<()>(1);
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    let mut failures = 0u64;
    let mut last_logged: Option<tokio::time::Instant> = None;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    if peer_gone(&e) {
                        continue;
                    }
                    metrics.accept_errors.inc();
                    failures += 1;
                    // Logged at most every 10 s, however often it fails.
                    if last_logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                        tracing::error!(error = %e, failures, "accepting a connection failed; backing off, still serving the open connections");
                        last_logged = Some(tokio::time::Instant::now());
                        failures = 0;
                    }
                    backoff = if backoff.is_zero() {
                        MIN_BACKOFF
                    } else {
                        (backoff * 2).min(MAX_BACKOFF)
                    };
                    if out_of_descriptors(&e) {
                        // Room for the health check and the next client.
                        conns.out_of_descriptors();
                    }
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        backoff = Duration::ZERO;
        let Some(conn) = conns.admit() else {
            // Every open connection is busy: dropping closes this one.
            continue;
        };
        // Small SSE frames go out at once.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(conns::Tracked::new(app.clone(), Arc::clone(&conn)));
        let builders = Arc::clone(&builders);
        let timeouts = Arc::clone(&timeouts);
        let conns = Arc::clone(&conns);
        let stopping = stopping.clone();
        let done = done.clone();
        let serve = Connection {
            service,
            builders,
            timeouts,
            conns,
            conn,
            stopping,
            _done: done,
        };
        match workers {
            None => {
                tokio::spawn(serve.run(stream));
            }
            Some(workers) => match stream.into_std() {
                // Registered with the chosen thread's reactor there.
                Ok(stream) => workers.spawn(move || async move {
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => serve.run(stream).await,
                        Err(e) => serve.not_handed(&e),
                    }
                }),
                Err(e) => serve.not_handed(&e),
            },
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(done);
    let _ = all_done.recv().await;
    Ok(())
}

/// One accepted connection and what serving it needs.
struct Connection {
    service: TowerToHyperService<conns::Tracked>,
    builders: Arc<Builders>,
    timeouts: Arc<Timeouts>,
    conns: Arc<Connections>,
    conn: Arc<conns::Conn>,
    stopping: watch::Receiver<bool>,
    /// Held until the connection ends: [`serve`]'s drain waits for the last.
    _done: mpsc::Sender<()>,
}

impl Connection {
    /// The socket could not move to a serving thread: the connection is
    /// closed (dropping the socket) and forgotten.
    fn not_handed(self, e: &std::io::Error) {
        tracing::warn!(error = %e, "a connection could not be handed to a serving thread");
        self.conns.remove(&self.conn);
    }

    /// Serves the connection's requests until it closes, is closed by a
    /// bound, or the drain ends it.
    async fn run(self, stream: tokio::net::TcpStream) {
        let Connection {
            service,
            builders,
            timeouts,
            conns,
            conn,
            mut stopping,
            _done,
        } = self;
        // Until the first bytes arrive, the same bounds as below; a
        // connection closed or dropped meanwhile had nothing in flight.
        let first = tokio::select! {
            first = first_bytes(&stream) => first,
            closing = conns::watch(&conn, &timeouts) => {
                conns.closed(closing);
                FirstBytes::Gone
            }
            () = conn.evicted() => FirstBytes::Gone,
            _ = stopping.changed() => FirstBytes::Gone,
        };
        let builder = match first {
            FirstBytes::Http1 => &builders.http1,
            FirstBytes::Unsure => &builders.sniffing,
            FirstBytes::Gone => {
                conns.remove(&conn);
                return;
            }
        };
        let io = TokioIo::new(io::Watched::new(stream, Arc::clone(&conn)));
        let connection = builder.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let mut draining = false;
        loop {
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                closing = conns::watch(&conn, &timeouts), if !draining => {
                    conns.closed(closing);
                    if closing == Closing::Idle {
                        // Nothing in flight: closes at once (HTTP/2 says
                        // GOAWAY first), unless a request raced in.
                        connection.as_mut().graceful_shutdown();
                        draining = true;
                    } else {
                        break;
                    }
                }
                () = conn.evicted() => break,
                _ = stopping.changed(), if !draining => {
                    connection.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
        conns.remove(&conn);
    }
}

/// The connection builders: one that reads the opening bytes itself to
/// tell HTTP/1 from HTTP/2, and one that serves HTTP/1 at once.
struct Builders {
    sniffing: Builder<TokioExecutor>,
    http1: Builder<TokioExecutor>,
}

/// What a connection's first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstBytes {
    /// Not the HTTP/2 preface: HTTP/1.
    Http1,
    /// The preface, or as much of it as has come: the sniffing builder
    /// reads on until it knows.
    Unsure,
    /// Closed, or failed, before sending anything.
    Gone,
}

/// Waits for the connection's first bytes and looks at them without
/// reading them.
///
/// hyper-util's builder tells the versions apart by reading up to 24 bytes
/// into a buffer of its own, which it then hands back to hyper's first
/// read alone: hyper, seeing an incomplete head, grows its 8 KB read
/// buffer to 16 KB, kept for the connection's life (an idle stream's
/// largest allocation). A peek leaves the bytes in the socket, so hyper's
/// first read takes the whole request (the same two system calls as
/// before: the peek, then hyper's read).
async fn first_bytes(stream: &tokio::net::TcpStream) -> FirstBytes {
    let mut buf = [0u8; io::PREFACE.len()];
    match stream.peek(&mut buf).await {
        Ok(0) | Err(_) => FirstBytes::Gone,
        Ok(n) => first_bytes_of(&buf[..n]),
    }
}

fn first_bytes_of(first: &[u8]) -> FirstBytes {
    if io::PREFACE.starts_with(first) {
        FirstBytes::Unsure
    } else {
        FirstBytes::Http1
    }
}

/// A connection that failed before it was accepted: nobody's concern.
fn peer_gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// `EMFILE` (the process's open-file limit) or `ENFILE` (the system's):
/// the same numbers on Linux, the BSDs and macOS.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_is_http1_from_its_first_differing_byte() {
        assert_eq!(
            first_bytes_of(b"POST /api/v1/chat/completions HTTP/1.1\r\n"),
            FirstBytes::Http1
        );
        assert_eq!(first_bytes_of(b"GET / HTTP/1.1\r\n"), FirstBytes::Http1);
        // `P` alone could still be the preface; `PO` cannot.
        assert_eq!(first_bytes_of(b"P"), FirstBytes::Unsure);
        assert_eq!(first_bytes_of(b"PO"), FirstBytes::Http1);
    }

    #[test]
    fn the_preface_or_a_part_of_it_is_left_to_the_sniffing_builder() {
        assert_eq!(first_bytes_of(io::PREFACE), FirstBytes::Unsure);
        assert_eq!(first_bytes_of(&io::PREFACE[..10]), FirstBytes::Unsure);
        let mut wrong = io::PREFACE.to_vec();
        wrong[23] = b'X';
        assert_eq!(first_bytes_of(&wrong), FirstBytes::Http1);
    }
}
