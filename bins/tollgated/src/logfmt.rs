//! The text log's fields, with control characters escaped.
//!
//! A field recorded with `%` (Display) and an event's message are written
//! as they are by tracing-subscriber's text format, so a request path, a
//! model id or an upstream's message carrying `\n` could forge a log line,
//! and a NUL or an escape sequence would reach the terminal. [`Escaped`]
//! formats fields as the default formatter does and escapes every control
//! character (and the Unicode line separators and bidirectional
//! overrides) in what it wrote: one place for every field of every event
//! and span, whatever a call site forgot. The JSON format needs none of
//! this: its encoder escapes strings.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Writer};

/// The default field formatter, escaped (see the module docs).
///
/// Without colours, the fields that need no escaping (numbers, and
/// strings of printable ASCII with no quote or backslash: ids, routes,
/// model and provider names) are written straight into the line, as
/// the default formatter writes them; any other field is formatted by it
/// into a buffer of its own and escaped from there. Formatting every
/// field through the buffer was about a third of what a request's access
/// line cost (bench/README, sixth round).
#[derive(Debug, Default)]
pub struct Escaped {
    inner: DefaultFields,
}

impl<'writer> FormatFields<'writer> for Escaped {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        if writer.has_ansi_escapes() {
            // Colours: the names are painted; no shortcut.
            return through_default(&self.inner, writer, fields);
        }
        let mut visitor = Direct {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.finish()
    }
}

/// Formats `fields` with the default formatter into a buffer and writes
/// them escaped: every field the slow way.
fn through_default<R: RecordFields>(
    inner: &DefaultFields,
    mut writer: Writer<'_>,
    fields: R,
) -> fmt::Result {
    let mut plain = String::new();
    inner.format_fields(Writer::new(&mut plain), fields)?;
    escape_into(&mut writer, &plain)
}

/// Writes each field as `name=value`, separated by spaces, as
/// [`DefaultVisitor`] does without colours, escaping what it wrote.
struct Direct<'writer> {
    writer: Writer<'writer>,
    is_empty: bool,
    result: fmt::Result,
}

impl Direct<'_> {
    fn pad(&mut self) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    /// A value whose `Debug` needs no escaping: `name=value`.
    fn plain(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .pad()
            .and_then(|()| write!(self.writer, "{}={value:?}", field.name()));
    }

    /// A number or a boolean: its `Debug` needs no escaping, so a named
    /// field is written as it is; the message or a raw identifier goes
    /// through `record`, the default formatter's.
    fn scalar(
        &mut self,
        field: &Field,
        value: &dyn fmt::Debug,
        record: impl FnOnce(&mut DefaultVisitor<'_>),
    ) {
        if named(field) {
            self.plain(field, value);
        } else {
            self.escaped(record);
        }
    }

    /// Any other value, through the default formatter and escaped.
    fn escaped(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut plain = String::new();
        let mut inner = DefaultVisitor::new(Writer::new(&mut plain), true);
        record(&mut inner);
        self.result = inner.finish();
        // A field the default formatter skips (`log.` metadata) writes
        // nothing, and takes no separator.
        if self.result.is_ok() && !plain.is_empty() {
            self.result = self
                .pad()
                .and_then(|()| escape_into(&mut self.writer, &plain));
        }
    }
}

/// Whether `field` is written as `name=` by the default formatter (not
/// the message, not a raw identifier, not log metadata).
fn named(field: &Field) -> bool {
    let name = field.name();
    name != "message" && !name.starts_with("r#") && !name.starts_with("log.")
}

