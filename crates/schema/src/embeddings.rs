//! Embeddings: `POST /embeddings`.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::decimal::{de_lenient_opt, ser_number_opt};
use crate::provider::ProviderPreferences;

/// An embeddings request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmbeddingRequest {
    /// Model id.
    pub model: String,
    /// What to embed.
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Output dimensions, where the model can shorten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Task hint (`search_query`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<String>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Provider preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderPreferences>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input`: texts, token ids, or multimodal content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// Token ids.
    Tokens(Vec<i64>),
    /// Batches of token ids.
    TokenBatches(Vec<Vec<i64>>),
    /// Multimodal inputs (`[{content: [...]}]`), kept verbatim.
    Multimodal(Vec<serde_json::Value>),
}

/// An embeddings response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmbeddingResponse {
    /// `"list"`.
    pub object: String,
    /// `gen-...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Model that answered.
    pub model: String,
    /// One vector per input.
    pub data: Vec<Embedding>,
    /// Token counts and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<EmbeddingUsage>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Embedding {
    /// `"embedding"`.
    pub object: String,
    /// The vector: floats, or base64 little-endian f32.
    pub embedding: EmbeddingVector,
    /// Which input.
    #[serde(default)]
    pub index: u32,
}

/// A vector as floats or base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// Floats.
    Float(Vec<f32>),
    /// Base64 of little-endian f32.
    Base64(String),
}

/// Usage of an embeddings call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct EmbeddingUsage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Same as prompt tokens.
    pub total_tokens: u64,
    /// Credits charged.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost: Option<Decimal>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
