//! Server-sent events towards the client.
//!
//! The stream is produced by a task that owns the upstream stream and writes
//! frames into a small channel whose receiver is the response body. When the
//! client goes away the receiver is dropped, the task sees the channel close,
//! and dropping the upstream stream closes the upstream connection, which
//! cancels the generation there.
//!
//! The relay works in internal chat chunks; the client's wire
//! ([`crate::ingress::Wire`]) frames them through its encoder. For the
//! OpenAI wires the framing rules are (WIRE-NOTES §2, §5): every `data:`
//! event is one JSON object
//! or `[DONE]`; comments (`: OPENROUTER PROCESSING`) only while waiting for
//! the first upstream chunk; usage always in a final chunk with
//! `choices: []` before `[DONE]`; a mid-stream failure is a chunk with a
//! top-level `error` and a choice finishing with `error`, after which the
//! stream ends.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tollgate_billing::Ending;
use tollgate_schema::Extra;
use tollgate_schema::chat::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};
use tollgate_schema::usage::Usage;
use tollgate_schema::wire_error::ErrorBody;
use tollgate_transforms::Tokenizer;
use tollgate_transforms::shaping::split_tool_reply;
use tollgate_transport::{ChunkStream, ProviderError};

use super::finish::{Generation, Outcome, ServedBy};
use super::meter::OutputMeter;
use super::{Attempt, OpenStream, Served};
use crate::error::ApiError;
use crate::ingress::{StreamEncoder, StreamInfo, Wire};
use crate::state::AppState;

/// A stream still opening (its first chunk not yet read).
pub type Pending =
    Pin<Box<dyn Future<Output = Result<Served<OpenStream>, (ApiError, Vec<Attempt>)>> + Send>>;

/// How the body starts: with an opened stream, or still waiting for one.
pub enum Start {
    /// The first chunk is in hand.
    Ready(Box<Served<OpenStream>>),
    /// Still opening: send keep-alive comments meanwhile.
    Pending(Pending),
}

/// What every chunk of this response says about itself, and how to
/// measure it.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `gen-...`.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// Client-facing model id.
    pub model: String,
    /// Estimated prompt tokens, used only if the provider reports no usage.
    pub prompt_estimate: u64,
    /// The wire the client called (chat chunks, legacy text-completion
    /// chunks, Anthropic events): its encoder writes the frames.
    pub wire: Wire,
    /// The model family's tokenizer, for the output meter.
    pub tokenizer: Tokenizer,
    /// Whether the attempt that served had its tools described in the
    /// prompt (its reply is held back and parsed for tool calls).
    pub tools_in_prompt: Arc<AtomicBool>,
}

/// Rewrites upstream chunks into ours, meters the output against its
/// bound, and keeps what the final chunk needs.
struct Rewriter {
    meta: Meta,
    /// Writes the chunks in the client's wire.
    encoder: Box<dyn StreamEncoder>,
    provider: String,
    usage: Option<Usage>,
    meter: OutputMeter,
    finish_reason: Option<String>,
    native_finish_reason: Option<String>,
    /// Tools were described in the prompt: the reply's text is held back
    /// here and parsed for tool calls when the stream ends.
    held_text: Option<String>,
    /// The output passed its bound; the stream is cut.
    cut: bool,
    /// The reasoning text relayed, counted at the end when the provider
    /// reports no reasoning tokens (bounded by the output meter).
    reasoning: String,
    /// When the first chunk with output (text, reasoning, tool calls) came:
    /// the first token, which the endpoint's latency and throughput are
    /// timed from (a role-only first chunk is not one).
    first_output_at: Option<Instant>,
}

impl Rewriter {
    fn new(meta: Meta, provider: String, output_bound: u64) -> Rewriter {
        let held_text = meta
            .tools_in_prompt
            .load(Ordering::Relaxed)
            .then(String::new);
        let encoder = meta.wire.encoder(StreamInfo {
            id: meta.id.clone(),
            model: meta.model.clone(),
            prompt_estimate: meta.prompt_estimate,
        });
        Rewriter {
            meter: OutputMeter::new(output_bound, meta.tokenizer),
            encoder,
            meta,
            provider,
            usage: None,
            finish_reason: None,
            native_finish_reason: None,
            held_text,
            cut: false,
            reasoning: String::new(),
            first_output_at: None,
        }
    }

