//! Drives a native dialect's event stream: reads the body, splits it into
//! server-sent events, hands each to the dialect's pure [`Decoder`] and
//! yields the chunks it makes, then at most one error.
//!
//! Generic over the byte stream so it is tested without a socket. The
//! rules match the OpenAI adapter's: silence longer than the idle timeout
//! is a timeout before any chunk and an interruption after; an error event
//! keeps its status only while nothing was yielded (so the gateway can
//! still fail over); a body that ends before the dialect's end marker is an
//! interruption, unless the decoder says the answer was complete.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tollgate_schema::chat::ChatChunk;

use crate::error::{ErrorKind, ProviderError};
use crate::provider::ChunkStream;
use crate::sse::{SseEvent, SseParser};

pub(crate) use crate::http::BodyError;

/// Who is streaming, and how long silence may last.
#[derive(Debug, Clone)]
pub(crate) struct StreamContext {
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) idle_timeout: Duration,
    pub(crate) byok: bool,
}

/// An error the upstream reported inside the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamFailure {
    /// The HTTP status the error stands for, when the dialect names one.
    pub(crate) status: Option<u16>,
    /// The upstream's error type or status name.
    pub(crate) code: Option<String>,
    /// What it said.
    pub(crate) message: String,
    /// The event's data.
    pub(crate) raw: String,
}

/// What one event means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded {
    /// Chunks to pass on (possibly none).
    Chunks(Vec<ChatChunk>),
    /// The dialect's end marker, after these chunks.
    Done(Vec<ChatChunk>),
    /// The upstream reported an error.
    Failure(StreamFailure),
    /// Data that cannot be understood.
    Invalid {
        /// Why.
        message: String,
        /// The event's data.
        raw: String,
    },
}

/// What the end of the body means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ending {
    /// The answer was complete; these chunks close it.
    Complete(Vec<ChatChunk>),
    /// The answer was cut; the message says where.
    Incomplete(String),
}

/// A dialect's pure stream translation.
pub(crate) trait Decoder: Send + 'static {
    /// Interprets one server-sent event.
    fn event(&mut self, event: &SseEvent) -> Decoded;
    /// The body ended without the end marker.
    fn end(&mut self) -> Ending;
}

struct State<D> {
    body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>,
    parser: SseParser,
    events: VecDeque<SseEvent>,
    chunks: VecDeque<ChatChunk>,
    decoder: D,
    ctx: StreamContext,
    after_output: bool,
    body_ended: bool,
    /// No more events are interpreted: the end marker, an error, or the end
    /// of the body was seen.
    finished: bool,
    terminal: Option<ProviderError>,
}

impl<D: Decoder> State<D> {
    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::new(&self.ctx.slug, &self.ctx.name, kind, message).with_byok(self.ctx.byok)
    }

    fn interrupted(&self, message: impl Into<String>) -> ProviderError {
        self.error(
            ErrorKind::StreamInterrupted {
                after_output: self.after_output,
            },
            message,
        )
    }

    fn silence(&self) -> ProviderError {
        let message = format!(
            "no data from upstream for {} s",
            self.ctx.idle_timeout.as_secs_f64()
        );
        if self.after_output {
            self.interrupted(message)
        } else {
            self.error(ErrorKind::Timeout, message)
        }
    }

    fn failure(&self, failure: StreamFailure) -> ProviderError {
        let kind = match failure.status.filter(|s| *s >= 400) {
            Some(status) if !self.after_output => ErrorKind::Status { status },
            _ => ErrorKind::StreamInterrupted {
                after_output: self.after_output,
            },
        };
        self.error(kind, failure.message)
            .with_upstream_code(failure.code)
            .with_raw(failure.raw)
    }

    fn stop(&mut self, err: ProviderError) {
        self.terminal = Some(err);
        self.finished = true;
    }
}

type Step<D> = Option<(Result<Box<ChatChunk>, ProviderError>, Option<State<D>>)>;

/// The chunk stream over `body`, an event-stream response body, translated
/// by `decoder`.
pub(crate) fn chunk_stream<S, D>(body: S, decoder: D, ctx: StreamContext) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, BodyError>> + Send + 'static,
    D: Decoder,
{
    let state = State {
        body: Box::pin(body),
        parser: SseParser::new(),
        events: VecDeque::new(),
        chunks: VecDeque::new(),
        decoder,
        ctx,
        after_output: false,
        body_ended: false,
        finished: false,
        terminal: None,
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        match state {
            Some(state) => next(state).await,
            None => None,
        }
    }))
}

