//! Recording generations (`GET /generation`, `/activity`), off the response
//! path: the record is queued to the books' writer once the answer (or the
//! stream) is over and written in its next batch, so it never delays a byte
//! to the client.

use std::sync::Arc;
use std::time::Instant;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::chat::{ChatRequest, ContentPart, MessageContent};
use tollgate_schema::usage::Usage;
use tollgate_store::{ApiKey, ApiType, GenerationAttempt, GenerationRecord};

use super::Attempt;
use crate::state::AppState;

/// What is known of a request before it is served.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The account.
    pub account_id: String,
    /// The key used.
    pub api_key_hash: String,
    /// When it arrived.
    pub started: Instant,
    /// When it arrived, wall clock.
    pub created_at: DateTime<Utc>,
    /// `HTTP-Referer`.
    pub origin: Option<String>,
    /// `X-OpenRouter-Title` or `X-Title`.
    pub app_title: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `x-request-id`, as the observe layer made it.
    pub request_id: Option<String>,
    /// The request's moderation, once planned (its latency goes into the
    /// record).
    pub moderation: Option<Arc<crate::moderation::Screen>>,
    /// The request's `session_id`, else its `x-session-id` header (the
    /// body wins, as the OpenAPI document says), at most 256 characters.
    pub session_id: Option<String>,
    /// Media items in the prompt (`num_media_prompt`): images, files,
    /// audio and video parts; set by the chat pipeline.
    pub num_media_prompt: Option<u64>,
}

impl RequestContext {
    /// The context of a request authenticated with `key`.
    pub fn new(key: &ApiKey, headers: &HeaderMap) -> RequestContext {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(512).collect::<String>())
        };
        RequestContext {
            account_id: key.account_id.clone(),
            api_key_hash: key.hash.clone(),
            started: Instant::now(),
            created_at: Utc::now(),
            origin: header("http-referer"),
            app_title: header("x-openrouter-title").or_else(|| header("x-title")),
            user_agent: header("user-agent"),
            request_id: crate::observe::request_id(headers).map(str::to_owned),
            moderation: None,
            session_id: header("x-session-id").map(|s| session_id(&s)),
            num_media_prompt: None,
        }
    }

    /// Takes what the chat request itself says: its `session_id` (over the
    /// header) and its media parts.
    pub fn with_request(mut self, request: &ChatRequest) -> RequestContext {
        if let Some(id) = request.session_id.as_deref() {
            self.session_id = Some(session_id(id));
        }
        self.num_media_prompt = Some(count_media(request));
        self
    }
}

/// A session id as kept: at most 256 characters (the OpenAPI's `maxLength`).
fn session_id(s: &str) -> String {
    s.chars().take(256).collect()
}

/// Image, file, audio and video parts of the prompt.
fn count_media(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .flatten()
        .filter_map(|m| match &m.content {
            Some(MessageContent::Parts(parts)) => Some(parts),
            _ => None,
        })
        .flatten()
        .filter(|p| {
            matches!(
                p,
                ContentPart::ImageUrl(_)
                    | ContentPart::File(_)
                    | ContentPart::InputAudio(_)
                    | ContentPart::VideoUrl(_)
            )
        })
        .count() as u64
}

