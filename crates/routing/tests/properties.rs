//! Properties over random catalogs, preferences and health: plans never
//! panic, never contain an excluded or filtered-out endpoint, account for
//! every endpoint, and respect `order` and outages.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_catalog::{Catalog, DataCollection};
use tollgate_routing::{Choice, EndpointHealth, EndpointKey, Error, HealthSnapshot, Policy, plan};

use crate::support::{Builder, rng};

const MODELS: [&str; 3] = ["m/a", "m/b", "m/c"];
const QUANTS: [&str; 4] = ["fp8", "fp16", "int4", "bf16"];
const PARAMS: [&str; 4] = ["tools", "temperature", "response_format", "seed"];
const VARIANTS: [&str; 6] = ["", ":free", ":nitro", ":floor", ":exacto", ":online"];
const SORTS: [&str; 4] = ["price", "throughput", "latency", "exacto"];

#[derive(Debug, Clone)]
struct Prov {
    price: u8,
    quant: usize,
    deny: bool,
    zdr: bool,
    tools: bool,
    context: u64,
    serves: [bool; 3],
    outage: [bool; 3],
    throughput: Option<u8>,
}

fn prov() -> impl Strategy<Value = Prov> {
    (
        0u8..6,
        0..QUANTS.len(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![4096u64, 32_768, 128_000]),
        any::<[bool; 3]>(),
        any::<[bool; 3]>(),
        prop::option::of(1u8..200),
    )
        .prop_map(
            |(price, quant, deny, zdr, tools, context, serves, outage, throughput)| Prov {
                price,
                quant,
                deny,
                zdr,
                tools,
                context,
                serves,
                outage,
                throughput,
            },
        )
}

#[derive(Debug, Clone)]
struct Case {
    providers: Vec<Prov>,
    order: Vec<usize>,
    only: Option<Vec<usize>>,
    ignore: Vec<usize>,
    allow_fallbacks: Option<bool>,
    require_parameters: bool,
    deny: bool,
    zdr: bool,
    quants: Option<Vec<usize>>,
    sort: Option<usize>,
    max_prompt: Option<u8>,
    params: Vec<usize>,
    prompt: u64,
    max_out: Option<u64>,
    compressible: bool,
    models: Vec<usize>,
    variant: usize,
    seed: u64,
    exclude_outages: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let idx = || prop::collection::vec(0usize..10, 0..4);
    (
        (
            prop::collection::vec(prov(), 1..8),
            idx(),
            prop::option::weighted(0.2, idx()),
            prop::collection::vec(0usize..10, 0..2),
            prop::option::of(any::<bool>()),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.2),
            prop::option::weighted(0.2, prop::collection::vec(0..QUANTS.len(), 0..3)),
            prop::option::of(0..SORTS.len()),
        ),
        (
            prop::option::weighted(0.2, 0u8..6),
            prop::collection::vec(0..PARAMS.len(), 0..3),
            prop_oneof![3 => 0u64..3000, 1 => 0u64..140_000],
            prop::option::of(0u64..20_000),
            any::<bool>(),
            prop::collection::vec(0..MODELS.len(), 1..4),
            prop_oneof![3 => Just(0usize), 1 => 0..VARIANTS.len()],
            any::<u64>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (
                    providers,
                    order,
                    only,
                    ignore,
                    allow_fallbacks,
                    require_parameters,
                    deny,
                    zdr,
                    quants,
                    sort,
                ),
                (
                    max_prompt,
                    params,
                    prompt,
                    max_out,
                    compressible,
                    models,
                    variant,
                    seed,
                    exclude_outages,
                ),
            )| Case {
                providers,
                order,
                only,
                ignore,
                allow_fallbacks,
                require_parameters,
                deny,
                zdr,
                quants,
                sort,
                max_prompt,
                params,
                prompt,
                max_out,
                compressible,
                models,
                variant,
                seed,
                exclude_outages,
            },
        )
}

fn slug(i: usize) -> String {
    format!("p{i}")
}

impl Case {
    fn catalog(&self) -> Option<Catalog> {
        let mut b = Builder::new();
        let mut any = false;
        for (i, p) in self.providers.iter().enumerate() {
            let dc = if p.deny {
                DataCollection::Deny
            } else {
                DataCollection::Allow
            };
            b = b.provider_with(&slug(i), &format!("Provider {i}"), dc, p.zdr);
            for (m, id) in MODELS.iter().enumerate() {
                if !p.serves[m] {
                    continue;
                }
                any = true;
                let p = p.clone();
                b = b.model_with(id, &p.price.to_string(), move |v: &mut Value| {
                    v["quantization"] = QUANTS[p.quant].into();
                    v["context_length"] = p.context.into();
                    v["max_output_length"] = 2048.into();
                    if p.tools {
                        v["supported_features"] = json!(["tools"]);
                    }
                });
            }
        }
        // A provider must list at least one model.
        any.then(|| b.build())
    }

