//! What the balance decides besides the hold (issue 20, "Limits and
//! balances"): the credit-based request rate ("1 request per credit per
//! second up to the surge limit", api-reference.txt "Limits") and small
//! balances buying a shorter answer instead of a 402.

use futures::future::join_all;
use rust_decimal::Decimal;

use crate::support::*;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A $1 account may send 1 request a second to a paid model: of 20 sent at
/// once, one passes (two if the burst straddles a second) and the rest get
/// the limiter's 429, with its headers and error shape, reaching no
/// provider.
#[tokio::test]
async fn a_one_dollar_account_gets_one_request_a_second() {
    let gw = start_with(Options {
        credits: Some(dec("1")),
        credit_rate: 1,
        surge_per_second: 200,
        ..Options::default()
    })
    .await;
    let body = json!({
        "model": "mock/echo",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
    });
    let replies = join_all((0..20).map(|_| gw.chat(&body))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let limited: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!((1..=2).contains(&ok), "{ok} passed");
    assert_eq!(ok + limited.len(), 20, "only 200s and 429s");
    let sent: usize = gw.request_counts().iter().sum();
    assert_eq!(sent, ok, "refused requests reach no provider");

    let r = limited[0];
    let error = assert_error(r, 429);
    assert_eq!(r.header("x-ratelimit-limit"), Some("1"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(retry, 1);
    let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert_eq!(reset % 1000, 0, "the second's end, in Unix milliseconds");
    assert_eq!(error["metadata"]["error_type"], "rate_limit_exceeded");
    assert_eq!(error["metadata"]["headers"]["X-RateLimit-Limit"], "1");
    assert!(
        error["message"].as_str().unwrap().contains("credits"),
        "{error}"
    );
}

/// $5 → 5 a second; free models are not rated by credits.
#[tokio::test]
async fn the_rate_grows_with_the_credits_and_spares_free_models() {
    let gw = start_with(Options {
        credits: Some(dec("5")),
        credit_rate: 1,
        surge_per_second: 200,
        ..Options::default()
    })
    .await;
    let body = json!({
        "model": "mock/echo",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
    });
    let replies = join_all((0..30).map(|_| gw.chat(&body))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert!((5..=10).contains(&ok), "{ok} passed");
    assert!(
        replies
            .iter()
            .filter(|r| r.status == 429)
            .all(|r| r.header("x-ratelimit-limit") == Some("5"))
    );

    let free = chat_body("mock/echo:free", "hi");
    let replies = join_all((0..15).map(|_| gw.chat(&free))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "free models keep their own limits (20 a minute): {statuses:?}"
    );
}

/// The most output tokens `budget` buys on `mock/echo` for a prompt of at
/// most `prompt` tokens: its dearest endpoint (Mock Gamma) holds every
/// prompt token at its cache-write price, $3.75/M, and every output token
/// at $6/M (fixtures/providers/mock-gamma.json).
fn affordable_on_echo(budget: &str, prompt: u64) -> u64 {
    let left = dec(budget) - Decimal::from(prompt) * dec("0.00000375");
    (left / dec("0.000006")).floor().try_into().unwrap()
}

/// A $0.05 account calling `mock/echo` without `max_tokens` would need a
/// hold for 16,384 output tokens ($0.098); instead it is sent with the
/// largest `max_tokens` $0.05 covers, says so in
/// `X-Tollgate-Max-Tokens-Capped`, and answers 200.
#[tokio::test]
async fn a_small_balance_caps_max_tokens_instead_of_refusing() {
    let gw = start_with(Options {
        credits: Some(dec("0.05")),
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let cap: u64 = reply
        .header("x-tollgate-max-tokens-capped")
        .expect("the cap is announced")
        .parse()
        .unwrap();
    // The prompt bound of one short message is well under 100 tokens.
    assert!(cap <= affordable_on_echo("0.05", 0), "{cap}");
    assert!(cap >= affordable_on_echo("0.05", 100), "{cap}");
    let sent = gw.alpha.last_request().unwrap().body;
    let sent_cap = sent["max_completion_tokens"]
        .as_u64()
        .or(sent["max_tokens"].as_u64());
    assert_eq!(sent_cap, Some(cap), "the upstream gets the cap: {sent}");
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "echo: Hello, world!"
    );

    // Streams too.
    let resp = gw
        .chat_http(&streamed(chat_body("mock/echo", "Hello again")))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-tollgate-max-tokens-capped"));
    let _ = resp.text().await.unwrap();

    // A balance that covers the whole bound is not capped.
    let rich = start().await;
    let reply = rich.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-tollgate-max-tokens-capped"), None);
}

/// With `max_tokens` given and unaffordable, the 402 names the largest
/// affordable value, and that value then passes.
#[tokio::test]
async fn an_unaffordable_max_tokens_gets_a_402_naming_the_largest_affordable() {
    let gw = start_with(Options {
        credits: Some(dec("0.05")),
        ..Options::default()
    })
    .await;
    let mut body = chat_body("mock/echo", "Hello, world!");
    body["max_tokens"] = json!(16_000);
    let reply = gw.chat(&body).await;
    let error = assert_error(&reply, 402);
    let message = error["message"].as_str().unwrap();
    let prefix = "You requested up to 16000 tokens, but can only afford ";
    let at = message.find(prefix).unwrap_or_else(|| panic!("{message}"));
    let affordable: u64 = message[at + prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(affordable <= affordable_on_echo("0.05", 0), "{message}");
    assert!(affordable >= affordable_on_echo("0.05", 100), "{message}");
    assert_eq!(gw.request_counts(), [0, 0, 0], "nothing sent upstream");

    body["max_tokens"] = json!(affordable);
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("x-tollgate-max-tokens-capped"), None);
    body["max_tokens"] = json!(affordable + 1);
    assert_error(&gw.chat(&body).await, 402);
}

/// A balance that cannot cover even the prompt is still a 402.
#[tokio::test]
async fn a_balance_below_the_prompt_is_still_refused() {
    let gw = start_with(Options {
        credits: Some(dec("0.000001")),
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    let error = assert_error(&reply, 402);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Insufficient credits"),
        "{error}"
    );
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

/// The same on PostgreSQL, where holds are taken from per-key credit
/// leases: the lease's refusal says what is left, and that buys the cap.
#[tokio::test]
async fn a_small_balance_is_capped_on_postgres_too() {
    let gw = start_with(Options {
        credits: Some(dec("0.05")),
        postgres: true,
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let cap: u64 = reply
        .header("x-tollgate-max-tokens-capped")
        .expect("the cap is announced")
        .parse()
        .unwrap();
    assert!(cap <= affordable_on_echo("0.05", 0), "{cap}");
    assert!(cap >= affordable_on_echo("0.05", 100), "{cap}");

    let mut body = chat_body("mock/echo", "Hello, world!");
    body["max_tokens"] = json!(16_000);
    let error = assert_error(&gw.chat(&body).await, 402);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("You requested up to 16000 tokens, but can only afford "),
        "{error}"
    );
}