/// Whether `text`'s `Debug` is `"text"`: printable ASCII, no quote or
/// backslash.
fn quotes_as_is(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Direct<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if named(field) && quotes_as_is(value) {
            if self.result.is_ok() {
                // `Debug` of such a string: quoted, as it is.
                self.result = self.pad().and_then(|()| {
                    self.writer.write_str(field.name())?;
                    self.writer.write_str("=\"")?;
                    self.writer.write_str(value)?;
                    self.writer.write_char('"')
                });
            }
        } else {
            self.escaped(|v| v.record_str(field, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.scalar(field, &value, |v| v.record_u64(field, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.scalar(field, &value, |v| v.record_i64(field, value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.scalar(field, &value, |v| v.record_f64(field, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.scalar(field, &value, |v| v.record_bool(field, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.escaped(|v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.escaped(|v| v.record_debug(field, value));
    }
}

impl VisitOutput<fmt::Result> for Direct<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

/// Whether `c` must not reach a log line as it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes `text` with the characters of [`needs_escape`] escaped as Rust
/// escapes them (`\n`, `\0`, `\u{1b}`).
pub fn escape_into(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    if !text.chars().any(needs_escape) {
        return out.write_str(text);
    }
    for c in text.chars() {
        if needs_escape(c) {
            write!(out, "{}", c.escape_default())?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        escape_into(&mut out, text).unwrap();
        out
    }

    #[test]
    fn control_characters_are_escaped() {
        let table = [
            ("plain text, é and 😀", "plain text, é and 😀"),
            ("x\nINFO forged line", "x\\nINFO forged line"),
            ("a\r\nb\tc", "a\\r\\nb\\tc"),
            ("nul\0byte", "nul\\u{0}byte"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("c1\u{85}next", "c1\\u{85}next"),
            ("sep\u{2028}x", "sep\\u{2028}x"),
            ("bidi\u{202e}x", "bidi\\u{202e}x"),
        ];
        for (text, want) in table {
            assert_eq!(escaped(text), want, "{text:?}");
        }
    }

    /// The formatter before the shortcut: every field through the
    /// default formatter, then escaped.
    #[derive(Default)]
    struct Reference {
        inner: DefaultFields,
    }

    impl<'writer> FormatFields<'writer> for Reference {
        fn format_fields<R: RecordFields>(
            &self,
            writer: Writer<'writer>,
            fields: R,
        ) -> fmt::Result {
            through_default(&self.inner, writer, fields)
        }
    }

    /// What `emit` logs through a text layer with `fields` as its field
    /// formatter (no time, no colours).
    fn logged<F>(fields: F, emit: impl Fn()) -> String
    where
        F: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(fields)
            .with_ansi(false)
            .without_time()
            .with_writer(move || Sink(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn fields_are_written_as_the_default_formatter_writes_them() {
        #[derive(Debug)]
        struct Odd {
            #[allow(dead_code)]
            text: &'static str,
        }
        let emit = || {
            // A request's span: fields given at its start, recorded later
            // one by one and together, plain and needing escapes.
            let span = tracing::info_span!(
                "request",
                request_id = "e33f-01",
                method = "POST",
                route = "/api/v1/chat/completions",
                model = tracing::field::Empty,
                provider = tracing::field::Empty,
                key = tracing::field::Empty,
                tokens = tracing::field::Empty,
                cost = tracing::field::Empty,
                r#type = tracing::field::Empty,
            );
            let _in = span.enter();
            span.record("model", "mock/echo");
            span.record("provider", "it's \"quoted\" \\ back");
            span.record("key", "ключ é 😀");
            span.record("tokens", 7_u64);
            span.record(
                "cost",
                tracing::field::display(rust_decimal::Decimal::new(13, 6)),
            );
            span.record("r#type", "raw");
            tracing::info!(
                path = "/api/v1/chat/completions",
                status = 200_u64,
                latency_ms = 7.842_f64,
                tiny = 1e-9_f64,
                delta = -3_i64,
                ok = true,
                duration_ms = None::<f64>,
                "request"
            );
            tracing::warn!(
                error = %"upstream said\nno",
                odd = ?Odd { text: "a\tb" },
                ctl = "bell\u{7}",
                del = "del\u{7f}",
                bidi = "x\u{202e}y",
                empty = "",
                "rejected {}",
                "mock/x\nINFO forged"
            );
            let e = std::io::Error::other("disk\nfull");
            tracing::error!(error = &e as &(dyn std::error::Error + 'static), "failed");
        };
        let want = logged(Reference::default(), emit);
        let got = logged(Escaped::default(), emit);
        assert_eq!(want.lines().count(), 3, "{want}");
        assert_eq!(got, want);
        // The escapes were needed and made.
        assert!(want.contains(r#"error=upstream said\nno"#), "{want}");
        assert!(
            want.contains(r#"provider="it's \"quoted\" \\ back""#),
            "{want}"
        );
    }

    #[test]
    fn events_are_written_on_one_line() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(Escaped::default())
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let model = "mock/x\nINFO forged: admin logged in\0";
            let span =
                tracing::info_span!("request", route = %model, model = tracing::field::Empty);
            let _in = span.enter();
            span.record("model", tracing::field::display(model));
            tracing::info!(error = %model, "rejected {model}");
        });
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\0'), "{text:?}");
        assert_eq!(text.matches("mock/x\\nINFO forged").count(), 4, "{text}");
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
