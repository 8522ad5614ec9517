//! Generation ids: `gen-<unix seconds>-<20 alphanumerics>`, the shape
//! OpenRouter's clients see.

use rand::Rng;
use rand::distr::Alphanumeric;

/// A new generation id.
pub fn generation_id(now_unix: i64) -> String {
    let suffix: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    format!("gen-{now_unix}-{suffix}")
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape_and_differ() {
        let a = generation_id(1_700_000_000);
        let b = generation_id(1_700_000_000);
        assert_ne!(a, b);
        let rest = a.strip_prefix("gen-1700000000-").unwrap();
        assert_eq!(rest.len(), 20);
        assert!(rest.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
