//! Chunks of one stream that differ only in their text.
//!
//! An OpenAI-compatible stream repeats one chunk shape per token: the same
//! id, object, created, model and fingerprint, one choice with the same
//! index, and a delta with only `content`, the one thing that changes:
//!
//! ```text
//! {"id":"chatcmpl-1","object":"chat.completion.chunk",…,"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}
//! ```
//!
//! Parsing each of them into a [`ChatChunk`] was 40% of the instructions a
//! relayed stream cost. A chunk of that shape, once parsed, becomes a
//! [`Template`]: its data before the content's string token, its data
//! after it, and the parsed chunk. A later event whose data has the same
//! bytes before and after, and one JSON string between them, is that chunk
//! with another text: JSON's meaning is compositional, so replacing one
//! string token by another changes that value and nothing else. Only the
//! string is parsed; the rest is the template's chunk, cloned.
//!
//! Anything else (a role chunk, a finish, usage, tool calls, a changed
//! created time, an error) misses every template and is parsed in full, as
//! before.

use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_schema::chat::ChatChunk;

/// At most this many templates per stream: one per choice index of a
/// stream asked for `n` choices, up to four.
const MAX_TEMPLATES: usize = 4;

/// At most this many templates are learned per stream, so an upstream
/// whose chunks differ beyond their text (a per-chunk timestamp, say) does
/// not pay for locating the text on every chunk.
const MAX_LEARNED: u8 = 8;

/// The templates of one stream.
#[derive(Debug, Default)]
pub(crate) struct Templates {
    known: Vec<Template>,
    learned: u8,
}

#[derive(Debug)]
struct Template {
    /// The event's data up to the content's string token.
    before: String,
    /// The event's data after it.
    after: String,
    /// The chunk, its content `None`.
    chunk: ChatChunk,
}

/// Where the one choice's delta content is, read without copying.
#[derive(Deserialize)]
struct Locate<'a> {
    #[serde(borrow)]
    choices: Vec<LocateChoice<'a>>,
}

#[derive(Deserialize)]
struct LocateChoice<'a> {
    #[serde(borrow)]
    delta: LocateDelta<'a>,
}

#[derive(Deserialize)]
struct LocateDelta<'a> {
    #[serde(borrow)]
    content: &'a RawValue,
}

impl Templates {
    /// The chunk `data` is, when it is a known template with another text.
    pub(crate) fn apply(&self, data: &str) -> Option<Box<ChatChunk>> {
        let template = self.known.iter().find(|t| {
            data.len() >= t.before.len() + t.after.len()
                && data.starts_with(&t.before)
                && data.ends_with(&t.after)
        })?;
        let token = &data[template.before.len()..data.len() - template.after.len()];
        // One string token and nothing else, or this is not the template.
        let text: String = serde_json::from_str(token).ok()?;
        let mut chunk = Box::new(template.chunk.clone());
        if let Some(choice) = chunk.choices.first_mut() {
            choice.delta.content = Some(text);
        }
        Some(chunk)
    }

    /// Remembers `chunk`, parsed in full from `data`, as a template when
    /// it has the repeated shape.
    pub(crate) fn learn(&mut self, data: &str, chunk: &ChatChunk) {
        if self.learned >= MAX_LEARNED || !repeats(chunk) {
            return;
        }
        let Some(token) = content_token(data) else {
            return;
        };
        let mut bare = chunk.clone();
        if let Some(choice) = bare.choices.first_mut() {
            choice.delta.content = None;
        }
        if self.known.len() == MAX_TEMPLATES {
            self.known.remove(0);
        }
        self.known.push(Template {
            before: data[..token.start].to_owned(),
            after: data[token.end..].to_owned(),
            chunk: bare,
        });
        self.learned += 1;
    }
}

/// A chunk whose successors may differ from it only in their text: one
/// choice, its delta text alone, nothing finished, no usage, error, log
/// probabilities or unknown keys.
fn repeats(chunk: &ChatChunk) -> bool {
    let [choice] = chunk.choices.as_slice() else {
        return false;
    };
    let d = &choice.delta;
    chunk.carries_only_choices()
        && choice.carries_only_delta()
        && choice.finish_reason.is_none()
        && d.carries_only_role_and_text()
        && d.role.is_none()
        && d.content.is_some()
}

