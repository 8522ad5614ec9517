//! Turning a `text/event-stream` body into a stream of typed chunks.
//!
//! Comments (`: OPENROUTER PROCESSING`) never become chunks; `data: [DONE]`
//! ends the stream; a chunk with a top-level `error` ends it with
//! [`ClientError::Stream`] (its choices are not passed on, as
//! openai-python does).

use std::collections::VecDeque;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::ClientError;
use crate::chat::ChatChunk;
use crate::completions::TextCompletion;
use crate::sse::{SseEvent, SseParser};
use crate::wire_error::ErrorBody;

/// A stream of typed chunks; an error chunk ends it with
/// [`ClientError::Stream`].
pub type TypedStream<T> = Pin<Box<dyn Stream<Item = Result<T, ClientError>> + Send>>;

/// A stream of chat chunks.
pub type ChunkStream = TypedStream<ChatChunk>;

/// A stream of legacy completion chunks.
pub type CompletionStream = TypedStream<TextCompletion>;

/// A stream chunk that may carry a mid-stream error.
pub trait StreamChunk: DeserializeOwned + Send + 'static {
    /// The chunk's top-level `error`, if any.
    fn stream_error(&self) -> Option<&ErrorBody>;
}

impl StreamChunk for ChatChunk {
    fn stream_error(&self) -> Option<&ErrorBody> {
        self.error.as_deref()
    }
}

impl StreamChunk for TextCompletion {
    fn stream_error(&self) -> Option<&ErrorBody> {
        self.error.as_ref()
    }
}

struct State<B> {
    bytes: B,
    parser: SseParser,
    queue: VecDeque<SseEvent>,
    url: String,
    done: bool,
}

/// The chunks of a streamed response body.
pub(crate) fn typed_stream<T: StreamChunk>(resp: reqwest::Response, url: String) -> TypedStream<T> {
    let state = State {
        bytes: resp.bytes_stream().fuse(),
        parser: SseParser::new(),
        queue: VecDeque::new(),
        url,
        done: false,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if let Some(ev) = st.queue.pop_front() {
                if ev.data.starts_with("[DONE]") {
                    return None;
                }
                let item = match crate::from_json_slice::<T>(ev.data.as_bytes()) {
                    Ok(chunk) => match chunk.stream_error() {
                        Some(err) => {
                            st.done = true;
                            Err(ClientError::Stream(err.clone()))
                        }
                        None => Ok(chunk),
                    },
                    Err(e) => {
                        st.done = true;
                        Err(ClientError::Decode {
                            url: st.url.clone(),
                            message: e.to_string(),
                        })
                    }
                };
                return Some((item, st));
            }
            match st.bytes.next().await {
                Some(Ok(b)) => {
                    if let Err(e) = st.parser.push(&b, &mut st.queue) {
                        st.done = true;
                        let e = ClientError::Decode {
                            url: st.url.clone(),
                            message: e.to_string(),
                        };
                        return Some((Err(e), st));
                    }
                }
                Some(Err(cause)) => {
                    st.done = true;
                    let e = ClientError::Http {
                        url: st.url.clone(),
                        cause,
                    };
                    return Some((Err(e), st));
                }
                None => match st.parser.finish() {
                    Some(ev) => {
                        st.queue.push_back(ev);
                        st.done = false;
                    }
                    None => return None,
                },
            }
        }
    });
    Box::pin(stream)
}
