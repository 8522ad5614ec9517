//! Files in a chat prompt and the `file-parser` plugin
//! (`{"id":"file-parser","pdf":{"engine":...}}`), part of stage 1
//! (prepare), once the plan is known:
//!
//! | `pdf.engine` | what happens to `{"type":"file"}` parts |
//! | --- | --- |
//! | absent | passed through when every planned endpoint lists `file` in its `input_modalities`; otherwise turned into text for all of them |
//! | `pdf-text`, `cloudflare-ai` | turned into text here (`tollgate_transforms::files`, lopdf); OpenRouter redirects the deprecated `pdf-text` to `cloudflare-ai`, a text extractor, so both name this one |
//! | `native` | passed through, to the planned endpoints with native file input only; 400 when there are none |
//! | `mistral-ocr` | 400: this gateway has no OCR engine |
//!
//! `enabled: false` leaves files as they are. A file that cannot be read
//! (bad base64, not a PDF, an unreadable PDF) is a 400 naming its field,
//! `messages[i].content[j].file.file_data`, before any hold or upstream
//! call.

use serde_json::Value;
use tollgate_catalog::CatalogEndpoint;
use tollgate_schema::chat::{ChatRequest, ContentPart, MessageContent, TextPart};

use super::Target;
use crate::error::ApiError;

/// What the `file-parser` plugin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// No engine named: native input where every endpoint has it, else text.
    Auto,
    /// Text extraction here.
    Text,
    /// The model's own file input.
    Native,
}

/// Applies the `file-parser` plugin to `request` for the endpoints of
/// `target` (see the module docs). Returns whether the prompt changed (it
/// then needs measuring again).
pub fn apply(request: &mut ChatRequest, target: &mut Target) -> Result<bool, ApiError> {
    if !has_files(request) {
        return Ok(false);
    }
    let Some((engine, field)) = engine(request)? else {
        return Ok(false);
    };
    let native = |ep: &CatalogEndpoint| ep.input_modalities.iter().any(|m| m == "file");
    match engine {
        Engine::Native => {
            if !target.endpoints.iter().any(|p| native(&p.endpoint)) {
                return Err(ApiError::field(
                    field,
                    format!(
                        "pdf engine `native` needs a model with native file input, and `{}` has none; use `pdf-text`",
                        target.model
                    ),
                ));
            }
            target.retain(native);
            Ok(false)
        }
        Engine::Auto if target.endpoints.iter().all(|p| native(&p.endpoint)) => Ok(false),
        Engine::Auto | Engine::Text => {
            to_text(request)?;
            Ok(true)
        }
    }
}

/// Whether any message has a file part.
fn has_files(request: &ChatRequest) -> bool {
    request
        .messages
        .iter()
        .flatten()
        .filter_map(|m| match &m.content {
            Some(MessageContent::Parts(parts)) => Some(parts),
            _ => None,
        })
        .flatten()
        .any(|p| matches!(p, ContentPart::File(_)))
}

/// The engine the request's `file-parser` plugin names, and the field that
/// names it (`plugins[k].pdf.engine`); `None` when the plugin is disabled.
fn engine(request: &ChatRequest) -> Result<Option<(Engine, String)>, ApiError> {
    let Some((k, plugin)) = request
        .plugins
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, p)| p.get("id").and_then(Value::as_str) == Some("file-parser"))
    else {
        return Ok(Some((Engine::Auto, String::from("plugins"))));
    };
    if plugin.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Ok(None);
    }
    let field = format!("plugins[{k}].pdf.engine");
    let engine = match plugin.get("pdf").and_then(|p| p.get("engine")) {
        None | Some(Value::Null) => Engine::Auto,
        Some(Value::String(name)) => match name.as_str() {
            "pdf-text" | "cloudflare-ai" => Engine::Text,
            "native" => Engine::Native,
            "mistral-ocr" => {
                return Err(ApiError::field(
                    &field,
                    "pdf engine `mistral-ocr` is not available on this gateway (it has no OCR); use `pdf-text` for the PDF's text, or `native` for a model that reads files",
                ));
            }
            other => {
                return Err(ApiError::field(
                    &field,
                    format!(
                        "unknown pdf engine `{other}`; expected `pdf-text`, `cloudflare-ai`, `native` or `mistral-ocr`"
                    ),
                ));
            }
        },
        Some(_) => return Err(ApiError::field(&field, "`engine` must be a string")),
    };
    Ok(Some((engine, field)))
}

/// Replaces every file part with a text part holding its text.
fn to_text(request: &mut ChatRequest) -> Result<(), ApiError> {
    for (i, message) in request.messages.iter_mut().flatten().enumerate() {
        let Some(MessageContent::Parts(parts)) = message.content.as_mut() else {
            continue;
        };
        for (j, part) in parts.iter_mut().enumerate() {
            let ContentPart::File(file) = part else {
                continue;
            };
            let text = tollgate_transforms::files::file_text(&file.file).map_err(|e| {
                ApiError::field(
                    format!("messages[{i}].content[{j}].file.file_data"),
                    e.to_string(),
                )
            })?;
            *part = ContentPart::Text(TextPart {
                text,
                cache_control: file.extra.get("cache_control").cloned(),
                extra: Default::default(),
            });
        }
    }
    Ok(())
}
