//! The OpenAPI 3.1 document of Tollgate's own API, served at
//! `GET /api/v1/openapi.json` (and `GET /openapi.json`).
//!
//! Each route of the router ([`crate::routes::table`]) has one
//! [`Operation`] here ([`operations`]); a test checks the two lists match,
//! so a route added without documentation fails it. Request and response
//! bodies that are `tollgate-schema` wire types are described by the
//! JSON Schema (2020-12, OpenAPI 3.1's dialect) `schemars` derives from
//! those types, so the document follows the types; bodies the gateway
//! builds itself (management endpoints) have a short hand-written schema.
//!
//! The document is built once, on the first request, and kept.

mod operations;

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::routes::Verb;

pub(crate) use operations::operations;

/// The OpenAPI version the document is written in.
pub const OPENAPI_VERSION: &str = "3.1.0";

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No key.
    None,
    /// Any enabled key of an account (inference or provisioning).
    Key,
    /// A provisioning (management) key.
    Provisioning,
    /// The operator's admin key (`TOLLGATE_ADMIN_KEY`).
    Admin,
}

/// A request or response body.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    /// A wire type's schema, from its `JsonSchema` derive.
    Type(fn(&mut SchemaGenerator) -> Schema),
    /// A hand-written JSON Schema of a body the gateway builds itself.
    Json(fn() -> Value),
    /// Not JSON: a media type and what it holds.
    Media(&'static str, &'static str),
}

/// The schema of the wire type `T`.
pub(crate) fn of<T: JsonSchema>() -> Body {
    Body::Type(SchemaGenerator::subschema_for::<T>)
}

/// The error envelope an operation answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Errors {
    /// `{"error":{"code","message","metadata"}}`.
    OpenRouter,
    /// Anthropic's `{"type":"error","error":{"type","message"}}`.
    Anthropic,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query {
    pub(crate) name: &'static str,
    pub(crate) required: bool,
    pub(crate) description: &'static str,
}

/// What the document says of one route.
pub(crate) struct Operation {
    pub(crate) verb: Verb,
    pub(crate) path: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) auth: Auth,
    pub(crate) query: &'static [Query],
    pub(crate) request: Option<Body>,
    /// The success status and body.
    pub(crate) ok: (u16, Body),
    /// The `text/event-stream` answer of `"stream": true`, when there is one.
    pub(crate) stream: Option<Body>,
    pub(crate) errors: Errors,
}

impl Operation {
    /// An operation answering `200` with `ok`, for any key, with OpenRouter
    /// errors; the other fields are set with the builder methods below.
    pub(crate) fn new(
        verb: Verb,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        ok: Body,
    ) -> Operation {
        Operation {
            verb,
            path,
            tag,
            summary,
            auth: Auth::Key,
            query: &[],
            request: None,
            ok: (200, ok),
            stream: None,
            errors: Errors::OpenRouter,
        }
    }

    pub(crate) fn auth(self, auth: Auth) -> Operation {
        Operation { auth, ..self }
    }

    pub(crate) fn request(self, body: Body) -> Operation {
        Operation {
            request: Some(body),
            ..self
        }
    }

    pub(crate) fn status(self, status: u16) -> Operation {
        Operation {
            ok: (status, self.ok.1),
            ..self
        }
    }

    pub(crate) fn stream(self, body: Body) -> Operation {
        Operation {
            stream: Some(body),
            ..self
        }
    }

    pub(crate) fn query(self, query: &'static [Query]) -> Operation {
        Operation { query, ..self }
    }

    pub(crate) fn errors(self, errors: Errors) -> Operation {
        Operation { errors, ..self }
    }
}

/// The OpenAPI document of [`operations`].
pub fn document() -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    }));
    let openrouter_error = generator.subschema_for::<tollgate_schema::wire_error::ErrorResponse>();
    let anthropic_error = generator.subschema_for::<tollgate_schema::messages::ErrorResponse>();

    let mut paths = Map::new();
    let mut tags: Vec<&str> = Vec::new();
    for op in operations() {
        if !tags.contains(&op.tag) {
            tags.push(op.tag);
        }
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                op.verb.as_str().to_ascii_lowercase(),
                operation(&op, &mut generator),
            );
        }
    }

    let schemas = generator.take_definitions(true);

    json!({
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Tollgate",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "A self-hostable, OpenRouter-compatible LLM gateway.",
            "description": "OpenRouter's API (chat completions, legacy completions, embeddings, the Models API, keys, credits and generations), Anthropic's Messages API and OpenAI's Responses API, served by one gateway. Errors are `{\"error\":{\"code\",\"message\",\"metadata\"}}` with the HTTP status as `code` (Anthropic-shaped on `/messages`).",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": error_response(
                    "An error: `error.code` is the HTTP status.",
                    openrouter_error,
                ),
                "AnthropicError": error_response(
                    "An error, in Anthropic's shape.",
                    anthropic_error,
                ),
            },
            "securitySchemes": {
                "key": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key of an account (`sk-tg-v1-...`); `x-api-key` is also accepted on `/messages`.",
                },
                "provisioning": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A provisioning (management) key of an account.",
                },
                "admin": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator's admin key (`TOLLGATE_ADMIN_KEY`); without it the admin API is disabled.",
                },
            },
        },
    })
}

