//! Integration tests of `tollgate-catalog`: the demo fixtures, the invalid
//! listing fixtures, model ids and provider configuration.

// clippy.toml allows unwrap inside `#[test]` functions only; the helpers
// below are test code too.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tollgate_catalog::{Catalog, ProviderConfig};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_json(relative: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace().join(relative)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn demo() -> Catalog {
    tollgate_catalog::demo::catalog().unwrap()
}

mod demo_catalog {
    use super::*;
    use rust_decimal::Decimal;
    use tollgate_catalog::{DataCollection, Dialect, EndpointHealth, ModelId};

    #[test]
    fn configs_parse_with_their_policies() {
        let configs = tollgate_catalog::demo::configs().unwrap();
        let summary: Vec<_> = configs
            .iter()
            .map(|c| (c.slug.as_str(), c.name.as_str(), c.data_collection, c.zdr))
            .collect();
        assert_eq!(
            summary,
            [
                ("mock-alpha", "Mock Alpha", DataCollection::Allow, false),
                ("mock-beta", "Mock Beta", DataCollection::Deny, false),
                ("mock-gamma", "Mock Gamma", DataCollection::Deny, true),
                (
                    "mock-anthropic",
                    "Mock Anthropic",
                    DataCollection::Deny,
                    false
                ),
                ("mock-gemini", "Mock Gemini", DataCollection::Allow, false),
            ]
        );
        let dialects: Vec<_> = configs
            .iter()
            .map(|c| (c.dialect, c.base_url.as_str()))
            .collect();
        assert_eq!(
            dialects,
            [
                (Dialect::Openai, "http://127.0.0.1:0/v1"),
                (Dialect::Openai, "http://127.0.0.1:0/v1"),
                (Dialect::Openai, "http://127.0.0.1:0/v1"),
                (Dialect::Anthropic, "http://127.0.0.1:0/v1"),
                (Dialect::Gemini, "http://127.0.0.1:0/v1beta"),
            ]
        );
        for c in &configs {
            assert_eq!(c.api_key_env, None);
        }
    }

    #[test]
    fn loading_from_disk_equals_the_embedded_demo() {
        let configs = tollgate_catalog::demo::configs().unwrap();
        let loaded = Catalog::load(&configs, &workspace().join("fixtures/providers")).unwrap();
        let embedded = demo();
        assert_eq!(loaded.models(), embedded.models());
        assert_eq!(loaded.providers(), embedded.providers());
    }

