//! `middle-out`: fit a conversation into an endpoint's context length and
//! message limit by removing messages from its middle, and cutting the
//! middle out of a message too large to keep whole.
//!
//! The rules (api-reference.txt, "Prompt Transforms"; DESIGN.md):
//! - Nothing changes when the prompt plus the tokens reserved for the
//!   completion fit the context length and the message count fits.
//! - Always kept: every system and developer message, the first user
//!   message (and anything before it), and the last turn.
//! - An assistant message with tool calls and the tool messages answering
//!   it form one unit, kept or removed whole, so a call is never separated
//!   from its result.
//! - Removed messages form one run from the middle (system messages within
//!   it stay). The most recent units are kept first, going back in time
//!   while they fit; then the units after the first user message, going
//!   forward. So the removed run is the oldest part of the middle that
//!   must go.
//! - With a message limit, half of the free slots go to the start and half
//!   to the end (a side that needs fewer leaves the rest to the other).
//! - When what must be kept is still too large, the middle of its largest
//!   texts is cut out (largest first), leaving a marker like
//!   `[... 12345 tokens removed by middle-out ...]`. System prompts are
//!   never cut: if they alone do not fit, the answer is an error stating
//!   the sizes.
//!
//! Cost: every message is counted once ([`count_messages`]); choosing what
//! to keep is one pass over the units with running sums; only a message
//! that is cut is counted again. [`middle_out_counted`] takes counts the
//! caller already has (the gateway counts once, for routing and for this).

mod truncate;

use tollgate_schema::chat::{ChatRequest, Message, Role};

pub use truncate::{cut_middle, marker};

use crate::count::{TokenCount, count_messages, count_request};
use crate::tokenizer::TokenCounter;
use crate::{Error, Result};

/// Completion tokens reserved when the request sets no `max_tokens`: at
/// most this, a quarter of the context, and the endpoint's output cap.
pub const DEFAULT_RESERVED_OUTPUT: u64 = 1024;

/// What one endpoint allows a request: plain numbers, so this crate needs
/// nothing from the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The endpoint's context length, prompt and completion together.
    pub context_length: u64,
    /// Tokens reserved for the completion.
    pub max_output: u64,
    /// The most messages the endpoint accepts in one request.
    pub max_messages: Option<u32>,
}

impl Limits {
    /// Limits of a context length alone.
    pub fn new(context_length: u64) -> Self {
        Limits {
            context_length,
            max_output: 0,
            max_messages: None,
        }
    }

    /// The same limits with `max_output` completion tokens reserved.
    pub fn with_max_output(self, max_output: u64) -> Self {
        Limits { max_output, ..self }
    }

    /// The same limits with a message cap.
    pub fn with_max_messages(self, max_messages: Option<u32>) -> Self {
        Limits {
            max_messages,
            ..self
        }
    }

    /// Limits for one request on one endpoint. The completion reserve is
    /// the request's `max_tokens` capped at the endpoint's output limit
    /// (`endpoint_max_output`, 0 = none), or when the request sets none,
    /// the least of [`DEFAULT_RESERVED_OUTPUT`], a quarter of the context
    /// and the endpoint's output limit.
    pub fn for_request(
        context_length: u64,
        endpoint_max_output: u64,
        requested_max_output: Option<u32>,
        max_messages: Option<u32>,
    ) -> Self {
        let cap = if endpoint_max_output == 0 {
            u64::MAX
        } else {
            endpoint_max_output
        };
        let max_output = match requested_max_output {
            Some(n) => u64::from(n).min(cap),
            None => DEFAULT_RESERVED_OUTPUT.min(context_length / 4).min(cap),
        };
        Limits {
            context_length,
            max_output,
            max_messages,
        }
    }

    /// Tokens the prompt may use: the context length less the reserve.
    pub fn prompt_budget(&self) -> u64 {
        self.context_length.saturating_sub(self.max_output)
    }

    fn message_cap(&self) -> usize {
        self.max_messages
            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX))
    }

    fn too_large(&self, prompt_tokens: u64) -> Error {
        Error::PromptTooLarge {
            prompt_tokens,
            context_length: self.context_length,
            max_output: self.max_output,
        }
    }
}

/// What middle-out did, for the generation record and the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Messages removed.
    pub removed_messages: usize,
    /// Messages (or a raw prompt) whose middle was cut out.
    pub truncated_messages: usize,
    /// Prompt tokens before.
    pub tokens_before: u64,
    /// Prompt tokens after: what is sent.
    pub tokens_after: u64,
}

impl Report {
    /// Whether anything was removed or cut.
    pub fn changed(&self) -> bool {
        self.removed_messages > 0 || self.truncated_messages > 0
    }
}

/// The messages middle-out kept, and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The messages to send.
    pub messages: Vec<Message>,
    /// Messages removed.
    pub removed_messages: usize,
    /// Messages whose middle was cut out.
    pub truncated_messages: usize,
    /// Prompt tokens before (messages and overhead).
    pub tokens_before: u64,
    /// Prompt tokens after.
    pub tokens_after: u64,
}

