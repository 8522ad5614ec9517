//! `POST /embeddings`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use tollgate_billing::Ending;
use tollgate_schema::embeddings::{EmbeddingInput, EmbeddingRequest, EmbeddingUsage};
use tollgate_schema::from_json_slice;
use tollgate_schema::usage::Usage;
use tollgate_transport::EmbedCall;

use crate::error::ApiError;
use crate::pipeline::billing::{self, Needs};
use crate::pipeline::{first_success, resolve_model};
use crate::routes::{failed, generation_json};
use crate::state::AppState;
use crate::{auth, ids};

/// Embeds one or several inputs with the first endpoint that answers.
pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let arrived = std::time::Instant::now();
    let key = auth::authenticate(&state.store, &state.keys, &headers).await?;
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    let request: EmbeddingRequest = from_json_slice(&body)?;
    validate(&request)?;
    let mut target = resolve_model(&state, &request.model)?;
    target.retain(|e| e.output_modalities.iter().any(|m| m == "embeddings"));
    if target.endpoints.is_empty() {
        return Err(ApiError::field(
            "model",
            format!(
                "`{}` does not produce embeddings; pick an embeddings model",
                request.model
            ),
        ));
    }
    let estimate = estimate_tokens(&request.input);
    let needs = Needs {
        prompt_tokens: upper_bound(&request.input),
        max_output_tokens: Some(0),
        images: 0,
    };
    let is_free = target.endpoints.iter().all(|p| p.endpoint.is_free());
    if let Err(limited) = state
        .limiter
        .admit(&state.store, &state.credit_tiers, &key.account_id, is_free)
        .await
    {
        return Ok(limited.into_response());
    }
    let hold = billing::place(&state, &key, &target, needs).await?;
    let request = Arc::new(request);
    let served = match first_success(&state, &target, |provider, ep| {
        let call = EmbedCall::new(ep.upstream_model.clone(), request.clone());
        async move { provider.embed(call).await.map(|v| (v, false)) }
    })
    .await
    {
        Ok(s) => s,
        Err((e, attempts)) => {
            billing::release(&state, &hold).await;
            return Ok(failed(e, &attempts));
        }
    };
    let id = ids::generation_id(ids::now_unix());
    let mut answer = served.value.clone();
    answer.id = Some(id.clone());
    answer.object = String::from("list");
    answer.model.clone_from(&served.model);
    if answer.usage.is_none() {
        // Some providers (Gemini) report no usage for embeddings.
        answer.usage = Some(EmbeddingUsage {
            prompt_tokens: estimate,
            total_tokens: estimate,
            ..EmbeddingUsage::default()
        });
    }
    if let Some(usage) = &mut answer.usage {
        let billed = Usage::new(usage.prompt_tokens, 0);
        let cost = billing::settle(
            &state,
            &hold,
            &served.endpoint,
            &billed,
            0,
            Ending::Embedded,
            false,
            &id,
        )
        .await
        .charge;
        usage.cost = Some(cost);
        state.metrics.finished(&crate::observe::Finished {
            endpoint: &served.endpoint,
            ending: Ending::Embedded,
            usage: Some(&billed),
            cost,
            ttft: None,
            duration: arrived.elapsed(),
        });
    }
    generation_json(&answer, &id, &served.endpoint.provider, &served.attempts)
}

fn validate(request: &EmbeddingRequest) -> Result<(), ApiError> {
    let empty = match &request.input {
        EmbeddingInput::Text(t) => t.is_empty(),
        EmbeddingInput::Texts(t) => t.is_empty() || t.iter().any(String::is_empty),
        EmbeddingInput::Tokens(t) => t.is_empty(),
        EmbeddingInput::TokenBatches(b) => b.is_empty() || b.iter().any(Vec::is_empty),
        EmbeddingInput::Multimodal(m) => m.is_empty(),
    };
    if empty {
        return Err(ApiError::field(
            "input",
            "`input` must not be empty (nor hold an empty item)",
        ));
    }
    if let Some(f) = &request.encoding_format
        && f != "float"
        && f != "base64"
    {
        return Err(ApiError::field(
            "encoding_format",
            format!("`encoding_format` must be \"float\" or \"base64\", got \"{f}\""),
        ));
    }
    if request.dimensions == Some(0) {
        return Err(ApiError::field(
            "dimensions",
            "`dimensions` must be 1 or above",
        ));
    }
    Ok(())
}

/// An upper bound of the input's tokens for the hold: a token is at least
/// one byte.
fn upper_bound(input: &EmbeddingInput) -> u64 {
    match input {
        EmbeddingInput::Text(t) => t.len() as u64,
        EmbeddingInput::Texts(t) => t.iter().map(|s| s.len() as u64).sum(),
        EmbeddingInput::Multimodal(m) => m.iter().map(|v| v.to_string().len() as u64).sum(),
        tokens => estimate_tokens(tokens),
    }
}

/// Four characters a token, or one per token id: only used when the
/// provider reports no usage.
fn estimate_tokens(input: &EmbeddingInput) -> u64 {
    match input {
        EmbeddingInput::Text(t) => t.len().div_ceil(4) as u64,
        EmbeddingInput::Texts(t) => t.iter().map(|s| s.len().div_ceil(4) as u64).sum(),
        EmbeddingInput::Tokens(t) => t.len() as u64,
        EmbeddingInput::TokenBatches(b) => b.iter().map(|t| t.len() as u64).sum(),
        EmbeddingInput::Multimodal(m) => m.len() as u64,
    }
}
