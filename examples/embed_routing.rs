//! Embedding `tollgate-routing` in your own service: build a catalog in
//! code, feed the health tracker, and ask for plans.
//!
//! Run: `cargo run --example embed_routing`.

// An example prints its results.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use tollgate::catalog::{Catalog, DataCollection, Dialect, ProviderConfig};
use tollgate::routing::rand::SeedableRng;
use tollgate::routing::rand::rngs::StdRng;
use tollgate::routing::{
    EndpointKey, HealthTracker, Outcome, Plan, Policy, RouteRequest, Timestamp, plan,
};
use tollgate::schema::listing::{ListingModel, ListingPricing, ProviderListing};
use tollgate::schema::provider::{DataCollection as Wanted, ProviderPreferences, ProviderSort};

/// One provider serving `acme/chat` at `price` USD per token (prompt and
/// completion), as listings give prices.
fn provider(
    slug: &str,
    name: &str,
    data_collection: DataCollection,
    price: &str,
    context_length: u64,
    features: &[&str],
) -> Result<(ProviderConfig, ProviderListing), Box<dyn std::error::Error>> {
    let config = ProviderConfig {
        slug: slug.into(),
        name: name.into(),
        dialect: Dialect::Openai,
        base_url: format!("https://api.{slug}.example/v1"),
        api_key_env: Some(format!("{}_API_KEY", slug.to_uppercase())),
        models: Some(format!("{slug}.json").into()),
        models_url: None,
        data_collection,
        zdr: false,
        privacy_policy_url: None,
        terms_of_service_url: None,
        status_page_url: None,
        headquarters: None,
        max_messages: None,
        timeout_secs: None,
    };
    let model = ListingModel {
        id: "acme/chat".into(),
        name: "Acme: Chat".into(),
        created: 1_735_689_600,
        input_modalities: vec!["text".into()],
        output_modalities: vec!["text".into()],
        quantization: "fp16".into(),
        context_length,
        max_output_length: 4096,
        pricing: ListingPricing {
            prompt: price.parse()?,
            completion: price.parse()?,
            ..ListingPricing::default()
        },
        supported_sampling_parameters: vec!["temperature".into(), "top_p".into()],
        supported_features: features.iter().map(|f| f.to_string()).collect(),
        hugging_face_id: None,
        description: None,
        openrouter: None,
        datacenters: None,
        tokenizer: None,
        instruct_type: None,
        max_messages: None,
        is_moderated: false,
        extra: Default::default(),
    };
    let listing = ProviderListing {
        data: vec![model],
        extra: Default::default(),
    };
    Ok((config, listing))
}

fn show(title: &str, plan: &Plan<'_>) {
    println!("{title}");
    for (i, a) in plan.attempts.iter().enumerate() {
        println!(
            "  {}. {:<6} {:<10} ${:.2}/M  {}",
            i + 1,
            a.provider(),
            a.model(),
            a.price_per_million,
            a.choice
        );
    }
    for e in &plan.excluded {
        println!("  excluded  {e}");
    }
    println!();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let catalog = Catalog::build(vec![
        // $1, $2, $3 and $0.50 per million tokens.
        provider(
            "alpha",
            "Alpha",
            DataCollection::Allow,
            "0.000001",
            128_000,
            &["tools"],
        )?,
        provider(
            "beta",
            "Beta",
            DataCollection::Deny,
            "0.000002",
            128_000,
            &["tools"],
        )?,
        provider(
            "gamma",
            "Gamma",
            DataCollection::Deny,
            "0.000003",
            128_000,
            &[],
        )?,
        provider(
            "tiny",
            "Tiny",
            DataCollection::Deny,
            "0.0000005",
            8192,
            &["tools"],
        )?,
    ])?;

    // The operator's `[routing]` table; here the seed's defaults.
    let policy = Policy::default();
    policy.validate()?;

    // The gateway feeds the tracker after every attempt; `beta` just failed
    // three times in a row, which is a significant outage.
    let mut tracker = HealthTracker::new(&policy);
    let beta = EndpointKey::new("acme/chat", "beta");
    for ms in [0, 400, 800] {
        let failed = Outcome::failure(Some(503)).with_latency(Duration::from_millis(120));
        tracker.record(&beta, &failed, Timestamp::from_millis(ms));
    }
    let ok = Outcome::success()
        .with_ttft(Duration::from_millis(350))
        .with_tokens_per_second(80.0);
    tracker.record(
        &EndpointKey::new("acme/chat", "alpha"),
        &ok,
        Timestamp::from_millis(900),
    );
    let health = tracker.snapshot(Timestamp::from_millis(1000));

    let mut rng = StdRng::seed_from_u64(7);

    // 1. Default load balancing: a 12k-token prompt does not fit `tiny`;
    //    `alpha` ($1) is drawn 3x as often as `gamma` ($3); `beta` is tried
    //    last because of its outage.
    let req = RouteRequest::new("acme/chat").with_prompt_tokens(12_000);
    show(
        "default (12k-token prompt):",
        &plan(&req, &catalog, &health, &policy, &mut rng)?,
    );
    let n = 10_000;
    let mut alpha_first = 0;
    for _ in 0..n {
        let p = plan(&req, &catalog, &health, &policy, &mut rng)?;
        alpha_first += usize::from(p.attempts[0].provider() == "alpha");
    }
    println!("  alpha first in {alpha_first} of {n} plans (expected 3/4)\n");

    // 2. Provider preferences: no data collection, tools required, cheapest
    //    first.
    let private = ProviderPreferences {
        data_collection: Some(Wanted::Deny),
        require_parameters: Some(true),
        sort: Some(ProviderSort::By("price".into())),
        ..ProviderPreferences::default()
    };
    let req = RouteRequest::new("acme/chat")
        .with_prompt_tokens(2_000)
        .with_parameters(["tools", "temperature"])
        .with_provider(private);
    show(
        "data_collection=deny, require_parameters, sort=price:",
        &plan(&req, &catalog, &health, &policy, &mut rng)?,
    );

    // 3. Nothing can serve it: the error says why, with the status to send.
    let only_gamma = ProviderPreferences {
        only: Some(vec!["Gamma".into()]),
        require_parameters: Some(true),
        ..ProviderPreferences::default()
    };
    let req = RouteRequest::new("acme/chat")
        .with_parameters(["tools"])
        .with_provider(only_gamma);
    match plan(&req, &catalog, &health, &policy, &mut rng) {
        Ok(p) => show("unexpected plan:", &p),
        Err(e) => println!("error {}: {e}", e.status()),
    }
    Ok(())
}
