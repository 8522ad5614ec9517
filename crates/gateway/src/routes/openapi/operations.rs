//! What the document says of each route of [`crate::routes::table`].

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};
use tollgate_schema::{chat, completions, embeddings, messages, models, responses};

use super::{Auth, Body, Errors, Operation, Query, of};
use crate::routes::Verb::{Delete, Get, Options, Patch, Post, Put};

const INFERENCE: &str = "Inference";
const MODELS: &str = "Models";
const ACCOUNT: &str = "Account";
const KEYS: &str = "Keys";
const BYOK: &str = "BYOK";
const OAUTH: &str = "OAuth";
const ADMIN: &str = "Admin";
const SERVICE: &str = "Service";

/// The query of `GET /models`, `/models/user` and `/models/count`.
const MODEL_QUERY: &[Query] = &[
    Query {
        name: "category",
        required: false,
        description: "Only models of this category (e.g. `programming`).",
    },
    Query {
        name: "supported_parameters",
        required: false,
        description: "Comma-separated parameters every listed model must support.",
    },
    Query {
        name: "output_modalities",
        required: false,
        description: "Comma-separated output modalities (`text`, `image`, `embeddings`; `all` for any).",
    },
];

/// Every operation of the API, one per route.
pub(crate) fn operations() -> Vec<Operation> {
    vec![
        // Inference.
        Operation::new(
            Post,
            "/api/v1/chat/completions",
            INFERENCE,
            "Create a chat completion",
            of::<chat::ChatCompletion>(),
        )
        .request(of::<chat::ChatRequest>())
        .stream(of::<chat::ChatChunk>()),
        Operation::new(
            Post,
            "/api/v1/completions",
            INFERENCE,
            "Create a text completion (legacy prompt API)",
            of::<completions::TextCompletion>(),
        )
        .request(of::<completions::CompletionRequest>())
        .stream(of::<completions::TextCompletion>()),
        Operation::new(
            Post,
            "/api/v1/embeddings",
            INFERENCE,
            "Create embeddings",
            of::<embeddings::EmbeddingResponse>(),
        )
        .request(of::<embeddings::EmbeddingRequest>()),
        Operation::new(
            Post,
            "/api/v1/messages",
            INFERENCE,
            "Create a message (Anthropic Messages API)",
            of::<messages::Message>(),
        )
        .request(of::<messages::MessagesRequest>())
        .stream(of::<messages::StreamEvent>())
        .errors(Errors::Anthropic),
        Operation::new(
            Post,
            "/api/v1/messages/count_tokens",
            INFERENCE,
            "Count the input tokens of a message (Anthropic Messages API)",
            of::<messages::TokenCount>(),
        )
        .request(of::<messages::MessagesRequest>())
        .errors(Errors::Anthropic),
        Operation::new(
            Post,
            "/api/v1/responses",
            INFERENCE,
            "Create a response (OpenAI Responses API)",
            of::<responses::Response>(),
        )
        .request(of::<responses::ResponsesRequest>())
        .stream(Body::Type(responses_event)),
        // Models.
        Operation::new(
            Get,
            "/api/v1/models",
            MODELS,
            "List the models",
            of::<models::ModelList>(),
        )
        .query(MODEL_QUERY)
        .auth(Auth::None),
        Operation::new(
            Get,
            "/api/v1/models/count",
            MODELS,
            "Count the models",
            Body::Json(model_count),
        )
        .query(MODEL_QUERY)
        .auth(Auth::None),
        Operation::new(
            Get,
            "/api/v1/models/user",
            MODELS,
            "List the models the key may use, within its limits",
            of::<models::ModelList>(),
        )
        .query(MODEL_QUERY),
        Operation::new(
            Get,
            "/api/v1/models/{author}/{slug}",
            MODELS,
            "Get one model",
            Body::Type(one_model),
        )
        .auth(Auth::None),
        Operation::new(
            Get,
            "/api/v1/models/{author}/{slug}/endpoints",
            MODELS,
            "List the endpoints (providers) serving a model",
            of::<models::EndpointList>(),
        )
        .auth(Auth::None),
        Operation::new(
            Get,
            "/api/v1/providers",
            MODELS,
            "List the providers",
            of::<models::ProviderList>(),
        )
        .auth(Auth::None),
        // Account.
        Operation::new(
            Get,
            "/api/v1/credits",
            ACCOUNT,
            "The account's credits and usage (USD)",
            Body::Json(credits),
        ),
        Operation::new(
            Get,
            "/api/v1/key",
            ACCOUNT,
            "The calling key: limits and usage",
            Body::Json(data_object),
        ),
        Operation::new(
            Get,
            "/api/v1/auth/key",
            ACCOUNT,
            "The calling key (older alias of `/api/v1/key`)",
            Body::Json(data_object),
        ),
        Operation::new(
            Get,
            "/api/v1/generation",
            ACCOUNT,
            "One generation's stats: tokens, cost, latency, provider attempts",
            Body::Json(data_object),
        )
        .query(&[Query {
            name: "id",
            required: true,
            description: "The generation id (`X-Generation-Id`).",
        }]),
        Operation::new(
            Get,
            "/api/v1/activity",
            ACCOUNT,
            "Daily usage per model and provider",
            Body::Json(data_list),
        )
        .query(&[Query {
            name: "date",
            required: false,
            description: "One UTC day, `YYYY-MM-DD`.",
        }]),
        // Keys.
        Operation::new(
            Get,
            "/api/v1/keys",
            KEYS,
            "List the account's keys",
            Body::Json(data_list),
        )
        .auth(Auth::Provisioning),
        Operation::new(
            Post,
            "/api/v1/keys",
            KEYS,
            "Create a key; its secret is in `key`, shown once",
            Body::Json(created_key),
        )
        .auth(Auth::Provisioning)
        .request(Body::Json(key_request))
        .status(201),
        Operation::new(
            Get,
            "/api/v1/keys/{hash}",
            KEYS,
            "Get a key",
            Body::Json(data_object),
        )
        .auth(Auth::Provisioning),
        Operation::new(
            Patch,
            "/api/v1/keys/{hash}",
            KEYS,
            "Update a key",
            Body::Json(data_object),
        )
        .auth(Auth::Provisioning)
        .request(Body::Json(key_update)),
        Operation::new(
            Delete,
            "/api/v1/keys/{hash}",
            KEYS,
            "Delete a key",
            Body::Json(deleted),
        )
        .auth(Auth::Provisioning),
        // BYOK.
        Operation::new(
            Get,
            "/api/v1/byok",
            BYOK,
            "List the account's own provider keys (last four characters only)",
            Body::Json(data_list),
        ),
        Operation::new(
            Put,
            "/api/v1/byok/{provider}",
            BYOK,
            "Store the account's own key for a provider (201 when new)",
            Body::Json(data_object),
        )
        .auth(Auth::Provisioning)
        .request(of::<crate::routes::byok::PutBody>()),
        Operation::new(
            Delete,
            "/api/v1/byok/{provider}",
            BYOK,
            "Delete the account's own key for a provider",
            Body::Json(deleted),
        )
        .auth(Auth::Provisioning),
        // OAuth PKCE.
        Operation::new(
            Get,
            "/auth",
            OAUTH,
            "The approval page of the PKCE flow",
            Body::Media("text/html", "An HTML form asking for an API key."),
        )
        .auth(Auth::None)
        .query(&[
            Query {
                name: "callback_url",
                required: true,
                description: "Where to send the user back with `?code=`.",
            },
            Query {
                name: "code_challenge",
                required: false,
                description: "The PKCE challenge.",
            },
            Query {
                name: "code_challenge_method",
                required: false,
                description: "`S256` or `plain`.",
            },
        ]),
        Operation::new(
            Post,
            "/auth/approve",
            OAUTH,
            "Approve the PKCE flow (the approval page's form); redirects to the callback",
            Body::Media("text/html", "The page, again, when the form is refused."),
        )
        .auth(Auth::None)
        .status(303)
        .request(Body::Media(
            "application/x-www-form-urlencoded",
            "The approval form.",
        )),
        Operation::new(
            Post,
            "/api/v1/auth/keys",
            OAUTH,
            "Exchange a PKCE code for a new key",
            Body::Json(oauth_key),
        )
        .auth(Auth::None)
        .request(of::<crate::routes::oauth::ExchangeBody>()),
        Operation::new(
            Options,
            "/api/v1/auth/keys",
            OAUTH,
            "CORS preflight of the code exchange",
            Body::Media("text/plain", "Empty."),
        )
        .auth(Auth::None)
        .status(204),
        Operation::new(
            Post,
            "/api/v1/auth/keys/code",
            OAUTH,
            "Create a PKCE code for a callback, as the calling key's account",
            Body::Json(data_object),
        )
        .request(of::<crate::routes::oauth::CodeBody>()),
        // Admin.
        Operation::new(
            Get,
            "/api/v1/admin/accounts",
            ADMIN,
            "List the accounts",
            Body::Json(data_list),
        )
        .auth(Auth::Admin),
        Operation::new(
            Post,
            "/api/v1/admin/accounts",
            ADMIN,
            "Create an account and its provisioning key",
            Body::Json(data_object),
        )
        .auth(Auth::Admin)
        .status(201)
        .request(Body::Json(account_request)),
        Operation::new(
            Get,
            "/api/v1/admin/accounts/{id}",
            ADMIN,
            "Get an account and its balance",
            Body::Json(data_object),
        )
        .auth(Auth::Admin),
        Operation::new(
            Post,
            "/api/v1/admin/accounts/{id}/credits",
            ADMIN,
            "Add credits (USD) to an account",
            Body::Json(data_object),
        )
        .auth(Auth::Admin)
        .request(Body::Json(credits_request)),
        Operation::new(
            Post,
            "/api/v1/admin/catalog/reload",
            ADMIN,
            "Reload the provider catalog",
            Body::Json(data_object),
        )
        .auth(Auth::Admin),
        // Service.
        Operation::new(
            Get,
            "/api/v1/openapi.json",
            SERVICE,
            "This document",
            Body::Json(any_object),
        )
        .auth(Auth::None),
        Operation::new(
            Get,
            "/openapi.json",
            SERVICE,
            "This document (same as `/api/v1/openapi.json`)",
            Body::Json(any_object),
        )
        .auth(Auth::None),
        Operation::new(
            Get,
            "/health",
            SERVICE,
            "Liveness: the process answers",
            Body::Json(health),
        )
        .auth(Auth::None),
        Operation::new(
            Get,
            "/ready",
            SERVICE,
            "Readiness: database, catalog, not draining (503 when not ready)",
            Body::Json(ready),
        )
        .auth(Auth::None),
        Operation::new(
            Get,
            "/metrics",
            SERVICE,
            "Prometheus metrics",
            Body::Media(
                "application/openmetrics-text",
                "OpenMetrics text; the Prometheus text format 0.0.4 when `Accept` asks for `text/plain`.",
            ),
        )
        .auth(Auth::None),
    ]
}

