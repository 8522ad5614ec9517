//! Stage 5, **finish**: one finisher for every answer shape (chat JSON,
//! chat and text streams, legacy completions, embeddings).
//!
//! Whatever the ingress, a generation ends here exactly once: the usage is
//! clamped to the bound its hold covers (a provider that reports more than
//! the request could produce is logged and counted), the hold is settled
//! (or released when nothing was served), the metrics are counted and the
//! generation record is queued. The ingress then writes the finished usage
//! into its own wire shape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_billing::Ending;
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::chat::ChatCompletion;
use tollgate_schema::usage::Usage;
use tollgate_store::ApiType;
use tollgate_transforms::Tokenizer;

use super::hold::{Bound, HoldGuard, Settled};
use super::meter::{OutputMeter, prefix_within};
use super::prompt::{self, Measured};
use super::record::{self, RequestContext};
use super::{Attempt, Served};
use crate::state::AppState;

/// A generation in flight: its hold and what its record needs.
#[derive(Debug)]
pub struct Generation {
    /// Shared state.
    pub state: Arc<AppState>,
    /// The hold placed before anything was sent.
    pub hold: HoldGuard,
    /// `gen-...`.
    pub id: String,
    /// Who asked, and when.
    pub ctx: RequestContext,
    /// Chat/completions or embeddings.
    pub api_type: ApiType,
    /// The request's `user`.
    pub external_user: Option<String>,
    /// Input images.
    pub images: u64,
    /// The prompt's measure (what middle-out did), for chat.
    pub measured: Option<Measured>,
}

/// Who served a generation.
#[derive(Debug, Clone)]
pub struct ServedBy {
    /// The endpoint.
    pub endpoint: Arc<CatalogEndpoint>,
    /// What the request may produce there.
    pub bound: Bound,
    /// Whether the account's own key served it.
    pub is_byok: bool,
    /// The provider's display name.
    pub provider_name: String,
    /// The router that chose the model, if one did.
    pub router: Option<String>,
    /// When the attempt that served it began.
    pub started: Instant,
}

impl ServedBy {
    /// Who served `served`.
    pub fn of<T>(served: &Served<T>) -> ServedBy {
        ServedBy {
            endpoint: served.endpoint.clone(),
            bound: served.bound,
            is_byok: served.is_byok,
            provider_name: served.provider_name.clone(),
            router: served.router.clone(),
            started: served.started,
        }
    }
}

/// How a generation ended, as its ingress saw it.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Who served it; `None` when every attempt failed.
    pub served: Option<ServedBy>,
    /// The model id the client used for the endpoint that answered.
    pub model: String,
    /// Usage as reported (or estimated where the provider gave none).
    pub usage: Usage,
    /// How it ended (`Failed` when nobody served it).
    pub ending: Option<Ending>,
    /// Every try.
    pub attempts: Vec<Attempt>,
    /// Finish reason and the provider's own.
    pub finish_reason: Option<String>,
    /// The provider's own finish reason.
    pub native_finish_reason: Option<String>,
    /// Streamed?
    pub streamed: bool,
    /// What failed, if it did.
    pub error: Option<String>,
    /// When the first chunk was relayed (streams).
    pub first_chunk_at: Option<Instant>,
    /// When the first chunk with output came (streams): the first token.
    pub first_token_at: Option<Instant>,
    /// The provider's id of its response (`/generation` `upstream_id`).
    pub upstream_id: Option<String>,
}

/// A finished generation: the usage as billed (`cost` and `is_byok` set
/// when it was served) and the charge.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Usage as billed.
    pub usage: Usage,
    /// The charge.
    pub settled: Settled,
}

