//! The one error type of the crate, and the HTTP status the gateway gives
//! each.

use std::fmt::Write as _;

use tollgate_catalog::{ModelIdError, Variant};

use crate::exclusion::{Exclusion, ExclusionReason};

/// What can go wrong while planning (or validating a [`crate::Policy`]).
///
/// Every message is fit for a client: lowercase, no trailing period, naming
/// the model, variant, key or endpoints at fault. [`Error::status`] is the
/// HTTP status the gateway should answer with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither `model` nor `models` was given. Status 400.
    #[error("no model given: set `model` or `models`")]
    NoModel,
    /// A model id does not parse; an unknown variant suffix is named
    /// (`model id \`a/b:fast\` has unknown variant \`fast\`; ...`).
    /// Status 400.
    #[error(transparent)]
    InvalidModelId(#[from] ModelIdError),
    /// The catalog has no such model. Status 400 (OpenRouter: "is not a
    /// valid model ID").
    #[error("`{0}` is not a valid model id: no such model in the catalog")]
    UnknownModel(String),
    /// `:extended` / `:thinking` asked of a model the catalog does not list
    /// with that suffix (these variants are models of their own). Status 400.
    #[error(
        "model `{model}` does not exist: the `:{variant}` variant is only available \
         for models the catalog lists with that suffix"
    )]
    VariantUnavailable {
        /// The id as requested.
        model: String,
        /// The variant.
        variant: Variant,
    },
    /// `provider.sort` is not a known strategy. Status 400.
    #[error("provider.sort `{0}` is not one of price, throughput, latency, exacto")]
    InvalidSort(String),
    /// `preferred_max_latency` / `preferred_min_throughput` is neither a
    /// number nor an object of `p50`, `p75`, `p90`, `p99` numbers (or a
    /// value is negative). Status 400.
    #[error("provider.{field}: {message}")]
    InvalidPreference {
        /// `preferred_max_latency` or `preferred_min_throughput`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `route` is not `fallback` or `sort` (the deprecated alias of
    /// `provider.sort.partition`). Status 400.
    #[error(
        "route `{0}` is not one of fallback, sort (it is deprecated: use provider.sort.partition)"
    )]
    InvalidRoute(String),
    /// No endpoint of any requested model is left; `excluded` says why, for
    /// each endpoint. Status: see [`Error::status`].
    #[error("{}", no_endpoint_message(.model, .excluded))]
    NoEndpoint {
        /// The model(s) requested, as the client named them (`a/b`, or
        /// `a/b, c/d` for a fallback list).
        model: String,
        /// Every endpoint considered, with the reason it was left out.
        excluded: Vec<Exclusion<'static>>,
    },
    /// A [`crate::Policy`] setting is out of range (a start-up config error,
    /// never a request's). Status 500.
    #[error("routing.{key}: {message}")]
    InvalidPolicy {
        /// The `[routing]` key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The HTTP status the gateway should answer with:
    ///
    /// * 400 for a bad request: no model, an invalid id or unknown variant,
    ///   an unknown model, an unlisted `:extended`/`:thinking`, a bad
    ///   `provider.sort`, and [`Error::NoEndpoint`] when *every* endpoint was
    ///   left out because the prompt does not fit its context (OpenAI and
    ///   OpenRouter answer 400 to a context-length overflow);
    /// * 404 for [`Error::NoEndpoint`] when every endpoint was left out
    ///   only for not being free: the `:free` variant of that model does not
    ///   exist;
    /// * 503 for any other [`Error::NoEndpoint`]: no provider meets the
    ///   request's routing requirements (`provider.only`, `ignore`,
    ///   `data_collection`, `zdr`, `quantizations`, `require_parameters`,
    ///   `max_price`, a needed input modality, outages), as
    ///   api-reference.txt's error codes say;
    /// * 500 for [`Error::InvalidPolicy`].
    pub fn status(&self) -> u16 {
        match self {
            Error::NoModel
            | Error::InvalidModelId(_)
            | Error::UnknownModel(_)
            | Error::VariantUnavailable { .. }
            | Error::InvalidSort(_)
            | Error::InvalidPreference { .. }
            | Error::InvalidRoute(_) => 400,
            Error::NoEndpoint { excluded, .. } => {
                let all = |f: fn(&ExclusionReason) -> bool| {
                    !excluded.is_empty() && excluded.iter().all(|e| f(&e.reason))
                };
                if all(|r| matches!(r, ExclusionReason::ContextTooSmall { .. })) {
                    400
                } else if all(|r| matches!(r, ExclusionReason::NotFree)) {
                    404
                } else {
                    503
                }
            }
            Error::InvalidPolicy { .. } => 500,
        }
    }
}

