//! Structure-aware generators the targets compose: arbitrary Unicode,
//! valid-ish JSON values, numbers at the edges of their types, and
//! server-sent event streams in every framing the spec allows.

use rand::Rng;
use serde_json::{Map, Number, Value};

use crate::Rand;

/// Characters of one class.
fn char_of_class(rng: &mut Rand) -> char {
    let pick = |rng: &mut Rand, lo: u32, hi: u32| {
        char::from_u32(rng.random_range(lo..=hi)).unwrap_or('\u{fffd}')
    };
    match rng.random_range(0..20) {
        0..=6 => pick(rng, 0x61, 0x7a),
        7 => ' ',
        8 => pick(rng, 0x20, 0x7e),
        9 => pick(rng, 0x00, 0x1f),
        10 => pick(rng, 0xa0, 0x2ff),
        11 => pick(rng, 0x300, 0x36f),     // combining marks
        12 => pick(rng, 0x4e00, 0x9fff),   // CJK
        13 => pick(rng, 0x1f300, 0x1faff), // emoji
        14 => ['\u{200d}', '\u{200c}', '\u{fe0f}', '\u{fe0e}', '\u{200b}'][rng.random_range(0..5)],
        15 => ['\u{202e}', '\u{202d}', '\u{200f}', '\u{2066}', '\u{feff}'][rng.random_range(0..5)],
        16 => pick(rng, 0x1f1e6, 0x1f1ff), // regional indicators
        17 => ['\n', '\r', '\t', '\u{85}', '\u{2028}', '\u{3000}'][rng.random_range(0..6)],
        18 => pick(rng, 0x600, 0x6ff), // Arabic
        _ => loop {
            if let Some(c) = char::from_u32(rng.random_range(0..0x11_0000)) {
                break c;
            }
        },
    }
}

/// Arbitrary Unicode of up to `max_chars` characters: letters, spaces,
/// controls, combining marks, joiners, emoji, CJK, bidi controls, any
/// scalar value; sometimes long runs of one character (whitespace runs
/// are what tokenizers' regexes find hardest).
pub fn unicode(rng: &mut Rand, max_chars: usize) -> String {
    let len = rng.random_range(0..=max_chars);
    let mut s = String::with_capacity(len);
    let mut n = 0;
    while n < len {
        let c = char_of_class(rng);
        if rng.random_ratio(1, 40) {
            let run = rng.random_range(2..=len.max(2));
            for _ in 0..run {
                s.push(c);
            }
            n += run;
        } else {
            s.push(c);
            n += 1;
        }
    }
    s
}

/// Mostly plain words with some Unicode: text that looks like a prompt.
pub fn prose(rng: &mut Rand, max_words: usize) -> String {
    const WORDS: &[&str] = &[
        "the", "model", "answer", "tool", "weather", "Paris", "json", "a", "of", "and", "to", "is",
        "système", "東京", "🙂", "can't", "1001", "x", "\n", "```", "{", "}",
    ];
    let n = rng.random_range(0..=max_words);
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        if rng.random_ratio(1, 10) {
            s.push_str(&unicode(rng, 6));
        } else {
            s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        }
    }
    s
}

/// A number as JSON text: integers and floats at the edges of `u32`,
/// `i64`, `u64` and `f64`, fractions, exponents, negative zero.
pub fn number_text(rng: &mut Rand) -> String {
    const EDGES: &[&str] = &[
        "0",
        "-0",
        "1",
        "-1",
        "2",
        "0.5",
        "-0.5",
        "1.0",
        "1e3",
        "1E-7",
        "255",
        "256",
        "65535",
        "4294967295",
        "4294967296",
        "-2147483649",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1.7976931348623157e308",
        "5e-324",
        "1e308",
        "1e309",
        "-1e309",
        "123456789012345678901234567890",
        "0.1",
        "2.5",
        "100000",
        "1e-400",
        "3.0000000000000004",
    ];
    if rng.random_bool(0.6) {
        EDGES[rng.random_range(0..EDGES.len())].to_owned()
    } else if rng.random_bool(0.5) {
        rng.random_range(-1000i64..=100_000).to_string()
    } else {
        format!(
            "{}",
            rng.random::<f64>() * 10f64.powi(rng.random_range(-5..=12))
        )
    }
}

