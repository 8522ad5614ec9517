//! Stage 4, **execute**: try the planned endpoints in order, failing over
//! on retryable provider errors before anything reached the client.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tollgate_catalog::CatalogEndpoint;
use tollgate_routing::Outcome;
use tollgate_schema::chat::{ChatCompletion, ChatRequest};
use tollgate_transport::{ChatCall, Provider, ProviderError};

use super::{Attempt, OpenStream, Planned, Served, Target, byok, prompt};
use crate::error::ApiError;
use crate::state::AppState;

fn call(
    ep: &CatalogEndpoint,
    provider: &Arc<dyn Provider>,
    request: &Arc<ChatRequest>,
    measured: &prompt::Measured,
) -> Result<ChatCall, ProviderError> {
    let fitted = prompt::fit(request, measured, ep, provider.dialect()).map_err(|message| {
        ProviderError::new(
            ep.provider.clone(),
            provider.name().to_string(),
            tollgate_transport::ErrorKind::Unsupported,
            message,
        )
    })?;
    let call = ChatCall::new(ep.upstream_model.clone(), for_endpoint(&fitted, ep));
    Ok(match u32::try_from(ep.max_output_tokens) {
        Ok(cap) if cap > 0 => call.with_max_output_tokens(cap),
        _ => call,
    })
}

/// Tries `target`'s endpoints in order with `op` until one succeeds.
/// `timed`: the success is recorded with the attempt's duration as its
/// latency (an answer read whole); a stream's is recorded untimed, and its
/// time to first token when it ends (`Generation::finish`).
///
/// A retryable provider error moves on to the next endpoint; a
/// non-retryable one (the request itself is wrong) stops and is returned.
/// Every try is recorded in the returned attempts.
pub async fn first_success<T, F, Fut>(
    state: &AppState,
    target: &Target,
    timed: bool,
    mut op: F,
) -> Result<Served<T>, (ApiError, Vec<Attempt>)>
where
    F: FnMut(Arc<dyn Provider>, Arc<CatalogEndpoint>) -> Fut,
    Fut: Future<Output = Result<(T, bool), ProviderError>>,
{
    crate::observe::span_model(&target.model);
    let mut attempts = Vec::new();
    let mut last: Option<ApiError> = None;
    // The endpoint that just failed, counted as a fallback once another is
    // actually tried.
    let mut failed_over: Option<&CatalogEndpoint> = None;
    let began = Instant::now();
    let budget = std::time::Duration::from_secs_f64(state.server.failover_budget_secs);
    for planned in &target.endpoints {
        let Planned {
            model,
            endpoint: ep,
            bound,
            router,
        } = planned;
        if !attempts.is_empty() && began.elapsed() >= budget {
            tracing::info!(
                budget_secs = budget.as_secs_f64(),
                "failover budget spent; no further endpoint is tried"
            );
            break;
        }
        let provider = target
            .adapter(ep)
            .map_err(|e| (e, attempts.clone()))?
            .clone();
        let provider_name = provider.name().to_string();
        // Boxed: a moderation call's state (an HTTP exchange) would
        // otherwise be part of every attempt's, a stream's included while it
        // waits on its provider.
        if ep.is_moderated
            && let Some(refused) = Box::pin(crate::moderation::check(
                state,
                target.screen.as_deref(),
                planned,
            ))
            .await
        {
            attempts.push(Attempt {
                provider: ep.provider.clone(),
                outcome: String::from(crate::moderation::SKIPPED),
            });
            last = Some(refused);
            continue;
        }
        if let Some(from) = failed_over.take() {
            state.metrics.fallback(from);
        }
        let started = Instant::now();
        match op(provider, ep.clone()).await {
            Ok((value, is_byok)) => {
                let latency = started.elapsed();
                let outcome = Outcome::success();
                state.record(
                    ep,
                    &if timed {
                        outcome.with_latency(latency)
                    } else {
                        outcome
                    },
                );
                state.metrics.attempt_succeeded(ep, latency);
                crate::observe::span_provider(&ep.provider);
                attempts.push(Attempt {
                    provider: ep.provider.clone(),
                    outcome: String::from("ok"),
                });
                return Ok(Served {
                    value,
                    is_byok,
                    model: model.clone(),
                    endpoint: ep.clone(),
                    bound: *bound,
                    provider_name,
                    attempts,
                    router: router.clone(),
                    started,
                });
            }
            Err(e) => {
                let e = state.redact(e);
                tracing::info!(provider = %ep.provider, error = %e, detail = e.detail(), retryable = e.is_retryable(), "attempt failed");
                state.metrics.attempt_failed(ep, &e);
                failed_over = Some(ep);
                if e.counts_against_health() {
                    let mut outcome = Outcome::failure(e.status()).with_latency(started.elapsed());
                    if let Some(after) = e.retry_after() {
                        outcome = outcome.with_retry_after(after);
                    }
                    state.record(ep, &outcome);
                }
                attempts.push(Attempt::failed(&ep.provider, &e));
                let retry = e.is_retryable();
                last = Some(match e.refusal() {
                    Some(refusal) => crate::moderation::provider_refused(
                        &e,
                        refusal,
                        planned,
                        target.screen.as_deref(),
                    ),
                    None => ApiError::Provider(e),
                });
                if !retry {
                    break;
                }
            }
        }
    }
    let err = last.unwrap_or_else(|| ApiError::NoEndpoint {
        status: 503,
        message: format!("no endpoint is available for model `{}`", target.model),
    });
    Err((err, attempts))
}

