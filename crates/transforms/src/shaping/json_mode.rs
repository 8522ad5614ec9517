//! `response_format` by instruction, for endpoints without JSON mode or
//! structured outputs: the format becomes a system-prompt instruction, and
//! [`super::extract_json`] takes the JSON out of the reply.

use tollgate_schema::chat::{ChatRequest, ResponseFormat};

use super::append_to_system;

/// The instruction for `{"type": "json_object"}`.
pub const JSON_OBJECT_INSTRUCTION: &str = "Reply with a single valid JSON object and nothing \
     else: no text before or after it, and no code fences.";

/// The instruction standing for a response format: for `json_object`
/// [`JSON_OBJECT_INSTRUCTION`]; for `json_schema`, that and the schema (as
/// JSON, with its name and description); `None` for `text` and formats
/// that cannot be asked for in words (`grammar`, `python`).
pub fn json_instruction(format: &ResponseFormat) -> Option<String> {
    match format.kind.as_str() {
        "json_object" => Some(JSON_OBJECT_INSTRUCTION.to_owned()),
        "json_schema" => {
            let mut out = String::from(JSON_OBJECT_INSTRUCTION);
            let Some(js) = &format.json_schema else {
                return Some(out);
            };
            out.push_str(&format!(
                " The object must match the JSON Schema `{}`",
                js.name
            ));
            if let Some(d) = js.description.as_ref().filter(|d| !d.is_empty()) {
                out.push_str(&format!(" ({d})"));
            }
            match &js.schema {
                Some(schema) => {
                    let pretty = serde_json::to_string_pretty(schema).unwrap_or_default();
                    out.push_str(&format!(":\n```json\n{pretty}\n```"));
                }
                None => out.push('.'),
            }
            Some(out)
        }
        _ => None,
    }
}

/// The request with its JSON `response_format` replaced by an instruction
/// in the system prompt ([`json_instruction`]); unchanged when the format is
/// absent or not a JSON one.
pub fn json_mode_by_instruction(request: &ChatRequest) -> ChatRequest {
    let mut out = request.clone();
    let Some(instruction) = request.response_format.as_ref().and_then(json_instruction) else {
        return out;
    };
    out.response_format = None;
    if let Some(messages) = out.messages.as_mut() {
        append_to_system(messages, &instruction);
    } else if let Some(prompt) = out.prompt.as_mut() {
        *prompt = format!("{instruction}\n\n{prompt}");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tollgate_schema::chat::Role;

    use super::*;

    #[test]
    fn json_object_becomes_an_instruction() {
        let req: ChatRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": "List 3 colors"}],
            "response_format": {"type": "json_object"}
        }))
        .unwrap();
        let out = json_mode_by_instruction(&req);
        assert!(out.response_format.is_none());
        let m = out.messages.unwrap();
        assert_eq!(m[0].role, Role::System);
        assert_eq!(m[0].text_content(), JSON_OBJECT_INSTRUCTION);
    }

    #[test]
    fn json_schema_includes_the_schema() {
        let req: ChatRequest = serde_json::from_value(json!({
            "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}
        }))
        .unwrap();
        let m = json_mode_by_instruction(&req).messages.unwrap();
        let s = m[0].text_content();
        assert!(s.starts_with("Be terse.\n\nReply with a single valid JSON object"));
        assert!(s.contains("JSON Schema `answer`:\n```json\n{\n  \"properties\": {"));
    }

    #[test]
    fn text_format_is_left_alone() {
        let req: ChatRequest = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "text"}
        }))
        .unwrap();
        assert_eq!(json_mode_by_instruction(&req), req);
    }
}
