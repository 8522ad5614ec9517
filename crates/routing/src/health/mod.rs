//! Endpoint health: the tracker the gateway feeds with outcomes, and the
//! plain-data snapshot the router reads.
//!
//! Nothing here reads a clock: every call takes `now` as a [`Timestamp`]
//! (milliseconds since an epoch the caller picks and keeps: the UNIX epoch
//! to share health across replicas, or a process-start `Instant`).
//!
//! Rules:
//!
//! * **Outage** ("significant outage", `Policy`): in the last
//!   `outage_window_secs`, at least `outage_min_failures` failures (default
//!   3), or at least `outage_min_requests` requests (default 2) of which a
//!   share of at least `outage_failure_ratio` (default 0.5) failed. An
//!   outcome with `retry_after` (a 429 or 503 with `Retry-After`) puts the
//!   endpoint in outage until then. With no new failure an endpoint
//!   recovers once its failures are older than the window. To bound memory
//!   only the last 256 outcomes in the window are kept, which keeps both
//!   rules meaningful at any rate.
//! * **Failures** are what the gateway records with `success: false`: it
//!   should record the provider's faults (5xx, 429, timeouts, connection
//!   errors, a broken stream), not the client's (4xx other than 408/429).
//! * **Latency** (time to first token, else the whole request) and
//!   **throughput** (completion tokens per second after the first token,
//!   measured by the gateway when a generation ends and fed with
//!   [`HealthTracker::record_timing`], with a stream's time to first token) are time-decayed means of
//!   successful requests with half-life `stats_half_life_secs`: each sample
//!   counts with weight `0.5^(age / half_life)`; the sorts (`:nitro`,
//!   `provider.sort`) read these. The samples of the last 30 minutes (at
//!   most 1024) also give the percentiles of the endpoints API
//!   ([`HealthTracker::api_health`]) and of the snapshot, which the
//!   `preferred_max_latency` / `preferred_min_throughput` cutoffs are
//!   checked against. Latency percentiles are the usual ones (p99: the
//!   slowest 1%); throughput percentiles name the slow tail too (p99: the
//!   speed 99% of requests reached), as the OpenAPI document's example
//!   (p50 45.2 > p99 15.1) and its "minimum p90 throughput" cutoffs read.
//! * **Uptime** is the time-decayed share of successes, with half-lives of
//!   half the 5-minute, 30-minute and 1-day windows of the endpoints API.
//! * **Other replicas' outcomes** ([`HealthTracker::record_remote`]):
//!   counts of successes and failures another replica saw at a given time
//!   count in the outage rules and the uptimes like local ones (they carry
//!   no latency, throughput, status or `Retry-After`), so replicas that
//!   exchange them route away from an endpoint together.
//! * **Status** (the endpoints API's `status`): `0` up, `-1` degraded
//!   (failures in the window, not an outage), `-2` in outage, `-3` held
//!   back by a `Retry-After`.

mod snapshot;
mod tracker;

use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tollgate_catalog::CatalogEndpoint;

pub use snapshot::{EndpointHealth, HealthSnapshot};
pub use tracker::{HealthTracker, Outcome};

/// A point in time: milliseconds since an epoch of the caller's choosing.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    /// `d` after the epoch (e.g. `start.elapsed()` or
    /// `SystemTime::now().duration_since(UNIX_EPOCH)`).
    pub fn from_duration(d: Duration) -> Timestamp {
        Timestamp(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(Timestamp::from_duration(d).0))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(Timestamp::from_duration(d).0))
    }
}

/// Identifies an endpoint: the catalog model id and the provider slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EndpointKey {
    /// Catalog model id (`CatalogEndpoint::model`).
    pub model: String,
    /// Provider slug (`CatalogEndpoint::provider`).
    pub provider: String,
}

impl EndpointKey {
    /// The key of `model` at `provider`.
    pub fn new(model: impl Into<String>, provider: impl Into<String>) -> EndpointKey {
        EndpointKey {
            model: model.into(),
            provider: provider.into(),
        }
    }

    /// The key of a catalog endpoint.
    pub fn of(endpoint: &CatalogEndpoint) -> EndpointKey {
        EndpointKey::new(&endpoint.model, &endpoint.provider)
    }
}
