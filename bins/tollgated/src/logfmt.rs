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

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};

/// The default field formatter, escaped (see the module docs).
#[derive(Debug, Default)]
pub struct Escaped {
    inner: DefaultFields,
}

impl<'writer> FormatFields<'writer> for Escaped {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut plain = String::new();
        self.inner.format_fields(Writer::new(&mut plain), fields)?;
        escape_into(&mut writer, &plain)
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
