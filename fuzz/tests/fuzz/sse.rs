//! `sse_parser`: tollgate-schema's incremental server-sent events parser,
//! on random bytes and on generated streams in every framing.

use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::{self, Event};
use tollgate_fuzz::rand::Rng;
use tollgate_schema::sse::{EventTooLarge, SseEvent, SseParser};

use crate::support::{derive, maybe, pick, text};

fn parse(parts: &[&[u8]], max: usize) -> (Vec<SseEvent>, Result<(), EventTooLarge>) {
    let mut parser = SseParser::with_max_event_bytes(max);
    let mut out = Vec::new();
    for part in parts {
        if let Err(e) = parser.push(part, &mut out) {
            return (out, Err(e));
        }
    }
    out.extend(parser.finish());
    (out, Ok(()))
}

fn target(bytes: &[u8]) {
    let whole = parse(&[bytes], tollgate_schema::sse::DEFAULT_MAX_EVENT_BYTES);
    assert!(whole.1.is_ok(), "no event here is 16 MiB");
    for e in &whole.0 {
        assert!(!e.data.contains('\r'), "a CR ends a line: {e:?}");
        for field in [&e.event, &e.id].into_iter().flatten() {
            assert!(!field.contains(['\r', '\n']), "a field spans lines: {e:?}");
        }
        assert!(
            !e.id.as_ref().is_some_and(|id| id.contains('\0')),
            "id with NUL: {e:?}"
        );
    }
    let key = tollgate_fuzz::fnv1a(bytes);
    for k in 0..4 {
        let cuts = tollgate_fuzz::splits(key.wrapping_add(k), bytes.len(), 16);
        let parts = tollgate_fuzz::cut(bytes, &cuts);
        assert_eq!(parse(&parts, usize::MAX), whole, "split at {cuts:?}");
    }
    if bytes.len() <= 1024 {
        let parts: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse(&parts, usize::MAX), whole, "byte by byte");
    }
    // A small bound: refusing is fine, and the same however split.
    let max = (derive(bytes, 7) % 64) as usize;
    let bounded = parse(&[bytes], max);
    let cuts = tollgate_fuzz::splits(key, bytes.len(), 8);
    let parts = tollgate_fuzz::cut(bytes, &cuts);
    assert_eq!(
        parse(&parts, max).1,
        bounded.1,
        "a bound of {max} bytes, split at {cuts:?}"
    );
}

fn stream(rng: &mut Rand) -> Vec<u8> {
    let n = rng.random_range(0..10);
    let events: Vec<Event> = (0..n)
        .map(|_| Event {
            event: maybe(rng, 0.3)
                .then(|| pick(rng, &["message", "error", "ping", "", "x y"]).to_owned()),
            data: match rng.random_range(0..4) {
                0 => "[DONE]".to_owned(),
                1 => generate::json(rng, 3, &[]).to_string(),
                2 => text(rng),
                _ => generate::unicode(rng, 30),
            },
        })
        .collect();
    generate::sse(rng, &events)
}

#[test]
fn sse_parser() {
    tollgate_fuzz::Fuzzer::new("sse_parser")
        .generator(stream)
        .dictionary(&["data", "event", "id", "retry", "\u{feff}data: x\r\n\r\n"])
        .run(target);
}
