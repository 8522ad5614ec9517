//! Provider routing end to end (api-reference "Provider Routing" and
//! "Model Routing"): the default price-weighted split, preferences,
//! outages and recovery, model fallbacks and variants.

use std::time::Duration;

use serde_json::{Value, json};
use tollgate_routing::Policy;

use crate::support::*;

fn body_with(model: &str, text: &str, extra: Value) -> Value {
    let mut body = chat_body(model, text);
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn the_default_split_follows_inverse_price() {
    // The seed's example: $1 / $2 / $3 endpoints are chosen first with
    // probability 6/11, 3/11 and 2/11 (weight = 1 / price).
    let gw = start_with(Options {
        routing: Policy::default(),
        ..Options::default()
    })
    .await;
    let n = 440;
    for _ in 0..n {
        assert_eq!(gw.chat(&chat_body("mock/echo", "hi")).await.status, 200);
    }
    let counts = gw.request_counts();
    assert_eq!(
        counts.iter().sum::<usize>(),
        n,
        "one attempt each: {counts:?}"
    );
    for (count, expected) in counts.iter().zip([6.0 / 11.0, 3.0 / 11.0, 2.0 / 11.0]) {
        let share = *count as f64 / n as f64;
        // 4.5 standard deviations of a binomial share at this n.
        let tolerance = 4.5 * (expected * (1.0 - expected) / n as f64).sqrt();
        assert!(
            (share - expected).abs() < tolerance,
            "{counts:?}: {share} vs {expected}"
        );
    }
}

#[tokio::test]
async fn order_tries_the_named_providers_first_and_allow_fallbacks_false_stops_there() {
    let gw = start().await;
    gw.gamma.set_failure(Some(Failure::Status(503)));
    let reply = gw
        .chat(&body_with(
            "mock/echo",
            "hi",
            json!({"provider": {"order": ["mock-gamma", "Mock Beta"]}}),
        ))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-gamma=503,mock-beta=ok")
    );

    let reply = gw
        .chat(&body_with(
            "mock/echo",
            "hi",
            json!({"provider": {"order": ["mock-gamma"], "allow_fallbacks": false}}),
        ))
        .await;
    assert_error(&reply, 502);
    assert_eq!(gw.request_counts(), [0, 1, 2], "alpha was never called");
}

#[tokio::test]
async fn a_failing_provider_is_skipped_during_its_outage_and_recovers_after_the_window() {
    let routing = Policy {
        outage_window_secs: 1,
        ..Options::default().routing
    };
    let gw = start_with(Options {
        routing,
        ..Options::default()
    })
    .await;
    gw.alpha.set_failure(Some(Failure::Status(503)));
    let reply = gw.chat(&chat_body("mock/echo", "hi")).await;
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-alpha=503,mock-beta=ok")
    );
    // The 503 came with `retry-after: 1`: Alpha is out while it runs (as a
    // significant outage would put it), so it is tried last and Beta
    // answers without Alpha being asked.
    let before = gw.alpha.request_count();
    let reply = gw.chat(&chat_body("mock/echo", "hi")).await;
    assert_eq!(reply.header("x-tollgate-attempts"), Some("mock-beta=ok"));
    assert_eq!(gw.alpha.request_count(), before);
    let v = gw.get("/api/v1/models/mock/echo/endpoints").await.json();
    let alpha = &v["data"]["endpoints"].as_array().unwrap()[0];
    assert_eq!(alpha["tag"], "mock-alpha");
    assert!(
        alpha["status"].as_i64().unwrap() < 0,
        "alpha shows its outage: {alpha}"
    );

    // Once the failures leave the window, Alpha is first again.
    gw.alpha.set_failure(None);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reply = gw.chat(&chat_body("mock/echo", "hi")).await;
    assert_eq!(reply.header("x-tollgate-attempts"), Some("mock-alpha=ok"));
}

#[tokio::test]
async fn model_fallbacks_answer_with_the_model_that_served() {
    let gw = start().await;
    gw.beta.set_failure(Some(Failure::Status(503)));
    // mock/no-tools lives only on Mock Beta, which is down.
    let body = json!({
        "models": ["mock/no-tools", "mock/echo"],
        "route": "fallback",
        "messages": [{"role": "user", "content": "hi"}]
    });
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["model"], "mock/echo");
    assert_eq!(
        reply.header("x-tollgate-attempts"),
        Some("mock-beta=503,mock-alpha=ok")
    );

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = gw.chat_http(&streamed).await.text().await.unwrap();
    for chunk in chunks(&parse_sse(&text)) {
        assert_eq!(chunk["model"], "mock/echo", "{chunk}");
    }
}

