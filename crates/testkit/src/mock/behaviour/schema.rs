//! JSON generated from a JSON Schema, deterministic from the prompt: what
//! the mock answers in JSON mode (`response_format`, Gemini's
//! `responseSchema`, a JSON instruction in the system prompt) and the
//! arguments of a tool whose parameters are not `{"query": ...}`.

use serde_json::{Map, Number, Value, json};

/// How deep `$ref`s and nesting are followed before only what is required
/// is generated (a recursive schema then ends).
const MAX_DEPTH: usize = 8;

/// What a request asks the reply's text to be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ResponseFormat {
    /// Free text (the echo).
    #[default]
    Text,
    /// A JSON object: `{"echo": <user text>}`.
    JsonObject,
    /// JSON valid against this schema (see [`generate`]).
    JsonSchema(Value),
}

/// A JSON value valid against `schema`, made from the words of `text`
/// (see the crate docs for the rules).
pub fn generate(schema: &Value, text: &str) -> Value {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut generator = Generator {
        root: schema,
        words,
        text,
        next_word: 0,
    };
    generator.value(schema, 0)
}

/// The reply text of a [`ResponseFormat`] other than `Text`: compact JSON.
pub fn json_reply(format: &ResponseFormat, text: &str) -> Option<String> {
    match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(json!({ "echo": text }).to_string()),
        ResponseFormat::JsonSchema(schema) => Some(generate(schema, text).to_string()),
    }
}

/// Phrases of a system prompt asking for JSON only (lower case).
pub const JSON_ONLY_PHRASES: &[&str] = &[
    "only with a json",
    "only with json",
    "single valid json",
    "json only",
];

/// The format a system prompt asks for in words (as gateways write JSON
/// mode into the prompt for models without it): a message saying to answer
/// only with JSON ([`JSON_ONLY_PHRASES`], case-insensitive: `Respond only
/// with a JSON value`, `Reply with a single valid JSON object`) asks for
/// JSON; if a JSON object follows the word `schema` in it, that is the
/// schema. (A description of tools asking for a JSON object to call them
/// is not one of these.)
pub fn format_from_instruction(system: &str) -> ResponseFormat {
    let lower = system.to_lowercase();
    if !JSON_ONLY_PHRASES.iter().any(|p| lower.contains(p)) {
        return ResponseFormat::Text;
    }
    schema_in(system).map_or(ResponseFormat::JsonObject, ResponseFormat::JsonSchema)
}

/// The JSON Schema a text gives: the first JSON object after the word
/// `schema` (case-insensitive; `json_schema:` too) that parses.
pub fn schema_in(text: &str) -> Option<Value> {
    let lower = text.to_lowercase();
    let system = text;
    let mut from = 0;
    while let Some(at) = lower[from..].find("schema") {
        let after = from + at + "schema".len();
        if let Some(brace) = system[after..].find('{') {
            let start = after + brace;
            let mut stream =
                serde_json::Deserializer::from_str(&system[start..]).into_iter::<Value>();
            if let Some(Ok(schema @ Value::Object(_))) = stream.next() {
                return Some(schema);
            }
        }
        from = after;
    }
    None
}

/// Whether a tool's parameters take the mock's usual `{"query": ...}`
/// arguments: no schema, no properties, or a `query` property and no
/// other required one.
pub fn takes_query(parameters: Option<&Value>) -> bool {
    let Some(properties) = parameters
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
    else {
        return true;
    };
    let others_required = parameters
        .and_then(|p| p.get("required"))
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|name| name != "query"));
    properties.is_empty() || (properties.contains_key("query") && !others_required)
}

struct Generator<'a> {
    root: &'a Value,
    words: Vec<&'a str>,
    text: &'a str,
    next_word: usize,
}