impl Generation {
    /// Ends the generation (see the module docs).
    pub async fn finish(self, outcome: Outcome) -> Finished {
        let Generation {
            state,
            hold,
            id,
            ctx,
            api_type,
            external_user,
            images,
            measured,
        } = self;
        let ended = Instant::now();
        let ending = outcome.ending.unwrap_or(Ending::Failed);
        let mut usage = outcome.usage;
        let search = hold.search().clone();
        let mut settled = Settled::default();
        match &outcome.served {
            Some(by) => {
                let (clamped, over) = by.bound.clamp(&usage);
                if over {
                    tracing::warn!(
                        generation = %id,
                        provider = %by.endpoint.provider,
                        reported_prompt = usage.prompt_tokens,
                        reported_completion = usage.completion_tokens,
                        bound_prompt = by.bound.prompt_tokens,
                        bound_completion = by.bound.output_tokens,
                        "provider reported more usage than the request could produce; billed at the bound"
                    );
                    state.metrics.usage_misreported(&by.endpoint);
                }
                usage = clamped;
                if ending == Ending::Succeeded {
                    // Streams: the time to the first token (the attempt's
                    // success was recorded at its first chunk, untimed).
                    let ttft = outcome
                        .first_token_at
                        .map(|t| t.saturating_duration_since(by.started));
                    let tps = throughput(
                        usage.completion_tokens,
                        outcome.first_token_at.unwrap_or(by.started),
                        ended,
                    );
                    state.record_timing(&by.endpoint, ttft, tps);
                }
                settled = hold
                    .settle(&by.endpoint, &usage, images, ending, by.is_byok, &id)
                    .await;
                state.metrics.finished(&crate::observe::Finished {
                    endpoint: &by.endpoint,
                    ending,
                    usage: Some(&usage),
                    cost: settled.charge,
                    ttft: outcome
                        .first_chunk_at
                        .map(|t| t.saturating_duration_since(ctx.started)),
                    duration: ctx.started.elapsed(),
                });
                usage.cost = Some(settled.charge);
                usage.is_byok = Some(by.is_byok);
                if let Some(details) = search.usage_details() {
                    usage
                        .extra
                        .insert(String::from("server_tool_use_details"), details);
                }
                // What the provider's prices come to, by side; the whole
                // upstream cost only when the user's own key paid it (else
                // it is `cost`), as OpenRouter reports it.
                usage.cost_details = Some(tollgate_schema::usage::CostDetails {
                    upstream_inference_cost: by.is_byok.then_some(settled.upstream_cost),
                    upstream_inference_prompt_cost: Some(settled.prompt_cost),
                    upstream_inference_completions_cost: Some(settled.completion_cost),
                    extra: Default::default(),
                });
            }
            None => hold.release().await,
        }
        let latency = match outcome.first_chunk_at {
            Some(t) => Some(t.saturating_duration_since(ctx.started)),
            None if outcome.streamed => None,
            None => Some(ctx.started.elapsed()),
        };
        let record = record::Ending {
            model: outcome.model,
            provider_name: outcome
                .served
                .as_ref()
                .map(|b| b.provider_name.clone())
                .unwrap_or_default(),
            usage: outcome.served.is_some().then(|| usage.clone()),
            cost: settled.charge,
            upstream_cost: settled.upstream_cost,
            is_byok: outcome.served.as_ref().is_some_and(|b| b.is_byok),
            finish_reason: outcome.finish_reason,
            native_finish_reason: outcome.native_finish_reason,
            streamed: outcome.streamed,
            cancelled: ending == Ending::Cancelled,
            error: outcome.error,
            latency_ms: latency.map(millis),
            router: outcome.served.as_ref().and_then(|b| b.router.clone()),
            transforms: measured.as_ref().and_then(transforms_json),
            upstream_id: outcome.upstream_id,
            endpoint: outcome.served.map(|b| b.endpoint),
            num_search_results: search.engine().map(|_| search.results()),
            web_search_engine: search.engine().map(str::to_owned),
        };
        crate::observe::span_generation(
            &id,
            usage.prompt_tokens,
            usage.completion_tokens,
            &settled.charge,
        );
        record::spawn(
            state,
            &id,
            &ctx,
            api_type,
            external_user,
            &outcome.attempts,
            record,
        );
        Finished { usage, settled }
    }
}

impl Generation {
    /// Ends a generation nobody served (every attempt failed, or none
    /// could be made): the hold is released and the failure recorded.
    pub async fn failed(
        self,
        model: &str,
        attempts: &[Attempt],
        error: &crate::error::ApiError,
        streamed: bool,
    ) {
        let outcome = Outcome {
            model: model.to_owned(),
            attempts: attempts.to_vec(),
            error: Some(error.to_string()),
            streamed,
            ..Outcome::default()
        };
        self.finish(outcome).await;
    }
}

