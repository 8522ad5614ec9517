//! The listing walk: checks a listing as a [`serde_json::Value`] so that one
//! pass finds every problem. Checks run in document order, and within a
//! model in the field order of `provider-integration.txt`, so messages are
//! stable (the `*.expected` fixtures rely on it).

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::listing::ListingProblem;
use crate::model_id::{ModelId, ModelIdError};
use crate::vocab::{
    FEATURES, INPUT_MODALITIES, OUTPUT_MODALITIES, QUANTIZATIONS, SAMPLING_PARAMETERS,
};

/// Price keys of a listing; `input_cache_read` / `input_cache_write` are
/// accepted as aliases of the plural spelling (the Models API's spelling).
const PRICE_KEYS: &[&str] = &[
    "prompt",
    "completion",
    "image",
    "request",
    "input_cache_reads",
    "input_cache_writes",
    "web_search",
    "internal_reasoning",
];

const PRICE_ALIASES: &[(&str, &str)] = &[
    ("input_cache_read", "input_cache_reads"),
    ("input_cache_write", "input_cache_writes"),
];

/// Checks a whole listing document.
pub(crate) fn check_document(provider: &str, file: &str, doc: &Value) -> Vec<ListingProblem> {
    let mut w = Walk {
        provider,
        file,
        model: None,
        problems: Vec::new(),
    };
    let Some(obj) = doc.as_object() else {
        w.problem(
            None,
            format!(
                "expected a json object with a \"data\" array, found {}",
                describe(doc)
            ),
        );
        return w.problems;
    };
    let data = match obj.get("data") {
        None => {
            w.problem(Some("data".into()), "missing".into());
            return w.problems;
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            w.problem(
                Some("data".into()),
                format!("expected an array, found {}", describe(other)),
            );
            return w.problems;
        }
    };
    // id -> index of the first model with it; client id -> (index, label).
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut client_ids: HashMap<String, usize> = HashMap::new();
    for (i, model) in data.iter().enumerate() {
        w.check_model(i, model, &mut ids, &mut client_ids);
    }
    w.problems
}

struct Walk<'a> {
    provider: &'a str,
    file: &'a str,
    /// Label of the model being checked.
    model: Option<String>,
    problems: Vec<ListingProblem>,
}

impl<'a> Walk<'a> {
    fn problem(&mut self, field: Option<String>, message: String) {
        self.problems.push(ListingProblem {
            provider: self.provider.to_string(),
            file: self.file.to_string(),
            model: self.model.clone(),
            field,
            message,
        });
    }

    fn at(&mut self, field: &str, message: String) {
        self.problem(Some(field.to_string()), message);
    }

