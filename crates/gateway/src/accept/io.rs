//! A client connection's socket as hyper sees it: [`Watched`] notes what
//! arrives for the connection's deadlines and gives hyper's own error
//! answers the gateway's JSON body.
//!
//! **Reads.** The first byte read marks the connection as having spoken
//! (the first-byte deadline). The opening bytes are matched against the
//! HTTP/2 connection preface: HTTP/1 shows itself at the first byte that
//! differs, while HTTP/2 is open only once the preface and the client's
//! first frame, which must be SETTINGS, have arrived whole; until then the
//! handshake deadline runs. hyper has no timer on either.
//!
//! **Writes.** hyper answers a request it cannot parse itself, before any
//! service is called: 400 (a malformed request line or header, such as
//! `Content-Length: -1`), 414 (a request target over 65,534 bytes, a
//! constant in hyper) or 431 (more than 100 headers, or a head larger than
//! its read buffer), each with an empty body and the connection closed
//! after. No hook of hyper changes that answer, so it is recognised as it
//! is written: a whole HTTP/1 response head with one of those statuses,
//! `content-length: 0` and no `x-request-id` (which every answer of the
//! router carries, see `crate::observe`) is replaced by the same head with
//! a JSON error body in the gateway's shape. Anything else is written as
//! is.
//!
//! **Closing.** When hyper closes the connection, the write side is shut
//! (the client reads the answer to its end) and what the client still
//! sends is read and dropped until it closes too, for [`LINGER`] at most:
//! a lingering close, as nginx does. A client refused before its body was
//! read (a 413 for a body announced too large) is often still sending it;
//! closing a socket with unread data sends a reset, and the client would
//! see a broken pipe instead of the answer.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tollgate_schema::Extra;
use tollgate_schema::wire_error::{ErrorBody, ErrorResponse};

use super::conns::Conn;

/// The HTTP/2 connection preface (RFC 9113, section 3.4).
pub(super) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The type of a SETTINGS frame.
const SETTINGS: u8 = 0x4;

/// A socket watched for its connection's deadlines, with hyper's empty
/// error answers rewritten.
#[derive(Debug)]
pub(super) struct Watched<S> {
    inner: S,
    conn: Arc<Conn>,
    opening: Opening,
    /// A rewritten answer not written whole yet, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
    /// Closing: the write side is shut, and the client's last bytes are
    /// read and dropped until this deadline.
    lingering: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The longest a closed connection reads what its client still sends.
pub(super) const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// How far the connection's opening bytes have come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// This many bytes of the HTTP/2 preface matched so far.
    Preface(usize),
    /// The preface is whole; this many bytes of the first frame's 9-byte
    /// header are in, and its payload length so far.
    FrameHeader { read: usize, length: usize },
    /// The first frame is a SETTINGS; this many bytes of its payload are
    /// still to come.
    Settings(usize),
    /// HTTP/1, or HTTP/2 past its SETTINGS (or a first frame that is not
    /// SETTINGS, which hyper refuses itself).
    Done,
}

impl Opening {
    /// Advances over `bytes`, the next bytes read.
    fn feed(mut self, bytes: &[u8]) -> Opening {
        for &b in bytes {
            self = match self {
                Opening::Preface(n) if PREFACE.get(n) == Some(&b) => {
                    if n + 1 == PREFACE.len() {
                        Opening::FrameHeader { read: 0, length: 0 }
                    } else {
                        Opening::Preface(n + 1)
                    }
                }
                // Not HTTP/2: HTTP/1 is open from its first byte.
                Opening::Preface(_) => Opening::Done,
                // 24-bit length, type, flags, 31-bit stream id.
                Opening::FrameHeader { read, length } => match read {
                    0..=2 => Opening::FrameHeader {
                        read: read + 1,
                        length: length << 8 | usize::from(b),
                    },
                    3 if b != SETTINGS => Opening::Done,
                    3..=7 => Opening::FrameHeader {
                        read: read + 1,
                        length,
                    },
                    _ if length == 0 => Opening::Done,
                    _ => Opening::Settings(length),
                },
                Opening::Settings(1) => Opening::Done,
                Opening::Settings(left) => Opening::Settings(left - 1),
                Opening::Done => return Opening::Done,
            };
            if self == Opening::Done {
                break;
            }
        }
        self
    }
}

