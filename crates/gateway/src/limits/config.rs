//! `[rate_limits]` in `tollgate.toml`: the operator's figures, defaulting to
//! OpenRouter's published ones (overview.txt pricing table, api-reference.txt
//! "Limits").

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;

/// `[rate_limits]`. Every limit is a request count; `0` turns that limit off.
///
/// ```toml
/// [rate_limits]
/// free_per_minute = 20
/// free_per_day = 200
/// free_per_day_with_credits = 1000
/// credits_threshold = 10
/// surge_per_second = 200
/// requests_per_second_per_credit = 1
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per minute to free models, per account.
    pub free_per_minute: u64,
    /// Requests per UTC day to free models, per account that has bought
    /// less than [`credits_threshold`](Self::credits_threshold).
    pub free_per_day: u64,
    /// Requests per UTC day to free models, per account that has bought at
    /// least [`credits_threshold`](Self::credits_threshold).
    pub free_per_day_with_credits: u64,
    /// Credits (USD) an account must have bought to get
    /// [`free_per_day_with_credits`](Self::free_per_day_with_credits).
    pub credits_threshold: Decimal,
    /// Requests per second, per account, to any model: the "surge limit"
    /// that defends against denial of service.
    pub surge_per_second: u64,
    /// Requests per second, per account, to paid models, for each credit
    /// (USD) available on the key: "1 request per credit per second up to
    /// the surge limit" (api-reference.txt "Limits"), at least 1 a second
    /// however low the balance. The credits are the account's balance, or
    /// what is left of the key's limit when that is less. `0` turns this
    /// limit off.
    pub requests_per_second_per_credit: u64,
    /// Send `X-RateLimit-*` on successful responses too. Off by default:
    /// OpenRouter sends them only on its own 429s (WIRE-NOTES §4), and
    /// clients need nothing more.
    pub headers_on_success: bool,
    /// Prefix of every Redis key (`<prefix>:{<account>}:<scope>:<window>`),
    /// so several deployments can share one Redis.
    pub redis_key_prefix: String,
    /// How long one Redis round trip may take, in milliseconds, before the
    /// request is counted in this replica's memory instead (fail open to
    /// local limits).
    pub redis_timeout_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            free_per_minute: 20,
            free_per_day: 200,
            free_per_day_with_credits: 1000,
            credits_threshold: Decimal::TEN,
            surge_per_second: 200,
            requests_per_second_per_credit: 1,
            headers_on_success: false,
            redis_key_prefix: String::from("tollgate:rl"),
            redis_timeout_ms: 250,
        }
    }
}

