//! Stage 1, **prepare**: validate, normalise, measure and plan a chat
//! request, all from one catalog snapshot, and give each planned endpoint
//! the [`Bound`] its hold must cover.

use std::sync::Arc;

use tollgate_catalog::ModelId;
use tollgate_routing::RouteRequest;
use tollgate_schema::chat::{ChatRequest, Message, MessageContent, Role};
use tollgate_transforms::{ByteBound, count_request};

use super::hold::{Bound, count_images};
use super::prompt::{self, Measured};
use super::{Planned, Target};
use crate::error::ApiError;
use crate::state::{AppState, Routes};
use crate::validate;

/// A chat request ready to be admitted, held and executed.
#[derive(Debug)]
pub struct Prepared {
    /// The request, validated and normalised.
    pub request: Arc<ChatRequest>,
    /// Its measure (what middle-out and routing need).
    pub measured: Measured,
    /// The endpoints to try, each with its bound.
    pub target: Target,
    /// Prompt tokens to bill when a provider reports no usage: the exact
    /// count if one was made, else four bytes a token.
    pub prompt_estimate: u64,
    /// Input images.
    pub images: u64,
}

/// Prepares `request` (see the module docs); a 400 names what is wrong, a
/// 404/503 says why no endpoint qualifies.
pub fn prepare(state: &AppState, mut request: ChatRequest) -> Result<Prepared, ApiError> {
    validate::chat_request(&request)?;
    normalize(&mut request);
    // `[routing] default_model` for a request that names no model.
    if request.model.as_deref().is_none_or(str::is_empty)
        && request.models.as_ref().is_none_or(Vec::is_empty)
        && let Some(model) = &state.policy.default_model
    {
        request.model = Some(model.clone());
    }
    let routes = state.routes();
    let mut upper_bound = prompt_bound(&request);
    let mut measured = prompt::measure(&routes, &request, upper_bound);
    let mut target = plan_chat(state, &routes, &request, measured.tokens)?;
    // PDFs become text for endpoints that cannot read them: measure again.
    if super::files::apply(&mut request, &mut target)? {
        upper_bound = prompt_bound(&request);
        measured = prompt::measure(&routes, &request, upper_bound);
    }
    let prompt_estimate = match &measured.count {
        Some(c) => c.total,
        None => estimate_prompt_tokens(&request),
    };
    let images = count_images(&request);
    let request = Arc::new(request);
    bound(
        &mut target,
        &request,
        upper_bound.max(measured.tokens),
        images,
    );
    Ok(Prepared {
        request,
        measured,
        target,
        prompt_estimate,
        images,
    })
}

/// Gives each planned endpoint its bound: the prompt as shaped for it
/// (tools or JSON instructions written into the prompt, names prefixed
/// into content), the request's output cap or the endpoint's, times `n`.
fn bound(target: &mut Target, request: &Arc<ChatRequest>, unshaped: u64, images: u64) {
    let choices = request.choices();
    let requested = request.max_output_tokens();
    for i in 0..target.endpoints.len() {
        let ep = target.endpoints[i].endpoint.clone();
        let dialect = target.adapter(&ep).map_or("openai", |a| a.dialect());
        let (shaped, _) = prompt::shape(request, &ep, dialect);
        let prompt_tokens = if Arc::ptr_eq(&shaped, request) {
            unshaped
        } else {
            prompt_bound(&shaped).max(unshaped)
        };
        target.endpoints[i].bound = Bound {
            prompt_tokens,
            output_tokens: Bound::output_tokens(requested, choices, &ep),
            images,
            ..Bound::default()
        };
    }
}

