//! Scale-out: two `tollgated` replicas on different ports, sharing one
//! PostgreSQL database and one Redis, behave as one service. With requests
//! alternating between them:
//!
//! * an account's balance and a key's limit are never exceeded, and the
//!   balance ends exact (credits − the charges the answers reported);
//! * a rate limit is counted once across both replicas;
//! * when one replica sees an endpoint fail, the other routes away from it.
//!
//! Each test makes its own database (`tollgate_store::testing`) and its own
//! Redis key prefixes, so tests and parallel runs share no state. Nothing is
//! timed: waits poll with a deadline.
//!
//! Money is compared exactly, as integers of 10⁻¹² USD.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tollgate_store::testing::{TempPostgres, fresh_postgres};
use tollgate_testkit::{MockConfig, MockHandle, MockServer};

use super::daemon::{ADMIN_KEY, ConfigDir, Daemon, Launch, fixture_text};
use super::http::{client, get_json, post_chat};

/// The Redis the replicas share (the same default as the gateway's tests).
fn redis_url() -> String {
    std::env::var("TOLLGATE_TEST_REDIS")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| String::from("redis://127.0.0.1:6379"))
}

/// How long a polled condition may take (a loaded 2-core machine running
/// other test binaries).
const DEADLINE: Duration = Duration::from_secs(30);

/// Concurrent requests per money scenario.
const REQUESTS: usize = 40;

/// One 10⁻¹² USD.
const SCALE: u32 = 12;

/// A USD amount written as a decimal string or a JSON number, in 10⁻¹² USD.
fn pico(v: &Value) -> i128 {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not an amount: {other}"),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().expect("exponent")),
        None => (text.as_str(), 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut value: i128 = format!("{int}{frac}").parse().expect("digits");
    let shift = i32::try_from(SCALE).unwrap() + exponent - i32::try_from(frac.len()).unwrap();
    if shift >= 0 {
        value *= 10i128.pow(shift.unsigned_abs());
    } else {
        let div = 10i128.pow(shift.unsigned_abs());
        assert_eq!(value % div, 0, "{text:?} is finer than 10^-{SCALE} USD");
        value /= div;
    }
    if negative { -value } else { value }
}

/// `acme-widget.json` with the model renamed and re-priced (USD per token).
fn listing_model(id: &str, prompt: &str, completion: &str) -> Value {
    let listing: Value = serde_json::from_str(&fixture_text("acme-widget.json")).unwrap();
    let mut model = listing["data"][0].clone();
    model["id"] = json!(id);
    model["name"] = json!(format!("Acme: {id}"));
    model["pricing"]["prompt"] = json!(prompt);
    model["pricing"]["completion"] = json!(completion);
    model
}

/// A provider section for `tollgate.toml`.
fn provider(slug: &str, mock: &MockHandle, listing: &str) -> String {
    format!(
        "\n[[providers]]\nslug = \"{slug}\"\nname = \"{slug}\"\ndialect = \"openai\"\nbase_url = \"{}\"\nmodels = \"{listing}\"\n",
        mock.base_url()
    )
}

/// Two replicas of one service.
struct Cluster {
    replicas: [Daemon; 2],
    db: Option<TempPostgres>,
    _dir: ConfigDir,
}

impl Cluster {
    /// A fresh database, then two replicas started one after the other (the
    /// first migrates it) from the same `tollgate.toml`: `sections` plus the
    /// database, Redis and unique Redis prefixes. `files` are written beside
    /// it first.
    async fn start(sections: &str, files: &[(&str, String)]) -> Cluster {
        let db = fresh_postgres().await.expect("a fresh PostgreSQL database");
        let dir = ConfigDir::new();
        for (name, text) in files {
            dir.write(name, text);
        }
        // The database's name is unique: so are the prefixes.
        let prefix = format!("tollgate-e2e:{}", db.name());
        let config = dir.write(
            "tollgate.toml",
            &format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n\n\
                 [database]\nurl = \"{db}\"\n\n\
                 [redis]\nurl = \"{redis}\"\nhealth_key_prefix = \"{prefix}:health\"\n\n\
                 {sections}",
                db = db.url(),
                redis = redis_url(),
                sections = sections.replace("@RL_PREFIX@", &format!("{prefix}:rl")),
            ),
        );
        let launch = Launch::bare()
            .config(&config)
            .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY)
            .env("TOLLGATE_REDIS_URL", &redis_url());
        // The mocks run on this runtime: keep its workers free meanwhile.
        let first = tokio::task::block_in_place(|| launch.start());
        let second = tokio::task::block_in_place(|| launch.start());
        assert_ne!(first.addr(), second.addr());
        Cluster {
            replicas: [first, second],
            db: Some(db),
            _dir: dir,
        }
    }

    /// The replica request `i` goes to: they alternate.
    fn api(&self, i: usize) -> String {
        self.replicas[i % 2].api()
    }

    /// Stops the replicas and drops the database.
    async fn stop(mut self) {
        for r in &mut self.replicas {
            r.signal("TERM");
        }
        for r in &mut self.replicas {
            tokio::task::block_in_place(|| r.wait_exit(super::daemon::EXIT_TIMEOUT));
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await.expect("drop the test database");
        }
    }
}

