//! The mock's deterministic tokenizer.

/// Counts tokens with the mock's deterministic tokenizer.
///
/// A word (a maximal run of alphanumeric characters, see
/// [`char::is_alphanumeric`]) is one token; every other non-whitespace
/// character (punctuation, symbols) is one token on its own; whitespace is
/// free. `"Hello, world!"` is 4 tokens.
pub fn count_tokens(text: &str) -> u32 {
    let mut count = 0u32;
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() {
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                count += 1;
                in_word = true;
            }
        } else {
            count += 1;
            in_word = false;
        }
    }
    count
}

/// Splits `text` into the pieces a stream sends, one per token.
///
/// Each piece is a token together with the whitespace before it (`" world"`),
/// or a punctuation character with the whitespace before it; whitespace at
/// the end is added to the last piece. Concatenating the pieces gives `text`
/// back exactly, and there are [`count_tokens`] pieces (a text of only
/// whitespace is a single piece).
pub fn split_tokens(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0; // start of the current piece (its leading whitespace)
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            if in_word {
                continue;
            }
            in_word = true;
        } else if c.is_whitespace() {
            if in_word {
                pieces.push(&text[start..i]);
                start = i;
                in_word = false;
            }
            continue;
        } else {
            // a punctuation token: ends a word before it, is a piece itself
            if in_word {
                pieces.push(&text[start..i]);
                start = i;
                in_word = false;
            }
            let end = i + c.len_utf8();
            pieces.push(&text[start..end]);
            start = end;
            continue;
        }
        // a word starts at `i`; its piece started at `start` (whitespace)
    }
    if in_word || start < text.len() {
        let tail = &text[start..];
        match pieces.last_mut() {
            Some(last) if !in_word => {
                // trailing whitespace joins the last piece
                let from = text.len() - last.len() - tail.len();
                *last = &text[from..];
            }
            _ => pieces.push(tail),
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_and_punctuation() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("   "), 0);
        assert_eq!(count_tokens("Hello, world!"), 4);
        assert_eq!(count_tokens("don't"), 3);
        assert_eq!(count_tokens("a1 b2\tc3\n"), 3);
        assert_eq!(count_tokens("echo: "), 2);
    }

    #[test]
    fn pieces_round_trip_and_match_the_count() {
        for text in [
            "",
            "echo: hello there, friend!",
            "  leading and trailing  ",
            "x",
            "...",
            "héllo wörld — ok",
            "   ",
        ] {
            let pieces = split_tokens(text);
            assert_eq!(pieces.concat(), text, "{text:?}");
            if count_tokens(text) > 0 {
                assert_eq!(pieces.len() as u32, count_tokens(text), "{text:?}");
            }
        }
        assert_eq!(
            split_tokens("echo: hi there!"),
            vec!["echo", ":", " hi", " there", "!"]
        );
        assert_eq!(split_tokens("a  "), vec!["a  "]);
    }
}
