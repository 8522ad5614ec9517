//! Web search through HTTP: `:online`, the `web` plugin,
//! `web_search_options` and the `openrouter:web_search` server tool,
//! against mock Exa and SearXNG servers (tollgate-testkit, real sockets
//! speaking the services' JSON): what the upstream receives, the
//! `url_citation` annotations (message and stream), `/generation`'s
//! `num_search_results` and `web_search_engine`, the exact charge, a
//! failing backend, and bad options.
//!
//! Expected results come from the mocks' documented rule
//! (`tollgate_testkit::search::results_for`); Mock Alpha charges $0.000001
//! a prompt token and $0.000002 a completion token; results cost $0.004
//! each (the `[search]` default).

use std::time::Duration;

use rust_decimal::Decimal;
use tollgate_gateway::search::{BackendKind, SearchConfig};
use tollgate_testkit::search::{MockResult, results_for};
use tollgate_testkit::{MockSearch, SearchDialect, SearchHandle};

use crate::support::*;

const DEFAULT_PROMPT_START: &str = "A web search was conducted on ";
const DEFAULT_PROMPT_END: &str = ". Incorporate the following web search results into your \
     response.\n\nIMPORTANT: Cite them using markdown links named using the domain of the \
     source.\nExample: [nytimes.com](https://nytimes.com/some-page).";

async fn with_search(dialect: SearchDialect, postgres: bool) -> (TestGateway, SearchHandle) {
    let mock = MockSearch::start(dialect).await.unwrap();
    let search = SearchConfig {
        backend: Some(match dialect {
            SearchDialect::Exa => BackendKind::Exa,
            SearchDialect::Searxng => BackendKind::Searxng,
        }),
        base_url: Some(mock.base_url()),
        // Any variable set in every environment will do as the key's
        // source; the test checks it is what Exa receives.
        api_key_env: (dialect == SearchDialect::Exa).then(|| String::from("PATH")),
        ..SearchConfig::default()
    };
    let gw = start_with(Options {
        search: Some(search),
        postgres,
        ..Options::default()
    })
    .await;
    (gw, mock)
}

/// A result as the prompt carries it: a link named by its domain, the
/// title, the text.
fn in_prompt(i: usize, r: &MockResult) -> String {
    format!("[site{i}.example]({}): {}\n{}", r.url, r.title, r.text)
}

fn dec(v: &Value) -> Decimal {
    Decimal::try_from(v.as_f64().unwrap()).unwrap()
}

/// What Mock Alpha's tokens in `usage` cost, plus `results` results.
fn expected_cost(usage: &Value, results: u64) -> Decimal {
    Decimal::from(usage["prompt_tokens"].as_u64().unwrap()) * Decimal::new(1, 6)
        + Decimal::from(usage["completion_tokens"].as_u64().unwrap()) * Decimal::new(2, 6)
        + Decimal::from(results) * Decimal::new(4, 3)
}

/// Every annotation is a `url_citation` of the result in the same place,
/// its span the result's markdown link in `content` (character indices).
fn assert_citations(annotations: &Value, content: &str, results: &[MockResult]) {
    let list = annotations.as_array().expect("annotations");
    assert_eq!(list.len(), results.len(), "{annotations}");
    for (i, (a, r)) in list.iter().zip(results).enumerate() {
        assert_eq!(a["type"], "url_citation", "{a}");
        let c = &a["url_citation"];
        assert_eq!(c["url"], r.url.as_str());
        assert_eq!(c["title"], r.title.as_str());
        assert_eq!(c["content"], r.text.as_str());
        let start = c["start_index"].as_u64().unwrap() as usize;
        let end = c["end_index"].as_u64().unwrap() as usize;
        let cited: String = content.chars().skip(start).take(end - start).collect();
        assert_eq!(cited, format!("[site{}.example]({})", i + 1, r.url));
    }
}

