//! The runtime catalog: providers, models and the endpoints serving them.

use std::collections::{BTreeMap, BTreeSet};

// foldhash: `by_id` is looked up a few times on every request.
use foldhash::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tollgate_schema::listing::{ListingModel, ListingPricing, ProviderListing};

use crate::config::{DataCollection, Dialect, ProviderConfig, validate_providers};
use crate::listing::{load_listing_file, parse_listing, validate_listing};
use crate::model_id::ModelId;
use crate::vocab::{
    ALWAYS_SUPPORTED_PARAMETERS, INPUT_MODALITIES, OUTPUT_MODALITIES, feature_parameters,
    sort_modalities,
};
use crate::{Error, Result};

/// A configured provider, as routing and transport need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderEntry {
    /// Routing id (`"openai"`).
    pub slug: String,
    /// Display name (`"OpenAI"`).
    pub name: String,
    /// Wire dialect.
    pub dialect: Dialect,
    /// Base URL of its API.
    pub base_url: String,
    /// Environment variable holding its key.
    pub api_key_env: Option<String>,
    /// Its data policy.
    pub data_collection: DataCollection,
    /// Whether it guarantees zero data retention.
    pub zdr: bool,
    /// Privacy policy URL.
    pub privacy_policy_url: Option<String>,
    /// Terms of service URL.
    pub terms_of_service_url: Option<String>,
    /// Status page URL.
    pub status_page_url: Option<String>,
    /// ISO 3166 alpha-2 country of the headquarters.
    pub headquarters: Option<String>,
    /// Countries of its datacenters: the union of its listing's
    /// `datacenters`, sorted.
    pub datacenters: Vec<String>,
    /// Default message cap of its endpoints.
    pub max_messages: Option<u32>,
    /// Request timeout.
    pub timeout: Option<Duration>,
}

impl ProviderEntry {
    fn new(config: &ProviderConfig, listing: &ProviderListing) -> ProviderEntry {
        let datacenters: BTreeSet<String> = listing
            .data
            .iter()
            .flat_map(|m| m.datacenters.iter().flatten())
            .map(|d| d.country_code.clone())
            .collect();
        ProviderEntry {
            slug: config.slug.clone(),
            name: config.name.clone(),
            dialect: config.dialect,
            base_url: config.base_url.clone(),
            api_key_env: config.api_key_env.clone(),
            data_collection: config.data_collection,
            zdr: config.zdr,
            privacy_policy_url: config.privacy_policy_url.clone(),
            terms_of_service_url: config.terms_of_service_url.clone(),
            status_page_url: config.status_page_url.clone(),
            headquarters: config.headquarters.clone(),
            datacenters: datacenters.into_iter().collect(),
            max_messages: config.max_messages,
            timeout: config.timeout_secs.map(Duration::from_secs),
        }
    }
}

/// Prices of one endpoint in USD per token (or per request / image / web
/// search). A price the listing leaves out is zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EndpointPricing {
    /// Per prompt token.
    pub prompt: Decimal,
    /// Per completion token.
    pub completion: Decimal,
    /// Per request.
    pub request: Decimal,
    /// Per input image.
    pub image: Decimal,
    /// Per web search.
    pub web_search: Decimal,
    /// Per internal reasoning token.
    pub internal_reasoning: Decimal,
    /// Per cached input token read.
    pub input_cache_read: Decimal,
    /// Per cached input token written.
    pub input_cache_write: Decimal,
}

impl EndpointPricing {
    /// Reads a listing's prices (normalized: `"0.000010"` becomes
    /// `0.00001`, so equal prices compare and print equal).
    pub fn from_listing(p: &ListingPricing) -> EndpointPricing {
        let or_zero = |d: Option<Decimal>| d.unwrap_or_default().normalize();
        EndpointPricing {
            prompt: p.prompt.normalize(),
            completion: p.completion.normalize(),
            request: or_zero(p.request),
            image: or_zero(p.image),
            web_search: or_zero(p.web_search),
            internal_reasoning: or_zero(p.internal_reasoning),
            input_cache_read: or_zero(p.input_cache_reads),
            input_cache_write: or_zero(p.input_cache_writes),
        }
    }

