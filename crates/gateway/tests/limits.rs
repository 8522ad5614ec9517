//! Rate limits (`tollgate_gateway::limits`): the free-model and surge limits
//! on the in-memory backend and on the real Redis (`TOLLGATE_TEST_REDIS`,
//! default `redis://127.0.0.1:6379`), two limiters sharing one Redis as two
//! replicas would, Redis failing at start-up and at request time, and the
//! 429 as a client receives it.
//!
//! Time is injected: every check passes its own `now`, so windows are
//! crossed without sleeping. Each Redis test uses its own key prefix and
//! deletes its keys when it ends (even on failure).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tollgate_gateway::limits::{
    CreditTierCache, Error, Limited, RateLimitConfig, RateLimiter, Scope, Subject,
};
use tower::ServiceExt as _;

/// 2027-01-15T08:00:00Z: a minute boundary, 16 hours before a UTC midnight.
const T0: u64 = 1_800_000_000_000;
const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const DAY: u64 = 24 * 60 * MINUTE;
/// The UTC midnight after [`T0`].
const NEXT_DAY: u64 = (T0 / DAY + 1) * DAY;

fn free(account: &str) -> Subject<'_> {
    Subject {
        account_id: account,
        is_free_model: true,
        has_bought_threshold_credits: false,
        credits: None,
    }
}

fn free_with_credits(account: &str) -> Subject<'_> {
    Subject {
        has_bought_threshold_credits: true,
        ..free(account)
    }
}

fn paid(account: &str) -> Subject<'_> {
    Subject {
        is_free_model: false,
        ..free(account)
    }
}

/// Checks `n` times at `now`; returns how many were admitted and the last
/// refusal.
async fn burst(rl: &RateLimiter, s: &Subject<'_>, n: usize, now: u64) -> (usize, Option<Limited>) {
    let mut admitted = 0;
    let mut last = None;
    for _ in 0..n {
        match rl.check(s, now).await {
            Ok(_) => admitted += 1,
            Err(l) => last = Some(l),
        }
    }
    (admitted, last)
}

// ---------------------------------------------------------------------------
// The cases, run on both backends.

/// 20 per minute: exactly 20 pass, the 21st gets a 429 with the time left in
/// the minute; the next minute starts afresh.
async fn free_minute(rl: &RateLimiter) {
    let s = free("acct-minute");
    let now = T0 + 15 * SECOND + 250;
    for i in 0..20 {
        let ok = rl
            .check(&s, now)
            .await
            .unwrap_or_else(|l| panic!("request {i}: {l:?}"));
        let q = ok.tightest.unwrap();
        assert_eq!(
            (q.scope, q.limit, q.remaining),
            (Scope::FreeMinute, 20, 19 - i)
        );
        assert_eq!(q.reset_at_unix_ms, T0 + MINUTE);
    }
    let l = rl.check(&s, now).await.unwrap_err();
    assert_eq!(l.scope, Scope::FreeMinute);
    assert_eq!((l.limit, l.remaining), (20, 0));
    assert_eq!(l.reset_at_unix_ms, T0 + MINUTE);
    assert_eq!(l.retry_after_s, 45); // 44.75 s, rounded up
    assert_eq!(l.message, "Rate limit exceeded: free-models-per-min.");
    // Still refused at the minute's last millisecond, admitted at its end.
    assert!(rl.check(&s, T0 + MINUTE - 1).await.is_err());
    let l = rl.check(&s, T0 + MINUTE - 1).await.unwrap_err();
    assert_eq!(l.retry_after_s, 1);
    let (admitted, refused) = burst(rl, &s, 25, T0 + MINUTE).await;
    assert_eq!(admitted, 20);
    assert_eq!(refused.unwrap().reset_at_unix_ms, T0 + 2 * MINUTE);
}

