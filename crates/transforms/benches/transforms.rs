//! Benchmarks: token counting throughput, and middle-out on conversations
//! of 10k, 100k and 1M tokens into a 128k context (and into smaller ones,
//! where there is work to do at every size).
//!
//! `middle_out_counted` is measured with the messages already counted (the
//! gateway counts once, for routing and for middle-out); `count` and
//! `middle_out` (counting included) show what counting costs on its own.
//!
//! Run: `cargo bench -p tollgate-transforms`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tollgate_schema::chat::{Message, Role};
use tollgate_transforms::{Limits, Tokenizer, count_messages, middle_out, middle_out_counted};

const WORDS: &[&str] = &[
    "the",
    "model",
    "request",
    "gateway",
    "token",
    "provider",
    "context",
    "window",
    "message",
    "routing",
    "latency",
    "throughput",
    "because",
    "however",
    "function",
    "returns",
    "value",
    "error",
    "configuration",
    "endpoint",
    "price",
    "completion",
    "prompt",
    "user",
    "assistant",
    "système",
    "données",
    "数据",
    "模型",
    "über",
    "naïve",
    "2024",
    "3.14",
    "42",
    "λ",
    "→",
];

/// Deterministic prose with punctuation, numbers, some code and some
/// non-English words.
fn prose(seed: &mut u64, words: usize) -> String {
    let mut out = String::with_capacity(words * 7);
    for i in 0..words {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = WORDS[(*seed >> 33) as usize % WORDS.len()];
        out.push_str(w);
        out.push(match (*seed >> 20) % 23 {
            0 => '.',
            1 => ',',
            2 => '\n',
            _ => ' ',
        });
        if i % 400 == 399 {
            out.push_str("\n```rust\nfn add(a: u32, b: u32) -> u32 { a + b }\n```\n");
        }
    }
    out
}

/// A conversation of about `tokens` tokens: a system prompt, then turns of
/// 50 to 2,000 words, every tenth one a tool call with its result.
fn conversation(tokens: u64, t: &Tokenizer) -> Vec<Message> {
    let mut seed = tokens;
    let mut messages = vec![Message::text(Role::System, prose(&mut seed, 300))];
    let mut total = count_messages(&messages, t).total;
    let mut turn = 0u64;
    while total < tokens {
        turn += 1;
        let words = 50 + (seed >> 40) as usize % 1950;
        let new: Vec<Message> = if turn.is_multiple_of(10) {
            let call: Message = serde_json::from_value(json!({
                "role": "assistant", "content": null,
                "tool_calls": [{"id": format!("call_{turn}"), "type": "function",
                    "function": {"name": "search", "arguments": "{\"q\": \"routing\"}"}}]
            }))
            .unwrap();
            let mut result = Message::text(Role::Tool, prose(&mut seed, words));
            result.tool_call_id = Some(format!("call_{turn}"));
            vec![call, result]
        } else {
            let role = if turn % 2 == 1 {
                Role::User
            } else {
                Role::Assistant
            };
            vec![Message::text(role, prose(&mut seed, words))]
        };
        total += count_messages(&new, t).total - 3;
        messages.extend(new);
    }
    messages
}

fn label(tokens: u64) -> String {
    match tokens {
        t if t >= 1_000_000 => format!("{}M", t / 1_000_000),
        t => format!("{}k", t / 1000),
    }
}

fn counting(c: &mut Criterion) {
    let mut group = c.benchmark_group("count");
    group.sample_size(20);
    let mut seed = 7;
    let text = prose(&mut seed, 50_000);
    for t in [Tokenizer::o200k(), Tokenizer::cl100k()] {
        let n = t.count(&text);
        group.throughput(Throughput::Elements(n));
        group.bench_function(BenchmarkId::new("text", format!("{:?}", t.family())), |b| {
            b.iter(|| t.count(black_box(&text)))
        });
    }
    let t = Tokenizer::o200k();
    let convo = conversation(1_000_000, &t);
    let n = count_messages(&convo, &t).total;
    group.throughput(Throughput::Elements(n));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("messages", label(n)), |b| {
        b.iter(|| count_messages(black_box(&convo), &t))
    });
    group.finish();
}

fn compressing(c: &mut Criterion) {
    let t = Tokenizer::o200k();
    let mut group = c.benchmark_group("middle_out_counted");
    group.sample_size(20);
    let cases = [
        (10_000, 128_000),
        (100_000, 128_000),
        (1_000_000, 128_000),
        (10_000, 4_096),
        (100_000, 32_768),
    ];
    for (size, context) in cases {
        let convo = conversation(size, &t);
        let count = count_messages(&convo, &t);
        let limits = Limits::new(context).with_max_output((context / 8).min(4_096));
        let id = format!("{}->{}", label(size), label(context));
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| middle_out_counted(black_box(&convo), &count, &limits, &t).unwrap())
        });
    }
    // One message of 1M tokens: nothing to remove, its middle is cut (the
    // cut is measured by counting the kept head and tail again).
    let mut seed = 3;
    let huge = vec![
        Message::text(Role::System, "You summarise documents."),
        Message::text(Role::User, prose(&mut seed, 760_000)),
    ];
    let count = count_messages(&huge, &t);
    let limits = Limits::new(128_000).with_max_output(4_096);
    group.sample_size(10);
    group.bench_function(
        BenchmarkId::from_parameter(format!("one {} message->128k", label(count.total))),
        |b| b.iter(|| middle_out_counted(black_box(&huge), &count, &limits, &t).unwrap()),
    );
    group.finish();

    let mut group = c.benchmark_group("middle_out");
    group.sample_size(10);
    let convo = conversation(1_000_000, &t);
    let limits = Limits::new(128_000).with_max_output(4_096);
    group.bench_function("1M->128k, counting included", |b| {
        b.iter(|| middle_out(black_box(&convo), &limits, &t).unwrap())
    });
    group.finish();
}

criterion_group!(benches, counting, compressing);
criterion_main!(benches);
