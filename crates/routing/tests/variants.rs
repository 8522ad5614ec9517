//! Model variants, the routers and model fallbacks.

use serde_json::json;
use tollgate_catalog::Catalog;
use tollgate_routing::{
    Choice, EndpointHealth, EndpointKey, Error, HealthSnapshot, Policy, RouteRequest, SortBy, plan,
};

use crate::support::{Builder, check, check_with, excluded, order, request, rng};

fn demo_catalog() -> Catalog {
    crate::support::demo()
}

fn plan_with<'a>(
    catalog: &'a Catalog,
    req: &'a RouteRequest,
    policy: &Policy,
) -> tollgate_routing::Plan<'a> {
    plan(req, catalog, &HealthSnapshot::new(), policy, &mut rng(11)).unwrap()
}

#[test]
fn free_uses_a_listed_free_model() {
    let catalog = demo_catalog();
    let req = RouteRequest::new("mock/echo:free");
    let p = plan_with(&catalog, &req, &Policy::default());
    assert_eq!(order(&p), ["mock-alpha"]);
    assert_eq!(p.attempts[0].model(), "mock/echo:free");
    assert_eq!(p.attempts[0].requested, "mock/echo:free");
    assert_eq!(p.attempts[0].endpoint.upstream_model, "mock/echo-free");
}

#[test]
fn free_on_a_base_model_keeps_zero_price_endpoints() {
    let catalog = Builder::new()
        .provider("free", "Free")
        .model("m/x", "0")
        .provider("paid", "Paid")
        .model("m/x", "1")
        .build();
    let req = RouteRequest::new("m/x:free");
    let p = plan_with(&catalog, &req, &Policy::default());
    assert_eq!(order(&p), ["free"]);
    assert_eq!(p.attempts[0].model(), "m/x");
    assert_eq!(
        excluded(&p),
        ["paid: not free (the request asks for a free endpoint)"]
    );
    // No free endpoint: 404 naming the reason.
    let catalog = crate::support::abc();
    let err = check(&catalog, &RouteRequest::new("m/x:free")).unwrap_err();
    assert_eq!(err.status(), 404);
    assert!(err.to_string().contains("a: not free"), "{err}");
}

#[test]
fn nitro_sorts_by_throughput_and_floor_by_price() {
    let catalog = crate::support::abc();
    let mut health = HealthSnapshot::new();
    health.insert(
        EndpointKey::new("m/x", "c"),
        EndpointHealth::up().with_throughput(90.0),
    );
    health.insert(
        EndpointKey::new("m/x", "b"),
        EndpointHealth::up().with_throughput(30.0),
    );
    let policy = Policy::default();
    let nitro = check_with(&catalog, &RouteRequest::new("m/x:nitro"), &health, &policy);
    assert_eq!(nitro.unwrap(), ["c", "b", "a"]);
    let floor = check_with(&catalog, &RouteRequest::new("m/x:floor"), &health, &policy);
    assert_eq!(floor.unwrap(), ["a", "b", "c"]);
    // An explicit provider.sort wins over the variant.
    let req = request("m/x:nitro", json!({"sort": "price"}));
    assert_eq!(
        check_with(&catalog, &req, &health, &policy).unwrap(),
        ["a", "b", "c"]
    );
    let floor = RouteRequest::new("m/x:floor");
    let p = plan(&floor, &catalog, &health, &policy, &mut rng(0)).unwrap();
    assert!(
        p.attempts
            .iter()
            .all(|a| a.choice == Choice::Sorted { by: SortBy::Price })
    );
}

#[test]
fn online_flags_web_search() {
    let catalog = demo_catalog();
    let req = RouteRequest::new("mock/echo:online");
    let p = plan_with(&catalog, &req, &Policy::default());
    assert!(p.web_search);
    assert_eq!(p.attempts.len(), 3);
    assert_eq!(p.attempts[0].model(), "mock/echo");
    let plain = RouteRequest::new("mock/echo");
    assert!(!plan_with(&catalog, &plain, &Policy::default()).web_search);
}