/// 200 per UTC day: 20 a minute for 10 minutes, then every later minute of
/// the day is refused on the day limit, until midnight.
async fn free_day(rl: &RateLimiter) {
    let s = free("acct-day");
    for m in 0..10 {
        let (admitted, _) = burst(rl, &s, 20, T0 + m * MINUTE).await;
        assert_eq!(admitted, 20, "minute {m}");
    }
    let l = rl.check(&s, T0 + 10 * MINUTE).await.unwrap_err();
    assert_eq!((l.scope, l.limit), (Scope::FreeDay, 200));
    assert_eq!(l.reset_at_unix_ms, NEXT_DAY);
    assert_eq!(l.retry_after_s, (NEXT_DAY - T0 - 10 * MINUTE) / 1000);
    assert_eq!(
        l.message,
        "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day"
    );
    // A refusal counts nowhere: hours later the day limit still says 200.
    let (admitted, refused) = burst(rl, &s, 30, NEXT_DAY - MINUTE).await;
    assert_eq!(admitted, 0);
    assert_eq!(refused.unwrap().scope, Scope::FreeDay);
    let (admitted, _) = burst(rl, &s, 20, NEXT_DAY).await;
    assert_eq!(admitted, 20);
}

/// 1000 per day once the account has bought the threshold; the day's count
/// carries over when an account crosses it mid-day.
async fn free_day_with_credits(rl: &RateLimiter) {
    let s = free("acct-rich");
    for m in 0..10 {
        burst(rl, &s, 20, T0 + m * MINUTE).await;
    }
    assert_eq!(
        rl.check(&s, T0 + 10 * MINUTE).await.unwrap_err().scope,
        Scope::FreeDay
    );
    // Credits bought: the same 200 count against 1000.
    let rich = free_with_credits("acct-rich");
    let mut total = 200;
    for m in 10..60 {
        let (admitted, _) = burst(rl, &rich, 20, T0 + m * MINUTE).await;
        total += admitted;
    }
    assert_eq!(total, 1000);
    let l = rl.check(&rich, T0 + 60 * MINUTE).await.unwrap_err();
    assert_eq!((l.scope, l.limit), (Scope::FreeDay, 1000));
    assert_eq!(
        l.message,
        "Rate limit exceeded: free-models-per-day-high-balance."
    );
}

/// 200 requests a second to any model, then 429 until the next second.
async fn surge(rl: &RateLimiter) {
    let s = paid("acct-surge");
    let now = T0 + 3 * SECOND + 400;
    let (admitted, refused) = burst(rl, &s, 230, now).await;
    assert_eq!(admitted, 200);
    let l = refused.unwrap();
    assert_eq!((l.scope, l.limit, l.remaining), (Scope::Surge, 200, 0));
    assert_eq!(l.reset_at_unix_ms, T0 + 4 * SECOND);
    assert_eq!(l.retry_after_s, 1);
    let (admitted, _) = burst(rl, &s, 200, T0 + 4 * SECOND).await;
    assert_eq!(admitted, 200);
}

/// Paid models see only the surge limit: far past 20/minute and 200/day.
async fn paid_models_skip_free_limits(rl: &RateLimiter) {
    let s = paid("acct-paid");
    let mut total = 0;
    for sec in 0..3 {
        let (admitted, _) = burst(rl, &s, 150, T0 + sec * SECOND).await;
        total += admitted;
    }
    assert_eq!(total, 450);
    // And they do not use up the free quota of the same account.
    let (admitted, _) = burst(rl, &free("acct-paid"), 20, T0 + 10 * SECOND).await;
    assert_eq!(admitted, 20);
}

