//! `POST /embeddings`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::Response;
use tollgate_billing::Ending;
use tollgate_schema::embeddings::{EmbeddingInput, EmbeddingRequest, EmbeddingUsage};
use tollgate_schema::from_json_slice;
use tollgate_schema::usage::Usage;
use tollgate_store::ApiType;
use tollgate_transport::EmbedCall;

use crate::error::ApiError;
use crate::pipeline::finish::{Generation, Outcome, ServedBy};
use crate::pipeline::hold::{self, Bound};
use crate::pipeline::record::RequestContext;
use crate::pipeline::{self, Served, first_success, resolve_model};
use crate::routes::{failed, generation_json};
use crate::state::AppState;
use crate::{auth, ids};

/// Embeds one or several inputs with the first endpoint that answers.
pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
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
    let bound = Bound {
        prompt_tokens: upper_bound(&request.input),
        output_tokens: 0,
        images: 0,
        ..Bound::default()
    };
    for p in &mut target.endpoints {
        p.bound = bound;
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
        ctx: RequestContext::new(&key, &headers),
        api_type: ApiType::Embeddings,
        external_user: request.user.clone(),
        images: 0,
        measured: None,
    };
    let request = Arc::new(request);
    let served = match first_success(&state, &target, true, |provider, ep| {
        let call = EmbedCall::new(ep.upstream_model.clone(), request.clone());
        async move { provider.embed(call).await.map(|v| (v, false)) }
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
        attempts,
        ..
    } = served;
    answer.id = Some(id.clone());
    answer.object = String::from("list");
    answer.model.clone_from(&model);
    // Some providers (Gemini) report no usage for embeddings.
    let mut usage = answer.usage.take().unwrap_or_else(|| EmbeddingUsage {
        prompt_tokens: estimate,
        total_tokens: estimate,
        ..EmbeddingUsage::default()
    });
    let outcome = Outcome {
        served: Some(by.clone()),
        model,
        usage: Usage::new(usage.prompt_tokens, 0),
        ending: Some(Ending::Embedded),
        attempts: attempts.clone(),
        ..Outcome::default()
    };
    let finished = generation.finish(outcome).await;
    usage.prompt_tokens = finished.usage.prompt_tokens;
    usage.total_tokens = usage.total_tokens.min(finished.usage.prompt_tokens);
    usage.cost = Some(finished.settled.charge);
    answer.usage = Some(usage);
    generation_json(&answer, &id, &by.endpoint.provider, &attempts)
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
