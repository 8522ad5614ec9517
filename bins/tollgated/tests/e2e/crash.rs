//! Crash recovery: `kill -9` in the middle of streamed requests, then a
//! restart of the same binary on the same SQLite database. No credit is lost
//! or created: the crashed requests' holds are released by the start-up
//! reconciliation (charged nothing), what completed before the crash stays
//! charged exactly, and the restarted daemon serves and charges exactly.
//!
//! Money is compared exactly, as integers of 10⁻¹² USD (the store's
//! precision), never as floats.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tollgate_testkit::{MockConfig, MockServer};

use super::daemon::{ADMIN_KEY, ConfigDir, Daemon, EXIT_TIMEOUT, Launch, acme_config};
use super::http::{
    BodyReader, Event, chat_body, client, data_events, post_chat, post_chat_with, unbounded_client,
};

/// The listing's prices (`fixtures/e2e/acme-widget.json`), in 10⁻¹² USD
/// per token: prompt $0.000003, completion $0.000006.
const PROMPT_PRICE: i128 = 3_000_000;
const COMPLETION_PRICE: i128 = 6_000_000;

/// How many streams are in flight when the daemon is killed.
const STREAMS: usize = 5;

/// The mock's streaming speed: the crashed streams' answers (a few hundred
/// tokens) take tens of seconds, far longer than the test needs to kill the
/// daemon after their first chunk; the short ones take a fraction of one.
const TOKENS_PER_SECOND: f64 = 20.0;

/// One 10⁻¹² USD.
const SCALE: u32 = 12;

/// A USD amount, written as a decimal string (`"1"`, `"0.000117"`) or a
/// JSON number (`0.000117`, `1.17e-4`), in 10⁻¹² USD. Panics on anything
/// else, or on more precision than the store keeps.
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
    let digits = format!("{int}{frac}");
    assert!(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "not an amount: {text:?}"
    );
    let mut value: i128 = digits.parse().expect("digits");
    // value × 10^(exponent − |frac|) USD, in 10^-SCALE USD.
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

/// An account's money as `GET /admin/accounts/{id}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Money {
    total_credits: i128,
    total_usage: i128,
    held: i128,
    available: i128,
}

impl Money {
    fn from_json(balance: &Value) -> Money {
        Money {
            total_credits: pico(&balance["total_credits"]),
            total_usage: pico(&balance["total_usage"]),
            held: pico(&balance["held"]),
            available: pico(&balance["available"]),
        }
    }

    /// The ledger's identity: available = credits − usage − held.
    fn assert_consistent(&self) {
        assert_eq!(
            self.available,
            self.total_credits - self.total_usage - self.held,
            "{self:?}"
        );
    }
}

/// The admin API of a running daemon.
struct Admin {
    api: String,
}

