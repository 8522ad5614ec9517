//! Cutting the middle out of one text, by tokens, on character
//! boundaries, leaving a marker.

use tollgate_schema::chat::{ContentPart, Message, MessageContent};

use crate::count::count_message;
use crate::tokenizer::TokenCounter;

/// The marker left where text was cut: `\n\n[... N tokens removed by
/// middle-out ...]\n\n`.
pub fn marker(removed_tokens: u64) -> String {
    format!("\n\n[... {removed_tokens} tokens removed by middle-out ...]\n\n")
}

/// How many times a cut is re-measured before giving up on a side.
const MAX_ROUNDS: usize = 12;

/// Keeps at most `keep_tokens` tokens of `text` (about half from its start
/// and half from its end) and puts a [`marker`] between them. `text_tokens`
/// is `text`'s count, if known (it saves counting it again).
///
/// Returns the text unchanged when it already has at most `keep_tokens`
/// tokens. Cuts fall on character boundaries and never between a
/// character and the combining marks, joiners or variation selectors that
/// follow it. The head and the tail are each measured with `counter`, so
/// they hold at most their share whatever the text; the marker and the
/// joins may add a few tokens, which the caller measures.
pub fn cut_middle<C: TokenCounter + ?Sized>(
    text: &str,
    keep_tokens: u64,
    text_tokens: Option<u64>,
    counter: &C,
) -> String {
    let total = text_tokens.unwrap_or_else(|| counter.count_text(text));
    if total <= keep_tokens {
        return text.to_owned();
    }
    let head_target = keep_tokens / 2;
    let tail_target = keep_tokens - head_target;
    let (head_end, head_tokens) = prefix(text, head_target, total, counter);
    let rest = &text[head_end..];
    let (tail_start, tail_tokens) = suffix(rest, tail_target, total, text.len(), counter);
    let tail = &rest[tail_start..];
    let removed = total.saturating_sub(head_tokens + tail_tokens);
    let mut out = String::with_capacity(head_end + tail.len() + 64);
    out.push_str(&text[..head_end]);
    out.push_str(&marker(removed));
    out.push_str(tail);
    out
}

/// A long prefix of `text` with at most `k` tokens: its byte length and
/// token count. Searches between a known-short and a known-long cut,
/// guessing from the ratio of bytes to tokens, until within 1 % of `k`.
fn prefix<C: TokenCounter + ?Sized>(text: &str, k: u64, total: u64, counter: &C) -> (usize, u64) {
    if k == 0 || text.is_empty() {
        return (0, 0);
    }
    let mut best = (0, 0);
    let mut too_long = text.len() + 1;
    let mut end = back_to_cluster(text, text.floor_char_boundary(scale(text.len(), k, total)));
    for _ in 0..MAX_ROUNDS {
        if end <= best.0 || end >= too_long {
            break;
        }
        let n = counter.count_text(&text[..end]);
        let next = if n <= k {
            best = (end, n);
            if close_enough(n, k) || end == text.len() {
                break;
            }
            scale(end, k, n).min(text.len())
        } else {
            too_long = end;
            scale(end, k, n)
        };
        end = back_to_cluster(text, text.floor_char_boundary(next));
        if end <= best.0 || end >= too_long {
            // The guess repeats a bound: bisect instead.
            end = back_to_cluster(
                text,
                text.floor_char_boundary(best.0 + (too_long.min(text.len() + 1) - best.0) / 2),
            );
        }
    }
    best
}

/// A long suffix of `text` with at most `k` tokens: its start and token
/// count. `whole_len` and `total` describe the text the ratio of bytes to
/// tokens is first estimated from.
fn suffix<C: TokenCounter + ?Sized>(
    text: &str,
    k: u64,
    total: u64,
    whole_len: usize,
    counter: &C,
) -> (usize, u64) {
    if k == 0 || text.is_empty() {
        return (text.len(), 0);
    }
    let len = text.len();
    // Work in suffix lengths: `best` fits, `too_long` does not.
    let mut best = (0usize, 0u64);
    let mut too_long = len + 1;
    let start_of =
        |want: usize| forward_to_cluster(text, text.ceil_char_boundary(len - want.min(len)));
    let mut start = start_of(scale(whole_len, k, total));
    for _ in 0..MAX_ROUNDS {
        let size = len - start;
        if size <= best.0 || size >= too_long {
            break;
        }
        let n = counter.count_text(&text[start..]);
        let next = if n <= k {
            best = (size, n);
            if close_enough(n, k) || start == 0 {
                break;
            }
            scale(size, k, n).min(len)
        } else {
            too_long = size;
            scale(size, k, n)
        };
        start = start_of(next);
        let size = len - start;
        if size <= best.0 || size >= too_long {
            start = start_of(best.0 + (too_long.min(len + 1) - best.0) / 2);
        }
    }
    (len - best.0, best.1)
}

/// Whether `n` tokens are within 1 % of the `k` wanted.
fn close_enough(n: u64, k: u64) -> bool {
    n + k / 100 >= k
}

/// `len × k / n` bytes, for a text of `len` bytes and `n` tokens to hold
/// about `k` tokens.
fn scale(len: usize, k: u64, n: u64) -> usize {
    if n == 0 {
        return len;
    }
    let bytes = (len as u128 * u128::from(k)) / u128::from(n);
    usize::try_from(bytes).unwrap_or(len).min(len)
}

/// Whether `c` attaches to the character before it, so a cut must not
/// fall just before it.
fn attaches(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'   // combining diacritical marks
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}'..='\u{200D}' // ZWNJ, ZWJ
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}' // skin tone modifiers
        | '\u{E0020}'..='\u{E007F}' // tag characters
    )
}

