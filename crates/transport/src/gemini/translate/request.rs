//! The request body of `generateContent` (see the module docs for the
//! rules).

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tollgate_schema::chat::{ChatRequest, ContentPart, Message, MessageContent, Role, ToolChoice};

use super::schema::{gemini_schema, has_properties};
use super::{REASONING_FORMAT, ResponseMode};
use crate::native::convert::{
    ReasoningMode, RequestError, data_url, is_http_url, reasoning_ask, str_field, tool_arguments,
};

/// A translated request: the body, and how its answer must be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The JSON body.
    pub body: Value,
    /// What the answer's translation must know.
    pub mode: ResponseMode,
}

/// The resource path of a model: `models/<id>` for a bare id, the id as
/// given when it already names a resource (`models/...`, `tunedModels/...`).
pub fn model_path(upstream_model: &str) -> String {
    let id = upstream_model.trim_start_matches('/');
    if id.contains('/') {
        id.to_string()
    } else {
        format!("models/{id}")
    }
}

/// The body of `generateContent` / `streamGenerateContent` for `request`
/// (the model and the streaming flag go in the URL).
pub fn generate_body(request: &ChatRequest) -> Result<Translated, RequestError> {
    let prompt_message;
    let messages: &[Message] = match (&request.messages, &request.prompt) {
        (Some(m), _) => m,
        (None, Some(prompt)) => {
            prompt_message = [Message::text(Role::User, prompt.clone())];
            &prompt_message
        }
        (None, None) => &[],
    };
    let (system, contents) = conversation(messages)?;
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }

    let declarations = declarations(request);
    if !declarations.is_empty() {
        out.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
        if let Some(config) = tool_config(request)? {
            out.insert("toolConfig".into(), config);
        }
    }

    let ask = reasoning_ask(request);
    let mode = ResponseMode {
        exclude_reasoning: ask.as_ref().is_some_and(|a| a.exclude),
    };
    let mut config = Map::new();
    let mut put = |key: &str, value: Value| {
        config.insert(key.to_string(), value);
    };
    if let Some(t) = request.temperature {
        put("temperature", json!(t));
    }
    if let Some(p) = request.top_p {
        put("topP", json!(p));
    }
    if let Some(k) = request.top_k.filter(|k| *k > 0) {
        put("topK", json!(k));
    }
    if let Some(max) = request.max_output_tokens() {
        put("maxOutputTokens", json!(max));
    }
    if let Some(stop) = &request.stop {
        let sequences = stop.to_vec();
        if !sequences.is_empty() {
            put("stopSequences", json!(sequences));
        }
    }
    if let Some(n) = request
        .extra
        .get("n")
        .and_then(Value::as_u64)
        .filter(|n| *n > 1)
    {
        put("candidateCount", json!(n));
    }
    if let Some(p) = request.presence_penalty {
        put("presencePenalty", json!(p));
    }
    if let Some(p) = request.frequency_penalty {
        put("frequencyPenalty", json!(p));
    }
    if let Some(seed) = request.seed {
        put("seed", json!(seed));
    }
    if let Some(format) = &request.response_format {
        match format.kind.as_str() {
            "json_object" => put("responseMimeType", json!("application/json")),
            "json_schema" => {
                put("responseMimeType", json!("application/json"));
                if let Some(schema) = format
                    .json_schema
                    .as_ref()
                    .and_then(|j| j.schema.as_ref())
                    .filter(|s| !s.is_null())
                {
                    put("responseSchema", gemini_schema(schema));
                }
            }
            _ => {}
        }
    }
    if let Some(ask) = &ask {
        let budget: i64 = match &ask.mode {
            ReasoningMode::Off => 0,
            ReasoningMode::Budget(n) => i64::from(*n),
            ReasoningMode::Effort(e) => effort_budget(e),
            ReasoningMode::Default => -1,
        };
        let mut thinking = json!({ "thinkingBudget": budget });
        if budget != 0 && !ask.exclude {
            thinking["includeThoughts"] = Value::Bool(true);
        }
        put("thinkingConfig", thinking);
    }
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Translated {
        body: Value::Object(out),
        mode,
    })
}

