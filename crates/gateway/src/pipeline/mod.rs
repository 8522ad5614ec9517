//! Executing a chat request: try the model's endpoints in order, failing
//! over on retryable provider errors before anything reached the client.

pub mod billing;
pub mod byok;
pub mod prompt;
pub mod record;
pub mod shape;
pub mod sse;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tollgate_catalog::{CatalogEndpoint, ModelId};
use tollgate_routing::{Outcome, RouteRequest};
use tollgate_schema::chat::{ChatChunk, ChatCompletion, ChatRequest};
use tollgate_transport::{ChatCall, ChunkStream, Provider, ProviderError};

use crate::error::ApiError;
use crate::state::{AppState, Routes};

/// What to call: the endpoints to try, first to last, each with the model
/// id the client used for it (model fallbacks mix models in one target).
#[derive(Debug, Clone)]
pub struct Target {
    /// The model(s) as the client named them, for messages.
    pub model: String,
    /// The attempts to make, in order.
    pub endpoints: Vec<Planned>,
    /// The catalog snapshot the endpoints come from, whose adapters call
    /// them: a reload meanwhile does not change what this request uses.
    pub routes: Arc<Routes>,
}

/// One planned attempt.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The model id as the client named it (returned in `model`).
    pub model: String,
    /// The endpoint (shared: an endpoint is large, and every attempt and
    /// the served answer refer to it).
    pub endpoint: Arc<CatalogEndpoint>,
}

impl Target {
    /// Every endpoint of one model, in catalog order (for endpoints the
    /// router does not plan: embeddings, legacy passthrough).
    pub fn all_of(model: &str, endpoints: &[CatalogEndpoint], routes: Arc<Routes>) -> Target {
        Target {
            model: model.to_string(),
            endpoints: endpoints
                .iter()
                .map(|e| Planned {
                    model: model.to_string(),
                    endpoint: Arc::new(e.clone()),
                })
                .collect(),
            routes,
        }
    }

    /// Keeps only the endpoints `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&CatalogEndpoint) -> bool) {
        self.endpoints.retain(|p| keep(&p.endpoint));
    }

    /// Keeps only the endpoints whose adapter speaks `dialect`.
    pub fn retain_dialect(&mut self, dialect: &str) {
        let providers = &self.routes.providers;
        self.endpoints.retain(|p| {
            providers
                .get(&p.endpoint.provider)
                .is_some_and(|a| a.dialect() == dialect)
        });
    }

    /// The adapter calling `ep`.
    fn adapter(&self, ep: &CatalogEndpoint) -> Result<&Arc<dyn Provider>, ApiError> {
        self.routes
            .providers
            .get(&ep.provider)
            .ok_or_else(|| ApiError::Internal(format!("no adapter for provider `{}`", ep.provider)))
    }
}

/// One try at one endpoint, for logs and headers.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Provider slug.
    pub provider: String,
    /// What happened: `ok` or the error status/kind.
    pub outcome: String,
}

impl Attempt {
    fn failed(provider: &str, e: &ProviderError) -> Self {
        use tollgate_transport::ErrorKind;
        let outcome = match e.kind() {
            ErrorKind::Status { status } => status.to_string(),
            ErrorKind::Connect => String::from("connect"),
            ErrorKind::Timeout => String::from("timeout"),
            ErrorKind::InvalidResponse => String::from("invalid"),
            ErrorKind::StreamInterrupted { .. } => String::from("interrupted"),
            ErrorKind::Unsupported => String::from("unsupported"),
        };
        Attempt {
            provider: provider.to_string(),
            outcome,
        }
    }
}

/// Renders attempts for the `x-tollgate-attempts` header:
/// `mock-alpha=503,mock-beta=ok`.
pub fn attempts_header(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| format!("{}={}", a.provider, a.outcome))
        .collect::<Vec<_>>()
        .join(",")
}

/// A served answer and who served it.
#[derive(Debug)]
pub struct Served<T> {
    /// The answer.
    pub value: T,
    /// Whether the account's own provider key served it (BYOK).
    pub is_byok: bool,
    /// The model id the client used for the endpoint that answered.
    pub model: String,
    /// The endpoint that answered.
    pub endpoint: Arc<CatalogEndpoint>,
    /// The provider's display name.
    pub provider_name: String,
    /// Every try, the last one successful.
    pub attempts: Vec<Attempt>,
}

/// An opened stream: its first chunk already read (so a failure before it
/// could still fail over), and the rest.
pub struct OpenStream {
    /// The first upstream chunk.
    pub first: ChatChunk,
    /// The remaining chunks.
    pub rest: ChunkStream,
}

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

/// The model named `name` and its endpoints, or a 400 naming the model
/// (or its unknown variant).
pub fn resolve_model(state: &AppState, name: &str) -> Result<Target, ApiError> {
    let id = ModelId::parse(name).map_err(|e| ApiError::field("model", e.to_string()))?;
    let routes = state.routes();
    let model = routes
        .catalog
        .resolve(&id)
        .ok_or_else(|| ApiError::field("model", format!("`{name}` is not a valid model ID")))?;
    if model.endpoints.is_empty() {
        return Err(ApiError::NoEndpoint {
            status: 503,
            message: format!("no endpoint is available for model `{name}`"),
        });
    }
    Ok(Target::all_of(name, &model.endpoints, routes.clone()))
}