    /// Every price is zero.
    pub fn is_free(&self) -> bool {
        [
            self.prompt,
            self.completion,
            self.request,
            self.image,
            self.web_search,
            self.internal_reasoning,
            self.input_cache_read,
            self.input_cache_write,
        ]
        .iter()
        .all(Decimal::is_zero)
    }

    /// `prompt + completion`: the price used to rank endpoints.
    pub fn prompt_plus_completion(&self) -> Decimal {
        self.prompt + self.completion
    }
}

/// One provider's offer of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogEndpoint {
    /// The provider's slug.
    pub provider: String,
    /// The provider's display name.
    pub provider_name: String,
    /// The client-facing model id this endpoint serves.
    pub model: String,
    /// The listing's `id`: what is sent upstream as `model`.
    pub upstream_model: String,
    /// Context window in tokens.
    pub context_length: u64,
    /// Largest completion in tokens.
    pub max_output_tokens: u64,
    /// Cap on the messages of one request: the listing's, else the
    /// provider's.
    pub max_messages: Option<u32>,
    /// Weight precision (`fp8`, ..., or `unknown`).
    pub quantization: String,
    /// Prices.
    pub pricing: EndpointPricing,
    /// Request parameters honoured: the sampling parameters, `max_tokens`,
    /// and those the features enable (see [`derive_supported_parameters`]).
    pub supported_parameters: BTreeSet<String>,
    /// Listing features (`tools`, `json_mode`, `structured_outputs`,
    /// `web_search`, `reasoning`).
    pub features: BTreeSet<String>,
    /// Accepted input kinds, in canonical order.
    pub input_modalities: Vec<String>,
    /// Produced output kinds, in canonical order.
    pub output_modalities: Vec<String>,
    /// The provider's data policy.
    pub data_collection: DataCollection,
    /// Whether the provider guarantees zero data retention.
    pub zdr: bool,
    /// Countries where the model runs (from the listing), sorted.
    pub datacenters: Vec<String>,
    /// The endpoint requires moderation (the listing's `is_moderated`): the
    /// gateway checks the input with its `[moderation]` backend first.
    pub is_moderated: bool,
}

impl CatalogEndpoint {
    fn new(entry: &ProviderEntry, model_id: &str, m: &ListingModel) -> CatalogEndpoint {
        let mut datacenters: Vec<String> = m
            .datacenters
            .iter()
            .flatten()
            .map(|d| d.country_code.clone())
            .collect();
        datacenters.sort();
        datacenters.dedup();
        CatalogEndpoint {
            provider: entry.slug.clone(),
            provider_name: entry.name.clone(),
            model: model_id.to_string(),
            upstream_model: m.id.clone(),
            context_length: m.context_length,
            max_output_tokens: m.max_output_length,
            max_messages: m.max_messages.or(entry.max_messages),
            quantization: m.quantization.clone(),
            pricing: EndpointPricing::from_listing(&m.pricing),
            supported_parameters: derive_supported_parameters(
                &m.supported_sampling_parameters,
                &m.supported_features,
            ),
            features: m.supported_features.iter().cloned().collect(),
            input_modalities: sort_modalities(m.input_modalities.clone(), INPUT_MODALITIES),
            output_modalities: sort_modalities(m.output_modalities.clone(), OUTPUT_MODALITIES),
            data_collection: entry.data_collection,
            zdr: entry.zdr,
            datacenters,
            is_moderated: m.is_moderated,
        }
    }

    /// Every price is zero.
    pub fn is_free(&self) -> bool {
        self.pricing.is_free()
    }

    /// Whether the endpoint honours request parameter `name`.
    pub fn supports_parameter(&self, name: &str) -> bool {
        self.supported_parameters.contains(name)
    }

    /// Whether the listing declares feature `name` (`tools`, ...).
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.contains(name)
    }
}

