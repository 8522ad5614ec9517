//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the gateway's
//! own API. It must list exactly the router's routes, and real bodies of
//! the running gateway must validate against its schemas (with `boon`), so
//! the document cannot drift from the wire types it is generated from.

use std::collections::{BTreeSet, HashSet};

use axum::body::Body;
use axum::http::{Method, Request, header};

use crate::support::*;

/// The document, as the gateway serves it.
async fn document(gw: &TestGateway) -> Value {
    let reply = gw.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

/// Validates instances against one schema of the document: `schema` may
/// `$ref` `#/components/schemas/...`, which are moved under `$defs` so
/// that the schema stands alone as JSON Schema 2020-12.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
    what: String,
}

impl Validator {
    fn new(doc: &Value, schema: &Value, what: &str) -> Validator {
        let standalone = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": doc["components"]["schemas"],
            "allOf": [schema],
        })
        .to_string()
        .replace("#/components/schemas/", "#/$defs/");
        let standalone: Value = serde_json::from_str(&standalone).unwrap();
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler
            .add_resource("urn:tollgate:openapi", standalone)
            .unwrap();
        let index = compiler
            .compile("urn:tollgate:openapi", &mut schemas)
            .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e:#}"));
        Validator {
            schemas,
            index,
            what: what.to_owned(),
        }
    }

    /// The schema of a JSON body of an operation: `where_` is
    /// `requestBody` or a response status.
    fn body(doc: &Value, method: &str, path: &str, where_: &str) -> Validator {
        let op = &doc["paths"][path][method];
        let content = if where_ == "requestBody" {
            &op["requestBody"]["content"]
        } else {
            &op["responses"][where_]["content"]
        };
        let schema = &content["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "no JSON schema for {method} {path} {where_}"
        );
        Validator::new(doc, schema, &format!("{method} {path} {where_}"))
    }

    fn check(&self, instance: &Value) {
        if let Err(e) = self.schemas.validate(instance, self.index) {
            panic!("{}: {instance} is not valid: {e:#}", self.what);
        }
    }

    fn refuses(&self, instance: &Value) {
        assert!(
            self.schemas.validate(instance, self.index).is_err(),
            "{}: {instance} should not be valid",
            self.what
        );
    }
}

/// Every `$ref` under `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[tokio::test]
async fn the_document_is_openapi_3_1_in_shape() {
    let gw = start().await;
    let doc = document(&gw).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "Tollgate");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["jsonSchemaDialect"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    // The same document at the root.
    assert_eq!(gw.get("/openapi.json").await.json(), doc);

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let tags: HashSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(METHODS.contains(&method.as_str()), "{what}");
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{what}: operationId not unique"
            );
            assert!(!op["summary"].as_str().unwrap().is_empty(), "{what}");
            for tag in op["tags"].as_array().unwrap() {
                assert!(tags.contains(tag.as_str().unwrap()), "{what}: tag {tag}");
            }
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "303"),
                "{what}: no success response"
            );
            assert!(
                responses.contains_key("default"),
                "{what}: no error response"
            );
            for requirement in op["security"].as_array().unwrap() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(scheme), "{what}: {scheme}");
                }
            }
            // Each `{name}` of the path is declared, and only those.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{what}: {p}");
                    p["name"].as_str().unwrap()
                })
                .collect();
            assert_eq!(declared, templated, "{what}");
        }
    }

    // Every reference resolves inside the document.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "{} refs", all.len());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        let pointer = pointer.replace("~1", "/").replace("~0", "~");
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {r}");
    }

    // Every component is a schema JSON Schema 2020-12 accepts.
    let components = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ChatRequest",
        "ChatCompletion",
        "ChatChunk",
        "ModelList",
        "ErrorResponse",
        "AnthropicErrorResponse",
    ] {
        assert!(components.contains_key(name), "no component {name}");
    }
    for name in components.keys() {
        // A name schemars had to number hides a second type of that name.
        assert!(
            !name.ends_with(|c: char| c.is_ascii_digit()),
            "{name}: two wire types share a schema name"
        );
        Validator::new(
            &doc,
            &json!({"$ref": format!("#/components/schemas/{name}")}),
            name,
        );
    }
}

