//! Legacy text completions: `POST /completions`.

use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::chat::{Stop, StreamOptions, UsageRequest};
use crate::provider::ProviderPreferences;
use crate::usage::Usage;
use crate::wire_error::ErrorBody;

/// A legacy completion request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CompletionRequest {
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Fallback models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// The prompt.
    pub prompt: Prompt,
    /// Completion token cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Stream the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Legacy usage switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageRequest>,
    /// Prompt transforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transforms: Option<Vec<String>>,
    /// Provider preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderPreferences>,
    /// End-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Unknown keys, kept (`echo`, `suffix`, `best_of`, `n`, penalties, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `prompt`: text, texts, token ids or batches of token ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Prompt {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// Token ids.
    Tokens(Vec<i64>),
    /// Batches of token ids.
    TokenBatches(Vec<Vec<i64>>),
}

/// A legacy completion response or stream chunk (`object: "text_completion"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TextCompletion {
    /// `gen-...`.
    pub id: String,
    /// `"text_completion"`.
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// Model that answered.
    pub model: String,
    /// Provider display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Answers.
    pub choices: Vec<TextChoice>,
    /// Usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Mid-stream error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One text answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TextChoice {
    /// The text (a fragment, when streaming).
    pub text: String,
    /// Position.
    #[serde(default)]
    pub index: u32,
    /// Log probabilities.
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
    /// Why it stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The provider's own reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_finish_reason: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
