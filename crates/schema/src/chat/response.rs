//! The non-streaming chat completion response.

use serde::Serialize;

use crate::keyed::with_extra;

use super::tools::ToolCall;
use crate::Extra;
use crate::usage::Usage;
use crate::wire_error::ErrorBody;

/// `object: "chat.completion"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ChatCompletion {
    /// `gen-...`; also the `X-Generation-Id` header.
    pub id: String,
    /// `"chat.completion"`.
    #[serde(default = "chat_completion")]
    pub object: String,
    /// Unix seconds.
    pub created: i64,
    /// The model that answered.
    pub model: String,
    /// Display name of the provider that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Backend configuration fingerprint; required (nullable) by the
    /// OpenAPI document, so always written.
    #[serde(default)]
    pub system_fingerprint: Option<String>,
    /// The answers (one unless `n` > 1).
    pub choices: Vec<Choice>,
    /// Token counts and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

fn chat_completion() -> String {
    String::from("chat.completion")
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Choice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    pub message: ResponseMessage,
    /// `stop`, `length`, `tool_calls`, `content_filter` or `error`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The provider's own finish reason (`end_turn`, `STOP`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_finish_reason: Option<String>,
    /// Log probabilities, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<serde_json::Value>,
    /// Error that ended this choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The assistant message of a response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ResponseMessage {
    /// `"assistant"`.
    #[serde(default = "assistant")]
    pub role: String,
    /// The text; null when the turn is only tool calls.
    #[serde(default)]
    pub content: Option<String>,
    /// Refusal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning (thinking) text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Structured reasoning blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<serde_json::Value>>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Unknown keys, kept (`images`, `annotations`, `audio`).
    #[serde(flatten)]
    pub extra: Extra,
}

fn assistant() -> String {
    String::from("assistant")
}

with_extra!(ChatCompletion, "a chat completion",
    required {
        "id" => id,
        "created" => created,
        "model" => model,
        "choices" => choices,
    }
    optional {
        "object" => object = chat_completion(),
        "provider" => provider = None,
        "system_fingerprint" => system_fingerprint = None,
        "usage" => usage = None,
    }
);

with_extra!(Choice, "a choice",
    required { "message" => message }
    optional {
        "index" => index = 0,
        "finish_reason" => finish_reason = None,
        "native_finish_reason" => native_finish_reason = None,
        "logprobs" => logprobs = None,
        "error" => error = None,
    }
);

with_extra!(ResponseMessage, "an assistant message",
    required {}
    optional {
        "role" => role = assistant(),
        "content" => content = None,
        "refusal" => refusal = None,
        "reasoning" => reasoning = None,
        "reasoning_details" => reasoning_details = None,
        "tool_calls" => tool_calls = None,
    }
);

impl ResponseMessage {
    /// An assistant message with text.
    pub fn text(text: impl Into<String>) -> Self {
        ResponseMessage {
            role: assistant(),
            content: Some(text.into()),
            refusal: None,
            reasoning: None,
            reasoning_details: None,
            tool_calls: None,
            extra: Extra::new(),
        }
    }
}
