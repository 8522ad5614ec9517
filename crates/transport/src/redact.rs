//! Keeping secrets out of what reaches a client or a log.
//!
//! An upstream may echo part of the key it was called with (OpenAI shows
//! its first and last characters, a broken proxy the first 23), so masking
//! only the whole key is not enough. [`Secrets`] masks every run of
//! [`MIN_RUN`] or more bytes that also occurs in one of its secrets: it
//! keeps the set of each secret's `MIN_RUN`-byte windows, and a text is
//! scanned once, one window lookup per byte. A run of a secret of any
//! length at least `MIN_RUN` is covered by the windows it is made of, so it
//! is masked whole.
//!
//! Build a `Secrets` once per configuration (the provider keys, the admin
//! key) and add a request's own key when it has one; scanning costs nothing
//! on a text shorter than `MIN_RUN` or when there are no secrets.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// The shortest run of a secret's bytes that is masked. Shorter runs would
/// match ordinary text (`"sk-"`, `"Bearer"`), and a secret shorter than
/// this is no real key.
pub const MIN_RUN: usize = 8;

/// What a masked run is replaced with.
pub const MASK: &str = "[REDACTED]";

/// A set of secrets to mask (see the module docs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Every `MIN_RUN`-byte window of every secret.
    windows: HashSet<[u8; MIN_RUN]>,
}

// By hand: the windows are the secrets.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("windows", &self.windows.len())
            .finish()
    }
}

impl Secrets {
    /// The set of `secrets` (those shorter than [`MIN_RUN`] bytes are
    /// ignored).
    pub fn new<I, S>(secrets: I) -> Secrets
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Secrets::default();
        for s in secrets {
            out.add(s.as_ref());
        }
        out
    }

    /// Adds `secret` (ignored when shorter than [`MIN_RUN`] bytes).
    pub fn add(&mut self, secret: &str) {
        for w in secret.as_bytes().windows(MIN_RUN) {
            let mut window = [0u8; MIN_RUN];
            window.copy_from_slice(w);
            self.windows.insert(window);
        }
    }

    /// This set and `other`'s secrets.
    pub fn with(&self, other: &Secrets) -> Secrets {
        let mut out = self.clone();
        out.windows.extend(other.windows.iter().copied());
        out
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Whether `text` holds a run of a secret.
    pub fn matches(&self, text: &str) -> bool {
        !self.is_empty()
            && text
                .as_bytes()
                .windows(MIN_RUN)
                .any(|w| self.windows.contains(w))
    }

    /// `text` with every run of [`MIN_RUN`] or more bytes of a secret
    /// replaced by [`MASK`] (borrowed when there was none).
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() || text.len() < MIN_RUN {
            return Cow::Borrowed(text);
        }
        let bytes = text.as_bytes();
        // Masked ranges, merged as they are found (windows come in order).
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (i, w) in bytes.windows(MIN_RUN).enumerate() {
            if !self.windows.contains(w) {
                continue;
            }
            let (start, end) = (i, i + MIN_RUN);
            match ranges.last_mut() {
                Some(last) if start <= last.1 => last.1 = end,
                _ => ranges.push((start, end)),
            }
        }
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in ranges {
            // A secret with multi-byte characters may match mid-character:
            // mask the whole characters.
            let start = floor_boundary(text, start).max(at);
            let end = ceil_boundary(text, end);
            out.push_str(&text[at..start]);
            if !out.ends_with(MASK) {
                out.push_str(MASK);
            }
            at = end;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// [`redact`](Self::redact) in place.
    pub fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(s) = self.redact(text) {
            *text = s;
        }
    }
}

/// `stream` with `key`'s runs masked in the errors it yields (an upstream
/// may echo the key in an error event mid-stream).
pub(crate) fn sealed_stream(stream: crate::ChunkStream, key: Option<&str>) -> crate::ChunkStream {
    use futures::StreamExt as _;
    // The set is built only if an error comes: a stream costs one copy
    // of the key, not a set of its windows.
    let Some(key) = key.filter(|k| k.len() >= MIN_RUN).map(str::to_owned) else {
        return stream;
    };
    Box::pin(stream.map(move |item| item.map_err(|e| e.redact(&key))))
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-op-PROVIDERSECRET-0042-abcdefgh";

    fn check(secrets: &Secrets, text: &str, want: &str) {
        assert_eq!(secrets.redact(text), want, "{text:?}");
        assert_eq!(secrets.matches(text), text != want, "{text:?}");
    }

    #[test]
    fn runs_of_eight_or_more_are_masked() {
        let s = Secrets::new([KEY]);
        let table = [
            // the whole key, a prefix, a middle and a suffix run
            (format!("key {KEY} is invalid"), "key [REDACTED] is invalid"),
            (
                format!("key {}... is invalid", &KEY[..23]),
                "key [REDACTED]... is invalid",
            ),
            (format!("x{}y", &KEY[5..13]), "x[REDACTED]y"),
            (format!("...{}", &KEY[KEY.len() - 8..]), "...[REDACTED]"),
            // OpenAI's way of showing a key: 3 + stars + 4 is safe
            (String::from("sk-********efgh"), "sk-********efgh"),
            // seven characters are no run
            (format!("{} and more", &KEY[..7]), ""),
            // two runs of the key, apart
            (
                format!("{} / {}", &KEY[..10], &KEY[20..]),
                "[REDACTED] / [REDACTED]",
            ),
            (String::new(), ""),
        ];
        for (text, want) in table {
            let want = if want.is_empty() { text.as_str() } else { want };
            check(&s, &text, want);
        }
    }

    #[test]
    fn several_secrets_and_short_ones() {
        let s = Secrets::new(["short", "admin-key-0123456789", KEY]);
        check(&s, "short is kept", "short is kept");
        check(
            &s,
            "a admin-key-0123 b sk-op-PROV c",
            "a [REDACTED] b [REDACTED] c",
        );
        // adjoining runs of two secrets become one mask
        check(&s, "admin-key-0123sk-op-PROV", "[REDACTED]");
        assert!(Secrets::new(["1234567"]).is_empty());
        assert!(Secrets::default().redact(KEY) == KEY);
    }

    #[test]
    fn multibyte_secrets_mask_whole_characters() {
        let s = Secrets::new(["clé-secrète-ünïcode"]);
        let text = "x é-secrète-ü y";
        let out = s.redact(text);
        assert_eq!(out, "x [REDACTED] y");
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = Secrets::new([KEY]);
        assert!(!format!("{s:?}").contains("PROVIDER"));
    }
}
