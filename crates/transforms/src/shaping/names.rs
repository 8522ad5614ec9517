//! `name` prefixing for providers without a `name` field
//! (api-reference.txt: "If "name" is included, it will be prepended like
//! this for non-OpenAI models: `{name}: {content}`").

use tollgate_schema::chat::{ContentPart, Message, MessageContent, Role, TextPart};

/// The messages with each participant `name` moved into the content as
/// `{name}: {content}` and the field removed. For content parts, the first
/// text part is prefixed (or a text part is put first). Tool and legacy
/// function messages keep their `name`: there it names the function, not
/// a participant, and the tool-result rewriting uses it.
pub fn prefix_names(messages: &[Message]) -> Vec<Message> {
    messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if matches!(m.role, Role::Tool | Role::Function) {
                return m;
            }
            let Some(name) = m.name.take() else {
                return m;
            };
            m.content = Some(match m.content.take() {
                Some(MessageContent::Text(t)) => MessageContent::Text(format!("{name}: {t}")),
                Some(MessageContent::Parts(mut parts)) => {
                    match parts.iter_mut().find_map(|p| match p {
                        ContentPart::Text(t) => Some(t),
                        _ => None,
                    }) {
                        Some(t) => t.text = format!("{name}: {}", t.text),
                        None => {
                            parts.insert(0, ContentPart::Text(TextPart::new(format!("{name}: "))))
                        }
                    }
                    MessageContent::Parts(parts)
                }
                None => MessageContent::Text(format!("{name}:")),
            });
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_removes_the_name() {
        let mut m = Message::text(Role::User, "hello");
        m.name = Some("alice".into());
        let out = prefix_names(&[m, Message::text(Role::User, "plain")]);
        assert_eq!(out[0].text_content(), "alice: hello");
        assert_eq!(out[0].name, None);
        assert_eq!(out[1].text_content(), "plain");
    }

    #[test]
    fn parts_and_tool_messages() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "role": "user", "name": "bob",
            "content": [{"type": "image_url", "image_url": {"url": "https://x"}}, {"type": "text", "text": "see"}]
        }))
        .unwrap();
        let out = prefix_names(&[m]);
        assert_eq!(out[0].text_content(), "bob: see");
        let m: Message = serde_json::from_value(serde_json::json!({
            "role": "user", "name": "bob",
            "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]
        }))
        .unwrap();
        assert_eq!(prefix_names(&[m])[0].text_content(), "bob: ");
        let mut t = Message::text(Role::Tool, "42");
        t.name = Some("calc".into());
        assert_eq!(prefix_names(&[t.clone()])[0], t);
    }
}
