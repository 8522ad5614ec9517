//! The `POST /chat/completions` request body.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::message::Message;
use super::tools::{Tool, ToolChoice};
use crate::Extra;
use crate::provider::ProviderPreferences;

/// A chat completion request, as OpenRouter and OpenAI clients send it.
///
/// Every documented field is typed; anything else (clients spread
/// `extra_body` keys at the top level) is kept in `extra` and written back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ChatRequest {
    /// The conversation. Either `messages` or `prompt` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// A raw prompt instead of messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Model id, `author/slug[:variant]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Fallback models, tried in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// `"fallback"` (legacy; model fallback is implied by `models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,

    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling, 0 or above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    /// Min-p sampling, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    /// Top-a sampling, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_a: Option<f64>,
    /// -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// (0, 2].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    /// Deterministic sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Token id (as a string) to bias, -100 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, f64>>,
    /// Return log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many alternatives per position, 0 to 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Completion token cap (deprecated alias of `max_completion_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Completion token cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,

    /// Stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Stream options (`include_usage` is a no-op: usage is always sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Output format: text, JSON object or JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Which tool, if any, the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Allow several tool calls in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,

    /// Reasoning (thinking) settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    /// Shorthand for `reasoning.effort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Legacy: include reasoning in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_reasoning: Option<bool>,

    /// Legacy usage accounting switch (`{"include": true}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageRequest>,
    /// End-user id, for abuse tracking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Groups related requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Prompt transforms; `[]` disables the default `middle-out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transforms: Option<Vec<String>>,
    /// Provider routing preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderPreferences>,
    /// Plugins (`web`, `file-parser`, `context-compression`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<serde_json::Value>>,

    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatRequest {
    /// Whether the answer is to be streamed.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// How many completions the request asks for: `n` (kept in `extra`;
    /// 1 when absent or not a positive integer; validation rejects those).
    pub fn choices(&self) -> u64 {
        self.extra
            .get("n")
            .and_then(serde_json::Value::as_u64)
            .filter(|n| *n > 0)
            .unwrap_or(1)
    }

    /// The completion cap, from `max_completion_tokens` or `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether middle-out is on: a `context-compression` plugin decides
    /// (`enabled`, default true), as it replaces `transforms`; else it is on
    /// unless `transforms` is given without it.
    pub fn middle_out(&self) -> bool {
        let plugin = self.plugins.iter().flatten().find(|p| {
            p.get("id").and_then(serde_json::Value::as_str) == Some("context-compression")
        });
        if let Some(plugin) = plugin {
            return plugin
                .get("enabled")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true);
        }
        match &self.transforms {
            None => true,
            Some(t) => t.iter().any(|t| t == "middle-out"),
        }
    }
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Stop {
    /// One sequence.
    One(String),
    /// Several sequences (up to 4 for OpenAI).
    Many(Vec<String>),
}

impl Stop {
    /// The sequences as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct StreamOptions {
    /// Ask for usage in the last chunk (always sent anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ResponseFormat {
    /// `text`, `json_object`, `json_schema`, `grammar` or `python`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema, for `json_schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaFormat>,
    /// The grammar, for `grammar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A named JSON schema for structured output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct JsonSchemaFormat {
    /// Name, at most 64 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// Strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `reasoning`: effort or a token budget, and whether to show it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReasoningConfig {
    /// `max`, `xhigh`, `high`, `medium`, `low`, `minimal` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// Thinking token budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Think but leave the reasoning out of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<bool>,
    /// Turn reasoning on with default settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `auto`, `concise` or `detailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Legacy `usage: {include: bool}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageRequest {
    /// Include cost in `usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
