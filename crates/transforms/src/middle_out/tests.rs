use serde_json::json;
use tollgate_schema::chat::{Message, Role};

use super::*;
use crate::Tokenizer;
use crate::count::{REPLY_PRIMING, TOKENS_PER_MESSAGE};

/// One token per whitespace-separated word; roles are one word, so a
/// message of `w` words costs `w + 4`.
struct Words;
impl TokenCounter for Words {
    fn count_text(&self, text: &str) -> u64 {
        text.split_whitespace().count() as u64
    }
}

fn m(role: Role, words: usize, tag: &str) -> Message {
    let mut text = String::from(tag);
    for _ in 1..words {
        text.push_str(" w");
    }
    Message::text(role, text)
}

fn tags(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.text_content().split(' ').next().unwrap_or("").to_owned())
        .collect()
}

fn call(id: &str) -> Message {
    serde_json::from_value(json!({
        "role": "assistant", "content": format!("c{id}"),
        "tool_calls": [{"id": id, "type": "function", "function": {"name": "f", "arguments": "x"}}]
    }))
    .unwrap()
}

fn result(id: &str, words: usize) -> Message {
    let mut r = m(Role::Tool, words, &format!("r{id}"));
    r.tool_call_id = Some(id.to_owned());
    r
}

#[test]
fn a_prompt_that_fits_is_unchanged() {
    let msgs = vec![m(Role::System, 5, "s"), m(Role::User, 5, "u")];
    let out = middle_out(&msgs, &Limits::new(1000), &Words).unwrap();
    assert_eq!(out.messages, msgs);
    assert_eq!(out.removed_messages, 0);
    assert_eq!(out.tokens_before, out.tokens_after);
    assert_eq!(out.tokens_before, 9 + 9 + REPLY_PRIMING);
}

#[test]
fn removes_the_middle_keeping_system_first_user_and_recent() {
    // Each message is 10 words = 14 tokens.
    let msgs: Vec<Message> = [
        (Role::System, "sys"),
        (Role::User, "u1"),
        (Role::Assistant, "a1"),
        (Role::User, "u2"),
        (Role::Assistant, "a2"),
        (Role::User, "u3"),
        (Role::Assistant, "a3"),
        (Role::User, "u4"),
    ]
    .into_iter()
    .map(|(r, t)| m(r, 10, t))
    .collect();
    // Room for 5 messages: sys, u1, and the three most recent.
    let limits = Limits::new(5 * 14 + REPLY_PRIMING + 13);
    let out = middle_out(&msgs, &limits, &Words).unwrap();
    assert_eq!(tags(&out.messages), ["sys", "u1", "u3", "a3", "u4"]);
    assert_eq!(out.removed_messages, 3);
    assert_eq!(out.truncated_messages, 0);
    assert_eq!(out.tokens_after, 5 * 14 + REPLY_PRIMING);
    assert!(out.tokens_after <= limits.prompt_budget());
}

#[test]
fn the_completion_reserve_counts() {
    let msgs: Vec<Message> = (0..6)
        .map(|i| m(Role::User, 10, &format!("u{i}")))
        .collect();
    let limits = Limits::new(3 * 14 + REPLY_PRIMING + 100).with_max_output(100);
    let out = middle_out(&msgs, &limits, &Words).unwrap();
    assert_eq!(tags(&out.messages), ["u0", "u4", "u5"]);
}

#[test]
fn system_messages_in_the_middle_stay() {
    let msgs = vec![
        m(Role::User, 10, "u1"),
        m(Role::Assistant, 10, "a1"),
        m(Role::Developer, 2, "dev"),
        m(Role::Assistant, 10, "a2"),
        m(Role::User, 10, "u2"),
    ];
    let limits = Limits::new(14 + 6 + 14 + REPLY_PRIMING);
    let out = middle_out(&msgs, &limits, &Words).unwrap();
    assert_eq!(tags(&out.messages), ["u1", "dev", "u2"]);
}