/// Paid models: 1 request per credit per second, at least 1, up to the
/// surge limit (api-reference.txt "Limits"); the 429 names the credits
/// scope, and the next second starts afresh.
async fn credit_rate(rl: &RateLimiter) {
    let with = |account, credits: &str| Subject {
        credits: Some(credits.parse().unwrap()),
        ..paid(account)
    };
    let now = T0 + 7 * SECOND + 100;
    let (admitted, refused) = burst(rl, &with("acct-credits-1", "1.00"), 20, now).await;
    assert_eq!(admitted, 1);
    let l = refused.unwrap();
    assert_eq!((l.scope, l.limit, l.remaining), (Scope::Credits, 1, 0));
    assert_eq!(l.reset_at_unix_ms, T0 + 8 * SECOND);
    assert_eq!(l.retry_after_s, 1);
    assert!(l.message.contains("credits"), "{}", l.message);
    let (admitted, _) = burst(rl, &with("acct-credits-1", "1.00"), 20, T0 + 8 * SECOND).await;
    assert_eq!(admitted, 1);
    // $5 → 5 a second; an empty account still gets 1.
    let (admitted, _) = burst(rl, &with("acct-credits-5", "5"), 20, now).await;
    assert_eq!(admitted, 5);
    let (admitted, _) = burst(rl, &with("acct-credits-0", "0"), 20, now).await;
    assert_eq!(admitted, 1);
    // $1000 → the surge limit, 200, and it is the surge limit that refuses.
    let (admitted, refused) = burst(rl, &with("acct-credits-1000", "1000"), 230, now).await;
    assert_eq!(admitted, 200);
    assert_eq!(refused.unwrap().scope, Scope::Surge);
    // Free models are not rated by credits.
    let free_with_none = Subject {
        credits: Some(rust_decimal::Decimal::ZERO),
        ..free("acct-credits-free")
    };
    let (admitted, _) = burst(rl, &free_with_none, 5, now).await;
    assert_eq!(admitted, 5);
}

/// One account's exhausted limits leave another's alone.
async fn accounts_are_independent(rl: &RateLimiter) {
    let (a, _) = burst(rl, &free("acct-a"), 25, T0).await;
    let (b, _) = burst(rl, &free("acct-b"), 25, T0).await;
    assert_eq!((a, b), (20, 20));
    assert!(rl.check(&free("acct-a"), T0).await.is_err());
    assert!(rl.check(&free("acct-c"), T0).await.is_ok());
}

// ---------------------------------------------------------------------------
// In memory.

fn memory() -> RateLimiter {
    RateLimiter::memory(RateLimitConfig::default()).unwrap()
}

#[tokio::test]
async fn memory_free_minute() {
    free_minute(&memory()).await;
}

#[tokio::test]
async fn memory_free_day() {
    free_day(&memory()).await;
}

#[tokio::test]
async fn memory_free_day_with_credits() {
    free_day_with_credits(&memory()).await;
}

#[tokio::test]
async fn memory_surge() {
    surge(&memory()).await;
}

#[tokio::test]
async fn memory_paid_models_skip_free_limits() {
    paid_models_skip_free_limits(&memory()).await;
}

#[tokio::test]
async fn memory_credit_rate() {
    credit_rate(&memory()).await;
}

#[tokio::test]
async fn memory_accounts_are_independent() {
    accounts_are_independent(&memory()).await;
}

