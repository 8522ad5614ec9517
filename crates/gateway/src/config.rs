//! `tollgate.toml`: one typed tree, validated at start-up with errors that
//! name the file, the key and what is wrong. Secrets come from the
//! environment, never from the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tollgate_catalog::ProviderConfig;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[database]`.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `[rate_limits]`: free-model and surge limits.
    #[serde(default)]
    pub rate_limits: crate::limits::RateLimitConfig,
    /// `[redis]`: shared counters across replicas.
    #[serde(default)]
    pub redis: RedisConfig,
    /// `[routing]`: load balancing and health settings.
    #[serde(default)]
    pub routing: tollgate_routing::Policy,
    /// `[billing]`: where holds are kept and when settlements are written.
    #[serde(default)]
    pub billing: BillingConfig,
    /// `[telemetry]`: OpenTelemetry trace export (off by default).
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// `[search]`: the web-search backend and its price (off by default).
    #[serde(default)]
    pub search: crate::search::SearchConfig,
    /// `[moderation]`: the backend checking the input of moderated
    /// endpoints (absent: such endpoints cannot be served).
    #[serde(default)]
    pub moderation: Option<ModerationConfig>,
    /// `[dashboard]`: the web dashboard (on by default).
    #[serde(default)]
    pub dashboard: DashboardConfig,
    /// `[[providers]]`.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Directory that relative paths (listing files) are resolved against:
    /// the config file's directory.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[moderation]`: a backend speaking the OpenAI moderation API
/// (`POST {base_url}/v1/moderations`), asked about the input of every
/// request to an endpoint whose listing says `is_moderated`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    /// The backend's base URL (`https://api.openai.com`); a URL ending in
    /// `/v1` is used as is.
    pub base_url: String,
    /// The moderation model (default `omni-moderation-latest`).
    #[serde(default = "default_moderation_model")]
    pub model: String,
    /// The environment variable holding the backend's key, sent as a
    /// bearer token (none: no `Authorization` header).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds a check may take before the backend counts as down
    /// (default 10).
    #[serde(default = "default_moderation_timeout")]
    pub timeout_secs: f64,
}

fn default_moderation_model() -> String {
    String::from("omni-moderation-latest")
}

fn default_moderation_timeout() -> f64 {
    10.0
}

impl ModerationConfig {
    fn validate(&self) -> Result<(), String> {
        match url::Url::parse(&self.base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(format!(
                    "moderation.base_url `{}` is not an http(s) URL",
                    self.base_url
                ));
            }
        }
        if self.model.trim().is_empty() {
            return Err(String::from("moderation.model must not be empty"));
        }
        if !(0.001..=600.0).contains(&self.timeout_secs) {
            return Err(String::from(
                "moderation.timeout_secs must be between 0.001 and 600",
            ));
        }
        if self
            .api_key_env
            .as_deref()
            .is_some_and(|v| v.trim().is_empty())
        {
            return Err(String::from("moderation.api_key_env must not be empty"));
        }
        Ok(())
    }
}

/// `[billing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingConfig {
    /// Where holds are checked: `auto` (the default: in memory on SQLite,
    /// whose file one process owns; against per-key credit leases on
    /// PostgreSQL, which replicas share), `memory` (only for a single
    /// replica on PostgreSQL), `lease` or `database` (every hold a
    /// transaction).
    #[serde(default)]
    pub holds: HoldsMode,
    /// Answers wait until their settlement and generation record are
    /// committed (default false: they are written in the next batch, a
    /// few milliseconds later; a `kill -9` in between loses that batch's
    /// charges, never charges twice).
    #[serde(default)]
    pub durable_replies: bool,
    /// Seconds a credit lease (PostgreSQL) stays held after its replica's
    /// last heartbeat (one every quarter of it): how long a replica that
    /// dies without returning its leases keeps that credit from the other
    /// replicas (1 to 3600; default 20). Replicas' clocks must agree to
    /// well within it.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_secs: f64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            holds: HoldsMode::default(),
            durable_replies: false,
            lease_ttl_secs: default_lease_ttl(),
        }
    }
}

fn default_lease_ttl() -> f64 {
    20.0
}

/// Where holds are checked, [`BillingConfig::holds`] resolved for a
/// database backend: what the books run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BooksMode {
    /// In memory against figures loaded from the store (one writer).
    Local,
    /// In memory against per-key leases held in the store (replicas).
    Leased,
    /// In the store, one transaction per hold and per settlement.
    Direct,
}

/// `[server] runtime`: how requests are spread over the serving threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeMode {
    /// `per-core` on SQLite, `work-stealing` on PostgreSQL.
    #[default]
    Auto,
    /// One single-threaded runtime per serving thread: each client
    /// connection is handed, when accepted, to the thread with the fewest
    /// open connections, and its requests run there to the end, upstream
    /// calls included. Nothing is handed between threads on a request's
    /// way, so no thread is woken for another's work. Background work (the
    /// accept loop, the books' writer) runs on a thread of its own.
    PerCore,
    /// One multi-thread runtime whose idle threads steal queued work from
    /// busy ones. What PostgreSQL needs: its pooled connections are polled
    /// by whichever request borrows them, and a connection opened on one
    /// per-core runtime would wait for that runtime's thread to notice it
    /// is readable.
    WorkStealing,
}

