//! Finding JSON in a model's free-text reply: tool calls written in the
//! format [`super::tools`] asks for (and the common variants models drift
//! to), and the JSON object of a reply in JSON mode.

use serde_json::{Map, Value};
use tollgate_schema::Extra;
use tollgate_schema::chat::{FunctionCall, ToolCall};

/// How many `{` / `[` positions are tried before giving up, bounding the
/// work on long replies full of braces that are not JSON.
const MAX_CANDIDATES: usize = 512;

/// A JSON value found in a text, with its byte range.
struct Found {
    start: usize,
    end: usize,
    value: Value,
}

/// JSON objects and arrays in `text`, in order, not overlapping.
fn json_values(text: &str) -> impl Iterator<Item = Found> + '_ {
    let mut pos = 0;
    let mut tries = 0;
    std::iter::from_fn(move || {
        while tries < MAX_CANDIDATES {
            let offset = text[pos..].find(['{', '['])?;
            let start = pos + offset;
            tries += 1;
            let mut stream =
                serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value)) => {
                    let end = start + stream.byte_offset();
                    pos = end;
                    return Some(Found { start, end, value });
                }
                _ => pos = start + 1,
            }
        }
        None
    })
}

/// The first JSON object or array in a reply, as written: for JSON mode by
/// instruction, where models wrap the object in code fences or prose.
pub fn extract_json(reply: &str) -> Option<&str> {
    json_values(reply)
        .next()
        .map(|found| &reply[found.start..found.end])
}

/// Tool calls parsed from a reply, and the reply's text without them.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReply {
    /// The calls, in order (never empty).
    pub tool_calls: Vec<ToolCall>,
    /// The rest of the reply, trimmed, without the JSON, the code fences
    /// or `<tool_call>` tags around it; `None` when nothing is left.
    pub content: Option<String>,
}

/// The tool calls in a model's reply, if it made any; see
/// [`split_tool_reply`].
pub fn parse_tool_calls(reply: &str) -> Option<Vec<ToolCall>> {
    split_tool_reply(reply).map(|r| r.tool_calls)
}

/// Splits a reply into tool calls and the remaining text.
///
/// Accepted, anywhere in the reply and in or out of code fences or
/// `<tool_call>` tags: `{"tool_calls": [call, ...]}`, `{"tool_call":
/// call}`, a bare `call`, or `[call, ...]`, where a call is `{"name": ...,
/// "arguments": {...}}` (`parameters`, `args` or `input` also name the
/// arguments; `arguments` may be a JSON string) or OpenAI's `{"function":
/// {"name": ..., "arguments": ...}}`. Several such values are all taken.
///
/// Each call gets an id `call_<hash>_<n>`, derived from the reply so the
/// same reply parses the same way every time.
pub fn split_tool_reply(reply: &str) -> Option<ToolReply> {
    let mut calls = Vec::new();
    let mut spans = Vec::new();
    for found in json_values(reply) {
        let Some(mut more) = calls_in(&found.value) else {
            continue;
        };
        calls.append(&mut more);
        spans.push(widen(reply, found.start, found.end));
    }
    if calls.is_empty() {
        return None;
    }
    let hash = fnv1a(reply.as_bytes());
    let tool_calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, arguments))| ToolCall {
            id: format!("call_{hash:016x}_{i}"),
            kind: String::from("function"),
            function: FunctionCall { name, arguments },
            extra: Extra::new(),
        })
        .collect();
    let mut rest = String::new();
    let mut at = 0;
    for (s, e) in spans {
        rest.push_str(&reply[at..s]);
        at = e;
    }
    rest.push_str(&reply[at..]);
    let rest = rest.trim();
    Some(ToolReply {
        tool_calls,
        content: (!rest.is_empty()).then(|| rest.to_owned()),
    })
}

/// Widens a span to take in a code fence or `<tool_call>` tags around it.
fn widen(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    let before = text[..start].trim_end();
    let after = text[end..].trim_start();
    for (open, close) in [
        ("<tool_call>", "</tool_call>"),
        ("```json", "```"),
        ("```", "```"),
    ] {
        if before.ends_with(open) && after.starts_with(close) {
            start = before.len() - open.len();
            end = text.len() - after.len() + close.len();
            break;
        }
    }
    (start, end)
}

/// The `(name, arguments)` of the calls a JSON value describes, if it is
/// one of the accepted shapes.
fn calls_in(value: &Value) -> Option<Vec<(String, String)>> {
    match value {
        Value::Object(obj) => {
            if let Some(list) = obj.get("tool_calls") {
                let items = match list {
                    Value::Array(items) => items.as_slice(),
                    one @ Value::Object(_) => std::slice::from_ref(one),
                    _ => return None,
                };
                let calls: Option<Vec<_>> = items.iter().map(|c| call(c, true)).collect();
                return calls.filter(|c| !c.is_empty());
            }
            if let Some(one) = obj.get("tool_call") {
                return call(one, true).map(|c| vec![c]);
            }
            call(value, false).map(|c| vec![c])
        }
        Value::Array(items) if !items.is_empty() => items.iter().map(|c| call(c, false)).collect(),
        _ => None,
    }
}