#[tokio::test]
async fn memory_limits_are_operator_settings() {
    let config = RateLimitConfig {
        free_per_minute: 3,
        free_per_day: 5,
        ..RateLimitConfig::default()
    };
    let rl = RateLimiter::memory(config).unwrap();
    let s = free("acct");
    assert_eq!(burst(&rl, &s, 10, T0).await.0, 3);
    assert_eq!(burst(&rl, &s, 10, T0 + MINUTE).await.0, 2);
    assert_eq!(
        rl.check(&s, T0 + 2 * MINUTE).await.unwrap_err().scope,
        Scope::FreeDay
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_concurrent_requests_never_pass_the_limit() {
    let rl = Arc::new(memory());
    let mut tasks = JoinSet::new();
    for _ in 0..200 {
        let rl = rl.clone();
        tasks.spawn(async move { rl.check(&free("acct"), T0).await.is_ok() });
    }
    let admitted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(admitted, 20);
}

// ---------------------------------------------------------------------------
// In Redis.

fn redis_url() -> String {
    std::env::var("TOLLGATE_TEST_REDIS")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| String::from("redis://127.0.0.1:6379"))
}

/// A key prefix of its own for one test; deletes the test's keys when
/// dropped, pass or fail.
struct Keys {
    prefix: String,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            prefix: format!("tollgate:rl-test:{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn config(&self) -> RateLimitConfig {
        RateLimitConfig {
            redis_key_prefix: self.prefix.clone(),
            ..RateLimitConfig::default()
        }
    }

    async fn limiter(&self) -> RateLimiter {
        RateLimiter::connect(self.config(), Some(&redis_url()))
            .await
            .unwrap_or_else(|e| panic!("redis for tests ({}): {e}", redis_url()))
    }

    fn stored(&self) -> Vec<String> {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<u64, _> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

#[tokio::test]
async fn redis_free_minute() {
    let keys = Keys::new();
    let rl = keys.limiter().await;
    assert_eq!(rl.backend(), "redis");
    free_minute(&rl).await;
}

#[tokio::test]
async fn redis_credit_rate() {
    let keys = Keys::new();
    credit_rate(&keys.limiter().await).await;
}

#[tokio::test]
async fn redis_free_day() {
    let keys = Keys::new();
    free_day(&keys.limiter().await).await;
}

#[tokio::test]
async fn redis_free_day_with_credits() {
    let keys = Keys::new();
    free_day_with_credits(&keys.limiter().await).await;
}

#[tokio::test]
async fn redis_surge() {
    let keys = Keys::new();
    surge(&keys.limiter().await).await;
}

#[tokio::test]
async fn redis_paid_models_skip_free_limits() {
    let keys = Keys::new();
    paid_models_skip_free_limits(&keys.limiter().await).await;
}

#[tokio::test]
async fn redis_accounts_are_independent() {
    let keys = Keys::new();
    accounts_are_independent(&keys.limiter().await).await;
}

/// Keys are namespaced, one per (account, scope, window), and expire when
/// their window ends (plus a second of grace).
#[tokio::test]
async fn redis_keys_are_namespaced_and_expire() {
    let keys = Keys::new();
    let rl = keys.limiter().await;
    let now = T0 + 500;
    rl.check(&free("acct-k"), now).await.unwrap();
    let mut stored = keys.stored();
    stored.sort();
    let p = &keys.prefix;
    assert_eq!(
        stored,
        [
            format!("{p}:{{acct-k}}:free-day:{}", T0 / DAY),
            format!("{p}:{{acct-k}}:free-minute:{}", T0 / MINUTE),
            format!("{p}:{{acct-k}}:surge:{}", T0 / SECOND),
        ]
    );
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    for (key, window_left) in [
        (&stored[0], NEXT_DAY - now),
        (&stored[1], T0 + MINUTE - now),
        (&stored[2], T0 + SECOND - now),
    ] {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
        let expected = i64::try_from(window_left + 1_000).unwrap();
        assert!(
            ttl > 0 && ttl <= expected && ttl > expected - 5_000,
            "{key}: {ttl} vs {expected}"
        );
    }
}

/// Two limiters on one Redis are two replicas: alternating between them,
/// exactly 20 requests pass in total.
#[tokio::test]
async fn redis_two_replicas_share_one_count() {
    let keys = Keys::new();
    let (one, two) = (keys.limiter().await, keys.limiter().await);
    let s = free("acct-shared");
    let mut admitted = [0; 2];
    for i in 0..40 {
        let rl = if i % 2 == 0 { &one } else { &two };
        if rl.check(&s, T0).await.is_ok() {
            admitted[i % 2] += 1;
        }
    }
    assert_eq!(admitted, [10, 10]);
    // Both see the same refusal, and the same fresh minute.
    assert_eq!(
        one.check(&s, T0).await.unwrap_err().scope,
        Scope::FreeMinute
    );
    assert_eq!(
        two.check(&s, T0).await.unwrap_err().scope,
        Scope::FreeMinute
    );
    assert!(two.check(&s, T0 + MINUTE).await.is_ok());
}

/// Concurrent requests on both replicas at once still pass exactly the
/// limit: the check and the count are one atomic script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_concurrent_replicas_never_pass_the_limit() {
    let keys = Keys::new();
    let replicas = [
        Arc::new(keys.limiter().await),
        Arc::new(keys.limiter().await),
    ];
    let mut tasks = JoinSet::new();
    for i in 0..200 {
        let rl = replicas[i % 2].clone();
        tasks.spawn(async move { rl.check(&free("acct-race"), T0).await.is_ok() });
    }
    let admitted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(admitted, 20);
}

/// A Redis that is configured but not there stops start-up with an error
/// naming its address.
#[tokio::test]
async fn redis_unreachable_at_start_up_is_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let e = RateLimiter::connect(
        RateLimitConfig::default(),
        Some(&format!("redis://127.0.0.1:{port}")),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(started.elapsed() < Duration::from_secs(6));

    let e = RateLimiter::connect(RateLimitConfig::default(), Some("http://nope"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidUrl(_)), "{e:?}");
}

/// No Redis configured: counted in memory.
#[tokio::test]
async fn no_redis_url_counts_in_memory() {
    let rl = RateLimiter::connect(RateLimitConfig::default(), None)
        .await
        .unwrap();
    assert_eq!(rl.backend(), "memory");
    assert_eq!(burst(&rl, &free("acct"), 25, T0).await.0, 20);
}

/// A TCP relay to the test Redis that can be cut: the way to make Redis
/// vanish under a connected limiter without touching the real server.
struct Relay {
    port: u16,
    tasks: JoinSet<()>,
}

impl Relay {
    async fn start(port: u16) -> Relay {
        let upstream = redis_url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut down, _)) = listener.accept().await {
                let upstream = upstream.clone();
                conns.spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
            }
        });
        Relay { port, tasks }
    }

    /// Closes the listener and every relayed connection.
    async fn cut(mut self) {
        self.tasks.shutdown().await;
    }
}

