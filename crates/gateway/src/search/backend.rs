//! Search backends: one trait, one implementation per public search API.
//! Each turns a [`Query`] into the API's request, and the API's JSON
//! answer into [`SearchResult`]s; nothing else of the gateway's is seen.

use std::time::Duration;

use serde_json::{Value, json};
use tollgate_transport::HttpClient;

use super::config::{BackendKind, SearchConfig};

/// What to search for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The search text.
    pub text: String,
    /// The most results wanted.
    pub max_results: u32,
    /// The most characters of content a result keeps.
    pub max_characters: usize,
}

/// One result, as the prompt and the citations use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    /// The page.
    pub url: String,
    /// Its title (may be empty).
    pub title: String,
    /// The text the backend gave for it, cut to the query's
    /// `max_characters`.
    pub content: String,
}

/// Why a search failed (the request goes on without results).
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The backend could not be reached or timed out.
    #[error("search backend unreachable: {0}")]
    Transport(String),
    /// The backend answered with an error status.
    #[error("search backend answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The backend's answer is not its documented JSON.
    #[error("search backend answer unreadable: {0}")]
    Invalid(String),
}

/// A web-search API.
#[async_trait::async_trait]
pub trait SearchBackend: Send + Sync + std::fmt::Debug {
    /// The engine's name (`exa`, `searxng`): `/generation`'s
    /// `web_search_engine`.
    fn engine(&self) -> &'static str;

    /// Runs `query`: at most `query.max_results` results, each content at
    /// most `query.max_characters` characters.
    async fn search(&self, query: &Query) -> Result<Vec<SearchResult>, SearchError>;
}

/// The backend `config` names, or `None` when web search is off. The key
/// is read from the environment here, once.
pub fn from_config(config: &SearchConfig, client: HttpClient) -> Option<Box<dyn SearchBackend>> {
    let key = config
        .api_key_env()
        .and_then(|var| std::env::var(var).ok())
        .filter(|k| !k.trim().is_empty());
    let base = config.base_url().to_owned();
    let timeout = Duration::from_secs_f64(config.timeout_secs);
    match config.backend? {
        BackendKind::Exa => {
            if key.is_none() {
                tracing::warn!(
                    var = config.api_key_env().unwrap_or_default(),
                    "[search] backend exa has no API key in the environment; searches will fail"
                );
            }
            Some(Box::new(Exa {
                client,
                url: format!("{base}/search"),
                key,
                timeout,
            }))
        }
        BackendKind::Searxng => Some(Box::new(Searxng {
            client,
            url: format!("{base}/search"),
            key,
            timeout,
        })),
    }
}

/// Exa: `POST {base}/search`, `x-api-key`, contents as text.
#[derive(Debug)]
pub struct Exa {
    client: HttpClient,
    url: String,
    key: Option<String>,
    timeout: Duration,
}

#[async_trait::async_trait]
impl SearchBackend for Exa {
    fn engine(&self) -> &'static str {
        "exa"
    }

    async fn search(&self, query: &Query) -> Result<Vec<SearchResult>, SearchError> {
        let body = exa_request(query);
        let mut call = self
            .client
            .reqwest()
            .post(&self.url)
            .timeout(self.timeout)
            .json(&body);
        if let Some(key) = &self.key {
            call = call.header("x-api-key", key);
        }
        let answer = send(call).await?;
        parse_exa(&answer, query)
    }
}

/// SearXNG: `GET {base}/search?q=...&format=json`.
#[derive(Debug)]
pub struct Searxng {
    client: HttpClient,
    url: String,
    key: Option<String>,
    timeout: Duration,
}

#[async_trait::async_trait]
impl SearchBackend for Searxng {
    fn engine(&self) -> &'static str {
        "searxng"
    }

    async fn search(&self, query: &Query) -> Result<Vec<SearchResult>, SearchError> {
        let mut call = self
            .client
            .reqwest()
            .get(&self.url)
            .timeout(self.timeout)
            .query(&[("q", query.text.as_str()), ("format", "json")]);
        if let Some(key) = &self.key {
            call = call.bearer_auth(key);
        }
        let answer = send(call).await?;
        parse_searxng(&answer, query)
    }
}

