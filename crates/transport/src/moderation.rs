//! The moderation backend: a client of the OpenAI moderation API
//! (`POST {base}/v1/moderations`, `{"model", "input": [...]}` →
//! `{"results": [{"flagged", "categories", "category_scores"}]}`), which
//! OpenAI and compatible services (self-hosted classifiers behind the same
//! wire) answer.
//!
//! The pure part ([`request_body`], [`parse_response`]) is apart from the
//! HTTP exchange ([`ModerationClient::moderate`]), so the wire is tested
//! without a socket. The gateway decides what a verdict means for a
//! request; this module only asks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::http::{HttpClient, describe};

/// What the backend said of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationResult {
    /// Whether the input breaks the policy.
    pub flagged: bool,
    /// Each category and whether it was flagged.
    pub categories: BTreeMap<String, bool>,
    /// Each category's score, from 0 to 1.
    pub category_scores: BTreeMap<String, f64>,
}

impl ModerationResult {
    /// The categories flagged, in name order.
    pub fn flagged_categories(&self) -> impl Iterator<Item = &str> {
        self.categories
            .iter()
            .filter(|(_, on)| **on)
            .map(|(name, _)| name.as_str())
    }
}

/// The request body for `inputs`.
pub fn request_body(model: &str, inputs: &[String]) -> Value {
    json!({ "model": model, "input": inputs })
}

/// Reads a moderation answer for `expected` inputs: one result per input,
/// in order. Fewer results than inputs, or a body that is not the
/// moderation API's, is an error (a backend that cannot be read must not
/// pass input it did not judge).
pub fn parse_response(body: &[u8], expected: usize) -> Result<Vec<ModerationResult>> {
    let bad = |message: String| Error::Moderation { message };
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("unparseable answer: {e}")))?;
    let Some(results) = v.get("results").and_then(Value::as_array) else {
        return Err(bad(String::from("the answer has no `results` array")));
    };
    if results.len() < expected {
        return Err(bad(format!(
            "{} results for {expected} inputs",
            results.len()
        )));
    }
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let Some(flagged) = r.get("flagged").and_then(Value::as_bool) else {
                return Err(bad(format!("results[{i}].flagged is not a boolean")));
            };
            let categories = r
                .get("categories")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_bool().map(|b| (k.clone(), b)))
                        .collect()
                })
                .unwrap_or_default();
            let category_scores = r
                .get("category_scores")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f)))
                        .collect()
                })
                .unwrap_or_default();
            Ok(ModerationResult {
                flagged,
                categories,
                category_scores,
            })
        })
        .collect()
}

/// A moderation backend: where it is, which model, with which key.
#[derive(Clone)]
pub struct ModerationClient {
    client: HttpClient,
    url: String,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

/// The key is never shown.
impl std::fmt::Debug for ModerationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModerationClient")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ModerationClient {
    /// A client of the backend at `base_url`: requests go to
    /// `{base_url}/v1/moderations` (or `{base_url}/moderations` when
    /// `base_url` already ends in `/v1`).
    pub fn new(
        client: HttpClient,
        base_url: &str,
        model: impl Into<String>,
        api_key: Option<String>,
        timeout: Duration,
    ) -> ModerationClient {
        ModerationClient {
            client,
            url: moderations_url(base_url),
            model: model.into(),
            api_key,
            timeout,
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks the backend about `inputs`; one result per input, in order.
    pub async fn moderate(&self, inputs: &[String]) -> Result<Vec<ModerationResult>> {
        let mut request = self
            .client
            .reqwest()
            .post(&self.url)
            .timeout(self.timeout)
            .json(&request_body(&self.model, inputs));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| Error::Moderation {
            message: describe(&e),
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| Error::Moderation {
            message: describe(&e),
        })?;
        if !status.is_success() {
            return Err(Error::Moderation {
                message: format!("HTTP {}", status.as_u16()),
            });
        }
        parse_response(&body, inputs.len())
    }
}

fn moderations_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/moderations")
    } else {
        format!("{base}/v1/moderations")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            moderations_url("https://api.openai.com"),
            "https://api.openai.com/v1/moderations"
        );
        assert_eq!(
            moderations_url("http://127.0.0.1:9/v1/"),
            "http://127.0.0.1:9/v1/moderations"
        );
    }

    #[test]
    fn reads_openai_answers() {
        // The shape of OpenAI's documented example answer.
        let body = br#"{"id":"modr-1","model":"omni-moderation-latest","results":[
            {"flagged":false,"categories":{"violence":false,"harassment":false},
             "category_scores":{"violence":0.01,"harassment":0.0}},
            {"flagged":true,"categories":{"violence":true,"harassment":false,"self-harm":true},
             "category_scores":{"violence":0.97,"harassment":0.01,"self-harm":0.8},
             "category_applied_input_types":{"violence":["text"]}}]}"#;
        let r = parse_response(body, 2).unwrap();
        assert!(!r[0].flagged);
        assert!(r[1].flagged);
        assert_eq!(
            r[1].flagged_categories().collect::<Vec<_>>(),
            ["self-harm", "violence"]
        );
        assert_eq!(r[1].category_scores["violence"], 0.97);
    }

    #[test]
    fn unreadable_answers_are_errors() {
        for (body, n) in [
            (&b"not json"[..], 1),
            (br#"{"results":[]}"#, 1),
            (br#"{"results":[{"flagged":"yes"}]}"#, 1),
            (br#"{"error":{"message":"bad key"}}"#, 1),
        ] {
            assert!(
                matches!(parse_response(body, n), Err(Error::Moderation { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_request_is_the_moderation_api_s() {
        assert_eq!(
            request_body("omni-moderation-latest", &["a".into(), "b".into()]),
            json!({"model": "omni-moderation-latest", "input": ["a", "b"]})
        );
    }
}