async fn generation(gw: &TestGateway, id: &str) -> Value {
    for _ in 0..100 {
        let request = axum::http::Request::get(format!("/api/v1/generation?id={id}"))
            .header("authorization", format!("Bearer {}", gw.key))
            .body(axum::body::Body::empty())
            .unwrap();
        let reply = gw.oneshot(request).await;
        if reply.status == 200 {
            return reply.json()["data"].clone();
        }
        assert_eq!(reply.status, 404, "until recorded: {:?}", reply.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("generation {id} never recorded")
}

async fn total_usage(gw: &TestGateway) -> Decimal {
    gw.gateway.sync_books().await;
    gw.gateway
        .store()
        .balance(&gw.account_id)
        .await
        .unwrap()
        .total_usage
}

#[tokio::test]
async fn online_appends_exa_results_to_the_prompt_and_cites_them() {
    let (gw, exa) = with_search(SearchDialect::Exa, false).await;
    let question = "What is new in Rust?";
    let reply = gw.chat(&chat_body("mock/echo:online", question)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["model"], "mock/echo:online");

    // Exa got one search, in its wire format, with the key from the
    // environment variable the config names.
    assert_eq!(exa.queries(), [question]);
    assert_eq!(
        exa.bodies(),
        [json!({"query": question, "numResults": 5,
                "contents": {"text": {"maxCharacters": 3000}}})]
    );
    assert_eq!(exa.api_keys(), [std::env::var("PATH").unwrap()]);

    // The upstream got the question, OpenRouter's search prompt and the
    // five results.
    let sent = gw.alpha.last_request().unwrap().body;
    let user = sent["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let results = results_for(question, 5);
    let (head, tail) = user
        .split_once(DEFAULT_PROMPT_END)
        .expect("the default search prompt");
    let date = head
        .strip_prefix(&format!("{question}\n\n{DEFAULT_PROMPT_START}"))
        .expect("the question, then the prompt");
    assert_eq!(date.len(), "2026-01-01".len(), "{date}");
    let listed: Vec<String> = results
        .iter()
        .enumerate()
        .map(|(i, r)| format!("\n\n{}", in_prompt(i + 1, r)))
        .collect();
    assert_eq!(tail, listed.concat());
    assert!(
        !sent.as_object().unwrap().contains_key("plugins"),
        "no search option reaches the upstream: {sent}"
    );

    // The echo cites every result; the annotations point at the links.
    let message = &v["choices"][0]["message"];
    let content = message["content"].as_str().unwrap();
    assert_eq!(content, format!("echo: {user}"));
    assert_citations(&message["annotations"], content, &results);
    assert_eq!(
        v["usage"]["server_tool_use_details"],
        json!({"web_search_requests": 1})
    );

    let g = generation(&gw, v["id"].as_str().unwrap()).await;
    assert_eq!(g["num_search_results"], 5, "{g}");
    assert_eq!(g["web_search_engine"], "exa");
}

#[tokio::test]
async fn the_web_plugin_takes_max_results_and_search_prompt_on_searxng() {
    let (gw, searxng) = with_search(SearchDialect::Searxng, false).await;
    let mut body = chat_body("mock/echo", "rust async traits");
    body["plugins"] = json!([{"id": "web", "max_results": 2, "search_prompt": "Fresh sources:"}]);
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(searxng.queries(), ["rust async traits"]);
    let results = results_for("rust async traits", 2);
    let sent = gw.alpha.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][0]["content"],
        format!(
            "rust async traits\n\nFresh sources:\n\n{}\n\n{}",
            in_prompt(1, &results[0]),
            in_prompt(2, &results[1])
        )
    );
    let v = reply.json();
    let message = &v["choices"][0]["message"];
    assert_citations(
        &message["annotations"],
        message["content"].as_str().unwrap(),
        &results,
    );
    let g = generation(&gw, v["id"].as_str().unwrap()).await;
    assert_eq!(
        (&g["num_search_results"], &g["web_search_engine"]),
        (&json!(2), &json!("searxng"))
    );

    // `enabled: false` turns the plugin off.
    let mut body = chat_body("mock/echo", "no search");
    body["plugins"] = json!([{"id": "web", "enabled": false}]);
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(searxng.request_count(), 1);
    assert!(
        reply.json()["choices"][0]["message"]
            .get("annotations")
            .is_none()
    );
}

#[tokio::test]
async fn web_search_options_set_the_context_size() {
    let (gw, exa) = with_search(SearchDialect::Exa, false).await;
    for (size, chars) in [("low", 5000), ("medium", 15000), ("high", 30000)] {
        let mut body = chat_body("mock/echo", "context");
        body["web_search_options"] = json!({"search_context_size": size, "max_results": 1});
        let reply = gw.chat(&body).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            exa.bodies().last().unwrap()["contents"]["text"]["maxCharacters"],
            chars,
            "{size}"
        );
        assert_eq!(
            reply.json()["choices"][0]["message"]["annotations"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let sent = gw.alpha.last_request().unwrap().body;
        assert!(sent.get("web_search_options").is_none(), "{sent}");
    }
}

fn tool_request(text: &str) -> Value {
    let mut body = chat_body("mock/echo", text);
    body["tools"] = json!([{"type": "openrouter:web_search", "parameters": {"max_results": 3}}]);
    body
}

#[tokio::test]
async fn the_server_tool_searches_when_the_model_calls_it_and_continues() {
    let (gw, exa) = with_search(SearchDialect::Exa, false).await;
    // The mock calls a tool whose name the user text contains, with
    // `{"query": <the text>}`.
    let text = "please web_search rust news";
    let reply = gw.chat(&tool_request(text)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(exa.queries(), [text]);
    assert_eq!(exa.bodies()[0]["numResults"], 3);

    let calls = gw.alpha.requests();
    assert_eq!(calls.len(), 2, "the model was asked again with the results");
    let tools = &calls[0].body["tools"];
    assert_eq!(tools.as_array().unwrap().len(), 1);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["function"]["name"], "web_search");
    let messages = calls[1].body["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 3, "{messages:?}");
    let call = &messages[1]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "web_search");
    assert_eq!(messages[2]["role"], "tool");
    assert_eq!(messages[2]["tool_call_id"], call["id"]);
    let results = results_for(text, 3);
    let answer = messages[2]["content"].as_str().unwrap();
    assert!(answer.starts_with(DEFAULT_PROMPT_START), "{answer}");
    assert!(answer.ends_with(&in_prompt(3, &results[2])), "{answer}");

    let v = reply.json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    let content = choice["message"]["content"].as_str().unwrap();
    assert_eq!(content, format!("echo: tool result: {answer}"));
    assert!(choice["message"].get("tool_calls").is_none(), "{choice}");
    assert_citations(&choice["message"]["annotations"], content, &results);
    let usage = &v["usage"];
    assert_eq!(
        usage["server_tool_use_details"],
        json!({"web_search_requests": 1, "tool_calls_requested": 1, "tool_calls_executed": 1})
    );
    // Both turns' tokens and the three results, charged once.
    assert_eq!(dec(&usage["cost"]), expected_cost(usage, 3));
    assert_eq!(total_usage(&gw).await, expected_cost(usage, 3));
    let g = generation(&gw, v["id"].as_str().unwrap()).await;
    assert_eq!(g["num_search_results"], 3);
    assert_eq!(g["tokens_prompt"], usage["prompt_tokens"]);
}

/// An upstream that calls `web_search` whenever it is offered, and
/// answers "done" once it is not: the gateway must stop after
/// `max_rounds` searches and ask once more without the tool.
#[tokio::test]
async fn the_server_tool_stops_after_max_rounds() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let upstream = axum::Router::new().fallback({
        let seen = seen.clone();
        move |body: String| {
            let request: Value = serde_json::from_str(&body).unwrap();
            seen.lock().unwrap().push(request.clone());
            let offered = request["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["function"]["name"] == "web_search"));
            let (message, finish, usage) = if offered {
                (
                    json!({"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": "web_search", "arguments": "{\"query\":\"again\"}"}}]}),
                    "tool_calls",
                    json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
                )
            } else {
                (
                    json!({"role": "assistant", "content": "done"}),
                    "stop",
                    json!({"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22}),
                )
            };
            let answer = json!({"id": "up-1", "object": "chat.completion", "created": 1,
                "model": "echo-upstream",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage});
            async move { axum::Json(answer) }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let exa = MockSearch::start(SearchDialect::Exa).await.unwrap();
    let gw = start_with(Options {
        alpha_base_url: Some(format!("http://{addr}/v1")),
        search: Some(SearchConfig {
            backend: Some(BackendKind::Exa),
            base_url: Some(exa.base_url()),
            api_key_env: Some(String::from("PATH")),
            ..SearchConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let mut body = chat_body("mock/echo", "keep searching");
    body["tools"] = json!([{"type": "openrouter:web_search", "parameters": {"max_results": 2}}]);
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(exa.queries(), ["again", "again", "again"], "max_rounds = 3");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "three searching turns and a last one");
    assert!(
        seen[3].get("tools").is_none(),
        "the last turn has no tool: {}",
        seen[3]
    );
    assert_eq!(seen[3]["messages"].as_array().unwrap().len(), 1 + 3 * 2);
    let v = reply.json();
    assert_eq!(v["choices"][0]["message"]["content"], "done");
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], 3 * 10 + 20);
    assert_eq!(usage["completion_tokens"], 3 * 5 + 2);
    assert_eq!(
        usage["server_tool_use_details"],
        json!({"web_search_requests": 3, "tool_calls_requested": 3, "tool_calls_executed": 3})
    );
    assert_eq!(dec(&usage["cost"]), expected_cost(usage, 6));
    // "done" cites nothing: every result is listed, without a span.
    let annotations = v["choices"][0]["message"]["annotations"]
        .as_array()
        .unwrap();
    assert_eq!(annotations.len(), 6);
    assert!(
        annotations
            .iter()
            .all(|a| a["url_citation"].get("start_index").is_none())
    );
}

#[tokio::test]
async fn streams_carry_the_annotations_in_the_finishing_delta() {
    let (gw, _exa) = with_search(SearchDialect::Exa, false).await;
    for (body, results) in [
        (
            streamed(chat_body("mock/echo:online", "stream me")),
            results_for("stream me", 5),
        ),
        (
            streamed(tool_request("stream web_search")),
            results_for("stream web_search", 3),
        ),
    ] {
        let response = gw.chat_http(&body).await;
        assert_eq!(response.status(), 200);
        let events = parse_sse(&response.text().await.unwrap());
        let chunks = chunks(&events);
        let content = text_of(&chunks);
        let with: Vec<&Value> = chunks
            .iter()
            .filter(|c| !c["choices"][0]["delta"]["annotations"].is_null())
            .collect();
        assert_eq!(with.len(), 1, "{chunks:?}");
        assert_eq!(with[0]["choices"][0]["finish_reason"], "stop");
        assert_citations(
            &with[0]["choices"][0]["delta"]["annotations"],
            &content,
            &results,
        );
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(
            usage["server_tool_use_details"]["web_search_requests"], 1,
            "{usage}"
        );
        assert_eq!(
            dec(&usage["cost"]),
            expected_cost(usage, results.len() as u64)
        );
    }
}

async fn results_are_billed_with_the_tokens(postgres: bool) {
    let (gw, _searxng) = with_search(SearchDialect::Searxng, postgres).await;
    let mut body = chat_body("mock/echo", "price me");
    body["plugins"] = json!([{"id": "web", "max_results": 4}]);
    let reply = gw.chat(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    let usage = &v["usage"];
    let cost = expected_cost(usage, 4);
    assert_eq!(dec(&usage["cost"]), cost);
    let g = generation(&gw, v["id"].as_str().unwrap()).await;
    assert_eq!(dec(&g["total_cost"]), cost);
    assert_eq!(g["num_search_results"], 4);
    // One settlement: the ledger moved by the cost, nothing stays held.
    assert_eq!(total_usage(&gw).await, cost);
    let b = gw.gateway.balance(&gw.account_id).await.unwrap();
    assert_eq!(b.held, Decimal::ZERO);
}

#[tokio::test]
async fn results_are_billed_with_the_tokens_on_sqlite() {
    results_are_billed_with_the_tokens(false).await;
}

#[tokio::test]
async fn results_are_billed_with_the_tokens_on_postgres() {
    results_are_billed_with_the_tokens(true).await;
}

#[tokio::test]
async fn a_failing_backend_answers_without_results_and_charges_no_search() {
    let (gw, exa) = with_search(SearchDialect::Exa, false).await;
    exa.set_failure(Some(503));
    let reply = gw.chat(&chat_body("mock/echo:online", "down")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(exa.request_count(), 1);
    let v = reply.json();
    assert_eq!(v["choices"][0]["message"]["content"], "echo: down");
    assert!(v["choices"][0]["message"].get("annotations").is_none());
    assert!(v["usage"].get("server_tool_use_details").is_none());
    assert_eq!(dec(&v["usage"]["cost"]), expected_cost(&v["usage"], 0));
    let g = generation(&gw, v["id"].as_str().unwrap()).await;
    assert_eq!(g["num_search_results"], Value::Null);
    assert_eq!(g["web_search_engine"], Value::Null);

    // The server tool tells the model the search failed; it answers anyway.
    let reply = gw.chat(&tool_request("web_search down")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "echo: tool result: web search failed: search backend answered 503"
    );
    assert_eq!(
        v["usage"]["server_tool_use_details"],
        json!({"web_search_requests": 0, "tool_calls_requested": 1, "tool_calls_executed": 1})
    );
    assert_eq!(dec(&v["usage"]["cost"]), expected_cost(&v["usage"], 0));
}

#[tokio::test]
async fn bad_search_options_are_a_400_naming_the_field() {
    let (gw, exa) = with_search(SearchDialect::Exa, false).await;
    let cases = [
        (
            "plugins",
            json!([{"id": "web", "max_results": 0}]),
            "plugins[0].max_results",
        ),
        (
            "plugins",
            json!([{"id": "file-parser"}, {"id": "web", "max_results": "five"}]),
            "plugins[1].max_results",
        ),
        (
            "plugins",
            json!([{"id": "web", "engine": "bing"}]),
            "plugins[0].engine",
        ),
        (
            "plugins",
            json!([{"id": "web", "engine": "parallel"}]),
            "plugins[0].engine",
        ),
        (
            "plugins",
            json!([{"id": "web", "search_prompt": 7}]),
            "plugins[0].search_prompt",
        ),
        (
            "plugins",
            json!([{"id": "web", "enabled": "yes"}]),
            "plugins[0].enabled",
        ),
        (
            "web_search_options",
            json!({"search_context_size": "huge"}),
            "web_search_options.search_context_size",
        ),
        ("web_search_options", json!("high"), "web_search_options"),
        (
            "tools",
            json!([{"type": "openrouter:web_search", "parameters": {"max_results": 1000}}]),
            "tools[0].parameters.max_results",
        ),
    ];
    for (key, value, field) in cases {
        let mut body = chat_body("mock/echo", "hi");
        body[key] = value;
        let error = assert_error(&gw.chat(&body).await, 400);
        assert_eq!(error["metadata"]["field"], field, "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{error}"
        );
    }
    assert_eq!(exa.request_count(), 0);
    assert_eq!(gw.request_counts(), [0, 0, 0], "nothing was sent upstream");

    // Without a [search] backend, asking for search is refused too.
    let plain = start().await;
    let error = assert_error(&plain.chat(&chat_body("mock/echo:online", "hi")).await, 400);
    assert_eq!(error["metadata"]["field"], "model", "{error}");
    assert_eq!(plain.request_counts(), [0, 0, 0]);
}

#[cfg(feature = "dev")]
#[tokio::test]
async fn dev_mode_answers_online_with_citations() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    let env = tollgate_gateway::dev::DevEnvironment::start(None)
        .await
        .unwrap();
    let request = Request::post("/api/v1/chat/completions")
        .header("authorization", format!("Bearer {}", env.api_key))
        .header("content-type", "application/json")
        .body(Body::from(
            chat_body("mock/echo:online", "dev search").to_string(),
        ))
        .unwrap();
    let response = env.gateway.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let message = &v["choices"][0]["message"];
    assert_citations(
        &message["annotations"],
        message["content"].as_str().unwrap(),
        &results_for("dev search", 5),
    );
}