/// The outcome of one generation, as the record needs it.
#[derive(Debug, Clone, Default)]
pub struct Ending {
    /// The model id the client used for the endpoint that answered.
    pub model: String,
    /// The endpoint that answered, if any did.
    pub endpoint: Option<std::sync::Arc<CatalogEndpoint>>,
    /// Its provider's display name.
    pub provider_name: String,
    /// Usage as billed.
    pub usage: Option<Usage>,
    /// The charge.
    pub cost: Decimal,
    /// The cost at the provider's prices (what a BYOK key paid upstream).
    pub upstream_cost: Decimal,
    /// Whether the account's own provider key served it.
    pub is_byok: bool,
    /// Finish reason and the provider's own.
    pub finish_reason: Option<String>,
    /// The provider's own finish reason.
    pub native_finish_reason: Option<String>,
    /// Streamed?
    pub streamed: bool,
    /// The client went away first?
    pub cancelled: bool,
    /// What failed, if it did.
    pub error: Option<String>,
    /// Time to the first token (streams) or to the answer.
    pub latency_ms: Option<u64>,
    /// What middle-out did.
    pub transforms: Option<serde_json::Value>,
    /// Web-search results got, when a search ran.
    pub num_search_results: Option<u64>,
    /// The engine searched (`exa`, `searxng`).
    pub web_search_engine: Option<String>,
    /// The router that chose the model (`openrouter/auto`), if one did.
    pub router: Option<String>,
    /// The provider's id of its response.
    pub upstream_id: Option<String>,
}

/// Queues the record of generation `id` for the books' writer.
pub fn spawn(
    state: Arc<AppState>,
    id: &str,
    ctx: &RequestContext,
    api_type: ApiType,
    external_user: Option<String>,
    attempts: &[Attempt],
    ending: Ending,
) {
    let usage = ending.usage.clone().unwrap_or_default();
    let provider = ending
        .endpoint
        .as_ref()
        .map(|e| e.provider.clone())
        .unwrap_or_default();
    let cache_discount = ending.endpoint.as_ref().and_then(|ep| {
        let billable = tollgate_billing::BillableUsage::from_usage(&usage, 0, 0);
        tollgate_billing::cache_discount(&ep.pricing, &billable)
            .ok()
            .flatten()
            .map(tollgate_billing::round_charge)
    });
    let record = GenerationRecord {
        id: id.to_string(),
        account_id: ctx.account_id.clone(),
        api_key_hash: ctx.api_key_hash.clone(),
        model: ending.model,
        provider,
        provider_name: ending.provider_name,
        upstream_id: text(ending.upstream_id),
        created_at: ctx.created_at,
        streamed: ending.streamed,
        cancelled: ending.cancelled,
        finish_reason: text(ending.finish_reason),
        native_finish_reason: text(ending.native_finish_reason),
        tokens_prompt: usage.prompt_tokens,
        tokens_completion: usage.completion_tokens,
        native_tokens_prompt: Some(usage.prompt_tokens),
        native_tokens_completion: Some(usage.completion_tokens),
        native_tokens_reasoning: Some(usage.reasoning_tokens()),
        native_tokens_cached: Some(usage.cached_tokens()),
        native_tokens_cache_write: usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cache_write_tokens),
        total_cost: ending.cost,
        upstream_inference_cost: Some(ending.upstream_cost),
        is_byok: ending.is_byok,
        latency_ms: ending.latency_ms,
        generation_time_ms: Some(
            u64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ),
        attempts: attempts
            .iter()
            .map(|a| GenerationAttempt {
                provider: a.provider.clone(),
                outcome: a.outcome.clone(),
            })
            .collect(),
        transforms: ending.transforms,
        request_id: ctx.request_id.clone(),
        api_type,
        origin: text(ctx.origin.clone()),
        app_title: text(ctx.app_title.clone()),
        external_user: text(external_user),
        user_agent: text(ctx.user_agent.clone()),
        error: text(ending.error),
        num_search_results: ending.num_search_results,
        web_search_engine: ending.web_search_engine,
        router: ending.router,
        moderation_latency_ms: ctx.moderation.as_ref().and_then(|m| m.latency_ms()),
        cache_discount,
        num_media_prompt: ctx.num_media_prompt,
        session_id: text(ctx.session_id.clone()),
    };
    state.books.record(record);
}

/// Text from a client or an upstream as the record keeps it: PostgreSQL
/// refuses a NUL in text (the whole batch would fail), so each is written
/// as U+FFFD.
fn text(s: Option<String>) -> Option<String> {
    match s {
        Some(s) if s.contains('\0') => Some(s.replace('\0', "\u{fffd}")),
        other => other,
    }
}