async fn send(call: reqwest::RequestBuilder) -> Result<Value, SearchError> {
    let response = call
        .send()
        .await
        .map_err(|e| SearchError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(SearchError::Status { status });
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SearchError::Transport(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| SearchError::Invalid(e.to_string()))
}

/// Exa's request body for `query`.
pub fn exa_request(query: &Query) -> Value {
    json!({
        "query": query.text,
        "numResults": query.max_results,
        "contents": {"text": {"maxCharacters": query.max_characters}},
    })
}

/// Exa's answer: `results[]` with `url`, `title` and `text`.
pub fn parse_exa(answer: &Value, query: &Query) -> Result<Vec<SearchResult>, SearchError> {
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Invalid(String::from("no `results` array")))?;
    Ok(collect(results, "text", query))
}

/// SearXNG's answer: `results[]` with `url`, `title` and `content`.
pub fn parse_searxng(answer: &Value, query: &Query) -> Result<Vec<SearchResult>, SearchError> {
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Invalid(String::from("no `results` array")))?;
    Ok(collect(results, "content", query))
}

/// The longest URL kept (a longer one is dropped: it could not be cited).
pub const MAX_URL_BYTES: usize = 1024;
/// The longest title kept, in bytes (cut at a character boundary).
pub const MAX_TITLE_BYTES: usize = 256;

fn collect(results: &[Value], content_key: &str, query: &Query) -> Vec<SearchResult> {
    results
        .iter()
        .filter_map(|r| {
            let url = r.get("url").and_then(Value::as_str)?;
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.len() > MAX_URL_BYTES
            {
                return None;
            }
            let text = |key: &str| r.get(key).and_then(Value::as_str).unwrap_or_default();
            Some(SearchResult {
                url: url.to_owned(),
                title: cut_bytes(text("title"), MAX_TITLE_BYTES).to_owned(),
                content: cut_bytes(text(content_key), query.max_characters).to_owned(),
            })
        })
        .take(query.max_results as usize)
        .collect()
}

/// `s` cut to at most `max` bytes at a character boundary: at most `max`
/// characters, and a sure bound of the tokens it can become.
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: u32, chars: usize) -> Query {
        Query {
            text: String::from("rust"),
            max_results: n,
            max_characters: chars,
        }
    }

    #[test]
    fn exa_answers_become_results_cut_to_the_query() {
        let answer = json!({"requestId": "r", "results": [
            {"id": "https://a.example/1", "url": "https://a.example/1", "title": "A", "text": "0123456789"},
            {"url": "ftp://no.example", "title": "B", "text": "x"},
            {"url": "https://c.example/", "title": "C"},
            {"url": "https://d.example/", "title": "D", "text": "d"},
        ]});
        let r = parse_exa(&answer, &q(2, 4)).unwrap();
        assert_eq!(
            r,
            vec![
                SearchResult {
                    url: "https://a.example/1".into(),
                    title: "A".into(),
                    content: "0123".into()
                },
                SearchResult {
                    url: "https://c.example/".into(),
                    title: "C".into(),
                    content: String::new()
                },
            ]
        );
        assert_eq!(
            exa_request(&q(3, 500)),
            json!({"query": "rust", "numResults": 3, "contents": {"text": {"maxCharacters": 500}}})
        );
    }

    #[test]
    fn searxng_answers_use_content_and_an_answer_without_results_is_invalid() {
        let answer = json!({"query": "rust", "results": [
            {"url": "https://a.example/", "title": "A", "content": "about rust", "engine": "x"}
        ]});
        let r = parse_searxng(&answer, &q(5, 100)).unwrap();
        assert_eq!(r[0].content, "about rust");
        assert!(parse_searxng(&json!({"query": "rust"}), &q(5, 100)).is_err());
    }

    #[test]
    fn cuts_keep_whole_characters() {
        assert_eq!(cut_bytes("héllo", 2), "h");
        assert_eq!(cut_bytes("héllo", 3), "hé");
    }
}
