//! Moderation: endpoints whose listing says `is_moderated` see a request's
//! input only once the `[moderation]` backend (the OpenAI moderation API,
//! `tollgate_transport::moderation`) passed it.
//!
//! * **When**: per attempt at a moderated endpoint, and never for an
//!   unmoderated one. The backend is asked at most once per request (the
//!   input is the same for every endpoint): the request's [`Screen`]
//!   keeps the verdict, so fallbacks do not ask again.
//! * **Before any hold or upstream call** ([`screen`], a stage between
//!   prepare and admit): while the plan starts with a moderated endpoint
//!   the verdict is needed before anything else. A flagged input (or a
//!   backend that cannot answer) takes every moderated endpoint out of the
//!   plan; what is left (unmoderated endpoints, `models` fallbacks) is
//!   held for and served as usual; nothing left is the moderation 403 (or
//!   a 503), with no hold, no ledger entry and no generation. A moderated
//!   endpoint later in the plan is checked when its turn comes
//!   ([`check`], in the attempt loop), so a request the first
//!   (unmoderated) endpoint answers never waits for the backend.
//! * **Flagged**: 403 `{"error":{"code":403,"message",
//!   "metadata":{"reasons","flagged_input","provider_name","model_slug"}}}`
//!   (api-reference "Moderation Errors"; `metadata.error_type` is
//!   `content_policy_violation`, as on every error of the gateway).
//!   `flagged_input` is the flagged message's text, at most 100
//!   characters, cut in the middle with `...` ([`flagged_excerpt`]).
//! * **Backend down** (unreachable, timeout, an error status, an answer
//!   that is not the moderation API's, or no `[moderation]` configured):
//!   fail closed. A moderated endpoint is never called with unchecked
//!   input; when nothing else is left the answer is 503 naming moderation.
//! * A provider's own refusal (`ProviderError::refusal`) gets the same 403
//!   ([`provider_refused`]).
//!
//! The input checked is the text of every message (text parts joined),
//! one backend input per message with text; images and files are not
//! sent.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use tollgate_schema::chat::ChatRequest;
use tollgate_transport::{HttpClient, ModerationClient, ProviderError, Refusal};

use crate::config::ModerationConfig;
use crate::error::{ApiError, Flagged};
use crate::pipeline::{Planned, Target};
use crate::state::AppState;

/// Most characters of `flagged_input` (api-reference "Moderation Errors").
pub const FLAGGED_INPUT_CHARS: usize = 100;

/// The configured moderation backend.
#[derive(Debug, Clone)]
pub struct Moderation {
    client: ModerationClient,
}

impl Moderation {
    /// The backend of `[moderation]`, with its key read from the
    /// environment; `Err` names what is missing.
    pub fn from_config(config: &ModerationConfig, client: &HttpClient) -> Result<Self, String> {
        let api_key = match &config.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => Some(key.trim().to_string()),
                _ => {
                    return Err(format!(
                        "moderation.api_key_env: the environment variable `{var}` is not set"
                    ));
                }
            },
        };
        Ok(Moderation {
            client: ModerationClient::new(
                client.clone(),
                &config.base_url,
                config.model.clone(),
                api_key,
                Duration::from_secs_f64(config.timeout_secs),
            ),
        })
    }
}

/// What the backend said of a request's input.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing flagged.
    Clean,
    /// Flagged: the categories, and the first flagged message's text.
    Flagged {
        /// The flagged categories (`violence`, ...), each once.
        reasons: Vec<String>,
        /// The flagged text, cut to [`FLAGGED_INPUT_CHARS`].
        flagged_input: String,
    },
    /// No verdict: the backend is not configured or did not answer.
    Unavailable,
}

/// One request's moderation: its input, judged at most once.
#[derive(Debug)]
pub struct Screen {
    request: Arc<ChatRequest>,
    verdict: OnceCell<Verdict>,
    latency: OnceLock<Duration>,
}

impl Screen {
    /// The screen of `request` (nothing is asked yet).
    pub fn new(request: Arc<ChatRequest>) -> Screen {
        Screen {
            request,
            verdict: OnceCell::new(),
            latency: OnceLock::new(),
        }
    }

