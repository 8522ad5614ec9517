//! Planning cost per decision for 1, 10, 50 and 100 endpoints per model,
//! with and without provider preferences (target: under 5 µs for 50).
//!
//! Run: `cargo bench -p tollgate-routing --bench plan`.

// Bench set-up unwraps: a broken synthetic catalog should stop the bench.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::json;
use tollgate_catalog::{Catalog, DataCollection, Dialect, ProviderConfig};
use tollgate_routing::{EndpointHealth, EndpointKey, HealthSnapshot, Policy, RouteRequest, plan};
use tollgate_schema::listing::ProviderListing;

const MODEL: &str = "bench/model";
const QUANTS: [&str; 3] = ["fp8", "fp16", "bf16"];

/// `n` providers serving `bench/model` at various prices, policies and
/// quantizations, each also serving two other models.
fn catalog(n: usize) -> Catalog {
    let pairs = (0..n)
        .map(|i| {
            let slug = format!("provider-{i}");
            let config = ProviderConfig {
                slug: slug.clone(),
                name: format!("Provider {i}"),
                dialect: Dialect::Openai,
                base_url: format!("https://{slug}.example/v1"),
                api_key_env: None,
                models: Some(format!("{slug}.json").into()),
                models_url: None,
                data_collection: if i % 2 == 0 {
                    DataCollection::Deny
                } else {
                    DataCollection::Allow
                },
                zdr: i % 3 == 0,
                privacy_policy_url: None,
                terms_of_service_url: None,
                status_page_url: None,
                headquarters: None,
                max_messages: None,
                timeout_secs: None,
            };
            let model = |id: &str| {
                json!({
                    "id": id,
                    "name": id,
                    "created": 1_700_000_000,
                    "input_modalities": ["text"],
                    "output_modalities": ["text"],
                    "quantization": QUANTS[i % 3],
                    "context_length": if i % 7 == 0 { 8192 } else { 128_000 },
                    "max_output_length": 4096,
                    "pricing": {
                        "prompt": format!("0.000000{}", 1 + i % 9),
                        "completion": format!("0.00000{}", 1 + i % 9),
                    },
                    "supported_sampling_parameters": ["temperature", "top_p", "stop", "seed"],
                    "supported_features": if i % 4 == 0 { json!([]) } else { json!(["tools", "json_mode"]) },
                })
            };
            let listing: ProviderListing = serde_json::from_value(json!({
                "data": [model(MODEL), model("bench/other"), model("bench/third")]
            }))
            .unwrap();
            (config, listing)
        })
        .collect();
    Catalog::build(pairs).unwrap()
}

/// Health for every endpoint of `bench/model`: measured, one in ten in
/// outage.
/// Percentiles from a median, each next one `step` times the last.
fn pct(p50: f64, step: f64) -> tollgate_schema::models::Percentiles {
    tollgate_schema::models::Percentiles {
        p50,
        p75: p50 * step,
        p90: p50 * step * step,
        p99: p50 * step * step * step,
    }
}

fn health(n: usize) -> HealthSnapshot {
    let mut h = HealthSnapshot::new();
    for i in 0..n {
        let e = if i % 10 == 3 {
            EndpointHealth::outage()
        } else {
            EndpointHealth::up()
        };
        h.insert(
            EndpointKey::new(MODEL, format!("provider-{i}")),
            e.with_throughput(20.0 + i as f64)
                .with_latency_ms(200.0 + (i % 13) as f64 * 10.0)
                .with_throughput_percentiles(pct(20.0 + i as f64, 0.8))
                .with_latency_percentiles(pct(200.0 + (i % 13) as f64 * 10.0, 1.5)),
        );
    }
    h
}

fn plain_request() -> RouteRequest {
    RouteRequest::new(MODEL)
        .with_prompt_tokens(1500)
        .with_max_output_tokens(500)
        .with_parameters(["temperature", "max_tokens"])
}

fn preferences_request() -> RouteRequest {
    let prefs = serde_json::from_value(json!({
        "order": ["provider-3", "Provider 1"],
        "ignore": ["provider-5"],
        "data_collection": "deny",
        "require_parameters": true,
        "quantizations": ["fp8", "fp16"],
        "max_price": {"prompt": 8, "completion": "80"},
        "preferred_max_latency": 0.3,
        "preferred_min_throughput": {"p50": 30, "p90": 20},
    }))
    .unwrap();
    plain_request()
        .with_parameters(["tools"])
        .with_provider(prefs)
}

fn bench_plan(c: &mut Criterion) {
    let policy = Policy::default();
    let mut group = c.benchmark_group("plan");
    for n in [1usize, 10, 50, 100] {
        let catalog = catalog(n);
        let health = health(n);
        let cases = [
            ("default", plain_request()),
            ("preferences", preferences_request()),
            ("sort-throughput", {
                let mut r = plain_request();
                r.model = Some(format!("{MODEL}:nitro"));
                r
            }),
        ];
        for (name, req) in &cases {
            let mut rng = SmallRng::seed_from_u64(7);
            group.bench_with_input(BenchmarkId::new(*name, n), req, |b, req| {
                b.iter(|| {
                    let p = plan(black_box(req), &catalog, &health, &policy, &mut rng);
                    black_box(p.map(|p| p.attempts.len()).unwrap_or(0))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
