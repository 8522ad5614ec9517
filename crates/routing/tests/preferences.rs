//! Provider preferences, filters and their exclusion reasons.

use serde_json::json;
use tollgate_catalog::{Catalog, DataCollection};
use tollgate_routing::{
    Choice, EndpointHealth, EndpointKey, Error, HealthSnapshot, Policy, RouteRequest, plan,
};
use tollgate_schema::models::Percentiles;

use crate::support::{Builder, abc, check, check_with, excluded, request, rng};

fn plan_of<'a>(catalog: &'a Catalog, req: &'a RouteRequest) -> tollgate_routing::Plan<'a> {
    plan(
        req,
        catalog,
        &HealthSnapshot::new(),
        &Policy::default(),
        &mut rng(5),
    )
    .unwrap()
}

#[test]
fn order_comes_first_matched_by_slug_or_name() {
    let catalog = abc();
    let req = request("m/x", json!({"order": ["provider c", "B"]}));
    assert_eq!(check(&catalog, &req).unwrap(), ["c", "b", "a"]);
    let p = plan_of(&catalog, &req);
    assert_eq!(p.attempts[0].choice, Choice::Ordered { position: 0 });
    assert_eq!(p.attempts[1].choice, Choice::Ordered { position: 1 });
    assert_eq!(
        p.attempts[2].choice.to_string(),
        "price-weighted draw (p=1.00)"
    );
    // Unknown names are skipped.
    let req = request("m/x", json!({"order": ["nobody", "c"]}));
    assert_eq!(check(&catalog, &req).unwrap()[0], "c");
}

#[test]
fn order_wins_over_health() {
    let catalog = abc();
    let mut health = HealthSnapshot::new();
    health.insert(EndpointKey::new("m/x", "c"), EndpointHealth::outage());
    let req = request("m/x", json!({"order": ["c"]}));
    let got = check_with(&catalog, &req, &health, &Policy::default()).unwrap();
    assert_eq!(got, ["c", "a", "b"]);
}

#[test]
fn no_fallbacks_keeps_only_the_ordered_providers() {
    let catalog = abc();
    let req = request(
        "m/x",
        json!({"order": ["b", "c"], "allow_fallbacks": false}),
    );
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["b", "c"]);
    assert_eq!(
        excluded(&p),
        ["a: not tried: provider.allow_fallbacks is false"]
    );
    // None of the ordered providers serves the model: no endpoint.
    let req = request("m/x", json!({"order": ["zz"], "allow_fallbacks": false}));
    let err = check(&catalog, &req).unwrap_err();
    // No provider meets the routing requirements: 503 (api-reference.txt).
    assert_eq!(err.status(), 503);
    assert!(err.to_string().starts_with(
        "no endpoint of `m/x` can serve this request: a: not tried: provider.allow_fallbacks"
    ));
}

#[test]
fn no_fallbacks_without_order_keeps_the_first_choice() {
    let catalog = abc();
    let req = request("m/x", json!({"allow_fallbacks": false}));
    let p = plan_of(&catalog, &req);
    assert_eq!(p.attempts.len(), 1);
    assert_eq!(p.excluded.len(), 2);
    let req = request("m/x", json!({"allow_fallbacks": false, "sort": "price"}));
    assert_eq!(check(&catalog, &req).unwrap(), ["a"]);
}

#[test]
fn only_and_ignore() {
    let catalog = abc();
    let req = request("m/x", json!({"only": ["a", "Provider C"], "sort": "price"}));
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["a", "c"]);
    assert_eq!(excluded(&p), ["b: not listed in provider.only"]);
    let req = request("m/x", json!({"ignore": ["A"], "sort": "price"}));
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["b", "c"]);
    assert_eq!(excluded(&p), ["a: ignored by provider.ignore"]);
    // `ignore` wins over `only` and `order`.
    let req = request(
        "m/x",
        json!({"only": ["a"], "ignore": ["a"], "order": ["a"]}),
    );
    let err = check(&catalog, &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no endpoint of `m/x` can serve this request: a: ignored by provider.ignore; \
         b: not listed in provider.only; c: not listed in provider.only"
    );
}

