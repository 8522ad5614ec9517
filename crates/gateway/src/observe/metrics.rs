//! The gateway's metric registry: one per [`crate::Gateway`], rendered by
//! `GET /metrics`.
//!
//! Recording is cheap on purpose. Label values are interned once per route
//! and per endpoint (`Arc<str>`), and the handles of an endpoint's
//! success-path series are resolved once and cached, so the usual request
//! costs one read-locked map lookup per endpoint plus atomic adds and a
//! short histogram lock, with no allocation. Rarer series (failed attempts,
//! fallbacks, cancelled generations) go through their family's own lookup,
//! still without allocating label strings.
//!
//! Labels are bounded by construction: routes are axum's matched route
//! templates (`unmatched` otherwise), methods the standard ones (`other`
//! otherwise), models and providers come from the operator's catalog, and
//! outcomes and endings are fixed sets. Nothing a client types becomes a
//! label, and no account or key ever does.

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use tollgate_billing::Ending;
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::usage::Usage;
use tollgate_transport::ProviderError;

/// The prefix of every metric name.
pub(super) const PREFIX: &str = "tollgate";

/// The route label of a request no route matched.
pub(super) const UNMATCHED: &str = "unmatched";

/// Gateway-side latencies: the overhead target is well under a millisecond,
/// and a whole non-streamed answer may take a minute.
const HTTP_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// Model latencies: from a few milliseconds (a cache hit, a mock) to the
/// ten minutes a long reasoning stream may run.
const MODEL_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 600.0,
];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type Cost = Counter<f64, AtomicU64>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn model_histogram() -> Histogram {
    Histogram::new(MODEL_BUCKETS)
}

/// `{model, provider}`: one catalog endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct EndpointLabels {
    pub(super) model: Arc<str>,
    pub(super) provider: Arc<str>,
}