#[test]
fn extended_and_thinking_resolve_through_the_catalog() {
    let catalog = Builder::new()
        .provider("p", "P")
        .model("m/x", "1")
        .model_with("m/x-long", "2", |m| {
            m["openrouter"] = json!({"slug": "m/x:extended"});
            m["context_length"] = 1_000_000.into();
        })
        .build();
    let req = RouteRequest::new("m/x:extended");
    let p = plan_with(&catalog, &req, &Policy::default());
    assert_eq!(p.attempts[0].model(), "m/x:extended");
    assert_eq!(p.attempts[0].endpoint.context_length, 1_000_000);

    let err = check(&catalog, &RouteRequest::new("m/x:thinking")).unwrap_err();
    assert_eq!(
        err,
        Error::VariantUnavailable {
            model: "m/x:thinking".into(),
            variant: tollgate_catalog::Variant::Thinking
        }
    );
    assert_eq!(err.status(), 400);
    let err = check(&catalog, &RouteRequest::new("m/nope:thinking")).unwrap_err();
    assert_eq!(err, Error::UnknownModel("m/nope:thinking".into()));
}

#[test]
fn exacto_prefers_quality_signals() {
    let catalog = Builder::new()
        .provider("cheap-q4", "Cheap Q4")
        .model_with("m/x", "0.1", |m| {
            m["quantization"] = "int4".into();
            m["supported_features"] = json!(["tools"]);
        })
        .provider("no-tools", "No Tools")
        .model("m/x", "0.2")
        .provider("full", "Full")
        .model_with("m/x", "1", |m| {
            m["quantization"] = "bf16".into();
            m["supported_features"] = json!(["tools"]);
        })
        .provider("trusted", "Trusted")
        .model_with("m/x", "5", |m| m["quantization"] = "fp8".into())
        .build();
    let req = RouteRequest::new("m/x:exacto");
    // Tool calling first (full precision before 4-bit), then precision
    // (fp16 before fp8).
    let got = check(&catalog, &req).unwrap();
    assert_eq!(got, ["full", "cheap-q4", "no-tools", "trusted"]);
    let policy = Policy {
        exacto_providers: vec!["trusted".into()],
        ..Policy::default()
    };
    let got = check_with(&catalog, &req, &HealthSnapshot::new(), &policy).unwrap();
    assert_eq!(got, ["trusted", "full", "cheap-q4", "no-tools"]);
    // `sort: "exacto"` is the same rule.
    let req = request("m/x", json!({"sort": "exacto"}));
    assert_eq!(check(&catalog, &req).unwrap()[0], "full");
}

#[test]
fn bad_ids_are_400_naming_the_problem() {
    let catalog = demo_catalog();
    let err = check(&catalog, &RouteRequest::new("mock/echo:fast")).unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.to_string(),
        "model id `mock/echo:fast` has unknown variant `fast`; valid variants: free, extended, \
         thinking, online, nitro, floor, exacto"
    );
    let err = check(&catalog, &RouteRequest::new("nobody/nothing")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`nobody/nothing` is not a valid model id: no such model in the catalog"
    );
    assert_eq!(err.status(), 400);
    let err = check(&catalog, &RouteRequest::default()).unwrap_err();
    assert_eq!(err, Error::NoModel);
    assert_eq!(err.status(), 400);
}

#[test]
fn model_fallbacks_come_model_by_model() {
    let catalog = demo_catalog();
    let mut req = RouteRequest::new("mock/reasoner");
    req.models = vec!["mock/reasoner".into(), "mock/echo".into()];
    let p = plan_with(&catalog, &req, &Policy::default());
    let got = order(&p);
    assert_eq!(got[0], "mock/reasoner@mock-gamma");
    assert_eq!(got.len(), 4);
    assert!(got[1..].iter().all(|a| a.starts_with("mock/echo@")));
    assert_eq!(p.attempts[1].requested, "mock/echo");
    // No router: the answer names the model as asked.
    assert_eq!(p.attempts[1].router(), None);
    assert_eq!(p.attempts[1].response_model(), "mock/echo");
    // Each model is balanced on its own: the second model's first endpoint
    // is drawn again.
    assert!(matches!(p.attempts[1].choice, Choice::Drawn { .. }));
}