impl<S> Watched<S> {
    pub(super) fn new(inner: S, conn: Arc<Conn>) -> Watched<S> {
        Watched {
            inner,
            conn,
            opening: Opening::Preface(0),
            pending: None,
            lingering: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    /// Writes what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` as written when it is one of hyper's own error answers,
    /// queueing the rewritten answer instead.
    fn rewrite(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let answer = rewritten(buf)?;
        self.pending = Some((answer, 0));
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The rest goes out on the next write or flush.
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            self.conn.got_byte();
            if self.opening != Opening::Done {
                let opening = self.opening.feed(new);
                self.opening = opening;
                if opening == Opening::Done {
                    self.conn.opened();
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(done) = self.rewrite(cx, buf) {
            return done;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(done) = self.rewrite(cx, first)
        {
            return done;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.lingering.is_none() {
            ready!(this.poll_pending(cx))?;
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            this.lingering = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        // Read and drop until the client closes, fails, or the deadline;
        // 512 KB a turn, so a client sending without end does not keep
        // the thread.
        let mut scratch = [0u8; 8192];
        let mut more = false;
        for _ in 0..64 {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => more = true,
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    more = false;
                    break;
                }
            }
        }
        match this.lingering.as_mut().map(|l| l.as_mut().poll(cx)) {
            Some(Poll::Pending) => {
                if more {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// hyper's empty answer to a request it could not parse, given the JSON
/// body it lacks; `None` for anything else.
fn rewritten(buf: &[u8]) -> Option<Vec<u8>> {
    if !(buf.starts_with(b"HTTP/1.1 ") || buf.starts_with(b"HTTP/1.0 ")) {
        return None;
    }
    // Cheap first: the status, then that the whole buffer is one head with
    // nothing after it.
    let (code, message) = match buf.get(9..12)? {
        b"400" => (
            400,
            "the request is not valid HTTP: a malformed request line or header (such as a Content-Length that is not a number)",
        ),
        b"414" => (414, "the request target is longer than 65534 bytes"),
        b"431" => (
            431,
            "the request's header fields are too large: at most 100 headers, within 400 KB",
        ),
        _ => return None,
    };
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    if head.windows(4).any(|w| w == b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut headers = Vec::new();
    let mut empty = false;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower == "content-length: 0" {
            empty = true;
        } else if lower.starts_with("x-request-id:") || lower.starts_with("content-type:") {
            // An answer of the router, not hyper's.
            return None;
        } else {
            headers.push(line);
        }
    }
    if !empty {
        return None;
    }
    let mut metadata = Extra::new();
    metadata.insert("error_type".into(), "invalid_request".into());
    let body = ErrorResponse {
        error: ErrorBody {
            metadata: Some(metadata),
            ..ErrorBody::new(code, message)
        },
        user_id: None,
    };
    let json = serde_json::to_vec(&body).ok()?;
    let mut out = Vec::with_capacity(head.len() + json.len() + 96);
    out.extend_from_slice(status_line.as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", json.len()).as_bytes());
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&json);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(answer: &[u8]) -> (String, serde_json::Value) {
        let text = String::from_utf8(answer.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len(), "{text}");
        (head.to_string(), serde_json::from_str(body).unwrap())
    }

    #[test]
    fn hypers_empty_error_answers_get_a_json_body() {
        for (status, code) in [
            ("400 Bad Request", 400),
            ("414 URI Too Long", 414),
            ("431 Request Header Fields Too Large", 431),
        ] {
            let hyper = format!(
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 02:00:00 GMT\r\n\r\n"
            );
            let answer = rewritten(hyper.as_bytes()).unwrap();
            let (head, body) = json_of(&answer);
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}\r\n")),
                "{head}"
            );
            assert!(
                head.contains("\r\ncontent-type: application/json"),
                "{head}"
            );
            assert!(head.contains("\r\ndate: Mon, 07 Dec 2026"), "{head}");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(body["error"]["message"].as_str().unwrap().len() > 10);
            assert_eq!(body["error"]["metadata"]["error_type"], "invalid_request");
        }
    }

    #[test]
    fn other_writes_pass_as_they_are() {
        for write in [
            // The router's own answers carry a body, a type and an id.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-request-id: a\r\ncontent-length: 2\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\nx-request-id: a\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            // A head followed by a body in the same write.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"data: HTTP/1.1 400\r\n\r\n",
            b"",
        ] {
            assert!(rewritten(write).is_none(), "{}", String::from_utf8_lossy(write));
        }
    }

    #[test]
    fn the_opening_tells_http1_at_once_and_http2_after_its_settings() {
        for request in [&b"GET / HTTP/1.1\r\n"[..], b"P", b"POST", b"PRI * HTTP/1.1"] {
            let done = Opening::Preface(0).feed(request);
            let expect_done = request != b"P";
            assert_eq!(done == Opening::Done, expect_done, "{request:?}");
        }
        let mut h2 = PREFACE.to_vec();
        // SETTINGS, 12 bytes of payload (two settings), flags 0, stream 0.
        h2.extend_from_slice(&[0, 0, 12, SETTINGS, 0, 0, 0, 0, 0]);
        h2.extend_from_slice(&[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0]);
        // The preface alone, and every cut short of the last byte, is not
        // open; byte by byte or at once, the whole is.
        for cut in 0..h2.len() {
            let opening = Opening::Preface(0).feed(&h2[..cut]);
            assert_ne!(opening, Opening::Done, "open after {cut} bytes");
        }
        assert_eq!(Opening::Preface(0).feed(&h2), Opening::Done);
        let mut opening = Opening::Preface(0);
        for b in &h2 {
            opening = opening.feed(std::slice::from_ref(b));
        }
        assert_eq!(opening, Opening::Done);
        // An empty SETTINGS opens it too.
        let mut empty = PREFACE.to_vec();
        empty.extend_from_slice(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);
        assert_eq!(Opening::Preface(0).feed(&empty), Opening::Done);
    }
}
