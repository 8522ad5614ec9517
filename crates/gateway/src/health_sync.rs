//! Provider health shared by replicas through Redis.
//!
//! Every replica keeps its own [`HealthTracker`](tollgate_routing::HealthTracker),
//! which plans read without waiting on anything else. With `[redis]`
//! configured, replicas also exchange the outcomes of their attempts, so
//! that when one replica sees an endpoint fail, the others route away from
//! it too:
//!
//! * **Publish.** [`AppState::record`] hands each outcome to a bounded
//!   queue and returns: a request never waits on Redis (when the queue is
//!   full the outcome only counts here). A background task sums the
//!   outcomes per second and endpoint and, every [`FLUSH_EVERY`], adds the
//!   sums to Redis in one `MULTI`: hash `<prefix>:<unix second>`, fields
//!   `<replica>|ok|<provider>|<model>` and `<replica>|fail|<provider>|<model>`
//!   (`HINCRBY`), the key expiring [`LOOKBACK_SECS`] plus a little after the
//!   outage window.
//! * **Pull.** Every [`PULL_EVERY`] the task reads the hashes of the last
//!   [`LOOKBACK_SECS`] seconds, skips its own replica's fields (a random id
//!   per process, so nothing is counted twice), and feeds what grew since
//!   its last read into the tracker
//!   ([`HealthTracker::record_remote`](tollgate_routing::HealthTracker::record_remote)),
//!   dated in the middle of its second, then refreshes the snapshot plans
//!   read. An outcome reaches the other replicas within about
//!   `FLUSH_EVERY + PULL_EVERY`.
//! * **Redis down** (or slow: every call is bounded by [`REDIS_TIMEOUT`]):
//!   logged once per outage; each replica routes on its own outcomes
//!   meanwhile. Sums not yet written are kept while they are younger than
//!   the look-back and written once Redis answers again.
//!
//! Only success and failure counts travel: latency, throughput, statuses
//! and `Retry-After` stay with the replica that saw them. Replicas must
//! agree on the time to the second (NTP), as for the rate limits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::mpsc;
use tollgate_routing::{EndpointKey, Timestamp};

use crate::state::AppState;

/// How often the sums of this replica's outcomes are written to Redis.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often the other replicas' outcomes are read from Redis.
pub const PULL_EVERY: Duration = Duration::from_secs(1);
/// How many seconds back each pull reads: outcomes written later than
/// this after their second (a replica cut off from Redis for longer) are
/// not seen by the others.
pub const LOOKBACK_SECS: u64 = 10;
/// Bound on every Redis call (and on connecting).
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// Outcomes waiting for the background task; more are dropped (counted
/// locally only).
const QUEUE: usize = 4096;
/// After a failed connection attempt, how long until the next.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

const OK: &str = "ok";
const FAIL: &str = "fail";

/// One attempt's outcome, as published.
#[derive(Debug)]
struct Sample {
    key: EndpointKey,
    success: bool,
    unix_sec: u64,
}

/// Successes and failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) ok: u32,
    pub(crate) fail: u32,
}

impl Counts {
    fn is_empty(self) -> bool {
        self.ok == 0 && self.fail == 0
    }
}

/// The request side of the sync: hands outcomes to the background task.
#[derive(Debug)]
pub struct HealthSync {
    tx: mpsc::Sender<Sample>,
}