/// The thinking budget of an effort.
fn effort_budget(effort: &str) -> i64 {
    match effort {
        "minimal" => 512,
        "low" => 1024,
        "high" | "xhigh" | "max" => 24576,
        _ => 8192,
    }
}

/// One Gemini content being built.
struct Content {
    role: &'static str,
    parts: Vec<Value>,
}

/// The system parts and the contents.
fn conversation(messages: &[Message]) -> Result<(Vec<Value>, Vec<Value>), RequestError> {
    let mut system = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // tool_call_id → function name, from the assistant turns seen so far
    // (a later call with the same id wins: the nearest earlier call).
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let (role, parts) = match m.role {
            Role::System | Role::Developer => {
                let parts = parts(m.content.as_ref(), &at)?;
                if parts.iter().any(|p| p.get("text").is_none()) {
                    return Err(RequestError::invalid(format!(
                        "{at}: a {} message may only hold text",
                        m.role.as_str()
                    )));
                }
                system.extend(parts);
                continue;
            }
            Role::User => ("user", parts(m.content.as_ref(), &at)?),
            Role::Assistant => {
                for call in m.tool_calls.iter().flatten() {
                    call_names.insert(call.id.clone(), call.function.name.clone());
                }
                ("model", model_parts(m, &at)?)
            }
            Role::Tool => ("user", vec![function_response(m, &at, &call_names)?]),
            Role::Function => {
                return Err(RequestError::unsupported(format!(
                    "{at}: legacy `function` messages are not supported by the Gemini dialect; use tool messages"
                )));
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role == role => last.parts.extend(parts),
            _ => contents.push(Content { role, parts }),
        }
    }
    let contents = contents
        .into_iter()
        .map(|c| json!({ "role": c.role, "parts": c.parts }))
        .collect();
    Ok((system, contents))
}

/// The parts of a message's content.
fn parts(content: Option<&MessageContent>, at: &str) -> Result<Vec<Value>, RequestError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(MessageContent::Text(t)) if t.is_empty() => return Ok(Vec::new()),
        Some(MessageContent::Text(t)) => return Ok(vec![json!({ "text": t })]),
        Some(MessageContent::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        let part = match part {
            ContentPart::Text(t) if t.text.is_empty() => continue,
            ContentPart::Text(t) => json!({ "text": t.text }),
            ContentPart::ImageUrl(img) => media(&img.image_url.url, "image/jpeg", &at)?,
            ContentPart::InputAudio(audio) => {
                let format = audio.input_audio.format.to_ascii_lowercase();
                let mime = match format.as_str() {
                    "m4a" => String::from("audio/mp4"),
                    "mp3" => String::from("audio/mp3"),
                    other => format!("audio/{other}"),
                };
                json!({ "inlineData": { "mimeType": mime, "data": audio.input_audio.data } })
            }
            ContentPart::File(file) => match file.file.file_data.as_deref() {
                Some(data) => media(data, "application/pdf", &at)?,
                None => {
                    return Err(RequestError::unsupported(format!(
                        "{at}: uploaded file ids are not supported by the Gemini dialect; send file_data"
                    )));
                }
            },
            ContentPart::VideoUrl(video) => media(&video.video_url.url, "video/mp4", &at)?,
            ContentPart::Other(_) => {
                return Err(RequestError::unsupported(format!(
                    "{at}: content parts of type `{}` are not supported by the Gemini dialect",
                    part.type_name()
                )));
            }
        };
        out.push(part);
    }
    Ok(out)
}

/// A media part: `inlineData` for a `data:` URL, `fileData` for an http(s)
/// URL (its type guessed from the extension, else `fallback`).
fn media(url: &str, fallback: &str, at: &str) -> Result<Value, RequestError> {
    if let Some(d) = data_url(url) {
        return Ok(json!({ "inlineData": { "mimeType": d.mime, "data": d.data } }));
    }
    if is_http_url(url) {
        let mime = guess_mime(url).unwrap_or(fallback);
        return Ok(json!({ "fileData": { "mimeType": mime, "fileUri": url } }));
    }
    Err(RequestError::invalid(format!(
        "{at}: the URL must be an http(s) URL or a base64 data: URL"
    )))
}

