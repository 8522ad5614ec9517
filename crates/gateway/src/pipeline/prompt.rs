//! Fitting the prompt to each endpoint (tollgate-transforms, per attempt):
//! every endpoint has its own context length and message limit, so
//! middle-out runs for the endpoint about to be called.
//!
//! Counting tokens is the expensive part (a few million tokens a second),
//! so it is done at most once a request, and only when the prompt might
//! not fit: no tokenizer makes a token of less than one byte, so a prompt
//! whose byte size (plus format overhead) fits every candidate endpoint's
//! budget needs no counting at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tollgate_catalog::{CatalogEndpoint, ModelId};
use tollgate_schema::chat::{ChatCompletion, ChatRequest};
use tollgate_transforms::shaping::{
    describe_tools, json_mode_by_instruction, prefix_names, split_tool_reply,
};
use tollgate_transforms::{
    Limits, Report, TokenCount, Tokenizer, apply_middle_out_counted, check_fits, count_request,
};

use crate::state::Routes;

/// The size of a prompt, as routing and middle-out need it.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Tokens for routing's context filter: the exact count when one was
    /// needed, else a sure upper bound.
    pub tokens: u64,
    /// The exact count, when the prompt might not fit somewhere.
    pub count: Option<Arc<TokenCount>>,
    /// The tokenizer of the requested model's family.
    pub tokenizer: Tokenizer,
    /// Whether middle-out is on for this request.
    pub middle_out: bool,
    /// What middle-out did on the attempt that was sent last.
    pub report: Arc<Mutex<Option<Report>>>,
    /// Whether the attempt sent last had its tools described in the prompt
    /// (its reply must be parsed for tool calls).
    pub tools_in_prompt: Arc<AtomicBool>,
}

/// Measures `request` against the endpoints of `routes` (the request's one
/// catalog snapshot); `upper_bound` is its byte-based token bound.
pub fn measure(routes: &Routes, request: &ChatRequest, upper_bound: u64) -> Measured {
    let models: Vec<&str> = request
        .model
        .iter()
        .chain(request.models.iter().flatten())
        .map(String::as_str)
        .collect();
    let mut smallest_budget = u64::MAX;
    let mut family = None;
    for name in &models {
        let Some(model) = ModelId::parse(name)
            .ok()
            .and_then(|id| routes.catalog.resolve(&id))
        else {
            continue;
        };
        family = family.or(model.tokenizer.clone());
        for ep in &model.endpoints {
            smallest_budget = smallest_budget.min(limits(ep, request).prompt_budget());
        }
    }
    let tokenizer = Tokenizer::for_family(family.as_deref());
    let max_messages = request.messages.as_ref().map_or(0, Vec::len);
    let sure_fit = upper_bound <= smallest_budget && max_messages < 1000;
    let (tokens, count) = if sure_fit {
        (upper_bound, None)
    } else {
        let count = count_request(request, &tokenizer);
        (count.total, Some(Arc::new(count)))
    };
    Measured {
        tokens,
        count,
        tokenizer,
        middle_out: request.middle_out(),
        report: Arc::new(Mutex::new(None)),
        tools_in_prompt: Arc::new(AtomicBool::new(false)),
    }
}

fn limits(ep: &CatalogEndpoint, request: &ChatRequest) -> Limits {
    Limits::for_request(
        ep.context_length,
        ep.max_output_tokens,
        request.max_output_tokens(),
        ep.max_messages,
    )
}