fn error_response(description: &str, schema: Schema) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": schema}},
    })
}

/// The Operation Object of `op`.
fn operation(op: &Operation, generator: &mut SchemaGenerator) -> Value {
    let mut parameters: Vec<Value> = path_params(op.path)
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    parameters.extend(op.query.iter().map(|q| {
        json!({
            "name": q.name,
            "in": "query",
            "required": q.required,
            "description": q.description,
            "schema": {"type": "string"},
        })
    }));

    let (status, ok) = op.ok;
    let mut answer = content(ok, generator);
    if let (Some(stream), Value::Object(map)) = (op.stream, &mut answer)
        && let Value::Object(events) = media(stream, "text/event-stream", generator)
    {
        map.extend(events);
    }
    let mut responses = Map::new();
    responses.insert(
        status.to_string(),
        json!({"description": "Success.", "content": answer}),
    );
    let error = match op.errors {
        Errors::OpenRouter => "#/components/responses/Error",
        Errors::Anthropic => "#/components/responses/AnthropicError",
    };
    responses.insert(String::from("default"), json!({"$ref": error}));

    let mut out = json!({
        "operationId": operation_id(op),
        "tags": [op.tag],
        "summary": op.summary,
        "responses": responses,
        "security": match op.auth {
            Auth::None => json!([]),
            Auth::Key => json!([{"key": []}]),
            Auth::Provisioning => json!([{"provisioning": []}]),
            Auth::Admin => json!([{"admin": []}]),
        },
    });
    if let Value::Object(map) = &mut out {
        if !parameters.is_empty() {
            map.insert(String::from("parameters"), Value::Array(parameters));
        }
        if let Some(body) = op.request {
            map.insert(
                String::from("requestBody"),
                json!({"required": true, "content": content(body, generator)}),
            );
        }
    }
    out
}

/// A Content map: the body under its media type.
fn content(body: Body, generator: &mut SchemaGenerator) -> Value {
    media(body, "application/json", generator)
}

fn media(body: Body, json_type: &str, generator: &mut SchemaGenerator) -> Value {
    let (media_type, schema) = match body {
        Body::Type(schema) => (json_type, schema(generator).to_value()),
        Body::Json(schema) => (json_type, schema()),
        Body::Media(media_type, what) => {
            (media_type, json!({"type": "string", "description": what}))
        }
    };
    if json_type == "text/event-stream" {
        // OpenAPI 3.1 has no schema for the events of a stream (3.2's
        // `itemSchema`): the body is text, each event's `data` one JSON
        // value of `x-event-schema`.
        return json!({ media_type: {
            "schema": {
                "type": "string",
                "description": "Server-sent events; each `data:` line is one JSON value of `x-event-schema`, the last `data: [DONE]` where the dialect has it.",
            },
            "x-event-schema": schema,
        }});
    }
    json!({ media_type: {"schema": schema} })
}

/// The `{name}` segments of a path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// A unique id: the method and the path's words, e.g.
/// `post_api_v1_chat_completions`.
fn operation_id(op: &Operation) -> String {
    let words: Vec<&str> = op
        .path
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    format!(
        "{}_{}",
        op.verb.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

/// The document, encoded once.
fn encoded() -> Result<&'static Bytes, ApiError> {
    static DOC: OnceLock<Result<Bytes, String>> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::to_vec(&document())
            .map(Bytes::from)
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ApiError::Internal(format!("the OpenAPI document: {e}")))
}

/// `GET /api/v1/openapi.json` and `GET /openapi.json`: the document. No key
/// needed.
pub(crate) async fn serve() -> Result<Response, ApiError> {
    let body = encoded()?.clone();
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}