impl Error {
    /// The request field a 400 names: `route`, `provider.sort`,
    /// `provider.preferred_max_latency`, ..., else `model`.
    pub fn field(&self) -> String {
        match self {
            Error::InvalidRoute(_) => "route".to_string(),
            Error::InvalidSort(_) => "provider.sort".to_string(),
            Error::InvalidPreference { field, .. } => format!("provider.{field}"),
            _ => "model".to_string(),
        }
    }
}

fn no_endpoint_message(model: &str, excluded: &[Exclusion<'_>]) -> String {
    let mut out = format!("no endpoint of `{model}` can serve this request");
    if excluded.is_empty() {
        out.push_str(": no endpoint meets the request's needs");
        return out;
    }
    let several_models = excluded.iter().any(|e| e.model != excluded[0].model);
    for (i, e) in excluded.iter().enumerate() {
        out.push_str(if i == 0 { ": " } else { "; " });
        if several_models {
            let _ = write!(out, "{} at ", e.model);
        }
        let _ = write!(out, "{e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(model: &str, provider: &str, reason: ExclusionReason) -> Exclusion<'static> {
        Exclusion {
            model: model.to_string().into(),
            provider: provider.to_string().into(),
            reason,
        }
    }

    #[test]
    fn no_endpoint_lists_reasons_and_picks_a_status() {
        let ctx = ExclusionReason::ContextTooSmall {
            needed: 5000,
            available: 4096,
        };
        let e = Error::NoEndpoint {
            model: "mock/echo".into(),
            excluded: vec![
                ex("mock/echo", "mock-beta", ctx.clone()),
                ex("mock/echo", "mock-alpha", ExclusionReason::DataPolicy),
            ],
        };
        assert_eq!(
            e.to_string(),
            "no endpoint of `mock/echo` can serve this request: mock-beta: context length 4096 \
             is smaller than the 5000 tokens needed; mock-alpha: may store or train on prompts \
             (provider.data_collection is \"deny\")"
        );
        // A data policy is a routing requirement no provider meets: 503.
        assert_eq!(e.status(), 503);
        let filtered = Error::NoEndpoint {
            model: "m/a".into(),
            excluded: vec![
                ex("m/a", "p", ExclusionReason::NotInOnly),
                ex("m/a", "q", ExclusionReason::Ignored),
                ex(
                    "m/a",
                    "r",
                    ExclusionReason::ParameterUnsupported {
                        params: vec!["tools".into()],
                    },
                ),
            ],
        };
        assert_eq!(filtered.status(), 503);
        let not_free = Error::NoEndpoint {
            model: "m/a:free".into(),
            excluded: vec![ex("m/a", "p", ExclusionReason::NotFree)],
        };
        assert_eq!(not_free.status(), 404);
        let only_ctx = Error::NoEndpoint {
            model: "m/a".into(),
            excluded: vec![ex("m/a", "p", ctx)],
        };
        assert_eq!(only_ctx.status(), 400);
        let outage = Error::NoEndpoint {
            model: "m/a, m/b".into(),
            excluded: vec![
                ex("m/a", "p", ExclusionReason::Outage),
                ex("m/b", "q", ExclusionReason::Outage),
            ],
        };
        assert_eq!(outage.status(), 503);
        assert_eq!(
            outage.to_string(),
            "no endpoint of `m/a, m/b` can serve this request: m/a at p: in outage (recent \
             failures); m/b at q: in outage (recent failures)"
        );
    }

    #[test]
    fn request_errors_are_400() {
        let id = tollgate_catalog::ModelId::parse("a/b:fast").unwrap_err();
        let e = Error::from(id);
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("unknown variant `fast`"), "{e}");
        assert_eq!(Error::UnknownModel("a/b".into()).status(), 400);
        assert_eq!(
            Error::VariantUnavailable {
                model: "a/b:thinking".into(),
                variant: Variant::Thinking
            }
            .to_string(),
            "model `a/b:thinking` does not exist: the `:thinking` variant is only available \
             for models the catalog lists with that suffix"
        );
    }
}
