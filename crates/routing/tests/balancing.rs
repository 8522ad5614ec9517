//! Default load balancing: price-weighted first choice, fallbacks by
//! weight, outages last.

use std::collections::HashMap;

use tollgate_routing::{
    Choice, EndpointHealth, EndpointKey, HealthSnapshot, Policy, RouteRequest, plan,
};

use crate::support::{Builder, abc, check_with, order, rng};

/// First-choice shares over `n` plans drawn from one seeded generator.
fn first_shares(
    catalog: &tollgate_catalog::Catalog,
    req: &RouteRequest,
    policy: &Policy,
    n: u32,
) -> HashMap<String, f64> {
    let health = HealthSnapshot::new();
    let mut rng = rng(42);
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..n {
        let p = plan(req, catalog, &health, policy, &mut rng).unwrap();
        *counts
            .entry(p.attempts[0].provider().to_string())
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, v)| (k, f64::from(v) / f64::from(n)))
        .collect()
}

/// Asserts `got` is within 4.5 standard deviations of a binomial share `p`
/// over `n` draws (a false alarm about once in 300,000 runs for a random
/// seed; the seed is fixed, so the bound mostly documents the tolerance).
fn assert_share(got: f64, p: f64, n: u32) {
    let sigma = (p * (1.0 - p) / f64::from(n)).sqrt();
    assert!(
        (got - p).abs() <= 4.5 * sigma,
        "share {got:.4}, expected {p:.4} ± {:.4}",
        4.5 * sigma
    );
}

#[test]
fn first_choice_is_inversely_proportional_to_price() {
    let catalog = abc();
    let req = RouteRequest::new("m/x").with_prompt_tokens(1000);
    let n = 20_000;
    let shares = first_shares(&catalog, &req, &Policy::default(), n);
    assert_share(shares["a"], 6.0 / 11.0, n);
    assert_share(shares["b"], 3.0 / 11.0, n);
    assert_share(shares["c"], 2.0 / 11.0, n);
}

#[test]
fn inverse_square_exponent() {
    let catalog = abc();
    let req = RouteRequest::new("m/x").with_prompt_tokens(1000);
    let policy = Policy {
        price_exponent: 2.0,
        ..Policy::default()
    };
    let n = 20_000;
    let shares = first_shares(&catalog, &req, &policy, n);
    // 1 : 1/4 : 1/9 = 36 : 9 : 4 of 49.
    assert_share(shares["a"], 36.0 / 49.0, n);
    assert_share(shares["b"], 9.0 / 49.0, n);
    assert_share(shares["c"], 4.0 / 49.0, n);
}

#[test]
fn drawn_probability_is_reported() {
    let catalog = abc();
    let req = RouteRequest::new("m/x");
    let p = plan(
        &req,
        &catalog,
        &HealthSnapshot::new(),
        &Policy::default(),
        &mut rng(1),
    )
    .unwrap();
    let Choice::Drawn { probability } = p.attempts[0].choice else {
        panic!("{:?}", p.attempts[0].choice)
    };
    let want = match p.attempts[0].provider() {
        "a" => 6.0 / 11.0,
        "b" => 3.0 / 11.0,
        _ => 2.0 / 11.0,
    };
    assert!((probability - want).abs() < 1e-9);
    assert!(p.attempts[1..].iter().all(|a| a.choice == Choice::Fallback));
}

#[test]
fn fallbacks_follow_by_weight() {
    let catalog = abc();
    let req = RouteRequest::new("m/x");
    let health = HealthSnapshot::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut r = rng(3);
    for _ in 0..200 {
        let p = plan(&req, &catalog, &health, &Policy::default(), &mut r).unwrap();
        seen.insert(order(&p).join(","));
    }
    // Whatever is drawn first, the rest are cheapest first.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["a,b,c", "b,a,c", "c,a,b"]
    );
}

