//! Text token counting: the o200k and cl100k BPE encodings, and the
//! documented estimate for every other tokenizer family.
//!
//! The encodings come from `tiktoken-rs`, which embeds OpenAI's published
//! `.tiktoken` rank files in the crate with `include_str!` (their sha256
//! match the `expected_hash` values in tiktoken's `openai_public.py`):
//! nothing is fetched at run time. Each encoding is built once per process,
//! on first use (or by [`Tokenizer::warm_up`]), and shared by every thread.

use std::sync::LazyLock;

use tiktoken_rs::CoreBPE;

/// Counts the tokens of a text. Implemented by [`Tokenizer`]; the
/// transforms are generic over it so tests and callers can plug a cheaper
/// counter in.
pub trait TokenCounter {
    /// Number of tokens of `text`, with no chat-format overhead.
    fn count_text(&self, text: &str) -> u64;
}

impl<T: TokenCounter + ?Sized> TokenCounter for &T {
    fn count_text(&self, text: &str) -> u64 {
        (**self).count_text(text)
    }
}

/// A sure upper bound of any tokenizer's count: one token per byte (no
/// tokenizer makes a token of less than one byte). With
/// [`crate::count_request`] it bounds a whole prompt, format overhead and
/// non-text parts included, without tokenizing; holds are sized from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteBound;

impl TokenCounter for ByteBound {
    fn count_text(&self, text: &str) -> u64 {
        text.len() as u64
    }
}

/// A tokenizer family, as the catalog's `tokenizer` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenizerFamily {
    /// `o200k_base`: GPT-4o, GPT-4.1, GPT-5, o-series (`o200k`, `GPT`).
    O200k,
    /// `cl100k_base`: GPT-4, GPT-3.5 (`cl100k`).
    Cl100k,
    /// Any other family (`claude`, `gemini`, `llama*`, `mistral`, unknown
    /// or absent): estimated, see [`Tokenizer`].
    Other,
}

impl TokenizerFamily {
    /// The family a catalog `tokenizer` name stands for, case-insensitive:
    /// `o200k`/`o200k_base`/`o200k_harmony`/`GPT` → [`O200k`](Self::O200k),
    /// `cl100k`/`cl100k_base` → [`Cl100k`](Self::Cl100k), anything else or
    /// nothing → [`Other`](Self::Other).
    pub fn from_name(name: Option<&str>) -> Self {
        let Some(name) = name else {
            return TokenizerFamily::Other;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "o200k" | "o200k_base" | "o200k_harmony" | "gpt" => TokenizerFamily::O200k,
            "cl100k" | "cl100k_base" => TokenizerFamily::Cl100k,
            _ => TokenizerFamily::Other,
        }
    }
}

/// Numerator of the estimate factor applied to cl100k counts for families
/// without an exact tokenizer here (5/4 = 1.25).
pub const ESTIMATE_NUMERATOR: u64 = 5;
/// Denominator of the estimate factor (see [`ESTIMATE_NUMERATOR`]).
pub const ESTIMATE_DENOMINATOR: u64 = 4;

/// Counts tokens for one model's tokenizer family.
///
/// Exact for o200k and cl100k. For every other family the count is an
/// estimate: **the cl100k count × 1.25, rounded up**. Why that rule: the
/// ratio of another tokenizer's count to cl100k's is fairly stable for a
/// given language and kind of text (unlike characters ÷ 4, which is off by
/// a factor of four on Chinese or Japanese, where a character is often a
/// token or more), and published comparisons put Claude's tokenizer at
/// roughly 10–30 % more tokens than cl100k on English prose and code,
/// Llama 2 and Mistral's 32k SentencePiece vocabularies at 15–25 % more, and
/// Gemini's and Llama 3's larger vocabularies at or below cl100k. An
/// estimate is used to decide whether a prompt fits a context window, where
/// counting high costs a little of the middle of a long conversation but
/// counting low costs a failed request, so the factor sits at the high end.
///
/// Texts longer than 32 KiB are tokenized in chunks cut just before a
/// space or tab that follows a non-space character: BPE never merges
/// across such a point in either encoding's pre-tokenizer, so the count is
/// unchanged. A run of more than 32 KiB with no such point (one huge word,
/// or pure whitespace) is cut at a character boundary, which may change
/// the count by a token per cut; this also keeps tiktoken's regex, which
/// fails on whitespace runs near 1 MB, far from its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tokenizer {
    family: TokenizerFamily,
}

/// Chunk size for long texts, in bytes.
const CHUNK: usize = 32 * 1024;

static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());
static CL100K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

impl Tokenizer {
    /// The tokenizer of a family.
    pub fn new(family: TokenizerFamily) -> Self {
        Tokenizer { family }
    }

    /// The tokenizer for a catalog `tokenizer` name (see
    /// [`TokenizerFamily::from_name`]).
    pub fn for_family(name: Option<&str>) -> Self {
        Tokenizer::new(TokenizerFamily::from_name(name))
    }

    /// o200k_base.
    pub fn o200k() -> Self {
        Tokenizer::new(TokenizerFamily::O200k)
    }

    /// cl100k_base.
    pub fn cl100k() -> Self {
        Tokenizer::new(TokenizerFamily::Cl100k)
    }

    /// The family this tokenizer counts for.
    pub fn family(&self) -> TokenizerFamily {
        self.family
    }

    /// Whether counts are exact (o200k, cl100k) rather than estimated.
    pub fn is_exact(&self) -> bool {
        self.family != TokenizerFamily::Other
    }

    /// Builds both encodings now rather than on the first request (about
    /// 0.1 s of CPU each); returns whether both loaded.
    pub fn warm_up() -> bool {
        O200K.is_some() && CL100K.is_some()
    }