/// What [`RuntimeMode`] comes to for a database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// See [`RuntimeMode::PerCore`].
    PerCore,
    /// See [`RuntimeMode::WorkStealing`].
    WorkStealing,
}

impl Config {
    /// The runtime `[server] runtime` comes to for `[database] url`, or
    /// for a SQLite database when `dev` (`tollgated --dev` opens one of
    /// its own). A URL naming no backend gets work-stealing; the store
    /// refuses it at start anyway.
    pub fn runtime(&self, dev: bool) -> Runtime {
        let backend = if dev {
            Ok(tollgate_store::Backend::Sqlite)
        } else {
            tollgate_store::Backend::from_url(&self.database.url)
        };
        backend.map_or(Runtime::WorkStealing, |b| self.server.runtime.resolve(b))
    }
}

impl RuntimeMode {
    /// The runtime for a database on `backend`.
    pub fn resolve(self, backend: tollgate_store::Backend) -> Runtime {
        match self {
            RuntimeMode::Auto if backend == tollgate_store::Backend::Sqlite => Runtime::PerCore,
            RuntimeMode::Auto | RuntimeMode::WorkStealing => Runtime::WorkStealing,
            RuntimeMode::PerCore => Runtime::PerCore,
        }
    }
}

/// `[billing] holds`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldsMode {
    /// Memory on SQLite, the database on PostgreSQL.
    #[default]
    Auto,
    /// In memory: this process must be the database's only writer.
    Memory,
    /// In memory against credit leases held in the database: safe for any
    /// number of replicas, one database write per lease rather than per
    /// request.
    Lease,
    /// In the database, each hold a transaction: safe for any number of
    /// replicas.
    Database,
}

impl BillingConfig {
    /// Where holds are checked on `backend`.
    pub fn holds_mode(&self, backend: tollgate_store::Backend) -> BooksMode {
        match self.holds {
            HoldsMode::Auto if backend == tollgate_store::Backend::Sqlite => BooksMode::Local,
            HoldsMode::Auto | HoldsMode::Lease => BooksMode::Leased,
            HoldsMode::Memory => BooksMode::Local,
            HoldsMode::Database => BooksMode::Direct,
        }
    }

    /// [`BillingConfig::lease_ttl_secs`] as a duration.
    pub fn lease_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.lease_ttl_secs)
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// This replica's identity, stable across its restarts and unique
    /// among the replicas sharing a database: its credit leases carry it,
    /// so a restarted replica releases the leases its predecessor left
    /// (letters, digits, `.`, `-` and `:`, at most 64). Unset: the host
    /// name and `listen` (`host-127.0.0.1:8080`), or, when `listen` asks
    /// for any port (`:0`), the host name and a random suffix (not stable:
    /// a dead replica's leases then lapse after `billing.lease_ttl_secs`).
    #[serde(default)]
    pub replica_id: Option<String>,
    /// Public URL, for OAuth redirects.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest non-streamed upstream response body, in bytes: a larger one
    /// fails that attempt (502 when no other endpoint answers) instead of
    /// being buffered whole.
    #[serde(default = "default_max_upstream_response")]
    pub max_upstream_response_bytes: usize,
    /// Seconds a client has to send a request's headers (HTTP/1), counted
    /// from the request's first byte, before its connection is closed; an
    /// HTTP/2 client has as long from connecting to send its connection
    /// preface and SETTINGS.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: f64,
    /// Seconds a new connection has to send its first byte; one that stays
    /// silent is closed.
    #[serde(default = "default_first_byte_timeout")]
    pub first_byte_timeout_secs: f64,
    /// Seconds a connection may stay open with no request in flight
    /// (HTTP/1 keep-alive between requests, HTTP/2 with no stream open)
    /// before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: f64,
    /// Most client connections open at once. At the cap a new connection
    /// closes the connection idle the longest (silent, trickling its
    /// headers or between requests), so `/health` and new clients still
    /// get in; only when every connection has a request in flight is the
    /// new one refused. Unset: half the process's open-file limit (each
    /// client in flight may hold an upstream connection too) less a
    /// reserve for the database, logs and listeners (see
    /// [`ServerConfig::connection_cap`]).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's whole body; a slower upload
    /// is refused (400).
    #[serde(default = "default_request_body_timeout")]
    pub request_body_timeout_secs: f64,
    /// Seconds to wait for a stream's first upstream byte before the
    /// response is committed (200 + `: OPENROUTER PROCESSING` comments).
    #[serde(default = "default_keepalive")]
    pub stream_keepalive_secs: f64,
    /// Seconds in-flight requests (long streams) may take to finish after
    /// SIGTERM before their connections are closed.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: f64,
    /// Seconds after which no further endpoint is tried for a request (the
    /// attempt under way still finishes): the total time budget of failover.
    #[serde(default = "default_failover_budget")]
    pub failover_budget_secs: f64,
    /// Seconds an OAuth PKCE authorization code (from `/auth` or `POST
    /// /api/v1/auth/keys/code`) can be exchanged for a key (1 to 86400).
    #[serde(default = "default_oauth_code_ttl")]
    pub oauth_code_ttl_secs: u64,
    /// Threads serving requests: the serving threads of the `per-core`
    /// runtime, or the workers of the `work-stealing` one. Unset:
    /// `TOKIO_WORKER_THREADS`, else one per CPU. On a box shared with the
    /// upstream or a load generator, fewer can be faster (see
    /// bench/README.md).
    #[serde(default)]
    pub worker_threads: Option<usize>,
    /// How requests are spread over those threads (see [`RuntimeMode`]):
    /// `"auto"` (the default: `per-core` on SQLite, `work-stealing` on
    /// PostgreSQL), `"per-core"` or `"work-stealing"`.
    #[serde(default)]
    pub runtime: RuntimeMode,
    /// Origins a browser may call the API from (CORS): `["*"]` (the
    /// default) allows any origin, without credentials; a list of origins
    /// (`"https://app.example"`, scheme, host and port only) allows those
    /// alone; an empty list sends no CORS headers at all.
    #[serde(default = "default_cors_allowed_origins")]
    pub cors_allowed_origins: Vec<String>,
    /// Whether the listed origins may send credentials (cookies, HTTP
    /// authentication): `Access-Control-Allow-Credentials: true`. Only with
    /// a list of origins, never with `"*"`. Default false (API keys travel
    /// in `Authorization`, which needs no credentials mode).
    #[serde(default)]
    pub cors_allow_credentials: bool,
    /// The cipher of users' own provider keys (BYOK), derived from the
    /// [`SECRET_KEY_ENV`] environment variable by [`Config::load`], never
    /// from the file; `None` disables BYOK.
    #[serde(skip)]
    pub byok_cipher: Option<tollgate_store::ByokCipher>,
}

