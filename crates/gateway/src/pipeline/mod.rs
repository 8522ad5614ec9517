//! The generation lifecycle: every model-calling request (chat, legacy
//! completions, Anthropic messages, embeddings) goes through the same named stages.
//!
//! 1. [`prepare`]: validate, normalise, measure and plan, from one catalog
//!    snapshot; each planned endpoint gets its [`hold::Bound`] (the prompt
//!    as shaped for it, its output cap times `n`).
//! 2. **admit**: the rate limits (`crate::limits`), before any money moves.
//! 3. [`hold`]: the most the request can cost, held in a [`hold::HoldGuard`]
//!    that is settled or released exactly once, and released when dropped.
//! 4. [`execute`]: the attempt loop, failing over on retryable errors.
//! 5. [`finish`]: one finisher for every answer shape: usage clamped to
//!    the bound, the hold settled, metrics, the generation record. The
//!    ingress (`crate::ingress`) encodes the finished answer in its wire
//!    shape; a stream is relayed by [`sse`] (framed by the ingress's
//!    encoder), cut at its output bound by [`meter`], and finished by the
//!    same finisher.

pub mod byok;
pub mod execute;
pub mod files;
pub mod finish;
pub mod hold;
pub mod meter;
pub mod prepare;
pub mod prompt;
pub mod record;
pub mod shape;
pub mod sse;

use std::sync::Arc;

use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::chat::ChatChunk;
use tollgate_transport::{ChunkStream, Provider, ProviderError};

use crate::error::ApiError;
use crate::state::{AppState, Routes};

pub use execute::{complete, first_success, open_stream};
pub use prepare::{prepare, resolve_model};

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
    /// The request's moderation ([`crate::moderation::screen`] sets it):
    /// what moderated endpoints are checked against, once per request.
    pub screen: Option<Arc<crate::moderation::Screen>>,
}

/// One planned attempt.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The model id the answer names (`model`): as the client named it,
    /// or the model a router (`openrouter/auto`) chose.
    pub model: String,
    /// The endpoint (shared: an endpoint is large, and every attempt and
    /// the served answer refer to it).
    pub endpoint: Arc<CatalogEndpoint>,
    /// What the request may produce there: the hold covers it and no
    /// charge exceeds it.
    pub bound: hold::Bound,
    /// The router that chose the model (`openrouter/auto`), if one did.
    pub router: Option<String>,
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
                    bound: hold::Bound::default(),
                    router: None,
                })
                .collect(),
            routes,
            screen: None,
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
    pub(crate) fn adapter(&self, ep: &CatalogEndpoint) -> Result<&Arc<dyn Provider>, ApiError> {
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
        Attempt {
            provider: provider.to_string(),
            outcome: e.label().into_owned(),
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
    /// What the request may produce there.
    pub bound: hold::Bound,
    /// The provider's display name.
    pub provider_name: String,
    /// Every try, the last one successful.
    pub attempts: Vec<Attempt>,
    /// The router that chose the model, if one did.
    pub router: Option<String>,
    /// When the successful attempt began.
    pub started: std::time::Instant,
}

impl<T> Served<T> {
    /// The same service, its answer turned by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            is_byok: self.is_byok,
            model: self.model,
            endpoint: self.endpoint,
            bound: self.bound,
            provider_name: self.provider_name,
            attempts: self.attempts,
            router: self.router,
            started: self.started,
        }
    }
}

/// An opened stream: its first chunk already read (so a failure before it
/// could still fail over), and the rest.
pub struct OpenStream {
    /// The first upstream chunk.
    pub first: Box<ChatChunk>,
    /// The remaining chunks.
    pub rest: ChunkStream,
}

/// Stage 2, **admit**: the rate limits (free-model and surge limits, and
/// the credit-based request rate), before any hold or upstream call; a
/// refusal (429) costs nothing and counts nowhere.
pub async fn admit(
    state: &AppState,
    key: &tollgate_store::ApiKey,
    target: &Target,
) -> Result<(), axum::response::Response> {
    use axum::response::IntoResponse;
    let is_free = target
        .endpoints
        .first()
        .is_some_and(|p| p.endpoint.is_free());
    state
        .limiter
        .admit(
            &state.store,
            &state.credit_tiers,
            &key.account_id,
            key.limit.map(|_| key.hash.as_str()),
            is_free,
        )
        .await
        .map(drop)
        .map_err(IntoResponse::into_response)
}