#[test]
fn tool_calls_and_results_go_together() {
    let msgs = vec![
        m(Role::System, 1, "sys"),
        m(Role::User, 1, "u1"),
        call("1"),
        result("1", 1),
        m(Role::User, 1, "u2"),
        call("2"),
        result("2", 50),
        result("2", 1),
        m(Role::User, 1, "u3"),
    ];
    let count = count_messages(&msgs, &Words);
    let small = count.per_message[0];
    // Room for everything but the second call's unit (call, big result and
    // small result): its small result and call alone would fit, but they
    // go only with the big one.
    let unit: u64 = count.per_message[5..8].iter().sum();
    let budget = count.total - unit + 10;
    assert!(count.per_message[5] + count.per_message[7] <= 10 + count.per_message[4]);
    let out = middle_out(&msgs, &Limits::new(budget), &Words).unwrap();
    assert_eq!(
        tags(&out.messages),
        ["sys", "u1", "c1", "r1", "u2", "u3"].map(String::from)
    );
    assert!(small > 0);
    // A tool message kept always follows its call.
    for (i, msg) in out.messages.iter().enumerate() {
        if msg.role == Role::Tool {
            assert!(out.messages[..i].iter().any(|p| p.tool_calls.is_some()));
        }
    }
}

#[test]
fn the_last_turn_keeps_all_its_tool_results() {
    let msgs = vec![
        m(Role::User, 1, "u1"),
        m(Role::User, 30, "u2"),
        call("1"),
        result("1", 1),
        result("1", 1),
    ];
    let count = count_messages(&msgs, &Words);
    let out = middle_out(&msgs, &Limits::new(count.total - 1), &Words).unwrap();
    assert_eq!(tags(&out.messages), ["u1", "c1", "r1", "r1"]);
}

#[test]
fn message_cap_keeps_half_from_each_end() {
    let msgs: Vec<Message> = std::iter::once(m(Role::System, 1, "sys"))
        .chain((0..20).map(|i| {
            m(
                if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                },
                1,
                &format!("m{i}"),
            )
        }))
        .collect();
    let limits = Limits::new(1_000_000).with_max_messages(Some(9));
    let out = middle_out(&msgs, &limits, &Words).unwrap();
    // sys, m0 and m19 are required; 6 free slots: 3 at the start, 3 at the end.
    assert_eq!(
        tags(&out.messages),
        ["sys", "m0", "m1", "m2", "m3", "m16", "m17", "m18", "m19"]
    );
    assert_eq!(out.removed_messages, 12);
}

#[test]
fn message_cap_counts_tool_units_whole() {
    let msgs = vec![
        m(Role::User, 1, "u1"),
        m(Role::User, 1, "u2"),
        call("1"),
        result("1", 1),
        m(Role::User, 1, "u3"),
    ];
    let out = middle_out(
        &msgs,
        &Limits::new(10_000).with_max_messages(Some(3)),
        &Words,
    )
    .unwrap();
    assert_eq!(tags(&out.messages), ["u1", "u2", "u3"]);
    let err = middle_out(
        &msgs,
        &Limits::new(10_000).with_max_messages(Some(1)),
        &Words,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::CannotFitMessages {
            required: 2,
            max_messages: 1
        }
    );
}

#[test]
fn a_single_huge_message_is_cut_in_the_middle() {
    let t = Tokenizer::o200k();
    let doc: String = (0..20_000)
        .map(|i| format!("line {i} of the document\n"))
        .collect();
    let msgs = vec![
        m(Role::System, 3, "sys"),
        Message::text(Role::User, doc.clone()),
    ];
    let limits = Limits::new(4_000).with_max_output(500);
    let out = middle_out(&msgs, &limits, &t).unwrap();
    assert_eq!(out.removed_messages, 0);
    assert_eq!(out.truncated_messages, 1);
    assert!(out.tokens_after <= 3_500, "{}", out.tokens_after);
    assert!(out.tokens_after > 3_400, "{}", out.tokens_after);
    let text = out.messages[1].text_content();
    assert!(text.starts_with("line 0 of the document\n"));
    assert!(text.ends_with("line 19999 of the document\n"));
    assert!(text.contains("tokens removed by middle-out ...]"));
    // The reported size is the real size.
    assert_eq!(count_messages(&out.messages, &t).total, out.tokens_after);
    // And it is stable: a second pass changes nothing.
    let again = middle_out(&out.messages, &limits, &t).unwrap();
    assert_eq!(again.messages, out.messages);
}

#[test]
fn removal_and_cutting_combine() {
    let t = Tokenizer::cl100k();
    let big = "alpha beta gamma delta ".repeat(5_000);
    let msgs = vec![
        Message::text(Role::User, big.clone()),
        Message::text(Role::Assistant, big.clone()),
        Message::text(Role::User, big),
    ];
    let out = middle_out(&msgs, &Limits::new(8_192).with_max_output(1_000), &t).unwrap();
    assert_eq!(out.removed_messages, 1);
    assert_eq!(out.truncated_messages, 2);
    assert!(out.tokens_after <= 7_192);
}

