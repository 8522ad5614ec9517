//! Running web search inside the generation lifecycle: the bounds its
//! hold must cover, the search before the upstream call (prompt mode),
//! the server-tool rounds (tool mode), and the citations on the answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::Value;
use tollgate_schema::chat::{
    ChatChunk, ChatCompletion, ChatRequest, ChunkChoice, ContentPart, Delta, FunctionCallDelta,
    Message, MessageContent, Role, TextPart, ToolCallDelta,
};
use tollgate_schema::usage::Usage;

use super::prompt::{allowance, annotations, default_search_prompt, results_text};
use super::{Mode, Query, Search, SearchResult, SearchUse, TOOL_NAME, WebSearch};
use crate::error::ApiError;
use crate::pipeline::prompt::{self, Measured};
use crate::pipeline::{Attempt, OpenStream, Served, Target, byok, complete, prepare};
use crate::state::AppState;

/// Model turns the server tool may take: `max_rounds` that search, and a
/// last one that answers.
fn turns(search: &Search) -> u64 {
    u64::from(search.config.max_rounds) + 1
}

/// Widens each planned endpoint's bound by what web search may add: the
/// results in the prompt and their price (prompt mode); for the server
/// tool, every turn's prompt with the results and calls before it, every
/// turn's output, and every round's results.
pub fn reserve(search: &Search, ws: &WebSearch, target: &mut Target) {
    let room = allowance(
        ws.search_prompt.as_deref(),
        ws.max_results,
        ws.max_characters,
    );
    let price = search.config.price_per_result;
    for p in &mut target.endpoints {
        let b = &mut p.bound;
        b.web_result_price = price;
        match ws.mode {
            Mode::Prompt => {
                b.prompt_tokens = b.prompt_tokens.saturating_add(room);
                b.web_results = u64::from(ws.max_results);
            }
            Mode::Tool => {
                let t = turns(search);
                // each turn resends the prompt, each earlier turn's call
                // (output) and its results (room)
                let largest = b
                    .prompt_tokens
                    .saturating_add(t.saturating_mul(room.saturating_add(b.output_tokens)));
                b.prompt_tokens = t.saturating_mul(largest);
                b.output_tokens = t.saturating_mul(b.output_tokens);
                b.web_results = (t - 1).saturating_mul(u64::from(ws.max_results));
            }
        }
    }
}

/// Runs one search for `text`, counting what it got in `used`; a failure
/// is logged and gives no results.
async fn search_once(
    state: &AppState,
    ws: &WebSearch,
    text: &str,
    used: &SearchUse,
) -> Result<Vec<SearchResult>, String> {
    let Some(backend) = state.search.backend.as_ref() else {
        return Err(String::from("web search is not configured"));
    };
    let query = Query {
        text: super::backend::cut_bytes(text.trim(), 1000).to_owned(),
        max_results: ws.max_results,
        max_characters: ws.max_characters,
    };
    if query.text.is_empty() {
        return Ok(Vec::new());
    }
    match backend.search(&query).await {
        Ok(results) => {
            used.searched(
                backend.engine(),
                results.len(),
                state.search.config.price_per_result,
            );
            Ok(results)
        }
        Err(e) => {
            tracing::warn!(engine = backend.engine(), error = %e, "web search failed; answering without results");
            Err(e.to_string())
        }
    }
}

fn prompt_text(ws: &WebSearch) -> String {
    ws.search_prompt.clone().unwrap_or_else(|| {
        default_search_prompt(&chrono::Utc::now().format("%Y-%m-%d").to_string())
    })
}

/// Prompt mode: searches with the last user message's text and appends
/// the results to that message; returns the request as it is now sent,
/// its new measure, and the results to cite.
pub async fn into_prompt(
    state: &AppState,
    ws: &WebSearch,
    request: Arc<ChatRequest>,
    measured: Measured,
    target: &Target,
    used: &SearchUse,
) -> (Arc<ChatRequest>, Measured, Vec<SearchResult>) {
    let messages = request.messages.as_deref().unwrap_or_default();
    let Some(last_user) = messages.iter().rposition(|m| m.role == Role::User) else {
        return (request, measured, Vec::new());
    };
    let text = messages[last_user].text_content();
    let results = match search_once(state, ws, &text, used).await {
        Ok(r) if !r.is_empty() => r,
        _ => return (request, measured, Vec::new()),
    };
    let block = results_text(&prompt_text(ws), &results);
    let mut req = (*request).clone();
    if let Some(m) = req.messages.as_mut().and_then(|m| m.get_mut(last_user)) {
        append_text(m, &block);
    }
    let measured = remeasure(target, &req, measured);
    (Arc::new(req), measured, results)
}