/// The environment variable holding the secret that BYOK keys are
/// encrypted under: 32 bytes as 64 hex digits or base64, or a passphrase of
/// at least 32 characters (see `tollgate_store::ByokCipher::from_secret`).
pub const SECRET_KEY_ENV: &str = "TOLLGATE_SECRET_KEY";

fn default_oauth_code_ttl() -> u64 {
    600
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            replica_id: None,
            public_url: None,
            max_body_bytes: default_max_body(),
            max_upstream_response_bytes: default_max_upstream_response(),
            header_read_timeout_secs: default_header_read_timeout(),
            first_byte_timeout_secs: default_first_byte_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: None,
            request_body_timeout_secs: default_request_body_timeout(),
            stream_keepalive_secs: default_keepalive(),
            shutdown_grace_secs: default_grace(),
            failover_budget_secs: default_failover_budget(),
            oauth_code_ttl_secs: default_oauth_code_ttl(),
            worker_threads: None,
            runtime: RuntimeMode::Auto,
            cors_allowed_origins: default_cors_allowed_origins(),
            cors_allow_credentials: false,
            byok_cipher: None,
        }
    }
}

/// Descriptors kept for everything but client connections when the cap
/// is derived from the open-file limit: the database pool, Redis, log
/// files, the listener and the runtime's own.
const RESERVED_FDS: u64 = 64;

impl ServerConfig {
    /// The cap on open client connections: `max_connections`, else half of
    /// the process's soft open-file limit less [`RESERVED_FDS`] (a client
    /// with a request in flight may hold an upstream connection as well),
    /// at least 16; 10,000 where the limit cannot be read (not Linux).
    pub fn connection_cap(&self) -> usize {
        if let Some(cap) = self.max_connections {
            return cap;
        }
        match open_file_limit() {
            Some(limit) => {
                let cap = limit.saturating_sub(RESERVED_FDS) / 2;
                usize::try_from(cap).unwrap_or(usize::MAX).max(16)
            }
            None => 10_000,
        }
    }

    /// This replica's identity (see [`ServerConfig::replica_id`]).
    pub fn replica(&self) -> String {
        if let Some(id) = &self.replica_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| String::from("localhost"));
        let place = if self.listen.port() == 0 {
            uuid::Uuid::new_v4().simple().to_string()
        } else {
            self.listen.to_string()
        };
        let id: String = format!("{host}-{place}")
            .chars()
            .map(|c| if replica_char(c) { c } else { '-' })
            .collect();
        id.chars().take(64).collect()
    }
}

/// The soft limit on open files (`Max open files` in `/proc/self/limits`),
/// `None` when unknown or unlimited.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `c` may appear in a replica identity.
fn replica_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')
}

fn default_cors_allowed_origins() -> Vec<String> {
    vec![String::from("*")]
}

