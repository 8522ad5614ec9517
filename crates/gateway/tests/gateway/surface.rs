//! Smaller pieces of the OpenRouter surface: `usage.cost_details`, the
//! `context-compression` plugin.

use rust_decimal::Decimal;

use crate::support::*;

fn decimal(v: &Value) -> Decimal {
    // Numbers as the JSON writes them, read back exactly.
    v.to_string()
        .parse()
        .unwrap_or_else(|e| panic!("{v} is not a decimal: {e}"))
}

/// Mock Alpha's `mock/echo` prices, USD per token (fixtures/providers/mock-alpha.json).
fn alpha_prices() -> (Decimal, Decimal) {
    (Decimal::new(1, 6), Decimal::new(2, 6))
}

fn assert_cost_details(usage: &Value) {
    let (prompt_price, completion_price) = alpha_prices();
    let prompt = Decimal::from(usage["prompt_tokens"].as_u64().unwrap());
    let completion = Decimal::from(usage["completion_tokens"].as_u64().unwrap());
    let details = &usage["cost_details"];
    assert!(details.is_object(), "cost_details in {usage}");
    assert_eq!(
        decimal(&details["upstream_inference_prompt_cost"]),
        prompt * prompt_price,
        "{usage}"
    );
    assert_eq!(
        decimal(&details["upstream_inference_completions_cost"]),
        completion * completion_price,
        "{usage}"
    );
    // Not a BYOK request: the upstream cost is `cost` itself, null here.
    assert_eq!(details["upstream_inference_cost"], Value::Null, "{usage}");
    assert_eq!(
        decimal(&usage["cost"]),
        prompt * prompt_price + completion * completion_price
    );
}

#[tokio::test]
async fn usage_has_cost_details_by_side() {
    let gw = start().await;
    let reply = gw.chat(&chat_body("mock/echo", "how much is this")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("x-tollgate-provider"), Some("mock-alpha"));
    assert_cost_details(&reply.json()["usage"]);

    let response = gw
        .chat_http(&streamed(chat_body("mock/echo", "and streamed")))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let usage = chunks(&parse_sse(&text))
        .into_iter()
        .find_map(|c| c.get("usage").filter(|u| !u.is_null()).cloned())
        .expect("a chunk carries usage");
    assert_cost_details(&usage);
}

/// A conversation of about 7,000 tokens, past mock/small-context's 4096.
fn oversize(extra: Value) -> Value {
    let mut messages = Vec::new();
    for i in 0..12 {
        let filler = format!("turn {i}: ") + &"lorem ipsum dolor sit amet ".repeat(60);
        messages.push(json!({"role": "user", "content": filler.clone()}));
        messages.push(json!({"role": "assistant", "content": filler}));
    }
    messages.push(json!({"role": "user", "content": "and now?"}));
    let mut body = json!({"model": "mock/small-context", "messages": messages});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn the_context_compression_plugin_turns_middle_out_on_and_off() {
    let gw = start().await;
    // `enabled: false`: no compression, so the prompt does not fit (400).
    let off = json!({"plugins": [{"id": "context-compression", "enabled": false}]});
    let reply = gw.chat(&oversize(off)).await;
    let error = assert_error(&reply, 400);
    assert!(
        error["message"].as_str().unwrap().contains("4096"),
        "{error}"
    );
    assert_eq!(gw.alpha.request_count(), 0, "nothing was sent upstream");

    // The plugin replaces `transforms`: enabled, it compresses even with
    // `transforms: []`.
    let on = json!({
        "plugins": [{"id": "context-compression", "enabled": true, "engine": "middle-out"}],
        "transforms": [],
    });
    let reply = gw.chat(&oversize(on)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(reply.header("x-tollgate-middle-out").is_some());

    // Without the plugin, the default (on) is unchanged.
    let reply = gw.chat(&oversize(json!({}))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn a_request_without_a_model_goes_to_the_default_model() {
    let body = json!({"messages": [{"role": "user", "content": "who answers?"}]});
    // No default: 400 naming `model`.
    let gw = start().await;
    let error = assert_error(&gw.chat(&body).await, 400);
    assert!(
        error["message"].as_str().unwrap().contains("model"),
        "{error}"
    );

    let gw = start_with(Options {
        routing: tollgate_routing::Policy {
            price_exponent: 60.0,
            default_model: Some(String::from("mock/reasoner")),
            ..tollgate_routing::Policy::default()
        },
        ..Options::default()
    })
    .await;
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["model"], "mock/reasoner");
    let sent = gw
        .mocks()
        .iter()
        .find_map(|m| m.last_request())
        .expect("a provider was called");
    assert_eq!(sent.body["model"], "mock/reasoner", "{}", sent.body);
    // A model named in the request still wins.
    let reply = gw.chat(&chat_body("mock/echo", "me")).await;
    assert_eq!(reply.json()["model"], "mock/echo");

    let parse = |text: &str| {
        tollgate_gateway::Config::parse(
            text,
            std::path::Path::new("default-model-test"),
            std::path::PathBuf::new(),
        )
    };
    assert!(parse("[routing]\ndefault_model = \"openrouter/auto\"\n").is_ok());
    assert!(parse("[routing]\ndefault_model = \"a/b:fast\"\n").is_err());
}
