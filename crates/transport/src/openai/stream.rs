//! Turns an OpenAI-compatible event-stream body into a [`ChunkStream`].
//!
//! Generic over the byte stream so it is tested without a socket. The
//! stream ends after `[DONE]`, after the first error, or when the body ends;
//! a body that ends before `[DONE]` and before any `finish_reason` yields a
//! last `Err(StreamInterrupted)`, so the gateway can send a mid-stream error
//! chunk and bill what was produced. (A body that ends without `[DONE]` but
//! after every choice finished is taken as complete: some compatible servers
//! omit `[DONE]`.)

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::template::Templates;
use super::translate::{self, StreamEvent, UpstreamError};
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
    /// `reasoning.exclude`: reasoning is removed from every delta.
    pub(crate) exclude_reasoning: bool,
}

struct State {
    body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    /// Chunks of the repeated shape seen so far: the next ones like them
    /// are not parsed in full.
    templates: Templates,
    ctx: StreamContext,
    after_output: bool,
    finish_seen: bool,
    body_ended: bool,
}

impl State {
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
        let secs = self.ctx.idle_timeout.as_secs_f64();
        if self.after_output {
            self.interrupted(format!("no data from upstream for {secs} s"))
        } else {
            self.error(
                ErrorKind::Timeout,
                format!("no data from upstream for {secs} s"),
            )
        }
    }

    fn error_event(&self, error: UpstreamError, raw: String) -> ProviderError {
        let message = error
            .message
            .unwrap_or_else(|| String::from("upstream sent an error event"));
        let kind = match error.status.filter(|s| *s >= 400) {
            Some(status) if !self.after_output => ErrorKind::Status { status },
            _ => ErrorKind::StreamInterrupted {
                after_output: self.after_output,
            },
        };
        self.error(kind, message)
            .with_upstream_code(error.code)
            .with_raw(raw)
    }
}

impl State {
    /// What `event` means: a chunk of a known template, or else
    /// [`translate::stream_event`]'s reading (a chunk of the repeated
    /// shape becoming a template).
    fn event(&mut self, event: &SseEvent) -> StreamEvent {
        let data = event.data.trim();
        if event.event.as_deref() != Some("error")
            && let Some(chunk) = self.templates.apply(data)
        {
            return StreamEvent::Chunk(chunk);
        }
        let parsed = translate::stream_event(event, &self.ctx.name);
        if let StreamEvent::Chunk(chunk) = &parsed {
            self.templates.learn(data, chunk);
        }
        parsed
    }
}

type Step = Option<(
    Result<Box<tollgate_schema::chat::ChatChunk>, ProviderError>,
    Option<State>,
)>;

/// The chunk stream over `body`, an event-stream response body.
pub(crate) fn chunk_stream<S>(body: S, ctx: StreamContext) -> ChunkStream
where
    S: Stream<Item = Result<Bytes, BodyError>> + Send + 'static,
{
    let state = State {
        body: Box::pin(body),
        parser: SseParser::new(),
        pending: VecDeque::new(),
        templates: Templates::default(),
        ctx,
        after_output: false,
        finish_seen: false,
        body_ended: false,
    };
    Box::pin(futures::stream::unfold(Some(state), |state| async move {
        match state {
            Some(state) => next(state).await,
            None => None,
        }
    }))
}

