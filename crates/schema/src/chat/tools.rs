//! Tools (function calling): definitions, choices and calls.

use serde::{Deserialize, Serialize};

use crate::Extra;

/// A tool the model may call. Usually `{"type":"function","function":{..}}`;
/// other types (OpenRouter server tools) are kept verbatim in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Tool {
    /// `"function"` for function tools.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function, for function tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// Unknown keys, kept (`cache_control`, server-tool settings).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FunctionDef {
    /// Name, at most 64 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `tool_choice`: a mode (`"none"`, `"auto"`, `"required"`) or one named
/// function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ToolChoice {
    /// `"none"`, `"auto"` or `"required"`.
    Mode(String),
    /// `{"type":"function","function":{"name":...}}`
    Named(NamedToolChoice),
}

/// A `tool_choice` naming one function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NamedToolChoice {
    /// `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function to call.
    pub function: NamedFunction,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function named by `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct NamedFunction {
    /// Its name.
    pub name: String,
}

/// A call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ToolCall {
    /// Id that the tool message's `tool_call_id` answers.
    pub id: String,
    /// `"function"`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function and its JSON arguments.
    pub function: FunctionCall,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

fn function_type() -> String {
    String::from("function")
}

/// A function call: name and arguments as a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// Arguments, a JSON document in a string.
    #[serde(default)]
    pub arguments: String,
}