/// The request parameters an endpoint honours: its sampling parameters,
/// `max_tokens` always, and those its features enable (`tools` →
/// `tools`, `tool_choice`, `parallel_tool_calls`; `json_mode` →
/// `response_format`; `structured_outputs` → `response_format`,
/// `structured_outputs`; `reasoning` → `reasoning`, `include_reasoning`;
/// `web_search` → `web_search_options`).
pub fn derive_supported_parameters(sampling: &[String], features: &[String]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = sampling.iter().cloned().collect();
    out.extend(ALWAYS_SUPPORTED_PARAMETERS.iter().map(|p| p.to_string()));
    for feature in features {
        out.extend(feature_parameters(feature).iter().map(|p| p.to_string()));
    }
    out
}

/// A model as clients address it, with every endpoint serving it.
///
/// Model-level fields merge the endpoints' listings: `name`, `description`,
/// `hugging_face_id`, `tokenizer` and `instruct_type` come from the first
/// provider (in configuration order) that gives them, `created` is the
/// earliest, and the modalities are the union.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogModel {
    /// Client-facing id: the listing's `openrouter.slug` if present, else
    /// its `id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unix timestamp (seconds).
    pub created: i64,
    /// Description.
    pub description: Option<String>,
    /// Hugging Face repository.
    pub hugging_face_id: Option<String>,
    /// Accepted input kinds (union), in canonical order.
    pub input_modalities: Vec<String>,
    /// Produced output kinds (union), in canonical order.
    pub output_modalities: Vec<String>,
    /// Tokenizer as the listing names it (`o200k`, `claude`, ...).
    pub tokenizer: Option<String>,
    /// Instruction format.
    pub instruct_type: Option<String>,
    /// Endpoints, in provider configuration order (never empty).
    pub endpoints: Vec<CatalogEndpoint>,
}

impl CatalogModel {
    /// The endpoint of provider `slug`.
    pub fn endpoint(&self, slug: &str) -> Option<&CatalogEndpoint> {
        self.endpoints.iter().find(|e| e.provider == slug)
    }

    /// Union of the endpoints' supported parameters.
    pub fn supported_parameters(&self) -> BTreeSet<String> {
        self.endpoints
            .iter()
            .flat_map(|e| e.supported_parameters.iter().cloned())
            .collect()
    }

    /// The endpoint with the lowest `prompt + completion` price; ties go to
    /// the provider configured first.
    pub fn cheapest_endpoint(&self) -> Option<&CatalogEndpoint> {
        // `min_by_key` keeps the first of equal elements.
        self.endpoints
            .iter()
            .min_by_key(|e| e.pricing.prompt_plus_completion())
    }

    /// The primary endpoint (the Models API's `top_provider`): the largest
    /// context window, then the largest completion, then the provider
    /// configured first.
    pub fn top_endpoint(&self) -> Option<&CatalogEndpoint> {
        let mut best: Option<&CatalogEndpoint> = None;
        for e in &self.endpoints {
            let better = match best {
                None => true,
                Some(b) => {
                    (e.context_length, e.max_output_tokens)
                        > (b.context_length, b.max_output_tokens)
                }
            };
            if better {
                best = Some(e);
            }
        }
        best
    }

    /// Whether every endpoint is free.
    pub fn is_free(&self) -> bool {
        !self.endpoints.is_empty() && self.endpoints.iter().all(CatalogEndpoint::is_free)
    }
}

/// The gateway's view of providers, models and endpoints.
///
/// Immutable once built and cheap to clone (an `Arc` inside): a reload
/// builds a new one and swaps it in.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone, Default)]
struct Inner {
    providers: Vec<ProviderEntry>,
    models: Vec<CatalogModel>,
    by_id: HashMap<String, usize>,
}

