//! Pure conversions both native dialects need: `data:` URLs, tool-call
//! arguments, the `reasoning` settings, chunk construction, and the error a
//! request that cannot be translated becomes.

use serde_json::{Map, Value};
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatChunk, ChatRequest, ChunkChoice, Delta};
use tollgate_schema::usage::Usage;

use crate::error::{ErrorKind, ProviderError};

/// Why a request cannot be sent to a dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// Whether the request itself is wrong (`true`: HTTP 400, not retried
    /// elsewhere) or only this dialect cannot express it (`false`: another
    /// endpoint may).
    pub invalid: bool,
    /// What is wrong, naming the field (`messages[2].tool_calls[0]...`).
    pub message: String,
}

impl RequestError {
    /// The request is wrong for every provider.
    pub fn invalid(message: impl Into<String>) -> Self {
        RequestError {
            invalid: true,
            message: message.into(),
        }
    }

    /// This dialect cannot express the request.
    pub fn unsupported(message: impl Into<String>) -> Self {
        RequestError {
            invalid: false,
            message: message.into(),
        }
    }

    /// The provider error: an invalid request is kind `Status { 400 }`
    /// without a raw body (nothing was sent upstream), so it is not retried
    /// and the client gets 400; an inexpressible one is
    /// [`ErrorKind::Unsupported`], so the gateway may try another endpoint.
    pub fn into_provider_error(self, slug: &str, name: &str) -> ProviderError {
        let kind = if self.invalid {
            ErrorKind::Status { status: 400 }
        } else {
            ErrorKind::Unsupported
        };
        ProviderError::new(slug, name, kind, self.message)
    }
}

/// A parsed `data:` URL with base64 content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataUrl<'a> {
    /// The media type, lowercased (`image/jpg` is normalised to
    /// `image/jpeg`).
    pub(crate) mime: String,
    /// The base64 payload, as given.
    pub(crate) data: &'a str,
}

/// Parses `data:<mime>[;param]*;base64,<data>`; `None` for anything else
/// (including `data:` URLs that are not base64).
pub(crate) fn data_url(url: &str) -> Option<DataUrl<'_>> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let mut fields = meta.split(';');
    let mime = fields.next().unwrap_or("").trim().to_ascii_lowercase();
    if !fields.any(|f| f.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    let mime = match mime.as_str() {
        "image/jpg" => String::from("image/jpeg"),
        "" => String::from("text/plain"),
        _ => mime,
    };
    Some(DataUrl { mime, data })
}

/// Whether `url` is an `http://` or `https://` URL.
pub(crate) fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Parses a tool call's `arguments` into the JSON object the native
/// dialects want. Empty arguments are `{}` (some clients send `""` for a
/// call without parameters); anything else must be a JSON object.
pub(crate) fn tool_arguments(arguments: &str, at: &str) -> Result<Value, RequestError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(RequestError::invalid(format!(
            "{at}.function.arguments must be a JSON object"
        ))),
        Err(e) => Err(RequestError::invalid(format!(
            "{at}.function.arguments is not valid JSON: {e}"
        ))),
    }
}

/// What the request asks of reasoning, from `reasoning`,
/// `reasoning_effort` and the legacy `include_reasoning`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReasoningAsk {
    pub(crate) mode: ReasoningMode,
    /// Think, but leave the reasoning out of the answer
    /// (`reasoning.exclude: true` or `include_reasoning: false`).
    pub(crate) exclude: bool,
}

/// How much to reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReasoningMode {
    /// `effort: "none"` or `enabled: false`.
    Off,
    /// `reasoning.max_tokens`.
    Budget(u32),
    /// `effort` (`reasoning_effort` wins over `reasoning.effort`).
    Effort(String),
    /// `enabled: true` or `include_reasoning: true` with nothing else.
    Default,
}

/// The reasoning the request asks for; `None` when it says nothing (the
/// provider's default applies and nothing is sent).
pub(crate) fn reasoning_ask(request: &ChatRequest) -> Option<ReasoningAsk> {
    let config = request.reasoning.as_ref();
    let effort = request
        .reasoning_effort
        .clone()
        .or_else(|| config.and_then(|r| r.effort.clone()))
        .map(|e| e.trim().to_ascii_lowercase());
    let exclude =
        config.and_then(|r| r.exclude) == Some(true) || request.include_reasoning == Some(false);
    let enabled = config.and_then(|r| r.enabled);
    let mode = if effort.as_deref() == Some("none") || enabled == Some(false) {
        ReasoningMode::Off
    } else if let Some(n) = config.and_then(|r| r.max_tokens) {
        ReasoningMode::Budget(n)
    } else if let Some(e) = effort {
        ReasoningMode::Effort(e)
    } else if enabled == Some(true) || request.include_reasoning == Some(true) {
        ReasoningMode::Default
    } else {
        return None;
    };
    Some(ReasoningAsk { mode, exclude })
}