    fn chunk(&mut self, mut c: Box<ChatChunk>) -> Option<Bytes> {
        if let Some(u) = c.usage.take() {
            self.usage = Some(*u);
        }
        if c.choices.is_empty() || self.cut {
            return None;
        }
        for choice in &mut c.choices {
            if self.first_output_at.is_none() && !is_empty_delta(&choice.delta) {
                self.first_output_at = Some(Instant::now());
            }
            let d = &mut choice.delta;
            self.meter.add(d.content.as_deref().unwrap_or_default());
            self.meter.add(d.reasoning.as_deref().unwrap_or_default());
            if let Some(r) = d.reasoning.as_deref() {
                self.reasoning.push_str(r);
            }
            for t in d.tool_calls.iter().flatten() {
                self.meter.add(
                    t.function
                        .as_ref()
                        .and_then(|f| f.arguments.as_deref())
                        .unwrap_or_default(),
                );
            }
            if choice.finish_reason.is_some() && choice.native_finish_reason.is_none() {
                choice.native_finish_reason = choice.finish_reason.clone();
            }
            if choice.finish_reason.is_some() {
                self.finish_reason.clone_from(&choice.finish_reason);
                self.native_finish_reason
                    .clone_from(&choice.native_finish_reason);
            }
            if let Some(held) = self.held_text.as_mut() {
                held.extend(choice.delta.content.take());
                choice.finish_reason = None;
                choice.native_finish_reason = None;
            }
        }
        if self.meter.exceeded() {
            // This chunk passes the bound: it is not relayed; the caller
            // ends the stream with `finish_reason: "length"`.
            self.cut = true;
            return None;
        }
        if self.held_text.is_some() {
            c.choices.retain(|choice| !is_empty_delta(&choice.delta));
            if c.choices.is_empty() {
                return None;
            }
        }
        self.identify(&mut c);
        self.encoder.chunk(c)
    }

    /// Our id, model and provider on `c`, in the strings it already has
    /// where they are large enough (once per chunk: no allocation).
    fn identify(&self, c: &mut ChatChunk) {
        const OBJECT: &str = "chat.completion.chunk";
        c.id.clone_from(&self.meta.id);
        c.created = self.meta.created;
        c.model.clone_from(&self.meta.model);
        match &mut c.provider {
            Some(p) => p.clone_from(&self.provider),
            None => c.provider = Some(self.provider.clone()),
        }
        if c.object != OBJECT {
            c.object.clear();
            c.object.push_str(OBJECT);
        }
    }

    fn base(&self) -> ChatChunk {
        ChatChunk {
            id: self.meta.id.clone(),
            object: String::from("chat.completion.chunk"),
            created: self.meta.created,
            model: self.meta.model.clone(),
            // Empty when every provider failed before one served: then no
            // provider is named here (the error's metadata names the last).
            provider: (!self.provider.is_empty()).then(|| self.provider.clone()),
            system_fingerprint: None,
            choices: Vec::new(),
            usage: None,
            error: None,
            extra: Extra::new(),
        }
    }

    fn choice(delta: Delta, finish_reason: Option<String>) -> ChunkChoice {
        ChunkChoice {
            index: 0,
            delta,
            native_finish_reason: finish_reason.clone(),
            finish_reason,
            logprobs: None,
            error: None,
            extra: Extra::new(),
        }
    }

    /// The end of a stream whose reply was held back (tools described in
    /// the prompt): the text, or the tool calls written in it as
    /// `tool_calls` with `finish_reason: "tool_calls"`.
    fn release_held(&mut self) -> Option<Bytes> {
        let text = self.held_text.take()?;
        let delta = match split_tool_reply(&text) {
            Some(reply) => {
                self.finish_reason = Some(String::from("tool_calls"));
                Delta {
                    content: reply.content,
                    tool_calls: Some(
                        reply
                            .tool_calls
                            .into_iter()
                            .enumerate()
                            .map(|(i, call)| ToolCallDelta {
                                index: u32::try_from(i).unwrap_or(u32::MAX),
                                id: Some(call.id),
                                kind: Some(call.kind),
                                function: Some(FunctionCallDelta {
                                    name: Some(call.function.name),
                                    arguments: Some(call.function.arguments),
                                }),
                            })
                            .collect(),
                    ),
                    ..Delta::default()
                }
            }
            None => Delta {
                content: Some(text),
                ..Delta::default()
            },
        };
        let chunk = ChatChunk {
            choices: vec![Rewriter::choice(delta, self.finish_reason.clone())],
            ..self.base()
        };
        self.encoder.chunk(Box::new(chunk))
    }

