//! Sends pre-rendered stream frames with pacing, scripted drops and
//! cancellation accounting; shared by every dialect.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;

use super::MockState;
use super::behaviour::Pacing;

/// What part of a stream a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// Before the content (role chunk, message start): sent at once.
    Lead,
    /// A content chunk: paced, counted for drops.
    Content,
    /// Structure around the content (Anthropic `content_block_start` /
    /// `content_block_stop`, `signature_delta`): sent at once and not
    /// counted, but cut like content once a drop is due.
    Marker,
    /// After the content (finish, usage, end marker): sent at once.
    Tail,
    /// The last content chunk that also ends the stream (Gemini's final
    /// chunk carries the last text with the finish reason): paced and
    /// counted like content, but, like a tail frame, never sent when a drop
    /// or an in-stream error is scripted.
    Last,
}

impl FrameKind {
    fn is_content(self) -> bool {
        matches!(self, Self::Content | Self::Last)
    }

    fn ends_stream(self) -> bool {
        matches!(self, Self::Tail | Self::Last)
    }
}

/// How many times a frame is sent in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Times {
    /// This many times (0: not at all).
    Exactly(u64),
    /// Until the client goes away (an endless stream).
    Forever,
}

/// One frame of a stream, already in wire form, sent [`Times`] in a row
/// (each time counts as one frame of its kind), so a long or endless
/// stream of filler is one frame and not millions.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) kind: FrameKind,
    pub(crate) bytes: Bytes,
    pub(crate) times: Times,
}

impl Frame {
    pub(crate) fn new(kind: FrameKind, bytes: impl Into<Bytes>) -> Self {
        Self {
            kind,
            bytes: bytes.into(),
            times: Times::Exactly(1),
        }
    }

    /// The frame `n` times (`None`: forever).
    pub(crate) fn repeat(self, n: Option<u64>) -> Self {
        Self {
            times: n.map_or(Times::Forever, Times::Exactly),
            ..self
        }
    }

    /// Takes one sending of the frame; returns it and what is left to send
    /// after it, if anything.
    fn take_one(self) -> (Bytes, Option<Frame>) {
        let rest = match self.times {
            Times::Forever => Some(self.clone()),
            Times::Exactly(n) if n > 1 => Some(Frame {
                times: Times::Exactly(n - 1),
                ..self.clone()
            }),
            Times::Exactly(_) => None,
        };
        (self.bytes, rest)
    }
}

/// How many [`FrameKind::Content`] frames `frames` send (`u64::MAX` when
/// endless), not counting a [`FrameKind::Last`] one: the content an
/// in-stream error can come after.
pub(crate) fn content_count(frames: &[Frame]) -> u64 {
    frames
        .iter()
        .filter(|f| f.kind == FrameKind::Content)
        .map(|f| match f.times {
            Times::Exactly(n) => n,
            Times::Forever => u64::MAX,
        })
        .fold(0, u64::saturating_add)
}

/// Replaces the stream from the first frame after `after` content frames
/// that is not a lead frame (or from the first tail frame, when there are
/// fewer content frames) by `error`: the dialect's in-stream error event,
/// after which the stream ends without its end marker.
pub(crate) fn fail_after(frames: Vec<Frame>, after: usize, error: Vec<Frame>) -> Vec<Frame> {
    let after = after as u64;
    let mut out = Vec::with_capacity(frames.len());
    let mut content = 0u64;
    for frame in frames {
        if frame.times == Times::Exactly(0) {
            continue;
        }
        let due = frame.kind.ends_stream() || (frame.kind != FrameKind::Lead && content >= after);
        if due {
            break;
        }
        if frame.kind == FrameKind::Content {
            // a repeated content frame is cut to the content still allowed
            let left = after - content;
            let sent = match frame.times {
                Times::Exactly(n) => n.min(left),
                Times::Forever => left,
            };
            content += sent;
            out.push(frame.repeat(Some(sent)));
            continue;
        }
        out.push(frame);
    }
    out.extend(
        error
            .into_iter()
            .map(|frame| Frame::new(FrameKind::Tail, frame.bytes)),
    );
    out
}

/// Time given to hyper to flush what was sent before a stream is cut, so
/// the client sees the content chunks that came before the drop.
const FLUSH_BEFORE_DROP: Duration = Duration::from_millis(20);

/// Counts the stream as cancelled if it is dropped before its end.
struct Guard {
    state: MockState,
    outcome: Option<Outcome>,
}

enum Outcome {
    Completed,
    Dropped,
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self.outcome {
            Some(Outcome::Completed) => self.state.stream_completed(),
            Some(Outcome::Dropped) => self.state.stream_dropped(),
            None => {
                tracing::debug!("mock: client went away mid-stream, generation stopped");
                self.state.stream_cancelled();
            }
        }
    }
}

struct Driver {
    frames: VecDeque<Frame>,
    emitted: usize,
    pacing: Pacing,
    drop_after: Option<usize>,
    guard: Guard,
}

