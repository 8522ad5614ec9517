//! Tools for endpoints without native tool calling: the tools are described
//! in the system prompt as YAML (api-reference.txt: "For others, we submit
//! a YAML-formatted string with these tools"), the model is asked to answer
//! with a JSON tool call ([`TOOL_CALL_FORMAT`]), and earlier tool calls and
//! results in the conversation are rewritten as text in that same format.
//! [`super::parse_tool_calls`] reads the calls back from the reply.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tollgate_schema::chat::{
    ChatRequest, FunctionDef, Message, MessageContent, Role, Tool, ToolCall, ToolChoice,
};

use super::append_to_system;
use super::yaml::to_yaml;

/// The reply format the model is asked to use for tool calls.
pub const TOOL_CALL_FORMAT: &str =
    r#"{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments as a JSON object>}}]}"#;

/// The system-prompt block describing `tools` (function tools only), or
/// `None` when there are none or `tool_choice` is `"none"`.
///
/// The block lists each function's name, description and parameters (a
/// JSON Schema) as YAML, says how to call them ([`TOOL_CALL_FORMAT`], alone
/// in the reply), and states `tool_choice` (`required` or a named function)
/// and `parallel_tool_calls: false` as instructions.
pub fn tools_prompt(
    tools: &[Tool],
    tool_choice: Option<&ToolChoice>,
    parallel_tool_calls: Option<bool>,
) -> Option<String> {
    let functions: Vec<&FunctionDef> = tools.iter().filter_map(|t| t.function.as_ref()).collect();
    if functions.is_empty() {
        return None;
    }
    let choice = match tool_choice {
        Some(ToolChoice::Mode(m)) if m == "none" => return None,
        Some(ToolChoice::Mode(m)) if m == "required" => Some(String::from(
            "You must call at least one tool in this reply.",
        )),
        Some(ToolChoice::Named(n)) => Some(format!(
            "You must call the tool `{}` in this reply.",
            n.function.name
        )),
        _ => None,
    };
    let list: Vec<Value> = functions.iter().map(|f| describe(f)).collect();
    let mut out = String::from(
        "# Tools\n\nYou can call the following tools (functions). Each is described in YAML: \
         its name, what it does, and its parameters as a JSON Schema.\n\n```yaml\n",
    );
    out.push_str(&to_yaml(&Value::Array(list)));
    out.push_str("```\n\n");
    out.push_str(
        "To call tools, reply with only this JSON object, with no text before or after it:\n",
    );
    out.push_str(TOOL_CALL_FORMAT);
    out.push_str(
        "\nPut one entry in the list per call. The results come back in a later message \
         starting with \"Tool result\". If no tool is needed, answer in plain text and do \
         not write a tool call.",
    );
    if parallel_tool_calls == Some(false) {
        out.push_str("\nCall at most one tool per reply.");
    }
    if let Some(choice) = choice {
        out.push('\n');
        out.push_str(&choice);
    }
    Some(out)
}

fn describe(f: &FunctionDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(f.name.clone()));
    if let Some(d) = f.description.as_ref().filter(|d| !d.is_empty()) {
        m.insert("description".into(), Value::String(d.clone()));
    }
    let params = f
        .parameters
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    m.insert("parameters".into(), params);
    Value::Object(m)
}

/// The request for an endpoint without native tool calling: the tools
/// described in the system prompt ([`tools_prompt`]); `tools`,
/// `tool_choice` and `parallel_tool_calls` removed; and the conversation's
/// tool calls and results turned into text ([`tool_history_as_text`]).
/// Tools that are not functions (server tools) cannot be described and are
/// dropped.
pub fn describe_tools(request: &ChatRequest) -> ChatRequest {
    let mut out = request.clone();
    let block = request.tools.as_deref().and_then(|tools| {
        tools_prompt(
            tools,
            request.tool_choice.as_ref(),
            request.parallel_tool_calls,
        )
    });
    out.tools = None;
    out.tool_choice = None;
    out.parallel_tool_calls = None;
    if let Some(messages) = &request.messages {
        let mut messages = tool_history_as_text(messages);
        if let Some(block) = block {
            append_to_system(&mut messages, &block);
        }
        out.messages = Some(messages);
    }
    out
}