    /// The chunk that ends a stream cut at its output bound.
    fn cut_chunk(&mut self) -> Option<Bytes> {
        self.finish_reason = Some(String::from("length"));
        let chunk = ChatChunk {
            choices: vec![Rewriter::choice(
                Delta {
                    content: Some(String::new()),
                    ..Delta::default()
                },
                self.finish_reason.clone(),
            )],
            ..self.base()
        };
        self.encoder.chunk(Box::new(chunk))
    }

    /// The generation's usage: the provider's, or an estimate when it
    /// reported none (a cancelled or cut stream, a provider without
    /// usage): the metered output, never above its bound.
    fn final_usage(&mut self) -> Usage {
        match self.usage.take() {
            Some(u) if !self.cut => super::meter::with_reasoning_counted(
                u.normalized(),
                &self.reasoning,
                &self.meta.tokenizer,
            ),
            _ => Usage::new(self.meta.prompt_estimate, self.meter.tokens()),
        }
    }

    /// The usage chunk (with the cost charged, when billed) and the
    /// wire's end (`[DONE]`, `message_stop`).
    fn finish(&mut self, usage: Usage) -> Bytes {
        let chunk = ChatChunk {
            usage: Some(Box::new(usage)),
            ..self.base()
        };
        self.encoder.finish(chunk)
    }

    /// The chunk that ends a stream with an error.
    fn error(&mut self, body: ErrorBody) -> Option<Bytes> {
        let chunk = ChatChunk {
            error: Some(Box::new(body)),
            choices: vec![Rewriter::choice(
                Delta {
                    content: Some(String::new()),
                    ..Delta::default()
                },
                Some(String::from("error")),
            )],
            ..self.base()
        };
        self.encoder.error(chunk)
    }
}

fn is_empty_delta(d: &Delta) -> bool {
    d.content.as_deref().is_none_or(str::is_empty)
        && d.reasoning.is_none()
        && d.reasoning_details.is_none()
        && d.refusal.is_none()
        && d.tool_calls.is_none()
}

/// Builds the SSE body; `generation` is finished (settled and recorded)
/// as the stream ends, whichever way it ends. When the client goes away,
/// the task stops relaying and finishes the generation as cancelled; if
/// the task itself dies, the generation's hold guard releases the hold.
pub fn body(start: Start, meta: Meta, keepalive: Duration, generation: Generation) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(tracing::Instrument::in_current_span(run(
        start, meta, keepalive, tx, generation,
    )));
    Body::from_stream(ReceiverStream::new(rx).map(Ok::<Bytes, Infallible>))
}

/// How a relayed stream ended.
struct Relayed {
    rw: Rewriter,
    /// Who served it, if anyone did.
    served: Option<ServedBy>,
    ending: Ending,
    /// Every try.
    attempts: Vec<Attempt>,
    /// What failed, if it did.
    error: Option<String>,
    /// When the first chunk was relayed.
    first_chunk_at: Option<Instant>,
    /// The provider's id of the stream (its first chunk's).
    upstream_id: Option<String>,
}

async fn run(
    start: Start,
    meta: Meta,
    keepalive: Duration,
    tx: mpsc::Sender<Bytes>,
    generation: Generation,
) {
    let relayed = relay(&generation.state, start, meta, keepalive, &tx).await;
    // Boxed: the settlement's futures are the largest state of this task,
    // and a stream waiting on its provider should not carry them (with
    // `pump` boxed too, the task's future stays small).
    Box::pin(finish(relayed, tx, generation)).await;
}

