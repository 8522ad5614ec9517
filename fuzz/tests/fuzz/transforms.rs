//! `middle_out` and `prompt_text`: the transforms on arbitrary Unicode.
//! Middle-out over conversations whose limits and roles come from the
//! input's first bytes; token counting, middle cuts and the shaping
//! parsers over raw text.

use serde_json::{Value, json};
use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::{prose, unicode};
use tollgate_fuzz::rand::Rng;
use tollgate_schema::chat::{Message, Role};
use tollgate_transforms::middle_out::{cut_middle, marker};
use tollgate_transforms::{
    ByteBound, Limits, TokenCounter, Tokenizer, count_messages, middle_out, shaping,
};

use crate::support::maybe;

/// Separates messages in a `middle_out` input.
const SEPARATOR: u8 = 0x1e;

/// The header: context length (2 bytes), completion reserve, message cap
/// (0: none), tokenizer.
const HEADER: usize = 5;

fn conversation(bytes: &[u8]) -> (Limits, u8, Vec<Message>) {
    let mut header = [0u8; HEADER];
    let n = bytes.len().min(HEADER);
    header[..n].copy_from_slice(&bytes[..n]);
    let context = u64::from(u16::from_le_bytes([header[0], header[1]]));
    let limits = Limits::new(context)
        .with_max_output(u64::from(header[2]) * 4)
        .with_max_messages((header[3] != 0).then_some(u32::from(header[3] % 16)));
    let mut messages = Vec::new();
    if bytes.len() > HEADER {
        for (i, record) in bytes[HEADER..].split(|b| *b == SEPARATOR).enumerate() {
            let (kind, text) = record.split_first().unwrap_or((&0, &[]));
            let text = String::from_utf8_lossy(text).into_owned();
            let call = format!("call_{i}");
            let v = match kind % 7 {
                0 => json!({"role": "system", "content": text}),
                1 => json!({"role": "developer", "content": text}),
                2 | 3 => json!({"role": "user", "content": text}),
                4 => json!({"role": "assistant", "content": text}),
                5 => {
                    json!({"role": "assistant", "content": null, "tool_calls": [{"id": call, "type": "function", "function": {"name": "f", "arguments": text}}]})
                }
                _ => {
                    json!({"role": "tool", "tool_call_id": format!("call_{}", i.saturating_sub(1)), "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": "https://x/a.png"}}]})
                }
            };
            messages.push(serde_json::from_value(v).expect("a valid message"));
        }
    }
    (limits, header[4], messages)
}

fn check_middle_out<C: TokenCounter>(messages: &[Message], limits: &Limits, counter: &C) {
    let Ok(out) = middle_out(messages, limits, counter) else {
        return;
    };
    let budget = limits.prompt_budget();
    assert!(
        out.tokens_after <= budget
            || out.tokens_after == out.tokens_before && out.messages == messages,
        "{} tokens after middle-out, over the budget of {budget}",
        out.tokens_after
    );
    assert!(
        out.tokens_after <= budget,
        "over budget: {} > {budget}",
        out.tokens_after
    );
    let recount = count_messages(&out.messages, counter).total;
    assert_eq!(
        recount, out.tokens_after,
        "the reported count is not the messages' count"
    );
    assert_eq!(out.removed_messages, messages.len() - out.messages.len());
    if let Some(cap) = limits.max_messages {
        assert!(
            out.messages.len() <= cap as usize,
            "{} messages over the cap {cap}",
            out.messages.len()
        );
    }
    // The last message, and the first user message with everything before
    // it, are kept, unless a message cap leaves no room for them beside the
    // system and developer messages, which are always kept.
    let always = messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .count();
    let head = messages
        .iter()
        .position(|m| m.role == Role::User)
        .map_or(0, |i| i + 1);
    let room = limits
        .max_messages
        .is_none_or(|cap| cap as usize > always + head);
    if room && let Some(last) = messages.last() {
        let roles = |ms: &[Message]| ms.iter().map(|m| m.role).collect::<Vec<_>>();
        assert!(
            out.messages.len() >= head.max(1),
            "middle-out kept {} of {} messages",
            out.messages.len(),
            messages.len()
        );
        assert_eq!(
            roles(&out.messages[..head]),
            roles(&messages[..head]),
            "the first user message or one before it was removed"
        );
        assert_eq!(
            out.messages.last().map(|m| m.role),
            Some(last.role),
            "the last message was removed"
        );
    }
    // Kept messages are the input's, in order (cut ones keep their role).
    let mut at = 0;
    for kept in &out.messages {
        while at < messages.len() && messages[at].role != kept.role {
            at += 1;
        }
        assert!(
            at < messages.len(),
            "a kept message out of order or invented"
        );
        at += 1;
    }
    // System prompts are never cut.
    let systems = |ms: &[Message]| -> Vec<Message> {
        ms.iter()
            .filter(|m| m.role == Role::System)
            .cloned()
            .collect()
    };
    assert_eq!(
        systems(&out.messages),
        systems(messages),
        "a system message was removed or cut"
    );
}

fn middle_out_target(bytes: &[u8]) {
    let (limits, tokenizer, messages) = conversation(bytes);
    check_middle_out(&messages, &limits, &ByteBound);
    if bytes.len() <= 16 * 1024 {
        let family = match tokenizer % 3 {
            0 => Tokenizer::o200k(),
            1 => Tokenizer::cl100k(),
            _ => Tokenizer::for_family(Some("claude")),
        };
        check_middle_out(&messages, &limits, &family);
    }
}