// Hand-written schemas of the bodies the gateway builds itself.

fn any_object() -> Value {
    json!({"type": "object"})
}

fn data_object() -> Value {
    json!({"type": "object", "required": ["data"], "properties": {"data": {"type": "object"}}})
}

fn data_list() -> Value {
    json!({"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": {"type": "object"}}}})
}

fn one_model(generator: &mut SchemaGenerator) -> Schema {
    let model = generator.subschema_for::<models::Model>();
    json_schema!({
        "type": "object",
        "required": ["data"],
        "properties": {"data": model},
    })
}

fn model_count() -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "properties": {"data": {
            "type": "object",
            "required": ["count"],
            "properties": {"count": {"type": "integer", "minimum": 0}},
        }},
    })
}

fn credits() -> Value {
    json!({
        "type": "object",
        "required": ["data"],
        "properties": {"data": {
            "type": "object",
            "required": ["total_credits", "total_usage"],
            "properties": {
                "total_credits": {"type": "number"},
                "total_usage": {"type": "number"},
            },
        }},
    })
}

fn deleted() -> Value {
    json!({"type": "object", "required": ["deleted"], "properties": {"deleted": {"const": true}}})
}

fn created_key() -> Value {
    json!({
        "type": "object",
        "required": ["data", "key"],
        "properties": {"data": {"type": "object"}, "key": {"type": "string"}},
    })
}

