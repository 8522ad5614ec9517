//! Generation ids: `gen-<unix seconds>-<20 alphanumerics>`, the shape
//! OpenRouter's clients see.
//!
//! The 20 characters are not all random: the first four are the
//! microsecond within the second, in base 62 with digits in ASCII order,
//! and the other sixteen are random (95 bits). Ids made later sort later,
//! so each new generation row lands at the right edge of the
//! generations' primary-key index. With 20 random characters every insert
//! went to a random page among those of its second, and a batch of a
//! few dozen generations wrote a few dozen index pages to SQLite's WAL
//! instead of one or two (bench/README, sixth round).

use rand::Rng;
use rand::distr::Alphanumeric;

/// Base 62 digits in ASCII order, so that comparing two ids' bytes
/// compares the numbers they encode.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new generation id for a request created at `now_unix` (seconds).
pub fn generation_id(now_unix: i64) -> String {
    generation_id_at(now_unix, chrono::Utc::now().timestamp_subsec_micros())
}

/// The id with `micros` (the microsecond within the second; 0..=999,999,
/// or up to 1,999,999 in a leap second) as its ordered part.
fn generation_id_at(now_unix: i64, micros: u32) -> String {
    let mut id = format!("gen-{now_unix}-");
    // Four base-62 digits hold 62^4 = 14,776,336 values.
    let mut ordered = [0u8; 4];
    let mut rest = micros.min(62u32.pow(4) - 1);
    for digit in ordered.iter_mut().rev() {
        *digit = DIGITS[(rest % 62) as usize];
        rest /= 62;
    }
    id.extend(ordered.iter().map(|&b| char::from(b)));
    id.extend(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(16)
            .map(char::from),
    );
    id
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

    #[test]
    fn ids_sort_by_the_microsecond_they_were_made_in() {
        // Every microsecond of a second, and the extremes, in order: each
        // id sorts after the one before (the random tail never decides,
        // since the ordered parts differ).
        let micros: Vec<u32> = (0..1_000_000)
            .step_by(997)
            .chain([999_999, 1_999_999])
            .collect();
        let ids: Vec<String> = micros
            .iter()
            .map(|&m| generation_id_at(1_700_000_000, m))
            .collect();
        for (pair, m) in ids.windows(2).zip(&micros) {
            assert!(pair[0] < pair[1], "{} at {m} µs", pair[0]);
        }
        // The ordered part is base 62 with '0' for zero.
        assert!(ids[0].starts_with("gen-1700000000-0000"), "{}", ids[0]);
        let last = &ids[ids.len() - 1];
        let at = "gen-1700000000-".len();
        // 1,999,999 = 8·62³ + 24·62² + 18·62 + 3: "8OI3".
        assert_eq!(&last[at..at + 4], "8OI3");
    }
}