#[test]
fn an_oversized_system_prompt_is_an_error_stating_sizes() {
    let msgs = vec![m(Role::System, 500, "sys"), m(Role::User, 10, "u")];
    let err = middle_out(&msgs, &Limits::new(300).with_max_output(100), &Words).unwrap_err();
    let Error::CannotFit {
        prompt_tokens,
        min_tokens,
        context_length,
        max_output,
    } = err.clone()
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (prompt_tokens, context_length, max_output),
        (504 + 14 + REPLY_PRIMING, 300, 100)
    );
    assert!(min_tokens > 200);
    let msg = err.to_string();
    assert!(msg.contains("context length of 300 tokens"), "{msg}");
    assert!(msg.contains("prompt is 521 tokens"), "{msg}");
}

#[test]
fn check_fits_states_the_prompt_size_and_context_length() {
    let msgs = vec![m(Role::User, 100, "u")];
    let count = count_messages(&msgs, &Words);
    assert_eq!(check_fits(&count, &Limits::new(200)), Ok(()));
    let err = check_fits(&count, &Limits::new(100).with_max_output(10)).unwrap_err();
    assert_eq!(
        err,
        Error::PromptTooLarge {
            prompt_tokens: 104 + REPLY_PRIMING,
            context_length: 100,
            max_output: 10
        }
    );
    assert_eq!(
        err.to_string(),
        "prompt is 107 tokens, but this endpoint's context length is 100 tokens, 10 of them \
         reserved for the completion (at most 90 for the prompt); shorten the prompt, lower \
         max_tokens, or use the middle-out transform"
    );
    let err = check_fits(&count, &Limits::new(200).with_max_messages(Some(0))).unwrap_err();
    assert_eq!(
        err,
        Error::TooManyMessages {
            messages: 1,
            max_messages: 0
        }
    );
}

#[test]
fn limits_for_a_request() {
    assert_eq!(
        Limits::for_request(128_000, 16_384, Some(500), None).max_output,
        500
    );
    assert_eq!(
        Limits::for_request(128_000, 16_384, Some(50_000), None).max_output,
        16_384
    );
    assert_eq!(
        Limits::for_request(128_000, 0, Some(50_000), None).max_output,
        50_000
    );
    assert_eq!(
        Limits::for_request(128_000, 16_384, None, None).max_output,
        1024
    );
    assert_eq!(
        Limits::for_request(2_048, 16_384, None, None).max_output,
        512
    );
    assert_eq!(
        Limits::for_request(128_000, 100, None, Some(1000)).max_output,
        100
    );
}

#[test]
fn whole_requests_count_tools_as_fixed_overhead() {
    let t = Tokenizer::o200k();
    let filler = "lorem ipsum dolor sit amet ".repeat(200);
    let mut req: ChatRequest = serde_json::from_value(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": filler},
            {"role": "user", "content": filler},
            {"role": "user", "content": "last"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": filler}}]
    }))
    .unwrap();
    let before = count_request(&req, &t);
    let limits = Limits::new(before.total - 10);
    let report = apply_middle_out(&mut req, &limits, &t).unwrap();
    assert_eq!(report.removed_messages, 1);
    assert_eq!(report.tokens_before, before.total);
    let after = count_request(&req, &t);
    assert_eq!(after.total, report.tokens_after);
    assert!(after.total <= limits.prompt_budget());
    assert_eq!(req.messages.as_ref().unwrap().len(), 3);
}

#[test]
fn raw_prompts_are_cut() {
    let t = Tokenizer::o200k();
    let mut req = ChatRequest {
        prompt: Some("one two three four five six seven eight nine ten ".repeat(500)),
        ..ChatRequest::default()
    };
    let report = apply_middle_out(&mut req, &Limits::new(1000), &t).unwrap();
    assert_eq!(report.truncated_messages, 1);
    assert!(report.tokens_after <= 1000);
    assert_eq!(t.count(req.prompt.as_deref().unwrap()), report.tokens_after);
    assert!(req.prompt.unwrap().contains("removed by middle-out"));
}

#[test]
fn empty_conversations_are_fine() {
    let out = middle_out(&[], &Limits::new(10), &Words).unwrap();
    assert!(out.messages.is_empty());
    assert_eq!(out.tokens_after, REPLY_PRIMING);
    assert!(matches!(
        middle_out(&[], &Limits::new(2), &Words),
        Err(Error::CannotFit { .. })
    ));
    assert_eq!(TOKENS_PER_MESSAGE, 3);
}