    /// Number of tokens of `text`.
    pub fn count(&self, text: &str) -> u64 {
        match self.family {
            TokenizerFamily::O200k => count_with(O200K.as_ref(), text),
            TokenizerFamily::Cl100k => count_with(CL100K.as_ref(), text),
            TokenizerFamily::Other => {
                let base = count_with(CL100K.as_ref(), text);
                (base * ESTIMATE_NUMERATOR).div_ceil(ESTIMATE_DENOMINATOR)
            }
        }
    }
}

impl TokenCounter for Tokenizer {
    fn count_text(&self, text: &str) -> u64 {
        self.count(text)
    }
}

/// Counts with an encoding; if it failed to build (it is embedded data, so
/// this is not expected), falls back to one token per 3 bytes, which is
/// above what either encoding gives for almost any text.
fn count_with(bpe: Option<&CoreBPE>, text: &str) -> u64 {
    let Some(bpe) = bpe else {
        return (text.len() as u64).div_ceil(3);
    };
    let mut total = 0u64;
    for chunk in Chunks::new(text) {
        total += bpe.encode_ordinary(chunk).len() as u64;
    }
    total
}

/// Splits a text into chunks of about [`CHUNK`] bytes at points where the
/// BPE pre-tokenizers of o200k and cl100k never join across: just before a
/// space or tab preceded by a non-whitespace character. (No pattern of
/// either encoding matches a non-space followed by a space or tab: the
/// only whitespace that may follow other characters in a piece is `\r`,
/// `\n` or `/`.)
struct Chunks<'a> {
    rest: &'a str,
}

impl<'a> Chunks<'a> {
    fn new(text: &'a str) -> Self {
        Chunks { rest: text }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let cut = safe_cut(self.rest, CHUNK);
        let (chunk, rest) = self.rest.split_at(cut);
        self.rest = rest;
        Some(chunk)
    }
}

/// Where to end the first chunk of `text`: its length when it is at most
/// `max` bytes, else the last safe point in `(max / 2, max]`, else a char
/// boundary at or below `max`.
fn safe_cut(text: &str, max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let bytes = text.as_bytes();
    let low = max / 2;
    let mut i = max;
    while i > low {
        if matches!(bytes[i], b' ' | b'\t')
            && text.is_char_boundary(i)
            && text[..i]
                .chars()
                .next_back()
                .is_some_and(|c| !c.is_whitespace())
        {
            return i;
        }
        i -= 1;
    }
    match text.floor_char_boundary(max) {
        // Only when `max` < 4 and the first char is wider: take it whole.
        0 => text.chars().next().map_or(text.len(), char::len_utf8),
        cut => cut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_bound_is_never_below_a_real_count() {
        let texts = [
            "Hello, world!",
            "  many    spaces\n\n\tand tabs",
            "日本語のテキストと emoji 🎉🎉",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "fn main() { println!(\"{}\", 1 + 2); }",
        ];
        for text in texts {
            let bound = ByteBound.count_text(text);
            for tokenizer in [Tokenizer::o200k(), Tokenizer::cl100k()] {
                let n = tokenizer.count(text);
                assert!(n <= bound, "{text:?}: {n} tokens > bound {bound}");
            }
        }
    }

    #[test]
    fn families_from_catalog_names() {
        let f = |n: Option<&str>| TokenizerFamily::from_name(n);
        assert_eq!(f(Some("o200k")), TokenizerFamily::O200k);
        assert_eq!(f(Some("GPT")), TokenizerFamily::O200k);
        assert_eq!(f(Some("O200K_BASE")), TokenizerFamily::O200k);
        assert_eq!(f(Some("cl100k")), TokenizerFamily::Cl100k);
        assert_eq!(f(Some("cl100k_base")), TokenizerFamily::Cl100k);
        assert_eq!(f(Some("claude")), TokenizerFamily::Other);
        assert_eq!(f(Some("Gemini")), TokenizerFamily::Other);
        assert_eq!(f(Some("llama3")), TokenizerFamily::Other);
        assert_eq!(f(None), TokenizerFamily::Other);
    }

    #[test]
    fn estimate_is_cl100k_times_five_quarters_rounded_up() {
        let text = "hello world, this is a test";
        let base = Tokenizer::cl100k().count(text);
        let est = Tokenizer::for_family(Some("claude")).count(text);
        assert_eq!(est, (base * 5).div_ceil(4));
        assert!(!Tokenizer::for_family(Some("claude")).is_exact());
        assert!(Tokenizer::o200k().is_exact());
    }

    #[test]
    fn chunking_keeps_exact_counts_on_prose() {
        let para = "The quick brown fox jumps over the lazy dog; it's 12345 times faster!\n\
                    Ünïcödé wörds, 漢字 and emoji 🦀 too.\t tab\r\n";
        let text = para.repeat(2000);
        assert!(text.len() > 4 * CHUNK);
        for bpe in [O200K.as_ref(), CL100K.as_ref()] {
            let bpe = bpe.unwrap();
            let whole = bpe.encode_ordinary(&text).len() as u64;
            assert_eq!(count_with(Some(bpe), &text), whole);
        }
    }

    #[test]
    fn chunks_cover_the_text_on_char_boundaries() {
        let text = "é".repeat(CHUNK) + &" ".repeat(CHUNK * 2) + &"x y".repeat(CHUNK);
        let joined: String = Chunks::new(&text).collect();
        assert_eq!(joined, text);
        assert!(Chunks::new(&text).all(|c| !c.is_empty() && c.len() <= CHUNK));
    }

    #[test]
    fn huge_whitespace_runs_do_not_panic() {
        // tiktoken's regex fails on a single ~1 MB whitespace run.
        let text = " ".repeat(1_200_000);
        let n = Tokenizer::o200k().count(&text);
        assert!(n > 0);
    }
}
