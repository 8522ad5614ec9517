//! The tracker the gateway feeds with outcomes.

use std::collections::VecDeque;

// foldhash: looked up on every request (see `snapshot::Fnv`).
use foldhash::{HashMap, HashMapExt};
use std::time::Duration;

use tollgate_schema::models::Percentiles;

use super::snapshot::{STATUS_DEGRADED, STATUS_HELD_BACK, STATUS_OUTAGE, STATUS_UP};
use super::{EndpointHealth, EndpointKey, HealthSnapshot, Timestamp};
use crate::Policy;

/// The outcome of one attempt at one endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// The endpoint answered (see the module docs for what is a failure).
    pub success: bool,
    /// Upstream HTTP status, if one was received.
    pub status: Option<u16>,
    /// Time of the whole request.
    pub latency: Option<Duration>,
    /// Time to the first token.
    pub ttft: Option<Duration>,
    /// Completion tokens per second.
    pub tokens_per_second: Option<f64>,
    /// The provider's `Retry-After`: the endpoint is in outage until then.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    /// A success.
    pub fn success() -> Outcome {
        Outcome {
            success: true,
            ..Outcome::default()
        }
    }

    /// A failure, with the upstream status if there was one.
    pub fn failure(status: Option<u16>) -> Outcome {
        Outcome {
            success: false,
            status,
            ..Outcome::default()
        }
    }

    /// With the request's total latency.
    pub fn with_latency(mut self, latency: Duration) -> Outcome {
        self.latency = Some(latency);
        self
    }

    /// With the time to first token.
    pub fn with_ttft(mut self, ttft: Duration) -> Outcome {
        self.ttft = Some(ttft);
        self
    }

    /// With the completion throughput.
    pub fn with_tokens_per_second(mut self, tps: f64) -> Outcome {
        self.tokens_per_second = Some(tps);
        self
    }

    /// With a `Retry-After`.
    pub fn with_retry_after(mut self, after: Duration) -> Outcome {
        self.retry_after = Some(after);
        self
    }
}

/// Per-endpoint statistics, fed by the gateway after each attempt.
///
/// A plain struct: wrap it in the lock of your choice. Taking a
/// [`HealthSnapshot`] costs O(endpoints); a gateway should refresh a shared
/// snapshot after each `record` or every second rather than per request.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    settings: Settings,
    models: HashMap<String, HashMap<String, State>>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    window_ms: u64,
    min_failures: u32,
    ratio: f64,
    min_requests: u32,
    half_life_ms: f64,
}

impl Settings {
    /// Whether an outcome at `t` is less than a window old at `now` (an
    /// outcome from the future counts as new).
    fn in_window(&self, t: Timestamp, now: Timestamp) -> bool {
        now.as_millis().saturating_sub(t.as_millis()) < self.window_ms
    }

    fn of(policy: &Policy) -> Settings {
        Settings {
            window_ms: policy.outage_window_secs.saturating_mul(1000).max(1),
            min_failures: policy.outage_min_failures.max(1),
            ratio: policy.outage_failure_ratio,
            min_requests: policy.outage_min_requests.max(1),
            half_life_ms: (policy.stats_half_life_secs.max(1) * 1000) as f64,
        }
    }
}

const RECENT_CAP: usize = 256;
/// Latency and throughput samples kept per endpoint for the percentiles.
const SAMPLES: usize = 1024;
/// The percentiles' window: the endpoints API's "last 30 minutes".
const SAMPLE_WINDOW_MS: u64 = 30 * 60 * 1000;
/// Half-lives of the uptime means: half the 5 min, 30 min and 1 day windows.
const UPTIME_HALF_LIVES_MS: [f64; 3] = [150_000.0, 900_000.0, 43_200_000.0];

#[derive(Debug, Clone, Default)]
struct State {
    /// The newest outcomes (at most [`RECENT_CAP`]), oldest first; change
    /// it only through [`State::push_recent`], [`State::insert_recent`] and
    /// [`State::trim_recent`], which keep `recent_failures` true.
    recent: VecDeque<(Timestamp, bool)>,
    /// Failures among `recent`: so [`HealthTracker::evaluate`] counts the
    /// window by looking only at the outcomes that left it since the last
    /// record (usually none), not at all 256.
    recent_failures: u32,
    held_until: Option<Timestamp>,
    last_seen: Timestamp,
    last_status: Option<u16>,
    uptime: [Decaying; 3],
    latency: Decaying,
    throughput: Decaying,
    latency_samples: Samples,
    throughput_samples: Samples,
}