impl RateLimitConfig {
    /// Checks the values, naming the key (`rate_limits.…`) that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.credits_threshold.is_sign_negative() {
            return Err(String::from(
                "rate_limits.credits_threshold must not be negative",
            ));
        }
        if self.redis_key_prefix.trim().is_empty() {
            return Err(String::from(
                "rate_limits.redis_key_prefix must not be empty",
            ));
        }
        if self.redis_key_prefix.contains(['{', '}']) {
            return Err(String::from(
                "rate_limits.redis_key_prefix must not contain `{` or `}` (they mark the account's hash slot)",
            ));
        }
        if self.redis_timeout_ms == 0 || self.redis_timeout_ms > 60_000 {
            return Err(String::from(
                "rate_limits.redis_timeout_ms must be between 1 and 60000",
            ));
        }
        Ok(())
    }

    /// The credit-based request rate for `credits` available on a key:
    /// `requests_per_second_per_credit` a second per whole credit, at least
    /// 1, at most the surge limit (when it is on); `None` when the limit is
    /// off.
    pub fn credit_rate(&self, credits: Decimal) -> Option<u64> {
        if self.requests_per_second_per_credit == 0 {
            return None;
        }
        let whole = credits.floor().to_u64().unwrap_or(0);
        let rate = whole
            .saturating_mul(self.requests_per_second_per_credit)
            .max(1);
        Some(match self.surge_per_second {
            0 => rate,
            surge => rate.min(surge),
        })
    }

    /// Whether an account that has bought `total_credits` (USD, the
    /// `/credits` `total_credits`) gets the higher daily free-model limit.
    pub fn has_bought_threshold(&self, total_credits: Decimal) -> bool {
        total_credits >= self.credits_threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RateLimitConfig, String> {
        let c: RateLimitConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_are_openrouters_figures() {
        let c = parse("").unwrap();
        assert_eq!(c.free_per_minute, 20);
        assert_eq!(c.free_per_day, 200);
        assert_eq!(c.free_per_day_with_credits, 1000);
        assert_eq!(c.credits_threshold, Decimal::TEN);
        assert_eq!(c.surge_per_second, 200);
        assert_eq!(c.requests_per_second_per_credit, 1);
        assert!(!c.headers_on_success);
        assert_eq!(c.redis_key_prefix, "tollgate:rl");
        assert_eq!(c, RateLimitConfig::default());
    }

    #[test]
    fn figures_are_settings() {
        let c = parse(
            "free_per_minute = 5\nfree_per_day = 50\nfree_per_day_with_credits = 500\n\
             credits_threshold = 2.5\nsurge_per_second = 0\nheaders_on_success = true\n",
        )
        .unwrap();
        assert_eq!(
            (
                c.free_per_minute,
                c.free_per_day,
                c.free_per_day_with_credits
            ),
            (5, 50, 500)
        );
        assert_eq!(c.credits_threshold, Decimal::new(25, 1));
        assert_eq!(c.surge_per_second, 0);
        assert!(c.headers_on_success);
        // A threshold written as a string is fine too.
        assert_eq!(
            parse("credits_threshold = \"7\"\n")
                .unwrap()
                .credits_threshold,
            Decimal::from(7)
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("free_per_minuet = 3\n").unwrap_err();
        assert!(e.contains("free_per_minuet"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, key) in [
            ("credits_threshold = -1\n", "rate_limits.credits_threshold"),
            ("redis_key_prefix = \"\"\n", "rate_limits.redis_key_prefix"),
            (
                "redis_key_prefix = \"a{b\"\n",
                "rate_limits.redis_key_prefix",
            ),
            ("redis_timeout_ms = 0\n", "rate_limits.redis_timeout_ms"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn threshold_is_inclusive() {
        let c = RateLimitConfig::default();
        assert!(!c.has_bought_threshold(Decimal::new(999, 2)));
        assert!(c.has_bought_threshold(Decimal::TEN));
        assert!(c.has_bought_threshold(Decimal::from(11)));
    }

    #[test]
    fn credit_rate_follows_the_seed_examples() {
        // api-reference.txt "Limits": 0 credits → 1 req/s (minimum),
        // 5 → 5, 10 → 10, 1000 → 200 (the surge limit).
        let c = RateLimitConfig::default();
        let rate = |credits: &str| c.credit_rate(credits.parse().unwrap());
        assert_eq!(rate("0"), Some(1));
        assert_eq!(rate("5"), Some(5));
        assert_eq!(rate("10"), Some(10));
        assert_eq!(rate("1000"), Some(200));
        // Part of a credit buys nothing more; a negative balance is 0.
        assert_eq!(rate("1.99"), Some(1));
        assert_eq!(rate("-3"), Some(1));
        let off = RateLimitConfig {
            requests_per_second_per_credit: 0,
            ..RateLimitConfig::default()
        };
        assert_eq!(off.credit_rate(Decimal::from(50)), None);
        // No surge limit: no cap.
        let uncapped = RateLimitConfig {
            surge_per_second: 0,
            requests_per_second_per_credit: 2,
            ..RateLimitConfig::default()
        };
        assert_eq!(uncapped.credit_rate(Decimal::from(1000)), Some(2000));
    }
}
