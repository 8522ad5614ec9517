//! `POST /chat/completions`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tollgate_billing::Ending;
use tollgate_schema::chat::{ChatRequest, Message, MessageContent, Role};
use tollgate_schema::from_json_slice;
use tollgate_schema::usage::Usage;
use tollgate_store::{ApiKey, ApiType};

use crate::error::ApiError;
use crate::pipeline::record::{self, RequestContext};
use crate::pipeline::shape::{Shape, text_completion};
use crate::pipeline::{self, Served, attempts_header, billing, prompt, sse};
use crate::routes::{ATTEMPTS, GENERATION_ID, PROVIDER, failed, generation_json, set};
use crate::state::AppState;
use crate::{auth, ids, validate};

/// Handles a chat completion, streamed or not.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = auth::authenticate(&state.store, &state.keys, &headers).await?;
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    let request: ChatRequest = from_json_slice(&body)?;
    let ctx = RequestContext::new(&key, &headers);
    serve_chat(state, key, ctx, request, Shape::Chat).await
}

/// Runs a validated-or-not chat request and answers in `shape`: the one
/// pipeline behind `/chat/completions` and the legacy `/completions`.
pub async fn serve_chat(
    state: Arc<AppState>,
    key: ApiKey,
    ctx: RequestContext,
    mut request: ChatRequest,
    shape: Shape,
) -> Result<Response, ApiError> {
    validate::chat_request(&request)?;
    normalize(&mut request);
    let upper_bound = prompt_upper_bound(&request);
    let measured = prompt::measure(&state, &request, upper_bound);
    let target = pipeline::plan_chat(&state, &request, measured.tokens)?;
    // Only for usage when a provider reports none: the exact count if one
    // was made, else four bytes a token.
    let prompt_estimate = match &measured.count {
        Some(c) => c.total,
        None => estimate_prompt_tokens(&request),
    };
    // 402 here means nothing was sent upstream.
    // Rate limits before any hold or upstream call; a refusal counts nowhere.
    let is_free = target
        .endpoints
        .first()
        .is_some_and(|p| p.endpoint.is_free());
    if let Err(limited) = state
        .limiter
        .admit(&state.store, &state.credit_tiers, &key.account_id, is_free)
        .await
    {
        return Ok(limited.into_response());
    }
    let needs = billing::Needs::chat(&request, upper_bound.max(measured.tokens));
    let hold = billing::place(&state, &key, &target, needs).await?;
    let images = billing::count_images(&request);
    let keys = match pipeline::byok::Keys::load(&state, &key.account_id, &target).await {
        Ok(k) => k,
        Err(e) => {
            billing::release(&state, &hold).await;
            return Err(e);
        }
    };
    let created = ids::now_unix();
    let id = ids::generation_id(created);
    let stream = request.is_stream();
    let external_user = request.user.clone();
    let request = Arc::new(request);
    tracing::debug!(generation = %id, model = %target.model, stream, "chat request");

    if stream {
        let meta = sse::Meta {
            id: id.clone(),
            created,
            model: target.model.clone(),
            prompt_estimate,
            shape,
        };
        let keepalive = Duration::from_secs_f64(state.server.stream_keepalive_secs);
        let mut pending: sse::Pending = Box::pin(pipeline::open_stream(
            state.clone(),
            target,
            request,
            measured.clone(),
            keys.clone(),
        ));
        // Wait briefly for the first upstream chunk: until it arrives every
        // failure can still be a real HTTP error status. Past that, commit
        // to 200 and keep the connection alive with comments.
        let (start, provider, attempts) = match tokio::time::timeout(keepalive, &mut pending).await
        {
            Ok(Ok(served)) => {
                let provider = (
                    served.endpoint.provider.clone(),
                    served.endpoint.quantization.clone(),
                );
                let attempts = attempts_header(&served.attempts);
                (
                    sse::Start::Ready(Box::new(served)),
                    Some(provider),
                    Some(attempts),
                )
            }
            Ok(Err((e, attempts))) => {
                billing::release(&state, &hold).await;
                return Ok(failed(e, &attempts));
            }
            Err(_) => (sse::Start::Pending(pending), None, None),
        };
        let money = sse::Money {
            state: state.clone(),
            hold,
            images,
            ctx,
            external_user,
            measured: measured.clone(),
        };
        let mut resp = Response::new(sse::body(start, meta, keepalive, Some(money)));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
        set(h, GENERATION_ID, &id);
        if let Some((p, quantization)) = provider {
            set(h, PROVIDER, &p);
            set(h, QUANTIZATION, &quantization);
        }
        if let Some(a) = attempts {
            set(h, ATTEMPTS, &a);
        }
        set_middle_out(h, &measured);
        return Ok(resp);
    }

    let served = match pipeline::complete(&state, &target, request, &measured, &keys).await {
        Ok(s) => s,
        Err((e, attempts)) => {
            billing::release(&state, &hold).await;
            let ending = record::Ending {
                model: target.model.clone(),
                error: Some(e.to_string()),
                ..record::Ending::default()
            };
            record::spawn(
                state.clone(),
                &id,
                &ctx,
                ApiType::Completions,
                external_user,
                &attempts,
                ending,
            );
            return Ok(failed(e, &attempts));
        }
    };
    let Served {
        value: mut completion,
        is_byok,
        model,
        endpoint,
        provider_name,
        attempts,
    } = served;
    if measured
        .tools_in_prompt
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        prompt::parse_reply_tool_calls(&mut completion);
    }
    completion.id.clone_from(&id);
    completion.object = String::from("chat.completion");
    completion.created = created;
    completion.model.clone_from(&model);
    completion.provider = Some(provider_name);
    for choice in &mut completion.choices {
        if choice.native_finish_reason.is_none() {
            choice
                .native_finish_reason
                .clone_from(&choice.finish_reason);
        }
    }
    let usage = match completion.usage.take() {
        Some(u) => u.normalized(),
        None => {
            let produced: usize = completion
                .choices
                .iter()
                .map(|c| c.message.content.as_deref().map_or(0, str::len))
                .sum();
            Usage::new(prompt_estimate, produced.div_ceil(4) as u64)
        }
    };
    let settled = billing::settle(
        &state,
        &hold,
        &endpoint,
        &usage,
        images,
        Ending::Succeeded,
        is_byok,
        &id,
    )
    .await;
    let cost = settled.charge;
    state.metrics.finished(&crate::observe::Finished {
        endpoint: &endpoint,
        ending: Ending::Succeeded,
        usage: Some(&usage),
        cost,
        ttft: None,
        duration: ctx.started.elapsed(),
    });
    let first = completion.choices.first();
    let ending = record::Ending {
        model: model.clone(),
        endpoint: Some(endpoint.clone()),
        provider_name: completion.provider.clone().unwrap_or_default(),
        usage: Some(usage.clone()),
        cost,
        upstream_cost: settled.upstream_cost,
        is_byok,
        finish_reason: first.and_then(|c| c.finish_reason.clone()),
        native_finish_reason: first.and_then(|c| c.native_finish_reason.clone()),
        latency_ms: Some(u64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        transforms: transforms_json(&measured),
        ..record::Ending::default()
    };
    record::spawn(
        state.clone(),
        &id,
        &ctx,
        ApiType::Completions,
        external_user,
        &attempts,
        ending,
    );
    completion.usage = Some(Usage {
        cost: Some(cost),
        is_byok: Some(is_byok),
        ..usage
    });
    let mut resp = match shape {
        Shape::Chat => generation_json(&completion, &id, &endpoint.provider, &attempts)?,
        Shape::Text => generation_json(
            &text_completion(completion),
            &id,
            &endpoint.provider,
            &attempts,
        )?,
    };
    set(resp.headers_mut(), QUANTIZATION, &endpoint.quantization);
    set_middle_out(resp.headers_mut(), &measured);
    Ok(resp)
}

