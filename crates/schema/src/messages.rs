//! The Anthropic Messages API (`POST /v1/messages`) as an ingress wire:
//! the request, the answer (`type: "message"`), the stream events and the
//! error envelope `{"type":"error","error":{"type","message"}}`.
//!
//! As everywhere in this crate, objects keep the keys they do not know in
//! `extra` and write them back, and content blocks of a type this version
//! does not know are kept verbatim ([`ContentBlock::Other`]).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::chat::UsageRequest;
use crate::decimal::{de_lenient_opt, ser_number_opt};
use crate::provider::ProviderPreferences;

/// The key of the internal chat request's `extra` that carries what an
/// Anthropic Messages request says and the internal request cannot: its
/// unknown top-level fields (`fields`, an object) and its server tools
/// (`tools`, an array). The Anthropic adapter sends them as they came (a
/// field the body already has wins); other dialects drop them.
pub const ANTHROPIC_PASSTHROUGH: &str = "anthropic_passthrough";

/// The key of an internal answer message's `extra` that carries an
/// Anthropic upstream's content blocks as they came, when translating them
/// lost something (citations, server tool blocks, block types without an
/// OpenAI equivalent), so the Messages ingress can answer with them.
pub const ANTHROPIC_CONTENT: &str = "anthropic_content";

/// The key of an internal answer choice's `extra` (or a stream's finish
/// chunk choice's) that carries the stop sequence which ended an Anthropic
/// upstream's answer (its `stop_sequence`), for the Messages ingress.
pub const ANTHROPIC_STOP_SEQUENCE: &str = "stop_sequence";

/// The body of `POST /messages` (and, without `max_tokens`, of
/// `POST /messages/count_tokens`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MessagesRequest {
    /// The model (or leave it out and name `models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation, alternating `user` and `assistant` turns.
    #[serde(default)]
    pub messages: Vec<InputMessage>,
    /// The most tokens to generate; required by `/messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The system prompt: a string or text blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Content>,
    /// Sequences that end the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Stream the answer as events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Sampling temperature (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDefinition>>,
    /// How the model must use the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<ThinkingConfig>,
    /// `metadata.user_id`: the end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// OpenRouter: fallback models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// OpenRouter: provider routing preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderPreferences>,
    /// OpenRouter: prompt transforms (`middle-out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transforms: Option<Vec<String>>,
    /// OpenRouter: plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Vec<Value>>,
    /// OpenRouter: `fallback` routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// OpenRouter: usage accounting (always on here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageRequest>,
    /// OpenRouter: the end user, when `metadata.user_id` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// OpenRouter: a session id grouping requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicInputMessage"))]
pub struct InputMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// A string or content blocks.
    pub content: Content,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Content: a plain string or a list of blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicContent"))]
#[serde(untagged)]
pub enum Content {
    /// A plain string.
    Text(String),
    /// Typed blocks.
    Blocks(Vec<ContentBlock>),
}

impl Content {
    /// The content as blocks (a string is one text block).
    pub fn into_blocks(self) -> Vec<ContentBlock> {
        match self {
            Content::Text(t) => vec![ContentBlock::Text(TextBlock::new(t))],
            Content::Blocks(b) => b,
        }
    }
}

/// One content block, in requests and answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicContentBlock"))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// `{"type":"text","text"}`.
    Text(TextBlock),
    /// `{"type":"image","source"}`.
    Image(SourceBlock),
    /// `{"type":"document","source"}`.
    Document(SourceBlock),
    /// `{"type":"tool_use","id","name","input"}`.
    ToolUse(ToolUseBlock),
    /// `{"type":"tool_result","tool_use_id","content","is_error"}`.
    ToolResult(ToolResultBlock),
    /// `{"type":"thinking","thinking","signature"}`.
    Thinking(ThinkingBlock),
    /// `{"type":"redacted_thinking","data"}`.
    RedactedThinking(RedactedThinkingBlock),
    /// A block type this version does not know, kept verbatim.
    #[serde(untagged)]
    Other(Value),
}