impl State {
    fn push_recent(&mut self, at: Timestamp, ok: bool) {
        self.recent.push_back((at, ok));
        self.recent_failures += u32::from(!ok);
    }

    fn insert_recent(&mut self, index: usize, at: Timestamp, ok: bool) {
        self.recent.insert(index, (at, ok));
        self.recent_failures += u32::from(!ok);
    }

    /// Drops the outcomes out of the window at `now`, and the oldest past
    /// [`RECENT_CAP`].
    fn trim_recent(&mut self, s: &Settings, now: Timestamp) {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| !s.in_window(*t, now))
            || self.recent.len() > RECENT_CAP
        {
            if let Some((_, ok)) = self.recent.pop_front() {
                self.recent_failures = self.recent_failures.saturating_sub(u32::from(!ok));
            }
        }
    }

    fn add_latency(&mut self, d: Duration, s: &Settings, now: Timestamp) {
        let ms = d.as_secs_f64() * 1000.0;
        self.latency.add(ms, now, s.half_life_ms);
        self.latency_samples.push(ms, now);
    }

    fn add_throughput(&mut self, tps: f64, s: &Settings, now: Timestamp) {
        if tps.is_finite() && tps >= 0.0 {
            self.throughput.add(tps, now, s.half_life_ms);
            self.throughput_samples.push(tps, now);
        }
    }

    /// Requests and failures in the window at `now`.
    fn in_window(&self, s: &Settings, now: Timestamp) -> (u32, u32) {
        let (mut gone, mut gone_failures) = (0usize, 0u32);
        for (t, ok) in &self.recent {
            if s.in_window(*t, now) {
                break;
            }
            gone += 1;
            gone_failures += u32::from(!ok);
        }
        let requests = u32::try_from(self.recent.len() - gone).unwrap_or(u32::MAX);
        (requests, self.recent_failures.saturating_sub(gone_failures))
    }
}

/// A time-decayed mean: each sample weighs `0.5^(age / half_life)`.
#[derive(Debug, Clone, Copy, Default)]
struct Decaying {
    sum: f64,
    weight: f64,
    at: Timestamp,
}

impl Decaying {
    fn add(&mut self, x: f64, now: Timestamp, half_life_ms: f64) {
        let age = now.as_millis().saturating_sub(self.at.as_millis()) as f64;
        let f = 0.5f64.powf(age / half_life_ms);
        self.sum = self.sum * f + x;
        self.weight = self.weight * f + 1.0;
        self.at = self.at.max(now);
    }

    /// `n` samples of `x` at once (the same as `n` calls of [`add`](Self::add)
    /// at `now`).
    fn add_n(&mut self, x: f64, n: u32, now: Timestamp, half_life_ms: f64) {
        if n == 0 {
            return;
        }
        let age = now.as_millis().saturating_sub(self.at.as_millis()) as f64;
        let f = 0.5f64.powf(age / half_life_ms);
        self.sum = self.sum * f + x * f64::from(n);
        self.weight = self.weight * f + f64::from(n);
        self.at = self.at.max(now);
    }

    fn mean(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.sum / self.weight)
    }
}

/// Which end of a distribution its high percentiles name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// `p99` is the largest value but 1% (latency: the slow tail).
    High,
    /// `p99` is the value 99% of samples reach or exceed (throughput: the
    /// slow tail too, as in the OpenAPI document's example, where
    /// throughput p50 > p90 > p99, and its `PercentileThroughputCutoffs`,
    /// "minimum p90 throughput").
    Low,
}

/// The samples of the last [`SAMPLE_WINDOW_MS`] (at most [`SAMPLES`],
/// oldest first).
#[derive(Debug, Clone, Default)]
struct Samples {
    values: VecDeque<(Timestamp, f64)>,
}

impl Samples {
    fn push(&mut self, x: f64, now: Timestamp) {
        let at = self.values.partition_point(|(t, _)| *t <= now);
        self.values.insert(at, (now, x));
        while self.values.len() > SAMPLES {
            self.values.pop_front();
        }
    }