fn no_endpoint(target: &Target) -> ApiError {
    ApiError::NoEndpoint {
        status: 503,
        message: format!("no endpoint is available for model `{}`", target.model),
    }
}

/// Tries `target`'s endpoints in order with `op` until one succeeds.
///
/// A retryable provider error moves on to the next endpoint; a
/// non-retryable one (the request itself is wrong) stops and is returned.
/// Every try is recorded in the returned attempts.
pub async fn first_success<T, F, Fut>(
    state: &AppState,
    target: &Target,
    mut op: F,
) -> Result<Served<T>, (ApiError, Vec<Attempt>)>
where
    F: FnMut(Arc<dyn Provider>, Arc<CatalogEndpoint>) -> Fut,
    Fut: Future<Output = Result<(T, bool), ProviderError>>,
{
    crate::observe::span_model(&target.model);
    let mut attempts = Vec::new();
    let mut last: Option<ProviderError> = None;
    // The endpoint that just failed, counted as a fallback once another is
    // actually tried.
    let mut failed_over: Option<&CatalogEndpoint> = None;
    let began = Instant::now();
    let budget = std::time::Duration::from_secs_f64(state.server.failover_budget_secs);
    for Planned {
        model,
        endpoint: ep,
    } in &target.endpoints
    {
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
        if let Some(from) = failed_over.take() {
            state.metrics.fallback(from);
        }
        let started = Instant::now();
        match op(provider, ep.clone()).await {
            Ok((value, is_byok)) => {
                let latency = started.elapsed();
                state.record(ep, &Outcome::success().with_latency(latency));
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
                    provider_name,
                    attempts,
                });
            }
            Err(e) => {
                tracing::info!(provider = %ep.provider, error = %e, retryable = e.is_retryable(), "attempt failed");
                state.metrics.attempt_failed(ep, &e);
                failed_over = Some(ep);
                if is_provider_fault(&e) {
                    let mut outcome = Outcome::failure(e.status()).with_latency(started.elapsed());
                    if let Some(after) = e.retry_after() {
                        outcome = outcome.with_retry_after(after);
                    }
                    state.record(ep, &outcome);
                }
                attempts.push(Attempt::failed(&ep.provider, &e));
                let retry = e.is_retryable();
                last = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    let err = last
        .map(ApiError::Provider)
        .unwrap_or_else(|| no_endpoint(target));
    Err((err, attempts))
}

/// Whether a failure is the provider's (it counts against its health): an
/// outage, overload or rate limit, not a bad request of the client's.
fn is_provider_fault(e: &ProviderError) -> bool {
    use tollgate_transport::ErrorKind;
    match e.kind() {
        ErrorKind::Status { status } => status >= 500 || status == 429 || status == 408,
        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::InvalidResponse => true,
        ErrorKind::StreamInterrupted { .. } => true,
        ErrorKind::Unsupported => false,
    }
}

/// The routing plan of a chat request: endpoints (across `models`
/// fallbacks) in the order to try, per `tollgate-routing`'s policy. When no
/// endpoint qualifies, the error lists why each was excluded.
pub fn plan_chat(
    state: &AppState,
    request: &ChatRequest,
    prompt_tokens: u64,
) -> Result<Target, ApiError> {
    let route = RouteRequest::from_chat(request, prompt_tokens);
    let routes = state.routes();
    let health = state.health();
    let plan = tollgate_routing::plan(
        &route,
        &routes.catalog,
        &health,
        &state.policy,
        &mut rand::rng(),
    )
    .map_err(|e| match e {
        tollgate_routing::Error::NoEndpoint { .. } => ApiError::NoEndpoint {
            status: e.status(),
            message: e.to_string(),
        },
        other if other.status() == 400 => ApiError::field("model", other.to_string()),
        other => ApiError::Internal(other.to_string()),
    })?;
    let label = route.model_chain().join(", ");
    let endpoints = plan
        .attempts
        .iter()
        .map(|a| Planned {
            model: a.requested.to_string(),
            endpoint: Arc::new(a.endpoint.clone()),
        })
        .collect();
    Ok(Target {
        model: label,
        endpoints,
        routes: routes.clone(),
    })
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

/// Non-streaming chat: the first endpoint that answers wins.
pub async fn complete(
    state: &AppState,
    target: &Target,
    request: Arc<ChatRequest>,
    measured: &prompt::Measured,
    keys: &byok::Keys,
) -> Result<Served<ChatCompletion>, (ApiError, Vec<Attempt>)> {
    first_success(state, target, |provider, ep| {
        let call = call(&ep, &provider, &request, measured);
        let keys = keys.clone();
        async move {
            let call = call?;
            keys.call(&ep.provider, |key| {
                let call = match key {
                    Some(k) => call.clone().with_api_key(k),
                    None => call.clone(),
                };
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
    first_success(&state, &target, |provider, ep| {
        let call = call(&ep, &provider, &request, &measured);
        let keys = keys.clone();
        async move {
            let call = call?;
            keys.call(&ep.provider, |key| {
                let call = match key {
                    Some(k) => call.clone().with_api_key(k),
                    None => call.clone(),
                };
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