/// The request as `ep` receives it: shaped for features it lacks, then
/// compressed by middle-out when it does not fit (and middle-out is on), or
/// an error naming the sizes.
pub fn fit(
    request: &Arc<ChatRequest>,
    measured: &Measured,
    ep: &CatalogEndpoint,
    dialect: &str,
) -> Result<Arc<ChatRequest>, String> {
    let (request, tools_in_prompt) = shape(request, ep, dialect);
    measured
        .tools_in_prompt
        .store(tools_in_prompt, Ordering::Relaxed);
    let request = &request;
    let limits = limits(ep, request);
    let counted;
    let count = match &measured.count {
        Some(count) => count.as_ref(),
        None if measured.tokens <= limits.prompt_budget() => return Ok(request.clone()),
        // The prompt was measured against an earlier catalog snapshot (a
        // reload came between measuring and planning) in which every
        // budget was larger: count it now.
        None => {
            counted = count_request(request, &measured.tokenizer);
            &counted
        }
    };
    if check_fits(count, &limits).is_ok() {
        return Ok(request.clone());
    }
    if !measured.middle_out {
        return Err(check_fits(count, &limits)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default());
    }
    let mut compressed = request.as_ref().clone();
    let report = apply_middle_out_counted(&mut compressed, count, &limits, &measured.tokenizer)
        .map_err(|e| e.to_string())?;
    tracing::info!(
        provider = %ep.provider,
        removed = report.removed_messages,
        truncated = report.truncated_messages,
        before = report.tokens_before,
        after = report.tokens_after,
        "middle-out compressed the prompt"
    );
    if let Ok(mut slot) = measured.report.lock() {
        *slot = Some(report);
    }
    Ok(Arc::new(compressed))
}

/// Prompt shaping for an endpoint that lacks a feature the request uses
/// (api-reference: tools are described in YAML for models without native
/// tool calling; JSON mode by instruction where `response_format` is not
/// supported). Requests that need the native feature can say so with
/// `provider.require_parameters`, which keeps such endpoints out instead.
///
/// Returns the request as shaped (the same `Arc` when nothing had to
/// change) and whether the tools were described in the prompt.
pub(crate) fn shape(
    request: &Arc<ChatRequest>,
    ep: &CatalogEndpoint,
    dialect: &str,
) -> (Arc<ChatRequest>, bool) {
    let has_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty());
    let tools_in_prompt = has_tools && !ep.has_feature("tools");
    let json = request
        .response_format
        .as_ref()
        .is_some_and(|f| f.kind == "json_object" || f.kind == "json_schema");
    let json_by_instruction = json && !ep.supports_parameter("response_format");
    // Only the OpenAI dialect has a `name` on messages; elsewhere it is
    // prefixed into the content (`{name}: {content}`), as the API reference
    // says, rather than lost.
    let names_in_content = dialect != "openai"
        && request
            .messages
            .iter()
            .flatten()
            .any(|m| m.name.as_deref().is_some_and(|n| !n.is_empty()));
    if !tools_in_prompt && !json_by_instruction && !names_in_content {
        return (request.clone(), false);
    }
    let mut shaped = if tools_in_prompt {
        describe_tools(request)
    } else {
        request.as_ref().clone()
    };
    if json_by_instruction {
        shaped = json_mode_by_instruction(&shaped);
        shaped.response_format = None;
    }
    if names_in_content && let Some(messages) = &shaped.messages {
        shaped.messages = Some(prefix_names(messages));
    }
    (Arc::new(shaped), tools_in_prompt)
}

/// A reply to a prompt that described the tools: tool calls written as
/// JSON in the text become real `tool_calls` (finish reason `tool_calls`).
pub fn parse_reply_tool_calls(completion: &mut ChatCompletion) {
    for choice in &mut completion.choices {
        let Some(text) = choice.message.content.as_deref() else {
            continue;
        };
        if let Some(reply) = split_tool_reply(text) {
            choice.message.content = reply.content;
            choice.message.tool_calls = Some(reply.tool_calls);
            choice.finish_reason = Some(String::from("tool_calls"));
        }
    }
}

/// The `x-tollgate-middle-out` header value of a report.
pub fn report_header(report: &Report) -> String {
    format!(
        "removed={} truncated={} tokens={}->{}",
        report.removed_messages,
        report.truncated_messages,
        report.tokens_before,
        report.tokens_after
    )
}