#[test]
fn model_fallbacks_without_model_and_with_exclusions() {
    let catalog = demo_catalog();
    let req = RouteRequest {
        models: vec!["mock/no-tools".into(), "mock/echo".into()],
        provider: crate::support::prefs(json!({"require_parameters": true})),
        ..RouteRequest::default()
    }
    .with_parameters(["tools"]);
    let p = plan_with(&catalog, &req, &Policy::default());
    assert_eq!(p.attempts.len(), 3);
    assert!(p.attempts.iter().all(|a| a.model() == "mock/echo"));
    assert_eq!(
        excluded(&p),
        ["mock-beta: does not support parameter tools (provider.require_parameters is true)"]
    );
    assert_eq!(p.excluded[0].model, "mock/no-tools");
    // An unknown model anywhere in the list is an error.
    let req = RouteRequest {
        models: vec!["mock/echo".into(), "x/unknown".into()],
        ..RouteRequest::default()
    };
    assert_eq!(
        check(&catalog, &req).unwrap_err(),
        Error::UnknownModel("x/unknown".into())
    );
}

#[test]
fn no_endpoint_across_models_names_each_model() {
    let catalog = demo_catalog();
    let req = RouteRequest {
        model: Some("mock/no-tools".into()),
        models: vec!["mock/small-context".into()],
        provider: crate::support::prefs(json!({"only": ["mock-gamma"]})),
        ..RouteRequest::default()
    };
    let err = check(&catalog, &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no endpoint of `mock/no-tools, mock/small-context` can serve this request: \
         mock/no-tools at mock-beta: not listed in provider.only; mock/small-context at \
         mock-alpha: not listed in provider.only"
    );
}

#[test]
fn sort_partition_none_sorts_across_models() {
    let catalog = demo_catalog();
    let req = RouteRequest {
        models: vec!["mock/reasoner".into(), "mock/echo".into()],
        provider: crate::support::prefs(json!({"sort": {"by": "price", "partition": "none"}})),
        prompt_tokens: 1000,
        ..RouteRequest::default()
    };
    let got = check(&catalog, &req).unwrap();
    assert_eq!(
        got,
        [
            "mock/echo@mock-alpha",
            "mock/echo@mock-beta",
            "mock/echo@mock-gamma",
            "mock/reasoner@mock-gamma"
        ]
    );
    // partition "model" (the default) keeps models apart.
    let req = RouteRequest {
        provider: crate::support::prefs(json!({"sort": {"by": "price", "partition": "model"}})),
        ..req
    };
    assert_eq!(
        check(&catalog, &req).unwrap()[0],
        "mock/reasoner@mock-gamma"
    );
}

#[test]
fn route_is_the_deprecated_alias_of_partition() {
    let catalog = demo_catalog();
    let base = RouteRequest {
        models: vec!["mock/reasoner".into(), "mock/echo".into()],
        prompt_tokens: 1000,
        ..RouteRequest::default()
    };
    let with = |route: Option<&str>, provider: serde_json::Value| RouteRequest {
        route: route.map(str::to_string),
        provider: crate::support::prefs(provider),
        ..base.clone()
    };
    let across = [
        "mock/echo@mock-alpha",
        "mock/echo@mock-beta",
        "mock/echo@mock-gamma",
        "mock/reasoner@mock-gamma",
    ];
    // "sort" = partition "none": every endpoint by price (no provider.sort).
    let sorted = with(Some("sort"), json!({}));
    let p = plan_with(&catalog, &sorted, &Policy::default());
    assert_eq!(crate::support::order(&p), across);
    assert!(
        p.attempts
            .iter()
            .all(|a| a.choice.to_string() == "sorted by price"),
        "{:?}",
        p.attempts
    );
    // ...and by provider.sort when given.
    assert_eq!(
        check(&catalog, &with(Some("sort"), json!({"sort": "price"}))).unwrap(),
        across
    );
    // "fallback" = partition "model", as without `route`.
    for route in [Some("fallback"), None] {
        assert_eq!(
            check(&catalog, &with(route, json!({"sort": "price"}))).unwrap()[0],
            "mock/reasoner@mock-gamma"
        );
    }
    // An explicit partition wins over the alias.
    assert_eq!(
        check(
            &catalog,
            &with(
                Some("sort"),
                json!({"sort": {"by": "price", "partition": "model"}})
            )
        )
        .unwrap()[0],
        "mock/reasoner@mock-gamma"
    );
    // Anything else is a 400 naming `route`.
    let err = check(&catalog, &with(Some("fastest"), json!({}))).unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.field(), "route");
    assert_eq!(
        err.to_string(),
        "route `fastest` is not one of fallback, sort (it is deprecated: use provider.sort.partition)"
    );
}

