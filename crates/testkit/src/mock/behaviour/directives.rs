//! `[mock:...]` directives: failures scripted from inside a prompt.

use std::time::Duration;

/// Failures scripted from inside a prompt with `[mock:...]` directives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// `[mock:status=N]` (400..=599): answer with this status and an error body.
    pub status: Option<u16>,
    /// `[mock:drop_after=N]`: drop the stream after N content chunks (a
    /// non-streamed request loses its connection without a response).
    pub drop_after: Option<usize>,
    /// `[mock:sleep_ms=N]`: wait this long before answering.
    pub sleep: Option<Duration>,
    /// `[mock:slow]`: stream at [`SLOW_TOKENS_PER_SECOND`](super::SLOW_TOKENS_PER_SECOND).
    pub slow: bool,
    /// `[mock:stream_error]` (after 1 content chunk) or
    /// `[mock:stream_error=N]` (after N): a stream sends the dialect's
    /// in-stream error event after that many content chunks and ends without
    /// its end marker; a non-streamed request gets the dialect's overload
    /// error status instead.
    pub stream_error: Option<usize>,
}

impl Directives {
    /// Parses the directives in `text`; returns them with the text stripped
    /// of them.
    ///
    /// A directive is `[mock:slow]`, `[mock:status=N]` (N in 400..=599),
    /// `[mock:drop_after=N]`, `[mock:sleep_ms=N]`, `[mock:stream_error]` or
    /// `[mock:stream_error=N]`; anything else in
    /// `[mock:...]` form is left in the text. When a directive was found, the
    /// pieces of text around the directives are trimmed and joined with
    /// single spaces (`"hi [mock:slow] there"` gives `"hi there"`); a text
    /// without directives is returned unchanged.
    pub fn parse(text: &str) -> (Self, String) {
        const OPEN: &str = "[mock:";
        let mut directives = Self::default();
        let mut segments: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut rest = text;
        let mut found = false;
        while let Some(start) = rest.find(OPEN) {
            let after = &rest[start + OPEN.len()..];
            let Some(end) = after.find(']') else { break };
            if directives.apply(&after[..end]) {
                found = true;
                current.push_str(&rest[..start]);
                segments.push(std::mem::take(&mut current));
                rest = &after[end + 1..];
            } else {
                current.push_str(&rest[..start + OPEN.len()]);
                rest = after;
            }
        }
        if !found {
            return (directives, text.to_owned());
        }
        current.push_str(rest);
        segments.push(current);
        let stripped = segments
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (directives, stripped)
    }

    fn apply(&mut self, body: &str) -> bool {
        match body {
            "slow" => {
                self.slow = true;
                return true;
            }
            "stream_error" => {
                self.stream_error = Some(1);
                return true;
            }
            _ => {}
        }
        let Some((key, value)) = body.split_once('=') else {
            return false;
        };
        match key {
            "status" => match value.parse::<u16>() {
                Ok(code) if (400..=599).contains(&code) => self.status = Some(code),
                _ => return false,
            },
            "drop_after" => match value.parse() {
                Ok(n) => self.drop_after = Some(n),
                Err(_) => return false,
            },
            "stream_error" => match value.parse() {
                Ok(n) => self.stream_error = Some(n),
                Err(_) => return false,
            },
            "sleep_ms" => match value.parse() {
                Ok(ms) => self.sleep = Some(Duration::from_millis(ms)),
                Err(_) => return false,
            },
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_parsed_and_stripped() {
        let (d, text) = Directives::parse("hi [mock:slow] there [mock:status=503]");
        assert!(d.slow);
        assert_eq!(d.status, Some(503));
        assert_eq!(text, "hi there");
        let (d, text) = Directives::parse("[mock:unknown] [mock:status=200] x");
        assert_eq!(d, Directives::default());
        assert_eq!(text, "[mock:unknown] [mock:status=200] x");
        let (d, text) = Directives::parse("[mock:drop_after=3][mock:sleep_ms=20]go");
        assert_eq!(d.drop_after, Some(3));
        assert_eq!(d.sleep, Some(Duration::from_millis(20)));
        assert_eq!(text, "go");
        let (d, text) = Directives::parse("a [mock:stream_error] b");
        assert_eq!(d.stream_error, Some(1));
        assert_eq!(text, "a b");
        let (d, _) = Directives::parse("[mock:stream_error=0]");
        assert_eq!(d.stream_error, Some(0));
        let (d, text) = Directives::parse("[mock:stream_error=x]");
        assert_eq!(d.stream_error, None);
        assert_eq!(text, "[mock:stream_error=x]");
    }
}
