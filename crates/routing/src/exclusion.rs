//! Why an endpoint is not in a plan.

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;

/// An endpoint left out of a plan, and why.
///
/// Displays as `provider: reason`, e.g. `mock-beta: context length 4096 is
/// smaller than the 5000 tokens needed`, fit for a 4xx message.
///
/// In a [`crate::Plan`] the ids borrow from the catalog (planning allocates
/// nothing per excluded endpoint); [`Exclusion::into_owned`] detaches one,
/// as [`crate::Error::NoEndpoint`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion<'a> {
    /// The catalog model id the endpoint serves.
    pub model: Cow<'a, str>,
    /// The provider's slug.
    pub provider: Cow<'a, str>,
    /// Why it was left out.
    pub reason: ExclusionReason,
}

impl Exclusion<'_> {
    /// The same exclusion, owning its ids.
    pub fn into_owned(self) -> Exclusion<'static> {
        Exclusion {
            model: Cow::Owned(self.model.into_owned()),
            provider: Cow::Owned(self.provider.into_owned()),
            reason: self.reason,
        }
    }
}

impl fmt::Display for Exclusion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.provider, self.reason)
    }
}

/// Why an endpoint was left out. When several apply, the first in this
/// order is given: ignored, not in `only`, not free, data policy, ZDR,
/// quantization, missing input modality, unsupported parameters, price
/// caps, outage, context length, and last `allow_fallbacks: false`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExclusionReason {
    /// Named in `provider.ignore`.
    Ignored,
    /// `provider.only` is set and does not name it.
    NotInOnly,
    /// The `:free` variant (or `openrouter/free`) needs a zero price.
    NotFree,
    /// `provider.data_collection: "deny"` and the provider may store or
    /// train on prompts.
    DataPolicy,
    /// `provider.zdr: true` and the provider does not guarantee zero data
    /// retention.
    NotZdr,
    /// `provider.quantizations` does not list the endpoint's quantization.
    QuantizationExcluded {
        /// The endpoint's quantization.
        quantization: String,
    },
    /// The request needs an input the endpoint does not accept.
    MissingFeature {
        /// What is missing, e.g. `image input`.
        feature: String,
    },
    /// `provider.require_parameters: true` (or a router that needs them)
    /// and the endpoint does not honour these parameters of the request.
    ParameterUnsupported {
        /// The unsupported parameters, sorted.
        params: Vec<String>,
    },
    /// A price above a `provider.max_price` cap.
    OverMaxPrice {
        /// Which cap.
        field: PriceField,
        /// The endpoint's price, in the cap's unit (USD per million tokens
        /// for prompt and completion, USD per request or image).
        price: Decimal,
        /// The cap.
        max: Decimal,
    },
    /// The endpoint had a significant outage in the outage window (only
    /// when the policy sets `exclude_outages`; otherwise such endpoints are
    /// tried last).
    Outage,
    /// The prompt plus the completion reserve does not fit the context.
    ContextTooSmall {
        /// Prompt tokens plus the completion reserve.
        needed: u64,
        /// The endpoint's context length.
        available: u64,
    },
    /// `provider.allow_fallbacks: false`: only the ordered providers (or,
    /// without `order`, the first choice) are tried.
    NoFallbacks,
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExclusionReason::Ignored => f.write_str("ignored by provider.ignore"),
            ExclusionReason::NotInOnly => f.write_str("not listed in provider.only"),
            ExclusionReason::NotFree => {
                f.write_str("not free (the request asks for a free endpoint)")
            }
            ExclusionReason::DataPolicy => {
                f.write_str("may store or train on prompts (provider.data_collection is \"deny\")")
            }
            ExclusionReason::NotZdr => {
                f.write_str("does not guarantee zero data retention (provider.zdr is true)")
            }
            ExclusionReason::QuantizationExcluded { quantization } => write!(
                f,
                "quantization {quantization} is not in provider.quantizations"
            ),
            ExclusionReason::MissingFeature { feature } => {
                write!(f, "does not support {feature}")
            }
            ExclusionReason::ParameterUnsupported { params } => write!(
                f,
                "does not support parameter{} {} (provider.require_parameters is true)",
                if params.len() == 1 { "" } else { "s" },
                params.join(", ")
            ),
            ExclusionReason::OverMaxPrice { field, price, max } => write!(
                f,
                "{} price ${price}{} is above provider.max_price.{} (${max})",
                field.as_str(),
                field.unit(),
                field.as_str()
            ),
            ExclusionReason::Outage => f.write_str("in outage (recent failures)"),
            ExclusionReason::ContextTooSmall { needed, available } => write!(
                f,
                "context length {available} is smaller than the {needed} tokens needed"
            ),
            ExclusionReason::NoFallbacks => {
                f.write_str("not tried: provider.allow_fallbacks is false")
            }
        }
    }
}

