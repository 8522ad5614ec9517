//! Semantic checks of a parsed chat request, each failing with a 400 that
//! names the field.

use tollgate_schema::chat::{ChatRequest, Message, Role, ToolChoice};

use crate::error::ApiError;

fn range(field: &str, v: Option<f64>, lo: f64, hi: f64) -> Result<(), ApiError> {
    match v {
        Some(x) if !(lo..=hi).contains(&x) => Err(ApiError::field(
            field,
            format!("`{field}` must be between {lo} and {hi}, got {x}"),
        )),
        _ => Ok(()),
    }
}

/// The most completions one request may ask for (`n`), as OpenAI allows.
pub const MAX_CHOICES: u64 = 128;

/// `n`, the completions a request asks for (kept in `extra`): 1 when
/// absent or null, else an integer in 1..=[`MAX_CHOICES`] or a 400.
pub fn choices(extra: &tollgate_schema::Extra) -> Result<u64, ApiError> {
    match extra.get("n").filter(|n| !n.is_null()) {
        None => Ok(1),
        Some(n) => match n.as_u64() {
            Some(c @ 1..=MAX_CHOICES) => Ok(c),
            _ => Err(ApiError::field(
                "n",
                format!("`n` must be an integer between 1 and {MAX_CHOICES}, got {n}"),
            )),
        },
    }
}

/// Checks what serde cannot: required combinations and value ranges.
pub fn chat_request(req: &ChatRequest) -> Result<(), ApiError> {
    match (&req.messages, &req.prompt) {
        (None, None) => {
            return Err(ApiError::field(
                "messages",
                "either `messages` or `prompt` is required",
            ));
        }
        (Some(m), _) if m.is_empty() && req.prompt.is_none() => {
            return Err(ApiError::field("messages", "`messages` must not be empty"));
        }
        _ => {}
    }
    if let Some(messages) = &req.messages {
        for (i, m) in messages.iter().enumerate() {
            message(i, m)?;
        }
    }
    choices(&req.extra)?;
    range("temperature", req.temperature, 0.0, 2.0)?;
    range("top_p", req.top_p, 0.0, 1.0)?;
    range("min_p", req.min_p, 0.0, 1.0)?;
    range("top_a", req.top_a, 0.0, 1.0)?;
    range("frequency_penalty", req.frequency_penalty, -2.0, 2.0)?;
    range("presence_penalty", req.presence_penalty, -2.0, 2.0)?;
    range("repetition_penalty", req.repetition_penalty, 0.0, 2.0)?;
    if let Some(k) = req.top_k
        && k < 0
    {
        return Err(ApiError::field(
            "top_k",
            format!("`top_k` must be 0 or above, got {k}"),
        ));
    }
    if let Some(n) = req.top_logprobs
        && n > 20
    {
        return Err(ApiError::field(
            "top_logprobs",
            format!("`top_logprobs` must be between 0 and 20, got {n}"),
        ));
    }
    for (field, v) in [
        ("max_tokens", req.max_tokens),
        ("max_completion_tokens", req.max_completion_tokens),
    ] {
        if v == Some(0) {
            return Err(ApiError::field(
                field,
                format!("`{field}` must be 1 or above"),
            ));
        }
    }
    if let Some(ToolChoice::Mode(mode)) = &req.tool_choice
        && !matches!(mode.as_str(), "none" | "auto" | "required")
    {
        return Err(ApiError::field(
            "tool_choice",
            format!(
                "`tool_choice` must be \"none\", \"auto\", \"required\" or a function, got \"{mode}\""
            ),
        ));
    }
    if let Some(tools) = &req.tools {
        for (i, t) in tools.iter().enumerate() {
            if t.kind == "function" {
                let Some(f) = &t.function else {
                    return Err(ApiError::field(
                        format!("tools[{i}].function"),
                        format!("`tools[{i}]` of type function needs a `function`"),
                    ));
                };
                if f.name.is_empty()
                    || f.name.len() > 64
                    || !f
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(ApiError::field(
                        format!("tools[{i}].function.name"),
                        format!(
                            "`tools[{i}].function.name` must be 1 to 64 of [A-Za-z0-9_-], got \"{}\"",
                            f.name
                        ),
                    ));
                }
            }
        }
    }
    if let Some(rf) = &req.response_format {
        if !matches!(
            rf.kind.as_str(),
            "text" | "json_object" | "json_schema" | "grammar" | "python"
        ) {
            return Err(ApiError::field(
                "response_format.type",
                format!("unknown `response_format.type` \"{}\"", rf.kind),
            ));
        }
        if rf.kind == "json_schema" && rf.json_schema.is_none() {
            return Err(ApiError::field(
                "response_format.json_schema",
                "`response_format` of type json_schema needs `json_schema`",
            ));
        }
    }
    Ok(())
}

fn message(i: usize, m: &Message) -> Result<(), ApiError> {
    match m.role {
        Role::Tool if m.tool_call_id.as_deref().is_none_or(str::is_empty) => Err(ApiError::field(
            format!("messages[{i}].tool_call_id"),
            format!("`messages[{i}]` has role tool but no `tool_call_id`"),
        )),
        Role::Assistant => Ok(()),
        _ if m.content.is_none() => Err(ApiError::field(
            format!("messages[{i}].content"),
            format!(
                "`messages[{i}]` with role {} needs `content`",
                m.role.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schema::from_json_slice;

    fn check(body: &str) -> Result<(), ApiError> {
        chat_request(&from_json_slice::<ChatRequest>(body.as_bytes()).unwrap())
    }

    fn field_of(body: &str) -> String {
        match check(body).unwrap_err() {
            ApiError::BadRequest { field: Some(f), .. } => f,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn accepts_a_plain_request() {
        check(r#"{"model":"m/x","messages":[{"role":"user","content":"hi"}],"temperature":2}"#)
            .unwrap();
        check(r#"{"model":"m/x","prompt":"hi"}"#).unwrap();
        check(r#"{"messages":[{"role":"assistant","tool_calls":[]}]}"#).unwrap();
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(field_of(r#"{"model":"m/x"}"#), "messages");
        assert_eq!(field_of(r#"{"messages":[]}"#), "messages");
        assert_eq!(
            field_of(r#"{"messages":[{"role":"user","content":"x"}],"temperature":2.5}"#),
            "temperature"
        );
        assert_eq!(
            field_of(r#"{"messages":[{"role":"user","content":"x"}],"top_p":-0.1}"#),
            "top_p"
        );
        assert_eq!(
            field_of(r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#),
            "max_tokens"
        );
        assert_eq!(
            field_of(r#"{"messages":[{"role":"tool","content":"x"}]}"#),
            "messages[0].tool_call_id"
        );
        assert_eq!(
            field_of(r#"{"messages":[{"role":"user"}]}"#),
            "messages[0].content"
        );
        assert_eq!(
            field_of(r#"{"messages":[{"role":"user","content":"x"}],"tool_choice":"always"}"#),
            "tool_choice"
        );
        assert_eq!(
            field_of(
                r#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"has space"}}]}"#
            ),
            "tools[0].function.name"
        );
        assert_eq!(
            field_of(
                r#"{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}"#
            ),
            "response_format.type"
        );
    }
}
