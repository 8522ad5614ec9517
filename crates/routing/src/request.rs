//! The routing-relevant parts of a request.

use std::collections::BTreeSet;

use tollgate_schema::chat::{ChatRequest, ContentPart, MessageContent};
use tollgate_schema::provider::ProviderPreferences;

/// What the router needs to know about one request.
///
/// Build it from a chat request with [`RouteRequest::from_chat`], or by hand
/// (every field is public; [`RouteRequest::new`] and the `with_*` methods
/// are shorthands).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteRequest {
    /// `model`: the first model to try.
    pub model: Option<String>,
    /// `models`: fallback models, tried after `model` in order (duplicates
    /// of `model` are skipped).
    pub models: Vec<String>,
    /// `provider` preferences.
    pub provider: ProviderPreferences,
    /// Names of the request parameters used, as endpoints' supported
    /// parameters name them (`temperature`, `tools`, `response_format`, ...).
    pub parameters: BTreeSet<String>,
    /// Input modalities besides text the request carries (`image`,
    /// `audio`, `video`): only endpoints accepting them can serve it.
    pub input_modalities: BTreeSet<String>,
    /// Number of input images (for the per-image price).
    pub images: u32,
    /// Estimated prompt tokens.
    pub prompt_tokens: u64,
    /// Requested completion cap (`max_completion_tokens` or `max_tokens`).
    pub max_output_tokens: Option<u64>,
    /// Whether the prompt may be compressed to fit a context (middle-out
    /// is on): when no endpoint of a model has room for it, the endpoints
    /// that are too small are kept, marked `compress`, instead of being
    /// excluded.
    pub compressible: bool,
    /// `route`: the deprecated alias of `provider.sort.partition`
    /// (`fallback` or `sort`; others are refused by [`crate::plan`]).
    pub route: Option<String>,
}

impl RouteRequest {
    /// A request for `model` with nothing else set.
    pub fn new(model: impl Into<String>) -> RouteRequest {
        RouteRequest {
            model: Some(model.into()),
            ..RouteRequest::default()
        }
    }

    /// Sets the provider preferences.
    pub fn with_provider(mut self, provider: ProviderPreferences) -> RouteRequest {
        self.provider = provider;
        self
    }

