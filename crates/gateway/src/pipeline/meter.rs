//! Metering what an answer produced against its output bound, so a
//! provider that ignores `max_tokens` (or streams without end) is cut off
//! where the hold stops covering it.
//!
//! Counting tokens costs CPU, so text is counted only when it might have
//! passed the bound: a token is at least one byte, so the tokens counted
//! so far plus the bytes not yet counted bound the output from above, and
//! while that sum stays within the bound nothing is counted. Past it, the
//! pending text is counted with the model family's tokenizer (pieces
//! counted apart count at least as many tokens as counted together, give
//! or take a merge at the seams). Each count leaves the bound a quarter
//! less headroom than the bytes did, so a 200-token stream with a bound of
//! 200 is counted some 15–20 times, in small pieces, not once per chunk.

use tollgate_schema::usage::{CompletionTokensDetails, Usage};
use tollgate_transforms::Tokenizer;

/// `usage` with its reasoning tokens counted from the reasoning text when
/// the provider reported none although it reasoned (Anthropic counts
/// thinking in `output_tokens` and never apart): the text's tokens with
/// the model family's tokenizer, at most the completion tokens.
pub fn with_reasoning_counted(mut usage: Usage, reasoning: &str, tokenizer: &Tokenizer) -> Usage {
    if reasoning.is_empty() || usage.reasoning_tokens() > 0 {
        return usage;
    }
    let tokens = tokenizer.count(reasoning).min(usage.completion_tokens);
    usage
        .completion_tokens_details
        .get_or_insert_with(CompletionTokensDetails::default)
        .reasoning_tokens = tokens;
    usage
}

/// Produced output measured against a bound of tokens.
#[derive(Debug)]
pub struct OutputMeter {
    bound: u64,
    tokenizer: Tokenizer,
    bytes: u64,
    /// Text not counted yet.
    pending: String,
    /// Tokens of the text counted so far.
    counted: u64,
    /// Whether anything was counted (else only bytes are known).
    counted_any: bool,
}

impl OutputMeter {
    /// A meter for at most `bound` tokens, counted with `tokenizer`.
    pub fn new(bound: u64, tokenizer: Tokenizer) -> OutputMeter {
        OutputMeter {
            bound,
            tokenizer,
            bytes: 0,
            pending: String::new(),
            counted: 0,
            counted_any: false,
        }
    }

    /// Adds produced text; returns whether the output is now past its bound.
    pub fn add(&mut self, text: &str) -> bool {
        if text.is_empty() {
            return self.exceeded();
        }
        self.bytes += text.len() as u64;
        self.pending.push_str(text);
        if self.counted + self.pending.len() as u64 > self.bound {
            self.counted += self.tokenizer.count(&self.pending);
            self.counted_any = true;
            self.pending.clear();
        }
        self.exceeded()
    }

    /// Whether the output is past its bound.
    pub fn exceeded(&self) -> bool {
        self.counted > self.bound
    }

    /// The output's tokens as far as known: counted where counting was
    /// needed, four bytes a token for the rest (the estimate used when a
    /// provider reports no usage), never above the bound.
    pub fn tokens(&self) -> u64 {
        let estimate = if self.counted_any {
            self.counted + (self.pending.len() as u64).div_ceil(4)
        } else {
            self.bytes.div_ceil(4)
        };
        estimate.min(self.bound)
    }
}

/// The length in bytes of the longest prefix of `text` (cut at a
/// character boundary) of at most `tokens` tokens: a binary search over
/// the cut, counting each candidate (only answers past their bound get
/// here).
pub fn prefix_within(text: &str, tokens: u64, tokenizer: &Tokenizer) -> usize {
    if tokenizer.count(text) <= tokens {
        return text.len();
    }
    let (mut lo, mut hi) = (0usize, text.len());
    while lo < hi {
        let mid = floor_boundary(text, lo + (hi - lo).div_ceil(2));
        if mid <= lo {
            // No boundary between lo and hi other than lo.
            break;
        }
        if tokenizer.count(&text[..mid]) <= tokens {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    floor_boundary(text, lo)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_within_a_token_budget() {
        let t = Tokenizer::o200k();
        let text = " word".repeat(50) + " é";
        let keep = prefix_within(&text, 10, &t);
        assert_eq!(&text[..keep], " word".repeat(10));
        assert_eq!(prefix_within(&text, 1_000, &t), text.len());
        assert_eq!(prefix_within(&text, 0, &t), 0);
        // Never inside a character.
        let wide = "日本語".repeat(30);
        let keep = prefix_within(&wide, 5, &t);
        assert!(wide.is_char_boundary(keep));
        assert!(t.count(&wide[..keep]) <= 5);
    }

    #[test]
    fn nothing_is_counted_within_the_byte_bound() {
        let mut m = OutputMeter::new(10, Tokenizer::o200k());
        assert!(!m.add("hello "));
        assert!(!m.add("you"));
        assert_eq!(m.bytes, 9);
        assert!(!m.counted_any);
        assert_eq!(m.tokens(), 3);
    }

    #[test]
    fn long_words_are_counted_not_cut_by_bytes() {
        // 5 tokens of long words: far more than 5 bytes, not past 5 tokens.
        let mut m = OutputMeter::new(5, Tokenizer::o200k());
        assert!(!m.add(" international"));
        assert!(!m.add(" organization"));
        assert!(m.counted_any);
        assert!(m.tokens() <= 5);
    }

    #[test]
    fn an_output_past_its_bound_is_reported_and_capped() {
        let mut m = OutputMeter::new(20, Tokenizer::o200k());
        let mut exceeded_at = None;
        for i in 0..100 {
            if m.add(" word") {
                exceeded_at = Some(i);
                break;
            }
        }
        // " word" is one token: the 21st piece passes a bound of 20.
        assert_eq!(exceeded_at, Some(20));
        assert_eq!(m.tokens(), 20);
        assert!(m.exceeded());
    }
}