    /// The verdict, asking the backend the first time.
    pub async fn verdict(&self, state: &AppState) -> &Verdict {
        self.verdict
            .get_or_init(|| async {
                let Some(moderation) = &state.moderation else {
                    tracing::warn!(
                        "a moderated endpoint was planned but [moderation] is not configured"
                    );
                    return Verdict::Unavailable;
                };
                let inputs = inputs(&self.request);
                if inputs.is_empty() {
                    return Verdict::Clean;
                }
                let began = Instant::now();
                let answer = moderation.client.moderate(&inputs).await;
                let _ = self.latency.set(began.elapsed());
                match answer {
                    Ok(results) => judge(&inputs, &results),
                    Err(e) => {
                        tracing::warn!(error = %e, url = moderation.client.url(), "moderation backend failed; moderated endpoints are skipped");
                        Verdict::Unavailable
                    }
                }
            })
            .await
    }

    /// How long the backend took, when it was asked (`moderation_latency`
    /// of `/generation`, in milliseconds).
    pub fn latency_ms(&self) -> Option<u64> {
        self.latency
            .get()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The input a provider refused, for its `flagged_input`: the last
    /// message with text, cut as a flagged input is.
    fn last_input(&self) -> String {
        inputs(&self.request)
            .last()
            .map(|s| flagged_excerpt(s))
            .unwrap_or_default()
    }
}

/// The backend inputs of a request: the text of each message that has
/// any, in order.
pub fn inputs(request: &ChatRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .flatten()
        .map(|m| m.text_content())
        .filter(|t| !t.trim().is_empty())
        .collect()
}

fn judge(inputs: &[String], results: &[tollgate_transport::ModerationResult]) -> Verdict {
    let mut reasons: Vec<String> = Vec::new();
    let mut flagged_input = None;
    for (input, result) in inputs.iter().zip(results) {
        if !result.flagged {
            continue;
        }
        flagged_input.get_or_insert_with(|| flagged_excerpt(input));
        let mut any = false;
        for category in result.flagged_categories() {
            any = true;
            if !reasons.iter().any(|r| r == category) {
                reasons.push(category.to_string());
            }
        }
        if !any && reasons.is_empty() {
            reasons.push(String::from("flagged"));
        }
    }
    match flagged_input {
        Some(flagged_input) => Verdict::Flagged {
            reasons,
            flagged_input,
        },
        None => Verdict::Clean,
    }
}

/// `text` as `flagged_input` shows it: whole when it has at most
/// [`FLAGGED_INPUT_CHARS`] characters, else its first 48 and last 49
/// characters around `...` (100 in all).
pub fn flagged_excerpt(text: &str) -> String {
    let count = text.chars().count();
    if count <= FLAGGED_INPUT_CHARS {
        return text.to_string();
    }
    let keep = FLAGGED_INPUT_CHARS - 3;
    let head = keep / 2;
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}...{end}")
}

/// Stage 1½, before admit and hold: the request's [`Screen`] goes into
/// `target`, and when the plan starts with a moderated endpoint the
/// backend is asked now (see the module docs).
pub async fn screen(
    state: &AppState,
    target: &mut Target,
    request: &Arc<ChatRequest>,
) -> Result<(), ApiError> {
    let screen = Arc::new(Screen::new(request.clone()));
    target.screen = Some(screen.clone());
    let Some(first) = target.endpoints.first() else {
        return Ok(());
    };
    if !first.endpoint.is_moderated {
        return Ok(());
    }
    let verdict = screen.verdict(state).await;
    let Some(refusal) = refusal(first, verdict) else {
        return Ok(());
    };
    target.endpoints.retain(|p| !p.endpoint.is_moderated);
    if target.endpoints.is_empty() {
        return Err(refusal);
    }
    tracing::info!(
        left = target.endpoints.len(),
        "moderated endpoints left out of the plan"
    );
    Ok(())
}

/// In the attempt loop: the error that skips `planned` (a moderated
/// endpoint) when the input is flagged or cannot be checked, `None` when
/// it may be called. Without a screen (a route that does not moderate)
/// the endpoint is skipped.
pub async fn check(
    state: &AppState,
    screen: Option<&Screen>,
    planned: &Planned,
) -> Option<ApiError> {
    let Some(screen) = screen else {
        return Some(unavailable(planned));
    };
    refusal(planned, screen.verdict(state).await)
}