    #[test]
    fn models_are_sorted_by_id() {
        let catalog = demo();
        let ids: Vec<&str> = catalog.models().iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "mock/echo",
                "mock/echo-anthropic",
                "mock/echo-gemini",
                "mock/echo:free",
                "mock/embed",
                "mock/no-tools",
                "mock/reasoner",
                "mock/small-context",
            ]
        );
    }

    #[test]
    fn echo_has_three_endpoints_in_config_order() {
        let catalog = demo();
        let echo = catalog.model("mock/echo").unwrap();
        let rows: Vec<_> = echo
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.provider.as_str(),
                    e.provider_name.as_str(),
                    e.upstream_model.as_str(),
                    e.quantization.as_str(),
                    e.pricing.prompt.to_string(),
                    e.pricing.completion.to_string(),
                    e.data_collection,
                    e.zdr,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "mock-alpha",
                    "Mock Alpha",
                    "mock/echo",
                    "fp8",
                    "0.000001".into(),
                    "0.000002".into(),
                    DataCollection::Allow,
                    false
                ),
                (
                    "mock-beta",
                    "Mock Beta",
                    "mock/echo",
                    "bf16",
                    "0.000002".into(),
                    "0.000004".into(),
                    DataCollection::Deny,
                    false
                ),
                (
                    "mock-gamma",
                    "Mock Gamma",
                    "mock/echo",
                    "fp16",
                    "0.000003".into(),
                    "0.000006".into(),
                    DataCollection::Deny,
                    true
                ),
            ]
        );
        for e in &echo.endpoints {
            assert_eq!((e.context_length, e.max_output_tokens), (128_000, 16_384));
            assert!(e.has_feature("tools"));
            assert!(e.supports_parameter("tools"));
            assert!(e.supports_parameter("max_tokens"));
            assert!(!e.is_free());
        }
        assert_eq!(echo.tokenizer.as_deref(), Some("o200k"));
        assert_eq!(
            echo.created, 1_733_011_200,
            "earliest of the three listings"
        );
        assert_eq!(echo.cheapest_endpoint().unwrap().provider, "mock-alpha");
        assert_eq!(echo.top_endpoint().unwrap().provider, "mock-alpha");
        let gamma = echo.endpoint("mock-gamma").unwrap();
        assert_eq!(gamma.pricing.input_cache_read, Decimal::new(3, 7));
        assert_eq!(gamma.pricing.input_cache_write, Decimal::new(375, 8));
    }

    #[test]
    fn supported_parameters_union() {
        let catalog = demo();
        let echo = catalog.model("mock/echo").unwrap().supported_parameters();
        assert!(echo.contains("tools"));
        assert!(echo.contains("structured_outputs"), "from mock-alpha only");
        let beta = catalog
            .model("mock/echo")
            .unwrap()
            .endpoint("mock-beta")
            .unwrap();
        assert!(!beta.supports_parameter("structured_outputs"));
        let no_tools = catalog
            .model("mock/no-tools")
            .unwrap()
            .supported_parameters();
        assert!(!no_tools.contains("tools"));
        assert!(!no_tools.contains("tool_choice"));
        let reasoner = catalog
            .model("mock/reasoner")
            .unwrap()
            .supported_parameters();
        for p in ["reasoning", "include_reasoning", "tools", "max_tokens"] {
            assert!(reasoner.contains(p), "{p}");
        }
    }

    #[test]
    fn free_variant_is_its_own_model() {
        let catalog = demo();
        let free = catalog.model("mock/echo:free").unwrap();
        assert!(free.is_free());
        assert_eq!(free.endpoints.len(), 1);
        assert_eq!(free.endpoints[0].upstream_model, "mock/echo-free");
        assert_eq!(free.endpoints[0].context_length, 32_768);

        let resolve = |id: &str| {
            catalog
                .resolve(&ModelId::parse(id).unwrap())
                .map(|m| m.id.as_str())
        };
        assert_eq!(resolve("mock/echo:free"), Some("mock/echo:free"));
        assert_eq!(resolve("mock/echo:nitro"), Some("mock/echo"));
        assert_eq!(resolve("mock/echo"), Some("mock/echo"));
        assert_eq!(resolve("mock/no-tools:free"), Some("mock/no-tools"));
        assert_eq!(resolve("mock/missing:free"), None);
        assert_eq!(resolve("openrouter/auto"), None);
    }

    #[test]
    fn special_models() {
        let catalog = demo();
        let small = catalog.model("mock/small-context").unwrap();
        assert_eq!(
            (
                small.endpoints[0].context_length,
                small.endpoints[0].max_output_tokens
            ),
            (4096, 1024)
        );
        let embed = catalog.model("mock/embed").unwrap();
        assert_eq!(embed.output_modalities, ["embeddings"]);
        assert_eq!(embed.endpoints[0].pricing.prompt, Decimal::new(1, 7));
        let api = embed.to_api();
        assert_eq!(
            api.architecture.modality.as_deref(),
            Some("text->embeddings")
        );
        let reasoner = catalog.model("mock/reasoner").unwrap();
        assert_eq!(reasoner.endpoints[0].provider, "mock-gamma");
        assert_eq!(
            reasoner.endpoints[0].pricing.internal_reasoning,
            Decimal::new(16, 6)
        );
    }

    #[test]
    fn providers_carry_config_and_listing_data() {
        let catalog = demo();
        let gamma = catalog.provider("mock-gamma").unwrap();
        assert_eq!(gamma.datacenters, ["US"]);
        assert!(gamma.zdr);
        assert_eq!(catalog.provider("mock-beta").unwrap().datacenters, ["DE"]);
        assert!(catalog.provider("nope").is_none());
    }

    #[test]
    fn models_api_of_echo_matches_the_hand_written_file() {
        let list = demo().models_api();
        assert_eq!(list.data.len(), 8);
        let echo = list.data.iter().find(|m| m.id == "mock/echo").unwrap();
        assert_eq!(
            serde_json::to_value(echo).unwrap(),
            read_json("fixtures/listings/expected-models-echo.json")
        );
    }

    #[test]
    fn endpoints_api_of_echo_matches_the_hand_written_file() {
        let list = demo().endpoints_api("mock/echo").unwrap();
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            read_json("fixtures/listings/expected-endpoints-echo.json")
        );
        assert!(demo().endpoints_api("mock/missing").is_none());
    }

    #[test]
    fn endpoints_api_takes_health_per_provider_and_model() {
        let list = demo()
            .endpoints_api_with("mock/echo", |e| {
                if e.provider == "mock-gamma" && e.model == "mock/echo" {
                    EndpointHealth {
                        status: Some(-2),
                        uptime_last_30m: Some(50.0),
                        ..EndpointHealth::default()
                    }
                } else {
                    EndpointHealth {
                        status: Some(0),
                        uptime_last_30m: Some(100.0),
                        ..EndpointHealth::default()
                    }
                }
            })
            .unwrap();
        let health: Vec<_> = list
            .data
            .endpoints
            .iter()
            .map(|e| (e.tag.as_str(), e.status, e.uptime_last_30m))
            .collect();
        assert_eq!(
            health,
            [
                ("mock-alpha", Some(0), Some(100.0)),
                ("mock-beta", Some(0), Some(100.0)),
                ("mock-gamma", Some(-2), Some(50.0)),
            ]
        );
    }

    #[test]
    fn providers_api() {
        let value = serde_json::to_value(demo().providers_api()).unwrap();
        // Sorted by slug: alpha, anthropic, beta, gamma, gemini.
        assert_eq!(
            value["data"][2],
            serde_json::json!({
                "name": "Mock Beta",
                "slug": "mock-beta",
                "privacy_policy_url": "https://example.com/mock-beta/privacy",
                "terms_of_service_url": null,
                "status_page_url": null,
                "headquarters": "DE",
                "datacenters": ["DE"],
                "data_collection": "deny",
                "zdr": false,
                "dialect": "openai"
            })
        );
        let slugs: Vec<_> = value["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["slug"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            slugs,
            [
                "mock-alpha",
                "mock-anthropic",
                "mock-beta",
                "mock-gamma",
                "mock-gemini"
            ]
        );
    }

    #[test]
    fn provider_message_cap_is_the_default_and_listing_wins() {
        let mut pairs = tollgate_catalog::demo::listings().unwrap();
        pairs[2].0.max_messages = Some(1000);
        pairs[2].1.data[1].max_messages = Some(50);
        let catalog = Catalog::build(pairs).unwrap();
        let echo = catalog.model("mock/echo").unwrap();
        assert_eq!(echo.endpoint("mock-alpha").unwrap().max_messages, None);
        assert_eq!(
            echo.endpoint("mock-gamma").unwrap().max_messages,
            Some(1000)
        );
        let reasoner = catalog.model("mock/reasoner").unwrap();
        assert_eq!(reasoner.endpoints[0].max_messages, Some(50));
    }

    #[test]
    fn the_catalog_is_cheap_to_share() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Catalog>();
        let a = demo();
        let b = a.clone();
        assert!(std::ptr::eq(a.models(), b.models()));
    }
}

