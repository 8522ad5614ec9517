//! The Tollgate gateway: an axum application serving the OpenRouter-compatible
//! API under `/api/v1`.
//!
//! It owns the request path: authenticate (hashed bearer key, cached) →
//! parse and validate (400 naming the field) → resolve the model in the
//! catalog → try its endpoints in order, failing over on retryable provider
//! errors before the first byte reaches the client → answer as JSON or as
//! server-sent events (usage always in a final chunk with `choices: []`).
//!
//! It composes every library crate below it; nothing depends on it but the
//! `tollgated` binary and tests.
//!
//! Architecture Invariant: HTTP concerns (status codes, headers, SSE framing)
//! live here and nowhere below; provider dialects live in
//! `tollgate-transport`.
#![deny(missing_docs)]

mod accept;
pub mod auth;
mod books;
pub mod config;
#[cfg(feature = "dev")]
pub mod dev;
pub mod error;
pub mod health_sync;
mod ids;
mod ingress;
pub mod limits;
mod moderation;
pub mod observe;
mod pipeline;
pub mod reload;
mod routes;
pub mod search;
pub mod state;
mod validate;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tollgate_catalog::Catalog;
use tollgate_store::Store;
use tollgate_transport::{HttpClient, HttpClientConfig};

pub use books::MAX_AGE as BOOKS_MAX_AGE;
pub use config::{Config, ConfigError};
pub use error::ApiError;
pub use reload::{CatalogSource, ReloadError, ReloadSummary};
pub use routes::access::AdminAuth;
pub use routes::route_list;
use state::AppState;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The provider catalog cannot be loaded.
    #[error(transparent)]
    Catalog(#[from] tollgate_catalog::Error),
    /// The database cannot be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] tollgate_store::Error),
    /// A provider cannot be set up.
    #[error("provider `{provider}`: {message}")]
    Provider {
        /// Its slug.
        provider: String,
        /// What is wrong.
        message: String,
    },
    /// The rate limiter cannot start (a configured Redis is unreachable).
    #[error("rate limits: {0}")]
    Limits(#[from] limits::Error),
    /// The listener failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with the gateway's start-up [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A built gateway: state ready, router on demand.
#[derive(Debug, Clone)]
pub struct Gateway {
    state: Arc<AppState>,
    admin: Arc<AdminAuth>,
    /// The web dashboard's settings and sessions; `None` when
    /// `[dashboard] enabled = false`.
    dashboard: Option<Arc<routes::dashboard::Sessions>>,
    /// The exclusive lock on a SQLite database's lock file, held (never
    /// read) while the gateway lives (see [`reconcile`]).
    _db_lock: Option<Arc<std::fs::File>>,
}

impl Gateway {
    /// Loads the catalog, opens the database and builds the provider
    /// adapters described by `config`.
    pub async fn build(config: &Config) -> Result<Gateway> {
        let catalog = Catalog::load(&config.providers, &config.base_dir)?;
        let db_lock = lock_sqlite(&config.database.url)?;
        let store = Store::connect(&config.database.url).await?;
        let replica = config.server.replica();
        reconcile(&store, &replica).await?;
        let limiter = limits::RateLimiter::connect(
            config.rate_limits.clone(),
            config.redis.effective_url().as_deref(),
        )
        .await?;
        tracing::info!(backend = limiter.backend(), "rate limits");
        let mut gateway = Gateway::with_replica(config, catalog, store, limiter, replica)?
            .with_admin(AdminAuth::from_env())
            .with_catalog_source(CatalogSource::Listings {
                providers: config.providers.clone(),
                base_dir: config.base_dir.clone(),
            });
        gateway._db_lock = db_lock.map(Arc::new);
        // Replicas sharing a Redis share provider health too.
        if let Some(url) = config.redis.effective_url() {
            health_sync::start(&gateway.state, &url, config.redis.health_prefix());
        }
        Ok(gateway)
    }

    /// Builds a gateway from a catalog and a store made elsewhere (tests, dev
    /// mode), counting rate limits in memory.
    pub fn from_parts(config: &Config, catalog: Catalog, store: Store) -> Result<Gateway> {
        let limiter = limits::RateLimiter::memory(config.rate_limits.clone())?;
        Gateway::with_limiter(config, catalog, store, limiter)
    }

    /// Builds a gateway with a given rate limiter.
    pub fn with_limiter(
        config: &Config,
        catalog: Catalog,
        store: Store,
        limiter: limits::RateLimiter,
    ) -> Result<Gateway> {
        let replica = config.server.replica();
        Gateway::with_replica(config, catalog, store, limiter, replica)
    }

    /// [`Gateway::with_limiter`] under a replica identity resolved once
    /// (the one [`reconcile`] released the leases of).
    fn with_replica(
        config: &Config,
        catalog: Catalog,
        store: Store,
        limiter: limits::RateLimiter,
        replica: String,
    ) -> Result<Gateway> {
        let client = HttpClient::new(HttpClientConfig {
            max_response_bytes: config.server.max_upstream_response_bytes,
            ..HttpClientConfig::default()
        })
        .map_err(|e| Error::Provider {
            provider: String::from("*"),
            message: e.to_string(),
        })?;
        let routes = reload::build_routes(&config.providers, catalog, &client)?;
        let search = search::Search::new(config.search.clone(), client.clone());
        let moderation = config
            .moderation
            .as_ref()
            .map(|m| moderation::Moderation::from_config(m, &client))
            .transpose()
            .map_err(|message| Error::Provider {
                provider: String::from("moderation"),
                message,
            })?;
        tokio::runtime::Handle::try_current().map_err(|_| Error::Provider {
            provider: String::from("books"),
            message: String::from("a gateway must be built inside a Tokio runtime"),
        })?;
        let metrics = Arc::new(observe::Metrics::default());
        let books = books::Books::start(
            store.clone(),
            books::Settings {
                mode: config.billing.holds_mode(store.backend()),
                durable: config.billing.durable_replies,
                replica,
                lease_ttl: config.billing.lease_ttl(),
            },
            metrics.books(),
        );
        let state = AppState {
            routes: arc_swap::ArcSwap::from_pointee(routes),
            reloader: reload::Reloader::new(reload::CatalogSource::in_memory(), client),
            store,
            keys: auth::KeyCache::default(),
            server: config.server.clone(),
            policy: config.routing.clone(),
            health: std::sync::Mutex::new(tollgate_routing::HealthTracker::new(&config.routing)),
            health_snapshot: std::sync::RwLock::new(Default::default()),
            started: std::time::Instant::now(),
            limiter,
            credit_tiers: Default::default(),
            byok: Default::default(),
            metrics,
            books,
            health_sync: Default::default(),
            admin_secrets: Default::default(),
            draining: Default::default(),
            search,
            moderation,
        };
        Ok(Gateway {
            state: Arc::new(state),
            admin: Arc::new(AdminAuth::disabled()),
            dashboard: config
                .dashboard
                .enabled
                .then(|| Arc::new(routes::dashboard::Sessions::new(&config.dashboard))),
            _db_lock: None,
        })
    }

    /// What this gateway serves, for the start-up summary.
    pub fn summary(&self) -> Summary {
        let routes = self.state.routes();
        let providers = routes
            .catalog
            .providers()
            .iter()
            .map(|p| p.slug.clone())
            .collect();
        Summary {
            providers,
            models: routes.catalog.models().len(),
            database: self.state.store.backend().as_str(),
            rate_limits: self.state.limiter.backend(),
            warnings: Vec::new(),
        }
    }

    /// How [`serve`] spreads requests over threads: `[server] runtime`
    /// resolved for this gateway's database.
    pub fn runtime(&self) -> config::Runtime {
        self.state
            .server
            .runtime
            .resolve(self.state.store.backend())
    }

    /// The store, for set-up tasks (accounts, keys).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The account's balance as this gateway's 402 check sees it: every
    /// settlement written, and this gateway's holds in flight counted as
    /// held (what `/credits` and the admin account view show).
    pub async fn balance(
        &self,
        account_id: &str,
    ) -> Result<tollgate_store::Balance, tollgate_store::Error> {
        self.state.books.balance(account_id).await
    }

    /// Waits until every settlement and generation record of the requests
    /// answered so far is written to the store (they are written behind
    /// the responses, in batches), returns the credit leases with nothing
    /// in flight (leased mode), and makes the next request re-read
    /// balances and limits from it: call it before reading money from the
    /// store directly, and after changing money there behind the gateway.
    pub async fn sync_books(&self) {
        self.state.books.close().await;
        self.state.books.invalidate();
    }

    /// The axum application.
    pub fn router(&self) -> Router {
        let app = routes::router(self.state.clone());
        // The dashboard is mounted beside the API (its own paths, no
        // fallback), so the API's routes answer the same with it off.
        let app = match &self.dashboard {
            Some(sessions) => app.merge(routes::dashboard::router(
                self.state.clone(),
                self.admin.clone(),
                sessions.clone(),
            )),
            None => app,
        };
        let server = &self.state.server;
        // Every middleware in one `Router::layer`, outermost first. axum
        // wraps each route in a boxed service per `layer` call and clones
        // that service for every request it routes: with one call per
        // middleware, a request cloned (and allocated) seven nested boxes and
        // boxed seven futures before reaching its handler. (A macro, as the
        // stack's type differs with CORS on and off.)
        macro_rules! middleware {
            ($cors:expr) => {
                tower::ServiceBuilder::new()
                    // The observing middleware sees every request, including
                    // those answered by the layers below it.
                    .layer(axum::middleware::from_fn_with_state(
                        self.state.metrics.clone(),
                        observe::track,
                    ))
                    // Outside the body limit, so a 413 carries CORS headers a
                    // page can read.
                    .layer($cors)
                    .layer(axum::middleware::from_fn_with_state(
                        server.max_body_bytes,
                        accept::announced_body_limit,
                    ))
                    .layer(tower::util::MapRequestLayer::new(accept::body_deadline(
                        server.request_body_timeout_secs,
                    )))
                    .layer(axum::Extension(self.admin.clone()))
                    // The dashboard's routes set a smaller limit of their own
                    // inside this one.
                    .layer(axum::extract::DefaultBodyLimit::max(server.max_body_bytes))
            };
        }
        match routes::cors::layer(server) {
            Some(cors) => app.layer(middleware!(cors)),
            None => app.layer(middleware!(tower::layer::util::Identity::new())),
        }
    }

    /// This gateway's metrics (what `GET /metrics` renders).
    pub fn metrics(&self) -> &Arc<observe::Metrics> {
        &self.state.metrics
    }

    /// Enables the admin API (`/api/v1/admin/...`) with this admin key.
    pub fn with_admin(mut self, admin: AdminAuth) -> Gateway {
        self.state
            .admin_secrets
            .store(Arc::new(admin.secrets().clone()));
        self.admin = Arc::new(admin);
        self
    }

    /// Where [`Gateway::reload_catalog`] (and `POST
    /// /api/v1/admin/catalog/reload`) read the catalog from.
    /// [`Gateway::build`] sets the listing files of its config's providers;
    /// a gateway built from parts has nothing to reload until this is set.
    pub fn with_catalog_source(self, source: CatalogSource) -> Gateway {
        self.state.reloader.set_source(source);
        self
    }

    /// Reads the providers and their listings again from the catalog
    /// source, validates them and swaps the new catalog in; requests in
    /// flight finish on the old one. On error nothing changes.
    pub async fn reload_catalog(&self) -> Result<ReloadSummary, ReloadError> {
        reload::reload(&self.state).await
    }
}

/// What a gateway serves ([`Gateway::summary`], [`check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The providers' slugs, in configuration order.
    pub providers: Vec<String>,
    /// How many models the catalog lists.
    pub models: usize,
    /// The database backend (`sqlite`, `postgres`).
    pub database: &'static str,
    /// Where rate limits are counted (`memory`, `redis`).
    pub rate_limits: &'static str,
    /// What would work but probably not as meant ([`check`] only): a
    /// provider key variable unset.
    pub warnings: Vec<String>,
}

/// `tollgated --check`: validates `config` as [`Gateway::build`] would,
/// without opening the database or connecting anywhere: the providers and
/// their listing files (the catalog), the database URL's kind and the rate
/// limits. Returns what it would serve.
pub fn check(config: &Config) -> Result<Summary> {
    let catalog = Catalog::load(&config.providers, &config.base_dir)?;
    let database = tollgate_store::Backend::from_url(&config.database.url)?.as_str();
    limits::RateLimiter::memory(config.rate_limits.clone())?;
    let mut warnings = Vec::new();
    for p in &config.providers {
        if let Some(var) = &p.api_key_env
            && std::env::var(var).map_or(true, |v| v.is_empty())
        {
            warnings.push(format!(
                "provider `{}`: {var} is not set; it would be called without a key",
                p.slug
            ));
        }
    }
    // The adapters' settings (base URLs, timeouts), as a start builds them.
    let client = HttpClient::new(HttpClientConfig::default()).map_err(|e| Error::Provider {
        provider: String::from("*"),
        message: e.to_string(),
    })?;
    let routes = reload::build_routes(&config.providers, catalog, &client)?;
    let catalog = &routes.catalog;
    Ok(Summary {
        warnings,
        providers: catalog.providers().iter().map(|p| p.slug.clone()).collect(),
        models: catalog.models().len(),
        database,
        rate_limits: if config.redis.effective_url().is_some() {
            "redis"
        } else {
            "memory"
        },
    })
}

/// Takes the exclusive lock that makes a gateway the only process using a
/// SQLite database file (`<file>.lock` beside it); `None` for PostgreSQL and
/// in-memory SQLite.
fn lock_sqlite(url: &str) -> Result<Option<std::fs::File>> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(None);
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::Provider {
            provider: String::from("database"),
            message: format!("cannot open lock file {lock_path}: {e}"),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Provider {
            provider: String::from("database"),
            message: format!(
                "{path} is in use by another tollgated (lock file {lock_path}): a SQLite database serves one instance; run replicas on PostgreSQL"
            ),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Provider {
            provider: String::from("database"),
            message: format!("cannot lock {lock_path}: {e}"),
        }),
    }
}