/// The media type of a URL's file extension.
fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = last.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "aac" => "audio/aac",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mpeg" | "mpg" => "video/mpeg",
        _ => return None,
    })
}

/// A model turn: its text, then its function calls; thought signatures
/// from `reasoning_details` go back onto the parts they came from.
fn model_parts(m: &Message, at: &str) -> Result<Vec<Value>, RequestError> {
    let mut out = parts(m.content.as_ref(), at)?;
    let signatures: Vec<(Option<&str>, &str)> = m
        .reasoning_details
        .iter()
        .flatten()
        .filter(|d| {
            str_field(d, "type") == Some("reasoning.encrypted")
                && str_field(d, "format") == Some(REASONING_FORMAT)
        })
        .filter_map(|d| {
            let data = str_field(d, "data").filter(|s| !s.is_empty())?;
            Some((str_field(d, "id"), data))
        })
        .collect();
    let mut placed = vec![false; signatures.len()];
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        let mut part = json!({
            "functionCall": {
                "name": call.function.name,
                "args": tool_arguments(&call.function.arguments, &at)?,
            }
        });
        if let Some(k) = signatures
            .iter()
            .position(|(id, _)| *id == Some(call.id.as_str()))
        {
            part["thoughtSignature"] = Value::String(signatures[k].1.to_string());
            placed[k] = true;
        }
        out.push(part);
    }
    // A signature that belongs to no call belongs to the turn's first part.
    let loose = signatures
        .iter()
        .zip(&placed)
        .find(|((id, _), placed)| id.is_none() && !**placed);
    if let (Some(((_, data), _)), Some(first)) = (loose, out.first_mut())
        && first.get("thoughtSignature").is_none()
    {
        first["thoughtSignature"] = Value::String((*data).to_string());
    }
    Ok(out)
}

fn function_response(
    m: &Message,
    at: &str,
    call_names: &HashMap<String, String>,
) -> Result<Value, RequestError> {
    let id = m.tool_call_id.as_deref().unwrap_or("");
    let name = call_names
        .get(id)
        .cloned()
        .or_else(|| m.name.clone().filter(|n| !n.is_empty()))
        .ok_or_else(|| {
            RequestError::invalid(format!(
                "{at}.tool_call_id `{id}` matches no earlier assistant tool call"
            ))
        })?;
    let text = m.text_content();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "content": text }),
    };
    Ok(json!({ "functionResponse": { "name": name, "response": response } }))
}

fn declarations(request: &ChatRequest) -> Vec<Value> {
    request
        .tools
        .iter()
        .flatten()
        .filter(|t| t.kind == "function")
        .filter_map(|t| {
            let f = t.function.as_ref()?;
            let mut d = json!({ "name": f.name });
            if let Some(desc) = f.description.as_ref().filter(|d| !d.is_empty()) {
                d["description"] = Value::String(desc.clone());
            }
            if let Some(params) = f.parameters.as_ref().filter(|p| !p.is_null()) {
                let params = gemini_schema(params);
                if has_properties(&params) {
                    d["parameters"] = params;
                }
            }
            Some(d)
        })
        .collect()
}

