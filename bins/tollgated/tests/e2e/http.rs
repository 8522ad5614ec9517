//! Talking to the daemon over HTTP: requests, bounded body reads, and a
//! small server-sent-events splitter that keeps the raw framing visible.

use std::time::Duration;

use serde_json::{Value, json};

/// Bound on a whole request with [`client`], and on each read of a
/// [`BodyReader`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client whose every request, body included, ends within
/// [`REQUEST_TIMEOUT`].
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("reqwest client")
}

/// A chat request body for `model` with one user message.
pub fn chat_body(model: &str, text: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// A client with no bound on a whole request, for streams that outlive
/// [`REQUEST_TIMEOUT`]; read them with [`BodyReader`], which bounds each
/// read.
pub fn unbounded_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(REQUEST_TIMEOUT)
        .build()
        .expect("reqwest client")
}

/// `POST {api}/chat/completions` with `key`.
pub async fn post_chat(api: &str, key: &str, body: &Value) -> reqwest::Response {
    post_chat_with(&client(), api, key, body).await
}

/// [`post_chat`] with a given client.
pub async fn post_chat_with(
    client: &reqwest::Client,
    api: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    let send = client
        .post(format!("{api}/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send();
    tokio::time::timeout(REQUEST_TIMEOUT, send)
        .await
        .expect("no response head in time")
        .expect("send chat request")
}

/// `GET url` as JSON, asserting a 200.
pub async fn get_json(url: &str) -> Value {
    let resp = client().get(url).send().await.expect("send GET");
    let status = resp.status();
    let text = resp.text().await.expect("read body");
    assert_eq!(status, 200, "GET {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// The ids of a `/models` answer, sorted.
pub fn model_ids(models: &Value) -> Vec<String> {
    let mut ids: Vec<String> = models["data"]
        .as_array()
        .expect("`data` array")
        .iter()
        .map(|m| m["id"].as_str().expect("string id").to_string())
        .collect();
    ids.sort();
    ids
}

/// One event of a stream: a `data:` payload, or a `:` comment.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `data: <payload>`.
    Data(String),
    /// `: <comment>`.
    Comment(String),
}

impl Event {
    /// The payload as JSON, for `data` events that are not `[DONE]`.
    pub fn json(&self) -> Option<Value> {
        match self {
            Event::Data(d) if d != "[DONE]" => {
                Some(serde_json::from_str(d).unwrap_or_else(|e| panic!("bad chunk {d:?}: {e}")))
            }
            _ => None,
        }
    }
}

/// Splits a complete `text/event-stream` body into events.
pub fn events(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut data = Vec::new();
            let mut comment = None;
            for line in block.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d).to_string());
                } else if let Some(c) = line.strip_prefix(':') {
                    comment = Some(c.trim().to_string());
                } else {
                    panic!("unexpected SSE line {line:?} in {body:?}");
                }
            }
            match comment {
                Some(c) if data.is_empty() => Event::Comment(c),
                _ => Event::Data(data.join("\n")),
            }
        })
        .collect()
}

/// The `data` events only.
pub fn data_events(body: &str) -> Vec<Event> {
    events(body)
        .into_iter()
        .filter(|e| matches!(e, Event::Data(_)))
        .collect()
}

/// The concatenated `delta.content` of the chunks.
pub fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"].as_array())
        .flatten()
        .filter_map(|c| c["delta"]["content"].as_str())
        .collect()
}

/// Reads a streamed body incrementally, every read bounded.
pub struct BodyReader {
    resp: reqwest::Response,
    buf: Vec<u8>,
    done: bool,
}

impl BodyReader {
    /// Wraps a response whose body is still coming.
    pub fn new(resp: reqwest::Response) -> BodyReader {
        BodyReader {
            resp,
            buf: Vec::new(),
            done: false,
        }
    }

    /// Everything read so far (a character split between reads shows as
    /// U+FFFD until its end arrives).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// Reads one more piece; false at the end of the body.
    async fn read_some(&mut self) -> bool {
        if self.done {
            return false;
        }
        let next = tokio::time::timeout(REQUEST_TIMEOUT, self.resp.chunk())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no body bytes for {REQUEST_TIMEOUT:?}; so far: {}",
                    String::from_utf8_lossy(&self.buf)
                )
            });
        match next {
            Ok(Some(bytes)) => {
                self.buf.extend_from_slice(&bytes);
                true
            }
            Ok(None) => {
                self.done = true;
                false
            }
            Err(e) => panic!(
                "body failed: {e}; so far: {}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Reads until the body contains `needle`; panics if it ends first.
    pub async fn read_until(&mut self, needle: &str) {
        while !self.text().contains(needle) {
            assert!(
                self.read_some().await,
                "body ended without {needle:?}: {}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// Reads and discards the rest of the body, as a live client would,
    /// until it ends or breaks (a server may cut it).
    pub async fn drain(mut self) {
        while let Ok(Some(_)) = self.resp.chunk().await {}
    }

    /// Reads to the end of the body and returns all of it.
    pub async fn read_to_end(&mut self) -> String {
        while self.read_some().await {}
        String::from_utf8(self.buf.clone()).expect("a UTF-8 body")
    }
}