fn oauth_key() -> Value {
    json!({
        "type": "object",
        "required": ["key"],
        "properties": {"key": {"type": "string"}, "user_id": {"type": ["string", "null"]}},
    })
}

fn key_fields() -> Value {
    json!({
        "name": {"type": "string", "minLength": 1},
        "limit": {"type": ["number", "string", "null"], "description": "USD."},
        "limit_reset": {"enum": ["daily", "weekly", "monthly", null]},
        "include_byok_in_limit": {"type": "boolean"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
    })
}

fn key_request() -> Value {
    json!({"type": "object", "required": ["name"], "properties": key_fields()})
}

fn key_update() -> Value {
    let mut properties = key_fields();
    if let Value::Object(map) = &mut properties {
        map.insert(String::from("disabled"), json!({"type": "boolean"}));
    }
    json!({"type": "object", "properties": properties})
}

fn account_request() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}})
}

fn credits_request() -> Value {
    json!({
        "type": "object",
        "required": ["amount"],
        "properties": {
            "amount": {"type": ["number", "string"], "description": "USD, greater than 0."},
            "note": {"type": ["string", "null"]},
        },
    })
}

fn responses_event(generator: &mut SchemaGenerator) -> Schema {
    let response = generator.subschema_for::<responses::Response>();
    json_schema!({
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "description": "`response.created`, `response.output_text.delta`, `response.completed`, ..."},
            "response": response,
        },
    })
}

fn health() -> Value {
    json!({
        "type": "object",
        "required": ["status", "version"],
        "properties": {"status": {"const": "ok"}, "version": {"type": "string"}},
    })
}

fn ready() -> Value {
    json!({
        "type": "object",
        "required": ["status", "version", "draining", "database", "models"],
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "version": {"type": "string"},
            "draining": {"type": "boolean"},
            "database": {"enum": ["ok", "skipped", "unreachable", "timed out"]},
            "models": {"type": "integer", "minimum": 0},
        },
    })
}