async fn next(mut st: State) -> Step {
    loop {
        if let Some(event) = st.pending.pop_front() {
            match st.event(&event) {
                StreamEvent::Skip => continue,
                // Dropping the state drops the body: nothing more is read.
                StreamEvent::Done => return None,
                StreamEvent::Chunk(mut chunk) => {
                    if st.ctx.exclude_reasoning {
                        translate::strip_chunk_reasoning(&mut chunk);
                    }
                    st.after_output = true;
                    if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
                        st.finish_seen = true;
                    }
                    return Some((Ok(chunk), Some(st)));
                }
                StreamEvent::Error { error, raw } => {
                    return Some((Err(st.error_event(error, raw)), None));
                }
                StreamEvent::Invalid { message, raw } => {
                    return Some((Err(st.interrupted(message).with_raw(raw)), None));
                }
            }
        }
        if st.body_ended {
            if st.finish_seen {
                tracing::debug!(provider = %st.ctx.slug, "stream ended without [DONE] after finish_reason");
                return None;
            }
            let message = if st.after_output {
                "upstream closed the stream before [DONE]"
            } else {
                "upstream closed the stream before sending any chunk"
            };
            return Some((Err(st.interrupted(message)), None));
        }
        match tokio::time::timeout(st.ctx.idle_timeout, st.body.next()).await {
            Err(_elapsed) => return Some((Err(st.silence()), None)),
            Ok(None) => {
                st.body_ended = true;
                if let Some(event) = st.parser.finish() {
                    st.pending.push_back(event);
                }
            }
            Ok(Some(Ok(bytes))) => {
                if let Err(e) = st.parser.push(&bytes, &mut st.pending) {
                    return Some((Err(st.interrupted(e.to_string())), None));
                }
            }
            Ok(Some(Err(BodyError::Timeout))) => return Some((Err(st.silence()), None)),
            Ok(Some(Err(BodyError::Broken(why)))) => {
                let err = st.interrupted(format!("connection to upstream broke: {why}"));
                return Some((Err(err), None));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schema::chat::ChatChunk;

    fn ctx() -> StreamContext {
        StreamContext {
            slug: "alpha".into(),
            name: "Alpha".into(),
            idle_timeout: Duration::from_secs(5),
            byok: false,
            exclude_reasoning: false,
        }
    }

    fn run(parts: Vec<Result<&'static [u8], BodyError>>) -> Vec<Result<ChatChunk, ProviderError>> {
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
            chunk_stream(body, ctx())
                .map(|r| r.map(|c| *c))
                .collect::<Vec<_>>(),
        )
    }

    const C1: &[u8] =
        b"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
    const FIN: &[u8] =
        b"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";

    #[test]
    fn chunks_then_done() {
        let items = run(vec![Ok(C1), Ok(FIN), Ok(b"data: [DONE]\n\n"), Ok(C1)]);
        assert_eq!(items.len(), 2);
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.choices[0].delta.content.as_deref(), Some("Hi"));
        assert_eq!(first.provider.as_deref(), Some("Alpha"));
    }

    #[test]
    fn repeated_chunks_read_from_a_template_are_the_chunks_parsed_alone() {
        const TEXT: &[u8] = b"data: {\"id\":\"x\",\"created\":3,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"x\",\"created\":3,\"choices\":[{\"index\":0,\"delta\":{\"content\":\" t\\u00e9o\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"x\",\"created\":3,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\"3\\\"\"},\"finish_reason\":null}]}\n\n";
        let items = run(vec![Ok(TEXT), Ok(FIN), Ok(b"data: [DONE]\n\n")]);
        let texts: Vec<_> = items
            .iter()
            .map(|item| item.as_ref().unwrap().choices[0].delta.content.clone())
            .collect();
        assert_eq!(
            texts,
            [
                Some("one".to_owned()),
                Some(" téo".to_owned()),
                Some("\"3\"".to_owned()),
                None
            ]
        );
        for item in &items[..3] {
            let chunk = item.as_ref().unwrap();
            assert_eq!((chunk.id.as_str(), chunk.created), ("x", 3));
            assert_eq!(chunk.provider.as_deref(), Some("Alpha"));
            assert_eq!(chunk.choices.len(), 1);
        }
    }

    #[test]
    fn end_without_done_after_content_is_interrupted() {
        let items = run(vec![Ok(C1)]);
        assert_eq!(items.len(), 2);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted { after_output: true }
        );
        assert!(!err.is_retryable());
    }

    #[test]
    fn end_without_any_chunk_is_retryable() {
        let items = run(vec![Ok(b": keep-alive\n\n")]);
        assert_eq!(items.len(), 1);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted {
                after_output: false
            }
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn end_without_done_after_finish_is_complete() {
        let items = run(vec![Ok(C1), Ok(FIN)]);
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[test]
    fn error_event_before_output_keeps_its_status() {
        let items = run(vec![Ok(
            b"data: {\"error\":{\"code\":429,\"message\":\"slow down\"}}\n\n",
        )]);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status { status: 429 });
        assert_eq!(err.message(), "slow down");
        assert!(err.raw().unwrap().contains("slow down"));
    }

    #[test]
    fn error_event_after_output_is_an_interruption() {
        let items = run(vec![
            Ok(C1),
            Ok(b"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"error\":{\"code\":\"server_error\",\"message\":\"Provider disconnected\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n"),
            Ok(C1),
        ]);
        assert_eq!(items.len(), 2);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted { after_output: true }
        );
        assert_eq!(err.message(), "Provider disconnected");
        assert_eq!(err.upstream_code(), Some("server_error"));
    }

    #[test]
    fn broken_body_is_an_interruption() {
        let items = run(vec![Ok(C1), Err(BodyError::Broken("reset".into()))]);
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted { after_output: true }
        );
        assert!(err.message().contains("reset"));
    }

    #[test]
    fn garbage_data_is_an_interruption_with_raw() {
        let items = run(vec![Ok(b"data: ping\n\n")]);
        let err = items[0].as_ref().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::StreamInterrupted {
                after_output: false
            }
        );
        assert_eq!(err.raw(), Some("ping"));
    }

    #[test]
    fn silence_before_output_is_a_timeout() {
        let body = futures::stream::pending::<Result<Bytes, BodyError>>();
        let mut c = ctx();
        c.idle_timeout = Duration::from_millis(20);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let items = rt.block_on(chunk_stream(body, c).collect::<Vec<_>>());
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].as_ref().unwrap_err().kind(), ErrorKind::Timeout);
    }

    #[test]
    fn nothing_is_read_until_polled() {
        let body =
            futures::stream::poll_fn(|_| -> std::task::Poll<Option<Result<Bytes, BodyError>>> {
                panic!("polled")
            });
        let stream = chunk_stream(body, ctx());
        // Building and dropping the stream never polled the body.
        drop(stream);
    }
}
