//! A mock moderation backend speaking the OpenAI moderation API:
//! `POST /v1/moderations` with `{"model", "input"}` (a string or an array
//! of strings) → `{"id", "model", "results": [{"flagged", "categories",
//! "category_scores"}]}`, one result per input.
//!
//! An input containing `[mock:flag=CATEGORY]` is flagged with that
//! category (`categories.CATEGORY: true`, score 0.99); several such
//! directives flag several categories. Every other input passes, with
//! every one of OpenAI's categories `false` and scored 0.0001.
//! `[mock:moderation_status=N]` (400..=599) in any input makes the whole
//! call answer that status with an OpenAI-shaped error body.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let backend = tollgate_testkit::MockModeration::start().await?;
//! let base_url = backend.base_url(); // http://127.0.0.1:PORT (+ /v1/moderations)
//! assert_eq!(backend.request_count(), 0);
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// OpenAI's moderation categories (omni-moderation), every one reported.
pub const CATEGORIES: &[&str] = &[
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

#[derive(Debug, Default)]
struct Shared {
    requests: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

/// A running mock moderation backend; dropping it stops it.
#[derive(Debug)]
pub struct MockModeration {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockModeration {
    /// Starts the backend on a free port of 127.0.0.1.
    pub async fn start() -> io::Result<MockModeration> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = router_with(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(MockModeration {
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bare router (`POST /v1/moderations`), to mount elsewhere.
    pub fn router() -> Router {
        router_with(Arc::new(Shared::default()))
    }

    /// The backend's base URL, `http://127.0.0.1:PORT`: requests go to
    /// `{base_url}/v1/moderations`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many moderation requests it answered.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The request bodies it received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        match self.shared.bodies.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Stops the backend and waits for it.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for MockModeration {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn router_with(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/moderations", post(moderate))
        .with_state(shared)
}

async fn moderate(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "We could not parse the JSON body of your request.");
    };
    match shared.bodies.lock() {
        Ok(mut b) => b.push(request.clone()),
        Err(poisoned) => poisoned.into_inner().push(request.clone()),
    }
    let inputs: Vec<String> = match request.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                // Multimodal inputs: the text of a text part.
                other => other
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect(),
        _ => return error(400, "Missing required parameter: 'input'."),
    };
    if let Some(status) = inputs
        .iter()
        .find_map(|i| directive(i, "moderation_status"))
    {
        match status.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => {
                return error(code, "The moderation service failed.");
            }
            _ => {}
        }
    }
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("omni-moderation-latest");
    let results: Vec<Value> = inputs.iter().map(|i| result_for(i)).collect();
    Json(json!({
        "id": format!("modr-mock-{}", shared.requests.load(Ordering::SeqCst)),
        "model": model,
        "results": results,
    }))
    .into_response()
}

/// The result for one input: flagged with each `[mock:flag=CATEGORY]`.
pub fn result_for(input: &str) -> Value {
    let flagged: Vec<&str> = directives(input, "flag").collect();
    let mut categories = Map::new();
    let mut scores = Map::new();
    for c in CATEGORIES.iter().copied().chain(flagged.iter().copied()) {
        let on = flagged.contains(&c);
        categories.insert(c.to_string(), Value::Bool(on));
        scores.insert(c.to_string(), json!(if on { 0.99 } else { 0.0001 }));
    }
    json!({
        "flagged": !flagged.is_empty(),
        "categories": categories,
        "category_scores": scores,
    })
}

fn directives<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("[mock:{name}=");
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(&open)?;
        let after = &rest[start + open.len()..];
        let end = after.find(']')?;
        rest = &after[end + 1..];
        Some(&after[..end])
    })
    .filter(|v| !v.is_empty())
}

fn directive<'a>(text: &'a str, name: &'a str) -> Option<&'a str> {
    directives(text, name).next()
}

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_named_categories() {
        let r = result_for("hi [mock:flag=violence] and [mock:flag=hate]");
        assert_eq!(r["flagged"], true);
        assert_eq!(r["categories"]["violence"], true);
        assert_eq!(r["categories"]["hate"], true);
        assert_eq!(r["categories"]["sexual"], false);
        assert_eq!(r["category_scores"]["violence"], 0.99);
        let r = result_for("hello");
        assert_eq!(r["flagged"], false);
        assert_eq!(r["categories"].as_object().unwrap().len(), CATEGORIES.len());
    }
}
