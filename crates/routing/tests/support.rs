//! Catalogs built in code, and a `check` helper for plans.

use std::str::FromStr;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tollgate_catalog::{Catalog, DataCollection, Dialect, ProviderConfig};
use tollgate_routing::{HealthSnapshot, Plan, Policy, RouteRequest};
use tollgate_schema::listing::ProviderListing;
use tollgate_schema::provider::ProviderPreferences;

/// Builds a catalog provider by provider; `model*` calls add to the last
/// provider.
#[derive(Default)]
pub struct Builder {
    providers: Vec<(ProviderConfig, Vec<Value>)>,
}

/// USD per million tokens -> the listing's USD per token string.
pub fn per_token(per_million: &str) -> String {
    (Decimal::from_str(per_million).unwrap() / Decimal::from(1_000_000))
        .normalize()
        .to_string()
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// A provider that may collect data, without ZDR.
    pub fn provider(self, slug: &str, name: &str) -> Builder {
        self.provider_with(slug, name, DataCollection::Allow, false)
    }

    pub fn provider_with(
        mut self,
        slug: &str,
        name: &str,
        data_collection: DataCollection,
        zdr: bool,
    ) -> Builder {
        let config = ProviderConfig {
            slug: slug.into(),
            name: name.into(),
            dialect: Dialect::Openai,
            base_url: format!("https://{}.example/v1", slug.replace('/', "-")),
            api_key_env: None,
            models: Some(format!("{}.json", slug.replace('/', "-")).into()),
            models_url: None,
            data_collection,
            zdr,
            privacy_policy_url: None,
            terms_of_service_url: None,
            status_page_url: None,
            headquarters: None,
            max_messages: None,
            timeout_secs: None,
        };
        self.providers.push((config, Vec::new()));
        self
    }

    /// A text model at `price` USD per million tokens (prompt and
    /// completion), 100k context, 4096 completion, fp16, no features.
    pub fn model(self, id: &str, price: &str) -> Builder {
        self.model_with(id, price, |_| {})
    }

    /// Like [`Builder::model`], then `edit` changes the listing entry.
    pub fn model_with(mut self, id: &str, price: &str, edit: impl FnOnce(&mut Value)) -> Builder {
        let mut m = json!({
            "id": id,
            "name": id,
            "created": 1_700_000_000,
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "quantization": "fp16",
            "context_length": 100_000,
            "max_output_length": 4096,
            "pricing": {"prompt": per_token(price), "completion": per_token(price)},
            "supported_sampling_parameters": ["temperature", "top_p", "stop", "seed"],
            "supported_features": [],
        });
        edit(&mut m);
        self.providers
            .last_mut()
            .expect("a provider first")
            .1
            .push(m);
        self
    }

    pub fn build(self) -> Catalog {
        let pairs = self
            .providers
            .into_iter()
            .map(|(config, models)| {
                let listing: ProviderListing =
                    serde_json::from_value(json!({ "data": models })).unwrap();
                (config, listing)
            })
            .collect();
        Catalog::build(pairs).unwrap()
    }
}

/// The seed's example: A $1, B $2, C $3 per million tokens for `m/x`.
pub fn abc() -> Catalog {
    Builder::new()
        .provider("a", "Provider A")
        .model("m/x", "1")
        .provider("b", "Provider B")
        .model("m/x", "2")
        .provider("c", "Provider C")
        .model("m/x", "3")
        .build()
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn prefs(v: Value) -> ProviderPreferences {
    serde_json::from_value(v).unwrap()
}

pub fn request(model: &str, provider: Value) -> RouteRequest {
    RouteRequest::new(model)
        .with_prompt_tokens(1000)
        .with_provider(prefs(provider))
}

/// The plan's attempts as `provider` (or `model@provider` when the plan
/// spans several models).
pub fn order(plan: &Plan<'_>) -> Vec<String> {
    let several = plan
        .attempts
        .iter()
        .any(|a| a.model() != plan.attempts[0].model());
    plan.attempts
        .iter()
        .map(|a| {
            if several {
                format!("{}@{}", a.model(), a.provider())
            } else {
                a.provider().to_string()
            }
        })
        .collect()
}

/// The exclusions as `provider: reason` strings.
pub fn excluded(plan: &Plan<'_>) -> Vec<String> {
    plan.excluded.iter().map(ToString::to_string).collect()
}

/// Plans with the default policy, no health data and a fixed seed.
pub fn check(
    catalog: &Catalog,
    req: &RouteRequest,
) -> Result<Vec<String>, tollgate_routing::Error> {
    check_with(catalog, req, &HealthSnapshot::new(), &Policy::default())
}

pub fn check_with(
    catalog: &Catalog,
    req: &RouteRequest,
    health: &HealthSnapshot,
    policy: &Policy,
) -> Result<Vec<String>, tollgate_routing::Error> {
    let plan = tollgate_routing::plan(req, catalog, health, policy, &mut rng(7))?;
    Ok(order(&plan))
}

/// Sets a listing entry's prices (USD per million tokens).
pub fn set_prices(m: &mut Value, prompt: &str, completion: &str) {
    m["pricing"] = json!({"prompt": per_token(prompt), "completion": per_token(completion)});
}

/// A copy of the original three-provider demo catalog (mock-alpha, -beta,
/// -gamma), kept here so that changes to the shared fixtures do not move
/// these tests.
pub fn demo() -> Catalog {
    let features = |m: &mut Value, f: &[&str]| m["supported_features"] = json!(f);
    let window = |m: &mut Value, context: u64, output: u64| {
        m["context_length"] = context.into();
        m["max_output_length"] = output.into();
    };
    Builder::new()
        .provider_with("mock-alpha", "Mock Alpha", DataCollection::Allow, false)
        .model_with("mock/echo", "1", |m| {
            set_prices(m, "1", "2");
            window(m, 128_000, 16_384);
            features(m, &["tools", "json_mode", "structured_outputs"]);
            m["quantization"] = "fp8".into();
        })
        .model_with("mock/echo-free", "0", |m| {
            m["openrouter"] = json!({"slug": "mock/echo:free"});
            window(m, 32_768, 4096);
            features(m, &["tools"]);
        })
        .model_with("mock/small-context", "1", |m| {
            set_prices(m, "0.5", "1.5");
            window(m, 4096, 1024);
            features(m, &["tools"]);
        })
        .model_with("mock/embed", "0.1", |m| {
            set_prices(m, "0.1", "0");
            window(m, 8192, 0);
            m["output_modalities"] = json!(["embeddings"]);
        })
        .provider_with("mock-beta", "Mock Beta", DataCollection::Deny, false)
        .model_with("mock/echo", "2", |m| {
            set_prices(m, "2", "4");
            window(m, 128_000, 16_384);
            features(m, &["tools", "json_mode"]);
            m["quantization"] = "bf16".into();
        })
        .model_with("mock/no-tools", "1", |m| {
            set_prices(m, "0.5", "1");
            window(m, 32_768, 4096);
        })
        .provider_with("mock-gamma", "Mock Gamma", DataCollection::Deny, true)
        .model_with("mock/echo", "3", |m| {
            set_prices(m, "3", "6");
            window(m, 128_000, 16_384);
            features(m, &["tools", "json_mode"]);
        })
        .model_with("mock/reasoner", "4", |m| {
            set_prices(m, "4", "16");
            window(m, 65_536, 32_768);
            features(m, &["reasoning", "tools"]);
        })
        .build()
}
