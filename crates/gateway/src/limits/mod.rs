//! Per-account request rate limits: the free-model limits (per minute, per
//! UTC day, higher per day once the account has bought credits), the
//! surge limit on every request and, on paid models, the credit-based rate
//! ("1 request per credit per second up to the surge limit", at least 1;
//! api-reference.txt "Limits"), all per account.
//!
//! The credit-based rate is a per-second window like the surge limit, whose
//! limit is computed per request from the credits available on the key
//! ([`RateLimitConfig::credit_rate`]): the account's balance, or what is
//! left of the key's limit when that is less, read through
//! [`CreditTierCache`] (cached a few seconds, so a request costs no ledger
//! query), never counting holds in flight (a burst of concurrent requests
//! does not lower its own rate).
//!
//! # How counting works
//!
//! - **Fixed windows** aligned to the Unix epoch: the surge window is one
//!   second, the free-model windows one minute and one UTC day (so daily
//!   quotas reset at 00:00 UTC, as OpenRouter's do). A fixed window costs one
//!   counter per account and scope, and is the same computation in memory
//!   and in Redis; its known cost is that a client can fit up to twice a
//!   limit into the seconds around a window boundary.
//! - **A request counts when it is admitted**, whatever happens to it next:
//!   a request that then fails upstream has still used its slot ("Failed
//!   attempts still count toward daily quotas", overview.txt). A request
//!   refused with a 429 counts in no window, so hammering past the
//!   per-minute limit does not eat the daily quota.
//! - **Admission is atomic across scopes**: every applicable counter is read
//!   and, only if all are under their limit, all are incremented, in one
//!   step (a mutex in memory, a Lua script in Redis).
//!
//! # Backends
//!
//! [`RateLimiter::memory`] counts in this process: right for one instance.
//! [`RateLimiter::connect`] with a Redis URL counts in Redis, so replicas
//! share counters (keys `<prefix>:{<account>}:<scope>:<window>`, expiring
//! when their window ends). A configured Redis that cannot be reached at
//! start-up is an [`Error`]. One that fails at request time **fails open to
//! local counting**: the request is counted in this replica's memory (so
//! every replica still enforces the limits on its own share of traffic),
//! a warning is logged once per outage, and Redis is tried again after
//! [`REDIS_RETRY`]. Refusing every request while Redis is down would turn a
//! rate-limiter outage into a full outage; not limiting at all would leave
//! the service open to the very floods the surge limit is for.
//!
//! # What the client sees
//!
//! A refused request gets [`Limited`], rendered as OpenRouter renders its own
//! 429 (WIRE-NOTES §4): `Retry-After` (whole seconds, at least 1),
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset`
//! (the window's end in **Unix milliseconds**, as OpenRouter sends it), body
//! `{"error":{"code":429,"message":"Rate limit exceeded: …","metadata":
//! {"error_type":"rate_limit_exceeded","headers":{…}}}}`. Successful
//! responses carry no `X-RateLimit-*` unless
//! [`RateLimitConfig::headers_on_success`] is set (see [`Allowed`]).

mod config;
mod credits;
mod memory;
mod redis;
mod response;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use tollgate_store::Store;

pub use config::RateLimitConfig;
pub use credits::CreditTierCache;
pub use response::{X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET};

use self::memory::MemoryBackend;
use self::redis::RedisBackend;

/// After a Redis failure, how long requests are counted in memory before
/// Redis is tried again.
pub const REDIS_RETRY: Duration = Duration::from_secs(1);

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;

/// Why a rate limiter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `[rate_limits]` values are wrong (the message names the key).
    #[error("{0}")]
    Config(String),
    /// The Redis URL cannot be parsed.
    #[error("redis.url is invalid: {0}")]
    InvalidUrl(String),
    /// Redis did not answer at start-up.
    #[error("redis at {addr} is unreachable: {message}")]
    Unreachable {
        /// `host:port` (never the password).
        addr: String,
        /// Why.
        message: String,
    },
}

/// Who is asking, and for what kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The account the key belongs to: limits are per account, shared by
    /// all its keys.
    pub account_id: &'a str,
    /// The resolved model is free (its `:free` variant, or every endpoint
    /// priced at zero): the free-model limits apply.
    pub is_free_model: bool,
    /// The account has bought at least
    /// [`RateLimitConfig::credits_threshold`]: the higher daily limit
    /// applies.
    pub has_bought_threshold_credits: bool,
    /// Credits (USD) available on the key, for the credit-based rate of a
    /// paid model; `None` when that limit does not apply (free models) or
    /// the credits could not be read.
    pub credits: Option<Decimal>,
}