impl Outcome {
    /// The statistics without the messages.
    pub fn report(&self) -> Report {
        Report {
            removed_messages: self.removed_messages,
            truncated_messages: self.truncated_messages,
            tokens_before: self.tokens_before,
            tokens_after: self.tokens_after,
        }
    }
}

/// For a request sent without middle-out: an error stating the prompt's
/// size and the context length when the prompt plus the completion reserve
/// exceed the context, or when there are more messages than the endpoint
/// accepts.
pub fn check_fits(count: &TokenCount, limits: &Limits) -> Result<()> {
    if count.total > limits.prompt_budget() {
        return Err(limits.too_large(count.total));
    }
    let cap = limits.message_cap();
    if count.per_message.len() > cap {
        return Err(Error::TooManyMessages {
            messages: count.per_message.len(),
            max_messages: cap,
        });
    }
    Ok(())
}

/// Middle-out over a list of messages (counting them first). The prompt is
/// the messages plus the reply priming; for a whole request, with tools,
/// use [`apply_middle_out`].
pub fn middle_out<C: TokenCounter + ?Sized>(
    messages: &[Message],
    limits: &Limits,
    counter: &C,
) -> Result<Outcome> {
    let count = count_messages(messages, counter);
    middle_out_counted(messages, &count, limits, counter)
}

/// Middle-out with the messages already counted: `count.per_message[i]` is
/// message `i`'s tokens and `count.overhead` the tokens outside the
/// messages (reply priming, tools). Counts of the wrong length are
/// recomputed. Only messages that are cut are counted again.
pub fn middle_out_counted<C: TokenCounter + ?Sized>(
    messages: &[Message],
    count: &TokenCount,
    limits: &Limits,
    counter: &C,
) -> Result<Outcome> {
    if count.per_message.len() != messages.len() {
        let fresh = count_messages(messages, counter).per_message;
        let count = TokenCount::new(fresh, count.overhead);
        return middle_out_counted(messages, &count, limits, counter);
    }
    let budget = limits.prompt_budget();
    let cap = limits.message_cap();
    let tokens_before = count.per_message.iter().sum::<u64>() + count.overhead;
    if tokens_before <= budget && messages.len() <= cap {
        return Ok(Outcome {
            messages: messages.to_vec(),
            removed_messages: 0,
            truncated_messages: 0,
            tokens_before,
            tokens_after: tokens_before,
        });
    }

    let units = units(messages, &count.per_message);
    let plan = plan(messages, &units, count.overhead, budget, cap)?;
    let mut kept: Vec<Message> = Vec::with_capacity(plan.kept_messages);
    let mut kept_tokens: Vec<u64> = Vec::with_capacity(plan.kept_messages);
    let mut cuttable: Vec<usize> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        let keep = u < plan.head || u >= plan.tail || unit.system;
        if !keep {
            continue;
        }
        let range = unit.start..unit.end;
        for (m, &n) in messages[range.clone()]
            .iter()
            .zip(&count.per_message[range])
        {
            if !unit.system {
                cuttable.push(kept.len());
            }
            kept.push(m.clone());
            kept_tokens.push(n);
        }
    }
    let removed_messages = messages.len() - kept.len();
    let mut total = plan.tokens;
    let mut truncated = vec![false; kept.len()];
    if total > budget {
        // What must be kept is too large: cut the largest texts first.
        cuttable.sort_by_key(|&i| std::cmp::Reverse(kept_tokens[i]));
        for &i in &cuttable {
            if total <= budget {
                break;
            }
            let excess = total - budget;
            if let Some((m, n)) =
                truncate::shrink_message(&kept[i], kept_tokens[i], excess, counter)
            {
                total = total - kept_tokens[i] + n;
                kept[i] = m;
                kept_tokens[i] = n;
                truncated[i] = true;
            }
        }
        if total > budget {
            return Err(Error::CannotFit {
                prompt_tokens: tokens_before,
                min_tokens: total,
                context_length: limits.context_length,
                max_output: limits.max_output,
            });
        }
    }
    Ok(Outcome {
        messages: kept,
        removed_messages,
        truncated_messages: truncated.iter().filter(|t| **t).count(),
        tokens_before,
        tokens_after: total,
    })
}

/// Middle-out over a whole request, in place: its messages (with the
/// tokens of tools and response schema counted as overhead that cannot be
/// removed), or its raw `prompt`, whose middle is cut.
pub fn apply_middle_out<C: TokenCounter + ?Sized>(
    request: &mut ChatRequest,
    limits: &Limits,
    counter: &C,
) -> Result<Report> {
    let count = count_request(request, counter);
    apply_middle_out_counted(request, &count, limits, counter)
}

