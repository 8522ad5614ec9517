//! The OpenAI Responses API (`POST /v1/responses`) as an ingress wire, as
//! OpenRouter serves it (stateless): the request, the `response` object
//! and its output items, and the usage. The stream's events are built by
//! the gateway's encoder around these objects.
//!
//! As everywhere in this crate, objects keep the keys they do not know in
//! `extra` and write them back. Input items are one flat struct
//! ([`InputItem`]) since their `type` is optional (a message item may be
//! just `{role, content}`); the gateway reads the fields each type uses.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Extra;
use crate::chat::UsageRequest;
use crate::decimal::{de_lenient_opt, ser_number_opt};
use crate::provider::ProviderPreferences;

/// The body of `POST /responses`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ResponsesRequest {
    /// The model (or leave it out and name `models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The input: a string (one user message) or a list of items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Input>,
    /// A system (developer) message put before the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Tools the model may call (function tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef>>,
    /// `auto`, `none`, `required` or `{type: "function", name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Whether the model may call several tools at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `text.format`: the output's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    /// `effort` and `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningParam>,
    /// The most tokens to generate (reasoning included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stream the answer as events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Key-value pairs echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The end user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A stored response to continue from (refused: stateless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// Store the response (refused when true: stateless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
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
    /// OpenRouter: a session id grouping requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `input`: a string or a list of items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Items: messages, function calls and their outputs, reasoning.
    Items(Vec<InputItem>),
}

/// One input item. `type` is `message` (the default), `function_call`,
/// `function_call_output` or `reasoning`; each uses some of the fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct InputItem {
    /// The item's type (`message` when absent).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `message`: `user`, `assistant`, `system` or `developer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `message`: a string or content parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ItemContent>,
    /// The item's id (output items sent back keep theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function_call` / `function_call_output`: the call's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// `function_call`: the function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `function_call`: the arguments, a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// `function_call_output`: a string or content parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<ItemContent>,
    /// `reasoning`: the summary parts (`{type: "summary_text", text}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Vec<SummaryPart>>,
    /// `reasoning`: opaque reasoning to send back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A message's content: a string or parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ItemContent {
    /// A plain string.
    Text(String),
    /// Typed parts.
    Parts(Vec<ContentPart>),
}

/// One content part: `input_text`, `input_image`, `input_file`, or (in an
/// assistant message sent back) `output_text` / `refusal`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", schemars(rename = "ResponsesContentPart"))]
pub struct ContentPart {
    /// The part's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text parts: the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `refusal`: the refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// `input_image`: a URL or `data:` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// `input_image`: `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `input_file`: the file's content as a `data:` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// `input_file`: the file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `input_file`: a URL to the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// `input_image` / `input_file`: an uploaded file (not supported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function tool: `{type: "function", name, description, parameters,
/// strict}` (flat, unlike chat's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ToolDef {
    /// `function` (other types are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments' JSON schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `text`: the output's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TextConfig {
    /// `{type: "text"}`, `{type: "json_object"}` or `{type: "json_schema",
    /// name, schema, strict, description}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
    /// Unknown keys (`verbosity`), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `text.format`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TextFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `json_schema`: the schema's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `json_schema`: the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// `json_schema`: what the output is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `json_schema`: strict adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `reasoning`: `{effort, summary}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReasoningParam {
    /// `minimal`, `low`, `medium`, `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// `auto`, `concise`, `detailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Unknown keys (OpenRouter's `max_tokens`, `enabled`, `exclude`), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reasoning item's summary part: `{type: "summary_text", text}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct SummaryPart {
    /// `summary_text`.
    #[serde(rename = "type", default = "summary_text")]
    pub kind: String,
    /// The summary.
    #[serde(default)]
    pub text: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

fn summary_text() -> String {
    String::from("summary_text")
}

impl SummaryPart {
    /// A `summary_text` part.
    pub fn new(text: impl Into<String>) -> SummaryPart {
        SummaryPart {
            kind: summary_text(),
            text: text.into(),
            extra: Extra::new(),
        }
    }
}

/// The `response` object: the answer, and (in progress) the stream's
/// `response.created` / `response.completed` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Response {
    /// The generation's id (`gen-...`).
    pub id: String,
    /// Always `response`.
    pub object: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: String,
    /// The model.
    pub model: String,
    /// The output items.
    pub output: Vec<OutputItem>,
    /// The failure, when `failed`.
    pub error: Option<ResponseError>,
    /// Why the response is `incomplete` (`{reason: "max_output_tokens"}`).
    pub incomplete_details: Option<Value>,
    /// The request's `instructions`.
    pub instructions: Option<String>,
    /// The request's `metadata`.
    pub metadata: Value,
    /// The request's tools.
    pub tools: Vec<ToolDef>,
    /// The request's `tool_choice` (`auto` when not given).
    pub tool_choice: Value,
    /// The request's `parallel_tool_calls` (`true` when not given).
    pub parallel_tool_calls: bool,
    /// The request's `temperature`.
    pub temperature: Option<f64>,
    /// The request's `top_p`.
    pub top_p: Option<f64>,
    /// The request's `max_output_tokens`.
    pub max_output_tokens: Option<u32>,
    /// The usage, with the exact cost (absent while in progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    /// Unknown keys, kept (`provider`, the request's `text`, `reasoning`,
    /// `user`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// A failed response's error: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ResponseError {
    /// `server_error`, `rate_limit_exceeded`, ...
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// The assistant's message.
    Message(OutputMessage),
    /// A function call.
    FunctionCall(FunctionCallItem),
    /// Reasoning (its summary).
    Reasoning(ReasoningItem),
}

