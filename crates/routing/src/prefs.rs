//! The request's `provider` preferences, checked once and ready to apply.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::provider::{DataCollection, MaxPrice, ProviderPreferences};

use crate::{Error, Result};

/// A sort strategy: `provider.sort`, or implied by a variant (`:nitro` =
/// throughput, `:floor` = price, `:exacto` = exacto). Sorting replaces the
/// random price-weighted choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortBy {
    /// Lowest expected price first (the blended price of the crate docs).
    Price,
    /// Highest measured throughput first; endpoints without measurements
    /// follow, cheapest first.
    Throughput,
    /// Lowest measured latency first; endpoints without measurements
    /// follow, cheapest first.
    Latency,
    /// Tool-calling quality first: the operator's `exacto_providers`, then
    /// endpoints with native tool calling, then higher weight precision
    /// (fp32 > bf16 = fp16 > fp8 > fp6 = int8 > unknown > 4-bit), then
    /// higher uptime, then lower price.
    Exacto,
}

impl SortBy {
    /// The strategy named `s` (`price`, `throughput`, `latency`,
    /// `exacto`), if any.
    pub fn from_name(s: &str) -> Option<SortBy> {
        match s {
            "price" => Some(SortBy::Price),
            "throughput" => Some(SortBy::Throughput),
            "latency" => Some(SortBy::Latency),
            "exacto" => Some(SortBy::Exacto),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Price => "price",
            SortBy::Throughput => "throughput",
            SortBy::Latency => "latency",
            SortBy::Exacto => "exacto",
        }
    }
}

impl fmt::Display for SortBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// [`ProviderPreferences`] with defaults applied. An empty list (`only:
/// []`, `quantizations: []`) counts as unset: clients send them as
/// defaults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefs<'a> {
    pub order: &'a [String],
    pub only: Option<&'a [String]>,
    pub ignore: &'a [String],
    pub allow_fallbacks: bool,
    pub require_parameters: bool,
    pub deny_data_collection: bool,
    pub zdr: bool,
    pub quantizations: Option<&'a [String]>,
    pub sort: Option<SortBy>,
    /// `sort.partition: "none"`: sort across the models of a fallback list.
    pub sort_across_models: bool,
    pub max_price: Option<&'a MaxPrice>,
    /// `preferred_max_latency` (p50) in milliseconds.
    pub max_latency_ms: Option<f64>,
    /// `preferred_min_throughput` (p50) in tokens per second.
    pub min_throughput: Option<f64>,
}

fn non_empty(v: &Option<Vec<String>>) -> Option<&[String]> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// A number, or the `p50` of a percentile object.
fn p50(v: &Option<Value>) -> Option<f64> {
    match v.as_ref()? {
        Value::Number(n) => n.as_f64(),
        Value::Object(o) => o.get("p50")?.as_f64(),
        _ => None,
    }
}

impl<'a> Prefs<'a> {
    pub fn new(p: &'a ProviderPreferences) -> Result<Prefs<'a>> {
        let sort = match p.sort.as_ref().and_then(|s| s.by()) {
            None => None,
            Some(name) => {
                Some(SortBy::from_name(name).ok_or_else(|| Error::InvalidSort(name.to_string()))?)
            }
        };
        let sort_across_models = matches!(
            &p.sort,
            Some(tollgate_schema::provider::ProviderSort::Detailed { partition: Some(part), .. })
                if part == "none"
        );
        Ok(Prefs {
            order: p.order.as_deref().unwrap_or_default(),
            only: non_empty(&p.only),
            ignore: p.ignore.as_deref().unwrap_or_default(),
            allow_fallbacks: p.allow_fallbacks.unwrap_or(true),
            require_parameters: p.require_parameters.unwrap_or(false),
            deny_data_collection: p.data_collection == Some(DataCollection::Deny),
            zdr: p.zdr.unwrap_or(false),
            quantizations: non_empty(&p.quantizations),
            sort,
            sort_across_models: sort.is_some() && sort_across_models,
            max_price: p.max_price.as_ref(),
            max_latency_ms: p50(&p.preferred_max_latency).map(|s| s * 1000.0),
            min_throughput: p50(&p.preferred_min_throughput),
        })
    }

    /// Position of the endpoint's provider in `order`.
    pub fn order_position(&self, e: &CatalogEndpoint) -> Option<usize> {
        self.order.iter().position(|name| names_provider(name, e))
    }
}

/// Whether a name from `order` / `only` / `ignore` designates the
/// endpoint's provider: its slug or display name, ignoring ASCII case, or
/// the first part of a slug with a `/` (`deepinfra` names
/// `deepinfra/turbo`).
pub(crate) fn names_provider(name: &str, e: &CatalogEndpoint) -> bool {
    let name = name.trim();
    if name.eq_ignore_ascii_case(&e.provider) || name.eq_ignore_ascii_case(&e.provider_name) {
        return true;
    }
    e.provider.len() > name.len()
        && e.provider.as_bytes()[name.len()] == b'/'
        && e.provider[..name.len()].eq_ignore_ascii_case(name)
}

pub(crate) fn names_any(names: &[String], e: &CatalogEndpoint) -> bool {
    names.iter().any(|n| names_provider(n, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(slug: &str, name: &str) -> CatalogEndpoint {
        CatalogEndpoint {
            provider: slug.into(),
            provider_name: name.into(),
            model: "m/x".into(),
            upstream_model: "x".into(),
            context_length: 1000,
            max_output_tokens: 100,
            max_messages: None,
            quantization: "fp8".into(),
            pricing: Default::default(),
            supported_parameters: Default::default(),
            features: Default::default(),
            input_modalities: vec!["text".into()],
            output_modalities: vec!["text".into()],
            data_collection: Default::default(),
            zdr: false,
            datacenters: vec![],
            is_moderated: false,
        }
    }

    #[test]
    fn provider_names_match_slug_name_and_slug_prefix() {
        let e = endpoint("deepinfra/turbo", "DeepInfra Turbo");
        assert!(names_provider("deepinfra/turbo", &e));
        assert!(names_provider("DeepInfra Turbo", &e));
        assert!(names_provider("DEEPINFRA", &e));
        assert!(!names_provider("deepinf", &e));
        assert!(!names_provider("deepinfra/fp8", &e));
        let e = endpoint("openai", "OpenAI");
        assert!(names_provider("OpenAI", &e));
        assert!(names_provider(" openai ", &e));
        assert!(!names_provider("azure", &e));
    }

    #[test]
    fn sort_and_soft_preferences_parse() {
        let p: ProviderPreferences = serde_json::from_value(serde_json::json!({
            "sort": {"by": "latency", "partition": "none"},
            "preferred_max_latency": 1.5,
            "preferred_min_throughput": {"p50": 40, "p90": 10},
            "only": [],
        }))
        .unwrap();
        let prefs = Prefs::new(&p).unwrap();
        assert_eq!(prefs.sort, Some(SortBy::Latency));
        assert!(prefs.sort_across_models);
        assert_eq!(prefs.max_latency_ms, Some(1500.0));
        assert_eq!(prefs.min_throughput, Some(40.0));
        assert!(prefs.only.is_none());
        let bad: ProviderPreferences =
            serde_json::from_value(serde_json::json!({"sort": "fastest"})).unwrap();
        assert_eq!(
            Prefs::new(&bad).unwrap_err().to_string(),
            "provider.sort `fastest` is not one of price, throughput, latency, exacto"
        );
    }
}