    /// Adds request parameters used.
    pub fn with_parameters<I, S>(mut self, names: I) -> RouteRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.parameters.extend(names.into_iter().map(Into::into));
        self
    }

    /// Sets the estimated prompt tokens.
    pub fn with_prompt_tokens(mut self, tokens: u64) -> RouteRequest {
        self.prompt_tokens = tokens;
        self
    }

    /// Sets the requested completion cap.
    pub fn with_max_output_tokens(mut self, tokens: u64) -> RouteRequest {
        self.max_output_tokens = Some(tokens);
        self
    }

    /// The routing parts of a chat request; `prompt_tokens` is the caller's
    /// estimate of the prompt size.
    ///
    /// Parameters are named as endpoints' `supported_parameters` name them,
    /// and only parameters that ask for something count:
    ///
    /// * every sampling parameter that is set (`temperature`, `top_p`,
    ///   `top_k`, `min_p`, `top_a`, `frequency_penalty`, `presence_penalty`,
    ///   `repetition_penalty`, `seed`, `logit_bias`, `top_logprobs`),
    ///   `logprobs` when true, `stop` when it has a sequence;
    /// * `max_tokens` for either `max_tokens` or `max_completion_tokens`
    ///   (the same cap, translated per dialect);
    /// * `response_format` unless its type is `text` (every model writes
    ///   text), plus `structured_outputs` for `json_schema`;
    /// * `tools` when non-empty, `tool_choice`, `parallel_tool_calls`;
    /// * `reasoning` for `reasoning` or `reasoning_effort` (unless disabled:
    ///   `enabled: false` or effort `none`), `include_reasoning`;
    /// * `web_search_options` (a top-level key the schema keeps in `extra`).
    ///
    /// Other keys (`prediction`, `verbosity`, ...) are not counted: no
    /// listing can declare them, so `require_parameters` could never be met.
    ///
    /// Image, audio and video content parts set `input_modalities` (and
    /// `images` counts the images); file parts do not, since the gateway's
    /// file parser can turn them into text. `compressible` is
    /// [`ChatRequest::middle_out`].
    pub fn from_chat(chat: &ChatRequest, prompt_tokens: u64) -> RouteRequest {
        let mut p = BTreeSet::new();
        let mut add = |name: &str, used: bool| {
            if used {
                p.insert(name.to_string());
            }
        };
        add("temperature", chat.temperature.is_some());
        add("top_p", chat.top_p.is_some());
        add("top_k", chat.top_k.is_some());
        add("min_p", chat.min_p.is_some());
        add("top_a", chat.top_a.is_some());
        add("frequency_penalty", chat.frequency_penalty.is_some());
        add("presence_penalty", chat.presence_penalty.is_some());
        add("repetition_penalty", chat.repetition_penalty.is_some());
        add("seed", chat.seed.is_some());
        add("logit_bias", chat.logit_bias.is_some());
        add("logprobs", chat.logprobs == Some(true));
        add("top_logprobs", chat.top_logprobs.is_some());
        add("max_tokens", chat.max_output_tokens().is_some());
        add(
            "stop",
            chat.stop.as_ref().is_some_and(|s| !s.to_vec().is_empty()),
        );
        if let Some(rf) = &chat.response_format {
            add("response_format", rf.kind != "text");
            add("structured_outputs", rf.kind == "json_schema");
        }
        add("tools", chat.tools.as_ref().is_some_and(|t| !t.is_empty()));
        add("tool_choice", chat.tool_choice.is_some());
        add("parallel_tool_calls", chat.parallel_tool_calls.is_some());
        let reasoning_on = chat
            .reasoning
            .as_ref()
            .is_some_and(|r| r.enabled != Some(false) && r.effort.as_deref() != Some("none"))
            || chat
                .reasoning_effort
                .as_deref()
                .is_some_and(|e| e != "none");
        add("reasoning", reasoning_on);
        add("include_reasoning", chat.include_reasoning.is_some());
        add(
            "web_search_options",
            chat.extra.contains_key("web_search_options"),
        );

        let mut modalities = BTreeSet::new();
        let mut images = 0u32;
        for message in chat.messages.iter().flatten() {
            let Some(MessageContent::Parts(parts)) = &message.content else {
                continue;
            };
            for part in parts {
                match part {
                    ContentPart::ImageUrl(_) => {
                        images = images.saturating_add(1);
                        modalities.insert("image".to_string());
                    }
                    ContentPart::InputAudio(_) => {
                        modalities.insert("audio".to_string());
                    }
                    ContentPart::VideoUrl(_) => {
                        modalities.insert("video".to_string());
                    }
                    _ => {}
                }
            }
        }

        RouteRequest {
            model: chat.model.clone(),
            models: chat.models.clone().unwrap_or_default(),
            provider: chat.provider.clone().unwrap_or_default(),
            parameters: p,
            input_modalities: modalities,
            images,
            prompt_tokens,
            max_output_tokens: chat.max_output_tokens().map(u64::from),
            compressible: chat.middle_out(),
            route: chat.route.clone(),
        }
    }

    /// The models to try, in order: `model`, then `models` without
    /// duplicates.
    pub fn model_chain(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::with_capacity(1 + self.models.len());
        for m in self.model.iter().chain(self.models.iter()) {
            if !out.contains(&m.as_str()) {
                out.push(m);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(json: &str) -> ChatRequest {
        serde_json::from_str(json).unwrap()
    }

    fn params(r: &RouteRequest) -> Vec<&str> {
        r.parameters.iter().map(String::as_str).collect()
    }

    #[test]
    fn derives_parameters() {
        let r = RouteRequest::from_chat(
            &chat(
                r#"{"model":"a/b","messages":[{"role":"user","content":"hi"}],
                "temperature":0.2,"max_completion_tokens":100,"stop":["x"],
                "response_format":{"type":"json_schema","json_schema":{"name":"s"}},
                "tools":[{"type":"function","function":{"name":"f"}}],
                "tool_choice":"auto","reasoning":{"effort":"high"},"logprobs":false,
                "web_search_options":{"max_results":3}}"#,
            ),
            42,
        );
        assert_eq!(
            params(&r),
            [
                "max_tokens",
                "reasoning",
                "response_format",
                "stop",
                "structured_outputs",
                "temperature",
                "tool_choice",
                "tools",
                "web_search_options"
            ]
        );
        assert_eq!(r.prompt_tokens, 42);
        assert_eq!(r.max_output_tokens, Some(100));
        assert!(r.compressible);
        assert!(r.input_modalities.is_empty());
    }

    #[test]
    fn no_op_parameters_do_not_count() {
        let r = RouteRequest::from_chat(
            &chat(
                r#"{"messages":[],"response_format":{"type":"text"},"tools":[],
                "stop":[],"reasoning":{"enabled":false},"reasoning_effort":"none",
                "prediction":{"type":"content","content":"x"},"transforms":[]}"#,
            ),
            0,
        );
        assert!(r.parameters.is_empty(), "{:?}", r.parameters);
        assert!(!r.compressible);
    }

    #[test]
    fn derives_modalities_and_models() {
        let r = RouteRequest::from_chat(
            &chat(
                r#"{"model":"a/b","models":["a/b","c/d"],"messages":[{"role":"user","content":[
                {"type":"text","text":"look"},
                {"type":"image_url","image_url":{"url":"https://x/1.png"}},
                {"type":"image_url","image_url":{"url":"https://x/2.png"}},
                {"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}},
                {"type":"file","file":{"filename":"a.pdf"}}]}],
                "provider":{"order":["x"]}}"#,
            ),
            0,
        );
        assert_eq!(r.images, 2);
        assert_eq!(
            r.input_modalities.iter().collect::<Vec<_>>(),
            ["audio", "image"]
        );
        assert_eq!(r.model_chain(), ["a/b", "c/d"]);
        assert_eq!(r.provider.order, Some(vec!["x".to_string()]));
    }
}
