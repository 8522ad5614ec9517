//! The generation lifecycle's money rules (issue 17's defects): a hold is
//! released when its request is dropped; it is sized from the prompt as
//! sent (after shaping) and for every choice; a charge never exceeds it,
//! whatever the provider reports or streams.

use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use rust_decimal::Decimal;

use crate::support::*;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// What a 402 says the request may cost ("may cost up to $X and ...").
fn needed(error: &Value) -> Decimal {
    let message = error["message"].as_str().unwrap();
    let after = message
        .split("may cost up to $")
        .nth(1)
        .unwrap_or_else(|| panic!("no amount in {message:?}"));
    dec(after.split_whitespace().next().unwrap())
}

async fn settled_balance(gw: &TestGateway) -> tollgate_store::Balance {
    let mut b = gw.gateway.balance(&gw.account_id).await.unwrap();
    for _ in 0..250 {
        if b.held.is_zero() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        b = gw.gateway.balance(&gw.account_id).await.unwrap();
    }
    b
}

#[tokio::test]
async fn a_client_that_goes_away_mid_request_leaves_no_hold() {
    let gw = start().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // The provider would answer after 30 s: long after the checks below,
    // so only the dropped request can have released the hold.
    for stream in [false, true] {
        let mut body = chat_body("mock/echo", "[mock:sleep_ms=30000] hello");
        body["stream"] = json!(stream);
        let sent = client
            .post(format!("{}/api/v1/chat/completions", gw.url))
            .bearer_auth(&gw.key)
            .json(&body)
            .send()
            .await;
        let timed_out = match sent {
            Err(e) => e.is_timeout(),
            // A stream's head can come first (keep-alive): read until the
            // client gives up.
            Ok(r) => r.bytes().await.is_err(),
        };
        assert!(timed_out, "the client gave up (stream: {stream})");
    }
    let mut held = Decimal::ONE;
    for _ in 0..200 {
        held = gw.gateway.balance(&gw.account_id).await.unwrap().held;
        if held.is_zero() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        held,
        Decimal::ZERO,
        "the holds of both dropped requests were released"
    );
    let b = gw.gateway.balance(&gw.account_id).await.unwrap();
    assert_eq!(b.total_usage, Decimal::ZERO, "nothing was charged");
    assert_eq!(b.available, dec("10"));
    let metrics = gw.get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.lines()
            .any(|l| l.starts_with("tollgate_holds_abandoned_total ") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[tokio::test]
async fn the_hold_covers_the_prompt_as_shaped_for_the_endpoint() {
    // mock/no-tools takes JSON mode by instruction: the instruction is
    // part of the prompt it is sent, so the hold must count it.
    let gw = start_with(Options {
        credits: None,
        ..Options::default()
    })
    .await;
    let mut body = chat_body("mock/no-tools", "Give me a number.");
    body["response_format"] = json!({"type": "json_object"});
    body["max_tokens"] = json!(1);
    let refused = gw.chat(&body).await;
    let hold = needed(&assert_error(&refused, 402));
    gw.gateway
        .store()
        .top_up(&gw.account_id, hold, Some("exactly the hold"))
        .await
        .unwrap();
    gw.gateway.sync_books().await;
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let usage = reply.json()["usage"].clone();
    // The JSON instruction made the prompt longer than the user's text.
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 10, "{usage}");
    let b = settled_balance(&gw).await;
    assert!(b.available >= Decimal::ZERO, "never overdrawn: {b:?}");
    assert!(
        b.total_usage <= hold,
        "charged {} for a hold of {hold}",
        b.total_usage
    );
    assert!(b.total_usage > Decimal::ZERO);
}

#[tokio::test]
async fn the_hold_covers_every_choice() {
    let gw = start_with(Options {
        credits: None,
        ..Options::default()
    })
    .await;
    let mut body = chat_body("mock/echo", "Hello");
    body["max_tokens"] = json!(100);
    let one = needed(&assert_error(&gw.chat(&body).await, 402));
    body["n"] = json!(3);
    let three = needed(&assert_error(&gw.chat(&body).await, 402));
    // The dearest endpoint (Mock Gamma: $6 per million completion
    // tokens) sets the hold: two more completions of 100 tokens each.
    assert_eq!(three - one, dec("0.0012"), "{one} -> {three}");
    body["n"] = json!(0);
    let zero = gw.chat(&body).await;
    let error = assert_error(&zero, 400);
    assert!(
        error["message"].as_str().unwrap().contains("`n`"),
        "{error}"
    );
    // The legacy passthrough (several prompts) checks `n` the same way.
    let legacy = json!({"model": "mock/echo", "prompt": ["a", "b"], "n": 500});
    let reply = gw.post_raw("/api/v1/completions", legacy.to_string()).await;
    let error = assert_error(&reply, 400);
    assert!(
        error["message"].as_str().unwrap().contains("`n`"),
        "{error}"
    );
}

#[tokio::test]
async fn over_reported_usage_is_billed_at_the_bound() {
    let gw = start().await;
    let mut body = chat_body("mock/echo", "[mock:usage_completion=5000000] Hello");
    body["max_tokens"] = json!(10);
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let usage = reply.json()["usage"].clone();
    assert_eq!(
        usage["completion_tokens"], 10,
        "clamped to max_tokens: {usage}"
    );
    let b = settled_balance(&gw).await;
    // At most 10 completion tokens and the prompt: far below a dollar.
    assert!(b.total_usage < dec("0.001"), "{b:?}");
    assert_eq!(b.held, Decimal::ZERO);
    let metrics = gw.get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.lines()
            .any(|l| l.starts_with("tollgate_usage_misreported_total{")
                && l.contains("mock-alpha")
                && l.ends_with(" 1")),
        "{text}"
    );
}

