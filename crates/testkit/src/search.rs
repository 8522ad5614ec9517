//! Mock web-search backends speaking two public search APIs' real JSON
//! wire formats, for the gateway's web search (`:online`, the `web`
//! plugin, the `openrouter:web_search` server tool) and its `--dev` mode.
//!
//! | Dialect | `base_url()` | Endpoint |
//! |---|---|---|
//! | [`SearchDialect::Exa`] | `http://127.0.0.1:PORT` | `POST /search` with `x-api-key` and `{"query", "numResults", "contents": {"text": {"maxCharacters"}}}` (or `"text": true`) |
//! | [`SearchDialect::Searxng`] | `http://127.0.0.1:PORT` | `GET /search?q=...&format=json` |
//!
//! **Results are deterministic**, computed from the query alone by
//! [`results_for`]: result `i` (1-based) has the URL
//! `https://site{i}.example/{slug}` (the slug is the query's words,
//! lowercased, joined with `-`, at most 40 characters), the title
//! `Result {i} for {query}` and the text
//! `{query}: finding {i} from site{i}.example.` Exa answers
//! `numResults` of them (default 10, at most 100), its `text` cut to
//! `maxCharacters`; SearXNG, which has no count parameter, always answers
//! [`SEARXNG_RESULTS`] (the client keeps what it wants).
//!
//! Errors are the services' own: Exa answers 401
//! `{"requestId", "error"}` without an `x-api-key` (any non-empty key is
//! accepted), 400 without a `query`; SearXNG answers 403 when `format` is
//! not `json` (as an instance without the JSON format enabled does) and
//! 400 without `q`. [`SearchHandle::set_failure`] makes every request fail
//! with a status.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How many results a SearXNG answer has.
pub const SEARXNG_RESULTS: usize = 10;
/// Exa's default `numResults`.
pub const EXA_DEFAULT_RESULTS: usize = 10;

/// Which search API a mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDialect {
    /// Exa's `POST /search`.
    Exa,
    /// SearXNG's `GET /search?format=json`.
    Searxng,
}

/// One deterministic result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockResult {
    /// `https://site{i}.example/{slug}`.
    pub url: String,
    /// `Result {i} for {query}`.
    pub title: String,
    /// `{query}: finding {i} from site{i}.example.`
    pub text: String,
}

/// The first `n` results for `query` (see the module docs).
pub fn results_for(query: &str, n: usize) -> Vec<MockResult> {
    let slug: String = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
        .chars()
        .take(40)
        .collect();
    (1..=n)
        .map(|i| MockResult {
            url: format!("https://site{i}.example/{slug}"),
            title: format!("Result {i} for {query}"),
            text: format!("{query}: finding {i} from site{i}.example."),
        })
        .collect()
}

#[derive(Debug, Default)]
struct Shared {
    requests: AtomicUsize,
    failure: AtomicU16,
    queries: Mutex<Vec<String>>,
    bodies: Mutex<Vec<Value>>,
    api_keys: Mutex<Vec<String>>,
}

/// A running mock search backend; dropping it stops the server.
#[derive(Debug)]
pub struct SearchHandle {
    addr: SocketAddr,
    dialect: SearchDialect,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl SearchHandle {
    /// `http://127.0.0.1:PORT`: what a search configuration's `base_url`
    /// should be (the client appends `/search`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The dialect served.
    pub fn dialect(&self) -> SearchDialect {
        self.dialect
    }

    /// Requests received so far (failed ones included).
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The queries received, in order.
    pub fn queries(&self) -> Vec<String> {
        self.shared
            .queries
            .lock()
            .map(|q| q.clone())
            .unwrap_or_default()
    }

    /// The JSON bodies received (Exa), in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.shared
            .bodies
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }

    /// The `x-api-key` of each Exa request that had one, in order.
    pub fn api_keys(&self) -> Vec<String> {
        self.shared
            .api_keys
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default()
    }

    /// Every later request fails with `status` (`None`: answer again).
    pub fn set_failure(&self, status: Option<u16>) {
        self.shared
            .failure
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }
}

impl Drop for SearchHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Entry point for running mock search backends.
#[derive(Debug)]
pub struct MockSearch;