#[test]
fn slug_prefix_names_every_variant_of_a_provider() {
    let catalog = Builder::new()
        .provider("deepinfra/turbo", "DeepInfra Turbo")
        .model("m/x", "1")
        .provider("deepinfra/fp8", "DeepInfra FP8")
        .model("m/x", "2")
        .provider("other", "Other")
        .model("m/x", "0.5")
        .build();
    let req = request(
        "m/x",
        json!({"order": ["deepinfra"], "allow_fallbacks": false}),
    );
    let got = check(&catalog, &req).unwrap();
    assert_eq!(got, ["deepinfra/turbo", "deepinfra/fp8"]);
}

fn tools_catalog() -> Catalog {
    Builder::new()
        .provider("tools", "Tools")
        .model_with("m/x", "2", |m| {
            m["supported_features"] = json!(["tools", "json_mode"]);
        })
        .provider("plain", "Plain")
        .model("m/x", "1")
        .build()
}

#[test]
fn require_parameters_keeps_endpoints_supporting_every_parameter() {
    let catalog = tools_catalog();
    let req = request("m/x", json!({"require_parameters": true})).with_parameters([
        "tools",
        "response_format",
        "temperature",
    ]);
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["tools"]);
    assert_eq!(
        excluded(&p),
        ["plain: does not support parameters response_format, tools \
          (provider.require_parameters is true)"]
    );
    // Without it, every endpoint stays (providers ignore what they lack).
    let req = request("m/x", json!({})).with_parameters(["tools"]);
    assert_eq!(check(&catalog, &req).unwrap().len(), 2);
    // A parameter nobody supports: no endpoint, 503.
    let req = request("m/x", json!({"require_parameters": true})).with_parameters(["top_a"]);
    assert_eq!(check(&catalog, &req).unwrap_err().status(), 503);
}

#[test]
fn data_collection_deny_and_zdr() {
    let catalog = Builder::new()
        .provider_with("logs", "Logs", DataCollection::Allow, false)
        .model("m/x", "1")
        .provider_with("private", "Private", DataCollection::Deny, false)
        .model("m/x", "2")
        .provider_with("zdr", "Zdr", DataCollection::Deny, true)
        .model("m/x", "3")
        .build();
    let req = request("m/x", json!({"data_collection": "deny", "sort": "price"}));
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["private", "zdr"]);
    assert_eq!(
        excluded(&p),
        ["logs: may store or train on prompts (provider.data_collection is \"deny\")"]
    );
    let req = request("m/x", json!({"zdr": true}));
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["zdr"]);
    assert_eq!(p.excluded.len(), 2);
    assert!(
        excluded(&p)[1].ends_with("does not guarantee zero data retention (provider.zdr is true)")
    );
    let req = request("m/x", json!({"data_collection": "allow"}));
    assert_eq!(check(&catalog, &req).unwrap().len(), 3);
}

#[test]
fn quantizations() {
    let catalog = Builder::new()
        .provider("q8", "Q8")
        .model_with("m/x", "1", |m| m["quantization"] = "fp8".into())
        .provider("q16", "Q16")
        .model("m/x", "2")
        .build();
    let req = request("m/x", json!({"quantizations": ["FP16", "bf16"]}));
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["q16"]);
    assert_eq!(
        excluded(&p),
        ["q8: quantization fp8 is not in provider.quantizations"]
    );
    // An empty list is no filter.
    let req = request("m/x", json!({"quantizations": []}));
    assert_eq!(check(&catalog, &req).unwrap().len(), 2);
}

fn pct(p50: f64, p75: f64, p90: f64, p99: f64) -> Percentiles {
    Percentiles { p50, p75, p90, p99 }
}

