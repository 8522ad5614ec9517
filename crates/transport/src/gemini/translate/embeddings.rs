//! Embeddings through `batchEmbedContents` (see the module docs for the
//! rules).

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector,
};

use super::request::model_path;
use super::response::error_object;
use crate::error::{ErrorKind, ProviderError};
use crate::native::convert::RequestError;

/// Gemini's `taskType` for an `input_type`.
fn task_type(input_type: &str) -> Option<String> {
    let known = match input_type.to_ascii_lowercase().as_str() {
        "search_query" | "query" | "retrieval_query" => "RETRIEVAL_QUERY",
        "search_document" | "document" | "passage" | "retrieval_document" => "RETRIEVAL_DOCUMENT",
        "classification" => "CLASSIFICATION",
        "clustering" => "CLUSTERING",
        "semantic_similarity" | "similarity" => "SEMANTIC_SIMILARITY",
        "question_answering" => "QUESTION_ANSWERING",
        "fact_verification" => "FACT_VERIFICATION",
        "code_retrieval_query" => "CODE_RETRIEVAL_QUERY",
        _ => return None,
    };
    Some(known.to_string())
}

/// The body of `batchEmbedContents` for `request` sent to `upstream_model`.
pub fn embed_body(request: &EmbeddingRequest, upstream_model: &str) -> Result<Value, RequestError> {
    let texts: Vec<&str> = match &request.input {
        EmbeddingInput::Text(t) => vec![t.as_str()],
        EmbeddingInput::Texts(t) => t.iter().map(String::as_str).collect(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            return Err(RequestError::unsupported(
                "input: token ids are not supported by the Gemini dialect",
            ));
        }
        EmbeddingInput::Multimodal(_) => {
            return Err(RequestError::unsupported(
                "input: multimodal inputs are not supported by the Gemini dialect",
            ));
        }
    };
    if texts.is_empty() {
        return Err(RequestError::invalid("input must not be empty"));
    }
    let model = model_path(upstream_model);
    let task = request.input_type.as_deref().and_then(task_type);
    let requests: Vec<Value> = texts
        .into_iter()
        .map(|text| {
            let mut r = json!({ "model": model, "content": { "parts": [{ "text": text }] } });
            if let Some(d) = request.dimensions {
                r["outputDimensionality"] = json!(d);
            }
            if let Some(task) = &task {
                r["taskType"] = Value::String(task.clone());
            }
            r
        })
        .collect();
    Ok(json!({ "requests": requests }))
}

/// Parses a `batchEmbedContents` answer, encoding the vectors as `request`
/// asked (`float`, or `base64` of little-endian f32).
pub fn embeddings(
    slug: &str,
    name: &str,
    body: &[u8],
    request: &EmbeddingRequest,
    upstream_model: &str,
) -> Result<EmbeddingResponse, ProviderError> {
    let raw = || String::from_utf8_lossy(body).into_owned();
    let invalid = |message: String| {
        ProviderError::new(slug, name, ErrorKind::InvalidResponse, message).with_raw(raw())
    };
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("unparseable embeddings: {e}")))?;
    if let Some((status, code, message)) = error_object(&v) {
        let kind = status
            .filter(|s| *s >= 400)
            .map_or(ErrorKind::InvalidResponse, |status| ErrorKind::Status {
                status,
            });
        return Err(ProviderError::new(slug, name, kind, message)
            .with_upstream_code(code)
            .with_raw(raw()));
    }
    let items = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            invalid(String::from(
                "unparseable embeddings: no `embeddings` array",
            ))
        })?;
    let base64 = request.encoding_format.as_deref() == Some("base64");
    let mut data = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let values: Vec<f32> = item
            .get("values")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                invalid(format!(
                    "unparseable embeddings: embeddings[{i}] has no values"
                ))
            })?
            .iter()
            // Gemini sends f32 values; narrowing the JSON double is exact.
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid(format!(
                    "unparseable embeddings: embeddings[{i}] is not numbers"
                ))
            })?;
        let embedding = if base64 {
            let bytes: Vec<u8> = values.iter().flat_map(|x| x.to_le_bytes()).collect();
            EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            EmbeddingVector::Float(values)
        };
        data.push(Embedding {
            object: String::from("embedding"),
            embedding,
            index: u32::try_from(i).unwrap_or(u32::MAX),
        });
    }
    Ok(EmbeddingResponse {
        object: String::from("list"),
        id: None,
        model: upstream_model.to_string(),
        data,
        usage: None,
        extra: Extra::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(v: Value) -> EmbeddingRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let req = request(json!({ "model": "m", "input": "hi", "encoding_format": "base64" }));
        let body = br#"{"embeddings":[{"values":[1.0,-2.5]}]}"#;
        let out = embeddings("g", "G", body, &req, "text-embedding-004").unwrap();
        let expected = base64::engine::general_purpose::STANDARD
            .encode([1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat());
        assert_eq!(out.data[0].embedding, EmbeddingVector::Base64(expected));
    }

    #[test]
    fn token_inputs_are_unsupported() {
        let req = request(json!({ "model": "m", "input": [1, 2, 3] }));
        assert!(!embed_body(&req, "m").unwrap_err().invalid);
        let req = request(json!({ "model": "m", "input": [] }));
        // An empty array parses as texts (the first untagged variant).
        assert!(embed_body(&req, "m").is_err());
    }

    #[test]
    fn task_types() {
        assert_eq!(
            task_type("search_query").as_deref(),
            Some("RETRIEVAL_QUERY")
        );
        assert_eq!(
            task_type("RETRIEVAL_DOCUMENT").as_deref(),
            Some("RETRIEVAL_DOCUMENT")
        );
        assert_eq!(task_type("poetry"), None);
    }
}
