//! Connections the mock can cut on purpose.
//!
//! A real upstream can vanish without answering. HTTP servers give a handler
//! no way to do that, so the mock's listener wraps each TCP stream in a
//! [`KillableStream`]: once its [`KillSwitch`] is flipped every read and
//! write fails, hyper gives up on the connection and the socket is closed
//! with no response. Handlers find the switch of their connection in the
//! request extensions ([`ConnKill`]); the server also uses the switches to
//! end connections still open after the shutdown grace period.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Cuts one connection.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    waker: AtomicWaker,
}

impl KillSwitch {
    /// Makes every further read and write on the connection fail, and wakes
    /// the connection task so it notices.
    pub(crate) fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    fn check(&self, cx: &Context<'_>) -> io::Result<()> {
        self.waker.register(cx.waker());
        if self.killed.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut by the mock",
            ))
        } else {
            Ok(())
        }
    }
}

/// The kill switch of the connection a request came on; absent when the
/// router is mounted in another server.
#[derive(Clone, Debug)]
pub(crate) struct ConnKill(pub(crate) Option<Arc<KillSwitch>>);

/// The connect info the mock's router is served with.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle(pub(crate) Arc<KillSwitch>);

impl Connected<IncomingStream<'_, MockListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, MockListener>) -> Self {
        Self(stream.io().switch.clone())
    }
}

/// A TCP stream with a [`KillSwitch`].
#[derive(Debug)]
pub(crate) struct KillableStream {
    inner: TcpStream,
    switch: Arc<KillSwitch>,
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.switch.check(cx)?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.switch.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.switch.check(cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.switch.check(cx)?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The switches of the live connections of one server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Connections(Arc<Mutex<Vec<Weak<KillSwitch>>>>);

impl Connections {
    fn add(&self, switch: &Arc<KillSwitch>) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(switch));
    }

    /// Cuts every live connection.
    pub(crate) fn kill_all(&self) {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for switch in all.iter().filter_map(Weak::upgrade) {
            switch.kill();
        }
    }
}

/// A TCP listener handing out [`KillableStream`]s.
#[derive(Debug)]
pub(crate) struct MockListener {
    inner: TcpListener,
    connections: Connections,
}

impl MockListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self {
            inner,
            connections: Connections::default(),
        }
    }

    pub(crate) fn connections(&self) -> Connections {
        self.connections.clone()
    }
}

impl Listener for MockListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((inner, addr)) => {
                    // Small SSE frames must leave at once, not wait for
                    // Nagle's algorithm and the peer's delayed ACK (~40 ms).
                    let _ = inner.set_nodelay(true);
                    let switch = Arc::new(KillSwitch::default());
                    self.connections.add(&switch);
                    return (KillableStream { inner, switch }, addr);
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // e.g. too many open files: wait for some to close
                    tracing::error!(error = %e, "mock: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