/// The routing plan of a chat request: endpoints (across `models`
/// fallbacks) in the order to try, per `tollgate-routing`'s policy, from
/// the request's catalog snapshot `routes`. When no endpoint qualifies,
/// the error lists why each was excluded.
pub fn plan_chat(
    state: &AppState,
    routes: &Arc<Routes>,
    request: &ChatRequest,
    prompt_tokens: u64,
) -> Result<Target, ApiError> {
    let route = RouteRequest::from_chat(request, prompt_tokens);
    let health = state.health();
    let plan = tollgate_routing::plan(
        &route,
        &routes.catalog,
        &health,
        &state.policy,
        &mut rand::rng(),
    )
    .map_err(|e| match &e {
        tollgate_routing::Error::NoEndpoint { excluded, .. } => match context_exceeded(excluded) {
            Some((needed, available)) => ApiError::ContextLengthExceeded {
                message: format!(
                    "This model's maximum context length is {available} tokens. However, \
                         the messages and the completion's reserve need {needed} tokens. \
                         Please reduce the length of the messages or completion \
                         (context_length_exceeded: {e})"
                ),
            },
            None => ApiError::NoEndpoint {
                status: e.status(),
                message: e.to_string(),
            },
        },
        other if other.status() == 400 => ApiError::field(other.field(), other.to_string()),
        other => ApiError::Internal(other.to_string()),
    })?;
    let label = route.model_chain().join(", ");
    // a model without text output (embeddings) cannot answer chat
    let answers_text = |ep: &tollgate_catalog::CatalogEndpoint| {
        ep.output_modalities.is_empty() || ep.output_modalities.iter().any(|m| m == "text")
    };
    if let Some(first) = plan.attempts.first()
        && plan.attempts.iter().all(|a| !answers_text(a.endpoint))
    {
        return Err(ApiError::field(
            "model",
            format!(
                "`{}` cannot answer chat: its output is {}, not text (an embeddings \
                 model is called through /api/v1/embeddings)",
                first.requested,
                first.endpoint.output_modalities.join(", ")
            ),
        ));
    }
    let endpoints = plan
        .attempts
        .iter()
        .filter(|a| answers_text(a.endpoint))
        .map(|a| Planned {
            model: a.response_model().to_string(),
            endpoint: Arc::new(a.endpoint.clone()),
            bound: Bound::default(),
            router: a.router().map(str::to_string),
        })
        .collect();
    Ok(Target {
        model: label,
        endpoints,
        routes: routes.clone(),
        screen: None,
    })
}

/// When every endpoint was left out because the prompt did not fit its
/// context: the tokens needed and the largest context there was.
fn context_exceeded(excluded: &[tollgate_routing::Exclusion<'_>]) -> Option<(u64, u64)> {
    let mut found: Option<(u64, u64)> = None;
    for e in excluded {
        let tollgate_routing::ExclusionReason::ContextTooSmall { needed, available } = e.reason
        else {
            return None;
        };
        if found.is_none_or(|(_, best)| available > best) {
            found = Some((needed, available));
        }
    }
    found
}

/// The model named `name` and its endpoints, or a 400 naming the model
/// (or its unknown variant). For endpoints the router does not plan
/// (embeddings, the legacy passthrough); the caller sets the bounds.
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

/// A raw `prompt` becomes one user message for chat providers.
fn normalize(request: &mut ChatRequest) {
    if request.messages.as_ref().is_none_or(Vec::is_empty)
        && let Some(prompt) = request.prompt.take()
    {
        request.messages = Some(vec![Message::text(Role::User, prompt)]);
    }
}

/// A sure upper bound of the prompt's tokens: the cookbook count with one
/// token a byte (no tokenizer makes a token of less than one byte), images,
/// files and audio at their size-based estimates, tools and a response
/// schema included.
pub fn prompt_bound(request: &ChatRequest) -> u64 {
    count_request(request, &ByteBound).total
}

/// A rough prompt size (4 characters a token), used only when a provider
/// reports no usage.
fn estimate_prompt_tokens(request: &ChatRequest) -> u64 {
    let chars: usize = request
        .messages
        .iter()
        .flatten()
        .map(|m| match &m.content {
            Some(MessageContent::Text(t)) => t.len(),
            Some(c @ MessageContent::Parts(_)) => c.text().len(),
            None => 0,
        })
        .sum();
    chars.div_ceil(4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schema::from_json_slice;

    #[test]
    fn the_prompt_bound_counts_tools_names_and_the_format() {
        let plain: ChatRequest =
            from_json_slice(br#"{"model":"m","messages":[{"role":"user","content":"hello"}]}"#)
                .unwrap();
        // 3 framing + "user" (4) + "hello" (5) + 3 priming.
        assert_eq!(prompt_bound(&plain), 15);
        let with_tools: ChatRequest = from_json_slice(
            br#"{"model":"m","messages":[{"role":"user","content":"hello","name":"bob"}],
                "tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}"#,
        )
        .unwrap();
        let tools_json = serde_json::to_string(&with_tools.tools).unwrap().len() as u64;
        // The name is 3 bytes plus one token of framing.
        assert_eq!(prompt_bound(&with_tools), 15 + 3 + 1 + tools_json);
    }
}
