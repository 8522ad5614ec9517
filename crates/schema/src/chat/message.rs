//! Conversation messages.

use serde::{Deserialize, Serialize};

use super::content::MessageContent;
use super::tools::ToolCall;
use crate::Extra;
use crate::keyed::with_extra;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the application.
    System,
    /// Instructions from the developer (OpenAI's newer name for system).
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering an assistant tool call.
    Tool,
    /// Legacy function result (pre-tools OpenAI API).
    Function,
}

impl Role {
    /// The wire name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }
}

/// One message of a conversation.
///
/// A single struct rather than an enum per role: clients mix fields freely
/// (`name` on tool messages, `reasoning` echoed on assistant turns), and a
/// flat struct names the offending field precisely when one is wrong.
/// Role-specific rules (a tool message needs `tool_call_id`) are checked by
/// the gateway's validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Message {
    /// Author of the message.
    pub role: Role,
    /// Text or content parts; absent or null on assistant tool-call turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Refusal text of an assistant turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Reasoning text of an assistant turn, echoed back to keep thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Structured reasoning blocks, echoed back verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_details: Option<Vec<serde_json::Value>>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

with_extra!(Message, "a message",
    required { "role" => role }
    optional {
        "content" => content = None,
        "name" => name = None,
        "tool_calls" => tool_calls = None,
        "tool_call_id" => tool_call_id = None,
        "refusal" => refusal = None,
        "reasoning" => reasoning = None,
        "reasoning_details" => reasoning_details = None,
    }
);

impl Message {
    /// A message with text content and nothing else.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            refusal: None,
            reasoning: None,
            reasoning_details: None,
            extra: Extra::new(),
        }
    }

    /// The text of the message: the string content, or its text parts
    /// joined; empty when there is none.
    pub fn text_content(&self) -> String {
        self.content
            .as_ref()
            .map(MessageContent::text)
            .unwrap_or_default()
    }
}