/// A call to the API of one replica: (status, body).
async fn call(method: reqwest::Method, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = client().request(method, url).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("send request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("read body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (status, body)
}

/// A new account with `credits` USD (through replica `via`): (id,
/// provisioning key, inference key).
async fn account(c: &Cluster, via: usize, name: &str, credits: &str) -> (String, String, String) {
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/admin/accounts", c.api(via)),
        ADMIN_KEY,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let provisioning = body["provisioning_key"].as_str().unwrap().to_owned();
    let key = body["api_key"].as_str().unwrap().to_owned();
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/admin/accounts/{id}/credits", c.api(via + 1)),
        ADMIN_KEY,
        Some(json!({ "amount": credits })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (id, provisioning, key)
}

/// The account's balance as the admin API shows it on replica `via`:
/// (total_credits, total_usage, held, available).
async fn balance(c: &Cluster, via: usize, account: &str) -> (i128, i128, i128, i128) {
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{}/admin/accounts/{account}", c.api(via)),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let b = &body["data"]["balance"];
    let money = (
        pico(&b["total_credits"]),
        pico(&b["total_usage"]),
        pico(&b["held"]),
        pico(&b["available"]),
    );
    assert_eq!(money.3, money.0 - money.1 - money.2, "{body}");
    money
}

/// Waits until both replicas show no hold of the account in flight and
/// its usage at `usage` (each replica writes its settlements behind the
/// answers, in batches, so the other one's may land a few milliseconds
/// later), and returns the balance as replica 0 shows it. Times out with
/// the last figures if it never gets there: an overcharge or a lost
/// settlement stays visible.
async fn settled_balance(c: &Cluster, account: &str, usage: i128) -> (i128, i128, i128, i128) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let one = balance(c, 1, account).await;
        let zero = balance(c, 0, account).await;
        if zero.1 == usage && zero.2 == 0 && one == zero {
            return zero;
        }
        assert!(
            Instant::now() < deadline,
            "not settled at {usage}: replica 0 {zero:?}, replica 1 {one:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small chat request whose prompt costs a noticeable share of the
/// scenarios' budgets: ~600 prompt tokens, 1 completion token.
fn costly_body(model: &str, i: usize) -> Value {
    json!({
        "model": model,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": format!("request {i}: {}", "w ".repeat(600))}],
    })
}

/// What `REQUESTS` concurrent requests, alternating between the replicas,
/// got: the charges of the answered ones (`usage.cost`), and the 402s.
struct Outcomes {
    charges: Vec<i128>,
    refused: usize,
}

async fn fire(c: &Cluster, key: &str, model: &str) -> Outcomes {
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let (api, key, body) = (c.api(i), key.to_owned(), costly_body(model, i));
        tasks.push(tokio::spawn(async move {
            let resp = post_chat(&api, &key, &body).await;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("a JSON answer");
            (status, body)
        }));
    }
    let mut out = Outcomes {
        charges: Vec::new(),
        refused: 0,
    };
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => {
                let cost = pico(&body["usage"]["cost"]);
                assert!(cost > 0, "{body}");
                out.charges.push(cost);
            }
            402 => {
                // OpenRouter's error shape.
                let error = &body["error"];
                assert_eq!(error["code"], 402, "{body}");
                assert!(
                    error["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{body}"
                );
                out.refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    out
}

/// The one-provider service of the money and rate-limit tests: `acme/widget`
/// ($3 / $6 per million tokens) and the free `acme/freebie`.
async fn one_provider_cluster(mock: &MockHandle, rate_limits: &str) -> Cluster {
    let listing = json!({"data": [
        listing_model("acme/widget", "0.000003", "0.000006"),
        listing_model("acme/freebie", "0", "0"),
    ]});
    Cluster::start(
        &format!(
            "[rate_limits]\nredis_key_prefix = \"@RL_PREFIX@\"\n{rate_limits}\n{}",
            provider("acme", mock, "acme.json")
        ),
        &[("acme.json", listing.to_string())],
    )
    .await
}

async fn mock(name: &str) -> MockHandle {
    MockServer::start(MockConfig {
        name: name.to_owned(),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balance_and_key_limit_hold_across_replicas() {
    let upstream = mock("acme-upstream").await;
    // The credit-based rate ($0.02 → 1 request a second) is not what this
    // test is about.
    let c = one_provider_cluster(&upstream, "requests_per_second_per_credit = 0\n").await;

    // The account's balance: $0.02, about ten answers' worth.
    let credits = pico(&json!("0.02"));
    let (poor, _, key) = account(&c, 0, "poor", "0.02").await;
    let got = fire(&c, &key, "acme/widget").await;
    let mut answered = got.charges.len();
    let charged: i128 = got.charges.iter().sum();
    let cheapest = got.charges.iter().copied().min().unwrap();
    assert!(charged <= credits, "charged {charged} of {credits}");
    // Not every request fitted the balance: each answered one cost at least
    // `cheapest`.
    assert!(got.refused > 0);
    assert!(
        got.charges.len() as i128 <= credits / cheapest,
        "{} answers at {cheapest} or more each within {credits}",
        got.charges.len()
    );
    assert_eq!(got.charges.len() + got.refused, REQUESTS);
    let (total_credits, total_usage, held, available) = settled_balance(&c, &poor, charged).await;
    assert_eq!((total_credits, total_usage, held), (credits, charged, 0));
    assert_eq!(available, credits - charged);
    // Both replicas say the same through the public API.
    for via in 0..2 {
        let (status, body) = call(
            reqwest::Method::GET,
            &format!("{}/credits", c.api(via)),
            &key,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(pico(&body["data"]["total_credits"]), credits, "{body}");
        assert_eq!(pico(&body["data"]["total_usage"]), charged, "{body}");
    }

    // A key's limit: $0.02 on an account with plenty.
    let (rich, provisioning, _) = account(&c, 1, "rich", "10").await;
    let limit = pico(&json!("0.02"));
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/keys", c.api(0)),
        &provisioning,
        Some(json!({ "name": "capped", "limit": 0.02 })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let capped = body["key"].as_str().unwrap().to_owned();
    let got = fire(&c, &capped, "acme/widget").await;
    answered += got.charges.len();
    let used: i128 = got.charges.iter().sum();
    let cheapest = got.charges.iter().copied().min().unwrap();
    assert!(used <= limit, "used {used} of the key's {limit}");
    assert!(got.refused > 0);
    assert!(got.charges.len() as i128 <= limit / cheapest);
    let (total_credits, total_usage, held, _) = settled_balance(&c, &rich, used).await;
    assert_eq!(
        (total_credits, total_usage, held),
        (pico(&json!("10")), used, 0)
    );
    for via in 0..2 {
        let (status, body) = call(
            reqwest::Method::GET,
            &format!("{}/key", c.api(via)),
            &capped,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        assert_eq!(pico(&data["limit"]), limit, "{body}");
        assert_eq!(pico(&data["usage"]), used, "{body}");
        assert_eq!(pico(&data["limit_remaining"]), limit - used, "{body}");
    }
    // A 402 costs the provider nothing: only the answered requests reached
    // it.
    assert_eq!(upstream.request_count(), answered);
    c.stop().await;
}

/// The current UTC day (the free-model daily window).
fn utc_day() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_counted_once_across_replicas() {
    const LIMIT: usize = 6;
    const SENT: usize = 20;
    let upstream = mock("acme-upstream").await;
    // Free models: 6 requests per UTC day, whatever the account bought; the
    // per-minute and per-second limits off (their windows are short enough
    // for a slow run to straddle two of them).
    let c = one_provider_cluster(
        &upstream,
        &format!(
            "free_per_minute = 0\nfree_per_day = {LIMIT}\nfree_per_day_with_credits = {LIMIT}\nsurge_per_second = 0\n"
        ),
    )
    .await;
    let (_, _, key) = account(&c, 0, "limited", "1").await;
    let day = utc_day();
    let mut tasks = Vec::new();
    for i in 0..SENT {
        let (api, key) = (c.api(i), key.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"model": "acme/freebie", "messages": [{"role": "user", "content": format!("hi {i}")}]});
            let resp = post_chat(&api, &key, &body).await;
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").cloned();
            let body: Value = resp.json().await.expect("a JSON answer");
            (status, retry_after, body)
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        let (status, retry_after, body) = t.await.unwrap();
        match status {
            200 => admitted += 1,
            429 => {
                assert_eq!(body["error"]["code"], 429, "{body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("free-models-per-day")),
                    "{body}"
                );
                assert!(retry_after.is_some(), "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // Once across both replicas (each counting alone would admit up to
    // twice the limit). Should the run straddle midnight UTC, two daily
    // windows were used.
    if utc_day() == day {
        assert_eq!(admitted, LIMIT);
        // Refused requests used no quota, and more are refused on both.
        for via in 0..2 {
            let body = json!({"model": "acme/freebie", "messages": [{"role": "user", "content": "again"}]});
            let resp = post_chat(&c.api(via), &key, &body).await;
            assert_eq!(resp.status(), 429);
        }
    } else {
        assert!(admitted <= 2 * LIMIT);
    }
    // A 429 costs the provider nothing.
    assert_eq!(upstream.request_count(), admitted);
    c.stop().await;
}

/// The endpoints API's entry of `provider` for `acme/widget` on `api`.
async fn endpoint_health(api: &str, provider: &str) -> Value {
    let list = get_json(&format!("{api}/models/acme/widget/endpoints")).await;
    list["data"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tag"] == provider)
        .unwrap_or_else(|| panic!("no {provider} endpoint: {list}"))
        .clone()
}

/// Polls `api`'s endpoints API until `cond` holds for `provider`'s entry.
async fn wait_health(api: &str, provider: &str, what: &str, cond: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let entry = endpoint_health(api, provider).await;
        if cond(&entry) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {entry}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A chat request for `acme/widget`, cheapest endpoint first.
fn by_price(text: &str) -> Value {
    json!({
        "model": "acme/widget",
        "max_tokens": 4,
        "provider": {"sort": "price"},
        "messages": [{"role": "user", "content": text}],
    })
}

/// Whether an endpoints API uptime is `pct` percent, give or take the decay
/// of the seconds the test takes.
fn uptime_near(entry: &Value, pct: f64) -> bool {
    entry["uptime_last_5m"]
        .as_f64()
        .is_some_and(|u| (u - pct).abs() < 2.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_health_is_shared_across_replicas() {
    let primary = mock("primary").await;
    let backup = mock("backup").await;
    // `acme/widget` at two providers: acme, cheap, and backup, ten times
    // dearer. Failures count for a minute, so the outage outlasts a slow run.
    let c = Cluster::start(
        &format!(
            // The credit-based rate is not what this test is about.
            "[routing]\noutage_window_secs = 60\n\
             [rate_limits]\nrequests_per_second_per_credit = 0\n{}{}",
            provider("acme", &primary, "acme.json"),
            provider("backup", &backup, "backup.json"),
        ),
        &[
            (
                "acme.json",
                json!({"data": [listing_model("acme/widget", "0.000003", "0.000006")]}).to_string(),
            ),
            (
                "backup.json",
                json!({"data": [listing_model("acme/widget", "0.00003", "0.00006")]}).to_string(),
            ),
        ],
    )
    .await;
    let (a, b) = (c.api(0), c.api(1));
    let (_, _, key) = account(&c, 0, "health", "1").await;

    // Healthy: B sends to acme, the cheaper.
    let resp = post_chat(&b, &key, &by_price("hello")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-attempts"], "acme=ok");
    assert_eq!(endpoint_health(&b, "acme").await["status"], 0);

    // A sees acme fail three times (only acme may serve these requests).
    for i in 0..3 {
        let body = json!({
            "model": "acme/widget",
            "provider": {"only": ["acme"]},
            "messages": [{"role": "user", "content": format!("fail {i} [mock:status=500]")}],
        });
        let resp = post_chat(&a, &key, &body).await;
        assert!(!resp.status().is_success(), "{}", resp.status());
        assert_eq!(resp.headers()["x-tollgate-attempts"], "acme=500");
    }
    assert_eq!(endpoint_health(&a, "acme").await["status"], -2);

    // B, which never saw a failure, learns of the outage...
    wait_health(&b, "acme", "B never saw acme's outage", |e| {
        e["status"] == -2
    })
    .await;
    // ...and routes away from acme without trying it.
    let before = primary.request_count();
    let resp = post_chat(&b, &key, &by_price("hello again")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-provider"], "backup");
    assert_eq!(resp.headers()["x-tollgate-attempts"], "backup=ok");
    assert_eq!(primary.request_count(), before);

    // Each outcome counts once on each replica: acme had 3 failures (on A)
    // and 1 success (on B), so both show 25% uptime; had A counted its own
    // failures again from Redis it would show 1 in 7 (14%).
    wait_health(&a, "acme", "A never saw B's success", |e| {
        uptime_near(e, 25.0)
    })
    .await;
    wait_health(&b, "acme", "B's uptime", |e| uptime_near(e, 25.0)).await;
    // Later pulls add nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for api in [&a, &b] {
        let e = endpoint_health(api, "acme").await;
        assert!(uptime_near(&e, 25.0), "{e}");
        assert_eq!(e["status"], -2, "{e}");
    }
    c.stop().await;
}
