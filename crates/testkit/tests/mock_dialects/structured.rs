//! Structured output and reasoning, over real sockets in each dialect: JSON
//! mode answers are checked with an independent JSON Schema validator
//! (`boon`), not with the mock's own generator.

use serde_json::{Value, json};
use tollgate_testkit::Dialect;

use super::start;

/// A schema using what clients' generated schemas use: required and
/// optional properties, enums, bounded numbers, booleans, arrays with
/// `minItems`, nested objects, `anyOf`, `$ref` into `$defs`, and
/// `additionalProperties: false` (OpenAI strict mode).
fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "minLength": 2 },
            "age": { "type": "integer", "minimum": 21, "maximum": 30 },
            "height": { "type": "number", "exclusiveMinimum": 1.5, "maximum": 2.5 },
            "member": { "type": "boolean" },
            "mood": { "type": "string", "enum": ["calm", "cheerful"] },
            "tags": { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 4 },
            "home": { "$ref": "#/$defs/Place" },
            "nickname": { "anyOf": [{ "type": "string" }, { "type": "null" }] },
            "email": { "type": "string", "format": "email" }
        },
        "required": ["name", "age", "height", "member", "mood", "tags", "home"],
        "additionalProperties": false,
        "$defs": {
            "Place": {
                "type": "object",
                "properties": {
                    "city": { "type": "string" },
                    "floor": { "type": ["integer", "null"], "minimum": 0 }
                },
                "required": ["city"],
                "additionalProperties": false
            }
        }
    })
}

/// Validates `instance` against `schema` with boon (draft 2020-12).
fn assert_valid(schema: &Value, instance: &Value) {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("urn:test:schema", schema.clone())
        .unwrap();
    let index = compiler.compile("urn:test:schema", &mut schemas).unwrap();
    if let Err(error) = schemas.validate(instance, index) {
        panic!("{instance} is not valid: {error}");
    }
}

async fn post(url: String, body: &Value) -> Value {
    let response = reqwest::Client::new()
        .post(url)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

const PROMPT: &str = "Describe Alice Smith from Paris";

/// The JSON text each dialect answers when asked for `schema` the way
/// gateways ask it: OpenAI `response_format`, Anthropic a forced tool (its
/// `input` is the answer) or a system instruction, Gemini
/// `responseMimeType` + `responseJsonSchema`.
async fn answers(schema: &Value) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let openai = start(Dialect::OpenAi).await;
    let body = post(
        openai.url("/chat/completions"),
        &json!({
            "model": "m",
            "messages": [{ "role": "user", "content": PROMPT }],
            "response_format": { "type": "json_schema",
                "json_schema": { "name": "person", "strict": true, "schema": schema } },
        }),
    )
    .await;
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    out.push(("openai", serde_json::from_str(text).unwrap()));

    let anthropic = start(Dialect::Anthropic).await;
    let body = post(
        anthropic.url("/messages"),
        &json!({
            "model": "m", "max_tokens": 4096,
            "messages": [{ "role": "user", "content": PROMPT }],
            "tools": [{ "name": "person", "description": "the answer", "input_schema": schema }],
            "tool_choice": { "type": "tool", "name": "person" },
        }),
    )
    .await;
    assert_eq!(body["content"][0]["type"], "tool_use", "{body}");
    out.push(("anthropic tool", body["content"][0]["input"].clone()));
    let instruction = format!(
        "Respond only with a JSON value that matches this JSON schema, with no other text:\n{schema}"
    );
    let body = post(
        anthropic.url("/messages"),
        &json!({
            "model": "m", "max_tokens": 4096, "system": instruction,
            "messages": [{ "role": "user", "content": PROMPT }],
        }),
    )
    .await;
    let text = body["content"][0]["text"].as_str().unwrap();
    out.push(("anthropic instruction", serde_json::from_str(text).unwrap()));

    let gemini = start(Dialect::Gemini).await;
    let body = post(
        gemini.url("/models/m:generateContent"),
        &json!({
            "contents": [{ "role": "user", "parts": [{ "text": PROMPT }] }],
            "generationConfig": { "responseMimeType": "application/json",
                                  "responseJsonSchema": schema },
        }),
    )
    .await;
    let text = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    out.push(("gemini", serde_json::from_str(text).unwrap()));
    out
}