/// `{type: "message", id, status, role: "assistant", content}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OutputMessage {
    /// `msg_...`.
    pub id: String,
    /// `in_progress`, `completed` or `incomplete`.
    pub status: String,
    /// `assistant`.
    pub role: String,
    /// `output_text` (or `refusal`) parts.
    pub content: Vec<OutputContent>,
}

/// An output message's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputContent {
    /// `{type: "output_text", text, annotations}`.
    OutputText {
        /// The text.
        text: String,
        /// Annotations (none here).
        annotations: Vec<Value>,
        /// Log probabilities (none here).
        #[serde(default)]
        logprobs: Vec<Value>,
    },
    /// `{type: "refusal", refusal}`.
    Refusal {
        /// The refusal.
        refusal: String,
    },
}

/// `{type: "function_call", id, call_id, name, arguments, status}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FunctionCallItem {
    /// `fc_...`.
    pub id: String,
    /// The call's id, which `function_call_output` names.
    pub call_id: String,
    /// The function.
    pub name: String,
    /// The arguments, a JSON string.
    pub arguments: String,
    /// `in_progress` or `completed`.
    pub status: String,
}

/// `{type: "reasoning", id, summary, encrypted_content}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReasoningItem {
    /// `rs_...`.
    pub id: String,
    /// The summary parts.
    pub summary: Vec<SummaryPart>,
    /// Opaque reasoning to send back with the next request (the
    /// upstream's reasoning details, such as thinking signatures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// `in_progress` or `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The response's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ResponseUsage {
    /// Prompt tokens (cached included).
    pub input_tokens: u64,
    /// `{cached_tokens}`.
    pub input_tokens_details: InputTokensDetails,
    /// Completion tokens (reasoning included).
    pub output_tokens: u64,
    /// `{reasoning_tokens}`.
    pub output_tokens_details: OutputTokensDetails,
    /// Input plus output.
    pub total_tokens: u64,
    /// OpenRouter: the exact charge, as in `/generation`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub cost: Option<Decimal>,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct InputTokensDetails {
    /// Tokens read from the prompt cache.
    pub cached_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct OutputTokensDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_json_slice;

    #[test]
    fn items_without_a_type_and_unknown_keys_are_kept() {
        let r: ResponsesRequest = from_json_slice(
            br#"{"model":"m","input":[{"role":"user","content":"hi","x":1},
                {"type":"function_call_output","call_id":"c","output":"42"}],"foo":true}"#,
        )
        .unwrap();
        let Some(Input::Items(items)) = &r.input else {
            panic!("{r:?}")
        };
        assert_eq!(items[0].kind, None);
        assert_eq!(items[0].extra["x"], 1);
        assert_eq!(items[1].output, Some(ItemContent::Text("42".into())));
        assert_eq!(r.extra["foo"], true);
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["input"][0]["x"], 1);
    }

    #[test]
    fn output_items_are_tagged_by_type() {
        let item = OutputItem::FunctionCall(FunctionCallItem {
            id: "fc_1".into(),
            call_id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            status: "completed".into(),
        });
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(v["type"], "function_call");
        assert_eq!(v["call_id"], "call_1");
    }
}
