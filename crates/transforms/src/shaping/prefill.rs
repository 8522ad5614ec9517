//! Assistant prefill: a conversation that ends with an assistant message
//! asks for the reply to continue that message. Dialects differ:
//!
//! | dialect | a final assistant message | what to do |
//! | --- | --- | --- |
//! | Anthropic Messages | is continued (native prefill); rejected if it ends in whitespace | [`Prefill::Native`]: trim its trailing whitespace, drop it if empty |
//! | OpenAI-compatible, Gemini | is a past turn: the model starts a new message | [`Prefill::Emulated`]: remove it, ask in a final system message for the reply to begin with its text, strip that text from the reply ([`strip_prefill_echo`]) |
//!
//! Either way the client receives only the continuation, as with native
//! prefill.

use tollgate_schema::chat::{Message, MessageContent, Role};

/// How an endpoint's dialect handles a final assistant message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefill {
    /// The model continues it (Anthropic).
    Native,
    /// It is taken as a past turn (OpenAI-compatible, Gemini).
    Emulated,
}

/// The prefill: the text of the final message when it is an assistant
/// message without tool calls and with text.
pub fn prefill_text(messages: &[Message]) -> Option<String> {
    let last = messages.last()?;
    if last.role != Role::Assistant || last.tool_calls.as_ref().is_some_and(|c| !c.is_empty()) {
        return None;
    }
    let text = last.text_content();
    (!text.is_empty()).then_some(text)
}

/// Prepares a conversation's prefill for a dialect. Returns the messages
/// to send and, for [`Prefill::Emulated`], the prefill to strip from the
/// reply with [`strip_prefill_echo`].
///
/// - `Native`: the final assistant text loses its trailing whitespace
///   (Anthropic answers 400 "final assistant content cannot end with
///   trailing whitespace"); a final assistant message left empty is
///   removed.
/// - `Emulated`: the final assistant message is removed and a system
///   message asks for the reply to begin with exactly its text.
pub fn prepare_prefill(messages: &[Message], dialect: Prefill) -> (Vec<Message>, Option<String>) {
    let mut out = messages.to_vec();
    let Some(prefill) = prefill_text(messages) else {
        return (out, None);
    };
    match dialect {
        Prefill::Native => {
            let trimmed = prefill.trim_end();
            if trimmed.is_empty() {
                out.pop();
            } else if trimmed.len() != prefill.len()
                && let Some(last) = out.last_mut()
            {
                trim_end_content(last);
            }
            (out, None)
        }
        Prefill::Emulated => {
            out.pop();
            out.push(Message::text(
                Role::System,
                format!(
                    "Begin your reply with exactly the following text, then continue it \
                     (do not repeat it after that):\n{prefill}"
                ),
            ));
            (out, Some(prefill))
        }
    }
}

fn trim_end_content(m: &mut Message) {
    match &mut m.content {
        Some(MessageContent::Text(t)) => t.truncate(t.trim_end().len()),
        Some(MessageContent::Parts(parts)) => {
            // Trim the last text part; earlier ones are followed by it.
            if let Some(tollgate_schema::chat::ContentPart::Text(t)) = parts
                .iter_mut()
                .rev()
                .find(|p| matches!(p, tollgate_schema::chat::ContentPart::Text(_)))
            {
                t.text.truncate(t.text.trim_end().len());
            }
        }
        None => {}
    }
}

/// The reply without the prefill, when the model (asked to begin with it)
/// wrote it again; the reply unchanged otherwise.
pub fn strip_prefill_echo<'a>(reply: &'a str, prefill: &str) -> &'a str {
    reply
        .strip_prefix(prefill)
        .or_else(|| reply.trim_start().strip_prefix(prefill.trim_start()))
        .unwrap_or(reply)
}

/// The messages with an assistant prefill added at the end (e.g. `{` to
/// start a JSON object on a [`Prefill::Native`] endpoint; the client's
/// reply then needs the prefill put back in front).
pub fn with_prefill(messages: &[Message], text: &str) -> Vec<Message> {
    let mut out = messages.to_vec();
    out.push(Message::text(Role::Assistant, text));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convo(prefill: &str) -> Vec<Message> {
        vec![
            Message::text(Role::User, "Name a color"),
            Message::text(Role::Assistant, prefill),
        ]
    }

    #[test]
    fn native_trims_trailing_whitespace() {
        let (m, strip) = prepare_prefill(&convo("The color is "), Prefill::Native);
        assert_eq!(m[1].text_content(), "The color is");
        assert_eq!(strip, None);
        let (m, _) = prepare_prefill(&convo("  \n"), Prefill::Native);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn emulated_moves_the_prefill_into_an_instruction() {
        let (m, strip) = prepare_prefill(&convo("The color is"), Prefill::Emulated);
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].role, Role::System);
        assert!(m[1].text_content().ends_with("\nThe color is"));
        let strip = strip.unwrap();
        assert_eq!(strip_prefill_echo("The color is blue.", &strip), " blue.");
        assert_eq!(strip_prefill_echo("Blue.", &strip), "Blue.");
    }

    #[test]
    fn no_prefill_no_change() {
        let m = vec![Message::text(Role::User, "hi")];
        assert_eq!(prepare_prefill(&m, Prefill::Emulated), (m.clone(), None));
        assert_eq!(prefill_text(&with_prefill(&m, "{")), Some("{".into()));
    }
}
