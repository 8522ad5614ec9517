//! `[mock:...]` directives: failures scripted from inside a prompt.

use std::time::Duration;

use super::{Filler, Usage};

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
    /// `[mock:usage_prompt=N]`: usage reports N prompt (input) tokens,
    /// whatever the prompt cost.
    pub usage_prompt: Option<u32>,
    /// `[mock:usage_completion=N]`: usage reports N completion (output)
    /// tokens, whatever the reply produced (over- or under-reported usage).
    pub usage_completion: Option<u32>,
    /// `[mock:no_usage]`: no usage at all, neither in a JSON answer nor
    /// anywhere in a stream.
    pub no_usage: bool,
    /// `[mock:endless]`: the reply is filler text (`"x x x ..."`) that a
    /// stream sends until the client goes away; a non-streamed answer is
    /// [`reply_bytes`](Self::reply_bytes) bytes of it
    /// ([`DEFAULT_ENDLESS_REPLY_BYTES`] by default).
    pub endless: bool,
    /// `[mock:reply_bytes=N]`: the reply is N bytes of filler text
    /// (`"x x x ..."`, one token per two bytes), streamed or not, whatever
    /// `max_tokens` and stop sequences say.
    pub reply_bytes: Option<usize>,
    /// `[mock:echo_key]` or `[mock:echo_key=N]`: a careless upstream that
    /// echoes the key it was called with (whole, or its first N
    /// characters) in an error: `"key <key>... is invalid"`, with the
    /// status of `[mock:status=N]` (400 without it), or, with
    /// `[mock:stream_error]`, in the stream's error event. `usize::MAX`
    /// stands for the whole key.
    pub echo_key: Option<usize>,
    /// `[mock:refuse]`: answer with the dialect's content refusal (a
    /// content filter error) instead of a reply.
    pub refuse: bool,
}

/// The size of a non-streamed `[mock:endless]` answer without
/// `[mock:reply_bytes=N]`: 1 MiB of filler text.
pub const DEFAULT_ENDLESS_REPLY_BYTES: usize = 1024 * 1024;

