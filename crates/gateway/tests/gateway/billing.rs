//! Money through the gateway: holds before sending, exact settlement after,
//! 402 before any upstream call, and the ledger always adding up.

use std::time::Duration;

use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use tollgate_gateway::config::{BillingConfig, HoldsMode};
use tollgate_store::Balance;

use crate::errors::chat_request;
use crate::support::*;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn balance(gw: &TestGateway) -> Balance {
    gw.gateway.sync_books().await;
    gw.gateway.store().balance(&gw.account_id).await.unwrap()
}

#[tokio::test]
async fn an_empty_account_gets_a_402_and_nothing_is_sent_upstream() {
    let gw = start_with(Options {
        credits: None,
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello")).await;
    let error = assert_error(&reply, 402);
    assert_eq!(error["metadata"]["error_type"], "payment_required");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Insufficient credits"),
        "{error}"
    );
    assert_eq!(gw.request_counts(), [0, 0, 0], "no provider was called");
    let mut body = chat_body("mock/echo", "Hello");
    body["stream"] = json!(true);
    let reply = gw.chat(&body).await;
    assert_error(&reply, 402);
    assert_eq!(gw.request_counts(), [0, 0, 0]);
    let b = balance(&gw).await;
    assert_eq!((b.total_usage, b.held), (Decimal::ZERO, Decimal::ZERO));
}

#[tokio::test]
async fn a_generation_is_charged_exactly_what_usage_says() {
    let gw = start().await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200);
    // 3 + 4 + 3 = 10 prompt tokens, 6 completion, at Mock Alpha's prices.
    let expected = dec("0.000010") + dec("0.000012");
    assert_eq!(reply.json()["usage"]["cost"].as_f64(), Some(0.000022));
    let b = balance(&gw).await;
    assert_eq!(b.total_credits, dec("10"));
    assert_eq!(b.total_usage, expected);
    assert_eq!(b.held, Decimal::ZERO, "the hold was settled");
    assert_eq!(b.available, dec("10") - expected);

    // A free model costs nothing; the ledger does not move.
    let reply = gw.chat(&chat_body("mock/echo:free", "Hello, world!")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["usage"]["cost"].as_f64(), Some(0.0));
    assert_eq!(balance(&gw).await.total_usage, expected);
}

#[tokio::test]
async fn a_failed_request_is_not_charged() {
    let gw = start().await;
    for mock in gw.mocks() {
        mock.set_failure(Some(Failure::Status(503)));
    }
    assert_error(&gw.chat(&chat_body("mock/echo", "Hello")).await, 502);
    let b = balance(&gw).await;
    assert_eq!((b.total_usage, b.held), (Decimal::ZERO, Decimal::ZERO));
}

#[tokio::test]
async fn a_key_limit_is_enforced_before_sending() {
    let gw = start().await;
    let (secret, hash) = gw.new_key("limited").await;
    gw.gateway
        .store()
        .set_api_key_limit(&hash, Some(dec("0.00001")), None)
        .await
        .unwrap();
    let request = chat_request(
        Some(&format!("Bearer {secret}")),
        &chat_body("mock/echo", "Hello"),
    );
    let reply = gw.oneshot(request).await;
    let error = assert_error(&reply, 402);
    assert!(
        error["message"].as_str().unwrap().contains("limit"),
        "{error}"
    );
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

#[tokio::test]
async fn concurrent_requests_never_overdraw_and_the_ledger_adds_up() {
    never_overdraw(HoldsMode::Memory).await;
}

#[tokio::test]
async fn concurrent_requests_never_overdraw_with_credit_leases() {
    never_overdraw(HoldsMode::Lease).await;
}

#[tokio::test]
async fn concurrent_requests_never_overdraw_with_holds_in_the_database() {
    never_overdraw(HoldsMode::Database).await;
}

async fn never_overdraw(holds: HoldsMode) {
    // $0.01 covers only a few in-flight holds of ~$0.002 (max_tokens 1000
    // at $2 per million), so many of 40 parallel requests are refused.
    let gw = start_with(Options {
        credits: Some(dec("0.01")),
        billing: BillingConfig {
            holds,
            ..BillingConfig::default()
        },
        ..Options::default()
    })
    .await;
    let mut body = chat_body("mock/echo", "Hello, world!");
    body["max_tokens"] = json!(1000);
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let client = client.clone();
            let url = format!("{}/api/v1/chat/completions", gw.url);
            let key = gw.key.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let v: serde_json::Value = r.json().await.unwrap();
                (status, v)
            })
        })
        .collect();
    let mut ok = 0u32;
    let mut charged = Decimal::ZERO;
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            200 => {
                ok += 1;
                charged += Decimal::try_from(v["usage"]["cost"].as_f64().unwrap()).unwrap();
            }
            402 => assert_eq!(v["error"]["code"], 402),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(ok >= 1, "some requests were served");
    let b = balance(&gw).await;
    assert_eq!(b.held, Decimal::ZERO, "every hold was closed");
    assert_eq!(
        b.total_usage,
        Decimal::from(ok) * dec("0.000022"),
        "each charged exactly its cost"
    );
    assert_eq!(b.total_usage.round_dp(9), charged.round_dp(9));
    assert!(b.available >= Decimal::ZERO, "never overdrawn: {b:?}");
    assert_eq!(b.available, b.total_credits - b.total_usage);
}