impl Catalog {
    /// The catalog with every endpoint of `provider` advertising only the
    /// parameters in `translatable` as well as in its listing: what the
    /// provider's adapter can actually send (the gateway passes each
    /// adapter's `supported_parameters()`), so the Models API, routing's
    /// `require_parameters` and parameter dropping agree with reality.
    pub fn restrict_parameters(self, provider: &str, translatable: &[&str]) -> Catalog {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| (*shared).clone());
        for model in &mut inner.models {
            for ep in model
                .endpoints
                .iter_mut()
                .filter(|e| e.provider == provider)
            {
                ep.supported_parameters
                    .retain(|p| translatable.contains(&p.as_str()));
            }
        }
        Catalog {
            inner: Arc::new(inner),
        }
    }

    /// Builds a catalog from provider tables and their listings, in
    /// configuration order. The tables are validated (unique slugs, ...) and
    /// every listing is checked as [`crate::parse_listing`] would; all
    /// problems are reported together.
    pub fn build(providers: Vec<(ProviderConfig, ProviderListing)>) -> Result<Catalog> {
        let mut errors = Vec::new();
        let configs: Vec<ProviderConfig> = providers.iter().map(|(c, _)| c.clone()).collect();
        if let Err(e) = validate_providers(&configs) {
            errors.push(Error::Config(e));
        }
        for (config, listing) in &providers {
            if let Err(e) = validate_listing(&config.slug, &source_name(config), listing) {
                errors.push(Error::Listing(e));
            }
        }
        if let Some(e) = Error::from_many(errors) {
            return Err(e);
        }

        let mut entries = Vec::with_capacity(providers.len());
        let mut models: BTreeMap<String, CatalogModel> = BTreeMap::new();
        for (config, listing) in &providers {
            let entry = ProviderEntry::new(config, listing);
            for m in &listing.data {
                let id = m.openrouter.as_ref().map_or(&m.id, |o| &o.slug);
                let endpoint = CatalogEndpoint::new(&entry, id, m);
                match models.get_mut(id) {
                    Some(model) => merge(model, m, endpoint),
                    None => {
                        models.insert(id.clone(), new_model(id, m, endpoint));
                    }
                }
            }
            entries.push(entry);
        }
        let models: Vec<CatalogModel> = models.into_values().collect();
        let by_id = models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        Ok(Catalog {
            inner: Arc::new(Inner {
                providers: entries,
                models,
                by_id,
            }),
        })
    }

    /// Loads every provider's listing file (relative paths resolved against
    /// `base_dir`, the config file's directory) and builds the catalog. All
    /// problems of all files are reported together. A provider whose
    /// listing comes from `models_url` is an error here: fetch it and use
    /// [`Catalog::load_with`] or [`Catalog::build`].
    pub fn load(configs: &[ProviderConfig], base_dir: &Path) -> Result<Catalog> {
        Catalog::load_with(configs, base_dir, |config, url| {
            Err(Error::NotFetched {
                provider: config.slug.clone(),
                url: url.to_string(),
            })
        })
    }

    /// Like [`Catalog::load`], with `fetch` supplying the listing bytes of
    /// providers configured with `models_url` (the caller does the network
    /// I/O, e.g. ahead of time).
    pub fn load_with(
        configs: &[ProviderConfig],
        base_dir: &Path,
        mut fetch: impl FnMut(&ProviderConfig, &str) -> Result<Vec<u8>>,
    ) -> Result<Catalog> {
        let mut errors = Vec::new();
        if let Err(e) = validate_providers(configs) {
            errors.push(Error::Config(e));
        }
        let mut pairs = Vec::with_capacity(configs.len());
        for config in configs {
            let listing = match (&config.models, &config.models_url) {
                (Some(_), _) => load_listing_file(config, base_dir),
                (None, Some(url)) => fetch(config, url).and_then(|bytes| {
                    parse_listing(&config.slug, url, &bytes).map_err(Error::Listing)
                }),
                // Reported by `validate_providers`.
                (None, None) => continue,
            };
            match listing {
                Ok(listing) => pairs.push((config.clone(), listing)),
                Err(e) => errors.push(e),
            }
        }
        if let Some(e) = Error::from_many(errors) {
            return Err(e);
        }
        Catalog::build(pairs)
    }

    /// The providers, in configuration order.
    pub fn providers(&self) -> &[ProviderEntry] {
        &self.inner.providers
    }

    /// The provider with slug `slug`.
    pub fn provider(&self, slug: &str) -> Option<&ProviderEntry> {
        self.inner.providers.iter().find(|p| p.slug == slug)
    }

    /// The models, sorted by id.
    pub fn models(&self) -> &[CatalogModel] {
        &self.inner.models
    }

    /// The model with exactly this id (variant suffix included).
    pub fn model(&self, id: &str) -> Option<&CatalogModel> {
        self.inner.by_id.get(id).map(|&i| &self.inner.models[i])
    }

    /// The model a client's id names: the exact id first (a listing may
    /// publish `mock/echo:free` as a model of its own), else the base id
    /// without the variant. Applying the variant's meaning (`:nitro`
    /// sorting, `:free` endpoints only, ...) is the router's job.
    pub fn resolve(&self, id: &ModelId) -> Option<&CatalogModel> {
        self.model(id.as_str()).or_else(|| match id.variant() {
            Some(_) => self.model(id.base()),
            None => None,
        })
    }
}

