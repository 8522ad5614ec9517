//! `POST /chat/completions`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use tollgate_schema::chat::ChatRequest;
use tollgate_schema::from_json_slice;
use tollgate_store::ApiKey;

use crate::error::ApiError;
use crate::ingress::Wire;
use crate::pipeline::finish::{self, Generation};
use crate::pipeline::prepare::Prepared;
use crate::pipeline::record::RequestContext;
use crate::pipeline::{self, attempts_header, hold, prompt, sse};
use crate::routes::{ATTEMPTS, GENERATION_ID, PROVIDER, failed, generation_body, set};
use crate::state::AppState;
use crate::{auth, ids, search};

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
    // The body and the headers are slices of the connection's first read
    // buffer: released here, not held as long as the answer (a stream's
    // whole life), they leave hyper one buffer per connection, not two.
    drop((headers, body));
    serve_chat(state, key, ctx, request, Wire::Chat).await
}

/// Runs a validated-or-not chat request and answers in `wire`: the one
/// pipeline behind `/chat/completions`, the legacy `/completions` and the
/// Anthropic `/messages`, as the lifecycle's stages (see
/// [`crate::pipeline`]; the wire's encoding is [`crate::ingress`]'s).
pub async fn serve_chat(
    state: Arc<AppState>,
    key: ApiKey,
    ctx: RequestContext,
    mut request: ChatRequest,
    wire: Wire,
) -> Result<Response, ApiError> {
    let ctx = ctx.with_request(&request);
    let web = search::take(&state.search, &mut request)?;
    let mut prepared = pipeline::prepare(&state, request)?;
    if let Some(web) = &web {
        search::run::reserve(&state.search, web, &mut prepared.target);
    }
    // Moderated endpoints: a flagged input is refused before any hold.
    crate::moderation::screen(&state, &mut prepared.target, &prepared.request).await?;
    let mut ctx = ctx;
    ctx.moderation = prepared.target.screen.clone();
    if let Err(limited) = pipeline::admit(&state, &key, &prepared.target).await {
        return Ok(limited);
    }
    // Nothing was sent upstream yet: a 402 here costs nothing. A small
    // balance may cap `max_tokens` instead (`hold::place_capped`).
    let requested = prepared.request.max_output_tokens();
    let choices = prepared.request.choices();
    let (hold, capped) =
        hold::place_capped(&state, &key, &mut prepared.target, requested, choices).await?;
    if let Some(cap) = capped {
        std::sync::Arc::make_mut(&mut prepared.request).max_tokens = Some(cap);
    }
    let keys = pipeline::byok::Keys::load(&state, &key.account_id, &prepared.target).await?;
    let Prepared {
        request,
        measured,
        target,
        prompt_estimate,
        images,
    } = prepared;
    let created = ids::now_unix();
    let id = ids::generation_id(created);
    let generation = Generation {
        state: state.clone(),
        hold,
        id: id.clone(),
        ctx,
        api_type: wire.api_type(),
        external_user: request.user.clone(),
        images,
        measured: Some(measured.clone()),
    };
    tracing::debug!(generation = %id, model = %target.model, stream = request.is_stream(), "chat request");
    let used = generation.hold.search().clone();
    let (request, measured, mut found) = match &web {
        Some(w) if w.mode == search::Mode::Prompt => {
            search::run::into_prompt(&state, w, request, measured, &target, &used).await
        }
        _ => (request, measured, Vec::new()),
    };
    let tool = web.filter(|w| w.mode == search::Mode::Tool);
    if request.is_stream() {
        let meta = sse::Meta {
            id,
            created,
            model: target.model.clone(),
            prompt_estimate,
            wire,
            tokenizer: measured.tokenizer,
            tools_in_prompt: measured.tools_in_prompt.clone(),
        };
        let web = Web {
            tool,
            found,
            used,
            keys,
        };
        let mut resp = stream(state, target, request, measured, meta, generation, web).await;
        set_capped(resp.headers_mut(), capped);
        return Ok(resp);
    }

    let served = match &tool {
        Some(w) => search::run::with_tool(&state, w, &target, request, &measured, &keys, &used)
            .await
            .map(|(served, results)| {
                found.extend(results);
                served
            }),
        None => pipeline::complete(&state, &target, request, &measured, &keys).await,
    };
    let served = match served {
        Ok(s) => s,
        Err((e, attempts)) => {
            generation.failed(&target.model, &attempts, &e, false).await;
            return Ok(failed(e, &attempts));
        }
    };
    let provider = served.endpoint.provider.clone();
    let quantization = served.endpoint.quantization.clone();
    let attempts = served.attempts.clone();
    let mut completion = finish::chat_completion(
        generation,
        served,
        created,
        prompt_estimate,
        measured.tokenizer,
    )
    .await;
    search::run::annotate(&mut completion, &found);
    let id = completion.id.clone();
    let mut resp = generation_body(wire.answer(completion)?, &id, &provider, &attempts);
    set(resp.headers_mut(), QUANTIZATION, &quantization);
    set_middle_out(resp.headers_mut(), &measured);
    set_capped(resp.headers_mut(), capped);
    Ok(resp)
}