mod invalid_listings {
    use super::*;
    use tollgate_catalog::{Error, parse_listing};

    /// Every `fixtures/listings/invalid/*.json` yields exactly the problems
    /// of its sibling `*.expected` file.
    #[test]
    fn each_fixture_yields_exactly_its_expected_problems() {
        let dir = workspace().join("fixtures/listings/invalid");
        let mut checked = 0;
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_str().unwrap();
            let source = format!("fixtures/listings/invalid/{name}");
            let bytes = std::fs::read(&path).unwrap();
            let expected = std::fs::read_to_string(path.with_extension("expected"))
                .unwrap_or_else(|_| panic!("{name} has no .expected sibling"));
            let err = parse_listing("mock-invalid", &source, &bytes)
                .expect_err(&format!("{name} should be invalid"));
            assert_eq!(err.to_string(), expected.trim_end(), "{name}");
            assert_eq!(err.len(), expected.trim_end().lines().count(), "{name}");
            checked += 1;
        }
        assert!(checked >= 6, "only {checked} fixtures");
    }

    #[test]
    fn the_demo_listings_are_valid() {
        for (name, text) in tollgate_catalog::demo::LISTINGS {
            parse_listing("mock", name, text.as_bytes()).unwrap();
        }
    }

    #[test]
    fn problems_carry_structured_fields() {
        let bytes =
            std::fs::read(workspace().join("fixtures/listings/invalid/negative-price.json"))
                .unwrap();
        let err = parse_listing("mock-alpha", "x.json", &bytes).unwrap_err();
        let first = &err.problems[0];
        assert_eq!(first.provider, "mock-alpha");
        assert_eq!(first.file, "x.json");
        assert_eq!(first.model.as_deref(), Some("mock/a"));
        assert_eq!(first.field.as_deref(), Some("pricing.prompt"));
        assert_eq!(first.message, "\"-1\" is negative");
    }

    #[test]
    fn a_missing_file_names_the_file_and_the_provider() {
        let mut config = tollgate_catalog::demo::configs().unwrap().remove(0);
        config.models = Some("does-not-exist.json".into());
        let err = tollgate_catalog::load_listing_file(&config, Path::new("/nowhere")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider `mock-alpha`: cannot read listing file /nowhere/does-not-exist.json: file not found"
        );
    }

    #[test]
    fn load_reports_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let invalid = workspace().join("fixtures/listings/invalid");
        let mut configs = tollgate_catalog::demo::configs().unwrap();
        configs[0].models = Some(invalid.join("negative-price.json"));
        configs[1].models = Some("missing.json".into());
        configs.truncate(2);
        let err = Catalog::load(&configs, dir.path()).unwrap_err();
        let leaves: Vec<&Error> = err.iter().collect();
        assert_eq!(leaves.len(), 2, "{err}");
        assert!(matches!(leaves[0], Error::Listing(l) if l.len() == 4));
        assert!(
            matches!(leaves[1], Error::ReadListing { provider, .. } if provider == "mock-beta")
        );
        let text = err.to_string();
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains(
            "provider mock-alpha, model mock/a: field pricing.prompt: \"-1\" is negative"
        ));
        assert!(text.contains("provider `mock-beta`: cannot read listing file"));
    }

    #[test]
    fn models_url_needs_a_fetcher() {
        let mut configs = tollgate_catalog::demo::configs().unwrap();
        configs.truncate(1);
        configs[0].models = None;
        configs[0].models_url = Some("https://mock.example/v1/models".into());
        let err = Catalog::load(&configs, Path::new(".")).unwrap_err();
        assert!(err.to_string().starts_with(
            "provider `mock-alpha`: listing comes from models_url https://mock.example/v1/models"
        ));
        let catalog = Catalog::load_with(&configs, Path::new("."), |config, url| {
            assert_eq!(
                (config.slug.as_str(), url),
                ("mock-alpha", "https://mock.example/v1/models")
            );
            Ok(tollgate_catalog::demo::LISTINGS[0].1.as_bytes().to_vec())
        })
        .unwrap();
        assert_eq!(catalog.model("mock/echo").unwrap().endpoints.len(), 1);
    }

    #[test]
    fn build_checks_listings_made_in_code() {
        let mut pairs = tollgate_catalog::demo::listings().unwrap();
        pairs[1].1.data[0].pricing.prompt = rust_decimal::Decimal::new(-1, 0);
        pairs[1].1.data[0].context_length = 0;
        let err = Catalog::build(pairs).unwrap_err().to_string();
        assert_eq!(
            err,
            "mock-beta.json: provider mock-beta, model mock/echo: field context_length: must be greater than 0\n\
             mock-beta.json: provider mock-beta, model mock/echo: field pricing.prompt: \"-1\" is negative"
        );
    }

    #[test]
    fn numbers_are_accepted_as_prices() {
        let text = tollgate_catalog::demo::LISTINGS[0]
            .1
            .replace("\"0.000001\"", "0.000001")
            .replace("\"0.000002\"", "2e-6");
        let listing = parse_listing("mock-alpha", "numbers.json", text.as_bytes()).unwrap();
        assert_eq!(
            listing.data[0].pricing.prompt,
            rust_decimal::Decimal::new(1, 6)
        );
        assert_eq!(
            listing.data[0].pricing.completion,
            rust_decimal::Decimal::new(2, 6)
        );
    }
}

