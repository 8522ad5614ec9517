//! `listing`: the provider listing-file validator (`tollgate_catalog::
//! parse_listing`), which reads operators' and providers' JSON.

use serde_json::{Value, json};
use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::unicode;
use tollgate_fuzz::rand::Rng;

use crate::support::{maybe, object, pick, some_number};

const DICTIONARY: &[&str] = &[
    "data",
    "id",
    "name",
    "created",
    "input_modalities",
    "output_modalities",
    "quantization",
    "context_length",
    "max_output_length",
    "pricing",
    "prompt",
    "completion",
    "image",
    "request",
    "input_cache_reads",
    "input_cache_writes",
    "web_search",
    "internal_reasoning",
    "supported_sampling_parameters",
    "supported_features",
    "hugging_face_id",
    "description",
    "openrouter",
    "slug",
    "datacenters",
    "country_code",
    "tokenizer",
    "instruct_type",
    "max_messages",
    "text",
    "file",
    "audio",
    "video",
    "embeddings",
    "fp8",
    "bf16",
    "unknown",
    "tools",
    "json_mode",
    "structured_outputs",
    "reasoning",
    "temperature",
    "top_p",
    "stop",
    "0.000001",
    "-0.1",
    "1e-7",
    "0",
    "o200k",
    "claude",
];

fn price(rng: &mut Rand) -> Value {
    match rng.random_range(0..6) {
        0 => some_number(rng, 0.0, 1.0),
        1 => Value::from(pick(
            rng,
            &[
                "-0.1",
                "abc",
                "",
                "1e-7",
                "NaN",
                "0.0000000000000000000000000001",
                "79228162514264337593543950336",
            ],
        )),
        _ => Value::from(format!("0.{:06}", rng.random_range(0..1_000_000))),
    }
}

fn some_of(rng: &mut Rand, words: &[&str]) -> Value {
    Value::Array(
        (0..rng.random_range(0..4))
            .map(|_| {
                Value::from(if maybe(rng, 0.9) {
                    pick(rng, words).to_owned()
                } else {
                    unicode(rng, 6)
                })
            })
            .collect(),
    )
}

fn model(rng: &mut Rand) -> Value {
    let id = if maybe(rng, 0.8) {
        format!(
            "{}/{}",
            pick(rng, &["acme", "mock", "a"]),
            pick(rng, &["widget", "m-1", "x:free", "", "Widget"])
        )
    } else {
        unicode(rng, 12)
    };
    object(vec![
        ("id", maybe(rng, 0.95).then(|| Value::from(id))),
        (
            "name",
            maybe(rng, 0.95).then(|| Value::from(unicode(rng, 12))),
        ),
        (
            "created",
            maybe(rng, 0.9).then(|| some_number(rng, 0.0, 2e9)),
        ),
        (
            "input_modalities",
            maybe(rng, 0.95).then(|| some_of(rng, &["text", "image", "file", "audio", "video"])),
        ),
        (
            "output_modalities",
            maybe(rng, 0.95).then(|| some_of(rng, &["text", "image", "embeddings"])),
        ),
        (
            "quantization",
            maybe(rng, 0.9)
                .then(|| Value::from(pick(rng, &["fp8", "bf16", "unknown", "int3", ""]))),
        ),
        (
            "context_length",
            maybe(rng, 0.95).then(|| some_number(rng, 0.0, 2e6)),
        ),
        (
            "max_output_length",
            maybe(rng, 0.9).then(|| some_number(rng, 0.0, 2e5)),
        ),
        (
            "pricing",
            maybe(rng, 0.95).then(|| {
                object(vec![
                    ("prompt", maybe(rng, 0.95).then(|| price(rng))),
                    ("completion", maybe(rng, 0.95).then(|| price(rng))),
                    ("image", maybe(rng, 0.3).then(|| price(rng))),
                    ("request", maybe(rng, 0.3).then(|| price(rng))),
                    ("input_cache_reads", maybe(rng, 0.2).then(|| price(rng))),
                    ("input_cache_writes", maybe(rng, 0.2).then(|| price(rng))),
                    ("internal_reasoning", maybe(rng, 0.1).then(|| price(rng))),
                ])
            }),
        ),
        (
            "supported_sampling_parameters",
            maybe(rng, 0.9).then(|| {
                some_of(
                    rng,
                    &["temperature", "top_p", "stop", "seed", "max_tokens", "x"],
                )
            }),
        ),
        (
            "supported_features",
            maybe(rng, 0.9).then(|| {
                some_of(
                    rng,
                    &["tools", "json_mode", "structured_outputs", "reasoning", "x"],
                )
            }),
        ),
        (
            "description",
            maybe(rng, 0.3).then(|| Value::from(unicode(rng, 30))),
        ),
        (
            "openrouter",
            maybe(rng, 0.2).then(|| json!({"slug": unicode(rng, 10)})),
        ),
        (
            "datacenters",
            maybe(rng, 0.2)
                .then(|| json!([{"country_code": pick(rng, &["US", "DE", "us", "XX", ""])}])),
        ),
        (
            "tokenizer",
            maybe(rng, 0.2).then(|| Value::from(pick(rng, &["o200k", "cl100k", "claude", ""]))),
        ),
        (
            "max_messages",
            maybe(rng, 0.1).then(|| some_number(rng, 0.0, 1e4)),
        ),
    ])
}

fn target(bytes: &[u8]) {
    match tollgate_catalog::parse_listing("fuzz", "fuzz.json", bytes) {
        Ok(listing) => {
            // What passed the checks passes them again once typed.
            if let Err(e) = tollgate_catalog::validate_listing("fuzz", "fuzz.json", &listing) {
                panic!("a parsed listing fails validation: {e}");
            }
            // And the catalog built from it answers the Models API.
            let config = tollgate_catalog::demo::configs()
                .expect("the demo configs")
                .swap_remove(0);
            if let Ok(catalog) = tollgate_catalog::Catalog::build(vec![(config, listing)]) {
                let models = catalog.models_api();
                serde_json::to_vec(&models).expect("the model list serialises");
                for model in catalog.models() {
                    let endpoints = catalog.endpoints_api(&model.id);
                    assert!(
                        endpoints.is_some(),
                        "a listed model without endpoints: {}",
                        model.id
                    );
                    serde_json::to_vec(&endpoints).expect("endpoints serialise");
                }
                serde_json::to_vec(&catalog.providers_api()).expect("providers serialise");
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "an error with no problem in it");
            let text = errors.to_string();
            assert!(text.contains("fuzz.json"), "problems name the file: {text}");
        }
    }
}

#[test]
fn listing() {
    tollgate_fuzz::Fuzzer::new("listing")
        .generator(|rng| {
            let n = rng.random_range(0..5);
            let mut models: Vec<Value> = (0..n).map(|_| model(rng)).collect();
            if n > 0 && maybe(rng, 0.1) {
                let dup = models[0].clone();
                models.push(dup);
            }
            serde_json::to_vec(&json!({"data": models})).unwrap_or_default()
        })
        .dictionary(DICTIONARY)
        .run(target);
}
