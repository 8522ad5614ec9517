//! `POST /completions` (legacy text completions).
//!
//! A single text prompt is mapped onto chat (one user message) and runs
//! through the chat pipeline, so every provider and dialect can serve it,
//! streamed or not; the answer is written back as `text_completion`.
//! Prompts chat cannot express (several prompts, token ids) are passed
//! through, unstreamed, to OpenAI-dialect endpoints, which support them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use tollgate_billing::Ending;
use tollgate_schema::chat::ChatRequest;
use tollgate_schema::completions::{CompletionRequest, Prompt};
use tollgate_schema::from_json_slice;
use tollgate_store::ApiType;
use tollgate_transport::CompletionCall;

use super::chat::serve_chat;
use crate::error::ApiError;
use crate::ingress::Wire;
use crate::pipeline::finish::{Generation, Outcome, ServedBy};
use crate::pipeline::hold::{self, Bound};
use crate::pipeline::record::RequestContext;
use crate::pipeline::{self, Served, first_success, resolve_model};
use crate::routes::{failed, generation_json};
use crate::state::AppState;
use crate::{auth, ids};

/// Handles a legacy completion.
pub async fn completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = auth::authenticate(&state.store, &state.keys, &headers).await?;
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    let request: CompletionRequest = from_json_slice(&body)?;
    let ctx = RequestContext::new(&key, &headers);
    // The body and the headers are slices of the connection's first read
    // buffer: released here, not held as long as the answer (a stream's
    // whole life), they leave hyper one buffer per connection, not two.
    drop((headers, body));
    match single_prompt(&request.prompt) {
        Some(prompt) => serve_chat(state, key, ctx, as_chat(&request, prompt), Wire::Text).await,
        None => passthrough(state, key, ctx, request).await,
    }
}

fn single_prompt(prompt: &Prompt) -> Option<String> {
    match prompt {
        Prompt::Text(t) => Some(t.clone()),
        Prompt::Texts(t) if t.len() == 1 => t.first().cloned(),
        _ => None,
    }
}

/// The chat request that asks the same: the prompt as one user message.
fn as_chat(r: &CompletionRequest, prompt: String) -> ChatRequest {
    ChatRequest {
        prompt: Some(prompt),
        model: r.model.clone(),
        models: r.models.clone(),
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        stop: r.stop.clone(),
        stream: r.stream,
        stream_options: r.stream_options.clone(),
        seed: r.seed,
        usage: r.usage.clone(),
        transforms: r.transforms.clone(),
        provider: r.provider.clone(),
        user: r.user.clone(),
        extra: r.extra.clone(),
        ..ChatRequest::default()
    }
}

async fn passthrough(
    state: Arc<AppState>,
    key: tollgate_store::ApiKey,
    ctx: RequestContext,
    request: CompletionRequest,
) -> Result<Response, ApiError> {
    if request.stream == Some(true) {
        return Err(ApiError::field(
            "prompt",
            "streaming supports a single text prompt; send one string or disable `stream`",
        ));
    }
    let name = request
        .model
        .clone()
        .or_else(|| request.models.as_ref().and_then(|m| m.first().cloned()))
        .ok_or_else(|| ApiError::field("model", "`model` is required"))?;
    let mut target = resolve_model(&state, &name)?;
    target.retain_dialect("openai");
    if target.endpoints.is_empty() {
        return Err(ApiError::field(
            "prompt",
            format!(
                "no endpoint of `{name}` accepts several prompts or token ids; send one text prompt"
            ),
        ));
    }
    // A sure bound: every prompt's bytes (a token id is at most a few
    // bytes of JSON, and at least one).
    let prompt_tokens = serde_json::to_vec(&request.prompt).map_or(0, |v| v.len() as u64);
    let choices = prompt_count(&request.prompt) * crate::validate::choices(&request.extra)?;
    for p in &mut target.endpoints {
        p.bound = Bound {
            prompt_tokens,
            output_tokens: Bound::output_tokens(request.max_tokens, choices, &p.endpoint),
            images: 0,
            ..Bound::default()
        };
    }
    if let Err(limited) = pipeline::admit(&state, &key, &target).await {
        return Ok(limited);
    }
    let hold = hold::place(&state, &key, &target).await?;
    let created = ids::now_unix();
    let id = ids::generation_id(created);
    let generation = Generation {
        state: state.clone(),
        hold,
        id: id.clone(),
        ctx,
        api_type: ApiType::Completions,
        external_user: request.user.clone(),
        images: 0,
        measured: None,
    };
    let request = Arc::new(request);
    let served = match first_success(&state, &target, true, |provider, ep| {
        let call = CompletionCall::new(ep.upstream_model.clone(), request.clone());
        async move { provider.completion(call).await.map(|v| (v, false)) }
    })
    .await
    {
        Ok(s) => s,
        Err((e, attempts)) => {
            generation.failed(&target.model, &attempts, &e, false).await;
            return Ok(failed(e, &attempts));
        }
    };
    let by = ServedBy::of(&served);
    let Served {
        value: mut answer,
        model,
        provider_name,
        attempts,
        ..
    } = served;
    answer.id.clone_from(&id);
    answer.created = created;
    answer.model.clone_from(&model);
    answer.provider = Some(provider_name);
    let usage = answer
        .usage
        .take()
        .map(|u| u.normalized())
        .unwrap_or_default();
    let first = answer.choices.first();
    let outcome = Outcome {
        finish_reason: first.and_then(|c| c.finish_reason.clone()),
        native_finish_reason: first.and_then(|c| c.native_finish_reason.clone()),
        served: Some(by.clone()),
        model,
        usage,
        ending: Some(Ending::Succeeded),
        attempts: attempts.clone(),
        ..Outcome::default()
    };
    answer.usage = Some(generation.finish(outcome).await.usage);
    generation_json(&answer, &id, &by.endpoint.provider, &attempts)
}

/// Prompts in a legacy request: each gets its own completion(s).
fn prompt_count(prompt: &Prompt) -> u64 {
    match prompt {
        Prompt::Texts(t) => t.len().max(1) as u64,
        Prompt::TokenBatches(b) => b.len().max(1) as u64,
        _ => 1,
    }
}