impl HealthSync {
    /// Queues an outcome for the other replicas; never waits.
    pub(crate) fn publish(&self, key: EndpointKey, success: bool) {
        let sample = Sample {
            key,
            success,
            unix_sec: now_unix_ms() / 1000,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(sample) {
            tracing::debug!("health sync queue full; an outcome counts on this replica only");
        }
    }
}

/// The current time in Unix milliseconds.
fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Starts sharing `state`'s provider health through the Redis at `url`,
/// under keys `<prefix>:...`: sets [`AppState::health_sync`] and spawns the
/// background task (on the current Tokio runtime), which ends when `state`
/// is dropped. Never fails: an unusable Redis is logged and retried, and the
/// replica meanwhile routes on its own outcomes. Does nothing if `state`
/// already shares its health.
pub fn start(state: &Arc<AppState>, url: &str, prefix: &str) {
    let client = match ::redis::Client::open(url) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "redis.url is invalid; provider health is not shared");
            return;
        }
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    if state.health_sync.set(HealthSync { tx }).is_err() {
        return;
    }
    let window = state.policy.outage_window_secs.max(1);
    let replica = uuid::Uuid::new_v4().simple().to_string();
    tracing::info!(%replica, %prefix, "provider health shared through redis");
    let task = Task {
        state: Arc::downgrade(state),
        link: Link::new(client),
        prefix: prefix.to_owned(),
        replica,
        ttl_secs: window + LOOKBACK_SECS + 5,
        pending: BTreeMap::new(),
        seen: Seen::default(),
    };
    tokio::spawn(task.run(rx));
}

/// A lazily made, self-reconnecting connection, and whether Redis answers
/// (to log an outage once).
struct Link {
    client: ::redis::Client,
    conn: Option<ConnectionManager>,
    next_attempt: tokio::time::Instant,
    up: bool,
}

impl Link {
    fn new(client: ::redis::Client) -> Link {
        Link {
            client,
            conn: None,
            next_attempt: tokio::time::Instant::now(),
            up: true,
        }
    }

    /// The connection, connecting first if need be (at most once per
    /// [`RECONNECT_EVERY`]).
    async fn conn(&mut self) -> Option<ConnectionManager> {
        if let Some(c) = &self.conn {
            return Some(c.clone());
        }
        if tokio::time::Instant::now() < self.next_attempt {
            return None;
        }
        self.next_attempt = tokio::time::Instant::now() + RECONNECT_EVERY;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_EVERY);
        let made = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(c)) => {
                self.conn = Some(c.clone());
                Some(c)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("no connection within the timeout");
                None
            }
        }
    }

    fn failed(&mut self, error: &str) {
        if std::mem::replace(&mut self.up, false) {
            tracing::warn!(%error, "redis unreachable; provider health is this replica's own until it is back");
        } else {
            tracing::debug!(%error, "redis still unreachable for provider health");
        }
    }

    fn worked(&mut self) {
        if !std::mem::replace(&mut self.up, true) {
            tracing::info!("redis is back; provider health is shared again");
        }
    }

    /// Runs `pipe`, bounded by [`REDIS_TIMEOUT`].
    async fn query<T: ::redis::FromRedisValue>(&mut self, pipe: &::redis::Pipeline) -> Option<T> {
        let mut conn = self.conn().await?;
        match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => {
                self.worked();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer within the timeout");
                None
            }
        }
    }
}

