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

impl ChatChunk {
    /// Whether the chunk carries nothing beside its identity and choices:
    /// no usage, error or unknown keys.
    #[inline]
    pub fn carries_only_choices(&self) -> bool {
        self.usage.is_none() && self.error.is_none() && self.extra.is_empty()
    }
}

impl ChunkChoice {
    /// Whether the choice carries nothing beside its index, delta and
    /// finish reason: no provider finish reason, log probabilities, error
    /// or unknown keys.
    #[inline]
    pub fn carries_only_delta(&self) -> bool {
        self.native_finish_reason.is_none()
            && self.logprobs.is_none()
            && self.error.is_none()
            && self.extra.is_empty()
    }
}

impl Delta {
    /// Whether the delta carries at most a role and text: no reasoning,
    /// refusal, tool calls or unknown keys.
    #[inline]
    pub fn carries_only_role_and_text(&self) -> bool {
        self.reasoning.is_none()
            && self.reasoning_details.is_none()
            && self.refusal.is_none()
            && self.tool_calls.is_none()
            && self.extra.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn chunk(value: serde_json::Value) -> ChatChunk {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn any_part_beyond_role_and_text_is_seen() {
        let plain = json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]});
        let c = chunk(plain.clone());
        assert!(c.carries_only_choices());
        assert!(c.choices[0].carries_only_delta());
        assert!(c.choices[0].delta.carries_only_role_and_text());

        for (key, value) in [
            ("usage", json!({"prompt_tokens": 1, "completion_tokens": 1})),
            ("error", json!({"code": 500, "message": "x"})),
            ("service_tier", json!("default")),
        ] {
            let mut v = plain.clone();
            v[key] = value;
            assert!(!chunk(v).carries_only_choices(), "{key}");
        }
        for (key, value) in [
            ("native_finish_reason", json!("end_turn")),
            ("logprobs", json!({"content": []})),
            ("error", json!({"code": 500, "message": "x"})),
            ("stop_reason", json!(7)),
        ] {
            let mut v = plain.clone();
            v["choices"][0][key] = value;
            assert!(!chunk(v).choices[0].carries_only_delta(), "{key}");
        }
        for (key, value) in [
            ("reasoning", json!("hm")),
            ("reasoning_details", json!([])),
            ("refusal", json!("no")),
            ("tool_calls", json!([{"index": 0}])),
            ("obfuscation", json!("ab")),
        ] {
            let mut v = plain.clone();
            v["choices"][0]["delta"][key] = value;
            assert!(
                !chunk(v).choices[0].delta.carries_only_role_and_text(),
                "{key}"
            );
        }
    }
}