#[tokio::test]
async fn a_stream_broken_mid_way_is_not_charged_and_a_cancelled_one_pays_what_it_got() {
    let gw = start().await;
    // The provider fails mid-stream: zero-completion insurance, no charge.
    let mut body = chat_body("mock/echo", "[mock:drop_after=2] one two three four");
    body["stream"] = json!(true);
    let text = gw.chat_http(&body).await.text().await.unwrap();
    assert!(text.contains("\"finish_reason\":\"error\""), "{text}");
    let settled = async {
        for _ in 0..100 {
            let b = balance(&gw).await;
            if b.held == Decimal::ZERO {
                return b;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        balance(&gw).await
    };
    let b = settled.await;
    assert_eq!(
        (b.total_usage, b.held),
        (Decimal::ZERO, Decimal::ZERO),
        "{b:?}"
    );

    // The client walks away from a slow stream after a few chunks: what was
    // produced is billed (more than nothing, less than the whole answer).
    let mut body = chat_body("mock/echo", "[mock:slow] a b c d e f g h i j k l m n o p");
    body["stream"] = json!(true);
    let response = gw.chat_http(&body).await;
    let mut bytes = response.bytes_stream();
    let mut seen = 0;
    while let Some(chunk) = bytes.next().await {
        seen += chunk.unwrap().len();
        if seen > 400 {
            break;
        }
    }
    drop(bytes);
    let mut charged = Decimal::ZERO;
    for _ in 0..250 {
        let b = balance(&gw).await;
        if b.held == Decimal::ZERO && b.total_usage > Decimal::ZERO {
            charged = b.total_usage;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(charged > Decimal::ZERO, "the produced part was billed");
    // The whole answer would be 18 completion tokens: 18 x $2/M.
    assert!(
        charged < dec("0.000036") + dec("0.000100"),
        "not more than the whole: {charged}"
    );
}

async fn generation(gw: &TestGateway, id: &str) -> Option<serde_json::Value> {
    for _ in 0..100 {
        let reply = gw
            .oneshot(
                axum::http::Request::builder()
                    .uri(format!("/api/v1/generation?id={id}"))
                    .header("authorization", format!("Bearer {}", gw.key))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        if reply.status == 200 {
            return Some(reply.json());
        }
        assert_eq!(reply.status, 404, "until recorded: {:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn served_generations_are_recorded_with_their_cost_and_attempts() {
    let gw = start().await;
    gw.alpha.set_failure(Some(Failure::Status(503)));
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200);
    let id = reply.json()["id"].as_str().unwrap().to_string();
    let g = generation(&gw, &id).await.expect("recorded");
    let d = &g["data"];
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["model"], "mock/echo");
    assert_eq!(d["provider_name"], "Mock Beta");
    assert_eq!(d["streamed"], false);
    assert_eq!(d["tokens_prompt"], 10);
    assert_eq!(d["tokens_completion"], 6);
    // Mock Beta: 10 x $2/M + 6 x $4/M.
    assert_eq!(d["total_cost"].as_f64(), Some(0.000044), "{d}");
    assert_eq!(d["finish_reason"], "stop");
    assert_eq!(
        d["attempts"],
        json!([{"provider": "mock-alpha", "outcome": "503"}, {"provider": "mock-beta", "outcome": "ok"}])
    );

    let mut body = chat_body("mock/echo", "Hello, world!");
    body["stream"] = json!(true);
    let response = gw.chat_http(&body).await;
    let id = response.headers()["x-generation-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.text().await.unwrap();
    let g = generation(&gw, &id)
        .await
        .expect("a stream is recorded when it ends");
    assert_eq!(g["data"]["streamed"], true);
    assert_eq!(g["data"]["cancelled"], false);
    assert_eq!(g["data"]["total_cost"].as_f64(), Some(0.000044));
}

#[tokio::test]
async fn a_users_own_provider_key_is_used_and_billed_only_the_byok_fee() {
    const SECRET: &str = "billing byok test secret, more than 32 characters";
    let gw = start_with(Options {
        byok_secret: Some(SECRET),
        ..Options::default()
    })
    .await;
    let cipher = tollgate_store::ByokCipher::from_secret(SECRET).unwrap();
    let sealed = cipher
        .encrypt(&gw.account_id, "mock-alpha", "sk-users-own-alpha-key")
        .unwrap();
    gw.gateway
        .store()
        .put_byok_key(&gw.account_id, "mock-alpha", &sealed, "-key", false)
        .await
        .unwrap();

    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let sent = gw.alpha.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-users-own-alpha-key")
    );
    let usage = &reply.json()["usage"];
    assert_eq!(usage["is_byok"], true, "{usage}");
    // The first million BYOK requests of the month carry no fee.
    assert_eq!(usage["cost"].as_f64(), Some(0.0), "{usage}");
    let b = balance(&gw).await;
    assert_eq!((b.total_usage, b.held), (Decimal::ZERO, Decimal::ZERO));
    let id = reply.json()["id"].as_str().unwrap().to_string();
    let g = generation(&gw, &id).await.expect("recorded");
    assert_eq!(g["data"]["is_byok"], true);
    // What the user's key paid upstream: 10 x $1/M + 6 x $2/M.
    assert_eq!(
        g["data"]["upstream_inference_cost"].as_f64(),
        Some(0.000022),
        "{g}"
    );

    // Other providers still use the shared key (none is configured here).
    let reply = gw
        .chat(&json!({"model": "mock/echo", "provider": {"order": ["mock-beta"]}, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(reply.json()["usage"]["is_byok"], false);
    assert_eq!(
        gw.beta.last_request().unwrap().header("authorization"),
        None
    );
}

#[tokio::test]
async fn durable_replies_are_answered_only_once_their_settlement_is_written() {
    let gw = start_with(Options {
        billing: BillingConfig {
            durable_replies: true,
            ..BillingConfig::default()
        },
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&chat_body("mock/echo", "Hello, world!")).await;
    assert_eq!(reply.status, 200);
    // Read from the store directly, without syncing the books first: the
    // settlement is already there.
    let b = gw.gateway.store().balance(&gw.account_id).await.unwrap();
    assert_eq!(b.total_usage, dec("0.000010") + dec("0.000012"));
    assert_eq!(b.held, Decimal::ZERO);
}

#[tokio::test]
async fn money_changed_behind_the_gateway_counts_after_a_sync() {
    let gw = start_with(Options {
        credits: None,
        ..Options::default()
    })
    .await;
    assert_error(&gw.chat(&chat_body("mock/echo", "Hello")).await, 402);
    // Credits written to the database directly, not through the API: the
    // books loaded "empty" a moment ago and reload after a sync (or within
    // `MAX_AGE` on their own).
    gw.gateway
        .store()
        .top_up(&gw.account_id, dec("1"), None)
        .await
        .unwrap();
    gw.gateway.sync_books().await;
    assert_eq!(gw.chat(&chat_body("mock/echo", "Hello")).await.status, 200);
    // Taken away behind its back again: after `MAX_AGE` the books reload
    // without being told.
    gw.gateway
        .store()
        .adjust(&gw.account_id, dec("-1"), "test")
        .await
        .unwrap();
    tokio::time::sleep(tollgate_gateway::BOOKS_MAX_AGE).await;
    assert_error(&gw.chat(&chat_body("mock/echo", "Hello")).await, 402);
}