/// Which `provider.max_price` cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PriceField {
    /// `prompt`: USD per million prompt tokens.
    Prompt,
    /// `completion`: USD per million completion tokens.
    Completion,
    /// `request`: USD per request.
    Request,
    /// `image`: USD per input image.
    Image,
}

impl PriceField {
    /// The key under `max_price` (`"prompt"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PriceField::Prompt => "prompt",
            PriceField::Completion => "completion",
            PriceField::Request => "request",
            PriceField::Image => "image",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            PriceField::Prompt | PriceField::Completion => " per million tokens",
            PriceField::Request => " per request",
            PriceField::Image => " per image",
        }
    }
}

impl fmt::Display for PriceField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(provider: &str, reason: ExclusionReason) -> String {
        Exclusion {
            model: "m/x".into(),
            provider: provider.to_string().into(),
            reason,
        }
        .to_string()
    }

    #[test]
    fn displays_read_well() {
        let cases = [
            (ExclusionReason::Ignored, "p: ignored by provider.ignore"),
            (ExclusionReason::NotInOnly, "p: not listed in provider.only"),
            (
                ExclusionReason::NotFree,
                "p: not free (the request asks for a free endpoint)",
            ),
            (
                ExclusionReason::NotZdr,
                "p: does not guarantee zero data retention (provider.zdr is true)",
            ),
            (
                ExclusionReason::QuantizationExcluded {
                    quantization: "fp8".into(),
                },
                "p: quantization fp8 is not in provider.quantizations",
            ),
            (
                ExclusionReason::MissingFeature {
                    feature: "image input".into(),
                },
                "p: does not support image input",
            ),
            (
                ExclusionReason::ParameterUnsupported {
                    params: vec!["tools".into()],
                },
                "p: does not support parameter tools (provider.require_parameters is true)",
            ),
            (
                ExclusionReason::ParameterUnsupported {
                    params: vec!["response_format".into(), "tools".into()],
                },
                "p: does not support parameters response_format, tools \
                 (provider.require_parameters is true)",
            ),
            (
                ExclusionReason::OverMaxPrice {
                    field: PriceField::Prompt,
                    price: Decimal::new(3, 0),
                    max: Decimal::new(25, 1),
                },
                "p: prompt price $3 per million tokens is above provider.max_price.prompt ($2.5)",
            ),
            (
                ExclusionReason::OverMaxPrice {
                    field: PriceField::Request,
                    price: Decimal::new(1, 2),
                    max: Decimal::ZERO,
                },
                "p: request price $0.01 per request is above provider.max_price.request ($0)",
            ),
            (
                ExclusionReason::ContextTooSmall {
                    needed: 5000,
                    available: 4096,
                },
                "p: context length 4096 is smaller than the 5000 tokens needed",
            ),
            (
                ExclusionReason::NoFallbacks,
                "p: not tried: provider.allow_fallbacks is false",
            ),
        ];
        for (reason, want) in cases {
            assert_eq!(show("p", reason), want);
        }
    }
}