/// Which limit a counter enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Requests per second to any model.
    Surge,
    /// Requests per minute to free models.
    FreeMinute,
    /// Requests per UTC day to free models.
    FreeDay,
    /// Requests per second to paid models, by the credits on the key.
    Credits,
}

impl Scope {
    /// `surge`, `free-minute`, `free-day` or `credits`: for logs, metrics
    /// and keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Surge => "surge",
            Scope::FreeMinute => "free-minute",
            Scope::FreeDay => "free-day",
            Scope::Credits => "credits",
        }
    }

    fn slot(self) -> usize {
        match self {
            Scope::Surge => 0,
            Scope::FreeMinute => 1,
            Scope::FreeDay => 2,
            Scope::Credits => 3,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One limit's standing after an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The limit.
    pub scope: Scope,
    /// Requests the window allows.
    pub limit: u64,
    /// Requests left in the window after this one.
    pub remaining: u64,
    /// When the window ends, Unix milliseconds.
    pub reset_at_unix_ms: u64,
}

/// The request is admitted (and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// The limit closest to running out (fewest remaining; the longer window
    /// on a tie), for optional `X-RateLimit-*` headers; `None` when no limit
    /// applies (all configured as `0`).
    pub tightest: Option<Quota>,
}

/// The request is refused with a 429; nothing was counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Limited {
    /// The limit that refused it: of several exhausted, the one that resets
    /// last (no request can pass before then).
    pub scope: Scope,
    /// Requests that window allows.
    pub limit: u64,
    /// Always 0.
    pub remaining: u64,
    /// When that window ends, Unix milliseconds (`X-RateLimit-Reset`).
    pub reset_at_unix_ms: u64,
    /// Whole seconds until then, at least 1 (`Retry-After`).
    pub retry_after_s: u64,
    /// The client-facing message, OpenRouter's wording: `Rate limit
    /// exceeded: free-models-per-min.` and so on.
    pub message: String,
}

impl Limited {
    /// When the window ends, Unix seconds.
    pub fn reset_at_unix_s(&self) -> u64 {
        self.reset_at_unix_ms.div_ceil(1000)
    }
}

/// A counter that applies to one request: (account, scope, window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) scope: Scope,
    pub(crate) limit: u64,
    window_ms: u64,
    /// `now / window_ms`: which window, since the epoch.
    pub(crate) index: u64,
}

impl Rule {
    fn new(scope: Scope, limit: u64, window_ms: u64, now_ms: u64) -> Rule {
        Rule {
            scope,
            limit,
            window_ms,
            index: now_ms / window_ms,
        }
    }

    /// When this window ends, Unix milliseconds.
    pub(crate) fn reset_at_ms(&self) -> u64 {
        self.index.saturating_add(1).saturating_mul(self.window_ms)
    }
}