/// Whether `origin` is a browser origin as `Origin` sends it: an http(s)
/// scheme and a host (and port), with no path, query or trailing slash.
fn is_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    })
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_max_body() -> usize {
    32 * 1024 * 1024
}

fn default_max_upstream_response() -> usize {
    32 * 1024 * 1024
}

fn default_header_read_timeout() -> f64 {
    30.0
}

fn default_first_byte_timeout() -> f64 {
    10.0
}

fn default_idle_timeout() -> f64 {
    60.0
}

fn default_request_body_timeout() -> f64 {
    120.0
}

fn default_keepalive() -> f64 {
    2.0
}

fn default_grace() -> f64 {
    30.0
}

fn default_failover_budget() -> f64 {
    120.0
}

/// `[redis]`: when set, rate-limit counters live in Redis so replicas share
/// them. `TOLLGATE_REDIS_URL` overrides the file (a URL may hold a
/// password).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`.
    #[serde(default)]
    pub url: Option<String>,
    /// Prefix of the keys through which replicas share provider health
    /// (`<prefix>:<unix second>`; default `tollgate:health`), so several
    /// deployments can share one Redis.
    #[serde(default)]
    pub health_key_prefix: Option<String>,
}

impl RedisConfig {
    /// The URL to use: the environment's, else the file's.
    pub fn effective_url(&self) -> Option<String> {
        std::env::var("TOLLGATE_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.url.clone())
    }

    /// The prefix of the shared health keys.
    pub fn health_prefix(&self) -> &str {
        match self.health_key_prefix.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => p,
            _ => "tollgate:health",
        }
    }
}

/// The standard OpenTelemetry variable read when `[telemetry]
/// otlp_endpoint` is absent: its base URL turns trace export on.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The path OTLP/HTTP collectors receive traces on, appended to a base
/// endpoint.
const OTLP_TRACES_PATH: &str = "/v1/traces";

/// `[dashboard]`: the web dashboard `tollgated` serves beside the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Whether the dashboard is served (default true). Off, its routes are
    /// not mounted at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Where it is served (default `/`): `/` or a path such as `/ui`.
    #[serde(default = "default_dashboard_path")]
    pub path: String,
    /// Seconds a sign-in lasts (default 43200, 12 hours; 60 to 2592000).
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` on every answer (set it behind a
    /// TLS-terminating proxy that sends no `X-Forwarded-Proto`). Without
    /// it the cookie is `Secure` when the request says it came over HTTPS
    /// (`X-Forwarded-Proto: https`).
    #[serde(default)]
    pub secure_cookie: bool,
}

fn default_true() -> bool {
    true
}

fn default_dashboard_path() -> String {
    String::from("/")
}

fn default_session_ttl() -> u64 {
    43_200
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: true,
            path: default_dashboard_path(),
            session_ttl_secs: default_session_ttl(),
            secure_cookie: false,
        }
    }
}

impl DashboardConfig {
    /// The path without its trailing slash: `""` for `/`.
    pub fn prefix(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    fn validate(&self) -> Result<(), String> {
        let p = self.prefix();
        let sane = self.path.starts_with('/')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
            && !p.contains("//");
        if !sane {
            return Err(format!(
                "dashboard.path must be `/` or a path such as `/ui` (letters, digits, `-`, `_`, `.`), not `{}`",
                self.path
            ));
        }
        let taken = ["/api", "/health", "/ready", "/metrics", "/auth"];
        if taken
            .iter()
            .any(|t| p == *t || p.starts_with(&format!("{t}/")))
        {
            return Err(format!(
                "dashboard.path `{}` overlaps the API's own routes",
                self.path
            ));
        }
        if !(60..=2_592_000).contains(&self.session_ttl_secs) {
            return Err(String::from(
                "dashboard.session_ttl_secs must be between 60 and 2592000",
            ));
        }
        Ok(())
    }
}

/// `[telemetry]`: spans exported over OTLP/HTTP (protobuf) to a collector.
/// Off unless `otlp_endpoint` (or [`OTLP_ENDPOINT_ENV`]) is set; the daemon
/// (`tollgated`) does the exporting, the gateway only validates the table.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's base URL (`http://127.0.0.1:4318`): traces are sent
    /// to `<otlp_endpoint>/v1/traces`, or to the URL as written when it
    /// already ends in `/v1/traces`. Absent: export is off, unless
    /// [`OTLP_ENDPOINT_ENV`] is set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans (default `tollgated`).
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Share of traces kept, from 0.0 to 1.0 (default 1.0: all). A trace
    /// is kept or dropped whole, by its id.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// Headers sent with every export (a collector's auth). Their values
    /// are never logged; `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`) keeps a
    /// token out of the file and wins over a header of the same name here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Header values may be credentials: `Debug` shows only their names.
impl std::fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("service_name", &self.service_name)
            .field("sample_ratio", &self.sample_ratio)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            service_name: default_service_name(),
            sample_ratio: default_sample_ratio(),
            headers: BTreeMap::new(),
        }
    }
}