impl MockSearch {
    /// Starts a mock speaking `dialect` on `127.0.0.1` with a free port.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound.
    pub async fn start(dialect: SearchDialect) -> io::Result<SearchHandle> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = router(dialect, shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::warn!(error = %e, "mock search backend stopped");
            }
        });
        Ok(SearchHandle {
            addr,
            dialect,
            shared,
            shutdown: Some(tx),
        })
    }
}

fn router(dialect: SearchDialect, shared: Arc<Shared>) -> Router {
    match dialect {
        SearchDialect::Exa => Router::new().route("/search", post(exa)),
        SearchDialect::Searxng => Router::new().route("/search", get(searxng)),
    }
    .with_state(shared)
}

fn failure(shared: &Shared) -> Option<Response> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let status = shared.failure.load(Ordering::SeqCst);
    let status = StatusCode::from_u16(status).ok()?;
    Some((status, axum::Json(json!({"error": "mock search failure"}))).into_response())
}

fn remember(shared: &Shared, query: &str) {
    if let Ok(mut q) = shared.queries.lock() {
        q.push(query.to_owned());
    }
}

async fn exa(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    if let Some(failed) = failure(&shared) {
        return failed;
    }
    let error = |status: StatusCode, message: &str| {
        (
            status,
            axum::Json(json!({"requestId": "mock-request", "error": message})),
        )
            .into_response()
    };
    let Some(key) = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
    else {
        return error(StatusCode::UNAUTHORIZED, "Missing API key");
    };
    if let Ok(mut k) = shared.api_keys.lock() {
        k.push(key.to_owned());
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON body");
    };
    if let Ok(mut b) = shared.bodies.lock() {
        b.push(body.clone());
    }
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "query is required");
    };
    remember(&shared, query);
    let n = body
        .get("numResults")
        .and_then(Value::as_u64)
        .map_or(EXA_DEFAULT_RESULTS, |n| n.min(100) as usize);
    let text = body
        .get("contents")
        .and_then(|c| c.get("text"))
        .or(body.get("text"));
    let max_chars = text
        .and_then(|t| t.get("maxCharacters"))
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let with_text = text.is_some_and(|t| t.as_bool() != Some(false));
    let results: Vec<Value> = results_for(query, n)
        .into_iter()
        .map(|r| {
            let mut v = json!({
                "id": r.url,
                "url": r.url,
                "title": r.title,
                "publishedDate": "2026-01-01T00:00:00.000Z",
                "author": null,
                "score": 0.5,
            });
            if with_text {
                let text: String = match max_chars {
                    Some(m) => r.text.chars().take(m).collect(),
                    None => r.text,
                };
                v["text"] = Value::String(text);
            }
            v
        })
        .collect();
    axum::Json(json!({
        "requestId": "mock-request",
        "resolvedSearchType": "neural",
        "searchType": "auto",
        "results": results,
        "costDollars": {"total": 0.005},
    }))
    .into_response()
}

async fn searxng(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(failed) = failure(&shared) {
        return failed;
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if param("format") != Some("json") {
        return (StatusCode::FORBIDDEN, "403 Forbidden").into_response();
    }
    let Some(query) = param("q").filter(|q| !q.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "Bad Request").into_response();
    };
    remember(&shared, query);
    let results: Vec<Value> = results_for(query, SEARXNG_RESULTS)
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "url": r.url,
                "title": r.title,
                "content": r.text,
                "engine": "mock",
                "engines": ["mock"],
                "positions": [i + 1],
                "score": 1.0 / (i as f64 + 1.0),
                "category": "general",
                "parsed_url": ["https", format!("site{}.example", i + 1), "", "", "", ""],
            })
        })
        .collect();
    axum::Json(json!({
        "query": query,
        "number_of_results": results.len(),
        "results": results,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": [],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_a_function_of_the_query() {
        let r = results_for("Rust 2024, edition!", 2);
        assert_eq!(r[1].url, "https://site2.example/rust-2024-edition");
        assert_eq!(r[0].title, "Result 1 for Rust 2024, edition!");
        assert_eq!(
            r[0].text,
            "Rust 2024, edition!: finding 1 from site1.example."
        );
        assert_eq!(results_for("Rust 2024, edition!", 2), r);
    }
}