/// The conversation with tool calls and results as plain text, for an
/// endpoint that accepts neither: an assistant turn's calls become the JSON
/// of [`TOOL_CALL_FORMAT`] after its text, and each tool (or legacy
/// function) result becomes a user message `Tool result for <name> (call
/// <id>):` followed by the result.
pub fn tool_history_as_text(messages: &[Message]) -> Vec<Message> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        match m.role {
            Role::Assistant if m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()) => {
                let calls = m.tool_calls.as_deref().unwrap_or_default();
                for c in calls {
                    names.insert(c.id.as_str(), c.function.name.as_str());
                }
                let mut text = m.text_content();
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&calls_json(calls));
                let mut a = m.clone();
                a.content = Some(MessageContent::Text(text));
                a.tool_calls = None;
                out.push(a);
            }
            Role::Tool | Role::Function => {
                let name = m
                    .tool_call_id
                    .as_deref()
                    .and_then(|id| names.get(id).copied())
                    .or(m.name.as_deref())
                    .unwrap_or("a tool");
                let head = match &m.tool_call_id {
                    Some(id) => format!("Tool result for {name} (call {id}):\n"),
                    None => format!("Tool result for {name}:\n"),
                };
                let mut u = m.clone();
                u.role = Role::User;
                u.name = None;
                u.tool_call_id = None;
                u.content = Some(match m.content.clone() {
                    Some(MessageContent::Parts(mut parts)) => {
                        parts.insert(
                            0,
                            tollgate_schema::chat::ContentPart::Text(
                                tollgate_schema::chat::TextPart::new(head),
                            ),
                        );
                        MessageContent::Parts(parts)
                    }
                    Some(MessageContent::Text(t)) => MessageContent::Text(head + &t),
                    None => MessageContent::Text(head),
                });
                out.push(u);
            }
            _ => out.push(m.clone()),
        }
    }
    out
}

/// Calls as `{"tool_calls": [{"name", "arguments"}]}`, arguments as JSON
/// when they parse, else as the string they are.
fn calls_json(calls: &[ToolCall]) -> String {
    let list: Vec<Value> = calls
        .iter()
        .map(|c| {
            let args = serde_json::from_str::<Value>(&c.function.arguments)
                .unwrap_or_else(|_| Value::String(c.function.arguments.clone()));
            json!({"name": c.function.name, "arguments": args})
        })
        .collect();
    json!({ "tool_calls": list }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shaping::parse_tool_calls;

    fn weather_request() -> ChatRequest {
        serde_json::from_value(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_current_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {"type": "object",
                    "properties": {"location": {"type": "string", "description": "The city"}},
                    "required": ["location"]}}}],
            "tool_choice": "required",
            "parallel_tool_calls": false
        }))
        .unwrap()
    }

    #[test]
    fn tools_go_into_the_system_prompt_as_yaml() {
        let out = describe_tools(&weather_request());
        assert!(
            out.tools.is_none() && out.tool_choice.is_none() && out.parallel_tool_calls.is_none()
        );
        let messages = out.messages.unwrap();
        let system = messages[0].text_content();
        assert!(system.starts_with("Be brief.\n\n# Tools\n"));
        assert!(system.contains(
            "```yaml\n- name: get_current_weather\n  description: Get the current weather in a given location\n  parameters:\n    type: object\n"
        ));
        assert!(system.contains(TOOL_CALL_FORMAT));
        assert!(system.contains("Call at most one tool per reply."));
        assert!(system.contains("You must call at least one tool"));
    }

    #[test]
    fn history_is_rewritten_as_text_the_model_can_follow() {
        let messages = describe_tools(&weather_request()).messages.unwrap();
        assert_eq!(messages.len(), 4);
        let call = &messages[2];
        assert_eq!(call.role, Role::Assistant);
        assert!(call.tool_calls.is_none());
        // The rewritten call parses back with our own parser.
        let parsed = parse_tool_calls(&call.text_content()).unwrap();
        assert_eq!(parsed[0].function.name, "get_current_weather");
        assert_eq!(parsed[0].function.arguments, r#"{"location":"Paris"}"#);
        let result = &messages[3];
        assert_eq!(result.role, Role::User);
        assert!(result.tool_call_id.is_none());
        assert_eq!(
            result.text_content(),
            "Tool result for get_current_weather (call call_1):\n18C, sunny"
        );
    }

    #[test]
    fn no_system_message_gets_one_and_none_choice_gets_no_block() {
        let mut req = weather_request();
        req.messages.as_mut().unwrap().remove(0);
        let out = describe_tools(&req);
        let messages = out.messages.unwrap();
        assert_eq!(messages[0].role, Role::System);
        assert!(messages[0].text_content().starts_with("# Tools"));

        req.tool_choice = Some(ToolChoice::Mode("none".into()));
        let out = describe_tools(&req);
        assert_eq!(out.messages.unwrap()[0].role, Role::User);
    }
}