impl<'a> Generator<'a> {
    fn word(&mut self) -> String {
        if self.words.is_empty() {
            return String::from("mock");
        }
        let word = self.words[self.next_word % self.words.len()];
        self.next_word += 1;
        word.to_owned()
    }

    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(pointer)
    }

    fn value(&mut self, schema: &'a Value, depth: usize) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true` or `{}`-like: anything goes
            return Value::String(self.text.to_owned());
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str)
            && depth <= MAX_DEPTH * 2
            && let Some(target) = self.resolve(reference)
        {
            return self.value(target, depth + 1);
        }
        if let Some(value) = obj.get("const") {
            return value.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(first) = obj
                .get(key)
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                return self.value(first, depth + 1);
            }
        }
        let kind = match obj.get("type") {
            Some(Value::String(t)) => t.to_lowercase(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .find(|t| t != "null")
                .unwrap_or_else(|| String::from("null")),
            _ if obj.contains_key("properties") || obj.contains_key("required") => {
                String::from("object")
            }
            _ if obj.contains_key("items") => String::from("array"),
            _ => String::from("string"),
        };
        match kind.as_str() {
            "object" => self.object(obj, depth),
            "array" => self.array(obj, depth),
            "integer" => self.number(obj, true),
            "number" => self.number(obj, false),
            "boolean" => Value::Bool(true),
            "null" => Value::Null,
            _ => self.string(obj),
        }
    }

    fn object(&mut self, obj: &'a Map<String, Value>, depth: usize) -> Value {
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        // an open object of unknown shape: what a JSON object answer says
        if !obj.contains_key("properties")
            && required.is_empty()
            && obj.get("additionalProperties") != Some(&Value::Bool(false))
        {
            out.insert("echo".to_owned(), Value::String(self.text.to_owned()));
            return Value::Object(out);
        }
        if let Some(properties) = obj.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                // optional properties too, until the nesting is deep
                if depth < MAX_DEPTH || required.contains(&name.as_str()) {
                    let value = self.value(property, depth + 1);
                    out.insert(name.clone(), value);
                }
            }
        }
        for name in required {
            if !out.contains_key(name) {
                let value = match obj.get("additionalProperties") {
                    Some(extra @ Value::Object(_)) => self.value(extra, depth + 1),
                    _ => Value::String(self.word()),
                };
                out.insert(name.to_owned(), value);
            }
        }
        Value::Object(out)
    }

    fn array(&mut self, obj: &'a Map<String, Value>, depth: usize) -> Value {
        let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = obj.get("maxItems").and_then(Value::as_u64);
        let wanted = if depth < MAX_DEPTH { min.max(1) } else { min };
        let count = max.map_or(wanted, |m| wanted.min(m)).min(64);
        let items = obj.get("items").filter(|i| i.is_object());
        let unique = obj.get("uniqueItems") == Some(&Value::Bool(true));
        let mut out: Vec<Value> = Vec::new();
        for _ in 0..count {
            let item = match items {
                Some(items) => self.value(items, depth + 1),
                None => Value::String(self.word()),
            };
            if unique && out.contains(&item) {
                break;
            }
            out.push(item);
        }
        Value::Array(out)
    }

    fn number(&mut self, obj: &Map<String, Value>, integer: bool) -> Value {
        let bound = |key: &str| obj.get(key).and_then(Value::as_f64);
        // a number from the prompt: its word count
        let mut value = self.words.len() as f64;
        if !integer {
            value += 0.5;
        }
        let mut low = bound("minimum");
        if let Some(ex) = bound("exclusiveMinimum") {
            let step = if integer { 1.0 } else { 0.5 };
            low = Some(low.map_or(ex + step, |l| l.max(ex + step)));
        }
        let mut high = bound("maximum");
        if let Some(ex) = bound("exclusiveMaximum") {
            let step = if integer { 1.0 } else { 0.5 };
            high = Some(high.map_or(ex - step, |h| h.min(ex - step)));
        }
        if let Some(h) = high
            && value > h
        {
            value = h;
        }
        if let Some(l) = low
            && value < l
        {
            value = l;
        }
        if integer {
            value = match (low, high) {
                (Some(l), _) if value.floor() < l => value.ceil(),
                (_, Some(h)) if value.ceil() > h => value.floor(),
                _ => value.round(),
            };
            if let Some(step) = bound("multipleOf").filter(|s| *s >= 1.0) {
                value = (value / step).ceil() * step;
            }
            return Value::Number(Number::from(value as i64));
        }
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }

    fn string(&mut self, obj: &Map<String, Value>) -> Value {
        let mut text = match obj.get("format").and_then(Value::as_str) {
            Some("date-time") => String::from("2025-01-01T00:00:00Z"),
            Some("date") => String::from("2025-01-01"),
            Some("time") => String::from("00:00:00Z"),
            Some("email") => format!("{}@example.com", self.word().to_lowercase()),
            Some("uri" | "url") => format!("https://example.com/{}", self.word()),
            Some("uuid") => String::from("00000000-0000-4000-8000-000000000000"),
            _ => self.word(),
        };
        let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        while text.chars().count() < min {
            text.push('x');
        }
        if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
            text = text.chars().take(max as usize).collect();
        }
        Value::String(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 18, "maximum": 20},
                "score": {"type": "number", "exclusiveMaximum": 1},
                "ok": {"type": "boolean"},
                "mood": {"type": "string", "enum": ["calm", "angry"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3},
                "home": {"$ref": "#/$defs/Place"},
                "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]}
            },
            "required": ["name", "age", "extra"],
            "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string"}}}}
        });
        let v = generate(&schema, "Alice is happy");
        let name = v["name"].as_str().unwrap();
        assert!(["Alice", "is", "happy"].contains(&name), "{v}");
        assert_eq!(v["age"], 18);
        assert!(v["score"].as_f64().unwrap() < 1.0);
        assert_eq!(v["ok"], true);
        assert_eq!(v["mood"], "calm");
        assert_eq!(v["tags"].as_array().unwrap().len(), 3);
        assert!(v["home"]["city"].is_string());
        assert!(v["maybe"].is_i64());
        assert!(v["extra"].is_string());
        // deterministic from the text
        assert_eq!(v, generate(&schema, "Alice is happy"));
        assert_ne!(v, generate(&schema, "Bob is sad"));
    }

    #[test]
    fn query_tools_keep_their_arguments() {
        assert!(takes_query(None));
        assert!(takes_query(Some(
            &json!({"type": "object", "properties": {}})
        )));
        let query = json!({"properties": {"query": {"type": "string"}}, "required": ["query"]});
        assert!(takes_query(Some(&query)));
        let more = json!({"properties": {"query": {}, "n": {}}, "required": ["query", "n"]});
        assert!(!takes_query(Some(&more)));
        assert!(!takes_query(Some(&json!({"properties": {"city": {}}}))));
    }

    #[test]
    fn open_objects_echo() {
        assert_eq!(
            generate(&json!({"type": "object"}), "hi you"),
            json!({"echo": "hi you"})
        );
        let closed = json!({"type": "object", "additionalProperties": false});
        assert_eq!(generate(&closed, "hi"), json!({}));
    }

    #[test]
    fn recursion_ends() {
        let schema = json!({
            "$ref": "#/$defs/Node",
            "$defs": {"Node": {"type": "object",
                "properties": {"name": {"type": "string"},
                               "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": ["name"]}}
        });
        let v = generate(&schema, "tree");
        assert_eq!(v["name"], "tree");
        assert!(v["children"].is_array());
    }

    #[test]
    fn instructions_are_read() {
        assert_eq!(format_from_instruction("Be brief."), ResponseFormat::Text);
        assert_eq!(
            format_from_instruction(
                "To call tools, reply with only this JSON object, with no text before or after it"
            ),
            ResponseFormat::Text
        );
        assert_eq!(
            format_from_instruction("Respond only with a JSON object, with no other text."),
            ResponseFormat::JsonObject
        );
        let text = "Reply with a single valid JSON object. The object must match the JSON \
                    Schema `s`:\n```json\n{\"type\": \"object\", \"required\": [\"a\"]}\n```";
        assert_eq!(
            format_from_instruction(text),
            ResponseFormat::JsonSchema(json!({"type": "object", "required": ["a"]}))
        );
    }
}