fn append_text(m: &mut Message, block: &str) {
    match m.content.as_mut() {
        Some(MessageContent::Text(t)) => {
            t.push_str("\n\n");
            t.push_str(block);
        }
        Some(MessageContent::Parts(parts)) => {
            parts.push(ContentPart::Text(TextPart::new(block.to_owned())));
        }
        None => m.content = Some(MessageContent::Text(block.to_owned())),
    }
}

/// The measure of the request as now sent (middle-out decides on it).
fn remeasure(target: &Target, request: &ChatRequest, before: Measured) -> Measured {
    let mut m = prompt::measure(&target.routes, request, prepare::prompt_bound(request));
    m.report = before.report;
    m.tools_in_prompt = before.tools_in_prompt;
    m
}

/// Adds the citations of `results` to each choice's message.
pub fn annotate(completion: &mut ChatCompletion, results: &[SearchResult]) {
    if results.is_empty() {
        return;
    }
    for choice in &mut completion.choices {
        let content = choice.message.content.as_deref().unwrap_or_default();
        let found = annotations(content, results);
        push_annotations(&mut choice.message.extra, found);
    }
}

fn push_annotations(extra: &mut tollgate_schema::Extra, found: Vec<Value>) {
    match extra.get_mut("annotations").and_then(Value::as_array_mut) {
        Some(list) => list.extend(found),
        None => {
            extra.insert(String::from("annotations"), Value::Array(found));
        }
    }
}

/// Adds the citations of `results` to the stream: in the delta of each
/// choice's chunk that finishes, for the text streamed until then.
pub fn annotate_stream(open: OpenStream, results: Vec<SearchResult>) -> OpenStream {
    if results.is_empty() {
        return open;
    }
    let mut texts: BTreeMap<u32, String> = BTreeMap::new();
    let mut note = move |mut c: Box<ChatChunk>| {
        for choice in &mut c.choices {
            let text = texts.entry(choice.index).or_default();
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
            if choice.finish_reason.is_some() {
                push_annotations(&mut choice.delta.extra, annotations(text, &results));
            }
        }
        c
    };
    let first = note(open.first);
    let rest = open.rest.map(move |r| r.map(&mut note));
    OpenStream {
        first,
        rest: Box::pin(rest),
    }
}

/// Tool mode: asks the model with the `web_search` function; each time it
/// calls it (at most `max_rounds` times), searches, answers the call with
/// the results and asks again; the last turn goes without the function.
/// Returns the last answer, with the usage of every turn summed, and every
/// result got.
pub async fn with_tool(
    state: &AppState,
    ws: &WebSearch,
    target: &Target,
    request: Arc<ChatRequest>,
    measured: &Measured,
    keys: &byok::Keys,
    used: &SearchUse,
) -> Result<(Served<ChatCompletion>, Vec<SearchResult>), (ApiError, Vec<Attempt>)> {
    let mut req = (*request).clone();
    req.stream = None;
    req.stream_options = None;
    let mut all = Vec::new();
    let mut usage: Option<Usage> = None;
    let mut attempts = Vec::new();
    let rounds = state.search.config.max_rounds;
    let mut measured = measured.clone();
    for turn in 0..=rounds {
        if turn == rounds {
            without_tool(&mut req);
        }
        if turn > 0 {
            measured = remeasure(target, &req, measured);
        }
        let mut served = match complete(state, target, Arc::new(req.clone()), &measured, keys).await
        {
            Ok(s) => s,
            Err((e, a)) => {
                attempts.extend(a);
                return Err((e, attempts));
            }
        };
        if measured
            .tools_in_prompt
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            prompt::parse_reply_tool_calls(&mut served.value);
        }
        attempts.append(&mut served.attempts);
        usage = add(usage, served.value.usage.take());
        let Some(message) = served.value.choices.first().map(|c| c.message.clone()) else {
            return Ok((finish(served, usage, attempts), all));
        };
        let calls = message.tool_calls.clone().unwrap_or_default();
        let (ours, theirs): (Vec<_>, Vec<_>) = calls
            .into_iter()
            .partition(|c| c.function.name == TOOL_NAME);
        if ours.is_empty() || !theirs.is_empty() || turn == rounds {
            // Done, or the model also called the client's own functions:
            // those are the client's to answer; ours are dropped.
            if let Some(c) = served.value.choices.first_mut()
                && !ours.is_empty()
            {
                c.message.tool_calls = (!theirs.is_empty()).then_some(theirs);
                if c.message.tool_calls.is_none() {
                    c.finish_reason = Some(String::from("stop"));
                }
            }
            return Ok((finish(served, usage, attempts), all));
        }
        let messages = req.messages.get_or_insert_with(Vec::new);
        let mut turn_message = Message::text(Role::Assistant, message.content.unwrap_or_default());
        turn_message.tool_calls = Some(ours.clone());
        messages.push(turn_message);
        for call in ours {
            used.tool_called();
            let query = serde_json::from_str::<Value>(&call.function.arguments)
                .ok()
                .and_then(|v| v.get("query").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            let answer = match search_once(state, ws, &query, used).await {
                Ok(results) => {
                    let text = results_text(&prompt_text(ws), &results);
                    all.extend(results);
                    text
                }
                Err(e) => format!("web search failed: {e}"),
            };
            let mut reply = Message::text(Role::Tool, answer);
            reply.tool_call_id = Some(call.id);
            messages.push(reply);
        }
    }
    Err((
        ApiError::Internal(String::from("web search rounds ended without an answer")),
        attempts,
    ))
}