/// Start-up reconciliation: holds left open by a crash (requests that never
/// settled) are released, so no credit stays reserved and none is charged
/// for work whose outcome is unknown.
///
/// On SQLite the gateway is the database's only process (an exclusive lock
/// file enforces it), so every open hold at start-up belongs to a dead
/// process and is released at once. On PostgreSQL other replicas may have
/// requests in flight, so only holds past their expiry are released, and
/// the credit leases of this replica's identity (`replica`): a predecessor
/// under the same identity that died (`kill -9`) left them, and no other
/// process uses them, so the whole balance is available again at once
/// rather than when they lapse.
pub async fn reconcile(store: &Store, replica: &str) -> Result<u64> {
    let now = chrono::Utc::now();
    let released = match store.backend() {
        tollgate_store::Backend::Sqlite => store.expire_open_holds(now).await?,
        tollgate_store::Backend::Postgres => {
            let leases = store.release_leases(replica, now).await?;
            if leases > 0 {
                tracing::warn!(
                    leases,
                    replica,
                    "released this replica's credit leases left open by an earlier run"
                );
            }
            leases + store.expire_holds(now).await?
        }
    };
    if released > 0 {
        tracing::warn!(released, "released holds left open by an earlier run");
    }
    store.purge_oauth_codes(now).await?;
    Ok(released)
}