fn measured() -> HealthSnapshot {
    let mut h = HealthSnapshot::new();
    let k = |p: &str| EndpointKey::new("m/x", p);
    // a: steady but slow output; quick first token, with a slow tail.
    h.insert(
        k("a"),
        EndpointHealth::up()
            .with_throughput(50.0)
            .with_latency_ms(300.0)
            .with_throughput_percentiles(pct(50.0, 48.0, 45.0, 40.0))
            .with_latency_percentiles(pct(300.0, 400.0, 600.0, 1500.0)),
    );
    // b: fast output with a slow tail (throughput p90 = 20 tok/s); slow
    // first token.
    h.insert(
        k("b"),
        EndpointHealth::up()
            .with_throughput(200.0)
            .with_latency_ms(900.0)
            .with_throughput_percentiles(pct(200.0, 150.0, 20.0, 10.0))
            .with_latency_percentiles(pct(900.0, 950.0, 990.0, 999.0)),
    );
    // c: no measurements.
    h
}

#[test]
fn sort_by_price_throughput_and_latency() {
    let catalog = abc();
    let health = measured();
    let run = |by: &str| {
        let req = request("m/x", json!({"sort": by}));
        check_with(&catalog, &req, &health, &Policy::default()).unwrap()
    };
    assert_eq!(run("price"), ["a", "b", "c"]);
    assert_eq!(run("throughput"), ["b", "a", "c"]);
    assert_eq!(run("latency"), ["a", "b", "c"]);
    // The object form, and outages still last.
    let mut health = measured();
    health.insert(
        EndpointKey::new("m/x", "b"),
        EndpointHealth::outage().with_throughput(500.0),
    );
    let req = request("m/x", json!({"sort": {"by": "throughput"}}));
    let p = plan(&req, &catalog, &health, &Policy::default(), &mut rng(0)).unwrap();
    assert_eq!(crate::support::order(&p), ["a", "c", "b"]);
    assert_eq!(p.attempts[0].choice.to_string(), "sorted by throughput");
    assert_eq!(p.attempts[2].choice, Choice::Outage);
    // Unknown strategy: 400.
    let err = check(&catalog, &request("m/x", json!({"sort": "speed"}))).unwrap_err();
    assert!(matches!(err, Error::InvalidSort(_)));
    assert_eq!(err.status(), 400);
}

#[test]
fn soft_latency_and_throughput_preferences() {
    let catalog = abc();
    let health = measured();
    // a is too slow in throughput: it goes after b and c (c is unmeasured).
    let req = request(
        "m/x",
        json!({"preferred_min_throughput": 100, "sort": "price"}),
    );
    let got = check_with(&catalog, &req, &health, &Policy::default()).unwrap();
    assert_eq!(got, ["b", "c", "a"]);
    // b is over 0.5 s p50 latency.
    let req = request(
        "m/x",
        json!({"preferred_max_latency": {"p50": 0.5}, "sort": "price"}),
    );
    let got = check_with(&catalog, &req, &health, &Policy::default()).unwrap();
    assert_eq!(got, ["a", "c", "b"]);
}

#[test]
fn percentile_cutoffs_must_all_be_met() {
    let catalog = abc();
    let health = measured();
    let run = |prefs: serde_json::Value| {
        check_with(
            &catalog,
            &request("m/x", prefs),
            &health,
            &Policy::default(),
        )
        .unwrap()
    };
    // p50 alone: b (200 tok/s) meets 100 tok/s; a does not.
    assert_eq!(
        run(json!({"preferred_min_throughput": {"p50": 100}, "sort": "price"})),
        ["b", "c", "a"]
    );
    // b's p90 is 20 tok/s: with a p90 floor of 30 only a (p90 45) and the
    // unmeasured c are preferred; b is deprioritised, not excluded.
    assert_eq!(
        run(json!({"preferred_min_throughput": {"p90": 30}, "sort": "price"})),
        ["a", "c", "b"]
    );
    // Both cutoffs: nobody measured meets p50 >= 100 and p90 >= 30.
    assert_eq!(
        run(json!({"preferred_min_throughput": {"p50": 100, "p90": 30}, "sort": "price"})),
        ["c", "a", "b"]
    );
    // Latency in seconds against milliseconds: a's p99 is 1.5 s, b's
    // 0.999 s.
    assert_eq!(
        run(json!({"preferred_max_latency": {"p99": 1}, "sort": "price"})),
        ["b", "c", "a"]
    );
    // Nulls are unset cutoffs (the OpenAPI types are number | null).
    assert_eq!(
        run(json!({"preferred_max_latency": {"p50": null, "p99": 1}, "sort": "price"})),
        ["b", "c", "a"]
    );
    // Latency and throughput together.
    assert_eq!(
        run(json!({
            "preferred_max_latency": 0.5,
            "preferred_min_throughput": {"p75": 40},
            "sort": "price"
        })),
        ["a", "c", "b"]
    );
}

