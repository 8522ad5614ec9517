//! Throughput and latency measured per endpoint (issue 20, "Routing"):
//! reported in the endpoints listing (`throughput_last_30m`,
//! `latency_last_30m`: `p50`, `p75`, `p90`, `p99`, OpenAPI
//! `PublicEndpoint`), and what `:nitro`, `provider.sort: "throughput"`,
//! `preferred_min_throughput` and `preferred_max_latency` do with them.
//!
//! Mock Alpha (the cheapest, so the default pick of the pinned test policy)
//! streams at 20 tokens per second; Mock Beta at 400 and Mock Gamma at 100
//! (ratios wide enough to hold on a loaded machine).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};

use crate::support::*;

/// One user message whose echo is 12 tokens (`echo`, `:` and 10 words).
const TEN_WORDS: &str = "one two three four five six seven eight nine ten";

fn paced(tokens_per_second: f64) -> MockConfig {
    MockConfig {
        tokens_per_second: Some(tokens_per_second),
        ..MockConfig::default()
    }
}

async fn paced_gateway(alpha: MockConfig) -> TestGateway {
    start_with(Options {
        mocks: [alpha, paced(400.0), paced(100.0)],
        ..Options::default()
    })
    .await
}

fn with(model: &str, extra: Value) -> Value {
    let mut body = chat_body(model, TEN_WORDS);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// A stream served by `provider` only, read to its end.
async fn stream_from(gw: &TestGateway, provider: &str) {
    let body = streamed(with("mock/echo", json!({"provider": {"only": [provider]}})));
    let response = gw.chat_http(&body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
}

/// The `mock/echo` endpoints listing, by provider tag.
async fn listing(gw: &TestGateway) -> Vec<(String, Value)> {
    let reply = gw.get("/api/v1/models/mock/echo/endpoints").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["data"]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["tag"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn endpoint<'a>(listing: &'a [(String, Value)], tag: &str) -> &'a Value {
    &listing.iter().find(|(t, _)| t == tag).unwrap().1
}

fn p(e: &Value, field: &str, at: &str) -> f64 {
    e[field][at]
        .as_f64()
        .unwrap_or_else(|| panic!("{field}.{at} is a number: {e}"))
}

/// The provider that answered, from `x-tollgate-attempts` (which must show
/// a single successful attempt).
async fn answered_by(gw: &TestGateway, body: &Value) -> String {
    let reply = gw.chat(body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let attempts = reply.header("x-tollgate-attempts").unwrap().to_owned();
    attempts
        .strip_suffix("=ok")
        .filter(|p| !p.contains(','))
        .unwrap_or_else(|| panic!("one attempt: {attempts}"))
        .to_owned()
}

#[tokio::test]
async fn streams_are_measured_and_nitro_and_sort_throughput_pick_the_fast_endpoint() {
    let gw = paced_gateway(paced(20.0)).await;
    // Unmeasured, the throughput fields are null, and the cheapest (slow)
    // endpoint answers the variants as well as plain requests.
    for (_, e) in listing(&gw).await {
        assert_eq!(e["throughput_last_30m"], Value::Null, "{e}");
        assert_eq!(e["latency_last_30m"], Value::Null, "{e}");
    }
    assert_eq!(
        answered_by(&gw, &with("mock/echo:nitro", json!({}))).await,
        "mock-alpha"
    );

    for provider in ["mock-alpha", "mock-beta", "mock-gamma"] {
        stream_from(&gw, provider).await;
    }
    let listed = listing(&gw).await;
    let (alpha, beta, gamma) = (
        endpoint(&listed, "mock-alpha"),
        endpoint(&listed, "mock-beta"),
        endpoint(&listed, "mock-gamma"),
    );
    // 12 tokens at 20 per second: about 20 tokens per second after the
    // first, whatever the scheduling noise.
    // (Two samples: the non-streamed `:nitro` answer above counted too.)
    let slow = p(alpha, "throughput_last_30m", "p50");
    assert!((10.0..=30.0).contains(&slow), "alpha: {alpha}");
    // Throughput percentiles name the slow tail: p50 >= p75 >= p90 >= p99.
    let tail: Vec<f64> = ["p50", "p75", "p90", "p99"]
        .iter()
        .map(|at| p(alpha, "throughput_last_30m", at))
        .collect();
    assert!(tail.windows(2).all(|w| w[0] >= w[1]), "{alpha}");
    assert!(tail[3] >= 10.0, "{alpha}");
    let fast = p(beta, "throughput_last_30m", "p50");
    let middle = p(gamma, "throughput_last_30m", "p50");
    assert!(
        fast > middle && middle > 2.0 * slow,
        "{fast} > {middle} > {slow}"
    );
    // Latency (time to first token, milliseconds) is measured too.
    for e in [alpha, beta, gamma] {
        let latency = p(e, "latency_last_30m", "p50");
        assert!((0.0..5_000.0).contains(&latency), "{e}");
    }

    // `:nitro` and `sort: "throughput"` now pick the fastest; a plain
    // request still the cheapest.
    assert_eq!(
        answered_by(&gw, &with("mock/echo:nitro", json!({}))).await,
        "mock-beta"
    );
    assert_eq!(
        answered_by(
            &gw,
            &with("mock/echo", json!({"provider": {"sort": "throughput"}}))
        )
        .await,
        "mock-beta"
    );
    assert_eq!(
        answered_by(
            &gw,
            &with(
                "mock/echo",
                json!({"provider": {"sort": {"by": "throughput"}}})
            )
        )
        .await,
        "mock-beta"
    );
    assert_eq!(
        answered_by(&gw, &with("mock/echo", json!({}))).await,
        "mock-alpha"
    );
}

#[tokio::test]
async fn non_streamed_answers_are_measured_too() {
    let gw = paced_gateway(paced(20.0)).await;
    for provider in ["mock-alpha", "mock-beta"] {
        let body = with("mock/echo", json!({"provider": {"only": [provider]}}));
        assert_eq!(gw.chat(&body).await.status, 200);
    }
    let listed = listing(&gw).await;
    // A non-streamed answer is timed from the upstream call to its end:
    // 12 tokens in about 0.55 s.
    let slow = p(
        endpoint(&listed, "mock-alpha"),
        "throughput_last_30m",
        "p50",
    );
    assert!((10.0..=30.0).contains(&slow), "{listed:?}");
    let fast = p(endpoint(&listed, "mock-beta"), "throughput_last_30m", "p50");
    assert!(fast > 2.0 * slow, "beta {fast} vs alpha {slow}");
    assert_eq!(
        endpoint(&listed, "mock-gamma")["throughput_last_30m"],
        Value::Null
    );
}

#[tokio::test]
async fn preferred_min_throughput_deprioritises_slow_endpoints_without_excluding_them() {
    let gw = paced_gateway(paced(20.0)).await;
    for provider in ["mock-alpha", "mock-beta", "mock-gamma"] {
        stream_from(&gw, provider).await;
    }
    // A number is the p50 floor; an object sets percentile floors
    // (throughput percentiles name the slow tail, so p90 <= p50).
    for floor in [
        json!(60),
        json!({"p50": 60}),
        json!({"p90": 60, "p99": null}),
    ] {
        let body = with(
            "mock/echo",
            json!({"provider": {"preferred_min_throughput": floor}}),
        );
        // Beta and Gamma meet it, and Beta is the cheaper of the two.
        assert_eq!(answered_by(&gw, &body).await, "mock-beta", "{floor}");
    }
    // Deprioritised, not excluded: with the fast ones down, Alpha answers.
    gw.beta.set_failure(Some(Failure::Status(503)));
    gw.gamma.set_failure(Some(Failure::Status(503)));
    let body = with(
        "mock/echo",
        json!({"provider": {"preferred_min_throughput": 60}}),
    );
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-beta=503,mock-gamma=503,mock-alpha=ok")
    );
}

#[tokio::test]
async fn preferred_max_latency_takes_seconds_and_percentile_objects() {
    // Alpha waits 400 ms before its first token.
    let gw = paced_gateway(MockConfig {
        ttft: Duration::from_millis(400),
        ..paced(400.0)
    })
    .await;
    for provider in ["mock-alpha", "mock-beta", "mock-gamma"] {
        stream_from(&gw, provider).await;
    }
    let listed = listing(&gw).await;
    let alpha_latency = p(endpoint(&listed, "mock-alpha"), "latency_last_30m", "p50");
    assert!(alpha_latency >= 400.0, "milliseconds: {listed:?}");
    for cutoff in [
        json!(0.3),
        json!({"p50": 0.3}),
        json!({"p99": 0.3, "p75": null}),
    ] {
        let body = with(
            "mock/echo",
            json!({"provider": {"preferred_max_latency": cutoff}}),
        );
        assert_eq!(answered_by(&gw, &body).await, "mock-beta", "{cutoff}");
    }
    // A cutoff every endpoint meets changes nothing.
    let body = with(
        "mock/echo",
        json!({"provider": {"preferred_max_latency": {"p50": 60}}}),
    );
    assert_eq!(answered_by(&gw, &body).await, "mock-alpha");
}

#[tokio::test]
async fn malformed_preferences_are_a_400_naming_the_field() {
    let gw = start().await;
    for (preference, value) in [
        ("preferred_max_latency", json!("fast")),
        ("preferred_max_latency", json!({"p95": 1})),
        ("preferred_min_throughput", json!({"p50": "100"})),
        ("preferred_min_throughput", json!(-1)),
    ] {
        let body = with("mock/echo", json!({"provider": {preference: value}}));
        let reply = gw.chat(&body).await;
        let error = assert_error(&reply, 400);
        assert_eq!(
            error["metadata"]["field"],
            format!("provider.{preference}"),
            "{error}"
        );
    }
    assert_eq!(gw.request_counts(), [0, 0, 0]);
}

/// `GET path` with the test key, through the router.
async fn get_with_key(gw: &TestGateway, path: &str) -> Reply {
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
        .body(Body::empty())
        .unwrap();
    gw.oneshot(request).await
}

#[tokio::test]
async fn routers_answer_with_the_model_they_chose_and_generation_names_the_router() {
    // `router` is stored with the generation: SQLite and PostgreSQL.
    for postgres in [false, true] {
        routers_name_the_chosen_model(postgres).await;
    }
}

async fn routers_name_the_chosen_model(postgres: bool) {
    let gw = start_with(Options {
        postgres,
        ..Options::default()
    })
    .await;
    for (router, chosen) in [
        // The cheapest paid text model of the demo catalog.
        ("openrouter/auto", "mock/no-tools"),
        // Its only free model.
        ("openrouter/free", "mock/echo:free"),
    ] {
        let reply = gw.chat(&chat_body(router, "hi")).await;
        assert_eq!(reply.status, 200, "{router}: {:?}", reply.body);
        assert_eq!(reply.json()["model"], chosen, "{router}");
        let id = reply.header("x-generation-id").unwrap().to_owned();
        gw.gateway.sync_books().await;
        let generation = get_with_key(&gw, &format!("/api/v1/generation?id={id}")).await;
        assert_eq!(generation.status, 200, "{:?}", generation.body);
        let data = &generation.json()["data"];
        assert_eq!(data["model"], chosen, "{data}");
        assert_eq!(data["router"], router, "{data}");

        // Streamed: every chunk names the chosen model.
        let response = gw.chat_http(&streamed(chat_body(router, "hi"))).await;
        assert_eq!(response.status(), 200);
        let events = parse_sse(&response.text().await.unwrap());
        let chunks: Vec<&Value> = events
            .iter()
            .filter_map(|e| match e {
                Event::Chunk(c) => Some(c),
                _ => None,
            })
            .collect();
        assert!(!chunks.is_empty());
        for c in chunks {
            assert_eq!(c["model"], chosen, "{c}");
        }
    }
    // A plain model has no router.
    let reply = gw.chat(&chat_body("mock/echo", "hi")).await;
    let id = reply.header("x-generation-id").unwrap().to_owned();
    gw.gateway.sync_books().await;
    let generation = get_with_key(&gw, &format!("/api/v1/generation?id={id}")).await;
    assert_eq!(generation.json()["data"]["router"], Value::Null);
    assert_eq!(generation.json()["data"]["model"], "mock/echo");
}

#[tokio::test]
async fn route_takes_the_documented_values_and_sort_sorts_across_models() {
    let gw = start_with(Options {
        routing: tollgate_routing::Policy::default(),
        ..Options::default()
    })
    .await;
    // `models`: mock/reasoner (only at Mock Gamma, $3) then mock/echo
    // (Mock Alpha $1, Beta $2, Gamma $3). "fallback" keeps the models in
    // order; "sort" (partition "none") sorts every endpoint by price.
    let body = |route: Value| {
        json!({
            "models": ["mock/reasoner", "mock/echo"],
            "messages": [{"role": "user", "content": "hi"}],
            "route": route,
        })
    };
    for route in [json!("fallback"), Value::Null] {
        let reply = gw.chat(&body(route.clone())).await;
        assert_eq!(reply.status, 200, "{route}: {:?}", reply.body);
        assert_eq!(reply.json()["model"], "mock/reasoner", "{route}");
    }
    for _ in 0..5 {
        let reply = gw.chat(&body(json!("sort"))).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.json()["model"], "mock/echo");
        assert_eq!(reply.header("x-tollgate-attempts"), Some("mock-alpha=ok"));
    }
    let reply = gw.chat(&body(json!("fastest"))).await;
    let error = assert_error(&reply, 400);
    assert_eq!(error["metadata"]["field"], "route", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("fallback, sort"),
        "{error}"
    );
}