/// The last turn: the `web_search` function is gone (and with it the
/// tools, when it was the only one).
fn without_tool(req: &mut ChatRequest) {
    if let Some(tools) = req.tools.as_mut() {
        tools.retain(|t| t.function.as_ref().is_none_or(|f| f.name != TOOL_NAME));
        if tools.is_empty() {
            req.tools = None;
            req.tool_choice = None;
            req.parallel_tool_calls = None;
        }
    }
}

fn finish(
    mut served: Served<ChatCompletion>,
    usage: Option<Usage>,
    attempts: Vec<Attempt>,
) -> Served<ChatCompletion> {
    served.value.usage = usage;
    served.attempts = attempts;
    served
}

/// Two turns' usage, summed (`None` when neither reported any).
fn add(a: Option<Usage>, b: Option<Usage>) -> Option<Usage> {
    let (a, b) = match (a, b) {
        (None, None) => return None,
        (Some(u), None) | (None, Some(u)) => return Some(u),
        (Some(a), Some(b)) => (a.normalized(), b.normalized()),
    };
    let mut sum = a.clone();
    sum.prompt_tokens = a.prompt_tokens + b.prompt_tokens;
    sum.completion_tokens = a.completion_tokens + b.completion_tokens;
    sum.total_tokens = sum.prompt_tokens + sum.completion_tokens;
    if let (Some(s), Some(d)) = (
        sum.prompt_tokens_details.as_mut(),
        b.prompt_tokens_details.as_ref(),
    ) {
        s.cached_tokens += d.cached_tokens;
    }
    if let (Some(s), Some(d)) = (
        sum.completion_tokens_details.as_mut(),
        b.completion_tokens_details.as_ref(),
    ) {
        s.reasoning_tokens += d.reasoning_tokens;
    }
    Some(sum)
}

/// A finished completion as a stream (the server tool's answer to a
/// streamed request): one chunk with the whole message and its finish
/// reason, then one with the usage.
pub fn as_stream(completion: ChatCompletion) -> OpenStream {
    let base = ChatChunk {
        id: completion.id.clone(),
        object: String::from("chat.completion.chunk"),
        created: completion.created,
        model: completion.model.clone(),
        provider: completion.provider.clone(),
        system_fingerprint: completion.system_fingerprint.clone(),
        choices: Vec::new(),
        usage: None,
        error: None,
        extra: Default::default(),
    };
    let choices = completion
        .choices
        .into_iter()
        .map(|c| ChunkChoice {
            index: c.index,
            delta: Delta {
                role: Some(String::from("assistant")),
                content: c.message.content,
                reasoning: c.message.reasoning,
                reasoning_details: c.message.reasoning_details,
                refusal: c.message.refusal,
                tool_calls: c.message.tool_calls.map(|calls| {
                    calls
                        .into_iter()
                        .enumerate()
                        .map(|(i, call)| ToolCallDelta {
                            index: u32::try_from(i).unwrap_or(u32::MAX),
                            id: Some(call.id),
                            kind: Some(call.kind),
                            function: Some(FunctionCallDelta {
                                name: Some(call.function.name),
                                arguments: Some(call.function.arguments),
                            }),
                        })
                        .collect()
                }),
                extra: Default::default(),
            },
            native_finish_reason: c.native_finish_reason,
            finish_reason: c.finish_reason,
            logprobs: None,
            error: None,
            extra: Default::default(),
        })
        .collect();
    let first = ChatChunk {
        choices,
        ..base.clone()
    };
    let last = ChatChunk {
        usage: completion.usage.map(Box::new),
        ..base
    };
    OpenStream {
        first: Box::new(first),
        rest: Box::pin(futures::stream::iter([Ok(Box::new(last))])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_of_turns_adds_up() {
        let a = Usage::new(10, 2);
        let b = Usage::new(30, 5);
        let sum = add(Some(a), Some(b)).unwrap();
        assert_eq!(
            (sum.prompt_tokens, sum.completion_tokens, sum.total_tokens),
            (40, 7, 47)
        );
        assert_eq!(add(None, None), None);
    }
}
