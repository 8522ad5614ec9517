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
use tollgate_schema::usage::Usage;
use tollgate_transport::CompletionCall;

use super::chat::serve_chat;
use crate::error::ApiError;
use crate::pipeline::billing::{self, Needs};
use crate::pipeline::record::RequestContext;
use crate::pipeline::shape::Shape;
use crate::pipeline::{first_success, resolve_model};
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
    match single_prompt(&request.prompt) {
        Some(prompt) => {
            let ctx = RequestContext::new(&key, &headers);
            serve_chat(state, key, ctx, as_chat(&request, prompt), Shape::Text).await
        }
        None => passthrough(state, key, request).await,
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
    request: CompletionRequest,
) -> Result<Response, ApiError> {
    let arrived = std::time::Instant::now();
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
    let prompt_bytes = serde_json::to_vec(&request.prompt).map_or(0, |v| v.len() as u64);
    let needs = Needs {
        prompt_tokens: prompt_bytes,
        max_output_tokens: request.max_tokens,
        images: 0,
    };
    let hold = billing::place(&state, &key, &target, needs).await?;
    let request = Arc::new(request);
    let served = match first_success(&state, &target, |provider, ep| {
        let call = CompletionCall::new(ep.upstream_model.clone(), request.clone());
        async move { provider.completion(call).await.map(|v| (v, false)) }
    })
    .await
    {
        Ok(s) => s,
        Err((e, attempts)) => {
            billing::release(&state, &hold).await;
            return Ok(failed(e, &attempts));
        }
    };
    let created = ids::now_unix();
    let id = ids::generation_id(created);
    let mut answer = served.value.clone();
    answer.id.clone_from(&id);
    answer.created = created;
    answer.model.clone_from(&served.model);
    answer.provider = Some(served.provider_name.clone());
    let usage = answer
        .usage
        .take()
        .map(|u| u.normalized())
        .unwrap_or_default();
    let cost = billing::settle(
        &state,
        &hold,
        &served.endpoint,
        &usage,
        0,
        Ending::Succeeded,
        false,
        &id,
    )
    .await
    .charge;
    state.metrics.finished(&crate::observe::Finished {
        endpoint: &served.endpoint,
        ending: Ending::Succeeded,
        usage: Some(&usage),
        cost,
        ttft: None,
        duration: arrived.elapsed(),
    });
    answer.usage = Some(Usage {
        cost: Some(cost),
        ..usage
    });
    generation_json(&answer, &id, &served.endpoint.provider, &served.attempts)
}
