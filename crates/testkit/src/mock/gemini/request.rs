//! Reading Gemini requests from raw JSON: into the behaviour core's
//! [`Conversation`], validated the way the Gemini API validates them.
//!
//! Google's JSON mapping accepts every field in lowerCamelCase
//! (`generationConfig`) or in its proto snake_case (`generation_config`);
//! so does the mock.

use serde_json::Value;

use super::error::ApiError;
use crate::mock::behaviour::{
    self, Conversation, DEFAULT_EMBEDDING_DIMENSIONS, Message, Reply, ResponseFormat, Role,
    ToolChoice, ToolIdStyle, count_tokens,
};

/// Largest `outputDimensionality` an embedding request may ask for.
const MAX_EMBEDDING_DIMENSIONS: u64 = 65_536;

/// Top-level fields of a `GenerateContentRequest`.
const REQUEST_FIELDS: &[&str] = &[
    "contents",
    "model",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
];

/// Fields of a `GenerationConfig`.
const GENERATION_FIELDS: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
];

/// Fields of a `ThinkingConfig`.
const THINKING_FIELDS: &[&str] = &["includeThoughts", "thinkingBudget", "thinkingLevel"];

/// `generationConfig` → `generation_config`.
fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Field `camel` of `value`, by its camelCase or snake_case name; `null`
/// counts as absent.
pub(super) fn field<'a>(value: &'a Value, camel: &str) -> Option<&'a Value> {
    value
        .get(camel)
        .or_else(|| value.get(snake(camel).as_str()))
        .filter(|v| !v.is_null())
}

fn str_field<'a>(value: &'a Value, camel: &str) -> Option<&'a str> {
    field(value, camel).and_then(Value::as_str)
}

fn array<'a>(value: &'a Value, camel: &str) -> &'a [Value] {
    field(value, camel)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Builds the dialect-neutral [`Conversation`] of a `generateContent`
/// request.
///
/// `systemInstruction` is a system message (its text parts). A content with
/// role `model` is an assistant message, any other a user message, and one
/// with `functionResponse` parts a tool message whose text is the last
/// response's text: a `response` object with a single string field (e.g.
/// `{"output": "22C"}`) gives that string, any other its compact JSON;
/// its other responses and text parts only add tokens. Text parts are concatenated
/// (thought parts are skipped), `inlineData` / `fileData` parts with an
/// `image/*` MIME type are images, `functionCall` parts cost the tokens of
/// their name and of their `args` as compact JSON. `functionDeclarations`
/// are the tools; `toolConfig.functionCallingConfig.mode` `AUTO` / `ANY` /
/// `NONE` maps to auto, required (one `allowedFunctionNames` entry: that
/// function; several: only those tools) and none. Parallel calls are always
/// allowed. `generationConfig.maxOutputTokens` and `stopSequences` limit the
/// reply; thinking is asked for by `thinkingConfig.includeThoughts: true` or
/// a non-zero `thinkingBudget`.
pub fn conversation(request: &Value) -> Conversation {
    let mut messages = Vec::new();
    if let Some(system) = field(request, "systemInstruction") {
        let text: String = array(system, "parts")
            .iter()
            .filter_map(|p| str_field(p, "text"))
            .collect();
        messages.push(Message::text(Role::System, text));
    }
    messages.extend(array(request, "contents").iter().map(message));
    let mut tools: Vec<String> = array(request, "tools")
        .iter()
        .flat_map(|tool| array(tool, "functionDeclarations"))
        .filter_map(|declaration| str_field(declaration, "name"))
        .map(str::to_owned)
        .collect();
    let calling = field(request, "toolConfig").and_then(|c| field(c, "functionCallingConfig"));
    let allowed: Vec<String> = calling
        .map(|c| array(c, "allowedFunctionNames"))
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let tool_choice = match calling.and_then(|c| str_field(c, "mode")) {
        Some("NONE") => ToolChoice::None,
        Some("ANY") => match allowed.as_slice() {
            [only] => ToolChoice::Function(only.clone()),
            [] => ToolChoice::Required,
            several => {
                tools.retain(|t| several.contains(t));
                ToolChoice::Required
            }
        },
        _ => ToolChoice::Auto,
    };
    let generation = field(request, "generationConfig");
    let generation_field = |name: &str| generation.and_then(|g| field(g, name));
    Conversation {
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: true,
        max_tokens: generation_field("maxOutputTokens")
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        stop: generation_field("stopSequences")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        thinking: thinking_requested(request),
        tool_ids: ToolIdStyle::OpenAi,
        tool_schemas: array(request, "tools")
            .iter()
            .flat_map(|tool| array(tool, "functionDeclarations"))
            .filter_map(|declaration| {
                let name = str_field(declaration, "name")?;
                let parameters = field(declaration, "parameters")
                    .or_else(|| field(declaration, "parametersJsonSchema"))?;
                Some((name.to_owned(), parameters.clone()))
            })
            .collect(),
        response_format: response_format(generation),
    }
}