impl ContentBlock {
    /// The block's wire `type`.
    pub fn type_name(&self) -> &str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::Image(_) => "image",
            ContentBlock::Document(_) => "document",
            ContentBlock::ToolUse(_) => "tool_use",
            ContentBlock::ToolResult(_) => "tool_result",
            ContentBlock::Thinking(_) => "thinking",
            ContentBlock::RedactedThinking(_) => "redacted_thinking",
            ContentBlock::Other(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

/// A text block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicTextBlock"))]
pub struct TextBlock {
    /// The text.
    pub text: String,
    /// Prompt caching marker, kept for Anthropic upstreams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Citations (answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Value>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TextBlock {
    /// A plain text block.
    pub fn new(text: impl Into<String>) -> Self {
        TextBlock {
            text: text.into(),
            ..TextBlock::default()
        }
    }
}

/// An image or a document: its `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicSourceBlock"))]
pub struct SourceBlock {
    /// Where the bytes are.
    pub source: Source,
    /// Prompt caching marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Unknown keys (`title`, `context`, `citations`), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `source`: `{"type":"base64","media_type","data"}`,
/// `{"type":"url","url"}`, `{"type":"text","media_type","data"}` (plain
/// text documents) or `{"type":"content","content"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicSource"))]
pub struct Source {
    /// `base64`, `url`, `text`, `content`, `file`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The MIME type (`base64`, `text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The data (`base64`: base64; `text`: the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The URL (`url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Blocks (`content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicToolUseBlock"))]
pub struct ToolUseBlock {
    /// `toolu_...`.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object.
    #[serde(default)]
    pub input: Value,
    /// Prompt caching marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool's result, in a `user` turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicToolResultBlock"))]
pub struct ToolResultBlock {
    /// The `tool_use` block this answers.
    pub tool_use_id: String,
    /// The result: a string or blocks (text, image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Prompt caching marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Extended thinking, signed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicThinkingBlock"))]
pub struct ThinkingBlock {
    /// The thinking text.
    #[serde(default)]
    pub thinking: String,
    /// The signature that lets the thinking be sent back.
    #[serde(default)]
    pub signature: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Thinking the provider encrypted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(rename = "AnthropicRedactedThinkingBlock")
)]
pub struct RedactedThinkingBlock {
    /// The opaque data.
    #[serde(default)]
    pub data: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool the model may call: a client tool with `input_schema`, or a
/// server tool (`type` like `web_search_20250305`), kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicToolDefinition"))]
pub struct ToolDefinition {
    /// The tool's name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its input (client tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// `custom` or absent for client tools; a server tool's versioned type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Prompt caching marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ToolDefinition {
    /// Whether the client runs this tool (it has an input schema and no
    /// server tool type).
    pub fn is_client_tool(&self) -> bool {
        self.kind.as_deref().is_none_or(|k| k == "custom")
    }
}

/// `tool_choice`: `auto`, `any`, `tool` (with `name`) or `none`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicToolChoice"))]
pub struct ToolChoice {
    /// `auto`, `any`, `tool`, `none`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tool, for `tool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// At most one tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `thinking`: `{"type":"enabled","budget_tokens":N}`, `{"type":"disabled"}`
/// or `{"type":"adaptive"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicThinkingConfig"))]
pub struct ThinkingConfig {
    /// `enabled`, `disabled`, `adaptive`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The thinking budget (`enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u32>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicMetadata"))]
pub struct Metadata {
    /// The end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer: `{"type":"message", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicMessage"))]
pub struct Message {
    /// The generation's id.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `assistant`.
    pub role: String,
    /// The model that answered, as the client named it.
    pub model: String,
    /// Thinking, text and tool calls, in order.
    pub content: Vec<ContentBlock>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `refusal`,
    /// `pause_turn`; `null` in `message_start`.
    pub stop_reason: Option<String>,
    /// The stop sequence that ended the answer.
    pub stop_sequence: Option<String>,
    /// Tokens and cost.
    pub usage: MessagesUsage,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `usage`: Anthropic counts `input_tokens` without the cached part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct MessagesUsage {
    /// Prompt tokens neither read from nor written to the cache.
    #[serde(default)]
    pub input_tokens: u64,
    /// Generated tokens (thinking included).
    #[serde(default)]
    pub output_tokens: u64,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    /// Credits charged, USD (as OpenRouter adds it); a number or absent.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost: Option<Decimal>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One event of a streamed answer; its `type` is also the SSE `event:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicStreamEvent"))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The message, without content yet.
    MessageStart {
        /// The message so far.
        message: Message,
    },
    /// A block begins.
    ContentBlockStart {
        /// The block's index in `content`.
        index: u32,
        /// The block, empty.
        content_block: ContentBlock,
    },
    /// A piece of a block.
    ContentBlockDelta {
        /// The block's index.
        index: u32,
        /// The piece.
        delta: BlockDelta,
    },
    /// A block ends.
    ContentBlockStop {
        /// The block's index.
        index: u32,
    },
    /// The stop reason and the usage.
    MessageDelta {
        /// `stop_reason`, `stop_sequence`.
        delta: MessageDelta,
        /// The usage (output tokens; here the whole usage and the cost).
        usage: MessagesUsage,
    },
    /// The end.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// A failure; the stream ends.
    Error {
        /// What failed.
        error: ErrorObject,
    },
}

impl StreamEvent {
    /// The event's name (`event:` line).
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Ping => "ping",
            StreamEvent::Error { .. } => "error",
        }
    }
}

/// A piece of a content block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicBlockDelta"))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// Text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A fragment of a tool call's JSON input.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
    /// Thinking text.
    ThinkingDelta {
        /// The text.
        thinking: String,
    },
    /// The thinking block's signature.
    SignatureDelta {
        /// The signature.
        signature: String,
    },
}

/// `message_delta.delta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicMessageDelta"))]
pub struct MessageDelta {
    /// Why the answer ended.
    pub stop_reason: Option<String>,
    /// The stop sequence, if one ended it.
    pub stop_sequence: Option<String>,
}

/// An error answer: `{"type":"error","error":{"type","message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicErrorResponse"))]
pub struct ErrorResponse {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What failed.
    pub error: ErrorObject,
}

/// The error object: `type` is `invalid_request_error`,
/// `authentication_error`, `billing_error`, `permission_error`,
/// `not_found_error`, `request_too_large`, `rate_limit_error`,
/// `api_error`, `timeout_error` or `overloaded_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicErrorObject"))]
pub struct ErrorObject {
    /// The error's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable message.
    pub message: String,
    /// Unknown keys (here: the gateway's `metadata`), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The answer of `POST /messages/count_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "AnthropicTokenCount"))]
pub struct TokenCount {
    /// The prompt's tokens.
    pub input_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_json_slice;

    #[test]
    fn blocks_of_every_kind_round_trip_and_unknown_ones_are_kept() {
        let body = br#"{"model":"m","max_tokens":5,"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":[
                {"type":"text","text":"hi"},
                {"type":"image","source":{"type":"url","url":"https://x/y.png"}},
                {"type":"search_result","source":"s","title":"t","content":[]},
                {"type":"tool_result","tool_use_id":"toolu_1","content":"22","is_error":true}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},
                {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}]}],
            "container":"c1"}"#;
        let r: MessagesRequest = from_json_slice(body).unwrap();
        assert_eq!(r.max_tokens, Some(5));
        assert_eq!(r.extra["container"], "c1");
        let Content::Blocks(user) = &r.messages[0].content else {
            panic!("blocks")
        };
        assert_eq!(user[2].type_name(), "search_result");
        assert!(matches!(&user[3], ContentBlock::ToolResult(t) if t.is_error == Some(true)));
        let back: Value = serde_json::to_value(&r).unwrap();
        let original: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn events_carry_their_type() {
        let e = StreamEvent::ContentBlockDelta {
            index: 1,
            delta: BlockDelta::InputJsonDelta {
                partial_json: "{".into(),
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}})
        );
        assert_eq!(e.name(), "content_block_delta");
        assert_eq!(
            serde_json::to_value(StreamEvent::MessageStop).unwrap(),
            serde_json::json!({"type":"message_stop"})
        );
    }
}
