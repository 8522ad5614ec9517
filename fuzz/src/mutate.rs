//! Mutations: of bytes, and of JSON trees when the input is JSON.

use rand::Rng;
use serde_json::Value;

use crate::Rand;
use crate::generate;

/// Words every target's mutations may insert: JSON, TOML and SSE syntax,
/// numbers at the edges of their types, escapes and odd characters.
pub(crate) const BASE_DICTIONARY: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "\\n",
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "-1",
    "1e309",
    "-1e309",
    "1e-400",
    "0.1",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1.7976931348623157e308",
    "NaN",
    "Infinity",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "data:",
    "data: ",
    "event:",
    "id:",
    "retry:",
    ": ",
    "[DONE]",
    "\u{feff}",
    "\u{0}",
    "=",
    "[[",
    "]]",
    "\"\"\"",
    "'''",
    "#",
    "inf",
    "nan",
    "1979-05-27T07:32:00Z",
    "\u{301}",
    "\u{200d}",
    "\u{1f469}\u{200d}\u{1f4bb}",
    "\u{fe0f}",
    "\u{202e}",
    "\u{ffff}",
    "\u{10ffff}",
    "中文",
    "\u{1f600}",
];

/// Bytes worth putting anywhere.
const INTERESTING_BYTES: &[u8] = &[
    0, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xef, 0xf0, 0xf4, 0xf5, 0xff, b'"', b'\\', b'{', b'}',
    b'[', b']', b':', b',', b'\n', b'\r', b' ', b'\t', b'=', b'.', b'-', b'e',
];

/// Random bytes: sometimes any byte, mostly syntax and dictionary words.
pub(crate) fn random_bytes(rng: &mut Rand, dictionary: &[Vec<u8>]) -> Vec<u8> {
    let len = rng.random_range(0..=256);
    let mut out = Vec::with_capacity(len);
    let any = rng.random_bool(0.5);
    while out.len() < len {
        if any {
            out.push(rng.random());
        } else if rng.random_bool(0.2) && !dictionary.is_empty() {
            out.extend_from_slice(&dictionary[rng.random_range(0..dictionary.len())]);
        } else {
            out.push(INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())]);
        }
    }
    out
}

/// A run of dictionary words.
pub(crate) fn words(rng: &mut Rand, dictionary: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    if dictionary.is_empty() {
        return out;
    }
    for _ in 0..rng.random_range(1..=32) {
        out.extend_from_slice(&dictionary[rng.random_range(0..dictionary.len())]);
        if rng.random_bool(0.3) {
            out.push(INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())]);
        }
    }
    out
}

/// One mutation of `input`: a JSON-tree mutation when it parses as JSON
/// (a third of the time), else a byte mutation.
pub(crate) fn mutate(rng: &mut Rand, input: &mut Vec<u8>, pool: &[Vec<u8>], dict: &[Vec<u8>]) {
    if rng.random_ratio(1, 3)
        && let Ok(mut value) = serde_json::from_slice::<Value>(input)
    {
        mutate_json(rng, &mut value, dict);
        if let Ok(bytes) = serde_json::to_vec(&value) {
            *input = bytes;
            return;
        }
    }
    mutate_bytes(rng, input, pool, dict);
}

fn range(rng: &mut Rand, len: usize) -> (usize, usize) {
    if len == 0 {
        return (0, 0);
    }
    let start = rng.random_range(0..len);
    let max = (len - start).min(if rng.random_bool(0.8) { 16 } else { len });
    let end = start + rng.random_range(1..=max.max(1));
    (start, end.min(len))
}