fn tool_config(request: &ChatRequest) -> Result<Option<Value>, RequestError> {
    let config = match &request.tool_choice {
        None => return Ok(None),
        Some(ToolChoice::Mode(mode)) => {
            let mode = match mode.as_str() {
                "auto" => "AUTO",
                "required" => "ANY",
                "none" => "NONE",
                other => {
                    return Err(RequestError::invalid(format!(
                        "tool_choice `{other}` is not one of none, auto, required"
                    )));
                }
            };
            json!({ "mode": mode })
        }
        Some(ToolChoice::Named(named)) => {
            json!({ "mode": "ANY", "allowedFunctionNames": [named.function.name] })
        }
    };
    Ok(Some(json!({ "functionCallingConfig": config })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Result<Value, RequestError> {
        let request: ChatRequest = serde_json::from_value(v).unwrap();
        generate_body(&request).map(|t| t.body)
    }

    #[test]
    fn model_paths() {
        assert_eq!(model_path("gemini-2.5-flash"), "models/gemini-2.5-flash");
        assert_eq!(
            model_path("models/gemini-2.5-flash"),
            "models/gemini-2.5-flash"
        );
        assert_eq!(model_path("tunedModels/my-model"), "tunedModels/my-model");
    }

    #[test]
    fn mime_types_come_from_the_extension() {
        assert_eq!(guess_mime("https://x/a/cat.PNG?size=2"), Some("image/png"));
        assert_eq!(guess_mime("https://x/a/cat.jpeg#f"), Some("image/jpeg"));
        assert_eq!(guess_mime("https://x.example/photo"), None);
        assert_eq!(guess_mime("https://x/clip.mp4"), Some("video/mp4"));
    }

    #[test]
    fn a_tool_result_without_a_call_is_invalid() {
        let err = body(json!({ "messages": [
            { "role": "user", "content": "Hi" },
            { "role": "tool", "tool_call_id": "call_9", "content": "42" }
        ] }))
        .unwrap_err();
        assert!(err.invalid);
        assert_eq!(
            err.message,
            "messages[1].tool_call_id `call_9` matches no earlier assistant tool call"
        );
        // The legacy `name` of a tool message is enough.
        let b = body(json!({ "messages": [
            { "role": "tool", "tool_call_id": "call_9", "name": "answer", "content": "42" }
        ] }))
        .unwrap();
        assert_eq!(
            b["contents"][0]["parts"][0],
            json!({ "functionResponse": { "name": "answer", "response": { "content": "42" } } })
        );
    }

    #[test]
    fn reasoning_settings_become_thinking_config() {
        let cfg = |v: Value| body(v).unwrap()["generationConfig"]["thinkingConfig"].clone();
        let hi = json!({ "role": "user", "content": "Hi" });
        assert_eq!(
            cfg(json!({ "messages": [hi], "reasoning": { "effort": "none" } })),
            json!({ "thinkingBudget": 0 })
        );
        assert_eq!(
            cfg(json!({ "messages": [hi], "reasoning": { "enabled": true } })),
            json!({ "thinkingBudget": -1, "includeThoughts": true })
        );
        assert_eq!(
            cfg(
                json!({ "messages": [hi], "reasoning_effort": "low", "reasoning": { "exclude": true } })
            ),
            json!({ "thinkingBudget": 1024 })
        );
        assert_eq!(
            cfg(json!({ "messages": [hi], "reasoning": { "max_tokens": 3000 } })),
            json!({ "thinkingBudget": 3000, "includeThoughts": true })
        );
        assert_eq!(
            body(json!({ "messages": [hi] }))
                .unwrap()
                .get("generationConfig"),
            None
        );
    }

    #[test]
    fn a_loose_thought_signature_goes_on_the_first_part() {
        let b = body(json!({ "messages": [
            { "role": "user", "content": "Hi" },
            { "role": "assistant", "content": "Hello",
              "reasoning_details": [{ "type": "reasoning.encrypted", "data": "sig", "format": "google-gemini-v1" }] }
        ] }))
        .unwrap();
        assert_eq!(
            b["contents"][1]["parts"],
            json!([{ "text": "Hello", "thoughtSignature": "sig" }])
        );
    }

    #[test]
    fn unsupported_parts_are_reported() {
        let err = body(json!({ "messages": [{ "role": "user", "content": [
            { "type": "file", "file": { "file_id": "file-123" } }
        ] }] }))
        .unwrap_err();
        assert!(!err.invalid);
        assert!(
            err.message.starts_with("messages[0].content[0]"),
            "{}",
            err.message
        );
    }
}