/// Finishes a relayed stream: settles, records, and sends the usage chunk.
async fn finish(relayed: Relayed, tx: mpsc::Sender<Bytes>, generation: Generation) {
    let Relayed {
        mut rw,
        served,
        ending,
        attempts,
        error,
        first_chunk_at,
        upstream_id,
    } = relayed;
    if rw.cut
        && let Some(by) = &served
    {
        tracing::warn!(generation = %rw.meta.id, provider = %by.endpoint.provider, "stream past its output bound; cut");
        generation.state.metrics.output_cut(&by.endpoint);
    }
    let usage = rw.final_usage();
    let outcome = Outcome {
        served,
        model: rw.meta.model.clone(),
        usage,
        ending: Some(ending),
        attempts,
        finish_reason: rw.finish_reason.clone(),
        native_finish_reason: rw.native_finish_reason.clone(),
        streamed: true,
        error,
        first_chunk_at,
        first_token_at: rw.first_output_at,
        upstream_id,
    };
    let finished = generation.finish(outcome).await;
    if ending == Ending::Succeeded {
        let _ = tx.send(rw.finish(finished.usage)).await;
    }
}

async fn relay(
    state: &AppState,
    start: Start,
    meta: Meta,
    keepalive: Duration,
    tx: &mpsc::Sender<Bytes>,
) -> Relayed {
    let failed = |meta: Meta, ending, attempts: Vec<Attempt>, error: Option<String>| Relayed {
        rw: Rewriter::new(meta, String::new(), 0),
        served: None,
        ending,
        attempts,
        error,
        first_chunk_at: None,
        upstream_id: None,
    };
    let served = match start {
        Start::Ready(s) => *s,
        Start::Pending(mut pending) => {
            let mut tick = tokio::time::interval(keepalive);
            let ping = meta.wire.keepalive();
            let result = loop {
                tokio::select! {
                    r = &mut pending => break r,
                    _ = tick.tick() => {
                        if tx.send(Bytes::from_static(ping)).await.is_err() {
                            return failed(meta, Ending::Cancelled, Vec::new(), None);
                        }
                    }
                }
            };
            match result {
                Ok(s) => s,
                Err((e, attempts)) => {
                    let mut out = failed(meta, Ending::Failed, attempts, Some(e.to_string()));
                    if let Some(b) = out.rw.error(e.body()) {
                        let _ = tx.send(b).await;
                    }
                    return out;
                }
            }
        }
    };
    // Boxed, like `finish`: a stream still waiting for its provider holds
    // only the small state above.
    Box::pin(pump(state, served, meta, tx)).await
}

/// Relays an opened stream to the client until it ends, fails, is cut at
/// its output bound, or the client goes away.
async fn pump(
    state: &AppState,
    served: Served<OpenStream>,
    meta: Meta,
    tx: &mpsc::Sender<Bytes>,
) -> Relayed {
    let by = ServedBy::of(&served);
    let Served {
        value: OpenStream { first, mut rest },
        provider_name,
        model,
        attempts,
        ..
    } = served;
    // With model fallbacks, the model that answered is not the first asked.
    let meta = Meta { model, ..meta };
    let mut out = Relayed {
        rw: Rewriter::new(meta, provider_name, by.bound.output_tokens),
        served: Some(by),
        ending: Ending::Succeeded,
        attempts,
        error: None,
        first_chunk_at: Some(Instant::now()),
        upstream_id: Some(first.id.clone()).filter(|id| !id.is_empty()),
    };
    // The first chunk goes out at once: time to first token.
    if let Some(b) = out.rw.chunk(first)
        && tx.send(b).await.is_err()
    {
        out.ending = Ending::Cancelled;
        return out;
    }
    let mut frames: Vec<Bytes> = Vec::new();
    loop {
        let gathered = if out.rw.cut {
            Gathered::Ended
        } else {
            let item = tokio::select! {
                biased;
                _ = tx.closed() => {
                    tracing::info!(generation = %out.rw.meta.id, "client disconnected; upstream stream cancelled");
                    out.ending = Ending::Cancelled;
                    return out;
                }
                item = rest.next() => item,
            };
            gather(item, &mut rest, &mut out.rw, &mut frames).await
        };
        if matches!(gathered, Gathered::Ended) {
            if out.rw.cut {
                frames.extend(out.rw.cut_chunk());
            } else {
                frames.extend(out.rw.release_held());
            }
        }
        if let Some(b) = join(&mut frames)
            && tx.send(b).await.is_err()
        {
            out.ending = Ending::Cancelled;
            return out;
        }
        match gathered {
            Gathered::More => {}
            Gathered::Ended => return out,
            Gathered::Failed(e) => {
                let e = state.redact(e);
                tracing::warn!(generation = %out.rw.meta.id, error = %e, detail = e.detail(), "upstream failed mid-stream");
                out.error = Some(e.to_string());
                if let Some(b) = out.rw.error(ApiError::Provider(e).body()) {
                    let _ = tx.send(b).await;
                }
                out.ending = Ending::Failed;
                return out;
            }
        }
    }
}