/// The seed's example: B recently had outages, so A (3x as likely as C) or
/// C comes first, the other next, and B last.
#[test]
fn outage_goes_last_as_in_the_seed_example() {
    let catalog = abc();
    let req = RouteRequest::new("m/x");
    let mut health = HealthSnapshot::new();
    health.insert(EndpointKey::new("m/x", "b"), EndpointHealth::outage());
    let n = 8000;
    let mut r = rng(9);
    let mut a_first = 0;
    for _ in 0..n {
        let p = plan(&req, &catalog, &health, &Policy::default(), &mut r).unwrap();
        let o = order(&p);
        assert!(o == ["a", "c", "b"] || o == ["c", "a", "b"], "{o:?}");
        assert_eq!(p.attempts[2].choice, Choice::Outage);
        a_first += u32::from(o[0] == "a");
    }
    assert_share(f64::from(a_first) / f64::from(n), 0.75, n);
}

#[test]
fn outages_can_be_excluded_by_policy() {
    let catalog = abc();
    let req = RouteRequest::new("m/x");
    let mut health = HealthSnapshot::new();
    health.insert(EndpointKey::new("m/x", "b"), EndpointHealth::outage());
    let policy = Policy {
        exclude_outages: true,
        ..Policy::default()
    };
    let p = plan(&req, &catalog, &health, &policy, &mut rng(0)).unwrap();
    assert!(!order(&p).contains(&"b".to_string()));
    assert_eq!(p.excluded[0].to_string(), "b: in outage (recent failures)");
    // Every endpoint in outage: a 503.
    for s in ["a", "c"] {
        health.insert(EndpointKey::new("m/x", s), EndpointHealth::outage());
    }
    let err = plan(&req, &catalog, &health, &policy, &mut rng(0)).unwrap_err();
    assert_eq!(err.status(), 503);
    // With the default policy they are all still tried.
    let all = check_with(&catalog, &req, &health, &Policy::default()).unwrap();
    assert_eq!(all, ["a", "b", "c"]);
}

#[test]
fn all_in_outage_are_tried_cheapest_first() {
    let catalog = abc();
    let mut health = HealthSnapshot::new();
    for s in ["c", "b", "a"] {
        health.insert(EndpointKey::new("m/x", s), EndpointHealth::outage());
    }
    let got = check_with(
        &catalog,
        &RouteRequest::new("m/x"),
        &health,
        &Policy::default(),
    );
    assert_eq!(got.unwrap(), ["a", "b", "c"]);
}

#[test]
fn free_endpoints_get_a_finite_weight() {
    let catalog = Builder::new()
        .provider("free", "Free")
        .model("m/x", "0")
        .provider("paid", "Paid")
        .model("m/x", "1")
        .build();
    let req = RouteRequest::new("m/x");
    let n = 20_000;
    // Floor $0.01: weights 100 and 1.
    let shares = first_shares(&catalog, &req, &Policy::default(), n);
    assert_share(shares["free"], 100.0 / 101.0, n);
    // A floor of $1 makes them equal.
    let policy = Policy {
        free_price_floor: 1.0,
        ..Policy::default()
    };
    let shares = first_shares(&catalog, &req, &policy, n);
    assert_share(shares["free"], 0.5, n);
}

#[test]
fn blended_price_follows_the_token_mix() {
    // `cheap-in` is cheap for prompts and dear for completions; `cheap-out`
    // the other way round.
    let catalog = Builder::new()
        .provider("cheap-in", "Cheap In")
        .model_with("m/x", "1", |m| {
            m["pricing"]["completion"] = crate::support::per_token("10").into();
        })
        .provider("cheap-out", "Cheap Out")
        .model_with("m/x", "10", |m| {
            m["pricing"]["completion"] = crate::support::per_token("1").into();
        })
        .build();
    let sort = serde_json::json!({"sort": "price"});
    let long_prompt = crate::support::request("m/x", sort.clone()).with_prompt_tokens(50_000);
    assert_eq!(
        crate::support::check(&catalog, &long_prompt).unwrap(),
        ["cheap-in", "cheap-out"]
    );
    let short_prompt = crate::support::request("m/x", sort)
        .with_prompt_tokens(10)
        .with_max_output_tokens(4000);
    assert_eq!(
        crate::support::check(&catalog, &short_prompt).unwrap(),
        ["cheap-out", "cheap-in"]
    );
}
