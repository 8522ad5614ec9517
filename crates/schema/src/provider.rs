//! `provider`: per-request provider routing preferences.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::Extra;
use crate::decimal::{de_lenient_opt, ser_string_opt};

/// Provider preferences of a request (api-reference "Provider Routing").
///
/// Provider names are an open set (display names like `"OpenAI"` or slugs
/// like `"openai"`), so they are strings, never a closed enum.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ProviderPreferences {
    /// Try these providers first, in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<String>>,
    /// Use only these providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// Never use these providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<String>>,
    /// `false`: stop after the preferred providers (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_fallbacks: Option<bool>,
    /// Only use providers supporting every parameter sent (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_parameters: Option<bool>,
    /// `deny`: only providers that do not store or train on data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_collection: Option<DataCollection>,
    /// Only zero-data-retention endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zdr: Option<bool>,
    /// Only endpoints allowing distillation of their output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_distillable_text: Option<bool>,
    /// Only endpoints with these weight precisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantizations: Option<Vec<String>>,
    /// Sort endpoints by `price`, `throughput` or `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<ProviderSort>,
    /// Price caps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<MaxPrice>,
    /// Preferred p50 latency (seconds) or percentile caps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_max_latency: Option<serde_json::Value>,
    /// Preferred p50 throughput (tokens/s) or percentile floors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_min_throughput: Option<serde_json::Value>,
    /// Unknown keys, kept (`experimental`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `data_collection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataCollection {
    /// Providers that may store and train on data are allowed (default).
    Allow,
    /// Only providers that do not collect data.
    Deny,
}

/// `sort`: a strategy name or `{by, partition}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ProviderSort {
    /// `price`, `throughput`, `latency` or `exacto`.
    By(String),
    /// `{by, partition}` (`partition`: `model` or `none`).
    Detailed {
        /// The strategy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        /// Sort within each model (`model`) or across all (`none`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<String>,
    },
}

impl ProviderSort {
    /// The strategy name, if any.
    pub fn by(&self) -> Option<&str> {
        match self {
            ProviderSort::By(s) => Some(s),
            ProviderSort::Detailed { by, .. } => by.as_deref(),
        }
    }
}

/// `max_price`: USD per million tokens (prompt, completion) or per unit.
/// Clients send strings or numbers; both are read exactly.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MaxPrice {
    /// Per million prompt tokens.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt: Option<Decimal>,
    /// Per million completion tokens.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion: Option<Decimal>,
    /// Per request.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<Decimal>,
    /// Per image.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub image: Option<Decimal>,
    /// Per audio unit.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio: Option<Decimal>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
