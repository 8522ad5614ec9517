//! Prompt shaping: adapting a request to an endpoint that lacks a feature,
//! as pure functions over the request or its messages. The gateway picks
//! which to apply from the endpoint's features and dialect, and applies
//! them before counting and middle-out, since they change the prompt
//! (tools move from `tools` into the system prompt, for instance).
//!
//! | endpoint lacks | request side | reply side |
//! | --- | --- | --- |
//! | tool calling | [`describe_tools`] | [`parse_tool_calls`], [`split_tool_reply`] |
//! | the `name` field | [`prefix_names`] | |
//! | JSON mode / structured outputs | [`json_mode_by_instruction`] | [`extract_json`] |
//! | assistant prefill | [`prepare_prefill`] | [`strip_prefill_echo`] |

mod json_mode;
mod names;
mod parse;
mod prefill;
mod tools;
mod yaml;

use tollgate_schema::chat::{ContentPart, Message, MessageContent, Role, TextPart};

pub use json_mode::{JSON_OBJECT_INSTRUCTION, json_instruction, json_mode_by_instruction};
pub use names::prefix_names;
pub use parse::{ToolReply, extract_json, parse_tool_calls, split_tool_reply};
pub use prefill::{Prefill, prefill_text, prepare_prefill, strip_prefill_echo, with_prefill};
pub use tools::{TOOL_CALL_FORMAT, describe_tools, tool_history_as_text, tools_prompt};
pub use yaml::to_yaml;

/// Adds `text` to the system prompt: after the first message's text, two
/// newlines apart, when it is a system or developer message; else as a new
/// system message at the start.
pub fn append_to_system(messages: &mut Vec<Message>, text: &str) {
    let Some(first) = messages
        .first_mut()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
    else {
        messages.insert(0, Message::text(Role::System, text));
        return;
    };
    match &mut first.content {
        Some(MessageContent::Text(t)) if !t.is_empty() => {
            t.push_str("\n\n");
            t.push_str(text);
        }
        Some(MessageContent::Parts(parts)) if !parts.is_empty() => {
            parts.push(ContentPart::Text(TextPart::new(format!("\n\n{text}"))));
        }
        _ => first.content = Some(MessageContent::Text(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_an_existing_system_prompt_or_adds_one() {
        let mut m = vec![
            Message::text(Role::System, "A"),
            Message::text(Role::User, "u"),
        ];
        append_to_system(&mut m, "B");
        assert_eq!(m[0].text_content(), "A\n\nB");
        let mut m = vec![Message::text(Role::User, "u")];
        append_to_system(&mut m, "B");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].role, Role::System);
        assert_eq!(m[0].text_content(), "B");
    }
}