/// Redis failing under a running limiter: requests keep being served and
/// are counted in this replica's memory (fail open to local limits), so the
/// limits still hold per replica; each check answers within the Redis
/// timeout; once Redis is back the shared counters are used again.
#[tokio::test]
async fn redis_failure_at_request_time_fails_open_to_local_counting() {
    let keys = Keys::new();
    let relay = Relay::start(0).await;
    let port = relay.port;
    let url = format!("redis://127.0.0.1:{port}");
    let config = RateLimitConfig {
        redis_timeout_ms: 200,
        ..keys.config()
    };
    let rl = RateLimiter::connect(config, Some(&url)).await.unwrap();
    let s = free("acct-outage");
    assert_eq!(burst(&rl, &s, 5, T0).await.0, 5);
    assert_eq!(keys.stored().len(), 3);

    relay.cut().await;
    let started = Instant::now();
    // Memory has seen none of the 5: 20 more pass, then the local limit.
    let (admitted, refused) = burst(&rl, &s, 25, T0).await;
    assert_eq!(admitted, 20);
    assert_eq!(refused.unwrap().scope, Scope::FreeMinute);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "checks during the outage took {:?}",
        started.elapsed()
    );

    // Redis back on the same port: after the retry pause, the shared count
    // (5) is used again.
    let relay = Relay::start(port).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let next = T0 + MINUTE;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A check in a fresh minute: admitted either way; it tells which
        // backend counted it by whether the key appeared.
        rl.check(&free("acct-probe"), next).await.unwrap();
        if keys.stored().iter().any(|k| k.contains("acct-probe")) {
            break;
        }
        assert!(Instant::now() < deadline, "redis was never used again");
    }
    let (admitted, _) = burst(&rl, &s, 20, T0).await;
    assert_eq!(admitted, 15, "the shared count resumes at 5");
    relay.cut().await;
}

