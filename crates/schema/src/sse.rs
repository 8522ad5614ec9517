//! An incremental server-sent events parser (the WHATWG `text/event-stream`
//! rules), fed with whatever byte slices the network delivers.
//!
//! It handles `LF`, `CR` and `CRLF` line ends (also a `CRLF` split across two
//! reads), comments (`:` lines, e.g. `: OPENROUTER PROCESSING`), several
//! `data:` lines joined with `\n`, one optional space after the colon,
//! `event:` and `id:` fields, a leading byte-order mark, and UTF-8 sequences
//! split across reads (lines are decoded only once complete).
//!
//! One deliberate leniency: at end of input, [`SseParser::finish`] dispatches
//! an event whose blank line never came (the spec drops it), so an upstream
//! that omits the final `\n\n` after `data: [DONE]` is still understood.
//!
//! The parser knows nothing of JSON or `[DONE]`: dialects interpret events.

/// The default bound on one event's size (16 MiB).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when one was sent (absent means `message`).
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last `id:` seen, if any.
    pub id: Option<String>,
}

/// The event would exceed the parser's size bound: the upstream is sending
/// garbage (or a line without end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event larger than {limit} bytes")]
pub struct EventTooLarge {
    /// The bound that was exceeded.
    pub limit: usize,
}

