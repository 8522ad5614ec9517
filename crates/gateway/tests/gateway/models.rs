//! The Models API and the health check: public, no key needed.

use crate::support::*;

#[tokio::test]
async fn the_model_list_needs_no_key_and_has_string_prices() {
    let gw = start().await;
    let reply = gw.get("/api/v1/models").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = reply.json();
    let data = v["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![
            "mock/echo",
            "mock/echo-anthropic",
            "mock/echo-gemini",
            "mock/echo:free",
            "mock/embed",
            "mock/no-tools",
            "mock/reasoner",
            "mock/small-context",
        ]
    );
    for m in data {
        let pricing = m["pricing"].as_object().unwrap();
        for key in ["prompt", "completion"] {
            let price = pricing[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} price is a string: {m}"));
            assert!(price.parse::<f64>().is_ok(), "{price:?}");
        }
        for (key, price) in pricing {
            if key != "discount" {
                assert!(price.is_string(), "`{key}` price is a string: {m}");
            }
        }
    }
    let echo = &data[0];
    // The cheapest endpoint's prices (Mock Alpha's), as decimal strings.
    assert_eq!(echo["pricing"]["prompt"], "0.000001");
    assert_eq!(echo["pricing"]["completion"], "0.000002");
    let free = data.iter().find(|m| m["id"] == "mock/echo:free").unwrap();
    assert_eq!(free["pricing"]["prompt"], "0");
}

