//! Streaming chunks (`object: "chat.completion.chunk"`).

use serde::{Deserialize, Serialize};

use crate::keyed::with_extra;

use crate::Extra;
use crate::usage::Usage;
use crate::wire_error::ErrorBody;

/// One server-sent event of a streamed chat completion.
///
/// The last chunk before `[DONE]` carries `usage` and `choices: []`. A
/// chunk with a top-level `error` ends the stream with that error.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ChatChunk {
    /// `gen-...`, the same in every chunk.
    pub id: String,
    /// `"chat.completion.chunk"`.
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// The model answering.
    #[serde(default)]
    pub model: String,
    /// Display name of the provider answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Deltas.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, on the final chunk. (Boxed, like `error`: rare and large,
    /// they would make every chunk several hundred bytes larger to move.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Box<Usage>>,
    /// A mid-stream error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorBody>>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

fn chunk_object() -> String {
    String::from("chat.completion.chunk")
}

with_extra!(ChatChunk, "a chat completion chunk",
    required { "id" => id }
    optional {
        "object" => object = chunk_object(),
        "created" => created = 0,
        "model" => model = String::new(),
        "provider" => provider = None,
        "system_fingerprint" => system_fingerprint = None,
        "choices" => choices = Vec::new(),
        "usage" => usage = None,
        "error" => error = None,
    }
);

with_extra!(ChunkChoice, "a chunk choice",
    required {}
    optional {
        "index" => index = 0,
        "delta" => delta = Delta::default(),
        "finish_reason" => finish_reason = None,
        "native_finish_reason" => native_finish_reason = None,
        "logprobs" => logprobs = None,
        "error" => error = None,
    }
);

with_extra!(Delta, "a delta",
    required {}
    optional {
        "role" => role = None,
        "content" => content = None,
        "reasoning" => reasoning = None,
        "reasoning_details" => reasoning_details = None,
        "refusal" => refusal = None,
        "tool_calls" => tool_calls = None,
    }
);

/// One choice's delta.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ChunkChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// What is new.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The provider's own finish reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_finish_reason: Option<String>,
    /// Log probabilities, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<serde_json::Value>,
    /// Error that ended this choice (boxed: rare and large).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorBody>>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// New content of a streamed message.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Delta {
    /// `"assistant"`, on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Text fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Reasoning fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Structured reasoning fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<serde_json::Value>>,
    /// Refusal fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A fragment of a tool call; `index` says which call it continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ToolCallDelta {
    /// Which call (0-based) this fragment belongs to.
    pub index: u32,
    /// Call id, on the call's first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"function"`, on the call's first fragment.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and/or argument fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

/// Name and argument fragments of a streamed call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FunctionCallDelta {
    /// Function name, on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Next piece of the JSON arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}