fn mutate_bytes(rng: &mut Rand, input: &mut Vec<u8>, pool: &[Vec<u8>], dict: &[Vec<u8>]) {
    let len = input.len();
    let at = if len == 0 {
        0
    } else {
        rng.random_range(0..=len)
    };
    match rng.random_range(0..13) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            input[i] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let i = rng.random_range(0..len);
            input[i] = INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())];
        }
        2 => {
            let n = rng.random_range(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            input.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let (s, e) = range(rng, len);
            input.drain(s..e);
        }
        4 if len > 0 => {
            // Repeat a range: long strings, deep nesting, many elements.
            let (s, e) = range(rng, len);
            let piece = input[s..e].to_vec();
            let times = if rng.random_bool(0.1) {
                rng.random_range(2..=512)
            } else {
                rng.random_range(1..=8)
            };
            let mut repeated = Vec::with_capacity(piece.len() * times);
            for _ in 0..times {
                repeated.extend_from_slice(&piece);
            }
            input.splice(e..e, repeated);
        }
        5 if !dict.is_empty() => {
            let word = dict[rng.random_range(0..dict.len())].clone();
            input.splice(at..at, word);
        }
        6 if !dict.is_empty() && len > 0 => {
            let (s, e) = range(rng, len);
            let word = dict[rng.random_range(0..dict.len())].clone();
            input.splice(s..e, word);
        }
        7 if !pool.is_empty() => {
            // Splice: a piece of another input.
            let other = &pool[rng.random_range(0..pool.len())];
            let (s, e) = range(rng, other.len());
            let piece = other[s..e].to_vec();
            input.splice(at..at, piece);
        }
        8 if len > 0 => {
            input.truncate(rng.random_range(0..len));
        }
        9 => {
            let text = generate::unicode(rng, 8);
            input.splice(at..at, text.into_bytes());
        }
        10 if len > 1 => {
            // Swap two bytes.
            let i = rng.random_range(0..len);
            let j = rng.random_range(0..len);
            input.swap(i, j);
        }
        11 => {
            let number = generate::number_text(rng);
            if len > 0 && rng.random_bool(0.5) {
                // Replace a run of digits.
                let i = rng.random_range(0..len);
                let mut j = i;
                while j < len && (input[j].is_ascii_digit() || b".-+eE".contains(&input[j])) {
                    j += 1;
                }
                input.splice(i..j, number.into_bytes());
            } else {
                input.splice(at..at, number.into_bytes());
            }
        }
        _ => {
            // A broken UTF-8 sequence: a lead byte without its tail, or a
            // lone continuation byte.
            let bad: &[u8] = match rng.random_range(0..4) {
                0 => &[0xc3],
                1 => &[0xe2, 0x82],
                2 => &[0xf0, 0x9f, 0x98],
                _ => &[0x80],
            };
            input.splice(at..at, bad.iter().copied());
        }
    }
}

/// Replaces, deletes, duplicates, retypes or wraps one node of `value`.
fn mutate_json(rng: &mut Rand, value: &mut Value, dict: &[Vec<u8>]) {
    let count = count_nodes(value);
    let target = rng.random_range(0..count);
    let mut seen = 0;
    let Some(node) = nth_node(value, target, &mut seen) else {
        return;
    };
    match rng.random_range(0..9) {
        0 => *node = generate::json(rng, 3, dict),
        1 => *node = generate::json_scalar(rng, dict),
        2 => match node {
            Value::Array(items) if !items.is_empty() => {
                let i = rng.random_range(0..items.len());
                items.remove(i);
            }
            Value::Object(map) if !map.is_empty() => {
                let i = rng.random_range(0..map.len());
                if let Some(key) = map.keys().nth(i).cloned() {
                    map.remove(&key);
                }
            }
            _ => *node = Value::Null,
        },
        3 => match node {
            Value::Array(items) if !items.is_empty() => {
                let i = rng.random_range(0..items.len());
                let copy = items[i].clone();
                let most = if rng.random_bool(0.1) { 300 } else { 4 };
                let times = rng.random_range(1..=most);
                for _ in 0..times {
                    items.push(copy.clone());
                }
            }
            Value::Object(map) => {
                let key = generate::key(rng, dict);
                map.insert(key, generate::json(rng, 2, dict));
            }
            _ => *node = Value::Array(vec![node.clone(), node.clone()]),
        },
        4 => {
            // Wrap: one level deeper.
            let inner = node.take();
            *node = if rng.random_bool(0.5) {
                Value::Array(vec![inner])
            } else {
                let mut map = serde_json::Map::new();
                map.insert(generate::key(rng, dict), inner);
                Value::Object(map)
            };
        }
        5 => {
            // Retype: the same content as another JSON type.
            *node = match node.take() {
                Value::String(s) => s
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Array(vec![Value::String(s)]), Value::Number),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                Value::Null => Value::Bool(false),
                Value::Array(mut items) => items.pop().unwrap_or(Value::Null),
                Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
            };
        }
        6 => *node = Value::String(generate::unicode(rng, 40)),
        7 => *node = generate::number(rng),
        _ => {
            if let Value::String(s) = node {
                let extra = generate::unicode(rng, 6);
                let at = s
                    .char_indices()
                    .map(|(i, _)| i)
                    .nth(rng.random_range(0..=s.chars().count()))
                    .unwrap_or(s.len());
                s.insert_str(at, &extra);
            } else {
                *node = generate::json(rng, 1, dict);
            }
        }
    }
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn nth_node<'a>(value: &'a mut Value, n: usize, seen: &mut usize) -> Option<&'a mut Value> {
    if *seen == n {
        return Some(value);
    }
    *seen += 1;
    match value {
        Value::Array(items) => items.iter_mut().find_map(|v| nth_node_inner(v, n, seen)),
        Value::Object(map) => map.values_mut().find_map(|v| nth_node_inner(v, n, seen)),
        _ => None,
    }
}

fn nth_node_inner<'a>(value: &'a mut Value, n: usize, seen: &mut usize) -> Option<&'a mut Value> {
    if *seen > n {
        return None;
    }
    nth_node(value, n, seen)
}
