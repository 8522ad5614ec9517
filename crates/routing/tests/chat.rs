//! From a chat request to a plan.

use tollgate_routing::{HealthSnapshot, Policy, RouteRequest, plan};
use tollgate_schema::chat::ChatRequest;

use crate::support::{excluded, order, rng};

fn chat(json: &str) -> ChatRequest {
    serde_json::from_str(json).unwrap()
}

#[test]
fn require_parameters_from_a_chat_request() {
    let catalog = crate::support::demo();
    let body = chat(
        r#"{"model":"mock/echo","messages":[{"role":"user","content":"hi"}],
        "response_format":{"type":"json_schema","json_schema":{"name":"x"}},
        "provider":{"require_parameters":true}}"#,
    );
    let req = RouteRequest::from_chat(&body, 20);
    let p = plan(
        &req,
        &catalog,
        &HealthSnapshot::new(),
        &Policy::default(),
        &mut rng(0),
    )
    .unwrap();
    // Only mock-alpha lists structured_outputs.
    assert_eq!(order(&p), ["mock-alpha"]);
    assert_eq!(
        excluded(&p),
        [
            "mock-beta: does not support parameter structured_outputs \
             (provider.require_parameters is true)",
            "mock-gamma: does not support parameter structured_outputs \
             (provider.require_parameters is true)"
        ]
    );
}

#[test]
fn data_collection_deny_from_a_chat_request() {
    let catalog = crate::support::demo();
    let body = chat(
        r#"{"model":"mock/echo","messages":[{"role":"user","content":"hi"}],
        "provider":{"data_collection":"deny","order":["Mock Gamma"]}}"#,
    );
    let req = RouteRequest::from_chat(&body, 20);
    let p = plan(
        &req,
        &catalog,
        &HealthSnapshot::new(),
        &Policy::default(),
        &mut rng(0),
    )
    .unwrap();
    assert_eq!(order(&p), ["mock-gamma", "mock-beta"]);
    assert_eq!(p.excluded[0].provider, "mock-alpha");
}

#[test]
fn middle_out_keeps_a_small_model_routable() {
    let catalog = crate::support::demo();
    let body = chat(r#"{"model":"mock/small-context","messages":[]}"#);
    let req = RouteRequest::from_chat(&body, 10_000);
    let p = plan(
        &req,
        &catalog,
        &HealthSnapshot::new(),
        &Policy::default(),
        &mut rng(0),
    )
    .unwrap();
    assert!(p.attempts[0].compress);
    // `transforms: []` turns middle-out off: the prompt does not fit.
    let body = chat(r#"{"model":"mock/small-context","messages":[],"transforms":[]}"#);
    let req = RouteRequest::from_chat(&body, 10_000);
    let err = plan(
        &req,
        &catalog,
        &HealthSnapshot::new(),
        &Policy::default(),
        &mut rng(0),
    )
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.to_string(),
        "no endpoint of `mock/small-context` can serve this request: mock-alpha: context \
         length 4096 is smaller than the 11024 tokens needed"
    );
}