/// The byte range of the one choice's content string token in `data`.
fn content_token(data: &str) -> Option<std::ops::Range<usize>> {
    let located: Locate<'_> = serde_json::from_str(data).ok()?;
    let [choice] = located.choices.as_slice() else {
        return None;
    };
    let raw = choice.delta.content.get();
    // The raw value borrows from `data`: its offset is where it starts.
    let start = (raw.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    let range = start..start + raw.len();
    (raw.starts_with('"') && data.get(range.clone()) == Some(raw)).then_some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &str) -> ChatChunk {
        serde_json::from_str(data).unwrap()
    }

    const FIRST: &str = r#"{"id":"c-1","object":"chat.completion.chunk","created":7,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}"#;

    fn with_text(token: &str) -> String {
        FIRST.replace(r#""Hi""#, token)
    }

    fn learned() -> Templates {
        let mut t = Templates::default();
        t.learn(FIRST, &parse(FIRST));
        t
    }

    #[test]
    fn a_chunk_differing_only_in_text_is_the_full_parse() {
        let t = learned();
        for token in [
            r#"" there""#,
            r#""""#,
            r#""quote \" and \\ slash \n \u00e9 \ud83d\ude00""#,
            r#""日本語 é""#,
            r#""}],\"usage\":{\"x\":1}""#,
        ] {
            let data = with_text(token);
            let fast = t.apply(&data).unwrap_or_else(|| panic!("{token} missed"));
            assert_eq!(*fast, parse(&data), "{token}");
        }
    }

    #[test]
    fn anything_but_one_string_token_between_is_a_miss() {
        let t = learned();
        for token in [
            "null",
            "7",
            r#""a","role":"assistant""#,
            r#""a"},"finish_reason":"stop","x":{"y":"z""#,
            r#""unterminated"#,
            r#"["a"]"#,
        ] {
            assert!(t.apply(&with_text(token)).is_none(), "{token}");
        }
    }

    #[test]
    fn a_change_outside_the_text_is_a_miss() {
        let t = learned();
        for data in [
            FIRST.replace(r#""index":0"#, r#""index":1"#),
            FIRST.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#),
            FIRST.replace(r#""created":7"#, r#""created":8"#),
            FIRST.replace(r#""usage":null"#, r#""usage":{"prompt_tokens":1}"#),
            FIRST.replace(
                r#"{"content":"Hi"}"#,
                r#"{"content":"Hi","role":"assistant"}"#,
            ),
        ] {
            assert!(t.apply(&data).is_none(), "{data}");
        }
    }

    #[test]
    fn only_the_repeated_shape_is_learned() {
        for data in [
            FIRST.replace(
                r#"{"content":"Hi"}"#,
                r#"{"role":"assistant","content":""}"#,
            ),
            FIRST.replace(r#""finish_reason":null"#, r#""finish_reason":"stop""#),
            FIRST.replace(r#""logprobs":null"#, r#""logprobs":{"content":[]}"#),
            FIRST.replace(
                r#"{"content":"Hi"}"#,
                r#"{"content":"Hi","obfuscation":"ab"}"#,
            ),
            FIRST.replace(r#""usage":null"#, r#""service_tier":"default""#),
            FIRST.replace(
                r#"{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}"#,
                r#"{"index":0,"delta":{"content":"Hi"}},{"index":1,"delta":{"content":"Ho"}}"#,
            ),
        ] {
            let mut t = Templates::default();
            t.learn(&data, &parse(&data));
            assert!(t.known.is_empty(), "{data}");
        }
    }

    #[test]
    fn an_escaped_first_text_is_located_too() {
        let data = with_text(r#""a\"b""#);
        let mut t = Templates::default();
        t.learn(&data, &parse(&data));
        let next = with_text(r#""c""#);
        assert_eq!(*t.apply(&next).unwrap(), parse(&next));
    }

    #[test]
    fn templates_per_choice_index_and_a_bound_on_learning() {
        let mut t = Templates::default();
        for i in 0..3 {
            let data = FIRST.replace(r#""index":0"#, &format!(r#""index":{i}"#));
            t.learn(&data, &parse(&data));
        }
        let second = FIRST
            .replace(r#""index":0"#, r#""index":2"#)
            .replace("Hi", "yo");
        assert_eq!(*t.apply(&second).unwrap(), parse(&second));
        // Chunks that change beyond their text stop being learned.
        for created in 0..20 {
            let data = FIRST.replace(r#""created":7"#, &format!(r#""created":{created}"#));
            t.learn(&data, &parse(&data));
        }
        assert_eq!(usize::from(t.learned), usize::from(MAX_LEARNED));
        assert!(t.known.len() <= MAX_TEMPLATES);
    }
}