impl Admin {
    fn of(d: &Daemon) -> Admin {
        Admin { api: d.api() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = client()
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(ADMIN_KEY);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("send admin request");
        let status = resp.status();
        let text = resp.text().await.expect("read admin body");
        assert!(status.is_success(), "{method} {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    }

    /// A new account: (id, inference key).
    async fn create_account(&self, name: &str) -> (String, String) {
        let body = self
            .call(
                reqwest::Method::POST,
                "/admin/accounts",
                Some(json!({ "name": name })),
            )
            .await;
        let id = body["data"]["id"].as_str().expect("account id").to_owned();
        let key = body["api_key"].as_str().expect("api key").to_owned();
        (id, key)
    }

    async fn top_up(&self, account: &str, amount: &str) {
        let body = self
            .call(
                reqwest::Method::POST,
                &format!("/admin/accounts/{account}/credits"),
                Some(json!({ "amount": amount, "note": "crash test" })),
            )
            .await;
        assert_eq!(body["data"]["entry"]["kind"], "topup", "{body}");
    }

    async fn money(&self, account: &str) -> Money {
        let body = self
            .call(
                reqwest::Method::GET,
                &format!("/admin/accounts/{account}"),
                None,
            )
            .await;
        let money = Money::from_json(&body["data"]["balance"]);
        money.assert_consistent();
        money
    }
}

/// `GET /credits` with `key`: (total_credits, total_usage).
async fn credits(api: &str, key: &str) -> (i128, i128) {
    let resp = client()
        .get(format!("{api}/credits"))
        .bearer_auth(key)
        .send()
        .await
        .expect("send GET /credits");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("credits JSON");
    (
        pico(&body["data"]["total_credits"]),
        pico(&body["data"]["total_usage"]),
    )
}

/// A streamed `acme/widget` request asking for its usage and cost.
fn streamed(text: &str) -> Value {
    let mut body = chat_body("acme/widget", text, true);
    body["usage"] = json!({ "include": true });
    body
}

/// Streams a short request to its end; returns the cost its usage implies
/// at the listing's prices, after checking that the reported `usage.cost`
/// says the same.
async fn complete_one(api: &str, key: &str, text: &str) -> i128 {
    let resp = post_chat(api, key, &streamed(text)).await;
    assert_eq!(resp.status(), 200);
    let body = BodyReader::new(resp).read_to_end().await;
    let data = data_events(&body);
    assert_eq!(data.last(), Some(&Event::Data("[DONE]".into())), "{body}");
    let chunks: Vec<Value> = data.iter().filter_map(Event::json).collect();
    let usage = &chunks.last().expect("a usage chunk")["usage"];
    let prompt = i128::from(usage["prompt_tokens"].as_u64().expect("prompt_tokens"));
    let completion = i128::from(usage["completion_tokens"].as_u64().expect("completion"));
    assert!(prompt > 0 && completion > 0, "{usage}");
    let cost = prompt * PROMPT_PRICE + completion * COMPLETION_PRICE;
    assert_eq!(pico(&usage["cost"]), cost, "{usage}");
    cost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_loses_and_creates_no_credit() {
    let mock = MockServer::start(MockConfig {
        name: String::from("acme-upstream"),
        tokens_per_second: Some(TOKENS_PER_SECOND),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = ConfigDir::new();
    dir.copy_fixture("acme-widget.json", "acme-widget.json");
    let db = dir.path().join("t.db");
    let config = dir.write(
        "tollgate.toml",
        &acme_config(
            &mock.base_url(),
            "acme-widget.json",
            // A $1 account's credit-based rate (1 a second) would refuse
            // the concurrent streams this test is about.
            &format!(
                "\n[database]\nurl = \"sqlite://{}\"\n\
                 [rate_limits]\nrequests_per_second_per_credit = 0\n",
                db.display()
            ),
        ),
    );
    // Not --dev: the database is the config's file and outlives the process.
    let launch = Launch::bare()
        .config(&config)
        .args(["--listen", "127.0.0.1:0"])
        .env("TOLLGATE_ADMIN_KEY", ADMIN_KEY);
    // The mock runs on this runtime: keep its workers free while waiting.
    let mut first = tokio::task::block_in_place(|| launch.start());
    let admin = Admin::of(&first);
    let (account, key) = admin.create_account("crash").await;
    admin.top_up(&account, "1").await;
    let one_dollar = pico(&json!("1"));

    // One generation completes before the crash: it stays charged.
    let charged_before = complete_one(&first.api(), &key, "before the crash").await;
    let before = admin.money(&account).await;
    assert_eq!(
        before,
        Money {
            total_credits: one_dollar,
            total_usage: charged_before,
            held: 0,
            available: one_dollar - charged_before,
        }
    );

    // Several long streams, each under way (its first content chunk read).
    let words = vec!["w"; 600].join(" ");
    let slow = unbounded_client();
    let mut streams = Vec::new();
    for i in 0..STREAMS {
        let body = streamed(&format!("stream {i}: {words}"));
        let resp = post_chat_with(&slow, &first.api(), &key, &body).await;
        assert_eq!(resp.status(), 200, "stream {i}");
        streams.push(BodyReader::new(resp));
    }
    for (i, s) in streams.iter_mut().enumerate() {
        s.read_until("\"content\":\"echo\"").await;
        assert!(!s.text().contains("[DONE]"), "stream {i} ended too soon");
    }
    let in_flight = admin.money(&account).await;
    assert_eq!(in_flight.total_credits, one_dollar, "{in_flight:?}");
    assert_eq!(in_flight.total_usage, charged_before, "{in_flight:?}");
    assert!(
        in_flight.held > 0,
        "the streams hold nothing: {in_flight:?}"
    );

    // kill -9: no drain, no settlement, no release.
    first.signal("KILL");
    let status = tokio::task::block_in_place(|| first.wait_exit(EXIT_TIMEOUT));
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    // The clients see their streams cut; nothing more to read from them.
    drop(streams);
    assert_eq!(mock.request_count(), 1 + STREAMS);

    // Restart on the same database: reconciliation releases the crashed
    // requests' holds, charging nothing for them.
    let mut second = tokio::task::block_in_place(|| launch.start());
    let admin = Admin::of(&second);
    let after = admin.money(&account).await;
    assert_eq!(
        after,
        Money {
            total_credits: one_dollar,
            total_usage: charged_before,
            held: 0,
            available: one_dollar - charged_before,
        },
        "after the restart (held > 0: the crashed holds were not released)\n--- stderr ---\n{}",
        second.stderr()
    );
    assert_eq!(
        credits(&second.api(), &key).await,
        (one_dollar, charged_before)
    );

    // The restarted daemon serves and charges exactly.
    let charged_after = complete_one(&second.api(), &key, "after the restart").await;
    let total_usage = charged_before + charged_after;
    let end = admin.money(&account).await;
    assert_eq!(
        end,
        Money {
            total_credits: one_dollar,
            total_usage,
            held: 0,
            available: one_dollar - total_usage,
        }
    );
    assert_eq!(
        credits(&second.api(), &key).await,
        (one_dollar, total_usage)
    );
    let key_info = get_key(&second.api(), &key).await;
    assert_eq!(pico(&key_info["data"]["usage"]), total_usage, "{key_info}");

    second.signal("TERM");
    let status = tokio::task::block_in_place(|| second.wait_exit(EXIT_TIMEOUT));
    assert_eq!(status.code(), Some(0), "{status}\n{}", second.stderr());

    // The ledger itself, read from the file once no daemon holds it.
    check_ledger(
        &config,
        &account,
        one_dollar,
        &[charged_before, charged_after],
    )
    .await;
}

/// `GET /key` with `key`.
async fn get_key(api: &str, key: &str) -> Value {
    let resp = client()
        .get(format!("{api}/key"))
        .bearer_auth(key)
        .send()
        .await
        .expect("send GET /key");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("key JSON")
}

/// The ledger entries of one hold, by kind (amounts in 10⁻¹² USD).
#[derive(Debug, Default)]
struct HoldEntries {
    holds: Vec<i128>,
    releases: Vec<i128>,
    settles: Vec<i128>,
}

/// Opens the database as the daemon does and checks the account's ledger
/// entry by entry: one top-up of `credits`; a hold for each completed
/// request (none for the crashed ones: on SQLite holds live in memory until
/// settled); a `settle` for each, charging exactly its cost; a `hold`
/// entry, where one was written, returned exactly once by a `release` of
/// its amount (a hold settled from memory lands with its settlement alone:
/// the pair would sum to zero); everything sums to the balance.
///
/// Through `Gateway::build` (tollgate-store is not a dependency of this
/// package), which reconciles once more: by now there must be nothing left
/// to release.
async fn check_ledger(config: &std::path::Path, account: &str, credits: i128, charges: &[i128]) {
    let config = tollgate_gateway::Config::load(config).expect("load the config");
    let gateway = tollgate_gateway::Gateway::build(&config)
        .await
        .expect("open the database");
    let store = gateway.store();
    let ledger = store.ledger(account).await.expect("read the ledger");
    let mut sum = 0i128;
    let mut topups = Vec::new();
    let mut holds: BTreeMap<String, HoldEntries> = BTreeMap::new();
    for e in &ledger {
        let amount = pico(&Value::String(e.amount.to_string()));
        sum += amount;
        let kind = e.kind.as_str();
        match (kind, &e.hold_id) {
            ("topup", None) => topups.push(amount),
            (_, Some(hold)) => {
                let slot = holds.entry(hold.clone()).or_default();
                match kind {
                    "hold" => slot.holds.push(amount),
                    "release" => slot.releases.push(amount),
                    "settle" => slot.settles.push(amount),
                    other => panic!("unexpected `{other}` entry of hold {hold}: {ledger:?}"),
                }
            }
            _ => panic!("unexpected entry {e:?}"),
        }
    }
    assert_eq!(topups, [credits], "{ledger:?}");
    // On SQLite the gateway keeps holds in memory and writes each one with
    // its settlement, so the crashed streams' holds never reached the
    // file; a hold written without a settlement would be returned below.
    assert_eq!(holds.len(), charges.len(), "{ledger:?}");
    let mut settled = Vec::new();
    for (id, entries) in &holds {
        let HoldEntries {
            holds: hold,
            releases,
            settles,
        } = entries;
        match hold.as_slice() {
            // Settled from memory: no reservation entries, only the charge.
            [] => {
                assert!(releases.is_empty(), "hold {id}: {ledger:?}");
                assert_eq!(
                    settles.len(),
                    1,
                    "hold {id} has no entry but a release: {ledger:?}"
                );
            }
            [reserved] => {
                assert!(*reserved < 0, "hold {id}: {ledger:?}");
                assert_eq!(
                    releases,
                    &[-reserved],
                    "hold {id} not returned once: {ledger:?}"
                );
            }
            more => panic!("hold {id} reserved {} times: {ledger:?}", more.len()),
        }
        let state = store
            .get_hold(id)
            .await
            .expect("read the hold")
            .expect("the hold exists")
            .state;
        match settles.as_slice() {
            // Returned without a charge (`expired` by reconciliation, or
            // `released`, whichever the reconciliation records).
            [] => assert!(
                matches!(state.as_str(), "expired" | "released"),
                "hold {id} is {state}"
            ),
            [charge] => {
                assert_eq!(state.as_str(), "settled", "hold {id}");
                settled.push(-charge);
            }
            more => panic!("hold {id} settled {} times: {ledger:?}", more.len()),
        }
    }
    settled.sort_unstable();
    let mut expected = charges.to_vec();
    expected.sort_unstable();
    assert_eq!(settled, expected, "{ledger:?}");
    let total: i128 = charges.iter().sum();
    assert_eq!(
        sum,
        credits - total,
        "the ledger does not sum to the balance"
    );
    let balance = store.balance(account).await.expect("read the balance");
    assert_eq!(
        pico(&Value::String(balance.available.to_string())),
        credits - total
    );
    assert_eq!(pico(&Value::String(balance.held.to_string())), 0);
    store.close().await;
}