mod model_ids {
    use tollgate_catalog::{ModelId, ModelIdError, Variant};

    #[test]
    fn parse_and_display_round_trip() {
        let cases: &[(&str, &str, Option<Variant>)] = &[
            ("openai/gpt-4o", "openai/gpt-4o", None),
            ("mock/echo:free", "mock/echo", Some(Variant::Free)),
            ("mock/echo:extended", "mock/echo", Some(Variant::Extended)),
            ("mock/echo:thinking", "mock/echo", Some(Variant::Thinking)),
            ("mock/echo:online", "mock/echo", Some(Variant::Online)),
            ("mock/echo:nitro", "mock/echo", Some(Variant::Nitro)),
            ("mock/echo:floor", "mock/echo", Some(Variant::Floor)),
            ("mock/echo:exacto", "mock/echo", Some(Variant::Exacto)),
            (
                "meta-llama/llama-3.1-8b-instruct",
                "meta-llama/llama-3.1-8b-instruct",
                None,
            ),
            ("01-ai/Yi-Large", "01-ai/Yi-Large", None),
            ("openrouter/auto", "openrouter/auto", None),
        ];
        for (text, base, variant) in cases {
            let id = ModelId::parse(text).unwrap();
            assert_eq!(id.base(), *base, "{text}");
            assert_eq!(id.variant(), *variant, "{text}");
            assert_eq!(id.to_string(), *text);
            assert_eq!(text.parse::<ModelId>().unwrap(), id);
        }
        assert_eq!(Variant::ALL.len(), 7);
        for v in Variant::ALL {
            assert_eq!(Variant::from_name(v.as_str()), Some(v));
        }
    }