fn default_service_name() -> String {
    String::from("tollgated")
}

fn default_sample_ratio() -> f64 {
    1.0
}

impl TelemetryConfig {
    /// Where traces go: the URL that `otlp_endpoint` names (checked by
    /// [`Config::parse`]), else the one [`OTLP_ENDPOINT_ENV`] names, else
    /// `None` (export off). An unusable value of the variable is an error
    /// naming it.
    pub fn traces_url(&self) -> Result<Option<String>, ConfigError> {
        if let Some(endpoint) = &self.otlp_endpoint {
            return Ok(Some(with_traces_path(endpoint)));
        }
        match std::env::var(OTLP_ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.trim().is_empty() => {
                let endpoint = endpoint.trim();
                check_endpoint(endpoint).map_err(|message| ConfigError::Env {
                    var: OTLP_ENDPOINT_ENV,
                    message,
                })?;
                Ok(Some(with_traces_path(endpoint)))
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Env {
                var: OTLP_ENDPOINT_ENV,
                message: String::from("is not valid UTF-8"),
            }),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(endpoint) = &self.otlp_endpoint {
            check_endpoint(endpoint).map_err(|e| format!("telemetry.otlp_endpoint {e}"))?;
        }
        if self.service_name.trim().is_empty() {
            return Err(String::from("telemetry.service_name must not be empty"));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "telemetry.sample_ratio must be between 0.0 and 1.0, got {}",
                self.sample_ratio
            ));
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!(
                    "telemetry.headers: `{name}` is not a valid HTTP header name"
                ));
            }
            // Never the value in the message: it may be a credential.
            if http::HeaderValue::from_str(value).is_err() {
                return Err(format!(
                    "telemetry.headers.{name}: the value is not a valid HTTP header value"
                ));
            }
        }
        Ok(())
    }
}

/// Checks an OTLP/HTTP endpoint; the error completes a sentence that
/// begins with the key or variable.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("`{endpoint}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(format!(
            "`{endpoint}` must be an http:// or https:// URL with a host, such as http://127.0.0.1:4318"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{endpoint}` must not have a query or fragment: `/v1/traces` is appended to it"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the URL holds a credential.
        return Err(String::from(
            "must not carry credentials: send them as a header (telemetry.headers or OTEL_EXPORTER_OTLP_HEADERS)",
        ));
    }
    Ok(())
}

/// `<endpoint>/v1/traces`, unless the endpoint already ends with that path
/// (a signal-specific URL, as in `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
fn with_traces_path(endpoint: &str) -> String {
    let base = endpoint.trim().trim_end_matches('/');
    if base.ends_with(OTLP_TRACES_PATH) {
        base.to_string()
    } else {
        format!("{base}{OTLP_TRACES_PATH}")
    }
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path.db` or `postgres://user@host/db`.
    #[serde(default = "default_db")]
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: default_db() }
    }
}

fn default_db() -> String {
    String::from("sqlite://tollgate.db")
}

/// A configuration error, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The TOML is malformed or a key is wrong.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What and where (the TOML parser names the key and line).
        message: String,
    },
    /// A value is wrong.
    #[error("invalid config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// An environment variable holds an unusable value.
    #[error("invalid environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong (never the value: it may be a secret).
        message: String,
    },
}

/// The BYOK cipher from [`SECRET_KEY_ENV`]: `None` when the variable is
/// unset or empty (BYOK disabled), an error naming the variable when its
/// value cannot be a key.
pub fn byok_cipher_from_env() -> Result<Option<tollgate_store::ByokCipher>, ConfigError> {
    match std::env::var(SECRET_KEY_ENV) {
        Ok(secret) if !secret.trim().is_empty() => tollgate_store::ByokCipher::from_secret(&secret)
            .map(Some)
            .map_err(|e| ConfigError::Env {
                var: SECRET_KEY_ENV,
                message: e.to_string(),
            }),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Env {
            var: SECRET_KEY_ENV,
            message: String::from("is not valid UTF-8"),
        }),
    }
}