/// The attempt label of a moderated endpoint left out (`x-tollgate-attempts`).
pub const SKIPPED: &str = "moderated";

fn refusal(planned: &Planned, verdict: &Verdict) -> Option<ApiError> {
    match verdict {
        Verdict::Clean => None,
        Verdict::Flagged {
            reasons,
            flagged_input,
        } => Some(flagged(
            planned,
            reasons.clone(),
            flagged_input.clone(),
            format!(
                "{} requires moderation on {}. Your input was flagged for \"{}\". No credits were charged.",
                planned.model,
                planned.endpoint.provider_name,
                reasons.join(", ")
            ),
        )),
        Verdict::Unavailable => Some(unavailable(planned)),
    }
}

fn flagged(planned: &Planned, reasons: Vec<String>, input: String, message: String) -> ApiError {
    ApiError::Moderated(Box::new(Flagged {
        message,
        reasons,
        flagged_input: input,
        provider_name: planned.endpoint.provider_name.clone(),
        model_slug: planned.model.clone(),
    }))
}

fn unavailable(planned: &Planned) -> ApiError {
    ApiError::NoEndpoint {
        status: 503,
        message: format!(
            "{} requires moderation on {}, and the moderation service is unavailable",
            planned.model, planned.endpoint.provider_name
        ),
    }
}

/// A provider's own content refusal of `planned`'s call, as the moderation
/// 403 (the flagged input is the provider's when it named one, else the
/// request's last message).
pub fn provider_refused(
    e: &ProviderError,
    refusal: Refusal,
    planned: &Planned,
    screen: Option<&Screen>,
) -> ApiError {
    let input = refusal
        .flagged_input
        .map(|s| flagged_excerpt(&s))
        .or_else(|| screen.map(Screen::last_input))
        .unwrap_or_default();
    let message = format!(
        "{} refused the input on content grounds ({}). No credits were charged.",
        e.provider_name(),
        refusal.reasons.join(", ")
    );
    ApiError::Moderated(Box::new(Flagged {
        message,
        reasons: refusal.reasons,
        flagged_input: input,
        provider_name: e.provider_name().to_string(),
        model_slug: planned.model.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_transport::ModerationResult;

    #[test]
    fn short_inputs_are_whole() {
        let s = "x".repeat(100);
        assert_eq!(flagged_excerpt(&s), s);
        assert_eq!(flagged_excerpt("kill"), "kill");
    }

    #[test]
    fn long_inputs_are_cut_in_the_middle() {
        let s: String = (0..150)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let cut = flagged_excerpt(&s);
        assert_eq!(cut.chars().count(), 100);
        assert!(cut.starts_with(&s[..48]));
        assert_eq!(&cut[48..51], "...");
        assert!(cut.ends_with(&s[101..]));
        // Characters, not bytes.
        let wide = "é".repeat(101);
        let cut = flagged_excerpt(&wide);
        assert_eq!(cut.chars().count(), 100);
        assert_eq!(cut, format!("{}...{}", "é".repeat(48), "é".repeat(49)));
    }

    fn result(flagged: bool, categories: &[&str]) -> ModerationResult {
        ModerationResult {
            flagged,
            categories: categories.iter().map(|c| (c.to_string(), true)).collect(),
            category_scores: Default::default(),
        }
    }

    #[test]
    fn verdicts_name_each_category_once_and_the_first_flagged_input() {
        let inputs = ["fine".to_string(), "bad".into(), "worse".into()];
        let v = judge(
            &inputs,
            &[
                result(false, &[]),
                result(true, &["violence"]),
                result(true, &["harassment", "violence"]),
            ],
        );
        assert_eq!(
            v,
            Verdict::Flagged {
                reasons: vec!["violence".into(), "harassment".into()],
                flagged_input: "bad".into()
            }
        );
        assert_eq!(
            judge(&inputs[..1], &[result(false, &["violence"])]),
            Verdict::Clean
        );
    }
}