    /// Nearest-rank percentiles of the samples less than
    /// [`SAMPLE_WINDOW_MS`] old at `now`.
    fn percentiles(&self, now: Timestamp, tail: Tail) -> Option<Percentiles> {
        let mut v: Vec<f64> = self
            .values
            .iter()
            .filter(|(t, _)| now.as_millis().saturating_sub(t.as_millis()) < SAMPLE_WINDOW_MS)
            .map(|(_, x)| *x)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        // Nearest rank, counted from the bottom (High) or the top (Low).
        let at = |q: f64| {
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            match tail {
                Tail::High => v[rank - 1],
                Tail::Low => v[v.len() - rank],
            }
        };
        Some(Percentiles {
            p50: at(0.50),
            p75: at(0.75),
            p90: at(0.90),
            p99: at(0.99),
        })
    }
}

impl HealthTracker {
    /// An empty tracker using the outage and decay settings of `policy`.
    pub fn new(policy: &Policy) -> HealthTracker {
        HealthTracker {
            settings: Settings::of(policy),
            models: HashMap::new(),
        }
    }

    /// Applies new settings (a config reload); statistics are kept.
    pub fn set_policy(&mut self, policy: &Policy) {
        self.settings = Settings::of(policy);
    }

    /// Records the outcome of one attempt at `key`, at `now`.
    pub fn record(&mut self, key: &EndpointKey, outcome: &Outcome, now: Timestamp) {
        let s = self.settings;
        let providers = match self.models.get_mut(&key.model) {
            Some(p) => p,
            None => self.models.entry(key.model.clone()).or_default(),
        };
        let state = match providers.get_mut(&key.provider) {
            Some(st) => st,
            None => providers.entry(key.provider.clone()).or_default(),
        };
        state.push_recent(now, outcome.success);
        state.trim_recent(&s, now);
        let up = if outcome.success { 1.0 } else { 0.0 };
        for (mean, half_life) in state.uptime.iter_mut().zip(UPTIME_HALF_LIVES_MS) {
            mean.add(up, now, half_life);
        }
        if outcome.success {
            if let Some(d) = outcome.ttft.or(outcome.latency) {
                state.add_latency(d, &s, now);
            }
            if let Some(tps) = outcome.tokens_per_second {
                state.add_throughput(tps, &s, now);
            }
        }
        if let Some(after) = outcome.retry_after {
            let until = now + after;
            state.held_until = Some(state.held_until.map_or(until, |u| u.max(until)));
        }
        state.last_status = outcome.status;
        state.last_seen = state.last_seen.max(now);
    }

    /// Records what was measured at `key` when a generation it served
    /// ended, after its [`record`](Self::record)ed success (which came
    /// before these were known: at a stream's first chunk): the time to
    /// the first token (a latency sample) and the throughput (completion
    /// tokens per second after the first token). They count in the means
    /// and percentiles only, not as a request. Non-finite and negative
    /// throughputs are ignored.
    pub fn record_timing(
        &mut self,
        key: &EndpointKey,
        ttft: Option<Duration>,
        tokens_per_second: Option<f64>,
        now: Timestamp,
    ) {
        let s = self.settings;
        let state = self
            .models
            .entry(key.model.clone())
            .or_default()
            .entry(key.provider.clone())
            .or_default();
        if let Some(d) = ttft {
            state.add_latency(d, &s, now);
        }
        if let Some(tps) = tokens_per_second {
            state.add_throughput(tps, &s, now);
        }
        state.last_seen = state.last_seen.max(now);
    }

