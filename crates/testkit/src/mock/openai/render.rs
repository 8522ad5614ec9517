//! Writing OpenAI responses and stream chunks, with `json!` in exactly the
//! shapes api.openai.com sends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::mock::MockState;
use crate::mock::behaviour::{
    Delta, FILLER_PIECE, Output, Reply, ToolCall, Usage, alphanumeric_id, count_tokens,
    embedding_for, reasoning_pieces, split_tokens, stream_deltas,
};
use crate::mock::stream::{Frame, FrameKind};

/// The `system_fingerprint` of every response.
const FINGERPRINT: &str = "fp_mock";
/// The `created` time of listed models.
const MODEL_CREATED: u64 = 1_700_000_000;

/// The fields every response and chunk of one request shares.
pub(super) struct Ids {
    id: String,
    created: u64,
    model: String,
}

impl Ids {
    pub(super) fn new(state: &MockState, prefix: &str, model: &str) -> Self {
        let sequence = state.next_sequence();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let name = state.config().name;
        let suffix = alphanumeric_id(
            &[
                name.as_bytes(),
                &sequence.to_le_bytes(),
                &nanos.as_nanos().to_le_bytes(),
            ],
            29,
        );
        Self {
            id: format!("{prefix}-{suffix}"),
            created: nanos.as_secs(),
            model: model.to_owned(),
        }
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens(),
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

fn tool_call_json(call: &ToolCall) -> Value {
    json!({
        "id": call.id,
        "type": "function",
        "function": { "name": call.name, "arguments": call.arguments },
    })
}

/// The usage of an answer with `n` choices, as reported
/// ([`Reply::reported_usage`]): the prompt once, the completion of every
/// choice.
pub(super) fn choices_usage(reply: &Reply, n: u32) -> Option<Usage> {
    let usage = Usage {
        completion_tokens: reply.usage.completion_tokens.saturating_mul(n),
        reasoning_tokens: reply.usage.reasoning_tokens.saturating_mul(n),
        ..reply.usage
    };
    reply.directives.report(usage)
}

/// A chat completion with `n` choices, each the same reply (the mock is
/// deterministic); no `usage` with `[mock:no_usage]`.
pub(super) fn chat_completion_json(ids: &Ids, reply: &Reply, n: u32) -> Value {
    let mut message = match &reply.output {
        Output::Text(text) => json!({ "role": "assistant", "content": text, "refusal": null }),
        Output::Filler(filler) => {
            json!({ "role": "assistant", "content": filler.text(), "refusal": null })
        }
        Output::ToolCalls(calls) => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().map(tool_call_json).collect::<Vec<_>>(),
            "refusal": null,
        }),
    };
    // reasoning as OpenRouter (`reasoning`) and DeepSeek / vLLM
    // (`reasoning_content`) send it
    if let (Some(reasoning), Some(fields)) = (&reply.reasoning, message.as_object_mut()) {
        fields.insert("reasoning".to_owned(), json!(reasoning));
        fields.insert("reasoning_content".to_owned(), json!(reasoning));
    }
    let choices: Vec<Value> = (0..n)
        .map(|index| {
            json!({
                "index": index,
                "message": message.clone(),
                "logprobs": null,
                "finish_reason": reply.finish_reason.as_openai(),
            })
        })
        .collect();
    let mut body = json!({
        "id": ids.id,
        "object": "chat.completion",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    });
    if let (Some(usage), Some(fields)) = (choices_usage(reply, n), body.as_object_mut()) {
        fields.insert("usage".to_owned(), usage_json(&usage));
    }
    body
}

fn sse(kind: FrameKind, value: &Value) -> Frame {
    Frame::new(kind, format!("data: {value}\n\n"))
}

/// The error chunk OpenAI sends when a stream fails mid-way (then the
/// stream ends without `[DONE]`).
pub(super) fn stream_error() -> Frame {
    let error = json!({ "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": null,
        "code": null,
    } });
    sse(FrameKind::Tail, &error)
}

fn done() -> Frame {
    Frame::new(FrameKind::Tail, "data: [DONE]\n\n")
}

/// A stream chunk of `object` with these choices; `usage: null` on every
/// chunk when the final usage chunk was asked for, as OpenAI does.
fn chunk(ids: &Ids, object: &str, include_usage: bool, choices: Vec<Value>) -> Value {
    let mut chunk = json!({
        "id": ids.id,
        "object": object,
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    });
    if include_usage && let Some(fields) = chunk.as_object_mut() {
        fields.insert("usage".to_owned(), Value::Null);
    }
    chunk
}

fn usage_chunk(ids: &Ids, object: &str, usage: Value) -> Frame {
    let mut chunk = chunk(ids, object, false, Vec::new());
    if let Some(fields) = chunk.as_object_mut() {
        fields.insert("usage".to_owned(), usage);
    }
    sse(FrameKind::Tail, &chunk)
}

/// One stream step of every choice: a chunk per choice (index 0 to n-1),
/// sent as one frame so pacing, drops and in-stream errors count steps.
fn step(kind: FrameKind, n: u32, chunk_of: impl Fn(u32) -> Value) -> Frame {
    let mut text = String::new();
    for index in 0..n {
        text.push_str(&format!("data: {}\n\n", chunk_of(index)));
    }
    Frame::new(kind, text)
}

