//! Credit leases after a `kill -9` (PostgreSQL, two replicas on one
//! database): a dead replica's lease stops holding the account's credit,
//! at once when the replica restarts under the same identity, and within
//! the lease's time to live when it does not; and every balance shown
//! (`/credits`, the admin account view) is the one the 402 check uses.
//!
//! The model costs nothing per prompt token and $0.002 per completion
//! token, so a request's hold is exactly `max_tokens` × $0.002 and a test
//! can ask for a hold of any multiple of it. Nothing is timed: waits poll
//! with a deadline. Money is compared exactly, in 10⁻¹² USD.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_store::testing::{TempPostgres, fresh_postgres};
use tollgate_testkit::{MockConfig, MockHandle, MockServer};

use super::daemon::{ADMIN_KEY, ConfigDir, Daemon, EXIT_TIMEOUT, Launch, fixture_text};
use super::http::{client, post_chat};

/// How long a polled condition may take (a loaded 2-core machine).
const DEADLINE: Duration = Duration::from_secs(30);

/// One completion token, in 10⁻¹² USD.
const TOKEN: i128 = 2_000_000_000;

/// The account's credits, in 10⁻¹² USD.
const CREDITS: i128 = 10_000_000_000_000;

/// A request's `max_tokens` whose hold ($0.104) makes a lease of 32 × that,
/// $3.328 (the issue's $3.33 of $10).
const SMALL: i128 = 52;

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
    let shift = 12 + exponent - i32::try_from(frac.len()).unwrap();
    if shift >= 0 {
        value *= 10i128.pow(shift.unsigned_abs());
    } else {
        let div = 10i128.pow(shift.unsigned_abs());
        assert_eq!(value % div, 0, "{text:?} is finer than 10^-12 USD");
        value /= div;
    }
    if negative { -value } else { value }
}

/// Two replicas, `a` and `b`, on one fresh PostgreSQL database.
struct Pair {
    a: Daemon,
    b: Daemon,
    launch_a: Launch,
    a_alive: bool,
    db: Option<TempPostgres>,
    _dir: ConfigDir,
}

impl Pair {
    async fn start(mock: &MockHandle, lease_ttl_secs: u32) -> Pair {
        let db = fresh_postgres().await.expect("a fresh PostgreSQL database");
        let dir = ConfigDir::new();
        let listing: Value = serde_json::from_str(&fixture_text("acme-widget.json")).unwrap();
        let mut model = listing["data"][0].clone();
        model["pricing"]["prompt"] = json!("0");
        model["pricing"]["completion"] = json!("0.002");
        dir.write("acme.json", &json!({ "data": [model] }).to_string());
        let config = |replica: &str| {
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nreplica_id = \"{replica}\"\n\n\
                 [database]\nurl = \"{db}\"\n\n\
                 [billing]\nholds = \"lease\"\nlease_ttl_secs = {lease_ttl_secs}\n\n\
                 [[providers]]\nslug = \"acme\"\nname = \"acme\"\ndialect = \"openai\"\n\
                 base_url = \"{mock}\"\nmodels = \"acme.json\"\n",
                db = db.url(),
                mock = mock.base_url(),
            )
        };
        let launch = |replica: &str| {
            Launch::bare()
                .config(&dir.write(&format!("{replica}.toml"), &config(replica)))
                .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY)
        };
        let (launch_a, launch_b) = (launch("a"), launch("b"));
        // The first migrates the database.
        let a = tokio::task::block_in_place(|| launch_a.start());
        let b = tokio::task::block_in_place(|| launch_b.start());
        Pair {
            a,
            b,
            launch_a,
            a_alive: true,
            db: Some(db),
            _dir: dir,
        }
    }

    /// `kill -9` of replica a.
    fn kill_a(&mut self) {
        self.a.signal("KILL");
        tokio::task::block_in_place(|| self.a.wait_exit(EXIT_TIMEOUT));
        self.a_alive = false;
    }

    /// Replica a again, with the same configuration (and identity).
    fn restart_a(&mut self) {
        self.a = tokio::task::block_in_place(|| self.launch_a.start());
        self.a_alive = true;
    }

    async fn stop(mut self) {
        let alive = if self.a_alive {
            vec![&mut self.a, &mut self.b]
        } else {
            vec![&mut self.b]
        };
        for r in alive {
            r.signal("TERM");
            tokio::task::block_in_place(|| r.wait_exit(EXIT_TIMEOUT));
        }
        if let Some(db) = self.db.take() {
            db.cleanup().await.expect("drop the test database");
        }
    }
}

/// A call with `key`: (status, body).
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