impl Directives {
    /// Parses the directives in `text`; returns them with the text stripped
    /// of them.
    ///
    /// A directive is `[mock:slow]`, `[mock:status=N]` (N in 400..=599),
    /// `[mock:drop_after=N]`, `[mock:sleep_ms=N]`, `[mock:stream_error]`,
    /// `[mock:stream_error=N]`, `[mock:usage_prompt=N]`,
    /// `[mock:usage_completion=N]`, `[mock:no_usage]`, `[mock:endless]`,
    /// `[mock:reply_bytes=N]`, `[mock:echo_key]`, `[mock:echo_key=N]` or
    /// `[mock:refuse]`; anything else in `[mock:...]` form
    /// (including a number that does not parse) is left in the text. When a directive was found, the
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
            "no_usage" => {
                self.no_usage = true;
                return true;
            }
            "endless" => {
                self.endless = true;
                return true;
            }
            "echo_key" => {
                self.echo_key = Some(usize::MAX);
                return true;
            }
            "refuse" => {
                self.refuse = true;
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
            "usage_prompt" => match value.parse() {
                Ok(n) => self.usage_prompt = Some(n),
                Err(_) => return false,
            },
            "usage_completion" => match value.parse() {
                Ok(n) => self.usage_completion = Some(n),
                Err(_) => return false,
            },
            "reply_bytes" => match value.parse() {
                Ok(n) => self.reply_bytes = Some(n),
                Err(_) => return false,
            },
            "echo_key" => match value.parse() {
                Ok(n) => self.echo_key = Some(n),
                Err(_) => return false,
            },
            _ => return false,
        }
        true
    }

    /// The usage a reply that cost `usage` reports: none with
    /// `[mock:no_usage]`, else `usage` with the prompt and completion
    /// tokens of `[mock:usage_prompt=N]` and `[mock:usage_completion=N]`.
    /// Cached and reasoning tokens stay as they were (so a reported count
    /// may be below them; dialects that report the difference saturate at
    /// zero).
    pub fn report(&self, usage: Usage) -> Option<Usage> {
        if self.no_usage {
            return None;
        }
        Some(Usage {
            prompt_tokens: self.usage_prompt.unwrap_or(usage.prompt_tokens),
            completion_tokens: self.usage_completion.unwrap_or(usage.completion_tokens),
            ..usage
        })
    }

    /// The filler text the reply is made of, if `[mock:endless]` or
    /// `[mock:reply_bytes=N]` asked for one.
    pub fn filler(&self) -> Option<Filler> {
        match (self.endless, self.reply_bytes) {
            (false, None) => None,
            (endless, bytes) => Some(Filler {
                bytes: bytes.unwrap_or(DEFAULT_ENDLESS_REPLY_BYTES),
                endless,
            }),
        }
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

    #[test]
    fn hostile_directives_are_parsed() {
        let (d, text) =
            Directives::parse("a [mock:usage_completion=5000000][mock:usage_prompt=7] b");
        assert_eq!(d.usage_completion, Some(5_000_000));
        assert_eq!(d.usage_prompt, Some(7));
        assert_eq!(text, "a b");
        let (d, text) = Directives::parse("[mock:no_usage] hi");
        assert!(d.no_usage);
        assert_eq!(text, "hi");
        let (d, _) = Directives::parse("[mock:endless]");
        assert!(d.endless);
        assert_eq!(
            d.filler(),
            Some(Filler {
                bytes: DEFAULT_ENDLESS_REPLY_BYTES,
                endless: true
            })
        );
        let (d, _) = Directives::parse("[mock:endless][mock:reply_bytes=10]");
        assert_eq!(
            d.filler(),
            Some(Filler {
                bytes: 10,
                endless: true
            })
        );
        let (d, _) = Directives::parse("[mock:reply_bytes=3]");
        assert_eq!(
            d.filler(),
            Some(Filler {
                bytes: 3,
                endless: false
            })
        );
        assert_eq!(Directives::default().filler(), None);
        // numbers that do not parse leave the text alone
        for text in [
            "[mock:usage_completion=-1]",
            "[mock:usage_prompt=x]",
            "[mock:reply_bytes=]",
            "[mock:usage_completion=99999999999]",
        ] {
            assert_eq!(
                Directives::parse(text),
                (Directives::default(), text.into())
            );
        }
    }

    #[test]
    fn echo_key_takes_an_optional_length() {
        let (d, text) = Directives::parse("hi [mock:echo_key]");
        assert_eq!((d.echo_key, text.as_str()), (Some(usize::MAX), "hi"));
        let (d, _) = Directives::parse("[mock:echo_key=23] [mock:status=401]");
        assert_eq!((d.echo_key, d.status), (Some(23), Some(401)));
        for text in ["[mock:echo_key=]", "[mock:echo_key=-1]"] {
            assert_eq!(
                Directives::parse(text),
                (Directives::default(), text.into())
            );
        }
    }

    #[test]
    fn reported_usage_follows_the_directives() {
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 4,
            reasoning_tokens: 2,
            cache_read_tokens: 3,
            cache_write_tokens: 0,
        };
        assert_eq!(Directives::default().report(usage), Some(usage));
        let (d, _) = Directives::parse("[mock:usage_completion=1000]");
        assert_eq!(
            d.report(usage),
            Some(Usage {
                completion_tokens: 1000,
                ..usage
            })
        );
        let (d, _) = Directives::parse("[mock:usage_prompt=1][mock:usage_completion=0]");
        let reported = d.report(usage).unwrap();
        assert_eq!((reported.prompt_tokens, reported.completion_tokens), (1, 0));
        assert_eq!(reported.uncached_prompt_tokens(), 0);
        assert_eq!(reported.output_tokens_without_reasoning(), 0);
        let (d, _) = Directives::parse("[mock:no_usage][mock:usage_completion=9]");
        assert_eq!(d.report(usage), None);
    }
}