#[tokio::test]
async fn the_endpoints_of_a_model_are_listed() {
    let gw = start().await;
    let reply = gw.get("/api/v1/models/mock/echo/endpoints").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let v = reply.json();
    assert_eq!(v["data"]["id"], "mock/echo");
    let endpoints = v["data"]["endpoints"].as_array().unwrap();
    let tags: Vec<&str> = endpoints
        .iter()
        .map(|e| e["tag"].as_str().unwrap())
        .collect();
    assert_eq!(tags, vec!["mock-alpha", "mock-beta", "mock-gamma"]);
    let names: Vec<&str> = endpoints
        .iter()
        .map(|e| e["provider_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Mock Alpha", "Mock Beta", "Mock Gamma"]);
    for e in endpoints {
        assert!(e["pricing"]["prompt"].is_string(), "{e}");
        assert!(e["pricing"]["completion"].is_string(), "{e}");
    }

    let reply = gw.get("/api/v1/models/mock/echo:free/endpoints").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.json()["data"]["endpoints"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn the_endpoints_of_an_unknown_model_are_a_404() {
    let gw = start().await;
    let reply = gw.get("/api/v1/models/mock/nope/endpoints").await;
    let error = assert_error(&reply, 404);
    assert!(
        error["message"].as_str().unwrap().contains("mock/nope"),
        "{error}"
    );
}

#[tokio::test]
async fn health_is_ok() {
    let gw = start().await;
    let reply = gw.get("/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
}

#[tokio::test]
async fn the_models_list_is_served_on_the_socket_too() {
    let gw = start().await;
    let response = reqwest::get(format!("{}/api/v1/models", gw.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 8);
}

/// `GET path` with the test key, through the router.
async fn get_with_key(gw: &TestGateway, path: &str) -> Reply {
    let request = axum::http::Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {}", gw.key))
        .body(axum::body::Body::empty())
        .unwrap();
    gw.oneshot(request).await
}

fn ids(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn price(m: &Value, key: &str) -> rust_decimal::Decimal {
    m["pricing"][key].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn one_model_is_served_at_its_id_as_openai_python_retrieves_it() {
    let gw = start().await;
    let all = gw.get("/api/v1/models").await.json();
    // openai-python's `client.models.retrieve("mock/echo")` calls
    // GET /models/mock/echo, the slash unescaped.
    let reply = gw.get("/api/v1/models/mock/echo").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let one = reply.json();
    let listed = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock/echo")
        .unwrap();
    assert_eq!(&one["data"], listed, "the same entry as in /models");
    assert_eq!(one["data"]["pricing"]["prompt"], "0.000001");
    assert_eq!(
        one["data"]["links"]["details"],
        "/api/v1/models/mock/echo/endpoints"
    );
    assert_eq!(one["data"]["per_request_limits"], Value::Null);
    let free = gw.get("/api/v1/models/mock/echo:free").await;
    assert_eq!(free.status, 200);
    assert_eq!(free.json()["data"]["id"], "mock/echo:free");
    // The endpoints list still has its own route.
    let endpoints = gw.get("/api/v1/models/mock/echo/endpoints").await;
    assert_eq!(endpoints.status, 200);
    assert!(endpoints.json()["data"]["endpoints"].is_array());
    let error = assert_error(&gw.get("/api/v1/models/mock/nope").await, 404);
    assert!(error["message"].as_str().unwrap().contains("mock/nope"));
}

#[tokio::test]
async fn the_model_list_is_filtered_by_parameters_and_modalities() {
    let gw = start().await;
    let all = gw.get("/api/v1/models").await.json();
    assert_eq!(all["total_count"], 8);
    assert_eq!(all["links"]["next"], Value::Null);
    let models = all["data"].as_array().unwrap();
    let supporting = |param: &str| -> Vec<String> {
        models
            .iter()
            .filter(|m| {
                m["supported_parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p == param)
            })
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };

    let tools = gw.get("/api/v1/models?supported_parameters=tools").await;
    assert_eq!(tools.status, 200);
    let tools = tools.json();
    let with_tools = ids(&tools);
    assert_eq!(with_tools, supporting("tools"));
    assert!(!with_tools.contains(&"mock/no-tools".to_string()));
    assert!(with_tools.contains(&"mock/echo".to_string()));
    assert_eq!(tools["total_count"], with_tools.len());

    // Several parameters: each must be supported.
    let both = gw
        .get("/api/v1/models?supported_parameters=tools,reasoning")
        .await
        .json();
    let expected: Vec<String> = supporting("tools")
        .into_iter()
        .filter(|id| supporting("reasoning").contains(id))
        .collect();
    assert_eq!(ids(&both), expected);
    assert!(ids(&both).len() < with_tools.len());

    let images = gw.get("/api/v1/models?input_modalities=image").await.json();
    assert!(!ids(&images).is_empty());
    for m in images["data"].as_array().unwrap() {
        assert!(
            m["architecture"]["input_modalities"]
                .as_array()
                .unwrap()
                .contains(&json!("image")),
            "{m}"
        );
    }
    assert!(ids(&images).len() < 8);

    let embeddings = gw
        .get("/api/v1/models?output_modalities=embeddings")
        .await
        .json();
    assert_eq!(ids(&embeddings), ["mock/embed"]);
    let text = gw.get("/api/v1/models?output_modalities=text").await.json();
    assert_eq!(text["total_count"], 7);
    assert!(!ids(&text).contains(&"mock/embed".to_string()));
    let every = gw.get("/api/v1/models?output_modalities=all").await.json();
    assert_eq!(every["total_count"], 8);

    let search = gw.get("/api/v1/models?q=REASON").await.json();
    assert_eq!(ids(&search), ["mock/reasoner"]);
    // No model of the catalog is classified by use case.
    let category = gw.get("/api/v1/models?category=programming").await.json();
    assert_eq!(category["total_count"], 0);
    assert_error(&gw.get("/api/v1/models?category=cooking").await, 400);
}

#[tokio::test]
async fn the_model_list_pages_with_offset_limit_and_links_next() {
    let gw = start().await;
    let all = ids(&gw.get("/api/v1/models").await.json());
    let mut seen = Vec::new();
    let mut next = Some(String::from("/api/v1/models?limit=3"));
    let mut pages = 0;
    while let Some(path) = next {
        let page = gw.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {:?}", page.body);
        let page = page.json();
        assert_eq!(page["total_count"], 8, "{path}");
        let got = ids(&page);
        assert!(got.len() <= 3, "{path}: {got:?}");
        seen.extend(got);
        next = page["links"]["next"].as_str().map(str::to_string);
        pages += 1;
        assert!(pages <= 3, "more pages than 8 models need");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all, "the pages together are the whole list, in order");

    let second = gw.get("/api/v1/models?offset=3&limit=3").await.json();
    assert_eq!(ids(&second), all[3..6].to_vec());
    assert_eq!(second["links"]["next"], "/api/v1/models?offset=6&limit=3");
    // Filters carry over into the next link.
    let text = gw
        .get("/api/v1/models?output_modalities=text&limit=2")
        .await
        .json();
    assert_eq!(text["total_count"], 7);
    assert_eq!(
        text["links"]["next"],
        "/api/v1/models?output_modalities=text&offset=2&limit=2"
    );
    let past = gw.get("/api/v1/models?offset=100").await.json();
    assert_eq!(ids(&past), Vec::<String>::new());
    assert_eq!(past["total_count"], 8);
    assert_eq!(past["links"]["next"], Value::Null);
    for bad in ["limit=0", "limit=1001", "limit=x", "offset=-1"] {
        let error = assert_error(&gw.get(&format!("/api/v1/models?{bad}")).await, 400);
        let field = bad.split('=').next().unwrap();
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{bad}: {error}"
        );
    }
}

#[tokio::test]
async fn the_model_list_sorts_as_asked() {
    let gw = start().await;
    let cheap = gw
        .get("/api/v1/models?sort=pricing-low-to-high")
        .await
        .json();
    let sums: Vec<_> = cheap["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| price(m, "prompt") + price(m, "completion"))
        .collect();
    assert_eq!(sums.len(), 8);
    assert!(sums.windows(2).all(|w| w[0] <= w[1]), "{sums:?}");
    assert!(sums.first() < sums.last(), "the demo has different prices");
    let dear = gw
        .get("/api/v1/models?sort=pricing-high-to-low")
        .await
        .json();
    let dear_sums: Vec<_> = dear["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| price(m, "prompt") + price(m, "completion"))
        .collect();
    assert!(dear_sums.windows(2).all(|w| w[0] >= w[1]), "{dear_sums:?}");

    let context = gw
        .get("/api/v1/models?sort=context-high-to-low")
        .await
        .json();
    let lengths: Vec<u64> = context["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["context_length"].as_u64().unwrap())
        .collect();
    assert!(lengths.windows(2).all(|w| w[0] >= w[1]), "{lengths:?}");
    assert_eq!(
        ids(&context).last().map(String::as_str),
        Some("mock/small-context")
    );

    let newest = gw.get("/api/v1/models?sort=newest").await.json();
    let created: Vec<i64> = newest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["created"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    assert_error(&gw.get("/api/v1/models?sort=sideways").await, 400);
}

#[tokio::test]
async fn models_count_counts_what_the_list_would_show() {
    let gw = start().await;
    let reply = gw.get("/api/v1/models/count").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json(), json!({"data": {"count": 8}}));
    let embeddings = gw
        .get("/api/v1/models/count?output_modalities=embeddings")
        .await
        .json();
    assert_eq!(embeddings, json!({"data": {"count": 1}}));
}

#[tokio::test]
async fn a_key_sees_its_per_request_limits_and_models_user_needs_one() {
    let gw = start().await;
    // The account has $10; mock/echo's cheapest endpoint costs $0.000001
    // per prompt token and $0.000002 per completion token.
    let with_key = get_with_key(&gw, "/api/v1/models").await;
    assert_eq!(with_key.status, 200, "{:?}", with_key.body);
    let v = with_key.json();
    let echo = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock/echo")
        .unwrap()
        .clone();
    assert_eq!(
        echo["per_request_limits"],
        json!({"prompt_tokens": 10_000_000, "completion_tokens": 5_000_000})
    );
    let free = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock/echo:free")
        .unwrap();
    assert_eq!(free["per_request_limits"], Value::Null, "free: no limit");
    let one = get_with_key(&gw, "/api/v1/models/mock/echo").await.json();
    assert_eq!(
        one["data"]["per_request_limits"],
        echo["per_request_limits"]
    );

    // A key that does not authenticate still gets the public listing.
    let request = axum::http::Request::builder()
        .uri("/api/v1/models/mock/echo")
        .header("authorization", "Bearer sk-placeholder")
        .body(axum::body::Body::empty())
        .unwrap();
    let anonymous = gw.oneshot(request).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.json()["data"]["per_request_limits"], Value::Null);

    assert_error(&gw.get("/api/v1/models/user").await, 401);
    let user = get_with_key(&gw, "/api/v1/models/user?limit=2").await;
    assert_eq!(user.status, 200, "{:?}", user.body);
    let user = user.json();
    assert_eq!(user["total_count"], 8);
    assert_eq!(user["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        user["links"]["next"],
        "/api/v1/models/user?offset=2&limit=2"
    );
    assert_eq!(
        user["data"][0]["per_request_limits"], echo["per_request_limits"],
        "mock/echo comes first"
    );
}