/// Serves `gateway` on `listener` until `shutdown` completes, then drains.
///
/// Once `shutdown` completes, no new connection is accepted and in-flight
/// requests get `server.shutdown_grace_secs` to finish; streams still open
/// after that are cut (their holds are settled or released when their tasks
/// end, and any left open are reconciled at the next start).
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_with_grace(listener, gateway, shutdown, None).await
}

/// `TOKIO_WORKER_THREADS`, as Tokio's own runtime builder reads it.
fn tokio_worker_threads() -> Option<usize> {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// [`serve`] with the drain deadline given here instead of by the config.
pub async fn serve_with_grace(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Option<std::time::Duration>,
) -> Result<()> {
    let grace = grace.unwrap_or_else(|| {
        std::time::Duration::from_secs_f64(gateway.state.server.shutdown_grace_secs)
    });
    let app = gateway.router();
    let (began, draining) = tokio::sync::oneshot::channel::<()>();
    let state = gateway.state.clone();
    let signal = async move {
        shutdown.await;
        // `GET /ready` answers 503 from now on, on the connections still open.
        state
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = began.send(());
    };
    // Holds past their expiry (requests that died without settling) are
    // released while the gateway runs too, not only at the next start.
    let store = gateway.state.store.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match store.expire_holds(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(released = n, "released expired holds"),
                Err(e) => tracing::error!(error = %e, "sweeping expired holds failed"),
            }
        }
    });
    let server_config = &gateway.state.server;
    let limits = accept::Limits {
        header_read: std::time::Duration::from_secs_f64(server_config.header_read_timeout_secs),
        first_byte: std::time::Duration::from_secs_f64(server_config.first_byte_timeout_secs),
        idle: std::time::Duration::from_secs_f64(server_config.idle_timeout_secs),
        max_connections: server_config.connection_cap(),
    };
    // Per-core: the connections are served by threads of their own, this
    // runtime keeps the accept loop and the background work.
    let workers = match gateway.runtime() {
        config::Runtime::PerCore => {
            let threads = server_config
                .worker_threads
                .or_else(tokio_worker_threads)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let workers = accept::Workers::start(threads)?;
            tracing::info!(threads = workers.len(), "serving on one runtime per thread");
            Some(workers)
        }
        config::Runtime::WorkStealing => None,
    };
    // The work-stealing runtime's one timer wheel needs the same pacing
    // timer as each serving thread's (see `accept::workers::pace`).
    let pacer = workers.is_none().then(|| tokio::spawn(accept::pace()));
    let server = accept::serve(
        listener,
        app,
        limits,
        gateway.state.metrics.connections(),
        workers.as_ref(),
        signal,
    );
    let deadline = async move {
        if draining.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        done = server => done?,
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "drain deadline passed; closing the connections still open");
        }
    }
    sweeper.abort();
    if let Some(pacer) = pacer {
        pacer.abort();
    }
    // Streams cut by the deadline end here, so that what their ends write
    // is queued before the books close.
    if let Some(workers) = workers {
        workers.stop().await;
    }
    // Every settlement and record of the requests served is written, and
    // the credit leases returned, before the process may exit.
    gateway.state.books.close().await;
    Ok(())
}