/// A new account with $10 (through `via`): (id, inference key).
async fn account(via: &Daemon) -> (String, String) {
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/admin/accounts", via.api()),
        ADMIN_KEY,
        Some(json!({ "name": "leased" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let key = body["api_key"].as_str().unwrap().to_owned();
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{}/admin/accounts/{id}/credits", via.api()),
        ADMIN_KEY,
        Some(json!({ "amount": "10" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (id, key)
}

/// The account's money as the admin view of `via` shows it: (total_usage,
/// held, available).
async fn shown(via: &Daemon, account: &str) -> (i128, i128, i128) {
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{}/admin/accounts/{account}", via.api()),
        ADMIN_KEY,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let b = &body["data"]["balance"];
    let (credits, usage, held, available) = (
        pico(&b["total_credits"]),
        pico(&b["total_usage"]),
        pico(&b["held"]),
        pico(&b["available"]),
    );
    assert_eq!(credits, CREDITS, "{body}");
    assert_eq!(available, credits - usage - held, "{body}");
    (usage, held, available)
}

/// `GET /credits` of `via`: total_credits − total_usage.
async fn credits_left(via: &Daemon, key: &str) -> i128 {
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("{}/credits", via.api()),
        key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    pico(&body["data"]["total_credits"]) - pico(&body["data"]["total_usage"])
}

/// Polls `via`'s admin view until `done` holds of it; panics with the last
/// figures at the deadline.
async fn shown_when(
    via: &Daemon,
    account: &str,
    what: &str,
    done: impl Fn((i128, i128, i128)) -> bool,
) -> (i128, i128, i128) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let money = shown(via, account).await;
        if done(money) {
            return money;
        }
        assert!(Instant::now() < deadline, "{what}: still {money:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn chat(max_tokens: i128, text: &str) -> Value {
    json!({
        "model": "acme/widget",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    })
}

/// A request through `via` that holds `max_tokens` × $0.002: its status,
/// and its charge or the 402's message.
async fn ask(via: &Daemon, key: &str, max_tokens: i128) -> (u16, Value) {
    let resp = post_chat(&via.api(), key, &chat(max_tokens, "hello")).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON answer"))
}

/// The "available" figure of a 402 for credits, in 10⁻¹² USD.
fn refused_available(body: &Value) -> i128 {
    let message = body["error"]["message"].as_str().unwrap_or_default();
    let (_, rest) = message
        .split_once("the account has $")
        .unwrap_or_else(|| panic!("not a refusal for credits: {body}"));
    let (amount, _) = rest.split_once(' ').unwrap();
    pico(&json!(amount))
}

/// Checks that `via` shows `available` everywhere and admits exactly that:
/// a request holding one token more is refused with that figure, one
/// holding it (within a token) is answered.
async fn admits_what_it_shows(via: &Daemon, account: &str, key: &str, available: i128) {
    let (usage, held, shown_available) = shown(via, account).await;
    assert_eq!((held, shown_available), (0, available), "admin view");
    assert_eq!(credits_left(via, key).await, CREDITS - usage, "/credits");
    let whole = available / TOKEN;
    let (status, body) = ask(via, key, whole + 1).await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(refused_available(&body), available, "{body}");
    let (status, body) = ask(via, key, whole).await;
    assert_eq!(status, 200, "{body}");
}

/// Replica a takes a lease: a request that waits at the upstream keeps it
/// in use (an idle lease would be returned). Returns the request's task.
async fn lease_on_a(p: &Pair, account: &str, key: &str) -> tokio::task::JoinHandle<()> {
    let (api, key) = (p.a.api(), key.to_owned());
    let pending = tokio::spawn(async move {
        // Cut by the kill: its outcome does not matter.
        let _ = client()
            .post(format!("{api}/chat/completions"))
            .bearer_auth(key)
            .json(&chat(SMALL, "[mock:sleep_ms=600000] hold on"))
            .send()
            .await;
    });
    // Replica b counts a's lease as held: 32 holds of $0.104.
    let lease = 32 * SMALL * TOKEN;
    shown_when(&p.b, account, "a's lease shown on b", |(_, held, _)| {
        held == lease
    })
    .await;
    pending
}

async fn mock() -> MockHandle {
    MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        ..MockConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_releases_its_lease_at_once() {
    let upstream = mock().await;
    // A lease outlives the test: only the restart can free it.
    let mut p = Pair::start(&upstream, 3600).await;
    let (account, key) = account(&p.a).await;
    let pending = lease_on_a(&p, &account, &key).await;
    p.kill_a();
    pending.abort();
    // Dead, its lease still holds on b.
    let (_, held, _) = shown(&p.b, &account).await;
    assert_eq!(held, 32 * SMALL * TOKEN);

    p.restart_a();
    // Right after the start: the whole balance, on both replicas.
    assert_eq!(shown(&p.b, &account).await, (0, 0, CREDITS));
    admits_what_it_shows(&p.a, &account, &key, CREDITS).await;
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_lease_lapses_within_its_ttl() {
    let upstream = mock().await;
    let ttl = Duration::from_secs(3);
    let mut p = Pair::start(&upstream, 3).await;
    let (account, key) = account(&p.a).await;
    // An answered request first, so there is usage to show.
    let (status, body) = ask(&p.b, &key, 5).await;
    assert_eq!(status, 200, "{body}");
    let charged = pico(&body["usage"]["cost"]);
    assert!(charged > 0, "{body}");
    let pending = lease_on_a(&p, &account, &key).await;
    // Beating (every quarter of the TTL), a's lease outlives its TTL.
    let lease = 32 * SMALL * TOKEN;
    let deadline = Instant::now() + 2 * ttl;
    while Instant::now() < deadline {
        assert_eq!(
            shown(&p.b, &account).await.1,
            lease,
            "a's lease lapsed while a lives"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.kill_a();
    pending.abort();
    // Without a restart, b frees it when it lapses.
    let available = CREDITS - charged;
    shown_when(&p.b, &account, "a's lease lapsed on b", |money| {
        money == (charged, 0, available)
    })
    .await;
    admits_what_it_shows(&p.b, &account, &key, available).await;
    p.stop().await;
}