/// A raw `prompt` becomes one user message for chat providers.
fn normalize(request: &mut ChatRequest) {
    if request.messages.as_ref().is_none_or(Vec::is_empty)
        && let Some(prompt) = request.prompt.take()
    {
        request.messages = Some(vec![Message::text(Role::User, prompt)]);
    }
}

/// `x-tollgate-quantization`: the weight precision of the endpoint that
/// answered (`fp8`, `bf16`, ...), so users can see why a model behaved as it
/// did.
const QUANTIZATION: HeaderName = HeaderName::from_static("x-tollgate-quantization");

/// What middle-out did, for the generation record.
pub(crate) fn transforms_json(measured: &prompt::Measured) -> Option<serde_json::Value> {
    let report = measured.report.lock().ok().and_then(|r| *r)?;
    report.changed().then(|| {
        serde_json::json!({"middle-out": {
            "removed_messages": report.removed_messages,
            "truncated_messages": report.truncated_messages,
            "tokens_before": report.tokens_before,
            "tokens_after": report.tokens_after,
        }})
    })
}

/// `x-tollgate-middle-out`: what middle-out did to the prompt that was
/// sent (messages removed and cut, tokens before and after), when it ran.
fn set_middle_out(h: &mut HeaderMap, measured: &prompt::Measured) {
    let report = measured.report.lock().ok().and_then(|r| *r);
    if let Some(report) = report.filter(|r| r.changed()) {
        set(
            h,
            HeaderName::from_static("x-tollgate-middle-out"),
            &prompt::report_header(&report),
        );
    }
}

/// An upper bound of the prompt's tokens for the hold: no tokenizer makes
/// a token of less than one byte, plus the chat format's per-message
/// overhead (OpenAI cookbook: 3 a message, 3 to prime the reply, 1 a name).
fn prompt_upper_bound(request: &ChatRequest) -> u64 {
    let messages = request.messages.as_deref().unwrap_or_default();
    let bytes: usize = messages
        .iter()
        .map(|m| {
            let content = match &m.content {
                Some(MessageContent::Text(t)) => t.len(),
                Some(c @ MessageContent::Parts(_)) => c.text().len(),
                None => 0,
            };
            let calls: usize = m
                .tool_calls
                .iter()
                .flatten()
                .map(|c| c.function.name.len() + c.function.arguments.len())
                .sum();
            content + calls + m.name.as_deref().map_or(0, str::len) + 4
        })
        .sum();
    let tools = request
        .tools
        .as_ref()
        .map_or(0, |t| serde_json::to_vec(t).map_or(0, |v| v.len()));
    (bytes + tools + 3) as u64
}

/// A rough prompt size (4 characters a token), used only when a provider
/// reports no usage. Real token counting belongs to tollgate-transforms.
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