/// [`apply_middle_out`] with the request already counted by
/// [`count_request`] (as the gateway does once, before routing).
pub fn apply_middle_out_counted<C: TokenCounter + ?Sized>(
    request: &mut ChatRequest,
    count: &TokenCount,
    limits: &Limits,
    counter: &C,
) -> Result<Report> {
    if let Some(messages) = &request.messages {
        let outcome = middle_out_counted(messages, count, limits, counter)?;
        let report = outcome.report();
        if report.changed() {
            request.messages = Some(outcome.messages);
        }
        return Ok(report);
    }
    let Some(prompt) = &request.prompt else {
        return Ok(Report {
            tokens_before: count.total,
            tokens_after: count.total,
            ..Report::default()
        });
    };
    // A raw prompt: one text, so cut its middle.
    let budget = limits.prompt_budget();
    if count.total <= budget {
        return Ok(Report {
            tokens_before: count.total,
            tokens_after: count.total,
            ..Report::default()
        });
    }
    let prompt_tokens = counter.count_text(prompt);
    let fixed = count.total.saturating_sub(prompt_tokens);
    let marker_tokens = counter.count_text(&marker(prompt_tokens));
    let cannot_fit = Error::CannotFit {
        prompt_tokens: count.total,
        min_tokens: fixed + marker_tokens,
        context_length: limits.context_length,
        max_output: limits.max_output,
    };
    let Some(mut keep) = budget.checked_sub(fixed + marker_tokens) else {
        return Err(cannot_fit);
    };
    for _ in 0..4 {
        let cut = cut_middle(prompt, keep, Some(prompt_tokens), counter);
        let n = counter.count_text(&cut);
        if fixed + n <= budget {
            request.prompt = Some(cut);
            return Ok(Report {
                removed_messages: 0,
                truncated_messages: 1,
                tokens_before: count.total,
                tokens_after: fixed + n,
            });
        }
        keep = keep.saturating_sub(fixed + n - budget);
    }
    Err(cannot_fit)
}

/// A run of messages kept or removed together.
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    tokens: u64,
    /// A system or developer message: always kept.
    system: bool,
}

impl Unit {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

fn is_system(m: &Message) -> bool {
    matches!(m.role, Role::System | Role::Developer)
}

fn makes_calls(m: &Message) -> bool {
    m.role == Role::Assistant
        && (m.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
            || m.extra.contains_key("function_call"))
}

fn is_result(m: &Message) -> bool {
    matches!(m.role, Role::Tool | Role::Function)
}

/// Groups messages into units: an assistant turn with tool calls and the
/// tool results following it are one unit; every other message is its own.
fn units(messages: &[Message], tokens: &[u64]) -> Vec<Unit> {
    let mut out = Vec::with_capacity(messages.len());
    let mut i = 0;
    while i < messages.len() {
        let mut end = i + 1;
        if makes_calls(&messages[i]) {
            while end < messages.len() && is_result(&messages[end]) {
                end += 1;
            }
        }
        out.push(Unit {
            start: i,
            end,
            tokens: tokens[i..end].iter().sum(),
            system: is_system(&messages[i]),
        });
        i = end;
    }
    out
}

/// Which units to keep: `[0, head)`, the system units in between, and
/// `[tail, len)`; with the tokens and messages that comes to.
struct Plan {
    head: usize,
    tail: usize,
    tokens: u64,
    kept_messages: usize,
}

fn plan(
    messages: &[Message],
    units: &[Unit],
    overhead: u64,
    budget: u64,
    cap: usize,
) -> Result<Plan> {
    let n = units.len();
    // Must keep: everything up to the first user message, and the last unit.
    let head = units
        .iter()
        .position(|u| !u.system && messages[u.start].role == Role::User)
        .map_or(0, |f| f + 1);
    let tail = n.saturating_sub(1).max(head);
    let mut p = Plan {
        head,
        tail,
        tokens: overhead,
        kept_messages: 0,
    };
    for (u, unit) in units.iter().enumerate() {
        if u < head || u >= tail || unit.system {
            p.tokens += unit.tokens;
            p.kept_messages += unit.len();
        }
    }
    if p.kept_messages > cap {
        return Err(Error::CannotFitMessages {
            required: p.kept_messages,
            max_messages: cap,
        });
    }
    let free = cap - p.kept_messages;
    // Half the free slots for the end (the odd one too), half for the start.
    let tail_quota = free - free / 2;
    let tail_cap = p.kept_messages + tail_quota;
    grow_tail(&mut p, units, budget, tail_cap);
    grow_head(&mut p, units, budget, cap);
    grow_tail(&mut p, units, budget, cap);
    Ok(p)
}

/// Keeps units before `p.tail`, newest first, while they fit.
fn grow_tail(p: &mut Plan, units: &[Unit], budget: u64, cap: usize) {
    while p.tail > p.head {
        let unit = &units[p.tail - 1];
        if !unit.system {
            if p.tokens + unit.tokens > budget || p.kept_messages + unit.len() > cap {
                return;
            }
            p.tokens += unit.tokens;
            p.kept_messages += unit.len();
        }
        p.tail -= 1;
    }
}

/// Keeps units from `p.head` on, oldest first, while they fit.
fn grow_head(p: &mut Plan, units: &[Unit], budget: u64, cap: usize) {
    while p.head < p.tail {
        let unit = &units[p.head];
        if !unit.system {
            if p.tokens + unit.tokens > budget || p.kept_messages + unit.len() > cap {
                return;
            }
            p.tokens += unit.tokens;
            p.kept_messages += unit.len();
        }
        p.head += 1;
    }
}

#[cfg(test)]
mod tests;