/// `generationConfig.responseMimeType: "application/json"`: JSON valid
/// against `responseSchema` (or `responseJsonSchema`), else a JSON object.
fn response_format(generation: Option<&Value>) -> ResponseFormat {
    let Some(generation) = generation else {
        return ResponseFormat::Text;
    };
    if str_field(generation, "responseMimeType") != Some("application/json") {
        return ResponseFormat::Text;
    }
    match field(generation, "responseSchema").or_else(|| field(generation, "responseJsonSchema")) {
        Some(schema @ Value::Object(_)) => ResponseFormat::JsonSchema(schema.clone()),
        _ => ResponseFormat::JsonObject,
    }
}

/// The mock's reply to a `generateContent` request (see the crate docs):
/// what a running mock sends for the same request, minus ids.
pub fn reply_for(request: &Value) -> Reply {
    behaviour::respond(&conversation(request))
}

fn thinking_config(request: &Value) -> Option<&Value> {
    field(request, "generationConfig").and_then(|g| field(g, "thinkingConfig"))
}

/// Whether the request asks the model to think: `includeThoughts: true` or
/// a non-zero `thinkingBudget` (`-1` is Gemini's dynamic budget).
fn thinking_requested(request: &Value) -> bool {
    thinking_config(request).is_some_and(|config| {
        field(config, "includeThoughts") == Some(&Value::Bool(true))
            || field(config, "thinkingBudget")
                .and_then(Value::as_i64)
                .is_some_and(|budget| budget != 0)
    })
}

/// Whether the thoughts themselves are sent back (`includeThoughts: true`);
/// otherwise only their token count is reported.
pub(super) fn include_thoughts(request: &Value) -> bool {
    thinking_config(request)
        .and_then(|config| field(config, "includeThoughts"))
        .is_some_and(|v| v == &Value::Bool(true))
}

/// The text of a function response: a single string field's value, else
/// the compact JSON of `response`.
fn response_text(response: Option<&Value>) -> String {
    match response {
        Some(Value::Object(fields)) if fields.len() == 1 => match fields.values().next() {
            Some(Value::String(text)) => text.clone(),
            _ => Value::Object(fields.clone()).to_string(),
        },
        Some(value) => value.to_string(),
        None => String::new(),
    }
}

fn is_image(part: &Value) -> bool {
    ["inlineData", "fileData"].iter().any(|name| {
        field(part, name)
            .and_then(|data| str_field(data, "mimeType"))
            .is_some_and(|mime| mime.starts_with("image/"))
    })
}

fn message(content: &Value) -> Message {
    let parts = array(content, "parts");
    let is_tool = parts.iter().any(|p| field(p, "functionResponse").is_some());
    let role = match str_field(content, "role") {
        _ if is_tool => Role::Tool,
        Some("model") => Role::Assistant,
        _ => Role::User,
    };
    let mut out = Message::text(role, "");
    let mut other_text = String::new();
    let mut results: Vec<String> = Vec::new();
    for part in parts {
        if let Some(text) = str_field(part, "text") {
            if field(part, "thought") == Some(&Value::Bool(true)) {
                continue;
            }
            if is_tool {
                other_text.push_str(text);
            } else {
                out.text.push_str(text);
            }
        } else if is_image(part) {
            out.images += 1;
        } else if let Some(call) = field(part, "functionCall") {
            let name = str_field(call, "name").unwrap_or("");
            let args = field(call, "args")
                .map(Value::to_string)
                .unwrap_or_default();
            out.extra_tokens += count_tokens(name) + count_tokens(&args);
        } else if let Some(response) = field(part, "functionResponse") {
            results.push(response_text(field(response, "response")));
        }
    }
    // the last response is the message's text; earlier ones only add tokens
    if let Some(last) = results.pop() {
        out.text = last;
    }
    out.extra_tokens +=
        count_tokens(&other_text) + results.iter().map(|r| count_tokens(r)).sum::<u32>();
    out
}

// ---------------------------------------------------------------- validation

/// The body as a JSON object.
pub(super) fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::invalid(
            "Invalid JSON payload received. Expected an object.",
        )),
        Err(e) => Err(ApiError::invalid(format!(
            "Invalid JSON payload received. {e}"
        ))),
    }
}

/// Rejects fields a message does not have, as Google's JSON parser does.
fn known_fields(value: &Value, known: &[&str], at: Option<&str>) -> Result<(), ApiError> {
    let Some(fields) = value.as_object() else {
        return Ok(());
    };
    for name in fields.keys() {
        let ok = known.iter().any(|k| k == name || snake(k) == *name);
        if !ok {
            let at = at.map(|a| format!(" at '{a}'")).unwrap_or_default();
            return Err(ApiError::invalid(format!(
                "Invalid JSON payload received. Unknown name \"{name}\"{at}: Cannot find field."
            )));
        }
    }
    Ok(())
}

