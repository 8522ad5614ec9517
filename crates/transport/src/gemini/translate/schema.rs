//! JSON Schema cut down to the OpenAPI subset Gemini's `Schema` accepts
//! (function `parameters`, `responseSchema`): Gemini answers 400 to any
//! keyword it does not know, which is the most common failure of tool
//! calling through gateways.

use serde_json::{Map, Value};

/// Keywords kept as they are.
const KEPT: &[&str] = &[
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "required",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
    "propertyOrdering",
];

/// How many `$ref`s deep a schema is inlined; a recursive schema's deeper
/// references become an untyped schema.
const MAX_REF_DEPTH: usize = 8;

/// `schema` with only what Gemini accepts (see the module docs of
/// [`translate`](super)). Gemini's `Schema` has no `$ref`: references
/// within the schema (`#/$defs/...`, `#/definitions/...`, as pydantic and
/// zod write them) are inlined.
pub fn gemini_schema(schema: &Value) -> Value {
    cut(schema, schema, 0)
}

fn cut(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(m) = schema else {
        return schema.clone();
    };
    if let Some(reference) = m.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer));
        return match target {
            Some(target) if depth < MAX_REF_DEPTH => cut(target, root, depth + 1),
            _ => Value::Object(Map::new()),
        };
    }
    let gemini_schema = |s: &Value| cut(s, root, depth);
    let mut out = Map::new();
    for (key, value) in m {
        match key.as_str() {
            "type" => match value {
                Value::String(_) => {
                    out.insert(key.clone(), value.clone());
                }
                Value::Array(types) => {
                    let mut nullable = false;
                    let mut first = None;
                    for t in types.iter().filter_map(Value::as_str) {
                        if t == "null" {
                            nullable = true;
                        } else if first.is_none() {
                            first = Some(t);
                        }
                    }
                    if let Some(t) = first {
                        out.insert(key.clone(), Value::String(t.to_string()));
                    }
                    if nullable {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                }
                _ => {}
            },
            "properties" => {
                if let Value::Object(props) = value {
                    let props = props
                        .iter()
                        .map(|(name, s)| (name.clone(), gemini_schema(s)))
                        .collect();
                    out.insert(key.clone(), Value::Object(props));
                }
            }
            "items" => {
                out.insert(key.clone(), gemini_schema(value));
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(options) = value {
                    let options = options.iter().map(&gemini_schema).collect();
                    out.insert("anyOf".into(), Value::Array(options));
                }
            }
            "const" => {
                out.insert("enum".into(), Value::Array(vec![value.clone()]));
            }
            k if KEPT.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// Whether a (cut down) schema has parameters worth sending: Gemini rejects
/// an OBJECT without properties.
pub(crate) fn has_properties(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
        || schema.get("anyOf").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keywords_go_and_nullable_types_fold() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "city": { "type": "string", "description": "City", "minLength": 1 },
                "unit": { "type": ["string", "null"], "enum": ["c", "f"] },
                "tags": { "type": "array", "items": { "type": "string", "$id": "x" } },
                "kind": { "const": "weather" },
                "either": { "oneOf": [{ "type": "integer" }, { "type": "string" }] }
            },
            "required": ["city"],
            "strict": true
        });
        assert_eq!(
            gemini_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "city": { "type": "string", "description": "City", "minLength": 1 },
                    "unit": { "type": "string", "nullable": true, "enum": ["c", "f"] },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "kind": { "enum": ["weather"] },
                    "either": { "anyOf": [{ "type": "integer" }, { "type": "string" }] }
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn references_are_inlined() {
        let schema = json!({
            "type": "object",
            "properties": {
                "home": { "$ref": "#/$defs/Place" },
                "trips": { "type": "array", "items": { "$ref": "#/definitions/Trip" } },
                "next": { "$ref": "#/$defs/Node" },
                "lost": { "$ref": "other.json#/x" }
            },
            "$defs": {
                "Place": { "type": "object", "properties": { "city": { "type": "string" } } },
                "Node": { "type": "object", "properties": { "next": { "$ref": "#/$defs/Node" } } }
            },
            "definitions": { "Trip": { "type": "string", "title": "Trip" } }
        });
        let out = gemini_schema(&schema);
        assert_eq!(
            out["properties"]["home"],
            json!({ "type": "object", "properties": { "city": { "type": "string" } } })
        );
        assert_eq!(
            out["properties"]["trips"]["items"],
            json!({ "type": "string", "title": "Trip" })
        );
        assert_eq!(out["properties"]["lost"], json!({}));
        assert!(out.get("$defs").is_none() && out.get("definitions").is_none());
        // a recursive reference ends
        let mut node = &out["properties"]["next"];
        let mut levels = 0;
        while let Some(next) = node.pointer("/properties/next") {
            node = next;
            levels += 1;
        }
        assert!((1..=MAX_REF_DEPTH).contains(&levels), "{levels}");
    }

    #[test]
    fn empty_objects_have_no_properties() {
        assert!(!has_properties(
            &json!({ "type": "object", "properties": {} })
        ));
        assert!(!has_properties(&json!({ "type": "object" })));
        assert!(has_properties(
            &json!({ "type": "object", "properties": { "a": {} } })
        ));
    }
}
