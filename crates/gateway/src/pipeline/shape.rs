//! Legacy text completions (`object: "text_completion"`, `choices[].text`),
//! which are served by mapping the prompt onto chat.

use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatChunk, ChatCompletion};
use tollgate_schema::completions::{TextChoice, TextCompletion};

/// A chat completion as a text completion.
pub fn text_completion(c: ChatCompletion) -> TextCompletion {
    TextCompletion {
        id: c.id,
        object: String::from("text_completion"),
        created: c.created,
        model: c.model,
        provider: c.provider,
        system_fingerprint: c.system_fingerprint,
        choices: c
            .choices
            .into_iter()
            .map(|choice| TextChoice {
                text: choice.message.content.unwrap_or_default(),
                index: choice.index,
                logprobs: None,
                finish_reason: choice.finish_reason,
                native_finish_reason: choice.native_finish_reason,
                extra: Extra::new(),
            })
            .collect(),
        usage: c.usage,
        error: None,
        extra: Extra::new(),
    }
}

/// A chat chunk as a text-completion chunk.
pub fn text_chunk(c: ChatChunk) -> TextCompletion {
    TextCompletion {
        id: c.id,
        object: String::from("text_completion"),
        created: c.created,
        model: c.model,
        provider: c.provider,
        system_fingerprint: c.system_fingerprint,
        choices: c
            .choices
            .into_iter()
            .map(|choice| TextChoice {
                text: choice.delta.content.unwrap_or_default(),
                index: choice.index,
                logprobs: None,
                finish_reason: choice.finish_reason,
                native_finish_reason: choice.native_finish_reason,
                extra: Extra::new(),
            })
            .collect(),
        usage: c.usage.map(|u| *u),
        error: c.error.map(|e| *e),
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schema::from_json_slice;

    #[test]
    fn chat_answers_become_text_answers() {
        let c: ChatCompletion = from_json_slice(
            br#"{"id":"gen-1","created":5,"model":"m/x","provider":"P","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        )
        .unwrap();
        let v = serde_json::to_value(text_completion(c)).unwrap();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["choices"][0]["text"], "hi");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["total_tokens"], 2);

        let chunk: ChatChunk = from_json_slice(
            br#"{"id":"gen-1","created":5,"model":"m/x","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}"#,
        )
        .unwrap();
        let v = serde_json::to_value(text_chunk(chunk)).unwrap();
        assert_eq!(
            v["choices"][0]["text"], "",
            "a role-only delta is empty text"
        );
    }
}