/// Incremental SSE parser. Feed it with [`push`](Self::push), then call
/// [`finish`](Self::finish) at end of input.
#[derive(Debug, Clone)]
pub struct SseParser {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// The previous read ended with `CR`: a leading `LF` belongs to it.
    skip_lf: bool,
    /// Whether the first line (BOM check) has been seen.
    started: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    /// A parser bounding events at [`DEFAULT_MAX_EVENT_BYTES`].
    pub fn new() -> Self {
        SseParser::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A parser bounding one event (its data plus the line being read) at
    /// `max` bytes.
    pub fn with_max_event_bytes(max: usize) -> Self {
        SseParser {
            line: Vec::new(),
            skip_lf: false,
            started: false,
            data: String::new(),
            has_data: false,
            event: None,
            id: None,
            max_event_bytes: max,
        }
    }

    /// Feeds the next bytes; every event they complete is appended to `out`.
    ///
    /// A line that arrives whole within `bytes` is handled where it lies;
    /// only a line split across reads is copied into the parser's buffer.
    pub fn push(
        &mut self,
        bytes: &[u8],
        out: &mut impl Extend<SseEvent>,
    ) -> Result<(), EventTooLarge> {
        let mut rest = bytes;
        if self.skip_lf && !rest.is_empty() {
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
            self.skip_lf = false;
        }
        while !rest.is_empty() {
            let Some(i) = memchr::memchr2(b'\n', b'\r', rest) else {
                self.line.extend_from_slice(rest);
                self.check_size()?;
                break;
            };
            let (head, tail) = (&rest[..i], &rest[i + 1..]);
            let was_cr = rest[i] == b'\r';
            rest = tail;
            if was_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let event = if self.line.is_empty() {
                if head.len() + self.data.len() > self.max_event_bytes {
                    return Err(EventTooLarge {
                        limit: self.max_event_bytes,
                    });
                }
                self.line_done(head)
            } else {
                self.line.extend_from_slice(head);
                self.check_size()?;
                let line = std::mem::take(&mut self.line);
                let event = self.line_done(&line);
                // Reuse the allocation for the next split line.
                self.line = line;
                self.line.clear();
                event
            };
            if let Some(event) = event {
                out.extend(Some(event));
            }
        }
        Ok(())
    }

    /// Ends the input: a last line without its end, and an event without
    /// its blank line, are still taken (see the module docs).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            // Cannot dispatch: only a blank line does that.
            let _ = self.line_done(&line);
        }
        self.skip_lf = false;
        self.dispatch()
    }

    fn check_size(&self) -> Result<(), EventTooLarge> {
        if self.line.len() + self.data.len() > self.max_event_bytes {
            return Err(EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }

    /// Handles one complete line; returns an event when it was blank.
    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        let mut line = line;
        if !self.started {
            self.started = true;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                match std::str::from_utf8(value) {
                    Ok(text) => self.data.push_str(text),
                    Err(_) => self.data.push_str(&String::from_utf8_lossy(value)),
                }
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => {
                self.id = Some(String::from_utf8_lossy(value).into_owned());
            }
            // `retry` and unknown fields are ignored.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        out.extend(p.finish());
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    const RECORDED: &[u8] = b": OPENROUTER PROCESSING\n\n\
data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"H\xC3\xA9llo \xF0\x9F\x91\x8B\"}}]}\r\n\r\n\
: keep-alive\r\n\
data: {\"id\":\"c1\",\r\ndata: \"choices\":[]}\r\r\
event: message\nid: 7\ndata:no-space\n\n\
data: [DONE]\n\n";

    fn expected_recorded() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: None,
                data: r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#
                    .into(),
                id: None,
            },
            SseEvent {
                event: None,
                data: "{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Héllo 👋\"}}]}"
                    .into(),
                id: None,
            },
            SseEvent {
                event: None,
                data: "{\"id\":\"c1\",\n\"choices\":[]}".into(),
                id: None,
            },
            SseEvent {
                event: Some("message".into()),
                data: "no-space".into(),
                id: Some("7".into()),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
                id: Some("7".into()),
            },
        ]
    }

    #[test]
    fn parses_a_recorded_stream_in_one_read() {
        assert_eq!(parse_chunks(&[RECORDED]), expected_recorded());
    }

    #[test]
    fn same_events_when_split_at_every_byte_boundary() {
        let expected = expected_recorded();
        for i in 0..=RECORDED.len() {
            let (a, b) = RECORDED.split_at(i);
            assert_eq!(parse_chunks(&[a, b]), expected, "split at {i}");
        }
    }

    #[test]
    fn same_events_when_split_at_every_pair_of_boundaries() {
        let expected = expected_recorded();
        for i in 0..=RECORDED.len() {
            for j in i..=RECORDED.len() {
                let parts = [&RECORDED[..i], &RECORDED[i..j], &RECORDED[j..]];
                assert_eq!(parse_chunks(&parts), expected, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn same_events_one_byte_at_a_time() {
        let parts: Vec<&[u8]> = RECORDED.chunks(1).collect();
        assert_eq!(parse_chunks(&parts), expected_recorded());
    }

    #[test]
    fn crlf_cr_and_lf_line_ends() {
        let lf = parse_chunks(&[b"data: a\n\ndata: b\n\n"]);
        let crlf = parse_chunks(&[b"data: a\r\n\r\ndata: b\r\n\r\n"]);
        let cr = parse_chunks(&[b"data: a\r\rdata: b\r\r"]);
        assert_eq!(data(&lf), ["a", "b"]);
        assert_eq!(lf, crlf);
        assert_eq!(lf, cr);
    }

    #[test]
    fn crlf_split_between_reads_is_one_line_end() {
        // A CR at the end of one read and the LF at the start of the next
        // must not count as two line ends (which would dispatch early).
        let events = parse_chunks(&[b"data: a\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(data(&events), ["a\nb"]);
    }

    #[test]
    fn comments_alone_dispatch_nothing() {
        let events = parse_chunks(&[b": OPENROUTER PROCESSING\n\n: again\n\n"]);
        assert!(events.is_empty());
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let events = parse_chunks(&[b"data: one\ndata:two\ndata:  three\n\n"]);
        assert_eq!(data(&events), ["one\ntwo\n three"]);
    }

    #[test]
    fn empty_data_field_is_an_event_with_empty_data() {
        let events = parse_chunks(&[b"data\n\ndata:\n\n"]);
        assert_eq!(data(&events), ["", ""]);
    }

    #[test]
    fn event_type_resets_after_dispatch() {
        let events = parse_chunks(&[b"event: error\ndata: x\n\ndata: y\n\n"]);
        assert_eq!(events[0].event.as_deref(), Some("error"));
        assert_eq!(events[1].event, None);
    }

    #[test]
    fn unknown_fields_and_retry_are_ignored() {
        let events = parse_chunks(&[b"retry: 10\nfoo: bar\ndata: x\n\n"]);
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn leading_bom_is_stripped() {
        let events = parse_chunks(&[b"\xEF\xBB\xBFdata: x\n\n"]);
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn finish_takes_an_event_without_its_blank_line() {
        assert_eq!(data(&parse_chunks(&[b"data: [DONE]"])), ["[DONE]"]);
        assert_eq!(data(&parse_chunks(&[b"data: [DONE]\n"])), ["[DONE]"]);
        assert!(parse_chunks(&[b": only a comment"]).is_empty());
    }

    #[test]
    fn oversize_events_are_refused() {
        let mut p = SseParser::with_max_event_bytes(16);
        let mut out = Vec::new();
        assert!(p.push(b"data: 0123456789", &mut out).is_ok());
        assert_eq!(
            p.push(b"abcdef", &mut out),
            Err(EventTooLarge { limit: 16 })
        );
    }
}