/// Output tokens per second after the first token: `completion_tokens`
/// over the time from the first chunk with output (streams) to the end. A
/// non-streamed answer has no first token to time, so its clock starts
/// when the attempt that served it began: the time to the first token
/// counts against it, which makes it a lower bound (documented in
/// ARCHITECTURE.md). `None` without output or time to divide by.
fn throughput(completion_tokens: u64, from: Instant, to: Instant) -> Option<f64> {
    let secs = to.saturating_duration_since(from).as_secs_f64();
    (completion_tokens > 0 && secs > 0.0).then(|| completion_tokens as f64 / secs)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A served chat completion, finished: tools written in the prompt parsed
/// back into `tool_calls`, the output bounded (text past the bound is cut,
/// `finish_reason: "length"`), usage normalised (estimated when the
/// provider gave none), the hold settled, the record queued. Returns the
/// completion with our id, model, provider and usage (its `cost` the
/// exact charge).
pub async fn chat_completion(
    generation: Generation,
    served: Served<ChatCompletion>,
    created: i64,
    prompt_estimate: u64,
    tokenizer: Tokenizer,
) -> ChatCompletion {
    let by = ServedBy::of(&served);
    let Served {
        value: mut completion,
        model,
        provider_name,
        attempts,
        ..
    } = served;
    if generation
        .measured
        .as_ref()
        .is_some_and(|m| m.tools_in_prompt.load(std::sync::atomic::Ordering::Relaxed))
    {
        prompt::parse_reply_tool_calls(&mut completion);
    }
    let cut = bound_completion(&mut completion, by.bound.output_tokens, &tokenizer);
    if cut {
        tracing::warn!(generation = %generation.id, provider = %by.endpoint.provider, "answer longer than its output bound; cut");
        generation.state.metrics.output_cut(&by.endpoint);
    }
    let upstream_id = Some(std::mem::take(&mut completion.id)).filter(|id| !id.is_empty());
    completion.id.clone_from(&generation.id);
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
    let reasoning: String = completion
        .choices
        .iter()
        .filter_map(|c| c.message.reasoning.as_deref())
        .collect();
    let usage = match completion.usage.take() {
        Some(u) => super::meter::with_reasoning_counted(u.normalized(), &reasoning, &tokenizer),
        None => {
            let mut meter = OutputMeter::new(by.bound.output_tokens, tokenizer);
            for c in &completion.choices {
                meter.add(c.message.content.as_deref().unwrap_or_default());
            }
            Usage::new(prompt_estimate, meter.tokens())
        }
    };
    let first = completion.choices.first();
    let outcome = Outcome {
        finish_reason: first.and_then(|c| c.finish_reason.clone()),
        native_finish_reason: first.and_then(|c| c.native_finish_reason.clone()),
        served: Some(by),
        model,
        usage,
        ending: Some(Ending::Succeeded),
        attempts,
        upstream_id,
        ..Outcome::default()
    };
    let finished = generation.finish(outcome).await;
    completion.usage = Some(finished.usage);
    completion
}

/// Cuts the completion's text at `bound` output tokens (over all choices,
/// in order; choices past the bound are emptied) and marks what was cut
/// with `finish_reason: "length"`. Returns whether anything was cut.
fn bound_completion(completion: &mut ChatCompletion, bound: u64, tokenizer: &Tokenizer) -> bool {
    let mut meter = OutputMeter::new(bound, *tokenizer);
    let mut cut = false;
    for choice in &mut completion.choices {
        let m = &mut choice.message;
        let before = meter.tokens();
        let text = m.content.as_deref().unwrap_or_default();
        if !meter.add(text) {
            continue;
        }
        let keep = prefix_within(text, bound.saturating_sub(before), tokenizer);
        if let Some(content) = m.content.as_mut() {
            content.truncate(keep);
        }
        choice.finish_reason = Some(String::from("length"));
        cut = true;
    }
    cut
}

/// What middle-out did, for the generation record.
pub(crate) fn transforms_json(measured: &Measured) -> Option<serde_json::Value> {
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