#[tokio::test]
async fn data_collection_deny_and_require_parameters_filter_endpoints() {
    let gw = start().await;
    // Mock Alpha's policy allows data collection: left out.
    let reply = gw
        .chat(&body_with(
            "mock/echo",
            "hi",
            json!({"provider": {"data_collection": "deny"}}),
        ))
        .await;
    assert_eq!(reply.header("x-tollgate-provider"), Some("mock-beta"));

    // Only Mock Alpha lists structured outputs: with require_parameters, a
    // json_schema request goes nowhere else, even when Alpha is down.
    gw.alpha.set_failure(Some(Failure::Status(503)));
    let schema =
        json!({"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}});
    let reply = gw
        .chat(&body_with(
            "mock/echo",
            "hi",
            json!({"response_format": schema, "provider": {"require_parameters": true}}),
        ))
        .await;
    assert_error(&reply, 502);
    assert_eq!(
        gw.request_counts()[1..],
        [1, 0],
        "only the earlier deny request reached Beta"
    );
    // Without require_parameters the others serve it (the parameter is
    // dropped where unsupported).
    let reply = gw
        .chat(&body_with(
            "mock/echo",
            "hi",
            json!({"response_format": schema}),
        ))
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn no_endpoint_errors_say_why_each_was_excluded() {
    let gw = start().await;
    let reply = gw
        .chat(&body_with(
            "mock/echo",
            "hi",
            json!({"provider": {"only": ["nobody"]}}),
        ))
        .await;
    // api-reference.txt: 503, no provider meets the routing requirements.
    let error = assert_error(&reply, 503);
    let message = error["message"].as_str().unwrap();
    for provider in ["mock-alpha", "mock-beta", "mock-gamma"] {
        assert!(message.contains(provider), "{message}");
    }
    assert_eq!(gw.request_counts(), [0, 0, 0]);
    // A prompt that fits no context, with middle-out off: a 400.
    let big = "word ".repeat(6000);
    let reply = gw
        .chat(&body_with(
            "mock/small-context",
            &big,
            json!({"transforms": [], "max_tokens": 100}),
        ))
        .await;
    let error = assert_error(&reply, 400);
    assert!(
        error["message"].as_str().unwrap().contains("context"),
        "{error}"
    );
}

#[tokio::test]
async fn variants_route_as_documented() {
    let gw = start_with(Options {
        routing: Policy::default(),
        ..Options::default()
    })
    .await;
    // :floor sorts by price: always the cheapest first.
    for _ in 0..20 {
        let reply = gw.chat(&chat_body("mock/echo:floor", "hi")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-tollgate-provider"), Some("mock-alpha"));
        assert_eq!(reply.json()["model"], "mock/echo:floor");
    }
    // :free is the listed free model.
    let reply = gw.chat(&chat_body("mock/echo:free", "hi")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        gw.alpha.last_request().unwrap().body["model"],
        "mock/echo-free"
    );
    // An unknown variant is a 400 naming it; an unlisted :thinking too.
    let error = assert_error(&gw.chat(&chat_body("mock/echo:turbo", "hi")).await, 400);
    assert!(
        error["message"].as_str().unwrap().contains("turbo"),
        "{error}"
    );
    let error = assert_error(&gw.chat(&chat_body("mock/echo:thinking", "hi")).await, 400);
    assert!(
        error["message"].as_str().unwrap().contains("thinking"),
        "{error}"
    );
}

#[tokio::test]
async fn the_providers_list_shows_policies() {
    let gw = start().await;
    let v = gw.get("/api/v1/providers").await.json();
    let slugs: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        [
            "mock-alpha",
            "mock-anthropic",
            "mock-beta",
            "mock-gamma",
            "mock-gemini"
        ]
    );
    let gamma = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "mock-gamma")
        .unwrap();
    assert_eq!(gamma["data_collection"], "deny");
    assert_eq!(gamma["zdr"], true);
}

#[tokio::test]
async fn failover_stops_once_the_time_budget_is_spent() {
    // A zero budget: the first endpoint is always tried, no other.
    let gw = start_with(Options {
        failover_budget_secs: 0.0,
        ..Options::default()
    })
    .await;
    gw.alpha.set_failure(Some(Failure::Status(503)));
    let reply = gw.chat(&chat_body("mock/echo", "hi")).await;
    assert_error(&reply, 502);
    assert_eq!(reply.header("x-tollgate-attempts"), Some("mock-alpha=503"));
    assert_eq!(gw.request_counts(), [1, 0, 0]);
}

#[tokio::test]
async fn the_other_variants_are_served_or_refused_as_documented() {
    let gw = start_with(Options {
        routing: Policy::default(),
        ..Options::default()
    })
    .await;
    // :nitro (sort by throughput) and :exacto (tool-calling quality
    // first) resolve to mock/echo's endpoints and answer under the model id
    // the client used (:online too, with a search backend: search.rs).
    for variant in ["nitro", "exacto"] {
        let model = format!("mock/echo:{variant}");
        let reply = gw.chat(&chat_body(&model, "hi")).await;
        assert_eq!(reply.status, 200, "{model}: {:?}", reply.body);
        assert_eq!(reply.json()["model"], model.as_str());
        let provider = reply.header("x-tollgate-provider").unwrap().to_string();
        assert!(
            ["mock-alpha", "mock-beta", "mock-gamma"].contains(&provider.as_str()),
            "{model}: {provider}"
        );
    }
    // :extended is only served when the catalog lists that exact model.
    let error = assert_error(&gw.chat(&chat_body("mock/echo:extended", "hi")).await, 400);
    assert!(
        error["message"].as_str().unwrap().contains("extended"),
        "{error}"
    );
}