struct Task {
    state: Weak<AppState>,
    link: Link,
    prefix: String,
    replica: String,
    ttl_secs: u64,
    /// This replica's sums not yet written: (unix second, endpoint) → counts.
    pending: BTreeMap<(u64, EndpointKey), Counts>,
    seen: Seen,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Sample>) {
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pull = tokio::time::interval(PULL_EVERY);
        pull.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                sample = rx.recv() => match sample {
                    Some(s) => {
                        let c = self.pending.entry((s.unix_sec, s.key)).or_default();
                        if s.success {
                            c.ok = c.ok.saturating_add(1);
                        } else {
                            c.fail = c.fail.saturating_add(1);
                        }
                    }
                    // The state is gone: write what is left and stop.
                    None => {
                        self.flush().await;
                        return;
                    }
                },
                _ = flush.tick() => self.flush().await,
                _ = pull.tick() => {
                    if !self.pull().await {
                        return;
                    }
                }
            }
        }
    }

    fn key(&self, unix_sec: u64) -> String {
        format!("{}:{unix_sec}", self.prefix)
    }

    /// Writes the pending sums; keeps them (younger than the look-back)
    /// when Redis does not answer.
    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        let mut secs = BTreeSet::new();
        for ((sec, key), counts) in &self.pending {
            let hash = self.key(*sec);
            for (kind, n) in [(OK, counts.ok), (FAIL, counts.fail)] {
                if n > 0 {
                    pipe.cmd("HINCRBY")
                        .arg(&hash)
                        .arg(field(&self.replica, kind, key))
                        .arg(n)
                        .ignore();
                }
            }
            secs.insert(*sec);
        }
        for sec in secs {
            pipe.cmd("EXPIRE")
                .arg(self.key(sec))
                .arg(self.ttl_secs)
                .ignore();
        }
        if self.link.query::<()>(&pipe).await.is_some() {
            self.pending.clear();
        } else {
            let oldest = (now_unix_ms() / 1000).saturating_sub(LOOKBACK_SECS);
            self.pending.retain(|(sec, _), _| *sec >= oldest);
        }
    }

    /// Reads the other replicas' recent outcomes and feeds what is new into
    /// the tracker. False once the state is gone.
    async fn pull(&mut self) -> bool {
        if self.state.strong_count() == 0 {
            return false;
        }
        let now_sec = now_unix_ms() / 1000;
        let first = now_sec.saturating_sub(LOOKBACK_SECS);
        let mut pipe = ::redis::pipe();
        for sec in first..=now_sec {
            pipe.cmd("HGETALL").arg(self.key(sec));
        }
        let Some(hashes) = self.link.query::<Vec<HashMap<String, String>>>(&pipe).await else {
            return true;
        };
        let fresh = self
            .seen
            .absorb(&self.replica, (first..=now_sec).zip(hashes), first);
        if fresh.is_empty() {
            return true;
        }
        let Some(state) = self.state.upgrade() else {
            return false;
        };
        apply(&state, &fresh, now_unix_ms());
        true
    }
}

/// The hash field of `replica`'s `kind` (`ok` or `fail`) count at `key`.
/// The model comes last: everything after the third `|` is the model id.
fn field(replica: &str, kind: &str, key: &EndpointKey) -> String {
    format!("{replica}|{kind}|{}|{}", key.provider, key.model)
}

/// `(replica, success, endpoint)` of a field written by [`field`].
fn parse_field(field: &str) -> Option<(&str, bool, EndpointKey)> {
    let mut parts = field.splitn(4, '|');
    let replica = parts.next()?;
    let success = match parts.next()? {
        OK => true,
        FAIL => false,
        _ => return None,
    };
    let provider = parts.next()?;
    let model = parts.next()?;
    Some((replica, success, EndpointKey::new(model, provider)))
}

/// The counts already read, per (second, field): what a new read adds is
/// the difference.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    counts: HashMap<(u64, String), u64>,
}

impl Seen {
    /// Takes the hashes of some seconds, as read, and returns what grew
    /// since the last read, per second and endpoint, leaving out `own`
    /// replica's fields and forgetting seconds before `first`.
    pub(crate) fn absorb(
        &mut self,
        own: &str,
        hashes: impl IntoIterator<Item = (u64, HashMap<String, String>)>,
        first: u64,
    ) -> Vec<(u64, EndpointKey, Counts)> {
        self.counts.retain(|(sec, _), _| *sec >= first);
        let mut fresh: BTreeMap<(u64, EndpointKey), Counts> = BTreeMap::new();
        for (sec, hash) in hashes {
            for (name, value) in hash {
                let Some((replica, success, key)) = parse_field(&name) else {
                    continue;
                };
                let Ok(count) = value.parse::<u64>() else {
                    continue;
                };
                if replica == own {
                    continue;
                }
                let before = self.counts.insert((sec, name.clone()), count);
                // A count never decreases while its key lives (it expires
                // long after it leaves the look-back).
                let grew = count.saturating_sub(before.unwrap_or(0));
                let grew = u32::try_from(grew).unwrap_or(u32::MAX);
                if grew == 0 {
                    continue;
                }
                let c = fresh.entry((sec, key)).or_default();
                if success {
                    c.ok = c.ok.saturating_add(grew);
                } else {
                    c.fail = c.fail.saturating_add(grew);
                }
            }
        }
        fresh
            .into_iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|((sec, key), c)| (sec, key, c))
            .collect()
    }
}