fn source_name(config: &ProviderConfig) -> String {
    match (&config.models, &config.models_url) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(url)) => url.clone(),
        (None, None) => format!("<listing of {}>", config.slug),
    }
}

fn new_model(id: &str, m: &ListingModel, endpoint: CatalogEndpoint) -> CatalogModel {
    CatalogModel {
        id: id.to_string(),
        name: m.name.clone(),
        created: m.created,
        description: m.description.clone(),
        hugging_face_id: m.hugging_face_id.clone(),
        input_modalities: endpoint.input_modalities.clone(),
        output_modalities: endpoint.output_modalities.clone(),
        tokenizer: m.tokenizer.clone(),
        instruct_type: m.instruct_type.clone(),
        endpoints: vec![endpoint],
    }
}

fn merge(model: &mut CatalogModel, m: &ListingModel, endpoint: CatalogEndpoint) {
    model.created = model.created.min(m.created);
    for (field, value) in [
        (&mut model.description, &m.description),
        (&mut model.hugging_face_id, &m.hugging_face_id),
        (&mut model.tokenizer, &m.tokenizer),
        (&mut model.instruct_type, &m.instruct_type),
    ] {
        if field.is_none() {
            field.clone_from(value);
        }
    }
    let mut inputs = std::mem::take(&mut model.input_modalities);
    inputs.extend(endpoint.input_modalities.iter().cloned());
    model.input_modalities = sort_modalities(inputs, INPUT_MODALITIES);
    let mut outputs = std::mem::take(&mut model.output_modalities);
    outputs.extend(endpoint.output_modalities.iter().cloned());
    model.output_modalities = sort_modalities(outputs, OUTPUT_MODALITIES);
    model.endpoints.push(endpoint);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_parameters_are_derived() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let got = derive_supported_parameters(
            &s(&["temperature", "stop"]),
            &s(&["tools", "structured_outputs", "reasoning", "web_search"]),
        );
        let want: BTreeSet<String> = s(&[
            "include_reasoning",
            "max_tokens",
            "parallel_tool_calls",
            "reasoning",
            "response_format",
            "stop",
            "structured_outputs",
            "temperature",
            "tool_choice",
            "tools",
            "web_search_options",
        ])
        .into_iter()
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn pricing_normalizes_and_defaults_to_zero() {
        let p: ListingPricing = serde_json::from_str(
            r#"{"prompt":"0.0000010","completion":"0","input_cache_read":"0.5"}"#,
        )
        .unwrap();
        let e = EndpointPricing::from_listing(&p);
        assert_eq!(e.prompt.to_string(), "0.000001");
        assert_eq!(e.completion.to_string(), "0");
        assert_eq!(e.image, Decimal::ZERO);
        assert_eq!(e.input_cache_read.to_string(), "0.5");
        assert!(!e.is_free());
        assert!(EndpointPricing::default().is_free());
    }
}