    fn check_model<'v>(
        &mut self,
        index: usize,
        model: &'v Value,
        ids: &mut HashMap<&'v str, usize>,
        client_ids: &mut HashMap<String, usize>,
    ) {
        let position = format!("data[{index}]");
        let Some(m) = model.as_object() else {
            self.model = Some(position);
            self.problem(
                None,
                format!("expected an object, found {}", describe(model)),
            );
            return;
        };
        let id = match m.get("id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
            _ => None,
        };
        self.model = Some(id.map_or(position.clone(), str::to_string));

        // Required fields, in the seed's order.
        self.string(m, "id", true);
        self.string(m, "name", true);
        if let Some(v) = self.required(m, "created")
            && v.as_u64().is_none()
        {
            if v.as_i64().is_some() {
                self.at("created", format!("{} is negative", raw(v)));
            } else {
                self.at(
                    "created",
                    format!("expected an integer, found {}", describe(v)),
                );
            }
        }
        self.modalities(m, "input_modalities", INPUT_MODALITIES);
        self.modalities(m, "output_modalities", OUTPUT_MODALITIES);
        if let Some(q) = self.string(m, "quantization", true)
            && !QUANTIZATIONS.contains(&q)
        {
            self.at(
                "quantization",
                format!(
                    "unknown quantization {}; expected one of {}",
                    quote(q),
                    QUANTIZATIONS.join(", ")
                ),
            );
        }
        let context = self.count(m, "context_length", true);
        let max_output = self.count(m, "max_output_length", false);
        if let (Some(c), Some(o)) = (context, max_output)
            && c > 0
            && o > c
        {
            self.at(
                "max_output_length",
                format!("{o} is greater than context_length {c}"),
            );
        }
        self.pricing(m);
        self.vocabulary(
            m,
            "supported_sampling_parameters",
            "sampling parameter",
            SAMPLING_PARAMETERS,
        );
        self.vocabulary(m, "supported_features", "feature", FEATURES);

        // Optional fields.
        self.optional_string(m, "description");
        self.optional_string(m, "hugging_face_id");
        let slug = self.openrouter(m);
        self.datacenters(m);
        self.optional_string(m, "tokenizer");
        self.optional_string(m, "instruct_type");
        if let Some(v) = m.get("max_messages").filter(|v| !v.is_null()) {
            match v.as_u64() {
                Some(0) => self.at("max_messages", "must be greater than 0".into()),
                Some(n) if n > u64::from(u32::MAX) => {
                    self.at("max_messages", format!("{n} is too large"));
                }
                Some(_) => {}
                None => self.at(
                    "max_messages",
                    format!("expected a positive integer, found {}", describe(v)),
                ),
            }
        }

        if let Some(v) = m.get("is_moderated").filter(|v| !v.is_null())
            && !v.is_boolean()
        {
            self.at(
                "is_moderated",
                format!("expected a boolean, found {}", describe(v)),
            );
        }

        // Identity: the id clients use must be a model id, and unique.
        let Some(id) = id else { return };
        let client_id = match slug {
            Some(Ok(slug)) => Some(slug),
            Some(Err(())) => None,
            None => match ModelId::parse(id) {
                Ok(mid) if mid.is_router() => {
                    self.at("id", format!("`{id}` is reserved for Tollgate's router"));
                    None
                }
                Ok(_) => Some(id.to_string()),
                Err(
                    e @ (ModelIdError::MissingSlash { .. } | ModelIdError::TooManySlashes { .. }),
                ) => {
                    self.at(
                        "id",
                        format!("{e}; add openrouter.slug to give clients an `author/slug` id"),
                    );
                    None
                }
                Err(e) => {
                    self.at("id", e.to_string());
                    None
                }
            },
        };
        if let Some(&first) = ids.get(id) {
            self.at("id", format!("duplicate id, first listed at data[{first}]"));
        } else {
            ids.insert(id, index);
            if let Some(client_id) = client_id {
                if let Some(&first) = client_ids.get(&client_id) {
                    let field = if client_id == id {
                        "id"
                    } else {
                        "openrouter.slug"
                    };
                    self.at(
                        field,
                        format!("model id `{client_id}` is also used by data[{first}]"),
                    );
                } else {
                    client_ids.insert(client_id, index);
                }
            }
        }
    }

    /// The value of a required field, or a "missing" problem.
    fn required<'v>(&mut self, m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        let v = m.get(key);
        if v.is_none() {
            self.at(key, "missing".into());
        }
        v
    }

    fn string<'v>(
        &mut self,
        m: &'v Map<String, Value>,
        key: &str,
        required: bool,
    ) -> Option<&'v str> {
        let v = if required {
            self.required(m, key)?
        } else {
            m.get(key)?
        };
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.at(key, "must not be empty".into());
                None
            }
            Value::String(s) => Some(s),
            other => {
                self.at(key, format!("expected a string, found {}", describe(other)));
                None
            }
        }
    }

    fn optional_string(&mut self, m: &Map<String, Value>, key: &str) {
        match m.get(key) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => self.at(
                key,
                format!("expected a string or null, found {}", describe(other)),
            ),
        }
    }

    /// A non-negative integer; `positive` also rejects 0.
    fn count(&mut self, m: &Map<String, Value>, key: &str, positive: bool) -> Option<u64> {
        let v = self.required(m, key)?;
        match v.as_u64() {
            Some(0) if positive => {
                self.at(key, "must be greater than 0".into());
                None
            }
            Some(n) => Some(n),
            None if v.as_i64().is_some() => {
                self.at(key, format!("{} is negative", raw(v)));
                None
            }
            None => {
                self.at(key, format!("expected an integer, found {}", describe(v)));
                None
            }
        }
    }

    /// An array of strings; calls `each` on every string with its path.
    fn strings(
        &mut self,
        m: &Map<String, Value>,
        key: &str,
        mut each: impl FnMut(&mut Self, &str, &str),
    ) -> Option<usize> {
        let v = self.required(m, key)?;
        let Some(items) = v.as_array() else {
            self.at(
                key,
                format!("expected an array of strings, found {}", describe(v)),
            );
            return None;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            match item {
                Value::String(s) => each(self, &path, s),
                other => self.at(
                    &path,
                    format!("expected a string, found {}", describe(other)),
                ),
            }
        }
        Some(items.len())
    }

    fn vocabulary(&mut self, m: &Map<String, Value>, key: &str, what: &str, valid: &[&str]) {
        self.strings(m, key, |w, path, s| {
            if !valid.contains(&s) {
                w.at(
                    path,
                    format!(
                        "unknown {what} {}; expected one of {}",
                        quote(s),
                        valid.join(", ")
                    ),
                );
            }
        });
    }

    fn modalities(&mut self, m: &Map<String, Value>, key: &str, valid: &[&str]) {
        let len = self.strings(m, key, |w, path, s| {
            if !valid.contains(&s) {
                w.at(
                    path,
                    format!(
                        "unknown modality {}; expected one of {}",
                        quote(s),
                        valid.join(", ")
                    ),
                );
            }
        });
        if len == Some(0) {
            self.at(key, "must list at least one modality".into());
        }
    }

    fn pricing(&mut self, m: &Map<String, Value>) {
        let Some(v) = self.required(m, "pricing") else {
            return;
        };
        let Some(p) = v.as_object() else {
            self.at(
                "pricing",
                format!("expected an object, found {}", describe(v)),
            );
            return;
        };
        for key in ["prompt", "completion"] {
            if !p.contains_key(key) {
                self.at(&format!("pricing.{key}"), "missing".into());
            }
        }
        for (alias, key) in PRICE_ALIASES {
            if p.contains_key(*alias) && p.contains_key(*key) {
                self.at(
                    &format!("pricing.{alias}"),
                    format!("is the same price as pricing.{key}; give only one"),
                );
            }
        }
        // A fixed order (known keys first, as listed above, then unknown
        // ones by name) so messages do not depend on whether serde_json's
        // `preserve_order` feature happens to be on in the build.
        let rank = |k: &str| {
            PRICE_KEYS
                .iter()
                .chain(PRICE_ALIASES.iter().map(|(alias, _)| alias))
                .position(|known| *known == k)
                .unwrap_or(usize::MAX)
        };
        let mut keys: Vec<(&String, &Value)> = p.iter().collect();
        keys.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then_with(|| a.0.cmp(b.0)));
        for (key, price) in keys {
            let path = format!("pricing.{key}");
            let known = PRICE_KEYS.contains(&key.as_str())
                || PRICE_ALIASES.iter().any(|(alias, _)| alias == key);
            if !known {
                self.at(
                    &path,
                    format!(
                        "unknown price {}; expected one of {}",
                        quote(key),
                        PRICE_KEYS.join(", ")
                    ),
                );
                continue;
            }
            let required = matches!(key.as_str(), "prompt" | "completion");
            if price.is_null() && !required {
                continue;
            }
            match price {
                Value::String(_) | Value::Number(_) => {
                    match tollgate_schema::decimal::de_lenient(price) {
                        Ok(d) if d < Decimal::ZERO => {
                            self.at(&path, format!("{} is negative", raw(price)));
                        }
                        Ok(_) => {}
                        Err(_) => self.at(&path, format!("{} is not a decimal number", raw(price))),
                    }
                }
                other => self.at(
                    &path,
                    format!("expected a decimal string, found {}", describe(other)),
                ),
            }
        }
    }

    /// Checks `openrouter`; returns its slug (`Some(Ok)`), a bad one
    /// (`Some(Err)`), or `None` when there is no slug.
    fn openrouter(&mut self, m: &Map<String, Value>) -> Option<Result<String, ()>> {
        let v = m.get("openrouter").filter(|v| !v.is_null())?;
        let Some(o) = v.as_object() else {
            self.at(
                "openrouter",
                format!("expected an object, found {}", describe(v)),
            );
            return Some(Err(()));
        };
        let Some(slug) = o.get("slug") else {
            self.at("openrouter.slug", "missing".into());
            return Some(Err(()));
        };
        let Some(slug) = slug.as_str() else {
            self.at(
                "openrouter.slug",
                format!("expected a string, found {}", describe(slug)),
            );
            return Some(Err(()));
        };
        match ModelId::parse(slug) {
            Ok(id) if id.is_router() => {
                self.at(
                    "openrouter.slug",
                    format!("`{slug}` is reserved for Tollgate's router"),
                );
                Some(Err(()))
            }
            Ok(_) => Some(Ok(slug.to_string())),
            Err(e) => {
                self.at("openrouter.slug", e.to_string());
                Some(Err(()))
            }
        }
    }

    fn datacenters(&mut self, m: &Map<String, Value>) {
        let Some(v) = m.get("datacenters").filter(|v| !v.is_null()) else {
            return;
        };
        let Some(items) = v.as_array() else {
            self.at(
                "datacenters",
                format!("expected an array, found {}", describe(v)),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("datacenters[{i}]");
            let Some(o) = item.as_object() else {
                self.at(
                    &path,
                    format!("expected an object, found {}", describe(item)),
                );
                continue;
            };
            let path = format!("{path}.country_code");
            match o.get("country_code") {
                None => self.at(&path, "missing".into()),
                Some(Value::String(c)) if crate::config::is_country_code(c) => {}
                Some(Value::String(c)) => self.at(
                    &path,
                    format!("{} is not an ISO 3166 alpha-2 country code", quote(c)),
                ),
                Some(other) => self.at(
                    &path,
                    format!("expected a string, found {}", describe(other)),
                ),
            }
        }
    }
}