impl Config {
    /// Reads and validates a config file. Relative paths in it (listing
    /// files) are relative to the file's directory, and errors name files
    /// by absolute path, whatever the working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // `absolute` fails only on an empty path, which `read` refuses too.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let path = path.as_path();
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut config = Config::parse(&text, path, base_dir)?;
        config.server.byok_cipher = byok_cipher_from_env()?;
        Ok(config)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.base_dir = base_dir;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=86_400).contains(&self.server.oauth_code_ttl_secs) {
            return Err(String::from(
                "server.oauth_code_ttl_secs must be between 1 and 86400",
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(String::from("server.max_body_bytes must be at least 1024"));
        }
        if self.server.max_upstream_response_bytes < 1024 {
            return Err(String::from(
                "server.max_upstream_response_bytes must be at least 1024",
            ));
        }
        for (key, secs) in [
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
            ),
            (
                "server.request_body_timeout_secs",
                self.server.request_body_timeout_secs,
            ),
            (
                "server.first_byte_timeout_secs",
                self.server.first_byte_timeout_secs,
            ),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
        ] {
            if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
                return Err(format!("{key} must be more than 0 and at most 86400"));
            }
        }
        // These become `Duration::from_secs_f64`, which panics on what no
        // `Duration` holds, and the keep-alive a `tokio::time::interval`,
        // which panics on zero: bounded, as the timeouts above are.
        if !(0.001..=86_400.0).contains(&self.server.stream_keepalive_secs) {
            return Err(String::from(
                "server.stream_keepalive_secs must be between 0.001 and 86400",
            ));
        }
        let budget = self.server.failover_budget_secs;
        if !(0.0..=86_400.0).contains(&budget) {
            return Err(String::from(
                "server.failover_budget_secs must be between 0 and 86400",
            ));
        }
        if self.server.max_connections == Some(0) {
            return Err(String::from(
                "server.max_connections must be 1 or more (leave it out for a cap from the open-file limit)",
            ));
        }
        if self.server.worker_threads == Some(0) {
            return Err(String::from(
                "server.worker_threads must be 1 or more (leave it out for one per CPU)",
            ));
        }
        let grace = self.server.shutdown_grace_secs;
        if !(0.0..=86_400.0).contains(&grace) {
            return Err(String::from(
                "server.shutdown_grace_secs must be between 0 and 86400",
            ));
        }
        if let Some(id) = &self.server.replica_id
            && (id.is_empty() || id.len() > 64 || !id.chars().all(replica_char))
        {
            return Err(format!(
                "server.replica_id `{id}` must be 1 to 64 letters, digits, `.`, `-` or `:`"
            ));
        }
        let origins = &self.server.cors_allowed_origins;
        let any = origins.iter().any(|o| o == "*");
        if any && origins.len() > 1 {
            return Err(String::from(
                "server.cors_allowed_origins: `*` allows every origin and cannot be listed with others",
            ));
        }
        if let Some(bad) = origins.iter().find(|o| *o != "*" && !is_origin(o)) {
            return Err(format!(
                "server.cors_allowed_origins: `{bad}` is not an origin such as `https://app.example` \
                 (scheme, host and port, no path or trailing slash)"
            ));
        }
        if self.server.cors_allow_credentials && (any || origins.is_empty()) {
            return Err(String::from(
                "server.cors_allow_credentials needs a list of origins in server.cors_allowed_origins, not `*`",
            ));
        }
        let ttl = self.billing.lease_ttl_secs;
        if !(1.0..=3600.0).contains(&ttl) {
            return Err(String::from(
                "billing.lease_ttl_secs must be between 1 and 3600",
            ));
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "database.url `{url}` is not supported: use sqlite://PATH or postgres://USER@HOST/DB"
            ));
        }
        self.rate_limits.validate()?;
        self.telemetry.validate()?;
        self.search.validate()?;
        if let Some(m) = &self.moderation {
            m.validate()?;
        }
        self.dashboard.validate()?;
        self.routing.validate().map_err(|e| e.to_string())?;
        tollgate_catalog::validate_providers(&self.providers).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("t.toml"), PathBuf::new())
    }

    #[test]
    fn defaults_work() {
        let c = parse("").unwrap();
        assert_eq!(c.server.listen.port(), 8080);
        assert_eq!(c.database.url, "sqlite://tollgate.db");
        assert!(c.dashboard.enabled);
        assert_eq!(c.dashboard.prefix(), "");
    }

    #[test]
    fn the_dashboard_path_is_checked() {
        let c = parse("[dashboard]\npath = \"/ui/\"\nenabled = false").unwrap();
        assert_eq!(c.dashboard.prefix(), "/ui");
        assert!(!c.dashboard.enabled);
        for bad in ["ui", "/api", "/api/v1", "/health", "/auth", "/a b", "/a//b"] {
            let e = parse(&format!("[dashboard]\npath = \"{bad}\"")).unwrap_err();
            assert!(e.to_string().contains("dashboard.path"), "{bad}: {e}");
        }
        assert!(parse("[dashboard]\npath = \"/apis\"").is_ok());
        let e = parse("[dashboard]\nsession_ttl_secs = 5").unwrap_err();
        assert!(e.to_string().contains("dashboard.session_ttl_secs"), "{e}");
    }

    /// Found by the `config_toml` fuzz target
    /// (`fuzz/corpus/config_toml/crash-f94f2142739b653c`):
    /// `stream_keepalive_secs = 1e20` was accepted, and every streamed
    /// chat then panicked in `Duration::from_secs_f64`; so did every chat
    /// with such a `failover_budget_secs`, and shutdown with such a
    /// `shutdown_grace_secs`. A keep-alive that rounds to zero panicked in
    /// `tokio::time::interval`.
    #[test]
    fn durations_no_duration_can_hold_are_refused() {
        for (key, value) in [
            ("stream_keepalive_secs", "1e20"),
            ("stream_keepalive_secs", "1e-10"),
            ("stream_keepalive_secs", "nan"),
            ("failover_budget_secs", "1.8e19"),
            ("failover_budget_secs", "inf"),
            ("shutdown_grace_secs", "1e300"),
            ("shutdown_grace_secs", "-1"),
        ] {
            let e = parse(&format!("[server]\n{key} = {value}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(key) && e.contains("86400"),
                "{key} = {value}: {e}"
            );
        }
        let c = parse(
            "[server]\nstream_keepalive_secs = 0.001\nfailover_budget_secs = 86400\n\
             shutdown_grace_secs = 0\n",
        )
        .unwrap();
        assert_eq!(c.server.failover_budget_secs, 86_400.0);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.toml") && e.contains("lisen"), "{e}");
    }

    #[test]
    fn bad_listen_is_named() {
        let e = parse("[server]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
    }

    #[test]
    fn replica_identity_is_configured_or_stable() {
        let c = parse("[server]\nreplica_id = \"gw-1.eu:a\"\n").unwrap();
        assert_eq!(c.server.replica(), "gw-1.eu:a");
        // Unset: the same on every start with the same listen address ...
        let c = parse("[server]\nlisten = \"127.0.0.1:8080\"\n").unwrap();
        assert_eq!(c.server.replica(), c.server.replica());
        assert!(
            c.server.replica().ends_with("-127.0.0.1:8080"),
            "{}",
            c.server.replica()
        );
        // ... but not with any port, where two processes would share it.
        let c = parse("[server]\nlisten = \"127.0.0.1:0\"\n").unwrap();
        assert_ne!(c.server.replica(), c.server.replica());
        for bad in ["", "a_b", "a b", &"x".repeat(65)] {
            let e = parse(&format!("[server]\nreplica_id = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("server.replica_id"), "{e}");
        }
    }

    #[test]
    fn lease_ttl_defaults_and_is_bounded() {
        assert_eq!(
            parse("").unwrap().billing.lease_ttl(),
            std::time::Duration::from_secs(20)
        );
        let c = parse("[billing]\nlease_ttl_secs = 2.5\n").unwrap();
        assert_eq!(
            c.billing.lease_ttl(),
            std::time::Duration::from_millis(2500)
        );
        for bad in ["0.5", "3601", "nan"] {
            let e = parse(&format!("[billing]\nlease_ttl_secs = {bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("billing.lease_ttl_secs"), "{e}");
        }
    }

    #[test]
    fn oauth_code_ttl_defaults_and_is_checked() {
        assert_eq!(parse("").unwrap().server.oauth_code_ttl_secs, 600);
        assert!(parse("").unwrap().server.byok_cipher.is_none());
        let e = parse("[server]\noauth_code_ttl_secs = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.oauth_code_ttl_secs"), "{e}");
    }

    #[test]
    fn worker_threads_default_to_the_runtime_and_zero_is_refused() {
        assert_eq!(parse("").unwrap().server.worker_threads, None);
        let c = parse("[server]\nworker_threads = 3\n").unwrap();
        assert_eq!(c.server.worker_threads, Some(3));
        let e = parse("[server]\nworker_threads = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.worker_threads"), "{e}");
    }

    #[test]
    fn the_runtime_is_per_core_on_sqlite_unless_chosen() {
        use tollgate_store::Backend::{Postgres, Sqlite};
        let auto = parse("").unwrap().server.runtime;
        assert_eq!(auto, RuntimeMode::Auto);
        assert_eq!(auto.resolve(Sqlite), Runtime::PerCore);
        assert_eq!(auto.resolve(Postgres), Runtime::WorkStealing);
        let c = parse("[server]\nruntime = \"per-core\"\n").unwrap();
        assert_eq!(c.server.runtime.resolve(Postgres), Runtime::PerCore);
        let c = parse("[server]\nruntime = \"work-stealing\"\n").unwrap();
        assert_eq!(c.server.runtime.resolve(Sqlite), Runtime::WorkStealing);
        let e = parse("[server]\nruntime = \"fast\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("runtime"), "{e}");
        assert!(e.contains("per-core"), "the choices are named: {e}");
    }

    #[test]
    fn the_connection_cap_is_set_or_derived_from_the_open_file_limit() {
        let c = parse("[server]\nmax_connections = 300\n").unwrap();
        assert_eq!(c.server.connection_cap(), 300);
        let e = parse("[server]\nmax_connections = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.max_connections"), "{e}");
        for key in ["first_byte_timeout_secs", "idle_timeout_secs"] {
            let e = parse(&format!("[server]\n{key} = 0\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("server.{key}")), "{e}");
        }
        // Half of what is left after the reserve, so an upstream
        // connection per client still fits under the limit.
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63432                63432                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(limits), Some(1024));
        assert_eq!(
            parse_open_file_limit(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        let derived = parse("").unwrap().server.connection_cap();
        match open_file_limit() {
            Some(limit) => {
                assert!(derived as u64 * 2 + RESERVED_FDS <= limit.max(2 * 16 + RESERVED_FDS));
                assert!(derived >= 16);
            }
            None => assert_eq!(derived, 10_000),
        }
    }

    #[test]
    fn bad_database_url_is_named() {
        let e = parse("[database]\nurl = \"mysql://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("database.url") && e.contains("mysql://x"), "{e}");
    }

    #[test]
    fn health_key_prefix_defaults() {
        assert_eq!(parse("").unwrap().redis.health_prefix(), "tollgate:health");
        let c = parse("[redis]\nhealth_key_prefix = \"eu:health\"\n").unwrap();
        assert_eq!(c.redis.health_prefix(), "eu:health");
        let c = parse("[redis]\nhealth_key_prefix = \" \"\n").unwrap();
        assert_eq!(c.redis.health_prefix(), "tollgate:health");
    }

    #[test]
    fn moderation_settings() {
        assert!(parse("").unwrap().moderation.is_none());
        let m = parse("[moderation]\nbase_url = \"https://api.openai.com\"\napi_key_env = \"OPENAI_API_KEY\"\n")
            .unwrap()
            .moderation
            .unwrap();
        assert_eq!(m.model, "omni-moderation-latest");
        assert_eq!(m.timeout_secs, 10.0);
        assert_eq!(m.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        for (text, key) in [
            (
                "[moderation]\nbase_url = \"ftp://x\"\n",
                "moderation.base_url",
            ),
            (
                "[moderation]\nbase_url = \"http://x\"\ntimeout_secs = 0\n",
                "moderation.timeout_secs",
            ),
            (
                "[moderation]\nbase_url = \"http://x\"\nmodel = \" \"\n",
                "moderation.model",
            ),
            (
                "[moderation]\nbase_url = \"http://x\"\nkey = \"s\"\n",
                "key",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn telemetry_is_off_by_default() {
        let t = parse("").unwrap().telemetry;
        assert_eq!(t.otlp_endpoint, None);
        assert_eq!(t.service_name, "tollgated");
        assert_eq!(t.sample_ratio, 1.0);
        assert!(t.headers.is_empty());
        // An empty table is the same.
        let t = parse("[telemetry]\n").unwrap().telemetry;
        assert_eq!(t.otlp_endpoint, None);
        assert_eq!(t.service_name, "tollgated");
    }

    #[test]
    fn telemetry_endpoint_gets_the_traces_path() {
        for (endpoint, url) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
            ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
            (
                "https://otel.example/otlp",
                "https://otel.example/otlp/v1/traces",
            ),
            (
                "http://collector:4318/v1/traces",
                "http://collector:4318/v1/traces",
            ),
        ] {
            let c = parse(&format!(
                "[telemetry]\notlp_endpoint = \"{endpoint}\"\nservice_name = \"edge-eu\"\nsample_ratio = 0.25\n"
            ))
            .unwrap();
            assert_eq!(c.telemetry.traces_url().unwrap().as_deref(), Some(url));
            assert_eq!(c.telemetry.service_name, "edge-eu");
            assert_eq!(c.telemetry.sample_ratio, 0.25);
        }
    }

    #[test]
    fn bad_sample_ratio_is_named() {
        for ratio in ["1.5", "-0.1", "nan", "inf"] {
            let e = parse(&format!("[telemetry]\nsample_ratio = {ratio}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("telemetry.sample_ratio"), "{ratio}: {e}");
        }
        for ratio in ["0.0", "1.0", "0.001"] {
            parse(&format!("[telemetry]\nsample_ratio = {ratio}\n")).unwrap();
        }
    }

    #[test]
    fn bad_otlp_endpoint_is_named() {
        for endpoint in [
            "127.0.0.1:4318",
            "collector:4318",
            "ftp://collector",
            "http://collector:4318?token=x",
            "",
        ] {
            let e = parse(&format!("[telemetry]\notlp_endpoint = \"{endpoint}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("telemetry.otlp_endpoint"), "{endpoint}: {e}");
        }
        // Credentials in the URL are refused without being echoed.
        let e = parse("[telemetry]\notlp_endpoint = \"http://me:s3cret@collector:4318\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("telemetry.otlp_endpoint"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn unknown_telemetry_key_is_named() {
        let e = parse("[telemetry]\notlp_endpont = \"http://127.0.0.1:4318\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("otlp_endpont"), "{e}");
    }

    #[test]
    fn telemetry_header_values_are_never_shown() {
        let c = parse(
            "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318\"\n[telemetry.headers]\nauthorization = \"Bearer s3cret\"\n",
        )
        .unwrap();
        assert_eq!(c.telemetry.headers["authorization"], "Bearer s3cret");
        let debug = format!("{c:?}");
        assert!(
            debug.contains("authorization") && !debug.contains("s3cret"),
            "{debug}"
        );

        let e = parse("[telemetry.headers]\nauthorization = \"Bearer s3cret\\n\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("telemetry.headers.authorization"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = parse("[telemetry.headers]\n\"bad name\" = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("telemetry.headers") && e.contains("bad name"),
            "{e}"
        );
    }
}