    fn names(&self, v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| slug(i)).collect()
    }

    fn request(&self) -> tollgate_routing::RouteRequest {
        let mut prefs = json!({
            "order": self.names(&self.order),
            "ignore": self.names(&self.ignore),
            "require_parameters": self.require_parameters,
            "data_collection": if self.deny { "deny" } else { "allow" },
            "zdr": self.zdr,
        });
        if let Some(only) = &self.only {
            prefs["only"] = json!(self.names(only));
        }
        if let Some(a) = self.allow_fallbacks {
            prefs["allow_fallbacks"] = a.into();
        }
        if let Some(q) = &self.quants {
            prefs["quantizations"] = json!(q.iter().map(|&i| QUANTS[i]).collect::<Vec<_>>());
        }
        if let Some(s) = self.sort {
            prefs["sort"] = SORTS[s].into();
        }
        if let Some(m) = self.max_prompt {
            prefs["max_price"] = json!({ "prompt": m });
        }
        let chain: Vec<String> = self
            .models
            .iter()
            .map(|&m| format!("{}{}", MODELS[m], VARIANTS[self.variant]))
            .collect();
        let mut req = tollgate_routing::RouteRequest {
            model: None,
            models: chain,
            provider: crate::support::prefs(prefs),
            prompt_tokens: self.prompt,
            max_output_tokens: self.max_out,
            compressible: self.compressible,
            ..Default::default()
        };
        req.parameters = self.params.iter().map(|&i| PARAMS[i].to_string()).collect();
        req
    }

    fn health(&self) -> HealthSnapshot {
        let mut h = HealthSnapshot::new();
        for (i, p) in self.providers.iter().enumerate() {
            for (m, id) in MODELS.iter().enumerate() {
                let mut e = if p.outage[m] {
                    EndpointHealth::outage()
                } else {
                    EndpointHealth::up()
                };
                if let Some(t) = p.throughput {
                    e = e.with_throughput(f64::from(t));
                }
                h.insert(EndpointKey::new(*id, slug(i)), e);
            }
        }
        h
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn plans_are_consistent(case in case()) {
        let Some(catalog) = case.catalog() else { return Ok(()) };
        let req = case.request();
        let health = case.health();
        let policy = Policy { exclude_outages: case.exclude_outages, ..Policy::default() };
        let result = plan(&req, &catalog, &health, &policy, &mut rng(case.seed));

        // Every endpoint of every requested model that exists.
        let mut all: HashSet<(String, String)> = HashSet::new();
        for id in req.model_chain() {
            let parsed = tollgate_catalog::ModelId::parse(id).unwrap();
            if let Some(m) = catalog.resolve(&parsed) {
                for e in &m.endpoints {
                    all.insert((e.model.clone(), e.provider.clone()));
                }
            }
        }
        let plan = match result {
            Ok(p) => p,
            Err(Error::NoEndpoint { excluded, .. }) => {
                let seen: HashSet<_> =
                    excluded.iter().map(|e| (e.model.to_string(), e.provider.to_string())).collect();
                prop_assert_eq!(seen, all);
                return Ok(());
            }
            Err(Error::UnknownModel(_)) => {
                let unknown = req.model_chain().iter().any(|id| {
                    catalog.resolve(&tollgate_catalog::ModelId::parse(id).unwrap()).is_none()
                });
                prop_assert!(unknown);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}"))),
        };

        let tried: Vec<(String, String)> = plan
            .attempts
            .iter()
            .map(|a| (a.model().to_string(), a.provider().to_string()))
            .collect();
        let tried_set: HashSet<_> = tried.iter().cloned().collect();
        prop_assert_eq!(tried_set.len(), tried.len(), "an endpoint planned twice");
        let excluded: HashSet<_> =
            plan.excluded.iter().map(|e| (e.model.to_string(), e.provider.to_string())).collect();
        prop_assert!(tried_set.is_disjoint(&excluded), "planned and excluded");
        let union: HashSet<_> = tried_set.union(&excluded).cloned().collect();
        prop_assert_eq!(union, all, "every endpoint is planned or excluded");

        let prefs = &req.provider;
        for a in &plan.attempts {
            let e = a.endpoint;
            let named = |list: &Option<Vec<String>>| {
                list.as_ref().is_some_and(|l| l.iter().any(|n| n == &e.provider))
            };
            prop_assert!(!named(&prefs.ignore));
            if prefs.only.as_ref().is_some_and(|o| !o.is_empty()) {
                prop_assert!(named(&prefs.only));
            }
            if case.deny {
                prop_assert_eq!(e.data_collection, DataCollection::Deny);
            }
            if case.zdr {
                prop_assert!(e.zdr);
            }
            if let Some(q) = &prefs.quantizations && !q.is_empty() {
                prop_assert!(q.contains(&e.quantization));
            }
            if let Some(m) = case.max_prompt {
                prop_assert!(e.pricing.prompt * rust_decimal::Decimal::from(1_000_000) <= m.into());
            }
            if VARIANTS[case.variant] == ":free" {
                prop_assert!(e.is_free());
            }
            if case.require_parameters {
                prop_assert!(req.parameters.iter().all(|p| e.supports_parameter(p)));
            }
            if !a.compress {
                prop_assert!(case.prompt + case.max_out.unwrap_or(1024).min(2048) <= e.context_length);
            }
            if case.exclude_outages {
                prop_assert!(a.choice != Choice::Outage);
            }
        }

        // Within each model: ordered first (in `order` order), outages last.
        let mut i = 0;
        while i < plan.attempts.len() {
            let model = plan.attempts[i].model();
            let group: Vec<_> =
                plan.attempts[i..].iter().take_while(|a| a.model() == model).collect();
            i += group.len();
            let rank = |c: &Choice| match c {
                Choice::Ordered { .. } => 0,
                Choice::Outage => 2,
                _ => 1,
            };
            prop_assert!(group.windows(2).all(|w| rank(&w[0].choice) <= rank(&w[1].choice)));
            let positions: Vec<usize> = group
                .iter()
                .filter_map(|a| match a.choice {
                    Choice::Ordered { position } => Some(position),
                    _ => None,
                })
                .collect();
            prop_assert!(positions.windows(2).all(|w| w[0] <= w[1]));
            if case.allow_fallbacks == Some(false) {
                if case.order.is_empty() {
                    prop_assert_eq!(group.len(), 1);
                } else {
                    prop_assert_eq!(positions.len(), group.len());
                }
            }
        }
    }
}