    /// Records outcomes another replica saw at `key`: `successes` and
    /// `failures` at `at` (on this tracker's clock), learnt at `now`.
    ///
    /// They count in the outage rules and in the uptimes like outcomes
    /// recorded here, but carry no status, latency, throughput or
    /// `Retry-After`. `at` may be earlier than outcomes already recorded:
    /// they are kept in time order, and those already out of the window at
    /// `now` only feed the uptimes. The caller must pass each outcome once
    /// and never its own (this tracker cannot tell them apart).
    pub fn record_remote(
        &mut self,
        key: &EndpointKey,
        successes: u32,
        failures: u32,
        at: Timestamp,
        now: Timestamp,
    ) {
        if successes == 0 && failures == 0 {
            return;
        }
        let s = self.settings;
        let state = self
            .models
            .entry(key.model.clone())
            .or_default()
            .entry(key.provider.clone())
            .or_default();
        if s.in_window(at, now) {
            // Only the newest RECENT_CAP outcomes are kept: more of one
            // batch would be dropped at once.
            let cap = u32::try_from(RECENT_CAP).unwrap_or(u32::MAX);
            let failed = failures.min(cap);
            let succeeded = successes.min(cap - failed);
            let at_pos = state.recent.partition_point(|(t, _)| *t <= at);
            for ok in std::iter::repeat_n(false, failed as usize)
                .chain(std::iter::repeat_n(true, succeeded as usize))
            {
                state.insert_recent(at_pos, at, ok);
            }
            state.trim_recent(&s, now);
        }
        for (mean, half_life) in state.uptime.iter_mut().zip(UPTIME_HALF_LIVES_MS) {
            mean.add_n(1.0, successes, at, half_life);
            mean.add_n(0.0, failures, at, half_life);
        }
        state.last_seen = state.last_seen.max(at);
    }

    /// The health of `key` at `now`, if anything was recorded for it.
    pub fn health(&self, key: &EndpointKey, now: Timestamp) -> Option<EndpointHealth> {
        let state = self.models.get(&key.model)?.get(&key.provider)?;
        Some(self.evaluate(state, now))
    }

    /// The health of every endpoint seen, at `now`.
    pub fn snapshot(&self, now: Timestamp) -> HealthSnapshot {
        let models = self
            .models
            .iter()
            .map(|(model, providers)| {
                let providers = providers
                    .iter()
                    .map(|(p, st)| (p.clone(), self.evaluate(st, now)))
                    .collect();
                (model.clone(), providers)
            })
            .collect();
        HealthSnapshot { models }
    }

    /// The endpoints API's health fields for `key` at `now` (uptimes in
    /// percent, latency and throughput percentiles over the successful
    /// requests of the last 30 minutes); all empty for an endpoint never
    /// seen.
    pub fn api_health(
        &self,
        key: &EndpointKey,
        now: Timestamp,
    ) -> tollgate_catalog::EndpointHealth {
        let Some(state) = self
            .models
            .get(&key.model)
            .and_then(|p| p.get(&key.provider))
        else {
            return tollgate_catalog::EndpointHealth {
                status: Some(STATUS_UP),
                ..Default::default()
            };
        };
        let h = self.evaluate(state, now);
        let pct = |d: &Decaying| d.mean().map(|m| (m * 10_000.0).round() / 100.0);
        tollgate_catalog::EndpointHealth {
            status: Some(h.status),
            uptime_last_5m: pct(&state.uptime[0]),
            uptime_last_30m: pct(&state.uptime[1]),
            uptime_last_1d: pct(&state.uptime[2]),
            latency_last_30m: h.latency_percentiles,
            throughput_last_30m: h.throughput_percentiles,
        }
    }

    /// Forgets endpoints not seen for `idle`.
    pub fn prune(&mut self, now: Timestamp, idle: Duration) {
        let horizon = now - idle;
        for providers in self.models.values_mut() {
            providers.retain(|_, st| st.last_seen > horizon);
        }
        self.models.retain(|_, p| !p.is_empty());
    }

    /// The status of `key` at `now` (the `status` and `in_outage` of
    /// [`health`](Self::health)) without the percentiles, which sort up to
    /// a thousand samples: what the request path asks after every attempt.
    pub fn status(&self, key: &EndpointKey, now: Timestamp) -> Option<(i32, bool)> {
        let state = self.models.get(&key.model)?.get(&key.provider)?;
        let (status, in_outage, _, _) = self.status_of(state, now);
        Some((status, in_outage))
    }

    /// Status, in outage, requests and failures in the window.
    fn status_of(&self, st: &State, now: Timestamp) -> (i32, bool, u32, u32) {
        let s = self.settings;
        let (requests, failures) = st.in_window(&s, now);
        let outage = failures >= s.min_failures
            || (failures > 0
                && requests >= s.min_requests
                && f64::from(failures) >= s.ratio * f64::from(requests));
        let held = st.held_until.is_some_and(|u| u > now);
        let status = if held {
            STATUS_HELD_BACK
        } else if outage {
            STATUS_OUTAGE
        } else if failures > 0 {
            STATUS_DEGRADED
        } else {
            STATUS_UP
        };
        (status, outage || held, requests, failures)
    }

