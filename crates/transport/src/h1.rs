//! The upstream HTTP/1.1 client of the hot path: hyper's connection API
//! driven inside the calling task.
//!
//! reqwest (and hyper-util's pooled client under it) spawns one task per
//! upstream connection: the request's task hands the request to that task
//! through a channel, the connection task writes it, reads the answer and
//! hands it back through another. Each hand-over is a wake-up of another
//! task, often on the other worker thread: on a loaded gateway those
//! wake-ups, and the pool's bookkeeping around them, were a large part of a
//! request's cost (bench/README.md, "System calls and context switches").
//!
//! Here a connection is not a task but a value: the pool lends the
//! connection (hyper's `SendRequest` and its `Connection` future) to the
//! request, whose own task polls the connection while it waits for the
//! answer and while it reads the body, and gives it back once the body has
//! been read to its end. Nothing else is woken. A connection lent to a
//! stream lives as long as the stream; dropping the stream (the client went
//! away) drops the connection, which closes it and so cancels the upstream
//! work, as with reqwest.
//!
//! An idle connection in the pool is polled by nobody, so a connection the
//! upstream closed is found out when it is next lent: it is polled once
//! first, and one that has ended is dropped. A request that a reused
//! connection could not take (closed before the request was written) is
//! sent again on a new connection; one that was written is never sent
//! twice.
//!
//! HTTP/1.1 only (`http` and `https`, TLS by rustls with the webpki roots,
//! as reqwest is built here). It carries the chat calls of every dialect's
//! hot path; the rest (listings, embeddings, a configured HTTP proxy) goes
//! through reqwest, see [`crate::http::HttpClient`].

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::{HashMap, HashMapExt};
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

type Conn = Connection<TokioIo<Io>, Full<Bytes>>;
type Sender = SendRequest<Full<Bytes>>;

/// A TCP connection, with or without TLS.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where connections go: scheme, host and port, and the pool lane of the
/// thread that opened them ([`set_connection_lane`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: Arc<str>,
    port: u16,
    lane: u16,
}

thread_local! {
    static LANE: std::cell::Cell<u16> = const { std::cell::Cell::new(0) };
}

/// Gives the calling thread its own lane of the hot-path connection pool:
/// a connection opened by a request on this thread is lent afterwards only
/// to requests on threads of the same lane. Every thread not given a lane
/// shares lane 0.
///
/// A connection is a socket registered with the reactor of the runtime it
/// was opened on, and here it is polled by the request that borrows it, not
/// by a task of its own. Within one multi-thread runtime any thread may
/// borrow it; a server running one current-thread runtime per thread gives
/// each thread a lane, so that no request waits for another runtime's
/// reactor to notice its socket is readable.
pub fn set_connection_lane(lane: u16) {
    LANE.with(|l| l.set(lane));
}

fn connection_lane() -> u16 {
    LANE.with(std::cell::Cell::get)
}

/// A URL parsed once for this client: its origin, the request target
/// (path and query) and the `Host` header.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    origin: Origin,
    path: Uri,
    host_header: HeaderValue,
}

impl Target {
    /// `url` parsed, or `None` when this client cannot call it (not
    /// `http`/`https`, user info in the authority, no host).
    pub(crate) fn parse(url: &str) -> Option<Target> {
        let uri: Uri = url.parse().ok()?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            Some(s) if *s == Scheme::HTTPS => true,
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let host = authority.host();
        if host.is_empty() {
            return None;
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let host_header = HeaderValue::from_str(authority.as_str()).ok()?;
        Some(Target {
            origin: Origin {
                tls,
                host: Arc::from(host.trim_start_matches('[').trim_end_matches(']')),
                port,
                lane: 0,
            },
            path: Uri::from(path),
            host_header,
        })
    }
}

/// Why a call failed before its response head arrived.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made (DNS, TCP, TLS, or the connect timeout).
    Connect(String),
    /// The request failed on an open connection.
    Request(String),
}

impl SendError {
    /// A few words for the client (no address, no cause).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            SendError::Connect(_) => "connection failed",
            SendError::Request(_) => "request failed",
        }
    }

    /// The words and the causes, for the log.
    pub(crate) fn describe(&self) -> String {
        match self {
            SendError::Connect(d) | SendError::Request(d) => {
                format!("{}: {d}", self.reason())
            }
        }
    }
}