#[tokio::test]
async fn json_schema_answers_validate_on_every_dialect() {
    let schema = person_schema();
    let answers = answers(&schema).await;
    for (dialect, answer) in &answers {
        assert_valid(&schema, answer);
        // strings come from the prompt's words, so the answer is about it
        let name = answer["name"].as_str().unwrap();
        assert!(PROMPT.split(' ').any(|w| w == name), "{dialect}: {name}");
        assert_eq!(answer["mood"], "calm", "{dialect}: enums take the first");
    }
    // deterministic, and the same whatever the dialect
    assert!(answers.windows(2).all(|w| w[0].1 == w[1].1), "{answers:?}");
    assert_eq!(answers, self::answers(&schema).await);
}

#[tokio::test]
async fn json_object_and_gemini_schema_dialect() {
    let openai = start(Dialect::OpenAi).await;
    let body = post(
        openai.url("/chat/completions"),
        &json!({
            "model": "m",
            "messages": [{ "role": "user", "content": "List colours" }],
            "response_format": { "type": "json_object" },
        }),
    )
    .await;
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    let object: Value = serde_json::from_str(text).unwrap();
    assert_eq!(object, json!({ "echo": "List colours" }));
    // 10 tokens: { " echo " : " List colours " }
    assert_eq!(body["usage"]["completion_tokens"], 10);

    // Gemini's own schema dialect (upper-case types), as gateways send it
    let gemini = start(Dialect::Gemini).await;
    let body = post(
        gemini.url("/models/m:generateContent"),
        &json!({
            "contents": [{ "parts": [{ "text": "Rate Rome" }] }],
            "generationConfig": { "responseMimeType": "application/json", "responseSchema": {
                "type": "OBJECT",
                "properties": { "city": { "type": "STRING" },
                                "stars": { "type": "INTEGER", "minimum": 1, "maximum": 5 },
                                "sights": { "type": "ARRAY", "items": { "type": "STRING" } } },
                "required": ["city", "stars"] } },
        }),
    )
    .await;
    let text = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    let answer: Value = serde_json::from_str(text).unwrap();
    assert!(answer["city"].is_string(), "{answer}");
    let stars = answer["stars"].as_i64().unwrap();
    assert!((1..=5).contains(&stars), "{answer}");
    assert!(!answer["sights"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn streamed_json_is_the_same_json() {
    let schema = person_schema();
    let openai = start(Dialect::OpenAi).await;
    let request = json!({
        "model": "m", "stream": true,
        "messages": [{ "role": "user", "content": PROMPT }],
        "response_format": { "type": "json_schema",
            "json_schema": { "name": "person", "schema": schema } },
    });
    let body = reqwest::Client::new()
        .post(openai.url("/chat/completions"))
        .json(&request)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let text: String = body
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&schema, &answer);
}

#[tokio::test]
async fn tool_arguments_follow_the_tool_schema() {
    // what instructor's tools mode sends: one forced function whose
    // parameters are the output model
    let parameters = json!({
        "type": "object",
        "properties": { "name": { "type": "string" }, "age": { "type": "integer", "minimum": 0 } },
        "required": ["name", "age"],
    });
    let openai = start(Dialect::OpenAi).await;
    let body = post(
        openai.url("/chat/completions"),
        &json!({
            "model": "m",
            "messages": [{ "role": "user", "content": "Jason is 25" }],
            "tools": [{ "type": "function",
                        "function": { "name": "User", "parameters": parameters } }],
            "tool_choice": { "type": "function", "function": { "name": "User" } },
        }),
    )
    .await;
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_valid(&parameters, &arguments);
    assert_eq!(arguments["name"], "Jason");
    // tools taking a `query` keep the usual arguments
    let body = post(
        openai.url("/chat/completions"),
        &json!({
            "model": "m",
            "messages": [{ "role": "user", "content": "use the tool" }],
            "tools": [{ "type": "function", "function": { "name": "search", "parameters":
                { "type": "object", "properties": { "query": { "type": "string" } } } } }],
        }),
    )
    .await;
    let arguments = &body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"];
    assert_eq!(arguments, r#"{"query":"use the tool"}"#);
}

#[tokio::test]
async fn openai_dialect_reasons_for_reasoners_and_when_asked() {
    let openai = start(Dialect::OpenAi).await;
    let ask = |model: &str, extra: Value| {
        let mut request = json!({
            "model": model,
            "messages": [{ "role": "user", "content": "Hi there" }],
        });
        if let (Some(fields), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
            fields.extend(extra.clone());
        }
        let url = openai.url("/chat/completions");
        async move { post(url, &request).await }
    };
    let body = ask("mock/reasoner", json!({})).await;
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "echo: Hi there");
    assert_eq!(message["reasoning"], "thinking about: Hi there");
    assert_eq!(message["reasoning_content"], "thinking about: Hi there");
    // thinking|about|:|Hi|there = 5, echo|:|Hi|there = 4
    let usage = &body["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 5);
    assert_eq!(usage["completion_tokens"], 9);

    let off = ask("mock/reasoner", json!({ "reasoning_effort": "none" })).await;
    assert!(off["choices"][0]["message"].get("reasoning").is_none());
    assert_eq!(
        off["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );
    let plain = ask("mock/echo", json!({})).await;
    assert!(plain["choices"][0]["message"].get("reasoning").is_none());
    let asked = ask("mock/echo", json!({ "reasoning": { "effort": "low" } })).await;
    assert_eq!(
        asked["choices"][0]["message"]["reasoning"],
        "thinking about: Hi there"
    );

    // streamed: reasoning deltas before the content
    let body = reqwest::Client::new()
        .post(openai.url("/chat/completions"))
        .json(&json!({
            "model": "mock/reasoner", "stream": true,
            "stream_options": { "include_usage": true },
            "messages": [{ "role": "user", "content": "Hi there" }],
        }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks: Vec<Value> = body
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let collect = |field: &str| -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"][field].as_str())
            .collect()
    };
    assert_eq!(collect("reasoning"), "thinking about: Hi there");
    assert_eq!(collect("reasoning_content"), "thinking about: Hi there");
    assert_eq!(collect("content"), "echo: Hi there");
    let first_content = chunks.iter().position(|c| {
        c["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    });
    let last_reasoning = chunks
        .iter()
        .rposition(|c| c["choices"][0]["delta"]["reasoning"].is_string());
    assert!(last_reasoning < first_content);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 5);
}

#[tokio::test]
async fn prompts_past_the_context_get_each_dialects_error() {
    use tollgate_testkit::{MockConfig, MockServer};
    let start = |dialect| {
        MockServer::start(MockConfig {
            dialect,
            context_length: Some(10),
            ..MockConfig::default()
        })
    };
    // "one two three four five": 5 + 3 per message + 3 priming = 11 > 10
    let text = "one two three four five";
    let openai = start(Dialect::OpenAi).await.unwrap();
    let response = reqwest::Client::new()
        .post(openai.url("/chat/completions"))
        .json(&json!({ "model": "m", "messages": [{ "role": "user", "content": text }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "context_length_exceeded");
    assert_eq!(error["param"], "messages");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("This model's maximum context length is 10 tokens"),
        "{message}"
    );
    assert!(message.contains("11 tokens"), "{message}");
    // one word less fits
    let fits = post(
        openai.url("/chat/completions"),
        &json!({ "model": "m", "messages": [{ "role": "user", "content": "one two three four" }] }),
    )
    .await;
    assert_eq!(fits["usage"]["prompt_tokens"], 10);

    let anthropic = start(Dialect::Anthropic).await.unwrap();
    let response = reqwest::Client::new()
        .post(anthropic.url("/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({ "model": "m", "max_tokens": 10,
                       "messages": [{ "role": "user", "content": text }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "prompt is too long: 11 tokens > 10 maximum"
    );

    let gemini = start(Dialect::Gemini).await.unwrap();
    let response = reqwest::Client::new()
        .post(gemini.url("/models/m:generateContent"))
        .json(&json!({ "contents": [{ "parts": [{ "text": text }] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input token count (11)")
    );
}

#[tokio::test]
async fn json_object_follows_a_schema_given_in_the_system_prompt() {
    // instructor's JSON mode: `json_object` and the schema in words
    let schema = person_schema();
    let openai = start(Dialect::OpenAi).await;
    let body = post(
        openai.url("/chat/completions"),
        &json!({
            "model": "m",
            "messages": [
                { "role": "system", "content": format!(
                    "Provide the parsed objects in json that match the following \
                     json_schema:\n\n{schema:#}\n\nMake sure to return an instance of the \
                     JSON, not the schema itself") },
                { "role": "user", "content": PROMPT },
            ],
            "response_format": { "type": "json_object" },
        }),
    )
    .await;
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_valid(&schema, &serde_json::from_str(text).unwrap());
}