/// One call: `{"name", "arguments"}` or `{"function": {"name",
/// "arguments"}}`. Outside a `tool_calls` / `tool_call` wrapper, a bare
/// object needs an arguments key (`{"name": "Ada"}` is not a call).
fn call(value: &Value, wrapped: bool) -> Option<(String, String)> {
    let obj = value.as_object()?;
    let inner = match obj.get("function") {
        Some(Value::Object(f)) => f,
        _ => obj,
    };
    let name = inner.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let args = ["arguments", "parameters", "args", "input"]
        .iter()
        .find_map(|k| inner.get(*k));
    let arguments = match args {
        None | Some(Value::Null) => String::from("{}"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let openai_shaped = !std::ptr::eq(inner, obj) || is_function_type(obj);
    if args.is_none() && !wrapped && !openai_shaped {
        return None;
    }
    Some((name.to_owned(), arguments))
}

fn is_function_type(obj: &Map<String, Value>) -> bool {
    obj.get("type").and_then(Value::as_str) == Some("function")
}

/// FNV-1a, 64 bits: a stable, dependency-free hash for call ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_args(reply: &str) -> Vec<(String, String)> {
        parse_tool_calls(reply)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.function.name, c.function.arguments))
            .collect()
    }

    fn one(name: &str, args: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), args.to_owned())]
    }

    #[test]
    fn the_requested_format() {
        let r = r#"{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}"#;
        assert_eq!(names_args(r), one("get_weather", r#"{"city":"Paris"}"#));
    }

    #[test]
    fn fenced_with_prose_around() {
        let r = "Sure, let me look that up.\n```json\n{\"tool_calls\": [{\"name\": \"a\", \"arguments\": {}}, \
                 {\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}]}\n```\nOne moment.";
        let parsed = split_tool_reply(r).unwrap();
        assert_eq!(parsed.tool_calls.len(), 2);
        assert_eq!(parsed.tool_calls[1].function.arguments, r#"{"x":[1,2]}"#);
        assert_eq!(
            parsed.content.as_deref(),
            Some("Sure, let me look that up.\n\nOne moment.")
        );
        assert_ne!(parsed.tool_calls[0].id, parsed.tool_calls[1].id);
        assert_eq!(parsed.tool_calls[0].kind, "function");
    }

    #[test]
    fn variants_models_drift_to() {
        assert_eq!(
            names_args(r#"{"name": "f", "arguments": "{\"a\":1}"}"#),
            one("f", r#"{"a":1}"#)
        );
        assert_eq!(
            names_args(r#"{"name": "f", "parameters": {"a": 1}}"#),
            one("f", r#"{"a":1}"#)
        );
        assert_eq!(
            names_args(
                r#"{"tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}"#
            ),
            one("f", "{}")
        );
        assert_eq!(
            names_args(r#"[{"name": "f", "arguments": {}}]"#),
            one("f", "{}")
        );
        assert_eq!(
            names_args(r#"{"tool_call": {"name": "f"}}"#),
            one("f", "{}")
        );
        let hermes = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>";
        let parsed = split_tool_reply(hermes).unwrap();
        assert_eq!(parsed.tool_calls.len(), 2);
        assert_eq!(parsed.content, None);
    }

    #[test]
    fn plain_answers_are_not_calls() {
        for r in [
            "The weather in Paris is sunny.",
            r#"Here is the user: {"name": "Ada", "age": 36}"#,
            r#"{"answer": 42}"#,
            "function f() { return [1, 2]; }",
            "{ not json",
            "",
            r#"{"tool_calls": []}"#,
            r#"{"tool_calls": [{"name": ""}]}"#,
        ] {
            assert_eq!(parse_tool_calls(r), None, "{r}");
        }
    }

    #[test]
    fn ids_are_stable() {
        let r = r#"{"name": "f", "arguments": {}}"#;
        assert_eq!(parse_tool_calls(r), parse_tool_calls(r));
    }

    #[test]
    fn extracts_the_json_of_a_reply() {
        assert_eq!(
            extract_json("```json\n{\"a\": [1]}\n```"),
            Some("{\"a\": [1]}")
        );
        assert_eq!(extract_json("Result: [1, 2] done"), Some("[1, 2]"));
        assert_eq!(extract_json("no json here"), None);
        assert_eq!(
            extract_json("{broken {\"ok\": true}"),
            Some("{\"ok\": true}")
        );
    }
}
