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