/// An error and its causes, one after the other.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    crate::http::with_causes(e.to_string(), e.source())
}

/// One connection: where requests are handed in, and the future that does
/// its I/O. Boxed once when made, so lending and returning it moves a
/// pointer.
struct Link {
    sender: Sender,
    conn: Conn,
}

/// One pooled connection, not in use.
struct Idle {
    link: Box<Link>,
    since: Instant,
}

struct Inner {
    pool: Mutex<HashMap<Origin, Vec<Idle>>>,
    tls: TlsConnector,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    user_agent: HeaderValue,
}

/// The client; cheap to clone, all clones share one pool.
#[derive(Clone)]
pub(crate) struct H1Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for H1Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Client").finish_non_exhaustive()
    }
}

/// A response head, and its body still to read.
pub(crate) struct Exchange {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

impl H1Client {
    /// A client with the given connect timeout, idle time and idle
    /// connections per origin.
    pub(crate) fn new(connect_timeout: Duration, idle_timeout: Duration, max_idle: usize) -> Self {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(builder) => builder,
            // ring supports the default versions; this cannot fail.
            Err(_) => rustls::ClientConfig::builder(),
        }
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        H1Client {
            inner: Arc::new(Inner {
                pool: Mutex::new(HashMap::new()),
                tls: TlsConnector::from(Arc::new(tls)),
                connect_timeout,
                idle_timeout,
                max_idle,
                user_agent: HeaderValue::from_static(concat!(
                    "tollgate/",
                    env!("CARGO_PKG_VERSION")
                )),
            }),
        }
    }

    /// Sends a `POST` of `body` to `target` with `headers` (plus `Host`,
    /// `User-Agent` and `Content-Length`) and waits for the response head.
    /// The caller bounds the wait.
    pub(crate) async fn post(
        &self,
        target: &Target,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Exchange, SendError> {
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = target.path.clone();
        let h = request.headers_mut();
        h.reserve(headers.len() + 3);
        h.insert(HOST, target.host_header.clone());
        h.insert(USER_AGENT, self.inner.user_agent.clone());
        h.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        for (name, value) in headers {
            h.insert(name.clone(), value.clone());
        }

        // The pool's key: the target's origin on this thread's lane.
        let origin = Origin {
            lane: connection_lane(),
            ..target.origin.clone()
        };
        let mut fresh = false;
        loop {
            let (mut link, reused) = match self.checkout(&origin, fresh) {
                Some(link) => (link, true),
                // Boxed: connecting (a TLS handshake's state is large) is
                // over before the wait for the answer, which a stream may
                // spend idle; inline, its state would be part of this
                // future for the whole exchange.
                None => (Box::pin(self.connect(&origin)).await?, false),
            };
            // A new connection is ready at once (HTTP/1 has no handshake);
            // a lent one was checked.
            let mut ended: Option<hyper::Result<()>> = None;
            let response = {
                let Link { sender, conn } = &mut *link;
                let mut sent = std::pin::pin!(sender.try_send_request(request));
                poll_fn(|cx| {
                    if ended.is_none()
                        && let Poll::Ready(r) = Pin::new(&mut *conn).poll(cx)
                    {
                        ended = Some(r);
                    }
                    sent.as_mut().poll(cx)
                })
                .await
            };
            match response {
                Ok(response) => {
                    let (parts, incoming) = response.into_parts();
                    let pool = if ended.is_none() { Some(link) } else { None };
                    return Ok(Exchange {
                        status: parts.status,
                        headers: parts.headers,
                        body: Body {
                            incoming,
                            conn: pool,
                            origin: Some(origin),
                            client: Arc::clone(&self.inner),
                            finished: false,
                        },
                    });
                }
                Err(mut e) => match e.take_message() {
                    // Not written: the reused connection had closed.
                    Some(back) if reused => {
                        request = back;
                        fresh = true;
                    }
                    _ => return Err(SendError::Request(chain(e.error()))),
                },
            }
        }
    }

    /// A pooled connection to `origin` that is still open, if any (none
    /// when `fresh`).
    fn checkout(&self, origin: &Origin, fresh: bool) -> Option<Box<Link>> {
        if fresh {
            return None;
        }
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            let idle = {
                let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
                pool.get_mut(origin)?.pop()?
            };
            let Idle { mut link, since } = idle;
            if since.elapsed() >= self.inner.idle_timeout {
                continue;
            }
            // Ended (closed by the upstream, or failed): dropped.
            if Pin::new(&mut link.conn).poll(&mut cx).is_ready() {
                continue;
            }
            if matches!(link.sender.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
                return Some(link);
            }
        }
    }

