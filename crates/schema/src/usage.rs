//! Token usage and cost, as returned in responses and the final stream chunk.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::Extra;
use crate::decimal::{de_lenient_opt, ser_number_opt};

/// Token counts and cost of one generation.
///
/// Clients validate this object strictly (the Vercel AI SDK provider rejects
/// `cost: null` and details objects without `cached_tokens` /
/// `reasoning_tokens`), so `cost` is a number or absent and both details
/// objects always carry their counters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Usage {
    /// Prompt tokens (incl. images and tools).
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens (incl. reasoning).
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of the two.
    #[serde(default)]
    pub total_tokens: u64,
    /// Credits charged, USD.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost: Option<Decimal>,
    /// Whether the user's own provider key paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_byok: Option<bool>,
    /// Cached prompt tokens and friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Reasoning tokens and friends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// What the upstream charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_details: Option<CostDetails>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Usage with these counts and zeroed details.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            ..Usage::default()
        }
        .normalized()
    }

    /// Fills the details objects clients insist on and fixes the total.
    /// The counts come from upstreams: a total that does not fit saturates
    /// rather than overflowing.
    pub fn normalized(mut self) -> Self {
        self.total_tokens = self.prompt_tokens.saturating_add(self.completion_tokens);
        self.prompt_tokens_details
            .get_or_insert_with(PromptTokensDetails::default);
        self.completion_tokens_details
            .get_or_insert_with(CompletionTokensDetails::default);
        self
    }

    /// Cached prompt tokens read.
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens)
    }

    /// Reasoning tokens among the completion tokens.
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .map_or(0, |d| d.reasoning_tokens)
    }
}

/// `prompt_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct PromptTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cached_tokens: u64,
    /// Tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Video input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_tokens: Option<u64>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `completion_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CompletionTokensDetails {
    /// Reasoning (thinking) tokens.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub reasoning_tokens: u64,
    /// Audio output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Image output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tokens: Option<u64>,
    /// Predicted-output tokens accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `cost_details`: what the upstream charged (BYOK).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CostDetails {
    /// Upstream cost, or null.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub upstream_inference_cost: Option<Decimal>,
    /// Upstream prompt cost.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub upstream_inference_prompt_cost: Option<Decimal>,
    /// Upstream completion cost.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub upstream_inference_completions_cost: Option<Decimal>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `anthropic_response` fuzz target
    /// (`fuzz/corpus/anthropic_response/crash-a7d3b8f3d4296f2b`): an
    /// upstream's `output_tokens: 18446744073709551615` overflowed the
    /// total (a panic in debug builds, a wrapped total in release).
    #[test]
    fn a_total_beyond_u64_saturates() {
        let u = Usage::new(1, u64::MAX);
        assert_eq!(u.total_tokens, u64::MAX);
        let u = Usage {
            prompt_tokens: u64::MAX,
            completion_tokens: 7,
            ..Usage::default()
        }
        .normalized();
        assert_eq!(u.total_tokens, u64::MAX);
        assert_eq!(Usage::new(2, 3).total_tokens, 5);
    }
}
