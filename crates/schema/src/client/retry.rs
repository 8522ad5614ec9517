//! When and how long to wait before trying a request again.
//!
//! The rules follow openai-python's (WIRE-NOTES §5): retry connection
//! failures, timeouts, 408, 429 and 5xx; `x-should-retry` overrides the
//! status (`false` forbids, `true` forces); wait `retry-after-ms`, else
//! `retry-after` (seconds or an HTTP date), else exponential backoff with
//! jitter. A `Retry-After` longer than [`MAX_RETRY_AFTER`] is not waited
//! for: the error goes back to the caller.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use super::error::retryable_status;

/// The longest `Retry-After` the client waits for in place.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Backoff settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first wait (before jitter); doubled per retry.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry number `retry` (0-based): `initial * 2^retry`,
    /// capped, minus up to a quarter of jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max);
        let jitter: f64 = rand::random::<f64>() * 0.25;
        exp.mul_f64(1.0 - jitter)
    }
}

/// What to do after an error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Give up: return the error.
    GiveUp,
    /// Retry after the backoff delay.
    Backoff,
    /// Retry after exactly this long (the server said so).
    After(Duration),
}

/// Whether (and when) to retry a response with `status` and `headers`.
pub(crate) fn verdict(status: u16, headers: &HeaderMap) -> Verdict {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry = match header("x-should-retry") {
        Some("true") => true,
        Some("false") => false,
        _ => retryable_status(status),
    };
    if !retry {
        return Verdict::GiveUp;
    }
    match retry_after(header("retry-after-ms"), header("retry-after")) {
        Some(d) if d > MAX_RETRY_AFTER => Verdict::GiveUp,
        Some(d) => Verdict::After(d),
        None => Verdict::Backoff,
    }
}

/// `retry-after-ms` (milliseconds), else `retry-after` (seconds, possibly
/// fractional, or an HTTP date).
fn retry_after(ms: Option<&str>, after: Option<&str>) -> Option<Duration> {
    if let Some(ms) = ms.and_then(|s| s.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let after = after?.trim();
    if let Ok(secs) = after.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(after).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn statuses() {
        let none = HeaderMap::new();
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(verdict(s, &none), Verdict::Backoff, "{s}");
        }
        for s in [400, 401, 402, 403, 404, 409, 422] {
            assert_eq!(verdict(s, &none), Verdict::GiveUp, "{s}");
        }
    }

    #[test]
    fn should_retry_header_overrides() {
        assert_eq!(
            verdict(502, &headers(&[("x-should-retry", "false")])),
            Verdict::GiveUp
        );
        assert_eq!(
            verdict(409, &headers(&[("x-should-retry", "true")])),
            Verdict::Backoff
        );
    }

    #[test]
    fn retry_after_forms() {
        let h = headers(&[("retry-after", "2")]);
        assert_eq!(verdict(429, &h), Verdict::After(Duration::from_secs(2)));
        let h = headers(&[("retry-after", "0.5"), ("retry-after-ms", "120")]);
        assert_eq!(verdict(429, &h), Verdict::After(Duration::from_millis(120)));
        let h = headers(&[("retry-after", "600")]);
        assert_eq!(verdict(429, &h), Verdict::GiveUp);
        let date = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(5));
        let h = headers(&[("retry-after", &date)]);
        assert_eq!(verdict(503, &h), Verdict::After(Duration::ZERO));
        let h = headers(&[("retry-after", "soon")]);
        assert_eq!(verdict(503, &h), Verdict::Backoff);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let b = Backoff {
            max_retries: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        for (retry, full) in [(0, 100), (1, 200), (2, 400), (3, 500), (30, 500)] {
            let d = b.delay(retry).as_millis();
            assert!(d <= full && d >= full * 3 / 4, "retry {retry}: {d}");
        }
    }
}