/// The counters that apply to `subject`, surge first. Limits of 0 are off.
fn rules(config: &RateLimitConfig, subject: &Subject<'_>, now_ms: u64) -> Vec<Rule> {
    let mut out = Vec::with_capacity(4);
    if config.surge_per_second > 0 {
        out.push(Rule::new(
            Scope::Surge,
            config.surge_per_second,
            SECOND_MS,
            now_ms,
        ));
    }
    if subject.is_free_model {
        if config.free_per_minute > 0 {
            out.push(Rule::new(
                Scope::FreeMinute,
                config.free_per_minute,
                MINUTE_MS,
                now_ms,
            ));
        }
        let per_day = if subject.has_bought_threshold_credits {
            config.free_per_day_with_credits
        } else {
            config.free_per_day
        };
        if per_day > 0 {
            out.push(Rule::new(Scope::FreeDay, per_day, DAY_MS, now_ms));
        }
    } else if let Some(rate) = subject.credits.and_then(|c| config.credit_rate(c)) {
        // At the surge limit, the surge counter already says it all.
        if config.surge_per_second == 0 || rate < config.surge_per_second {
            out.push(Rule::new(Scope::Credits, rate, SECOND_MS, now_ms));
        }
    }
    out
}

/// What a backend did: admitted (and incremented every counter) or not
/// (and incremented none). `counts[i]` is rule `i`'s count afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) admitted: bool,
    pub(crate) counts: Vec<u64>,
}

/// Turns a backend's [`Hit`] into the answer.
fn decide(
    config: &RateLimitConfig,
    subject: &Subject<'_>,
    rules: &[Rule],
    hit: &Hit,
    now_ms: u64,
) -> Result<Allowed, Limited> {
    let pairs = rules.iter().zip(hit.counts.iter().copied());
    if hit.admitted {
        let tightest = pairs
            .map(|(r, count)| Quota {
                scope: r.scope,
                limit: r.limit,
                remaining: r.limit.saturating_sub(count),
                reset_at_unix_ms: r.reset_at_ms(),
            })
            .min_by_key(|q| (q.remaining, std::cmp::Reverse(q.reset_at_unix_ms)));
        return Ok(Allowed { tightest });
    }
    let rule = pairs
        .filter(|(r, count)| *count >= r.limit)
        .map(|(r, _)| r)
        .max_by_key(|r| r.reset_at_ms())
        // A backend that refuses with every counter under its limit is a
        // bug; refuse on the first rule rather than admit uncounted.
        .or(rules.first())
        .copied()
        .unwrap_or(Rule::new(Scope::Surge, 0, SECOND_MS, now_ms));
    let reset_at_unix_ms = rule.reset_at_ms();
    let retry_after_s = reset_at_unix_ms
        .saturating_sub(now_ms)
        .div_ceil(1000)
        .max(1);
    Err(Limited {
        scope: rule.scope,
        limit: rule.limit,
        remaining: 0,
        reset_at_unix_ms,
        retry_after_s,
        message: message(config, subject, rule.scope, rule.limit),
    })
}

/// OpenRouter's wording for each limit, so clients that look for
/// `free-models-per-min` / `free-models-per-day` keep working.
fn message(config: &RateLimitConfig, subject: &Subject<'_>, scope: Scope, limit: u64) -> String {
    match scope {
        Scope::FreeMinute => String::from("Rate limit exceeded: free-models-per-min."),
        Scope::FreeDay if subject.has_bought_threshold_credits => {
            String::from("Rate limit exceeded: free-models-per-day-high-balance.")
        }
        Scope::FreeDay if config.free_per_day_with_credits > config.free_per_day => format!(
            "Rate limit exceeded: free-models-per-day. Add {} credits to unlock {} free model requests per day",
            config.credits_threshold.normalize(),
            config.free_per_day_with_credits
        ),
        Scope::FreeDay => String::from("Rate limit exceeded: free-models-per-day."),
        Scope::Surge => format!("Rate limit exceeded: more than {limit} requests per second."),
        Scope::Credits => format!(
            "Rate limit exceeded: {limit} requests per second for the credits on this key \
             ({} per credit per second, at least 1). Add credits to raise it.",
            config.requests_per_second_per_credit
        ),
    }
}