/// A chunk of a native stream, with the fields every chunk carries.
pub(crate) fn chunk(
    id: &str,
    created: i64,
    model: &str,
    provider: &str,
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
) -> ChatChunk {
    ChatChunk {
        id: id.to_string(),
        object: String::from("chat.completion.chunk"),
        created,
        model: model.to_string(),
        provider: Some(provider.to_string()),
        system_fingerprint: None,
        choices,
        usage: usage.map(Box::new),
        error: None,
        extra: Extra::new(),
    }
}

/// A choice carrying `delta` (and a finish reason, on the last one).
pub(crate) fn chunk_choice(
    index: u32,
    delta: Delta,
    finish: Option<(String, String)>,
) -> ChunkChoice {
    let (finish_reason, native_finish_reason) = match finish {
        Some((reason, native)) => (Some(reason), Some(native)),
        None => (None, None),
    };
    ChunkChoice {
        index,
        delta,
        finish_reason,
        native_finish_reason,
        logprobs: None,
        error: None,
        extra: Extra::new(),
    }
}

/// Whether a delta says nothing.
pub(crate) fn delta_is_empty(d: &Delta) -> bool {
    d.role.is_none() && d.content.is_none() && d.carries_only_role_and_text()
}

/// A string field of a JSON object.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A non-negative integer field of a JSON object (0 when absent).
pub(crate) fn u64_field(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_urls() {
        let d = data_url("data:image/png;base64,iVBORw0KGgo=").unwrap();
        assert_eq!((d.mime.as_str(), d.data), ("image/png", "iVBORw0KGgo="));
        let d = data_url("data:IMAGE/JPG;name=a.jpg;base64,/9j/").unwrap();
        assert_eq!(d.mime, "image/jpeg");
        assert_eq!(data_url("data:text/plain,hello"), None);
        assert_eq!(data_url("https://example.com/a.png"), None);
        assert!(is_http_url("HTTPS://example.com/a.png"));
        assert!(!is_http_url("ftp://x"));
    }

    #[test]
    fn arguments_must_be_a_json_object() {
        assert_eq!(tool_arguments("", "m").unwrap(), json!({}));
        assert_eq!(
            tool_arguments(r#"{"a":1}"#, "m").unwrap(),
            json!({ "a": 1 })
        );
        let err = tool_arguments("{\"a\":", "messages[1].tool_calls[0]").unwrap_err();
        assert!(err.invalid);
        assert!(
            err.message
                .starts_with("messages[1].tool_calls[0].function.arguments is not valid JSON"),
            "{}",
            err.message
        );
        assert!(tool_arguments("[1]", "m").unwrap_err().invalid);
    }

    fn ask(v: Value) -> Option<ReasoningAsk> {
        let request: ChatRequest = serde_json::from_value(v).unwrap();
        reasoning_ask(&request)
    }

    #[test]
    fn reasoning_settings() {
        assert_eq!(ask(json!({})), None);
        assert_eq!(ask(json!({ "reasoning": { "exclude": true } })), None);
        let mode = |v| ask(v).unwrap().mode;
        assert_eq!(
            mode(json!({ "reasoning": { "max_tokens": 2000, "effort": "low" } })),
            ReasoningMode::Budget(2000)
        );
        assert_eq!(
            mode(json!({ "reasoning_effort": "High", "reasoning": { "effort": "low" } })),
            ReasoningMode::Effort("high".into())
        );
        assert_eq!(
            mode(json!({ "reasoning": { "effort": "none", "max_tokens": 10 } })),
            ReasoningMode::Off
        );
        assert_eq!(
            mode(json!({ "reasoning": { "enabled": false } })),
            ReasoningMode::Off
        );
        assert_eq!(
            mode(json!({ "include_reasoning": true })),
            ReasoningMode::Default
        );
        assert!(
            ask(json!({ "reasoning": { "enabled": true, "exclude": true } }))
                .unwrap()
                .exclude
        );
    }

    #[test]
    fn request_errors_become_provider_errors() {
        let e = RequestError::invalid("bad").into_provider_error("p", "P");
        assert_eq!(e.kind(), ErrorKind::Status { status: 400 });
        assert!(!e.is_retryable());
        assert_eq!(e.client_status(), 400);
        assert_eq!(e.raw(), None);
        let e = RequestError::unsupported("no audio").into_provider_error("p", "P");
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(e.client_status(), 400);
    }
}