    #[test]
    fn errors_name_the_id() {
        let cases: &[(&str, &str)] = &[
            ("", "model id is empty"),
            (
                "gpt-4o",
                "model id `gpt-4o` is not of the form `author/slug`",
            ),
            ("/gpt-4o", "model id `/gpt-4o` has an empty author"),
            ("openai/", "model id `openai/` has an empty slug"),
            ("openai/:free", "model id `openai/:free` has an empty slug"),
            (
                "a/b/c",
                "model id `a/b/c` has more than one `/`; expected `author/slug`",
            ),
            (
                "open ai/gpt",
                "model id `open ai/gpt` contains whitespace or a control character",
            ),
            (
                " a/b",
                "model id ` a/b` contains whitespace or a control character",
            ),
            ("a/b:", "model id `a/b:` has an empty variant after `:`"),
            (
                "a/b:turbo",
                "model id `a/b:turbo` has unknown variant `turbo`; valid variants: free, extended, thinking, online, nitro, floor, exacto",
            ),
            (
                "a/b:free:online",
                "model id `a/b:free:online` has unknown variant `free:online`; valid variants: free, extended, thinking, online, nitro, floor, exacto",
            ),
            (
                "a/b:FREE",
                "model id `a/b:FREE` has unknown variant `FREE`; valid variants: free, extended, thinking, online, nitro, floor, exacto",
            ),
        ];
        for (text, message) in cases {
            let err = ModelId::parse(text).unwrap_err();
            assert_eq!(err.to_string(), *message, "{text:?}");
        }
        assert!(matches!(
            ModelId::parse("a/b:turbo"),
            Err(ModelIdError::UnknownVariant { variant, .. }) if variant == "turbo"
        ));
    }

    #[test]
    fn routers() {
        for (id, router) in [
            ("openrouter/auto", true),
            ("openrouter/free", true),
            ("openrouter/auto:nitro", true),
            ("openrouter/gpt", false),
            ("mock/echo:free", false),
        ] {
            assert_eq!(ModelId::parse(id).unwrap().is_router(), router, "{id}");
        }
    }
}

mod config {
    use super::*;
    use tollgate_catalog::{Error, parse_providers_toml, validate_providers};

    fn base() -> ProviderConfig {
        tollgate_catalog::demo::configs().unwrap().remove(0)
    }