/// A JSON value as a message shows it: its kind and, for scalars, its text.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", quote(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A scalar's JSON text (`"-1"` for a string, `-1` for a number).
fn raw(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => other.to_string(),
    }
}

/// A string as JSON, shortened when long.
fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let head: String = s.chars().take(MAX).collect();
        format!("{}…", Value::String(head))
    } else {
        Value::String(s.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "id": "a/b",
            "name": "A: B",
            "created": 1,
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "quantization": "fp8",
            "context_length": 100,
            "max_output_length": 10,
            "pricing": {"prompt": "0.1", "completion": 0.2},
            "supported_sampling_parameters": ["temperature"],
            "supported_features": ["tools"]
        })
    }

    /// Checks one model and returns its problems as `field: message`.
    fn check(model: Value) -> Vec<String> {
        check_document("p", "f", &json!({ "data": [model] }))
            .into_iter()
            .map(|p| format!("{}: {}", p.field.unwrap_or_default(), p.message))
            .collect()
    }

    fn with(key: &str, value: Value) -> Value {
        let mut m = good();
        m[key] = value;
        m
    }

    #[test]
    fn a_good_model_has_no_problems() {
        assert_eq!(check(good()), Vec::<String>::new());
    }

    #[test]
    fn field_checks() {
        let cases: Vec<(Value, &str)> = vec![
            (with("created", json!(-3)), "created: -3 is negative"),
            (
                with("created", json!("x")),
                r#"created: expected an integer, found string "x""#,
            ),
            (
                with("context_length", json!(0)),
                "context_length: must be greater than 0",
            ),
            (
                with("context_length", json!(1.5)),
                "context_length: expected an integer, found number 1.5",
            ),
            (
                with("max_output_length", json!(101)),
                "max_output_length: 101 is greater than context_length 100",
            ),
            (
                with("input_modalities", json!([])),
                "input_modalities: must list at least one modality",
            ),
            (
                with("output_modalities", json!(["embeddings", 3])),
                "output_modalities[1]: expected a string, found number 3",
            ),
            (
                with("pricing", json!({"prompt": "1e-6", "completion": "-0.1"})),
                r#"pricing.completion: "-0.1" is negative"#,
            ),
            (
                with("pricing", json!({"prompt": true, "completion": "0"})),
                "pricing.prompt: expected a decimal string, found boolean true",
            ),
            (
                with(
                    "pricing",
                    json!({"prompt": "0", "completion": "0", "image": null}),
                ),
                "",
            ),
            (
                with("pricing", json!({"prompt": "0", "completion": null})),
                "pricing.completion: expected a decimal string, found null",
            ),
            (
                with(
                    "pricing",
                    json!({"prompt": "0", "completion": "0", "audio": "1"}),
                ),
                r#"pricing.audio: unknown price "audio"; expected one of prompt, completion, image, request, input_cache_reads, input_cache_writes, web_search, internal_reasoning"#,
            ),
            (
                with(
                    "pricing",
                    json!({"prompt": "0", "completion": "0", "input_cache_read": "1", "input_cache_reads": "1"}),
                ),
                "pricing.input_cache_read: is the same price as pricing.input_cache_reads; give only one",
            ),
            (
                with("openrouter", json!({"slug": "x/y:turbo"})),
                "openrouter.slug: model id `x/y:turbo` has unknown variant `turbo`; valid variants: free, extended, thinking, online, nitro, floor, exacto",
            ),
            (
                with("openrouter", json!({"slug": "openrouter/auto"})),
                "openrouter.slug: `openrouter/auto` is reserved for Tollgate's router",
            ),
            (
                with("id", json!("gpt-4o")),
                "id: model id `gpt-4o` is not of the form `author/slug`; add openrouter.slug to give clients an `author/slug` id",
            ),
            (
                with("datacenters", json!([{"country_code": "usa"}])),
                r#"datacenters[0].country_code: "usa" is not an ISO 3166 alpha-2 country code"#,
            ),
            (
                with("max_messages", json!(0)),
                "max_messages: must be greater than 0",
            ),
            (
                with("is_moderated", json!("yes")),
                r#"is_moderated: expected a boolean, found string "yes""#,
            ),
            (with("is_moderated", json!(true)), ""),
            (
                with("description", json!(5)),
                "description: expected a string or null, found number 5",
            ),
        ];
        for (model, expected) in cases {
            let got = check(model);
            if expected.is_empty() {
                assert_eq!(got, Vec::<String>::new());
            } else {
                assert_eq!(got, vec![expected.to_string()]);
            }
        }
    }

    #[test]
    fn id_without_slash_is_fine_with_a_slug() {
        let mut m = with("id", json!("gpt-4o"));
        m["openrouter"] = json!({"slug": "openai/gpt-4o"});
        assert_eq!(check(m), Vec::<String>::new());
    }

    #[test]
    fn slug_colliding_with_another_id() {
        let mut second = with("id", json!("a/c"));
        second["openrouter"] = json!({"slug": "a/b"});
        let problems = check_document("p", "f", &json!({ "data": [good(), second] }));
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "f: provider p, model a/c: field openrouter.slug: model id `a/b` is also used by data[0]"
        );
    }

    #[test]
    fn document_level_problems() {
        let p = check_document("p", "f", &json!([1]));
        assert_eq!(
            p[0].to_string(),
            r#"f: provider p: expected a json object with a "data" array, found an array"#
        );
        let p = check_document("p", "f", &json!({"data": {}}));
        assert_eq!(
            p[0].to_string(),
            "f: provider p: field data: expected an array, found an object"
        );
        let p = check_document("p", "f", &json!({"data": [3]}));
        assert_eq!(
            p[0].to_string(),
            "f: provider p, model data[0]: expected an object, found number 3"
        );
    }
}