    /// Gives a connection whose last response was read to its end back to
    /// the pool, if it can take another request.
    fn checkin(inner: &Inner, origin: Origin, mut link: Box<Link>) {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // One poll brings the connection to idle (or to its end, when the
        // upstream said `Connection: close`).
        if Pin::new(&mut link.conn).poll(&mut cx).is_ready() {
            return;
        }
        if !matches!(link.sender.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
            return;
        }
        let now = Instant::now();
        let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        let idle = pool.entry(origin).or_default();
        // Oldest first: drop those past their idle time.
        if idle
            .first()
            .is_some_and(|i| now.duration_since(i.since) >= inner.idle_timeout)
        {
            idle.retain(|i| now.duration_since(i.since) < inner.idle_timeout);
        }
        if idle.len() < inner.max_idle {
            idle.push(Idle { link, since: now });
        }
    }

    /// A new connection to `origin`, within the connect timeout.
    async fn connect(&self, origin: &Origin) -> Result<Box<Link>, SendError> {
        let timeout = self.inner.connect_timeout;
        match tokio::time::timeout(timeout, self.open(origin)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Connect(format!(
                "no connection within {} s",
                timeout.as_secs_f64()
            ))),
        }
    }

    async fn open(&self, origin: &Origin) -> Result<Box<Link>, SendError> {
        let tcp = TcpStream::connect((&*origin.host, origin.port))
            .await
            .map_err(|e| SendError::Connect(chain(&e)))?;
        // Small requests and SSE frames go out at once.
        let _ = tcp.set_nodelay(true);
        let io = if origin.tls {
            let name = rustls::pki_types::ServerName::try_from(origin.host.to_string())
                .map_err(|e| SendError::Connect(format!("invalid host name: {e}")))?;
            let tls = self
                .inner
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| SendError::Connect(format!("TLS: {}", chain(&e))))?;
            Io::Tls(Box::new(tls))
        } else {
            Io::Plain(tcp)
        };
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| SendError::Connect(chain(&e)))?;
        Ok(Box::new(Link { sender, conn }))
    }
}

/// A response body being read, with the connection it arrives on: reading
/// the body drives the connection.
pub(crate) struct Body {
    incoming: Incoming,
    /// The connection, until it ended or went back to the pool.
    conn: Option<Box<Link>>,
    origin: Option<Origin>,
    client: Arc<Inner>,
    finished: bool,
}

/// Why reading a body failed.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// The connection failed while reading.
    Failed(String),
}

