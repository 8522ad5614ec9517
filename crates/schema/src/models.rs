//! The Models API (`models-api.txt`): `GET /models`,
//! `GET /models/{author}/{slug}/endpoints` and `GET /providers`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::decimal::{de_lenient, de_lenient_opt, ser_string, ser_string_opt};

/// `GET /models` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ModelList {
    /// The models.
    pub data: Vec<Model>,
    /// Unknown keys, kept (`total_count`, `links` when paginated).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One model of the Models API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Model {
    /// Id used in requests, `author/slug`.
    pub id: String,
    /// Permanent slug.
    #[serde(default)]
    pub canonical_slug: String,
    /// Hugging Face repository, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hugging_face_id: Option<String>,
    /// Display name.
    pub name: String,
    /// Unix timestamp (seconds) when added.
    pub created: i64,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Context window of the best endpoint, in tokens.
    pub context_length: u64,
    /// Modalities and tokenizer.
    pub architecture: Architecture,
    /// Lowest prices among the endpoints.
    pub pricing: Pricing,
    /// The primary endpoint's limits.
    pub top_provider: TopProvider,
    /// Per-request token limits for the caller, or null.
    #[serde(default)]
    pub per_request_limits: Option<PerRequestLimits>,
    /// Union of the parameters the endpoints support.
    #[serde(default)]
    pub supported_parameters: Vec<String>,
    /// Default sampling parameters, or null.
    #[serde(default)]
    pub default_parameters: Option<serde_json::Value>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Technical capabilities of a model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Architecture {
    /// Summary such as `"text+image->text"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// Accepted input kinds.
    pub input_modalities: Vec<String>,
    /// Produced output kinds.
    pub output_modalities: Vec<String>,
    /// Tokenizer family.
    #[serde(default)]
    pub tokenizer: String,
    /// Instruction format, or null.
    #[serde(default)]
    pub instruct_type: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Prices in USD per token / request / unit, as decimal strings on the wire.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Pricing {
    /// Per prompt token.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub prompt: Decimal,
    /// Per completion token.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub completion: Decimal,
    /// Per request.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<Decimal>,
    /// Per input image.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub image: Option<Decimal>,
    /// Per web search.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_search: Option<Decimal>,
    /// Per internal reasoning token.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub internal_reasoning: Option<Decimal>,
    /// Per cached input token read.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cache_read: Option<Decimal>,
    /// Per cached input token written.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cache_write: Option<Decimal>,
    /// Unknown keys, kept (`image_output`, `audio`, `discount`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// The primary endpoint of a model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TopProvider {
    /// Its context window.
    #[serde(default)]
    pub context_length: Option<u64>,
    /// Its largest completion.
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// Whether it moderates content.
    #[serde(default)]
    pub is_moderated: bool,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Token limits of one request for the calling key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PerRequestLimits {
    /// Largest prompt affordable.
    pub prompt_tokens: u64,
    /// Largest completion affordable.
    pub completion_tokens: u64,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /models/{author}/{slug}/endpoints` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EndpointList {
    /// The model and its endpoints.
    pub data: ModelEndpoints,
}

/// A model with every endpoint serving it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ModelEndpoints {
    /// Model id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unix timestamp (seconds).
    pub created: i64,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Modalities and tokenizer.
    pub architecture: Architecture,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One provider's offer of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Endpoint {
    /// `"Provider | model"` display name.
    pub name: String,
    /// Permanent model slug.
    pub model_id: String,
    /// Model display name.
    pub model_name: String,
    /// Context window.
    pub context_length: u64,
    /// Prices of this endpoint.
    pub pricing: Pricing,
    /// Provider display name (`"OpenAI"`).
    pub provider_name: String,
    /// Provider slug (`"openai"`).
    pub tag: String,
    /// Weight precision, or null.
    pub quantization: Option<String>,
    /// Largest completion, or null.
    pub max_completion_tokens: Option<u64>,
    /// Largest prompt, or null.
    pub max_prompt_tokens: Option<u64>,
    /// Parameters this endpoint honours.
    pub supported_parameters: Vec<String>,
    /// Health: 0 ok, negative values degraded or down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// Share of successful requests, last 30 minutes.
    #[serde(default)]
    pub uptime_last_30m: Option<f64>,
    /// Share of successful requests, last 5 minutes.
    #[serde(default)]
    pub uptime_last_5m: Option<f64>,
    /// Share of successful requests, last day.
    #[serde(default)]
    pub uptime_last_1d: Option<f64>,
    /// Whether the provider caches prompts without being asked.
    #[serde(default)]
    pub supports_implicit_caching: bool,
    /// Latency percentiles (ms), or null.
    #[serde(default)]
    pub latency_last_30m: Option<Percentiles>,
    /// Throughput percentiles (tokens/s), or null.
    #[serde(default)]
    pub throughput_last_30m: Option<Percentiles>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// p50 / p75 / p90 / p99 of a measure.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// `GET /providers` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProviderList {
    /// The providers.
    pub data: Vec<ProviderSummary>,
}

/// A configured provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProviderSummary {
    /// Display name.
    pub name: String,
    /// Slug used in routing preferences.
    pub slug: String,
    /// Privacy policy, or null.
    #[serde(default)]
    pub privacy_policy_url: Option<String>,
    /// Terms of service, or null.
    #[serde(default)]
    pub terms_of_service_url: Option<String>,
    /// Status page, or null.
    #[serde(default)]
    pub status_page_url: Option<String>,
    /// ISO 3166 alpha-2 country of the headquarters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headquarters: Option<String>,
    /// Datacenter countries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenters: Option<Vec<String>>,
    /// Unknown keys, kept (Tollgate adds `data_collection`, `zdr`, `dialect`).
    #[serde(flatten)]
    pub extra: Extra,
}