#[test]
fn malformed_cutoffs_are_400_naming_the_field() {
    let catalog = abc();
    for (prefs, field, message) in [
        (
            json!({"preferred_max_latency": "fast"}),
            "provider.preferred_max_latency",
            "provider.preferred_max_latency: must be a number (the p50 cutoff) or an object of p50, p75, p90, p99 cutoffs",
        ),
        (
            json!({"preferred_min_throughput": {"p95": 10}}),
            "provider.preferred_min_throughput",
            "provider.preferred_min_throughput: unknown percentile `p95`: use p50, p75, p90 or p99",
        ),
        (
            json!({"preferred_min_throughput": {"p50": -1}}),
            "provider.preferred_min_throughput",
            "provider.preferred_min_throughput: p50 must not be negative",
        ),
    ] {
        let err = check(&catalog, &request("m/x", prefs)).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.field(), field);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn cutoffs_can_move_a_fallback_model_first() {
    // m/x's only endpoint is slow; m/y's is fast: with a throughput floor
    // m/y is tried first, and m/x is still a fallback.
    let catalog = Builder::new()
        .provider("slow", "Slow")
        .model("m/x", "1")
        .provider("fast", "Fast")
        .model("m/y", "1")
        .build();
    let mut health = HealthSnapshot::new();
    health.insert(
        EndpointKey::new("m/x", "slow"),
        EndpointHealth::up().with_throughput_percentiles(pct(20.0, 19.0, 18.0, 15.0)),
    );
    health.insert(
        EndpointKey::new("m/y", "fast"),
        EndpointHealth::up().with_throughput_percentiles(pct(200.0, 190.0, 180.0, 150.0)),
    );
    let mut req = request("m/x", json!({"preferred_min_throughput": 100}));
    req.models = vec!["m/y".into()];
    let got = check_with(&catalog, &req, &health, &Policy::default()).unwrap();
    assert_eq!(got, ["m/y@fast", "m/x@slow"]);
    // Without the cutoff, the primary model comes first.
    req.provider = crate::support::prefs(json!({}));
    let got = check_with(&catalog, &req, &health, &Policy::default()).unwrap();
    assert_eq!(got, ["m/x@slow", "m/y@fast"]);
}

#[test]
fn max_price_units() {
    // $1/$2/$3 per million tokens: a per-token price x 1e6 vs. the cap.
    let catalog = abc();
    let req = request(
        "m/x",
        json!({"max_price": {"prompt": 2, "completion": "2.5"}}),
    );
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p).len(), 2);
    assert_eq!(
        excluded(&p),
        ["c: prompt price $3 per million tokens is above provider.max_price.prompt ($2)"]
    );
    let req = request("m/x", json!({"max_price": {"completion": 1.5}}));
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["a"]);
    assert!(excluded(&p)[0].contains("completion price $2 per million tokens"));
    // Caps at exactly the price keep the endpoint.
    let req = request(
        "m/x",
        json!({"max_price": {"prompt": "1", "completion": "1"}}),
    );
    assert_eq!(check(&catalog, &req).unwrap(), ["a"]);

    let catalog = Builder::new()
        .provider("fee", "Fee")
        .model_with("m/x", "1", |m| {
            m["pricing"]["request"] = "0.01".into();
            m["pricing"]["image"] = "0.002".into();
        })
        .provider("nofee", "No Fee")
        .model("m/x", "1")
        .build();
    let req = request("m/x", json!({"max_price": {"request": "0.005"}}));
    let p = plan_of(&catalog, &req);
    assert_eq!(
        excluded(&p),
        ["fee: request price $0.01 per request is above provider.max_price.request ($0.005)"]
    );
    let req = request("m/x", json!({"max_price": {"image": 0.001}}));
    assert_eq!(
        excluded(&plan_of(&catalog, &req)),
        ["fee: image price $0.002 per image is above provider.max_price.image ($0.001)"]
    );
}