    fn problems(configs: &[ProviderConfig]) -> Vec<String> {
        match validate_providers(configs) {
            Ok(()) => vec![],
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn errors_name_the_provider_and_the_key() {
        // Both a file and a URL: the file is the synced copy; accepted.
        let mut both = base();
        both.models_url = Some("https://x.example/models".into());
        assert!(problems(std::slice::from_ref(&both)).is_empty());
        both.models_url = Some("not a url".into());
        let mut neither = base();
        neither.slug = "neither".into();
        neither.models = None;
        let mut bad = base();
        bad.slug = "Bad Slug".into();
        bad.name = " ".into();
        bad.base_url = "ftp://x".into();
        bad.api_key_env = Some("1KEY".into());
        bad.headquarters = Some("usa".into());
        bad.max_messages = Some(0);
        bad.timeout_secs = Some(0);
        bad.status_page_url = Some("not a url".into());
        assert_eq!(
            problems(&[both, neither, bad]),
            [
                "provider `mock-alpha`: key `models_url`: `not a url` is not a valid url: relative URL without a base",
                "provider `neither`: key `models`: one of `models` (a listing file) or `models_url` is required, found neither",
                "provider `Bad Slug`: key `slug`: `Bad Slug` must start with a lowercase letter or a digit (pattern [a-z0-9][a-z0-9._/-]*)",
                "provider `Bad Slug`: key `name`: must not be empty",
                "provider `Bad Slug`: key `base_url`: `ftp://x` has scheme `ftp`; expected http or https",
                "provider `Bad Slug`: key `api_key_env`: `1KEY` is not an environment variable name (letters, digits and `_`, not starting with a digit); put the key in the environment and its name here",
                "provider `Bad Slug`: key `status_page_url`: `not a url` is not a valid url: relative URL without a base",
                "provider `Bad Slug`: key `headquarters`: `usa` is not an ISO 3166 alpha-2 country code such as `US`",
                "provider `Bad Slug`: key `max_messages`: must be greater than 0",
                "provider `Bad Slug`: key `timeout_secs`: must be greater than 0",
            ]
        );
    }

    #[test]
    fn duplicate_and_empty_slugs() {
        let mut empty = base();
        empty.slug = String::new();
        assert_eq!(
            problems(&[base(), empty, base()]),
            [
                "provider `providers[1]`: key `slug`: must not be empty",
                "provider `mock-alpha`: key `slug`: duplicate slug: providers[2] and providers[0] are both `mock-alpha`",
            ]
        );
    }

    #[test]
    fn toml_unknown_key_is_refused() {
        let err = parse_providers_toml(
            "tollgate.toml",
            "[[providers]]\nslug = \"a\"\nname = \"A\"\ndialect = \"openai\"\nbase_url = \"https://a.example\"\nmodels = \"a.json\"\napi_key = \"sk-secret\"\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Toml { .. }));
        assert!(text.starts_with("tollgate.toml: "), "{text}");
        assert!(text.contains("unknown field `api_key`"), "{text}");
    }

    #[test]
    fn toml_bad_dialect_is_refused() {
        let err = parse_providers_toml(
            "p.toml",
            "[[providers]]\nslug = \"a\"\nname = \"A\"\ndialect = \"cohere\"\nbase_url = \"https://a.example\"\nmodels = \"a.json\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown variant `cohere`"), "{err}");
        assert!(err.contains("dialect"), "{err}");
    }

    #[test]
    fn toml_validation_runs() {
        let err = parse_providers_toml(
            "p.toml",
            "[[providers]]\nslug = \"a\"\nname = \"A\"\ndialect = \"gemini\"\nbase_url = \"https://a.example\"\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "provider `a`: key `models`: one of `models` (a listing file) or `models_url` is required, found neither"
        );
    }

    #[test]
    fn build_refuses_invalid_configs() {
        let mut pairs = tollgate_catalog::demo::listings().unwrap();
        pairs[1].0.slug = "mock-alpha".into();
        let err = Catalog::build(pairs).unwrap_err().to_string();
        assert_eq!(
            err,
            "provider `mock-alpha`: key `slug`: duplicate slug: providers[1] and providers[0] are both `mock-alpha`"
        );
    }
}