#[tokio::test]
async fn an_endless_stream_is_cut_at_its_output_bound() {
    let gw = start().await;
    let mut body = streamed(chat_body("mock/echo", "[mock:endless] [mock:no_usage] go"));
    body["max_tokens"] = json!(50);
    let response = gw.chat_http(&body).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut text = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = stream.next().await {
            text.extend_from_slice(&chunk.unwrap());
            assert!(text.len() < 1_000_000, "relayed without bound");
        }
    })
    .await;
    assert!(read.is_ok(), "the stream never ended");
    let text = String::from_utf8(text).unwrap();
    let events = parse_sse(&text);
    let chunks = chunks(&events);
    let finish: Vec<_> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["length"], "{text}");
    let usage = chunks.last().unwrap()["usage"].clone();
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=50).contains(&completion), "{usage}");
    assert!(text.ends_with("data: [DONE]\n\n"));
    let b = settled_balance(&gw).await;
    assert_eq!(b.held, Decimal::ZERO);
    // 50 tokens at $2 per million, and the prompt at $1 per million.
    assert!(b.total_usage <= dec("0.0001") + dec("0.0001"), "{b:?}");
}

#[tokio::test]
async fn an_overlong_answer_is_cut_at_its_output_bound() {
    let gw = start().await;
    let mut body = chat_body("mock/echo", "[mock:endless] [mock:reply_bytes=200000] go");
    body["max_tokens"] = json!(20);
    let reply = gw.chat(&body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.len() < 1_000, "{} bytes kept", content.len());
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() <= 20);
}

/// One request of the property test: what the provider does, and how the
/// request is made.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Success,
    OverReported,
    NoUsage,
    Endless,
    MidStreamFailure,
    ServerError,
    /// The client goes away after this many milliseconds.
    Disconnect(u64),
}

#[derive(Debug, Clone, Copy)]
struct Case {
    behaviour: Behaviour,
    stream: bool,
    n: u64,
}

fn random_cases(rng: &mut impl rand::Rng, count: usize) -> Vec<Case> {
    (0..count)
        .map(|_| Case {
            behaviour: match rng.random_range(0..7) {
                0 => Behaviour::Success,
                1 => Behaviour::OverReported,
                2 => Behaviour::NoUsage,
                3 => Behaviour::Endless,
                4 => Behaviour::MidStreamFailure,
                5 => Behaviour::ServerError,
                _ => Behaviour::Disconnect(rng.random_range(5..400)),
            },
            stream: rng.random_bool(0.5),
            n: rng.random_range(1..=3),
        })
        .collect()
}