// ---------------------------------------------------------------------------
// As a client sees it.

async fn limited_handler(State(rl): State<Arc<RateLimiter>>) -> Response {
    match rl.check(&free("acct-http"), T0 + 20 * SECOND).await {
        Ok(allowed) => {
            let mut resp = StatusCode::OK.into_response();
            if rl.config().headers_on_success {
                allowed.apply_headers(resp.headers_mut());
            }
            resp
        }
        Err(limited) => limited.into_response(),
    }
}

fn app(rl: RateLimiter) -> Router {
    Router::new()
        .route("/chat/completions", post(limited_handler))
        .with_state(Arc::new(rl))
}

async fn call(app: &Router) -> Response {
    app.clone()
        .oneshot(
            Request::post("/chat/completions")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_429_as_a_client_receives_it() {
    let app = app(memory());
    for _ in 0..20 {
        let resp = call(&app).await;
        assert_eq!(resp.status(), StatusCode::OK);
        // Like OpenRouter: no limit headers on success by default.
        assert!(
            !resp
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("x-ratelimit"))
        );
    }
    let resp = call(&app).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let h = resp.headers();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["retry-after"], "40");
    assert_eq!(h["x-ratelimit-limit"], "20");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset"], (T0 + MINUTE).to_string());
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"error": {
            "code": 429,
            "message": "Rate limit exceeded: free-models-per-min.",
            "metadata": {
                "error_type": "rate_limit_exceeded",
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": (T0 + MINUTE).to_string()
                }
            }
        }})
    );
}

#[tokio::test]
async fn success_headers_when_the_operator_asks() {
    let rl = RateLimiter::memory(RateLimitConfig {
        headers_on_success: true,
        ..RateLimitConfig::default()
    })
    .unwrap();
    let app = app(rl);
    let resp = call(&app).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["x-ratelimit-limit"], "20");
    assert_eq!(h["x-ratelimit-remaining"], "19");
    assert_eq!(h["x-ratelimit-reset"], (T0 + MINUTE).to_string());
}

// ---------------------------------------------------------------------------
// With the store: the credits tier comes from the ledger.

#[tokio::test]
async fn admit_reads_the_credits_tier_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = tollgate_store::Store::connect(&url).await.unwrap();
    let account = store.create_account("limits").await.unwrap().id;
    let rl = RateLimiter::memory(RateLimitConfig {
        free_per_minute: 0,
        free_per_day: 2,
        free_per_day_with_credits: 4,
        ..RateLimitConfig::default()
    })
    .unwrap();
    let tiers = CreditTierCache::default();
    let admit = |free: bool| rl.admit(&store, &tiers, &account, None, free);

    assert!(admit(true).await.is_ok());
    assert!(admit(true).await.is_ok());
    let l = admit(true).await.unwrap_err();
    assert_eq!((l.scope, l.limit), (Scope::FreeDay, 2));
    assert!(
        l.message.contains("Add 10 credits to unlock 4"),
        "{}",
        l.message
    );
    // Paid models are not held back by the free quota.
    assert!(admit(false).await.is_ok());

    // $9.99 is not enough; $10 in total is.
    store
        .top_up(&account, rust_decimal::Decimal::new(999, 2), None)
        .await
        .unwrap();
    tiers.forget(&account);
    assert!(admit(true).await.is_err());
    store
        .top_up(&account, rust_decimal::Decimal::new(1, 2), None)
        .await
        .unwrap();
    // Cached "no" until forgotten (the admin top-up path forgets it).
    assert!(admit(true).await.is_err());
    tiers.forget(&account);
    assert!(admit(true).await.is_ok());
    assert!(admit(true).await.is_ok());
    let l = admit(true).await.unwrap_err();
    assert_eq!((l.scope, l.limit), (Scope::FreeDay, 4));
    assert_eq!(
        l.message,
        "Rate limit exceeded: free-models-per-day-high-balance."
    );
    store.close().await;
}