fn context_catalog() -> Catalog {
    Builder::new()
        .provider("mock-alpha", "Mock Alpha")
        .model("m/x", "1")
        .provider("mock-beta", "Mock Beta")
        .model_with("m/x", "1", |m| {
            m["context_length"] = 4096.into();
            m["max_output_length"] = 1024.into();
        })
        .build()
}

#[test]
fn context_filter() {
    let catalog = context_catalog();
    let req = RouteRequest::new("m/x")
        .with_prompt_tokens(4000)
        .with_max_output_tokens(1000);
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["mock-alpha"]);
    assert_eq!(
        excluded(&p),
        ["mock-beta: context length 4096 is smaller than the 5000 tokens needed"]
    );
    // Without max_tokens the reserve is the policy default (1024), capped
    // at the endpoint's largest completion (1024 here).
    let req = RouteRequest::new("m/x").with_prompt_tokens(3072);
    assert_eq!(plan_of(&catalog, &req).attempts.len(), 2);
    let req = RouteRequest::new("m/x").with_prompt_tokens(3073);
    assert_eq!(
        excluded(&plan_of(&catalog, &req)),
        ["mock-beta: context length 4096 is smaller than the 4097 tokens needed"]
    );
    // A max_tokens above the endpoint's maximum counts as that maximum.
    let req = RouteRequest::new("m/x")
        .with_prompt_tokens(3000)
        .with_max_output_tokens(50_000);
    assert_eq!(plan_of(&catalog, &req).attempts.len(), 2);
}

#[test]
fn context_too_small_everywhere() {
    let catalog = context_catalog();
    let req = RouteRequest::new("m/x").with_prompt_tokens(200_000);
    let err = check(&catalog, &req).unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.to_string(),
        "no endpoint of `m/x` can serve this request: mock-alpha: context length 100000 is \
         smaller than the 201024 tokens needed; mock-beta: context length 4096 is smaller than \
         the 201024 tokens needed"
    );
    // With middle-out allowed, every endpoint is kept and marked.
    let mut req = req;
    req.compressible = true;
    let p = plan_of(&catalog, &req);
    assert_eq!(p.attempts.len(), 2);
    assert!(p.attempts.iter().all(|a| a.compress));
    assert!(p.excluded.is_empty());
    // When one endpoint fits, compression is not offered.
    req.prompt_tokens = 10_000;
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["mock-alpha"]);
    assert!(!p.attempts[0].compress);
}

#[test]
fn images_need_image_input() {
    let catalog = Builder::new()
        .provider("vision", "Vision")
        .model_with("m/x", "2", |m| {
            m["input_modalities"] = json!(["text", "image"])
        })
        .provider("text", "Text")
        .model("m/x", "1")
        .build();
    let mut req = RouteRequest::new("m/x");
    req.input_modalities.insert("image".into());
    req.images = 1;
    let p = plan_of(&catalog, &req);
    assert_eq!(crate::support::order(&p), ["vision"]);
    assert_eq!(excluded(&p), ["text: does not support image input"]);
}

#[test]
fn exclusion_reasons_have_a_fixed_precedence() {
    // Ignored comes before every other reason.
    let catalog = context_catalog();
    let req =
        request("m/x", json!({"ignore": ["mock-beta"], "zdr": true})).with_prompt_tokens(100_000);
    let err = check(&catalog, &req).unwrap_err();
    let Error::NoEndpoint { excluded, .. } = err else {
        panic!()
    };
    let reasons: Vec<String> = excluded.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "mock-alpha: does not guarantee zero data retention (provider.zdr is true)",
            "mock-beta: ignored by provider.ignore"
        ]
    );
}