fn case_body(case: Case) -> Value {
    let directive = match case.behaviour {
        Behaviour::Success => "",
        Behaviour::OverReported => "[mock:usage_completion=5000000] [mock:usage_prompt=900000]",
        Behaviour::NoUsage => "[mock:no_usage]",
        Behaviour::Endless if case.stream => "[mock:endless]",
        Behaviour::Endless => "[mock:endless] [mock:reply_bytes=50000]",
        Behaviour::MidStreamFailure => "[mock:drop_after=2]",
        Behaviour::ServerError => "[mock:status=503]",
        Behaviour::Disconnect(_) => "[mock:slow]",
    };
    let mut body = chat_body(
        "mock/echo",
        &format!("{directive} one two three four five six seven eight"),
    );
    body["stream"] = json!(case.stream);
    body["max_tokens"] = json!(40);
    body["n"] = json!(case.n);
    body
}

/// Sends `case` and returns the generation id the client saw, if any.
async fn run_case(client: reqwest::Client, url: String, key: String, case: Case) -> Option<String> {
    let send = client
        .post(url)
        .bearer_auth(key)
        .json(&case_body(case))
        .send();
    let limit = match case.behaviour {
        Behaviour::Disconnect(ms) => Duration::from_millis(ms),
        _ => Duration::from_secs(60),
    };
    let result = tokio::time::timeout(limit, async {
        let r = send.await.ok()?;
        let id = r
            .headers()
            .get("x-generation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = r.status().as_u16();
        let _ = r.bytes().await;
        assert!(
            [200, 402, 502, 503].contains(&status),
            "{case:?} answered {status}"
        );
        id
    })
    .await;
    result.ok().flatten()
}

/// Property: whatever the providers do and whenever clients go away, after
/// quiescence no hold is open, the balance is the start minus the charges,
/// the charges are the generations' costs, and no charge exceeds its hold.
async fn lifecycle_property(postgres: bool, seeds: &[u64]) {
    use rand::SeedableRng;
    for &seed in seeds {
        let start_credits = dec("0.05");
        let gw = start_with(Options {
            credits: Some(start_credits),
            postgres,
            ..Options::default()
        })
        .await;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let cases = random_cases(&mut rng, 24);
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/chat/completions", gw.url);
        let tasks: Vec<_> = cases
            .iter()
            .map(|&case| tokio::spawn(run_case(client.clone(), url.clone(), gw.key.clone(), case)))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // Quiescence: every dropped request and stream task has finished.
        let mut b = gw.gateway.balance(&gw.account_id).await.unwrap();
        for _ in 0..300 {
            if b.held.is_zero() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            b = gw.gateway.balance(&gw.account_id).await.unwrap();
        }
        assert_eq!(
            b.held,
            Decimal::ZERO,
            "seed {seed}: a hold is open: {b:?} {cases:?}"
        );
        gw.gateway.sync_books().await;
        let store = gw.gateway.store();
        let b = store.balance(&gw.account_id).await.unwrap();
        assert_eq!(b.held, Decimal::ZERO, "seed {seed}: {b:?}");
        assert_eq!(b.total_credits, start_credits);
        assert_eq!(
            b.available,
            start_credits - b.total_usage,
            "seed {seed}: balance = start - charges"
        );
        assert!(b.available >= Decimal::ZERO, "seed {seed}: overdrawn {b:?}");
        let now = chrono::Utc::now();
        let activity = store
            .activity(
                &gw.account_id,
                now - chrono::Duration::days(2),
                now + chrono::Duration::days(1),
                None,
            )
            .await
            .unwrap();
        let generation_costs: Decimal = activity.iter().map(|r| r.usage).sum();
        assert_eq!(
            b.total_usage, generation_costs,
            "seed {seed}: the ledger equals the sum of generation costs"
        );
        let mut checked = 0;
        for entry in store.ledger(&gw.account_id).await.unwrap() {
            let Some(hold_id) = entry.hold_id.filter(|h| !h.starts_with("lease_")) else {
                continue;
            };
            let Some(hold) = store.get_hold(&hold_id).await.unwrap() else {
                continue;
            };
            if let Some(settled) = hold.settled_amount {
                assert!(
                    settled <= hold.amount,
                    "seed {seed}: charge {settled} above its hold {}",
                    hold.amount
                );
                checked += 1;
            }
        }
        if b.total_usage > Decimal::ZERO {
            assert!(
                checked > 0,
                "seed {seed}: no settled hold was found to check"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_keeps_the_books_exact_on_sqlite() {
    lifecycle_property(false, &[1, 2, 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_keeps_the_books_exact_on_postgres() {
    lifecycle_property(true, &[4, 5]).await;
}
