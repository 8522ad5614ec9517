//! The provider listing format (`provider-integration.txt`): what a provider
//! publishes at its list-models endpoint and what Tollgate loads from files.
//!
//! Prices are USD per token (or per image / request) as decimal strings.
//! Besides the documented fields, a listing may carry Tollgate extensions
//! (`tokenizer`, `max_messages`, `instruct_type`, `is_moderated`); any other key is kept in
//! `extra`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::decimal::{de_lenient, de_lenient_opt, ser_string, ser_string_opt};

/// The body of a provider's list-models endpoint: `{"data": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProviderListing {
    /// Every model the provider serves.
    pub data: Vec<ListingModel>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One model as a provider lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ListingModel {
    /// The provider's id for the model (what is sent upstream as `model`).
    pub id: String,
    /// Human-readable name, e.g. `"Anthropic: Claude Sonnet 4"`.
    pub name: String,
    /// Unix timestamp (seconds) of the model's release.
    pub created: i64,
    /// Accepted input kinds: `text`, `image`, `file`, `audio`, `video`.
    pub input_modalities: Vec<String>,
    /// Produced output kinds: `text`, `image`, `embeddings`, ...
    pub output_modalities: Vec<String>,
    /// Weight precision: `int4`, `int8`, `fp4`, `fp6`, `fp8`, `fp16`, `bf16`,
    /// `fp32` (and the newer `mxfp4`, `nvfp4`, `mxfp8`, `unknown`).
    pub quantization: String,
    /// Context window in tokens.
    pub context_length: u64,
    /// Largest completion the provider produces, in tokens.
    pub max_output_length: u64,
    /// Prices in USD per unit.
    pub pricing: ListingPricing,
    /// Sampling parameters honoured: `temperature`, `top_p`, `top_k`,
    /// `repetition_penalty`, `frequency_penalty`, `presence_penalty`, `stop`,
    /// `seed` (and other OpenAI-compatible parameter names).
    pub supported_sampling_parameters: Vec<String>,
    /// Features: `tools`, `json_mode`, `structured_outputs`, `web_search`,
    /// `reasoning`.
    pub supported_features: Vec<String>,
    /// Hugging Face repository of the weights, if open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hugging_face_id: Option<String>,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Routing identity: the slug clients use, when it differs from `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openrouter: Option<ListingRouterInfo>,
    /// Where the provider runs the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenters: Option<Vec<Datacenter>>,
    /// Tollgate extension: tokenizer family (`o200k`, `cl100k`, `claude`,
    /// `gemini`, `llama3`, ...), used for token estimates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// Tollgate extension: instruction format, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruct_type: Option<String>,
    /// Tollgate extension: the most messages one request may carry (e.g.
    /// 1000 for Anthropic endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Tollgate extension: the endpoint requires moderation (`is_moderated`
    /// of the Models API): its input is checked by the gateway's
    /// `[moderation]` backend before it is called.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_moderated: bool,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `openrouter` object of a listing model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ListingRouterInfo {
    /// Slug clients use to address the model, `author/slug`.
    pub slug: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A datacenter location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Datacenter {
    /// ISO 3166 alpha-2 country code.
    pub country_code: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Prices of a listing, USD per token unless said otherwise.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ListingPricing {
    /// Per prompt token.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub prompt: Decimal,
    /// Per completion token.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub completion: Decimal,
    /// Per input image.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub image: Option<Decimal>,
    /// Per request.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<Decimal>,
    /// Per cached input token read.
    #[serde(
        default,
        alias = "input_cache_read",
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cache_reads: Option<Decimal>,
    /// Per cached input token written.
    #[serde(
        default,
        alias = "input_cache_write",
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cache_writes: Option<Decimal>,
    /// Per web search.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_search: Option<Decimal>,
    /// Per internal reasoning token (when priced apart from completion).
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub internal_reasoning: Option<Decimal>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