fn function_calls(content: &Value) -> usize {
    array(content, "parts")
        .iter()
        .filter(|p| field(p, "functionCall").is_some())
        .count()
}

fn function_responses(content: &Value) -> usize {
    array(content, "parts")
        .iter()
        .filter(|p| field(p, "functionResponse").is_some())
        .count()
}

/// Validates a `generateContent` request the way the API does: known
/// fields only (top level, `generationConfig`, `thinkingConfig`), non-empty
/// `contents` with roles `user` or `model` and non-empty parts, and
/// function calls and responses in their turns.
pub(super) fn validate(request: &Value) -> Result<(), ApiError> {
    known_fields(request, REQUEST_FIELDS, None)?;
    if let Some(generation) = field(request, "generationConfig") {
        known_fields(generation, GENERATION_FIELDS, Some("generation_config"))?;
        if let Some(max) = field(generation, "maxOutputTokens")
            && !max.is_u64()
        {
            return Err(ApiError::invalid(format!(
                "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), {max}"
            )));
        }
        if let Some(thinking) = field(generation, "thinkingConfig") {
            known_fields(
                thinking,
                THINKING_FIELDS,
                Some("generation_config.thinking_config"),
            )?;
        }
    }
    let contents = array(request, "contents");
    if contents.is_empty() {
        return Err(ApiError::invalid(
            "* GenerateContentRequest.contents: contents is not specified\n",
        ));
    }
    for (i, content) in contents.iter().enumerate() {
        if !matches!(str_field(content, "role"), None | Some("user" | "model")) {
            return Err(ApiError::invalid("Please use a valid role: user, model."));
        }
        if array(content, "parts").is_empty() {
            return Err(ApiError::invalid(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be \
                 empty.\n"
            )));
        }
        let previous = i.checked_sub(1).map(|p| &contents[p]);
        if function_calls(content) > 0 {
            let after_user = previous.is_some_and(|p| str_field(p, "role") != Some("model"));
            if !after_user {
                return Err(ApiError::invalid(
                    "Please ensure that function call turn comes immediately after a user turn \
                     or after a function response turn.",
                ));
            }
        }
        let responses = function_responses(content);
        if responses > 0 {
            let calls = previous.map_or(0, function_calls);
            if calls == 0 {
                return Err(ApiError::invalid(
                    "Please ensure that function response turn comes immediately after a \
                     function call turn.",
                ));
            }
            if calls != responses {
                return Err(ApiError::invalid(
                    "Please ensure that the number of function response parts is equal to the \
                     number of function call parts of the function call turn.",
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- embeddings

/// The text and dimensions of one `EmbedContentRequest`; `at` names it in
/// errors (`EmbedContentRequest` or `BatchEmbedContentsRequest.requests[i]`).
pub(super) fn embed_request(request: &Value, at: &str) -> Result<(String, usize), ApiError> {
    let Some(content) = field(request, "content") else {
        return Err(ApiError::invalid(format!(
            "* {at}.content: content is not specified\n"
        )));
    };
    let parts = array(content, "parts");
    if parts.is_empty() {
        return Err(ApiError::invalid(format!(
            "* {at}.content.parts: contents.parts must not be empty.\n"
        )));
    }
    let text: String = parts.iter().filter_map(|p| str_field(p, "text")).collect();
    let dimensions = match field(request, "outputDimensionality") {
        None => DEFAULT_EMBEDDING_DIMENSIONS,
        Some(value) => match value.as_u64() {
            Some(n @ 1..=MAX_EMBEDDING_DIMENSIONS) => usize::try_from(n).unwrap_or(1),
            _ => {
                return Err(ApiError::invalid(format!(
                    "* {at}.output_dimensionality: must be an integer in \
                     1..={MAX_EMBEDDING_DIMENSIONS}\n"
                )));
            }
        },
    };
    Ok((text, dimensions))
}

/// The requests of a `batchEmbedContents` call; each must name the model of
/// the URL (`models/<model>`), as the API requires.
pub(super) fn batch_requests<'a>(request: &'a Value, model: &str) -> Result<&'a [Value], ApiError> {
    let requests = array(request, "requests");
    if requests.is_empty() {
        return Err(ApiError::invalid(
            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
        ));
    }
    let expected = format!("models/{model}");
    for (i, item) in requests.iter().enumerate() {
        match str_field(item, "model") {
            None => {
                return Err(ApiError::invalid(format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: model is not specified\n"
                )));
            }
            Some(name) if name != expected => {
                return Err(ApiError::invalid(format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: model name {name} does \
                     not match the model of the request URL, {expected}\n"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(requests)
}
