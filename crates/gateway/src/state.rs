//! The shared state every handler sees.

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use tollgate_catalog::Catalog;
use tollgate_store::Store;
use tollgate_transport::{Provider, ProviderError, Secrets};

use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use tollgate_catalog::CatalogEndpoint;
use tollgate_routing::{EndpointKey, HealthSnapshot, HealthTracker, Outcome, Policy, Timestamp};

use crate::auth::KeyCache;
use crate::config::ServerConfig;

/// How old a health snapshot may be before a plan recomputes it.
pub const SNAPSHOT_MAX_AGE: std::time::Duration = std::time::Duration::from_millis(250);

/// The catalog and what is derived from it, replaced together by a reload
/// ([`crate::reload`]). A request takes one snapshot ([`AppState::routes`])
/// when it plans and uses it to its end, so requests in flight finish on
/// the catalog they started with.
#[derive(Debug)]
pub struct Routes {
    /// The provider catalog.
    pub catalog: Catalog,
    /// One adapter per provider slug.
    pub providers: HashMap<String, Arc<dyn Provider>>,
    /// `GET /models` body, rendered once per catalog.
    pub models_json: Bytes,
    /// The providers' keys, masked in every provider error
    /// ([`AppState::redact`]).
    pub secrets: Secrets,
}

/// Everything a request needs, shared behind an `Arc`.
#[derive(Debug)]
pub struct AppState {
    /// The catalog, its adapters and its `GET /models` body: one snapshot,
    /// swapped whole by a reload.
    pub routes: ArcSwap<Routes>,
    /// Where a reload reads the catalog from, and the client its adapters
    /// share.
    pub reloader: crate::reload::Reloader,
    /// Persistence.
    pub store: Store,
    /// Authenticated keys, cached.
    pub keys: KeyCache,
    /// Accounts' own provider keys (BYOK), cached.
    pub byok: crate::pipeline::byok::ByokCache,
    /// Server settings.
    pub server: ServerConfig,
    /// The routing policy (`[routing]`).
    pub policy: Policy,
    /// Provider health, fed with every attempt's outcome.
    pub health: Mutex<HealthTracker>,
    /// The latest health snapshot and when it was taken, read by every
    /// plan and refreshed when older than [`SNAPSHOT_MAX_AGE`] (so an
    /// endpoint that is skipped, and so records nothing, still recovers
    /// when its outage window passes).
    pub health_snapshot: RwLock<(Timestamp, Arc<HealthSnapshot>)>,
    /// When the gateway started: the origin of health timestamps.
    pub started: Instant,
    /// Request rate limits, counted in memory or Redis.
    pub limiter: crate::limits::RateLimiter,
    /// Which accounts have bought enough for the higher free daily limit.
    pub credit_tiers: crate::limits::CreditTierCache,
    /// This gateway's metrics, rendered by `GET /metrics`.
    pub metrics: Arc<crate::observe::Metrics>,
    /// Holds, settlements and generation records (`books`).
    pub books: Arc<crate::books::Books>,
    /// With `[redis]`: shares attempt outcomes with the other replicas
    /// ([`crate::health_sync`]); set once, when the sync starts.
    pub health_sync: std::sync::OnceLock<crate::health_sync::HealthSync>,
    /// The admin key, masked in every provider error (set with the admin
    /// key, [`crate::Gateway::with_admin`]).
    pub admin_secrets: ArcSwap<Secrets>,
    /// The `[moderation]` backend, when configured.
    pub moderation: Option<crate::moderation::Moderation>,
    /// Set once shutdown began: `GET /ready` answers 503 from then on.
    pub draining: std::sync::atomic::AtomicBool,
    /// Web search (`[search]`): its settings and backend.
    pub search: crate::search::Search,
}

impl AppState {
    /// The current catalog snapshot: take it once per request.
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.load_full()
    }

    /// `e` with every run of 8 or more characters of a configured secret
    /// masked (the providers' keys, the admin key): an upstream may echo
    /// one, and what an error says reaches the client and the log. (The
    /// key a call was made with, a BYOK key included, is masked by its
    /// adapter already.)
    pub fn redact(&self, e: ProviderError) -> ProviderError {
        e.redact_with(&self.routes.load().secrets)
            .redact_with(&self.admin_secrets.load())
    }

    /// Now, on the health tracker's clock.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.started.elapsed())
    }

    /// The current health snapshot.
    pub fn health(&self) -> Arc<HealthSnapshot> {
        let now = self.now();
        let (taken, snapshot) = match self.health_snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if now.since(taken) <= SNAPSHOT_MAX_AGE {
            return snapshot;
        }
        let fresh = {
            let tracker = match self.health.lock() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            Arc::new(tracker.snapshot(now))
        };
        self.store_snapshot(now, fresh.clone());
        fresh
    }

    fn store_snapshot(&self, at: Timestamp, snapshot: Arc<HealthSnapshot>) {
        match self.health_snapshot.write() {
            Ok(mut s) => *s = (at, snapshot),
            Err(poisoned) => *poisoned.into_inner() = (at, snapshot),
        }
    }

    /// Records an attempt's outcome. The snapshot plans read is rebuilt
    /// at once when the endpoint's status changes (an outage begins or
    /// ends, a `Retry-After` holds it back, it is seen for the first
    /// time); its means (latency, throughput, uptime) otherwise reach the
    /// snapshot with the next refresh, within [`SNAPSHOT_MAX_AGE`]. A
    /// rebuild evaluates every endpoint, so rebuilding per request would
    /// cost each request in proportion to the catalog.
    pub fn record(&self, endpoint: &CatalogEndpoint, outcome: &Outcome) {
        let now = self.now();
        let key = EndpointKey::of(endpoint);
        let shown = match self.health_snapshot.read() {
            Ok(s) => s.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        };
        let rebuilt = {
            let mut tracker = match self.health.lock() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            tracker.record(&key, outcome, now);
            let unchanged = tracker
                .status(&key, now)
                .is_some_and(|(status, in_outage)| {
                    shown
                        .get(&key.model, &key.provider)
                        .is_some_and(|s| s.status == status && s.in_outage == in_outage)
                });
            (!unchanged).then(|| tracker.snapshot(now))
        };
        if let Some(snapshot) = rebuilt {
            self.store_snapshot(now, Arc::new(snapshot));
        }
        if let Some(sync) = self.health_sync.get() {
            sync.publish(key, outcome.success);
        }
    }

    /// Records what a generation `endpoint` served measured when it ended:
    /// its time to first token (streams) and its throughput (completion
    /// tokens per second after the first token). The success itself was
    /// [`record`](Self::record)ed when the answer (or the stream's first
    /// chunk) came. Reaches the snapshot with its next refresh.
    pub fn record_timing(
        &self,
        endpoint: &CatalogEndpoint,
        ttft: Option<Duration>,
        tokens_per_second: Option<f64>,
    ) {
        if ttft.is_none() && tokens_per_second.is_none() {
            return;
        }
        let now = self.now();
        let mut tracker = match self.health.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        tracker.record_timing(&EndpointKey::of(endpoint), ttft, tokens_per_second, now);
    }

    /// The endpoints API's health fields of `endpoint`.
    pub fn api_health(&self, endpoint: &CatalogEndpoint) -> tollgate_catalog::EndpointHealth {
        let now = self.now();
        match self.health.lock() {
            Ok(t) => t.api_health(&EndpointKey::of(endpoint), now),
            Err(poisoned) => poisoned
                .into_inner()
                .api_health(&EndpointKey::of(endpoint), now),
        }
    }
}