/// A JSON number from [`number_text`] (texts JSON cannot hold become 0).
pub fn number(rng: &mut Rand) -> Value {
    serde_json::from_str::<Number>(&number_text(rng))
        .map(Value::Number)
        .unwrap_or_else(|_| Value::from(0))
}

/// An object key: a dictionary word most of the time.
pub fn key(rng: &mut Rand, dictionary: &[Vec<u8>]) -> String {
    if !dictionary.is_empty() && rng.random_bool(0.7) {
        let word = &dictionary[rng.random_range(0..dictionary.len())];
        return String::from_utf8_lossy(word).into_owned();
    }
    unicode(rng, 8)
}

/// A scalar: null, a bool, a number, a string (sometimes a dictionary
/// word).
pub fn json_scalar(rng: &mut Rand, dictionary: &[Vec<u8>]) -> Value {
    match rng.random_range(0..6) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => number(rng),
        3 => Value::String(key(rng, dictionary)),
        _ => Value::String(unicode(rng, 24)),
    }
}

/// A JSON value nested at most `depth` levels.
pub fn json(rng: &mut Rand, depth: u32, dictionary: &[Vec<u8>]) -> Value {
    if depth == 0 || rng.random_bool(0.4) {
        return json_scalar(rng, dictionary);
    }
    if rng.random_bool(0.5) {
        let n = rng.random_range(0..=4);
        Value::Array((0..n).map(|_| json(rng, depth - 1, dictionary)).collect())
    } else {
        let n = rng.random_range(0..=4);
        let mut map = Map::new();
        for _ in 0..n {
            map.insert(key(rng, dictionary), json(rng, depth - 1, dictionary));
        }
        Value::Object(map)
    }
}

/// `value` nested `levels` deep in arrays (deep-nesting inputs).
pub fn nested(value: Value, levels: usize) -> Value {
    let mut v = value;
    for _ in 0..levels {
        v = Value::Array(vec![v]);
    }
    v
}

/// One event of a stream to encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field.
    pub event: Option<String>,
    /// The data (split into one `data:` line per `\n`).
    pub data: String,
}

/// Encodes `events` as a `text/event-stream` body, framing chosen at
/// random: LF, CRLF or CR line ends (mixed within a stream), with or
/// without the space after the colon, comments and `retry:`/`id:` lines
/// between events, a byte-order mark, a missing final blank line.
pub fn sse(rng: &mut Rand, events: &[Event]) -> Vec<u8> {
    let mixed = rng.random_ratio(1, 5);
    let fixed_end: &[u8] = match rng.random_range(0..6) {
        0 => b"\r\n",
        1 => b"\r",
        _ => b"\n",
    };
    let mut out = Vec::new();
    if rng.random_ratio(1, 10) {
        out.extend_from_slice("\u{feff}".as_bytes());
    }
    let end = |rng: &mut Rand| -> &'static [u8] {
        if mixed {
            [b"\n".as_slice(), b"\r\n", b"\r"][rng.random_range(0..3)]
        } else {
            match fixed_end {
                b"\r\n" => b"\r\n",
                b"\r" => b"\r",
                _ => b"\n",
            }
        }
    };
    for (i, e) in events.iter().enumerate() {
        if rng.random_ratio(1, 8) {
            out.extend_from_slice(b": OPENROUTER PROCESSING");
            out.extend_from_slice(end(rng));
            if rng.random_bool(0.5) {
                out.extend_from_slice(end(rng));
            }
        }
        if rng.random_ratio(1, 20) {
            out.extend_from_slice(b"retry: 1000");
            out.extend_from_slice(end(rng));
        }
        if rng.random_ratio(1, 20) {
            out.extend_from_slice(format!("id: {i}").as_bytes());
            out.extend_from_slice(end(rng));
        }
        if let Some(name) = &e.event {
            out.extend_from_slice(b"event:");
            if rng.random_bool(0.8) {
                out.push(b' ');
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(end(rng));
        }
        for line in e.data.split('\n') {
            out.extend_from_slice(b"data:");
            if rng.random_bool(0.9) {
                out.push(b' ');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(end(rng));
        }
        if i + 1 < events.len() || rng.random_bool(0.9) {
            out.extend_from_slice(end(rng));
        }
    }
    out
}