/// The request as one endpoint receives it: sampling parameters the
/// endpoint does not list are dropped (api-reference: "the parameter is
/// ignored"), so providers never reject what the client may send anywhere.
/// `provider.require_parameters` keeps such endpoints out of the plan
/// instead.
fn for_endpoint(request: &Arc<ChatRequest>, ep: &CatalogEndpoint) -> Arc<ChatRequest> {
    let unsupported = |name: &str| !ep.supported_parameters.contains(name);
    let r = request.as_ref();
    let drops = [
        ("temperature", r.temperature.is_some()),
        ("top_p", r.top_p.is_some()),
        ("top_k", r.top_k.is_some()),
        ("min_p", r.min_p.is_some()),
        ("top_a", r.top_a.is_some()),
        ("frequency_penalty", r.frequency_penalty.is_some()),
        ("presence_penalty", r.presence_penalty.is_some()),
        ("repetition_penalty", r.repetition_penalty.is_some()),
        ("seed", r.seed.is_some()),
        ("logit_bias", r.logit_bias.is_some()),
        ("logprobs", r.logprobs.is_some()),
        ("top_logprobs", r.top_logprobs.is_some()),
    ];
    if !drops.iter().any(|(name, used)| *used && unsupported(name)) {
        return request.clone();
    }
    let mut r = r.clone();
    macro_rules! drop_if {
        ($($field:ident),*) => {$(
            if unsupported(stringify!($field)) {
                r.$field = None;
            }
        )*};
    }
    drop_if!(
        temperature,
        top_p,
        top_k,
        min_p,
        top_a,
        frequency_penalty,
        presence_penalty
    );
    drop_if!(repetition_penalty, seed, logit_bias, logprobs, top_logprobs);
    Arc::new(r)
}

/// `call` with the account's own key, when `keys` gave one.
fn with_key(call: &ChatCall, key: Option<String>) -> ChatCall {
    match key {
        Some(k) => call.clone().with_api_key(k),
        None => call.clone(),
    }
}

/// Non-streaming chat: the first endpoint that answers wins.
pub async fn complete(
    state: &AppState,
    target: &Target,
    request: Arc<ChatRequest>,
    measured: &prompt::Measured,
    keys: &byok::Keys,
) -> Result<Served<ChatCompletion>, (ApiError, Vec<Attempt>)> {
    first_success(state, target, true, |provider, ep| {
        let call = call(&ep, &provider, &request, measured);
        let keys = keys.clone();
        async move {
            let call = call?;
            keys.call(&ep.provider, |key| {
                let call = with_key(&call, key);
                let provider = provider.clone();
                async move { provider.chat(call).await }
            })
            .await
        }
    })
    .await
}

/// Streaming chat: the first endpoint whose stream yields a first chunk
/// wins; failures before that chunk fail over like non-streaming ones.
pub async fn open_stream(
    state: Arc<AppState>,
    target: Target,
    request: Arc<ChatRequest>,
    measured: prompt::Measured,
    keys: byok::Keys,
) -> Result<Served<OpenStream>, (ApiError, Vec<Attempt>)> {
    first_success(&state, &target, false, |provider, ep| {
        let call = call(&ep, &provider, &request, &measured);
        let keys = keys.clone();
        async move {
            let call = call?;
            keys.call(&ep.provider, |key| {
                let call = with_key(&call, key);
                let provider = provider.clone();
                let slug = ep.provider.clone();
                async move {
                    let mut stream = provider.chat_stream(call).await?;
                    match stream.next().await {
                        Some(Ok(first)) => Ok(OpenStream {
                            first,
                            rest: stream,
                        }),
                        Some(Err(e)) => Err(e),
                        None => Err(ProviderError::new(
                            slug,
                            provider.name().to_string(),
                            tollgate_transport::ErrorKind::InvalidResponse,
                            "the stream ended before its first chunk",
                        )),
                    }
                }
            })
            .await
        }
    })
    .await
}