/// Streams `frames`: waits `pacing.ttft` before the first content frame and
/// `pacing.per_token` between content frames. With `drop_after = Some(n)`
/// the stream fails (the connection is cut) at the first non-lead frame
/// once `n` content frames are out, or before the first tail frame when
/// there are fewer. Frames are produced
/// only when polled, so a client that goes away stops the generation; that
/// is counted in [`MockState::cancelled_streams`].
pub(crate) fn drive(
    frames: Vec<Frame>,
    pacing: Pacing,
    drop_after: Option<usize>,
    state: MockState,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let driver = Driver {
        // frames sent no time at all are no frames
        frames: frames
            .into_iter()
            .filter(|f| f.times != Times::Exactly(0))
            .collect(),
        emitted: 0,
        pacing,
        drop_after,
        guard: Guard {
            state,
            outcome: None,
        },
    };
    futures::stream::unfold(Some(driver), |driver| async move {
        let mut driver = driver?;
        let Some(frame) = driver.frames.pop_front() else {
            driver.guard.outcome = Some(Outcome::Completed);
            return None;
        };
        if frame.kind != FrameKind::Lead
            && let Some(n) = driver.drop_after
            && (driver.emitted >= n || frame.kind.ends_stream())
        {
            tokio::time::sleep(FLUSH_BEFORE_DROP).await;
            driver.guard.outcome = Some(Outcome::Dropped);
            let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "mock: stream dropped");
            return Some((Err(cut), None));
        }
        if frame.kind.is_content() {
            let wait = if driver.emitted == 0 {
                driver.pacing.ttft
            } else {
                driver.pacing.per_token.unwrap_or_default()
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            driver.emitted += 1;
        }
        let (bytes, rest) = frame.take_one();
        if let Some(rest) = rest {
            driver.frames.push_front(rest);
        }
        if driver.frames.is_empty() {
            driver.guard.outcome = Some(Outcome::Completed);
        }
        Some((Ok(bytes), Some(driver)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(frames: &[Frame]) -> Vec<(FrameKind, String)> {
        frames
            .iter()
            .map(|f| (f.kind, String::from_utf8_lossy(&f.bytes).into_owned()))
            .collect()
    }

    #[test]
    fn repeated_frames_are_cut_and_counted() {
        use FrameKind::*;
        let frames = || {
            vec![
                Frame::new(Lead, "start"),
                Frame::new(Content, "x").repeat(Some(5)),
                Frame::new(Content, "y").repeat(None),
                Frame::new(Tail, "end"),
            ]
        };
        assert_eq!(content_count(&frames()), u64::MAX);
        assert_eq!(content_count(&frames()[..2]), 5);
        let cut = fail_after(frames(), 7, vec![Frame::new(Lead, "error")]);
        let times: Vec<(String, Times)> = cut
            .iter()
            .map(|f| (String::from_utf8_lossy(&f.bytes).into_owned(), f.times))
            .collect();
        assert_eq!(
            times,
            [
                ("start".to_owned(), Times::Exactly(1)),
                ("x".to_owned(), Times::Exactly(5)),
                ("y".to_owned(), Times::Exactly(2)),
                ("error".to_owned(), Times::Exactly(1)),
            ]
        );
    }

    #[tokio::test]
    async fn a_repeated_frame_is_sent_that_many_times() {
        use FrameKind::*;
        use futures::StreamExt as _;
        let frames = vec![
            Frame::new(Lead, "<"),
            Frame::new(Content, "x").repeat(Some(3)),
            Frame::new(Content, "-").repeat(Some(0)),
            Frame::new(Tail, ">"),
        ];
        let state = MockState::new(crate::MockConfig::default());
        let sent: Vec<Bytes> = drive(frames, Pacing::default(), None, state.clone())
            .map(|b| b.unwrap())
            .collect()
            .await;
        assert_eq!(sent.concat(), b"<xxx>");
        assert_eq!(state.completed_streams(), 1);
        // an endless frame goes on; dropping the stream counts a cancel
        let endless = vec![Frame::new(Content, "x").repeat(None)];
        let sent: Vec<Bytes> = drive(endless, Pacing::default(), None, state.clone())
            .take(1000)
            .map(|b| b.unwrap())
            .collect()
            .await;
        assert_eq!(sent.len(), 1000);
        assert_eq!(state.cancelled_streams(), 1);
    }

    #[test]
    fn fail_after_cuts_at_the_next_non_lead_frame() {
        use FrameKind::*;
        let frames = vec![
            Frame::new(Lead, "start"),
            Frame::new(Marker, "open"),
            Frame::new(Content, "a"),
            Frame::new(Content, "b"),
            Frame::new(Marker, "close"),
            Frame::new(Tail, "end"),
        ];
        let error = || vec![Frame::new(Lead, "error")];
        let cut = fail_after(frames.clone(), 1, error());
        assert_eq!(
            kinds(&cut),
            [
                (Lead, "start".to_owned()),
                (Marker, "open".to_owned()),
                (Content, "a".to_owned()),
                (Tail, "error".to_owned()),
            ]
        );
        let cut = fail_after(frames.clone(), 0, error());
        assert_eq!(cut.len(), 2);
        let cut = fail_after(frames, 9, error());
        assert_eq!(kinds(&cut)[4], (Marker, "close".to_owned()));
        assert_eq!(kinds(&cut)[5], (Tail, "error".to_owned()));
        // a last content frame is replaced like a tail
        let frames = vec![Frame::new(Content, "a"), Frame::new(Last, "b")];
        let cut = fail_after(frames, 5, error());
        assert_eq!(
            kinds(&cut),
            [(Content, "a".to_owned()), (Tail, "error".to_owned())]
        );
    }
}
