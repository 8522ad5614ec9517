//! A small YAML writer for JSON values (tool parameter schemas).
//!
//! Written by hand rather than with a YAML crate: the subset needed is
//! block mappings and sequences of JSON scalars, `serde_yaml` is
//! deprecated, and its successors add a parser this crate does not need.
//! Every JSON string is either written plain, when YAML would read it back
//! as the same string, or double-quoted with JSON escapes (a JSON string
//! literal is a valid YAML 1.2 double-quoted scalar); multi-line strings
//! use literal blocks (`|`, `|-`) when they can round-trip. Keys that
//! say what a schema is (`name`, `type`, `description`, ...) come first,
//! the rest in alphabetical order (the order `serde_json` keeps).

use serde_json::{Map, Value};

/// Keys written first, in this order.
const FIRST_KEYS: [&str; 10] = [
    "name",
    "type",
    "description",
    "enum",
    "const",
    "default",
    "format",
    "properties",
    "items",
    "required",
];

fn ordered(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(k, _)| {
        FIRST_KEYS
            .iter()
            .position(|f| f == k)
            .unwrap_or(FIRST_KEYS.len())
    });
    entries
}

/// The YAML block form of `value`, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => block(&mut out, value, 0),
        Value::Array(a) if !a.is_empty() => block(&mut out, value, 0),
        _ => {
            inline(&mut out, value, 0);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// Writes a non-empty mapping or sequence, each line at `indent`.
fn block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) => {
            for (k, v) in ordered(map) {
                pad(out, indent);
                entry(out, k, v, indent);
            }
        }
        Value::Array(items) => {
            for item in items {
                pad(out, indent);
                item_after_dash(out, item, indent + 2);
            }
        }
        _ => inline(out, value, indent),
    }
}

/// Writes `key: value` from the current column; nested lines go at
/// `indent + 2`.
fn entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    scalar_string(out, key);
    out.push(':');
    if is_block(value) {
        out.push('\n');
        block(out, value, indent + 2);
    } else {
        out.push(' ');
        inline(out, value, indent + 2);
        out.push('\n');
    }
}

/// Writes what follows `- `, at column `indent`.
fn item_after_dash(out: &mut String, item: &Value, indent: usize) {
    out.push_str("- ");
    match item {
        Value::Object(map) if !map.is_empty() => {
            for (i, (k, v)) in ordered(map).into_iter().enumerate() {
                if i > 0 {
                    pad(out, indent);
                }
                entry(out, k, v, indent);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    pad(out, indent);
                }
                item_after_dash(out, x, indent + 2);
            }
        }
        _ => {
            inline(out, item, indent);
            out.push('\n');
        }
    }
}

/// Writes a scalar or an empty collection; a literal block's lines go at
/// `indent`.
fn inline(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            if literal_block_ok(s) {
                out.push_str(if s.ends_with('\n') { "|" } else { "|-" });
                for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                    out.push('\n');
                    if !line.is_empty() {
                        pad(out, indent);
                        out.push_str(line);
                    }
                }
            } else {
                scalar_string(out, s);
            }
        }
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Writes a one-line string: plain when safe, else double-quoted.
fn scalar_string(out: &mut String, s: &str) {
    if plain_ok(s) {
        out.push_str(s);
    } else {
        quoted(out, s);
    }
}

fn quoted(out: &mut String, s: &str) {
    let json = serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""));
    // YAML treats these as line breaks even inside quotes; JSON does not
    // escape them.
    for c in json.chars() {
        match c {
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{FEFF}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
}

fn is_special(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Whether YAML reads `s`, written bare, back as the same string.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || first.is_ascii_digit()
        || first == '+'
        || first == '.'
    {
        return false;
    }
    if s.chars().any(is_special) || s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~" | "nan" | "inf"
    )
}

/// Whether `s` can be a literal block scalar and read back the same.
fn literal_block_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.ends_with("\n\n")
        && !s.starts_with(['\n', ' ', '\t'])
        && !s.chars().any(|c| c != '\n' && c != '\t' && is_special(c))
        && !s.split('\n').any(|l| l.trim().is_empty() && !l.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn weather_tool_schema() {
        let v = json!({
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["location"]
        });
        let want = "\
type: object
properties:
  location:
    type: string
    description: The city and state, e.g. San Francisco, CA
  unit:
    type: string
    enum:
      - celsius
      - fahrenheit
required:
  - location
";
        assert_eq!(to_yaml(&v), want);
    }

    #[test]
    fn quotes_what_yaml_would_misread() {
        let v = json!({
            "a": "yes", "b": "123", "c": "key: value", "d": "", "e": " pad",
            "f": "-dash", "g": "# hash", "h": "tab\there", "i": null, "j": 1.5,
            "k": [], "l": {}, "m": true, "odd key:": "x"
        });
        let want = r##"a: "yes"
b: "123"
c: "key: value"
d: ""
e: " pad"
f: "-dash"
g: "# hash"
h: "tab\there"
i: null
j: 1.5
k: []
l: {}
m: true
"odd key:": x
"##;
        assert_eq!(to_yaml(&v), want);
    }

    #[test]
    fn sequences_of_mappings_and_multiline_text() {
        let v = json!({"items": [{"name": "x", "tags": ["a", "b"]}, [1, 2], "line one\nline two"]});
        let want = "\
items:
  - name: x
    tags:
      - a
      - b
  - - 1
    - 2
  - |-
    line one
    line two
";
        assert_eq!(to_yaml(&v), want);
    }
}
