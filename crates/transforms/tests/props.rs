//! Property tests of middle-out and of the parsers: fitting, what is kept,
//! tool call/result pairs, idempotence, and no panics on any input.

use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_schema::chat::{Message, Role};
use tollgate_transforms::count::{REPLY_PRIMING, count_message};
use tollgate_transforms::image::{image_dimensions, image_url_tokens};
use tollgate_transforms::shaping::{extract_json, parse_tool_calls, prefix_names, to_yaml};
use tollgate_transforms::{Error, Limits, Tokenizer, count_messages, middle_out};

/// Texts: ASCII words, any Unicode, combining marks and emoji sequences,
/// whitespace runs, and now and then a long one.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z ]{0,60}",
        2 => any::<String>(),
        1 => "(e\u{301}|a\u{300}\u{302}|👨\u{200D}👩\u{200D}👧|👍🏽|漢字|ü| |\n){0,40}",
        1 => "[ \t\n]{0,50}",
        1 => (1usize..40, "[a-z]{1,8}").prop_map(|(n, w)| format!("{w} ").repeat(n * 25)),
    ]
}

#[derive(Debug, Clone)]
enum Kind {
    System,
    Developer,
    User,
    Assistant,
    /// An assistant turn with `n` calls, followed by `results` tool messages.
    Calls(usize, usize),
    /// A tool message answering no call.
    OrphanTool,
    /// A user message with an image.
    Image,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        1 => Just(Kind::System),
        1 => Just(Kind::Developer),
        5 => Just(Kind::User),
        5 => Just(Kind::Assistant),
        2 => (1usize..3, 0usize..4).prop_map(|(n, r)| Kind::Calls(n, r)),
        1 => Just(Kind::OrphanTool),
        1 => Just(Kind::Image),
    ]
}