/// The current time in Unix milliseconds, for [`RateLimiter::check`].
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Counts requests per account and decides whether each may pass.
///
/// Cheap to share (`Arc` it in the app state); every method takes `&self`.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    memory: MemoryBackend,
    redis: Option<RedisBackend>,
    /// Counted from `started`: until when Redis is skipped after a failure.
    redis_skip_until_ms: AtomicU64,
    /// Whether the last Redis call failed (to log an outage once).
    degraded: AtomicBool,
    started: Instant,
}

impl RateLimiter {
    /// A limiter counting in this process's memory.
    pub fn memory(config: RateLimitConfig) -> Result<RateLimiter, Error> {
        config.validate().map_err(Error::Config)?;
        Ok(RateLimiter::with_backend(config, None))
    }

    /// A limiter counting in Redis at `redis_url` (`redis://[:password@]host:port[/db]`),
    /// or in memory when `None`. Connects once (a multiplexed connection
    /// that reconnects by itself) and checks that Redis answers: a
    /// configured Redis that is unreachable is an error, so a replica never
    /// starts silently counting on its own.
    pub async fn connect(
        config: RateLimitConfig,
        redis_url: Option<&str>,
    ) -> Result<RateLimiter, Error> {
        config.validate().map_err(Error::Config)?;
        let redis = match redis_url {
            Some(url) => Some(
                RedisBackend::connect(
                    url,
                    config.redis_key_prefix.clone(),
                    Duration::from_millis(config.redis_timeout_ms),
                )
                .await?,
            ),
            None => None,
        };
        Ok(RateLimiter::with_backend(config, redis))
    }

