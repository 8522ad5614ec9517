//! The request's `provider` preferences, checked once and ready to apply.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::models::Percentiles;
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
    /// `sort.partition` as given (`model` or `none`), if it was.
    pub partition: Option<&'a str>,
    pub max_price: Option<&'a MaxPrice>,
    /// `preferred_max_latency`, in seconds.
    pub max_latency: Cutoffs,
    /// `preferred_min_throughput`, in tokens per second.
    pub min_throughput: Cutoffs,
}

/// Percentile cutoffs of `preferred_max_latency` (seconds) or
/// `preferred_min_throughput` (tokens per second): a number is the `p50`
/// cutoff, an object sets any of `p50`, `p75`, `p90`, `p99` (null or absent
/// ones are unset). An endpoint is preferred when it meets every cutoff
/// set (OpenAPI `PercentileLatencyCutoffs`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cutoffs {
    pub p50: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

impl Cutoffs {
    /// Reads the value of `provider.<field>`.
    pub fn parse(field: &'static str, v: Option<&Value>) -> Result<Cutoffs> {
        let bad = |message: String| Error::InvalidPreference { field, message };
        let number = |key: &str, v: &Value| -> Result<Option<f64>> {
            match v {
                Value::Null => Ok(None),
                Value::Number(n) => match n.as_f64() {
                    Some(x) if x >= 0.0 => Ok(Some(x)),
                    _ => Err(bad(format!("{key} must not be negative"))),
                },
                _ => Err(bad(format!("{key} must be a number"))),
            }
        };
        match v {
            None | Some(Value::Null) => Ok(Cutoffs::default()),
            Some(n @ Value::Number(_)) => Ok(Cutoffs {
                p50: number("the value", n)?,
                ..Cutoffs::default()
            }),
            Some(Value::Object(o)) => {
                let mut c = Cutoffs::default();
                for (key, value) in o {
                    let slot = match key.as_str() {
                        "p50" => &mut c.p50,
                        "p75" => &mut c.p75,
                        "p90" => &mut c.p90,
                        "p99" => &mut c.p99,
                        other => {
                            return Err(bad(format!(
                                "unknown percentile `{other}`: use p50, p75, p90 or p99"
                            )));
                        }
                    };
                    *slot = number(key, value)?;
                }
                Ok(c)
            }
            Some(_) => Err(bad(
                "must be a number (the p50 cutoff) or an object of p50, p75, p90, p99 cutoffs"
                    .to_string(),
            )),
        }
    }

    /// Whether any cutoff is set.
    pub fn is_set(&self) -> bool {
        self.cutoffs().iter().any(Option::is_some)
    }

    fn cutoffs(&self) -> [Option<f64>; 4] {
        [self.p50, self.p75, self.p90, self.p99]
    }

    /// Whether every cutoff set holds for `measured` with `ok(measured,
    /// cutoff)`; unmeasured endpoints meet them.
    pub fn met_by(&self, measured: Option<&Percentiles>, ok: impl Fn(f64, f64) -> bool) -> bool {
        let Some(m) = measured else {
            return true;
        };
        let values = [m.p50, m.p75, m.p90, m.p99];
        self.cutoffs()
            .iter()
            .zip(values)
            .all(|(cutoff, value)| cutoff.is_none_or(|c| ok(value, c)))
    }
}

fn non_empty(v: &Option<Vec<String>>) -> Option<&[String]> {
    v.as_deref().filter(|v| !v.is_empty())
}

impl<'a> Prefs<'a> {
    pub fn new(p: &'a ProviderPreferences) -> Result<Prefs<'a>> {
        let sort = match p.sort.as_ref().and_then(|s| s.by()) {
            None => None,
            Some(name) => {
                Some(SortBy::from_name(name).ok_or_else(|| Error::InvalidSort(name.to_string()))?)
            }
        };
        let partition = match &p.sort {
            Some(tollgate_schema::provider::ProviderSort::Detailed {
                partition: Some(part),
                ..
            }) => Some(part.as_str()),
            _ => None,
        };
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
            partition,
            max_price: p.max_price.as_ref(),
            max_latency: Cutoffs::parse("preferred_max_latency", p.preferred_max_latency.as_ref())?,
            min_throughput: Cutoffs::parse(
                "preferred_min_throughput",
                p.preferred_min_throughput.as_ref(),
            )?,
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
pub(crate) mod tests {
    use super::*;

    pub(crate) fn endpoint(slug: &str, name: &str) -> CatalogEndpoint {
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
        assert_eq!(prefs.partition, Some("none"));
        assert_eq!(
            prefs.max_latency,
            Cutoffs {
                p50: Some(1.5),
                ..Cutoffs::default()
            }
        );
        assert_eq!(
            prefs.min_throughput,
            Cutoffs {
                p50: Some(40.0),
                p90: Some(10.0),
                ..Cutoffs::default()
            }
        );
        assert!(prefs.only.is_none());
        let bad: ProviderPreferences =
            serde_json::from_value(serde_json::json!({"sort": "fastest"})).unwrap();
        assert_eq!(
            Prefs::new(&bad).unwrap_err().to_string(),
            "provider.sort `fastest` is not one of price, throughput, latency, exacto"
        );
    }
}