/// A conversation whose messages carry a unique `tag` in `extra`, so they
/// can be recognised after middle-out (which keeps `extra`).
fn conversation() -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec((kind(), text(), prop::option::of("[a-z]{1,6}")), 0..24).prop_map(|items| {
        let mut out = Vec::new();
        let mut next_call = 0;
        for (kind, text, name) in items {
            let mut push = |mut v: Value| {
                v["tag"] = json!(out.len());
                out.push(serde_json::from_value::<Message>(v).unwrap());
            };
            match kind {
                Kind::System => push(json!({"role": "system", "content": text})),
                Kind::Developer => push(json!({"role": "developer", "content": text})),
                Kind::User => push(json!({"role": "user", "content": text, "name": name})),
                Kind::Assistant => push(json!({"role": "assistant", "content": text})),
                Kind::Image => push(json!({"role": "user", "content": [
                    {"type": "text", "text": text},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
                ]})),
                Kind::OrphanTool => push(json!({"role": "tool", "tool_call_id": "nobody", "content": text})),
                Kind::Calls(n, results) => {
                    let ids: Vec<String> = (0..n).map(|i| format!("call_{}", next_call + i)).collect();
                    next_call += n;
                    let calls: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({"id": id, "type": "function",
                            "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}))
                        .collect();
                    push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
                    for r in 0..results {
                        let id = &ids[r % n];
                        push(json!({"role": "tool", "tool_call_id": id, "content": text}));
                    }
                }
            }
        }
        out
    })
}

fn limits() -> impl Strategy<Value = Limits> {
    (0u64..3000, 0u64..300, prop::option::of(0u32..20))
        .prop_map(|(ctx, out, max)| Limits::new(ctx).with_max_output(out).with_max_messages(max))
}

fn tag(m: &Message) -> usize {
    m.extra["tag"].as_u64().unwrap() as usize
}

fn is_system(m: &Message) -> bool {
    matches!(m.role, Role::System | Role::Developer)
}

/// The units of the input, by tag: an assistant turn with calls and the
/// tool messages right after it; any other message alone.
fn units(messages: &[Message]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut open = false;
    for (i, m) in messages.iter().enumerate() {
        let calls =
            m.role == Role::Assistant && m.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
        if open && m.role == Role::Tool {
            out.last_mut().unwrap().push(i);
            continue;
        }
        open = calls;
        out.push(vec![i]);
    }
    out
}

/// A budget at which fitting is surely possible: the system prompts and
/// reply priming in full, and every other message that must be kept with
/// its text emptied plus room for the marker and the cut's edges.
fn surely_fits(messages: &[Message], t: &Tokenizer) -> u64 {
    let units = units(messages);
    let first_user = units
        .iter()
        .position(|u| messages[u[0]].role == Role::User && !is_system(&messages[u[0]]));
    let head = first_user.map_or(0, |f| f + 1);
    let mut must: Vec<usize> = units[..head.min(units.len())].concat();
    if let Some(last) = units.last() {
        must.extend(last);
    }
    must.sort_unstable();
    must.dedup();
    let mut floor = REPLY_PRIMING;
    for (i, m) in messages.iter().enumerate() {
        if is_system(m) {
            floor += count_message(m, t);
        } else if must.contains(&i) {
            let mut bare = m.clone();
            if matches!(
                bare.content,
                Some(tollgate_schema::chat::MessageContent::Text(_))
            ) {
                bare.content = Some(tollgate_schema::chat::MessageContent::Text(String::new()));
                floor += count_message(&bare, t) + 40;
            } else {
                floor += count_message(m, t);
            }
        }
    }
    floor
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        // Do not write regression files into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn middle_out_invariants(messages in conversation(), limits in limits()) {
        let t = Tokenizer::o200k();
        let budget = limits.prompt_budget();
        match middle_out(&messages, &limits, &t) {
            Ok(out) => {
                // Fits, and says truly how much it sends.
                prop_assert!(out.tokens_after <= budget);
                prop_assert_eq!(count_messages(&out.messages, &t).total, out.tokens_after);
                if let Some(max) = limits.max_messages {
                    prop_assert!(out.messages.len() <= max as usize);
                }
                prop_assert_eq!(out.removed_messages, messages.len() - out.messages.len());
                // Order kept; system prompts, first user message, last message kept.
                let tags: Vec<usize> = out.messages.iter().map(tag).collect();
                prop_assert!(tags.windows(2).all(|w| w[0] < w[1]));
                for (i, m) in messages.iter().enumerate() {
                    if is_system(m) {
                        prop_assert!(tags.contains(&i), "system {} dropped", i);
                        let kept = out.messages.iter().find(|k| tag(k) == i).unwrap();
                        prop_assert_eq!(kept, m, "system prompts are never cut");
                    }
                }
                if let Some(first_user) = messages.iter().position(|m| m.role == Role::User) {
                    prop_assert!(tags.contains(&first_user));
                }
                if !messages.is_empty() {
                    prop_assert!(tags.contains(&(messages.len() - 1)));
                }
                // Tool calls and their results: all of a unit or none of it.
                for unit in units(&messages) {
                    let kept = unit.iter().filter(|i| tags.contains(i)).count();
                    prop_assert!(kept == 0 || kept == unit.len(), "unit {:?} split: {:?}", unit, tags);
                }
                // Removed messages are one run of the middle (systems aside).
                let removed: Vec<usize> = (0..messages.len())
                    .filter(|i| !tags.contains(i))
                    .collect();
                if let (Some(lo), Some(hi)) = (removed.first(), removed.last()) {
                    for (i, m) in messages.iter().enumerate().take(*hi + 1).skip(*lo) {
                        prop_assert!(!tags.contains(&i) || is_system(m),
                            "kept {} inside the removed run {:?}", i, removed);
                    }
                }
                // Idempotent.
                let again = middle_out(&out.messages, &limits, &t).unwrap();
                prop_assert_eq!(&again.messages, &out.messages);
                prop_assert_eq!(again.removed_messages + again.truncated_messages, 0);
            }
            Err(Error::CannotFit { min_tokens, .. }) => {
                prop_assert!(min_tokens > budget);
                prop_assert!(budget < surely_fits(&messages, &t),
                    "failed although {} tokens were available", budget);
            }
            Err(Error::CannotFitMessages { required, max_messages }) => {
                prop_assert!(required > max_messages);
                prop_assert_eq!(Some(max_messages as u32), limits.max_messages);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn fits_whenever_the_must_keep_floor_fits(messages in conversation(), slack in 0u64..2000) {
        let t = Tokenizer::cl100k();
        let limits = Limits::new(surely_fits(&messages, &t) + slack);
        let out = middle_out(&messages, &limits, &t);
        prop_assert!(out.is_ok(), "{:?}", out.err());
        let out = out.unwrap();
        prop_assert!(out.tokens_after <= limits.prompt_budget());
    }

    #[test]
    fn estimated_family_never_panics(messages in conversation(), limits in limits()) {
        let t = Tokenizer::for_family(Some("claude"));
        if let Ok(out) = middle_out(&messages, &limits, &t) {
            prop_assert!(out.tokens_after <= limits.prompt_budget());
        }
    }

    #[test]
    fn counting_never_panics(text in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        for t in [Tokenizer::o200k(), Tokenizer::cl100k(), Tokenizer::for_family(None)] {
            let n = t.count(&text);
            prop_assert!(n <= text.len() as u64 * 2 + 1);
        }
        let _ = image_dimensions(&bytes);
        let _ = image_url_tokens(&text, None);
        let url = format!("data:image/png;base64,{text}");
        prop_assert!(image_url_tokens(&url, Some("high")) <= 85 + 170 * 8);
    }

    #[test]
    fn parsers_never_panic(reply in any::<String>(), json_ish in "[{}\\[\\]\":,a-z0-9 ]{0,80}") {
        let _ = parse_tool_calls(&reply);
        let _ = parse_tool_calls(&json_ish);
        let _ = extract_json(&json_ish);
        if let Some(calls) = parse_tool_calls(&json_ish) {
            prop_assert!(!calls.is_empty());
            prop_assert!(calls.iter().all(|c| !c.function.name.is_empty()));
        }
    }

    #[test]
    fn yaml_and_names_never_panic(messages in conversation(), s in any::<String>()) {
        let out = prefix_names(&messages);
        prop_assert_eq!(out.len(), messages.len());
        prop_assert!(out.iter().all(|m| m.name.is_none() || m.role == Role::Tool));
        let y = to_yaml(&json!({"k": s, "list": [s, {"n": s}], s.clone(): 1}));
        prop_assert!(y.ends_with('\n'));
    }
}

#[test]
fn huge_conversations_and_messages_do_not_panic() {
    let t = Tokenizer::o200k();
    // Long enough to need cutting, with multi-byte and combining characters
    // where the cut falls (the 1 MB whitespace run that breaks tiktoken's
    // regex is tested in the tokenizer's unit tests).
    let huge = "ab ".repeat(100_000) + &"é\u{301}".repeat(20_000) + &"漢字 ".repeat(50_000);
    let messages = vec![
        Message::text(Role::User, huge.clone()),
        Message::text(Role::Assistant, "ok"),
        Message::text(Role::User, huge),
    ];
    let out = middle_out(&messages, &Limits::new(2_000).with_max_output(100), &t).unwrap();
    assert!(out.tokens_after <= 1_900);
    assert_eq!(out.removed_messages, 1);
    assert_eq!(out.truncated_messages, 2);
}
