//! What several targets share: checks of translated output, the stream
//! driver's runtime, byte splits.

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tollgate_schema::chat::ChatChunk;
use tollgate_transport::ProviderError;
use tollgate_transport::provider::ChunkStream;

/// Fails when a `usage` object anywhere in `v` has `cost: null`: clients
/// validate it as a number, so it is omitted rather than written as null.
pub fn assert_no_null_cost(v: &Value) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                assert!(
                    !(k == "usage" && item.get("cost").is_some_and(Value::is_null)),
                    "a translator wrote `usage.cost: null`: {v}"
                );
                assert_no_null_cost(item);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_no_null_cost),
        _ => {}
    }
}

/// Checks what the gateway will write of a chunk: one non-empty line of
/// JSON (an empty or multi-line `data:` breaks SSE clients), with no
/// `cost: null`, stamped with the provider's name.
pub fn check_chunk(chunk: &ChatChunk) {
    let text = serde_json::to_string(chunk).expect("a chunk serialises");
    assert!(!text.is_empty() && text != "{}", "empty chunk: {text}");
    assert!(
        !text.contains('\n') && !text.contains('\r'),
        "a chunk with a line break would end its SSE event: {text}"
    );
    assert_no_null_cost(&serde_json::from_str(&text).expect("a chunk re-parses"));
    assert_eq!(chunk.provider.as_deref(), Some("Fuzz"), "{text}");
}

/// Checks a provider error's outward face: its message and status render.
pub fn check_error(e: &ProviderError) {
    let _ = e.to_string();
    let _ = e.kind();
    let _ = e.is_retryable();
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

/// Collects a chunk stream (bodies are in memory: nothing waits).
pub fn collect(stream: ChunkStream) -> Vec<Result<ChatChunk, ProviderError>> {
    RUNTIME.with(|rt| rt.block_on(stream.map(|r| r.map(|c| *c)).collect::<Vec<_>>()))
}

/// `bytes` as a body read in pieces cut at `cuts`.
pub fn body(bytes: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    tollgate_fuzz::cut(bytes, cuts)
        .into_iter()
        .map(Bytes::copy_from_slice)
        .collect()
}

/// Runs a stream decoder over `bytes` whole, in random pieces (three
/// ways, derived from the bytes) and, for short inputs, byte by byte:
/// the chunks and the final error must be the same every time. Checks
/// every chunk; returns the whole-body result.
pub fn same_however_split(
    bytes: &[u8],
    decode: impl Fn(Vec<Bytes>) -> ChunkStream,
) -> Vec<Result<ChatChunk, ProviderError>> {
    let whole = collect(decode(vec![Bytes::copy_from_slice(bytes)]));
    let key = tollgate_fuzz::fnv1a(bytes);
    for k in 0..3 {
        let cuts = tollgate_fuzz::splits(key.wrapping_add(k), bytes.len(), 12);
        let split = collect(decode(body(bytes, &cuts)));
        assert_eq!(split, whole, "split at {cuts:?} differs from one read");
    }
    if bytes.len() <= 300 {
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        let split = collect(decode(body(bytes, &cuts)));
        assert_eq!(split, whole, "byte-by-byte reading differs from one read");
    }
    // The gateway folds the chunks into the generation's record.
    let mut folded = tollgate_transport::StreamAccumulator::new();
    for item in &whole {
        match item {
            Ok(chunk) => {
                check_chunk(chunk);
                folded.push(chunk);
            }
            Err(e) => check_error(e),
        }
    }
    let completion = folded.finish();
    assert_no_null_cost(&serde_json::to_value(&completion).expect("a folded stream serialises"));
    assert!(
        whole.iter().filter(|item| item.is_err()).count() <= 1
            && whole.iter().rev().skip(1).all(Result::is_ok),
        "at most one error, and only last: {whole:?}"
    );
    whole
}

/// A number from the input's hash, for deriving modes and limits.
pub fn derive(bytes: &[u8], salt: u64) -> u64 {
    tollgate_fuzz::fnv1a(bytes).rotate_left((salt % 64) as u32) ^ salt
}

/// One of `items`.
pub fn pick<T: Clone>(rng: &mut tollgate_fuzz::Rand, items: &[T]) -> T {
    use tollgate_fuzz::rand::Rng;
    items[rng.random_range(0..items.len())].clone()
}

/// True with probability `p`.
pub fn maybe(rng: &mut tollgate_fuzz::Rand, p: f64) -> bool {
    use tollgate_fuzz::rand::Rng;
    rng.random_bool(p)
}

/// A JSON object from pairs, the `None` ones left out.
pub fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect(),
    )
}

/// A value for a numeric field: usually in its range, sometimes at the
/// edges of the type or of another type.
pub fn some_number(rng: &mut tollgate_fuzz::Rand, lo: f64, hi: f64) -> Value {
    use tollgate_fuzz::rand::Rng;
    match rng.random_range(0..4) {
        0 => tollgate_fuzz::generate::number(rng),
        1 => Value::from(rng.random_range(lo.min(hi)..=hi.max(lo)).round()),
        _ => serde_json::Number::from_f64(rng.random_range(lo.min(hi)..=hi.max(lo)))
            .map_or(Value::Null, Value::Number),
    }
}

/// Text: prose mostly, arbitrary Unicode sometimes.
pub fn text(rng: &mut tollgate_fuzz::Rand) -> String {
    if maybe(rng, 0.7) {
        tollgate_fuzz::generate::prose(rng, 12)
    } else {
        tollgate_fuzz::generate::unicode(rng, 40)
    }
}