impl EndpointLabels {
    pub(super) fn of(endpoint: &CatalogEndpoint) -> EndpointLabels {
        EndpointLabels {
            model: Arc::from(endpoint.model.as_str()),
            provider: Arc::from(endpoint.provider.as_str()),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    model: Arc<str>,
    provider: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndingLabels {
    model: Arc<str>,
    provider: Arc<str>,
    ending: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: Arc<str>,
    provider: Arc<str>,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: Arc<str>,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
}

/// The `ending` label of `tollgate_generations_total`.
fn ending_label(ending: Ending) -> &'static str {
    match ending {
        Ending::Succeeded => "succeeded",
        Ending::Cancelled => "cancelled",
        Ending::Failed => "failed",
        Ending::Embedded => "embedded",
    }
}

/// The `method` label: the standard methods, `other` for the rest.
pub(super) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A generation that a provider served, as it ended: what
/// [`Metrics::finished`] counts.
#[derive(Debug, Clone, Copy)]
pub struct Finished<'a> {
    /// The endpoint that served it.
    pub endpoint: &'a CatalogEndpoint,
    /// How it ended.
    pub ending: Ending,
    /// Usage as billed, when known.
    pub usage: Option<&'a Usage>,
    /// The charge (credits, USD).
    pub cost: Decimal,
    /// From the request's arrival to the first chunk relayed (streams; pass
    /// `None` for a non-streamed answer, whose latency is `duration`).
    pub ttft: Option<Duration>,
    /// From the request's arrival to the end of the answer (the last byte of
    /// a stream).
    pub duration: Duration,
}

/// The handles of one endpoint's success-path series, resolved once.
#[derive(Debug)]
struct EndpointHandles {
    labels: EndpointLabels,
    attempts_ok: Counter,
    latency: Histogram,
    succeeded: Counter,
    duration: Histogram,
    ttft: Histogram,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    cost: Cost,
}

/// The handles of one route's series.
#[derive(Debug)]
pub(super) struct RouteHandles {
    /// The route template, interned.
    pub(super) route: Arc<str>,
    duration: Histogram,
}

/// Decrements its gauge when dropped: an in-flight request or stream.
#[derive(Debug)]
pub(super) struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> InFlight {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

type ByProvider = HashMap<Arc<str>, Arc<EndpointHandles>>;

/// One gateway's metrics: the registry and the handles recording into it.
///
/// The books' writer's series (`books`): cheap clones of the
/// registered handles.
#[derive(Clone, Debug)]
pub struct BooksMetrics {
    /// Writes queued and not yet committed.
    pub queued: Gauge,
    /// Writes committed.
    pub writes: Counter,
    /// Writes refused.
    pub failures: Counter,
    /// Commit time per batch.
    pub commit: Histogram,
    /// Writes per batch.
    pub batch_size: Histogram,
}

impl Default for BooksMetrics {
    fn default() -> BooksMetrics {
        BooksMetrics {
            queued: Gauge::default(),
            writes: Counter::default(),
            failures: Counter::default(),
            commit: http_histogram(),
            batch_size: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
        }
    }
}

/// The accept loop's series (`connections`): cheap clones of the
/// registered handles.
#[derive(Clone, Debug, Default)]
pub struct ConnectionMetrics {
    /// Client connections open.
    pub open: Gauge,
    /// Client connections accepted.
    pub accepted: Counter,
    /// Connections refused at the cap (every open one had a request in
    /// flight, so none could make room).
    pub refused: Counter,
    /// Connections the gateway closed, by reason.
    closed: Family<ReasonLabels, Counter>,
    /// Failed accepts other than a peer's early reset (too many open
    /// files): each one backs the accept loop off.
    pub accept_errors: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

impl ConnectionMetrics {
    /// Counts a connection the gateway closed: `first_byte_timeout`,
    /// `handshake_timeout`, `idle_timeout` or `evicted`.
    pub fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&ReasonLabels { reason }).inc();
    }
}

/// Each [`crate::Gateway`] has its own (no process-global recorder), so
/// gateways in one process (tests, embedders) never see each other's
/// counts.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    http_in_flight: Gauge,
    streams_in_flight: Gauge,
    attempts: Family<AttemptLabels, Counter>,
    upstream_latency: Histograms<EndpointLabels>,
    fallbacks: Family<EndpointLabels, Counter>,
    generations: Family<EndingLabels, Counter>,
    generation_duration: Histograms<EndpointLabels>,
    ttft: Histograms<EndpointLabels>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<EndpointLabels, Cost>,
    misreported: Family<EndpointLabels, Counter>,
    cut: Family<EndpointLabels, Counter>,
    abandoned_holds: Counter,
    books: BooksMetrics,
    connections: ConnectionMetrics,
    routes: RwLock<HashMap<Arc<str>, Arc<RouteHandles>>>,
    endpoints: RwLock<HashMap<Arc<str>, ByProvider>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// An empty registry with every Tollgate metric registered.
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::with_prefix(PREFIX),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(http_histogram),
            http_in_flight: Gauge::default(),
            streams_in_flight: Gauge::default(),
            attempts: Family::default(),
            upstream_latency: Family::new_with_constructor(model_histogram),
            fallbacks: Family::default(),
            generations: Family::default(),
            generation_duration: Family::new_with_constructor(model_histogram),
            ttft: Family::new_with_constructor(model_histogram),
            tokens: Family::default(),
            cost: Family::default(),
            misreported: Family::default(),
            cut: Family::default(),
            abandoned_holds: Counter::default(),
            books: BooksMetrics::default(),
            connections: ConnectionMetrics::default(),
            routes: RwLock::default(),
            endpoints: RwLock::default(),
        };
        m.registered()
    }

    fn registered(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "build",
            "Tollgate's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by matched route, method and status",
            self.http_requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response head (a stream's body follows), by matched route",
            Unit::Seconds,
            self.http_duration.clone(),
        );
        r.register(
            "http_requests_in_flight",
            "Requests whose response head is not sent yet",
            self.http_in_flight.clone(),
        );
        r.register(
            "streams_in_flight",
            "Server-sent event responses still streaming to their clients",
            self.streams_in_flight.clone(),
        );
        r.register(
            "upstream_attempts",
            "Tries at a provider endpoint, by outcome (ok, rate_limited, client_error, server_error, timeout, connect, invalid, interrupted, unsupported)",
            self.attempts.clone(),
        );
        r.register_with_unit(
            "upstream_latency",
            "Time a successful try took to the provider's answer, or to a stream's first chunk",
            Unit::Seconds,
            self.upstream_latency.clone(),
        );
        r.register(
            "fallbacks",
            "Failovers away from an endpoint after a retryable failure",
            self.fallbacks.clone(),
        );
        r.register(
            "generations",
            "Generations served by an endpoint, by how they ended (succeeded, cancelled, failed, embedded)",
            self.generations.clone(),
        );
        r.register_with_unit(
            "generation_duration",
            "Time from a request's arrival to the end of its answer (the last byte of a stream)",
            Unit::Seconds,
            self.generation_duration.clone(),
        );
        r.register_with_unit(
            "time_to_first_token",
            "Time from a streamed request's arrival to its first chunk",
            Unit::Seconds,
            self.ttft.clone(),
        );
        r.register(
            "tokens",
            "Tokens billed, by kind (prompt, completion)",
            self.tokens.clone(),
        );
        r.register(
            "cost_usd",
            "Credits charged for generations, in USD",
            self.cost.clone(),
        );
        r.register(
            "usage_misreported",
            "Generations whose reported usage exceeded what the request could produce (clamped to the held bound before billing)",
            self.misreported.clone(),
        );
        r.register(
            "outputs_cut",
            "Answers cut at their output bound (max_tokens or the endpoint's maximum output) because the provider kept producing",
            self.cut.clone(),
        );
        r.register(
            "holds_abandoned",
            "Holds released because their request was dropped before it finished (client gone, task cancelled or panicked)",
            self.abandoned_holds.clone(),
        );
        let b = &self.books;
        r.register(
            "books_queued",
            "Settlements and generation records waiting for the writer",
            b.queued.clone(),
        );
        r.register(
            "books_writes",
            "Settlements and generation records written to the database",
            b.writes.clone(),
        );
        r.register(
            "books_write_failures",
            "Settlements and generation records the database refused (logged with their ids)",
            b.failures.clone(),
        );
        r.register_with_unit(
            "books_commit_duration",
            "Time one batch of settlements and records took to commit",
            Unit::Seconds,
            b.commit.clone(),
        );
        r.register(
            "books_batch_size",
            "Writes per committed batch",
            b.batch_size.clone(),
        );
        let c = &self.connections;
        r.register(
            "connections_open",
            "Client connections open",
            c.open.clone(),
        );
        r.register(
            "connections_accepted",
            "Client connections accepted",
            c.accepted.clone(),
        );
        r.register(
            "connections_refused",
            "Client connections refused at server.max_connections because every open one had a request in flight",
            c.refused.clone(),
        );
        r.register(
            "connections_closed",
            "Client connections closed by the gateway, by reason (first_byte_timeout, handshake_timeout, idle_timeout, evicted to make room at the cap)",
            c.closed.clone(),
        );
        r.register(
            "accept_errors",
            "Failed accepts (too many open files, ...), each backing the accept loop off",
            c.accept_errors.clone(),
        );
        self
    }

    /// The handles the accept loop records into.
    pub fn connections(&self) -> ConnectionMetrics {
        self.connections.clone()
    }

    /// The handles the books' writer records into.
    pub fn books(&self) -> BooksMetrics {
        self.books.clone()
    }

    /// Appends the registry in the OpenMetrics text format, without the
    /// final `# EOF` (the scrape handler adds scrape-time series first).
    pub fn encode(&self, out: &mut String) -> fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }

    /// One try at `endpoint` that succeeded after `latency` (its answer, or
    /// a stream's first chunk).
    pub fn attempt_succeeded(&self, endpoint: &CatalogEndpoint, latency: Duration) {
        let h = self.endpoint(endpoint);
        h.attempts_ok.inc();
        h.latency.observe(latency.as_secs_f64());
    }

    /// One try at `endpoint` that failed with `error`, counted under the
    /// error's class (`ProviderError::metric_class`, transport's one
    /// vocabulary of failures).
    pub fn attempt_failed(&self, endpoint: &CatalogEndpoint, error: &ProviderError) {
        let h = self.endpoint(endpoint);
        self.attempts
            .get_or_create(&AttemptLabels {
                model: h.labels.model.clone(),
                provider: h.labels.provider.clone(),
                outcome: error.metric_class(),
            })
            .inc();
    }

    /// The gateway failed over from `from` to the next endpoint.
    pub fn fallback(&self, from: &CatalogEndpoint) {
        let h = self.endpoint(from);
        self.fallbacks.get_or_create(&h.labels).inc();
    }

    /// A served generation ended.
    pub fn finished(&self, g: &Finished<'_>) {
        let h = self.endpoint(g.endpoint);
        if g.ending == Ending::Succeeded {
            h.succeeded.inc();
        } else {
            self.generations
                .get_or_create(&EndingLabels {
                    model: h.labels.model.clone(),
                    provider: h.labels.provider.clone(),
                    ending: ending_label(g.ending),
                })
                .inc();
        }
        h.duration.observe(g.duration.as_secs_f64());
        if let Some(ttft) = g.ttft {
            h.ttft.observe(ttft.as_secs_f64());
        }
        if let Some(u) = g.usage {
            h.prompt_tokens.inc_by(u.prompt_tokens);
            h.completion_tokens.inc_by(u.completion_tokens);
        }
        if let Some(cost) = g.cost.to_f64().filter(|c| *c > 0.0) {
            h.cost.inc_by(cost);
        }
    }

    /// `endpoint` reported more usage than the request could produce.
    pub fn usage_misreported(&self, endpoint: &CatalogEndpoint) {
        let h = self.endpoint(endpoint);
        self.misreported.get_or_create(&h.labels).inc();
    }

    /// An answer of `endpoint` was cut at its output bound.
    pub fn output_cut(&self, endpoint: &CatalogEndpoint) {
        let h = self.endpoint(endpoint);
        self.cut.get_or_create(&h.labels).inc();
    }

    /// A hold was released by its guard: the request was dropped.
    pub fn hold_abandoned(&self) {
        self.abandoned_holds.inc();
    }

    /// A request is being handled: in flight until the guard drops.
    pub(super) fn request_started(&self) -> InFlight {
        InFlight::enter(&self.http_in_flight)
    }

    /// A response is streaming: in flight until the guard drops.
    pub(super) fn stream_started(&self) -> InFlight {
        InFlight::enter(&self.streams_in_flight)
    }

    /// The interned handles of a route template.
    pub(super) fn route(&self, route: &str) -> Arc<RouteHandles> {
        if let Some(h) = read(&self.routes).get(route) {
            return h.clone();
        }
        let mut routes = write(&self.routes);
        routes
            .entry(Arc::from(route))
            .or_insert_with_key(|route| {
                Arc::new(RouteHandles {
                    route: route.clone(),
                    duration: self
                        .http_duration
                        .get_or_create(&RouteLabels {
                            route: route.clone(),
                        })
                        .clone(),
                })
            })
            .clone()
    }

    /// A request answered with `status` after `elapsed`.
    pub(super) fn http_request(
        &self,
        route: &RouteHandles,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        route.duration.observe(elapsed.as_secs_f64());
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.route.clone(),
                method,
                status,
            })
            .inc();
    }

    fn endpoint(&self, ep: &CatalogEndpoint) -> Arc<EndpointHandles> {
        if let Some(h) = read(&self.endpoints)
            .get(ep.model.as_str())
            .and_then(|p| p.get(ep.provider.as_str()))
        {
            return h.clone();
        }
        let mut endpoints = write(&self.endpoints);
        // Reuse the model's interned name when another provider has it.
        let model = match endpoints.get_key_value(ep.model.as_str()) {
            Some((model, _)) => model.clone(),
            None => Arc::from(ep.model.as_str()),
        };
        let providers = endpoints.entry(model.clone()).or_default();
        if let Some(h) = providers.get(ep.provider.as_str()) {
            return h.clone();
        }
        let labels = EndpointLabels {
            model,
            provider: Arc::from(ep.provider.as_str()),
        };
        let handles = Arc::new(self.resolve(labels));
        providers.insert(handles.labels.provider.clone(), handles.clone());
        handles
    }

    fn resolve(&self, labels: EndpointLabels) -> EndpointHandles {
        let with = |label: &'static str| (labels.model.clone(), labels.provider.clone(), label);
        let (model, provider, outcome) = with("ok");
        let attempts_ok = self
            .attempts
            .get_or_create(&AttemptLabels {
                model,
                provider,
                outcome,
            })
            .clone();
        let (model, provider, ending) = with(ending_label(Ending::Succeeded));
        let succeeded = self
            .generations
            .get_or_create(&EndingLabels {
                model,
                provider,
                ending,
            })
            .clone();
        let tokens = |kind: &'static str| {
            let (model, provider, kind) = with(kind);
            self.tokens
                .get_or_create(&TokenLabels {
                    model,
                    provider,
                    kind,
                })
                .clone()
        };
        EndpointHandles {
            attempts_ok,
            latency: self.upstream_latency.get_or_create(&labels).clone(),
            succeeded,
            duration: self.generation_duration.get_or_create(&labels).clone(),
            ttft: self.ttft.get_or_create(&labels).clone(),
            prompt_tokens: tokens("prompt"),
            completion_tokens: tokens("completion"),
            cost: self.cost.get_or_create(&labels).clone(),
            labels,
        }
    }
}

/// A read guard, poison or not: the maps only ever grow, so a panic while
/// one was held leaves nothing half-done.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match lock.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match lock.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