/// [`hold::MAX_TOKENS_CAPPED`] when a small balance capped `max_tokens`.
fn set_capped(headers: &mut HeaderMap, capped: Option<u32>) {
    if let Some(cap) = capped {
        headers.insert(hold::MAX_TOKENS_CAPPED, HeaderValue::from(cap));
    }
}

/// A streamed answer: the handler waits briefly for the first upstream
/// chunk (until it arrives every failure can still be a real HTTP error
/// status); past that it commits to 200 and the body keeps the connection
/// alive with comments.
async fn stream(
    state: Arc<AppState>,
    target: pipeline::Target,
    request: Arc<ChatRequest>,
    measured: prompt::Measured,
    meta: sse::Meta,
    generation: Generation,
    web: Web,
) -> Response {
    let keepalive = Duration::from_secs_f64(state.server.stream_keepalive_secs);
    let model = target.model.clone();
    let mut pending: sse::Pending = Box::pin(web.open(state, target, request, measured.clone()));
    let (start, provider, attempts) = match tokio::time::timeout(keepalive, &mut pending).await {
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
            generation.failed(&model, &attempts, &e, true).await;
            return failed(e, &attempts);
        }
        Err(_) => (sse::Start::Pending(pending), None, None),
    };
    let id = meta.id.clone();
    let mut resp = Response::new(sse::body(start, meta, keepalive, generation));
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
    resp
}

/// A streamed request's web search: the server tool to run first, the
/// results already in the prompt, what was searched.
struct Web {
    tool: Option<search::WebSearch>,
    found: Vec<search::SearchResult>,
    used: Arc<search::SearchUse>,
    keys: pipeline::byok::Keys,
}

impl Web {
    /// Opens the stream: the upstream's, or, with the server tool, its
    /// rounds run and the answer replayed as a stream; the citations go in
    /// the delta of the chunk that finishes.
    async fn open(
        self,
        state: Arc<AppState>,
        target: pipeline::Target,
        request: Arc<ChatRequest>,
        measured: prompt::Measured,
    ) -> Result<pipeline::Served<pipeline::OpenStream>, (ApiError, Vec<pipeline::Attempt>)> {
        let Web {
            tool,
            mut found,
            used,
            keys,
        } = self;
        let served = match &tool {
            None => pipeline::open_stream(state, target, request, measured, keys).await?,
            // Boxed: the search rounds' state is far larger than opening a
            // stream's, and every stream waiting on its provider would
            // carry room for it.
            Some(w) => {
                let (served, results) = Box::pin(search::run::with_tool(
                    &state, w, &target, request, &measured, &keys, &used,
                ))
                .await?;
                found.extend(results);
                served.map(search::run::as_stream)
            }
        };
        Ok(served.map(|open| search::run::annotate_stream(open, found)))
    }
}

/// `x-tollgate-quantization`: the weight precision of the endpoint that
/// answered (`fp8`, `bf16`, ...), so users can see why a model behaved as it
/// did.
const QUANTIZATION: HeaderName = HeaderName::from_static("x-tollgate-quantization");

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