/// Renders `item` and the chunks that follow it at once into `frames`, to
/// go to the client in one write.
///
/// hyper's client hands over a response body one HTTP chunk at a time,
/// from its connection task, and a send per chunk wakes our connection
/// task and makes a system call per token: at full speed, most of a
/// relayed stream's cost. So after a chunk this yields once, to let the
/// upstream connection hand over the next, and stops when nothing more
/// came (or at `GATHER_CHUNKS`). Nothing is waited for: a provider pacing
/// its tokens gets each one sent after a single yield.
async fn gather(
    mut item: Option<Result<Box<ChatChunk>, ProviderError>>,
    rest: &mut ChunkStream,
    rw: &mut Rewriter,
    frames: &mut Vec<Bytes>,
) -> Gathered {
    let mut taken = 0;
    loop {
        match item {
            Some(Ok(chunk)) => {
                frames.extend(rw.chunk(chunk));
                taken += 1;
                if taken == GATHER_CHUNKS || rw.cut {
                    return Gathered::More;
                }
                let mut ready = rest.next().now_or_never();
                if ready.is_none() {
                    tokio::task::yield_now().await;
                    ready = rest.next().now_or_never();
                }
                match ready {
                    Some(next) => item = next,
                    None => return Gathered::More,
                }
            }
            Some(Err(e)) => return Gathered::Failed(e),
            None => return Gathered::Ended,
        }
    }
}

/// Where a stream stands after [`gather`].
#[derive(Debug)]
enum Gathered {
    /// More may come.
    More,
    /// The provider ended the stream.
    Ended,
    /// The provider failed; what was gathered before is still to be sent.
    Failed(ProviderError),
}

/// Most chunks gathered into one write to the client. 16 keeps the wait of
/// a batch's first chunk near 100 µs (the longest gap a client sees in a
/// zero-latency stream did not grow) and already takes 200 writes per
/// 200-token stream down to about 15; 64 saved little more CPU and made
/// the first chunk of a batch wait 500 µs.
const GATHER_CHUNKS: usize = 16;

