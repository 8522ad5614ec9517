//! The plain-data health snapshot the router reads.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::models::Percentiles;

use super::EndpointKey;

/// The health of one endpoint at one instant, as the router reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// A significant outage in the window, or a `Retry-After` in force.
    pub in_outage: bool,
    /// The endpoints API's status (module docs).
    pub status: i32,
    /// Requests recorded in the outage window.
    pub requests_in_window: u32,
    /// Failures among them.
    pub failures_in_window: u32,
    /// Decayed share of successes (0 to 1, 30-minute scale).
    pub uptime: Option<f64>,
    /// Decayed mean latency in milliseconds (time to first token when
    /// known).
    pub latency_ms: Option<f64>,
    /// Decayed mean throughput in tokens per second.
    pub throughput_tps: Option<f64>,
    /// Latency percentiles (milliseconds) of the last 30 minutes: what
    /// `preferred_max_latency` is checked against.
    pub latency_percentiles: Option<Percentiles>,
    /// Throughput percentiles (tokens per second) of the last 30 minutes,
    /// the slow tail at `p99`: what `preferred_min_throughput` is checked
    /// against.
    pub throughput_percentiles: Option<Percentiles>,
    /// Upstream status of the last outcome.
    pub last_status: Option<u16>,
}

impl EndpointHealth {
    /// Healthy, with no statistics (the same as `default()`).
    pub fn up() -> EndpointHealth {
        EndpointHealth::default()
    }

    /// In outage.
    pub fn outage() -> EndpointHealth {
        EndpointHealth {
            in_outage: true,
            status: STATUS_OUTAGE,
            ..EndpointHealth::default()
        }
    }

    /// With a latency estimate.
    pub fn with_latency_ms(mut self, ms: f64) -> EndpointHealth {
        self.latency_ms = Some(ms);
        self
    }

    /// With a throughput estimate.
    pub fn with_throughput(mut self, tps: f64) -> EndpointHealth {
        self.throughput_tps = Some(tps);
        self
    }

    /// With latency percentiles (milliseconds).
    pub fn with_latency_percentiles(mut self, p: Percentiles) -> EndpointHealth {
        self.latency_percentiles = Some(p);
        self
    }

    /// With throughput percentiles (tokens per second, slow tail at p99).
    pub fn with_throughput_percentiles(mut self, p: Percentiles) -> EndpointHealth {
        self.throughput_percentiles = Some(p);
        self
    }

    /// With an uptime share (0 to 1).
    pub fn with_uptime(mut self, uptime: f64) -> EndpointHealth {
        self.uptime = Some(uptime);
        self
    }
}

pub(super) const STATUS_UP: i32 = 0;
pub(super) const STATUS_DEGRADED: i32 = -1;
pub(super) const STATUS_OUTAGE: i32 = -2;
pub(super) const STATUS_HELD_BACK: i32 = -3;

/// FNV-1a: the snapshot is read once per endpoint per plan, with short
/// keys (model ids, provider slugs) that come from the operator's catalog,
/// so a fast non-keyed hash is safe and SipHash's cost is not needed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by model id or provider slug.
pub(crate) type Map<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

/// Health of every endpoint at one instant: plain data, cheap to read,
/// serializable (to share it between replicas). An endpoint it does not
/// know is treated as healthy with no statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    /// model id -> provider slug -> health.
    pub(super) models: Map<Map<EndpointHealth>>,
}

impl HealthSnapshot {
    /// An empty snapshot: every endpoint healthy.
    pub fn new() -> HealthSnapshot {
        HealthSnapshot::default()
    }

    /// Sets the health of an endpoint.
    pub fn insert(&mut self, key: EndpointKey, health: EndpointHealth) {
        self.models
            .entry(key.model)
            .or_default()
            .insert(key.provider, health);
    }

    /// The health of `model` at `provider`, if known.
    pub fn get(&self, model: &str, provider: &str) -> Option<&EndpointHealth> {
        self.models.get(model)?.get(provider)
    }

    /// The health of a catalog endpoint, if known.
    pub fn endpoint(&self, endpoint: &CatalogEndpoint) -> Option<&EndpointHealth> {
        self.get(&endpoint.model, &endpoint.provider)
    }

    /// Whether `model` at `provider` is in outage.
    pub fn in_outage(&self, model: &str, provider: &str) -> bool {
        self.get(model, provider).is_some_and(|h| h.in_outage)
    }

    /// The known endpoints of one model, by provider slug.
    pub(crate) fn model(&self, model: &str) -> Option<&Map<EndpointHealth>> {
        self.models.get(model)
    }

    /// Every known endpoint and its health.
    pub fn iter(&self) -> impl Iterator<Item = (EndpointKey, &EndpointHealth)> {
        self.models.iter().flat_map(|(model, providers)| {
            providers
                .iter()
                .map(move |(provider, h)| (EndpointKey::new(model, provider), h))
        })
    }

    /// Number of known endpoints.
    pub fn len(&self) -> usize {
        self.models.values().map(Map::len).sum()
    }

    /// Whether no endpoint is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
