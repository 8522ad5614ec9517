//! The expected price of a request at an endpoint, and its load-balancing
//! weight.
//!
//! **Blended price.** Endpoints are compared by what *this* request is
//! expected to cost there, in USD per million tokens:
//!
//! ```text
//! P = estimated prompt tokens
//! C = min(max_tokens, expected_completion_tokens)   (policy, default 512)
//! cost = P * prompt + C * completion + request + images * image
//! blended = cost / (P + C) * 1e6
//! ```
//!
//! (with `P = C = 1` when both are zero). A long prompt thus weighs the
//! prompt price, a short one the completion price. With equal prompt and
//! completion prices, the blended price is that price, so the seed's
//! "$1/million" examples hold as written.
//!
//! **Weight.** `max(blended, free_price_floor) ^ -price_exponent`: the
//! seed's inverse proportionality for exponent 1, so a $1 endpoint is 3x as
//! likely as a $3 one; a free endpoint weighs as if it cost
//! `free_price_floor` (default $0.01 per million tokens).

use rust_decimal::Decimal;
use tollgate_catalog::EndpointPricing;

use crate::{Policy, RouteRequest};

/// The token mix of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mix {
    prompt: f64,
    completion: f64,
    images: f64,
    per_token: f64,
}

/// Powers of ten up to a `Decimal`'s largest scale.
const POW10: [f64; 29] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
];

/// A price as `f64`: mantissa over a power of ten. `Decimal::to_f64` is
/// exact to the last digit but does 128-bit divisions (about 100 ns); this
/// is within an ulp or two, plenty for weights and sorting, and a few ns.
fn f(d: Decimal) -> f64 {
    if d.is_zero() {
        return 0.0;
    }
    let m = d.mantissa();
    // i128 -> f64 is a library call; prices fit in i64.
    let m = i64::try_from(m).map_or_else(|_| m as f64, |m| m as f64);
    m / POW10.get(d.scale() as usize).copied().unwrap_or(1e28)
}

impl Mix {
    pub fn new(req: &RouteRequest, policy: &Policy) -> Mix {
        let completion = req
            .max_output_tokens
            .map_or(policy.expected_completion_tokens, |m| {
                m.min(policy.expected_completion_tokens)
            });
        let (prompt, completion) = match (req.prompt_tokens, completion) {
            (0, 0) => (1.0, 1.0),
            (p, c) => (p as f64, c as f64),
        };
        Mix {
            prompt,
            completion,
            images: f64::from(req.images),
            per_token: 1e6 / (prompt + completion),
        }
    }

    /// Expected price in USD per million tokens.
    pub fn blended(&self, p: &EndpointPricing) -> f64 {
        let mut cost = f(p.prompt) * self.prompt + f(p.completion) * self.completion;
        if !p.request.is_zero() {
            cost += f(p.request);
        }
        if self.images > 0.0 && !p.image.is_zero() {
            cost += f(p.image) * self.images;
        }
        cost * self.per_token
    }
}

/// Load-balancing weight of an endpoint with blended price `price`.
pub(crate) fn weight(price: f64, policy: &Policy) -> f64 {
    let p = price.max(policy.free_price_floor);
    let e = policy.price_exponent;
    if e == 1.0 {
        1.0 / p
    } else if e == 2.0 {
        1.0 / (p * p)
    } else {
        p.powf(-e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing(prompt: &str, completion: &str) -> EndpointPricing {
        EndpointPricing {
            prompt: prompt.parse().unwrap(),
            completion: completion.parse().unwrap(),
            ..EndpointPricing::default()
        }
    }

    #[test]
    fn blended_price_weighs_the_token_mix() {
        let policy = Policy::default();
        // $1 / $3 per million tokens.
        let p = pricing("0.000001", "0.000003");
        let long_prompt = Mix::new(
            &RouteRequest::default()
                .with_prompt_tokens(9000)
                .with_max_output_tokens(1000),
            &policy,
        );
        // C = min(1000, 512) = 512.
        let want = (9000.0 * 1.0 + 512.0 * 3.0) / 9512.0;
        assert!((long_prompt.blended(&p) - want).abs() < 1e-9);
        let empty = Mix::new(&RouteRequest::default().with_max_output_tokens(0), &policy);
        assert!((empty.blended(&p) - 2.0).abs() < 1e-9);
        // Equal prices: the blended price is the price.
        let flat = pricing("0.000002", "0.000002");
        assert!((long_prompt.blended(&flat) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn request_and_image_prices_count() {
        let policy = Policy::default();
        let mut p = pricing("0", "0");
        p.request = "0.001".parse().unwrap();
        p.image = "0.01".parse().unwrap();
        let mut req = RouteRequest::default()
            .with_prompt_tokens(500)
            .with_max_output_tokens(500);
        req.images = 2;
        let mix = Mix::new(&req, &policy);
        // (0.001 + 2 * 0.01) / 1000 tokens = $21 per million.
        assert!((mix.blended(&p) - 21.0).abs() < 1e-9);
    }

    #[test]
    fn fast_conversion_matches_to_f64() {
        use rust_decimal::prelude::ToPrimitive;
        for s in [
            "0.000001",
            "0.0000025",
            "3",
            "12.5",
            "0.00000000000000000001",
            "79228162514264337593543950335",
        ] {
            let d: Decimal = s.parse().unwrap();
            let want = d.to_f64().unwrap();
            assert!(((f(d) - want) / want).abs() < 1e-15, "{s}");
        }
        assert_eq!(f(Decimal::ZERO), 0.0);
    }

    #[test]
    fn weights() {
        let policy = Policy::default();
        assert_eq!(weight(2.0, &policy), 0.5);
        assert_eq!(weight(0.0, &policy), 100.0);
        let square = Policy {
            price_exponent: 2.0,
            ..Policy::default()
        };
        assert_eq!(weight(2.0, &square), 0.25);
        let uniform = Policy {
            price_exponent: 0.0,
            ..Policy::default()
        };
        assert_eq!(weight(7.0, &uniform), 1.0);
        let odd = Policy {
            price_exponent: 0.5,
            ..Policy::default()
        };
        assert!((weight(4.0, &odd) - 0.5).abs() < 1e-12);
    }
}