/// Whether a cut at `i` would split a character from what attaches to it
/// (a combining mark after it, or the character after a zero-width joiner).
fn inside_cluster(text: &str, i: usize) -> bool {
    i > 0
        && i < text.len()
        && (text[i..].chars().next().is_some_and(attaches) || text[..i].ends_with('\u{200D}'))
}

/// Moves a cut at `i` (a char boundary) back to a cluster boundary.
fn back_to_cluster(text: &str, mut i: usize) -> usize {
    while inside_cluster(text, i) {
        i = step_back(text, i);
    }
    i
}

/// Moves a cut at `i` (a char boundary) forward to a cluster boundary.
fn forward_to_cluster(text: &str, mut i: usize) -> usize {
    while inside_cluster(text, i) {
        i = step_forward(text, i);
    }
    i
}

fn step_back(text: &str, i: usize) -> usize {
    text[..i].char_indices().next_back().map_or(0, |(j, _)| j)
}

fn step_forward(text: &str, i: usize) -> usize {
    text[i..]
        .chars()
        .next()
        .map_or(text.len(), |c| i + c.len_utf8())
}

/// Shrinks `message` (of `message_tokens` tokens) by at least `excess`
/// tokens if its largest text allows, cutting that text's middle. Returns
/// the new message and its count, or `None` when it has no text to cut
/// or cutting cannot make it smaller.
pub(crate) fn shrink_message<C: TokenCounter + ?Sized>(
    message: &Message,
    message_tokens: u64,
    excess: u64,
    counter: &C,
) -> Option<(Message, u64)> {
    let (text, slot) = largest_text(message)?;
    let mut without = message.clone();
    set_text(&mut without, slot, String::new());
    let rest = count_message(&without, counter);
    let text_tokens = message_tokens.saturating_sub(rest);
    let marker_tokens = counter.count_text(&marker(text_tokens));
    if text_tokens <= marker_tokens {
        return None;
    }
    let goal = message_tokens.saturating_sub(excess);
    let mut keep = text_tokens
        .saturating_sub(excess)
        .saturating_sub(marker_tokens);
    let mut best: Option<(Message, u64)> = None;
    for _ in 0..4 {
        let cut = cut_middle(text, keep, Some(text_tokens), counter);
        let mut candidate = without.clone();
        set_text(&mut candidate, slot, cut);
        let n = count_message(&candidate, counter);
        if n < message_tokens && best.as_ref().is_none_or(|(_, b)| n < *b) {
            best = Some((candidate, n));
        }
        if n <= goal || keep == 0 {
            break;
        }
        // The joins or the marker cost more than planned: cut that much more.
        keep = keep.saturating_sub(n - goal);
    }
    best
}

/// Where a message's text lives.
#[derive(Clone, Copy)]
enum Slot {
    Content,
    Part(usize),
}

/// The message's largest text: its string content or its largest text
/// part.
fn largest_text(message: &Message) -> Option<(&str, Slot)> {
    match message.content.as_ref()? {
        MessageContent::Text(t) if !t.is_empty() => Some((t.as_str(), Slot::Content)),
        MessageContent::Text(_) => None,
        MessageContent::Parts(parts) => parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                ContentPart::Text(t) if !t.text.is_empty() => {
                    Some((t.text.as_str(), Slot::Part(i)))
                }
                _ => None,
            })
            .max_by_key(|(t, _)| t.len()),
    }
}

fn set_text(message: &mut Message, slot: Slot, text: String) {
    match (slot, message.content.as_mut()) {
        (Slot::Content, Some(MessageContent::Text(t))) => *t = text,
        (Slot::Part(i), Some(MessageContent::Parts(parts))) => {
            if let Some(ContentPart::Text(t)) = parts.get_mut(i) {
                t.text = text;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tokenizer;

    #[test]
    fn cuts_the_middle_and_marks_it() {
        let t = Tokenizer::o200k();
        let text = (0..2000).map(|i| format!("word{i} ")).collect::<String>();
        let total = t.count(&text);
        let out = cut_middle(&text, 100, None, &t);
        assert!(out.starts_with("word0 word1"));
        assert!(out.trim_end().ends_with("word1999"));
        assert!(out.contains("tokens removed by middle-out ...]"));
        let kept = t.count(&out) - t.count(&marker(total));
        assert!(kept <= 100 + 2, "kept {kept}");
        assert!(kept >= 80, "kept {kept}");
    }

    #[test]
    fn short_text_is_unchanged() {
        let t = Tokenizer::cl100k();
        assert_eq!(cut_middle("hello world", 10, None, &t), "hello world");
    }

    #[test]
    fn never_splits_combining_marks_or_emoji_sequences() {
        let t = Tokenizer::o200k();
        for unit in ["e\u{301}\u{302}", "👨\u{200D}👩\u{200D}👧", "👍🏽", "漢"] {
            let text = unit.repeat(3000);
            for keep in [0, 1, 2, 7, 50, 500] {
                let out = cut_middle(&text, keep, None, &t);
                let (head, rest) = out.split_once("\n\n[...").unwrap();
                let tail = rest.split_once("...]\n\n").unwrap().1;
                assert_eq!(head.len() % unit.len(), 0, "{unit:?} keep {keep}");
                assert_eq!(tail.len() % unit.len(), 0, "{unit:?} keep {keep}");
            }
        }
    }

    #[test]
    fn zero_keep_leaves_only_the_marker() {
        let t = Tokenizer::o200k();
        let out = cut_middle(&"abc ".repeat(100), 0, None, &t);
        assert!(out.starts_with("\n\n[... ") && out.ends_with(" ...]\n\n"));
    }
}
