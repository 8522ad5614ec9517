//! The playground: a chat with any model, streamed. The browser posts the
//! conversation with the session's CSRF token; the chat pipeline runs here
//! with the session's key, so no key reaches the page. Closing the stream
//! (the stop button aborts the fetch) drops the body, which cancels the
//! upstream request as for any API client.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};
use tollgate_schema::chat::ChatRequest;
use tollgate_store::KeyKind;

use super::layout;
use super::session::{self, Who};
use super::{Dash, field, html_response, require_account, usable};
use crate::error::ApiError;
use crate::ingress::Wire;
use crate::pipeline::record::RequestContext;
use crate::routes::chat::serve_chat;

/// The header carrying the session's CSRF token.
const CSRF_HEADER: &str = "x-csrf-token";

/// What a provisioning key's session is told: the API answers such a key
/// 403 on every model route, and so does the playground.
const CANNOT_CALL: &str = "Provisioning keys cannot call models (the API answers 403): \
     sign in with an inference key to use the playground.";

/// `GET /playground?model=`.
pub(super) async fn page(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (s, _, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let models: Vec<String> = dash
        .state
        .routes()
        .catalog
        .models()
        .iter()
        .map(|m| m.to_api().id)
        .collect();
    let chosen = field(&q, "model")
        .map(str::to_owned)
        .or_else(|| models.first().cloned())
        .unwrap_or_default();
    if s.manages() {
        let body = html! {
            h1 { "Playground" }
            p.notice #cannot-call role="status" { (CANNOT_CALL) }
        };
        return html_response(
            StatusCode::OK,
            layout::page(&dash, Some(&s), "Playground", "/playground", body),
        );
    }
    let body = html! {
        h1 { "Playground" }
        form #chat.card autocomplete="off" {
            div.grid {
                div {
                    label for="model" { "Model" }
                    input #model name="model" list="model-ids" value=(chosen) required spellcheck="false";
                    datalist #model-ids { @for m in &models { option value=(m) {} } }
                    p.hint { "A variant works too: " code { ":free" } ", " code { ":nitro" } ", " code { ":floor" } "." }
                }
                div {
                    label for="fallbacks" { "Fallback models (optional)" }
                    input #fallbacks name="fallbacks" placeholder="author/model, author/other" spellcheck="false";
                    p.hint { "Tried in order when the model fails." }
                }
            }
            label for="system" { "System prompt (optional)" }
            textarea #system name="system" rows="2" {}
            label for="prompt" { "Message" }
            textarea #prompt name="prompt" rows="3" required {}
            div.actions {
                button #send type="submit" { "Send" }
                button #stop.secondary type="button" disabled { "Stop" }
                button #clear.secondary type="button" { "New chat" }
            }
        }
        section #transcript aria-live="polite" aria-label="Conversation" {}
        p #chat-error.error role="alert" hidden {}
        div #reply-stats.card hidden {
            h2 { "Last reply" }
            dl.fields {
                dt { "Provider" } dd #stat-provider { "—" }
                dt { "Attempts" } dd #stat-attempts { "—" }
                dt { "Tokens in / out" } dd #stat-tokens { "—" }
                dt { "Cost" } dd #stat-cost { "—" }
                dt { "Generation" } dd { a #stat-generation href="#" { "—" } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Playground", "/playground", body),
    )
}

/// `POST /playground/chat` `{model, fallbacks?, messages}` with the CSRF
/// token in `x-csrf-token`: the chat completion, streamed (SSE).
pub(super) async fn chat(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(s) = dash.sessions.get(&headers) else {
        return ApiError::Unauthorized(String::from("sign in again")).into_response();
    };
    let token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !token.is_some_and(|t| session::same(t, &s.csrf)) {
        return ApiError::Forbidden(String::from("missing or stale CSRF token")).into_response();
    }
    let Who::Account { key_hash, .. } = &s.who else {
        return ApiError::Forbidden(String::from("the playground needs an account's key"))
            .into_response();
    };
    let key = match dash.state.store.get_api_key(key_hash).await {
        Ok(Some(k)) if usable(&k) => k,
        Ok(_) => {
            return ApiError::Unauthorized(String::from("the session's key no longer works"))
                .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if key.kind == KeyKind::Provisioning {
        return ApiError::Forbidden(String::from(CANNOT_CALL)).into_response();
    }
    match run(&dash, &headers, key, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn run(
    dash: &Dash,
    headers: &HeaderMap,
    key: tollgate_store::ApiKey,
    body: &[u8],
) -> Result<Response, Response> {
    let bad = |m: &str| ApiError::bad_request(m.to_owned()).into_response();
    let input: Value = serde_json::from_slice(body).map_err(|_| bad("the body must be JSON"))?;
    let model = input
        .get("model")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| bad("choose a model"))?;
    let mut request = json!({
        "model": model,
        "messages": input.get("messages").cloned().unwrap_or(Value::Null),
        "stream": true,
        "usage": {"include": true},
    });
    let fallbacks: Vec<&str> = input
        .get("fallbacks")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    if !fallbacks.is_empty() {
        let mut models = vec![model];
        models.extend(fallbacks);
        request["models"] = json!(models);
    }
    let bytes = serde_json::to_vec(&request)
        .map_err(|e| ApiError::Internal(e.to_string()).into_response())?;
    let request: ChatRequest =
        tollgate_schema::from_json_slice(&bytes).map_err(|e| ApiError::from(e).into_response())?;
    let mut ctx = RequestContext::new(&key, headers);
    ctx.app_title = Some(String::from("Tollgate playground"));
    serve_chat(dash.state.clone(), key, ctx, request, Wire::Chat)
        .await
        .map_err(IntoResponse::into_response)
}