/// The chunks of a streamed chat reply with `n` choices: the role chunk of
/// each choice, then per content step one chunk per choice, the finish
/// chunk of each choice, the usage chunk (with `include_usage`, unless
/// `[mock:no_usage]`, which also drops the `usage: null` of the other
/// chunks) and `[DONE]`. Filler text is one `"x "` chunk per step, without
/// end when endless.
pub(super) fn chat_frames(ids: &Ids, include_usage: bool, reply: &Reply, n: u32) -> Vec<Frame> {
    const OBJECT: &str = "chat.completion.chunk";
    let usage = choices_usage(reply, n);
    let with_usage = include_usage && usage.is_some();
    let choice = |index: u32, delta: &Value, finish: Option<&str>| {
        let choice =
            json!({ "index": index, "delta": delta, "logprobs": null, "finish_reason": finish });
        chunk(ids, OBJECT, with_usage, vec![choice])
    };
    let role = match reply.output {
        Output::Text(_) | Output::Filler(_) => json!({ "role": "assistant", "content": "" }),
        Output::ToolCalls(_) => json!({ "role": "assistant", "content": null }),
    };
    let content_step =
        |delta: Value| step(FrameKind::Content, n, |index| choice(index, &delta, None));
    let mut frames = vec![step(FrameKind::Lead, n, |index| choice(index, &role, None))];
    for piece in reasoning_pieces(reply) {
        frames.push(content_step(
            json!({ "reasoning": piece, "reasoning_content": piece }),
        ));
    }
    if let Output::Filler(filler) = &reply.output {
        let (times, odd) = filler.stream_pieces();
        frames.push(content_step(json!({ "content": FILLER_PIECE })).repeat(times));
        frames.extend(odd.map(|piece| content_step(json!({ "content": piece }))));
    }
    for delta in stream_deltas(reply) {
        let delta = match delta {
            Delta::Text(text) => json!({ "content": text }),
            Delta::ToolStart { index, id, name } => json!({ "tool_calls": [{
                "index": index,
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": "" },
            }] }),
            Delta::ToolArguments { index, fragment } => json!({ "tool_calls": [{
                "index": index,
                "function": { "arguments": fragment },
            }] }),
        };
        frames.push(content_step(delta));
    }
    let finish = reply.finish_reason.as_openai();
    frames.push(step(FrameKind::Tail, n, |index| {
        choice(index, &json!({}), Some(finish))
    }));
    if let (true, Some(usage)) = (include_usage, usage) {
        frames.push(usage_chunk(ids, OBJECT, usage_json(&usage)));
    }
    frames.push(done());
    frames
}

pub(super) fn completion_json(ids: &Ids, replies: &[Reply], usage: Option<&Usage>) -> Value {
    let choices: Vec<Value> = replies
        .iter()
        .enumerate()
        .map(|(index, reply)| {
            json!({
                "text": reply.text().unwrap_or_default(),
                "index": index,
                "logprobs": null,
                "finish_reason": reply.finish_reason.as_openai(),
            })
        })
        .collect();
    let mut body = json!({
        "id": ids.id,
        "object": "text_completion",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
    });
    if let (Some(usage), Some(fields)) = (usage, body.as_object_mut()) {
        fields.insert("usage".to_owned(), legacy_usage_json(usage));
    }
    body
}

/// Legacy completions report usage without the detail objects.
fn legacy_usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens(),
    })
}

/// Legacy completion chunks: the text of every choice in turn, then each
/// choice's finish chunk, the usage chunk if asked for (and reported), and
/// `[DONE]`.
pub(super) fn completion_frames(
    ids: &Ids,
    include_usage: bool,
    replies: &[Reply],
    usage: Option<&Usage>,
) -> Vec<Frame> {
    const OBJECT: &str = "text_completion";
    let with_usage = include_usage && usage.is_some();
    let choice = |index: usize, text: &str, finish: Option<&str>| {
        let choice =
            json!({ "text": text, "index": index, "logprobs": null, "finish_reason": finish });
        chunk(ids, OBJECT, with_usage, vec![choice])
    };
    let mut frames = Vec::new();
    for (index, reply) in replies.iter().enumerate() {
        for piece in split_tokens(reply.text().unwrap_or_default()) {
            frames.push(sse(FrameKind::Content, &choice(index, piece, None)));
        }
    }
    for (index, reply) in replies.iter().enumerate() {
        let finish = choice(index, "", Some(reply.finish_reason.as_openai()));
        frames.push(sse(FrameKind::Tail, &finish));
    }
    if let (true, Some(usage)) = (include_usage, usage) {
        frames.push(usage_chunk(ids, OBJECT, legacy_usage_json(usage)));
    }
    frames.push(done());
    frames
}

/// An embeddings response for `texts`, as floats or base64 of the
/// little-endian `f32` bytes.
pub(super) fn embeddings_json(
    texts: &[String],
    model: &str,
    dimensions: usize,
    base64: bool,
) -> Value {
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embedding_for(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let tokens: u32 = texts.iter().map(|t| count_tokens(t)).sum();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })
}

/// One entry of the model list.
pub(super) fn model_json(id: &str, owner: &str) -> Value {
    json!({ "id": id, "object": "model", "created": MODEL_CREATED, "owned_by": owner })
}