    fn with_backend(config: RateLimitConfig, redis: Option<RedisBackend>) -> RateLimiter {
        RateLimiter {
            config,
            memory: MemoryBackend::default(),
            redis,
            redis_skip_until_ms: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// `redis` or `memory`: where counters live (for the start-up log).
    pub fn backend(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "memory"
        }
    }

    /// Admits and counts the request, or refuses it without counting it.
    ///
    /// `now_unix_ms` is the request's time ([`now_unix_ms`]); tests pass
    /// their own. With Redis, every replica must agree on the clock to the
    /// second (NTP): the window is computed here, not in Redis.
    pub async fn check(&self, subject: &Subject<'_>, now_unix_ms: u64) -> Result<Allowed, Limited> {
        let rules = rules(&self.config, subject, now_unix_ms);
        if rules.is_empty() {
            return Ok(Allowed { tightest: None });
        }
        if let Some(hit) = self
            .redis_hit(subject.account_id, &rules, now_unix_ms)
            .await
        {
            return decide(&self.config, subject, &rules, &hit, now_unix_ms);
        }
        let hit = self.memory.hit(subject.account_id, &rules, now_unix_ms);
        decide(&self.config, subject, &rules, &hit, now_unix_ms)
    }

    /// [`check`](Self::check) for a request by `account_id`, now: the one
    /// call a route makes. Whether the account has bought the credits
    /// threshold is looked up only for free models, the credits on the key
    /// (`limited_key`: the key's hash when it has a spending limit) only
    /// for paid ones, both through `tiers` (cached); if the store cannot
    /// answer, the lower daily limit applies, the credit-based rate does
    /// not, and a warning is logged (limits never turn a store hiccup into
    /// a 500).
    pub async fn admit(
        &self,
        store: &Store,
        tiers: &CreditTierCache,
        account_id: &str,
        limited_key: Option<&str>,
        is_free_model: bool,
    ) -> Result<Allowed, Limited> {
        let credits = if is_free_model || self.config.requests_per_second_per_credit == 0 {
            None
        } else {
            tiers
                .credits_on_key(store, account_id, limited_key)
                .await
                .map_err(|e| {
                    tracing::warn!(account = %account_id, error = %e, "cannot read the key's credits; no credit-based rate for this request");
                })
                .ok()
        };
        let has_bought_threshold_credits = is_free_model
            && tiers
                .has_bought(store, account_id, self.config.credits_threshold)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(account = %account_id, error = %e, "cannot read the account's credits; applying the lower free daily limit");
                    false
                });
        let subject = Subject {
            account_id,
            is_free_model,
            has_bought_threshold_credits,
            credits,
        };
        self.check(&subject, now_unix_ms()).await
    }

    /// Counts in Redis; `None` when there is no Redis or it failed (then
    /// the caller counts in memory).
    async fn redis_hit(&self, account: &str, rules: &[Rule], now_ms: u64) -> Option<Hit> {
        let redis = self.redis.as_ref()?;
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if elapsed < self.redis_skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let timeout = Duration::from_millis(self.config.redis_timeout_ms);
        let error = match tokio::time::timeout(timeout, redis.hit(account, rules, now_ms)).await {
            Ok(Ok(hit)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(addr = %redis.addr(), "redis is back; rate-limit counters are shared again");
                }
                return Some(hit);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.config.redis_timeout_ms),
        };
        let retry_ms = u64::try_from(REDIS_RETRY.as_millis()).unwrap_or(u64::MAX);
        self.redis_skip_until_ms
            .store(elapsed.saturating_add(retry_ms), Ordering::Relaxed);
        if self.degraded.swap(true, Ordering::Relaxed) {
            tracing::debug!(addr = %redis.addr(), %error, "redis still failing; counting rate limits in memory");
        } else {
            tracing::warn!(addr = %redis.addr(), %error, "redis failed; counting rate limits in this replica's memory until it is back");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z, a minute boundary

    fn free(account: &str) -> Subject<'_> {
        Subject {
            account_id: account,
            is_free_model: true,
            has_bought_threshold_credits: false,
            credits: None,
        }
    }

    #[test]
    fn rules_follow_the_subject() {
        let c = RateLimitConfig::default();
        let paid = Subject {
            is_free_model: false,
            ..free("a")
        };
        let scopes = |s: &Subject<'_>| {
            rules(&c, s, T0)
                .iter()
                .map(|r| (r.scope, r.limit))
                .collect::<Vec<_>>()
        };
        assert_eq!(scopes(&paid), [(Scope::Surge, 200)]);
        assert_eq!(
            scopes(&free("a")),
            [
                (Scope::Surge, 200),
                (Scope::FreeMinute, 20),
                (Scope::FreeDay, 200)
            ]
        );
        let rich = Subject {
            has_bought_threshold_credits: true,
            ..free("a")
        };
        assert_eq!(scopes(&rich)[2], (Scope::FreeDay, 1000));
        let off = RateLimitConfig {
            surge_per_second: 0,
            free_per_minute: 0,
            ..c
        };
        assert_eq!(
            rules(&off, &free("a"), T0)
                .iter()
                .map(|r| r.scope)
                .collect::<Vec<_>>(),
            [Scope::FreeDay]
        );
    }

    #[test]
    fn windows_are_epoch_aligned() {
        let r = Rule::new(Scope::FreeDay, 1, DAY_MS, T0 + 5);
        // The day ends at the next UTC midnight.
        assert_eq!(r.reset_at_ms() % DAY_MS, 0);
        assert!(r.reset_at_ms() > T0 && r.reset_at_ms() - T0 <= DAY_MS);
        let m = Rule::new(Scope::FreeMinute, 1, MINUTE_MS, T0 + 59_999);
        assert_eq!(m.reset_at_ms(), T0 + MINUTE_MS);
        let m = Rule::new(Scope::FreeMinute, 1, MINUTE_MS, T0 + MINUTE_MS);
        assert_eq!(m.reset_at_ms(), T0 + 2 * MINUTE_MS);
    }

    #[test]
    fn refusal_names_the_limit_that_resets_last() {
        let c = RateLimitConfig::default();
        let s = free("a");
        let now = T0 + 30_500;
        let rs = rules(&c, &s, now);
        // Minute and day both exhausted: only the day's end helps.
        let hit = Hit {
            admitted: false,
            counts: vec![3, 20, 200],
        };
        let l = decide(&c, &s, &rs, &hit, now).unwrap_err();
        assert_eq!(l.scope, Scope::FreeDay);
        assert_eq!(l.limit, 200);
        assert_eq!(l.reset_at_unix_ms % DAY_MS, 0);
        assert!(
            l.message.contains("free-models-per-day. Add 10 credits"),
            "{}",
            l.message
        );
        // Only the minute: 29.5 s left, rounded up.
        let hit = Hit {
            admitted: false,
            counts: vec![3, 20, 50],
        };
        let l = decide(&c, &s, &rs, &hit, now).unwrap_err();
        assert_eq!(
            (l.scope, l.limit, l.remaining, l.retry_after_s),
            (Scope::FreeMinute, 20, 0, 30)
        );
        assert_eq!(l.reset_at_unix_ms, T0 + MINUTE_MS);
        assert_eq!(l.reset_at_unix_s(), (T0 + MINUTE_MS) / 1000);
        assert_eq!(l.message, "Rate limit exceeded: free-models-per-min.");
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let c = RateLimitConfig::default();
        let s = free("a");
        let now = T0 + 999;
        let rs = rules(&c, &s, now);
        let hit = Hit {
            admitted: false,
            counts: vec![200, 1, 1],
        };
        let l = decide(&c, &s, &rs, &hit, now).unwrap_err();
        assert_eq!((l.scope, l.retry_after_s), (Scope::Surge, 1));
        assert!(
            l.message.contains("200 requests per second"),
            "{}",
            l.message
        );
    }

    #[test]
    fn allowed_reports_the_tightest_limit() {
        let c = RateLimitConfig::default();
        let s = free("a");
        let rs = rules(&c, &s, T0);
        let hit = Hit {
            admitted: true,
            counts: vec![1, 5, 5],
        };
        let q = decide(&c, &s, &rs, &hit, T0).unwrap().tightest.unwrap();
        assert_eq!((q.scope, q.limit, q.remaining), (Scope::FreeMinute, 20, 15));
        let hit = Hit {
            admitted: true,
            counts: vec![1, 5, 195],
        };
        let q = decide(&c, &s, &rs, &hit, T0).unwrap().tightest.unwrap();
        assert_eq!((q.scope, q.remaining), (Scope::FreeDay, 5));
    }

    #[test]
    fn messages_follow_openrouter() {
        let c = RateLimitConfig::default();
        let rich = Subject {
            has_bought_threshold_credits: true,
            ..free("a")
        };
        assert_eq!(
            message(&c, &rich, Scope::FreeDay, 1000),
            "Rate limit exceeded: free-models-per-day-high-balance."
        );
        assert_eq!(
            message(&c, &free("a"), Scope::FreeDay, 200),
            "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day"
        );
        let flat = RateLimitConfig {
            free_per_day_with_credits: 200,
            ..RateLimitConfig::default()
        };
        assert_eq!(
            message(&flat, &free("a"), Scope::FreeDay, 200),
            "Rate limit exceeded: free-models-per-day."
        );
    }

    #[tokio::test]
    async fn no_limits_means_no_quota() {
        let off = RateLimitConfig {
            surge_per_second: 0,
            ..RateLimitConfig::default()
        };
        let rl = RateLimiter::memory(off).unwrap();
        let paid = Subject {
            is_free_model: false,
            ..free("a")
        };
        for _ in 0..1000 {
            assert_eq!(rl.check(&paid, T0).await, Ok(Allowed { tightest: None }));
        }
        assert_eq!(rl.backend(), "memory");
    }

    #[test]
    fn invalid_config_is_refused() {
        let bad = RateLimitConfig {
            redis_timeout_ms: 0,
            ..RateLimitConfig::default()
        };
        let e = RateLimiter::memory(bad).unwrap_err().to_string();
        assert!(e.contains("rate_limits.redis_timeout_ms"), "{e}");
    }
}