impl Body {
    /// The whole body, of at most `limit` bytes.
    pub(crate) async fn read_all(mut self, limit: usize) -> Result<Bytes, BodyError> {
        use futures::StreamExt;
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        let mut len = 0usize;
        while let Some(chunk) = self.next().await {
            let chunk = chunk.map_err(|e| BodyError::Failed(chain(&e)))?;
            len += chunk.len();
            if len > limit {
                return Err(BodyError::TooLarge);
            }
            match &first {
                None => first = Some(chunk),
                Some(f) => {
                    if rest.is_empty() {
                        rest.reserve(len);
                        rest.extend_from_slice(f);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        Ok(if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            Bytes::from(rest)
        })
    }

    /// The body has been read to its end: the connection goes back to the
    /// pool.
    fn release(&mut self) {
        if let (Some(link), Some(origin)) = (self.conn.take(), self.origin.take()) {
            H1Client::checkin(&self.client, origin, link);
        }
    }
}

impl Drop for Body {
    /// A reader that stopped at the end of the content (an event stream's
    /// `[DONE]`) without reading the body's own end: when that end has
    /// arrived (it usually comes in the same read), the connection can
    /// take another request and goes back to the pool; otherwise, with
    /// unread data or more to come, it is dropped, which closes it.
    fn drop(&mut self) {
        if self.finished || self.conn.is_none() {
            return;
        }
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // A few rounds: each lets the connection take what the socket
        // holds and hand it to the body.
        for _ in 0..4 {
            if let Some(link) = &mut self.conn
                && Pin::new(&mut link.conn).poll(&mut cx).is_ready()
            {
                return;
            }
            loop {
                match Pin::new(&mut self.incoming).poll_frame(&mut cx) {
                    Poll::Ready(None) => {
                        self.release();
                        return;
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        if frame.data_ref().is_some_and(|d| !d.is_empty()) {
                            return;
                        }
                    }
                    Poll::Ready(Some(Err(_))) => return,
                    Poll::Pending => break,
                }
            }
        }
    }
}

impl Stream for Body {
    type Item = hyper::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        // Drive the connection: it reads the socket and feeds the body.
        if let Some(link) = &mut this.conn
            && Pin::new(&mut link.conn).poll(cx).is_ready()
        {
            this.conn = None;
        }
        loop {
            match Pin::new(&mut this.incoming).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                    // Empty data, or trailers.
                    _ => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.finished = true;
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.finished = true;
                    this.release();
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server answering every request on a connection with `reply`,
    /// counting connections; after `close_after` requests on a connection
    /// it closes it.
    async fn server(
        reply: &'static str,
        close_after: usize,
    ) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (Arc::clone(&conns), Arc::clone(&seen));
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                c.fetch_add(1, Ordering::SeqCst);
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    for _ in 0..close_after {
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 4096];
                        // Head, then the body by its length.
                        let (head_end, len) = loop {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                                let len = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length: "))
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .unwrap_or(0);
                                break (i + 4, len);
                            }
                        };
                        while buf.len() < head_end + len {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        s.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf).into_owned());
                        // Replies starting with "data:" are event streams,
                        // chunked as SSE servers send them.
                        let out = if reply.starts_with("data:") {
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{reply}\r\n0\r\n\r\n",
                                reply.len()
                            )
                        } else {
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                                reply.len()
                            )
                        };
                        sock.write_all(out.as_bytes()).await.unwrap();
                    }
                    // Closes.
                });
            }
        });
        (format!("http://{addr}/v1/chat"), conns, seen)
    }

    fn client() -> H1Client {
        H1Client::new(Duration::from_secs(5), Duration::from_secs(90), 8)
    }

    #[tokio::test]
    async fn sends_the_request_and_reuses_the_connection() {
        let (url, conns, seen) = server("{\"ok\":true}", 100).await;
        let target = Target::parse(&url).unwrap();
        let client = client();
        let auth = (
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer k"),
        );
        for _ in 0..3 {
            let ex = client
                .post(
                    &target,
                    std::slice::from_ref(&auth),
                    Bytes::from_static(b"{\"a\":1}"),
                )
                .await
                .unwrap();
            assert_eq!(ex.status, StatusCode::OK);
            assert_eq!(ex.headers["content-type"], "application/json");
            let body = ex.body.read_all(1024).await.unwrap();
            assert_eq!(&body[..], b"{\"ok\":true}");
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "one connection, reused");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let first = seen[0].to_lowercase();
        assert!(first.starts_with("post /v1/chat http/1.1\r\n"), "{first}");
        assert!(first.contains("\r\nhost: 127.0.0.1:"), "{first}");
        assert!(first.contains("\r\nauthorization: bearer k\r\n"), "{first}");
        assert!(first.contains("\r\ncontent-length: 7\r\n"), "{first}");
        assert!(first.contains("\r\nuser-agent: tollgate/"), "{first}");
        assert!(first.ends_with("\r\n\r\n{\"a\":1}"), "{first}");
    }

    #[tokio::test]
    async fn a_connection_is_lent_only_within_the_lane_it_was_opened_in() {
        let (url, conns, seen) = server("{}", 100).await;
        let target = Target::parse(&url).unwrap();
        let client = client();
        let call = || async {
            let ex = client
                .post(&target, &[], Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert_eq!(ex.body.read_all(1024).await.unwrap(), "{}");
        };
        set_connection_lane(1);
        call().await;
        call().await;
        assert_eq!(conns.load(Ordering::SeqCst), 1, "reused within lane 1");
        // Lane 1's idle connection is not lent to lane 2.
        set_connection_lane(2);
        call().await;
        assert_eq!(conns.load(Ordering::SeqCst), 2, "lane 2 opened its own");
        // Each lane reuses its own.
        set_connection_lane(1);
        call().await;
        set_connection_lane(2);
        call().await;
        set_connection_lane(0);
        assert_eq!(conns.load(Ordering::SeqCst), 2);
        assert_eq!(seen.lock().unwrap().len(), 5);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced_not_failed() {
        // The server closes every connection after one answer.
        let (url, conns, seen) = server("{}", 1).await;
        let target = Target::parse(&url).unwrap();
        let client = client();
        for _ in 0..3 {
            let ex = client
                .post(&target, &[], Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert_eq!(ex.body.read_all(1024).await.unwrap(), "{}");
            // Give the close time to arrive.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(conns.load(Ordering::SeqCst), 3);
        assert_eq!(seen.lock().unwrap().len(), 3, "each request sent once");
    }

    #[tokio::test]
    async fn a_dropped_body_closes_its_connection() {
        let (url, conns, _) = server("{\"long\":\"body\"}", 100).await;
        let target = Target::parse(&url).unwrap();
        let client = client();
        let ex = client.post(&target, &[], Bytes::new()).await.unwrap();
        drop(ex.body); // not read: the connection cannot be reused
        let ex = client.post(&target, &[], Bytes::new()).await.unwrap();
        let mut body = ex.body;
        let mut got = Vec::new();
        while let Some(chunk) = body.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"{\"long\":\"body\"}");
        assert_eq!(conns.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_dropped_after_its_last_byte_keeps_its_connection() {
        let (url, conns, _) = server("data: [DONE]\n\n", 100).await;
        let target = Target::parse(&url).unwrap();
        let client = client();
        for _ in 0..3 {
            let ex = client.post(&target, &[], Bytes::new()).await.unwrap();
            let mut body = ex.body;
            // Read the content, as an SSE reader stopping at [DONE] does,
            // but not the body's end.
            let chunk = body.next().await.unwrap().unwrap();
            assert_eq!(&chunk[..], b"data: [DONE]\n\n");
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(body);
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "one connection, reused");
    }

    #[tokio::test]
    async fn bodies_past_the_limit_and_dead_hosts_are_errors() {
        let (url, _, _) = server("0123456789", 100).await;
        let target = Target::parse(&url).unwrap();
        let client = client();
        let ex = client.post(&target, &[], Bytes::new()).await.unwrap();
        assert!(matches!(
            ex.body.read_all(9).await,
            Err(BodyError::TooLarge)
        ));

        // A port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let dead = Target::parse(&format!("http://127.0.0.1:{port}/v1")).unwrap();
        let err = match client.post(&dead, &[], Bytes::new()).await {
            Err(e) => e,
            Ok(_) => panic!("connected to a closed port"),
        };
        assert_eq!(err.reason(), "connection failed");
        assert!(err.describe().contains("refused"), "{}", err.describe());
    }

    #[test]
    fn targets_parse_urls_this_client_can_call() {
        let t = Target::parse("https://api.example.com/v1/chat/completions?x=1").unwrap();
        assert!(t.origin.tls);
        assert_eq!(&*t.origin.host, "api.example.com");
        assert_eq!(t.origin.port, 443);
        assert_eq!(t.path, "/v1/chat/completions?x=1");
        assert_eq!(t.host_header, "api.example.com");
        let t = Target::parse("http://[::1]:8080/v1").unwrap();
        assert_eq!(&*t.origin.host, "::1");
        assert_eq!(t.origin.port, 8080);
        assert_eq!(t.host_header, "[::1]:8080");
        assert!(Target::parse("ftp://h/x").is_none());
        assert!(Target::parse("http://user:pw@h/x").is_none());
        assert!(Target::parse("not a url").is_none());
    }
}