fn conversation_bytes(rng: &mut Rand) -> Vec<u8> {
    let mut out = Vec::new();
    let context: u16 = if maybe(rng, 0.5) {
        rng.random_range(0..400)
    } else {
        rng.random()
    };
    out.extend_from_slice(&context.to_le_bytes());
    out.push(rng.random_range(0..40));
    out.push(if maybe(rng, 0.6) { 0 } else { rng.random() });
    out.push(rng.random());
    let n = rng.random_range(0..12);
    for i in 0..n {
        if i > 0 {
            out.push(SEPARATOR);
        }
        out.push(rng.random_range(0..7));
        let text = if maybe(rng, 0.5) {
            prose(rng, 60)
        } else {
            unicode(rng, 200)
        };
        out.extend_from_slice(text.replace('\u{1e}', "").as_bytes());
    }
    out
}

#[test]
fn middle_out_messages() {
    tollgate_fuzz::Fuzzer::new("middle_out")
        .generator(conversation_bytes)
        .dictionary(&[
            "\u{1e}",
            "\u{1e}\u{0}",
            "\u{1e}\u{5}{\"a\":1}",
            "\u{1e}\u{2}",
        ])
        .run(middle_out_target);
}

fn text_target(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();
    let o200k = Tokenizer::o200k().count_text(text);
    let cl100k = Tokenizer::cl100k().count_text(text);
    let estimate = Tokenizer::for_family(Some("claude")).count_text(text);
    let bytes_len = text.len() as u64;
    assert!(
        o200k <= bytes_len && cl100k <= bytes_len,
        "more tokens than bytes: {o200k}/{cl100k} > {bytes_len}"
    );
    assert!(estimate >= cl100k, "the estimate is below its base");
    assert_eq!(text.is_empty(), o200k == 0, "empty iff no tokens");

    // A middle cut keeps a head and a tail of the text around the marker.
    let keep = tollgate_fuzz::fnv1a(bytes) % (o200k + 2);
    let cut = cut_middle(text, keep, Some(o200k), &Tokenizer::o200k());
    if o200k <= keep {
        assert_eq!(cut, text);
    } else {
        let removed = &cut[..];
        let Some(at) = removed.find("\n\n[... ") else {
            panic!("no marker in a cut text: {cut:?}");
        };
        assert!(
            text.starts_with(&cut[..at]),
            "the head is not the text's start"
        );
        let after = &cut[at..];
        let end = after
            .find(" tokens removed by middle-out ...]\n\n")
            .expect("the marker's end");
        let tail = &after[end + " tokens removed by middle-out ...]\n\n".len()..];
        assert!(text.ends_with(tail), "the tail is not the text's end");
        let _ = marker(0);
    }

    // The shaping parsers take model replies: anything at all.
    if let Some(json) = shaping::extract_json(text) {
        assert!(
            text.contains(json),
            "extract_json answers a piece of the reply"
        );
    }
    if let Some(reply) = shaping::split_tool_reply(text) {
        assert!(!reply.tool_calls.is_empty(), "a tool reply without calls");
    }
    let _ = shaping::parse_tool_calls(text);
    let split = text
        .char_indices()
        .nth(text.chars().count() / 3)
        .map_or(0, |(i, _)| i);
    let rest = shaping::strip_prefill_echo(text, &text[..split]);
    assert!(text.ends_with(rest), "stripping a prefill answers a suffix");
    let _ = shaping::to_yaml(&Value::String(text.to_owned()));
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let _ = shaping::to_yaml(&v);
    }
}

#[test]
fn prompt_text() {
    tollgate_fuzz::Fuzzer::new("prompt_text")
        .generator(|rng| unicode(rng, 300).into_bytes())
        .generator(|rng| prose(rng, 80).into_bytes())
        .generator(|rng| {
            // Model replies with tool calls in the forms the parser knows.
            let call = json!({"name": "get_weather", "arguments": {"city": unicode(rng, 6)}});
            let body = match rng.random_range(0..4) {
                0 => json!({"tool_calls": [call]}).to_string(),
                1 => json!({"tool_call": call}).to_string(),
                2 => json!([call, call]).to_string(),
                _ => call.to_string(),
            };
            let wrapped = match rng.random_range(0..3) {
                0 => format!("```json\n{body}\n```"),
                1 => format!("<tool_call>{body}</tool_call>"),
                _ => body,
            };
            format!("{} {wrapped} {}", prose(rng, 5), prose(rng, 5)).into_bytes()
        })
        .generator(|rng| {
            // Now and then a long text: the tokenizer's 32 KiB chunking,
            // whitespace runs (slow to count in a debug build, so rare).
            let unit = if maybe(rng, 0.5) {
                " ".to_owned()
            } else {
                unicode(rng, 3)
            };
            let times = if maybe(rng, 0.1) {
                rng.random_range(10_000..40_000)
            } else {
                rng.random_range(10..2_000)
            };
            unit.repeat(times).into_bytes()
        })
        .dictionary(&[
            "```json",
            "```",
            "<tool_call>",
            "</tool_call>",
            "{\"name\":\"f\",\"arguments\":{}}",
            "tool_calls",
            "arguments",
            "function",
        ])
        .run(text_target);
}