/// A concrete path for a templated one.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let gw = start().await;
    let doc = document(&gw).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = tollgate_gateway::route_list()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(documented, routed);
    for (method, path) in [
        ("POST", "/api/v1/chat/completions"),
        ("GET", "/api/v1/models/{author}/{slug}/endpoints"),
        ("POST", "/api/v1/auth/keys"),
        ("DELETE", "/api/v1/keys/{hash}"),
        ("GET", "/health"),
        ("GET", "/api/v1/openapi.json"),
    ] {
        assert!(
            routed.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path}"
        );
    }

    // And the router answers each of them itself (no key: nothing runs):
    // never its fallback's 404 nor its 405.
    for (method, path) in &documented {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(concrete(path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let reply = gw.oneshot(request).await;
        let body = String::from_utf8_lossy(&reply.body);
        assert_ne!(reply.status, 405, "{method} {path}: {body}");
        assert!(!body.contains("no route for"), "{method} {path}: {body}");
    }
    // While an undocumented one is the fallback's.
    let reply = gw.get("/api/v1/undocumented").await;
    assert!(String::from_utf8_lossy(&reply.body).contains("no route for"));
}

#[tokio::test]
async fn chat_requests_and_answers_validate_against_the_document() {
    let gw = start().await;
    let doc = document(&gw).await;
    let path = "/api/v1/chat/completions";
    let request = Validator::body(&doc, "post", path, "requestBody");
    let minimal = chat_body("mock/echo", "Hello there");
    request.check(&minimal);
    // Every part of the request the types know, and a key they do not.
    let full = json!({
        "model": "mock/echo",
        "models": ["mock/echo", "mock/reasoner"],
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                {"type": "some_future_part", "data": 1},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "lookup", "arguments": "{\"q\":\"a\"}"},
            }]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a picture"},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["\n\n"],
        "stream": false,
        "tools": [{"type": "function", "function": {
            "name": "lookup", "description": "Look up", "parameters": {"type": "object"},
        }}],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "reasoning": {"effort": "low"},
        "provider": {"order": ["alpha"], "allow_fallbacks": true, "max_price": {"prompt": 1}},
        "usage": {"include": true},
        "transforms": [],
        "extra_body_key": {"kept": true},
    });
    request.check(&full);
    // The schema is not a blank cheque.
    request
        .refuses(&json!({"model": "mock/echo", "messages": [{"role": "wizard", "content": "hi"}]}));
    request.refuses(&json!({"model": "mock/echo", "messages": [{"content": "no role"}]}));
    request.refuses(&json!({"model": "mock/echo", "messages": [], "temperature": "hot"}));
    request.refuses(
        &json!({"model": "mock/echo", "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
    );

    let reply = gw.chat(&minimal).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let answer = Validator::body(&doc, "post", path, "200");
    let mut completion = reply.json();
    answer.check(&completion);
    completion["choices"][0]["message"]["role"] = json!(7);
    answer.refuses(&completion);
    completion.as_object_mut().unwrap().remove("choices");
    answer.refuses(&completion);

    // Each chunk of the stream is an `x-event-schema` value.
    let events = &doc["paths"][path]["post"]["responses"]["200"]["content"]["text/event-stream"];
    let chunk = Validator::new(&doc, &events["x-event-schema"], "chat chunk");
    let reply = gw.chat(&streamed(minimal)).await;
    assert_eq!(reply.status, 200);
    let chunks = chunks(&parse_sse(&String::from_utf8_lossy(&reply.body)));
    assert!(chunks.len() > 2, "{chunks:?}");
    chunks.iter().for_each(|c| chunk.check(c));

    // An error answer is the document's error.
    let error = Validator::new(
        &doc,
        &doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"],
        "error",
    );
    let reply = gw.chat(&chat_body("nobody/nothing", "hi")).await;
    let code = reply.status.as_u16();
    assert!((400..500).contains(&code), "{code}");
    error.check(&reply.json());
    error.refuses(&json!({"message": "no envelope"}));
}

#[tokio::test]
async fn other_answers_validate_against_the_document() {
    let gw = start().await;
    let doc = document(&gw).await;

    for path in [
        "/api/v1/models",
        "/api/v1/providers",
        "/api/v1/models/count",
    ] {
        let reply = gw.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        Validator::body(&doc, "get", path, "200").check(&reply.json());
    }
    // A model without its id, or with a price that is no number, is not one.
    let list = Validator::body(&doc, "get", "/api/v1/models", "200");
    let models = gw.get("/api/v1/models").await.json();
    let mut wrong = models.clone();
    wrong["data"][0].as_object_mut().unwrap().remove("id");
    list.refuses(&wrong);
    let mut wrong = models.clone();
    wrong["data"][0]["pricing"]["prompt"] = json!("cheap");
    list.refuses(&wrong);
    let reply = gw.get("/api/v1/models/mock/echo/endpoints").await;
    assert_eq!(reply.status, 200);
    Validator::body(
        &doc,
        "get",
        "/api/v1/models/{author}/{slug}/endpoints",
        "200",
    )
    .check(&reply.json());
    let reply = gw.get("/api/v1/models/mock/echo").await;
    assert_eq!(reply.status, 200);
    Validator::body(&doc, "get", "/api/v1/models/{author}/{slug}", "200").check(&reply.json());

    let cases = [
        (
            "/api/v1/completions",
            json!({"model": "mock/echo", "prompt": "Once upon"}),
        ),
        (
            "/api/v1/embeddings",
            json!({"model": "mock/embed", "input": ["a", "b c"]}),
        ),
        (
            "/api/v1/responses",
            json!({"model": "mock/echo", "input": "Hello"}),
        ),
        (
            "/api/v1/messages",
            json!({"model": "mock/echo-anthropic", "max_tokens": 64,
                   "messages": [{"role": "user", "content": "Hello"}]}),
        ),
        (
            "/api/v1/messages/count_tokens",
            json!({"model": "mock/echo-anthropic",
                   "messages": [{"role": "user", "content": "Hello"}]}),
        ),
    ];
    for (path, body) in cases {
        Validator::body(&doc, "post", path, "requestBody").check(&body);
        let reply = gw.post_raw(path, body.to_string()).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        Validator::body(&doc, "post", path, "200").check(&reply.json());
    }

    // `/messages` answers errors in Anthropic's shape.
    let reply = gw
        .post_raw(
            "/api/v1/messages",
            json!({"model": "mock/echo-anthropic"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 400);
    let anthropic =
        &doc["components"]["responses"]["AnthropicError"]["content"]["application/json"]["schema"];
    Validator::new(&doc, anthropic, "anthropic error").check(&reply.json());
    assert_eq!(
        doc["paths"]["/api/v1/messages"]["post"]["responses"]["default"]["$ref"],
        "#/components/responses/AnthropicError"
    );

    for path in ["/health", "/ready"] {
        let reply = gw.get(path).await;
        assert_eq!(reply.status, 200, "{path}");
        Validator::body(&doc, "get", path, "200").check(&reply.json());
    }
    for path in ["/api/v1/credits", "/api/v1/key"] {
        let request = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", gw.key))
            .body(Body::empty())
            .unwrap();
        let reply = gw.oneshot(request).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        Validator::body(&doc, "get", path, "200").check(&reply.json());
    }
}
