//! Running a mock on a socket, and the handle tests hold.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::conn::{ConnHandle, MockListener};
use super::{Dialect, Failure, MockConfig, MockState, RecordedRequest, anthropic, gemini, openai};

/// How long in-flight requests may run after a shutdown signal before their
/// connections are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Entry points for running mock providers.
#[derive(Debug)]
pub struct MockServer;

impl MockServer {
    /// Starts a mock on `127.0.0.1` with a free port, in a background task.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound.
    pub async fn start(config: MockConfig) -> io::Result<MockHandle> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let dialect = config.dialect;
        let state = MockState::new(config);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_state(listener, state.clone(), async move {
            // a dropped sender means the handle is gone: shut down too
            let _ = rx.await;
        }));
        tracing::debug!(%addr, %dialect, "mock provider started");
        Ok(MockHandle {
            addr,
            dialect,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Serves a mock on `listener` until `shutdown` completes; requests still
    /// running then get [`SHUTDOWN_GRACE`] to finish before their
    /// connections are cut.
    ///
    /// # Errors
    ///
    /// When the server fails to run.
    pub async fn serve(
        listener: TcpListener,
        config: MockConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        serve_state(listener, MockState::new(config), shutdown).await
    }

    /// The mock's router for the dialect of its configuration, with routes
    /// under [`Dialect::base_path`] (`/v1` for OpenAI and Anthropic,
    /// `/v1beta` for Gemini), for mounting inside another axum app (the
    /// gateway's `--dev` mode). The dialect is fixed when the router is
    /// built; a later [`MockState::set_config`] does not change it.
    ///
    /// Mounted this way the mock has no hold on the connection: a scripted
    /// drop of a non-streamed request fails the response body at once, and
    /// hyper then drops the connection (usually before the headers are out,
    /// else right after them).
    pub fn router(state: MockState) -> Router {
        match state.config().dialect {
            Dialect::OpenAi => openai::router(state),
            Dialect::Anthropic => anthropic::router(state),
            Dialect::Gemini => gemini::router(state),
        }
    }
}

async fn serve_state(
    listener: TcpListener,
    state: MockState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = MockListener::new(listener);
    let connections = listener.connections();
    let app = MockServer::router(state).into_make_service_with_connect_info::<ConnHandle>();
    let (fired_tx, fired_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = fired_tx.send(());
    };
    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .into_future();
    tokio::pin!(serving);
    tokio::select! {
        result = &mut serving => return result,
        _ = fired_rx => {}
    }
    if let Ok(result) = tokio::time::timeout(SHUTDOWN_GRACE, &mut serving).await {
        return result;
    }
    tracing::debug!("mock: grace period over, cutting open connections");
    connections.kill_all();
    match tokio::time::timeout(SHUTDOWN_GRACE, &mut serving).await {
        Ok(result) => result,
        // a connection that never polls its socket again is left to the runtime
        Err(_) => Ok(()),
    }
}

/// A running mock. Dropping it shuts the mock down (in the background);
/// [`MockHandle::shutdown`] waits for that.
#[derive(Debug)]
pub struct MockHandle {
    addr: SocketAddr,
    dialect: Dialect,
    state: MockState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockHandle {
    /// The address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dialect the mock speaks (fixed when it started).
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// `http://127.0.0.1:PORT`, without any path.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL a provider configuration uses for this mock: the origin
    /// plus [`Dialect::base_path`], the API version segment included, so
    /// clients append only the endpoint:
    ///
    /// - OpenAI: `http://127.0.0.1:PORT/v1` (+ `/chat/completions`),
    /// - Anthropic: `http://127.0.0.1:PORT/v1` (+ `/messages`),
    /// - Gemini: `http://127.0.0.1:PORT/v1beta` (+
    ///   `/models/{model}:generateContent`).
    ///
    /// (Anthropic's SDKs take the bare origin and append `/v1/messages`
    /// themselves; use [`MockHandle::origin`] for those.)
    pub fn base_url(&self) -> String {
        format!("{}{}", self.origin(), self.dialect.base_path())
    }

    /// `base_url() + path`, e.g. `url("/chat/completions")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The mock's shared state.
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// The requests received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.last_request()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.state.request_count()
    }

    /// How many streams the client abandoned before their end.
    pub fn cancelled_streams(&self) -> usize {
        self.state.cancelled_streams()
    }

    /// How many streams were sent to the end.
    pub fn completed_streams(&self) -> usize {
        self.state.completed_streams()
    }

    /// A snapshot of the configuration.
    pub fn config(&self) -> MockConfig {
        self.state.config()
    }

    /// Replaces the configuration for the requests that follow.
    pub fn set_config(&self, config: MockConfig) {
        self.state.set_config(config);
    }

    /// Sets or clears the injected failure for the requests that follow.
    pub fn set_failure(&self, failure: Option<Failure>) {
        self.state.set_failure(failure);
    }

    /// Shuts the mock down and waits until it has stopped (at most about
    /// twice [`SHUTDOWN_GRACE`]).
    ///
    /// # Errors
    ///
    /// When the server task failed.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