#[test]
fn auto_picks_the_cheapest_model_meeting_the_needs() {
    let catalog = demo_catalog();
    let policy = Policy::default();
    let models = |req: &RouteRequest| -> Vec<String> {
        let p = plan_with(&catalog, req, &policy);
        let mut out: Vec<String> = Vec::new();
        for a in &p.attempts {
            assert_eq!(a.requested, "openrouter/auto");
            // The answer names the model that answers, and the router.
            assert_eq!(a.router(), Some("openrouter/auto"));
            assert_eq!(a.response_model(), a.model());
            if !out.iter().any(|m| m == a.model()) {
                out.push(a.model().to_string());
            }
        }
        out
    };
    // No needs: the cheapest paid text model (mock/embed outputs
    // embeddings, mock/echo:free is free), then two fallbacks.
    let req = RouteRequest::new("openrouter/auto").with_prompt_tokens(1000);
    assert_eq!(
        models(&req),
        ["mock/no-tools", "mock/small-context", "mock/echo"]
    );
    // Tools: a model with tool calling, even without require_parameters;
    // sampling parameters are not required.
    let req = req.with_parameters(["tools", "top_a"]);
    assert_eq!(
        models(&req),
        ["mock/small-context", "mock/echo", "mock/reasoner"]
    );
    // Context: small-context (4096) cannot hold 10k tokens.
    let req = req.with_prompt_tokens(10_000);
    assert_eq!(models(&req), ["mock/echo", "mock/reasoner"]);
    // Reasoning.
    let req = RouteRequest::new("openrouter/auto").with_parameters(["reasoning"]);
    assert_eq!(models(&req), ["mock/reasoner"]);
    // Images: nobody in the demo takes them.
    let mut req = RouteRequest::new("openrouter/auto");
    req.input_modalities.insert("image".into());
    let err = check(&catalog, &req).unwrap_err();
    assert_eq!(err.status(), 503);
    assert!(
        err.to_string().contains("does not support image input"),
        "{err}"
    );
}

#[test]
fn auto_follows_the_operators_list() {
    let catalog = demo_catalog();
    let policy = Policy {
        auto_models: vec!["mock/reasoner".into(), "mock/echo".into(), "x/gone".into()],
        router_fallback_models: 0,
        ..Policy::default()
    };
    let req = RouteRequest::new("openrouter/auto");
    let p = plan_with(&catalog, &req, &policy);
    assert!(p.attempts.iter().all(|a| a.model() == "mock/reasoner"));
    let req = request("openrouter/auto", json!({"ignore": ["mock-gamma"]}));
    let p = plan_with(&catalog, &req, &policy);
    assert!(p.attempts.iter().all(|a| a.model() == "mock/echo"));
    assert_eq!(p.attempts.len(), 2);
}

#[test]
fn free_router_picks_among_free_models() {
    let catalog = Builder::new()
        .provider("p", "P")
        .model("m/paid", "1")
        .model_with("m/free-small", "0", |m| m["context_length"] = 8000.into())
        .model_with("m/free-big", "0", |m| m["context_length"] = 64000.into())
        .provider("q", "Q")
        .model("m/free-big", "2")
        .build();
    let req = RouteRequest::new("openrouter/free").with_prompt_tokens(100);
    let p = plan_with(&catalog, &req, &Policy::default());
    let got = order(&p);
    assert_eq!(got, ["m/free-big@p", "m/free-small@p"]);
    assert!(p.attempts.iter().all(|a| a.endpoint.is_free()));
    assert_eq!(
        excluded(&p),
        ["q: not free (the request asks for a free endpoint)"]
    );
    // Demo: the listed free model.
    let catalog = demo_catalog();
    let p = plan_with(&catalog, &req, &Policy::default());
    assert_eq!(p.attempts[0].model(), "mock/echo:free");
}

#[test]
fn auto_with_a_variant() {
    let catalog = demo_catalog();
    let req = RouteRequest::new("openrouter/auto:online");
    let p = plan_with(&catalog, &req, &Policy::default());
    assert!(p.web_search);
    assert_eq!(p.attempts[0].model(), "mock/no-tools");
}