async fn next<D: Decoder>(mut st: State<D>) -> Step<D> {
    loop {
        if let Some(chunk) = st.chunks.pop_front() {
            st.after_output = true;
            return Some((Ok(Box::new(chunk)), Some(st)));
        }
        if let Some(err) = st.terminal.take() {
            return Some((Err(err), None));
        }
        if st.finished {
            // Dropping the state drops the body: nothing more is read.
            return None;
        }
        if let Some(event) = st.events.pop_front() {
            match st.decoder.event(&event) {
                Decoded::Chunks(chunks) => st.chunks.extend(chunks),
                Decoded::Done(chunks) => {
                    st.chunks.extend(chunks);
                    st.finished = true;
                }
                Decoded::Failure(failure) => {
                    let err = st.failure(failure);
                    st.stop(err);
                }
                Decoded::Invalid { message, raw } => {
                    let err = st.interrupted(message).with_raw(raw);
                    st.stop(err);
                }
            }
            continue;
        }
        if st.body_ended {
            match st.decoder.end() {
                Ending::Complete(chunks) => {
                    st.chunks.extend(chunks);
                    st.finished = true;
                }
                Ending::Incomplete(message) => {
                    let err = st.interrupted(message);
                    st.stop(err);
                }
            }
            continue;
        }
        match tokio::time::timeout(st.ctx.idle_timeout, st.body.next()).await {
            Err(_elapsed) => {
                let err = st.silence();
                st.stop(err);
            }
            Ok(None) => {
                st.body_ended = true;
                if let Some(event) = st.parser.finish() {
                    st.events.push_back(event);
                }
            }
            Ok(Some(Ok(bytes))) => {
                if let Err(e) = st.parser.push(&bytes, &mut st.events) {
                    let err = st.interrupted(e.to_string());
                    st.stop(err);
                }
            }
            Ok(Some(Err(BodyError::Timeout))) => {
                let err = st.silence();
                st.stop(err);
            }
            Ok(Some(Err(BodyError::Broken(why)))) => {
                let err = st.interrupted(format!("connection to upstream broke: {why}"));
                st.stop(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each `data` line is a chunk's content; `done` ends; `fail` fails with
    /// 529; `junk` is invalid.
    struct Echo {
        complete_at_end: bool,
    }

    fn chunk(text: &str) -> ChatChunk {
        serde_json::from_value(serde_json::json!({
            "id": "x",
            "choices": [{ "index": 0, "delta": { "content": text } }]
        }))
        .unwrap()
    }

    impl Decoder for Echo {
        fn event(&mut self, event: &SseEvent) -> Decoded {
            match event.data.as_str() {
                "done" => Decoded::Done(vec![]),
                "fail" => Decoded::Failure(StreamFailure {
                    status: Some(529),
                    code: Some("overloaded_error".into()),
                    message: "Overloaded".into(),
                    raw: "fail".into(),
                }),
                "junk" => Decoded::Invalid {
                    message: "bad".into(),
                    raw: "junk".into(),
                },
                "" => Decoded::Chunks(vec![]),
                text => Decoded::Chunks(vec![chunk(text)]),
            }
        }

        fn end(&mut self) -> Ending {
            if self.complete_at_end {
                Ending::Complete(vec![chunk("tail")])
            } else {
                Ending::Incomplete("cut".into())
            }
        }
    }

    fn ctx(idle: Duration) -> StreamContext {
        StreamContext {
            slug: "p".into(),
            name: "P".into(),
            idle_timeout: idle,
            byok: false,
        }
    }

    fn run(
        parts: Vec<Result<&'static [u8], BodyError>>,
        complete_at_end: bool,
    ) -> Vec<Result<ChatChunk, ProviderError>> {
        let body = futures::stream::iter(
            parts
                .into_iter()
                .map(|p| p.map(Bytes::from_static))
                .collect::<Vec<_>>(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(
            chunk_stream(body, Echo { complete_at_end }, ctx(Duration::from_secs(5)))
                .map(|r| r.map(|c| *c))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn chunks_until_done_and_nothing_after() {
        let items = run(vec![Ok(b"data: a\n\ndata: done\n\ndata: b\n\n")], false);
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].as_ref().unwrap().choices[0]
                .delta
                .content
                .as_deref(),
            Some("a")
        );
    }

    #[test]
    fn failure_before_output_keeps_its_status() {
        let items = run(vec![Ok(b"data: \n\ndata: fail\n\n")], false);
        assert_eq!(items.len(), 1);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status { status: 529 });
        assert!(err.is_retryable());
        assert_eq!(err.upstream_code(), Some("overloaded_error"));
    }

    #[test]
    fn failure_after_output_is_an_interruption() {
        let items = run(vec![Ok(b"data: a\n\ndata: fail\n\n")], false);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted { after_output: true }
        );
        assert_eq!(err.message(), "Overloaded");
    }

    #[test]
    fn end_of_body_asks_the_decoder() {
        let items = run(vec![Ok(b"data: a\n\n")], true);
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
        let items = run(vec![Ok(b"data: a\n\n")], false);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(err.message(), "cut");
        assert!(!err.is_retryable());
    }

    #[test]
    fn invalid_data_and_broken_bodies_interrupt() {
        let items = run(vec![Ok(b"data: junk\n\n")], true);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted {
                after_output: false
            }
        );
        assert_eq!(err.raw(), Some("junk"));
        let items = run(
            vec![Ok(b"data: a\n\n"), Err(BodyError::Broken("reset".into()))],
            true,
        );
        assert!(items[1].as_ref().unwrap_err().message().contains("reset"));
    }

    #[test]
    fn silence_before_output_is_a_timeout() {
        let body = futures::stream::pending::<Result<Bytes, BodyError>>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let items = rt.block_on(
            chunk_stream(
                body,
                Echo {
                    complete_at_end: true,
                },
                ctx(Duration::from_millis(20)),
            )
            .collect::<Vec<_>>(),
        );
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap_err().kind(), ErrorKind::Timeout);
    }
}