/// The gathered frames as one buffer (none when there are none), emptying
/// `frames`.
fn join(frames: &mut Vec<Bytes>) -> Option<Bytes> {
    match frames.len() {
        0 => None,
        1 => frames.pop(),
        _ => {
            let joined = Bytes::from(frames.concat());
            frames.clear();
            Some(joined)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_schema::from_json_slice;

    fn rw() -> Rewriter {
        Rewriter::new(
            Meta {
                id: "gen-1-x".into(),
                created: 7,
                model: "mock/echo".into(),
                prompt_estimate: 5,
                wire: Wire::Chat,
                tokenizer: Tokenizer::o200k(),
                tools_in_prompt: Arc::new(AtomicBool::new(false)),
            },
            "Mock Alpha".into(),
            1_000,
        )
    }

    fn parse(b: &Bytes) -> serde_json::Value {
        let text = std::str::from_utf8(b).unwrap();
        let json = text
            .strip_prefix("data: ")
            .unwrap()
            .strip_suffix("\n\n")
            .unwrap();
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rewrites_identity_and_splits_usage_off() {
        let mut r = rw();
        let upstream: ChatChunk = from_json_slice(
            br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"echo-upstream","choices":[{"index":0,"delta":{"content":"hey"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}"#,
        )
        .unwrap();
        let v = parse(&r.chunk(Box::new(upstream)).unwrap());
        assert_eq!(v["id"], "gen-1-x");
        assert_eq!(v["model"], "mock/echo");
        assert_eq!(v["provider"], "Mock Alpha");
        assert_eq!(v["created"], 7);
        assert!(
            v.get("usage").is_none(),
            "usage belongs to the final chunk only"
        );
        assert_eq!(v["choices"][0]["native_finish_reason"], "stop");

        let usage = r.final_usage();
        let tail = r.finish(usage);
        let text = std::str::from_utf8(&tail).unwrap();
        let (usage_frame, done) = text.split_at(text.find("data: [DONE]").unwrap());
        assert_eq!(done, "data: [DONE]\n\n");
        let u = parse(&Bytes::from(usage_frame.to_string()));
        assert_eq!(u["choices"], serde_json::json!([]));
        assert_eq!(u["usage"]["prompt_tokens"], 9);
        assert_eq!(u["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
        assert_eq!(
            u["usage"]["completion_tokens_details"]["reasoning_tokens"],
            0
        );
        assert!(u["usage"].get("cost").is_none());
    }

    #[test]
    fn usage_only_chunks_emit_nothing_and_missing_usage_is_estimated() {
        let mut r = rw();
        let only_usage: ChatChunk = from_json_slice(
            br#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#,
        )
        .unwrap();
        assert!(r.chunk(Box::new(only_usage)).is_none());

        let mut r = rw();
        let c: ChatChunk = from_json_slice(
            br#"{"id":"c","choices":[{"index":0,"delta":{"content":"12345678"}}]}"#,
        )
        .unwrap();
        r.chunk(Box::new(c)).unwrap();
        let usage = r.final_usage();
        let tail = r.finish(usage);
        let text = std::str::from_utf8(&tail).unwrap();
        let u = parse(&Bytes::from(
            text[..text.find("data: [DONE]").unwrap()].to_string(),
        ));
        assert_eq!(u["usage"]["prompt_tokens"], 5);
        assert_eq!(u["usage"]["completion_tokens"], 2);
    }

    #[test]
    fn output_past_the_bound_is_not_relayed_and_the_stream_is_cut() {
        let mut r = Rewriter::new(rw().meta, "Mock Alpha".into(), 3);
        // " word" is one token; bytes stay under the bound for the first.
        assert!(r.chunk(content(" word").unwrap()).is_some());
        assert!(r.chunk(content(" word word").unwrap()).is_some());
        assert!(!r.cut);
        assert!(
            r.chunk(content(" word word").unwrap()).is_none(),
            "past 3 tokens"
        );
        assert!(r.cut);
        assert!(
            r.chunk(content(" more").unwrap()).is_none(),
            "nothing after the cut"
        );
        let v = parse(&r.cut_chunk().unwrap());
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        let usage = r.final_usage();
        assert_eq!(usage.completion_tokens, 3, "billed at the bound");
    }

    #[test]
    fn a_reply_with_tools_in_the_prompt_is_held_back_and_parsed() {
        let mut meta = rw().meta;
        meta.tools_in_prompt = Arc::new(AtomicBool::new(true));
        let mut r = Rewriter::new(meta, "Mock Beta".into(), 1_000);
        let call =
            r#"{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]}"#;
        assert!(
            r.chunk(content(&call[..10]).unwrap()).is_none(),
            "held back"
        );
        let last = format!(
            r#"{{"id":"c","choices":[{{"index":0,"delta":{{"content":"{}"}},"finish_reason":"stop"}}]}}"#,
            &call[10..]
        );
        assert!(r.chunk(from_json_slice(last.as_bytes()).unwrap()).is_none());
        let v = parse(&r.release_held().unwrap());
        let choice = &v["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{v}");
        assert_eq!(
            choice["delta"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
        assert_eq!(choice["delta"]["tool_calls"][0]["index"], 0);
        let args: serde_json::Value = serde_json::from_str(
            choice["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(args["city"], "Paris");

        // Plain text is sent whole at the end, with the upstream's reason.
        let mut meta = rw().meta;
        meta.tools_in_prompt = Arc::new(AtomicBool::new(true));
        let mut r = Rewriter::new(meta, "Mock Beta".into(), 1_000);
        assert!(r.chunk(content("just text").unwrap()).is_none());
        let v = parse(&r.release_held().unwrap());
        assert_eq!(v["choices"][0]["delta"]["content"], "just text");
    }

    #[test]
    fn error_chunk_has_the_unified_shape() {
        let mut r = rw();
        let v = parse(
            &r.error(ErrorBody::new(502, "Provider disconnected"))
                .unwrap(),
        );
        assert_eq!(v["error"]["code"], 502);
        assert_eq!(v["error"]["message"], "Provider disconnected");
        assert_eq!(v["choices"][0]["finish_reason"], "error");
        assert_eq!(v["choices"][0]["delta"]["content"], "");
    }

    fn content(text: &str) -> Result<Box<ChatChunk>, ProviderError> {
        let json =
            format!(r#"{{"id":"c","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#);
        Ok(Box::new(from_json_slice(json.as_bytes()).unwrap()))
    }

    /// The contents of the frames in one write, in order.
    fn contents(b: &Bytes) -> Vec<String> {
        std::str::from_utf8(b)
            .unwrap()
            .split_terminator("\n\n")
            .map(|f| {
                let v: serde_json::Value =
                    serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn numbers(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| i.to_string()).collect()
    }

    #[tokio::test]
    async fn chunks_ready_together_go_out_in_one_write_in_order() {
        let mut r = rw();
        let mut chunks = (0..100).map(|i| content(&i.to_string()));
        let first = chunks.next();
        let mut rest: ChunkStream = Box::pin(futures::stream::iter(chunks));
        let mut frames = Vec::new();

        let end = gather(first, &mut rest, &mut r, &mut frames).await;
        assert!(matches!(end, Gathered::More), "{end:?}");
        let write = join(&mut frames).unwrap();
        assert_eq!(contents(&write), numbers(0..GATHER_CHUNKS));
        assert!(frames.is_empty());

        // The rest, in writes of at most GATHER_CHUNKS frames, until the end.
        let mut relayed = numbers(0..GATHER_CHUNKS);
        loop {
            let next = rest.next().await;
            let end = gather(next, &mut rest, &mut r, &mut frames).await;
            let write = join(&mut frames).map_or_else(Vec::new, |b| contents(&b));
            assert!(write.len() <= GATHER_CHUNKS, "{} frames", write.len());
            relayed.extend(write);
            match end {
                Gathered::More => {}
                Gathered::Ended => break,
                Gathered::Failed(e) => panic!("the stream failed: {e}"),
            }
        }
        assert_eq!(relayed, numbers(0..100));
        assert!(join(&mut frames).is_none());
    }

    #[tokio::test]
    async fn a_provider_that_pauses_is_not_waited_for() {
        let mut r = rw();
        let ready = futures::stream::iter([content("b"), content("c")]);
        let mut rest: ChunkStream = Box::pin(ready.chain(futures::stream::pending()));
        let mut frames = Vec::new();
        let end = tokio::time::timeout(
            Duration::from_secs(10),
            gather(Some(content("a")), &mut rest, &mut r, &mut frames),
        )
        .await
        .expect("gather waited for a chunk that was not there");
        assert!(matches!(end, Gathered::More), "{end:?}");
        assert_eq!(contents(&join(&mut frames).unwrap()), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_failure_keeps_the_chunks_before_it() {
        let mut r = rw();
        let failure = ProviderError::new(
            "alpha",
            "Alpha",
            tollgate_transport::ErrorKind::InvalidResponse,
            "broken",
        );
        let mut rest: ChunkStream = Box::pin(futures::stream::iter([
            content("b"),
            Err(failure),
            content("never"),
        ]));
        let mut frames = Vec::new();
        let end = gather(Some(content("a")), &mut rest, &mut r, &mut frames).await;
        let Gathered::Failed(e) = end else {
            panic!("the failure was not reported")
        };
        assert!(e.to_string().contains("broken"), "{e}");
        assert_eq!(contents(&join(&mut frames).unwrap()), ["a", "b"]);
    }
}
