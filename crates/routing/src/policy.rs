//! Operator settings of the routing policy: the `[routing]` table of
//! `tollgate.toml`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Operator settings of the router and the health tracker.
///
/// Every field has a default (the behaviour of `api-reference.txt`), so an
/// empty `[routing]` table, or none, is valid. Unknown keys are refused.
///
/// ```toml
/// [routing]
/// price_exponent = 2          # today's OpenRouter: inverse-square
/// outage_window_secs = 30     # today's OpenRouter: 30 s
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Load-balancing weight of an endpoint is `price ^ -price_exponent`.
    /// `1` (the seed: a $1 endpoint is 3x as likely as a $3 one), `2` is
    /// today's OpenRouter, `0` balances uniformly. Finite, `>= 0`.
    pub price_exponent: f64,
    /// An endpoint whose blended price is below this (USD per million
    /// tokens) is weighted as if it cost this much, so that free endpoints
    /// get a finite weight: with the default `0.01` and exponent 1, a free
    /// endpoint is 100x as likely as a $1 one, and several free endpoints
    /// share the load equally. Finite, `> 0`.
    pub free_price_floor: f64,
    /// Window in which failures count towards an outage (seconds); the seed
    /// says 10, today's OpenRouter 30. `> 0`.
    pub outage_window_secs: u64,
    /// An endpoint is in outage with at least this many failures in the
    /// window, whatever its successes. `>= 1`.
    pub outage_min_failures: u32,
    /// ... or when at least `outage_min_requests` requests were made in the
    /// window and this share of them (0 to 1) failed.
    pub outage_failure_ratio: f64,
    /// See `outage_failure_ratio`. `>= 1`.
    pub outage_min_requests: u32,
    /// `false` (default, the seed): endpoints in outage stay in the plan,
    /// tried last. `true`: they are left out (reason `Outage`).
    pub exclude_outages: bool,
    /// Completion tokens reserved in the context-length check when the
    /// request sets no `max_tokens` (capped at the endpoint's own maximum
    /// completion).
    pub default_completion_reserve: u64,
    /// Completion tokens expected when weighing prompt against completion
    /// prices (capped at the request's `max_tokens`).
    pub expected_completion_tokens: u64,
    /// Half-life (seconds) of the decaying latency and throughput means of
    /// the health tracker. `> 0`.
    pub stats_half_life_secs: u64,
    /// Provider slugs the operator marks as accurate at tool calling: the
    /// `:exacto` variant and `sort: "exacto"` try them first.
    pub exacto_providers: Vec<String>,
    /// Models `openrouter/auto` may choose, in the operator's order of
    /// preference. Empty: every paid text model, cheapest first.
    pub auto_models: Vec<String>,
    /// How many further models `openrouter/auto` and `openrouter/free` add
    /// to the plan as model fallbacks after the one they pick.
    pub router_fallback_models: usize,
    /// The model a request that names none (no `model`, no `models`) is
    /// routed to, e.g. `"openrouter/auto"`. Unset (the default): such a
    /// request is a 400.
    pub default_model: Option<String>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            price_exponent: 1.0,
            free_price_floor: 0.01,
            outage_window_secs: 10,
            outage_min_failures: 3,
            outage_failure_ratio: 0.5,
            outage_min_requests: 2,
            exclude_outages: false,
            default_completion_reserve: 1024,
            expected_completion_tokens: 512,
            stats_half_life_secs: 60,
            exacto_providers: Vec::new(),
            auto_models: Vec::new(),
            router_fallback_models: 2,
            default_model: None,
        }
    }
}

impl Policy {
    /// [`Policy::outage_window_secs`] as a `Duration`.
    pub fn outage_window(&self) -> Duration {
        Duration::from_secs(self.outage_window_secs)
    }

    /// [`Policy::stats_half_life_secs`] as a `Duration`.
    pub fn stats_half_life(&self) -> Duration {
        Duration::from_secs(self.stats_half_life_secs)
    }

    /// Checks the ranges documented on each field; the error names the key
    /// (`routing.price_exponent: ...`). Call it at start-up.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &'static str, message: String| Err(Error::InvalidPolicy { key, message });
        if !(self.price_exponent.is_finite() && self.price_exponent >= 0.0) {
            return bad(
                "price_exponent",
                format!("must be a finite number >= 0, got {}", self.price_exponent),
            );
        }
        if !(self.free_price_floor.is_finite() && self.free_price_floor > 0.0) {
            return bad(
                "free_price_floor",
                format!("must be a finite number > 0, got {}", self.free_price_floor),
            );
        }
        if self.outage_window_secs == 0 {
            return bad("outage_window_secs", "must be greater than 0".into());
        }
        if self.outage_min_failures == 0 {
            return bad("outage_min_failures", "must be at least 1".into());
        }
        if !(self.outage_failure_ratio > 0.0 && self.outage_failure_ratio <= 1.0) {
            return bad(
                "outage_failure_ratio",
                format!("must be in (0, 1], got {}", self.outage_failure_ratio),
            );
        }
        if self.outage_min_requests == 0 {
            return bad("outage_min_requests", "must be at least 1".into());
        }
        if self.stats_half_life_secs == 0 {
            return bad("stats_half_life_secs", "must be greater than 0".into());
        }
        if let Some(model) = &self.default_model
            && let Err(e) = tollgate_catalog::ModelId::parse(model)
        {
            return bad("default_model", e.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seed() {
        let p = Policy::default();
        assert_eq!(p.price_exponent, 1.0);
        assert_eq!(p.outage_window(), Duration::from_secs(10));
        assert!(!p.exclude_outages);
        p.validate().unwrap();
    }

    #[test]
    fn toml_table_with_defaults_and_unknown_keys() {
        let p: Policy = toml::from_str("price_exponent = 2\noutage_window_secs = 30").unwrap();
        assert_eq!(p.price_exponent, 2.0);
        assert_eq!(p.outage_window_secs, 30);
        assert_eq!(p.outage_min_failures, 3);
        let empty: Policy = toml::from_str("").unwrap();
        assert_eq!(empty, Policy::default());
        let err = toml::from_str::<Policy>("price_exponant = 2").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `price_exponant`"),
            "{err}"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let p = Policy {
            outage_failure_ratio: 1.5,
            ..Policy::default()
        };
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "routing.outage_failure_ratio: must be in (0, 1], got 1.5"
        );
        let p = Policy {
            price_exponent: f64::NAN,
            ..Policy::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .starts_with("routing.price_exponent")
        );
    }
}