/// Feeds other replicas' outcomes into `state`'s tracker, each dated in the
/// middle of its second (on the tracker's clock), and refreshes the
/// snapshot plans read.
fn apply(state: &AppState, fresh: &[(u64, EndpointKey, Counts)], now_unix_ms: u64) {
    let now = state.now();
    let snapshot = {
        let mut tracker = match state.health.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (sec, key, counts) in fresh {
            let at_unix_ms = sec
                .saturating_mul(1000)
                .saturating_add(500)
                .min(now_unix_ms);
            let age_ms = now_unix_ms.saturating_sub(at_unix_ms);
            let at = Timestamp::from_millis(now.as_millis().saturating_sub(age_ms));
            tracker.record_remote(key, counts.ok, counts.fail, at, now);
        }
        tracker.snapshot(now)
    };
    match state.health_snapshot.write() {
        Ok(mut s) => *s = (now, Arc::new(snapshot)),
        Err(poisoned) => *poisoned.into_inner() = (now, Arc::new(snapshot)),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use tollgate_catalog::{Catalog, CatalogEndpoint, demo};
    use tollgate_routing::Outcome;

    use super::*;
    use crate::{Config, Gateway};

    fn hash(fields: &[(&str, u64)]) -> HashMap<String, String> {
        fields
            .iter()
            .map(|(f, n)| ((*f).to_owned(), n.to_string()))
            .collect()
    }

    #[test]
    fn fields_round_trip() {
        let key = EndpointKey::new("acme/widget:free", "acme");
        let f = field("r1", FAIL, &key);
        assert_eq!(f, "r1|fail|acme|acme/widget:free");
        assert_eq!(parse_field(&f), Some(("r1", false, key.clone())));
        // The model id keeps anything after the provider.
        assert_eq!(
            parse_field("r1|ok|p|odd|model"),
            Some(("r1", true, EndpointKey::new("odd|model", "p")))
        );
        assert_eq!(parse_field("r1|maybe|p|m"), None);
        assert_eq!(parse_field("r1|ok|p"), None);
    }

    #[test]
    fn seen_yields_only_what_grew_and_never_our_own() {
        let mut seen = Seen::default();
        let a = "r-a|fail|acme|acme/widget";
        let own = "r-me|fail|acme|acme/widget";
        let fresh = seen.absorb(
            "r-me",
            [
                (
                    100,
                    hash(&[(a, 2), (own, 5), ("r-b|ok|acme|acme/widget", 1)]),
                ),
                (101, hash(&[("junk", 3), ("r-a|ok|x|y", 0)])),
            ],
            95,
        );
        let key = EndpointKey::new("acme/widget", "acme");
        assert_eq!(fresh, vec![(100, key.clone(), Counts { ok: 1, fail: 2 })]);
        // The same counts again: nothing new. One more failure: one.
        let fresh = seen.absorb("r-me", [(100, hash(&[(a, 2), (own, 9)]))], 95);
        assert!(fresh.is_empty(), "{fresh:?}");
        let fresh = seen.absorb("r-me", [(100, hash(&[(a, 3)]))], 95);
        assert_eq!(fresh, vec![(100, key.clone(), Counts { ok: 0, fail: 1 })]);
        // Seconds before the look-back are forgotten.
        let fresh = seen.absorb("r-me", [], 102);
        assert!(fresh.is_empty());
        assert!(seen.counts.is_empty(), "{:?}", seen.counts);
    }

    async fn gateway(dir: &Path, window_secs: u64) -> Gateway {
        let pairs = demo::listings().unwrap();
        let mut config = Config::parse(
            &format!("[routing]\noutage_window_secs = {window_secs}\n"),
            Path::new("health-sync-test"),
            PathBuf::new(),
        )
        .unwrap();
        config.providers = pairs.iter().map(|(p, _)| p.clone()).collect();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = tollgate_store::Store::connect(&url).await.unwrap();
        Gateway::from_parts(&config, Catalog::build(pairs).unwrap(), store).unwrap()
    }

    fn endpoint(state: &AppState) -> CatalogEndpoint {
        state.routes().catalog.model("mock/echo").unwrap().endpoints[0].clone()
    }

    fn health(state: &AppState, ep: &CatalogEndpoint) -> Option<tollgate_routing::EndpointHealth> {
        state.health().get(&ep.model, &ep.provider).copied()
    }

    /// Polls `cond` every 50 ms for up to 20 s.
    async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not in time"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn an_unreachable_redis_never_holds_a_request_up() {
        let dir = tempfile::tempdir().unwrap();
        let gw = gateway(dir.path(), 60).await;
        // Nothing listens on port 1.
        start(&gw.state, "redis://127.0.0.1:1", "tollgate-test:health");
        assert!(gw.state.health_sync.get().is_some());
        let ep = endpoint(&gw.state);
        let began = std::time::Instant::now();
        for _ in 0..(QUEUE + 100) {
            gw.state.record(&ep, &Outcome::failure(Some(500)));
        }
        // Recording never waits on Redis (a generous bound for a loaded
        // machine: one Redis timeout is a second).
        assert!(began.elapsed() < REDIS_TIMEOUT, "{:?}", began.elapsed());
        // Local health goes on: the outage at once, the counts with the
        // snapshot's next refresh (it is rebuilt per change of status,
        // else within SNAPSHOT_MAX_AGE).
        let h = health(&gw.state, &ep).unwrap();
        assert!(h.in_outage, "{h:?}");
        eventually("the snapshot counts every failure", || {
            health(&gw.state, &ep).is_some_and(|h| h.failures_in_window == 256)
        })
        .await;
        // An invalid URL: logged, not shared, nothing fails.
        let dir2 = tempfile::tempdir().unwrap();
        let gw2 = gateway(dir2.path(), 60).await;
        start(&gw2.state, "not a url", "tollgate-test:health");
        assert!(gw2.state.health_sync.get().is_none());
        gw2.state.record(&ep, &Outcome::success());
        assert_eq!(health(&gw2.state, &ep).unwrap().requests_in_window, 1);
    }

    /// Needs the Redis at 127.0.0.1:6379 (or `TOLLGATE_TEST_REDIS`).
    #[tokio::test]
    async fn failures_seen_by_one_replica_reach_the_other_once() {
        let url = std::env::var("TOLLGATE_TEST_REDIS")
            .unwrap_or_else(|_| String::from("redis://127.0.0.1:6379"));
        let prefix = format!("tollgate-test:health:{}", uuid::Uuid::new_v4().simple());
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (gateway(d1.path(), 60).await, gateway(d2.path(), 60).await);
        start(&a.state, &url, &prefix);
        start(&b.state, &url, &prefix);
        let ep = endpoint(&a.state);
        b.state.record(&ep, &Outcome::success());
        for _ in 0..3 {
            a.state.record(&ep, &Outcome::failure(Some(500)));
        }
        assert!(health(&a.state, &ep).unwrap().in_outage);
        // B never saw a failure, and learns of A's three.
        eventually("B sees A's failures", || {
            health(&b.state, &ep).is_some_and(|h| h.failures_in_window == 3)
        })
        .await;
        let h = health(&b.state, &ep).unwrap();
        assert!(h.in_outage, "{h:?}");
        assert_eq!(h.requests_in_window, 4, "{h:?}");
        // A learns of B's success, and counts its own failures once.
        eventually("A sees B's success", || {
            health(&a.state, &ep).is_some_and(|h| h.requests_in_window == 4)
        })
        .await;
        // Some more pulls change nothing.
        tokio::time::sleep(PULL_EVERY * 2).await;
        for s in [&a.state, &b.state] {
            let h = health(s, &ep).unwrap();
            assert_eq!(
                (h.requests_in_window, h.failures_in_window),
                (4, 3),
                "{h:?}"
            );
        }
    }
}