    fn evaluate(&self, st: &State, now: Timestamp) -> EndpointHealth {
        let (status, in_outage, requests, failures) = self.status_of(st, now);
        EndpointHealth {
            in_outage,
            status,
            requests_in_window: requests,
            failures_in_window: failures,
            uptime: st.uptime[1].mean(),
            latency_ms: st.latency.mean(),
            throughput_tps: st.throughput.mean(),
            latency_percentiles: st.latency_samples.percentiles(now, Tail::High),
            throughput_percentiles: st.throughput_samples.percentiles(now, Tail::Low),
            last_status: st.last_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Timestamp {
        Timestamp::from_millis((secs * 1000.0) as u64)
    }

    fn key() -> EndpointKey {
        EndpointKey::new("m/x", "p")
    }

    fn tracker() -> HealthTracker {
        HealthTracker::new(&Policy::default())
    }

    #[test]
    fn three_failures_make_an_outage_that_recovers_after_the_window() {
        let mut t = tracker();
        for i in 0..5 {
            t.record(&key(), &Outcome::success(), at(f64::from(i)));
        }
        for i in 5..7 {
            t.record(&key(), &Outcome::failure(Some(503)), at(f64::from(i)));
        }
        // 2 of 7 failed: degraded, not an outage.
        let h = t.health(&key(), at(7.0)).unwrap();
        assert!(!h.in_outage);
        assert_eq!(
            (h.status, h.requests_in_window, h.failures_in_window),
            (-1, 7, 2)
        );
        assert_eq!(t.status(&key(), at(7.0)), Some((-1, false)));
        t.record(&key(), &Outcome::failure(Some(503)), at(7.5));
        let h = t.health(&key(), at(8.0)).unwrap();
        assert!(h.in_outage);
        assert_eq!(h.status, -2);
        assert_eq!(t.status(&key(), at(8.0)), Some((-2, true)));
        assert_eq!(t.status(&EndpointKey::new("m/x", "other"), at(8.0)), None);
        assert_eq!(h.last_status, Some(503));
        // Still in outage just before the first failure leaves the window...
        assert!(t.health(&key(), at(14.9)).unwrap().in_outage);
        // ...then the ratio rule still holds (the 2 failures at t=6 and 7.5
        // are the only requests in the window)...
        assert!(t.health(&key(), at(15.5)).unwrap().in_outage);
        // ...until the failure at t=6 leaves it too.
        assert!(!t.health(&key(), at(16.0)).unwrap().in_outage);
        assert_eq!(t.health(&key(), at(18.0)).unwrap().status, 0);
    }

    #[test]
    fn failure_ratio_rule() {
        let mut t = tracker();
        t.record(&key(), &Outcome::failure(None), at(0.0));
        // One request: below outage_min_requests.
        assert!(!t.health(&key(), at(0.1)).unwrap().in_outage);
        t.record(&key(), &Outcome::success(), at(1.0));
        // 1 of 2 failed = 50%.
        assert!(t.health(&key(), at(1.1)).unwrap().in_outage);
        t.record(&key(), &Outcome::success(), at(2.0));
        // 1 of 3.
        assert!(!t.health(&key(), at(2.1)).unwrap().in_outage);
    }

    #[test]
    fn policy_thresholds_apply() {
        let policy = Policy {
            outage_window_secs: 30,
            outage_min_failures: 1,
            ..Policy::default()
        };
        let mut t = HealthTracker::new(&policy);
        t.record(&key(), &Outcome::failure(Some(500)), at(0.0));
        assert!(t.health(&key(), at(29.0)).unwrap().in_outage);
        assert!(!t.health(&key(), at(31.0)).unwrap().in_outage);
    }

    #[test]
    fn retry_after_holds_the_endpoint_back() {
        let mut t = tracker();
        t.record(
            &key(),
            &Outcome::failure(Some(429)).with_retry_after(Duration::from_secs(60)),
            at(0.0),
        );
        let h = t.health(&key(), at(30.0)).unwrap();
        assert!(h.in_outage);
        assert_eq!(h.status, -3);
        assert!(!t.health(&key(), at(61.0)).unwrap().in_outage);
    }

    #[test]
    fn latency_and_throughput_decay_towards_recent_samples() {
        let mut t = tracker();
        let ok = |ms: u64, tps: f64| {
            Outcome::success()
                .with_latency(Duration::from_millis(ms * 3))
                .with_ttft(Duration::from_millis(ms))
                .with_tokens_per_second(tps)
        };
        t.record(&key(), &ok(100, 50.0), at(0.0));
        t.record(&key(), &ok(300, 150.0), at(0.0));
        let h = t.health(&key(), at(0.0)).unwrap();
        assert!((h.latency_ms.unwrap() - 200.0).abs() < 1e-9);
        assert!((h.throughput_tps.unwrap() - 100.0).abs() < 1e-9);
        // One half-life later, a new sample weighs twice as much as each old
        // one: (0.5*100 + 0.5*300 + 1000) / 2 = 600.
        t.record(&key(), &ok(1000, 10.0), at(60.0));
        let h = t.health(&key(), at(60.0)).unwrap();
        assert!((h.latency_ms.unwrap() - 600.0).abs() < 1e-6, "{h:?}");
        // Far later, the old samples no longer count.
        t.record(&key(), &ok(50, 10.0), at(6000.0));
        let h = t.health(&key(), at(6000.0)).unwrap();
        assert!((h.latency_ms.unwrap() - 50.0).abs() < 1e-6, "{h:?}");
        // Failures do not feed latency.
        t.record(
            &key(),
            &Outcome::failure(Some(504)).with_latency(Duration::from_secs(60)),
            at(6000.0),
        );
        assert!((t.health(&key(), at(6000.0)).unwrap().latency_ms.unwrap() - 50.0).abs() < 1e-6);
    }

    #[test]
    fn uptime_and_api_health() {
        let mut t = tracker();
        for i in 0..3 {
            t.record(
                &key(),
                &Outcome::success()
                    .with_ttft(Duration::from_millis(100 * (i + 1)))
                    .with_tokens_per_second(10.0),
                at(0.0),
            );
        }
        t.record(&key(), &Outcome::failure(Some(500)), at(0.0));
        let h = t.health(&key(), at(0.0)).unwrap();
        assert!((h.uptime.unwrap() - 0.75).abs() < 1e-9);
        let api = t.api_health(&key(), at(0.0));
        assert_eq!(api.status, Some(-1));
        assert_eq!(api.uptime_last_30m, Some(75.0));
        let lat = api.latency_last_30m.unwrap();
        assert_eq!((lat.p50, lat.p99), (200.0, 300.0));
        let unknown = t.api_health(&EndpointKey::new("m/x", "other"), at(0.0));
        assert_eq!(unknown.status, Some(0));
        assert_eq!(unknown.uptime_last_30m, None);
    }

    #[test]
    fn throughput_is_recorded_apart_and_its_percentiles_name_the_slow_tail() {
        let mut t = tracker();
        // The success comes first (at the first token), the throughput
        // when the generation ends; it is not a second request.
        t.record(&key(), &Outcome::success(), at(0.0));
        t.record_timing(&key(), Some(Duration::from_millis(100)), None, at(0.5));
        for tps in 1..=100 {
            t.record_timing(&key(), None, Some(f64::from(tps)), at(1.0));
        }
        t.record_timing(&key(), None, Some(f64::NAN), at(1.0));
        t.record_timing(&key(), None, Some(-5.0), at(1.0));
        let h = t.health(&key(), at(1.0)).unwrap();
        assert_eq!(h.requests_in_window, 1);
        assert!((h.throughput_tps.unwrap() - 50.5).abs() < 1e-9, "{h:?}");
        // p99 is the speed 99 of 100 requests reached: 2 tok/s; p50 the
        // median.
        let p = h.throughput_percentiles.unwrap();
        assert_eq!((p.p50, p.p75, p.p90, p.p99), (51.0, 26.0, 11.0, 2.0));
        assert_eq!(t.api_health(&key(), at(1.0)).throughput_last_30m, Some(p));
        // The one latency sample (the success came untimed).
        let lat = h.latency_percentiles.unwrap();
        assert_eq!((lat.p50, lat.p99), (100.0, 100.0));
        assert!((h.latency_ms.unwrap() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn percentiles_cover_the_last_30_minutes() {
        let mut t = tracker();
        t.record(
            &key(),
            &Outcome::success()
                .with_ttft(Duration::from_millis(900))
                .with_tokens_per_second(10.0),
            at(0.0),
        );
        t.record(
            &key(),
            &Outcome::success()
                .with_ttft(Duration::from_millis(100))
                .with_tokens_per_second(90.0),
            at(1000.0),
        );
        let api = t.api_health(&key(), at(1799.0));
        assert_eq!(api.throughput_last_30m.unwrap().p99, 10.0);
        assert_eq!(api.latency_last_30m.unwrap().p99, 900.0);
        // 30 minutes after the first sample only the second counts...
        let api = t.api_health(&key(), at(1800.0));
        assert_eq!(api.throughput_last_30m.unwrap().p99, 90.0);
        assert_eq!(api.latency_last_30m.unwrap().p50, 100.0);
        // ...and after both, none.
        let api = t.api_health(&key(), at(2800.0));
        assert_eq!(api.throughput_last_30m, None);
        assert_eq!(api.latency_last_30m, None);
    }

    #[test]
    fn snapshot_prune_and_serde() {
        let mut t = tracker();
        for i in 0..3 {
            t.record(&key(), &Outcome::failure(Some(502)), at(f64::from(i)));
        }
        t.record(
            &EndpointKey::new("m/y", "q"),
            &Outcome::success(),
            at(100.0),
        );
        let snap = t.snapshot(at(3.0));
        assert_eq!(snap.len(), 2);
        assert!(snap.in_outage("m/x", "p"));
        assert!(!snap.in_outage("m/y", "q"));
        assert!(!snap.in_outage("m/z", "p"));
        let json = serde_json::to_string(&snap).unwrap();
        let back: HealthSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
        t.prune(at(200.0), Duration::from_secs(150));
        assert_eq!(t.snapshot(at(200.0)).len(), 1);
    }

    #[test]
    fn remote_failures_make_an_outage_here() {
        let mut t = tracker();
        // This replica saw only successes...
        t.record(&key(), &Outcome::success(), at(4.0));
        assert_eq!(t.health(&key(), at(4.0)).unwrap().status, 0);
        // ...another saw three failures a second earlier, learnt now.
        t.record_remote(&key(), 0, 3, at(3.0), at(5.0));
        let h = t.health(&key(), at(5.0)).unwrap();
        assert!(h.in_outage, "{h:?}");
        assert_eq!((h.requests_in_window, h.failures_in_window), (4, 3));
        assert_eq!(h.status, -2);
        // No status, latency or throughput came with them.
        assert_eq!((h.last_status, h.latency_ms), (None, None));
        // They leave the window a window after they happened, not after
        // they were learnt: the local success (t=4) stays a second longer.
        assert!(t.health(&key(), at(12.9)).unwrap().in_outage);
        let h = t.health(&key(), at(13.0)).unwrap();
        assert!(!h.in_outage);
        assert_eq!((h.requests_in_window, h.failures_in_window), (1, 0));
        assert_eq!(t.health(&key(), at(14.0)).unwrap().requests_in_window, 0);
    }

    #[test]
    fn remote_outcomes_keep_the_window_in_time_order() {
        let mut t = tracker();
        for i in 0..4 {
            t.record(&key(), &Outcome::success(), at(f64::from(i)));
        }
        // Older than the newest local outcome, newer than the oldest.
        t.record_remote(&key(), 1, 2, at(1.5), at(4.0));
        let h = t.health(&key(), at(4.0)).unwrap();
        assert_eq!((h.requests_in_window, h.failures_in_window), (7, 2));
        // A later local record prunes by time: the outcomes at 0, 1 and 1.5
        // leave the window at 11.5, the rest stay.
        t.record(&key(), &Outcome::success(), at(11.5));
        let h = t.health(&key(), at(11.5)).unwrap();
        assert_eq!((h.requests_in_window, h.failures_in_window), (3, 0));
    }

    #[test]
    fn remote_outcomes_feed_the_uptimes_even_outside_the_window() {
        let mut t = tracker();
        t.record(&key(), &Outcome::success(), at(100.0));
        t.record_remote(&key(), 1, 2, at(100.0), at(100.0));
        let h = t.health(&key(), at(100.0)).unwrap();
        assert!((h.uptime.unwrap() - 0.5).abs() < 1e-9, "{h:?}");
        assert_eq!(t.api_health(&key(), at(100.0)).uptime_last_5m, Some(50.0));
        // Learnt after the window: uptime only.
        t.record_remote(&key(), 0, 4, at(100.0), at(200.0));
        let h = t.health(&key(), at(200.0)).unwrap();
        assert_eq!(h.requests_in_window, 0);
        assert!(!h.in_outage);
        let uptime = h.uptime.unwrap();
        assert!((uptime - 2.0 / 8.0).abs() < 0.01, "{uptime}");
        // A remote-only endpoint is known, and pruned like any other.
        let other = EndpointKey::new("m/x", "q");
        t.record_remote(&other, 2, 0, at(150.0), at(150.0));
        assert_eq!(t.health(&other, at(150.0)).unwrap().requests_in_window, 2);
        t.record_remote(&other, 0, 0, at(400.0), at(400.0));
        t.prune(at(400.0), Duration::from_secs(150));
        assert!(t.health(&other, at(400.0)).is_none());
    }

    #[test]
    fn remote_batches_are_bounded_failures_first() {
        let mut t = tracker();
        t.record_remote(&key(), 1_000, 300, at(0.0), at(0.0));
        let h = t.health(&key(), at(0.0)).unwrap();
        assert_eq!(
            (h.requests_in_window, h.failures_in_window),
            (RECENT_CAP as u32, RECENT_CAP as u32)
        );
        let mut t = tracker();
        t.record_remote(&key(), 1_000, 6, at(0.0), at(0.0));
        let h = t.health(&key(), at(0.0)).unwrap();
        assert_eq!(
            (h.requests_in_window, h.failures_in_window),
            (RECENT_CAP as u32, 6)
        );
        assert!(h.in_outage);
        // The uptimes see every outcome.
        let uptime = h.uptime.unwrap();
        assert!((uptime - 1000.0 / 1006.0).abs() < 1e-9, "{uptime}");
    }

    #[test]
    fn the_window_counts_match_a_count_of_every_outcome() {
        // A linear congruential sequence of local and remote outcomes at
        // growing times; after each step the counts kept incrementally
        // equal a count over every outcome still held.
        let mut tracker = HealthTracker::new(&Policy::default());
        let window_ms = tracker.settings.window_ms;
        let mut x: u64 = 12345;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut now_ms = 0u64;
        for _ in 0..3_000 {
            now_ms += next() % (window_ms / 20 + 1);
            let now = Timestamp::from_millis(now_ms);
            if next() % 5 == 0 {
                let at = Timestamp::from_millis(now_ms.saturating_sub(next() % window_ms));
                let (ok, failed) = ((next() % 4) as u32, (next() % 3) as u32);
                tracker.record_remote(&key(), ok, failed, at, now);
            } else {
                let outcome = if next() % 3 == 0 {
                    Outcome::failure(Some(500))
                } else {
                    Outcome::success()
                };
                tracker.record(&key(), &outcome, now);
            }
            let later = Timestamp::from_millis(now_ms + next() % window_ms);
            let state = &tracker.models[&key().model][&key().provider];
            let s = tracker.settings;
            let naive = state
                .recent
                .iter()
                .filter(|(t, _)| s.in_window(*t, later))
                .fold((0u32, 0u32), |(r, f), (_, ok)| (r + 1, f + u32::from(!ok)));
            assert_eq!(state.in_window(&s, later), naive);
            let failures = state.recent.iter().filter(|(_, ok)| !ok).count();
            assert_eq!(state.recent_failures as usize, failures);
        }
    }

    #[test]
    fn recent_outcomes_are_bounded() {
        let mut t = tracker();
        for i in 0..10_000u64 {
            t.record(&key(), &Outcome::success(), Timestamp::from_millis(i));
        }
        let h = t.health(&key(), Timestamp::from_millis(10_000)).unwrap();
        assert_eq!(h.requests_in_window, RECENT_CAP as u32);
    }
}
