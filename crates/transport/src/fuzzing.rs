//! Entry points for the fuzz targets of `tollgate-fuzz` (`fuzz/`): the
//! stream drivers of the three dialects over a body given as byte chunks,
//! with no socket. Behind the opt-in `fuzzing` feature and hidden from the
//! docs: not an API, only a way in for the fuzzer to the `pub(crate)`
//! drivers the adapters use.

use std::time::Duration;

use bytes::Bytes;

use crate::native::stream::{BodyError, StreamContext};
use crate::provider::ChunkStream;

/// How long the drivers wait for the next chunk: the body is in memory, so
/// this is never reached.
const IDLE: Duration = Duration::from_secs(60);

fn ctx() -> StreamContext {
    StreamContext {
        slug: String::from("fuzz"),
        name: String::from("Fuzz"),
        idle_timeout: IDLE,
        byok: false,
    }
}

fn body(chunks: Vec<Bytes>) -> impl futures::Stream<Item = Result<Bytes, BodyError>> {
    futures::stream::iter(chunks.into_iter().map(Ok))
}

/// The OpenAI-compatible adapter's chunk stream over a body read as
/// `chunks`. Poll it inside a Tokio runtime with time enabled.
pub fn openai_stream(chunks: Vec<Bytes>) -> ChunkStream {
    use crate::openai::stream;
    let ctx = stream::StreamContext {
        slug: String::from("fuzz"),
        name: String::from("Fuzz"),
        idle_timeout: IDLE,
        byok: false,
        exclude_reasoning: false,
    };
    let body = futures::stream::iter(chunks.into_iter().map(Ok));
    stream::chunk_stream(body, ctx)
}

/// The Anthropic adapter's chunk stream over a body read as `chunks`.
pub fn anthropic_stream(
    chunks: Vec<Bytes>,
    mode: crate::anthropic::translate::ResponseMode,
    model: &str,
) -> ChunkStream {
    let decoder = crate::anthropic::translate::stream::AnthropicDecoder::new(
        "Fuzz",
        mode,
        1_700_000_000,
        model,
    );
    crate::native::stream::chunk_stream(body(chunks), decoder, ctx())
}

/// The Gemini adapter's chunk stream over a body read as `chunks`.
pub fn gemini_stream(
    chunks: Vec<Bytes>,
    mode: crate::gemini::translate::ResponseMode,
    model: &str,
) -> ChunkStream {
    let decoder =
        crate::gemini::translate::stream::GeminiDecoder::new("Fuzz", mode, 1_700_000_000, model);
    crate::native::stream::chunk_stream(body(chunks), decoder, ctx())
}
